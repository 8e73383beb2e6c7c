//! The counters behind AMT_ActiveFilterStatistics: one entry per network
//! interface that enforces a policy, covering each filter of that policy.
//!
//! What is counted, honestly: no packet crosses the emulated host, so no
//! filter ever matches (FilterMatched stays false). What a console can
//! observe is its own reads: AMT_SystemDefensePolicy.UpdateStatistics is
//! the read (Intel's flow calls it before fetching the statistics), and
//! ReadCount counts those since the last reset, as Intel's MOF describes
//! ("number of times read since last statistics reset").

use serde::{Deserialize, Serialize};

use super::{Defense, INTERFACES};

/// The statistics of the policy an interface enforces now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatistics {
    pub interface: u8,
    /// The policy these counters belong to: when another policy becomes
    /// active on the interface its counters start afresh.
    pub policy: u32,
    /// When that policy became active here (ME clock, seconds since 1970).
    pub activated: u32,
    /// The last reset: the activation, or a read asking for one.
    pub last_reset: u32,
    /// Reads since `last_reset`.
    pub reads: u32,
    /// What the last read published (reads, last reset): the class shows
    /// the statistics as of the last UpdateStatistics, not live ones.
    pub shown: (u32, u32),
}

impl Defense {
    /// Follows which policy each interface enforces: a policy newly active
    /// on an interface gets fresh counters stamped `clock`; an interface
    /// left without one loses its entry. The one place statistics follow
    /// bindings and watchdog switches, called after either changes.
    pub fn note_activations(&mut self, clock: u32) {
        for interface in 0..INTERFACES {
            let active = self.active(interface);
            let at = self.stats.iter().position(|s| s.interface == interface);
            match (active, at) {
                (None, Some(at)) => {
                    self.stats.remove(at);
                }
                (Some(policy), at) if at.is_none_or(|at| self.stats[at].policy != policy) => {
                    let fresh = PortStatistics {
                        interface,
                        policy,
                        activated: clock,
                        last_reset: clock,
                        reads: 0,
                        shown: (0, clock),
                    };
                    match at {
                        Some(at) => self.stats[at] = fresh,
                        None => self.stats.push(fresh),
                    }
                }
                _ => {}
            }
        }
    }

    pub fn statistics(&self, interface: u8) -> Option<&PortStatistics> {
        self.stats.iter().find(|s| s.interface == interface)
    }

    /// One read of an interface's statistics (UpdateStatistics): counts
    /// it, publishes the counters, and with `reset` starts them again from
    /// zero after publishing. An interface without an active policy has
    /// nothing to read; that is not an error (inferred: Intel's reference
    /// names no status for it).
    pub(super) fn read_statistics(&mut self, interface: u8, reset: bool, clock: u32) {
        let Some(s) = self.stats.iter_mut().find(|s| s.interface == interface) else {
            return;
        };
        s.reads = s.reads.saturating_add(1);
        s.shown = (s.reads, s.last_reset);
        if reset {
            s.reads = 0;
            s.last_reset = clock;
        }
    }
}
