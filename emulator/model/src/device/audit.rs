//! The security audit log (AMT 4.0+ "Access Monitor"): which operations the
//! auditor wants recorded (the audit policy), the bounded log of records in
//! the firmware's binary layout, its storage policy when full, and the
//! auditor's lock.
//!
//! Who did something is known only to the protocol layer, so it sets the
//! acting caller for the duration of a request ([`acting`]) and the device
//! reads it when it records.
//!
//! [`Device`]'s audit-log methods below are what the auditor's class calls;
//! each check and the change it guards happen under one lock, refusing with
//! an [`AuditRefusal`].

mod events;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::users::Caller;
use super::{Device, DeviceState, Feature, unix_now};

pub use events::{AuditEvent, AuditRecord, EventId, Initiator, Session};

/// How many records the log holds. The firmware sizes its log in flash
/// bytes; a record count is the emulator's stand-in (inferred).
pub const CAPACITY: usize = 1024;
/// Records per ReadRecords answer (MeshCommander and the MPS page by the
/// count returned; real firmware returns at most 10).
pub const PAGE_SIZE: usize = 10;
/// The longest lock an auditor may take (inferred).
pub const MAX_LOCK_SECONDS: u32 = 3600;
/// AuditState's "almost full" bit is set from this fill level (inferred).
const ALMOST_FULL_PERCENT: usize = 85;

/// Why the audit log refuses an operation. The auditor's class maps each
/// to its PT_STATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditRefusal {
    /// Refused while an auditor holds the lock (or, unlocking, when nobody
    /// does).
    #[error("not permitted while the log is locked")]
    NotPermitted,
    /// A read from past the end of the log.
    #[error("no record at this index")]
    InvalidIndex,
    /// A value out of range, or an event the policy cannot name.
    #[error("invalid parameter")]
    InvalidParameter,
    /// An unlock with a handle other than the lock's.
    #[error("not the lock's handle")]
    InvalidHandle,
    /// A record the policy calls critical could not be stored: the
    /// operation must not happen (PT_STATUS_AUDIT_FAIL).
    #[error("the audit log cannot take the record")]
    CannotRecord,
}

/// What happens when a record arrives at a full log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoragePolicy {
    /// New records are dropped (critical operations are refused).
    NoRollover,
    /// The oldest record makes room.
    #[default]
    Rollover,
    /// The oldest record makes room only once it is older than
    /// MinDaysToKeep days.
    RestrictedRollover,
}

impl StoragePolicy {
    pub fn number(self) -> u8 {
        match self {
            StoragePolicy::NoRollover => 0,
            StoragePolicy::Rollover => 1,
            StoragePolicy::RestrictedRollover => 2,
        }
    }

    pub fn from_number(n: i64) -> Option<StoragePolicy> {
        match n {
            0 => Some(StoragePolicy::NoRollover),
            1 => Some(StoragePolicy::Rollover),
            2 => Some(StoragePolicy::RestrictedRollover),
            _ => None,
        }
    }

    /// The CIM OverwritePolicy that matches (2 wraps, 7 never overwrites,
    /// 32768 partial restricted rollover).
    pub fn overwrite_policy(self) -> u16 {
        match self {
            StoragePolicy::NoRollover => 7,
            StoragePolicy::Rollover => 2,
            StoragePolicy::RestrictedRollover => 32768,
        }
    }
}

/// How the firmware treats an audited event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    /// Recorded when there is room.
    Alert,
    /// The operation is refused when it cannot be recorded.
    Critical,
}

impl PolicyType {
    pub fn number(self) -> u8 {
        match self {
            PolicyType::Alert => 0,
            PolicyType::Critical => 1,
        }
    }

    pub fn from_number(n: i64) -> Option<PolicyType> {
        match n {
            0 => Some(PolicyType::Alert),
            1 => Some(PolicyType::Critical),
            _ => None,
        }
    }
}

/// The auditor's lock: while it holds, nobody clears the log and no record
/// is overwritten, so what the auditor reads stays put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lock {
    handle: u32,
    until: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    records: VecDeque<AuditRecord>,
    pub enabled: bool,
    pub storage_policy: StoragePolicy,
    pub min_days_to_keep: u16,
    /// Audited events by packed id (app << 16 | event).
    policy: BTreeMap<u32, PolicyType>,
    #[serde(skip)]
    lock: Option<Lock>,
    #[serde(skip)]
    last_lock_handle: u32,
}

impl Default for AuditLog {
    /// Enabled with no events audited: the auditor picks them.
    fn default() -> Self {
        AuditLog {
            records: VecDeque::new(),
            enabled: true,
            storage_policy: StoragePolicy::default(),
            min_days_to_keep: 0,
            policy: BTreeMap::new(),
            lock: None,
            last_lock_handle: 0,
        }
    }
}

impl AuditLog {
    pub fn records(&self) -> &VecDeque<AuditRecord> {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How the policy treats an event, if it is audited at all.
    pub fn policy_of(&self, id: EventId) -> Option<PolicyType> {
        if id.app == EventId::AUDIT_LOG_APP {
            return Some(PolicyType::Alert);
        }
        self.policy.get(&id.packed()).copied()
    }

    /// The audited events and how, in id order.
    pub fn policy_rules(&self) -> Vec<(EventId, PolicyType)> {
        self.policy
            .iter()
            .map(|(k, v)| (EventId::unpacked(*k), *v))
            .collect()
    }

    /// Turns auditing of one event on (with a policy type) or off. The
    /// log's own events are always audited, so they cannot be named.
    pub fn set_policy(
        &mut self,
        id: EventId,
        audit: Option<PolicyType>,
    ) -> Result<(), AuditRefusal> {
        if !id.is_known() || id.app == EventId::AUDIT_LOG_APP {
            return Err(AuditRefusal::InvalidParameter);
        }
        match audit {
            Some(kind) => self.policy.insert(id.packed(), kind),
            None => self.policy.remove(&id.packed()),
        };
        Ok(())
    }

    fn locked(&self, now: u32) -> Option<Lock> {
        self.lock.filter(|l| now < l.until)
    }

    /// Whether an event would be refused for want of room (a critical event
    /// at a log that cannot take it). Callers ask before they act.
    pub fn blocks(&self, id: EventId, now: u32) -> bool {
        self.enabled && self.policy_of(id) == Some(PolicyType::Critical) && !self.has_room(now)
    }

    fn has_room(&self, now: u32) -> bool {
        if self.records.len() < CAPACITY {
            return true;
        }
        if self.locked(now).is_some() {
            return false;
        }
        match self.storage_policy {
            StoragePolicy::NoRollover => false,
            StoragePolicy::Rollover => true,
            StoragePolicy::RestrictedRollover => self.records.front().is_some_and(|oldest| {
                u64::from(oldest.time) + u64::from(self.min_days_to_keep) * 86_400 <= u64::from(now)
            }),
        }
    }

    /// Records an event if the log is enabled and the policy audits it.
    /// Ok(true) when stored; Ok(false) when not audited or dropped for want
    /// of room; Err when a critical event could not be stored.
    pub fn record(&mut self, record: AuditRecord, now: u32) -> Result<bool, AuditRefusal> {
        let id = EventId::new(record.app, record.event);
        let Some(kind) = self.policy_of(id).filter(|_| self.enabled) else {
            return Ok(false);
        };
        if !self.has_room(now) {
            return match kind {
                PolicyType::Critical => Err(AuditRefusal::CannotRecord),
                PolicyType::Alert => Ok(false),
            };
        }
        while self.records.len() >= CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
        Ok(true)
    }

    /// Empties the log; refused while an auditor holds the lock.
    pub fn clear(&mut self, now: u32) -> Result<(), AuditRefusal> {
        if self.locked(now).is_some() {
            return Err(AuditRefusal::NotPermitted);
        }
        self.records.clear();
        Ok(())
    }

    /// One page from a 1-based index, oldest first: the total count and
    /// up to [`PAGE_SIZE`] encoded records.
    pub fn read(&self, start: i64) -> Result<(usize, Vec<Vec<u8>>), AuditRefusal> {
        let total = self.records.len();
        if start < 1 || start as u64 > total as u64 + 1 {
            return Err(AuditRefusal::InvalidIndex);
        }
        let page = self
            .records
            .iter()
            .skip(start as usize - 1)
            .take(PAGE_SIZE)
            .map(AuditRecord::encode)
            .collect();
        Ok((total, page))
    }

    /// AuditState: 0x1 disabled, 0x2 locked, 0x4 almost full, 0x8 full,
    /// 0x10 no signing key (the emulator never has one).
    pub fn state_bits(&self, now: u32) -> u16 {
        let mut bits = 0x10;
        if !self.enabled {
            bits |= 0x1;
        }
        if self.locked(now).is_some() {
            bits |= 0x2;
        }
        if self.records.len() * 100 >= CAPACITY * ALMOST_FULL_PERCENT {
            bits |= 0x4;
        }
        if self.records.len() >= CAPACITY {
            bits |= 0x8;
        }
        bits
    }

    /// Sets what happens when the log is full; restricted rollover needs
    /// the days to keep.
    pub fn set_storage_policy(
        &mut self,
        policy: StoragePolicy,
        days: Option<u16>,
    ) -> Result<(), AuditRefusal> {
        if policy == StoragePolicy::RestrictedRollover && days.is_none() {
            return Err(AuditRefusal::InvalidParameter);
        }
        self.storage_policy = policy;
        if let Some(d) = days {
            self.min_days_to_keep = d;
        }
        Ok(())
    }

    pub fn percentage_free(&self) -> usize {
        100 - self.records.len() * 100 / CAPACITY
    }

    /// Takes the lock for `seconds`; a lock held by someone else refuses.
    pub fn lock(&mut self, seconds: u32, now: u32) -> Result<u32, AuditRefusal> {
        if seconds == 0 || seconds > MAX_LOCK_SECONDS {
            return Err(AuditRefusal::InvalidParameter);
        }
        if self.locked(now).is_some() {
            return Err(AuditRefusal::NotPermitted);
        }
        self.last_lock_handle = self.last_lock_handle.wrapping_add(1).max(1);
        self.lock = Some(Lock {
            handle: self.last_lock_handle,
            until: now.saturating_add(seconds),
        });
        Ok(self.last_lock_handle)
    }

    /// Releases the lock with the handle it was given.
    pub fn unlock(&mut self, handle: u32, now: u32) -> Result<(), AuditRefusal> {
        match self.locked(now) {
            Some(lock) if lock.handle == handle => {
                self.lock = None;
                Ok(())
            }
            Some(_) => Err(AuditRefusal::InvalidHandle),
            None => Err(AuditRefusal::NotPermitted),
        }
    }
}

/// What AMT_AuditLog reports about the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditLogStatus {
    /// AuditState ([`AuditLog::state_bits`]).
    pub state_bits: u16,
    pub records: usize,
    pub percentage_free: usize,
    pub storage_policy: StoragePolicy,
    pub min_days_to_keep: u16,
    pub enabled: bool,
    /// When the newest record was made (ME clock).
    pub last_record: Option<u32>,
}

/// The auditor's operations. Each reads the ME clock, checks and changes
/// under one lock; a change is announced, and the log's own management is
/// recorded in it.
impl Device {
    pub fn audit_log_status(&self) -> AuditLogStatus {
        self.with_state(|s| {
            let now = unix_now(s.nvram.clock_offset);
            let log = &s.nvram.audit_log;
            AuditLogStatus {
                state_bits: log.state_bits(now),
                records: log.len(),
                percentage_free: log.percentage_free(),
                storage_policy: log.storage_policy,
                min_days_to_keep: log.min_days_to_keep,
                enabled: log.enabled,
                last_record: log.records().back().map(|r| r.time),
            }
        })
    }

    /// ReadRecords: a page of encoded records from the 1-based `start`,
    /// with the total count.
    pub fn read_audit_log(&self, start: i64) -> Result<(usize, Vec<Vec<u8>>), AuditRefusal> {
        self.with_state(|s| s.nvram.audit_log.read(start))
    }

    /// ClearLog: refused while an auditor holds the lock.
    pub fn clear_audit_log(&self) -> Result<(), AuditRefusal> {
        self.with_state(|s| s.nvram.audit_log.clear(unix_now(s.nvram.clock_offset)))?;
        self.audit_log_changed();
        self.audit(EventId::LOG_CLEARED);
        Ok(())
    }

    /// Enables or disables the log. Disabling is recorded while the log
    /// still takes records, enabling once it does again.
    pub fn set_audit_log_enabled(&self, enable: bool) {
        let (changed, stored) = self.with_state(|s| {
            if s.nvram.audit_log.enabled == enable {
                return (false, false);
            }
            let mut stored = false;
            if !enable {
                stored |= self.record_audit(s, EventId::LOG_DISABLED.plain());
            }
            s.nvram.audit_log.enabled = enable;
            if enable {
                stored |= self.record_audit(s, EventId::LOG_ENABLED.plain());
            }
            (true, stored)
        });
        if stored {
            self.audit_log_changed();
        }
        if changed {
            self.audit_log_changed();
        }
    }

    /// SetAuditLock: takes the lock for `seconds`; the handle to release it.
    pub fn lock_audit_log(&self, seconds: u32) -> Result<u32, AuditRefusal> {
        self.with_state(|s| {
            let now = unix_now(s.nvram.clock_offset);
            s.nvram.audit_log.lock(seconds, now)
        })
    }

    /// SetAuditLock: releases the lock with its handle.
    pub fn unlock_audit_log(&self, handle: u32) -> Result<(), AuditRefusal> {
        self.with_state(|s| {
            let now = unix_now(s.nvram.clock_offset);
            s.nvram.audit_log.unlock(handle, now)
        })
    }

    /// SetStoragePolicy ([`AuditLog::set_storage_policy`]).
    pub fn set_audit_storage_policy(
        &self,
        policy: StoragePolicy,
        days: Option<u16>,
    ) -> Result<(), AuditRefusal> {
        self.with_state(|s| s.nvram.audit_log.set_storage_policy(policy, days))?;
        self.audit_log_changed();
        self.audit(EventId::POLICY_MODIFIED);
        Ok(())
    }

    /// The audited events and how, in id order.
    pub fn audit_policy_rules(&self) -> Vec<(EventId, PolicyType)> {
        self.with_state(|s| s.nvram.audit_log.policy_rules())
    }

    /// SetAuditPolicy(Bulk): applies every change or none.
    pub fn set_audit_policy(
        &self,
        changes: &[(EventId, Option<PolicyType>)],
    ) -> Result<(), AuditRefusal> {
        self.with_state(|s| {
            let mut log = s.nvram.audit_log.clone();
            for (id, audit) in changes {
                log.set_policy(*id, *audit)?;
            }
            s.nvram.audit_log = log;
            Ok(())
        })?;
        self.changed("AMT_AuditPolicyRule");
        self.audit(EventId::POLICY_MODIFIED);
        Ok(())
    }

    /// Records `event` for the acting caller in a state the caller already
    /// holds the lock on; whether it was stored. (Inside one lock this is
    /// what [`Device::audit`] does.)
    pub(super) fn record_audit(&self, s: &mut DeviceState, event: AuditEvent) -> bool {
        if !self.firmware.has(Feature::AuditLog) {
            return false;
        }
        let actor = current_actor();
        let initiator = match actor.as_ref().map(|a| &a.caller) {
            Some(Caller::Admin) => Initiator::Digest(s.nvram.users.admin_name.clone()),
            Some(Caller::User { name, .. }) => Initiator::Digest(name.clone()),
            Some(Caller::Anonymous) | None => Initiator::Local,
        };
        let now = unix_now(s.nvram.clock_offset);
        let record = AuditRecord {
            app: event.id.app,
            event: event.id.event,
            initiator,
            time: now,
            address: actor.and_then(|a| a.address).map(|ip| ip.to_string()),
            extended: event.extended,
        };
        s.nvram.audit_log.record(record, now) == Ok(true)
    }

    fn audit_log_changed(&self) {
        self.changed("AMT_AuditLog");
    }
}

/// The caller a protocol layer is serving, for the records made meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub caller: Caller,
    /// The client's address, when known; written out only when a record
    /// is made (most requests make none).
    pub address: Option<std::net::IpAddr>,
}

thread_local! {
    static ACTOR: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

/// Runs `f` (synchronous request handling) with `actor` as the initiator of
/// whatever it audits.
pub fn acting<R>(actor: Actor, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Actor>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ACTOR.with(|a| *a.borrow_mut() = previous);
        }
    }
    let _restore = Restore(ACTOR.with(|a| a.borrow_mut().replace(actor)));
    f()
}

/// The caller being served on this thread, if any.
pub fn current_actor() -> Option<Actor> {
    ACTOR.with(|a| a.borrow().clone())
}
