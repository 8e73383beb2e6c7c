//! System Defense: AMT_SystemDefenseService, AMT_SystemDefensePolicy,
//! the filters (AMT_Hdr8021Filter, AMT_IPHeadersFilter and their parent
//! AMT_NetworkFilter) and AMT_NetworkPortSystemDefensePolicy, which binds
//! a policy to a network interface; read-only associations show which
//! service holds each policy (AMT_SystemDefensePolicyInService) and
//! which filters each policy lists (AMT_FilterInSystemDefensePolicy);
//! AMT_ActiveFilterStatistics gives the counters of each filter of the
//! policy an interface enforces. A thin adapter over
//! `amtemu_model::device::defense`, which owns the tables and counters.
//!
//! Property names follow MeshCommander's reads and writes and the DMT
//! model of AMT_SystemDefensePolicy; the filter's Name key and fixed
//! properties follow the go-wsman-messages capture of AMT_Hdr8021Filter.
//! Inferred, not captured: the InstanceID forms, a filter's InstanceID
//! holding its creation handle, and the association's port DeviceID
//! `Intel(r) AMT Ethernet Port N` (MeshCommander reads N from there).

use super::{CLASS, Class, Method, SERVICE_KEYS, method, optional, output, service, service_epr};
use amtemu_model::device::defense::{
    DefaultAction, DefenseRefusal, Filter, FilterMatch, FilterProfile, INTERFACES, IpMatch, Policy,
};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::cim_time::format_datetime;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const SERVICE: &str = "AMT_SystemDefenseService";
const SERVICE_NAME: &str = "Intel(r) AMT System Defense Service";
const POLICY: &str = "AMT_SystemDefensePolicy";
const POLICY_ID: &str = "Intel(r) AMT:SystemDefensePolicy ";
const HDR8021: &str = "AMT_Hdr8021Filter";
const IP_HEADERS: &str = "AMT_IPHeadersFilter";
const NETWORK_FILTER: &str = "AMT_NetworkFilter";
const PORT_POLICY: &str = "AMT_NetworkPortSystemDefensePolicy";
const PORT_ID: &str = "Intel(r) AMT Ethernet Port ";
const POLICY_IN_SERVICE: &str = "AMT_SystemDefensePolicyInService";
const FILTER_IN_POLICY: &str = "AMT_FilterInSystemDefensePolicy";
const ACTIVE_STATISTICS: &str = "AMT_ActiveFilterStatistics";

const POLICY_METHODS: &[Method] = &[
    method("GetTimeout", get_timeout),
    method("SetTimeout", set_timeout),
    method("UpdateStatistics", update_statistics),
];

pub static CLASSES: &[Class] = &[
    // The table sizes, from the device's own limits (Intel's MOF:
    // GlobalMaxSupportedPolicies, GlobalMaxSupportedFilters).
    Class {
        name: "AMT_GeneralSystemDefenseCapabilities",
        requires: Some(Feature::SystemDefense),
        keys: &["InstanceID"],
        instances: general_capabilities,
        ..CLASS
    },
    Class {
        name: SERVICE,
        requires: Some(Feature::SystemDefense),
        keys: SERVICE_KEYS,
        instances: defense_service,
        ..CLASS
    },
    Class {
        name: POLICY,
        requires: Some(Feature::SystemDefense),
        keys: &["InstanceID"],
        instances: policies,
        create: Some(create_policy),
        put: Some(put_policy),
        delete: Some(delete_policy),
        methods: POLICY_METHODS,
        ..CLASS
    },
    Class {
        name: HDR8021,
        requires: Some(Feature::SystemDefense),
        keys: SERVICE_KEYS,
        instances: ethernet_filters,
        create: Some(create_hdr8021),
        delete: Some(delete_filter),
        ..CLASS
    },
    Class {
        name: IP_HEADERS,
        requires: Some(Feature::SystemDefense),
        keys: SERVICE_KEYS,
        instances: ip_filters,
        create: Some(create_ip_headers),
        delete: Some(delete_filter),
        ..CLASS
    },
    Class {
        name: NETWORK_FILTER,
        requires: Some(Feature::SystemDefense),
        keys: SERVICE_KEYS,
        instances: all_filters,
        subclasses: &[HDR8021, IP_HEADERS],
        ..CLASS
    },
    Class {
        name: PORT_POLICY,
        requires: Some(Feature::SystemDefense),
        keys: &["Antecedent", "Dependent"],
        instances: bindings,
        create: Some(create_binding),
        delete: Some(delete_binding),
        ..CLASS
    },
    // The two associations of Intel's MOFs (AMT_SystemDefensePolicyInService
    // 3.0.0, AMT_FilterInSystemDefensePolicy 6.0.0): references only, both
    // keys. They follow the tables; firmware makes them as policies are
    // created, so a client cannot write them.
    Class {
        name: POLICY_IN_SERVICE,
        requires: Some(Feature::SystemDefense),
        keys: &["Antecedent", "Dependent"],
        instances: policies_in_service,
        ..CLASS
    },
    Class {
        name: FILTER_IN_POLICY,
        requires: Some(Feature::SystemDefense),
        keys: &["Antecedent", "Dependent"],
        instances: filters_in_policies,
        ..CLASS
    },
    // Intel's MOF 3.0.0: the port (Antecedent) and the filter's place in
    // the policy it enforces (Dependent, an AMT_FilterInSystemDefensePolicy
    // reference), with the counters. Read-only: UpdateStatistics refreshes
    // it. Datetime properties, so the CIM common namespace is declared.
    Class {
        name: ACTIVE_STATISTICS,
        requires: Some(Feature::SystemDefense),
        common: true,
        keys: &["Antecedent", "Dependent"],
        instances: active_filter_statistics,
        ..CLASS
    },
];

fn defense_service(_: &Device) -> Vec<Instance> {
    vec![
        service(SERVICE, SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            // 2: enabled.
            .with("EnabledState", 2),
    ]
}

/// Firmware's answer to a refused write: a fault, as for the other
/// tables (AMT-STATUS in an InternalError where firmware has one).
pub(crate) fn fault(refusal: DefenseRefusal) -> Fault {
    tracing::info!(%refusal, "system defense: refused");
    match refusal {
        DefenseRefusal::Duplicate => Fault::AlreadyExists,
        DefenseRefusal::TooMany => Fault::InternalError(PtStatus::MaxLimitReached.into()),
        DefenseRefusal::NotPermitted => Fault::InternalError(PtStatus::NotPermitted.into()),
        DefenseRefusal::InUse => Fault::InternalError(PtStatus::NotPermitted.into()),
        DefenseRefusal::BadName
        | DefenseRefusal::NoSuchFilter
        | DefenseRefusal::BadInterface
        | DefenseRefusal::OutOfRange => Fault::InternalError(PtStatus::InvalidParameter.into()),
        DefenseRefusal::NoSuchPolicy => Fault::InvalidSelectors,
    }
}

// ---- policies --------------------------------------------------------------

pub(crate) fn policy_epr(handle: u32) -> Epr {
    Epr::new(names::class_uri(POLICY)).with("InstanceID", format!("{POLICY_ID}{handle}"))
}

/// The policy handle an InstanceID, or a reference holding one, names.
pub(crate) fn policy_handle(value: &Value) -> Option<u32> {
    let id = match value {
        Value::Ref(epr) => epr.selector_text("InstanceID")?,
        other => other.as_text()?,
    };
    id.trim().strip_prefix(POLICY_ID)?.parse().ok()
}

fn policies(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .policies
        .iter()
        .map(|p| {
            let mut i = Instance::new(POLICY)
                .with("AntiSpoofingSupport", i64::from(p.anti_spoofing))
                .with("ElementName", p.name.as_str())
                .with("InstanceID", format!("{POLICY_ID}{}", p.handle))
                .with("PolicyName", p.name.as_str())
                .with("PolicyPrecedence", i64::from(p.precedence))
                .with("RxDefaultCount", p.rx.count)
                .with("RxDefaultDrop", p.rx.drop)
                .with("RxDefaultMatchEvent", p.rx.match_event)
                .with("TxDefaultCount", p.tx.count)
                .with("TxDefaultDrop", p.tx.drop)
                .with("TxDefaultMatchEvent", p.tx.match_event);
            if !p.filters.is_empty() {
                i = i.with_array(
                    "FilterCreationHandles",
                    p.filters.iter().map(|h| i64::from(*h)),
                );
            }
            i
        })
        .collect()
}

/// Each policy and the service holding it. Antecedent is the service, as
/// in CIM's dependencies the element the other depends on (inferred: the
/// MOF's description says only "policy and its containing service").
fn policies_in_service(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .policies
        .iter()
        .map(|p| {
            Instance::new(POLICY_IN_SERVICE)
                .with("Antecedent", service_epr(SERVICE, SERVICE_NAME))
                .with("Dependent", policy_epr(p.handle))
        })
        .collect()
}

/// Each filter a policy lists: the policy as Antecedent, the filter as
/// Dependent (Intel's "Get the Statistics of the Active Policy" flow reads
/// them so). A handle naming no filter (one deleted since) shows nothing.
fn filters_in_policies(device: &Device) -> Vec<Instance> {
    let defense = device.defense();
    defense
        .policies
        .iter()
        .flat_map(|p| p.filters.iter().map(move |h| (p.handle, *h)))
        .filter_map(|(policy, handle)| {
            let f = defense.filters.iter().find(|f| f.handle == handle)?;
            Some(
                Instance::new(FILTER_IN_POLICY)
                    .with("Antecedent", policy_epr(policy))
                    .with("Dependent", filter_epr(filter_class(f), &f.name)),
            )
        })
        .collect()
}

fn filter_class(f: &Filter) -> &'static str {
    match f.matches {
        FilterMatch::Ethernet { .. } => HDR8021,
        FilterMatch::Ip(_) => IP_HEADERS,
    }
}

/// For each interface enforcing a policy, each of the policy's filters
/// with the counters of the last UpdateStatistics. FilterMatched is always
/// false: no packet crosses the emulated host (see the model's
/// `defense::statistics`), so ReadCount, the reads themselves, is the one
/// counter that moves. The counters are per interface, so every filter
/// of a policy shows the same ReadCount.
fn active_filter_statistics(device: &Device) -> Vec<Instance> {
    let defense = device.defense();
    let mut all = Vec::new();
    for s in &defense.stats {
        let Some(policy) = defense.policy(s.policy) else {
            continue;
        };
        for handle in &policy.filters {
            let Some(f) = defense.filters.iter().find(|f| f.handle == *handle) else {
                continue;
            };
            let placed = Epr::new(names::class_uri(FILTER_IN_POLICY))
                .with_ref("Antecedent", policy_epr(policy.handle))
                .with_ref("Dependent", filter_epr(filter_class(f), &f.name));
            all.push(
                Instance::new(ACTIVE_STATISTICS)
                    .with(
                        "ActivationTime",
                        Value::Datetime(format_datetime(u64::from(s.activated))),
                    )
                    .with("Antecedent", port_epr(s.interface))
                    .with("Dependent", placed)
                    .with("FilterMatched", false)
                    .with(
                        "LastResetTime",
                        Value::Datetime(format_datetime(u64::from(s.shown.1))),
                    )
                    .with("ReadCount", s.shown.0),
            );
        }
    }
    all
}

fn int_in<T: TryFrom<i64>>(v: &Value) -> Option<T> {
    T::try_from(v.as_int()?).ok()
}

/// A policy from a Create or Put body, over `base` (an existing policy
/// for a Put, an empty one for a Create).
fn policy_from(input: &Instance, mut p: Policy) -> Result<Policy, Fault> {
    if let Some(name) = optional(input, "PolicyName", |v| v.as_text().map(str::to_string))? {
        p.name = name;
    }
    if let Some(v) = optional(input, "PolicyPrecedence", int_in::<u32>)? {
        p.precedence = v;
    }
    if let Some(v) = optional(input, "AntiSpoofingSupport", int_in::<u8>)? {
        p.anti_spoofing = v;
    }
    if let Some(v) = optional(input, "FilterCreationHandles", |v| {
        v.items()
            .iter()
            .map(int_in::<u32>)
            .collect::<Option<Vec<_>>>()
    })? {
        p.filters = v;
    }
    for (name, slot) in [
        ("TxDefaultDrop", &mut p.tx.drop),
        ("TxDefaultMatchEvent", &mut p.tx.match_event),
        ("TxDefaultCount", &mut p.tx.count),
        ("RxDefaultDrop", &mut p.rx.drop),
        ("RxDefaultMatchEvent", &mut p.rx.match_event),
        ("RxDefaultCount", &mut p.rx.count),
    ] {
        if let Some(v) = optional(input, name, Value::as_bool)? {
            *slot = v;
        }
    }
    Ok(p)
}

fn create_policy(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let empty = Policy {
        handle: 0,
        name: String::new(),
        precedence: 0,
        anti_spoofing: 0,
        filters: Vec::new(),
        tx: DefaultAction::default(),
        rx: DefaultAction::default(),
    };
    let policy = policy_from(input, empty)?;
    let handle = device.add_policy(policy).map_err(fault)?;
    Ok(policy_epr(handle))
}

fn current_policy(device: &Device, target: &Instance) -> Result<Policy, Fault> {
    let handle = target
        .get("InstanceID")
        .and_then(policy_handle)
        .ok_or(Fault::InvalidSelectors)?;
    device
        .defense()
        .policy(handle)
        .cloned()
        .ok_or(Fault::InvalidSelectors)
}

fn put_policy(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let policy = policy_from(input, current_policy(device, current)?)?;
    device.put_policy(policy).map_err(fault)
}

fn delete_policy(device: &Device, target: &Instance) -> Result<(), Fault> {
    let handle = current_policy(device, target)?.handle;
    device.delete_policy(handle).map_err(fault)
}

fn get_timeout(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetTimeout", PtStatus::Success.into())
        .with("Timeout", i64::from(device.defense().timeout)))
}

fn set_timeout(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "SetTimeout";
    let Some(timeout) = input.get("Timeout").and_then(int_in::<u32>) else {
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    Ok(match device.set_defense_timeout(timeout) {
        Ok(()) => output(M, PtStatus::Success.into()),
        Err(refusal) => output(M, status(refusal)),
    })
}

fn status(refusal: DefenseRefusal) -> u32 {
    match refusal {
        DefenseRefusal::NotPermitted | DefenseRefusal::InUse => PtStatus::NotPermitted,
        DefenseRefusal::TooMany => PtStatus::MaxLimitReached,
        _ => PtStatus::InvalidParameter,
    }
    .into()
}

/// UpdateStatistics: the ME refreshes AMT_ActiveFilterStatistics for the
/// policy the interface enforces, a read that ReadCount counts;
/// ResetOnRead starts the counters again after this read.
fn update_statistics(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "UpdateStatistics";
    let interface = input.get("NetworkInterface").and_then(port_index);
    let reset = match input.get("ResetOnRead") {
        None => Some(false),
        Some(v) => v.as_bool(),
    };
    let (Some(interface), Some(reset)) = (interface, reset) else {
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    Ok(match device.update_filter_statistics(interface, reset) {
        Ok(()) => output(M, PtStatus::Success.into()),
        Err(refusal) => output(M, status(refusal)),
    })
}

// ---- filters ---------------------------------------------------------------

fn filter_instance(class: &str, f: &Filter) -> Instance {
    Instance::new(class)
        .with("ActionEventOnMatch", f.event_on_match)
        .with("CreationClassName", class)
        .with("ElementName", f.name.as_str())
        .with("FilterDirection", i64::from(f.direction))
        .with("FilterEnabled", true)
        .with("FilterProfile", i64::from(f.profile.code()))
        .with_opt("FilterProfileData", f.profile_data.map(i64::from))
        .with("InstanceID", f.handle.to_string())
        .with("Name", f.name.as_str())
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

fn ethernet_filters(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .filters
        .iter()
        .filter_map(|f| match &f.matches {
            FilterMatch::Ethernet { protocol } => {
                Some(filter_instance(HDR8021, f).with("HdrProtocolID8021", i64::from(*protocol)))
            }
            FilterMatch::Ip(_) => None,
        })
        .collect()
}

fn hex(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes.as_deref().map(amtemu_wire::hex::hex_upper)
}

fn ip_filters(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .filters
        .iter()
        .filter_map(|f| {
            let FilterMatch::Ip(m) = &f.matches else {
                return None;
            };
            Some(
                filter_instance(IP_HEADERS, f)
                    .with("HdrIPVersion", i64::from(m.version))
                    .with_opt("HdrProtocolID", m.protocol.map(i64::from))
                    .with_opt("HdrSrcAddress", hex(&m.src_address))
                    .with_opt("HdrSrcMask", hex(&m.src_mask))
                    .with_opt("HdrSrcAddressEndOfRange", hex(&m.src_address_end))
                    .with_opt("HdrDestAddress", hex(&m.dest_address))
                    .with_opt("HdrDestMask", hex(&m.dest_mask))
                    .with_opt("HdrDestAddressEndOfRange", hex(&m.dest_address_end))
                    .with_opt("HdrSrcPortStart", m.src_ports.map(|p| i64::from(p.0)))
                    .with_opt("HdrSrcPortEnd", m.src_ports.map(|p| i64::from(p.1)))
                    .with_opt("HdrDestPortStart", m.dest_ports.map(|p| i64::from(p.0)))
                    .with_opt("HdrDestPortEnd", m.dest_ports.map(|p| i64::from(p.1)))
                    .with_opt("TCPFlagsOn", m.tcp_flags_on.map(i64::from))
                    .with_opt("TCPFlagsOff", m.tcp_flags_off.map(i64::from)),
            )
        })
        .collect()
}

fn all_filters(device: &Device) -> Vec<Instance> {
    let mut all = ethernet_filters(device);
    all.extend(ip_filters(device));
    all
}

/// The properties every filter shares, from a Create body.
fn filter_from(input: &Instance, matches: FilterMatch) -> Result<Filter, Fault> {
    let name = input
        .text("Name")
        .ok_or(Fault::InvalidRepresentation)?
        .to_string();
    let direction = optional(input, "FilterDirection", int_in::<u8>)?.unwrap_or(0);
    if direction > 1 {
        return Err(Fault::InternalError(PtStatus::InvalidParameter.into()));
    }
    let profile = optional(input, "FilterProfile", |v| {
        FilterProfile::from_code(v.as_int()?)
    })?
    .ok_or(Fault::InvalidRepresentation)?;
    let profile_data = optional(input, "FilterProfileData", int_in::<u32>)?;
    if (profile == FilterProfile::RateLimit) != profile_data.is_some() {
        return Err(Fault::InternalError(PtStatus::InvalidParameter.into()));
    }
    // MeshCommander writes "1" for an event on match.
    let event_on_match = optional(input, "ActionEventOnMatch", Value::as_bool)?.unwrap_or(false);
    Ok(Filter {
        handle: 0,
        name,
        direction,
        profile,
        profile_data,
        event_on_match,
        matches,
    })
}

fn filter_epr(class: &str, name: &str) -> Epr {
    Epr::new(names::class_uri(class))
        .with("CreationClassName", class)
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

fn create_hdr8021(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let protocol =
        optional(input, "HdrProtocolID8021", int_in::<u16>)?.ok_or(Fault::InvalidRepresentation)?;
    let filter = filter_from(input, FilterMatch::Ethernet { protocol })?;
    let name = filter.name.clone();
    device.add_filter(filter).map_err(fault)?;
    Ok(filter_epr(HDR8021, &name))
}

/// Octets written in hex (as MeshCommander writes IPv4 addresses), as
/// many as the IP version's addresses have.
fn octets(input: &Instance, name: &str, len: usize) -> Result<Option<Vec<u8>>, Fault> {
    optional(input, name, |v| {
        let text = v.as_text()?.trim();
        if text.len() != len * 2 {
            return None;
        }
        (0..len)
            .map(|i| u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect()
    })
}

fn ports(input: &Instance, start: &str, end: &str) -> Result<Option<(u16, u16)>, Fault> {
    let s = optional(input, start, int_in::<u16>)?;
    let e = optional(input, end, int_in::<u16>)?;
    match (s, e) {
        (None, None) => Ok(None),
        (Some(s), Some(e)) if s <= e => Ok(Some((s, e))),
        (Some(s), None) => Ok(Some((s, s))),
        _ => Err(Fault::InternalError(PtStatus::InvalidParameter.into())),
    }
}

fn create_ip_headers(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let version =
        optional(input, "HdrIPVersion", int_in::<u8>)?.ok_or(Fault::InvalidRepresentation)?;
    let len = match version {
        4 => 4,
        6 => 16,
        _ => return Err(Fault::InternalError(PtStatus::InvalidParameter.into())),
    };
    let m = IpMatch {
        version,
        protocol: optional(input, "HdrProtocolID", int_in::<u8>)?,
        src_address: octets(input, "HdrSrcAddress", len)?,
        src_mask: octets(input, "HdrSrcMask", len)?,
        src_address_end: octets(input, "HdrSrcAddressEndOfRange", len)?,
        dest_address: octets(input, "HdrDestAddress", len)?,
        dest_mask: octets(input, "HdrDestMask", len)?,
        dest_address_end: octets(input, "HdrDestAddressEndOfRange", len)?,
        src_ports: ports(input, "HdrSrcPortStart", "HdrSrcPortEnd")?,
        dest_ports: ports(input, "HdrDestPortStart", "HdrDestPortEnd")?,
        tcp_flags_on: optional(input, "TCPFlagsOn", int_in::<u8>)?,
        tcp_flags_off: optional(input, "TCPFlagsOff", int_in::<u8>)?,
    };
    let filter = filter_from(input, FilterMatch::Ip(m))?;
    let name = filter.name.clone();
    device.add_filter(filter).map_err(fault)?;
    Ok(filter_epr(IP_HEADERS, &name))
}

fn delete_filter(device: &Device, target: &Instance) -> Result<(), Fault> {
    let name = target.text("Name").ok_or(Fault::InvalidSelectors)?;
    device.delete_filter(name).map_err(|refusal| match refusal {
        DefenseRefusal::NoSuchFilter => Fault::InvalidSelectors,
        other => fault(other),
    })
}

// ---- interface bindings ----------------------------------------------------

pub(crate) fn port_epr(interface: u8) -> Epr {
    Epr::new(names::class_uri("CIM_EthernetPort"))
        .with("CreationClassName", "CIM_EthernetPort")
        .with("DeviceID", format!("{PORT_ID}{interface}"))
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

/// The interface a reference to an Ethernet port names: its DeviceID
/// ends in the port number (`Intel(r) AMT Ethernet Port 0`, or the
/// `Ethernet Port 0` CIM_EthernetPort reports).
pub(crate) fn port_index(value: &Value) -> Option<u8> {
    let id = value.as_ref()?.selector_text("DeviceID")?;
    let n: u8 = id
        .trim()
        .strip_prefix("Intel(r) AMT ")
        .unwrap_or(id.trim())
        .strip_prefix("Ethernet Port ")?
        .parse()
        .ok()?;
    (n < INTERFACES).then_some(n)
}

fn bindings(device: &Device) -> Vec<Instance> {
    device
        .defense()
        .bound
        .iter()
        .map(|(interface, policy)| {
            Instance::new(PORT_POLICY)
                .with("Antecedent", port_epr(*interface))
                .with("Dependent", policy_epr(*policy))
        })
        .collect()
}

/// The port (`Antecedent`) and policy (`Dependent`) a Create of a
/// port-to-policy association names.
pub(crate) fn port_and_policy(input: &Instance) -> Result<(u8, u32), Fault> {
    let interface = input
        .get("Antecedent")
        .and_then(port_index)
        .ok_or(Fault::InvalidRepresentation)?;
    let policy = input
        .get("Dependent")
        .and_then(policy_handle)
        .ok_or(Fault::InvalidRepresentation)?;
    Ok((interface, policy))
}

/// A Create naming a policy that does not exist is a bad parameter, not
/// a missing instance.
pub(crate) fn binding_fault(refusal: DefenseRefusal) -> Fault {
    match refusal {
        DefenseRefusal::NoSuchPolicy => Fault::InternalError(PtStatus::InvalidParameter.into()),
        other => fault(other),
    }
}

fn create_binding(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let (interface, policy) = port_and_policy(input)?;
    device
        .bind_policy(interface, Some(policy))
        .map_err(binding_fault)?;
    Ok(Epr::new(names::class_uri(PORT_POLICY))
        .with_ref("Antecedent", port_epr(interface))
        .with_ref("Dependent", policy_epr(policy)))
}

fn delete_binding(device: &Device, target: &Instance) -> Result<(), Fault> {
    let interface = target
        .get("Antecedent")
        .and_then(port_index)
        .ok_or(Fault::InvalidSelectors)?;
    device.bind_policy(interface, None).map_err(fault)
}

fn general_capabilities(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT System Defense Capabilities";
    vec![
        Instance::new("AMT_GeneralSystemDefenseCapabilities")
            .with("ElementName", name)
            .with(
                "GlobalMaxSupportedFilters",
                amtemu_model::device::defense::MAX_FILTERS as u32,
            )
            .with(
                "GlobalMaxSupportedPolicies",
                amtemu_model::device::defense::MAX_POLICIES as u32,
            )
            .with("InstanceID", name),
    ]
}

#[cfg(test)]
mod tests;
