//! Certificates, keys and TLS: AMT_PublicKeyManagementService and the store
//! it manages (AMT_PublicKeyCertificate, AMT_PublicPrivateKeyPair and their
//! CIM_ConcreteDependency pairing), the TLS credential
//! (AMT_TLSCredentialContext, AMT_TLSProtocolEndpointCollection) and the TLS
//! policy (AMT_TLSSettingData, applied by CommitChanges in `setup`).
//!
//! Return values are PT_STATUS codes (spec 2.8). Where no capture or client
//! shows the code a firmware uses, the choice is marked "inferred" and the
//! closest PT_STATUS is used.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{CLASS, Class, Method, SERVICE_KEYS, output, put_bool, service};
use amtemu_model::device::certs::{MAX_CERTIFICATES, MAX_KEYS};
use amtemu_model::device::{CertStore, Device, Port, TlsSettingData, TlsSettings};
use amtemu_model::pki;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const PKM_SERVICE: &str = "AMT_PublicKeyManagementService";
const PKM_NAME: &str = "Intel(r) AMT Public Key Management Service";
/// The service's ElementName differs from its Name (go-wsman-messages
/// `publickey/management/get.xml`).
const PKM_ELEMENT_NAME: &str = "Intel(r) AMT Certificate Store Service";
const CERTIFICATE: &str = "AMT_PublicKeyCertificate";
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

// PT_STATUS values (spec 2.8).
const PT_INTERNAL_ERROR: u32 = 1;
const PT_NOT_PERMITTED: u32 = 16;
const PT_MAX_LIMIT_REACHED: u32 = 23;
const PT_INVALID_PARAMETER: u32 = 36;
const PT_DUPLICATE: u32 = 2058;
const PT_INVALID_KEY: u32 = 2062;
const PT_INVALID_CERT: u32 = 2063;
const PT_CERT_KEY_NOT_MATCH: u32 = 2064;
const PT_UNSUPPORTED: u32 = 2066;
const PT_NOT_FOUND: u32 = 2068;
const PT_BLOCKING_COMPONENT: u32 = 2076;

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
];

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

/// Checks a certificate blob for the store: Ok(DER, parsed) or the
/// ReturnValue that refuses it.
fn certificate_blob(input: &Instance) -> Result<(Vec<u8>, pki::CertInfo), u32> {
    let der = match blob(input, "CertificateBlob") {
        None => return Err(PT_INVALID_PARAMETER),
        Some(Err(())) => return Err(PT_INVALID_CERT),
        Some(Ok(der)) => der,
    };
    let info = pki::parse_certificate(&der).map_err(|_| PT_INVALID_CERT)?;
    Ok((der, info))
}

/// Adds a certificate; shared by both Add methods.
fn store_certificate(device: &Device, der: Vec<u8>, trusted_root: bool) -> Result<u32, u32> {
    let handle = device.with_state(|s| {
        if s.nvram.certs.certificate_by_der(&der).is_some() {
            return Err(PT_DUPLICATE);
        }
        if s.nvram.certs.certificates.len() >= MAX_CERTIFICATES {
            return Err(PT_MAX_LIMIT_REACHED);
        }
        Ok(s.nvram.certs.add_certificate(der, trusted_root))
    })?;
    device.changed("AMT_PublicKeyCertificate");
    Ok(handle)
}

/// AddTrustedRootCertificate: a CA certificate clients and servers must chain
/// to (CIRA's MPS root, the RPS root, a mutual-TLS client CA).
///
/// Refusals: not a certificate, not a CA (neither basicConstraints CA nor
/// self-issued), or an RSA key longer than the firmware's
/// `max_ca_key_bits` → 2063 INVALID_CERT. No capture shows the code for the
/// key-length refusal; INVALID_CERT is the PT_STATUS the client libraries
/// decode for "certificate rejected" (go-wsman-messages `checkReturnValue`),
/// so it is used (inferred). Already present → 2058 DUPLICATE (the code
/// go-wsman-messages reports as "already exists"). Store full → 23.
fn add_trusted_root_certificate(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "AddTrustedRootCertificate";
    let checked = certificate_blob(input).and_then(|(der, info)| {
        if !(info.is_ca || info.self_issued) {
            return Err(PT_INVALID_CERT);
        }
        if info.is_rsa && info.key_bits > device.firmware.max_ca_key_bits {
            return Err(PT_INVALID_CERT);
        }
        store_certificate(device, der, true)
    });
    Ok(match checked {
        Ok(handle) => output(METHOD, 0).with("CreatedCertificate", certificate_epr(handle)),
        Err(rv) => output(METHOD, rv),
    })
}

/// AddCertificate: a leaf (or intermediate) certificate, typically the one
/// a CA issued for a key the device generated.
///
/// The device need not hold the private key here: 802.1X and TLS flows add
/// the key first, but nothing in the IRG text or the clients makes the key a
/// precondition of AddCertificate, and the class reference puts the
/// requirement on AMT_TLSCredentialContext ("The connected certificate must
/// be a leaf certificate, and must have a matching private key"), which is
/// where it is enforced.
fn add_certificate(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddCertificate";
    let checked =
        certificate_blob(input).and_then(|(der, _)| store_certificate(device, der, false));
    Ok(match checked {
        Ok(handle) => output(METHOD, 0).with("CreatedCertificate", certificate_epr(handle)),
        Err(rv) => output(METHOD, rv),
    })
}

/// Stores a key pair; the same public key twice is a duplicate.
fn store_key(device: &Device, key: pki::GeneratedKey) -> Result<u32, u32> {
    let handle = device.with_state(|s| {
        if s.nvram.certs.key_for_public(&key.public_der).is_some() {
            return Err(PT_DUPLICATE);
        }
        if s.nvram.certs.keys.len() >= MAX_KEYS {
            return Err(PT_MAX_LIMIT_REACHED);
        }
        Ok(s.nvram.certs.add_key(key.pkcs8, key.public_der))
    })?;
    device.changed("AMT_PublicPrivateKeyPair");
    Ok(handle)
}

/// AddKey(KeyBlob): an RSA private key, PKCS#1 or PKCS#8 DER in base64.
/// Garbage → 2062 INVALID_KEY; a key already held → 2058 DUPLICATE (rpc-go
/// reads 2058 from AddKey as "duplicate key"); store full → 23.
fn add_key(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddKey";
    let checked = match blob(input, "KeyBlob") {
        None => Err(PT_INVALID_PARAMETER),
        Some(Err(())) => Err(PT_INVALID_KEY),
        Some(Ok(der)) => pki::import_rsa_key(&der)
            .map_err(|_| PT_INVALID_KEY)
            .and_then(|key| store_key(device, key)),
    };
    Ok(match checked {
        Ok(handle) => output(METHOD, 0).with("CreatedKey", key_epr(handle)),
        Err(rv) => output(METHOD, rv),
    })
}

/// GenerateKeyPair(KeyAlgorithm, KeyLength): RSA (0) with 2048 bits is what
/// every generation before 22 makes; anything else → 2066 UNSUPPORTED (RPS
/// records AMT 22 answering 2066 to RSA-3072). Missing arguments → 36.
/// The key is made at once, so the "still generating" status (2061) never
/// shows.
fn generate_key_pair(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "GenerateKeyPair";
    let checked = match (input.int("KeyAlgorithm"), input.int("KeyLength")) {
        (Some(0), Some(2048)) => {
            if device.with_state(|s| s.nvram.certs.keys.len() >= MAX_KEYS) {
                Err(PT_MAX_LIMIT_REACHED)
            } else {
                pki::generate_rsa_key(2048)
                    .map_err(|_| PT_INTERNAL_ERROR)
                    .and_then(|key| store_key(device, key))
            }
        }
        (Some(_), Some(_)) => Err(PT_UNSUPPORTED),
        _ => Err(PT_INVALID_PARAMETER),
    };
    Ok(match checked {
        Ok(handle) => output(METHOD, 0).with("KeyPair", key_epr(handle)),
        Err(rv) => output(METHOD, rv),
    })
}

/// GeneratePKCS10RequestEx(KeyPair, SigningAlgorithm,
/// NullSignedCertificateRequest): re-signs the console's null-signed request
/// with the device key (its subject and SANs kept, its public key replaced).
/// SigningAlgorithm 0 (SHA1-RSA) and 1 (SHA256-RSA) are accepted; the
/// request is always signed with SHA-256, which every CA takes. Unknown key
/// → 2068 NOT_FOUND; bad arguments or an unreadable request → 36.
fn generate_pkcs10_request_ex(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "GeneratePKCS10RequestEx";
    let result = (|| {
        let handle = referenced_handle(input.get("KeyPair"), KEY_ID).ok_or(PT_INVALID_PARAMETER)?;
        if !matches!(input.int("SigningAlgorithm"), Some(0 | 1)) {
            return Err(PT_INVALID_PARAMETER);
        }
        let template = match blob(input, "NullSignedCertificateRequest") {
            Some(Ok(der)) => der,
            _ => return Err(PT_INVALID_PARAMETER),
        };
        let pkcs8 = device
            .with_state(|s| s.nvram.certs.key(handle).map(|k| k.pkcs8.clone()))
            .ok_or(PT_NOT_FOUND)?;
        pki::certificate_request(&pkcs8, None, Some(&template)).map_err(|e| match e {
            pki::PkiError::BadRequest(_) => PT_INVALID_PARAMETER,
            _ => PT_INTERNAL_ERROR,
        })
    })();
    Ok(match result {
        Ok(csr) => output(METHOD, 0).with("SignedCertificateRequest", BASE64.encode(csr)),
        Err(rv) => output(METHOD, rv),
    })
}

// ---- the store ---------------------------------------------------------------

fn certificates(device: &Device) -> Vec<Instance> {
    let certs = device.with_state(|s| s.nvram.certs.certificates.clone());
    certs
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
    let keys = device.with_state(|s| s.nvram.certs.keys.clone());
    keys.iter()
        .map(|k| {
            Instance::new(KEY_PAIR)
                // The public half only; the private key never leaves.
                .with("DERKey", BASE64.encode(&k.public_der))
                .with("ElementName", "Intel(r) AMT Key")
                .with("InstanceID", format!("{KEY_ID}{}", k.handle))
        })
        .collect()
}

/// The key pair held for a stored certificate, if any.
fn key_for_certificate(store: &CertStore, handle: u32) -> Option<u32> {
    let cert = store.certificate(handle)?;
    let info = pki::parse_certificate(&cert.der).ok()?;
    store.key_for_public(&info.public_key).map(|k| k.handle)
}

/// Certificates paired with the key pairs they certify: Antecedent the
/// certificate, Dependent the key (as real firmware lists them, and as the
/// DMT console reads them: it looks a certificate handle up among the
/// Antecedents and takes the Dependent as its key).
fn concrete_dependencies(device: &Device) -> Vec<Instance> {
    let store = device.with_state(|s| s.nvram.certs.clone());
    store
        .certificates
        .iter()
        .filter_map(|c| {
            let key = key_for_certificate(&store, c.handle)?;
            Some(
                Instance::new("CIM_ConcreteDependency")
                    .with("Antecedent", certificate_epr(c.handle))
                    .with("Dependent", key_epr(key)),
            )
        })
        .collect()
}

/// Delete of a certificate. Read-only (firmware-provisioned) ones → 16
/// NOT_PERMITTED; one the TLS credential context names → 2076
/// BLOCKING_COMPONENT ("a certificate cannot be removed if it is
/// referenced", class reference; the code is inferred: no capture).
fn delete_certificate(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("InstanceID")
        .and_then(|id| handle_of(id, CERTIFICATE_ID))
        .ok_or(Fault::InvalidSelectors)?;
    device.with_state(|s| {
        let cert = s
            .nvram
            .certs
            .certificate(handle)
            .ok_or(Fault::InvalidSelectors)?;
        if cert.read_only {
            return Err(Fault::InternalError(PT_NOT_PERMITTED));
        }
        if s.nvram.certs.tls_certificate == Some(handle) {
            return Err(Fault::InternalError(PT_BLOCKING_COMPONENT));
        }
        s.nvram.certs.remove_certificate(handle);
        Ok(())
    })
}

/// Delete of a key pair; refused with 2076 while the TLS certificate uses it
/// ("a key cannot be removed if its corresponding certificate is
/// referenced", class reference; code inferred).
fn delete_key_pair(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = target
        .text("InstanceID")
        .and_then(|id| handle_of(id, KEY_ID))
        .ok_or(Fault::InvalidSelectors)?;
    device.with_state(|s| {
        s.nvram.certs.key(handle).ok_or(Fault::InvalidSelectors)?;
        let in_use = s
            .nvram
            .certs
            .tls_certificate
            .and_then(|c| key_for_certificate(&s.nvram.certs, c))
            == Some(handle);
        if in_use {
            return Err(Fault::InternalError(PT_BLOCKING_COMPONENT));
        }
        s.nvram.certs.remove_key(handle);
        Ok(())
    })
}

// ---- the TLS credential ------------------------------------------------------

fn endpoint_collection(_: &Device) -> Vec<Instance> {
    vec![Instance::new(COLLECTION).with("ElementName", COLLECTION_NAME)]
}

fn credential_contexts(device: &Device) -> Vec<Instance> {
    device
        .with_state(|s| s.nvram.certs.tls_credential().map(|c| c.handle))
        .map(|handle| {
            Instance::new(CREDENTIAL)
                .with("ElementInContext", certificate_epr(handle))
                .with("ElementProvidingContext", collection_epr())
        })
        .into_iter()
        .collect()
}

/// The certificate a Create or Put names, checked for TLS use.
///
/// Malformed references → InvalidParameter. A certificate that does not
/// exist → InternalError 2068 NOT_FOUND; a trusted root or CA → 2063
/// INVALID_CERT ("must be a leaf certificate"); one whose private key the
/// device does not hold → 2064 CERT_KEY_NOT_MATCH. The class reference
/// states both conditions; the codes are inferred (RPS reports AMT answering
/// HTTP 400 when the certificate's key was not the device's).
fn credential_certificate(device: &Device, input: &Instance) -> Result<u32, Fault> {
    let cert = input
        .get("ElementInContext")
        .and_then(Value::as_ref)
        .filter(|e| e.resource_uri == names::class_uri(CERTIFICATE))
        .ok_or(Fault::InvalidParameter)?;
    let provider = input
        .get("ElementProvidingContext")
        .and_then(Value::as_ref)
        .filter(|e| e.resource_uri == names::class_uri(COLLECTION))
        .ok_or(Fault::InvalidParameter)?;
    if provider
        .selector_text("ElementName")
        .is_some_and(|n| n != COLLECTION_NAME && n != COLLECTION_NAME_CLIENTS)
    {
        return Err(Fault::InvalidParameter);
    }
    let handle = cert
        .selector_text("InstanceID")
        .and_then(|id| handle_of(id, CERTIFICATE_ID))
        .ok_or(Fault::InvalidParameter)?;
    device.with_state(|s| {
        let stored = s
            .nvram
            .certs
            .certificate(handle)
            .ok_or(Fault::InternalError(PT_NOT_FOUND))?;
        let info = pki::parse_certificate(&stored.der)
            .map_err(|_| Fault::InternalError(PT_INVALID_CERT))?;
        if stored.trusted_root || info.is_ca {
            return Err(Fault::InternalError(PT_INVALID_CERT));
        }
        if s.nvram.certs.key_for_public(&info.public_key).is_none() {
            return Err(Fault::InternalError(PT_CERT_KEY_NOT_MATCH));
        }
        Ok(handle)
    })
}

/// Create names the certificate the TLS server presents. There is one
/// credential context: a second Create is `wsman:AlreadyExists` (real AMT
/// 15 capture; rpc-go and RPS fall back to Put on it).
fn create_credential_context(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let handle = credential_certificate(device, input)?;
    device.with_state(|s| {
        if s.nvram.certs.tls_credential().is_some() {
            return Err(Fault::AlreadyExists);
        }
        s.nvram.certs.tls_certificate = Some(handle);
        Ok(())
    })?;
    Ok(Epr::new(names::class_uri(CREDENTIAL))
        .with_ref("ElementInContext", certificate_epr(handle))
        .with_ref("ElementProvidingContext", collection_epr()))
}

/// Put swaps the certificate (MeshCentral and RPS change the
/// ElementInContext reference of the instance they read).
fn put_credential_context(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let handle = credential_certificate(device, input)?;
    device.with_state(|s| s.nvram.certs.tls_certificate = Some(handle));
    Ok(())
}

fn delete_credential_context(device: &Device, _: &Instance) -> Result<(), Fault> {
    device.with_state(|s| s.nvram.certs.tls_certificate = None);
    Ok(())
}

// ---- AMT_TLSSettingData --------------------------------------------------------

/// Whether the firmware serves plain HTTP to the network at all (16.1 and
/// later do not).
fn plain_http(device: &Device) -> bool {
    device.firmware.opens(Port::Http)
}

fn tls_setting(device: &Device, id: &str, data: &TlsSettingData, remote: bool) -> Instance {
    let tls_only = !plain_http(device);
    let accept = data.accept_non_secure && !(remote && tls_only);
    let mut i = Instance::new(TLS_SETTINGS)
        .with("AcceptNonSecureConnections", accept)
        .with("ElementName", id)
        .with("Enabled", data.enabled)
        .with("InstanceID", id)
        .with("MutualAuthentication", data.mutual_authentication);
    // From CSME 16.1 the property says whether non-TLS ports remain for the
    // interface: not for the network, still for LMS. Older firmware has no
    // such property (the AMT 12–16 capture shows none).
    if tls_only {
        i.set("NonSecureConnectionsSupported", !remote);
    }
    if !data.trusted_cn.is_empty() {
        i = i.with_array("TrustedCN", data.trusted_cn.iter().map(String::as_str));
    }
    i
}

/// The two instances, showing what Put wrote before CommitChanges applies
/// it: a Put's response echoes the written values, and clients that re-read
/// between Put and commit (RPS) expect to see them.
fn tls_settings(device: &Device) -> Vec<Instance> {
    let t = device.with_state(|s| {
        s.nvram
            .pending_tls
            .clone()
            .unwrap_or_else(|| s.nvram.tls.clone())
    });
    vec![
        tls_setting(device, TLS_REMOTE, &t.remote, true),
        tls_setting(device, TLS_LOCAL, &t.local, false),
    ]
}

/// Put stages the settings in `pending_tls` for CommitChanges.
///
/// The instance is the one the InstanceID in the body names (MeshCentral and
/// DMT also send it as a selector; a selector-less Put names it only in the
/// body), else the selected one. AcceptNonSecureConnections is read-only on
/// the LMS instance. TrustedCN is replaced by what the body carries (none
/// clears it, as MeshCentral relies on). On firmware without plain HTTP
/// (16.1+) the network instance cannot disable TLS or accept non-TLS
/// connections: the class reference says such a Put "will fail with error
/// code AMT_STATUS_NOT_PERMITTED" → InternalError 16.
fn put_tls_settings(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let id = input
        .text("InstanceID")
        .filter(|id| *id == TLS_REMOTE || *id == TLS_LOCAL)
        .or_else(|| current.text("InstanceID"))
        .ok_or(Fault::InvalidSelectors)?;
    let remote = id == TLS_REMOTE;
    let tls_only = !plain_http(device);
    let trusted_cn = match input.get("TrustedCN") {
        None => Vec::new(),
        Some(v) => v
            .items()
            .iter()
            .map(|cn| cn.as_text().map(|t| t.trim().to_string()))
            .filter(|cn| cn.as_deref() != Some(""))
            .collect::<Option<Vec<_>>>()
            .ok_or(Fault::InvalidRepresentation)?,
    };
    device.with_state(|s| {
        let mut pending: TlsSettings = s
            .nvram
            .pending_tls
            .clone()
            .unwrap_or_else(|| s.nvram.tls.clone());
        let slot = if remote {
            &mut pending.remote
        } else {
            &mut pending.local
        };
        let mut data = slot.clone();
        put_bool(input, "Enabled", &mut data.enabled)?;
        put_bool(
            input,
            "MutualAuthentication",
            &mut data.mutual_authentication,
        )?;
        if remote {
            put_bool(
                input,
                "AcceptNonSecureConnections",
                &mut data.accept_non_secure,
            )?;
            if tls_only {
                let asks_plain = input.bool("AcceptNonSecureConnections") == Some(true);
                if !data.enabled || asks_plain {
                    return Err(Fault::InternalError(PT_NOT_PERMITTED));
                }
                data.accept_non_secure = false;
            }
        }
        data.trusted_cn = trusted_cn;
        *slot = data;
        s.nvram.pending_tls = Some(pending);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
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
            Err(Fault::InternalError(PT_INVALID_CERT))
        );
        let created =
            create_credential_context(&d, &credential_input(leaf, COLLECTION_NAME_CLIENTS))
                .unwrap();
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
            Err(Fault::InternalError(PT_BLOCKING_COMPONENT))
        );
        let key_instance = key_pairs(&d).remove(0);
        assert_eq!(
            delete_key_pair(&d, &key_instance),
            Err(Fault::InternalError(PT_BLOCKING_COMPONENT))
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
        assert_eq!(rv(&add_root(&d, ca_cert)), i64::from(PT_DUPLICATE));
        assert_eq!(rv(&add_cert(&d, ca_cert)), i64::from(PT_DUPLICATE));
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
            i64::from(PT_INVALID_PARAMETER)
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
        assert_eq!(rv(&add(ca_key)), i64::from(PT_DUPLICATE));
        assert_eq!(rv(&add(b"junk")), i64::from(PT_INVALID_KEY));

        // GenerateKeyPair for anything but RSA-2048 is unsupported.
        let out = call(
            generate_key_pair,
            &d,
            "GenerateKeyPair",
            &[("KeyAlgorithm", "0".into()), ("KeyLength", "3072".into())],
        );
        assert_eq!(rv(&out), i64::from(PT_UNSUPPORTED));
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
        assert_eq!(rv(&out), i64::from(PT_NOT_FOUND));
    }

    #[test]
    fn a_ca_key_longer_than_the_firmware_takes_is_refused() {
        let (big, _) = &*BIG_CA;
        let old = device("3.2.1");
        assert_eq!(rv(&add_root(&old, big)), i64::from(PT_INVALID_CERT));
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
            Err(Fault::InternalError(PT_CERT_KEY_NOT_MATCH))
        );
        assert_eq!(
            create_credential_context(&d, &credential_input(handle + 100, COLLECTION_NAME)),
            Err(Fault::InternalError(PT_NOT_FOUND))
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
        assert_eq!(d.with_state(|s| s.nvram.certs.tls_certificate), Some(other));
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
            Err(Fault::InternalError(PT_NOT_PERMITTED))
        );
        let mut plain = remote.clone();
        plain.set("AcceptNonSecureConnections", "true");
        assert_eq!(
            put_tls_settings(&d, &remote, &plain),
            Err(Fault::InternalError(PT_NOT_PERMITTED))
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
}

/// The same operations as clients put them on the wire.
#[cfg(test)]
mod wire {
    use super::*;
    use crate::{WsmanState, handle};
    use amtemu_model::device::users::Caller;
    use amtemu_model::testing::device;

    const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

    fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
        format!(
            r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
        )
    }

    fn invoke(method: &str, args: &str) -> String {
        request(
            &format!("{AMT}{PKM_SERVICE}/{method}"),
            PKM_SERVICE,
            "",
            &format!(r#"<h:{method}_INPUT xmlns:h="{AMT}{PKM_SERVICE}">{args}</h:{method}_INPUT>"#),
        )
    }

    /// MeshCentral's Create body (amtmanager.js), with its spelling of the
    /// collection's name.
    fn create(cert_handle: u32) -> String {
        let reference = |class: &str, selector: &str| {
            format!(
                "<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{class}</w:ResourceURI><w:SelectorSet>{selector}</w:SelectorSet></a:ReferenceParameters>"
            )
        };
        request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            CREDENTIAL,
            "",
            &format!(
                r#"<h:AMT_TLSCredentialContext xmlns:h="{AMT}{CREDENTIAL}"><h:ElementInContext>{}</h:ElementInContext><h:ElementProvidingContext>{}</h:ElementProvidingContext></h:AMT_TLSCredentialContext>"#,
                reference(
                    CERTIFICATE,
                    &format!(
                        r#"<w:Selector Name="InstanceID">{CERTIFICATE_ID}{cert_handle}</w:Selector>"#
                    )
                ),
                reference(
                    COLLECTION,
                    &format!(
                        r#"<w:Selector Name="ElementName">{COLLECTION_NAME_CLIENTS}</w:Selector>"#
                    )
                ),
            ),
        )
    }

    #[test]
    fn clients_configure_tls_over_the_wire() {
        let d = device("11.8");
        let state = WsmanState::default();
        let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

        let reply = send(invoke(
            "GenerateKeyPair",
            "<h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength>",
        ));
        assert!(reply.fault.is_none(), "{}", reply.xml);
        assert!(reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"));
        let (key, pkcs8) = d.with_state(|s| {
            (
                s.nvram.certs.keys[0].handle,
                s.nvram.certs.keys[0].pkcs8.clone(),
            )
        });
        assert!(reply.xml.contains(&format!("{KEY_ID}{key}<")));

        // A KeyPair reference argument, as go-wsman-messages writes it.
        let template = pki::certificate_request(&pkcs8, Some("amt"), None).unwrap();
        let reply = send(invoke(
            "GeneratePKCS10RequestEx",
            &format!(
                r#"<h:KeyPair><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{KEY_PAIR}</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{KEY_ID}{key}</w:Selector></w:SelectorSet></a:ReferenceParameters></h:KeyPair><h:SigningAlgorithm>1</h:SigningAlgorithm><h:NullSignedCertificateRequest>{}</h:NullSignedCertificateRequest>"#,
                BASE64.encode(template)
            ),
        ));
        assert!(
            reply.xml.contains("<g:SignedCertificateRequest>"),
            "{}",
            reply.xml
        );

        let (ca, ca_key) = pki::self_signed_ca("Wire CA").unwrap();
        let leaf =
            pki::issue_certificate(&ca, &ca_key, "amt", &[], &pkcs8, pki::Validity::Years(10))
                .unwrap();
        let reply = send(invoke(
            "AddCertificate",
            &format!(
                "<h:CertificateBlob>{}</h:CertificateBlob>",
                BASE64.encode(&leaf)
            ),
        ));
        assert!(reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"));
        let cert = d.with_state(|s| s.nvram.certs.certificates[0].handle);

        let reply = send(create(cert));
        assert!(reply.fault.is_none(), "{}", reply.xml);
        assert!(reply.xml.contains("<g:ResourceCreated>"));
        assert!(reply.xml.contains(COLLECTION_NAME));
        assert_eq!(send(create(cert)).fault, Some(Fault::AlreadyExists));

        // Put of the LMS settings, selected by an InstanceID header selector
        // (DMT), TrustedCN repeated.
        let reply = send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
            TLS_SETTINGS,
            &format!(
                r#"<w:SelectorSet><w:Selector Name="InstanceID">{TLS_LOCAL}</w:Selector></w:SelectorSet>"#
            ),
            &format!(
                r#"<h:AMT_TLSSettingData xmlns:h="{AMT}{TLS_SETTINGS}"><h:ElementName>{TLS_LOCAL}</h:ElementName><h:InstanceID>{TLS_LOCAL}</h:InstanceID><h:MutualAuthentication>false</h:MutualAuthentication><h:Enabled>true</h:Enabled><h:TrustedCN>a</h:TrustedCN><h:TrustedCN>b</h:TrustedCN></h:AMT_TLSSettingData>"#
            ),
        ));
        assert!(reply.fault.is_none(), "{}", reply.xml);
        assert!(
            reply
                .xml
                .contains("<g:TrustedCN>a</g:TrustedCN><g:TrustedCN>b</g:TrustedCN>")
        );
        assert!(d.with_state(|s| {
            s.nvram
                .pending_tls
                .as_ref()
                .is_some_and(|t| t.local.enabled)
        }));

        // Delete of the credential context by its reference selector.
        let reply = send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
            CREDENTIAL,
            &format!(
                r#"<w:SelectorSet><w:Selector Name="ElementInContext"><a:EndpointReference><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}{CERTIFICATE}</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{CERTIFICATE_ID}{cert}</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector></w:SelectorSet>"#
            ),
            "",
        ));
        assert!(reply.fault.is_none(), "{}", reply.xml);
        assert_eq!(d.with_state(|s| s.nvram.certs.tls_certificate), None);
    }
}
