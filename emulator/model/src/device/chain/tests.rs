use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256, RsaKeySize,
};

fn rsa(bits: RsaKeySize) -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, bits).unwrap()
}

struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn root(bits: RsaKeySize) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test Provisioning Root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = rsa(bits);
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Ca {
        der,
        issuer: Issuer::new(params, key),
    }
}

const GOOD: LeafSpec = LeafSpec::good("prov.corp.contoso.com");

fn leaf(ca: &Ca, spec: LeafSpec) -> Vec<u8> {
    let params = spec.params();
    let key = rsa(RsaKeySize::_2048);
    params.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
}

fn policy(root: &[u8]) -> Policy {
    Policy {
        trusted: vec![TrustedRootHash {
            name: "test root".into(),
            algorithm: HashAlgorithm::Sha256,
            hash: hash(HashAlgorithm::Sha256, root),
            active: true,
            default: false,
            handle: None,
        }],
        domain: "corp.contoso.com".into(),
        max_ca_key_bits: 2048,
        two_label_relaxation: true,
    }
}

fn run(chain: &[&Vec<u8>], policy: &Policy) -> Result<Accepted, ChainError> {
    let chain: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
    check(&chain, policy, UnixTime::now())
}

#[test]
fn a_good_chain_is_accepted_by_any_hash_algorithm_of_its_root() {
    let ca = root(RsaKeySize::_2048);
    let leaf = leaf(&ca, GOOD);
    let accepted = run(&[&leaf, &ca.der], &policy(&ca.der)).unwrap();
    assert_eq!(accepted.common_name, "prov.corp.contoso.com");
    assert_eq!(accepted.root, "test root");
    for algorithm in [HashAlgorithm::Sha1, HashAlgorithm::Sha384] {
        let mut p = policy(&ca.der);
        p.trusted[0].algorithm = algorithm;
        p.trusted[0].hash = hash(algorithm, &ca.der);
        assert!(run(&[&leaf, &ca.der], &p).is_ok(), "{algorithm:?}");
    }
}

#[test]
fn a_root_not_among_the_active_hashes_is_refused() {
    let ca = root(RsaKeySize::_2048);
    let other = root(RsaKeySize::_2048);
    let leaf = leaf(&ca, GOOD);
    assert_eq!(
        run(&[&leaf, &ca.der], &policy(&other.der)),
        Err(ChainError::UntrustedRoot)
    );
    let mut inactive = policy(&ca.der);
    inactive.trusted[0].active = false;
    assert_eq!(
        run(&[&leaf, &ca.der], &inactive),
        Err(ChainError::UntrustedRoot)
    );
    assert_eq!(
        run(&[&leaf], &policy(&ca.der)),
        Err(ChainError::UntrustedRoot),
        "the root must be part of the chain"
    );
    assert_eq!(run(&[], &policy(&ca.der)), Err(ChainError::Empty));
}

#[test]
fn a_certificate_that_is_not_x509_is_refused_by_its_place() {
    let ca = root(RsaKeySize::_2048);
    let leaf = leaf(&ca, GOOD);
    let garbage = vec![0x30, 0x03, 0x02, 0x01];
    let p = policy(&ca.der);
    assert_eq!(run(&[&garbage], &p), Err(ChainError::Malformed(0)));
    assert_eq!(run(&[&garbage, &ca.der], &p), Err(ChainError::Malformed(0)));
    assert_eq!(
        run(&[&leaf, &garbage, &ca.der], &p),
        Err(ChainError::Malformed(1))
    );
    assert_eq!(run(&[&leaf, &vec![]], &p), Err(ChainError::Malformed(1)));
}

#[test]
fn the_leaf_needs_server_auth_and_the_intel_eku_or_the_exact_ou() {
    let ca = root(RsaKeySize::_2048);
    let p = policy(&ca.der);
    let no_server_auth = leaf(
        &ca,
        LeafSpec {
            server_auth: false,
            ..GOOD
        },
    );
    assert_eq!(
        run(&[&no_server_auth, &ca.der], &p),
        Err(ChainError::NotServerAuth)
    );
    let neither = leaf(
        &ca,
        LeafSpec {
            intel_eku: false,
            ..GOOD
        },
    );
    assert_eq!(
        run(&[&neither, &ca.der], &p),
        Err(ChainError::NotSetupCertificate)
    );
    let ou = leaf(
        &ca,
        LeafSpec {
            intel_eku: false,
            ou: Some(SETUP_OU),
            ..GOOD
        },
    );
    assert!(run(&[&ou, &ca.der], &p).is_ok());
    for spelling in [
        "Intel(r) Client Setup Certificate",
        "Intel(R) Client Setup Certificate ",
        "Intel Client Setup Certificate",
    ] {
        let wrong = leaf(
            &ca,
            LeafSpec {
                intel_eku: false,
                ou: Some(spelling),
                ..GOOD
            },
        );
        assert_eq!(
            run(&[&wrong, &ca.der], &p),
            Err(ChainError::NotSetupCertificate),
            "{spelling}"
        );
    }
}

fn domain_check(cn: &str, device: &str, relaxation: bool) -> Result<(), ChainError> {
    let p = Policy {
        trusted: Vec::new(),
        domain: device.into(),
        max_ca_key_bits: 2048,
        two_label_relaxation: relaxation,
    };
    check_domain(cn, &p)
}

#[test]
fn the_leaf_domain_must_match_the_device_domain() {
    assert!(domain_check("prov.corp.contoso.com", "corp.contoso.com", false).is_ok());
    assert!(domain_check("PROV.Corp.Contoso.com", "corp.contoso.com.", false).is_ok());
    // Other forest.
    assert!(domain_check("prov.corp.fabrikam.com", "corp.contoso.com", true).is_err());
    // Disjoint namespace: the device's suffix is not the server's.
    assert!(domain_check("prov.contoso.com", "northwindtraders.com", true).is_err());
    // Non-contiguous: the device's DNS suffix is a parent of the
    // certificate's domain (computer1.corp.fabrikam.com in the AD domain
    // na.corp.fabrikam.com).
    assert!(domain_check("prov.na.corp.fabrikam.com", "corp.fabrikam.com", true).is_err());
    // A sibling domain.
    assert!(domain_check("prov.eu.fabrikam.com", "na.fabrikam.com", true).is_err());
    // A workgroup device has nothing to match.
    assert_eq!(
        domain_check("prov.corp.contoso.com", "", true),
        Err(ChainError::NoDomain)
    );
    assert!(domain_check("localhost", "corp.contoso.com", true).is_err());
}

#[test]
fn com_and_net_parents_match_only_with_the_relaxation() {
    assert!(domain_check("prov.contoso.com", "sales.contoso.com", true).is_ok());
    assert!(domain_check("prov.contoso.net", "a.b.contoso.net", true).is_ok());
    assert!(domain_check("prov.contoso.com", "sales.contoso.com", false).is_err());
    assert!(domain_check("prov.contoso.org", "sales.contoso.org", true).is_err());
}

#[test]
fn the_pki_dns_suffix_wins_over_the_dhcp_domain() {
    let device = crate::testing::device("11.8");
    device.with_state(|s| {
        s.nvram.provisioning.dhcp_domain = "dhcp.contoso.com".into();
        s.nvram.provisioning.pki_dns_suffix = "pki.contoso.com".into();
    });
    assert_eq!(Policy::for_device(&device).domain, "pki.contoso.com");
    device.with_state(|s| s.nvram.provisioning.pki_dns_suffix.clear());
    assert_eq!(Policy::for_device(&device).domain, "dhcp.contoso.com");
}

#[test]
fn a_ca_key_over_the_firmware_limit_is_refused() {
    let ca = root(RsaKeySize::_4096);
    let leaf = leaf(&ca, GOOD);
    assert_eq!(
        run(&[&leaf, &ca.der], &policy(&ca.der)),
        Err(ChainError::CaKeyTooLarge {
            bits: 4096,
            max: 2048
        })
    );
    let mut later = policy(&ca.der);
    later.max_ca_key_bits = 4096;
    assert!(run(&[&leaf, &ca.der], &later).is_ok());
}

#[test]
fn an_expired_leaf_is_refused() {
    let ca = root(RsaKeySize::_2048);
    let leaf = leaf(
        &ca,
        LeafSpec {
            expired: true,
            ..GOOD
        },
    );
    assert_eq!(
        run(&[&leaf, &ca.der], &policy(&ca.der)),
        Err(ChainError::Expired)
    );
}

#[test]
fn a_leaf_signed_by_another_key_than_the_roots_is_refused() {
    let ca = root(RsaKeySize::_2048);
    let impostor = root(RsaKeySize::_2048);
    let leaf = leaf(&impostor, GOOD);
    // The trusted root is presented, but it did not sign the leaf.
    assert!(matches!(
        run(&[&leaf, &ca.der], &policy(&ca.der)),
        Err(ChainError::BadSignature(_))
    ));
}

#[test]
fn signatures_verify_with_the_leaf_key() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let key = rsa(RsaKeySize::_2048);
    let pair = RsaKeyPair::from_pkcs8(&key.serialize_der()).unwrap();
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        b"nonces",
        &mut signature,
    )
    .unwrap();
    let public = crate::pki::public_key_of(&key.serialize_der()).unwrap();
    assert!(verify_rsa_sha256(&public, b"nonces", &signature));
    assert!(!verify_rsa_sha256(&public, b"other", &signature));
}

#[test]
fn an_accepted_chain_names_its_root_entry_and_ca_serials() {
    let ca = root(RsaKeySize::_2048);
    let leaf = leaf(&ca, GOOD);
    let accepted = run(&[&leaf, &ca.der], &policy(&ca.der)).unwrap();
    assert_eq!(accepted.root_entry.name, "test root");
    assert_eq!(
        accepted.root_entry.hash,
        hash(HashAlgorithm::Sha256, &ca.der)
    );
    let (_, root_cert) = X509Certificate::from_der(&ca.der).unwrap();
    assert_eq!(
        accepted.ca_serials,
        vec![root_cert.tbs_certificate.raw_serial().to_vec()],
        "the CA certificates' serials, not the leaf's"
    );
}

/// PKI remote configuration: the chain the handshake accepted is what
/// CommitChanges records, and unprovisioning keeps the record.
#[test]
fn commit_records_the_setup_session_and_unprovisioning_keeps_it() {
    use crate::device::Unprovisioning;
    use crate::device::provisioning_record::Activation;

    let d = crate::testing::device("11.8");
    d.unprovision(Unprovisioning::Full);
    // Unprovisioning kept the seeded record; start from none to see what
    // the setup writes.
    d.with_state(|s| s.nvram.provisioning_record = None);
    assert!(d.enter_setup_mode());
    let ca = root(RsaKeySize::_2048);
    let leaf = leaf(&ca, GOOD);
    d.with_state(|s| {
        s.nvram.provisioning.dhcp_domain = "corp.contoso.com".into();
        let h = hash(HashAlgorithm::Sha256, &ca.der);
        s.nvram
            .provisioning
            .add_trusted_hash("test root", HashAlgorithm::Sha256, h);
    });
    d.check_provisioning_chain(&[&leaf, &ca.der], UnixTime::now())
        .unwrap();
    assert!(
        d.with_state(|s| s.nvram.provisioning_record.is_none()),
        "a handshake alone records nothing"
    );
    // The configuration server's CommitChanges, as the WS-Man layer runs
    // it: its address is the record's ProvServerIP.
    let server: std::net::IpAddr = "192.0.2.40".parse().unwrap();
    let actor = crate::device::audit::Actor {
        caller: crate::device::users::Caller::Admin,
        address: Some(server),
    };
    crate::device::audit::acting(actor, || d.commit_changes()).unwrap();
    let record = d
        .with_state(|s| s.nvram.provisioning_record.clone())
        .expect("a record");
    let Activation::Tls(tls) = &record.how else {
        panic!("not a TLS record: {record:?}");
    };
    let chain = tls.chain.as_ref().expect("PKI: the chain");
    assert_eq!(chain.common_name, "prov.corp.contoso.com");
    assert_eq!(chain.root_hash, hash(HashAlgorithm::Sha256, &ca.der));
    assert_eq!(chain.ca_serials.len(), 1);
    assert!(tls.host_initiated, "setup mode was entered at run time");
    assert_eq!(tls.server_address, Some(server));
    assert!(!chain.secure_dns, "the DHCP domain, not a PKI suffix");
    assert!(!chain.root_is_default);
    d.unprovision_remotely(Unprovisioning::Full).unwrap();
    assert_eq!(
        d.with_state(|s| s.nvram.provisioning_record.clone()),
        Some(record)
    );
    // A commit with no setup session behind it is a manual activation.
    assert!(d.enter_setup_mode());
    d.commit_changes().unwrap();
    let record = d
        .with_state(|s| s.nvram.provisioning_record.clone())
        .unwrap();
    assert_eq!(record.how, Activation::Manual);
}
