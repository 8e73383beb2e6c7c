//! 802.1X and wireless profiles (AMT 4.0+): AMT_8021XProfile for the wired
//! port, AMT_WiFiPortConfigurationService.AddWiFiSettings with the
//! CIM_WiFiEndpointSettings and CIM_IEEE8021xSettings it creates, and
//! AMT_8021xCredentialContext, which ties profiles to the client
//! certificates they present; CIM_WiFiPort turns the wireless port on for
//! the ME and CIM_WiFiEndpoint is the endpoint profiles are added to.

use super::pki::{certificate_epr, certificate_handle};
use super::{CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_checked, put_uint, service};
use amtemu_model::device::ieee8021x::{
    EapMethod, Ieee8021xCredentials, Ieee8021xRefusal, WifiAuthentication, WifiEncryption,
    WifiPortState, WifiProfile, WiredEdit,
};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const WIRED_ID: &str = "Intel(r) AMT 802.1x Profile 0";
const WIFI_SETTINGS_PREFIX: &str = "Intel(r) AMT:WiFi Endpoint Settings ";
const IEEE8021X_PREFIX: &str = "Intel(r) AMT:IEEE 802.1x Settings ";
const WIFI_SERVICE: &str = "Intel(r) AMT WiFi Port Configuration Service";

/// The PT_STATUS AddWiFiSettings answers a refusal with.
fn status(refusal: Ieee8021xRefusal) -> PtStatus {
    match refusal {
        Ieee8021xRefusal::Invalid => PtStatus::InvalidParameter,
        Ieee8021xRefusal::NoSuchCertificate | Ieee8021xRefusal::NoSuchProfile => PtStatus::NotFound,
        Ieee8021xRefusal::Duplicate => PtStatus::Duplicate,
        Ieee8021xRefusal::Full => PtStatus::MaxLimitReached,
        Ieee8021xRefusal::AuditBlocked => PtStatus::AuditFail,
    }
}

/// CIM_WiFiPort.RequestStateChange's ReturnValue (CIM codes, not PT_STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateChange {
    Completed,
    InvalidParameter,
}

impl From<StateChange> for u32 {
    fn from(result: StateChange) -> u32 {
        match result {
            StateChange::Completed => 0,
            StateChange::InvalidParameter => 5,
        }
    }
}

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_8021XProfile",
        requires: Some(Feature::Wireless),
        keys: &["InstanceID"],
        instances: wired_profile,
        put: Some(put_wired_profile),
        ..CLASS
    },
    Class {
        name: "AMT_8021xCredentialContext",
        requires: Some(Feature::Wireless),
        keys: &["ElementInContext", "ElementProvidingContext"],
        instances: credential_contexts,
        ..CLASS
    },
    Class {
        name: "AMT_WiFiPortConfigurationService",
        requires: Some(Feature::Wireless),
        keys: SERVICE_KEYS,
        instances: wifi_service,
        methods: &[
            Method {
                name: "AddWiFiSettings",
                requires: None,
                call: add_wifi_settings,
            },
            Method {
                name: "DeleteAllITProfiles",
                requires: None,
                call: delete_all_profiles,
            },
        ],
        ..CLASS
    },
    Class {
        name: "CIM_WiFiEndpointSettings",
        requires: Some(Feature::Wireless),
        keys: &["InstanceID"],
        instances: wifi_settings,
        delete: Some(delete_wifi_settings),
        ..CLASS
    },
    Class {
        name: "CIM_WiFiPort",
        requires: Some(Feature::Wireless),
        keys: &[
            "CreationClassName",
            "DeviceID",
            "SystemCreationClassName",
            "SystemName",
        ],
        instances: wifi_port,
        methods: &[Method {
            name: "RequestStateChange",
            requires: None,
            call: wifi_port_state_change,
        }],
        ..CLASS
    },
    // The states CIM_WiFiPort.RequestStateChange accepts, as its
    // capabilities (CIM_EnabledLogicalElementCapabilities'
    // RequestedStatesSupported); InstanceID spelling observed.
    Class {
        name: "CIM_WiFiPortCapabilities",
        requires: Some(Feature::Wireless),
        keys: &["InstanceID"],
        instances: wifi_port_capabilities,
        ..CLASS
    },
    Class {
        name: "CIM_WiFiEndpoint",
        requires: Some(Feature::Wireless),
        keys: &[
            "CreationClassName",
            "Name",
            "SystemCreationClassName",
            "SystemName",
        ],
        instances: wifi_endpoint,
        ..CLASS
    },
    Class {
        name: "CIM_IEEE8021xSettings",
        requires: Some(Feature::Wireless),
        keys: &["InstanceID"],
        instances: ieee8021x_settings,
        ..CLASS
    },
];

fn wired_epr() -> Epr {
    Epr::new(names::class_uri("AMT_8021XProfile")).with("InstanceID", WIRED_ID)
}

/// The credential properties both profile kinds show (never the password).
fn with_credentials(mut instance: Instance, c: &Ieee8021xCredentials) -> Instance {
    if let Some(m) = c.method {
        instance.set("AuthenticationProtocol", m.number());
    }
    let texts = [
        ("RoamingIdentity", c.roaming_identity.as_str()),
        ("ServerCertificateName", c.server_certificate_name.as_str()),
        ("Username", c.username.as_str()),
        ("Domain", c.domain.as_str()),
    ];
    for (name, value) in texts {
        if !value.is_empty() {
            instance.set(name, value);
        }
    }
    if c.server_certificate_name_comparison != 0 {
        instance.set(
            "ServerCertificateNameComparison",
            c.server_certificate_name_comparison,
        );
    }
    instance
}

fn wired_profile(device: &Device) -> Vec<Instance> {
    let wired = device.wired_profile();
    let mut instance = Instance::new("AMT_8021XProfile")
        .with("ActiveInS0", wired.active_in_s0)
        .with("ElementName", "Intel(r) AMT 802.1x Profile")
        .with("Enabled", wired.enabled)
        .with("InstanceID", WIRED_ID)
        .with("PxeTimeout", wired.pxe_timeout);
    if let Some(h) = wired.credentials.client_certificate {
        instance.set("ClientCertificate", certificate_epr(h));
    }
    if let Some(h) = wired.credentials.server_certificate_issuer {
        instance.set("ServerCertificateIssuer", certificate_epr(h));
    }
    vec![with_credentials(instance, &wired.credentials)]
}

/// Reads the 802.1X fields of a Put or a method argument over `creds`.
/// A malformed value is refused; absent ones keep what was there.
fn read_credentials(
    input: &Instance,
    creds: &mut Ieee8021xCredentials,
) -> Result<(), Ieee8021xRefusal> {
    let invalid = |_: Fault| Ieee8021xRefusal::Invalid;
    if let Some(v) = input.get("AuthenticationProtocol") {
        creds.method = Some(
            v.as_int()
                .and_then(EapMethod::from_number)
                .ok_or(Ieee8021xRefusal::Invalid)?,
        );
    }
    put_checked(input, "RoamingIdentity", &mut creds.roaming_identity).map_err(invalid)?;
    put_checked(
        input,
        "ServerCertificateName",
        &mut creds.server_certificate_name,
    )
    .map_err(invalid)?;
    put_uint(
        input,
        "ServerCertificateNameComparison",
        &mut creds.server_certificate_name_comparison,
    )
    .map_err(invalid)?;
    put_checked(input, "Username", &mut creds.username).map_err(invalid)?;
    put_checked(input, "Password", &mut creds.password).map_err(invalid)?;
    put_checked(input, "Domain", &mut creds.domain).map_err(invalid)?;
    Ok(())
}

/// A certificate reference argument: absent, or naming a certificate by
/// handle (whether it exists is checked with the profile).
fn certificate_ref(value: Option<&Value>) -> Result<Option<u32>, Ieee8021xRefusal> {
    match value {
        None => Ok(None),
        Some(Value::Text(t)) if t.trim().is_empty() => Ok(None),
        v => certificate_handle(v)
            .map(Some)
            .ok_or(Ieee8021xRefusal::NoSuchCertificate),
    }
}

/// Put of the wired profile: the properties the body carries change the
/// profile as it stands, which the device keeps only when it passes its
/// checks. A malformed property, or a profile the device refuses, is an
/// invalid representation.
fn put_wired_profile(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let malformed = |_: Fault| Ieee8021xRefusal::Invalid;
    device
        .edit_wired_profile(WiredEdit::Complete, |wired| {
            put_bool(input, "Enabled", &mut wired.enabled).map_err(malformed)?;
            put_bool(input, "ActiveInS0", &mut wired.active_in_s0).map_err(malformed)?;
            put_uint(input, "PxeTimeout", &mut wired.pxe_timeout).map_err(malformed)?;
            read_credentials(input, &mut wired.credentials)?;
            if input.get("ClientCertificate").is_some() {
                wired.credentials.client_certificate =
                    certificate_ref(input.get("ClientCertificate"))?;
            }
            if input.get("ServerCertificateIssuer").is_some() {
                wired.credentials.server_certificate_issuer =
                    certificate_ref(input.get("ServerCertificateIssuer"))?;
            }
            Ok(())
        })
        .map_err(|e| {
            tracing::info!(device = %device.name, error = ?e, "802.1X profile refused");
            Fault::InvalidRepresentation
        })
}

fn wifi_port(device: &Device) -> Vec<Instance> {
    let state = device.wifi_port_state();
    vec![
        Instance::new("CIM_WiFiPort")
            .with("CreationClassName", "CIM_WiFiPort")
            .with("DeviceID", "WiFi Port 0")
            .with("ElementName", "Intel(r) Wireless LAN")
            .with("EnabledState", state.number())
            .with("LinkTechnology", 11)
            .with("PortType", 4)
            .with("RequestedState", state.number())
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "ManagedSystem"),
    ]
}

fn wifi_port_capabilities(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT WiFi Port Capabilities";
    vec![
        Instance::new("CIM_WiFiPortCapabilities")
            .with("ElementName", name)
            .with("InstanceID", name)
            .with_array(
                "RequestedStatesSupported",
                WifiPortState::ALL.map(WifiPortState::number),
            ),
    ]
}

/// 3 disables the port for the ME; 32768 enables it in S0, 32769 in S0
/// and in sleep states on AC. Anything else is an invalid parameter (5).
fn wifi_port_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "RequestStateChange";
    let Some(state) = input
        .int("RequestedState")
        .and_then(WifiPortState::from_number)
    else {
        return Ok(output(METHOD, StateChange::InvalidParameter.into()));
    };
    device.set_wifi_port_state(state);
    Ok(output(METHOD, StateChange::Completed.into()))
}

fn wifi_endpoint(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_WiFiEndpoint")
            .with("CreationClassName", "CIM_WiFiEndpoint")
            .with("ElementName", "WiFi Endpoint 0")
            .with("EnabledState", 2)
            .with("Name", "WiFi Endpoint 0")
            .with("RequestedState", 12)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "ManagedSystem"),
    ]
}

fn settings_id(name: &str) -> String {
    format!("{WIFI_SETTINGS_PREFIX}{name}")
}

fn ieee8021x_id(name: &str) -> String {
    format!("{IEEE8021X_PREFIX}{name}")
}

fn context(class: &str, cert: u32, element: Epr) -> Instance {
    Instance::new(class)
        .with("ElementInContext", certificate_epr(cert))
        .with("ElementProvidingContext", element)
}

/// AMT_8021xCredentialContext: the wired AMT_8021XProfile and the client
/// certificate it presents (Intel's reference: the association between
/// the profile and the certificate it uses).
pub(crate) fn credential_contexts(device: &Device) -> Vec<Instance> {
    let wired = device.wired_profile();
    wired
        .credentials
        .client_certificate
        .map(|h| context("AMT_8021xCredentialContext", h, wired_epr()))
        .into_iter()
        .collect()
}

/// The wireless profiles' certificates (client certificate and trusted
/// root of the server's) and the CIM_IEEE8021xSettings that use them, as
/// CIM_CredentialContext itself reports them.
pub(crate) fn wifi_credential_contexts(device: &Device) -> Vec<Instance> {
    let mut out = Vec::new();
    for p in device.wifi_profiles() {
        let Some(creds) = p.ieee8021x.as_ref() else {
            continue;
        };
        let settings = Epr::new(names::class_uri("CIM_IEEE8021xSettings"))
            .with("InstanceID", ieee8021x_id(&p.name));
        for h in [creds.client_certificate, creds.server_certificate_issuer]
            .into_iter()
            .flatten()
        {
            out.push(context("CIM_CredentialContext", h, settings.clone()));
        }
    }
    out
}

fn wifi_service(_: &Device) -> Vec<Instance> {
    vec![
        service("AMT_WiFiPortConfigurationService", WIFI_SERVICE)
            .with("ElementName", WIFI_SERVICE)
            .with("EnabledState", 5)
            .with("RequestedState", 12)
            .with("localProfileSynchronizationEnabled", 0),
    ]
}

fn wifi_settings(device: &Device) -> Vec<Instance> {
    device
        .wifi_profiles()
        .iter()
        .map(|p| {
            Instance::new("CIM_WiFiEndpointSettings")
                .with("AuthenticationMethod", p.authentication.number())
                .with("BSSType", 3)
                .with("ElementName", p.name.as_str())
                .with("EncryptionMethod", p.encryption.number())
                .with("InstanceID", settings_id(&p.name))
                .with("Priority", p.priority)
                .with("SSID", p.ssid.as_str())
        })
        .collect()
}

fn ieee8021x_settings(device: &Device) -> Vec<Instance> {
    device
        .wifi_profiles()
        .iter()
        .filter_map(|p| {
            let creds = p.ieee8021x.as_ref()?;
            let instance = Instance::new("CIM_IEEE8021xSettings")
                .with("ElementName", p.name.as_str())
                .with("InstanceID", ieee8021x_id(&p.name));
            Some(with_credentials(instance, creds))
        })
        .collect()
}

/// The profile an AddWiFiSettings call describes.
fn wifi_profile(input: &Instance) -> Result<WifiProfile, Ieee8021xRefusal> {
    let Some(Value::Object(settings)) = input.get("WiFiEndpointSettingsInput") else {
        return Err(Ieee8021xRefusal::Invalid);
    };
    let text = |name: &str| settings.text(name).unwrap_or_default().to_string();
    let number = |name: &str| settings.int(name).ok_or(Ieee8021xRefusal::Invalid);
    let authentication = WifiAuthentication::from_number(number("AuthenticationMethod")?)
        .ok_or(Ieee8021xRefusal::Invalid)?;
    let encryption = WifiEncryption::from_number(number("EncryptionMethod")?)
        .ok_or(Ieee8021xRefusal::Invalid)?;
    let priority = u32::try_from(number("Priority")?).map_err(|_| Ieee8021xRefusal::Invalid)?;
    let ieee8021x = match input.get("IEEE8021xSettingsInput") {
        None => None,
        Some(Value::Object(given)) => {
            let mut creds = Ieee8021xCredentials::default();
            read_credentials(given, &mut creds)?;
            creds.client_certificate = certificate_ref(input.get("ClientCredential"))?;
            creds.server_certificate_issuer = certificate_ref(input.get("CACredential"))?;
            Some(creds)
        }
        Some(_) => return Err(Ieee8021xRefusal::Invalid),
    };
    Ok(WifiProfile {
        name: text("ElementName"),
        ssid: text("SSID"),
        priority,
        authentication,
        encryption,
        passphrase: text("PSKPassPhrase"),
        ieee8021x,
    })
}

/// AddWiFiSettings: another endpoint than the one wireless endpoint, or
/// arguments that describe no valid profile, are invalid parameters (36);
/// an audit log that must refuse the event answers 2075 before the profile
/// is read.
fn add_wifi_settings(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddWiFiSettings";
    // The endpoint, when named, is the one wireless endpoint.
    if let Some(endpoint) = input.get("WiFiEndpoint") {
        let ok = endpoint
            .as_ref()
            .and_then(|e| e.selector_text("Name"))
            .is_some_and(|n| n == "WiFi Endpoint 0");
        if !ok {
            return Ok(output(METHOD, PtStatus::InvalidParameter.into()));
        }
    }
    match device.add_wifi_profile(|| wifi_profile(input)) {
        Ok(name) => {
            let created = Epr::new(names::class_uri("CIM_WiFiEndpointSettings"))
                .with("InstanceID", settings_id(&name));
            Ok(output(METHOD, PtStatus::Success.into()).with("WiFiEndpointSettings", created))
        }
        Err(e) => {
            tracing::info!(device = %device.name, error = ?e, "wireless profile refused");
            Ok(output(METHOD, status(e).into()))
        }
    }
}

fn delete_all_profiles(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    device.remove_all_wifi_profiles();
    Ok(output("DeleteAllITProfiles", PtStatus::Success.into()))
}

fn delete_wifi_settings(device: &Device, target: &Instance) -> Result<(), Fault> {
    let name = target.text("ElementName").ok_or(Fault::InvalidSelectors)?;
    device
        .remove_wifi_profile(name)
        .map_err(|_| Fault::InvalidSelectors)
}

mod ips;
pub(crate) use ips::CLASSES as IPS_CLASSES;
pub(crate) use ips::contexts as ips_credential_contexts;

#[cfg(test)]
mod tests;
