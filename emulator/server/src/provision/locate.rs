//! Finding the provisioning server, in the firmware's order: the address
//! entered in MEBx; else `ProvisionServer.<MEBx domain>`; else
//! `ProvisionServer.<DHCP option 15 domain>`.
//!
//! A blank MEBx domain still sends its lookup, for the bare name
//! `ProvisionServer` (Intel: "the lookup is sent even then"); we ask it as
//! an absolute name, so no search list of ours is appended. A workgroup
//! device (both domains blank) therefore asks only for `ProvisionServer.`,
//! which no sane zone answers: it finds nothing by name.
//!
//! Names are resolved only through the resolver address the user gives
//! (`--dns`), never the system's: tests and fleets must not leak queries.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::Name;

use amtemu_model::device::ProvisioningSettings;

/// The DNS host name firmware looks for.
pub const PROVISION_SERVER: &str = "ProvisionServer";

/// One place to try, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    Address(SocketAddr),
    /// An absolute DNS name (without the final dot) and the port.
    Name(String, u16),
}

/// Where a device in setup mode looks, in order.
pub fn candidates(settings: &ProvisioningSettings) -> Vec<Candidate> {
    if let Some(server) = settings.server {
        return vec![Candidate::Address(server)];
    }
    let name = |domain: &str| {
        let domain = domain.trim().trim_end_matches('.');
        if domain.is_empty() {
            PROVISION_SERVER.to_string()
        } else {
            format!("{PROVISION_SERVER}.{domain}")
        }
    };
    let mut out = vec![Candidate::Name(
        name(&settings.mebx_domain),
        settings.server_port,
    )];
    let dhcp = Candidate::Name(name(&settings.dhcp_domain), settings.server_port);
    if !out.contains(&dhcp) {
        out.push(dhcp);
    }
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocateError {
    #[error("no provisioning server address and no DNS resolver configured")]
    NoResolver,
    #[error("no provisioning server found (tried {0})")]
    NotFound(String),
}

/// Resolves candidates through the configured resolver, if any.
#[derive(Clone)]
pub struct Locator {
    resolver: Option<TokioResolver>,
}

impl std::fmt::Debug for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locator")
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl Locator {
    /// A locator asking only `dns` (UDP, then TCP on truncation); with
    /// none, only configured addresses work.
    pub fn new(dns: Option<SocketAddr>) -> Result<Locator, String> {
        let Some(dns) = dns else {
            return Ok(Locator { resolver: None });
        };
        let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
            .into_iter()
            .map(|mut c| {
                c.port = dns.port();
                c
            })
            .collect();
        let server = NameServerConfig::new(dns.ip(), true, connections);
        let mut options = ResolverOpts::default();
        options.use_hosts_file = ResolveHosts::Never;
        // AMT of these generations speaks IPv4 only.
        options.ip_strategy = LookupIpStrategy::Ipv4Only;
        options.timeout = Duration::from_secs(2);
        options.attempts = 1;
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()
        .map_err(|e| format!("DNS resolver {dns}: {e}"))?;
        Ok(Locator {
            resolver: Some(resolver),
        })
    }

    pub fn has_resolver(&self) -> bool {
        self.resolver.is_some()
    }

    /// The first candidate that yields an address.
    pub async fn locate(&self, settings: &ProvisioningSettings) -> Result<SocketAddr, LocateError> {
        let mut tried = Vec::new();
        for candidate in candidates(settings) {
            match candidate {
                Candidate::Address(addr) => return Ok(addr),
                Candidate::Name(name, port) => {
                    let Some(resolver) = &self.resolver else {
                        return Err(LocateError::NoResolver);
                    };
                    match resolve(resolver, &name).await {
                        Some(ip) => return Ok(SocketAddr::new(ip, port)),
                        None => tried.push(name),
                    }
                }
            }
        }
        Err(LocateError::NotFound(tried.join(", ")))
    }
}

async fn resolve(resolver: &TokioResolver, name: &str) -> Option<IpAddr> {
    let Ok(fqdn) = Name::from_ascii(format!("{name}.")) else {
        tracing::debug!(%name, "not a DNS name");
        return None;
    };
    match resolver.lookup_ip(fqdn).await {
        Ok(found) => found.iter().next(),
        Err(e) => {
            tracing::debug!(%name, error = %e, "provisioning server lookup failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mebx: &str, dhcp: &str) -> ProvisioningSettings {
        ProvisioningSettings {
            mebx_domain: mebx.into(),
            dhcp_domain: dhcp.into(),
            ..ProvisioningSettings::default()
        }
    }

    #[test]
    fn a_configured_address_is_the_only_candidate() {
        let s = ProvisioningSettings {
            server: Some("127.9.9.9:9971".parse().unwrap()),
            ..settings("mebx.test", "dhcp.test")
        };
        assert_eq!(
            candidates(&s),
            vec![Candidate::Address("127.9.9.9:9971".parse().unwrap())]
        );
    }

    #[test]
    fn mebx_domain_comes_before_dhcp_domain() {
        assert_eq!(
            candidates(&settings("mebx.test", "dhcp.test.")),
            vec![
                Candidate::Name("ProvisionServer.mebx.test".into(), 9971),
                Candidate::Name("ProvisionServer.dhcp.test".into(), 9971),
            ]
        );
        assert_eq!(
            candidates(&settings("same.test", "same.test")),
            vec![Candidate::Name("ProvisionServer.same.test".into(), 9971)]
        );
    }

    #[test]
    fn a_blank_mebx_domain_still_asks_and_a_workgroup_asks_only_the_bare_name() {
        assert_eq!(
            candidates(&settings("", "dhcp.test")),
            vec![
                Candidate::Name("ProvisionServer".into(), 9971),
                Candidate::Name("ProvisionServer.dhcp.test".into(), 9971),
            ]
        );
        assert_eq!(
            candidates(&settings("", "")),
            vec![Candidate::Name("ProvisionServer".into(), 9971)]
        );
    }

    #[tokio::test]
    async fn without_a_resolver_only_addresses_work() {
        let locator = Locator::new(None).unwrap();
        assert_eq!(
            locator.locate(&settings("mebx.test", "")).await,
            Err(LocateError::NoResolver)
        );
        let s = ProvisioningSettings {
            server: Some("127.9.9.9:9971".parse().unwrap()),
            ..ProvisioningSettings::default()
        };
        assert_eq!(
            locator.locate(&s).await,
            Ok("127.9.9.9:9971".parse().unwrap())
        );
    }
}
