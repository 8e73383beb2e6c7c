//! 802.1X and wireless profiles (AMT 4.0+): AMT_8021XProfile for the wired
//! port, AMT_WiFiPortConfigurationService.AddWiFiSettings with the
//! CIM_WiFiEndpointSettings and CIM_IEEE8021xSettings it creates, and
//! AMT_8021xCredentialContext, which ties profiles to the client
//! certificates they present; CIM_WiFiPort turns the wireless port on for
//! the ME and CIM_WiFiEndpoint is the endpoint profiles are added to.

use super::pki::{certificate_epr, certificate_handle};
use super::{CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_text, put_uint, service};
use amtemu_model::device::audit::EventId;
use amtemu_model::device::ieee8021x::{
    EapMethod, Ieee8021xCredentials, ProfileError, WifiAuthentication, WifiEncryption, WifiProfile,
};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const WIRED_ID: &str = "Intel(r) AMT 802.1x Profile 0";
const WIFI_SETTINGS_PREFIX: &str = "Intel(r) AMT:WiFi Endpoint Settings ";
const IEEE8021X_PREFIX: &str = "Intel(r) AMT:IEEE 802.1x Settings ";
const WIFI_SERVICE: &str = "Intel(r) AMT WiFi Port Configuration Service";

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
        ("RoamingIdentity", &c.roaming_identity),
        ("ServerCertificateName", &c.server_certificate_name),
        ("Username", &c.username),
        ("Domain", &c.domain),
    ];
    for (name, value) in texts {
        if !value.is_empty() {
            instance.set(name, value.as_str());
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
    let wired = device.with_state(|s| s.nvram.ieee8021x.wired.clone());
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
) -> Result<(), ProfileError> {
    let invalid = |_: Fault| ProfileError::Invalid;
    if let Some(v) = input.get("AuthenticationProtocol") {
        creds.method = Some(
            v.as_int()
                .and_then(EapMethod::from_number)
                .ok_or(ProfileError::Invalid)?,
        );
    }
    put_text(input, "RoamingIdentity", &mut creds.roaming_identity).map_err(invalid)?;
    put_text(
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
    put_text(input, "Username", &mut creds.username).map_err(invalid)?;
    put_text(input, "Password", &mut creds.password).map_err(invalid)?;
    put_text(input, "Domain", &mut creds.domain).map_err(invalid)?;
    Ok(())
}

/// A certificate reference argument: absent, or naming a certificate by
/// handle (whether it exists is checked with the profile).
fn certificate_ref(value: Option<&Value>) -> Result<Option<u32>, ProfileError> {
    match value {
        None => Ok(None),
        Some(Value::Text(t)) if t.trim().is_empty() => Ok(None),
        v => certificate_handle(v)
            .map(Some)
            .ok_or(ProfileError::NoSuchCertificate),
    }
}

fn put_wired_profile(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let mut wired = device.with_state(|s| s.nvram.ieee8021x.wired.clone());
    put_bool(input, "Enabled", &mut wired.enabled)?;
    put_bool(input, "ActiveInS0", &mut wired.active_in_s0)?;
    put_uint(input, "PxeTimeout", &mut wired.pxe_timeout)?;
    let refused = |e: ProfileError| {
        tracing::info!(device = %device.name, error = ?e, "802.1X profile refused");
        Fault::InvalidRepresentation
    };
    read_credentials(input, &mut wired.credentials).map_err(refused)?;
    if input.get("ClientCertificate").is_some() {
        wired.credentials.client_certificate =
            certificate_ref(input.get("ClientCertificate")).map_err(refused)?;
    }
    if input.get("ServerCertificateIssuer").is_some() {
        wired.credentials.server_certificate_issuer =
            certificate_ref(input.get("ServerCertificateIssuer")).map_err(refused)?;
    }
    device
        .with_state(|s| {
            wired.validate(&s.nvram.certs)?;
            s.nvram.ieee8021x.wired = wired;
            Ok(())
        })
        .map_err(refused)
}

fn wifi_port(device: &Device) -> Vec<Instance> {
    let state = device.with_state(|s| s.nvram.ieee8021x.wifi_port);
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
        .and_then(amtemu_model::device::ieee8021x::WifiPortState::from_number)
    else {
        return Ok(output(METHOD, 5));
    };
    device.with_state(|s| s.nvram.ieee8021x.wifi_port = state);
    device.changed("CIM_WiFiPort");
    Ok(output(METHOD, 0))
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

fn credential_contexts(device: &Device) -> Vec<Instance> {
    let (wired, wifi) = device.with_state(|s| {
        (
            s.nvram.ieee8021x.wired.clone(),
            s.nvram.ieee8021x.wifi.clone(),
        )
    });
    let context = |cert: u32, profile: Epr| {
        Instance::new("AMT_8021xCredentialContext")
            .with("ElementInContext", certificate_epr(cert))
            .with("ElementProvidingContext", profile)
    };
    let mut out = Vec::new();
    if let Some(h) = wired.credentials.client_certificate {
        out.push(context(h, wired_epr()));
    }
    for p in &wifi {
        if let Some(h) = p.ieee8021x.as_ref().and_then(|c| c.client_certificate) {
            let settings = Epr::new(names::class_uri("CIM_IEEE8021xSettings"))
                .with("InstanceID", ieee8021x_id(&p.name));
            out.push(context(h, settings));
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
    device.with_state(|s| {
        s.nvram
            .ieee8021x
            .wifi
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
    })
}

fn ieee8021x_settings(device: &Device) -> Vec<Instance> {
    device.with_state(|s| {
        s.nvram
            .ieee8021x
            .wifi
            .iter()
            .filter_map(|p| {
                let creds = p.ieee8021x.as_ref()?;
                let instance = Instance::new("CIM_IEEE8021xSettings")
                    .with("ElementName", p.name.as_str())
                    .with("InstanceID", ieee8021x_id(&p.name));
                Some(with_credentials(instance, creds))
            })
            .collect()
    })
}

/// The profile an AddWiFiSettings call describes.
fn wifi_profile(input: &Instance) -> Result<WifiProfile, ProfileError> {
    let Some(Value::Object(settings)) = input.get("WiFiEndpointSettingsInput") else {
        return Err(ProfileError::Invalid);
    };
    let text = |name: &str| settings.text(name).unwrap_or_default().to_string();
    let number = |name: &str| settings.int(name).ok_or(ProfileError::Invalid);
    let authentication = WifiAuthentication::from_number(number("AuthenticationMethod")?)
        .ok_or(ProfileError::Invalid)?;
    let encryption =
        WifiEncryption::from_number(number("EncryptionMethod")?).ok_or(ProfileError::Invalid)?;
    let priority = u32::try_from(number("Priority")?).map_err(|_| ProfileError::Invalid)?;
    let ieee8021x = match input.get("IEEE8021xSettingsInput") {
        None => None,
        Some(Value::Object(given)) => {
            let mut creds = Ieee8021xCredentials::default();
            read_credentials(given, &mut creds)?;
            creds.client_certificate = certificate_ref(input.get("ClientCredential"))?;
            creds.server_certificate_issuer = certificate_ref(input.get("CACredential"))?;
            Some(creds)
        }
        Some(_) => return Err(ProfileError::Invalid),
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

fn add_wifi_settings(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddWiFiSettings";
    // The endpoint, when named, is the one wireless endpoint.
    if let Some(endpoint) = input.get("WiFiEndpoint") {
        let ok = endpoint
            .as_ref()
            .and_then(|e| e.selector_text("Name"))
            .is_some_and(|n| n == "WiFi Endpoint 0");
        if !ok {
            return Ok(output(METHOD, 36));
        }
    }
    if device.audit_blocks(EventId::WIRELESS_PROFILE_ADDED) {
        return Ok(output(
            METHOD,
            amtemu_wire::status::PtStatus::AuditFail.into(),
        ));
    }
    let added = wifi_profile(input).and_then(|profile| {
        let name = profile.name.clone();
        device.with_state(|s| s.nvram.ieee8021x.add_wifi(profile, &s.nvram.certs))?;
        Ok(name)
    });
    match added {
        Ok(name) => {
            device.changed("CIM_WiFiEndpointSettings");
            device.audit(EventId::WIRELESS_PROFILE_ADDED);
            let created = Epr::new(names::class_uri("CIM_WiFiEndpointSettings"))
                .with("InstanceID", settings_id(&name));
            Ok(output(METHOD, 0).with("WiFiEndpointSettings", created))
        }
        Err(e) => {
            tracing::info!(device = %device.name, error = ?e, "wireless profile refused");
            Ok(output(METHOD, e.status()))
        }
    }
}

fn delete_all_profiles(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let removed = device.with_state(|s| std::mem::take(&mut s.nvram.ieee8021x.wifi).len());
    for _ in 0..removed {
        device.audit(EventId::WIRELESS_PROFILE_REMOVED);
    }
    device.changed("CIM_WiFiEndpointSettings");
    Ok(output("DeleteAllITProfiles", 0))
}

fn delete_wifi_settings(device: &Device, target: &Instance) -> Result<(), Fault> {
    let name = target
        .text("ElementName")
        .ok_or(Fault::InvalidSelectors)?
        .to_string();
    if !device.with_state(|s| s.nvram.ieee8021x.remove_wifi(&name)) {
        return Err(Fault::InvalidSelectors);
    }
    device.audit(EventId::WIRELESS_PROFILE_REMOVED);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn add_input(settings: Instance, eap: Option<Instance>, client: Option<u32>) -> Instance {
        let mut input = Instance::new("AddWiFiSettings_INPUT")
            .with(
                "WiFiEndpoint",
                Epr::new(names::class_uri("CIM_WiFiEndpoint")).with("Name", "WiFi Endpoint 0"),
            )
            .with("WiFiEndpointSettingsInput", Value::Object(settings));
        if let Some(eap) = eap {
            input.set("IEEE8021xSettingsInput", Value::Object(eap));
        }
        if let Some(h) = client {
            input.set("ClientCredential", certificate_epr(h));
        }
        input
    }

    fn psk(name: &str, priority: u32, passphrase: &str) -> Instance {
        Instance::new("CIM_WiFiEndpointSettings")
            .with("ElementName", name)
            .with("SSID", "corp")
            .with("Priority", priority)
            .with("AuthenticationMethod", 6)
            .with("EncryptionMethod", 4)
            .with("PSKPassPhrase", passphrase)
    }

    fn rv(d: &Device, input: Instance) -> i64 {
        add_wifi_settings(d, &Instance::default(), &input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    #[test]
    fn malformed_wifi_arguments_are_invalid_parameters() {
        let d = device("4.0");
        let good = || psk("home", 1, "password1");
        let other_endpoint = add_input(good(), None, None).with(
            "WiFiEndpoint",
            Epr::new(names::class_uri("CIM_WiFiEndpoint")).with("Name", "WiFi Endpoint 1"),
        );
        assert_eq!(rv(&d, other_endpoint), 36, "another endpoint");
        let not_a_reference = add_input(good(), None, None).with("WiFiEndpoint", "endpoint");
        assert_eq!(rv(&d, not_a_reference), 36, "an endpoint that is text");
        let mut missing = add_input(good(), None, None);
        missing.props.remove("WiFiEndpointSettingsInput");
        assert_eq!(rv(&d, missing), 36, "no settings");
        let text_settings =
            add_input(good(), None, None).with("WiFiEndpointSettingsInput", "settings");
        assert_eq!(rv(&d, text_settings), 36, "settings that are text");
        let negative = add_input(good().with("Priority", -1), None, None);
        assert_eq!(rv(&d, negative), 36, "a negative priority");
        let huge = add_input(good().with("Priority", 1i64 << 32), None, None);
        assert_eq!(rv(&d, huge), 36, "a priority past u32");
        let no_method = add_input(
            Instance::new("CIM_WiFiEndpointSettings").with("ElementName", "x"),
            None,
            None,
        );
        assert_eq!(rv(&d, no_method), 36, "no authentication method");
        let eap = || {
            good()
                .with("AuthenticationMethod", 7)
                .with("PSKPassPhrase", "")
        };
        let text_eap = add_input(eap(), None, None).with("IEEE8021xSettingsInput", "eap");
        assert_eq!(rv(&d, text_eap), 36, "802.1X settings that are text");
        let unknown_protocol =
            Instance::new("CIM_IEEE8021xSettings").with("AuthenticationProtocol", 11);
        assert_eq!(
            rv(&d, add_input(eap(), Some(unknown_protocol), None)),
            36,
            "an EAP method past the table"
        );
        assert!(wifi_settings(&d).is_empty(), "nothing was added");
    }

    #[test]
    fn wireless_profiles_are_validated_listed_and_deleted() {
        let d = device("4.0");
        assert_eq!(rv(&d, add_input(psk("home", 1, "short"), None, None)), 36);
        assert_eq!(
            rv(
                &d,
                add_input(
                    psk("home", 1, "password1").with("EncryptionMethod", 2),
                    None,
                    None
                )
            ),
            36
        );
        assert_eq!(
            rv(&d, add_input(psk("home", 1, "password1"), None, None)),
            0
        );
        assert_eq!(
            rv(&d, add_input(psk("home", 2, "password1"), None, None)),
            2058
        );
        let eap_settings = || {
            psk("eap", 2, "")
                .with("AuthenticationMethod", 7)
                .with("PSKPassPhrase", "")
        };
        let tls = Instance::new("CIM_IEEE8021xSettings").with("AuthenticationProtocol", 0);
        assert_eq!(
            rv(&d, add_input(eap_settings(), Some(tls.clone()), None)),
            36,
            "EAP-TLS needs a client certificate"
        );
        assert_eq!(
            rv(&d, add_input(eap_settings(), Some(tls.clone()), Some(7))),
            2068
        );
        let cert = d.with_state(|s| s.nvram.certs.add_certificate(vec![1, 2, 3], false));
        assert_eq!(rv(&d, add_input(eap_settings(), Some(tls), Some(cert))), 0);
        assert_eq!(wifi_settings(&d).len(), 2);
        assert_eq!(ieee8021x_settings(&d).len(), 1);
        let contexts = credential_contexts(&d);
        assert_eq!(contexts.len(), 1);
        let home = wifi_settings(&d)
            .into_iter()
            .find(|i| i.text("ElementName") == Some("home"))
            .unwrap();
        assert!(home.get("PSKPassPhrase").is_none(), "write-only");
        delete_wifi_settings(&d, &home).unwrap();
        assert_eq!(
            delete_wifi_settings(&d, &home),
            Err(Fault::InvalidSelectors)
        );
        delete_all_profiles(&d, &Instance::default(), &Instance::default()).unwrap();
        assert!(wifi_settings(&d).is_empty());
        assert_eq!(
            rv(&d, add_input(psk("again", 1, "password1"), None, None)),
            0
        );
        d.unprovision(amtemu_model::device::Unprovisioning::Full);
        assert!(
            wifi_settings(&d).is_empty(),
            "unprovisioning removes profiles"
        );
    }

    #[test]
    fn a_full_log_refuses_a_profile_its_policy_calls_critical() {
        use amtemu_model::device::audit::{
            AuditRecord, CAPACITY, Initiator, PolicyType, StoragePolicy,
        };
        let d = device("11.8");
        d.with_state(|s| {
            let log = &mut s.nvram.audit_log;
            log.storage_policy = StoragePolicy::NoRollover;
            log.set_policy(EventId::WIRELESS_PROFILE_ADDED, Some(PolicyType::Critical))
                .unwrap();
            for t in 0..CAPACITY as u32 {
                let record = AuditRecord {
                    app: 27,
                    event: 0,
                    initiator: Initiator::Local,
                    time: t,
                    address: None,
                    extended: vec![],
                };
                log.record(record, t).unwrap();
            }
        });
        assert_eq!(
            rv(&d, add_input(psk("home", 1, "password1"), None, None)),
            2075
        );
        assert!(wifi_settings(&d).is_empty(), "nothing added");
        d.with_state(|s| s.nvram.audit_log.storage_policy = StoragePolicy::Rollover);
        assert_eq!(
            rv(&d, add_input(psk("home", 1, "password1"), None, None)),
            0
        );
    }

    #[test]
    fn the_wireless_port_is_enabled_for_the_me_in_the_states_asked() {
        let d = device("5.2");
        let change = |n: i64| {
            wifi_port_state_change(
                &d,
                &Instance::default(),
                &Instance::new("RequestStateChange_INPUT").with("RequestedState", n),
            )
            .unwrap()
            .int("ReturnValue")
            .unwrap()
        };
        assert_eq!(wifi_port(&d)[0].int("EnabledState"), Some(3));
        assert_eq!(change(32769), 0);
        assert_eq!(wifi_port(&d)[0].int("EnabledState"), Some(32769));
        assert_eq!(change(2), 5);
        assert_eq!(wifi_port(&d)[0].int("EnabledState"), Some(32769));
    }

    #[test]
    fn the_wired_profile_is_put_only_when_complete() {
        let d = device("11.8");
        let current = wired_profile(&d).remove(0);
        let peap = Instance::new("AMT_8021XProfile")
            .with("Enabled", true)
            .with("AuthenticationProtocol", 2)
            .with("Username", "alice");
        assert_eq!(
            put_wired_profile(&d, &current, &peap),
            Err(Fault::InvalidRepresentation),
            "no password"
        );
        assert_eq!(
            wired_profile(&d)[0].bool("Enabled"),
            Some(false),
            "nothing applied"
        );
        let peap = peap.with("Password", "s3cret").with("Domain", "CORP");
        put_wired_profile(&d, &current, &peap).unwrap();
        let now = wired_profile(&d).remove(0);
        assert_eq!(now.bool("Enabled"), Some(true));
        assert_eq!(now.text("Username"), Some("alice"));
        assert!(now.get("Password").is_none());
        let tls = Instance::new("AMT_8021XProfile")
            .with("AuthenticationProtocol", 0)
            .with("ClientCertificate", certificate_epr(3));
        assert_eq!(
            put_wired_profile(&d, &now, &tls),
            Err(Fault::InvalidRepresentation)
        );
        let cert = d.with_state(|s| s.nvram.certs.add_certificate(vec![9], false));
        let tls = tls.with("ClientCertificate", certificate_epr(cert));
        put_wired_profile(&d, &now, &tls).unwrap();
        assert_eq!(credential_contexts(&d).len(), 1);
        assert_eq!(
            put_wired_profile(
                &d,
                &now,
                &Instance::new("AMT_8021XProfile").with("AuthenticationProtocol", 42)
            ),
            Err(Fault::InvalidRepresentation)
        );
    }
}
