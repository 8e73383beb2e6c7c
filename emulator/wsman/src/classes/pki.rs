//! Certificates, keys and TLS: AMT_PublicKeyManagementService and the store
//! it manages (AMT_PublicKeyCertificate, AMT_PublicPrivateKeyPair and their
//! CIM_ConcreteDependency pairing), and in [`tls`] the TLS credential
//! (AMT_TLSCredentialContext, AMT_TLSProtocolEndpointCollection) and the TLS
//! policy (AMT_TLSSettingData, applied by CommitChanges in `setup`).
//!
//! The rules are the device's ([`CertRefusal`]); this module reads the
//! requests, asks the device and answers with the PT_STATUS codes of spec
//! 2.8 ([`status`]). Where no capture or client shows the code a firmware
//! uses, the choice is marked "inferred" and the closest PT_STATUS is used.

mod tls;
pub(crate) use tls::credential_contexts as tls_credential_contexts;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{CLASS, Class, Method, SERVICE_KEYS, output, service};
use amtemu_model::device::Device;
use amtemu_model::device::certs::CertRefusal;
use amtemu_model::pki;
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};
use tls::{
    create_credential_context, credential_contexts, delete_credential_context, endpoint_collection,
    put_credential_context, put_tls_settings, tls_settings,
};

const PKM_SERVICE: &str = "AMT_PublicKeyManagementService";
const PKM_NAME: &str = "Intel(r) AMT Public Key Management Service";
/// The service's ElementName differs from its Name (go-wsman-messages
/// `publickey/management/get.xml`).
const PKM_ELEMENT_NAME: &str = "Intel(r) AMT Certificate Store Service";
pub(super) const CERTIFICATE: &str = "AMT_PublicKeyCertificate";
const CERTIFICATE_ID: &str = "Intel(r) AMT Certificate: Handle: ";
const KEY_PAIR: &str = "AMT_PublicPrivateKeyPair";
const KEY_ID: &str = "Intel(r) AMT Key: Handle: ";
const CREDENTIAL: &str = "AMT_TLSCredentialContext";
const COLLECTION: &str = "AMT_TLSProtocolEndpointCollection";
/// The collection's name as AMT reports it (real capture
/// `amt_tls_credentialcontext_pull.xml`). RPS echoes it back in Put because
/// AMT 22 refuses a hand-built reference.
const COLLECTION_NAME: &str = "TLSProtocolEndpoint Instances Collection";
/// The spelling MeshCentral, RPS and go-wsman-messages send in Create.
const COLLECTION_NAME_CLIENTS: &str = "TLSProtocolEndpointInstances Collection";
const TLS_SETTINGS: &str = "AMT_TLSSettingData";
const TLS_REMOTE: &str = "Intel(r) AMT 802.3 TLS Settings";
const TLS_LOCAL: &str = "Intel(r) AMT LMS TLS Settings";

/// The PT_STATUS a refusal is answered with.
///
/// - Anything wrong with a certificate (unreadable, a trusted root that is
///   no CA, a CA key longer than the firmware's `max_ca_key_bits`, a TLS
///   credential that is no leaf) → 2063 INVALID_CERT. No capture shows the
///   code for the key-length refusal; INVALID_CERT is the PT_STATUS the
///   client libraries decode for "certificate rejected" (go-wsman-messages
///   `checkReturnValue`), so it is used (inferred).
/// - Already present → 2058 DUPLICATE (what go-wsman-messages reports as
///   "already exists", and rpc-go reads from AddKey as "duplicate key").
/// - Store full → 23 MAX_LIMIT_REACHED; an unreadable key → 2062
///   INVALID_KEY; key generation other than RSA-2048 → 2066 UNSUPPORTED
///   (RPS records AMT 22 answering 2066 to RSA-3072).
/// - A key or certificate that does not exist → 2068 NOT_FOUND; the TLS
///   credential's key not on the device → 2064 CERT_KEY_NOT_MATCH (the class
///   reference states the condition; the code is inferred: RPS reports AMT
///   answering HTTP 400 when the certificate's key was not the device's).
/// - A read-only certificate, or network TLS off where the firmware has no
///   plain HTTP → 16 NOT_PERMITTED (the class reference names
///   AMT_STATUS_NOT_PERMITTED for the latter).
/// - In use by the TLS credential → 2076 BLOCKING_COMPONENT ("cannot be
///   removed if it is referenced", class reference; the code is inferred).
fn status(refusal: CertRefusal) -> u32 {
    use CertRefusal as R;
    let status = match refusal {
        R::NotACertificate | R::NotACa | R::KeyTooLong | R::NotALeaf => PtStatus::InvalidCert,
        R::Duplicate | R::CredentialExists => PtStatus::Duplicate,
        R::StoreFull => PtStatus::MaxLimitReached,
        R::NotAKey => PtStatus::InvalidKey,
        R::UnsupportedKey => PtStatus::Unsupported,
        R::KeyGenerationFailed | R::RequestFailed => PtStatus::InternalError,
        R::NoSuchKey | R::NoSuchCertificate => PtStatus::NotFound,
        R::BadRequest | R::BadTrustedCn => PtStatus::InvalidParameter,
        R::ReadOnly | R::TlsRequired => PtStatus::NotPermitted,
        R::NoMatchingKey => PtStatus::CertKeyNotMatch,
        R::InUse => PtStatus::BlockingComponent,
    };
    status.into()
}

/// The fault a refused Put, Create or Delete answers with: InternalError
/// carrying the PT_STATUS, except a second credential context, which is
/// `wsman:AlreadyExists` (real AMT 15 capture; rpc-go and RPS fall back to
/// Put on it).
pub(super) fn fault(refusal: CertRefusal) -> Fault {
    match refusal {
        CertRefusal::CredentialExists => Fault::AlreadyExists,
        r => Fault::InternalError(status(r)),
    }
}

/// A method's output: ReturnValue 0 with `name` referring to what was made,
/// or the refusal's status.
fn answer(method: &str, made: Result<u32, u32>, name: &str, epr: fn(u32) -> Epr) -> Instance {
    match made {
        Ok(handle) => output(method, PtStatus::Success.into()).with(name, epr(handle)),
        Err(rv) => output(method, rv),
    }
}

pub static CLASSES: &[Class] = &[
    Class {
        name: PKM_SERVICE,
        keys: SERVICE_KEYS,
        instances: pkm_service,
        methods: &[
            Method {
                name: "AddTrustedRootCertificate",
                requires: None,
                call: add_trusted_root_certificate,
            },
            Method {
                name: "AddCertificate",
                requires: None,
                call: add_certificate,
            },
            Method {
                name: "AddKey",
                requires: None,
                call: add_key,
            },
            Method {
                name: "GenerateKeyPair",
                requires: None,
                call: generate_key_pair,
            },
            Method {
                name: "GeneratePKCS10RequestEx",
                requires: None,
                call: generate_pkcs10_request_ex,
            },
        ],
        ..CLASS
    },
    Class {
        name: CERTIFICATE,
        // The real Pull response declares the common namespace.
        common: true,
        keys: &["InstanceID"],
        instances: certificates,
        delete: Some(delete_certificate),
        ..CLASS
    },
    // The spec infers 6.0 for this class; nothing shows it missing earlier,
    // and the key generation methods that create its instances are 3.0.
    Class {
        name: KEY_PAIR,
        common: true,
        keys: &["InstanceID"],
        instances: key_pairs,
        delete: Some(delete_key_pair),
        ..CLASS
    },
    Class {
        name: "CIM_ConcreteDependency",
        keys: &["Antecedent", "Dependent"],
        instances: concrete_dependencies,
        ..CLASS
    },
    Class {
        name: CREDENTIAL,
        keys: &["ElementInContext", "ElementProvidingContext"],
        instances: credential_contexts,
        create: Some(create_credential_context),
        put: Some(put_credential_context),
        delete: Some(delete_credential_context),
        ..CLASS
    },
    Class {
        name: COLLECTION,
        keys: &["ElementName"],
        instances: endpoint_collection,
        ..CLASS
    },
    Class {
        name: TLS_SETTINGS,
        keys: &["InstanceID"],
        instances: tls_settings,
        put: Some(put_tls_settings),
        ..CLASS
    },
    Class {
        name: "AMT_CryptographicCapabilities",
        keys: &["InstanceID"],
        instances: cryptographic_capabilities,
        ..CLASS
    },
    Class {
        name: "AMT_PublicKeyManagementCapabilities",
        keys: &["InstanceID"],
        instances: key_management_capabilities,
        ..CLASS
    },
];

/// The certificate store's capabilities, as far as the device states
/// them: the one key length GenerateKeyPair makes (RSA 2048). The store's
/// size limits in Intel's MOF are byte counts amtemu does not model, so
/// they are left out rather than guessed.
fn key_management_capabilities(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT Public Key Management Capabilities";
    vec![
        Instance::new("AMT_PublicKeyManagementCapabilities")
            .with("ElementName", name)
            .with("InstanceID", name)
            .with_array("SupportedKeyLengths", [2048]),
    ]
}

/// What the engine's crypto offers: the ME has a hardware crypto engine
/// (HardwareAcceleration 1, as firmware reports it in a capture).
fn cryptographic_capabilities(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT: Cryptographic Capabilities";
    vec![
        Instance::new("AMT_CryptographicCapabilities")
            .with("ElementName", name)
            .with("HardwareAcceleration", 1)
            .with("InstanceID", format!("{name} 0")),
    ]
}

// ---- references ------------------------------------------------------------

pub(crate) fn certificate_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(CERTIFICATE)).with("InstanceID", format!("{CERTIFICATE_ID}{handle}"))
}

fn key_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(KEY_PAIR)).with("InstanceID", format!("{KEY_ID}{handle}"))
}

fn collection_epr() -> Epr {
    Epr::new(names::class_uri(COLLECTION)).with("ElementName", COLLECTION_NAME)
}

/// The handle an InstanceID names: `Intel(r) AMT Key: Handle: 3` → 3.
fn handle_of(instance_id: &str, prefix: &str) -> Option<u32> {
    instance_id.strip_prefix(prefix)?.trim().parse().ok()
}

/// The handle a reference argument names. A bare InstanceID is accepted too.
fn referenced_handle(value: Option<&Value>, prefix: &str) -> Option<u32> {
    let id = match value? {
        Value::Ref(epr) => epr.selector_text("InstanceID")?,
        other => other.as_text()?,
    };
    handle_of(id.trim(), prefix)
}

/// The certificate handle a reference argument names (802.1X profiles
/// refer to certificates this way).
pub(crate) fn certificate_handle(value: Option<&Value>) -> Option<u32> {
    referenced_handle(value, CERTIFICATE_ID)
}

/// Decodes a base64 argument, tolerating line breaks and PEM armour.
fn blob(input: &Instance, name: &str) -> Option<Result<Vec<u8>, ()>> {
    let text = input.text(name)?;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(BASE64.decode(body).map_err(|_| ()))
}

/// A blob argument the device is to check: missing → 36 INVALID_PARAMETER;
/// not base64 → `undecodable`.
fn blob_argument(input: &Instance, name: &str, undecodable: PtStatus) -> Result<Vec<u8>, u32> {
    match blob(input, name) {
        None => Err(PtStatus::InvalidParameter.into()),
        Some(Err(())) => Err(undecodable.into()),
        Some(Ok(der)) => Ok(der),
    }
}

// ---- AMT_PublicKeyManagementService -----------------------------------------

fn pkm_service(_: &Device) -> Vec<Instance> {
    vec![
        service(PKM_SERVICE, PKM_NAME)
            .with("ElementName", PKM_ELEMENT_NAME)
            .with("EnabledDefault", 5)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// AddTrustedRootCertificate(CertificateBlob): a CA certificate clients and
/// servers must chain to (CIRA's MPS root, the RPS root, a mutual-TLS client
/// CA). Garbage is an invalid certificate (2063).
fn add_trusted_root_certificate(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let added = blob_argument(input, "CertificateBlob", PtStatus::InvalidCert)
        .and_then(|der| device.add_trusted_root(&der).map_err(status));
    Ok(answer(
        "AddTrustedRootCertificate",
        added,
        "CreatedCertificate",
        certificate_epr,
    ))
}

/// AddCertificate(CertificateBlob): a leaf (or intermediate) certificate,
/// typically the one a CA issued for a key the device generated.
///
/// The device need not hold the private key here: 802.1X and TLS flows add
/// the key first, but nothing in the IRG text or the clients makes the key a
/// precondition of AddCertificate, and the class reference puts the
/// requirement on AMT_TLSCredentialContext ("The connected certificate must
/// be a leaf certificate, and must have a matching private key"), which is
/// where the device enforces it.
fn add_certificate(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let added = blob_argument(input, "CertificateBlob", PtStatus::InvalidCert)
        .and_then(|der| device.add_certificate(&der).map_err(status));
    Ok(answer(
        "AddCertificate",
        added,
        "CreatedCertificate",
        certificate_epr,
    ))
}

/// AddKey(KeyBlob): an RSA private key, PKCS#1 or PKCS#8 DER in base64.
fn add_key(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let added = blob_argument(input, "KeyBlob", PtStatus::InvalidKey)
        .and_then(|der| device.add_key(&der).map_err(status));
    Ok(answer("AddKey", added, "CreatedKey", key_epr))
}

/// GenerateKeyPair(KeyAlgorithm, KeyLength); missing arguments → 36. The key
/// is made at once, so the "still generating" status (2061) never shows.
fn generate_key_pair(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let made = match (input.int("KeyAlgorithm"), input.int("KeyLength")) {
        (Some(algorithm), Some(bits)) => device.generate_key_pair(algorithm, bits).map_err(status),
        _ => Err(PtStatus::InvalidParameter.into()),
    };
    Ok(answer("GenerateKeyPair", made, "KeyPair", key_epr))
}

/// GeneratePKCS10RequestEx(KeyPair, SigningAlgorithm,
/// NullSignedCertificateRequest): re-signs the console's null-signed request
/// with the device key (its subject and SANs kept, its public key replaced).
/// SigningAlgorithm 0 (SHA1-RSA) and 1 (SHA256-RSA) are accepted; the
/// request is always signed with SHA-256, which every CA takes. Bad
/// arguments or an unreadable request → 36.
fn generate_pkcs10_request_ex(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "GeneratePKCS10RequestEx";
    let invalid = u32::from(PtStatus::InvalidParameter);
    let result = (|| {
        let handle = referenced_handle(input.get("KeyPair"), KEY_ID).ok_or(invalid)?;
        if !matches!(input.int("SigningAlgorithm"), Some(0 | 1)) {
            return Err(invalid);
        }
        let Some(Ok(template)) = blob(input, "NullSignedCertificateRequest") else {
            return Err(invalid);
        };
        device
            .certificate_request(handle, &template)
            .map_err(status)
    })();
    Ok(match result {
        Ok(csr) => output(METHOD, PtStatus::Success.into())
            .with("SignedCertificateRequest", BASE64.encode(csr)),
        Err(rv) => output(METHOD, rv),
    })
}

// ---- the store ---------------------------------------------------------------

fn certificates(device: &Device) -> Vec<Instance> {
    device
        .certificates()
        .iter()
        .map(|c| {
            let info = pki::parse_certificate(&c.der).ok();
            Instance::new(CERTIFICATE)
                .with("ElementName", "Intel(r) AMT Certificate")
                .with("InstanceID", format!("{CERTIFICATE_ID}{}", c.handle))
                .with_opt("Issuer", info.as_ref().map(|i| i.issuer.clone()))
                .with("ReadOnlyCertificate", c.read_only)
                .with_opt("Subject", info.as_ref().map(|i| i.subject.clone()))
                // Misspelt on the wire, as real firmware writes it.
                .with("TrustedRootCertficate", c.trusted_root)
                .with("X509Certificate", BASE64.encode(&c.der))
        })
        .collect()
}

fn key_pairs(device: &Device) -> Vec<Instance> {
    device
        .key_pairs()
        .iter()
        .map(|k| {
            Instance::new(KEY_PAIR)
                // The public half only; the private key never leaves.
                .with("DERKey", BASE64.encode(&k.public_der))
                .with("ElementName", "Intel(r) AMT Key")
                .with("InstanceID", format!("{KEY_ID}{}", k.handle))
        })
        .collect()
}

/// Certificates paired with the key pairs they certify: Antecedent the
/// certificate, Dependent the key (as real firmware lists them, and as the
/// DMT console reads them: it looks a certificate handle up among the
/// Antecedents and takes the Dependent as its key).
fn concrete_dependencies(device: &Device) -> Vec<Instance> {
    device
        .certificate_keys()
        .into_iter()
        .map(|(certificate, key)| {
            Instance::new("CIM_ConcreteDependency")
                .with("Antecedent", certificate_epr(certificate))
                .with("Dependent", key_epr(key))
        })
        .chain(super::agent_presence::dependencies(device))
        .collect()
}

/// Delete of a certificate: refused for a read-only (firmware-provisioned)
/// one and for the one the TLS credential context names.
fn delete_certificate(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("InstanceID")
        .and_then(|id| handle_of(id, CERTIFICATE_ID))
        .ok_or(Fault::InvalidSelectors)?;
    device.delete_certificate(handle).map_err(|r| match r {
        CertRefusal::NoSuchCertificate => Fault::InvalidSelectors,
        r => fault(r),
    })
}

/// Delete of a key pair: refused while the TLS certificate uses it ("a key
/// cannot be removed if its corresponding certificate is referenced", class
/// reference).
fn delete_key_pair(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("InstanceID")
        .and_then(|id| handle_of(id, KEY_ID))
        .ok_or(Fault::InvalidSelectors)?;
    device.delete_key_pair(handle).map_err(|r| match r {
        CertRefusal::NoSuchKey => Fault::InvalidSelectors,
        r => fault(r),
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire;
