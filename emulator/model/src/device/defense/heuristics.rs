//! Heuristic packet filtering (AMT 3.0 to 9.5): the ME watches the
//! host's outgoing connection rate and, past a threshold, enters
//! "encounter" mode, blocking traffic or switching a System Defense
//! policy on. Stored configuration here: the emulated host opens no
//! connections, so the detector never fires and its statistics stay in
//! the running state.
//!
//! Ranges are those of Intel's MOF descriptions
//! (AMT_HeuristicPacketFilterSettings 3.0.0).

use serde::{Deserialize, Serialize};

use super::{Defense, DefenseRefusal};

/// FastConnectionRateClearTime, milliseconds.
pub const FAST_CLEAR_MS: std::ops::RangeInclusive<u32> = 10..=1000;
/// SlowConnectionRateClearTime, milliseconds (one to 50 seconds).
pub const SLOW_CLEAR_MS: std::ops::RangeInclusive<u32> = 1000..=50_000;

/// AMT_HeuristicPacketFilterSettings. Defaults: off, no thresholds set
/// (inferred; Intel documents no factory values).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeuristicSettings {
    pub enabled: bool,
    pub fast_threshold: Option<u32>,
    pub fast_clear_ms: Option<u32>,
    pub slow_threshold: Option<u32>,
    pub slow_clear_ms: Option<u32>,
    pub block_all: bool,
    pub block_offensive_port: bool,
    /// Seconds in encounter mode; 0 stays there until cleared.
    pub encounter_timeout: u16,
}

impl HeuristicSettings {
    fn check(&self) -> Result<(), DefenseRefusal> {
        let in_range =
            |v: Option<u32>, r: &std::ops::RangeInclusive<u32>| v.is_none_or(|v| r.contains(&v));
        if in_range(self.fast_clear_ms, &FAST_CLEAR_MS)
            && in_range(self.slow_clear_ms, &SLOW_CLEAR_MS)
        {
            Ok(())
        } else {
            Err(DefenseRefusal::OutOfRange)
        }
    }
}

impl Defense {
    /// The policies a detection would switch on, per interface
    /// (AMT_HeuristicPacketFilterInterfacePolicy).
    pub fn heuristic_policies(&self) -> &[(u8, u32)] {
        &self.heuristic_policies
    }

    pub(super) fn put_heuristics(
        &mut self,
        settings: HeuristicSettings,
    ) -> Result<(), DefenseRefusal> {
        settings.check()?;
        self.heuristics = (settings != HeuristicSettings::default()).then_some(settings);
        Ok(())
    }

    /// Names the policy a detection on `interface` switches on; one per
    /// interface, a later one replaces it (as for the interface's own
    /// policy).
    pub(super) fn set_heuristic_policy(
        &mut self,
        interface: u8,
        policy: Option<u32>,
    ) -> Result<(), DefenseRefusal> {
        match policy {
            Some(handle) => {
                self.policy(handle).ok_or(DefenseRefusal::NoSuchPolicy)?;
                self.heuristic_policies.retain(|(i, _)| *i != interface);
                self.heuristic_policies.push((interface, handle));
            }
            None => {
                let before = self.heuristic_policies.len();
                self.heuristic_policies.retain(|(i, _)| *i != interface);
                if self.heuristic_policies.len() == before {
                    return Err(DefenseRefusal::NoSuchPolicy);
                }
            }
        }
        Ok(())
    }
}
