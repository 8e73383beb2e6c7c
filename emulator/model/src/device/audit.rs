//! The security audit log (AMT 4.0+ "Access Monitor"): which operations the
//! auditor wants recorded (the audit policy), the bounded log of records in
//! the firmware's binary layout, its storage policy when full, and the
//! auditor's lock.
//!
//! Who did something is known only to the protocol layer, so it sets the
//! acting caller for the duration of a request ([`acting`]) and the device
//! reads it when it records.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::users::Caller;

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

/// PT_STATUS values the audit methods answer with.
pub mod status {
    pub const NOT_PERMITTED: u32 = 16;
    pub const INVALID_INDEX: u32 = 35;
    pub const INVALID_PARAMETER: u32 = 36;
    pub const INVALID_HANDLE: u32 = 2053;
    pub const AUDIT_FAIL: u32 = 2075;
}

/// An auditable event: its application and the event within it. Clients
/// name it `AuditAppID * 100 + EventID` (1602 = ACL entry added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub app: u16,
    pub event: u16,
}

impl EventId {
    const fn new(app: u16, event: u16) -> EventId {
        EventId { app, event }
    }
    pub const PROVISIONING_STARTED: EventId = EventId::new(16, 0);
    pub const PROVISIONING_COMPLETED: EventId = EventId::new(16, 1);
    pub const ACL_ENTRY_ADDED: EventId = EventId::new(16, 2);
    pub const ACL_ENTRY_MODIFIED: EventId = EventId::new(16, 3);
    pub const ACL_ENTRY_REMOVED: EventId = EventId::new(16, 4);
    pub const ACL_ENTRY_STATE: EventId = EventId::new(16, 6);
    pub const POWER_PACKAGE_MODIFIED: EventId = EventId::new(16, 16);
    pub const UNPROVISIONING_STARTED: EventId = EventId::new(16, 19);
    pub const POWER_UP: EventId = EventId::new(17, 0);
    pub const POWER_DOWN: EventId = EventId::new(17, 1);
    pub const POWER_CYCLE: EventId = EventId::new(17, 2);
    pub const RESET: EventId = EventId::new(17, 3);
    pub const SET_BOOT_OPTIONS: EventId = EventId::new(17, 4);
    pub const LOG_CLEARED: EventId = EventId::new(20, 0);
    pub const POLICY_MODIFIED: EventId = EventId::new(20, 1);
    pub const LOG_DISABLED: EventId = EventId::new(20, 2);
    pub const LOG_ENABLED: EventId = EventId::new(20, 3);
    pub const TIME_SET: EventId = EventId::new(21, 0);
    pub const STORAGE_FPACL_MODIFIED: EventId = EventId::new(23, 2);
    pub const WIRELESS_PROFILE_ADDED: EventId = EventId::new(27, 0);
    pub const WIRELESS_PROFILE_REMOVED: EventId = EventId::new(27, 1);

    /// The security audit log application: its own management is always
    /// recorded while the log is enabled, whatever the policy (inferred: an
    /// auditor must see who cleared or disabled the log).
    pub const AUDIT_LOG_APP: u16 = 20;

    /// The record a remote power action makes, if it makes one.
    pub fn for_power_request(request: super::power::PowerRequest) -> Option<EventId> {
        use super::power::PowerRequest::*;
        match request {
            On => Some(EventId::POWER_UP),
            OffSoft | OffSoftGraceful => Some(EventId::POWER_DOWN),
            PowerCycle => Some(EventId::POWER_CYCLE),
            MasterBusReset | ResetGraceful => Some(EventId::RESET),
            SleepDeep | Hibernate | Nmi => None,
        }
    }

    /// Whether the firmware knows this event (MeshCommander's table).
    pub fn is_known(self) -> bool {
        EVENTS_PER_APP
            .iter()
            .any(|(app, count)| *app == self.app && self.event < *count)
    }

    /// Every known event (for SetAuditPolicyBulk and listings).
    pub fn all() -> impl Iterator<Item = EventId> {
        EVENTS_PER_APP
            .iter()
            .flat_map(|(app, count)| (0..*count).map(|e| EventId::new(*app, e)))
    }

    /// The id as one number, app << 16 | event (AuditApplicationEventID).
    pub fn packed(self) -> u32 {
        (u32::from(self.app) << 16) | u32::from(self.event)
    }

    fn unpacked(v: u32) -> EventId {
        EventId::new((v >> 16) as u16, v as u16)
    }

    /// The event with no extended data.
    pub fn plain(self) -> AuditEvent {
        AuditEvent {
            id: self,
            extended: Vec::new(),
        }
    }
}

/// Applications and how many events each defines (ids 0 to n-1).
const EVENTS_PER_APP: &[(u16, u16)] = &[
    (16, 20), // Security Admin
    (17, 5),  // Remote Control Operations
    (18, 13), // Redirection Manager
    (19, 2),  // Firmware Update Manager
    (20, 6),  // Security Audit Log
    (21, 1),  // Network Time
    (22, 6),  // Network Administration
    (23, 4),  // Storage Administration
    (24, 4),  // Event Manager
    (25, 7),  // Circuit Breaker Manager
    (26, 3),  // Agent Presence Manager
    (27, 3),  // Wireless Configuration
    (28, 5),  // EAC
    (29, 5),  // KVM
    (30, 3),  // User Opt-In
];

/// A redirection session kind, for the redirection engine's audit calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    Ider,
    Sol,
    Kvm,
}

/// One occurrence to record: the event and its extended data, whose layout
/// depends on the event (the layouts MeshCommander decodes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: EventId,
    pub extended: Vec<u8>,
}

impl AuditEvent {
    /// ACL entry added or removed: the entry's type (0 digest) and name.
    pub fn acl_entry(id: EventId, name: &str) -> AuditEvent {
        let mut extended = vec![0];
        push_short(&mut extended, name.as_bytes());
        AuditEvent { id, extended }
    }

    /// ACL entry modified: which fields changed (unknown here, 0), the
    /// entry's type (0 digest) and name.
    pub fn acl_modified(name: &str) -> AuditEvent {
        let mut extended = vec![0, 0];
        push_short(&mut extended, name.as_bytes());
        AuditEvent {
            id: EventId::ACL_ENTRY_MODIFIED,
            extended,
        }
    }

    /// An ACL entry enabled or disabled: the new state, the entry's type (0
    /// digest) and name.
    pub fn acl_state(enabled: bool, name: &str) -> AuditEvent {
        let mut extended = vec![u8::from(enabled), 0];
        push_short(&mut extended, name.as_bytes());
        AuditEvent {
            id: EventId::ACL_ENTRY_STATE,
            extended,
        }
    }

    /// Unprovisioning started, from the remote WS-Man interface.
    pub fn unprovisioning() -> AuditEvent {
        AuditEvent {
            id: EventId::UNPROVISIONING_STARTED,
            extended: vec![4],
        }
    }

    /// The ME clock was set to `time` (seconds since 1970).
    pub fn time_set(time: u32) -> AuditEvent {
        AuditEvent {
            id: EventId::TIME_SET,
            extended: time.to_be_bytes().to_vec(),
        }
    }

    /// A redirection session opened or closed.
    pub fn session(kind: Session, opened: bool) -> AuditEvent {
        let base = match kind {
            Session::Ider => 0,
            Session::Sol => 4,
            Session::Kvm => 8,
        };
        EventId::new(18, base + u16::from(!opened)).plain()
    }
}

impl From<EventId> for AuditEvent {
    fn from(id: EventId) -> Self {
        id.plain()
    }
}

/// A variable part of a record: its length in one byte, then at most 255
/// bytes of it.
fn push_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Who performed an audited operation, as the record encodes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Initiator {
    /// An HTTP digest user, by name.
    Digest(String),
    /// A Kerberos user: whether the SID is a user in the domain, and the SID.
    Kerberos { user_in_domain: u32, sid: Vec<u8> },
    /// The host, through the local interface.
    Local,
}

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub app: u16,
    pub event: u16,
    pub initiator: Initiator,
    /// ME clock, seconds since 1970.
    pub time: u32,
    /// The initiator's IPv4 address, when it came over the network.
    pub address: Option<String>,
    pub extended: Vec<u8>,
}

impl AuditRecord {
    /// The firmware's binary layout: big-endian app and event ids, the
    /// initiator, the time, the network address and the extended data, each
    /// variable part preceded by its length in one byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.extended.len());
        out.extend_from_slice(&self.app.to_be_bytes());
        out.extend_from_slice(&self.event.to_be_bytes());
        match &self.initiator {
            Initiator::Digest(name) => {
                out.push(0);
                push_short(&mut out, name.as_bytes());
            }
            Initiator::Kerberos {
                user_in_domain,
                sid,
            } => {
                out.push(1);
                out.extend_from_slice(&user_in_domain.to_be_bytes());
                push_short(&mut out, sid);
            }
            Initiator::Local => out.push(2),
        }
        out.extend_from_slice(&self.time.to_be_bytes());
        match &self.address {
            Some(address) => {
                // MCLocationType 0: an IPv4 address.
                out.push(0);
                push_short(&mut out, address.as_bytes());
            }
            None => {
                // 2: no network address.
                out.push(2);
                out.push(0);
            }
        }
        push_short(&mut out, &self.extended);
        out
    }
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

/// A record that could not be stored although the policy calls the event
/// critical: the operation must not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditFail;

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

    /// Turns auditing of one event on (with a policy type) or off.
    pub fn set_policy(&mut self, id: EventId, audit: Option<PolicyType>) -> Result<(), u32> {
        if !id.is_known() {
            return Err(status::INVALID_PARAMETER);
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
    pub fn record(&mut self, record: AuditRecord, now: u32) -> Result<bool, AuditFail> {
        let id = EventId::new(record.app, record.event);
        let Some(kind) = self.policy_of(id).filter(|_| self.enabled) else {
            return Ok(false);
        };
        if !self.has_room(now) {
            return match kind {
                PolicyType::Critical => Err(AuditFail),
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
    pub fn clear(&mut self, now: u32) -> Result<(), u32> {
        if self.locked(now).is_some() {
            return Err(status::NOT_PERMITTED);
        }
        self.records.clear();
        Ok(())
    }

    /// One page from a 1-based index, oldest first: the total count and
    /// up to [`PAGE_SIZE`] encoded records.
    pub fn read(&self, start: i64) -> Result<(usize, Vec<Vec<u8>>), u32> {
        let total = self.records.len();
        if start < 1 || start as u64 > total as u64 + 1 {
            return Err(status::INVALID_INDEX);
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

    pub fn percentage_free(&self) -> usize {
        100 - self.records.len() * 100 / CAPACITY
    }

    /// Takes the lock for `seconds`; a lock held by someone else refuses.
    pub fn lock(&mut self, seconds: u32, now: u32) -> Result<u32, u32> {
        if seconds == 0 || seconds > MAX_LOCK_SECONDS {
            return Err(status::INVALID_PARAMETER);
        }
        if self.locked(now).is_some() {
            return Err(status::NOT_PERMITTED);
        }
        self.last_lock_handle = self.last_lock_handle.wrapping_add(1).max(1);
        self.lock = Some(Lock {
            handle: self.last_lock_handle,
            until: now.saturating_add(seconds),
        });
        Ok(self.last_lock_handle)
    }

    /// Releases the lock with the handle it was given.
    pub fn unlock(&mut self, handle: u32, now: u32) -> Result<(), u32> {
        match self.locked(now) {
            Some(lock) if lock.handle == handle => {
                self.lock = None;
                Ok(())
            }
            Some(_) => Err(status::INVALID_HANDLE),
            None => Err(status::NOT_PERMITTED),
        }
    }
}

/// The caller a protocol layer is serving, for the records made meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub caller: Caller,
    /// The client's IPv4 address, when known.
    pub address: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: EventId, time: u32) -> AuditRecord {
        AuditRecord {
            app: id.app,
            event: id.event,
            initiator: Initiator::Digest("admin".into()),
            time,
            address: Some("127.0.0.1".into()),
            extended: vec![],
        }
    }

    #[test]
    fn records_encode_in_the_layout_meshcommander_decodes() {
        let mut r = rec(EventId::ACL_ENTRY_ADDED, 0x0102_0304);
        r.extended = AuditEvent::acl_entry(EventId::ACL_ENTRY_ADDED, "bob").extended;
        let b = r.encode();
        assert_eq!(&b[..4], &[0, 16, 0, 2]);
        assert_eq!(b[4], 0, "digest initiator");
        assert_eq!(&b[5..11], b"\x05admin");
        assert_eq!(&b[11..15], &[1, 2, 3, 4]);
        assert_eq!(b[15], 0, "IPv4 location");
        assert_eq!(&b[16..26], b"\x09127.0.0.1");
        assert_eq!(&b[26..], b"\x05\x00\x03bob");
        assert_eq!(
            AuditEvent::acl_state(false, "bob").extended,
            b"\x00\x00\x03bob"
        );
        let local = AuditRecord {
            initiator: Initiator::Local,
            address: None,
            ..rec(EventId::POWER_UP, 7)
        };
        assert_eq!(local.encode(), vec![0, 17, 0, 0, 2, 0, 0, 0, 7, 2, 0, 0]);
    }

    #[test]
    fn only_audited_events_are_recorded_and_unknown_ids_are_refused() {
        let mut log = AuditLog::default();
        assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(false));
        assert_eq!(
            log.set_policy(EventId::new(16, 99), Some(PolicyType::Alert)),
            Err(status::INVALID_PARAMETER)
        );
        assert_eq!(
            log.set_policy(EventId::new(99, 0), Some(PolicyType::Alert)),
            Err(status::INVALID_PARAMETER)
        );
        log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
            .unwrap();
        assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(true));
        // The log's own management is always recorded.
        assert_eq!(log.record(rec(EventId::LOG_CLEARED, 1), 1), Ok(true));
        log.enabled = false;
        assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(false));
        assert_eq!(log.state_bits(1) & 1, 1);
        log.set_policy(EventId::POWER_UP, None).unwrap();
        assert!(log.policy_rules().is_empty());
    }

    #[test]
    fn a_full_log_follows_its_storage_policy() {
        let fill = |policy| {
            let mut log = AuditLog {
                storage_policy: policy,
                ..AuditLog::default()
            };
            log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
                .unwrap();
            log.set_policy(EventId::RESET, Some(PolicyType::Critical))
                .unwrap();
            for t in 0..CAPACITY as u32 {
                assert_eq!(log.record(rec(EventId::POWER_UP, t), t), Ok(true));
            }
            log
        };
        let mut wrap = fill(StoragePolicy::Rollover);
        assert_eq!(wrap.state_bits(0) & 0xC, 0xC);
        assert_eq!(wrap.record(rec(EventId::RESET, 5000), 5000), Ok(true));
        assert_eq!(wrap.len(), CAPACITY);
        assert_eq!(wrap.records().front().unwrap().time, 1, "oldest dropped");

        let mut keep = fill(StoragePolicy::NoRollover);
        assert_eq!(keep.record(rec(EventId::POWER_UP, 5000), 5000), Ok(false));
        assert!(keep.blocks(EventId::RESET, 5000));
        assert_eq!(keep.record(rec(EventId::RESET, 5000), 5000), Err(AuditFail));
        assert_eq!(keep.len(), CAPACITY);
        assert_eq!(keep.records().back().unwrap().time, CAPACITY as u32 - 1);

        let mut restricted = fill(StoragePolicy::RestrictedRollover);
        restricted.min_days_to_keep = 1;
        assert!(restricted.blocks(EventId::RESET, 86_399));
        assert!(!restricted.blocks(EventId::RESET, 86_400));
        assert_eq!(
            restricted.record(rec(EventId::RESET, 86_400), 86_400),
            Ok(true)
        );
    }

    #[test]
    fn reading_pages_from_a_one_based_index() {
        let mut log = AuditLog::default();
        log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
            .unwrap();
        for t in 0..25 {
            log.record(rec(EventId::POWER_UP, t), t).unwrap();
        }
        let (total, first) = log.read(1).unwrap();
        assert_eq!((total, first.len()), (25, PAGE_SIZE));
        let (_, last) = log.read(21).unwrap();
        assert_eq!(last.len(), 5);
        assert_eq!(log.read(26).unwrap().1.len(), 0);
        assert_eq!(log.read(0), Err(status::INVALID_INDEX));
        assert_eq!(log.read(27), Err(status::INVALID_INDEX));
        assert_eq!(AuditLog::default().read(1), Ok((0, vec![])));
    }

    #[test]
    fn the_lock_keeps_others_out_until_it_expires() {
        let mut log = AuditLog::default();
        assert_eq!(log.lock(0, 100), Err(status::INVALID_PARAMETER));
        assert_eq!(
            log.lock(MAX_LOCK_SECONDS + 1, 100),
            Err(status::INVALID_PARAMETER)
        );
        let handle = log.lock(60, 100).unwrap();
        assert_eq!(log.state_bits(100) & 2, 2);
        assert_eq!(log.lock(60, 101), Err(status::NOT_PERMITTED));
        assert_eq!(log.clear(101), Err(status::NOT_PERMITTED));
        assert_eq!(log.unlock(handle + 1, 101), Err(status::INVALID_HANDLE));
        log.unlock(handle, 101).unwrap();
        assert_eq!(log.clear(101), Ok(()));
        let again = log.lock(10, 200).unwrap();
        assert_ne!(again, handle);
        assert_eq!(log.clear(210), Ok(()), "the lock ran out");
        assert_eq!(log.unlock(again, 210), Err(status::NOT_PERMITTED));
    }

    #[test]
    fn the_sp2_state_survives_a_restart() {
        use crate::device::{Device, DeviceConfig, Firmware, MePowerPolicy, storage::AppIdentity};
        let config = DeviceConfig::new("nv", Firmware::by_name("11.8").unwrap());
        let before = Device::new(config.clone());
        before.with_state(|s| {
            s.nvram
                .audit_log
                .set_policy(EventId::POWER_UP, Some(PolicyType::Critical))
                .unwrap();
            s.nvram.audit_log.storage_policy = StoragePolicy::NoRollover;
            s.nvram.power_policy = MePowerPolicy::S0AndSleep;
            let session = s
                .nvram
                .storage
                .register(AppIdentity {
                    uuid: vec![1; 16],
                    vendor: "v".into(),
                    name: "a".into(),
                    enterprise: String::new(),
                })
                .unwrap();
            let block = s.nvram.storage.allocate(session, 8, false, "b").unwrap();
            s.nvram.storage.write(session, block, 0, b"kept").unwrap();
        });
        before.audit(EventId::POWER_UP);
        let saved = serde_json::to_string(&before.nvram()).unwrap();
        let after = Device::new(config);
        after.restore(serde_json::from_str(&saved).unwrap());
        after.with_state(|s| {
            before.with_state(|b| {
                assert_eq!(s.nvram.audit_log, b.nvram.audit_log);
                assert_eq!(s.nvram.power_policy, b.nvram.power_policy);
                assert_eq!(s.nvram.ieee8021x, b.nvram.ieee8021x);
            });
            assert_eq!(s.nvram.audit_log.len(), 1);
            assert_eq!(s.nvram.storage.used(), 8);
        });
        // State files from before these features load with the defaults.
        let mut old: serde_json::Value = serde_json::from_str(&saved).unwrap();
        for key in ["audit_log", "storage", "power_policy", "ieee8021x"] {
            old.as_object_mut().unwrap().remove(key);
        }
        let restored: crate::device::Nvram = serde_json::from_value(old).unwrap();
        assert_eq!(restored.power_policy, MePowerPolicy::AlwaysOn);
        assert!(restored.audit_log.is_empty());
    }

    #[test]
    fn the_device_records_for_the_acting_caller_on_firmware_with_a_log() {
        use crate::device::{Device, DeviceConfig, Firmware};
        let device = |fw| Device::new(DeviceConfig::new("a", Firmware::by_name(fw).unwrap()));
        for fw in ["3.2.1", "4.0"] {
            let d = device(fw);
            d.with_state(|s| {
                s.nvram
                    .audit_log
                    .set_policy(EventId::RESET, Some(PolicyType::Alert))
            })
            .unwrap();
            let user = Actor {
                caller: Caller::User {
                    name: "console".into(),
                    realms: vec![],
                },
                address: Some("127.9.9.9".into()),
            };
            acting(user, || d.audit(EventId::RESET));
            d.audit(EventId::RESET);
            let records = d.with_state(|s| s.nvram.audit_log.records().clone());
            if fw == "3.2.1" {
                assert!(records.is_empty(), "no audit log before 4.0");
                continue;
            }
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].initiator, Initiator::Digest("console".into()));
            assert_eq!(records[0].address.as_deref(), Some("127.9.9.9"));
            assert_eq!(
                records[1].initiator,
                Initiator::Local,
                "no caller: the host"
            );
        }
    }

    #[test]
    fn the_acting_caller_is_scoped() {
        assert_eq!(current_actor(), None);
        let actor = Actor {
            caller: Caller::Admin,
            address: None,
        };
        let inside = acting(actor.clone(), current_actor);
        assert_eq!(inside, Some(actor));
        assert_eq!(current_actor(), None);
    }
}
