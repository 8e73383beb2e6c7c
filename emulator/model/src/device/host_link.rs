//! The device's side of the simulated host: booting it, telling it about
//! power, running its script, and the SOL and IDE-R consoles' access to it.

use tokio::sync::watch;
use tokio::time::Instant;

use super::*;

/// What an outside host's settling meant to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSettled {
    /// A requested transition landed.
    Transition,
    /// The host powered off by itself (S5 now).
    PoweredOff,
    /// Nothing was under way and the host was off already.
    AlreadyOff,
}

impl Device {
    /// Firmware hands over to the boot loader: the one-time boot options
    /// are consumed and the host starts on the target they chose.
    pub(super) fn boot(&self, state: &mut DeviceState, at: Instant, events: &mut Vec<DeviceEvent>) {
        let logged = unix_now(state.nvram.clock_offset);
        let target = state.nvram.boot.target();
        state.last_boot = target;
        state.nvram.boot = BootSettings::cleared();
        state.os_power_saving = 2;
        state.nvram.screen_blanking.host_booted();
        for e in [LogEvent::MemoryInit, LogEvent::VideoInit, LogEvent::OsBoot] {
            state.nvram.message_log.push(logged, e);
        }
        events.push(DeviceEvent::Booted(target));
        Self::watchdogs_host_booted(state, at);
        if !state.host_outside {
            self.host_mut(state, at).boot(at, target);
        }
    }

    /// The host behind this device is a machine outside the model, which
    /// carries out power requests itself (it hears them as
    /// [`DeviceEvent::PowerRequested`]) and reports when it has
    /// ([`Device::host_settled`]). A transition's timed step becomes the
    /// deadline by which the host must have finished: `deadline` replaces
    /// the shutdown delay. Call before the device serves.
    pub fn attach_outside_host(&self, deadline: std::time::Duration) {
        self.with_state(|s| {
            s.host_outside = true;
            s.host = None;
            s.power.timings.shutdown = deadline;
        });
    }

    /// The outside host finished the transition under way (it is off, or
    /// asleep): its step lands now and the steps after it move up. With
    /// none under way the host went off by itself (its OS shut down, or
    /// it failed), which firmware sees as S5.
    pub fn host_settled(&self) -> HostSettled {
        let due = self.with_state(|s| {
            let now = Instant::now();
            s.power.expedite(now).then(|| s.power.next_due())
        });
        match due {
            // The with_state above applied the step; a later one (the on
            // half of a cycle) is timed.
            Some(due) => {
                self.schedule(due);
                self.with_state(|_| ());
                HostSettled::Transition
            }
            None if self.os_shutdown() => HostSettled::PoweredOff,
            None => HostSettled::AlreadyOff,
        }
    }

    /// The outside host's OS suspended to RAM (its own doing, or a
    /// requested sleep it carried out). A transition under way lands now,
    /// as with [`Device::host_settled`]; with none, a running host enters
    /// S3 as firmware sees an OS that sleeps by itself. False, and nothing
    /// changes, when the host was not running.
    pub fn host_suspended(&self) -> bool {
        if self.with_state(|s| s.power.is_transitioning()) {
            return self.host_settled() == HostSettled::Transition;
        }
        self.set_power(HostPower::S3, |from| from == HostPower::S0)
    }

    /// The outside host woke from S3 by itself (a key, its clock): S0
    /// again, which is no boot (the one-time boot settings stay for the
    /// next one). False, and nothing changes, unless it was asleep with no
    /// transition under way (a requested power-on lands as a boot, which
    /// is how the host was woken).
    pub fn host_woke(&self) -> bool {
        self.locked(|s, _, events| {
            let asleep = s.power.state() == HostPower::S3 && !s.power.is_transitioning();
            if asleep {
                s.power.force(HostPower::S0);
                events.push(DeviceEvent::PowerChanged {
                    from: HostPower::S3,
                    to: HostPower::S0,
                });
            }
            asleep
        })
    }

    /// Tells an existing host that its power went away or it fell asleep.
    pub(super) fn host_power_changed(state: &mut DeviceState, to: HostPower, at: Instant) {
        let Some(host) = state.host.as_mut() else {
            return;
        };
        match to {
            HostPower::S0 => {}
            HostPower::S3 => host.suspend(at),
            HostPower::S4 | HostPower::S5 | HostPower::Off => host.power_lost(at),
        }
    }

    pub(super) fn host_mut<'s>(&self, state: &'s mut DeviceState, now: Instant) -> &'s mut Host {
        let running = state.power.state().is_on();
        state.host.get_or_insert_with(|| {
            let script = self.console.clone();
            Box::new(if running {
                Host::running(script, now)
            } else {
                Host::new(script, now)
            })
        })
    }

    /// Runs the host's script up to `now` and carries out what its OS does
    /// to the platform.
    pub(super) fn run_host(
        &self,
        state: &mut DeviceState,
        now: Instant,
        events: &mut Vec<DeviceEvent>,
    ) {
        while let Some(host) = state.host.as_mut() {
            let env = host::Env {
                host_name: &state.nvram.general.host_name,
                revision: self.firmware.name,
                identity: &self.identity,
            };
            match host.advance(now, &env) {
                None => return,
                Some(Effect::PowerOff(_)) => {
                    let from = state.power.state();
                    state.power.force(HostPower::S5);
                    if from != HostPower::S5 {
                        events.push(DeviceEvent::PowerChanged {
                            from,
                            to: HostPower::S5,
                        });
                        let logged = unix_now(state.nvram.clock_offset);
                        state.nvram.message_log.push(logged, LogEvent::PowerDown);
                    }
                }
                Some(Effect::Reboot(at)) => self.boot(state, at, events),
            }
        }
    }

    /// Where a console attaching now starts reading: the oldest host output
    /// still retained.
    pub fn console_cursor(&self) -> u64 {
        self.locked(|s, now, events| {
            self.host_mut(s, now);
            self.run_host(s, now, events);
            s.host.as_ref().map_or(0, |h| h.cursor())
        })
    }

    /// The host's serial output since `cursor`, which moves past it; bytes
    /// the bounded buffer dropped meanwhile are skipped.
    pub fn console_read(&self, cursor: &mut u64) -> Vec<u8> {
        self.locked(|s, now, events| {
            self.host_mut(s, now);
            self.run_host(s, now, events);
            s.host.as_ref().map_or_else(Vec::new, |h| h.read(cursor))
        })
    }

    /// Keystrokes from a SOL console to the host's serial port.
    pub fn console_input(&self, bytes: &[u8]) {
        let effect_due = self.locked(|s, now, events| {
            self.host_mut(s, now);
            if let Some(host) = s.host.as_mut() {
                let env = host::Env {
                    host_name: &s.nvram.general.host_name,
                    revision: self.firmware.name,
                    identity: &self.identity,
                };
                host.input(now, bytes, &env);
            }
            self.run_host(s, now, events);
            s.host.as_ref().and_then(|h| h.effect_due())
        });
        self.wake_at(effect_due);
    }

    /// Advances the device at `at`, so what the host's OS does then (power
    /// off, reset) lands on time even when no console is reading.
    pub(super) fn wake_at(&self, at: Option<Instant>) {
        let (Some(at), Ok(runtime)) = (at, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let this = self.this.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(device) = this.upgrade() {
                device.with_state(|_| ());
            }
        });
    }

    /// When the host next prints by itself (or a power transition lands).
    pub fn console_next_due(&self) -> Option<Instant> {
        self.with_state(|s| {
            let host = s.host.as_ref().and_then(|h| h.next_due());
            match (host, s.power.next_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        })
    }

    /// Changes whenever the host adds output or wants an IDE-R answer.
    pub fn host_watch(&self) -> watch::Receiver<u64> {
        self.host_watch
            .get_or_init(|| watch::channel(0).0)
            .subscribe()
    }

    /// A console enabled (or stopped serving) the IDE-R drives.
    pub fn ider_session(&self, active: bool) {
        self.locked(|s, now, events| {
            self.host_mut(s, now).set_ider_session(now, active);
            self.run_host(s, now, events);
        })
    }

    /// The media command the booting host waits to have answered, handed
    /// out once; at most one is outstanding.
    pub fn ider_next_request(&self) -> Option<IderRequest> {
        self.with_state(|s| s.host.as_mut()?.take_ider_request())
    }

    /// A console's answer to the request `reply.id`.
    pub fn ider_complete(&self, reply: IderReply) {
        self.locked(|s, now, events| {
            if let Some(host) = s.host.as_mut() {
                host.ider_complete(now, reply);
            }
            self.run_host(s, now, events);
        })
    }
}
