//! The host's power state machine.
//!
//! Requests are checked against what the firmware supports and what the
//! current state allows; accepted ones schedule timed steps. The machine is
//! driven by explicit instants so it can be tested without a clock; the
//! device applies due steps on every access and a timer applies them on time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{Device, Feature};

/// Host power states as CIM reports them (DSP1027 PowerState).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostPower {
    /// S0, working.
    S0,
    /// S3, suspend to RAM.
    S3,
    /// S4, hibernate.
    S4,
    /// S5, soft off.
    S5,
    /// G3, mechanical off (AC present for the management engine only).
    Off,
}

impl HostPower {
    /// CIM_AssociatedPowerManagementService.PowerState.
    pub fn cim(self) -> u16 {
        match self {
            HostPower::S0 => 2,
            HostPower::S3 => 4,
            HostPower::S4 => 7,
            HostPower::S5 => 8,
            HostPower::Off => 6,
        }
    }

    pub fn parse(text: &str) -> Option<HostPower> {
        Some(match text.to_ascii_lowercase().as_str() {
            "s0" | "on" => HostPower::S0,
            "s3" | "sleep" | "standby" => HostPower::S3,
            "s4" | "hibernate" => HostPower::S4,
            "s5" | "soft-off" => HostPower::S5,
            "g3" | "off" => HostPower::Off,
            _ => return None,
        })
    }

    pub fn is_on(self) -> bool {
        self == HostPower::S0
    }
}

/// How long transitions take, per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerTimings {
    /// From a power-on request (or the on half of a cycle) to S0.
    pub boot: Duration,
    /// From an off request to S5 (or sleep / hibernate landing).
    pub shutdown: Duration,
    /// From a reset request to the host running again.
    pub reset: Duration,
}

impl Default for PowerTimings {
    fn default() -> Self {
        PowerTimings {
            boot: Duration::from_secs(2),
            shutdown: Duration::from_secs(1),
            reset: Duration::from_secs(2),
        }
    }
}

/// What a request (RequestPowerStateChange's PowerState) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerRequest {
    On,
    SleepDeep,
    PowerCycle,
    Hibernate,
    OffSoft,
    MasterBusReset,
    Nmi,
    OffSoftGraceful,
    ResetGraceful,
}

impl PowerRequest {
    /// The request a DSP1027 value names, if AMT implements it at all.
    pub fn from_cim(value: i64) -> Option<PowerRequest> {
        Some(match value {
            2 => PowerRequest::On,
            4 => PowerRequest::SleepDeep,
            5 => PowerRequest::PowerCycle,
            7 => PowerRequest::Hibernate,
            8 => PowerRequest::OffSoft,
            10 => PowerRequest::MasterBusReset,
            11 => PowerRequest::Nmi,
            12 => PowerRequest::OffSoftGraceful,
            14 => PowerRequest::ResetGraceful,
            _ => return None,
        })
    }

    pub fn cim(self) -> u16 {
        match self {
            PowerRequest::On => 2,
            PowerRequest::SleepDeep => 4,
            PowerRequest::PowerCycle => 5,
            PowerRequest::Hibernate => 7,
            PowerRequest::OffSoft => 8,
            PowerRequest::MasterBusReset => 10,
            PowerRequest::Nmi => 11,
            PowerRequest::OffSoftGraceful => 12,
            PowerRequest::ResetGraceful => 14,
        }
    }

    /// Requests that need the 9.0+ firmware.
    pub fn is_extended(self) -> bool {
        matches!(
            self,
            PowerRequest::SleepDeep
                | PowerRequest::Hibernate
                | PowerRequest::Nmi
                | PowerRequest::OffSoftGraceful
                | PowerRequest::ResetGraceful
        )
    }
}

/// Why a power request was refused; each maps to a RequestPowerStateChange
/// ReturnValue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowerRefusal {
    /// Not a state AMT can be asked for on this firmware (1, Not Supported).
    #[error("the firmware does not offer that power state")]
    NotSupported,
    /// Not possible from the current state, e.g. on while on (2).
    #[error("not possible from the host's current power state")]
    NotAvailableNow,
    /// A previous change is still in progress (6, In Use).
    #[error("a power change is still in progress")]
    Busy,
}

/// The host's power as the classes report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerStatus {
    pub state: HostPower,
    /// Where a transition under way is going (`state` when none is).
    pub destination: HostPower,
    /// When the next step of a transition lands.
    pub next_due: Option<Instant>,
    /// The requests the host accepts now, as CIM values, as far as the
    /// firmware offers them.
    pub available: Vec<u16>,
}

/// The host OS's power saving (IPS_PowerManagementService
/// OSPowerSavingState), known only while the host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsPowerSaving {
    /// 2: full power.
    Full,
    /// 3: power saving.
    Saving,
}

impl OsPowerSaving {
    pub fn from_cim(value: i64) -> Option<OsPowerSaving> {
        match value {
            2 => Some(OsPowerSaving::Full),
            3 => Some(OsPowerSaving::Saving),
            _ => None,
        }
    }

    pub fn cim(self) -> u8 {
        match self {
            OsPowerSaving::Full => 2,
            OsPowerSaving::Saving => 3,
        }
    }
}

/// The power area's reads and the OS power-saving state on [`Device`]
/// (requests to change the host's power are `Device::request_power`).
impl Device {
    pub fn power_status(&self) -> PowerStatus {
        let extended = self.firmware.has(Feature::ExtendedPowerStates);
        self.with_state(|s| PowerStatus {
            state: s.power.state(),
            destination: s.power.destination(),
            next_due: s.power.next_due(),
            available: s.power.available(extended),
        })
    }

    /// The OS's power saving; None while the host is not running an OS.
    pub fn os_power_saving(&self) -> Option<OsPowerSaving> {
        self.with_state(|s| {
            s.power.state().is_on().then(|| {
                if s.os_power_saving == OsPowerSaving::Saving.cim() {
                    OsPowerSaving::Saving
                } else {
                    OsPowerSaving::Full
                }
            })
        })
    }

    /// Asks the host OS to enter or leave power saving; only a running
    /// host can (NotAvailableNow otherwise).
    pub fn set_os_power_saving(&self, to: OsPowerSaving) -> Result<(), PowerRefusal> {
        self.with_state(|s| {
            if !s.power.state().is_on() {
                return Err(PowerRefusal::NotAvailableNow);
            }
            s.os_power_saving = to.cim();
            Ok(())
        })
    }
}

/// One scheduled step: at `at`, the host enters `state`; `boots` marks the
/// moment firmware hands over to the boot loader (one-time boot settings are
/// consumed then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: Instant,
    pub state: HostPower,
    pub boots: bool,
}

/// A step that has landed, for the device to turn into events.
pub type Landed = Step;

#[derive(Clone, Debug)]
pub struct PowerMachine {
    state: HostPower,
    pending: VecDeque<Step>,
    pub timings: PowerTimings,
}

impl PowerMachine {
    pub fn new(state: HostPower, timings: PowerTimings) -> PowerMachine {
        PowerMachine {
            state,
            pending: VecDeque::new(),
            timings,
        }
    }

    /// The current state, after `advance`.
    pub fn state(&self) -> HostPower {
        self.state
    }

    /// Where the host is going: the last scheduled state, or the current one.
    pub fn destination(&self) -> HostPower {
        self.pending.back().map_or(self.state, |s| s.state)
    }

    pub fn is_transitioning(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The next instant something is due, for the timer.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.front().map(|s| s.at)
    }

    /// Applies every step due at `now`, returning them in order.
    pub fn advance(&mut self, now: Instant) -> Vec<Landed> {
        let mut landed = Vec::new();
        while let Some(step) = self.pending.front().copied() {
            if step.at > now {
                break;
            }
            self.pending.pop_front();
            self.state = step.state;
            landed.push(step);
        }
        landed
    }

    /// The requests that make sense from the current state, as CIM values in
    /// the order real firmware lists them.
    pub fn available(&self, extended: bool) -> Vec<u16> {
        let all: &[PowerRequest] = match self.state {
            HostPower::S0 => &[
                PowerRequest::MasterBusReset,
                PowerRequest::OffSoft,
                PowerRequest::PowerCycle,
                PowerRequest::Nmi,
                PowerRequest::SleepDeep,
                PowerRequest::Hibernate,
                PowerRequest::ResetGraceful,
                PowerRequest::OffSoftGraceful,
            ],
            HostPower::S3 | HostPower::S4 => &[PowerRequest::On, PowerRequest::OffSoft],
            HostPower::S5 | HostPower::Off => &[PowerRequest::On],
        };
        all.iter()
            .filter(|r| extended || !r.is_extended())
            .map(|r| r.cim())
            .collect()
    }

    /// Checks and schedules a request made at `now`.
    pub fn request(
        &mut self,
        request: PowerRequest,
        extended: bool,
        now: Instant,
    ) -> Result<(), PowerRefusal> {
        if request.is_extended() && !extended {
            return Err(PowerRefusal::NotSupported);
        }
        self.advance(now);
        if self.is_transitioning() {
            return Err(PowerRefusal::Busy);
        }
        if !self.available(extended).contains(&request.cim()) {
            return Err(PowerRefusal::NotAvailableNow);
        }
        let t = self.timings;
        let step = |after: Duration, state: HostPower, boots: bool| Step {
            at: now + after,
            state,
            boots,
        };
        let steps: Vec<Step> = match request {
            PowerRequest::On => vec![step(t.boot, HostPower::S0, true)],
            PowerRequest::OffSoft | PowerRequest::OffSoftGraceful => {
                vec![step(t.shutdown, HostPower::S5, false)]
            }
            PowerRequest::SleepDeep => vec![step(t.shutdown, HostPower::S3, false)],
            PowerRequest::Hibernate => vec![step(t.shutdown, HostPower::S4, false)],
            PowerRequest::PowerCycle => vec![
                step(t.shutdown, HostPower::S5, false),
                step(t.shutdown + t.boot, HostPower::S0, true),
            ],
            // A reset never leaves S0 as far as PowerState shows; the host
            // boots again when the reset lands.
            PowerRequest::MasterBusReset | PowerRequest::ResetGraceful => {
                vec![step(t.reset, HostPower::S0, true)]
            }
            PowerRequest::Nmi => Vec::new(),
        };
        self.pending.extend(steps);
        Ok(())
    }

    /// Makes the next step due at `now`, moving the ones after it up by as
    /// much; false when none is pending.
    pub fn expedite(&mut self, now: Instant) -> bool {
        let Some(first) = self.pending.front().map(|s| s.at) else {
            return false;
        };
        let early = first.saturating_duration_since(now);
        for step in &mut self.pending {
            step.at -= early;
        }
        true
    }

    /// Sets the state directly (scenario set-up, host OS shutting itself down).
    pub fn force(&mut self, state: HostPower) {
        self.pending.clear();
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(state: HostPower) -> PowerMachine {
        PowerMachine::new(state, PowerTimings::default())
    }

    #[test]
    fn off_lands_after_the_shutdown_delay() {
        let t0 = Instant::now();
        let mut m = machine(HostPower::S0);
        m.request(PowerRequest::OffSoft, true, t0).unwrap();
        assert!(m.advance(t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(m.state(), HostPower::S0);
        let landed = m.advance(t0 + Duration::from_secs(1));
        assert_eq!(landed.len(), 1);
        assert_eq!(m.state(), HostPower::S5);
        assert_eq!(m.state().cim(), 8);
    }

    #[test]
    fn a_cycle_goes_off_then_boots() {
        let t0 = Instant::now();
        let mut m = machine(HostPower::S0);
        m.request(PowerRequest::PowerCycle, true, t0).unwrap();
        m.advance(t0 + Duration::from_secs(1));
        assert_eq!(m.state(), HostPower::S5);
        let landed = m.advance(t0 + Duration::from_secs(3));
        assert_eq!(m.state(), HostPower::S0);
        assert!(landed[0].boots);
    }

    #[test]
    fn refusals() {
        let t0 = Instant::now();
        let mut m = machine(HostPower::S0);
        assert_eq!(
            m.request(PowerRequest::On, true, t0),
            Err(PowerRefusal::NotAvailableNow)
        );
        assert_eq!(
            m.request(PowerRequest::Hibernate, false, t0),
            Err(PowerRefusal::NotSupported)
        );
        m.request(PowerRequest::OffSoft, true, t0).unwrap();
        assert_eq!(
            m.request(PowerRequest::MasterBusReset, true, t0),
            Err(PowerRefusal::Busy)
        );
        let mut off = machine(HostPower::S5);
        assert_eq!(
            off.request(PowerRequest::MasterBusReset, true, t0),
            Err(PowerRefusal::NotAvailableNow)
        );
        assert_eq!(off.available(true), vec![2]);
    }

    #[tokio::test(start_paused = true)]
    async fn os_power_saving_needs_a_running_host() {
        let d = crate::testing::device("11.8");
        assert_eq!(d.os_power_saving(), Some(OsPowerSaving::Full));
        d.set_os_power_saving(OsPowerSaving::Saving).unwrap();
        assert_eq!(d.os_power_saving(), Some(OsPowerSaving::Saving));
        d.force_power(HostPower::S5);
        assert_eq!(d.os_power_saving(), None);
        assert_eq!(
            d.set_os_power_saving(OsPowerSaving::Full),
            Err(PowerRefusal::NotAvailableNow)
        );
        let status = d.power_status();
        assert_eq!(status.state, HostPower::S5);
        assert_eq!(status.available, vec![2]);
        assert_eq!(OsPowerSaving::from_cim(4), None);
    }

    #[test]
    fn an_expedited_cycle_keeps_its_boot_delay() {
        let t0 = Instant::now();
        let mut m = machine(HostPower::S0);
        assert!(!m.expedite(t0));
        m.request(PowerRequest::PowerCycle, true, t0).unwrap();
        let later = t0 + Duration::from_millis(100);
        assert!(m.expedite(later));
        m.advance(later);
        assert_eq!(m.state(), HostPower::S5);
        assert_eq!(m.next_due(), Some(later + PowerTimings::default().boot));
    }

    #[test]
    fn available_states_match_a_real_device() {
        assert_eq!(
            machine(HostPower::S0).available(true),
            vec![10, 8, 5, 11, 4, 7, 14, 12]
        );
        assert_eq!(machine(HostPower::S0).available(false), vec![10, 8, 5]);
    }
}
