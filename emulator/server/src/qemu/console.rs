//! The VM's serial port as the host console SOL carries: what the guest
//! writes on ttyS0 goes to a bounded ring (the simulated host's
//! [`OutputBuffer`]), keystrokes go to the VM while one runs. Power and
//! events are the device's, so SOL's power status bit follows the model.
//! IDE-R: the VM's reads of the console's CD (the NBD export,
//! [`super::ider_cd`]) queue here as media commands for the session.
//! KVM: the host's screen is the running VM's display
//! ([`super::display`]), whose socket the VM's run announces here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use amtemu_model::device::{Device, DeviceEvent};
use amtemu_model::host::buffer::{DEFAULT_CAPACITY, OutputBuffer};
use amtemu_model::host::{IderDrive, IderReply, IderRequest};

use super::display::VmView;
use super::ider_link::{ANSWER_DEADLINE, IderLink, Unanswered};
use crate::host_port::HostPort;
use crate::redirect::kvm::view::ScreenView;

#[derive(Debug)]
pub struct QemuConsole {
    device: Arc<Device>,
    out: Mutex<OutputBuffer>,
    changed: watch::Sender<u64>,
    /// The running VM's serial input; None while no VM runs.
    input: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    /// The running VM's display socket; None while no VM runs.
    display: watch::Sender<Option<PathBuf>>,
    pub ider: IderLink,
}

impl QemuConsole {
    pub fn new(device: Arc<Device>) -> QemuConsole {
        QemuConsole {
            device,
            out: Mutex::new(OutputBuffer::new(DEFAULT_CAPACITY)),
            changed: watch::channel(0).0,
            input: Mutex::new(None),
            display: watch::channel(None).0,
            ider: IderLink::default(),
        }
    }

    /// What the guest wrote on its serial port.
    pub fn output(&self, bytes: &[u8]) {
        lock(&self.out).push(bytes);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Where keystrokes go from now on (None: dropped, no VM runs).
    pub fn connect_input(&self, to: Option<mpsc::UnboundedSender<Vec<u8>>>) {
        *lock(&self.input) = to;
    }

    /// Where the running VM's display is served (None: no VM runs); the
    /// views open on it follow.
    pub fn set_display(&self, socket: Option<PathBuf>) {
        self.display.send_replace(socket);
    }

    /// Sends a media command over the IDE-R session and waits for the
    /// console's answer; Err when no session has its drives active, it
    /// ends first, or the console does not answer in time.
    pub async fn ider_command(
        &self,
        drive: IderDrive,
        cdb: [u8; 12],
        transfer_len: u32,
    ) -> Result<IderReply, Unanswered> {
        let answer = self.ider.enqueue(drive, cdb, transfer_len)?;
        // The session waits on this watch for requests too.
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        let answered = answer.wait(ANSWER_DEADLINE).await;
        if matches!(answered, Err(Unanswered::TimedOut)) {
            tracing::warn!(
                device = %self.device.name,
                command = cdb[0],
                "IDE-R: the console did not answer in time; the VM's read fails"
            );
        }
        answered
    }

    /// Everything retained, for logs and tests.
    pub fn snapshot(&self) -> Vec<u8> {
        let out = lock(&self.out);
        let mut cursor = out.start();
        out.read(&mut cursor)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostPort for QemuConsole {
    fn console_cursor(&self) -> u64 {
        lock(&self.out).start()
    }
    fn console_read(&self, cursor: &mut u64) -> Vec<u8> {
        lock(&self.out).read(cursor)
    }
    fn console_input(&self, bytes: &[u8]) {
        if let Some(input) = lock(&self.input).as_ref() {
            let _ = input.send(bytes.to_vec());
        }
    }
    fn console_next_due(&self) -> Option<Instant> {
        // The VM prints when it prints; the watch says so.
        self.device.with_state(|s| s.power.next_due())
    }
    fn host_watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
    fn host_powered(&self) -> bool {
        self.device.with_state(|s| s.power.state().is_on())
    }
    fn events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.device.subscribe()
    }
    fn ider_session(&self, active: bool) {
        self.ider.set_active(active);
    }
    fn ider_next_request(&self) -> Option<IderRequest> {
        self.ider.next_request()
    }
    fn ider_complete(&self, reply: IderReply) {
        self.ider.complete(reply);
    }
    fn consent_code(&self) -> Option<u32> {
        self.device.opt_in_code_displayed()
    }
    fn kvm_session_timeout(&self) -> Option<std::time::Duration> {
        self.device.kvm_session_timeout()
    }
    fn open_screen(&self) -> Box<dyn ScreenView + '_> {
        Box::new(VmView::open(self, self.display.subscribe()))
    }
}
