//! Scenario files: a fleet (groups of devices with firmware, states,
//! credentials and faults), a timeline of events, and expectations checked
//! at times, with a JSON and JUnit report for CI.
//!
//! The format is documented in `scenarios/README.md` (and described for
//! editors by `scenarios/scenario.schema.json`). Reading a file checks all
//! of it up front: an error names the file, line, column and key path.
//! Selections of devices ("a share of group A") are drawn from a generator
//! seeded with the fleet's seed and the event's place, so runs repeat.

mod merge;
mod parse;
mod report;
mod run;

use std::fmt;
use std::path::Path;
use std::time::Duration;

pub use merge::MergeError;
pub use parse::{format_duration, parse_duration};
pub use report::{EventReport, ExpectationReport, Report, ShardReport};

use crate::faults::FaultPlan;
use crate::fleet::DeviceSpec;
use crate::fleet::shard::Shard;
use amtemu_model::device::HostPower;

/// A scenario file that was read and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    file_name: String,
    description: Option<String>,
    seed: String,
    duration: Option<Duration>,
    /// When expectations without a time are checked.
    end: Duration,
    specs: Vec<DeviceSpec>,
    /// Each device's group (index into `groups`).
    device_group: Vec<usize>,
    groups: Vec<Group>,
    timeline: Vec<Event>,
    expectations: Vec<Expectation>,
    /// `[fleet]` hello settings that override the command line's.
    hello_interval_scale: Option<f64>,
    dns: Option<std::net::SocketAddr>,
    /// Devices (by name) whose host is a QEMU virtual machine.
    qemu_hosts: Vec<(String, crate::qemu::QemuConfig)>,
    /// The slice of the fleet this process runs (the whole by default):
    /// indices above stay the whole fleet's, so events and selections are
    /// the same in every shard, and each shard acts on its own devices only.
    shard: Shard,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// Device indices, in fleet order.
    members: Vec<usize>,
    /// Faults put on these devices at start.
    faults: Option<(FaultPlan, Vec<usize>)>,
}

/// The devices an event is for, chosen when the file is read.
#[derive(Debug, Clone)]
struct Target {
    description: String,
    devices: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Event {
    index: usize,
    at: Duration,
    action: Action,
    plan: Option<FaultPlan>,
    target: Target,
}

/// What happens to a device at a point of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// A user presses the power button: a running host shuts down (after
    /// its shutdown delay), one that is off or asleep boots.
    PowerButton,
    /// The OS shuts the host down (S5 at once).
    OsShutdown,
    /// Power on (boots after the boot delay).
    PowerOn,
    /// The host is switched off at once (the button held down): S5.
    PowerOff,
    /// Reset (the host boots again after the reset delay).
    Reset,
    /// The network cable is pulled: the device stops answering.
    Unplug,
    /// The cable is back.
    Replug,
    /// The event's fault plan replaces the device's faults.
    Fault,
    /// All faults go.
    ClearFaults,
    /// A local agent starts remote configuration (PTHI
    /// START_CONFIGURATION): Pre -> In, and hellos start.
    EnterSetupMode,
    /// The device's own TLS certificate expires: from the next handshake it
    /// presents one whose dates have passed.
    CertExpire,
    /// The user asks for a CIRA connection ("fast call for help" from the
    /// host or the BIOS): a user-initiated tunnel when a rule allows one.
    CiraConnect,
    /// The CIRA tunnel's connection is cut mid-session (no DISCONNECT);
    /// the device calls in again after its backoff.
    CiraCut,
    /// The CIRA tunnel's path goes quiet: keep-alives are lost both ways
    /// until the device's silence limit gives the tunnel up.
    CiraSilence,
}

impl Action {
    const ALL: [Action; 14] = [
        Action::PowerButton,
        Action::OsShutdown,
        Action::PowerOn,
        Action::PowerOff,
        Action::Reset,
        Action::Unplug,
        Action::Replug,
        Action::Fault,
        Action::ClearFaults,
        Action::EnterSetupMode,
        Action::CertExpire,
        Action::CiraConnect,
        Action::CiraCut,
        Action::CiraSilence,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::PowerButton => "power-button",
            Action::OsShutdown => "os-shutdown",
            Action::PowerOn => "power-on",
            Action::PowerOff => "power-off",
            Action::Reset => "reset",
            Action::Unplug => "unplug",
            Action::Replug => "replug",
            Action::Fault => "fault",
            Action::ClearFaults => "clear-faults",
            Action::EnterSetupMode => "enter-setup-mode",
            Action::CertExpire => "cert-expire",
            Action::CiraConnect => "cira-connect",
            Action::CiraCut => "cira-cut",
            Action::CiraSilence => "cira-silence",
        }
    }

    fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == text)
    }
}

#[derive(Debug, Clone)]
struct Expectation {
    index: usize,
    name: Option<String>,
    /// None: at the end.
    at: Option<Duration>,
    devices: Vec<usize>,
    /// "group A", "device a-00001", "the fleet".
    scope: String,
    /// The least share of `devices` that must pass.
    share: f64,
    check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    Power(PowerWant),
    Provisioned(bool),
    Responds(bool),
    SawPowerOn(bool),
    /// At least this many hellos reached a provisioning server.
    HellosDelivered(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PowerWant {
    /// S0.
    On,
    /// S5 or G3.
    Off,
    Exactly(HostPower),
}

impl PowerWant {
    fn parse(text: &str) -> Option<PowerWant> {
        Some(match text.to_ascii_lowercase().as_str() {
            "on" | "s0" => PowerWant::On,
            "off" => PowerWant::Off,
            "s3" => PowerWant::Exactly(HostPower::S3),
            "s4" => PowerWant::Exactly(HostPower::S4),
            "s5" => PowerWant::Exactly(HostPower::S5),
            "g3" => PowerWant::Exactly(HostPower::Off),
            _ => return None,
        })
    }

    fn matches(self, power: HostPower) -> bool {
        match self {
            PowerWant::On => power == HostPower::S0,
            PowerWant::Off => matches!(power, HostPower::S5 | HostPower::Off),
            PowerWant::Exactly(p) => power == p,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            PowerWant::On => "on",
            PowerWant::Off => "off",
            PowerWant::Exactly(HostPower::S0) => "in S0",
            PowerWant::Exactly(HostPower::S3) => "asleep (S3)",
            PowerWant::Exactly(HostPower::S4) => "hibernating (S4)",
            PowerWant::Exactly(HostPower::S5) => "soft-off (S5)",
            PowerWant::Exactly(HostPower::Off) => "mechanically off (G3)",
        }
    }
}

impl Expectation {
    /// "by 3s, at least 50% of group office are off".
    fn description(&self, end: Duration) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let when = match self.at {
            Some(at) => format!("by {}", format_duration(at)),
            None => format!("at the end ({})", format_duration(end)),
        };
        let who = if self.devices.len() == 1 && self.scope.starts_with("device ") {
            self.scope.clone()
        } else if self.share >= 1.0 {
            format!("every device of {}", self.scope)
        } else {
            format!("at least {}% of {}", self.share * 100.0, self.scope)
        };
        let single = self.devices.len() == 1 || self.share >= 1.0;
        let what = match self.check {
            Check::Power(want) => {
                format!("{} {}", if single { "is" } else { "are" }, want.describe())
            }
            Check::Provisioned(true) => {
                format!("{} provisioned", if single { "is" } else { "are" })
            }
            Check::Provisioned(false) => {
                format!("{} not provisioned", if single { "is" } else { "are" })
            }
            Check::Responds(true) => {
                format!("{} WS-Man", if single { "answers" } else { "answer" })
            }
            Check::Responds(false) => {
                format!("{} not answer WS-Man", if single { "does" } else { "do" })
            }
            Check::SawPowerOn(true) => "saw a power-on".to_string(),
            Check::SawPowerOn(false) => "saw no power-on".to_string(),
            Check::HellosDelivered(n) => format!(
                "delivered at least {n} hello{}",
                if n == 1 { "" } else { "s" }
            ),
        };
        format!("{when}, {who} {what}")
    }
}

/// What is wrong with a scenario file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; None where the problem has no place in the file.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// The key path, e.g. `groups[1].firmware`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: name.clone(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read the scenario: {e}"),
    })?;
    parse(&text, &name)
}

/// Checks a scenario given as text; `file_name` is used in errors and
/// reports.
pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
    parse::parse(text, file_name)
}

impl Scenario {
    /// The command line's hello settings with the scenario's `[fleet]`
    /// overrides applied.
    pub fn hello_config(
        &self,
        mut config: crate::provision::HelloConfig,
    ) -> crate::provision::HelloConfig {
        if let Some(scale) = self.hello_interval_scale {
            config.scale = scale;
        }
        if let Some(dns) = self.dns {
            config.dns = Some(dns);
        }
        config
    }

    /// The devices this process runs (the shard's, see
    /// [`Scenario::with_shard`]), in order, with addresses assigned from
    /// the scenario's `[fleet]` settings (checked when the file was read).
    pub fn device_specs(&self) -> Result<Vec<DeviceSpec>, ScenarioError> {
        Ok(self.specs[self.shard_range()].to_vec())
    }

    /// Runs only shard K of N of the fleet: its devices, the timeline's
    /// events for them and the expectations over them (see
    /// [`crate::fleet::shard`]); `amtemu scenario merge` joins the shards'
    /// reports.
    pub fn with_shard(mut self, shard: Shard) -> Scenario {
        self.shard = shard;
        self
    }

    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The whole-fleet indices of the shard's devices.
    pub fn shard_range(&self) -> std::ops::Range<usize> {
        self.shard.range(self.specs.len())
    }

    /// Each timeline event (by its place in the file) with the names of
    /// the shard's devices it acts on.
    pub fn event_devices(&self) -> Vec<(usize, Vec<&str>)> {
        let range = self.shard_range();
        self.timeline
            .iter()
            .map(|e| {
                let names = e
                    .target
                    .devices
                    .iter()
                    .filter(|d| range.contains(d))
                    .map(|&d| self.specs[d].config.name.as_str())
                    .collect();
                (e.index, names)
            })
            .collect()
    }

    /// How long [`Scenario::run`] runs; None: the fleet runs until
    /// stopped once the timeline (if any) is done.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// The name the scenario was read under.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn seed(&self) -> &str {
        &self.seed
    }

    /// The devices a group's `qemu` table gives a virtual machine, with it.
    /// Only the shard's own: a shard runs no VM for another shard's device.
    pub fn qemu_hosts(&self) -> Vec<(String, crate::qemu::QemuConfig)> {
        let ours = &self.specs[self.shard_range()];
        self.qemu_hosts
            .iter()
            .filter(|(name, _)| ours.iter().any(|s| s.config.name == *name))
            .cloned()
            .collect()
    }

    /// How many devices this process runs (the shard's).
    pub fn device_count(&self) -> usize {
        self.shard_range().len()
    }

    /// How many devices the whole fleet has, over all shards.
    pub fn fleet_device_count(&self) -> usize {
        self.specs.len()
    }

    /// The group device `index` (in [`Scenario::device_specs`] order) is in.
    pub fn group_of(&self, index: usize) -> Option<&str> {
        let range = self.shard_range();
        if index >= range.len() {
            return None;
        }
        let g = *self.device_group.get(range.start + index)?;
        Some(self.groups[g].name.as_str())
    }

    /// One line about what the scenario holds (for a check without running).
    pub fn describe(&self) -> String {
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("{} ({})", g.name, g.members.len()))
            .collect();
        let duration = match self.duration {
            Some(d) => format!("runs {}", format_duration(d)),
            None => "runs until stopped".into(),
        };
        let shard = if self.shard.count() > 1 {
            let range = self.shard_range();
            format!(
                " (shard {}: devices {}..{} of them)",
                self.shard,
                range.start + 1,
                range.end
            )
        } else {
            String::new()
        };
        format!(
            "{}: {} devices{shard} in {} group{} [{}], {} timeline events, {} expectations, {duration}",
            self.file_name,
            self.specs.len(),
            self.groups.len(),
            if self.groups.len() == 1 { "" } else { "s" },
            groups.join(", "),
            self.timeline.len(),
            self.expectations.len()
        )
    }
}
