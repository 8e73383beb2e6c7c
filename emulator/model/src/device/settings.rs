//! The device's configurable settings, grouped as the firmware groups them.
//! Boot, redirection and setup state are plain data here; the general and
//! network settings and the ME clock have their own modules, with the
//! rules a change to them must keep and the device's methods for them.

use serde::{Deserialize, Serialize};

mod boot;
mod clock;
mod consent;
mod general;
mod network;
mod redirection;
pub use boot::*;
pub use consent::*;
pub use redirection::*;

pub use general::{GeneralSettings, GeneralSettingsRefusal};
pub use network::{LINK_POLICIES, LinkPreference, NetworkRefusal, NetworkSettings};

/// A boot device a boot order can name (CIM_BootSourceSetting instances).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootSource {
    HardDrive,
    Pxe,
    CdDvd,
    Diagnostic,
}

impl BootSource {
    pub const ALL: [BootSource; 4] = [
        BootSource::HardDrive,
        BootSource::Pxe,
        BootSource::CdDvd,
        BootSource::Diagnostic,
    ];

    pub fn instance_id(self) -> &'static str {
        match self {
            BootSource::HardDrive => "Intel(r) AMT: Force Hard-drive Boot",
            BootSource::Pxe => "Intel(r) AMT: Force PXE Boot",
            BootSource::CdDvd => "Intel(r) AMT: Force CD/DVD Boot",
            BootSource::Diagnostic => "Intel(r) AMT: Force Diagnostic Boot",
        }
    }

    pub fn structured_boot_string(self) -> &'static str {
        match self {
            BootSource::HardDrive => "CIM:Hard-Disk:1",
            BootSource::Pxe => "CIM:Network:1",
            BootSource::CdDvd => "CIM:CD/DVD:1",
            BootSource::Diagnostic => "CIM:Diagnostic:1",
        }
    }

    pub fn by_instance_id(id: &str) -> Option<BootSource> {
        BootSource::ALL.into_iter().find(|s| s.instance_id() == id)
    }
}

/// AMT_BootSettingData's writable flags plus the boot order and role set by
/// CIM_BootConfigSetting / CIM_BootService. All of it is one-time: it applies
/// to the next boot and is cleared then.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSettings {
    pub bios_pause: bool,
    pub bios_setup: bool,
    pub boot_media_index: u8,
    pub configuration_data_reset: bool,
    pub firmware_verbosity: u8,
    pub forced_progress_events: bool,
    pub ider_boot_device: u8,
    pub lock_keyboard: bool,
    pub lock_power_button: bool,
    pub lock_reset_button: bool,
    pub lock_sleep_button: bool,
    pub reflash_bios: bool,
    pub secure_erase: bool,
    pub use_ider: bool,
    pub use_sol: bool,
    pub use_safe_mode: bool,
    pub user_password_bypass: bool,
    pub enforce_secure_boot: bool,
    /// True once a boot has consumed (cleared) the options.
    pub options_cleared: bool,
    /// CIM_BootConfigSetting.ChangeBootOrder: the forced device, if any.
    pub boot_order: Option<BootSource>,
    /// CIM_BootService.SetBootConfigRole(Role=1): the configuration is used
    /// for the next boot.
    pub is_next: bool,
}

pub use crate::host::BootTarget;

impl BootSettings {
    /// The target the current one-time settings select.
    pub fn target(&self) -> BootTarget {
        if self.use_ider {
            return BootTarget::IdeRedirection;
        }
        if self.bios_setup {
            return BootTarget::BiosSetup;
        }
        match (self.is_next, self.boot_order) {
            (true, Some(BootSource::Pxe)) => BootTarget::Pxe,
            (true, Some(BootSource::CdDvd)) => BootTarget::CdDvd,
            (true, Some(BootSource::Diagnostic)) => BootTarget::Diagnostic,
            _ => BootTarget::Disk,
        }
    }

    /// What a boot leaves behind: the one-time options cleared.
    pub fn cleared() -> BootSettings {
        BootSettings {
            options_cleared: true,
            ..BootSettings::default()
        }
    }
}

/// Provisioning state (AMT_SetupAndConfigurationService.ProvisioningState).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningState {
    Pre,
    In,
    Post,
}

impl ProvisioningState {
    pub fn cim(self) -> u8 {
        match self {
            ProvisioningState::Pre => 0,
            ProvisioningState::In => 1,
            ProvisioningState::Post => 2,
        }
    }
}

/// How a provisioned device is controlled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlMode {
    /// Admin control mode; "Enterprise" before 6.0.
    Admin,
    /// Client control mode (7.0+); "Small Business" before 6.0.
    Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupState {
    pub state: ProvisioningState,
    pub mode: ControlMode,
}
