//! The VM's serial port as the host console SOL carries: what the guest
//! writes on ttyS0 goes to a bounded ring (the simulated host's
//! [`OutputBuffer`]), keystrokes go to the VM while one runs. Power and
//! events are the device's, so SOL's power status bit follows the model.
//! IDE-R: the VM's reads of the console's CD (the NBD export,
//! [`super::ider_cd`]) queue here as media commands for the session.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use amtemu_model::device::{Device, DeviceEvent};
use amtemu_model::host::buffer::{DEFAULT_CAPACITY, OutputBuffer};
use amtemu_model::host::{IderDrive, IderReply, IderRequest};

use super::ider_link::{IderLink, NoSession};
use crate::host_port::HostPort;

#[derive(Debug)]
pub struct QemuConsole {
    device: Arc<Device>,
    out: Mutex<OutputBuffer>,
    changed: watch::Sender<u64>,
    /// The running VM's serial input; None while no VM runs.
    input: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    pub ider: IderLink,
}

impl QemuConsole {
    pub fn new(device: Arc<Device>) -> QemuConsole {
        QemuConsole {
            device,
            out: Mutex::new(OutputBuffer::new(DEFAULT_CAPACITY)),
            changed: watch::channel(0).0,
            input: Mutex::new(None),
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

    /// Sends a media command over the IDE-R session and waits for the
    /// console's answer; Err when no session has its drives active or it
    /// ends first.
    pub async fn ider_command(
        &self,
        drive: IderDrive,
        cdb: [u8; 12],
        transfer_len: u32,
    ) -> Result<IderReply, NoSession> {
        let answer = self.ider.enqueue(drive, cdb, transfer_len)?;
        // The session waits on this watch for requests too.
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        answer.await.map_err(|_| NoSession)
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
}
