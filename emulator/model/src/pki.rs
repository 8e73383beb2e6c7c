//! Certificate and key operations over DER bytes: the cryptography behind
//! AMT_PublicKeyManagementService (key generation, PKCS#10 requests, parsing
//! what clients upload) and behind the emulator's own CA. No device
//! knowledge lives here; callers pass bytes and get bytes back.
//!
//! Keys are RSA, as every AMT generation before 22 uses. Key generation goes
//! through rcgen on aws-lc-rs, which makes 2048, 3072 and 4096-bit keys;
//! other sizes are refused with [`PkiError::UnsupportedKeySize`].
//!
//! Two public key forms appear: PKCS#8 DER for private keys (what rustls and
//! rcgen take) and the PKCS#1 `RSAPublicKey` DER that AMT reports as
//! `AMT_PublicPrivateKeyPair.DERKey`. The latter is the content of the
//! SubjectPublicKeyInfo's BIT STRING, so it is read out with x509-parser
//! rather than encoded by hand.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, PublicKeyData, RsaKeySize, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use x509_parser::asn1_rs::{Integer, Null, OctetString, Sequence, Tag, ToDer};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKCS1_RSAENCRYPTION, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME,
    OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_STATE_OR_PROVINCE_NAME,
};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// What can go wrong with certificate and key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("unsupported RSA key size {0} (2048, 3072 and 4096 bits are supported)")]
    UnsupportedKeySize(u32),
    #[error("not an X.509 certificate: {0}")]
    BadCertificate(String),
    #[error("not a usable private key: {0}")]
    BadKey(String),
    #[error("not a PKCS#10 certification request: {0}")]
    BadRequest(String),
    #[error("only RSA keys are supported")]
    NotRsa,
    #[error("certificate operation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("DER encoding failed: {0}")]
    Encoding(String),
}

/// A key pair as the device stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// The public key, PKCS#1 `RSAPublicKey` DER (AMT's DERKey).
    pub public_der: Vec<u8>,
    /// The modulus length.
    pub bits: u32,
}

/// What the emulator needs to know about a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject as AMT writes it: `C=..,S=..,L=..,O=..,OU=..,CN=..`.
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// The first common name of the subject, if any.
    pub common_name: Option<String>,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// Issuer and subject are the same name (a root, or a self-signed leaf).
    pub self_issued: bool,
    /// The public key length in bits (0 when unknown).
    pub key_bits: u32,
    /// Whether the public key is RSA.
    pub is_rsa: bool,
    /// The subjectPublicKey BIT STRING content: PKCS#1 `RSAPublicKey` DER for
    /// RSA keys, so a stored key pair can be matched to the certificate.
    pub public_key: Vec<u8>,
    /// Validity, seconds since 1970.
    pub not_before: i64,
    pub not_after: i64,
}

fn key_size(bits: u32) -> Result<RsaKeySize, PkiError> {
    match bits {
        2048 => Ok(RsaKeySize::_2048),
        3072 => Ok(RsaKeySize::_3072),
        4096 => Ok(RsaKeySize::_4096),
        other => Err(PkiError::UnsupportedKeySize(other)),
    }
}

/// The public half of a key pair in AMT's DERKey form, read from the
/// SubjectPublicKeyInfo rcgen builds.
fn described(key: &KeyPair) -> Result<GeneratedKey, PkiError> {
    let spki = key.subject_public_key_info();
    let (_, info) = SubjectPublicKeyInfo::from_der(&spki)
        .map_err(|e| PkiError::BadKey(format!("public key: {e}")))?;
    let bits = match info.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa.key_size() as u32,
        _ => return Err(PkiError::NotRsa),
    };
    Ok(GeneratedKey {
        pkcs8: key.serialize_der(),
        public_der: info.subject_public_key.data.to_vec(),
        bits,
    })
}

/// A fresh RSA key pair of `bits` bits (2048, 3072 or 4096).
pub fn generate_rsa_key(bits: u32) -> Result<GeneratedKey, PkiError> {
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, key_size(bits)?)?;
    described(&key)
}

/// The signing key for stored PKCS#8 bytes.
fn signing_key(pkcs8: &[u8]) -> Result<KeyPair, PkiError> {
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &PKCS_RSA_SHA256)
        .map_err(|e| PkiError::BadKey(e.to_string()))
}

/// Wraps a PKCS#1 `RSAPrivateKey` in a PKCS#8 `PrivateKeyInfo` (version 0,
/// rsaEncryption with NULL parameters), so every stored key has one form.
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Vec<u8>, PkiError> {
    let enc = |e: x509_parser::asn1_rs::SerializeError| PkiError::Encoding(e.to_string());
    let mut algorithm = OID_PKCS1_RSAENCRYPTION.to_der_vec().map_err(enc)?;
    algorithm.extend(Null::new().to_der_vec().map_err(enc)?);
    let mut info = Integer::from(0u32).to_der_vec().map_err(enc)?;
    info.extend(
        Sequence::new(Cow::Owned(algorithm))
            .to_der_vec()
            .map_err(enc)?,
    );
    info.extend(OctetString::new(pkcs1).to_der_vec().map_err(enc)?);
    Sequence::new(Cow::Owned(info)).to_der_vec().map_err(enc)
}

/// Reads an RSA private key a client uploads (AddKey's KeyBlob): PKCS#8
/// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY` DER. The result is stored as
/// PKCS#8 whatever came in.
pub fn import_rsa_key(der: &[u8]) -> Result<GeneratedKey, PkiError> {
    let pkcs8 = match PrivateKeyDer::try_from(der) {
        Ok(PrivateKeyDer::Pkcs8(k)) => k.secret_pkcs8_der().to_vec(),
        Ok(PrivateKeyDer::Pkcs1(k)) => pkcs1_to_pkcs8(k.secret_pkcs1_der())?,
        Ok(_) => return Err(PkiError::NotRsa),
        Err(e) => return Err(PkiError::BadKey(e.to_string())),
    };
    described(&signing_key(&pkcs8)?)
}

/// The public half (PKCS#1 DER) of a stored PKCS#8 key.
pub fn public_key_of(pkcs8: &[u8]) -> Result<Vec<u8>, PkiError> {
    Ok(described(&signing_key(pkcs8)?)?.public_der)
}

/// Copies an X.509 name into rcgen's form, keeping each value's string type.
fn distinguished_name(name: &X509Name<'_>) -> Result<DistinguishedName, PkiError> {
    let mut dn = DistinguishedName::new();
    for attr in name.iter_attributes() {
        let Some(arcs) = attr.attr_type().iter() else {
            continue;
        };
        let ty = DnType::from_oid(&arcs.collect::<Vec<_>>());
        let text = attr
            .as_str()
            .map_err(|e| PkiError::BadRequest(format!("subject: {e}")))?;
        let value = match attr.attr_value().tag() {
            Tag::PrintableString => text
                .try_into()
                .map(DnValue::PrintableString)
                .unwrap_or_else(|_| DnValue::Utf8String(text.to_string())),
            Tag::Ia5String => text
                .try_into()
                .map(DnValue::Ia5String)
                .unwrap_or_else(|_| DnValue::Utf8String(text.to_string())),
            _ => DnValue::Utf8String(text.to_string()),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

/// Subject alternative names rcgen can write back.
fn san_from(name: &GeneralName<'_>) -> Option<SanType> {
    match name {
        GeneralName::DNSName(n) => (*n).try_into().ok().map(SanType::DnsName),
        GeneralName::RFC822Name(n) => (*n).try_into().ok().map(SanType::Rfc822Name),
        GeneralName::URI(n) => (*n).try_into().ok().map(SanType::URI),
        GeneralName::IPAddress(octets) => match octets.len() {
            4 => <[u8; 4]>::try_from(*octets)
                .ok()
                .map(|o| SanType::IpAddress(IpAddr::from(o))),
            16 => <[u8; 16]>::try_from(*octets)
                .ok()
                .map(|o| SanType::IpAddress(IpAddr::from(o))),
            _ => None,
        },
        _ => None,
    }
}

/// A PKCS#10 request signed by the key in `key_pkcs8` (SHA-256 with RSA).
///
/// With `null_signed_request` (GeneratePKCS10RequestEx's
/// NullSignedCertificateRequest, a request the console built with an empty
/// signature and usually a placeholder key) the new request keeps that
/// request's subject, subject alternative names and extended key usages and
/// carries the device key instead. Otherwise the subject is `CN=subject_cn`
/// (empty when there is none).
pub fn certificate_request(
    key_pkcs8: &[u8],
    subject_cn: Option<&str>,
    null_signed_request: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    let key = signing_key(key_pkcs8)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(template) = null_signed_request {
        let (_, csr) = X509CertificationRequest::from_der(template)
            .map_err(|e| PkiError::BadRequest(e.to_string()))?;
        let info = &csr.certification_request_info;
        params.distinguished_name = distinguished_name(&info.subject)?;
        for ext in csr.requested_extensions().into_iter().flatten() {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => params
                    .subject_alt_names
                    .extend(san.general_names.iter().filter_map(san_from)),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ServerAuth);
                    }
                    if eku.client_auth {
                        params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ClientAuth);
                    }
                }
                _ => {}
            }
        }
    } else if let Some(cn) = subject_cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    Ok(params.serialize_request(&key)?.der().to_vec())
}

/// One name in AMT's Issuer/Subject form. Real devices write the country
/// first and the common name last (`C=unknown,O=unknown,CN=MPSRoot-0af1d5`
/// for a certificate whose DER order is CN, O, C), and `S=` for the state;
/// other attribute types are left out (inferred; no capture shows one).
fn amt_name(name: &X509Name<'_>) -> String {
    let order = [
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "S"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_COMMON_NAME, "CN"),
    ];
    let mut parts = Vec::new();
    for (oid, label) in order {
        for attr in name.iter_by_oid(oid) {
            if let Ok(value) = attr.as_str() {
                parts.push(format!("{label}={value}"));
            }
        }
    }
    parts.join(",")
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate("trailing bytes".into()));
    }
    Ok(cert)
}

/// Reads the properties AMT reports for a certificate, and what the store
/// needs to pair it with a key.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, PkiError> {
    let cert = parse_x509(der)?;
    let spki = cert.public_key();
    let (is_rsa, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => (true, rsa.key_size() as u32),
        Ok(other) => (false, other.key_size() as u32),
        Err(e) => return Err(PkiError::BadCertificate(e.to_string())),
    };
    let subject = cert.subject();
    Ok(CertInfo {
        subject: amt_name(subject),
        issuer: amt_name(cert.issuer()),
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        is_ca: cert.is_ca(),
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        key_bits,
        is_rsa,
        public_key: spki.subject_public_key.data.to_vec(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether `key_public_der` (PKCS#1, as stored with a key pair) is the
/// public key the certificate certifies.
pub fn key_matches_certificate(key_public_der: &[u8], cert_der: &[u8]) -> bool {
    parse_certificate(cert_der).is_ok_and(|info| info.public_key == key_public_der)
}

/// A random positive 16-byte serial number.
fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Validity from a day ago for `years` years, so clocks a little behind
/// still accept the certificate.
/// The period an issued certificate covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// From yesterday, for this many years.
    Years(i32),
    /// A week that ended an hour ago: what clients meet once a device's
    /// certificate has expired (a scenario's `cert-expire`).
    Expired,
}

fn validity(params: &mut CertificateParams, validity: Validity) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    match validity {
        Validity::Years(years) => {
            let yesterday = epoch + std::time::Duration::from_secs(now.saturating_sub(86_400));
            params.not_before = yesterday;
            params.not_after = yesterday.replace_year(yesterday.year() + years).unwrap_or(
                yesterday
                    + std::time::Duration::from_secs(years.unsigned_abs() as u64 * 31_556_952),
            );
        }
        Validity::Expired => {
            let ended = now.saturating_sub(3_600);
            params.not_before =
                epoch + std::time::Duration::from_secs(ended.saturating_sub(7 * 86_400));
            params.not_after = epoch + std::time::Duration::from_secs(ended);
        }
    }
}

fn ca_issuer<'a>(ca_cert_der: &[u8], ca_key_pkcs8: &[u8]) -> Result<Issuer<'a, KeyPair>, PkiError> {
    parse_x509(ca_cert_der)?;
    Ok(Issuer::from_ca_cert_der(
        &CertificateDer::from(ca_cert_der),
        signing_key(ca_key_pkcs8)?,
    )?)
}

/// A server certificate for the key in `key_pkcs8`, with common name
/// `subject_cn` and the given subject alternative names (each an IP address
/// or a DNS name), signed by a CA. Used for per-device TLS certificates.
pub fn issue_certificate(
    ca_cert_der: &[u8],
    ca_key_pkcs8: &[u8],
    subject_cn: &str,
    sans: &[String],
    key_pkcs8: &[u8],
    period: Validity,
) -> Result<Vec<u8>, PkiError> {
    let issuer = ca_issuer(ca_cert_der, ca_key_pkcs8)?;
    let subject_key = signing_key(key_pkcs8)?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, subject_cn);
    params.serial_number = Some(serial());
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, period);
    Ok(params.signed_by(&subject_key, &issuer)?.der().to_vec())
}

/// Signs a PKCS#10 request with a CA, as a console's CA does with what
/// GeneratePKCS10RequestEx returned. The request's own signature is checked
/// first, which proves it was signed by the key it carries.
pub fn sign_request(
    ca_cert_der: &[u8],
    ca_key_pkcs8: &[u8],
    request_der: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let issuer = ca_issuer(ca_cert_der, ca_key_pkcs8)?;
    let mut csr =
        CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(request_der))
            .map_err(|e| PkiError::BadRequest(e.to_string()))?;
    csr.params.serial_number = Some(serial());
    csr.params.is_ca = IsCa::NoCa;
    if csr.params.extended_key_usages.is_empty() {
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    }
    csr.params.use_authority_key_identifier_extension = true;
    validity(&mut csr.params, Validity::Years(10));
    Ok(csr.signed_by(&issuer)?.der().to_vec())
}

/// A self-signed RSA-2048 CA certificate named `cn`: (certificate DER,
/// private key PKCS#8 DER).
pub fn self_signed_ca(cn: &str) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    self_signed_ca_with_bits(cn, 2048)
}

/// [`self_signed_ca`] with a key of another size (2048, 3072 or 4096 bits).
pub fn self_signed_ca_with_bits(cn: &str, bits: u32) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, key_size(bits)?)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serial_number = Some(serial());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, Validity::Years(20));
    let cert = params.self_signed(&key)?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

#[cfg(test)]
mod tests;
