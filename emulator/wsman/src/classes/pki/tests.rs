use std::sync::LazyLock;

use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SigningKey};

use super::*;
use amtemu_model::testing::device;

/// Test CAs, made once (RSA generation is slow in debug builds).
static CA: LazyLock<(Vec<u8>, Vec<u8>)> =
    LazyLock::new(|| pki::self_signed_ca("Test Console CA").unwrap());
static BIG_CA: LazyLock<(Vec<u8>, Vec<u8>)> =
    LazyLock::new(|| pki::self_signed_ca_with_bits("Big CA", 4096).unwrap());

fn call(
    f: fn(&Device, &Instance, &Instance) -> Result<Instance, Fault>,
    d: &Device,
    method: &str,
    args: &[(&str, Value)],
) -> Instance {
    let mut input = Instance::new(format!("{method}_INPUT"));
    for (name, value) in args {
        input.set(name, value.clone());
    }
    f(d, &pkm_service(d)[0], &input).unwrap()
}

fn rv(out: &Instance) -> i64 {
    out.int("ReturnValue").unwrap()
}

fn code(status: PtStatus) -> i64 {
    u32::from(status).into()
}

fn add_root(d: &Device, der: &[u8]) -> Instance {
    call(
        add_trusted_root_certificate,
        d,
        "AddTrustedRootCertificate",
        &[("CertificateBlob", BASE64.encode(der).into())],
    )
}

fn add_cert(d: &Device, der: &[u8]) -> Instance {
    call(
        add_certificate,
        d,
        "AddCertificate",
        &[("CertificateBlob", BASE64.encode(der).into())],
    )
}

fn handle_in(out: &Instance, name: &str, prefix: &str) -> u32 {
    referenced_handle(out.get(name), prefix).unwrap()
}

/// A console's null-signed request: it carries the subject and the
/// device's public key (taken from DERKey) and an empty signature.
struct NullSigner {
    public_key: Vec<u8>,
}
impl PublicKeyData for NullSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}
impl SigningKey for NullSigner {
    fn sign(&self, _: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

fn credential_input(cert_handle: u32, collection_name: &str) -> Instance {
    Instance::new(CREDENTIAL)
        .with("ElementInContext", certificate_epr(cert_handle))
        .with(
            "ElementProvidingContext",
            Epr::new(names::class_uri(COLLECTION)).with("ElementName", collection_name),
        )
}

fn commit(d: &Device) -> i64 {
    let fw = d.firmware;
    let setup = crate::classes::lookup("AMT_SetupAndConfigurationService", fw).unwrap();
    let target = (setup.instances)(d).remove(0);
    let commit = setup.method("CommitChanges", fw).unwrap();
    rv(&(commit.call)(d, &target, &Instance::new("CommitChanges_INPUT")).unwrap())
}

/// The DMT/RPS order (spec 5.5 step 6), at the class level.
#[test]
fn the_dmt_tls_sequence_configures_tls() {
    let d = device("11.8");
    let (ca_cert, ca_key) = &*CA;

    // GenerateKeyPair(RSA, 2048) → a real key pair.
    let out = call(
        generate_key_pair,
        &d,
        "GenerateKeyPair",
        &[("KeyAlgorithm", "0".into()), ("KeyLength", "2048".into())],
    );
    assert_eq!(rv(&out), 0);
    let key = handle_in(&out, "KeyPair", KEY_ID);
    let pairs = key_pairs(&d);
    assert_eq!(pairs.len(), 1);
    let der_key = BASE64.decode(pairs[0].text("DERKey").unwrap()).unwrap();

    // GeneratePKCS10RequestEx on a null-signed request.
    let mut params = CertificateParams::new(vec!["amt-0001.vpro.test".into()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "amt-0001.vpro.test");
    let null_signed = params
        .serialize_request(&NullSigner {
            public_key: der_key.clone(),
        })
        .unwrap();
    let out = call(
        generate_pkcs10_request_ex,
        &d,
        "GeneratePKCS10RequestEx",
        &[
            ("KeyPair", key_epr(key).into()),
            ("SigningAlgorithm", "1".into()),
            (
                "NullSignedCertificateRequest",
                BASE64.encode(null_signed.der()).into(),
            ),
        ],
    );
    assert_eq!(rv(&out), 0);
    let csr = BASE64
        .decode(out.text("SignedCertificateRequest").unwrap())
        .unwrap();

    // The console's CA signs it (checking the device's signature) …
    let issued = pki::sign_request(ca_cert, ca_key, &csr).unwrap();
    assert!(pki::key_matches_certificate(&der_key, &issued));

    // … and the root and the certificate go in.
    let out = add_root(&d, ca_cert);
    assert_eq!(rv(&out), 0);
    let root = handle_in(&out, "CreatedCertificate", CERTIFICATE_ID);
    let out = add_cert(&d, &issued);
    assert_eq!(rv(&out), 0);
    let leaf = handle_in(&out, "CreatedCertificate", CERTIFICATE_ID);
    let certs = certificates(&d);
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0].bool("TrustedRootCertficate"), Some(true));
    assert_eq!(certs[0].text("Subject"), Some("CN=Test Console CA"));
    assert_eq!(certs[1].text("Issuer"), Some("CN=Test Console CA"));
    assert_eq!(certs[1].text("Subject"), Some("CN=amt-0001.vpro.test"));
    let deps = concrete_dependencies(&d);
    assert_eq!(deps.len(), 1);
    assert_eq!(
        deps[0].get("Antecedent").and_then(Value::as_ref),
        Some(&certificate_epr(leaf))
    );
    assert_eq!(
        deps[0].get("Dependent").and_then(Value::as_ref),
        Some(&key_epr(key))
    );

    // Create AMT_TLSCredentialContext, spelt as MeshCentral and RPS do;
    // the root cannot be the TLS certificate.
    assert_eq!(
        create_credential_context(&d, &credential_input(root, COLLECTION_NAME_CLIENTS)),
        Err(Fault::InternalError(PtStatus::InvalidCert.into()))
    );
    let created =
        create_credential_context(&d, &credential_input(leaf, COLLECTION_NAME_CLIENTS)).unwrap();
    assert_eq!(created.selectors.len(), 2);
    assert_eq!(
        create_credential_context(&d, &credential_input(leaf, COLLECTION_NAME)),
        Err(Fault::AlreadyExists)
    );
    let contexts = credential_contexts(&d);
    assert_eq!(contexts.len(), 1);
    assert_eq!(
        contexts[0].get("ElementInContext").and_then(Value::as_ref),
        Some(&certificate_epr(leaf))
    );

    // Put AMT_TLSSettingData: staged, visible, not yet in force.
    let before = d.with_state(|s| s.nvram.tls.clone());
    let remote = tls_settings(&d).remove(0);
    let mut put = remote.clone();
    put.set("Enabled", "true");
    put.set("AcceptNonSecureConnections", "false");
    put.set("MutualAuthentication", "false");
    put_tls_settings(&d, &remote, &put).unwrap();
    let local = tls_settings(&d).remove(1);
    let mut put = local.clone();
    put.set("Enabled", "true");
    put_tls_settings(&d, &local, &put).unwrap();
    let shown = tls_settings(&d);
    assert_eq!(shown[0].bool("AcceptNonSecureConnections"), Some(false));
    assert_eq!(shown[1].bool("Enabled"), Some(true));
    assert_eq!(d.with_state(|s| s.nvram.tls.clone()), before);

    // CommitChanges puts it in force.
    let mut events = d.subscribe();
    assert_eq!(commit(&d), 0);
    assert!(events.try_recv().is_ok());
    d.with_state(|s| {
        assert!(s.nvram.pending_tls.is_none());
        assert!(s.nvram.tls.remote.enabled && !s.nvram.tls.remote.accept_non_secure);
        assert!(s.nvram.tls.local.enabled);
        assert_eq!(s.nvram.certs.tls_certificate, Some(leaf));
    });

    // What TLS uses cannot be deleted; the root can.
    let leaf_instance = certificates(&d).remove(1);
    assert_eq!(
        delete_certificate(&d, &leaf_instance),
        Err(Fault::InternalError(PtStatus::BlockingComponent.into()))
    );
    let key_instance = key_pairs(&d).remove(0);
    assert_eq!(
        delete_key_pair(&d, &key_instance),
        Err(Fault::InternalError(PtStatus::BlockingComponent.into()))
    );
    delete_certificate(&d, &certificates(&d).remove(0)).unwrap();
    // Once the context is gone, so can the rest be.
    delete_credential_context(&d, &contexts[0]).unwrap();
    delete_certificate(&d, &leaf_instance).unwrap();
    delete_key_pair(&d, &key_instance).unwrap();
    assert!(certificates(&d).is_empty() && key_pairs(&d).is_empty());
}

#[test]
fn bad_and_duplicate_material_is_refused() {
    let d = device("11.8");
    let (ca_cert, ca_key) = &*CA;
    assert_eq!(rv(&add_root(&d, ca_cert)), 0);
    assert_eq!(rv(&add_root(&d, ca_cert)), code(PtStatus::Duplicate));
    assert_eq!(rv(&add_cert(&d, ca_cert)), code(PtStatus::Duplicate));
    assert_eq!(rv(&add_cert(&d, b"not a certificate")), 2063);
    let garbage = call(
        add_trusted_root_certificate,
        &d,
        "AddTrustedRootCertificate",
        &[("CertificateBlob", "%%% not base64".into())],
    );
    assert_eq!(rv(&garbage), 2063);
    assert_eq!(
        rv(&call(add_certificate, &d, "AddCertificate", &[])),
        code(PtStatus::InvalidParameter)
    );

    // AddKey: the CA's key in PKCS#8, then again → duplicate; junk → 2062.
    let add = |blob: &[u8]| {
        call(
            add_key,
            &d,
            "AddKey",
            &[("KeyBlob", BASE64.encode(blob).into())],
        )
    };
    let out = add(ca_key);
    assert_eq!(rv(&out), 0);
    assert!(referenced_handle(out.get("CreatedKey"), KEY_ID).is_some());
    assert_eq!(rv(&add(ca_key)), code(PtStatus::Duplicate));
    assert_eq!(rv(&add(b"junk")), code(PtStatus::InvalidKey));

    // GenerateKeyPair for anything but RSA-2048 is unsupported.
    let out = call(
        generate_key_pair,
        &d,
        "GenerateKeyPair",
        &[("KeyAlgorithm", "0".into()), ("KeyLength", "3072".into())],
    );
    assert_eq!(rv(&out), code(PtStatus::Unsupported));
    assert!(out.get("KeyPair").is_none());

    // A request for a key the device does not hold.
    let out = call(
        generate_pkcs10_request_ex,
        &d,
        "GeneratePKCS10RequestEx",
        &[
            ("KeyPair", key_epr(999).into()),
            ("SigningAlgorithm", "1".into()),
            ("NullSignedCertificateRequest", "AAAA".into()),
        ],
    );
    assert_eq!(rv(&out), code(PtStatus::NotFound));
}

#[test]
fn a_ca_key_longer_than_the_firmware_takes_is_refused() {
    let (big, _) = &*BIG_CA;
    let old = device("3.2.1");
    assert_eq!(rv(&add_root(&old, big)), code(PtStatus::InvalidCert));
    assert!(certificates(&old).is_empty());
    let new = device("11.8");
    assert_eq!(rv(&add_root(&new, big)), 0);
    assert_eq!(certificates(&new).len(), 1);
}

#[test]
fn the_tls_certificate_needs_its_key_on_the_device() {
    let d = device("11.8");
    let (ca_cert, ca_key) = &*CA;
    // A leaf for a key the device never saw (the CA's own key stands in).
    let leaf = pki::issue_certificate(
        ca_cert,
        ca_key,
        "elsewhere",
        &["elsewhere.test".into()],
        ca_key,
        pki::Validity::Years(10),
    )
    .unwrap();
    let out = add_cert(&d, &leaf);
    assert_eq!(rv(&out), 0);
    let handle = handle_in(&out, "CreatedCertificate", CERTIFICATE_ID);
    assert_eq!(
        create_credential_context(&d, &credential_input(handle, COLLECTION_NAME)),
        Err(Fault::InternalError(PtStatus::CertKeyNotMatch.into()))
    );
    assert_eq!(
        create_credential_context(&d, &credential_input(handle + 100, COLLECTION_NAME)),
        Err(Fault::InternalError(PtStatus::NotFound.into()))
    );
    assert_eq!(
        create_credential_context(&d, &Instance::new(CREDENTIAL)),
        Err(Fault::InvalidParameter)
    );
    // With the key added the same certificate is accepted, and Put
    // moves the context to another certificate.
    assert_eq!(
        rv(&call(
            add_key,
            &d,
            "AddKey",
            &[("KeyBlob", BASE64.encode(ca_key).into())]
        )),
        0
    );
    create_credential_context(&d, &credential_input(handle, COLLECTION_NAME)).unwrap();
    let other = pki::issue_certificate(
        ca_cert,
        ca_key,
        "other",
        &[],
        ca_key,
        pki::Validity::Years(10),
    )
    .unwrap();
    let other = handle_in(&add_cert(&d, &other), "CreatedCertificate", CERTIFICATE_ID);
    let current = credential_contexts(&d).remove(0);
    let mut put = current.clone();
    put.set("ElementInContext", certificate_epr(other));
    put_credential_context(&d, &current, &put).unwrap();
    assert_eq!(d.tls_credential(), Some(other));
    // The store reports one dependency per certificate on that key.
    assert_eq!(concrete_dependencies(&d).len(), 2);
}

#[test]
fn tls_only_firmware_keeps_network_tls_on() {
    let d = device("16.1");
    let remote = tls_settings(&d).remove(0);
    assert_eq!(remote.bool("AcceptNonSecureConnections"), Some(false));
    assert_eq!(remote.bool("NonSecureConnectionsSupported"), Some(false));
    assert_eq!(
        tls_settings(&d)[1].bool("NonSecureConnectionsSupported"),
        Some(true)
    );
    let mut off = remote.clone();
    off.set("Enabled", "false");
    assert_eq!(
        put_tls_settings(&d, &remote, &off),
        Err(Fault::InternalError(PtStatus::NotPermitted.into()))
    );
    let mut plain = remote.clone();
    plain.set("AcceptNonSecureConnections", "true");
    assert_eq!(
        put_tls_settings(&d, &remote, &plain),
        Err(Fault::InternalError(PtStatus::NotPermitted.into()))
    );
    assert!(d.with_state(|s| s.nvram.pending_tls.is_none()));
    // Mutual authentication with trusted names is fine.
    let mut mutual = remote.clone();
    mutual.set("MutualAuthentication", "true");
    mutual.set(
        "TrustedCN",
        Value::Array(vec!["console.vpro.test".into(), "backup".into()]),
    );
    put_tls_settings(&d, &remote, &mutual).unwrap();
    assert_eq!(commit(&d), 0);
    d.with_state(|s| {
        assert!(s.nvram.tls.remote.mutual_authentication);
        assert_eq!(
            s.nvram.tls.remote.trusted_cn,
            ["console.vpro.test", "backup"]
        );
    });
    // Older firmware has no NonSecureConnectionsSupported and may turn
    // network TLS off; a selector-less Put naming LMS in its body
    // changes the LMS instance.
    let old = device("11.8");
    let first = tls_settings(&old).remove(0);
    assert!(first.get("NonSecureConnectionsSupported").is_none());
    let lms = tls_settings(&old)[1]
        .clone()
        .with("Enabled", "true")
        .with("AcceptNonSecureConnections", "false");
    put_tls_settings(&old, &first, &lms).unwrap();
    let shown = tls_settings(&old);
    assert_eq!(shown[1].bool("Enabled"), Some(true));
    // Read-only on the LMS instance.
    assert_eq!(shown[1].bool("AcceptNonSecureConnections"), Some(true));
    assert_eq!(shown[0], first);
}
