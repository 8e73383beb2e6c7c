//! AMT_EndpointAccessControlService: endpoint access control, the ME's
//! side of network admission control (it signs the platform's posture for
//! a NAC server), and AMT_EACCredentialContext, which names the certificate
//! that signs postures. 3.0 until CSME 18.0 dropped both.
//!
//! Intel's class reference: the service is active only once a posture
//! signer is set, "by creating AMT_EACCredentialContext instance"; the EAC
//! event table names the association's Create, Delete and Put as what sets
//! or removes the signer. So the signer is set here by WS-Man Create (Put
//! swaps it, Delete clears it), and the service's EnabledState follows it:
//! disabled (CIM 3) without a signer, enabled (2) with one (inferred, not
//! captured). The service's methods (RequestStateChange, GetPosture,
//! SetEacOptions, ...) are not modelled.

use super::pki::{CERTIFICATE, certificate_epr, certificate_handle, fault};
use super::{CLASS, Class, SERVICE_KEYS, service, service_epr};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const CLASS_NAME: &str = "AMT_EndpointAccessControlService";
const NAME: &str = "Intel(r) AMT Endpoint Access Control Service";
pub(super) const CREDENTIAL: &str = "AMT_EACCredentialContext";

pub static CLASSES: &[Class] = &[
    Class {
        name: CLASS_NAME,
        requires: Some(Feature::EndpointAccessControl),
        keys: SERVICE_KEYS,
        instances: endpoint_access_service,
        ..CLASS
    },
    Class {
        name: CREDENTIAL,
        requires: Some(Feature::EndpointAccessControl),
        keys: &["ElementInContext", "ElementProvidingContext"],
        instances: credential_contexts,
        create: Some(create_credential_context),
        put: Some(put_credential_context),
        delete: Some(delete_credential_context),
        ..CLASS
    },
];

/// CIM's EnabledState values.
const ENABLED: i64 = 2;
const DISABLED: i64 = 3;

fn endpoint_access_service(device: &Device) -> Vec<Instance> {
    let state = match device.posture_signer() {
        Some(_) => ENABLED,
        None => DISABLED,
    };
    vec![
        service(CLASS_NAME, NAME)
            .with("ElementName", NAME)
            .with("EnabledState", state),
    ]
}

/// One instance per posture signer: firmware has at most one. With none
/// set the enumeration is empty (no source shows what firmware with EAC
/// unconfigured answers; an empty enumeration is what the association's
/// other users, such as AMT_TLSCredentialContext, answer when unset).
pub(super) fn credential_contexts(device: &Device) -> Vec<Instance> {
    device
        .posture_signer()
        .map(|handle| {
            Instance::new(CREDENTIAL)
                .with("ElementInContext", certificate_epr(handle))
                .with("ElementProvidingContext", service_epr(CLASS_NAME, NAME))
        })
        .into_iter()
        .collect()
}

/// The certificate a Create or Put names. A missing or malformed reference,
/// or one to anything but a stored-certificate handle and this service, is
/// InvalidParameter (as for the TLS credential); the device checks the
/// certificate itself and its refusals are InternalError faults carrying
/// the PT_STATUS (2068 NOT_FOUND for an unknown handle).
fn signer_certificate(input: &Instance) -> Result<u32, Fault> {
    let cert = input.get("ElementInContext");
    let to_a_certificate = cert
        .and_then(Value::as_ref)
        .is_some_and(|e| e.resource_uri == names::class_uri(CERTIFICATE));
    if !to_a_certificate {
        return Err(Fault::InvalidParameter);
    }
    let provider = input
        .get("ElementProvidingContext")
        .and_then(Value::as_ref)
        .filter(|e| e.resource_uri == names::class_uri(CLASS_NAME))
        .ok_or(Fault::InvalidParameter)?;
    if provider.selector_text("Name").is_some_and(|n| n != NAME) {
        return Err(Fault::InvalidParameter);
    }
    certificate_handle(cert).ok_or(Fault::InvalidParameter)
}

/// Create sets the posture signer; a second Create is
/// `wsman:AlreadyExists`, as for the TLS credential.
fn create_credential_context(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let handle = signer_certificate(input)?;
    device.create_posture_signer(handle).map_err(fault)?;
    Ok(Epr::new(names::class_uri(CREDENTIAL))
        .with_ref("ElementInContext", certificate_epr(handle))
        .with_ref("ElementProvidingContext", service_epr(CLASS_NAME, NAME)))
}

/// Put names another signer.
fn put_credential_context(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let handle = signer_certificate(input)?;
    device.replace_posture_signer(handle).map_err(fault)
}

fn delete_credential_context(device: &Device, _: &Instance) -> Result<(), Fault> {
    device.remove_posture_signer();
    Ok(())
}

#[cfg(test)]
mod tests;
