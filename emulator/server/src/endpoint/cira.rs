//! A device's CIRA state beside it: what the tunnel task is doing, since
//! when, and the last thing that went wrong, for the control API and
//! metrics; and the host's request for a user-initiated connection. The
//! tunnel task (the server's `cira` module) is its one writer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
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

/// What a fault does to a tunnel that is up (scenario actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// The connection is dropped at once: no DISCONNECT, no TLS close.
    Cut,
    /// The path goes quiet (a cable pulled, packets dropped): the device
    /// neither sends nor hears anything until its silence limit gives the
    /// tunnel up; the MPS misses the keep-alives meanwhile.
    Silence,
}

#[derive(Debug, Default)]
pub struct CiraStatus {
    snapshot: Mutex<CiraSnapshot>,
    user_request: AtomicBool,
    /// Wakes the tunnel task: a user-initiated request, or a stop.
    wake: Notify,
    /// A pending [`Interruption`] (0: none, 1: cut, 2: silence) and what
    /// wakes the tunnel for it.
    interruption: AtomicU8,
    interrupted: Notify,
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

    /// Wakes the tunnel task to look at its plan again now (the cable is
    /// back: no need to sit out the backoff).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Interrupts the tunnel that is up; false when none is.
    pub fn interrupt(&self, how: Interruption) -> bool {
        if self.phase() != CiraPhase::Connected {
            return false;
        }
        let code = match how {
            Interruption::Cut => 1,
            Interruption::Silence => 2,
        };
        self.interruption.store(code, Ordering::Release);
        self.interrupted.notify_one();
        true
    }

    /// Waits for an interruption of the tunnel and takes it.
    pub(crate) async fn interrupted(&self) -> Interruption {
        loop {
            match self.interruption.swap(0, Ordering::AcqRel) {
                1 => return Interruption::Cut,
                2 => return Interruption::Silence,
                _ => self.interrupted.notified().await,
            }
        }
    }

    /// Forgets an interruption meant for a tunnel that has ended.
    pub(crate) fn clear_interruption(&self) {
        self.interruption.store(0, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CiraSnapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_tunnel_that_is_up_can_be_interrupted() {
        let status = CiraStatus::default();
        assert!(!status.interrupt(Interruption::Cut), "nothing to cut");
        status.enter(CiraPhase::Connected, Some("127.0.0.1:4433".into()));
        assert!(status.interrupt(Interruption::Silence));
        assert_eq!(status.interrupted().await, Interruption::Silence);
        assert!(status.interrupt(Interruption::Cut));
        status.clear_interruption();
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(50), status.interrupted()).await;
        assert!(pending.is_err(), "a cleared interruption is forgotten");
    }
}
