use super::*;

fn store() -> (CertStore, u32, u32) {
    let mut certs = CertStore::default();
    let client = certs.add_certificate(vec![1, 2, 3], false);
    let root = certs.add_certificate(vec![4, 5, 6], true);
    (certs, client, root)
}

fn psk(name: &str, priority: u32, passphrase: &str) -> WifiProfile {
    WifiProfile {
        name: name.into(),
        ssid: "corp".into(),
        priority,
        authentication: WifiAuthentication::Wpa2Psk,
        encryption: WifiEncryption::Ccmp,
        passphrase: passphrase.into(),
        ieee8021x: None,
    }
}

#[test]
fn eap_methods_need_their_credentials() {
    let (certs, client, root) = store();
    let mut c = Ieee8021xCredentials::default();
    assert_eq!(c.validate(&certs), Err(Ieee8021xRefusal::Invalid));
    c.method = Some(EapMethod::Tls);
    assert_eq!(
        c.validate(&certs),
        Err(Ieee8021xRefusal::Invalid),
        "no client cert"
    );
    c.client_certificate = Some(99);
    assert_eq!(c.validate(&certs), Err(Ieee8021xRefusal::NoSuchCertificate));
    c.client_certificate = Some(root);
    assert_eq!(c.validate(&certs), Err(Ieee8021xRefusal::NoSuchCertificate));
    c.client_certificate = Some(client);
    assert_eq!(c.validate(&certs), Ok(()));
    c.server_certificate_issuer = Some(client);
    assert_eq!(c.validate(&certs), Err(Ieee8021xRefusal::NoSuchCertificate));
    c.server_certificate_issuer = Some(root);
    assert_eq!(c.validate(&certs), Ok(()));
    let mut p = Ieee8021xCredentials {
        method: EapMethod::from_number(2),
        username: "u".parse().unwrap(),
        ..Default::default()
    };
    assert_eq!(
        p.validate(&certs),
        Err(Ieee8021xRefusal::Invalid),
        "no password"
    );
    p.password = "secret".parse().unwrap();
    assert_eq!(p.validate(&certs), Ok(()));
    assert_eq!(EapMethod::from_number(11), None);
    assert_eq!(EapMethod::from_number(-1), None);
    assert_eq!(EapMethod::PeapMschapv2.number(), 2);
}

#[test]
fn wireless_profiles_are_checked_then_stored() {
    let (certs, client, _) = store();
    let mut s = Ieee8021xState::default();
    for bad in ["short", &"x".repeat(64), "tab\there!"] {
        assert_eq!(
            s.add_wifi(psk("p", 1, bad), &certs),
            Err(Ieee8021xRefusal::Invalid)
        );
    }
    assert_eq!(
        s.add_wifi(psk("bad name", 1, "password1"), &certs),
        Err(Ieee8021xRefusal::Invalid)
    );
    s.add_wifi(psk("home", 1, "password1"), &certs).unwrap();
    assert_eq!(
        s.add_wifi(psk("home", 2, "password1"), &certs),
        Err(Ieee8021xRefusal::Duplicate)
    );
    assert_eq!(
        s.add_wifi(psk("work", 1, "password1"), &certs),
        Err(Ieee8021xRefusal::Duplicate)
    );
    let mut eap = WifiProfile {
        authentication: WifiAuthentication::Wpa28021x,
        passphrase: String::new(),
        ..psk("eap", 2, "")
    };
    assert_eq!(
        s.add_wifi(eap.clone(), &certs),
        Err(Ieee8021xRefusal::Invalid)
    );
    eap.ieee8021x = Some(Ieee8021xCredentials {
        method: Some(EapMethod::Tls),
        client_certificate: Some(client),
        ..Default::default()
    });
    s.add_wifi(eap, &certs).unwrap();
    assert!(s.uses_certificate(client));
    for i in 3..=MAX_WIFI_PROFILES as u32 {
        s.add_wifi(psk(&format!("p{i}"), i, "password1"), &certs)
            .unwrap();
    }
    assert_eq!(
        s.add_wifi(psk("last", 99, "password1"), &certs),
        Err(Ieee8021xRefusal::Full)
    );
    assert!(s.remove_wifi("home"));
    assert!(!s.remove_wifi("home"));
}

#[test]
fn a_disabled_wired_profile_needs_nothing() {
    let (certs, ..) = store();
    let mut w = WiredProfile::default();
    for edit in [WiredEdit::Complete, WiredEdit::CertificatesFollow] {
        assert_eq!(w.validate(&certs, edit), Ok(()));
    }
    w.enabled = true;
    for edit in [WiredEdit::Complete, WiredEdit::CertificatesFollow] {
        assert_eq!(w.validate(&certs, edit), Err(Ieee8021xRefusal::Invalid));
    }
}

/// rps enables EAP-TLS with IPS_IEEE8021xSettings' Put and binds the
/// client certificate by SetCertificates afterwards: the Put alone is
/// accepted there, not where the certificates travel with the settings.
/// Everything else is checked either way.
#[test]
fn eap_tls_may_wait_for_its_certificate_only_where_certificates_follow() {
    let (certs, client, root) = store();
    let mut w = WiredProfile {
        enabled: true,
        ..WiredProfile::default()
    };
    w.credentials.method = Some(EapMethod::Tls);
    assert_eq!(
        w.validate(&certs, WiredEdit::Complete),
        Err(Ieee8021xRefusal::Invalid)
    );
    assert_eq!(w.validate(&certs, WiredEdit::CertificatesFollow), Ok(()));
    w.credentials.server_certificate_issuer = Some(client);
    assert_eq!(
        w.validate(&certs, WiredEdit::CertificatesFollow),
        Err(Ieee8021xRefusal::NoSuchCertificate),
        "a leaf is no issuer"
    );
    w.credentials.server_certificate_issuer = Some(root);
    w.credentials.client_certificate = Some(client);
    assert_eq!(w.validate(&certs, WiredEdit::Complete), Ok(()));
    w.credentials.method = EapMethod::from_number(2);
    assert_eq!(
        w.validate(&certs, WiredEdit::CertificatesFollow),
        Err(Ieee8021xRefusal::Invalid),
        "a password method needs its user name and password"
    );
}

#[test]
fn a_refused_wired_edit_changes_nothing() {
    let d = crate::testing::device("11.8");
    let before = d.wired_profile();
    assert_eq!(
        d.edit_wired_profile(WiredEdit::Complete, |w| {
            w.enabled = true;
            Ok(())
        }),
        Err(Ieee8021xRefusal::Invalid),
        "enabled without credentials"
    );
    assert_eq!(
        d.edit_wired_profile(WiredEdit::Complete, |w| {
            w.pxe_timeout = 5;
            Err(Ieee8021xRefusal::NoSuchCertificate)
        }),
        Err(Ieee8021xRefusal::NoSuchCertificate),
        "the edit's own refusal"
    );
    assert_eq!(d.wired_profile(), before);
    d.edit_wired_profile(WiredEdit::Complete, |w| {
        w.pxe_timeout = 60;
        Ok(())
    })
    .unwrap();
    assert_eq!(d.wired_profile().pxe_timeout, 60);
}

#[test]
fn wireless_profiles_through_the_device() {
    use super::super::audit::{AuditRecord, CAPACITY, Initiator, PolicyType, StoragePolicy};
    let d = crate::testing::device("11.8");
    assert_eq!(
        d.remove_wifi_profile("home"),
        Err(Ieee8021xRefusal::NoSuchProfile)
    );
    assert_eq!(
        d.add_wifi_profile(|| Ok(psk("home", 1, "short"))),
        Err(Ieee8021xRefusal::Invalid)
    );
    assert_eq!(
        d.add_wifi_profile(|| Ok(psk("home", 1, "password1"))),
        Ok("home".to_string())
    );
    // A full log whose policy calls the event critical refuses before the
    // profile is read.
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
            let _ = log.record(record, t);
        }
    });
    assert_eq!(
        d.add_wifi_profile(|| panic!("the profile is not read")),
        Err(Ieee8021xRefusal::AuditBlocked)
    );
    assert_eq!(d.wifi_profiles().len(), 1);
    d.remove_wifi_profile("home").unwrap();
    assert_eq!(d.remove_all_wifi_profiles(), 0);
    d.set_wifi_port_state(WifiPortState::S0);
    assert_eq!(d.wifi_port_state(), WifiPortState::S0);
}
