//! Running a scenario against a fleet: faults at start, then the timeline
//! and the expectations in time order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::report::{EventReport, ExpectationReport, Report};
use super::{Action, Check, Event, Expectation, Scenario, format_duration};
use crate::endpoint::Endpoint;
use crate::endpoint::cira::Interruption;
use crate::fleet::Fleet;
use amtemu_model::device::{DeviceEvent, HostPower, Port, PowerRequest, ProvisioningState};

/// Whether a device answers WS-Man: its faults leave connections alone,
/// its firmware opens a WS-Man port and its ME is powered.
fn responds(endpoint: &Endpoint) -> bool {
    let f = endpoint.faults.get();
    let cut_off = f.offline || f.hang || f.reset_probability >= 1.0;
    let fw = endpoint.device.firmware;
    !cut_off && (fw.opens(Port::Http) || fw.opens(Port::Https)) && endpoint.device.me_reachable()
}

/// Applies `action` to one device; false when it did not apply (the host
/// was already there, or busy with another transition).
fn apply(action: Action, plan: Option<&crate::faults::FaultPlan>, endpoint: &Endpoint) -> bool {
    let device = &endpoint.device;
    let power = || device.with_state(|s| (s.power.state(), s.power.is_transitioning()));
    match action {
        Action::PowerButton => device.press_power_button().is_ok(),
        // An OS in the middle of a power transition is not shutting itself
        // down; such devices are skipped.
        Action::OsShutdown => match power() {
            (_, true) => false,
            _ => device.os_shutdown(),
        },
        Action::PowerOn => device.request_power(PowerRequest::On).is_ok(),
        Action::PowerOff => match power() {
            (HostPower::S5 | HostPower::Off, false) => false,
            _ => {
                device.force_power(HostPower::S5);
                true
            }
        },
        Action::Reset => device.request_power(PowerRequest::MasterBusReset).is_ok(),
        Action::Unplug | Action::Replug => {
            let offline = action == Action::Unplug;
            let mut faults = endpoint.faults.get();
            if faults.offline == offline {
                return false;
            }
            faults.offline = offline;
            // A CIRA tunnel's path goes quiet with the cable.
            endpoint.set_faults(faults);
            true
        }
        Action::Fault => {
            endpoint.set_faults(plan.cloned().unwrap_or_default());
            true
        }
        Action::ClearFaults => {
            let had = !endpoint.faults.get().is_clear();
            endpoint.set_faults(crate::faults::FaultPlan::default());
            had
        }
        Action::EnterSetupMode => device.enter_setup_mode(),
        Action::CertExpire => device.expire_certificate(),
        Action::CiraConnect => {
            if !crate::cira::supported(endpoint) {
                return false;
            }
            endpoint.cira.request_user_initiated();
            true
        }
        Action::CiraCut => endpoint.cira.interrupt(Interruption::Cut),
        Action::CiraSilence => endpoint.cira.interrupt(Interruption::Silence),
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl Scenario {
    /// Applies the groups' faults, then runs the timeline (events at their
    /// offsets from now) and checks the expectations at their times;
    /// returns when the scenario's `duration` has passed, or, without one,
    /// after the last event or check (at once when there is none: the
    /// fleet then runs until stopped, see [`Scenario::duration`]).
    pub async fn run(&self, fleet: Arc<Fleet>) -> Report {
        let start = Instant::now();
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        // Indexed by the whole fleet's device index; outside this process's
        // shard there is no endpoint, and nothing there is acted on or
        // checked (see `Scenario::with_shard`).
        let range = self.shard_range();
        let endpoints = Devices {
            fleet: &fleet,
            index: self
                .specs
                .iter()
                .enumerate()
                .map(|(d, s)| {
                    range
                        .contains(&d)
                        .then(|| fleet.index_of(&s.config.name))
                        .flatten()
                })
                .collect(),
        };
        let missing = range
            .clone()
            .filter(|&d| endpoints.index[d].is_none())
            .count();
        if missing > 0 {
            tracing::warn!(
                missing,
                "scenario devices not in the fleet; they count as failing their checks"
            );
        }

        let mut faulted_at_start = 0;
        for group in &self.groups {
            if let Some((plan, targets)) = &group.faults {
                for endpoint in targets.iter().filter_map(|&d| endpoints.get(d)) {
                    endpoint.set_faults(plan.clone());
                    faulted_at_start += 1;
                }
            }
        }

        // "Saw a power-on": listen from the start to the devices some
        // expectation asks about.
        let seen: Arc<Vec<AtomicBool>> = Arc::new(
            (0..self.specs.len())
                .map(|_| AtomicBool::new(false))
                .collect(),
        );
        let mut watched = vec![false; self.specs.len()];
        for x in &self.expectations {
            if matches!(x.check, Check::SawPowerOn(_)) {
                for &d in x.devices.iter().filter(|d| range.contains(d)) {
                    watched[d] = true;
                }
            }
        }
        let mut watchers = tokio::task::JoinSet::new();
        for d in (0..watched.len()).filter(|&d| watched[d]) {
            // Watched from the start: built now.
            let Some(endpoint) = endpoints.get(d) else {
                continue;
            };
            let mut events = endpoint.device.subscribe();
            let seen = seen.clone();
            watchers.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(DeviceEvent::PowerChanged {
                            to: HostPower::S0, ..
                        }) => {
                            seen[d].store(true, Ordering::Relaxed);
                            return;
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }

        // Events before checks due at the same time; each in file order.
        let mut items: Vec<(Duration, u8, usize)> = self
            .timeline
            .iter()
            .enumerate()
            .map(|(i, e)| (e.at, 0, i))
            .chain(
                self.expectations
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (x.at.unwrap_or(self.end), 1, i)),
            )
            .collect();
        items.sort_by_key(|&(at, kind, i)| (at, kind, i));

        let mut events = Vec::new();
        let mut checks = Vec::new();
        for (at, kind, i) in items {
            tokio::time::sleep_until(start + at).await;
            if kind == 0 {
                let report = self.fire(&self.timeline[i], &endpoints, start);
                tracing::info!(
                    at = %format_duration(at),
                    action = %report.action,
                    target = %report.target,
                    applied = report.applied,
                    "scenario event"
                );
                events.push(report);
            } else {
                let report = self.check(&self.expectations[i], &endpoints, &seen, start);
                tracing::info!(
                    passed = report.passed,
                    observed = report.observed_share,
                    "{}",
                    report.description
                );
                checks.push(report);
            }
        }
        if let Some(d) = self.duration {
            tokio::time::sleep_until(start + d).await;
        }
        watchers.abort_all();
        events.sort_by_key(|e: &EventReport| e.index);
        checks.sort_by_key(|x: &ExpectationReport| x.index);

        Report {
            scenario: self.file_name.clone(),
            description: self.description.clone(),
            seed: self.seed.clone(),
            passed: checks.iter().all(|x| x.passed),
            devices: range.len(),
            shard: (self.shard.count() > 1).then(|| super::ShardReport {
                index: self.shard.index(),
                count: self.shard.count(),
                first_device: range.start,
                end_device: range.end,
                fleet_devices: self.specs.len(),
            }),
            merged_shards: None,
            missing_devices: missing,
            faulted_at_start,
            started_unix_ms,
            elapsed_ms: millis(start.elapsed()),
            events,
            expectations: checks,
        }
    }

    fn fire(&self, event: &Event, endpoints: &Devices, start: Instant) -> EventReport {
        let mut applied = 0;
        let mut missing = 0;
        let range = self.shard_range();
        let mut selected = 0;
        for &d in event.target.devices.iter().filter(|d| range.contains(d)) {
            selected += 1;
            // An event reaches its devices: built now if they were not.
            match endpoints.get(d) {
                Some(endpoint) => {
                    if apply(event.action, event.plan.as_ref(), &endpoint) {
                        applied += 1;
                    }
                }
                None => missing += 1,
            }
        }
        EventReport {
            index: event.index,
            at: format_duration(event.at),
            at_ms: millis(event.at),
            ran_at_ms: millis(start.elapsed()),
            action: event.action.name().to_string(),
            target: event.target.description.clone(),
            selected,
            applied,
            skipped: selected - applied - missing,
            missing,
        }
    }

    fn check(
        &self,
        x: &Expectation,
        endpoints: &Devices,
        seen: &[AtomicBool],
        start: Instant,
    ) -> ExpectationReport {
        let mut matching = 0;
        let range = self.shard_range();
        let mine: Vec<usize> = x
            .devices
            .iter()
            .copied()
            .filter(|d| range.contains(d))
            .collect();
        for &d in &mine {
            let Some(index) = endpoints.index[d] else {
                continue;
            };
            // Unbuilt devices are checked against their initial state (no
            // one changed them), except whether they answer: that takes
            // reaching them.
            let ok = match (x.check, endpoints.fleet.built_device(index)) {
                (Check::Responds(want), _) => {
                    endpoints.get(d).is_some_and(|e| responds(&e) == want)
                }
                (Check::SawPowerOn(want), _) => seen[d].load(Ordering::Relaxed) == want,
                (check, Some(endpoint)) => {
                    let device = &endpoint.device;
                    let (power, setup, hellos) = device.with_state(|s| {
                        (
                            s.power.state(),
                            s.nvram.setup.state,
                            s.nvram.provisioning.hello.delivered,
                        )
                    });
                    state_matches(check, power, setup, hellos)
                }
                (check, None) => match endpoints.fleet.initial(index) {
                    Some(initial) => state_matches(check, initial.power, initial.provisioning, 0),
                    None => continue,
                },
            };
            if ok {
                matching += 1;
            }
        }
        let at = x.at.unwrap_or(self.end);
        ExpectationReport {
            index: x.index,
            description: x.description(self.end),
            at: match x.at {
                Some(at) => format_duration(at),
                None => "end".into(),
            },
            at_ms: millis(at),
            checked_at_ms: millis(start.elapsed()),
            passed: false,
            expected_share: x.share,
            observed_share: 0.0,
            matching: 0,
            total: 0,
            message: String::new(),
        }
        .with_counts(matching, mine.len())
    }
}

/// The scenario's devices in this process's fleet, by scenario index;
/// built when an event or a check reaches them.
struct Devices<'a> {
    fleet: &'a Fleet,
    /// Scenario device → fleet index (None outside this shard, or when the
    /// fleet has no device of that name).
    index: Vec<Option<usize>>,
}

impl Devices<'_> {
    fn get(&self, d: usize) -> Option<Arc<Endpoint>> {
        self.fleet.get(self.index.get(d).copied().flatten()?)
    }
}

/// Whether a device in this state passes a check of its state.
fn state_matches(
    check: Check,
    power: HostPower,
    setup: ProvisioningState,
    hellos_delivered: u32,
) -> bool {
    match check {
        Check::Power(want) => want.matches(power),
        Check::Provisioned(want) => (setup == ProvisioningState::Post) == want,
        Check::HellosDelivered(least) => hellos_delivered >= least,
        // Checked by the caller.
        Check::Responds(_) | Check::SawPowerOn(_) => false,
    }
}
