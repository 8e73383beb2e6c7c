//! The device model: one virtual AMT device's identity, firmware and state.
//! It knows nothing about sockets, XML or HTTP; the protocol layers call its
//! methods, and its changes go out as [`DeviceEvent`]s.

pub mod agent_presence;
pub mod alarms;
pub mod audit;
pub mod cert_hashes;
pub mod certs;
pub mod chain;
pub mod commit;
pub mod defense;
pub mod eventing;
pub mod firmware;
mod host_link;
pub mod http_proxy;
pub use crate::identity;
pub mod ieee8021x;
pub mod local_account;
pub mod message_log;
pub mod names;
pub mod power;
pub mod power_policy;
pub mod provisioning;
pub mod provisioning_record;
pub mod remote_access;
pub mod screen_blanking;
pub mod settings;
pub mod storage;
pub mod users;
pub mod web_ui;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

pub use certs::{CertStore, TlsSettingData, TlsSettings};
pub use commit::{
    HostSetupProgress, HostSetupRefusal, HostSetupReport, SetupProof, SetupRefusal, Unprovisioning,
};
pub use firmware::{Feature, Firmware, Port};
pub use host_link::HostSettled;
pub use identity::Identity;
use message_log::{LogEvent, MessageLog};
pub use names::{ByName, Named};
pub use power::{HostPower, PowerMachine, PowerRefusal, PowerRequest, PowerTimings};
pub use power_policy::MePowerPolicy;
pub use provisioning::{HashAlgorithm, HelloStatus, ProvisioningSettings, TrustedRootHash};
pub use settings::*;
pub use users::{AccessPermission, UserAccount, Users};

use crate::host::{self, ConsoleScript, Effect, Host, IderReply, IderRequest};
use crate::values::{DomainName, HostName};

/// What a device is built from.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// A name unique in the fleet; the identity is derived from it.
    pub name: String,
    pub firmware: &'static Firmware,
    pub power: HostPower,
    pub timings: PowerTimings,
    pub setup: SetupState,
    pub admin_name: String,
    pub admin_password: String,
    pub host_name: String,
    pub domain_name: String,
    /// The address the device is reached at (reported as its IP address).
    pub ip_address: String,
    /// What the simulated host prints on its serial console; None for the
    /// built-in script. Shared by the devices of a scenario group.
    pub console: Option<Arc<ConsoleScript>>,
    /// MEBx provisioning settings: server, domains, root hashes, PID/PPS.
    pub provisioning: ProvisioningSettings,
    /// In which host states the management engine stays reachable.
    pub power_policy: MePowerPolicy,
    /// Whether the device answers at its firmware's pace (not saved: a
    /// property of the run, like the power timings).
    pub timing: firmware::TimingMode,
}

impl DeviceConfig {
    /// A device with the embedded defaults: host on, provisioned in admin
    /// control mode, user `admin` / `P@ssw0rd`, reached on 127.0.0.1.
    pub fn new(name: &str, firmware: &'static Firmware) -> DeviceConfig {
        DeviceConfig {
            name: name.to_string(),
            firmware,
            power: HostPower::S0,
            timings: PowerTimings::default(),
            setup: SetupState {
                state: ProvisioningState::Post,
                mode: ControlMode::Admin,
            },
            admin_name: "admin".into(),
            admin_password: DEFAULT_PASSWORD.into(),
            host_name: "amt-0001".into(),
            domain_name: "vpro.test".into(),
            ip_address: "127.0.0.1".into(),
            console: None,
            provisioning: ProvisioningSettings::default(),
            power_policy: MePowerPolicy::default(),
            timing: firmware::TimingMode::Fast,
        }
    }
}

/// The password of the default `admin` account. It meets AMT's strength
/// rules (upper, lower, digit, symbol, at least 8 characters).
pub const DEFAULT_PASSWORD: &str = "P@ssw0rd";

/// The certificate chain and key the device's TLS server presents unless a
/// TLS credential was configured over WS-Man.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsIdentity {
    /// Leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
}

/// What survives a restart: the device's non-volatile state.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Nvram {
    pub general: GeneralSettings,
    pub boot: BootSettings,
    pub redirection: RedirectionSettings,
    pub network: NetworkSettings,
    pub setup: SetupState,
    pub users: Users,
    pub certs: CertStore,
    pub tls: TlsSettings,
    pub pending_tls: Option<TlsSettings>,
    pub tls_identity: Option<TlsIdentity>,
    pub message_log: MessageLog,
    pub clock_offset: i64,
    /// The host's power state when saved (a transition under way is
    /// saved as where it was going).
    pub power: HostPower,
    /// Absent in state files written before provisioning was modelled.
    #[serde(default)]
    pub provisioning: ProvisioningSettings,
    /// The SP2 features; absent in older state files.
    #[serde(default)]
    pub audit_log: audit::AuditLog,
    #[serde(default)]
    pub storage: storage::Storage,
    #[serde(default)]
    pub power_policy: MePowerPolicy,
    #[serde(default)]
    pub ieee8021x: ieee8021x::Ieee8021xState,
    /// Alarm clock entries; absent in older state files.
    #[serde(default)]
    pub alarms: Vec<alarms::Alarm>,
    /// Whether the web UI answers (AMT_WebUIService); on when absent.
    #[serde(default = "web_ui::enabled_by_default")]
    pub web_ui_enabled: bool,
    /// IPS_HTTPProxyAccessPoint entries; absent in older state files.
    #[serde(default)]
    pub http_proxies: Vec<http_proxy::ProxyAccessPoint>,
    /// Screen blanking (IPS_ScreenConfigurationService); off when absent.
    #[serde(default)]
    pub screen_blanking: screen_blanking::ScreenBlanking,
    /// CIRA's servers and policies; absent in older state files.
    #[serde(default)]
    pub remote_access: remote_access::RemoteAccess,
    /// WS-Eventing subscriptions and PET filters; absent in older state
    /// files.
    #[serde(default)]
    pub eventing: eventing::Eventing,
    /// System Defense filters and policies; absent in older state files.
    /// None while empty, so a device nobody configured carries a pointer,
    /// not the tables (fleets of a million devices).
    #[serde(default)]
    pub defense: Option<Box<defense::Defense>>,
    /// Agent presence watchdogs; absent in older state files.
    #[serde(default)]
    pub watchdogs: Vec<agent_presence::Watchdog>,
    /// The last activation (IPS_ProvisioningRecordLog); absent in older
    /// state files and on a device never activated while emulated. Boxed:
    /// a pointer for the many devices that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_record: Option<Box<provisioning_record::ProvisioningRecord>>,
}

/// A change in a device, for whoever listens (logs, metrics, persistence,
/// the host console).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    PowerChanged {
        from: HostPower,
        to: HostPower,
    },
    /// A power request was accepted (before its steps land): an outside
    /// host carries it out now.
    PowerRequested(PowerRequest),
    Booted(BootTarget),
    SettingsChanged(&'static str),
    /// A redirection session (SOL, IDE-R, KVM) opened or ended.
    RedirectionSession {
        kind: RedirectionKind,
        open: bool,
    },
    /// The CIRA tunnel connected, ended or is being opened. Nothing is
    /// saved for it: the tunnel is not part of the device's NVRAM.
    Cira(remote_access::CiraChange),
}

impl DeviceEvent {
    /// Whether the event changes what is saved: the tunnel's comings and
    /// goings change nothing, and a fleet of tunnels would otherwise write
    /// the store at every reconnect.
    pub fn touches_state(&self) -> bool {
        !matches!(self, DeviceEvent::Cira(_))
    }
}

/// Everything about a device that changes: what is saved ([`Nvram`]) and
/// what a restart forgets.
#[derive(Debug)]
pub struct DeviceState {
    /// The non-volatile part. Its `power` field is filled in only when a
    /// copy is taken for saving ([`Device::nvram`]); the live power state is
    /// `power` below.
    pub nvram: Nvram,
    pub power: PowerMachine,
    /// What the host booted into last.
    pub last_boot: BootTarget,
    /// The device's own certificate is to be issued with dates that have
    /// passed (a scenario's `cert-expire`).
    pub tls_identity_expired: bool,
    /// IPS_PowerManagementService.OSPowerSavingState: 2 full power, 3 saving.
    pub os_power_saving: u8,
    /// The simulated host, made when it first boots or a console looks at
    /// it; never saved, so a restarted emulator boots it fresh.
    pub host: Option<Box<Host>>,
    /// Provisioning chains refused at the TLS handshake (not saved).
    pub provisioning_refusals: u64,
    /// Host-based setup under way (not saved).
    pub host_setup: HostSetupProgress,
    /// The PKI setup session whose chain was last accepted at the TLS
    /// handshake: what CommitChanges records (not saved; a restart ends
    /// the session).
    pub tls_setup: Option<Box<provisioning_record::TlsSetup>>,
    /// Setup mode was entered at a local agent's request while the device
    /// ran, not at power-up (the record's HostInitiated; not saved).
    pub setup_started_by_host: bool,
    /// The host is a machine outside the model (a virtual machine driven
    /// by the server): no simulated host runs, and power steps wait for it
    /// (see [`Device::attach_outside_host`]).
    pub host_outside: bool,
    /// The agent software the simulated host runs (not saved).
    pub agent: agent_presence::HostAgent,
}

/// One virtual AMT device.
#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub identity: Identity,
    pub firmware: &'static Firmware,
    /// The firmware row's pace when the device answers at it (`--timing
    /// firmware`), None otherwise: one field read on the hot path.
    pub pace: Option<&'static firmware::TimingProfile>,
    state: Mutex<DeviceState>,
    events: broadcast::Sender<DeviceEvent>,
    this: Weak<Device>,
    console: Arc<ConsoleScript>,
    /// Made by the first console that watches the host.
    host_watch: OnceLock<watch::Sender<u64>>,
    /// Told (with this number) whenever the device enters setup mode: the
    /// fleet's hello scheduler.
    setup_watch: OnceLock<(tokio::sync::mpsc::UnboundedSender<usize>, usize)>,
}

impl Device {
    pub fn new(config: DeviceConfig) -> Arc<Device> {
        let identity = Identity::from_seed(&config.name);
        let state = DeviceState {
            nvram: Nvram {
                general: GeneralSettings {
                    host_name: HostName::or_empty(config.host_name, "device configuration"),
                    domain_name: DomainName::or_empty(config.domain_name, "device configuration"),
                    ..GeneralSettings::default()
                },
                boot: BootSettings::default(),
                redirection: RedirectionSettings::default(),
                network: NetworkSettings::with_address(&config.ip_address),
                setup: config.setup,
                users: Users::new(
                    &config.admin_name,
                    &config.admin_password,
                    &identity.digest_realm,
                ),
                certs: CertStore::default(),
                // A device nobody has configured has remote TLS off.
                tls: if config.setup.state == ProvisioningState::Post {
                    TlsSettings::default()
                } else {
                    commit::factory_tls()
                },
                pending_tls: None,
                tls_identity: None,
                message_log: MessageLog::default(),
                clock_offset: 0,
                power: config.power,
                provisioning: config.provisioning,
                audit_log: audit::AuditLog::default(),
                storage: storage::Storage::default(),
                power_policy: config.power_policy,
                alarms: Vec::new(),
                web_ui_enabled: true,
                http_proxies: Vec::new(),
                screen_blanking: screen_blanking::ScreenBlanking::default(),
                ieee8021x: ieee8021x::Ieee8021xState::default(),
                remote_access: remote_access::RemoteAccess::default(),
                eventing: eventing::Eventing::default(),
                defense: None,
                watchdogs: Vec::new(),
                provisioning_record: provisioning_record::seeded(config.firmware, config.setup),
            },
            power: PowerMachine::new(config.power, config.timings),
            last_boot: BootTarget::Disk,
            tls_identity_expired: false,
            os_power_saving: 2,
            host: None,
            provisioning_refusals: 0,
            host_setup: HostSetupProgress::default(),
            tls_setup: None,
            setup_started_by_host: false,
            host_outside: false,
            agent: agent_presence::HostAgent::default(),
        };
        let (events, _) = broadcast::channel(16);
        Arc::new_cyclic(|this| Device {
            name: config.name,
            identity,
            firmware: config.firmware,
            pace: match config.timing {
                firmware::TimingMode::Fast => None,
                firmware::TimingMode::Firmware => Some(config.firmware.timing),
            },
            state: Mutex::new(state),
            events,
            this: this.clone(),
            console: config.console.unwrap_or_else(ConsoleScript::builtin),
            host_watch: OnceLock::new(),
            setup_watch: OnceLock::new(),
        })
    }

    /// Runs `f` on the device's state, after applying any power transition
    /// that is due. The lock is held only for `f`; never across an await.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut DeviceState) -> R) -> R {
        self.locked(|state, _, _| f(state))
    }

    /// `with_state` for the device's own methods, which also need the
    /// instant the state was advanced to and may add events.
    fn locked<R>(
        &self,
        f: impl FnOnce(&mut DeviceState, Instant, &mut Vec<DeviceEvent>) -> R,
    ) -> R {
        let now = Instant::now();
        let mut state = self.lock();
        let mut events = self.advance(&mut state, now);
        let result = f(&mut state, now, &mut events);
        let host_changed = state.host.as_mut().is_some_and(|h| h.take_changed());
        drop(state);
        if host_changed && let Some(watch) = self.host_watch.get() {
            watch.send_modify(|n| *n = n.wrapping_add(1));
        }
        for e in events {
            let _ = self.events.send(e);
        }
        result
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    /// Announces a settings change made through a protocol layer.
    pub fn changed(&self, what: &'static str) {
        self.announce(DeviceEvent::SettingsChanged(what));
    }

    /// Sends an event to the device's listeners (none listening is fine).
    fn announce(&self, event: DeviceEvent) {
        let _ = self.events.send(event);
    }

    fn lock(&self) -> MutexGuard<'_, DeviceState> {
        // A panic while holding the lock cannot leave the state half-written
        // in a way later readers could not cope with, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies due power steps and their consequences.
    fn advance(&self, state: &mut DeviceState, now: Instant) -> Vec<DeviceEvent> {
        let mut events = Vec::new();
        let mut current = state.power.state();
        for step in state.power.advance(now) {
            let at = unix_now(state.nvram.clock_offset);
            if current != step.state {
                events.push(DeviceEvent::PowerChanged {
                    from: current,
                    to: step.state,
                });
                current = step.state;
                if step.state == HostPower::S5 {
                    state.nvram.message_log.push(at, LogEvent::PowerDown);
                }
                Self::host_power_changed(state, step.state, step.at);
            }
            if step.boots {
                self.boot(state, step.at, &mut events);
            }
        }
        self.ring_alarms(state, now, &mut events);
        self.run_host(state, now, &mut events);
        self.tend_watchdogs(state, now, &mut events);
        events
    }

    /// Asks the host to change power state (RequestPowerStateChange).
    pub fn request_power(&self, request: PowerRequest) -> Result<(), PowerRefusal> {
        self.request_power_from(|_| request)
    }

    /// The user presses the power button: a running host shuts down
    /// normally, one that is off or asleep powers on.
    pub fn press_power_button(&self) -> Result<(), PowerRefusal> {
        self.request_power_from(|power| {
            if power.state().is_on() {
                PowerRequest::OffSoft
            } else {
                PowerRequest::On
            }
        })
    }

    /// A power request chosen from the current power state, and checked
    /// against it, under one lock.
    fn request_power_from(
        &self,
        choose: impl FnOnce(&power::PowerMachine) -> PowerRequest,
    ) -> Result<(), PowerRefusal> {
        let extended = self.firmware.has(Feature::ExtendedPowerStates);
        let (due, request) = self.with_state(|s| {
            let request = choose(&s.power);
            s.power.request(request, extended, Instant::now())?;
            Ok((s.power.next_due(), request))
        })?;
        let _ = self.events.send(DeviceEvent::PowerRequested(request));
        self.schedule(due);
        Ok(())
    }

    /// The device's own TLS certificate expires: it is issued again, with
    /// dates that have passed, at the next handshake. A certificate a
    /// console installed keeps its own dates. False when it had expired.
    pub fn expire_certificate(&self) -> bool {
        let changed = self.with_state(|s| {
            let changed = !s.tls_identity_expired;
            if changed {
                s.tls_identity_expired = true;
                s.nvram.tls_identity = None;
            }
            changed
        });
        if changed {
            self.changed("TLS identity");
        }
        changed
    }

    /// The host OS shuts itself down: the host goes to S5 at once. False,
    /// and nothing changes, when the host is not running.
    pub fn os_shutdown(&self) -> bool {
        self.set_power(HostPower::S5, |from| from.is_on())
    }

    /// Sets the power state at once, as the host OS does when it shuts down.
    pub fn force_power(&self, to: HostPower) {
        self.set_power(to, |_| true);
    }

    /// Sets the power state at once if `allowed` says so of the current
    /// one, deciding and acting under one lock; whether it was allowed.
    fn set_power(&self, to: HostPower, allowed: impl FnOnce(HostPower) -> bool) -> bool {
        let from = self.locked(|s, now, _| {
            let from = s.power.state();
            if !allowed(from) {
                return None;
            }
            s.power.force(to);
            if from != to {
                Self::host_power_changed(s, to, now);
                if let (true, Some(host)) = (to.is_on(), s.host.as_mut()) {
                    host.boot(now, BootTarget::Disk);
                }
            }
            Some(from)
        });
        match from {
            Some(from) if from != to => {
                let _ = self.events.send(DeviceEvent::PowerChanged { from, to });
                // Forced on, the host boots from its disk (the simulated
                // one above; an outside host hears it here, as for any boot).
                if to.is_on() {
                    let _ = self.events.send(DeviceEvent::Booted(BootTarget::Disk));
                }
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Makes sure the transitions land on time even when nobody asks the
    /// device anything, so listeners hear about them.
    fn schedule(&self, due: Option<Instant>) {
        let (Some(due), Ok(runtime)) = (due, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let this = self.this.clone();
        runtime.spawn(async move {
            let mut next = Some(due);
            while let Some(at) = next {
                tokio::time::sleep_until(at).await;
                let Some(device) = this.upgrade() else { return };
                next = device.with_state(|s| s.power.next_due());
            }
        });
    }

    /// A copy of the state that survives a restart.
    pub fn nvram(&self) -> Nvram {
        self.with_state(|s| Nvram {
            power: s.power.destination(),
            ..s.nvram.clone()
        })
    }

    /// Puts saved state back (at start, before anyone connects).
    pub fn restore(&self, nvram: Nvram) {
        self.with_state(|s| {
            s.power.force(nvram.power);
            s.nvram = nvram;
        });
    }

    /// Records an audited operation, on behalf of the caller the protocol
    /// layer is serving ([`audit::acting`]), if the firmware keeps an audit
    /// log and its policy audits the event. Callers that must refuse a
    /// critical operation the log cannot take ask [`Device::audit_blocks`]
    /// first.
    pub fn audit(&self, event: impl Into<audit::AuditEvent>) {
        let event = event.into();
        if self.with_state(|s| self.record_audit(s, event)) {
            self.changed("AMT_AuditLog");
        }
    }

    /// Whether the audit log would refuse this event (a critical event at
    /// a log that cannot take it): the operation must then not happen.
    pub fn audit_blocks(&self, id: audit::EventId) -> bool {
        self.firmware.has(Feature::AuditLog)
            && self.with_state(|s| s.nvram.audit_log.blocks(id, unix_now(s.nvram.clock_offset)))
    }

    /// Whether the management engine is powered, per its power policy, in
    /// the host's current power state. When it is not, the device does not
    /// answer on any port.
    pub fn me_reachable(&self) -> bool {
        self.with_state(|s| s.nvram.power_policy.keeps_on(s.power.state()))
    }

    /// A local agent (PTHI START_CONFIGURATION) or MEBx starts remote
    /// configuration: a pre-provisioned device enters setup mode (In), and
    /// one whose hello window ran out may start again. False, and nothing
    /// changes, for a provisioned device. Whoever sends hellos opens the
    /// window.
    pub fn enter_setup_mode(&self) -> bool {
        let entered = self.with_state(|s| match s.nvram.setup.state {
            ProvisioningState::Post => false,
            ProvisioningState::Pre | ProvisioningState::In => {
                s.nvram.setup.state = ProvisioningState::In;
                s.nvram.provisioning.hello.given_up = false;
                s.setup_started_by_host = true;
                true
            }
        });
        if entered {
            self.changed("setup");
            if let Some((watcher, number)) = self.setup_watch.get() {
                let _ = watcher.send(*number);
            }
        }
        entered
    }

    /// Has `watcher` told `number` each time the device enters setup mode
    /// (once per device; later calls are ignored).
    pub fn watch_setup_mode(
        &self,
        watcher: tokio::sync::mpsc::UnboundedSender<usize>,
        number: usize,
    ) {
        let _ = self.setup_watch.set((watcher, number));
    }

    /// The ME clock, seconds since 1970.
    pub fn clock(&self) -> u32 {
        self.with_state(|s| unix_now(s.nvram.clock_offset))
    }
}

fn unix_now(offset: i64) -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    (now + offset).clamp(0, u32::MAX as i64) as u32
}

#[cfg(test)]
mod tests;
