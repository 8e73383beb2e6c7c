//! Whether the device's web UI answers (AMT_WebUIService): on from the
//! factory; an administrator can switch it off, after which its pages are
//! refused while WS-Man on the same ports goes on.

use super::{Device, Feature};

pub(super) fn enabled_by_default() -> bool {
    true
}

/// Why the web UI's state cannot be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebUiRefusal {
    /// Firmware before AMT_WebUIService cannot switch it off.
    NotSupported,
}

impl Device {
    pub fn web_ui_enabled(&self) -> bool {
        self.with_state(|s| s.nvram.web_ui_enabled)
    }

    pub fn set_web_ui_enabled(&self, enabled: bool) -> Result<(), WebUiRefusal> {
        if !self.firmware.has(Feature::WebUiControl) {
            return Err(WebUiRefusal::NotSupported);
        }
        self.with_state(|s| s.nvram.web_ui_enabled = enabled);
        self.changed("AMT_WebUIService");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn the_web_ui_can_be_switched_off_from_11_on() {
        let d = device("11.8");
        assert!(d.web_ui_enabled());
        d.set_web_ui_enabled(false).unwrap();
        assert!(!d.web_ui_enabled());
        let old = device("10.0");
        assert_eq!(
            old.set_web_ui_enabled(false),
            Err(WebUiRefusal::NotSupported)
        );
        assert!(old.web_ui_enabled());
    }
}
