//! The keys a Kerberos exchange uses, by encryption type: AES-128/256
//! (RFC 3962, picky-krb's) and RC4-HMAC (RFC 4757: AMT's `MasterKey`, the
//! NT hash of the service account's password), composed here from the
//! RustCrypto primitives (HMAC-MD5, RC4) since picky-krb has no RC4.

use std::sync::Mutex;

use hmac::{Hmac, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use picky_krb::crypto::{ChecksumSuite, CipherSuite};
use rc4::{KeyInit, Rc4, StreamCipher};

use amtemu_model::device::users::KerberosSettings;

use super::Refusal;

/// Encryption types (RFC 3961/3962/4757).
pub const AES128: i64 = 17;
pub const AES256: i64 = 18;
pub const RC4_HMAC: i64 = 23;
/// The PAC signature types of those keys (MS-PAC 2.8).
const HMAC_SHA1_96_AES128: i32 = 15;
const HMAC_SHA1_96_AES256: i32 = 16;
const HMAC_MD5: i32 = -138;

/// One key and its encryption type.
#[derive(Clone)]
pub enum Key {
    Aes(CipherSuite, Vec<u8>),
    Rc4([u8; 16]),
}

impl Key {
    /// The device's key for a ticket of this encryption type: AES keys from
    /// the passphrase and salt, the RC4 key from the master key (or the NT
    /// hash of the passphrase).
    pub fn device(settings: &KerberosSettings, etype: i64) -> Result<Key, Refusal> {
        match etype {
            AES128 | AES256 => {
                let suite = if etype == AES128 {
                    CipherSuite::Aes128CtsHmacSha196
                } else {
                    CipherSuite::Aes256CtsHmacSha196
                };
                let (Some(passphrase), Some(salt)) = (&settings.passphrase, &settings.salt) else {
                    return Err(Refusal::NoKey(etype));
                };
                let key = suite
                    .cipher()
                    .generate_key_from_password(passphrase.as_bytes(), salt.as_bytes())
                    .map_err(|_| Refusal::NoKey(etype))?;
                Ok(Key::Aes(suite, key))
            }
            RC4_HMAC => {
                if let Some(key) = settings
                    .master_key
                    .as_deref()
                    .and_then(|k| k.try_into().ok())
                {
                    return Ok(Key::Rc4(key));
                }
                let passphrase = settings.passphrase.as_ref().ok_or(Refusal::NoKey(etype))?;
                Ok(Key::Rc4(nt_hash(passphrase)))
            }
            other => Err(Refusal::NoKey(other)),
        }
    }

    /// A session key from a ticket.
    pub fn session(etype: i64, value: &[u8]) -> Result<Key, Refusal> {
        match etype {
            AES128 | AES256 => {
                let suite =
                    CipherSuite::try_from(etype as usize).map_err(|_| Refusal::NoKey(etype))?;
                Ok(Key::Aes(suite, value.to_vec()))
            }
            RC4_HMAC => value
                .try_into()
                .map(Key::Rc4)
                .map_err(|_| Refusal::Malformed("RC4 session key")),
            other => Err(Refusal::NoKey(other)),
        }
    }

    /// The key's bytes (as a ticket's session key carries them).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Aes(_, key) => key.clone(),
            Key::Rc4(key) => key.to_vec(),
        }
    }

    pub fn etype(&self) -> i64 {
        match self {
            Key::Aes(CipherSuite::Aes128CtsHmacSha196, _) => AES128,
            Key::Aes(_, _) => AES256,
            Key::Rc4(_) => RC4_HMAC,
        }
    }

    /// Decrypts and checks the integrity of `data`; None when it does not
    /// verify (another key, or tampered).
    pub fn decrypt(&self, usage: i32, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Key::Aes(suite, key) => suite.cipher().decrypt(key, usage, data).ok(),
            Key::Rc4(key) => rc4_decrypt(key, usage, data),
        }
    }

    pub fn encrypt(&self, usage: i32, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Key::Aes(suite, key) => suite.cipher().encrypt(key, usage, data).ok(),
            Key::Rc4(key) => Some(rc4_encrypt(key, usage, data, rand::random())),
        }
    }

    /// The PAC signature type this key signs with.
    pub fn signature_type(&self) -> i32 {
        match self {
            Key::Aes(CipherSuite::Aes128CtsHmacSha196, _) => HMAC_SHA1_96_AES128,
            Key::Aes(_, _) => HMAC_SHA1_96_AES256,
            Key::Rc4(_) => HMAC_MD5,
        }
    }

    /// A keyed checksum (the PAC's server signature, `usage` 17).
    pub fn checksum(&self, usage: i32, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Key::Aes(suite, key) => {
                let checksum = match suite {
                    CipherSuite::Aes128CtsHmacSha196 => ChecksumSuite::HmacSha196Aes128,
                    _ => ChecksumSuite::HmacSha196Aes256,
                };
                checksum.hasher().checksum(key, usage, data).ok()
            }
            // RFC 4757 section 4: HMAC-MD5 with the "signaturekey" key.
            Key::Rc4(key) => {
                let ksign = hmac_md5(key, &[b"signaturekey\0"]);
                let tmp = Md5::new()
                    .chain_update(ms_usage(usage).to_le_bytes())
                    .chain_update(data)
                    .finalize();
                Some(hmac_md5(&ksign, &[&tmp]).to_vec())
            }
        }
    }
}

/// A device's derived AES keys, so that the 4096 PBKDF2 rounds run once
/// per configuration rather than for every token a client (authenticated
/// or not) sends.
#[derive(Default)]
pub struct KeyCache {
    derived: Mutex<Vec<(i64, String, String, Key)>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl KeyCache {
    /// [`Key::device`], remembered for the passphrase and salt it came from.
    pub fn device(&self, settings: &KerberosSettings, etype: i64) -> Result<Key, Refusal> {
        let (Some(passphrase), Some(salt), AES128 | AES256) =
            (&settings.passphrase, &settings.salt, etype)
        else {
            return Key::device(settings, etype);
        };
        let mut derived = self.derived.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((.., key)) = derived
            .iter()
            .find(|(e, p, s, _)| *e == etype && p == passphrase && s == salt)
        {
            return Ok(key.clone());
        }
        let key = Key::device(settings, etype)?;
        // Old configurations go: two enctypes of the current one stay.
        if derived.len() >= 2 {
            derived.remove(0);
        }
        derived.push((etype, passphrase.clone(), salt.clone(), key.clone()));
        Ok(key)
    }
}

/// Length of a PAC signature of this type (MS-PAC 2.8): 12 bytes for the
/// HMAC-SHA1-96 types, 16 for HMAC-MD5; None for a type not known here.
pub fn signature_len(signature_type: i32) -> Option<usize> {
    match signature_type {
        HMAC_SHA1_96_AES128 | HMAC_SHA1_96_AES256 => Some(12),
        HMAC_MD5 => Some(16),
        _ => None,
    }
}

/// The NT hash: MD4 of the UTF-16LE password (RFC 4757's string-to-key).
pub fn nt_hash(password: &str) -> [u8; 16] {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Md4::digest(&utf16).into()
}

/// RFC 4757's key usage translation.
fn ms_usage(usage: i32) -> u32 {
    match usage {
        3 => 8,
        9 => 8,
        23 => 13,
        u => u as u32,
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn rc4_apply(key: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Rc4::<rc4::consts::U16>::new(key.into());
    cipher.apply_keystream(data);
}

/// RFC 4757 section 5: checksum (16), then the encrypted confounder (8)
/// and plaintext.
fn rc4_decrypt(key: &[u8; 16], usage: i32, data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 16 + 8 {
        return None;
    }
    let (checksum, encrypted) = data.split_at(16);
    let k1 = hmac_md5(key, &[&ms_usage(usage).to_le_bytes()]);
    let k3 = hmac_md5(&k1, &[checksum]);
    let mut plain = encrypted.to_vec();
    rc4_apply(&k3, &mut plain);
    let expected = hmac_md5(&k1, &[&plain]);
    let same = expected
        .iter()
        .zip(checksum)
        .fold(0u8, |a, (x, y)| a | (x ^ y))
        == 0;
    same.then(|| plain.split_off(8))
}

fn rc4_encrypt(key: &[u8; 16], usage: i32, data: &[u8], confounder: [u8; 8]) -> Vec<u8> {
    let k1 = hmac_md5(key, &[&ms_usage(usage).to_le_bytes()]);
    let mut plain = confounder.to_vec();
    plain.extend(data);
    let checksum = hmac_md5(&k1, &[&plain]);
    let k3 = hmac_md5(&k1, &[&checksum]);
    rc4_apply(&k3, &mut plain);
    [checksum.to_vec(), plain].concat()
}
