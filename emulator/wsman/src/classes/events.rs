//! The event manager: AMT_EventManagerService, PET filters
//! (AMT_PETFilterSetting), and WS-Eventing as consoles use it — Subscribe
//! on a CIM_FilterCollection, the subscription shown as a
//! CIM_FilterCollectionSubscription between the filter and a
//! CIM_ListenerDestinationWSManagement, Renew and Unsubscribe on that
//! subscription. An adapter over `amtemu_model::device::eventing`;
//! delivery is the server's.
//!
//! No firmware capture of these classes or of a SubscribeResponse was
//! available: the shapes follow Intel's class reference and what
//! MeshCommander reads and sends (it unsubscribes by the Filter and Handler
//! selectors, and names the handler's CreationClassName
//! `CIM_ListenerDestinationWSMAN`); values it does not show are inferred.

use super::{Access, CLASS, Class, SERVICE_KEYS, put_bool, service};
use amtemu_model::device::eventing::{
    self, DeliveryMode, EventingRefusal, ReferenceParameter, SubscribeRequest, Subscription,
};
use amtemu_model::device::{BootTarget, Device, DeviceEvent, Feature, HostPower};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::cim_time;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::request::SubscribeArgs;
use amtemu_wire::wsman::value::{Epr, Instance};

const MANAGER: &str = "AMT_EventManagerService";
const MANAGER_NAME: &str = "Intel(r) AMT Event Manager Service";
const PET_FILTER: &str = "AMT_PETFilterSetting";
const PET_FILTER_ID: &str = "Intel(r) AMT:PET Filter ";
const FILTER_COLLECTION: &str = "CIM_FilterCollection";
const SUBSCRIPTION: &str = "CIM_FilterCollectionSubscription";
const LISTENER: &str = "CIM_ListenerDestination";
const LISTENER_WSMAN: &str = "CIM_ListenerDestinationWSManagement";
/// The handler's CreationClassName as MeshCommander names it in its
/// Unsubscribe selectors.
const LISTENER_CREATION_CLASS: &str = "CIM_ListenerDestinationWSMAN";
const LISTENER_NAME: &str = "Intel(r) AMT:Listener ";
const INDICATION_SERVICE: &str = "CIM_IndicationService";
/// Inferred: no capture names the instance.
const INDICATION_SERVICE_NAME: &str = "Intel(r) AMT Indication Service";

pub static CLASSES: &[Class] = &[
    Class {
        name: MANAGER,
        keys: SERVICE_KEYS,
        instances: manager,
        read: Access::EVENT_MANAGER,
        ..CLASS
    },
    Class {
        name: PET_FILTER,
        requires: Some(Feature::PetAlerts),
        keys: &["InstanceID"],
        instances: pet_filters,
        put: Some(put_pet_filter),
        read: Access::EVENT_MANAGER,
        write: Access::EVENT_MANAGER,
        ..CLASS
    },
    Class {
        name: FILTER_COLLECTION,
        requires: Some(Feature::WsEventing),
        keys: &["InstanceID"],
        instances: filter_collections,
        read: Access::EVENT_MANAGER,
        write: Access::EVENT_MANAGER,
        ..CLASS
    },
    Class {
        name: SUBSCRIPTION,
        requires: Some(Feature::WsEventing),
        keys: &["Filter", "Handler"],
        instances: subscriptions,
        delete: Some(delete_subscription),
        read: Access::EVENT_MANAGER,
        write: Access::EVENT_MANAGER,
        ..CLASS
    },
    Class {
        name: LISTENER,
        requires: Some(Feature::WsEventing),
        keys: SERVICE_KEYS,
        instances: listeners,
        subclasses: &[LISTENER_WSMAN],
        read: Access::EVENT_MANAGER,
        ..CLASS
    },
    Class {
        name: LISTENER_WSMAN,
        requires: Some(Feature::WsEventing),
        keys: SERVICE_KEYS,
        instances: listeners,
        read: Access::EVENT_MANAGER,
        ..CLASS
    },
    // The service that delivers the indications (Intel's WS-Eventing CIM
    // elements: static, one instance).
    Class {
        name: INDICATION_SERVICE,
        requires: Some(Feature::WsEventing),
        keys: SERVICE_KEYS,
        instances: indication_service,
        read: Access::EVENT_MANAGER,
        ..CLASS
    },
];

fn manager(_: &Device) -> Vec<Instance> {
    vec![
        service(MANAGER, MANAGER_NAME)
            .with("ElementName", MANAGER_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// The delivery policy as the server carries it out, not a firmware
/// capture: the filter collections are fixed (no filter can be created),
/// an event is sent once with no retry, and a subscriber whose deliveries
/// fail keeps its subscription (CIM's SubscriptionRemovalAction 4,
/// "Ignore"). The retry interval and removal time, meaningless without
/// retries or removal, are left out.
fn indication_service(_: &Device) -> Vec<Instance> {
    vec![
        service(INDICATION_SERVICE, INDICATION_SERVICE_NAME)
            .with("DeliveryRetryAttempts", 0)
            .with("ElementName", INDICATION_SERVICE_NAME)
            .with("FilterCreationEnabled", false)
            .with("SubscriptionRemovalAction", 4),
    ]
}

fn pet_filters(device: &Device) -> Vec<Instance> {
    device
        .pet_filters()
        .into_iter()
        .map(|f| {
            let id = format!("{PET_FILTER_ID}{}", f.policy_id);
            Instance::new(PET_FILTER)
                .with("ElementName", id.as_str())
                .with("EventSensorType", i64::from(f.event_sensor_type))
                .with("EventSeverity", i64::from(f.event_severity))
                .with("InstanceID", id.as_str())
                .with("LogOnEvent", f.log_on_event)
                .with("PolicyID", i64::from(f.policy_id))
                .with("SendAlert", f.send_alert)
        })
        .collect()
}

/// Only what a filter does with the events it catches may change; its
/// match fields are firmware's.
fn put_pet_filter(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let policy_id = current
        .int("PolicyID")
        .and_then(|p| u8::try_from(p).ok())
        .ok_or(Fault::InvalidSelectors)?;
    // A Put names the instance it replaces; a different InstanceID is a
    // different (unknown) filter.
    if input
        .get("InstanceID")
        .is_some_and(|v| v.to_text() != current.key_text("InstanceID"))
    {
        return Err(Fault::InvalidSelectors);
    }
    let mut log = current.bool("LogOnEvent").unwrap_or(true);
    let mut alert = current.bool("SendAlert").unwrap_or(false);
    put_bool(input, "LogOnEvent", &mut log)?;
    put_bool(input, "SendAlert", &mut alert)?;
    device
        .set_pet_filter(policy_id, log, alert)
        .map_err(|_| Fault::InvalidSelectors)
}

fn filter_collections(device: &Device) -> Vec<Instance> {
    eventing::filters(device.firmware)
        .map(|f| {
            Instance::new(FILTER_COLLECTION)
                .with("CollectionName", f.id)
                .with("ElementName", f.id)
                .with("InstanceID", f.id)
        })
        .collect()
}

fn filter_epr(filter: &str) -> Epr {
    Epr::new(names::class_uri(FILTER_COLLECTION)).with("InstanceID", filter)
}

fn listener_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(LISTENER_WSMAN))
        .with("CreationClassName", LISTENER_CREATION_CLASS)
        .with("Name", format!("{LISTENER_NAME}{handle}"))
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

/// The reference Renew and Unsubscribe name a subscription by.
pub(crate) fn subscription_epr(sub: &Subscription) -> Epr {
    Epr::new(names::class_uri(SUBSCRIPTION))
        .with_ref("Filter", filter_epr(&sub.filter))
        .with_ref("Handler", listener_epr(sub.handle))
}

fn subscriptions(device: &Device) -> Vec<Instance> {
    device
        .subscriptions()
        .iter()
        .map(|sub| {
            Instance::new(SUBSCRIPTION)
                .with("Filter", filter_epr(&sub.filter))
                .with("Handler", listener_epr(sub.handle))
                .with("OnFatalErrorPolicy", 2)
                .with("RepeatNotificationPolicy", 2)
                .with("SubscriptionState", 2)
        })
        .collect()
}

fn listeners(device: &Device) -> Vec<Instance> {
    device
        .subscriptions()
        .iter()
        .map(|sub| {
            let name = format!("{LISTENER_NAME}{}", sub.handle);
            Instance::new(LISTENER_WSMAN)
                .with("CreationClassName", LISTENER_CREATION_CLASS)
                .with("DeliveryMode", i64::from(sub.mode.code()))
                .with("Destination", sub.notify_to.as_str())
                .with("ElementName", name.as_str())
                .with("Name", name.as_str())
                // CIM_ListenerDestination.PersistenceType 2: permanent.
                .with("PersistenceType", 2)
                // CIM_ListenerDestination.Protocol 4: WS-Management.
                .with("Protocol", 4)
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT")
        })
        .collect()
}

/// The listener number a subscription instance's Handler names.
fn handle_of(target: &Instance) -> Result<u32, Fault> {
    target
        .get("Handler")
        .and_then(|v| v.as_ref())
        .and_then(|epr| epr.selector_text("Name"))
        .and_then(|n| n.strip_prefix(LISTENER_NAME))
        .and_then(|n| n.parse().ok())
        .ok_or(Fault::InvalidSelectors)
}

/// The fault for a refused subscription change. Firmware's answers here
/// were not captured: a full table answers as an intrinsic operation over
/// a limit does (InternalError with PT_STATUS_MAX_LIMIT_REACHED), the rest
/// with the WS-Man fault for the part of the request that was wrong.
fn fault(refusal: EventingRefusal) -> Fault {
    match refusal {
        EventingRefusal::NotSupported => Fault::ActionNotSupported,
        EventingRefusal::UnknownFilter
        | EventingRefusal::NoSuchSubscription
        | EventingRefusal::NoSuchFilter => Fault::InvalidSelectors,
        EventingRefusal::BadAddress
        | EventingRefusal::BadCredentials
        | EventingRefusal::BadReferenceParameters => Fault::InvalidParameter,
        EventingRefusal::Duplicate => Fault::AlreadyExists,
        EventingRefusal::TooMany => Fault::InternalError(PtStatus::MaxLimitReached.into()),
    }
}

/// Seconds until an expiry given as an xs:duration (`PT10M`) or a
/// datetime on the device's clock; None when none was asked for. An
/// expiry that is malformed or not in the future is refused.
fn expires_in(device: &Device, expires: Option<&str>) -> Result<Option<u64>, Fault> {
    let Some(text) = expires else {
        return Ok(None);
    };
    let secs = if text.starts_with('P') {
        cim_time::parse_interval(text)
    } else {
        cim_time::parse_datetime(text).and_then(|at| at.checked_sub(u64::from(device.clock())))
    };
    match secs {
        Some(secs) if secs > 0 => Ok(Some(secs)),
        _ => Err(Fault::InvalidParameter),
    }
}

/// The expiry as the response states it: an interval from now.
fn expires_text(device: &Device, expires: Option<u64>) -> Option<String> {
    expires.map(|at| cim_time::format_interval(at.saturating_sub(u64::from(device.clock()))))
}

/// Subscribe on a CIM_FilterCollection instance: returns the new
/// subscription's reference and its expiry.
pub(crate) fn subscribe(
    device: &Device,
    filter: &Instance,
    args: &SubscribeArgs,
    issued_token: Option<&(String, String)>,
) -> Result<(Epr, Option<String>), Fault> {
    let filter = filter
        .key_text("InstanceID")
        .ok_or(Fault::InvalidSelectors)?;
    let mode = match args.mode.as_deref() {
        Some(names::DELIVERY_PUSH) => DeliveryMode::Push,
        Some(names::DELIVERY_PUSH_WITH_ACK) => DeliveryMode::PushWithAck,
        // Pull and the batched mode are not how consoles subscribe to AMT
        // (MeshCommander offers Push and PushWithAck only).
        _ => return Err(Fault::UnsupportedFeature),
    };
    let notify_to = args.notify_to.clone().ok_or(Fault::InvalidParameter)?;
    // Credentials count only when the Delivery asks for authentication.
    let credentials = match (&args.auth_profile, issued_token) {
        (Some(_), Some(token)) => Some(token.clone()),
        (Some(_), None) => return Err(Fault::InvalidParameter),
        (None, _) => None,
    };
    let request = SubscribeRequest {
        filter,
        notify_to,
        mode,
        reference_parameters: args
            .reference_parameters
            .iter()
            .map(|(name, namespace, text)| ReferenceParameter {
                name: name.clone(),
                namespace: namespace.clone(),
                text: text.clone(),
            })
            .collect(),
        expires_in: expires_in(device, args.expires.as_deref())?,
        credentials,
    };
    let sub = device.add_subscription(request).map_err(|refusal| {
        tracing::info!(device = %device.name, ?refusal, "Subscribe refused");
        fault(refusal)
    })?;
    Ok((subscription_epr(&sub), expires_text(device, sub.expires)))
}

/// Renew on a CIM_FilterCollectionSubscription instance: the new expiry.
pub(crate) fn renew(
    device: &Device,
    target: &Instance,
    expires: Option<&str>,
) -> Result<Option<String>, Fault> {
    let handle = handle_of(target)?;
    let secs = expires_in(device, expires)?;
    let at = device.renew_subscription(handle, secs).map_err(fault)?;
    Ok(expires_text(device, at))
}

/// Unsubscribe on a CIM_FilterCollectionSubscription instance.
pub(crate) fn unsubscribe(device: &Device, target: &Instance) -> Result<(), Fault> {
    device
        .remove_subscription(handle_of(target)?)
        .map_err(fault)
}

fn delete_subscription(device: &Device, target: &Instance) -> Result<(), Fault> {
    unsubscribe(device, target)
}

/// An event as subscribers receive it: the CIM_AlertIndication (less its
/// IndicationFilterName, which is each subscriber's own filter) and the
/// filters that catch it.
#[derive(Clone, Debug, PartialEq)]
pub struct Indication {
    pub instance: Instance,
    pub filters: &'static [&'static str],
}

/// Power and boot events are platform events: the "All" and "Platform"
/// collections catch them (inferred from the collection names).
const PLATFORM_FILTERS: &[&str] = &["Intel(r) AMT:All", "Intel(r) AMT:Platform"];

/// The indication a device event is sent as, if subscribers hear of it.
/// Power states and boots are reported with the DMTF platform message
/// registry's IDs (DSP8007, as MeshCentral's table of AMT event IDs lists
/// them): the state entered for power changes, the boot device for boots.
/// Intel lists the fields firmware fills (OwningEntity, MessageID,
/// MessageArguments, AlertingManagedElement, AlertType,
/// PerceivedSeverity); their values here are inferred: the system as the
/// message argument and alerting element, "Device Alert" (5) as the
/// type, "Information" (2) as the severity.
pub fn indication(device: &Device, event: &DeviceEvent) -> Option<Indication> {
    let message_id = match event {
        DeviceEvent::PowerChanged { to, .. } => match to {
            HostPower::S0 => "PLAT0354",
            HostPower::S3 => "PLAT0360",
            HostPower::S4 => "PLAT0358",
            HostPower::S5 => "PLAT0362",
            HostPower::Off => "PLAT0364",
        },
        DeviceEvent::Booted(target) => match target {
            BootTarget::Disk => "PLAT0298",
            BootTarget::Pxe => "PLAT0300",
            BootTarget::CdDvd | BootTarget::IdeRedirection => "PLAT0304",
            BootTarget::Diagnostic => "PLAT0302",
            BootTarget::BiosSetup => "PLAT0312",
        },
        // Redirection sessions and tunnel changes are not sent: their Intel
        // message IDs (iAMT00xx) are not in the registry this module
        // follows.
        DeviceEvent::PowerRequested(_)
        | DeviceEvent::SettingsChanged(_)
        | DeviceEvent::RedirectionSession { .. }
        | DeviceEvent::Cira(_) => return None,
    };
    let instance = Instance::new("CIM_AlertIndication")
        .with("AlertType", 5)
        .with("AlertingElementFormat", 2)
        .with(
            "AlertingManagedElement",
            r#"Interop:CIM_ComputerSystem.CreationClassName="CIM_ComputerSystem",Name="ManagedSystem""#,
        )
        .with(
            "IndicationTime",
            amtemu_wire::wsman::value::Value::Datetime(cim_time::format_datetime(u64::from(
                device.clock(),
            ))),
        )
        .with_array("MessageArguments", ["ManagedSystem"])
        .with("MessageID", message_id)
        .with("OwningEntity", "DMTF")
        .with("PerceivedSeverity", 2)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT");
    Some(Indication {
        instance,
        filters: PLATFORM_FILTERS,
    })
}

#[cfg(test)]
mod tests;
