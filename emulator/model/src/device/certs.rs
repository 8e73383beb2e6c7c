//! The device's certificate store: certificates (trusted roots and others),
//! key pairs it holds, and which certificate its TLS server presents. Plain
//! data; the cryptography lives in `tls::pki`.

use serde::{Deserialize, Serialize};

/// An X.509 certificate in the store (AMT_PublicKeyCertificate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCertificate {
    pub handle: u32,
    /// DER bytes.
    pub der: Vec<u8>,
    /// Added with AddTrustedRootCertificate (a trust anchor).
    pub trusted_root: bool,
    /// Provisioned by firmware and not deletable.
    pub read_only: bool,
}

/// A key pair the device holds (AMT_PublicPrivateKeyPair).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub handle: u32,
    /// The private key, PKCS#8 DER. Never leaves the device over WS-Man.
    pub pkcs8: Vec<u8>,
    /// The public key as AMT reports it in DERKey (PKCS#1 RSAPublicKey DER).
    pub public_der: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertStore {
    pub certificates: Vec<StoredCertificate>,
    pub keys: Vec<StoredKey>,
    /// The certificate AMT_TLSCredentialContext names for the TLS server,
    /// if one was configured over WS-Man.
    pub tls_certificate: Option<u32>,
    next_handle: u32,
}

/// Firmware keeps a small store; more is refused with PT_STATUS
/// MAX_LIMIT_REACHED (23).
pub const MAX_CERTIFICATES: usize = 32;
pub const MAX_KEYS: usize = 16;

impl CertStore {
    /// A new handle, unique among certificates and keys.
    pub fn next_handle(&mut self) -> u32 {
        self.next_handle += 1;
        self.next_handle
    }

    pub fn certificate(&self, handle: u32) -> Option<&StoredCertificate> {
        self.certificates.iter().find(|c| c.handle == handle)
    }

    pub fn key(&self, handle: u32) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.handle == handle)
    }

    pub fn trusted_roots(&self) -> impl Iterator<Item = &StoredCertificate> {
        self.certificates.iter().filter(|c| c.trusted_root)
    }

    /// The lowest handle no certificate uses. Firmware numbers certificates
    /// and keys separately from 0 (the captures show certificates 0, 1, 2
    /// beside keys 0, 1); reusing a freed slot is inferred.
    pub fn free_certificate_handle(&self) -> u32 {
        (0..)
            .find(|h| self.certificate(*h).is_none())
            .unwrap_or_default()
    }

    /// The lowest handle no key pair uses.
    pub fn free_key_handle(&self) -> u32 {
        (0..).find(|h| self.key(*h).is_none()).unwrap_or_default()
    }

    /// Stores a certificate (DER) under a new handle.
    pub fn add_certificate(&mut self, der: Vec<u8>, trusted_root: bool) -> u32 {
        let handle = self.free_certificate_handle();
        self.certificates.push(StoredCertificate {
            handle,
            der,
            trusted_root,
            read_only: false,
        });
        handle
    }

    /// Stores a key pair under a new handle.
    pub fn add_key(&mut self, pkcs8: Vec<u8>, public_der: Vec<u8>) -> u32 {
        let handle = self.free_key_handle();
        self.keys.push(StoredKey {
            handle,
            pkcs8,
            public_der,
        });
        handle
    }

    pub fn remove_certificate(&mut self, handle: u32) -> Option<StoredCertificate> {
        let at = self.certificates.iter().position(|c| c.handle == handle)?;
        if self.tls_certificate == Some(handle) {
            self.tls_certificate = None;
        }
        Some(self.certificates.remove(at))
    }

    pub fn remove_key(&mut self, handle: u32) -> Option<StoredKey> {
        let at = self.keys.iter().position(|k| k.handle == handle)?;
        Some(self.keys.remove(at))
    }

    /// The certificate with exactly these DER bytes.
    pub fn certificate_by_der(&self, der: &[u8]) -> Option<&StoredCertificate> {
        self.certificates.iter().find(|c| c.der == der)
    }

    /// The key pair whose public half (PKCS#1 DER) is `public_der`: the key
    /// for a certificate certifying that public key.
    pub fn key_for_public(&self, public_der: &[u8]) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.public_der == public_der)
    }

    /// The certificate the TLS credential context names, if it is stored.
    pub fn tls_credential(&self) -> Option<&StoredCertificate> {
        self.tls_certificate.and_then(|h| self.certificate(h))
    }
}

/// One AMT_TLSSettingData instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettingData {
    pub enabled: bool,
    /// Whether plain 16992 keeps serving while TLS is on.
    pub accept_non_secure: bool,
    pub mutual_authentication: bool,
    /// Client certificate common names accepted under mutual TLS; empty
    /// means any that chains to a trusted root.
    pub trusted_cn: Vec<String>,
}

impl TlsSettingData {
    /// Whether the plain ports (16992, 16994) stop serving: TLS is on and
    /// non-secure connections are no longer accepted.
    pub fn tls_only(&self) -> bool {
        self.enabled && !self.accept_non_secure
    }
}

/// The TLS policy of the network (802.3) and local (LMS) interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    pub remote: TlsSettingData,
    pub local: TlsSettingData,
}

impl Default for TlsSettings {
    /// A provisioned device with TLS on and plain HTTP still accepted, so
    /// both 16992 and 16993 answer.
    fn default() -> Self {
        TlsSettings {
            remote: TlsSettingData {
                enabled: true,
                accept_non_secure: true,
                mutual_authentication: false,
                trusted_cn: Vec::new(),
            },
            local: TlsSettingData {
                enabled: false,
                accept_non_secure: true,
                mutual_authentication: false,
                trusted_cn: Vec::new(),
            },
        }
    }
}
