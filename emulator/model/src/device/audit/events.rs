//! What the audit log records: the events it knows, their extended data,
//! who performed them, and the record layout clients decode.

use serde::{Deserialize, Serialize};

/// An auditable event: its application and the event within it. Clients
/// name it `AuditAppID * 100 + EventID` (1602 = ACL entry added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub app: u16,
    pub event: u16,
}

impl EventId {
    pub(super) const fn new(app: u16, event: u16) -> EventId {
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
    pub fn for_power_request(request: crate::device::power::PowerRequest) -> Option<EventId> {
        use crate::device::power::PowerRequest::*;
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

    pub(super) fn unpacked(v: u32) -> EventId {
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
