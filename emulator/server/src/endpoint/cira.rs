//! A device's CIRA state beside it: what the tunnel task is doing, since
//! when, and the last thing that went wrong, for the control API and
//! metrics; and the host's request for a user-initiated connection. The
//! tunnel task (the server's `cira` module) is its one writer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tokio::sync::Notify;

/// Where the device's tunnel is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CiraPhase {
    /// No tunnel wanted (not configured, inside the enterprise, ...).
    #[default]
    Off,
    /// Connecting, or waiting to retry after a failure.
    Connecting,
    /// The APF handshake finished and the ports are forwarded.
    Connected,
}

impl CiraPhase {
    pub fn name(self) -> &'static str {
        match self {
            CiraPhase::Off => "off",
            CiraPhase::Connecting => "connecting",
            CiraPhase::Connected => "connected",
        }
    }
}

/// A copy of the state at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CiraSnapshot {
    pub phase: CiraPhase,
    /// When the phase was entered.
    pub since: Option<SystemTime>,
    /// `address:port` of the MPS in use or last tried.
    pub mps: Option<String>,
    /// Why no tunnel is wanted, or why the last one failed or ended.
    pub last_error: Option<String>,
    /// Tunnels established since start.
    pub connects: u64,
    /// Channels the MPS opened since start.
    pub channels: u64,
}

#[derive(Debug, Default)]
pub struct CiraStatus {
    snapshot: Mutex<CiraSnapshot>,
    user_request: AtomicBool,
    /// Wakes the tunnel task: a user-initiated request, or a stop.
    wake: Notify,
}

impl CiraStatus {
    pub fn snapshot(&self) -> CiraSnapshot {
        self.lock().clone()
    }

    /// The phase alone, without copying the strings (the fleet view asks
    /// it of every device).
    pub fn phase(&self) -> CiraPhase {
        self.lock().phase
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut CiraSnapshot)) {
        f(&mut self.lock());
    }

    /// Enters `phase` (the time is kept only when the phase changes).
    pub(crate) fn enter(&self, phase: CiraPhase, mps: Option<String>) {
        self.update(|s| {
            if s.phase != phase {
                s.phase = phase;
                s.since = Some(SystemTime::now());
            }
            if mps.is_some() {
                s.mps = mps;
            }
        });
    }

    /// The host (or the BIOS) asks for a user-initiated connection:
    /// "fast call for help".
    pub fn request_user_initiated(&self) {
        self.user_request.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Takes a pending user-initiated request.
    pub(crate) fn take_user_request(&self) -> bool {
        self.user_request.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn user_requested(&self) -> bool {
        self.user_request.load(Ordering::Acquire)
    }

    pub(crate) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CiraSnapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }
}
