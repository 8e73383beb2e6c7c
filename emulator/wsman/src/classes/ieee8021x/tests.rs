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
    let text_settings = add_input(good(), None, None).with("WiFiEndpointSettingsInput", "settings");
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
    let contexts = wifi_credential_contexts(&d);
    assert_eq!(contexts.len(), 1);
    assert!(
        credential_contexts(&d).is_empty(),
        "the wired profile has none"
    );
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
        AuditRecord, CAPACITY, EventId, Initiator, PolicyType, StoragePolicy,
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

#[test]
fn the_wifi_port_accepts_exactly_the_states_its_capabilities_list() {
    let d = device("11.8");
    let caps = wifi_port_capabilities(&d).remove(0);
    let Some(Value::Array(listed)) = caps.get("RequestedStatesSupported") else {
        panic!("no RequestedStatesSupported");
    };
    let listed: Vec<i64> = listed.iter().filter_map(Value::as_int).collect();
    let change = |n: i64| {
        let input = Instance::new("RequestStateChange_INPUT").with("RequestedState", n);
        wifi_port_state_change(&d, &Instance::default(), &input)
            .unwrap()
            .int("ReturnValue")
    };
    for n in [0, 2, 3, 5, 6, 32767, 32768, 32769, 32770] {
        let expected = if listed.contains(&n) { 0 } else { 5 };
        assert_eq!(change(n), Some(expected), "state {n}");
    }
    assert_eq!(listed.len(), 3);
}
