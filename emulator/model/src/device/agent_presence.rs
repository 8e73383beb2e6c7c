//! Agent presence: watchdogs a console creates for software agents on the
//! host (AMT_AgentPresenceWatchdog). An agent registers, then asserts its
//! presence more often than the watchdog's timeout; when the heartbeats
//! stop, the watchdog expires and the actions set for that transition
//! happen: an event log entry, a System Defense policy switched on.
//!
//! The simulated host runs such an agent when told to ([`HostAgent`]):
//! while the host is in S0 it registers every watchdog and keeps it fed.
//! Like the host's script, the agent runs lazily: every access to the
//! device brings it up to now, so a heartbeat costs nothing. A timer task
//! exists only while a watchdog counts down with no agent feeding it, one
//! per device at most; a device without watchdogs pays one emptiness check
//! per access.
//!
//! Facts from Intel's reference (Agent Watchdog Timers and Actions): the
//! timers count only while the host is in S0; StartupInterval is the time
//! an agent has to start sending heartbeats, TimeoutInterval the longest
//! time between two. Where this module goes further it says so.

use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};

use super::defense::{Defense, Triggered};
use super::message_log::{LogEvent, MessageLog};
use super::{Device, DeviceEvent, DeviceState, Feature, HostPower, unix_now};

/// AMT_AgentPresenceCapabilities.MaxTotalAgents (inferred: Intel documents
/// the property, not a figure for each release).
pub const MAX_WATCHDOGS: usize = 16;
/// AMT_AgentPresenceCapabilities.MaxTotalActions (inferred likewise).
pub const MAX_ACTIONS: usize = 16;
/// The longest DeviceID (a GUID in Base64 is 24 characters).
pub const MAX_DEVICE_ID: usize = 64;
/// The longest MonitoredEntityDescription accepted (inferred).
pub const MAX_DESCRIPTION: usize = 64;

/// CurrentState, with the codes consoles show (1, 2, 4, 8, 16): action
/// conditions are masks of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchdogState {
    NotStarted,
    Stopped,
    Running,
    Expired,
    Suspended,
}

impl WatchdogState {
    pub fn code(self) -> u8 {
        match self {
            WatchdogState::NotStarted => 1,
            WatchdogState::Stopped => 2,
            WatchdogState::Running => 4,
            WatchdogState::Expired => 8,
            WatchdogState::Suspended => 16,
        }
    }
}

/// Every state bit an action condition may name.
pub const ALL_STATES: u8 = 0x1F;

/// What happens when a watchdog moves from a state in `old_states` to one
/// in `new_states` (AddAction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogAction {
    /// Numbers the action's instances (AMT_AgentPresenceWatchdogAction).
    pub id: u32,
    pub old_states: u8,
    pub new_states: u8,
    /// EventOnTransition: an event log entry.
    pub event: bool,
    /// ActionSd: the System Defense policy to switch on.
    pub policy: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watchdog {
    /// DeviceID: the agent's GUID in Base64, as the console created it.
    pub device_id: String,
    pub description: String,
    /// TimeoutInterval, seconds.
    pub timeout: u16,
    /// StartupInterval, seconds (0: no limit).
    pub startup: u16,
    pub state: WatchdogState,
    /// The last sequence number the agent asserted.
    pub sequence: u32,
    pub actions: Vec<WatchdogAction>,
    /// When it expires unless fed; counting only in S0, so never saved.
    #[serde(skip)]
    pub deadline: Option<Instant>,
}

impl Watchdog {
    pub fn new(device_id: &str, description: &str, timeout: u16, startup: u16) -> Watchdog {
        Watchdog {
            device_id: device_id.to_string(),
            description: description.to_string(),
            timeout,
            startup,
            state: WatchdogState::NotStarted,
            sequence: 0,
            actions: Vec::new(),
            deadline: None,
        }
    }
}

/// The agent software on the simulated host (never saved: a restarted
/// emulator's host has to be told again).
#[derive(Debug, Default)]
pub struct HostAgent {
    /// Installed and not crashed: it runs whenever the host is in S0.
    pub enabled: bool,
    /// The instant the device's timer task wakes at, if one is waiting.
    timer: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogRefusal {
    NotSupported,
    /// An empty, overlong or non-ASCII DeviceID or description.
    BadId,
    /// A TimeoutInterval of zero.
    BadInterval,
    Duplicate,
    TooMany,
    NoSuchWatchdog,
    /// AssertPresence or AssertShutdown from an agent that is not
    /// registered (the watchdog is not Running).
    NotRegistered,
    /// A sequence number not after the last one.
    BadSequence,
    /// An action's state masks are empty or name unknown states.
    BadStates,
    /// An action names a policy that does not exist.
    NoSuchPolicy,
}

impl std::fmt::Display for WatchdogRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WatchdogRefusal::NotSupported => "the firmware has no agent presence",
            WatchdogRefusal::BadId => "the DeviceID or description is malformed",
            WatchdogRefusal::BadInterval => "the timeout interval is zero",
            WatchdogRefusal::Duplicate => "a watchdog has that DeviceID",
            WatchdogRefusal::TooMany => "the table is full",
            WatchdogRefusal::NoSuchWatchdog => "no watchdog has that DeviceID",
            WatchdogRefusal::NotRegistered => "the agent is not registered",
            WatchdogRefusal::BadSequence => "the sequence number is not after the last",
            WatchdogRefusal::BadStates => "the state masks are empty or unknown",
            WatchdogRefusal::NoSuchPolicy => "no system defense policy has that handle",
        })
    }
}

/// The parts of the saved state a transition touches.
struct Effects<'a> {
    defense: &'a mut Defense,
    log: &'a mut MessageLog,
    clock: u32,
}

/// Moves a watchdog to `to` and carries out the actions set for that
/// transition. Inferred beyond Intel's text: a policy a watchdog switched
/// on goes off again when the same watchdog is running again.
fn transition(w: &mut Watchdog, to: WatchdogState, fx: &mut Effects) -> bool {
    let from = w.state;
    if from == to {
        return false;
    }
    w.state = to;
    for a in &w.actions {
        if a.old_states & from.code() == 0 || a.new_states & to.code() == 0 {
            continue;
        }
        if a.event {
            fx.log.push(
                fx.clock,
                LogEvent::AgentPresence {
                    from: from.code(),
                    to: to.code(),
                },
            );
        }
        if let Some(policy) = a.policy
            && fx.defense.policy(policy).is_some()
        {
            fx.defense.triggered = Some(Triggered {
                policy,
                by_watchdog: w.device_id.clone(),
            });
        }
    }
    if to == WatchdogState::Running
        && fx
            .defense
            .triggered
            .as_ref()
            .is_some_and(|t| t.by_watchdog == w.device_id)
    {
        fx.defense.triggered = None;
    }
    fx.defense.note_activations(fx.clock);
    true
}

fn effects(state: &mut DeviceState) -> (&mut Vec<Watchdog>, Effects<'_>) {
    let clock = unix_now(state.nvram.clock_offset);
    let nvram = &mut state.nvram;
    (
        &mut nvram.watchdogs,
        Effects {
            // Only devices with watchdogs get here, so only they allocate.
            defense: nvram.defense.get_or_insert_with(Default::default),
            log: &mut nvram.message_log,
            clock,
        },
    )
}

impl Device {
    pub fn watchdogs(&self) -> Vec<Watchdog> {
        self.with_state(|s| s.nvram.watchdogs.clone())
    }

    /// Whether the host's agent is enabled, and whether it runs now.
    pub fn host_agent(&self) -> (bool, bool) {
        self.with_state(|s| (s.agent.enabled, agent_runs(s)))
    }

    /// Starts (installs) or stops (kills) the host's agent. A stopped
    /// agent's watchdogs count down from its last heartbeat, which was
    /// now. Whether anything changed.
    pub fn set_host_agent(&self, enabled: bool) -> bool {
        self.locked(|s, now, events| {
            if s.agent.enabled == enabled {
                return false;
            }
            s.agent.enabled = enabled;
            self.tend_watchdogs(s, now, events);
            true
        })
    }

    pub fn create_watchdog(&self, watchdog: Watchdog) -> Result<(), WatchdogRefusal> {
        if !self.firmware.has(Feature::AgentPresence) {
            return Err(WatchdogRefusal::NotSupported);
        }
        let id_ok = |s: &str, max: usize, empty_ok: bool| {
            (empty_ok || !s.is_empty())
                && s.len() <= max
                && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        };
        if !id_ok(&watchdog.device_id, MAX_DEVICE_ID, false)
            || !id_ok(&watchdog.description, MAX_DESCRIPTION, true)
        {
            return Err(WatchdogRefusal::BadId);
        }
        if watchdog.timeout == 0 {
            return Err(WatchdogRefusal::BadInterval);
        }
        self.locked(|s, now, events| {
            let table = &s.nvram.watchdogs;
            if table.iter().any(|w| w.device_id == watchdog.device_id) {
                return Err(WatchdogRefusal::Duplicate);
            }
            if table.len() >= MAX_WATCHDOGS {
                return Err(WatchdogRefusal::TooMany);
            }
            s.nvram.watchdogs.push(Watchdog {
                state: WatchdogState::NotStarted,
                sequence: 0,
                actions: Vec::new(),
                deadline: None,
                ..watchdog
            });
            self.tend_watchdogs(s, now, events);
            Ok(())
        })
    }

    /// Deletes a watchdog with its actions; a policy it switched on goes
    /// off (Intel: deleting a watchdog removes what it set up).
    pub fn delete_watchdog(&self, device_id: &str) -> Result<(), WatchdogRefusal> {
        self.with_state(|s| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            s.nvram.watchdogs.remove(at);
            let clock = unix_now(s.nvram.clock_offset);
            if let Some(defense) = s.nvram.defense.as_deref_mut()
                && defense
                    .triggered
                    .as_ref()
                    .is_some_and(|t| t.by_watchdog == device_id)
            {
                defense.triggered = None;
                defense.note_activations(clock);
            }
            Ok(())
        })
    }

    /// RegisterAgent: the watchdog runs and wants a heartbeat within its
    /// timeout. Returns the session's first sequence number (0; the
    /// agent counts up from it).
    pub fn register_agent(&self, device_id: &str) -> Result<u32, WatchdogRefusal> {
        self.locked(|s, now, events| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            let (table, mut fx) = effects(s);
            let w = &mut table[at];
            if transition(w, WatchdogState::Running, &mut fx) {
                events.push(DeviceEvent::SettingsChanged("agent presence"));
            }
            w.sequence = 0;
            w.deadline = Some(now + Duration::from_secs(u64::from(w.timeout)));
            self.tend_watchdogs(s, now, events);
            Ok(0)
        })
    }

    /// AssertPresence: a heartbeat with the next sequence number.
    pub fn assert_presence(&self, device_id: &str, sequence: u32) -> Result<(), WatchdogRefusal> {
        self.locked(|s, now, events| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            let w = &mut s.nvram.watchdogs[at];
            check_heartbeat(w, sequence)?;
            w.sequence = sequence;
            w.deadline = Some(now + Duration::from_secs(u64::from(w.timeout)));
            self.tend_watchdogs(s, now, events);
            Ok(())
        })
    }

    /// AssertShutdown: the agent stops on purpose; the watchdog stops
    /// counting.
    pub fn assert_shutdown(&self, device_id: &str, sequence: u32) -> Result<(), WatchdogRefusal> {
        self.locked(|s, _, events| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            check_heartbeat(&s.nvram.watchdogs[at], sequence)?;
            let (table, mut fx) = effects(s);
            let w = &mut table[at];
            w.sequence = sequence;
            w.deadline = None;
            transition(w, WatchdogState::Stopped, &mut fx);
            events.push(DeviceEvent::SettingsChanged("agent presence"));
            Ok(())
        })
    }

    /// AddAction; returns the action's number.
    pub fn add_watchdog_action(
        &self,
        device_id: &str,
        old_states: u8,
        new_states: u8,
        event: bool,
        policy: Option<u32>,
    ) -> Result<u32, WatchdogRefusal> {
        let masks_ok = |m: u8| m != 0 && m & !ALL_STATES == 0;
        if !masks_ok(old_states) || !masks_ok(new_states) {
            return Err(WatchdogRefusal::BadStates);
        }
        self.with_state(|s| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            if let Some(p) = policy
                && s.nvram
                    .defense
                    .as_deref()
                    .and_then(|d| d.policy(p))
                    .is_none()
            {
                return Err(WatchdogRefusal::NoSuchPolicy);
            }
            let all = || s.nvram.watchdogs.iter().flat_map(|w| &w.actions);
            if all().count() >= MAX_ACTIONS {
                return Err(WatchdogRefusal::TooMany);
            }
            let id = (1..).find(|n| all().all(|a| a.id != *n)).unwrap_or(0);
            s.nvram.watchdogs[at].actions.push(WatchdogAction {
                id,
                old_states,
                new_states,
                event,
                policy,
            });
            Ok(id)
        })
    }

    pub fn delete_watchdog_actions(&self, device_id: &str) -> Result<(), WatchdogRefusal> {
        self.with_state(|s| {
            let at = find(&s.nvram.watchdogs, device_id)?;
            s.nvram.watchdogs[at].actions.clear();
            Ok(())
        })
    }

    /// The host booted: every watchdog waits for its agent again, which
    /// has StartupInterval to register (inferred: Intel says timers pause
    /// outside S0 and the startup interval covers the agent's start).
    pub(super) fn watchdogs_host_booted(state: &mut DeviceState, at: Instant) {
        if state.nvram.watchdogs.is_empty() {
            return;
        }
        let (table, mut fx) = effects(state);
        for w in table.iter_mut() {
            transition(w, WatchdogState::NotStarted, &mut fx);
            w.deadline = (w.startup > 0).then(|| at + Duration::from_secs(u64::from(w.startup)));
        }
    }

    /// Brings the watchdogs up to `now` (called with the state locked, on
    /// every access): the host's agent feeds them while it runs; outside
    /// S0 the timers stand still; a watchdog past its deadline expires.
    pub(super) fn tend_watchdogs(
        &self,
        state: &mut DeviceState,
        now: Instant,
        events: &mut Vec<DeviceEvent>,
    ) {
        if state.nvram.watchdogs.is_empty() {
            return;
        }
        if state.agent.timer.is_some_and(|t| t <= now) {
            state.agent.timer = None;
        }
        let in_s0 = state.power.state() == HostPower::S0;
        let agent = agent_runs(state);
        let (table, mut fx) = effects(state);
        let mut changed = false;
        for w in table.iter_mut() {
            if !in_s0 {
                w.deadline = None;
            } else if agent {
                if w.state != WatchdogState::Running {
                    changed |= transition(w, WatchdogState::Running, &mut fx);
                    w.sequence = 0;
                }
                w.deadline = Some(now + Duration::from_secs(u64::from(w.timeout)));
            } else if w.deadline.is_some_and(|d| d <= now) {
                w.deadline = None;
                if matches!(w.state, WatchdogState::NotStarted | WatchdogState::Running) {
                    tracing::info!(device = %self.name, watchdog = %w.device_id, "agent presence: the watchdog expired");
                    changed |= transition(w, WatchdogState::Expired, &mut fx);
                }
            }
        }
        if changed {
            events.push(DeviceEvent::SettingsChanged("agent presence"));
        }
        // A running agent feeds every watchdog at each access, so only a
        // countdown nobody feeds needs a timer.
        if agent {
            return;
        }
        let next = table.iter().filter_map(|w| w.deadline).min();
        if let Some(next) = next
            && state.agent.timer.is_none_or(|t| t > next)
        {
            state.agent.timer = Some(next);
            // The host's own wake-up: an access at `next`.
            self.wake_at(Some(next));
        }
    }
}

fn agent_runs(state: &DeviceState) -> bool {
    state.agent.enabled && !state.host_outside && state.power.state() == HostPower::S0
}

fn find(table: &[Watchdog], device_id: &str) -> Result<usize, WatchdogRefusal> {
    table
        .iter()
        .position(|w| w.device_id == device_id)
        .ok_or(WatchdogRefusal::NoSuchWatchdog)
}

fn check_heartbeat(w: &Watchdog, sequence: u32) -> Result<(), WatchdogRefusal> {
    if w.state != WatchdogState::Running {
        return Err(WatchdogRefusal::NotRegistered);
    }
    if sequence <= w.sequence {
        return Err(WatchdogRefusal::BadSequence);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
