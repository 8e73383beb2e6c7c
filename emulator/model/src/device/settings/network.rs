//! The wired port's IPv4 configuration (AMT_EthernetPortSettings 0) and
//! the rules a change to it must keep.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::device::Device;

/// LinkPolicy values: S0/AC, Sx/AC, S0/DC, Sx/DC.
pub const LINK_POLICIES: [u16; 4] = [1, 14, 16, 224];

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

    /// The addresses can be set only in manual static mode (DHCP off, no IP
    /// sync with the host): under DHCP they are the lease's, under IP sync
    /// the host's, and read-only either way.
    pub fn addresses_writable(&self) -> bool {
        !self.dhcp_enabled && !self.ip_sync_enabled
    }

    /// A manual static configuration needs a host address and a contiguous
    /// netmask; the gateway and DNS servers may be absent but not
    /// malformed (dotted quads, no other forms).
    pub fn check_static(&self) -> Result<(), NetworkRefusal> {
        let ipv4 = |text: &str| text.parse::<Ipv4Addr>().ok();
        let address = ipv4(&self.ip_address).ok_or(NetworkRefusal::InvalidAddress)?;
        if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
            return Err(NetworkRefusal::InvalidAddress);
        }
        let mask = u32::from(ipv4(&self.subnet_mask).ok_or(NetworkRefusal::InvalidAddress)?);
        if mask == 0 || mask.leading_ones() + mask.trailing_zeros() != 32 {
            return Err(NetworkRefusal::InvalidNetmask);
        }
        for optional in [
            &self.default_gateway,
            &self.primary_dns,
            &self.secondary_dns,
        ] {
            if !optional.is_empty() && ipv4(optional).is_none() {
                return Err(NetworkRefusal::InvalidAddress);
            }
        }
        Ok(())
    }
}

/// Why a network configuration was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkRefusal {
    /// A missing, malformed or unusable address (or a malformed mask).
    #[error("an address is missing, malformed or unusable")]
    InvalidAddress,
    /// A netmask that is zero or not contiguous.
    #[error("the netmask is not contiguous")]
    InvalidNetmask,
}

/// SetLinkPreference: who the shared link goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPreference {
    /// The management engine (LinkPreference 1).
    Me,
    /// The host (LinkPreference 2).
    Host,
}

impl LinkPreference {
    pub fn from_cim(value: i64) -> Option<LinkPreference> {
        match value {
            1 => Some(LinkPreference::Me),
            2 => Some(LinkPreference::Host),
            _ => None,
        }
    }

    pub fn cim(self) -> u8 {
        match self {
            LinkPreference::Me => 1,
            LinkPreference::Host => 2,
        }
    }
}

impl Device {
    /// The wired port's configuration.
    pub fn network(&self) -> NetworkSettings {
        self.with_state(|s| s.nvram.network.clone())
    }

    /// Changes the wired port's configuration: `edit` applies a client's
    /// values to a copy of it (its error, say an unreadable value, is
    /// returned as the outer one), and the result is kept if it is usable.
    /// The addresses change only where they are writable
    /// ([`NetworkSettings::addresses_writable`]). Nothing changes unless
    /// everything is accepted; all under one lock.
    pub fn configure_network<E>(
        &self,
        edit: impl FnOnce(&mut NetworkSettings) -> Result<(), E>,
    ) -> Result<Result<(), NetworkRefusal>, E> {
        self.with_state(|s| {
            let current = &s.nvram.network;
            let mut n = current.clone();
            edit(&mut n)?;
            if n.addresses_writable() {
                if let Err(refusal) = n.check_static() {
                    return Ok(Err(refusal));
                }
            } else {
                n.ip_address.clone_from(&current.ip_address);
                n.subnet_mask.clone_from(&current.subnet_mask);
                n.default_gateway.clone_from(&current.default_gateway);
                n.primary_dns.clone_from(&current.primary_dns);
                n.secondary_dns.clone_from(&current.secondary_dns);
            }
            s.nvram.network = n;
            Ok(Ok(()))
        })
    }

    /// SetLinkPreference; only the preference is kept.
    pub fn set_link_preference(&self, to: LinkPreference) {
        self.with_state(|s| s.nvram.network.link_preference = to.cim());
        self.changed("AMT_EthernetPortSettings");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    fn manual(n: &mut NetworkSettings) {
        n.dhcp_enabled = false;
        n.ip_sync_enabled = false;
        n.ip_address = "192.168.10.20".into();
        n.subnet_mask = "255.255.255.0".into();
    }

    #[test]
    fn a_static_configuration_must_be_usable() {
        let d = device("11.8");
        let before = d.network();
        for (mask, refusal) in [
            ("255.0.255.0", NetworkRefusal::InvalidNetmask),
            ("0.0.0.0", NetworkRefusal::InvalidNetmask),
            ("255.255.255", NetworkRefusal::InvalidAddress),
        ] {
            let refused = d.configure_network(|n| {
                manual(n);
                n.subnet_mask = mask.into();
                Ok::<_, ()>(())
            });
            assert_eq!(refused, Ok(Err(refusal)), "{mask}");
            assert_eq!(d.network(), before);
        }
        assert_eq!(
            d.configure_network(|_| Err("unreadable")),
            Err("unreadable")
        );
        let made = d.configure_network(|n| {
            manual(n);
            Ok::<_, ()>(())
        });
        assert_eq!(made, Ok(Ok(())));
        assert_eq!(d.network().ip_address, "192.168.10.20");
    }

    #[test]
    fn addresses_stay_what_they_were_unless_writable() {
        let d = device("11.8");
        let before = d.network();
        let kept = d.configure_network(|n| {
            n.ip_address = "garbage".into();
            n.shared_static_ip = true;
            Ok::<_, ()>(())
        });
        assert_eq!(kept, Ok(Ok(())));
        let after = d.network();
        assert_eq!(after.ip_address, before.ip_address);
        assert!(after.shared_static_ip);
    }
}
