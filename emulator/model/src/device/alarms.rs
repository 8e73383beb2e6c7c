//! The alarm clock (AMT_AlarmClockService, IPS_AlarmClockOccurrence):
//! alarms at ME-clock times that power the host on when they come due, if
//! the ME is awake to do it (the power policy), and then repeat, go away or
//! stay as spent.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::power::{HostPower, PowerRequest};
use super::{Device, DeviceEvent, DeviceState, Feature, unix_now};

/// Firmware refuses a new alarm once this many exist (Intel's AddAlarm
/// reference: "would fail if 5 instances or more ... already exist").
pub const MAX_ALARMS: usize = 5;

/// The longest alarm name (InstanceID) accepted.
pub const MAX_ALARM_ID: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// InstanceID: the name a console gives the alarm.
    pub id: String,
    pub element_name: String,
    /// When it next comes due: ME clock, seconds since 1970.
    pub start: u64,
    /// Minutes between occurrences, if it repeats.
    pub interval_minutes: Option<u32>,
    /// Removed once it has fired (when it does not repeat).
    pub delete_on_completion: bool,
    /// Fired, not repeating and kept: it never fires again.
    #[serde(default)]
    pub spent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmRefusal {
    /// [`MAX_ALARMS`] alarms exist.
    TooMany,
    /// An alarm of that name exists.
    Duplicate,
    /// An empty, overlong or non-ASCII name.
    BadName,
    /// An interval of zero minutes.
    BadInterval,
    NoSuchAlarm,
}

impl std::fmt::Display for AlarmRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlarmRefusal::TooMany => "the alarm table is full",
            AlarmRefusal::Duplicate => "an alarm of that name exists",
            AlarmRefusal::BadName => "the alarm name is empty, too long or not ASCII",
            AlarmRefusal::BadInterval => "an alarm interval must be at least a minute",
            AlarmRefusal::NoSuchAlarm => "no alarm has that name",
        })
    }
}

impl Device {
    /// The alarms that have not gone away, in the order they were added.
    pub fn alarms(&self) -> Vec<Alarm> {
        self.with_state(|s| s.nvram.alarms.clone())
    }

    /// Adds an alarm and makes sure it fires on time.
    pub fn add_alarm(&self, alarm: Alarm) -> Result<(), AlarmRefusal> {
        if alarm.id.is_empty() || alarm.id.len() > MAX_ALARM_ID || !alarm.id.is_ascii() {
            return Err(AlarmRefusal::BadName);
        }
        if alarm.interval_minutes == Some(0) {
            return Err(AlarmRefusal::BadInterval);
        }
        let wait = self.with_state(|s| {
            let alarms = &mut s.nvram.alarms;
            if alarms.iter().any(|a| a.id == alarm.id) {
                return Err(AlarmRefusal::Duplicate);
            }
            if alarms.len() >= MAX_ALARMS {
                return Err(AlarmRefusal::TooMany);
            }
            let wait = alarm
                .start
                .saturating_sub(u64::from(unix_now(s.nvram.clock_offset)));
            alarms.push(alarm);
            Ok(wait)
        })?;
        self.ring_in(wait);
        Ok(())
    }

    pub fn delete_alarm(&self, id: &str) -> Result<(), AlarmRefusal> {
        self.with_state(|s| {
            let at = s
                .nvram
                .alarms
                .iter()
                .position(|a| a.id == id)
                .ok_or(AlarmRefusal::NoSuchAlarm)?;
            s.nvram.alarms.remove(at);
            Ok(())
        })
    }

    /// Runs the device `seconds` from now (ME clock), so an alarm due
    /// then fires even if nobody asks the device anything. A time years
    /// ahead (any a client may send) is waited for a day at a time.
    fn ring_in(&self, seconds: u64) {
        const STEP: u64 = 86_400;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.this.clone();
        runtime.spawn(async move {
            let mut left = seconds;
            loop {
                let step = left.min(STEP);
                tokio::time::sleep(std::time::Duration::from_secs(step)).await;
                left -= step;
                if left == 0 {
                    break;
                }
                if this.strong_count() == 0 {
                    return;
                }
            }
            if let Some(device) = this.upgrade() {
                device.with_state(|_| ());
            }
        });
    }

    /// Fires the alarms that are due (called with the state locked, on
    /// every access): a host that is off or asleep is powered on if the ME
    /// is awake in that state; repeating alarms move to their next time,
    /// and the others are deleted or kept as spent.
    pub(super) fn ring_alarms(
        &self,
        state: &mut DeviceState,
        now: Instant,
        events: &mut Vec<DeviceEvent>,
    ) {
        if !self.firmware.has(Feature::AlarmClock) || state.nvram.alarms.is_empty() {
            return;
        }
        let clock = u64::from(unix_now(state.nvram.clock_offset));
        let mut rang = false;
        let mut next_waits = Vec::new();
        state.nvram.alarms.retain_mut(|alarm| {
            if alarm.spent || alarm.start > clock {
                return true;
            }
            rang = true;
            match alarm.interval_minutes {
                Some(minutes) => {
                    let step = u64::from(minutes) * 60;
                    let missed = (clock - alarm.start) / step + 1;
                    alarm.start += missed * step;
                    next_waits.push(alarm.start - clock);
                    true
                }
                // Spent: kept unless asked otherwise, and never fires again.
                None if alarm.delete_on_completion => false,
                None => {
                    alarm.spent = true;
                    true
                }
            }
        });
        if !rang {
            return;
        }
        let host = state.power.state();
        let me_awake = state.nvram.power_policy.keeps_on(host);
        if host != HostPower::S0 && me_awake {
            let extended = self.firmware.has(Feature::ExtendedPowerStates);
            match state.power.request(PowerRequest::On, extended, now) {
                Ok(()) => {
                    tracing::info!(device = %self.name, "alarm clock: powering the host on");
                    let due = state.power.next_due();
                    events.push(DeviceEvent::SettingsChanged("alarm"));
                    self.schedule(due);
                }
                Err(e) => {
                    tracing::info!(device = %self.name, error = ?e, "alarm clock: the host could not be woken")
                }
            }
        } else if host != HostPower::S0 {
            tracing::info!(device = %self.name, ?host, "alarm clock: the ME sleeps in this state; the alarm passes");
        }
        for wait in next_waits {
            self.ring_in(wait);
        }
    }
}

#[cfg(test)]
mod tests;
