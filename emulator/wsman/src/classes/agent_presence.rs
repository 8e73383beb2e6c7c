//! Agent presence: AMT_AgentPresenceService, AMT_AgentPresenceCapabilities,
//! AMT_AgentPresenceWatchdog (Create/Delete and the agent's methods) and
//! the actions set on it (AMT_AgentPresenceWatchdogAction with its
//! AMT_StateTransitionCondition). A thin adapter over
//! `amtemu_model::device::agent_presence`, which owns the watchdogs, their
//! timers and the host's agent.
//!
//! Property and argument names follow MeshCommander (its watchdog page
//! and amt.js) and Intel's reference. Inferred, not captured: the output
//! arguments of RegisterAgent, the ReturnValue of a heartbeat from an
//! agent that is not registered (16, not permitted) and the action and
//! condition names.

use super::system_defense::{policy_epr, policy_handle};
use super::{Access, CLASS, Class, Method, SERVICE_KEYS, method, optional, output, service};
use amtemu_model::device::agent_presence::{MAX_ACTIONS, MAX_WATCHDOGS, Watchdog, WatchdogRefusal};
use amtemu_model::device::users::realm;
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

const SERVICE: &str = "AMT_AgentPresenceService";
const SERVICE_NAME: &str = "Intel(r) AMT Agent Presence Service";
const CAPABILITIES: &str = "AMT_AgentPresenceCapabilities";
const WATCHDOG: &str = "AMT_AgentPresenceWatchdog";
const ACTION: &str = "AMT_AgentPresenceWatchdogAction";
const CONDITION: &str = "AMT_StateTransitionCondition";
const WATCHDOG_KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

/// Consoles manage watchdogs (remote realm); the agent on the host
/// registers and feeds them (local realm).
const REMOTE: Access = Access(&[realm::PT_ADMINISTRATION, realm::AGENT_PRESENCE_REMOTE]);
const LOCAL: Access = Access(&[realm::PT_ADMINISTRATION, realm::AGENT_PRESENCE_LOCAL]);

const WATCHDOG_METHODS: &[Method] = &[
    method("RegisterAgent", register_agent),
    method("AssertPresence", assert_presence),
    method("AssertShutdown", assert_shutdown),
    method("AddAction", add_action),
    method("DeleteAllActions", delete_all_actions),
];

pub static CLASSES: &[Class] = &[
    Class {
        name: SERVICE,
        requires: Some(Feature::AgentPresence),
        keys: SERVICE_KEYS,
        instances: presence_service,
        read: REMOTE,
        ..CLASS
    },
    Class {
        name: CAPABILITIES,
        requires: Some(Feature::AgentPresence),
        keys: &["InstanceID"],
        instances: capabilities,
        read: REMOTE,
        ..CLASS
    },
    Class {
        name: WATCHDOG,
        requires: Some(Feature::AgentPresence),
        keys: WATCHDOG_KEYS,
        instances: watchdogs,
        create: Some(create_watchdog),
        delete: Some(delete_watchdog),
        methods: WATCHDOG_METHODS,
        read: REMOTE,
        write: REMOTE,
        invoke: REMOTE,
        method_access: &[
            ("RegisterAgent", LOCAL),
            ("AssertPresence", LOCAL),
            ("AssertShutdown", LOCAL),
        ],
        ..CLASS
    },
    Class {
        name: ACTION,
        requires: Some(Feature::AgentPresence),
        keys: &[
            "CreationClassName",
            "PolicyActionName",
            "SystemCreationClassName",
            "SystemName",
        ],
        instances: actions,
        read: REMOTE,
        ..CLASS
    },
    Class {
        name: CONDITION,
        requires: Some(Feature::AgentPresence),
        keys: &[
            "CreationClassName",
            "PolicyConditionName",
            "SystemCreationClassName",
            "SystemName",
        ],
        instances: conditions,
        read: REMOTE,
        ..CLASS
    },
];

fn presence_service(_: &Device) -> Vec<Instance> {
    vec![
        service(SERVICE, SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 2),
    ]
}

fn capabilities(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new(CAPABILITIES)
            .with("ElementName", "Intel(r) AMT Agent Presence Capabilities")
            .with("InstanceID", "Intel(r) AMT Agent Presence Capabilities")
            .with("MaxTotalActions", MAX_ACTIONS as i64)
            .with("MaxTotalAgents", MAX_WATCHDOGS as i64),
    ]
}

fn watchdog_epr(device_id: &str) -> Epr {
    Epr::new(names::class_uri(WATCHDOG))
        .with("CreationClassName", WATCHDOG)
        .with("DeviceID", device_id)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

fn watchdogs(device: &Device) -> Vec<Instance> {
    device
        .watchdogs()
        .iter()
        .map(|w| {
            Instance::new(WATCHDOG)
                .with("CreationClassName", WATCHDOG)
                .with("CurrentState", i64::from(w.state.code()))
                .with("DeviceID", w.device_id.as_str())
                .with("ElementName", "Intel(r) AMT Agent Presence Watchdog")
                .with("EnabledState", 2)
                // 7: an application (CIM_Watchdog.MonitoredEntity).
                .with("MonitoredEntity", 7)
                .with("MonitoredEntityDescription", w.description.as_str())
                .with("StartupInterval", i64::from(w.startup))
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT")
                .with("TimeoutInterval", i64::from(w.timeout))
        })
        .collect()
}

fn action_name(id: u32) -> String {
    format!("Intel(r) AMT Agent Presence Watchdog Action {id}")
}

fn condition_name(id: u32) -> String {
    format!("Intel(r) AMT Agent Presence State Transition {id}")
}

fn actions(device: &Device) -> Vec<Instance> {
    device
        .watchdogs()
        .iter()
        .flat_map(|w| w.actions.clone())
        .map(|a| {
            let mut i = Instance::new(ACTION)
                .with("ActionEac", false)
                .with("CreationClassName", ACTION)
                .with("EventOnTransition", a.event)
                .with("PolicyActionName", action_name(a.id))
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT");
            if let Some(p) = a.policy {
                i.set("ActionSd", policy_epr(p));
            }
            i
        })
        .collect()
}

fn conditions(device: &Device) -> Vec<Instance> {
    device
        .watchdogs()
        .iter()
        .flat_map(|w| w.actions.clone())
        .map(|a| {
            Instance::new(CONDITION)
                .with("CreationClassName", CONDITION)
                .with("NewState", i64::from(a.new_states))
                .with("OldState", i64::from(a.old_states))
                .with("PolicyConditionName", condition_name(a.id))
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT")
        })
        .collect()
}

fn named_epr(class: &str, key: &str, name: String) -> Epr {
    Epr::new(names::class_uri(class))
        .with("CreationClassName", class)
        .with(key, name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

/// The CIM_ConcreteDependency instances that tie a watchdog to its
/// conditions and each condition to its action, as MeshCommander follows
/// them to show a watchdog's actions (the class itself is `pki`'s).
pub(crate) fn dependencies(device: &Device) -> Vec<Instance> {
    let mut links = Vec::new();
    for w in device.watchdogs() {
        for a in &w.actions {
            let condition = named_epr(CONDITION, "PolicyConditionName", condition_name(a.id));
            links.push(
                Instance::new("CIM_ConcreteDependency")
                    .with("Antecedent", watchdog_epr(&w.device_id))
                    .with("Dependent", condition.clone()),
            );
            links.push(
                Instance::new("CIM_ConcreteDependency")
                    .with("Antecedent", condition)
                    .with(
                        "Dependent",
                        named_epr(ACTION, "PolicyActionName", action_name(a.id)),
                    ),
            );
        }
    }
    links
}

fn u16_of(v: &Value) -> Option<u16> {
    u16::try_from(v.as_int()?).ok()
}

fn u32_of(v: &Value) -> Option<u32> {
    u32::try_from(v.as_int()?).ok()
}

/// The agent's ID: a GUID in Base64, as MeshCommander and Intel's
/// samples write it.
fn device_id(v: &Value) -> Option<String> {
    let text = v.as_text()?.trim();
    let bytes = BASE64.decode(text).ok()?;
    (bytes.len() == 16).then(|| text.to_string())
}

fn create_watchdog(device: &Device, input: &Instance) -> Result<Epr, Fault> {
    let id = optional(input, "DeviceID", device_id)?.ok_or(Fault::InvalidRepresentation)?;
    let timeout =
        optional(input, "TimeoutInterval", u16_of)?.ok_or(Fault::InvalidRepresentation)?;
    let startup = optional(input, "StartupInterval", u16_of)?.unwrap_or(0);
    let description = optional(input, "MonitoredEntityDescription", |v| {
        v.as_text().map(str::to_string)
    })?
    .unwrap_or_default();
    device
        .create_watchdog(Watchdog::new(&id, &description, timeout, startup))
        .map_err(|refusal| {
            tracing::info!(device = %device.name, %refusal, "agent presence: Create refused");
            match refusal {
                WatchdogRefusal::Duplicate => Fault::AlreadyExists,
                WatchdogRefusal::TooMany => Fault::InternalError(PtStatus::MaxLimitReached.into()),
                _ => Fault::InternalError(PtStatus::InvalidParameter.into()),
            }
        })?;
    Ok(watchdog_epr(&id))
}

fn target_id(target: &Instance) -> Result<&str, Fault> {
    target.text("DeviceID").ok_or(Fault::InvalidSelectors)
}

fn delete_watchdog(device: &Device, target: &Instance) -> Result<(), Fault> {
    device
        .delete_watchdog(target_id(target)?)
        .map_err(|_| Fault::InvalidSelectors)
}

fn status(refusal: WatchdogRefusal) -> u32 {
    match refusal {
        WatchdogRefusal::NotRegistered | WatchdogRefusal::NotSupported => PtStatus::NotPermitted,
        WatchdogRefusal::TooMany => PtStatus::MaxLimitReached,
        _ => PtStatus::InvalidParameter,
    }
    .into()
}

/// A method's output: success with what `ok` adds, or the refusal's code.
fn answer<T>(
    device: &Device,
    method: &str,
    result: Result<T, WatchdogRefusal>,
    ok: impl FnOnce(Instance, T) -> Instance,
) -> Instance {
    match result {
        Ok(v) => ok(output(method, PtStatus::Success.into()), v),
        Err(refusal) => {
            tracing::info!(device = %device.name, method, %refusal, "agent presence: refused");
            output(method, status(refusal))
        }
    }
}

fn register_agent(device: &Device, target: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let id = target_id(target)?;
    let timeout = target.int("TimeoutInterval").unwrap_or(0);
    Ok(answer(
        device,
        "RegisterAgent",
        device.register_agent(id),
        |o, seq| {
            o.with("SessionSequenceNumber", i64::from(seq))
                .with("TimeoutInterval", timeout)
        },
    ))
}

/// A heartbeat's SequenceNumber, or the answer to a malformed one.
fn sequence(input: &Instance, method: &str) -> Result<u32, Instance> {
    input
        .get("SequenceNumber")
        .and_then(u32_of)
        .ok_or_else(|| output(method, PtStatus::InvalidParameter.into()))
}

fn assert_presence(
    device: &Device,
    target: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "AssertPresence";
    let id = target_id(target)?;
    Ok(match sequence(input, M) {
        Ok(n) => answer(device, M, device.assert_presence(id, n), |o, ()| o),
        Err(refused) => refused,
    })
}

fn assert_shutdown(
    device: &Device,
    target: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "AssertShutdown";
    let id = target_id(target)?;
    Ok(match sequence(input, M) {
        Ok(n) => answer(device, M, device.assert_shutdown(id, n), |o, ()| o),
        Err(refused) => refused,
    })
}

fn add_action(device: &Device, target: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "AddAction";
    let id = target_id(target)?;
    let args = (|| {
        let mask = |name| u8::try_from(input.int(name)?).ok();
        let old = mask("OldState")?;
        let new = mask("NewState")?;
        let event = match input.get("EventOnTransition") {
            None => false,
            Some(v) => v.as_bool()?,
        };
        // An empty ActionSd (MeshCommander sends null) means none.
        let policy = match input.get("ActionSd") {
            None => None,
            Some(Value::Text(t)) if t.trim().is_empty() => None,
            Some(v) => Some(policy_handle(v)?),
        };
        Some((old, new, event, policy))
    })();
    let Some((old, new, event, policy)) = args else {
        tracing::info!(device = %device.name, "AddAction: missing or malformed arguments");
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    Ok(answer(
        device,
        M,
        device.add_watchdog_action(id, old, new, event, policy),
        |o, _| o,
    ))
}

fn delete_all_actions(device: &Device, target: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let id = target_id(target)?;
    Ok(answer(
        device,
        "DeleteAllActions",
        device.delete_watchdog_actions(id),
        |o, ()| o,
    ))
}

#[cfg(test)]
mod tests;
