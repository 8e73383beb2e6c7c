//! The `[fleet]` table: the settings every group starts from.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::raw::RawFleet;
use super::source::{Checked, KeyPath, problem};
use super::values::parse_duration;

/// The `[fleet]` table, checked, with its defaults filled in.
pub(super) struct FleetSettings {
    pub(super) seed: String,
    pub(super) first_address: Ipv4Addr,
    pub(super) port_step: Option<u16>,
    pub(super) http_port: u16,
    pub(super) https_port: u16,
    /// The domain of groups that name none.
    pub(super) domain: String,
    pub(super) hello_interval_scale: Option<f64>,
    pub(super) dns: Option<SocketAddr>,
    pub(super) duration: Option<Duration>,
}

pub(super) fn fleet_settings(fleet: &RawFleet) -> Checked<FleetSettings> {
    let fleet_path = KeyPath::root().k("fleet");
    let seed = fleet.seed.clone().unwrap_or_else(|| "amtemu".into());
    if seed.is_empty() {
        return Err(problem(&fleet_path.k("seed"), "the seed must not be empty"));
    }
    let first_address: Ipv4Addr = match &fleet.first_address {
        None => Ipv4Addr::new(127, 1, 0, 1),
        Some(text) => text.parse().map_err(|_| {
            problem(
                &fleet_path.k("first_address"),
                format!("{text:?} is not an IPv4 address"),
            )
        })?,
    };
    if crate::fleet::shard::address_block(first_address).is_none() {
        return Err(problem(
            &fleet_path.k("first_address"),
            format!(
                "{first_address} is outside the blocks a fleet may use ({}); loopback unless routed to this host",
                crate::fleet::shard::address_blocks()
            ),
        ));
    }
    if fleet.port_step == Some(0) {
        return Err(problem(
            &fleet_path.k("port_step"),
            "port_step must be at least 1",
        ));
    }
    let http_port = fleet.http_port.unwrap_or(16992);
    let https_port = fleet.https_port.unwrap_or(16993);
    if http_port == https_port {
        return Err(problem(
            &fleet_path.k("https_port"),
            format!("the HTTP and HTTPS ports are both {http_port}"),
        ));
    }
    let domain = fleet.domain.clone().unwrap_or_else(|| "vpro.test".into());
    let hello_interval_scale = fleet
        .hello_interval_scale
        .map(crate::provision::schedule::valid_scale)
        .transpose()
        .map_err(|m| problem(&fleet_path.k("hello_interval_scale"), m))?;
    let dns = fleet
        .dns
        .as_deref()
        .map(|text| crate::address::socket_address(text, 53))
        .transpose()
        .map_err(|m| problem(&fleet_path.k("dns"), m))?;
    let duration = match &fleet.duration {
        None => None,
        Some(text) => {
            Some(parse_duration(text).map_err(|m| problem(&fleet_path.k("duration"), m))?)
        }
    };
    Ok(FleetSettings {
        seed,
        first_address,
        port_step: fleet.port_step,
        http_port,
        https_port,
        domain,
        hello_interval_scale,
        dns,
        duration,
    })
}
