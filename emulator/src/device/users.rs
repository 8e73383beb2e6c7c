//! Accounts the device authenticates: the built-in digest administrator and
//! the digest (or Kerberos) users added over WS-Man, with their realms.

use serde::{Deserialize, Serialize};

/// Where an account may log in from (AccessPermission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessPermission {
    /// 0: only through the local (host) interface.
    LocalOnly,
    /// 1: only from the network.
    NetworkOnly,
    /// 2: both.
    Any,
}

/// One ACL entry (AMT_AuthorizationService user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccount {
    pub handle: u32,
    /// Digest user name; empty for a Kerberos-only entry.
    pub name: String,
    /// MD5(name:realm:password), as clients send it (DigestPassword).
    pub ha1: [u8; 16],
    /// Kerberos SID, when the entry is a Kerberos user.
    pub kerberos_sid: Option<Vec<u8>>,
    pub access: AccessPermission,
    /// Realm numbers the account is granted.
    pub realms: Vec<u8>,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    pub admin_name: String,
    /// MD5(admin:realm:password).
    pub admin_ha1: [u8; 16],
    /// Whether the admin password is still the factory one.
    pub admin_is_default: bool,
    pub accounts: Vec<UserAccount>,
}

impl Users {
    /// The administrator with a password, hashed for the device's realm.
    pub fn new(admin_name: &str, password: &str, realm: &str) -> Users {
        Users {
            admin_name: admin_name.to_string(),
            admin_ha1: ha1(admin_name, realm, password),
            admin_is_default: true,
            accounts: Vec::new(),
        }
    }

    /// The HA1 of an account that may log in from the network.
    pub fn network_ha1(&self, name: &str) -> Option<[u8; 16]> {
        if name == self.admin_name {
            return Some(self.admin_ha1);
        }
        self.accounts
            .iter()
            .find(|a| a.name == name && a.enabled && a.access != AccessPermission::LocalOnly)
            .map(|a| a.ha1)
    }
}

/// MD5(user:realm:password), the digest "HA1".
pub fn ha1(user: &str, realm: &str, password: &str) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}
