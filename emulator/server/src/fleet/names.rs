//! What tools need to reach a fleet's devices by name: a hosts file and one
//! DNS zone file per domain, written from the devices' specs.

use std::collections::BTreeMap;

use super::DeviceSpec;

/// `/etc/hosts` lines: the address, the FQDN, then the bare host name.
pub fn hosts_file(specs: &[DeviceSpec]) -> String {
    let mut text = String::new();
    for spec in specs {
        let host = &spec.config.host_name;
        let domain = &spec.config.domain_name;
        if domain.is_empty() {
            text.push_str(&format!("{} {host}\n", spec.address));
        } else {
            text.push_str(&format!("{} {host}.{domain} {host}\n", spec.address));
        }
    }
    text
}

/// One zone per domain, in master-file format (RFC 1035 §5) with the SOA
/// and NS records a server needs to load it: `(domain, text)`, by domain.
/// Devices without a domain (a workgroup) have no zone to be in.
pub fn zone_files(specs: &[DeviceSpec]) -> Vec<(String, String)> {
    let mut zones: BTreeMap<&str, String> = BTreeMap::new();
    for spec in specs {
        let domain = spec.config.domain_name.trim_end_matches('.');
        if domain.is_empty() {
            continue;
        }
        let zone = zones.entry(domain).or_insert_with(|| {
            format!(
                "; the amtemu fleet's devices in {domain}\n\
                 $ORIGIN {domain}.\n\
                 $TTL 300\n\
                 @ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n\
                 @ IN NS localhost.\n"
            )
        });
        let kind = if spec.address.is_ipv4() { "A" } else { "AAAA" };
        zone.push_str(&format!(
            "{} IN {kind} {}\n",
            spec.config.host_name, spec.address
        ));
    }
    zones
        .into_iter()
        .map(|(domain, text)| (domain.to_string(), text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Ports;
    use amtemu_model::device::{DeviceConfig, Firmware};

    fn spec(host: &str, domain: &str, address: [u8; 4]) -> DeviceSpec {
        let mut config = DeviceConfig::new(host, Firmware::by_name("11.8").unwrap());
        config.host_name = host.into();
        config.domain_name = domain.into();
        DeviceSpec {
            config,
            address: address.into(),
            ports: Ports::default(),
            tls_identity: None,
        }
    }

    #[test]
    fn hosts_and_zones_name_every_device_once_by_domain() {
        let specs = [
            spec("amt-1", "b.test", [127, 1, 0, 1]),
            spec("amt-2", "a.test", [127, 1, 0, 2]),
            spec("amt-3", "b.test", [127, 1, 0, 3]),
            spec("lone", "", [127, 1, 0, 4]),
        ];
        assert_eq!(
            hosts_file(&specs),
            "127.1.0.1 amt-1.b.test amt-1\n127.1.0.2 amt-2.a.test amt-2\n\
             127.1.0.3 amt-3.b.test amt-3\n127.1.0.4 lone\n"
        );
        let zones = zone_files(&specs);
        let domains: Vec<&str> = zones.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(domains, ["a.test", "b.test"]);
        let b = &zones[1].1;
        assert!(b.contains("$ORIGIN b.test.\n"));
        assert_eq!(b.matches(" IN SOA ").count(), 1);
        assert!(
            b.ends_with("amt-1 IN A 127.1.0.1\namt-3 IN A 127.1.0.3\n"),
            "{b}"
        );
        assert!(!b.contains("lone") && !zones[0].1.contains("amt-1"));
    }
}
