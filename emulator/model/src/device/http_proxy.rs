//! HTTP proxies the ME may use to reach a management server from outside
//! the enterprise (IPS_HTTPProxyService.AddProxyAccessPoint,
//! IPS_HTTPProxyAccessPoint), 12.0+. Stored configuration: the tunnel that
//! would use them is the CIRA side's.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::{Device, Feature};

/// Entries the table holds (not documented; MeshCommander offers a short
/// list, and a small bound keeps the state small).
pub const MAX_PROXIES: usize = 8;
/// The longest DNS suffix (as AMT_GeneralSettings' domain name).
pub const MAX_SUFFIX: usize = 191;

/// How AccessInfo is written (the CIM RemoteServiceAccessPoint codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyFormat {
    Ipv4,
    Ipv6,
    Fqdn,
}

impl ProxyFormat {
    pub fn from_code(code: i64) -> Option<ProxyFormat> {
        match code {
            3 => Some(ProxyFormat::Ipv4),
            4 => Some(ProxyFormat::Ipv6),
            201 => Some(ProxyFormat::Fqdn),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ProxyFormat::Ipv4 => 3,
            ProxyFormat::Ipv6 => 4,
            ProxyFormat::Fqdn => 201,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyAccessPoint {
    pub handle: u32,
    pub access_info: String,
    pub format: ProxyFormat,
    pub port: u16,
    pub dns_suffix: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyRefusal {
    NotSupported,
    /// AccessInfo is not an address of its format, or port 0.
    BadAddress,
    BadSuffix,
    Duplicate,
    TooMany,
    NoSuchProxy,
}

fn valid_fqdn(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Device {
    pub fn http_proxies(&self) -> Vec<ProxyAccessPoint> {
        self.with_state(|s| s.nvram.http_proxies.clone())
    }

    /// Adds a proxy; returns its handle.
    pub fn add_http_proxy(
        &self,
        access_info: &str,
        format: ProxyFormat,
        port: u16,
        dns_suffix: &str,
    ) -> Result<u32, ProxyRefusal> {
        if !self.firmware.has(Feature::HttpProxy) {
            return Err(ProxyRefusal::NotSupported);
        }
        let address_ok = match format {
            ProxyFormat::Ipv4 => access_info.parse::<Ipv4Addr>().is_ok(),
            ProxyFormat::Ipv6 => access_info.parse::<Ipv6Addr>().is_ok(),
            ProxyFormat::Fqdn => valid_fqdn(access_info),
        };
        if !address_ok || port == 0 {
            return Err(ProxyRefusal::BadAddress);
        }
        if dns_suffix.len() > MAX_SUFFIX || !(dns_suffix.is_empty() || valid_fqdn(dns_suffix)) {
            return Err(ProxyRefusal::BadSuffix);
        }
        self.with_state(|s| {
            let table = &mut s.nvram.http_proxies;
            if table
                .iter()
                .any(|p| p.access_info.eq_ignore_ascii_case(access_info) && p.port == port)
            {
                return Err(ProxyRefusal::Duplicate);
            }
            if table.len() >= MAX_PROXIES {
                return Err(ProxyRefusal::TooMany);
            }
            let handle = (0..)
                .find(|n| table.iter().all(|p| p.handle != *n))
                .unwrap_or(0);
            table.push(ProxyAccessPoint {
                handle,
                access_info: access_info.to_string(),
                format,
                port,
                dns_suffix: dns_suffix.to_string(),
            });
            Ok(handle)
        })
    }

    pub fn delete_http_proxy(&self, handle: u32) -> Result<(), ProxyRefusal> {
        self.with_state(|s| {
            let at = s
                .nvram
                .http_proxies
                .iter()
                .position(|p| p.handle == handle)
                .ok_or(ProxyRefusal::NoSuchProxy)?;
            s.nvram.http_proxies.remove(at);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn proxies_are_added_checked_and_deleted() {
        let d = device("12.0");
        let h = d
            .add_http_proxy(
                "proxy.corp.example",
                ProxyFormat::Fqdn,
                3128,
                "corp.example",
            )
            .unwrap();
        d.add_http_proxy("10.0.0.1", ProxyFormat::Ipv4, 8080, "")
            .unwrap();
        let cases = [
            (
                "10.0.0.1",
                ProxyFormat::Ipv4,
                8080,
                "",
                ProxyRefusal::Duplicate,
            ),
            (
                "10.0.0.300",
                ProxyFormat::Ipv4,
                80,
                "",
                ProxyRefusal::BadAddress,
            ),
            (
                "10.0.0.2",
                ProxyFormat::Ipv6,
                80,
                "",
                ProxyRefusal::BadAddress,
            ),
            (
                "-bad-.example",
                ProxyFormat::Fqdn,
                80,
                "",
                ProxyRefusal::BadAddress,
            ),
            (
                "10.0.0.2",
                ProxyFormat::Ipv4,
                0,
                "",
                ProxyRefusal::BadAddress,
            ),
            (
                "10.0.0.2",
                ProxyFormat::Ipv4,
                80,
                "bad suffix",
                ProxyRefusal::BadSuffix,
            ),
        ];
        let before = d.http_proxies();
        for (info, format, port, suffix, refusal) in cases {
            assert_eq!(
                d.add_http_proxy(info, format, port, suffix),
                Err(refusal),
                "{info}"
            );
        }
        assert_eq!(d.http_proxies(), before);
        d.delete_http_proxy(h).unwrap();
        assert_eq!(d.delete_http_proxy(h), Err(ProxyRefusal::NoSuchProxy));
        assert_eq!(d.http_proxies().len(), 1);
        for i in 0..MAX_PROXIES - 1 {
            d.add_http_proxy(&format!("10.1.0.{i}"), ProxyFormat::Ipv4, 80, "")
                .unwrap();
        }
        assert_eq!(
            d.add_http_proxy("10.2.0.1", ProxyFormat::Ipv4, 80, ""),
            Err(ProxyRefusal::TooMany)
        );
        assert_eq!(
            device("11.8").add_http_proxy("10.0.0.1", ProxyFormat::Ipv4, 80, ""),
            Err(ProxyRefusal::NotSupported)
        );
    }
}
