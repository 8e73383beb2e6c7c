//! Boot control's API on [`Device`]: the one-time boot settings, the boot
//! order and the role that makes them apply at the next boot. The data
//! ([`BootSettings`]) is in the parent module, where the boot consumes it.

use super::{BootSettings, BootSource};
use crate::device::Device;

/// Why a change of the boot settings was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootRefusal {
    /// FirmwareVerbosity over 3, or IDERBootDevice over 1.
    #[error("a boot setting is out of range")]
    OutOfRange,
}

impl Device {
    /// A copy of the one-time boot settings.
    pub fn boot_settings(&self) -> BootSettings {
        self.with_state(|s| s.nvram.boot.clone())
    }

    /// A Put of AMT_BootSettingData: `edit` applies what the client sent
    /// to a copy of the settings; the copy replaces them if `edit` succeeds
    /// and every value is in range, all under one lock. Only the flags
    /// change: the boot order, the role and OptionsCleared are kept, and a
    /// change clears OptionsCleared. The outer error is `edit`'s own.
    pub fn edit_boot_settings<E>(
        &self,
        edit: impl FnOnce(&mut BootSettings) -> Result<(), E>,
    ) -> Result<Result<(), BootRefusal>, E> {
        self.with_state(|s| {
            let current = &s.nvram.boot;
            let mut b = current.clone();
            edit(&mut b)?;
            b.boot_order = current.boot_order;
            b.is_next = current.is_next;
            b.options_cleared = current.options_cleared;
            if b.firmware_verbosity > 3 || b.ider_boot_device > 1 {
                return Ok(Err(BootRefusal::OutOfRange));
            }
            if b != *current {
                b.options_cleared = false;
            }
            s.nvram.boot = b;
            Ok(Ok(()))
        })
    }

    /// CIM_BootConfigSetting.ChangeBootOrder: forces `source` at the next
    /// boot (with the role set), or clears the order.
    pub fn set_boot_order(&self, source: Option<BootSource>) {
        self.with_state(|s| {
            s.nvram.boot.boot_order = source;
            s.nvram.boot.options_cleared = false;
        });
    }

    /// CIM_BootService.SetBootConfigRole: the configuration applies to the
    /// next boot.
    pub fn use_boot_config_next(&self) {
        self.with_state(|s| s.nvram.boot.is_next = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::BootTarget;
    use crate::testing::device;

    #[test]
    fn an_edit_changes_the_flags_only_and_all_or_nothing() {
        let d = device("11.8");
        d.set_boot_order(Some(BootSource::Pxe));
        let edited: Result<_, ()> = d.edit_boot_settings(|b| {
            b.bios_pause = true;
            b.firmware_verbosity = 4;
            Ok(())
        });
        assert_eq!(edited, Ok(Err(BootRefusal::OutOfRange)));
        assert!(!d.boot_settings().bios_pause, "nothing changed");
        assert_eq!(d.edit_boot_settings(|_| Err("malformed")), Err("malformed"));
        let edited: Result<_, ()> = d.edit_boot_settings(|b| {
            b.use_sol = true;
            b.boot_order = None;
            b.is_next = true;
            Ok(())
        });
        assert_eq!(edited, Ok(Ok(())));
        let b = d.boot_settings();
        assert!(b.use_sol);
        assert_eq!((b.boot_order, b.is_next), (Some(BootSource::Pxe), false));
        assert_eq!(b.target(), BootTarget::Disk, "the role is not set yet");
        d.use_boot_config_next();
        assert_eq!(d.boot_settings().target(), BootTarget::Pxe);
    }
}
