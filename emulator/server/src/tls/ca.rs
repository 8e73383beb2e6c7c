//! The emulator's own certificate authority. It is created on first start,
//! kept in a directory so users can trust it once (`amtemu ca export`), and
//! issues each device the RSA 2048 certificate firmware would present.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use rustls::pki_types::CertificateDer;

use amtemu_model::device::TlsIdentity;
use amtemu_model::pki;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("issuing a device certificate: {0}")]
    Issue(#[from] pki::PkiError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a PEM certificate and key written by amtemu")]
    Corrupt(PathBuf),
}

/// The CA's certificate and key, and the keys of the certificates it issues.
#[derive(Debug)]
pub struct Ca {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    key_pem: String,
    keys: KeyPool,
}

/// How many RSA keys a fleet's devices share unless told otherwise.
pub const DEFAULT_KEY_POOL: usize = 8;

/// The RSA keys of devices' own certificates. Generating an RSA 2048 key
/// takes about 60 ms (150 ms at p99 on two busy cores), which would be most
/// of a device's first TLS handshake and cannot keep up with a fleet being
/// probed; so devices share keys from a small pool, picked by name, while
/// each still gets its own certificate (serial, names, dates). An empty pool
/// gives every device a key of its own.
#[derive(Debug)]
struct KeyPool {
    slots: Vec<std::sync::OnceLock<Option<Vec<u8>>>>,
}

impl KeyPool {
    fn new(size: usize) -> KeyPool {
        KeyPool {
            slots: (0..size).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// Generates every key of the pool now (a fleet does it in the
    /// background at start, so first handshakes do not wait for one).
    fn fill(&self) {
        for slot in &self.slots {
            slot.get_or_init(|| pki::generate_rsa_key(2048).map(|k| k.pkcs8).ok());
        }
    }

    /// The PKCS#8 key for the device named `seed`. Blocks while its slot's
    /// key is first generated (callers are on blocking threads).
    fn key_for(&self, seed: &str) -> Result<Vec<u8>, CaError> {
        use std::hash::{Hash, Hasher};
        let fresh = || pki::generate_rsa_key(2048).map(|k| k.pkcs8);
        if self.slots.is_empty() {
            return Ok(fresh()?);
        }
        // SipHash with fixed keys: the same device lands in the same slot
        // in every run.
        let mut hasher = std::hash::DefaultHasher::new();
        seed.hash(&mut hasher);
        let slot = &self.slots[(hasher.finish() % self.slots.len() as u64) as usize];
        match slot.get_or_init(|| fresh().ok()) {
            Some(key) => Ok(key.clone()),
            None => Ok(fresh()?),
        }
    }
}

const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca-key.pem";

impl Ca {
    /// Creates a new CA in memory.
    pub fn generate() -> Result<Ca, CaError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "amtemu");
        dn.push(DnType::CommonName, "amtemu device CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            keys: KeyPool::new(DEFAULT_KEY_POOL),
        })
    }

    /// Loads the CA kept in `dir`, creating and saving one if there is none.
    pub fn load_or_create(dir: &Path) -> Result<Ca, CaError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CaError::Io { path, source }
        };
        if cert_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
                .map(|c: CertificateDer| c.to_vec())
                .map_err(|_| CaError::Corrupt(cert_path.clone()))?;
            KeyPair::from_pem(&key_pem).map_err(|_| CaError::Corrupt(key_path.clone()))?;
            return Ok(Ca {
                cert_der: der,
                cert_pem,
                key_pem,
                keys: KeyPool::new(DEFAULT_KEY_POOL),
            });
        }
        let ca = Ca::generate()?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        crate::store::write_atomically(&key_path, ca.key_pem.as_bytes(), true)
            .map_err(io(&key_path))?;
        crate::store::write_atomically(&cert_path, ca.cert_pem.as_bytes(), false)
            .map_err(io(&cert_path))?;
        Ok(ca)
    }

    /// Shares `size` RSA keys between the devices' certificates (0: a key
    /// of its own for each device).
    pub fn with_key_pool(mut self, size: usize) -> Ca {
        self.keys = KeyPool::new(size);
        self
    }

    /// Generates the shared keys now; blocks for about 60 ms a key.
    pub fn fill_key_pool(&self) {
        self.keys.fill();
    }

    /// Issues the TLS identity of the device named `device`: an RSA 2048
    /// key (see [`KeyPool`]) and a certificate for its FQDN (and its
    /// address), signed by this CA.
    pub fn issue(
        &self,
        device: &str,
        fqdn: &str,
        address: &str,
        validity: pki::Validity,
    ) -> Result<TlsIdentity, CaError> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?.serialize_der();
        let key_pkcs8 = self.keys.key_for(device)?;
        let mut names = vec![fqdn.to_string()];
        if !address.is_empty() && address != fqdn {
            names.push(address.to_string());
        }
        let cert =
            pki::issue_certificate(&self.cert_der, &ca_key, fqdn, &names, &key_pkcs8, validity)?;
        Ok(TlsIdentity {
            chain: vec![cert, self.cert_der.clone()],
            key_pkcs8,
        })
    }
}

/// Where the CA lives unless told otherwise: `$AMTEMU_HOME`, else
/// `$XDG_DATA_HOME/amtemu`, else `~/.local/share/amtemu`.
pub fn default_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("AMTEMU_HOME") {
        return PathBuf::from(home);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(data).join("amtemu");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/amtemu")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_kept_and_reloaded_and_issues_device_certificates() {
        let dir = std::env::temp_dir().join(format!("amtemu-ca-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = Ca::load_or_create(&dir).unwrap();
        let again = Ca::load_or_create(&dir).unwrap();
        assert_eq!(first.cert_der, again.cert_der);
        let id = again
            .issue(
                "amt-0001",
                "amt-0001.vpro.test",
                "127.0.0.1",
                pki::Validity::Years(10),
            )
            .unwrap();
        assert_eq!(id.chain.len(), 2);
        let (_, cert) = x509_parser::parse_x509_certificate(&id.chain[0]).unwrap();
        assert!(cert.subject().to_string().contains("CN=amt-0001.vpro.test"));
        assert_eq!(
            cert.issuer().to_string(),
            x509_parser::parse_x509_certificate(&first.cert_der)
                .unwrap()
                .1
                .subject()
                .to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_share_pooled_keys_but_never_certificates() {
        let ca = Ca::generate().unwrap().with_key_pool(1);
        let issue = |name: &str, validity| {
            ca.issue(name, &format!("{name}.vpro.test"), "127.0.0.1", validity)
                .unwrap()
        };
        let (a, b) = (
            issue("a", pki::Validity::Years(10)),
            issue("b", pki::Validity::Years(10)),
        );
        assert_eq!(a.key_pkcs8, b.key_pkcs8);
        assert_ne!(a.chain[0], b.chain[0]);
        let expired = issue("a", pki::Validity::Expired);
        let (_, cert) = x509_parser::parse_x509_certificate(&expired.chain[0]).unwrap();
        assert!(cert.validity().not_after < x509_parser::time::ASN1Time::now());

        let own = Ca::generate().unwrap().with_key_pool(0);
        let (c, d) = (
            own.issue("c", "c", "", pki::Validity::Years(1)).unwrap(),
            own.issue("c", "c", "", pki::Validity::Years(1)).unwrap(),
        );
        assert_ne!(c.key_pkcs8, d.key_pkcs8);
    }
}
