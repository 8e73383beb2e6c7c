//! The TLS credential (AMT_TLSCredentialContext naming the certificate the
//! TLS server presents, AMT_TLSProtocolEndpointCollection) and the TLS
//! policy (AMT_TLSSettingData, staged here and applied by CommitChanges).

use super::{
    CERTIFICATE, CERTIFICATE_ID, COLLECTION, COLLECTION_NAME, COLLECTION_NAME_CLIENTS, CREDENTIAL,
    TLS_LOCAL, TLS_REMOTE, TLS_SETTINGS, certificate_epr, collection_epr, fault, handle_of,
};
use amtemu_model::device::certs::{TlsInterface, TlsSettingsChange};
use amtemu_model::device::{Device, Port, TlsSettingData};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

// ---- the TLS credential ------------------------------------------------------

pub(super) fn endpoint_collection(_: &Device) -> Vec<Instance> {
    vec![Instance::new(COLLECTION).with("ElementName", COLLECTION_NAME)]
}

pub(crate) fn credential_contexts(device: &Device) -> Vec<Instance> {
    device
        .tls_credential()
        .map(|handle| {
            Instance::new(CREDENTIAL)
                .with("ElementInContext", certificate_epr(handle))
                .with("ElementProvidingContext", collection_epr())
        })
        .into_iter()
        .collect()
}

/// The certificate a Create or Put names. Malformed references →
/// InvalidParameter; the device checks the certificate itself (it exists,
/// is a leaf, its key is held), and its refusals are InternalError faults.
fn credential_certificate(input: &Instance) -> Result<u32, Fault> {
    let cert = input
        .get("ElementInContext")
        .and_then(Value::as_ref)
        .filter(|e| e.resource_uri == names::class_uri(CERTIFICATE))
        .ok_or(Fault::InvalidParameter)?;
    let provider = input
        .get("ElementProvidingContext")
        .and_then(Value::as_ref)
        .filter(|e| e.resource_uri == names::class_uri(COLLECTION))
        .ok_or(Fault::InvalidParameter)?;
    if provider
        .selector_text("ElementName")
        .is_some_and(|n| n != COLLECTION_NAME && n != COLLECTION_NAME_CLIENTS)
    {
        return Err(Fault::InvalidParameter);
    }
    cert.selector_text("InstanceID")
        .and_then(|id| handle_of(id, CERTIFICATE_ID))
        .ok_or(Fault::InvalidParameter)
}

/// Create names the certificate the TLS server presents. There is one
/// credential context: a second Create is `wsman:AlreadyExists`.
pub(super) fn create_credential_context(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let handle = credential_certificate(input)?;
    device.create_tls_credential(handle).map_err(fault)?;
    Ok(Epr::new(names::class_uri(CREDENTIAL))
        .with_ref("ElementInContext", certificate_epr(handle))
        .with_ref("ElementProvidingContext", collection_epr()))
}

/// Put swaps the certificate (MeshCentral and RPS change the
/// ElementInContext reference of the instance they read).
pub(super) fn put_credential_context(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<(), Fault> {
    let handle = credential_certificate(input)?;
    device.replace_tls_credential(handle).map_err(fault)
}

pub(super) fn delete_credential_context(device: &Device, _: &Instance) -> Result<(), Fault> {
    device.remove_tls_credential();
    Ok(())
}

// ---- AMT_TLSSettingData --------------------------------------------------------

/// Whether the firmware serves plain HTTP to the network at all (16.1 and
/// later do not).
fn plain_http(device: &Device) -> bool {
    device.firmware.opens(Port::Http)
}

fn tls_setting(device: &Device, id: &str, data: &TlsSettingData, remote: bool) -> Instance {
    let tls_only = !plain_http(device);
    let accept = data.accept_non_secure && !(remote && tls_only);
    let mut i = Instance::new(TLS_SETTINGS)
        .with("AcceptNonSecureConnections", accept)
        .with("ElementName", id)
        .with("Enabled", data.enabled)
        .with("InstanceID", id)
        .with("MutualAuthentication", data.mutual_authentication);
    // From CSME 16.1 the property says whether non-TLS ports remain for the
    // interface: not for the network, still for LMS. Older firmware has no
    // such property (the AMT 12–16 capture shows none).
    if tls_only {
        i.set("NonSecureConnectionsSupported", !remote);
    }
    if !data.trusted_cn.is_empty() {
        i = i.with_array("TrustedCN", data.trusted_cn.iter().map(String::as_str));
    }
    i
}

/// The two instances, showing what Put wrote before CommitChanges applies
/// it: a Put's response echoes the written values, and clients that re-read
/// between Put and commit (RPS) expect to see them.
pub(super) fn tls_settings(device: &Device) -> Vec<Instance> {
    let t = device.staged_tls_settings();
    vec![
        tls_setting(device, TLS_REMOTE, &t.remote, true),
        tls_setting(device, TLS_LOCAL, &t.local, false),
    ]
}

/// An optional boolean of a Put; a present but malformed value is an
/// invalid representation.
fn optional_bool(input: &Instance, name: &str) -> Result<Option<bool>, Fault> {
    input
        .get(name)
        .map(|v| v.as_bool().ok_or(Fault::InvalidRepresentation))
        .transpose()
}

/// Put stages the settings for CommitChanges.
///
/// The instance is the one the InstanceID in the body names (MeshCentral and
/// DMT also send it as a selector; a selector-less Put names it only in the
/// body), else the selected one. AcceptNonSecureConnections is read-only on
/// the LMS instance. TrustedCN is replaced by what the body carries (none
/// clears it, as MeshCentral relies on). On firmware without plain HTTP
/// (16.1+) the device refuses to let the network instance disable TLS or
/// accept non-TLS connections: the class reference says such a Put "will
/// fail with error code AMT_STATUS_NOT_PERMITTED" → InternalError 16.
pub(super) fn put_tls_settings(
    device: &Device,
    current: &Instance,
    input: &Instance,
) -> Result<(), Fault> {
    let id = input
        .text("InstanceID")
        .filter(|id| *id == TLS_REMOTE || *id == TLS_LOCAL)
        .or_else(|| current.text("InstanceID"))
        .ok_or(Fault::InvalidSelectors)?;
    let interface = if id == TLS_REMOTE {
        TlsInterface::Remote
    } else {
        TlsInterface::Local
    };
    let trusted_cn = match input.get("TrustedCN") {
        None => Vec::new(),
        Some(v) => v
            .items()
            .iter()
            .map(|cn| cn.as_text().map(|t| t.trim().to_string()))
            .filter(|cn| cn.as_deref() != Some(""))
            .collect::<Option<Vec<_>>>()
            .ok_or(Fault::InvalidRepresentation)?,
    };
    let change = TlsSettingsChange {
        enabled: optional_bool(input, "Enabled")?,
        mutual_authentication: optional_bool(input, "MutualAuthentication")?,
        accept_non_secure: match interface {
            TlsInterface::Remote => optional_bool(input, "AcceptNonSecureConnections")?,
            TlsInterface::Local => None,
        },
        trusted_cn,
    };
    device.stage_tls_settings(interface, change).map_err(fault)
}
