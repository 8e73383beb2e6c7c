//! Heuristic packet filtering (AMT 3.0 to 9.5, deprecated with 10.0):
//! AMT_HeuristicPacketFilterSettings (the detector's thresholds and
//! actions), AMT_HeuristicPacketFilterStatistics (its state) and
//! AMT_HeuristicPacketFilterInterfacePolicy (the System Defense policy a
//! detection switches on for an interface). A thin adapter over
//! `amtemu_model::device::defense::heuristics`.
//!
//! Properties and types follow Intel's MOFs (settings and statistics
//! 3.0.0, the interface policy 6.0.0). Inferred, not captured: the two
//! InstanceIDs, and the statistics reporting the running state: the
//! emulated host opens no connections, so the detector never fires.

use super::system_defense::{
    binding_fault, fault, policy_epr, port_and_policy, port_epr, port_index,
};
use super::{CLASS, Class, optional};
use amtemu_model::device::defense::DefenseRefusal;
use amtemu_model::device::defense::heuristics::HeuristicSettings;
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const SETTINGS: &str = "AMT_HeuristicPacketFilterSettings";
const SETTINGS_ID: &str = "Intel(r) AMT:Heuristic Packet Filter Settings";
const STATISTICS: &str = "AMT_HeuristicPacketFilterStatistics";
const STATISTICS_ID: &str = "Intel(r) AMT:Heuristic Packet Filter Statistics";
const INTERFACE_POLICY: &str = "AMT_HeuristicPacketFilterInterfacePolicy";

pub static CLASSES: &[Class] = &[
    Class {
        name: SETTINGS,
        requires: Some(Feature::HeuristicSettings),
        keys: &["InstanceID"],
        instances: settings,
        put: Some(put_settings),
        ..CLASS
    },
    Class {
        name: STATISTICS,
        requires: Some(Feature::Heuristics),
        keys: &["InstanceID"],
        instances: statistics,
        ..CLASS
    },
    Class {
        name: INTERFACE_POLICY,
        requires: Some(Feature::Heuristics),
        keys: &["Antecedent", "Dependent"],
        instances: interface_policies,
        create: Some(create_interface_policy),
        delete: Some(delete_interface_policy),
        ..CLASS
    },
];

fn current(device: &Device) -> HeuristicSettings {
    device.defense().heuristics.unwrap_or_default()
}

fn settings(device: &Device) -> Vec<Instance> {
    let s = current(device);
    vec![
        Instance::new(SETTINGS)
            .with("BlockAll", s.block_all)
            .with("BlockOffensivePort", s.block_offensive_port)
            .with(
                "ElementName",
                "Intel(r) AMT Heuristic Packet Filter Settings",
            )
            .with("Enabled", s.enabled)
            .with("EncounterTimeout", i64::from(s.encounter_timeout))
            .with_opt("FastConnectionRateClearTime", s.fast_clear_ms)
            .with_opt("FastConnectionRateThreshold", s.fast_threshold)
            .with("InstanceID", SETTINGS_ID)
            .with_opt("SlowConnectionRateClearTime", s.slow_clear_ms)
            .with_opt("SlowConnectionRateThreshold", s.slow_threshold),
    ]
}

fn uint<T: TryFrom<i64>>(v: &Value) -> Option<T> {
    T::try_from(v.as_int()?).ok()
}

/// Put: each property given replaces the stored one; one not of its type
/// is an invalid representation, a clear time outside Intel's range an
/// invalid parameter, and either leaves the settings as they were.
fn put_settings(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let mut s = current(device);
    for (name, slot) in [
        ("Enabled", &mut s.enabled),
        ("BlockAll", &mut s.block_all),
        ("BlockOffensivePort", &mut s.block_offensive_port),
    ] {
        if let Some(v) = optional(input, name, Value::as_bool)? {
            *slot = v;
        }
    }
    for (name, slot) in [
        ("FastConnectionRateThreshold", &mut s.fast_threshold),
        ("FastConnectionRateClearTime", &mut s.fast_clear_ms),
        ("SlowConnectionRateThreshold", &mut s.slow_threshold),
        ("SlowConnectionRateClearTime", &mut s.slow_clear_ms),
    ] {
        if let Some(v) = optional(input, name, uint::<u32>)? {
            *slot = Some(v);
        }
    }
    if let Some(v) = optional(input, "EncounterTimeout", uint::<u16>)? {
        s.encounter_timeout = v;
    }
    device.put_heuristics(s).map_err(fault)
}

/// The detector's state: always running (0, inferred: Intel's reference
/// gives the property no value list we could check), nothing blocked, no
/// policy applied; the transition properties are absent, as the MOF says
/// they are while running.
fn statistics(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new(STATISTICS)
            .with("BlockedAll", false)
            .with(
                "ElementName",
                "Intel(r) AMT Heuristic Packet Filter Statistics",
            )
            .with("EnabledPolicy", false)
            .with("InstanceID", STATISTICS_ID)
            .with("State", 0),
    ]
}

/// Each interface's policy for a detection. Enabled says whether the
/// heuristic has switched the policy on, which never happens here.
fn interface_policies(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .heuristic_policies()
        .iter()
        .map(|(interface, policy)| {
            Instance::new(INTERFACE_POLICY)
                .with("Antecedent", port_epr(*interface))
                .with("Dependent", policy_epr(*policy))
                .with("Enabled", false)
        })
        .collect()
}

fn create_interface_policy(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let (interface, policy) = port_and_policy(input)?;
    optional(input, "Enabled", Value::as_bool)?;
    device
        .set_heuristic_policy(interface, Some(policy))
        .map_err(binding_fault)?;
    Ok(Epr::new(names::class_uri(INTERFACE_POLICY))
        .with_ref("Antecedent", port_epr(interface))
        .with_ref("Dependent", policy_epr(policy)))
}

fn delete_interface_policy(device: &Device, target: &Instance) -> Result<(), Fault> {
    let interface = target
        .get("Antecedent")
        .and_then(port_index)
        .ok_or(Fault::InvalidSelectors)?;
    device
        .set_heuristic_policy(interface, None)
        .map_err(|refusal| match refusal {
            DefenseRefusal::NoSuchPolicy => Fault::InvalidSelectors,
            other => fault(other),
        })
}

#[cfg(test)]
mod tests;
