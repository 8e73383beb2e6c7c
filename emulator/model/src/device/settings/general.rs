//! AMT_GeneralSettings: the device's names and general network behaviour,
//! and the limits a change must keep.

use serde::{Deserialize, Serialize};

use crate::device::{Device, Feature};
use crate::values::{DomainName, Fqdn, HostName};

/// AMT_GeneralSettings' writable part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralSettings {
    pub host_name: HostName,
    pub domain_name: DomainName,
    pub host_os_fqdn: Fqdn,
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
            host_name: HostName::default(),
            domain_name: DomainName::default(),
            host_os_fqdn: Fqdn::default(),
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
    /// The limits of the class reference that the types of the fields do
    /// not already keep (the names are [`HostName`], [`DomainName`] and
    /// [`Fqdn`]): ValueMaps and documented ranges.
    pub fn check(&self) -> Result<(), GeneralSettingsRefusal> {
        use GeneralSettingsRefusal::OutOfRange;
        if self.privacy_level > 2 {
            return Err(GeneralSettingsRefusal::UnknownPrivacyLevel);
        }
        // "Maximum value is 2147483647 (2^31-1) - according to RFC2181".
        if self.ddns_ttl > 0x7FFF_FFFF {
            return Err(OutOfRange("DDNSTTL"));
        }
        // "Can be: either 0, or 20 and over."
        if (1..20).contains(&self.ddns_periodic_update_interval) {
            return Err(OutOfRange("DDNSPeriodicUpdateInterval"));
        }
        // "The minimal allowed value is 15 minutes" (0 disables).
        if (1..15).contains(&self.presence_notification_interval) {
            return Err(OutOfRange("PresenceNotificationInterval"));
        }
        // "The minimum value for this property is 1, maximum is 65535".
        if !(1..=65535).contains(&self.idle_wake_timeout) {
            return Err(OutOfRange("IdleWakeTimeout"));
        }
        // A uint16 in the SDK's typed classes.
        if self.dhcpv6_configuration_timeout > 65535 {
            return Err(OutOfRange("DHCPv6ConfigurationTimeout"));
        }
        // ValueMaps {0 IPv4, 1 IPv6} and {0 disabled, 1 enabled}.
        if self.preferred_address_family > 1 {
            return Err(OutOfRange("PreferredAddressFamily"));
        }
        if self.thunderbolt_dock_enabled > 1 {
            return Err(OutOfRange("ThunderboltDockEnabled"));
        }
        Ok(())
    }
}

/// Why a change of the general settings was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeneralSettingsRefusal {
    /// A new host name that is not a DNS label, on firmware before CSME 18.
    #[error("the host name is not a DNS label")]
    HostNameNotALabel,
    #[error("PrivacyLevel is not 0, 1 or 2")]
    UnknownPrivacyLevel,
    #[error("{0} is outside the range the class reference allows")]
    OutOfRange(&'static str),
}

impl Device {
    /// The general settings as they stand.
    pub fn general_settings(&self) -> GeneralSettings {
        self.with_state(|s| s.nvram.general.clone())
    }

    /// Changes the general settings: `edit` applies a client's values to a
    /// copy (its error is returned as the outer one), and the result is
    /// kept if it is within the limits ([`GeneralSettings::check`]) and a
    /// new host name is one this firmware takes, all under one lock.
    pub fn configure_general<E>(
        &self,
        edit: impl FnOnce(&mut GeneralSettings) -> Result<(), E>,
    ) -> Result<Result<(), GeneralSettingsRefusal>, E> {
        self.with_state(|s| {
            let mut g = s.nvram.general.clone();
            edit(&mut g)?;
            let renamed = g.host_name != s.nvram.general.host_name;
            if renamed
                && !g.host_name.is_dns_label()
                && !self.firmware.has(Feature::UnicodeHostName)
            {
                return Ok(Err(GeneralSettingsRefusal::HostNameNotALabel));
            }
            Ok(g.check().map(|()| s.nvram.general = g))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn ranges_and_value_maps_are_limited() {
        let d = device("11.8");
        let before = d.general_settings();
        type Edit = fn(&mut GeneralSettings);
        let cases: [(Edit, GeneralSettingsRefusal); 8] = [
            (
                |g| g.privacy_level = 3,
                GeneralSettingsRefusal::UnknownPrivacyLevel,
            ),
            (
                |g| g.ddns_ttl = 0x8000_0000,
                GeneralSettingsRefusal::OutOfRange("DDNSTTL"),
            ),
            (
                |g| g.ddns_periodic_update_interval = 19,
                GeneralSettingsRefusal::OutOfRange("DDNSPeriodicUpdateInterval"),
            ),
            (
                |g| g.presence_notification_interval = 14,
                GeneralSettingsRefusal::OutOfRange("PresenceNotificationInterval"),
            ),
            (
                |g| g.idle_wake_timeout = 0,
                GeneralSettingsRefusal::OutOfRange("IdleWakeTimeout"),
            ),
            (
                |g| g.dhcpv6_configuration_timeout = 65536,
                GeneralSettingsRefusal::OutOfRange("DHCPv6ConfigurationTimeout"),
            ),
            (
                |g| g.preferred_address_family = 2,
                GeneralSettingsRefusal::OutOfRange("PreferredAddressFamily"),
            ),
            (
                |g| g.thunderbolt_dock_enabled = 2,
                GeneralSettingsRefusal::OutOfRange("ThunderboltDockEnabled"),
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
            g.host_name = "h".repeat(63).parse().unwrap();
            g.ddns_periodic_update_interval = 0;
            g.presence_notification_interval = 15;
            Ok::<_, ()>(())
        });
        assert_eq!(renamed, Ok(Ok(())));
        assert_eq!(d.general_settings().host_name.len(), 63);
    }

    #[test]
    fn host_names_beyond_dns_labels_need_csme_18() {
        let rename = |d: &Device, name: &str| {
            d.configure_general(|g| {
                g.host_name = name.parse().unwrap();
                Ok::<_, ()>(())
            })
        };
        let old = device("16.1");
        assert_eq!(
            rename(&old, "pé-42"),
            Ok(Err(GeneralSettingsRefusal::HostNameNotALabel))
        );
        assert_eq!(rename(&old, "pc-42"), Ok(Ok(())));
        let new = device("18.0");
        assert_eq!(rename(&new, "pé-<42>"), Ok(Ok(())));
        assert_eq!(new.general_settings().host_name, "pé-<42>");
    }

    #[test]
    fn stored_settings_with_a_name_firmware_refuses_keep_the_rest() {
        let mut stored = serde_json::to_value(GeneralSettings::default()).unwrap();
        stored["host_name"] = serde_json::Value::String("pc\u{1b}[2J".into());
        stored["domain_name"] = "vpro.test".into();
        stored["ddns_ttl"] = 600.into();
        let back: GeneralSettings = serde_json::from_value(stored).unwrap();
        assert_eq!(back.host_name, "");
        assert_eq!(back.domain_name, "vpro.test");
        assert_eq!(back.ddns_ttl, 600);
    }
}
