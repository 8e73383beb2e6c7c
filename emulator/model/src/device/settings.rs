//! The device's configurable settings, grouped as the firmware groups them.
//! Plain data; the classes map them to and from WS-Man instances.

use serde::{Deserialize, Serialize};

mod boot;
mod redirection;
pub use boot::*;
pub use redirection::*;

/// AMT_GeneralSettings' writable part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralSettings {
    pub host_name: String,
    pub domain_name: String,
    pub host_os_fqdn: String,
    pub shared_fqdn: bool,
    pub network_interface_enabled: bool,
    pub ping_response_enabled: bool,
    pub rmcp_ping_response_enabled: bool,
    pub ddns_update_enabled: bool,
    pub ddns_update_by_dhcp_server_enabled: bool,
    pub ddns_ttl: u32,
    pub ddns_periodic_update_interval: u32,
    pub dhcpv6_configuration_timeout: u32,
    pub idle_wake_timeout: u32,
    pub preferred_address_family: u8,
    pub privacy_level: u8,
    pub presence_notification_interval: u32,
    pub wsman_only_mode: bool,
    pub thunderbolt_dock_enabled: u8,
}

impl Default for GeneralSettings {
    fn default() -> Self {
        GeneralSettings {
            host_name: String::new(),
            domain_name: String::new(),
            host_os_fqdn: String::new(),
            shared_fqdn: true,
            network_interface_enabled: true,
            ping_response_enabled: true,
            rmcp_ping_response_enabled: true,
            ddns_update_enabled: false,
            ddns_update_by_dhcp_server_enabled: true,
            ddns_ttl: 900,
            ddns_periodic_update_interval: 1440,
            dhcpv6_configuration_timeout: 0,
            idle_wake_timeout: 65535,
            preferred_address_family: 0,
            privacy_level: 0,
            presence_notification_interval: 0,
            wsman_only_mode: false,
            thunderbolt_dock_enabled: 0,
        }
    }
}

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

/// The wired port's IPv4 configuration (AMT_EthernetPortSettings 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    pub dhcp_enabled: bool,
    pub ip_sync_enabled: bool,
    pub shared_static_ip: bool,
    pub ip_address: String,
    pub subnet_mask: String,
    pub default_gateway: String,
    pub primary_dns: String,
    pub secondary_dns: String,
    pub link_policy: Vec<u16>,
    pub link_preference: u8,
    pub link_control: u8,
}

impl NetworkSettings {
    pub fn with_address(ip: &str) -> NetworkSettings {
        NetworkSettings {
            dhcp_enabled: true,
            ip_sync_enabled: true,
            shared_static_ip: false,
            ip_address: ip.to_string(),
            subnet_mask: "255.0.0.0".to_string(),
            default_gateway: String::new(),
            primary_dns: String::new(),
            secondary_dns: String::new(),
            link_policy: vec![1, 14, 16],
            link_preference: 2,
            link_control: 2,
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
