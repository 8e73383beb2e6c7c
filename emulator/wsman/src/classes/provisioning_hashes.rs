//! AMT_ProvisioningCertificateHash: the roots a remote-configuration chain
//! may end in, as the hellos carry them. A thin adapter over the device's
//! hash table (`amtemu_model::device::cert_hashes`): Create adds a user
//! hash, Delete removes an entry, Put switches `Enabled`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{CLASS, Class, optional};
use amtemu_model::device::Device;
use amtemu_model::device::cert_hashes::{HashEntry, HashRefusal};
use amtemu_model::device::provisioning::HashAlgorithm;
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const NAME: &str = "AMT_ProvisioningCertificateHash";
const ID: &str = "Intel(r) AMT Certificate Hash: ";

pub static CLASSES: &[Class] = &[Class {
    name: NAME,
    keys: &["InstanceID"],
    instances,
    put: Some(put),
    create: Some(create),
    delete: Some(delete),
    ..CLASS
}];

fn instance_id(handle: u32) -> String {
    format!("{ID}{handle}")
}

fn handle_of(instance: &Instance) -> Option<u32> {
    instance.text("InstanceID")?.strip_prefix(ID)?.parse().ok()
}

fn instances(device: &Device) -> Vec<Instance> {
    device
        .provisioning_hashes()
        .into_iter()
        .map(|HashEntry { handle, entry }| {
            Instance::new(NAME)
                .with("Description", entry.name.as_str())
                .with("ElementName", "Certificate Hash")
                .with("Enabled", entry.active)
                .with("HashData", BASE64.encode(&entry.hash))
                .with("HashType", i64::from(entry.algorithm.code()))
                .with("InstanceID", instance_id(handle))
                .with("IsDefault", entry.default)
        })
        .collect()
}

/// Refusals on the wire: a duplicate is `wsman:AlreadyExists` (AMT 15
/// answers a Create that would duplicate an instance so, captured in
/// tests/data/fixtures/http), a malformed entry an invalid
/// representation, a full table the PT status in an InternalError.
fn fault(refusal: HashRefusal) -> Fault {
    match refusal {
        HashRefusal::Duplicate => Fault::AlreadyExists,
        HashRefusal::WrongLength | HashRefusal::BadName => Fault::InvalidRepresentation,
        HashRefusal::TableFull => Fault::InternalError(PtStatus::MaxLimitReached.into()),
        HashRefusal::NoSuchEntry => Fault::InvalidSelectors,
    }
}

fn create(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let hash = optional(input, "HashData", |v| BASE64.decode(v.as_text()?).ok())?
        .ok_or(Fault::InvalidRepresentation)?;
    let algorithm = optional(input, "HashType", |v| {
        HashAlgorithm::from_code(u8::try_from(v.as_int()?).ok()?)
    })?
    .ok_or(Fault::InvalidRepresentation)?;
    let name =
        optional(input, "Description", |v| v.as_text().map(str::to_string))?.unwrap_or_default();
    let active = optional(input, "Enabled", Value::as_bool)?.unwrap_or(true);
    // Only the factory ships defaults.
    if optional(input, "IsDefault", Value::as_bool)? == Some(true) {
        return Err(Fault::InvalidRepresentation);
    }
    let handle = device
        .add_provisioning_hash(&name, algorithm, hash, active)
        .map_err(fault)?;
    Ok(Epr::new(names::class_uri(NAME)).with("InstanceID", instance_id(handle)))
}

fn put(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let handle = handle_of(current).ok_or(Fault::InvalidSelectors)?;
    let Some(active) = optional(input, "Enabled", Value::as_bool)? else {
        return Ok(());
    };
    device
        .set_provisioning_hash_active(handle, active)
        .map_err(fault)
}

fn delete(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = handle_of(target).ok_or(Fault::InvalidSelectors)?;
    device.delete_provisioning_hash(handle).map_err(fault)
}

#[cfg(test)]
mod tests;
