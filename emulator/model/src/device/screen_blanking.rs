//! Screen blanking (IPS_ScreenConfigurationService, 10.0+): while a
//! blanking session is open the firmware has the integrated graphics
//! blank every screen, so a remote operator works on the host unseen. An
//! administrator allows it at all (EnabledState), then opens a session
//! that ends by request or after a number of consecutive host boots
//! (SetSessionState). Only the bookkeeping is modelled: the simulated
//! host has no screen to blank.

use serde::{Deserialize, Serialize};

use super::{Device, DeviceState, Feature};

/// The screen blanking settings and session; off and closed from the
/// factory (MeshCommander calls the feature "not often supported").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenBlanking {
    /// Whether a session may be opened.
    pub enabled: bool,
    /// The open session: the host boots left before it ends by itself.
    pub session: Option<u16>,
}

/// Why a screen blanking change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlankingRefusal {
    /// Firmware before 10.0 has no screen blanking.
    NotSupported,
    /// A session was asked for while blanking is disabled.
    NotEnabled,
}

impl ScreenBlanking {
    /// The host booted: an open session has one boot fewer to go, and
    /// ends when none are left.
    pub(super) fn host_booted(&mut self) {
        self.session = match self.session {
            Some(left) if left > 1 => Some(left - 1),
            _ => None,
        };
    }
}

impl Device {
    pub fn screen_blanking(&self) -> ScreenBlanking {
        self.with_state(|s| s.nvram.screen_blanking)
    }

    /// Allows or forbids screen blanking; forbidding it ends an open
    /// session (inferred: a disabled feature cannot keep screens blank).
    pub fn set_screen_blanking_enabled(&self, enabled: bool) -> Result<(), BlankingRefusal> {
        self.blanking(|b| {
            b.enabled = enabled;
            if !enabled {
                b.session = None;
            }
            Ok(())
        })
    }

    /// Opens a session lasting `reboots` host boots, or closes the open
    /// one. Closing when none is open is no error.
    pub fn set_blanking_session(&self, open: bool, reboots: u16) -> Result<(), BlankingRefusal> {
        self.blanking(|b| {
            if !open {
                b.session = None;
                return Ok(());
            }
            if !b.enabled {
                return Err(BlankingRefusal::NotEnabled);
            }
            b.session = Some(reboots);
            Ok(())
        })
    }

    fn blanking(
        &self,
        change: impl FnOnce(&mut ScreenBlanking) -> Result<(), BlankingRefusal>,
    ) -> Result<(), BlankingRefusal> {
        if !self.firmware.has(Feature::ScreenConfiguration) {
            return Err(BlankingRefusal::NotSupported);
        }
        self.with_state(|s: &mut DeviceState| change(&mut s.nvram.screen_blanking))?;
        self.changed("IPS_ScreenConfigurationService");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn a_session_needs_blanking_enabled_and_disabling_ends_it() {
        let d = device("11.8");
        assert_eq!(d.screen_blanking(), ScreenBlanking::default());
        assert_eq!(
            d.set_blanking_session(true, 2),
            Err(BlankingRefusal::NotEnabled)
        );
        d.set_screen_blanking_enabled(true).unwrap();
        d.set_blanking_session(true, 2).unwrap();
        assert_eq!(d.screen_blanking().session, Some(2));
        d.set_screen_blanking_enabled(false).unwrap();
        assert_eq!(d.screen_blanking().session, None);
    }

    #[test]
    fn boots_count_a_session_down() {
        let mut b = ScreenBlanking {
            enabled: true,
            session: Some(2),
        };
        b.host_booted();
        assert_eq!(b.session, Some(1));
        b.host_booted();
        assert_eq!(b.session, None);
        // A session of zero boots lasts until the next one.
        b.session = Some(0);
        b.host_booted();
        assert_eq!(b.session, None);
    }

    #[test]
    fn firmware_before_10_has_no_blanking() {
        let d = device("9.5");
        assert_eq!(
            d.set_screen_blanking_enabled(true),
            Err(BlankingRefusal::NotSupported)
        );
        assert!(!d.screen_blanking().enabled);
    }
}
