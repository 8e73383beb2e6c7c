//! The device's certificate store: certificates (trusted roots and others),
//! key pairs it holds, which certificate its TLS server presents, and the
//! TLS policy; with the rules the firmware checks before changing them
//! ([`Device`]'s certificate methods, refused with a [`CertRefusal`]). The
//! cryptography lives in [`crate::pki`].

use crate::values::check_text;
use serde::{Deserialize, Serialize};

use super::{Device, Port};
use crate::pki;

/// Why the device refused a change to its certificates, keys or TLS
/// settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    #[error("not an X.509 certificate")]
    NotACertificate,
    /// A trusted root that is neither a CA nor self-issued.
    #[error("not a CA certificate")]
    NotACa,
    /// A trusted root whose RSA key is longer than the firmware takes.
    #[error("the CA key is longer than the firmware takes")]
    KeyTooLong,
    #[error("already in the store")]
    Duplicate,
    #[error("the store is full")]
    StoreFull,
    #[error("not a usable RSA private key")]
    NotAKey,
    /// Key generation other than RSA-2048.
    #[error("only RSA-2048 key pairs are generated")]
    UnsupportedKey,
    #[error("key generation failed")]
    KeyGenerationFailed,
    #[error("no such key pair")]
    NoSuchKey,
    #[error("no such certificate")]
    NoSuchCertificate,
    /// The console's certification request could not be read.
    #[error("not a PKCS#10 certification request")]
    BadRequest,
    #[error("the certification request could not be made")]
    RequestFailed,
    /// A firmware-provisioned certificate, which cannot be deleted.
    #[error("the certificate is read-only")]
    ReadOnly,
    /// The TLS credential or the posture signer uses it.
    #[error("in use by the TLS credential")]
    InUse,
    /// The TLS credential must be a leaf certificate.
    #[error("not a leaf certificate")]
    NotALeaf,
    /// The TLS credential's private key is not on the device.
    #[error("the device holds no key for the certificate")]
    NoMatchingKey,
    #[error("a TLS credential is already configured")]
    CredentialExists,
    /// Firmware without plain HTTP keeps network TLS on and non-TLS off.
    #[error("network TLS cannot be turned off on this firmware")]
    TlsRequired,
    /// A TrustedCN entry that no certificate's common name can be: longer
    /// than X.509's 64 (ub-common-name) or not text.
    #[error("a trusted common name is not one")]
    BadTrustedCn,
}

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
    /// The certificate AMT_EACCredentialContext names as the endpoint
    /// access control posture signer; absent in older state files.
    #[serde(default)]
    pub posture_signer: Option<u32>,
    next_handle: u32,
}

/// Firmware keeps a small store; more is refused
/// ([`CertRefusal::StoreFull`]).
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
        if self.posture_signer == Some(handle) {
            self.posture_signer = None;
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

    /// The key pair held for a stored certificate, if any.
    pub fn key_for_certificate(&self, handle: u32) -> Option<u32> {
        let info = pki::parse_certificate(&self.certificate(handle)?.der).ok()?;
        self.key_for_public(&info.public_key).map(|k| k.handle)
    }

    /// Stores a certificate unless it is there already or the store is full.
    fn store_certificate(&mut self, der: &[u8], trusted_root: bool) -> Result<u32, CertRefusal> {
        if self.certificate_by_der(der).is_some() {
            return Err(CertRefusal::Duplicate);
        }
        if self.certificates.len() >= MAX_CERTIFICATES {
            return Err(CertRefusal::StoreFull);
        }
        Ok(self.add_certificate(der.to_vec(), trusted_root))
    }

    /// Stores a key pair unless its public key is held already or the store
    /// is full.
    fn store_key(&mut self, key: pki::GeneratedKey) -> Result<u32, CertRefusal> {
        if self.key_for_public(&key.public_der).is_some() {
            return Err(CertRefusal::Duplicate);
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(CertRefusal::StoreFull);
        }
        Ok(self.add_key(key.pkcs8, key.public_der))
    }

    /// Whether a service names the certificate: the class reference says a
    /// certificate "cannot be deleted while it is being used by any service
    /// (TLS/EAC)".
    fn in_use(&self, handle: u32) -> bool {
        self.tls_certificate == Some(handle) || self.posture_signer == Some(handle)
    }

    /// A certificate the device signs with (the TLS server's, the posture
    /// signer's), checked: it exists, is a leaf (neither a trusted root nor
    /// a CA) and its key is held.
    fn check_signing_leaf(&self, handle: u32) -> Result<(), CertRefusal> {
        let stored = self
            .certificate(handle)
            .ok_or(CertRefusal::NoSuchCertificate)?;
        let info = pki::parse_certificate(&stored.der).map_err(|_| CertRefusal::NotACertificate)?;
        if stored.trusted_root || info.is_ca {
            return Err(CertRefusal::NotALeaf);
        }
        if self.key_for_public(&info.public_key).is_none() {
            return Err(CertRefusal::NoMatchingKey);
        }
        Ok(())
    }
}

/// The public half of a key pair the device holds: what may be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyPair {
    pub handle: u32,
    /// PKCS#1 `RSAPublicKey` DER (AMT's DERKey).
    pub public_der: Vec<u8>,
}

/// The two interfaces a TLS policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsInterface {
    /// The network (802.3) interface.
    Remote,
    /// The local (LMS) interface.
    Local,
}

/// What a Put of AMT_TLSSettingData asks to change; `None` keeps what is
/// there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettingsChange {
    pub enabled: Option<bool>,
    pub mutual_authentication: Option<bool>,
    /// Read-only on the local interface: ignored there.
    pub accept_non_secure: Option<bool>,
    /// Replaces the names there were (empty clears them).
    pub trusted_cn: Vec<String>,
}

/// The operations behind WS-Man methods announce their change
/// ([`Device::changed`]); the WS-Man layer announces Put, Create and Delete
/// itself.
impl Device {
    /// The certificates in the store.
    pub fn certificates(&self) -> Vec<StoredCertificate> {
        self.with_state(|s| s.nvram.certs.certificates.clone())
    }

    /// The public halves of the key pairs the device holds.
    pub fn key_pairs(&self) -> Vec<PublicKeyPair> {
        self.with_state(|s| {
            s.nvram
                .certs
                .keys
                .iter()
                .map(|k| PublicKeyPair {
                    handle: k.handle,
                    public_der: k.public_der.clone(),
                })
                .collect()
        })
    }

    /// Each stored certificate whose key pair the device holds, with that
    /// key pair: (certificate, key).
    pub fn certificate_keys(&self) -> Vec<(u32, u32)> {
        let store = self.with_state(|s| s.nvram.certs.clone());
        store
            .certificates
            .iter()
            .filter_map(|c| Some((c.handle, store.key_for_certificate(c.handle)?)))
            .collect()
    }

    /// The certificate the TLS credential context names, if one is set.
    pub fn tls_credential(&self) -> Option<u32> {
        self.with_state(|s| s.nvram.certs.tls_credential().map(|c| c.handle))
    }

    /// Adds a trust anchor (AddTrustedRootCertificate): a CA certificate
    /// (basicConstraints CA, or self-issued) whose RSA key is no longer than
    /// the firmware's `max_ca_key_bits`, not already stored, while the store
    /// has room.
    pub fn add_trusted_root(&self, der: &[u8]) -> Result<u32, CertRefusal> {
        let info = pki::parse_certificate(der).map_err(|_| CertRefusal::NotACertificate)?;
        if !(info.is_ca || info.self_issued) {
            return Err(CertRefusal::NotACa);
        }
        if info.is_rsa && info.key_bits > self.firmware.max_ca_key_bits {
            return Err(CertRefusal::KeyTooLong);
        }
        let handle = self.with_state(|s| s.nvram.certs.store_certificate(der, true))?;
        self.changed("AMT_PublicKeyCertificate");
        Ok(handle)
    }

    /// Adds a leaf or intermediate certificate (AddCertificate). The device
    /// need not hold its key: that is required of the TLS credential.
    pub fn add_certificate(&self, der: &[u8]) -> Result<u32, CertRefusal> {
        pki::parse_certificate(der).map_err(|_| CertRefusal::NotACertificate)?;
        let handle = self.with_state(|s| s.nvram.certs.store_certificate(der, false))?;
        self.changed("AMT_PublicKeyCertificate");
        Ok(handle)
    }

    /// Stores an RSA private key a client uploads (AddKey), PKCS#1 or
    /// PKCS#8 DER.
    pub fn add_key(&self, der: &[u8]) -> Result<u32, CertRefusal> {
        let key = pki::import_rsa_key(der).map_err(|_| CertRefusal::NotAKey)?;
        let handle = self.with_state(|s| s.nvram.certs.store_key(key))?;
        self.changed("AMT_PublicPrivateKeyPair");
        Ok(handle)
    }

    /// Makes a key pair (GenerateKeyPair): RSA (`algorithm` 0) with 2048
    /// bits is what every generation before 22 makes; anything else is
    /// unsupported. The key is made at once.
    pub fn generate_key_pair(&self, algorithm: i64, bits: i64) -> Result<u32, CertRefusal> {
        if (algorithm, bits) != (0, 2048) {
            return Err(CertRefusal::UnsupportedKey);
        }
        // Generation is slow, so a full store refuses before it; storing
        // checks again.
        if self.with_state(|s| s.nvram.certs.keys.len() >= MAX_KEYS) {
            return Err(CertRefusal::StoreFull);
        }
        let key = pki::generate_rsa_key(2048).map_err(|_| CertRefusal::KeyGenerationFailed)?;
        let handle = self.with_state(|s| s.nvram.certs.store_key(key))?;
        self.changed("AMT_PublicPrivateKeyPair");
        Ok(handle)
    }

    /// A PKCS#10 request signed by the key pair `key`, keeping the subject
    /// and names of the console's null-signed `template`
    /// (GeneratePKCS10RequestEx).
    pub fn certificate_request(&self, key: u32, template: &[u8]) -> Result<Vec<u8>, CertRefusal> {
        let pkcs8 = self
            .with_state(|s| s.nvram.certs.key(key).map(|k| k.pkcs8.clone()))
            .ok_or(CertRefusal::NoSuchKey)?;
        pki::certificate_request(&pkcs8, None, Some(template)).map_err(|e| match e {
            pki::PkiError::BadRequest(_) => CertRefusal::BadRequest,
            _ => CertRefusal::RequestFailed,
        })
    }

    /// Deletes a certificate, unless it is read-only (provisioned by
    /// firmware) or the TLS credential names it.
    pub fn delete_certificate(&self, handle: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            let cert = certs
                .certificate(handle)
                .ok_or(CertRefusal::NoSuchCertificate)?;
            if cert.read_only {
                return Err(CertRefusal::ReadOnly);
            }
            if certs.in_use(handle) {
                return Err(CertRefusal::InUse);
            }
            certs.remove_certificate(handle);
            Ok(())
        })
    }

    /// Deletes a key pair, unless it is the key of the TLS credential or of
    /// the posture signer.
    pub fn delete_key_pair(&self, handle: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            certs.key(handle).ok_or(CertRefusal::NoSuchKey)?;
            let in_use = [certs.tls_certificate, certs.posture_signer]
                .into_iter()
                .flatten()
                .any(|c| certs.key_for_certificate(c) == Some(handle));
            if in_use {
                return Err(CertRefusal::InUse);
            }
            certs.remove_key(handle);
            Ok(())
        })
    }

    /// Names the certificate the TLS server presents, where none is named
    /// yet: a leaf whose key the device holds.
    pub fn create_tls_credential(&self, certificate: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            certs.check_signing_leaf(certificate)?;
            if certs.tls_credential().is_some() {
                return Err(CertRefusal::CredentialExists);
            }
            certs.tls_certificate = Some(certificate);
            Ok(())
        })
    }

    /// Names another certificate for the TLS server, checked as
    /// [`Device::create_tls_credential`] checks it.
    pub fn replace_tls_credential(&self, certificate: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            certs.check_signing_leaf(certificate)?;
            certs.tls_certificate = Some(certificate);
            Ok(())
        })
    }

    /// The TLS server goes back to the device's own certificate.
    pub fn remove_tls_credential(&self) {
        self.with_state(|s| s.nvram.certs.tls_certificate = None);
    }

    /// The certificate that signs endpoint access control postures, if one
    /// is set (and still stored).
    pub fn posture_signer(&self) -> Option<u32> {
        self.with_state(|s| {
            let certs = &s.nvram.certs;
            certs
                .posture_signer
                .filter(|h| certs.certificate(*h).is_some())
        })
    }

    /// Sets the posture signer (a Create of AMT_EACCredentialContext) where
    /// none is set: a leaf whose key the device holds, since the device
    /// signs postures with that key. Firmware has one signer, so a second
    /// is refused as a second TLS credential is.
    pub fn create_posture_signer(&self, certificate: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            certs.check_signing_leaf(certificate)?;
            if certs.posture_signer.is_some() {
                return Err(CertRefusal::CredentialExists);
            }
            certs.posture_signer = Some(certificate);
            Ok(())
        })
    }

    /// Names another posture signer (a Put), checked as
    /// [`Device::create_posture_signer`] checks it.
    pub fn replace_posture_signer(&self, certificate: u32) -> Result<(), CertRefusal> {
        self.with_state(|s| {
            let certs = &mut s.nvram.certs;
            certs.check_signing_leaf(certificate)?;
            certs.posture_signer = Some(certificate);
            Ok(())
        })
    }

    /// Clears the posture signer (a Delete).
    pub fn remove_posture_signer(&self) {
        self.with_state(|s| s.nvram.certs.posture_signer = None);
    }

    /// The TLS policy as a reader sees it: what was staged for CommitChanges
    /// if anything was, else what is in force.
    pub fn staged_tls_settings(&self) -> TlsSettings {
        self.with_state(|s| {
            s.nvram
                .pending_tls
                .clone()
                .unwrap_or_else(|| s.nvram.tls.clone())
        })
    }

    /// Stages a change to one interface's TLS policy for CommitChanges.
    ///
    /// On firmware without plain HTTP (16.1+) the network interface cannot
    /// turn TLS off or accept non-TLS connections; non-TLS connections stay
    /// refused whatever else changes.
    pub fn stage_tls_settings(
        &self,
        interface: TlsInterface,
        change: TlsSettingsChange,
    ) -> Result<(), CertRefusal> {
        let tls_only = !self.firmware.opens(Port::Http);
        if change
            .trusted_cn
            .iter()
            .any(|cn| check_text(cn, 64).is_err())
        {
            return Err(CertRefusal::BadTrustedCn);
        }
        self.with_state(|s| {
            let mut pending = s
                .nvram
                .pending_tls
                .clone()
                .unwrap_or_else(|| s.nvram.tls.clone());
            let data = match interface {
                TlsInterface::Remote => &mut pending.remote,
                TlsInterface::Local => &mut pending.local,
            };
            if let Some(enabled) = change.enabled {
                data.enabled = enabled;
            }
            if let Some(mutual) = change.mutual_authentication {
                data.mutual_authentication = mutual;
            }
            if interface == TlsInterface::Remote {
                if let Some(accept) = change.accept_non_secure {
                    data.accept_non_secure = accept;
                }
                if tls_only {
                    if !data.enabled || change.accept_non_secure == Some(true) {
                        return Err(CertRefusal::TlsRequired);
                    }
                    data.accept_non_secure = false;
                }
            }
            data.trusted_cn = change.trusted_cn;
            s.nvram.pending_tls = Some(pending);
            Ok(())
        })
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

#[cfg(test)]
mod tests;
