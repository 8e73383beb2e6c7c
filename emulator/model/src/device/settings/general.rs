//! AMT_GeneralSettings: the device's names and general network behaviour,
//! and the limits a change must keep.

use serde::{Deserialize, Serialize};

use crate::device::Device;

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

impl GeneralSettings {
    /// The limits firmware keeps: a host name of at most 63 bytes, a
    /// domain of at most 191, PrivacyLevel 0 to 2.
    pub fn check(&self) -> Result<(), GeneralSettingsRefusal> {
        if self.host_name.len() > 63 {
            return Err(GeneralSettingsRefusal::HostNameTooLong);
        }
        if self.domain_name.len() > 191 {
            return Err(GeneralSettingsRefusal::DomainNameTooLong);
        }
        if self.privacy_level > 2 {
            return Err(GeneralSettingsRefusal::UnknownPrivacyLevel);
        }
        Ok(())
    }
}

/// Why a change of the general settings was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeneralSettingsRefusal {
    #[error("the host name is longer than 63 bytes")]
    HostNameTooLong,
    #[error("the domain name is longer than 191 bytes")]
    DomainNameTooLong,
    #[error("PrivacyLevel is not 0, 1 or 2")]
    UnknownPrivacyLevel,
}

impl Device {
    /// The general settings as they stand.
    pub fn general_settings(&self) -> GeneralSettings {
        self.with_state(|s| s.nvram.general.clone())
    }

    /// Changes the general settings: `edit` applies a client's values to a
    /// copy (its error is returned as the outer one), and the result is
    /// kept if it is within the limits ([`GeneralSettings::check`]), all
    /// under one lock.
    pub fn configure_general<E>(
        &self,
        edit: impl FnOnce(&mut GeneralSettings) -> Result<(), E>,
    ) -> Result<Result<(), GeneralSettingsRefusal>, E> {
        self.with_state(|s| {
            let mut g = s.nvram.general.clone();
            edit(&mut g)?;
            Ok(g.check().map(|()| s.nvram.general = g))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn names_and_privacy_level_are_limited() {
        let d = device("11.8");
        let before = d.general_settings();
        type Edit = fn(&mut GeneralSettings);
        let cases: [(Edit, GeneralSettingsRefusal); 3] = [
            (
                |g| g.host_name = "h".repeat(64),
                GeneralSettingsRefusal::HostNameTooLong,
            ),
            (
                |g| g.domain_name = "d".repeat(192),
                GeneralSettingsRefusal::DomainNameTooLong,
            ),
            (
                |g| g.privacy_level = 3,
                GeneralSettingsRefusal::UnknownPrivacyLevel,
            ),
        ];
        for (edit, refusal) in cases {
            let result = d.configure_general(|g| {
                edit(g);
                Ok::<_, ()>(())
            });
            assert_eq!(result, Ok(Err(refusal)));
            assert_eq!(d.general_settings(), before);
        }
        let renamed = d.configure_general(|g| {
            g.host_name = "h".repeat(63);
            Ok::<_, ()>(())
        });
        assert_eq!(renamed, Ok(Ok(())));
        assert_eq!(d.general_settings().host_name.len(), 63);
    }
}
