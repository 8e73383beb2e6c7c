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

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::{Device, Feature, Firmware, HashAlgorithm, ProvisioningSettings, TrustedRootHash};

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
        device.with_state(|s| Policy::of(&s.nvram.provisioning, device.firmware))
    }

    /// The policy of a device's provisioning settings on its firmware: the
    /// PKI DNS suffix is the domain when set, else the DHCP domain.
    pub fn of(p: &ProvisioningSettings, firmware: &Firmware) -> Policy {
        let domain = if p.pki_dns_suffix.is_empty() {
            p.dhcp_domain.clone()
        } else {
            p.pki_dns_suffix.clone()
        };
        Policy {
            trusted: p.active_hashes().cloned().collect(),
            domain,
            max_ca_key_bits: firmware.max_ca_key_bits,
            two_label_relaxation: firmware.has(Feature::ProvisioningSuffixRelaxation),
        }
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

/// A chain that passed: what the caller may need from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The leaf's subject common name.
    pub common_name: String,
    /// The leaf's public key, PKCS#1 `RSAPublicKey` DER for RSA keys.
    pub leaf_public_key: Vec<u8>,
    /// The trusted hash entry the root matched.
    pub root: String,
    /// That entry as it stood: the provisioning record names the hash
    /// the chain was accepted by.
    pub root_entry: TrustedRootHash,
    /// The serial numbers of the chain's CA certificates (all but the
    /// leaf, the leaf's issuer first), big-endian as in the DER.
    pub ca_serials: Vec<Vec<u8>>,
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
        root_entry: root.clone(),
        ca_serials: parsed
            .iter()
            .skip(1)
            .map(|c| c.tbs_certificate.raw_serial().to_vec())
            .collect(),
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
mod tests;
