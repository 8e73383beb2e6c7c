use std::sync::LazyLock;

use super::*;
use amtemu_model::pki;
use amtemu_model::testing::device;
use amtemu_wire::status::PtStatus;

/// A CA key and a leaf certified for it, made once (RSA generation is slow
/// in debug builds): adding the key makes the leaf's key the device's.
static LEAF: LazyLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let (ca, key) = pki::self_signed_ca("EAC Test CA").unwrap();
    let leaf =
        pki::issue_certificate(&ca, &key, "posture", &[], &key, pki::Validity::Years(1)).unwrap();
    (ca, key, leaf)
});

fn signer_input(cert: u32) -> Instance {
    Instance::new(CREDENTIAL)
        .with("ElementInContext", certificate_epr(cert))
        .with("ElementProvidingContext", service_epr(CLASS_NAME, NAME))
}

fn state(d: &Device) -> Option<i64> {
    endpoint_access_service(d)[0].int("EnabledState")
}

fn internal(status: PtStatus) -> Fault {
    Fault::InternalError(status.into())
}

#[test]
fn both_classes_are_there_until_18() {
    for fw in ["3.2.1", "11.8", "15.0"] {
        for class in [CLASS_NAME, CREDENTIAL] {
            assert!(
                super::super::lookup(class, device(fw).firmware).is_some(),
                "{class} {fw}"
            );
        }
    }
}

#[test]
fn unconfigured_the_service_is_disabled_and_the_context_enumerates_empty() {
    let d = device("11.8");
    assert_eq!(state(&d), Some(DISABLED));
    assert!(credential_contexts(&d).is_empty());
}

#[test]
fn creating_the_context_sets_the_signer_and_enables_the_service() {
    let d = device("11.8");
    let (_, key, leaf) = &*LEAF;
    let cert = d.add_certificate(leaf).unwrap();
    // Without its key the certificate cannot sign: refused, nothing set.
    assert_eq!(
        create_credential_context(&d, &signer_input(cert)),
        Err(internal(PtStatus::CertKeyNotMatch))
    );
    d.add_key(key).unwrap();
    let epr = create_credential_context(&d, &signer_input(cert)).unwrap();
    assert_eq!(epr.selectors.len(), 2);
    assert_eq!(state(&d), Some(ENABLED));
    let contexts = credential_contexts(&d);
    assert_eq!(contexts.len(), 1);
    assert_eq!(
        contexts[0].get("ElementInContext"),
        Some(&Value::Ref(certificate_epr(cert)))
    );
    // One signer: a second Create is AlreadyExists.
    assert_eq!(
        create_credential_context(&d, &signer_input(cert)),
        Err(Fault::AlreadyExists)
    );
    // Put keeps a valid signer; Delete clears it and disables the service.
    put_credential_context(&d, &contexts[0], &signer_input(cert)).unwrap();
    assert_eq!(d.posture_signer(), Some(cert));
    delete_credential_context(&d, &contexts[0]).unwrap();
    assert_eq!(state(&d), Some(DISABLED));
    assert!(credential_contexts(&d).is_empty());
}

#[test]
fn bad_references_and_unknown_certificates_change_nothing() {
    let d = device("11.8");
    let (ca, key, _) = &*LEAF;
    let root = d.add_trusted_root(ca).unwrap();
    d.add_key(key).unwrap();
    let cases = [
        // Unknown handle → 2068 NOT_FOUND.
        (signer_input(root + 100), internal(PtStatus::NotFound)),
        // A trusted root signs no postures → 2063 INVALID_CERT.
        (signer_input(root), internal(PtStatus::InvalidCert)),
        (Instance::new(CREDENTIAL), Fault::InvalidParameter),
        // Wrong types: text where references belong.
        (
            Instance::new(CREDENTIAL)
                .with("ElementInContext", "Intel(r) AMT Certificate: Handle: 0")
                .with("ElementProvidingContext", NAME),
            Fault::InvalidParameter,
        ),
        // A reference to another class's instance.
        (
            signer_input(root).with(
                "ElementProvidingContext",
                service_epr("AMT_RedirectionService", NAME),
            ),
            Fault::InvalidParameter,
        ),
        // Another service name.
        (
            signer_input(root).with(
                "ElementProvidingContext",
                service_epr(CLASS_NAME, "Intel(r) AMT Other Service"),
            ),
            Fault::InvalidParameter,
        ),
        // A handle that is no number, or out of range.
        (
            signer_input(root).with(
                "ElementInContext",
                Epr::new(names::class_uri(CERTIFICATE))
                    .with("InstanceID", "Intel(r) AMT Certificate: Handle: x"),
            ),
            Fault::InvalidParameter,
        ),
        (
            signer_input(root).with(
                "ElementInContext",
                Epr::new(names::class_uri(CERTIFICATE)).with(
                    "InstanceID",
                    "Intel(r) AMT Certificate: Handle: 99999999999",
                ),
            ),
            Fault::InvalidParameter,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(create_credential_context(&d, &input), Err(expected.clone()));
        let current = Instance::new(CREDENTIAL);
        assert_eq!(put_credential_context(&d, &current, &input), Err(expected));
        assert_eq!(d.posture_signer(), None);
        assert_eq!(state(&d), Some(DISABLED));
    }
}

#[test]
fn the_signers_certificate_cannot_be_deleted_while_set() {
    let d = device("11.8");
    let (_, key, leaf) = &*LEAF;
    let cert = d.add_certificate(leaf).unwrap();
    d.add_key(key).unwrap();
    create_credential_context(&d, &signer_input(cert)).unwrap();
    assert!(d.delete_certificate(cert).is_err());
    assert_eq!(d.posture_signer(), Some(cert));
}
