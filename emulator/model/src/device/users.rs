//! Accounts the device authenticates: the built-in digest administrator and
//! the digest (or Kerberos) users added over WS-Man, with their realms; the
//! Kerberos settings; and the brute-force lockout.
//!
//! # Lockout policy
//!
//! Intel's provisioning documentation (quoted by Intel support in the
//! "How long is the AMT temporary lockout" forum thread) describes a login
//! back-off: after ten successive failed logins further attempts are refused
//! for a while; the wait starts at 5 seconds and grows to 80 seconds under a
//! continuous attack; an hour without an attack resets the mechanism. The
//! 401 page itself says "Incorrect user name or password, or user account
//! temporarily locked", so the emulator keeps the state per account:
//!
//! - A failure is a digest response that does not match the password of an
//!   account that exists and may log in from the network (a wrong password,
//!   or one hashed for another realm). Stale or unknown nonces with the right
//!   password, replayed nonce counts, malformed headers and unknown user
//!   names are not failures; unknown names create no state at all, so the
//!   state is bounded by the number of accounts.
//! - The 10th successive failure locks the account for 5 seconds. Once a lock
//!   has expired, each further failure locks it again at once for twice as
//!   long as the previous lock: 10, 20, 40, then 80 seconds at most.
//! - While locked, every attempt gets the usual 401, even with the right
//!   password; attempts during a lock do not lengthen it.
//! - A successful login, a new password, or an hour without failures
//!   forgets the account's failures and its back-off.
//! - The administrator is subject to it like every other account; locking one
//!   account leaves the others usable.
//!
//! The lockout lives in memory only (a restart forgets it) and uses
//! [`tokio::time::Instant`], so tests can pause and advance time.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::firmware::{Feature, Firmware};

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

impl AccessPermission {
    pub fn from_number(n: i64) -> Option<AccessPermission> {
        match n {
            0 => Some(AccessPermission::LocalOnly),
            1 => Some(AccessPermission::NetworkOnly),
            2 => Some(AccessPermission::Any),
            _ => None,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            AccessPermission::LocalOnly => 0,
            AccessPermission::NetworkOnly => 1,
            AccessPermission::Any => 2,
        }
    }
}

/// Realm numbers (AMT_AuthorizationService `Realms`, MOF ValueMap).
pub mod realm {
    pub const REDIRECTION: u8 = 2;
    /// PT Administration: security and network administration; a user with
    /// it has every realm.
    pub const PT_ADMINISTRATION: u8 = 3;
    pub const HARDWARE_ASSET: u8 = 4;
    pub const REMOTE_CONTROL: u8 = 5;
    pub const STORAGE: u8 = 6;
    pub const EVENT_MANAGER: u8 = 7;
    pub const STORAGE_ADMIN: u8 = 8;
    pub const AGENT_PRESENCE_LOCAL: u8 = 9;
    pub const AGENT_PRESENCE_REMOTE: u8 = 10;
    pub const CIRCUIT_BREAKER: u8 = 11;
    pub const NETWORK_TIME: u8 = 12;
    pub const GENERAL_INFO: u8 = 13;
    pub const FIRMWARE_UPDATE: u8 = 14;
    pub const EIT: u8 = 15;
    /// Held by the firmware's own `$$uns` account.
    pub const LOCAL_UN: u8 = 16;
    pub const ENDPOINT_ACCESS_CONTROL: u8 = 17;
    pub const ENDPOINT_ACCESS_CONTROL_ADMIN: u8 = 18;
    pub const EVENT_LOG_READER: u8 = 19;
    /// 4.0 and later.
    pub const AUDIT_LOG: u8 = 20;
    /// 4.0 and later.
    pub const ACL: u8 = 21;
    pub const LOCAL_SYSTEM: u8 = 24;
}

/// PT_STATUS values the ACL methods return.
pub mod status {
    pub const SUCCESS: u32 = 0;
    pub const INVALID_NAME: u32 = 12;
    pub const NOT_PERMITTED: u32 = 16;
    pub const MAX_LIMIT_REACHED: u32 = 23;
    pub const INVALID_PARAMETER: u32 = 36;
    pub const INVALID_HANDLE: u32 = 2053;
    pub const INVALID_PASSWORD: u32 = 2054;
    pub const INVALID_REALM: u32 = 2055;
    pub const DUPLICATE: u32 = 2058;
}

/// Digest users the ACL holds at most (Intel SCS: "no more than seven digest
/// users and 32 Active Directory users/groups").
pub const MAX_DIGEST_USERS: usize = 7;
/// Kerberos (Active Directory) entries the ACL holds at most.
pub const MAX_KERBEROS_USERS: usize = 32;
/// Handles EnumerateUserAclEntries returns per call.
pub const ENUMERATION_PAGE: usize = 50;

/// Successive failures that lock an account the first time.
pub const LOCKOUT_THRESHOLD: u32 = 10;
/// The first lock; each later one lasts twice as long as the one before.
pub const FIRST_LOCK: Duration = Duration::from_secs(5);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(80);
/// Without a failure for this long, an account's failures are forgotten.
pub const QUIET_RESET: Duration = Duration::from_secs(3600);

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

impl UserAccount {
    pub fn is_kerberos(&self) -> bool {
        self.kerberos_sid.is_some()
    }
}

/// AMT_KerberosSettingData. Kerberos authentication itself is not emulated;
/// the settings are kept so consoles read back what they wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KerberosSettings {
    pub realm_name: String,
    pub service_principal_names: Vec<String>,
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
            realm_name: String::new(),
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

/// Who sent a request, as the protocol layers pass it to the classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The built-in administrator: every realm.
    Admin,
    /// An ACL entry with the realms it was granted when it logged in.
    User { name: String, realms: Vec<u8> },
    /// Nobody authenticated (an Identify without credentials).
    Anonymous,
}

impl Caller {
    /// Whether the caller holds a realm. PT Administration holds them all.
    pub fn has_realm(&self, realm: u8) -> bool {
        match self {
            Caller::Admin => true,
            Caller::User { realms, .. } => {
                realms.contains(&realm) || realms.contains(&realm::PT_ADMINISTRATION)
            }
            Caller::Anonymous => false,
        }
    }
}

/// An account, as the lockout keys it. Handles are unique and a removed
/// entry's state is dropped, so a reused handle starts clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKey {
    Admin,
    User(u32),
}

/// What the HTTP layer needs to check a network login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkLogin {
    pub key: AccountKey,
    pub ha1: [u8; 16],
    pub caller: Caller,
    /// The account is locked out: refuse whatever the password.
    pub locked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LockState {
    key: AccountKey,
    /// Successive failures since the last lock (or the start).
    failures: u32,
    /// How long the last lock lasted; zero before the first.
    last_lock: Duration,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// Failed-login state of the accounts that have any; at most one entry per
/// account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockouts {
    states: Vec<LockState>,
}

impl Lockouts {
    fn position(&self, key: AccountKey) -> Option<usize> {
        self.states.iter().position(|s| s.key == key)
    }

    /// Whether the account is locked at `now`.
    pub fn is_locked(&self, key: AccountKey, now: Instant) -> bool {
        self.position(key)
            .and_then(|i| self.states[i].locked_until)
            .is_some_and(|until| now < until)
    }

    /// Records a wrong password for an existing account.
    pub fn failed(&mut self, key: AccountKey, now: Instant) {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.states.push(LockState {
                    key,
                    failures: 0,
                    last_lock: Duration::ZERO,
                    locked_until: None,
                    last_failure: now,
                });
                self.states.len() - 1
            }
        };
        let s = &mut self.states[i];
        if now.saturating_duration_since(s.last_failure) >= QUIET_RESET {
            s.failures = 0;
            s.last_lock = Duration::ZERO;
            s.locked_until = None;
        }
        s.last_failure = now;
        if s.locked_until.is_some_and(|until| now < until) {
            return;
        }
        s.failures += 1;
        let lock = if s.last_lock.is_zero() {
            (s.failures >= LOCKOUT_THRESHOLD).then_some(FIRST_LOCK)
        } else {
            Some((s.last_lock * 2).min(MAX_LOCK))
        };
        if let Some(lock) = lock {
            s.failures = 0;
            s.last_lock = lock;
            s.locked_until = Some(now + lock);
        }
    }

    /// Forgets an account's failures (a successful login, a new password,
    /// a removed account).
    pub fn forget(&mut self, key: AccountKey) {
        self.states.retain(|s| s.key != key);
    }

    /// How many accounts have state (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

/// The values of a new or updated ACL entry, as AddUserAclEntryEx and
/// UpdateUserAclEntryEx carry them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclEntryRequest {
    pub name: Option<String>,
    pub ha1: Option<[u8; 16]>,
    pub kerberos_sid: Option<Vec<u8>>,
    pub access: Option<i64>,
    pub realms: Option<Vec<i64>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    pub admin_name: String,
    /// MD5(admin:realm:password).
    pub admin_ha1: [u8; 16],
    /// Whether the admin password is still the factory one.
    pub admin_is_default: bool,
    pub accounts: Vec<UserAccount>,
    #[serde(default)]
    pub kerberos: KerberosSettings,
    /// Failed logins; not saved.
    #[serde(skip)]
    pub lockouts: Lockouts,
}

impl Users {
    /// The administrator with a password, hashed for the device's realm.
    pub fn new(admin_name: &str, password: &str, realm: &str) -> Users {
        Users {
            admin_name: admin_name.to_string(),
            admin_ha1: ha1(admin_name, realm, password),
            admin_is_default: true,
            accounts: Vec::new(),
            kerberos: KerberosSettings::default(),
            lockouts: Lockouts::default(),
        }
    }

    /// The HA1 of an account that may log in from the network.
    pub fn network_ha1(&self, name: &str) -> Option<[u8; 16]> {
        self.network_login(name, Instant::now()).map(|l| l.ha1)
    }

    /// An account that may log in from the network by this digest name:
    /// the administrator, or an enabled digest entry that is not local-only.
    pub fn network_login(&self, name: &str, now: Instant) -> Option<NetworkLogin> {
        let (key, ha1, caller) = if name == self.admin_name {
            (AccountKey::Admin, self.admin_ha1, Caller::Admin)
        } else {
            let a = self.accounts.iter().find(|a| {
                !a.is_kerberos()
                    && a.name == name
                    && a.enabled
                    && a.access != AccessPermission::LocalOnly
            })?;
            (
                AccountKey::User(a.handle),
                a.ha1,
                Caller::User {
                    name: a.name.clone(),
                    realms: a.realms.clone(),
                },
            )
        };
        Some(NetworkLogin {
            key,
            ha1,
            caller,
            locked: self.lockouts.is_locked(key, now),
        })
    }

    /// A wrong password for an account `network_login` found.
    pub fn login_failed(&mut self, key: AccountKey, now: Instant) {
        if self.exists(key) {
            self.lockouts.failed(key, now);
        }
    }

    pub fn login_succeeded(&mut self, key: AccountKey) {
        self.lockouts.forget(key);
    }

    fn exists(&self, key: AccountKey) -> bool {
        match key {
            AccountKey::Admin => true,
            AccountKey::User(h) => self.accounts.iter().any(|a| a.handle == h),
        }
    }

    pub fn account(&self, handle: u32) -> Option<&UserAccount> {
        self.accounts.iter().find(|a| a.handle == handle)
    }

    /// The handles, in order, from the 1-based `start`: at most
    /// [`ENUMERATION_PAGE`]; with the total count.
    pub fn enumerate(&self, start: usize) -> Result<(usize, Vec<u32>), u32> {
        if start == 0 {
            return Err(status::INVALID_PARAMETER);
        }
        let mut handles: Vec<u32> = self.accounts.iter().map(|a| a.handle).collect();
        handles.sort_unstable();
        let total = handles.len();
        let page = handles
            .into_iter()
            .skip(start - 1)
            .take(ENUMERATION_PAGE)
            .collect();
        Ok((total, page))
    }

    /// AddUserAclEntryEx: a new entry's handle, or the PT_STATUS refusing it.
    pub fn add(&mut self, req: &AclEntryRequest, firmware: &Firmware) -> Result<u32, u32> {
        let access = req
            .access
            .and_then(AccessPermission::from_number)
            .ok_or(status::INVALID_PARAMETER)?;
        let realms = check_realms(req.realms.as_deref(), access, firmware)?;
        let account = match (&req.name, &req.kerberos_sid) {
            (Some(name), None) if !name.is_empty() => {
                check_user_name(name)?;
                let ha1 = req.ha1.ok_or(status::INVALID_PASSWORD)?;
                self.check_name_free(name, None)?;
                if self.accounts.iter().filter(|a| !a.is_kerberos()).count() >= MAX_DIGEST_USERS {
                    return Err(status::MAX_LIMIT_REACHED);
                }
                UserAccount {
                    handle: 0,
                    name: name.clone(),
                    ha1,
                    kerberos_sid: None,
                    access,
                    realms,
                    enabled: true,
                }
            }
            (None, Some(sid)) => {
                check_sid(sid)?;
                if !self.kerberos.enabled {
                    return Err(status::NOT_PERMITTED);
                }
                self.check_sid_free(sid, None)?;
                if self.accounts.iter().filter(|a| a.is_kerberos()).count() >= MAX_KERBEROS_USERS {
                    return Err(status::MAX_LIMIT_REACHED);
                }
                UserAccount {
                    handle: 0,
                    name: String::new(),
                    ha1: [0; 16],
                    kerberos_sid: Some(sid.clone()),
                    access,
                    realms,
                    enabled: true,
                }
            }
            (Some(name), None) if name.is_empty() => return Err(status::INVALID_NAME),
            _ => return Err(status::INVALID_PARAMETER),
        };
        let handle = (1..)
            .find(|h| self.account(*h).is_none())
            .unwrap_or(u32::MAX);
        self.lockouts.forget(AccountKey::User(handle));
        self.accounts.push(UserAccount { handle, ..account });
        Ok(handle)
    }

    /// UpdateUserAclEntryEx: replaces an entry's name, password, SID,
    /// access and realms. An entry stays the kind it is (digest or
    /// Kerberos); a digest entry that changes its name needs the password
    /// hashed with the new name.
    pub fn update(
        &mut self,
        handle: u32,
        req: &AclEntryRequest,
        firmware: &Firmware,
    ) -> Result<(), u32> {
        let current = self.account(handle).ok_or(status::INVALID_HANDLE)?.clone();
        let access = req
            .access
            .and_then(AccessPermission::from_number)
            .ok_or(status::INVALID_PARAMETER)?;
        let realms = check_realms(req.realms.as_deref(), access, firmware)?;
        let mut updated = UserAccount {
            access,
            realms,
            ..current.clone()
        };
        match (&req.name, &req.kerberos_sid) {
            (Some(_), Some(_)) => return Err(status::INVALID_PARAMETER),
            (Some(name), None) => {
                if current.is_kerberos() {
                    return Err(status::NOT_PERMITTED);
                }
                check_user_name(name)?;
                self.check_name_free(name, Some(handle))?;
                if *name != current.name && req.ha1.is_none() {
                    return Err(status::INVALID_PASSWORD);
                }
                updated.name = name.clone();
            }
            (None, Some(sid)) => {
                if !current.is_kerberos() {
                    return Err(status::NOT_PERMITTED);
                }
                check_sid(sid)?;
                self.check_sid_free(sid, Some(handle))?;
                updated.kerberos_sid = Some(sid.clone());
            }
            (None, None) => {}
        }
        if let Some(ha1) = req.ha1 {
            if current.is_kerberos() {
                return Err(status::INVALID_PARAMETER);
            }
            updated.ha1 = ha1;
        }
        if updated.ha1 != current.ha1 {
            self.lockouts.forget(AccountKey::User(handle));
        }
        if let Some(slot) = self.accounts.iter_mut().find(|a| a.handle == handle) {
            *slot = updated;
        }
        Ok(())
    }

    /// RemoveUserAclEntry. The administrator has no handle, so it cannot be
    /// named here.
    pub fn remove(&mut self, handle: u32) -> Result<(), u32> {
        let before = self.accounts.len();
        self.accounts.retain(|a| a.handle != handle);
        if self.accounts.len() == before {
            return Err(status::INVALID_HANDLE);
        }
        self.lockouts.forget(AccountKey::User(handle));
        Ok(())
    }

    pub fn set_enabled(&mut self, handle: u32, enabled: bool) -> Result<(), u32> {
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.handle == handle)
            .ok_or(status::INVALID_HANDLE)?;
        a.enabled = enabled;
        Ok(())
    }

    /// SetAdminAclEntryEx: a new administrator name and HA1 (computed by the
    /// client for the device's digest realm).
    pub fn set_admin(&mut self, name: &str, ha1: [u8; 16]) -> Result<(), u32> {
        check_name_chars(name)?;
        if self
            .accounts
            .iter()
            .any(|a| !a.is_kerberos() && a.name == name)
        {
            return Err(status::DUPLICATE);
        }
        self.admin_name = name.to_string();
        self.admin_ha1 = ha1;
        self.admin_is_default = false;
        self.lockouts.forget(AccountKey::Admin);
        Ok(())
    }

    fn check_name_free(&self, name: &str, except: Option<u32>) -> Result<(), u32> {
        let taken = name == self.admin_name
            || self
                .accounts
                .iter()
                .any(|a| Some(a.handle) != except && !a.is_kerberos() && a.name == name);
        if taken {
            Err(status::DUPLICATE)
        } else {
            Ok(())
        }
    }

    fn check_sid_free(&self, sid: &[u8], except: Option<u32>) -> Result<(), u32> {
        let taken = self
            .accounts
            .iter()
            .any(|a| Some(a.handle) != except && a.kerberos_sid.as_deref() == Some(sid));
        if taken {
            Err(status::DUPLICATE)
        } else {
            Ok(())
        }
    }
}

/// IRG "Valid Usernames": 1 to 16 characters of 7-bit ASCII 33-126 except
/// `: , < > & "`, not starting with `$$` (reserved for the firmware's own
/// accounts).
fn check_name_chars(name: &str) -> Result<(), u32> {
    let ok = (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| (33..=126).contains(&b) && !b":,<>&\"".contains(&b))
        && !name.starts_with("$$");
    if ok {
        Ok(())
    } else {
        Err(status::INVALID_NAME)
    }
}

/// A user entry's name: also not one of the names reserved for the
/// built-in administrator (Intel SCS refuses `admin` and `administrator`).
fn check_user_name(name: &str) -> Result<(), u32> {
    check_name_chars(name)?;
    if name.eq_ignore_ascii_case("admin") || name.eq_ignore_ascii_case("administrator") {
        return Err(status::INVALID_NAME);
    }
    Ok(())
}

/// A Kerberos SID: 1 to 28 bytes, a multiple of 4 (MOF description).
fn check_sid(sid: &[u8]) -> Result<(), u32> {
    if (1..=28).contains(&sid.len()) && sid.len().is_multiple_of(4) {
        Ok(())
    } else {
        Err(status::INVALID_PARAMETER)
    }
}

/// The realms an entry may be granted: at least one; not 0 (invalid), 1,
/// 22 and 23 (reserved) or past 24; not LocalUN (16, the firmware's own
/// `$$uns` account has it); Audit Log and ACL (20, 21) only from 4.0; the
/// local realms (Agent Presence Local 9, Local System 24) not for an entry
/// that may only log in from the network. Sorted and without repeats.
fn check_realms(
    realms: Option<&[i64]>,
    access: AccessPermission,
    firmware: &Firmware,
) -> Result<Vec<u8>, u32> {
    let realms = realms.ok_or(status::INVALID_REALM)?;
    if realms.is_empty() {
        return Err(status::INVALID_REALM);
    }
    let mut out = Vec::new();
    for &r in realms {
        let r = u8::try_from(r).map_err(|_| status::INVALID_REALM)?;
        let ok = match r {
            realm::REDIRECTION..=realm::EIT => true,
            realm::LOCAL_UN => false,
            realm::ENDPOINT_ACCESS_CONTROL..=realm::EVENT_LOG_READER => true,
            realm::AUDIT_LOG | realm::ACL => firmware.has(Feature::AuditLog),
            realm::LOCAL_SYSTEM => true,
            _ => false,
        };
        let local = matches!(r, realm::AGENT_PRESENCE_LOCAL | realm::LOCAL_SYSTEM);
        if !ok || (local && access == AccessPermission::NetworkOnly) {
            return Err(status::INVALID_REALM);
        }
        out.push(r);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub use amtemu_wire::digest::ha1;

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "Digest:A4070000000000000000000000000000";

    fn fw() -> &'static Firmware {
        Firmware::by_name("11.8").unwrap()
    }

    fn users() -> Users {
        Users::new("admin", "P@ssw0rd", REALM)
    }

    fn digest(name: &str, realms: &[i64]) -> AclEntryRequest {
        AclEntryRequest {
            name: Some(name.into()),
            ha1: Some(ha1(name, REALM, "Passw0rd!")),
            kerberos_sid: None,
            access: Some(2),
            realms: Some(realms.to_vec()),
        }
    }

    #[test]
    fn add_get_update_remove() {
        let mut u = users();
        let h = u.add(&digest("ops", &[4, 5]), fw()).unwrap();
        assert_eq!(h, 1);
        let a = u.account(h).unwrap();
        assert_eq!(
            (a.name.as_str(), a.realms.as_slice()),
            ("ops", &[4u8, 5][..])
        );
        let login = u.network_login("ops", Instant::now()).unwrap();
        assert_eq!(
            login.caller,
            Caller::User {
                name: "ops".into(),
                realms: vec![4, 5]
            }
        );
        assert!(!login.caller.has_realm(realm::GENERAL_INFO));

        let mut req = digest("ops2", &[13]);
        req.access = Some(1);
        u.update(h, &req, fw()).unwrap();
        assert!(u.network_login("ops", Instant::now()).is_none());
        let a = u.account(h).unwrap();
        assert_eq!(
            (a.name.as_str(), a.access, a.realms.as_slice()),
            ("ops2", AccessPermission::NetworkOnly, &[13u8][..])
        );
        // A new name without the password hashed for it is refused.
        let mut rename = digest("ops3", &[13]);
        rename.ha1 = None;
        assert_eq!(u.update(h, &rename, fw()), Err(status::INVALID_PASSWORD));
        assert_eq!(u.update(99, &req, fw()), Err(status::INVALID_HANDLE));

        assert_eq!(u.set_enabled(h, false), Ok(()));
        assert!(u.network_login("ops2", Instant::now()).is_none());
        assert_eq!(u.remove(h), Ok(()));
        assert_eq!(u.remove(h), Err(status::INVALID_HANDLE));
        assert!(u.accounts.is_empty());
    }

    #[test]
    fn names_duplicates_realms_and_limits() {
        let mut u = users();
        for bad in [
            "",
            "$$uns",
            "a:b",
            "a,b",
            "a<b",
            "a b",
            "x".repeat(17).as_str(),
        ] {
            assert_eq!(
                u.add(&digest(bad, &[4]), fw()),
                Err(status::INVALID_NAME),
                "{bad:?}"
            );
        }
        assert_eq!(
            u.add(&digest("Admin", &[4]), fw()),
            Err(status::INVALID_NAME)
        );
        assert!(u.add(&digest(&"x".repeat(16), &[4]), fw()).is_ok());
        assert_eq!(
            u.add(&digest("ops", &[0]), fw()),
            Err(status::INVALID_REALM)
        );
        assert_eq!(u.add(&digest("ops", &[]), fw()), Err(status::INVALID_REALM));
        assert_eq!(
            u.add(&digest("ops", &[16]), fw()),
            Err(status::INVALID_REALM)
        );
        assert_eq!(
            u.add(&digest("ops", &[25]), fw()),
            Err(status::INVALID_REALM)
        );
        let mut network_only_local = digest("ops", &[24]);
        network_only_local.access = Some(1);
        assert_eq!(u.add(&network_only_local, fw()), Err(status::INVALID_REALM));
        let old = Firmware::by_name("3.2.1").unwrap();
        assert_eq!(
            u.add(&digest("ops", &[20]), old),
            Err(status::INVALID_REALM)
        );
        let mut bad_access = digest("ops", &[4]);
        bad_access.access = Some(3);
        assert_eq!(u.add(&bad_access, fw()), Err(status::INVALID_PARAMETER));

        u.add(&digest("ops", &[4, 4, 2]), fw()).unwrap();
        assert_eq!(u.account(2).unwrap().realms, [2, 4]);
        assert_eq!(u.add(&digest("ops", &[4]), fw()), Err(status::DUPLICATE));
        // The administrator's name is taken too.
        u.set_admin("root", ha1("root", REALM, "x")).unwrap();
        assert_eq!(u.add(&digest("root", &[4]), fw()), Err(status::DUPLICATE));
        assert_eq!(u.set_admin("ops", [0; 16]), Err(status::DUPLICATE));
        assert!(!u.admin_is_default);

        for i in 0..5 {
            u.add(&digest(&format!("u{i}"), &[4]), fw()).unwrap();
        }
        assert_eq!(u.accounts.len(), MAX_DIGEST_USERS);
        assert_eq!(
            u.add(&digest("one-more", &[4]), fw()),
            Err(status::MAX_LIMIT_REACHED)
        );
        // Handles are reused lowest first.
        u.remove(3).unwrap();
        assert_eq!(u.add(&digest("again", &[4]), fw()), Ok(3));
    }

    #[test]
    fn kerberos_entries_and_paging() {
        let mut u = users();
        let sid = AclEntryRequest {
            kerberos_sid: Some(vec![1; 28]),
            access: Some(2),
            realms: Some(vec![5]),
            ..AclEntryRequest::default()
        };
        // Kerberos must be enabled first.
        assert_eq!(u.add(&sid, fw()), Err(status::NOT_PERMITTED));
        u.kerberos.enabled = true;
        let h = u.add(&sid, fw()).unwrap();
        assert!(u.account(h).unwrap().name.is_empty());
        assert_eq!(u.add(&sid, fw()), Err(status::DUPLICATE));
        let odd = AclEntryRequest {
            kerberos_sid: Some(vec![1; 5]),
            ..sid.clone()
        };
        assert_eq!(u.add(&odd, fw()), Err(status::INVALID_PARAMETER));
        let both = AclEntryRequest {
            name: Some("ops".into()),
            ..sid.clone()
        };
        assert_eq!(u.add(&both, fw()), Err(status::INVALID_PARAMETER));
        // A Kerberos entry cannot become a digest one.
        assert_eq!(
            u.update(h, &digest("ops", &[5]), fw()),
            Err(status::NOT_PERMITTED)
        );
        for i in 0..4u8 {
            u.add(
                &AclEntryRequest {
                    kerberos_sid: Some(vec![i; 8]),
                    ..sid.clone()
                },
                fw(),
            )
            .unwrap();
        }
        u.add(&digest("ops", &[4]), fw()).unwrap();
        assert_eq!(u.enumerate(1), Ok((6, vec![1, 2, 3, 4, 5, 6])));
        assert_eq!(u.enumerate(5), Ok((6, vec![5, 6])));
        assert_eq!(u.enumerate(7), Ok((6, vec![])));
        assert_eq!(u.enumerate(0), Err(status::INVALID_PARAMETER));
        // Kerberos entries never log in with digest.
        assert!(u.network_login("", Instant::now()).is_none());
    }

    #[test]
    fn saved_state_keeps_entries_but_not_lockouts() {
        let mut u = users();
        u.add(&digest("ops", &[4]), fw()).unwrap();
        u.login_failed(AccountKey::Admin, Instant::now());
        let mut json = serde_json::to_value(&u).unwrap();
        assert!(json.get("lockouts").is_none());
        // State saved before Kerberos settings existed still loads.
        json.as_object_mut().unwrap().remove("kerberos");
        let back: Users = serde_json::from_value(json).unwrap();
        assert_eq!(back.accounts, u.accounts);
        assert_eq!(back.kerberos, KerberosSettings::default());
        assert!(back.lockouts.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn lockout_backs_off_and_resets() {
        let mut u = users();
        let key = AccountKey::Admin;
        let locked = |u: &Users| u.network_login("admin", Instant::now()).unwrap().locked;
        for _ in 0..LOCKOUT_THRESHOLD - 1 {
            u.login_failed(key, Instant::now());
        }
        assert!(!locked(&u));
        u.login_failed(key, Instant::now());
        assert!(locked(&u));
        // Failures while locked do not lengthen the lock.
        tokio::time::advance(Duration::from_secs(4)).await;
        u.login_failed(key, Instant::now());
        assert!(locked(&u));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!locked(&u));
        // After a lock every failure locks again, twice as long, up to 80 s.
        for expected in [10, 20, 40, 80, 80] {
            u.login_failed(key, Instant::now());
            tokio::time::advance(Duration::from_secs(expected - 1)).await;
            assert!(locked(&u), "{expected}");
            tokio::time::advance(Duration::from_secs(1)).await;
            assert!(!locked(&u), "{expected}");
        }
        // An hour without failures forgets the back-off.
        tokio::time::advance(QUIET_RESET).await;
        u.login_failed(key, Instant::now());
        assert!(!locked(&u));
        // So does a successful login: the count starts again.
        u.login_succeeded(key);
        for _ in 0..LOCKOUT_THRESHOLD - 1 {
            u.login_failed(key, Instant::now());
        }
        u.login_succeeded(key);
        for _ in 0..LOCKOUT_THRESHOLD - 1 {
            u.login_failed(key, Instant::now());
        }
        assert!(!locked(&u));
        u.login_failed(key, Instant::now());
        assert!(locked(&u));
    }

    #[tokio::test(start_paused = true)]
    async fn lockout_is_per_account_and_bounded() {
        let mut u = users();
        let h = u.add(&digest("ops", &[4]), fw()).unwrap();
        for _ in 0..LOCKOUT_THRESHOLD {
            u.login_failed(AccountKey::User(h), Instant::now());
        }
        assert!(u.network_login("ops", Instant::now()).unwrap().locked);
        assert!(!u.network_login("admin", Instant::now()).unwrap().locked);
        // A new password unlocks; removing the entry drops its state.
        let mut req = digest("ops", &[4]);
        req.ha1 = Some(ha1("ops", REALM, "N3w-pass"));
        u.update(h, &req, fw()).unwrap();
        assert!(!u.network_login("ops", Instant::now()).unwrap().locked);
        u.login_failed(AccountKey::User(h), Instant::now());
        assert_eq!(u.lockouts.len(), 1);
        u.remove(h).unwrap();
        assert!(u.lockouts.is_empty());
        // Keys of accounts that do not exist leave no state.
        u.login_failed(AccountKey::User(42), Instant::now());
        assert!(u.lockouts.is_empty());
    }
}
