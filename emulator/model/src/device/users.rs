//! Accounts the device authenticates: the built-in digest administrator and
//! the digest (or Kerberos) users added over WS-Man, with their realms; the
//! Kerberos settings; and the brute-force lockout. The rules (names,
//! realms, limits, duplicates, the lockout) live here; [`Device`]'s methods
//! below are what the protocol layers call, each check and change under one
//! lock, refusing with a [`UserRefusal`].

mod kerberos;
mod lockout;
mod rules;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Device;
use super::audit::{AuditEvent, EventId};
use super::firmware::Firmware;
use rules::{check_name_chars, check_realms, check_sid, check_user_name};

pub use kerberos::{KerberosSettings, KerberosUpdate};
pub use lockout::{AccountKey, FIRST_LOCK, LOCKOUT_THRESHOLD, Lockouts, MAX_LOCK, QUIET_RESET};

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

/// Why the device refuses a change to (or a read of) its accounts. The
/// class that serves the ACL maps each to its PT_STATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserRefusal {
    /// Not a valid user name (PT_STATUS_INVALID_NAME).
    #[error("invalid user name")]
    InvalidName,
    /// Not possible for this entry or in this state, e.g. a Kerberos entry
    /// while Kerberos is off (PT_STATUS_NOT_PERMITTED).
    #[error("not permitted")]
    NotPermitted,
    /// The ACL holds as many entries of the kind as it can.
    #[error("the ACL is full")]
    MaxLimitReached,
    /// A missing, malformed or contradictory value.
    #[error("invalid parameter")]
    InvalidParameter,
    /// No entry has this handle.
    #[error("no such entry")]
    InvalidHandle,
    /// A password hash missing where one is needed, or malformed.
    #[error("invalid password")]
    InvalidPassword,
    /// A realm that may not be granted (or none at all).
    #[error("invalid realm")]
    InvalidRealm,
    /// The name (or SID) belongs to another account.
    #[error("duplicate entry")]
    Duplicate,
}

/// A digest account named as the DASH classes name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAccount {
    /// The built-in administrator (no ACL handle).
    Admin,
    /// An ACL entry, by handle.
    Entry(u32),
}

/// Digest users the ACL holds at most (Intel SCS: "no more than seven digest
/// users and 32 Active Directory users/groups").
pub const MAX_DIGEST_USERS: usize = 7;
/// Kerberos (Active Directory) entries the ACL holds at most.
pub const MAX_KERBEROS_USERS: usize = 32;
/// Handles EnumerateUserAclEntries returns per call.
pub const ENUMERATION_PAGE: usize = 50;

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

/// A binary Windows SID (revision, count, 48-bit authority, sub-authorities
/// little-endian) in its `S-1-5-21-…` form; the bytes in hex when they are
/// not a SID.
pub fn sid_string(sid: &[u8]) -> String {
    let well_formed = sid.len() >= 8 && sid.len() == 8 + 4 * usize::from(sid[1]);
    if !well_formed {
        return amtemu_wire::hex::hex_lower(sid);
    }
    let authority = sid[2..8].iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    let mut out = format!("S-{}-{authority}", sid[0]);
    for sub in sid[8..].chunks_exact(4) {
        let sub = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
        out.push_str(&format!("-{sub}"));
    }
    out
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

/// What the HTTP layer needs to check a network login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkLogin {
    pub key: AccountKey,
    pub ha1: [u8; 16],
    pub caller: Caller,
    /// The account is locked out: refuse whatever the password.
    pub locked: bool,
    /// The account has failures on record, which a successful login
    /// forgets; without any, a success needs no second trip to the state.
    pub has_failures: bool,
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
            has_failures: self.lockouts.has_state(key),
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

    /// An entry's digest name for its audit records (empty for a Kerberos
    /// entry or no entry).
    fn entry_name(&self, handle: u32) -> String {
        self.account(handle)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    /// The handles, in order, from the 1-based `start`: at most
    /// [`ENUMERATION_PAGE`]; with the total count.
    pub fn enumerate(&self, start: usize) -> Result<(usize, Vec<u32>), UserRefusal> {
        if start == 0 {
            return Err(UserRefusal::InvalidParameter);
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

    /// AddUserAclEntryEx: a new entry's handle, or why it is refused.
    pub fn add(&mut self, req: &AclEntryRequest, firmware: &Firmware) -> Result<u32, UserRefusal> {
        let access = req
            .access
            .and_then(AccessPermission::from_number)
            .ok_or(UserRefusal::InvalidParameter)?;
        let realms = check_realms(req.realms.as_deref(), access, firmware)?;
        let account = match (&req.name, &req.kerberos_sid) {
            (Some(name), None) if !name.is_empty() => {
                let ha1 = self.check_new_digest(name, req.ha1)?;
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
                    return Err(UserRefusal::NotPermitted);
                }
                self.check_sid_free(sid, None)?;
                if self.accounts.iter().filter(|a| a.is_kerberos()).count() >= MAX_KERBEROS_USERS {
                    return Err(UserRefusal::MaxLimitReached);
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
            (Some(name), None) if name.is_empty() => return Err(UserRefusal::InvalidName),
            _ => return Err(UserRefusal::InvalidParameter),
        };
        Ok(self.insert(account))
    }

    /// CIM_AccountManagementService.CreateAccount: a digest entry made from
    /// a name and its HA1 alone, under the same rules as a digest entry of
    /// AddUserAclEntryEx (valid name, not taken, no more than
    /// [`MAX_DIGEST_USERS`]). The DASH account carries no realms and no
    /// access permission. Intel's reference says a created user holds the
    /// realms its "Realm Names and Realm Shortcuts" table marks as defaults,
    /// but no source we have gives that table, so the entry starts with no
    /// realm: it logs in and is refused every class until
    /// UpdateUserAclEntryEx grants realms (AddUserAclEntryEx refuses an
    /// entry without realms only because its caller must name some). It may
    /// log in locally and from the network (AccessPermission 2), as the
    /// DASH path has no notion of where a user logs in from.
    pub fn create_digest_account(
        &mut self,
        name: &str,
        ha1: Option<[u8; 16]>,
    ) -> Result<u32, UserRefusal> {
        let ha1 = self.check_new_digest(name, ha1)?;
        Ok(self.insert(UserAccount {
            handle: 0,
            name: name.to_string(),
            ha1,
            kerberos_sid: None,
            access: AccessPermission::Any,
            realms: Vec::new(),
            enabled: true,
        }))
    }

    /// What a new digest entry must pass, whichever method adds it: a valid
    /// name, a password hash, a name no other account has, room in the
    /// table. The hash is returned.
    fn check_new_digest(&self, name: &str, ha1: Option<[u8; 16]>) -> Result<[u8; 16], UserRefusal> {
        check_user_name(name)?;
        let ha1 = ha1.ok_or(UserRefusal::InvalidPassword)?;
        self.check_name_free(name, None)?;
        if self.accounts.iter().filter(|a| !a.is_kerberos()).count() >= MAX_DIGEST_USERS {
            return Err(UserRefusal::MaxLimitReached);
        }
        Ok(ha1)
    }

    /// Adds a checked entry under the lowest free handle, which it returns.
    fn insert(&mut self, account: UserAccount) -> u32 {
        let handle = (1..)
            .find(|h| self.account(*h).is_none())
            .unwrap_or(u32::MAX);
        self.lockouts.forget(AccountKey::User(handle));
        self.accounts.push(UserAccount { handle, ..account });
        handle
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
    ) -> Result<(), UserRefusal> {
        let current = self
            .account(handle)
            .ok_or(UserRefusal::InvalidHandle)?
            .clone();
        let access = req
            .access
            .and_then(AccessPermission::from_number)
            .ok_or(UserRefusal::InvalidParameter)?;
        let realms = check_realms(req.realms.as_deref(), access, firmware)?;
        let mut updated = UserAccount {
            access,
            realms,
            ..current.clone()
        };
        match (&req.name, &req.kerberos_sid) {
            (Some(_), Some(_)) => return Err(UserRefusal::InvalidParameter),
            (Some(name), None) => {
                self.check_digest_change(&current, name, req.ha1)?;
                updated.name = name.clone();
            }
            (None, Some(sid)) => {
                if !current.is_kerberos() {
                    return Err(UserRefusal::NotPermitted);
                }
                check_sid(sid)?;
                self.check_sid_free(sid, Some(handle))?;
                updated.kerberos_sid = Some(sid.clone());
            }
            (None, None) => {}
        }
        if let Some(ha1) = req.ha1 {
            if current.is_kerberos() {
                return Err(UserRefusal::InvalidParameter);
            }
            updated.ha1 = ha1;
        }
        self.replace(&current, updated);
        Ok(())
    }

    /// What a digest entry's new name and password must pass (an update
    /// or a CIM_Account Put): the entry is a digest one, the name is valid
    /// and no other account's, and a new name comes with the password
    /// hashed for it.
    fn check_digest_change(
        &self,
        current: &UserAccount,
        name: &str,
        ha1: Option<[u8; 16]>,
    ) -> Result<(), UserRefusal> {
        if current.is_kerberos() {
            return Err(UserRefusal::NotPermitted);
        }
        check_user_name(name)?;
        self.check_name_free(name, Some(current.handle))?;
        if name != current.name && ha1.is_none() {
            return Err(UserRefusal::InvalidPassword);
        }
        Ok(())
    }

    /// Stores a checked change of an entry; a new password forgets the
    /// entry's failed logins.
    fn replace(&mut self, current: &UserAccount, updated: UserAccount) {
        if updated.ha1 != current.ha1 {
            self.lockouts.forget(AccountKey::User(current.handle));
        }
        if let Some(slot) = self
            .accounts
            .iter_mut()
            .find(|a| a.handle == current.handle)
        {
            *slot = updated;
        }
    }

    /// RemoveUserAclEntry. The administrator has no handle, so it cannot be
    /// named here.
    pub fn remove(&mut self, handle: u32) -> Result<(), UserRefusal> {
        let before = self.accounts.len();
        self.accounts.retain(|a| a.handle != handle);
        if self.accounts.len() == before {
            return Err(UserRefusal::InvalidHandle);
        }
        self.lockouts.forget(AccountKey::User(handle));
        Ok(())
    }

    /// The digest account a name denotes, as the DASH account classes key
    /// accounts (CIM_Account's Name): the administrator or an entry.
    pub fn digest_account(&self, name: &str) -> Option<DigestAccount> {
        if name == self.admin_name {
            return Some(DigestAccount::Admin);
        }
        self.accounts
            .iter()
            .find(|a| !a.is_kerberos() && a.name == name)
            .map(|a| DigestAccount::Entry(a.handle))
    }

    /// Removes the digest account of this name. The administrator is never
    /// removed (NotPermitted): the one place that rule lives. An entry goes
    /// as RemoveUserAclEntry removes it (the ACL path names entries by
    /// handle, and the administrator has none, so it cannot name it).
    pub fn remove_digest_account(&mut self, name: &str) -> Result<u32, UserRefusal> {
        match self.digest_account(name) {
            None => Err(UserRefusal::InvalidHandle),
            Some(DigestAccount::Admin) => Err(UserRefusal::NotPermitted),
            Some(DigestAccount::Entry(handle)) => self.remove(handle).map(|()| handle),
        }
    }

    /// Changes the digest account of this name (CIM_Account Put): a new
    /// name and, hashed with it, a new HA1. A new name needs a new HA1 (the
    /// hash covers the name). The administrator changes as
    /// SetAdminAclEntryEx changes it; an entry under UpdateUserAclEntryEx's
    /// name and password rules, keeping its access and realms as they are
    /// (none, for an entry CreateAccount made: they are not re-checked).
    pub fn change_digest_account(
        &mut self,
        name: &str,
        new_name: &str,
        ha1: Option<[u8; 16]>,
    ) -> Result<(), UserRefusal> {
        match self.digest_account(name) {
            None => Err(UserRefusal::InvalidHandle),
            Some(DigestAccount::Admin) => match ha1 {
                Some(ha1) => self.set_admin(new_name, ha1),
                None if new_name != name => Err(UserRefusal::InvalidPassword),
                None => Ok(()),
            },
            Some(DigestAccount::Entry(handle)) => {
                let current = self
                    .account(handle)
                    .ok_or(UserRefusal::InvalidHandle)?
                    .clone();
                self.check_digest_change(&current, new_name, ha1)?;
                let updated = UserAccount {
                    name: new_name.to_string(),
                    ha1: ha1.unwrap_or(current.ha1),
                    ..current.clone()
                };
                self.replace(&current, updated);
                Ok(())
            }
        }
    }

    pub fn set_enabled(&mut self, handle: u32, enabled: bool) -> Result<(), UserRefusal> {
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.handle == handle)
            .ok_or(UserRefusal::InvalidHandle)?;
        a.enabled = enabled;
        Ok(())
    }

    /// SetAdminAclEntryEx: a new administrator name and HA1 (computed by the
    /// client for the device's digest realm).
    pub fn set_admin(&mut self, name: &str, ha1: [u8; 16]) -> Result<(), UserRefusal> {
        check_name_chars(name)?;
        if self
            .accounts
            .iter()
            .any(|a| !a.is_kerberos() && a.name == name)
        {
            return Err(UserRefusal::Duplicate);
        }
        self.admin_name = name.to_string();
        self.admin_ha1 = ha1;
        self.admin_is_default = false;
        self.lockouts.forget(AccountKey::Admin);
        Ok(())
    }

    /// A Kerberos login: the realms of every enabled, network-usable
    /// Kerberos entry whose SID is among `sids` (the first is the user's,
    /// the rest its groups'), named by the user's SID in its string form.
    /// None while Kerberos is off or when no entry matches.
    pub fn kerberos_login(&self, sids: &[Vec<u8>]) -> Option<Caller> {
        if !self.kerberos.enabled {
            return None;
        }
        let mut realms: Vec<u8> = Vec::new();
        let mut matched = false;
        for a in &self.accounts {
            let usable = a.enabled && a.access != AccessPermission::LocalOnly;
            if usable
                && a.kerberos_sid
                    .as_ref()
                    .is_some_and(|sid| sids.contains(sid))
            {
                matched = true;
                realms.extend(&a.realms);
            }
        }
        realms.sort_unstable();
        realms.dedup();
        let name = sids.first().map(|s| sid_string(s)).unwrap_or_default();
        matched.then_some(Caller::User { name, realms })
    }

    fn check_name_free(&self, name: &str, except: Option<u32>) -> Result<(), UserRefusal> {
        let taken = name == self.admin_name
            || self
                .accounts
                .iter()
                .any(|a| Some(a.handle) != except && !a.is_kerberos() && a.name == name);
        if taken {
            Err(UserRefusal::Duplicate)
        } else {
            Ok(())
        }
    }

    fn check_sid_free(&self, sid: &[u8], except: Option<u32>) -> Result<(), UserRefusal> {
        let taken = self
            .accounts
            .iter()
            .any(|a| Some(a.handle) != except && a.kerberos_sid.as_deref() == Some(sid));
        if taken {
            Err(UserRefusal::Duplicate)
        } else {
            Ok(())
        }
    }
}

/// The account operations the protocol layers call. Each check and the
/// change it guards happen under one lock; a successful change is announced
/// and audited (once the lock is released, as the audit log takes it too).
impl Device {
    /// The account a network login by this digest name would use, if any.
    pub fn network_login(&self, name: &str, now: Instant) -> Option<NetworkLogin> {
        self.with_state(|s| s.nvram.users.network_login(name, now))
    }

    /// Who a Kerberos login from the network is, from the SIDs its ticket
    /// carries (the user's and its groups'), if Kerberos is on and an
    /// enabled, network-usable entry holds one of them
    /// ([`Users::kerberos_login`]).
    pub fn kerberos_login(&self, sids: &[Vec<u8>]) -> Option<Caller> {
        self.with_state(|s| s.nvram.users.kerberos_login(sids))
    }

    /// A wrong password for an account [`Device::network_login`] found.
    pub fn login_failed(&self, key: AccountKey, now: Instant) {
        self.with_state(|s| s.nvram.users.login_failed(key, now));
    }

    /// A successful login: the account's failures are forgotten.
    pub fn login_succeeded(&self, key: AccountKey) {
        self.with_state(|s| s.nvram.users.login_succeeded(key));
    }

    /// AddUserAclEntryEx: the new entry's handle.
    pub fn add_user(&self, req: &AclEntryRequest) -> Result<u32, UserRefusal> {
        let (handle, name) = self.with_state(|s| {
            let users = &mut s.nvram.users;
            let handle = users.add(req, self.firmware)?;
            Ok::<_, UserRefusal>((handle, users.entry_name(handle)))
        })?;
        self.users_changed();
        self.audit(AuditEvent::acl_entry(EventId::ACL_ENTRY_ADDED, &name));
        Ok(handle)
    }

    /// CIM_AccountManagementService.CreateAccount: the new digest entry's
    /// handle ([`Users::create_digest_account`]).
    pub fn create_digest_account(
        &self,
        name: &str,
        ha1: Option<[u8; 16]>,
    ) -> Result<u32, UserRefusal> {
        let handle = self.with_state(|s| s.nvram.users.create_digest_account(name, ha1))?;
        self.users_changed();
        self.audit(AuditEvent::acl_entry(EventId::ACL_ENTRY_ADDED, name));
        Ok(handle)
    }

    /// UpdateUserAclEntryEx.
    pub fn update_user(&self, handle: u32, req: &AclEntryRequest) -> Result<(), UserRefusal> {
        let name = self.with_state(|s| {
            let users = &mut s.nvram.users;
            users.update(handle, req, self.firmware)?;
            Ok::<_, UserRefusal>(users.entry_name(handle))
        })?;
        self.audit(AuditEvent::acl_modified(&name));
        self.users_changed();
        Ok(())
    }

    /// RemoveUserAclEntry.
    pub fn remove_user(&self, handle: u32) -> Result<(), UserRefusal> {
        let name = self.with_state(|s| {
            let users = &mut s.nvram.users;
            let name = users.entry_name(handle);
            users.remove(handle).map(|()| name)
        })?;
        self.audit(AuditEvent::acl_entry(EventId::ACL_ENTRY_REMOVED, &name));
        self.users_changed();
        Ok(())
    }

    /// Removes the digest account of this name (CIM_Account Delete),
    /// refusing the administrator ([`Users::remove_digest_account`]).
    pub fn remove_digest_account(&self, name: &str) -> Result<(), UserRefusal> {
        self.with_state(|s| s.nvram.users.remove_digest_account(name))?;
        self.audit(AuditEvent::acl_entry(EventId::ACL_ENTRY_REMOVED, name));
        self.users_changed();
        Ok(())
    }

    /// Changes the digest account of this name (CIM_Account Put;
    /// [`Users::change_digest_account`]).
    pub fn change_digest_account(
        &self,
        name: &str,
        new_name: &str,
        ha1: Option<[u8; 16]>,
    ) -> Result<(), UserRefusal> {
        let admin = self.with_state(|s| {
            let users = &mut s.nvram.users;
            let admin = users.digest_account(name) == Some(DigestAccount::Admin);
            users.change_digest_account(name, new_name, ha1)?;
            Ok::<_, UserRefusal>(admin)
        })?;
        if !admin {
            self.audit(AuditEvent::acl_modified(new_name));
        }
        self.users_changed();
        Ok(())
    }

    /// SetAclEnabledState.
    pub fn set_user_enabled(&self, handle: u32, enabled: bool) -> Result<(), UserRefusal> {
        let name = self.with_state(|s| {
            let users = &mut s.nvram.users;
            users.set_enabled(handle, enabled)?;
            Ok::<_, UserRefusal>(users.entry_name(handle))
        })?;
        self.audit(AuditEvent::acl_state(enabled, &name));
        self.users_changed();
        Ok(())
    }

    /// SetAdminAclEntryEx.
    pub fn set_admin(&self, name: &str, ha1: [u8; 16]) -> Result<(), UserRefusal> {
        self.with_state(|s| s.nvram.users.set_admin(name, ha1))?;
        self.users_changed();
        Ok(())
    }

    /// A copy of one ACL entry (GetUserAclEntryEx, GetAclEnabledState).
    pub fn user(&self, handle: u32) -> Result<UserAccount, UserRefusal> {
        self.with_state(|s| s.nvram.users.account(handle).cloned())
            .ok_or(UserRefusal::InvalidHandle)
    }

    /// A page of entry handles from the 1-based `start`, with the total.
    pub fn user_handles(&self, start: usize) -> Result<(usize, Vec<u32>), UserRefusal> {
        self.with_state(|s| s.nvram.users.enumerate(start))
    }

    /// The administrator's name and whether its password is still the
    /// factory one.
    pub fn admin_entry(&self) -> (String, bool) {
        self.with_state(|s| {
            let users = &s.nvram.users;
            (users.admin_name.clone(), users.admin_is_default)
        })
    }

    /// Whether Kerberos logins are on (the 401 then offers Negotiate).
    pub fn kerberos_enabled(&self) -> bool {
        self.with_state(|s| s.nvram.users.kerberos.enabled)
    }

    pub fn kerberos_settings(&self) -> KerberosSettings {
        self.with_state(|s| s.nvram.users.kerberos.clone())
    }

    /// A Put of the Kerberos settings, applied only when the result is
    /// consistent ([`KerberosSettings::updated`]).
    pub fn update_kerberos(&self, update: KerberosUpdate) -> Result<(), UserRefusal> {
        self.with_state(|s| {
            let k = &mut s.nvram.users.kerberos;
            *k = k.updated(update).ok_or(UserRefusal::InvalidParameter)?;
            Ok(())
        })
    }

    /// SetCredentialCacheState.
    pub fn set_kerberos_credential_cache(&self, enabled: bool) {
        self.with_state(|s| s.nvram.users.kerberos.credential_cache = enabled);
        self.changed("AMT_KerberosSettingData");
    }

    fn users_changed(&self) {
        self.changed("AMT_AuthorizationService");
    }
}

pub use amtemu_wire::digest::ha1;
