//! AMT_KerberosSettingData: the realm, the key shared with the KDC and the
//! clock tolerance the device accepts Kerberos tickets with.

use serde::{Deserialize, Serialize};

use crate::values::{BoundedString, check_text};

/// Realm and principal names. The class reference we have gives no MaxLen;
/// 255 bytes is DNS's bound for the names they are made of.
pub type KerberosName = BoundedString<255>;

/// AMT_KerberosSettingData: what the network ports' Kerberos acceptor
/// (amtemu-server's `kerberos`) checks tickets with, and what consoles read
/// back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KerberosSettings {
    pub realm_name: KerberosName,
    pub service_principal_names: Vec<KerberosName>,
    /// 0 HTTP, 1 HTTPS, 2 SOL/IDER, 3 SOL/IDER over TLS.
    pub service_principal_protocols: Vec<u16>,
    pub key_version: u32,
    /// 0: RC4 encryption with HMAC authentication (the only value).
    pub encryption_algorithm: u16,
    /// The 128-bit key shared with the KDC (write-only on the wire).
    pub master_key: Option<Vec<u8>>,
    /// Key generation from a passphrase (RFC 3961/3962); write-only.
    pub passphrase: Option<String>,
    pub salt: Option<String>,
    pub iteration_count: u32,
    /// Minutes the clocks may differ.
    pub maximum_clock_tolerance: u32,
    pub enabled: bool,
    /// GetCredentialCacheState / SetCredentialCacheState.
    pub credential_cache: bool,
}

impl Default for KerberosSettings {
    fn default() -> Self {
        KerberosSettings {
            realm_name: KerberosName::default(),
            service_principal_names: Vec::new(),
            service_principal_protocols: Vec::new(),
            key_version: 0,
            encryption_algorithm: 0,
            master_key: None,
            passphrase: None,
            salt: None,
            iteration_count: 4096,
            maximum_clock_tolerance: 5,
            enabled: false,
            credential_cache: false,
        }
    }
}

impl KerberosSettings {
    /// RC4-HMAC, AES128-CTS-HMAC-SHA1-96, AES256-CTS-HMAC-SHA1-96.
    pub const SUPPORTED_ALGORITHMS: [u16; 3] = [0, 1, 2];

    /// What the keys configured allow: RC4 from a master key, and the AES
    /// suites as well when a passphrase and salt were given.
    pub fn configured_algorithms(&self) -> Vec<u16> {
        let mut out = Vec::new();
        if self.master_key.is_some() || self.passphrase.is_some() {
            out.push(0);
        }
        if self.passphrase.is_some() && self.salt.is_some() {
            out.extend([1, 2]);
        }
        out
    }
}

/// A Put of AMT_KerberosSettingData: the properties it carries; absent ones
/// keep their values. The write-only key material is only ever replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KerberosUpdate {
    pub realm_name: Option<KerberosName>,
    pub key_version: Option<u32>,
    pub maximum_clock_tolerance: Option<u32>,
    pub iteration_count: Option<u32>,
    pub encryption_algorithm: Option<u16>,
    pub enabled: Option<bool>,
    pub service_principal_names: Option<Vec<KerberosName>>,
    pub service_principal_protocols: Option<Vec<u16>>,
    pub master_key: Option<Vec<u8>>,
    pub passphrase: Option<String>,
    pub salt: Option<String>,
}

impl KerberosSettings {
    /// The settings with `update` applied, if they are consistent: RC4 is
    /// the only encryption algorithm; each principal name has a protocol
    /// (0 to 3) when protocols are given; a clock tolerance; and enabled
    /// settings need a realm name and a key (a master key, or a passphrase
    /// with a salt). None when they are not.
    pub fn updated(&self, update: KerberosUpdate) -> Option<KerberosSettings> {
        let mut k = self.clone();
        let KerberosUpdate {
            realm_name,
            key_version,
            maximum_clock_tolerance,
            iteration_count,
            encryption_algorithm,
            enabled,
            service_principal_names,
            service_principal_protocols,
            master_key,
            passphrase,
            salt,
        } = update;
        replace(&mut k.realm_name, realm_name);
        replace(&mut k.key_version, key_version);
        replace(&mut k.maximum_clock_tolerance, maximum_clock_tolerance);
        replace(&mut k.iteration_count, iteration_count);
        replace(&mut k.encryption_algorithm, encryption_algorithm);
        replace(&mut k.enabled, enabled);
        replace(&mut k.service_principal_names, service_principal_names);
        replace(
            &mut k.service_principal_protocols,
            service_principal_protocols,
        );
        // Write-only text, kept as given: it must still be text.
        let text_ok = |t: &Option<String>| t.as_deref().is_none_or(|t| check_text(t, 255).is_ok());
        if !text_ok(&passphrase) || !text_ok(&salt) {
            return None;
        }
        if let Some(key) = master_key {
            if key.len() != 16 {
                return None;
            }
            k.master_key = Some(key);
        }
        k.passphrase = passphrase.or(k.passphrase);
        k.salt = salt.or(k.salt);
        let spn_ok = k.service_principal_protocols.iter().all(|p| *p <= 3)
            && (k.service_principal_protocols.is_empty()
                || k.service_principal_protocols.len() == k.service_principal_names.len());
        let keyed = k.master_key.is_some() || (k.passphrase.is_some() && k.salt.is_some());
        let ok = k.encryption_algorithm == 0
            && spn_ok
            && k.maximum_clock_tolerance != 0
            && (!k.enabled || (!k.realm_name.is_empty() && keyed));
        ok.then_some(k)
    }
}

fn replace<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
