//! How many sockets one device holds at once.
//!
//! A management engine has a small, fixed pool of sockets; a client that
//! opens more than the device can take is refused at the door instead of
//! costing the emulator a task and buffers per connection. Each accepted
//! connection holds a [`Permit`] for as long as it lives, whatever the
//! protocol on it.
//!
//! Intel does not publish the pool's size. Consoles behave as if it were
//! small: MeshCommander keeps at most two WS-Man requests in flight per
//! device and one redirection session of each kind. The default here,
//! [`DEFAULT_MAX_CONNECTIONS`], leaves room for a console, a redirection
//! session and `amtemu-load`'s default of 16 keep-alive connections; a
//! fleet can set another figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sockets one device serves at once, over all its network ports.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;

/// Redirection connections per device that have not logged in yet. A
/// console logs in right after it connects, so a handful is plenty; the
/// rest wait their turn outside instead of queueing inside.
pub const MAX_PENDING_LOGINS: usize = 4;

/// A counter of things in use, with a ceiling.
#[derive(Debug, Default)]
pub struct Gauge {
    open: AtomicUsize,
}

impl Gauge {
    /// One more in use, if fewer than `max` are; the permit gives it back
    /// when dropped.
    pub fn try_acquire(self: &Arc<Self>, max: usize) -> Option<Permit> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit {
                gauge: self.clone(),
            })
    }

    /// How many are in use now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One place in a [`Gauge`], held while the thing it counts lives.
#[derive(Debug)]
pub struct Permit {
    gauge: Arc<Gauge>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gauge.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_stop_at_the_ceiling_and_come_back_when_dropped() {
        let gauge = Arc::new(Gauge::default());
        let held: Vec<Permit> = (0..3).map_while(|_| gauge.try_acquire(3)).collect();
        assert_eq!(held.len(), 3);
        assert!(gauge.try_acquire(3).is_none(), "the fourth is refused");
        assert_eq!(gauge.open(), 3);
        drop(held);
        assert_eq!(gauge.open(), 0);
        assert!(gauge.try_acquire(3).is_some());
    }

    #[test]
    fn a_ceiling_of_zero_admits_nobody() {
        let gauge = Arc::new(Gauge::default());
        assert!(gauge.try_acquire(0).is_none());
    }
}
