//! The provisioning-certificate rules firmware applies to the chain a
//! configuration server presents (PKI remote configuration, and the chain
//! host-based AdminSetup receives through AddNextCertInChain):
//!
//! 1. the chain ends in a root whose SHA-1, SHA-256 or SHA-384 hash (of the
//!    root's DER) is one of the device's *active* trusted root hashes;
//! 2. the leaf carries the Server Authentication EKU, and either Intel's
//!    setup EKU (2.16.840.1.113741.1.2.3) or the subject OU
//!    `Intel(R) Client Setup Certificate`, spelled exactly;
//! 3. the leaf CN's domain (the CN less its first label) matches the
//!    device's domain: the PKI DNS suffix when set, else the DHCP domain.
//!    Strictly it must be the same domain. Firmware with the `.com`/`.net`
//!    relaxation (2.6+) also takes a certificate from a parent domain of the
//!    device's when both end in the same two labels and the TLD is `.com` or
//!    `.net` (a device in `sales.contoso.com` takes `prov.contoso.com`).
//!    A certificate from a deeper or a sibling domain (non-contiguous), from
//!    another forest or from a disjoint namespace never matches; neither
//!    does any certificate when the device has no domain (a workgroup);
//! 4. no CA certificate in the chain has a key longer than the firmware's
//!    `max_ca_key_bits`;
//! 5. every certificate is within its validity period and each signature
//!    verifies up to the root (rustls-webpki builds and checks the path).
//!
//! The rules are pure: they take DER and a [`Policy`], and say which rule
//! failed, so the TLS verifier, the host-based setup methods and the tests
//! share one implementation.

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::device::{Device, Feature, HashAlgorithm, TrustedRootHash};

/// Intel's "AMT setup" extended key usage.
pub const INTEL_SETUP_EKU: &str = "2.16.840.1.113741.1.2.3";
/// The subject OU that stands in for the Intel EKU (exact, case-sensitive).
pub const SETUP_OU: &str = "Intel(R) Client Setup Certificate";

/// What a device checks a provisioning chain against.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The active trusted root hashes.
    pub trusted: Vec<TrustedRootHash>,
    /// The domain the leaf must belong to ("" = none: a workgroup device).
    pub domain: String,
    pub max_ca_key_bits: u32,
    /// The `.com`/`.net` parent-domain relaxation (2.6+).
    pub two_label_relaxation: bool,
}

impl Policy {
    /// The device's policy as it stands now.
    pub fn for_device(device: &Device) -> Policy {
        device.with_state(|s| {
            let p = &s.nvram.provisioning;
            let domain = if p.pki_dns_suffix.is_empty() {
                p.dhcp_domain.clone()
            } else {
                p.pki_dns_suffix.clone()
            };
            Policy {
                trusted: p.active_hashes().cloned().collect(),
                domain,
                max_ca_key_bits: device.firmware.max_ca_key_bits,
                two_label_relaxation: device.firmware.has(Feature::ProvisioningSuffixRelaxation),
            }
        })
    }
}

/// Which rule a chain broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no certificate presented")]
    Empty,
    #[error("certificate {0} is not valid DER X.509")]
    Malformed(usize),
    #[error("the chain's root is not one of the device's active trusted root hashes")]
    UntrustedRoot,
    #[error("the leaf has no Server Authentication EKU")]
    NotServerAuth,
    #[error("the leaf has neither the Intel setup EKU nor the OU '{SETUP_OU}'")]
    NotSetupCertificate,
    #[error("the device has no domain to match the certificate against")]
    NoDomain,
    #[error("the certificate's domain '{certificate}' does not match the device's '{device}'")]
    DomainMismatch { certificate: String, device: String },
    #[error("a CA certificate has a {bits}-bit key; this firmware takes at most {max}")]
    CaKeyTooLarge { bits: u32, max: u32 },
    #[error("a certificate in the chain is expired or not yet valid")]
    Expired,
    #[error("the chain does not verify: {0}")]
    BadSignature(String),
}

impl ChainError {
    /// The rustls error whose alert firmware's refusal most resembles.
    pub fn to_rustls(&self) -> rustls::Error {
        let e = match self {
            ChainError::Empty | ChainError::Malformed(_) => CertificateError::BadEncoding,
            ChainError::UntrustedRoot => CertificateError::UnknownIssuer,
            ChainError::NotServerAuth | ChainError::NotSetupCertificate => {
                CertificateError::InvalidPurpose
            }
            ChainError::NoDomain | ChainError::DomainMismatch { .. } => {
                CertificateError::NotValidForName
            }
            ChainError::CaKeyTooLarge { .. } => CertificateError::BadEncoding,
            ChainError::Expired => CertificateError::Expired,
            ChainError::BadSignature(_) => CertificateError::BadSignature,
        };
        rustls::Error::InvalidCertificate(e)
    }
}

/// A chain that passed: what the caller may need from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The leaf's subject common name.
    pub common_name: String,
    /// The leaf's public key, PKCS#1 `RSAPublicKey` DER for RSA keys.
    pub leaf_public_key: Vec<u8>,
    /// The trusted hash entry the root matched.
    pub root: String,
}

/// Checks a chain, leaf first and root last, against the rules in the
/// module comment, cheapest first.
pub fn check(chain: &[&[u8]], policy: &Policy, now: UnixTime) -> Result<Accepted, ChainError> {
    let (leaf_der, root_der) = match chain {
        [] => return Err(ChainError::Empty),
        [only] => (*only, *only),
        [first, .., last] => (*first, *last),
    };
    let parsed: Vec<X509Certificate> = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|_| ChainError::Malformed(i))
        })
        .collect::<Result<_, _>>()?;
    let root = trusted_entry(root_der, &policy.trusted).ok_or(ChainError::UntrustedRoot)?;
    let leaf = &parsed[0];
    check_purpose(leaf)?;
    let common_name = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    check_domain(&common_name, policy)?;
    for ca in parsed.iter().skip(1) {
        let bits = rsa_bits(ca);
        if bits > policy.max_ca_key_bits {
            return Err(ChainError::CaKeyTooLarge {
                bits,
                max: policy.max_ca_key_bits,
            });
        }
    }
    let at = x509_parser::time::ASN1Time::from_timestamp(now.as_secs() as i64)
        .map_err(|_| ChainError::Expired)?;
    if parsed.iter().any(|c| !c.validity().is_valid_at(at)) {
        return Err(ChainError::Expired);
    }
    verify_path(leaf_der, &chain[1..], root_der, now)?;
    Ok(Accepted {
        common_name,
        leaf_public_key: leaf.public_key().subject_public_key.data.to_vec(),
        root: root.name.clone(),
    })
}

/// The active trusted entry whose hash is the root's, by its algorithm.
pub fn trusted_entry<'a>(
    root: &[u8],
    trusted: &'a [TrustedRootHash],
) -> Option<&'a TrustedRootHash> {
    trusted
        .iter()
        .find(|t| t.active && hash(t.algorithm, root) == t.hash)
}

/// A root's hash as the firmware's table holds it.
pub fn hash(algorithm: HashAlgorithm, der: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest;
    let alg = match algorithm {
        HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
    };
    digest::digest(alg, der).as_ref().to_vec()
}

fn check_purpose(leaf: &X509Certificate) -> Result<(), ChainError> {
    let eku = leaf.extended_key_usage().ok().flatten().map(|e| e.value);
    if !eku.is_some_and(|e| e.server_auth) {
        return Err(ChainError::NotServerAuth);
    }
    let intel_eku = eku.is_some_and(|e| {
        e.other
            .iter()
            .any(|oid| oid.to_id_string() == INTEL_SETUP_EKU)
    });
    let intel_ou = leaf
        .subject()
        .iter_organizational_unit()
        .any(|ou| ou.as_str() == Ok(SETUP_OU));
    if intel_eku || intel_ou {
        Ok(())
    } else {
        Err(ChainError::NotSetupCertificate)
    }
}

fn check_domain(common_name: &str, policy: &Policy) -> Result<(), ChainError> {
    let device = policy.domain.trim_end_matches('.').to_ascii_lowercase();
    if device.is_empty() {
        return Err(ChainError::NoDomain);
    }
    let cn = common_name.trim_end_matches('.').to_ascii_lowercase();
    let certificate = cn.split_once('.').map(|(_, d)| d).unwrap_or("").to_string();
    let mismatch = || ChainError::DomainMismatch {
        certificate: certificate.clone(),
        device: device.clone(),
    };
    if certificate.is_empty() {
        return Err(mismatch());
    }
    if certificate == device {
        return Ok(());
    }
    let parent = device.ends_with(&format!(".{certificate}"));
    let relaxed = policy.two_label_relaxation
        && parent
        && certificate.split('.').count() >= 2
        && matches!(labels(&device).first(), Some(&"com") | Some(&"net"))
        && labels(&device) == labels(&certificate);
    if relaxed { Ok(()) } else { Err(mismatch()) }
}

/// The last two labels of a domain, TLD first.
fn labels(domain: &str) -> Vec<&str> {
    domain.split('.').rev().take(2).collect()
}

/// The RSA modulus length of a certificate's key; 0 for other key types,
/// which no size rule concerns.
fn rsa_bits(cert: &X509Certificate) -> u32 {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa.key_size() as u32,
        _ => 0,
    }
}

fn verify_path(leaf: &[u8], rest: &[&[u8]], root: &[u8], now: UnixTime) -> Result<(), ChainError> {
    let bad = |e: &dyn std::fmt::Display| ChainError::BadSignature(e.to_string());
    let leaf = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf).map_err(|e| bad(&e))?;
    let root = CertificateDer::from(root);
    let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| bad(&e))?;
    // The root may appear among the intermediates; webpki ignores what it
    // does not need.
    let intermediates: Vec<CertificateDer> =
        rest.iter().map(|c| CertificateDer::from(*c)).collect();
    if intermediates.is_empty() && leaf.as_ref() == root.as_ref() {
        // A self-signed leaf that is its own trusted root: nothing to chain.
        return Ok(());
    }
    end_entity
        .verify_for_usage(
            algorithms().all,
            &[anchor],
            &intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| match e {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                ChainError::Expired
            }
            other => bad(&other),
        })
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

/// A certificate's public key: PKCS#1 `RSAPublicKey` DER for RSA keys.
pub fn leaf_public_key(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature with a PKCS#1
/// `RSAPublicKey` (AdminSetup's DigitalSignature).
pub fn verify_rsa_sha256(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(message, signature)
        .is_ok()
}

/// The client-certificate verifier of 16993 during PKI setup: a client
/// must present a provisioning chain that passes [`check`] against the
/// device's policy at the moment of the handshake. A refusal is recorded on
/// the device and answered with the alert rustls sends for the error.
#[derive(Debug)]
pub struct ProvisioningVerifier {
    device: Arc<Device>,
    provider: Arc<CryptoProvider>,
}

impl ProvisioningVerifier {
    pub fn new(device: Arc<Device>, provider: Arc<CryptoProvider>) -> ProvisioningVerifier {
        ProvisioningVerifier { device, provider }
    }
}

impl ClientCertVerifier for ProvisioningVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Firmware names no CAs; the client picks its provisioning chain.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|c| c.as_ref()))
            .collect();
        let policy = Policy::for_device(&self.device);
        match check(&chain, &policy, now) {
            Ok(accepted) => {
                tracing::info!(device = %self.device.name, cn = %accepted.common_name, root = %accepted.root, "provisioning certificate accepted");
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => {
                self.device.provisioning_refused(&e.to_string());
                Err(e.to_rustls())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Intel's setup EKU as rcgen takes an OID.
const INTEL_SETUP_EKU_ARCS: &[u64] = &[2, 16, 840, 1, 113741, 1, 2, 3];

/// How a test PKI makes a provisioning certificate: [`LeafSpec::good`]
/// passes every leaf rule above, and each switch breaks one. This crate's
/// tests and the black-box tests' provisioning server both issue with it,
/// so the certificates they test with follow the rules as written here.
#[derive(Clone, Copy, Debug)]
pub struct LeafSpec {
    pub cn: &'static str,
    pub server_auth: bool,
    pub intel_eku: bool,
    pub ou: Option<&'static str>,
    pub expired: bool,
}

impl LeafSpec {
    pub const fn good(cn: &'static str) -> LeafSpec {
        LeafSpec {
            cn,
            server_auth: true,
            intel_eku: true,
            ou: None,
            expired: false,
        }
    }

    /// The leaf's parameters, to be signed by the test CA.
    pub fn params(&self) -> rcgen::CertificateParams {
        use rcgen::{DnType, ExtendedKeyUsagePurpose};
        let mut params = rcgen::CertificateParams::new(vec![self.cn.to_string()])
            .expect("a CN is a valid subject alternative name");
        params.distinguished_name.push(DnType::CommonName, self.cn);
        if let Some(ou) = self.ou {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, ou);
        }
        if self.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if self.intel_eku {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(
                    INTEL_SETUP_EKU_ARCS.to_vec(),
                ));
        }
        if self.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256,
        RsaKeySize,
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
}
