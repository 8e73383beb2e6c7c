//! Reading a scenario file: TOML → raw structures (serde, unknown keys
//! refused) → checked [`Scenario`]. Every error is mapped back to the line,
//! column and key path it is about, from the spans of the parsed document.

mod expect;
mod fleet;
mod groups;
mod raw;
mod source;
mod timeline;
mod unsupported;
mod values;

#[cfg(test)]
mod tests;

use std::time::Duration;

use toml::de::DeTable;

use super::{Scenario, ScenarioError};
use raw::RawScenario;
use source::{Checked, KeyPath, Problem, Source, flatten_table, locate};
use unsupported::check_unsupported_keys;

pub use values::{format_duration, parse_duration};

/// Reads and checks a scenario.
pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
    let source = Source {
        text,
        file: file_name,
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let (partial, _) = DeTable::parse_recoverable(text);
            let mut entries = Vec::new();
            flatten_table(partial.get_ref(), &KeyPath::root(), &mut entries);
            return Err(source.toml_error(&entries, &e));
        }
    };
    let mut entries = Vec::new();
    flatten_table(root.get_ref(), &KeyPath::root(), &mut entries);
    let resolve = |p: Problem| {
        let at = p.at.or_else(|| locate(root.get_ref(), &p.path));
        let key = (!p.path.0.is_empty()).then(|| p.path.to_string());
        source.error(at, key, p.message)
    };
    check_unsupported_keys(root.get_ref()).map_err(resolve)?;
    let raw: RawScenario = toml::from_str(text).map_err(|e| source.toml_error(&entries, &e))?;
    build(raw, file_name).map_err(resolve)
}

/// Checks the raw structures part by part, each after the parts it refers
/// to: the fleet's settings, the groups and their devices, the timeline,
/// the expectations.
fn build(raw: RawScenario, file_name: &str) -> Checked<Scenario> {
    let fleet = fleet::fleet_settings(&raw.fleet)?;
    let devices = groups::devices(&raw.groups, &fleet, file_name)?;
    let timeline = timeline::timeline(&raw.timeline, &fleet, &devices)?;
    let last_event = timeline.iter().map(|e| e.at).max();
    let expectations = expect::expectations(&raw.expect, fleet.duration, &devices)?;
    // Expectations without a time are checked at the end: when the
    // scenario's duration has passed, else after everything else.
    let end = fleet.duration.unwrap_or_else(|| {
        last_event
            .into_iter()
            .chain(expectations.iter().filter_map(|x| x.at))
            .max()
            .unwrap_or(Duration::ZERO)
    });
    let groups::Devices {
        groups,
        specs,
        device_group,
        qemu_hosts,
        ..
    } = devices;
    Ok(Scenario {
        file_name: file_name.to_string(),
        description: raw.description,
        seed: fleet.seed,
        duration: fleet.duration,
        end,
        specs,
        device_group,
        groups,
        timeline,
        expectations,
        hello_interval_scale: fleet.hello_interval_scale,
        dns: fleet.dns,
        qemu_hosts,
        shard: crate::fleet::shard::Shard::whole(),
    })
}
