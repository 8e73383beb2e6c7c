//! AMT_SNMPEventSubscriber: where the PETs a PET filter catches are sent
//! as SNMP traps. An adapter over the event manager's table in
//! `amtemu_model::device::eventing`; amtemu keeps the subscribers but
//! sends no traps.
//!
//! Shape: Intel's MOF (6.0.0) makes the class a remote service access
//! point (AMT_EventSubscriber) whose own properties are AccessInfo and
//! PolicyID, both required, and an optional CommunityString; the keys are
//! then the four service-access-point keys. No capture of an instance
//! was available: the Name ("Intel(r) AMT:SNMP Subscriber N") and
//! InfoFormat's codes (CIM_RemoteServiceAccessPoint: 2 host name, 3 IPv4,
//! 4 IPv6) are inferred. Refusals follow Intel's errata for this Create
//! (an invalid address or PolicyID is PT_STATUS_INVALID_PARAMETER, from
//! 3.0's successors on) and the limit on the Event Filter Subscribers page
//! (14 SNMP subscribers).

use super::{Access, CLASS, Class, SERVICE_KEYS, optional, service, service_epr};
use amtemu_model::device::eventing::{
    AddressFormat, SnmpRefusal, SnmpSubscriber, SnmpSubscriberRequest,
};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const NAME: &str = "AMT_SNMPEventSubscriber";
const INSTANCE_NAME: &str = "Intel(r) AMT:SNMP Subscriber ";

pub static CLASSES: &[Class] = &[Class {
    name: NAME,
    requires: Some(Feature::PetAlerts),
    keys: SERVICE_KEYS,
    instances,
    create: Some(create),
    delete: Some(delete),
    read: Access::EVENT_MANAGER,
    write: Access::EVENT_MANAGER,
    ..CLASS
}];

fn instance_name(handle: u32) -> String {
    format!("{INSTANCE_NAME}{handle}")
}

fn instances(device: &Device) -> Vec<Instance> {
    device
        .snmp_subscribers()
        .into_iter()
        .map(|sub: SnmpSubscriber| {
            let name = instance_name(sub.handle);
            service(NAME, &name)
                .with("AccessInfo", sub.address.as_str())
                .with_opt("CommunityString", sub.community.as_deref())
                .with("ElementName", name.as_str())
                .with("InfoFormat", i64::from(sub.format.code()))
                .with("PolicyID", i64::from(sub.policy_id))
        })
        .collect()
}

/// Refusals on the wire: what firmware documents for a bad address or
/// PolicyID and for a full table, as an intrinsic operation's
/// InternalError with its PT status.
fn fault(refusal: SnmpRefusal) -> Fault {
    tracing::info!(?refusal, "SNMP subscriber refused");
    match refusal {
        SnmpRefusal::BadAddress | SnmpRefusal::UnknownPolicy | SnmpRefusal::BadCommunity => {
            Fault::InternalError(PtStatus::InvalidParameter.into())
        }
        SnmpRefusal::TooMany => Fault::InternalError(PtStatus::MaxLimitReached.into()),
        SnmpRefusal::NoSuchSubscriber => Fault::InvalidSelectors,
    }
}

/// A Create carries the instance: AccessInfo and PolicyID must be there
/// (a missing or mistyped property is an invalid representation); the
/// keys the client sends, if any, are the device's to choose and are
/// ignored.
fn create(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let address = optional(input, "AccessInfo", |v| v.as_text().map(str::to_string))?
        .ok_or(Fault::InvalidRepresentation)?;
    let policy_id = optional(input, "PolicyID", |v| u8::try_from(v.as_int()?).ok())?
        .ok_or(Fault::InvalidRepresentation)?;
    // An InfoFormat outside the three address formats names no address
    // this subscriber can have.
    let format = match optional(input, "InfoFormat", Value::as_int)? {
        None => None,
        Some(code) => Some(AddressFormat::from_code(code).ok_or(fault(SnmpRefusal::BadAddress))?),
    };
    let community = optional(input, "CommunityString", |v| {
        v.as_text().map(str::to_string)
    })?;
    let sub = device
        .add_snmp_subscriber(SnmpSubscriberRequest {
            address,
            format,
            policy_id,
            community,
        })
        .map_err(fault)?;
    Ok(service_epr(NAME, &instance_name(sub.handle)))
}

fn delete(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("Name")
        .and_then(|n| n.strip_prefix(INSTANCE_NAME))
        .and_then(|n| n.parse().ok())
        .ok_or(Fault::InvalidSelectors)?;
    device.remove_snmp_subscriber(handle).map_err(fault)
}

#[cfg(test)]
mod tests;
