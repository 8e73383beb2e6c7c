use std::sync::LazyLock;

use super::*;
use crate::testing::device;

/// A CA and a leaf certified for the CA's own key, made once (RSA
/// generation is slow in debug builds): adding the CA's key makes the leaf's
/// key the device's.
static CA: LazyLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let (cert, key) = pki::self_signed_ca("Model Test CA").unwrap();
    let leaf =
        pki::issue_certificate(&cert, &key, "leaf", &[], &key, pki::Validity::Years(1)).unwrap();
    (cert, key, leaf)
});

#[test]
fn certificates_are_checked_before_they_are_stored() {
    let d = device("11.8");
    let (ca, _, leaf) = &*CA;
    assert_eq!(
        d.add_trusted_root(b"junk"),
        Err(CertRefusal::NotACertificate)
    );
    assert_eq!(
        d.add_certificate(b"junk"),
        Err(CertRefusal::NotACertificate)
    );
    assert_eq!(d.add_trusted_root(leaf), Err(CertRefusal::NotACa));
    let root = d.add_trusted_root(ca).unwrap();
    assert_eq!(d.add_trusted_root(ca), Err(CertRefusal::Duplicate));
    assert_eq!(d.add_certificate(ca), Err(CertRefusal::Duplicate));
    assert_eq!(d.certificates().len(), 1);
    assert!(d.certificates()[0].trusted_root);
    // Fill the store with placeholders: the next one is refused.
    d.with_state(|s| {
        for i in 1..MAX_CERTIFICATES {
            s.nvram.certs.add_certificate(vec![i as u8], false);
        }
    });
    assert_eq!(d.add_certificate(leaf), Err(CertRefusal::StoreFull));
    assert_eq!(d.certificates().len(), MAX_CERTIFICATES);
    assert_eq!(d.certificates()[0].handle, root);
}

#[test]
fn keys_are_checked_before_they_are_stored() {
    let d = device("11.8");
    let (_, key, _) = &*CA;
    assert_eq!(d.add_key(b"junk"), Err(CertRefusal::NotAKey));
    let handle = d.add_key(key).unwrap();
    assert_eq!(d.add_key(key), Err(CertRefusal::Duplicate));
    assert_eq!(d.key_pairs()[0].handle, handle);
    assert_eq!(
        d.generate_key_pair(0, 3072),
        Err(CertRefusal::UnsupportedKey)
    );
    assert_eq!(
        d.generate_key_pair(1, 2048),
        Err(CertRefusal::UnsupportedKey)
    );
    d.with_state(|s| {
        for i in 1..MAX_KEYS {
            s.nvram.certs.add_key(vec![i as u8], vec![i as u8]);
        }
    });
    // Refused before a key is made.
    assert_eq!(d.generate_key_pair(0, 2048), Err(CertRefusal::StoreFull));
    assert_eq!(d.key_pairs().len(), MAX_KEYS);
    // A request needs a key the device holds and a readable template.
    assert_eq!(
        d.certificate_request(99, b"template"),
        Err(CertRefusal::NoSuchKey)
    );
    assert_eq!(
        d.certificate_request(handle, b"junk"),
        Err(CertRefusal::BadRequest)
    );
}

#[test]
fn the_tls_credential_is_a_leaf_whose_key_the_device_holds() {
    let d = device("11.8");
    let (ca, key, leaf) = &*CA;
    let root = d.add_trusted_root(ca).unwrap();
    let cert = d.add_certificate(leaf).unwrap();
    assert_eq!(
        d.create_tls_credential(cert + 100),
        Err(CertRefusal::NoSuchCertificate)
    );
    assert_eq!(d.create_tls_credential(root), Err(CertRefusal::NotALeaf));
    assert_eq!(
        d.create_tls_credential(cert),
        Err(CertRefusal::NoMatchingKey)
    );
    assert_eq!(
        d.replace_tls_credential(cert),
        Err(CertRefusal::NoMatchingKey)
    );
    assert_eq!(d.tls_credential(), None, "nothing set on a refusal");
    let key = d.add_key(key).unwrap();
    // The leaf was issued for the CA's own key, so both pair with it.
    assert_eq!(d.certificate_keys(), [(root, key), (cert, key)]);
    d.create_tls_credential(cert).unwrap();
    assert_eq!(
        d.create_tls_credential(cert),
        Err(CertRefusal::CredentialExists)
    );
    assert_eq!(d.tls_credential(), Some(cert));

    // What the credential uses cannot go, nor can a read-only certificate.
    assert_eq!(d.delete_certificate(cert), Err(CertRefusal::InUse));
    assert_eq!(d.delete_key_pair(key), Err(CertRefusal::InUse));
    assert_eq!(
        d.delete_certificate(cert + 100),
        Err(CertRefusal::NoSuchCertificate)
    );
    assert_eq!(d.delete_key_pair(key + 100), Err(CertRefusal::NoSuchKey));
    d.with_state(|s| s.nvram.certs.certificates[0].read_only = true);
    assert_eq!(d.delete_certificate(root), Err(CertRefusal::ReadOnly));
    d.remove_tls_credential();
    d.delete_certificate(cert).unwrap();
    d.delete_key_pair(key).unwrap();
    assert_eq!(d.certificates().len(), 1);
    assert!(d.key_pairs().is_empty());
}

#[test]
fn tls_only_firmware_refuses_network_tls_off_and_stages_nothing() {
    let d = device("16.1");
    let off = TlsSettingsChange {
        enabled: Some(false),
        ..TlsSettingsChange::default()
    };
    assert_eq!(
        d.stage_tls_settings(TlsInterface::Remote, off.clone()),
        Err(CertRefusal::TlsRequired)
    );
    let plain = TlsSettingsChange {
        accept_non_secure: Some(true),
        ..TlsSettingsChange::default()
    };
    assert_eq!(
        d.stage_tls_settings(TlsInterface::Remote, plain.clone()),
        Err(CertRefusal::TlsRequired)
    );
    assert!(d.with_state(|s| s.nvram.pending_tls.is_none()));
    // The local interface may turn TLS off; non-TLS acceptance is read-only
    // there, so asking for it changes nothing.
    d.stage_tls_settings(TlsInterface::Local, off).unwrap();
    d.stage_tls_settings(TlsInterface::Local, plain).unwrap();
    let staged = d.staged_tls_settings();
    assert!(!staged.local.enabled);
    assert_eq!(
        staged.local.accept_non_secure,
        TlsSettings::default().local.accept_non_secure
    );
    // Older firmware may turn network TLS off.
    let old = device("11.8");
    old.stage_tls_settings(
        TlsInterface::Remote,
        TlsSettingsChange {
            enabled: Some(false),
            trusted_cn: vec!["console".into()],
            ..TlsSettingsChange::default()
        },
    )
    .unwrap();
    let staged = old.staged_tls_settings();
    assert!(!staged.remote.enabled);
    assert_eq!(staged.remote.trusted_cn, ["console"]);
}

#[test]
fn the_posture_signer_is_one_leaf_whose_key_the_device_holds() {
    let d = device("11.8");
    let (ca, key, leaf) = &*CA;
    let root = d.add_trusted_root(ca).unwrap();
    let cert = d.add_certificate(leaf).unwrap();
    assert_eq!(
        d.create_posture_signer(cert + 100),
        Err(CertRefusal::NoSuchCertificate)
    );
    assert_eq!(d.create_posture_signer(root), Err(CertRefusal::NotALeaf));
    assert_eq!(
        d.create_posture_signer(cert),
        Err(CertRefusal::NoMatchingKey)
    );
    assert_eq!(
        d.replace_posture_signer(cert),
        Err(CertRefusal::NoMatchingKey)
    );
    assert_eq!(d.posture_signer(), None, "nothing set on a refusal");
    let key = d.add_key(key).unwrap();
    d.create_posture_signer(cert).unwrap();
    assert_eq!(
        d.create_posture_signer(cert),
        Err(CertRefusal::CredentialExists)
    );
    assert_eq!(d.posture_signer(), Some(cert));
    // The TLS credential is a separate use of certificates.
    assert_eq!(d.tls_credential(), None);

    // What the signer uses cannot go while it is set.
    assert_eq!(d.delete_certificate(cert), Err(CertRefusal::InUse));
    assert_eq!(d.delete_key_pair(key), Err(CertRefusal::InUse));
    d.remove_posture_signer();
    assert_eq!(d.posture_signer(), None);
    d.delete_certificate(cert).unwrap();
    d.delete_key_pair(key).unwrap();
}

#[test]
fn a_store_saved_before_the_posture_signer_loads_without_one() {
    let saved = r#"{"certificates":[],"keys":[],"tls_certificate":null,"next_handle":0}"#;
    let store: CertStore = serde_json::from_str(saved).unwrap();
    assert_eq!(store.posture_signer, None);
}
