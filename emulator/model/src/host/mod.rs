//! The simulated host behind the firmware: the PC whose serial console SOL
//! carries and whose boot IDE-R redirects.
//!
//! A [`Host`] is a pure, clock-driven state machine. Its output is a timed
//! script ([`ConsoleScript`]) that is run up to "now" whenever the device is
//! touched or a console reads, so no task runs per device; what it prints
//! goes to a bounded ring ([`buffer::OutputBuffer`]) read with absolute
//! cursors. The device creates a host only when one is needed (the host
//! boots, or a console attaches), so an idle device costs nothing.
//!
//! The host talks to the device through [`Effect`]s (the OS powers off or
//! reboots) and to an IDE-R console through [`IderRequest`] / [`IderReply`].

pub mod atapi;
pub mod buffer;
mod console;
pub mod ider;
pub mod line;
pub mod media;
pub mod script;
pub mod shell;

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::time::Instant;

use buffer::OutputBuffer;
use ider::{Command, Next, Probe};
use line::LineEditor;
pub use script::ConsoleScript;
use script::Line;

/// What the host boots into, decided when a boot lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootTarget {
    /// The normal boot from the local disk.
    Disk,
    Pxe,
    CdDvd,
    Diagnostic,
    BiosSetup,
    IdeRedirection,
}

/// The two drives on the redirected IDE cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IderDrive {
    /// Master, drive select 0xA0.
    Floppy,
    /// Slave, drive select 0xB0.
    Cd,
}

impl IderDrive {
    /// The drive/head register value selecting this drive.
    pub fn select(self) -> u8 {
        match self {
            IderDrive::Floppy => 0xA0,
            IderDrive::Cd => 0xB0,
        }
    }

    /// How a BIOS names the drive in its boot messages.
    pub fn name(self) -> &'static str {
        match self {
            IderDrive::Floppy => "floppy",
            IderDrive::Cd => "CD-ROM",
        }
    }

    /// The device node a Linux host gives the drive.
    pub fn device_name(self) -> &'static str {
        match self {
            IderDrive::Floppy => "fd0",
            IderDrive::Cd => "sr0",
        }
    }

    /// The drive a drive/head register value selects (bit 4: slave).
    pub fn from_select(register: u8) -> IderDrive {
        if register & 0x10 != 0 {
            IderDrive::Cd
        } else {
            IderDrive::Floppy
        }
    }
}

/// A media command the booting host wants a console to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IderRequest {
    pub id: u64,
    pub drive: IderDrive,
    pub cdb: [u8; 12],
    /// Bytes the host expects back (0 for commands without data).
    pub transfer_len: u32,
}

/// A console's answer to an [`IderRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IderReply {
    pub id: u64,
    pub data: Vec<u8>,
    /// Sense key, ASC, ASCQ; (0, 0, 0) is good status.
    pub sense: (u8, u8, u8),
}

/// Something the host does to the platform, for the device to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The OS powered the machine off (S5).
    PowerOff(Instant),
    /// The OS asked for a warm reset; the host boots again.
    Reboot(Instant),
}

/// What the host sees of the device it runs in.
pub struct Env<'a> {
    pub host_name: &'a str,
    /// Firmware revision, reported in the drives' INQUIRY data.
    pub revision: &'a str,
    /// For the MAC address and UUID a boot agent shows.
    pub identity: &'a crate::identity::Identity,
}

/// Between the OS's last line and the power going off (or the reset).
const LAST_WORDS: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Off,
    /// Running timed output; keystrokes are not read.
    Busy,
    /// The setup screen, waiting for a key that leaves it.
    BiosSetup,
    /// Waiting for the consoles' answers to the boot probe.
    Ider,
    Login,
    Password {
        user: String,
    },
    Shell {
        user: String,
    },
}

#[derive(Debug)]
enum Action {
    Print(String),
    /// The OS is up: show the issue and the login prompt.
    Login,
    /// Show the current phase's prompt again (after a resume).
    Prompt,
    BootDisk,
    BiosSetup,
    StartIder,
    PowerOff,
    Reboot,
}

#[derive(Debug, Default)]
struct IderLink {
    /// A console has the IDE-R registers enabled.
    session: bool,
    probe: Option<Probe>,
    /// Issued, not yet taken by a console.
    pending: Option<IderRequest>,
    /// The request waited for, and when the host gives up on it.
    waiting: Option<(u64, Instant)>,
    next_id: u64,
    /// Set while the probe runs for the shell's `mount` (by this user)
    /// rather than for a boot.
    mounting: Option<String>,
}

#[derive(Debug)]
pub struct Host {
    script: Arc<ConsoleScript>,
    out: OutputBuffer,
    queue: VecDeque<(Instant, Action)>,
    /// When the last queued action is due; a new line's delay counts from
    /// here, so output keeps its pace however late it is generated.
    tail: Instant,
    phase: Phase,
    /// Set while the host sleeps in S3.
    suspended: Option<Instant>,
    editor: LineEditor,
    os_started: Instant,
    ider: IderLink,
    /// The label of the medium booted over IDE-R.
    label: String,
    /// The redirected drive it was in.
    drive: IderDrive,
    /// The IDE-R medium the running OS mounted: drive, label, file system.
    mounted: Option<(IderDrive, String, &'static str)>,
    changed: bool,
}

impl Host {
    /// A host that is powered off.
    pub fn new(script: Arc<ConsoleScript>, now: Instant) -> Host {
        Host {
            script,
            out: OutputBuffer::new(buffer::DEFAULT_CAPACITY),
            queue: VecDeque::new(),
            tail: now,
            phase: Phase::Off,
            suspended: None,
            editor: LineEditor::default(),
            os_started: now,
            ider: IderLink::default(),
            label: String::new(),
            drive: IderDrive::Cd,
            mounted: None,
            changed: false,
        }
    }

    /// A host whose OS was already running when a console first looked:
    /// it shows the login prompt, as a getty does when the line opens.
    pub fn running(script: Arc<ConsoleScript>, now: Instant) -> Host {
        let mut host = Host::new(script, now);
        host.phase = Phase::Busy;
        host.queue.push_back((now, Action::Login));
        host
    }

    /// The platform hands over to the boot loader (power on or reset); a
    /// sleeping host resumes instead.
    pub fn boot(&mut self, at: Instant, target: BootTarget) {
        if self.suspended.is_some() {
            self.resume(at);
            return;
        }
        self.stop(at);
        self.phase = Phase::Busy;
        let script = self.script.clone();
        self.queue_lines(at, &script.post);
        match target {
            BootTarget::Disk => self.queue_at(at, Action::BootDisk),
            BootTarget::Pxe => {
                self.queue_lines(at, &script.pxe);
                self.queue_at(at, Action::BootDisk);
            }
            BootTarget::CdDvd | BootTarget::Diagnostic => {
                self.queue_lines(at, &script.cd_failed);
                self.queue_at(at, Action::BootDisk);
            }
            BootTarget::BiosSetup => {
                self.queue_lines(at, &script.bios_setup);
                self.queue_at(at, Action::BiosSetup);
            }
            BootTarget::IdeRedirection => {
                self.queue_lines(at, &script.ider_probe);
                self.queue_at(at, Action::StartIder);
            }
        }
    }

    /// The host lost power (S4, S5, G3): everything it was doing stops.
    pub fn power_lost(&mut self, at: Instant) {
        self.stop(at);
        self.phase = Phase::Off;
        self.suspended = None;
    }

    /// The host went to S3; its script waits for the resume.
    pub fn suspend(&mut self, at: Instant) {
        if self.phase != Phase::Off && self.suspended.is_none() {
            self.suspended = Some(at);
        }
    }

    fn resume(&mut self, at: Instant) {
        let Some(since) = self.suspended.take() else {
            return;
        };
        let slept = at.saturating_duration_since(since);
        let earlier = std::mem::take(&mut self.queue);
        self.tail = at;
        if let Some((_, deadline)) = &mut self.ider.waiting {
            *deadline += slept;
        }
        let script = self.script.clone();
        self.queue_lines(at, &script.resume);
        if matches!(
            self.phase,
            Phase::Login | Phase::Password { .. } | Phase::Shell { .. }
        ) {
            self.queue_at(at, Action::Prompt);
        }
        for (due, action) in earlier {
            self.queue.push_back((due + slept, action));
        }
    }

    fn stop(&mut self, at: Instant) {
        self.queue.clear();
        self.tail = at;
        self.editor.clear();
        self.ider.probe = None;
        self.ider.pending = None;
        self.ider.waiting = None;
        self.ider.mounting = None;
        self.mounted = None;
    }

    fn is_running(&self) -> bool {
        self.phase != Phase::Off && self.suspended.is_none()
    }

    /// When the host next does something by itself.
    pub fn next_due(&self) -> Option<Instant> {
        if !self.is_running() {
            return None;
        }
        let queued = self.queue.front().map(|(at, _)| *at);
        let deadline = self.ider.waiting.map(|(_, at)| at);
        match (queued, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the OS will power off or reset by itself, so the device can see
    /// to it that this happens on time even if no console is reading.
    pub fn effect_due(&self) -> Option<Instant> {
        if !self.is_running() {
            return None;
        }
        self.queue
            .iter()
            .find(|(_, action)| matches!(action, Action::PowerOff | Action::Reboot))
            .map(|(at, _)| *at)
    }

    /// Runs the script up to `now`. Stops at the first [`Effect`], which the
    /// device carries out before calling again.
    pub fn advance(&mut self, now: Instant, env: &Env) -> Option<Effect> {
        while self.is_running() {
            let queued = self.queue.front().map(|(at, _)| *at);
            if let Some((_, deadline)) = self.ider.waiting
                && deadline <= now
                && queued.is_none_or(|at| at > deadline)
            {
                tracing::info!("IDE-R: the console did not answer in time");
                self.ider_failed(deadline, "the redirected drive did not answer");
                continue;
            }
            match queued {
                Some(at) if at <= now => {
                    let Some((at, action)) = self.queue.pop_front() else {
                        break;
                    };
                    if let Some(effect) = self.act(at, action, env) {
                        return Some(effect);
                    }
                }
                _ => break,
            }
        }
        None
    }

    fn act(&mut self, at: Instant, action: Action, env: &Env) -> Option<Effect> {
        match action {
            Action::Print(text) => self.print(&text, env),
            Action::Login => {
                self.phase = Phase::Login;
                self.editor.clear();
                let issue = self.script.issue.clone();
                self.print(&issue, env);
                self.prompt(env);
            }
            Action::Prompt => self.prompt(env),
            Action::BootDisk => {
                self.os_started = at;
                let script = self.script.clone();
                self.queue_lines(at, &script.disk);
                self.queue_at(at, Action::Login);
            }
            Action::BiosSetup => {
                self.phase = Phase::BiosSetup;
            }
            Action::StartIder => self.start_ider(at, env),
            Action::PowerOff => {
                self.power_lost(at);
                return Some(Effect::PowerOff(at));
            }
            Action::Reboot => {
                self.stop(at);
                self.phase = Phase::Busy;
                return Some(Effect::Reboot(at));
            }
        }
        None
    }

    fn start_ider(&mut self, at: Instant, env: &Env) {
        if !self.ider.session {
            self.ider_failed(at, "no redirection session");
            return;
        }
        self.phase = Phase::Ider;
        for drive in [IderDrive::Floppy, IderDrive::Cd] {
            // The firmware answers INQUIRY itself; the BIOS lists what it says.
            let data = atapi::inquiry(drive, env.revision, 36);
            let field = |range: std::ops::Range<usize>| {
                String::from_utf8_lossy(&data[range]).trim_end().to_string()
            };
            let name = format!("{} {}", field(8..16), field(16..32));
            let role = match drive {
                IderDrive::Floppy => "Master",
                IderDrive::Cd => "Slave ",
            };
            self.print(&format!("  IDE-R {role}: {name}\n"), env);
        }
        let (probe, next) = Probe::start();
        self.ider.probe = Some(probe);
        self.follow(at, next);
    }

    fn follow(&mut self, at: Instant, next: Next) {
        match next {
            Next::Send(Command {
                drive,
                cdb,
                transfer_len,
            }) => {
                let id = self.ider.next_id;
                self.ider.next_id += 1;
                self.ider.pending = Some(IderRequest {
                    id,
                    drive,
                    cdb,
                    transfer_len,
                });
                self.ider.waiting = Some((id, at + self.script.ider_timeout()));
                self.changed = true;
            }
            Next::Found { drive, volume } if self.ider.mounting.is_some() => {
                self.ider.probe = None;
                let user = self.ider.mounting.take().unwrap_or_default();
                let label = if volume.label.is_empty() {
                    "NO_NAME".to_string()
                } else {
                    volume.label.replace(' ', "_")
                };
                let text = format!(
                    "mount: /dev/{} ({}) mounted read-only on /media/{label}\n",
                    drive.device_name(),
                    volume.kind
                );
                self.mounted = Some((drive, label, volume.kind));
                self.back_to_shell(at, user, text);
            }
            Next::Found { drive, volume } => {
                self.ider.probe = None;
                self.label = if volume.label.is_empty() {
                    "NO NAME".to_string()
                } else {
                    volume.label
                };
                self.drive = drive;
                tracing::info!(?drive, label = %self.label, fs = volume.kind, "IDE-R boot");
                self.phase = Phase::Busy;
                self.tail = self.tail.max(at);
                let script = self.script.clone();
                self.queue_lines(at, &script.ider_boot);
                self.os_started = at;
                self.queue_at(at, Action::Login);
            }
            Next::Failed(why) => self.ider_failed(at, why),
        }
    }

    /// The shell's `mount` is done: its answer, then the prompt.
    fn back_to_shell(&mut self, at: Instant, user: String, text: String) {
        self.phase = Phase::Shell { user };
        self.queue_at(at, Action::Print(text));
        self.queue_at(at, Action::Prompt);
    }

    fn ider_failed(&mut self, at: Instant, why: &str) {
        self.ider.probe = None;
        self.ider.pending = None;
        self.ider.waiting = None;
        if let Some(user) = self.ider.mounting.take() {
            self.back_to_shell(at, user, format!("mount: /dev/cdrom: {why}\n"));
            return;
        }
        self.phase = Phase::Busy;
        self.queue_at(at, Action::Print(format!("IDE-R: {why}.\n")));
        let script = self.script.clone();
        self.queue_lines(at, &script.ider_failed);
        self.queue_at(at, Action::BootDisk);
    }

    /// Whether a console has the IDE-R registers enabled.
    pub fn set_ider_session(&mut self, now: Instant, active: bool) {
        self.ider.session = active;
        if !active {
            // The console took its medium away.
            self.mounted = None;
        }
        if !active && self.ider.probe.is_some() {
            self.ider_failed(now, "the redirection session ended");
        }
    }

    /// The command the host waits to have sent to a console, handed out once.
    pub fn take_ider_request(&mut self) -> Option<IderRequest> {
        self.ider.pending.take()
    }

    /// A console's answer; answers to anything but the awaited request are
    /// dropped (a late answer after a timeout).
    pub fn ider_complete(&mut self, now: Instant, reply: IderReply) {
        let Some((id, _)) = self.ider.waiting else {
            tracing::debug!(id = reply.id, "IDE-R answer nobody waits for");
            return;
        };
        if id != reply.id || self.phase != Phase::Ider {
            tracing::debug!(
                id = reply.id,
                awaited = id,
                "IDE-R answer to another request"
            );
            return;
        }
        self.ider.waiting = None;
        self.ider.pending = None;
        let Some(probe) = self.ider.probe.as_mut() else {
            return;
        };
        let next = probe.answer(&reply.data, reply.sense);
        self.follow(now, next);
    }

    /// Queues `lines`, each after its delay, following what is queued
    /// already (or `from`, if that is later).
    fn queue_lines(&mut self, from: Instant, lines: &[Line]) {
        self.tail = self.tail.max(from);
        for line in lines {
            self.tail += line.delay();
            self.queue
                .push_back((self.tail, Action::Print(line.text.clone())));
        }
    }

    fn queue_at(&mut self, from: Instant, action: Action) {
        self.tail = self.tail.max(from);
        self.queue.push_back((self.tail, action));
    }
}

#[cfg(test)]
mod tests;
