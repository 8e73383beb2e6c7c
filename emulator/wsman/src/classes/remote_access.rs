//! Remote access (CIRA, 4.0+), as rps and MeshCentral's amt manager push
//! it: AMT_RemoteAccessService.AddMpServer creates an
//! AMT_ManagementPresenceRemoteSAP (with its AMT_MPSUsernamePassword, or an
//! AMT_RemoteAccessCredentialContext for mutual TLS);
//! AddRemoteAccessPolicyRule creates an AMT_RemoteAccessPolicyRule tied to
//! its servers by AMT_RemoteAccessPolicyAppliesToMPS;
//! AMT_UserInitiatedConnectionService and
//! AMT_EnvironmentDetectionSettingData decide when the device connects.
//! The rules live in `amtemu_model::device::remote_access`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::pki::{certificate_epr, certificate_handle};
use super::{CLASS, Class, SERVICE_KEYS, method, output, service, service_epr};
use amtemu_model::device::remote_access::{
    MpServer, MpsAddressFormat, MpsAuth, MpsType, NewMpServer, PolicyRule, RemoteAccessRefusal,
    Trigger, UserInitiated,
};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const SERVICE: &str = "AMT_RemoteAccessService";
const SERVICE_NAME: &str = "Intel(r) AMT Remote Access Service";
const SAP: &str = "AMT_ManagementPresenceRemoteSAP";
const RULE: &str = "AMT_RemoteAccessPolicyRule";
const USER_SERVICE: &str = "AMT_UserInitiatedConnectionService";
const USER_SERVICE_NAME: &str = "Intel(r) AMT User Initiated Connection Service";
const ENVIRONMENT_ID: &str = "Intel(r) AMT Environment Detection Settings";
const CREDENTIALS_PREFIX: &str = "Intel(r) AMT:MPS Username Password ";
const REMOTE_ACCESS: Option<Feature> = Some(Feature::RemoteAccess);

const SAP_KEYS: &[&str] = SERVICE_KEYS;
const RULE_KEYS: &[&str] = &[
    "CreationClassName",
    "PolicyRuleName",
    "SystemCreationClassName",
    "SystemName",
];

pub static CLASSES: &[Class] = &[
    Class {
        name: SERVICE,
        requires: REMOTE_ACCESS,
        keys: SERVICE_KEYS,
        instances: remote_access_service,
        methods: &[
            method("AddMpServer", add_mp_server),
            method("AddRemoteAccessPolicyRule", add_policy_rule),
        ],
        ..CLASS
    },
    Class {
        name: SAP,
        requires: REMOTE_ACCESS,
        keys: SAP_KEYS,
        instances: servers,
        delete: Some(delete_server),
        ..CLASS
    },
    Class {
        name: RULE,
        requires: REMOTE_ACCESS,
        keys: RULE_KEYS,
        instances: rules,
        delete: Some(delete_rule),
        ..CLASS
    },
    Class {
        name: "AMT_RemoteAccessPolicyAppliesToMPS",
        requires: REMOTE_ACCESS,
        keys: &["ManagedElement", "PolicySet"],
        instances: applies_to,
        put: Some(put_applies_to),
        ..CLASS
    },
    Class {
        name: "AMT_MPSUsernamePassword",
        requires: REMOTE_ACCESS,
        keys: &["InstanceID"],
        instances: credentials,
        put: Some(put_credentials),
        ..CLASS
    },
    // The table sizes, from the device's own limits (Intel's MOF:
    // MaxTotalMpServers, MaxTotalPolicies, MaxMpsPerPolicy; the proxy
    // entry point count is left out, amtemu has no such table).
    Class {
        name: "AMT_RemoteAccessCapabilities",
        requires: REMOTE_ACCESS,
        keys: &["InstanceID"],
        instances: capabilities,
        ..CLASS
    },
    Class {
        name: "AMT_RemoteAccessCredentialContext",
        requires: REMOTE_ACCESS,
        keys: &["ElementInContext", "ElementProvidingContext"],
        instances: credential_contexts,
        ..CLASS
    },
    Class {
        name: USER_SERVICE,
        requires: REMOTE_ACCESS,
        keys: SERVICE_KEYS,
        instances: user_initiated_service,
        methods: &[method("RequestStateChange", user_initiated_state_change)],
        ..CLASS
    },
    Class {
        name: "AMT_EnvironmentDetectionSettingData",
        requires: REMOTE_ACCESS,
        keys: &["InstanceID"],
        instances: environment_detection,
        put: Some(put_environment_detection),
        ..CLASS
    },
];

/// The PT_STATUS an AMT method answers a refusal with (spec §6's list).
fn status(refusal: RemoteAccessRefusal) -> PtStatus {
    match refusal {
        RemoteAccessRefusal::Unsupported => PtStatus::NotPermitted,
        RemoteAccessRefusal::Invalid | RemoteAccessRefusal::NotFound => PtStatus::InvalidParameter,
        RemoteAccessRefusal::Duplicate => PtStatus::Duplicate,
        RemoteAccessRefusal::Full => PtStatus::MaxLimitReached,
    }
}

/// A Put or Delete the device refuses: found nothing to act on, or did not
/// like the values.
fn fault(refusal: RemoteAccessRefusal) -> Fault {
    match refusal {
        RemoteAccessRefusal::NotFound => Fault::InvalidSelectors,
        _ => Fault::InvalidRepresentation,
    }
}

fn remote_access_service(_: &Device) -> Vec<Instance> {
    vec![
        service(SERVICE, SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

fn server_epr(server: &MpServer) -> Epr {
    service_epr(SAP, &server.name())
}

fn rule_epr(trigger: Trigger) -> Epr {
    Epr::new(names::class_uri(RULE))
        .with("CreationClassName", RULE)
        .with("PolicyRuleName", trigger.rule_name())
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

fn servers(device: &Device) -> Vec<Instance> {
    device
        .remote_access()
        .servers
        .iter()
        .map(|s| {
            service(SAP, &s.name())
                .with("AccessInfo", s.address.as_str())
                .with("CN", s.common_name.as_str())
                .with("ElementName", s.name())
                .with("InfoFormat", s.format.number())
                .with("Port", s.port)
        })
        .collect()
}

fn rules(device: &Device) -> Vec<Instance> {
    device
        .remote_access()
        .rules
        .iter()
        .map(|r: &PolicyRule| {
            let mut i = Instance::new(RULE)
                .with("CreationClassName", RULE)
                .with("ElementName", r.trigger.rule_name())
                .with("PolicyRuleName", r.trigger.rule_name())
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "Intel(r) AMT")
                .with("Trigger", r.trigger.number())
                .with("TunnelLifeTime", r.tunnel_lifetime);
            if !r.extended_data.is_empty() {
                i.set("ExtendedData", BASE64.encode(&r.extended_data));
            }
            i
        })
        .collect()
}

fn applies_to(device: &Device) -> Vec<Instance> {
    let ra = device.remote_access();
    let mut out = Vec::new();
    for rule in &ra.rules {
        for (order, (id, mps_type)) in rule.servers.iter().enumerate() {
            let Some(server) = ra.server(*id) else {
                continue;
            };
            out.push(
                Instance::new("AMT_RemoteAccessPolicyAppliesToMPS")
                    .with("ManagedElement", server_epr(server))
                    .with("MpsType", mps_type.number())
                    .with("OrderOfAccess", order)
                    .with("PolicySet", rule_epr(rule.trigger)),
            );
        }
    }
    out
}

/// Put: MpsType of one rule's server (11.6+ firmware lets consoles mark
/// an MPS internal or both).
fn put_applies_to(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let reference = |name| current.get(name).and_then(Value::as_ref);
    let server = reference("ManagedElement").and_then(|e| e.selector_text("Name"));
    let trigger = reference("PolicySet")
        .and_then(|e| e.selector_text("PolicyRuleName"))
        .and_then(Trigger::by_rule_name);
    let (Some(server), Some(trigger)) = (server, trigger) else {
        return Err(Fault::InvalidSelectors);
    };
    let Some(value) = input.get("MpsType") else {
        return Ok(());
    };
    let mps_type = value
        .as_int()
        .and_then(MpsType::from_number)
        .ok_or(Fault::InvalidRepresentation)?;
    device
        .set_mps_type(trigger, server, mps_type)
        .map_err(fault)
}

fn credentials(device: &Device) -> Vec<Instance> {
    device
        .remote_access()
        .servers
        .iter()
        .filter_map(|s| match &s.auth {
            // The password is write-only, as every AMT secret.
            MpsAuth::Password { username, .. } => Some(
                Instance::new("AMT_MPSUsernamePassword")
                    .with("ElementName", "Intel(r) AMT:MPS Username Password")
                    .with("InstanceID", format!("{CREDENTIALS_PREFIX}{}", s.id))
                    .with("RemoteID", username.as_str()),
            ),
            MpsAuth::MutualTls { .. } => None,
        })
        .collect()
}

fn put_credentials(device: &Device, current: &Instance, input: &Instance) -> Result<(), Fault> {
    let id = current
        .text("InstanceID")
        .and_then(|i| i.strip_prefix(CREDENTIALS_PREFIX))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or(Fault::InvalidSelectors)?;
    let server = device
        .remote_access()
        .server(id)
        .map(MpServer::name)
        .ok_or(Fault::InvalidSelectors)?;
    let text = |name| match input.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_text()
            .map(|t| Some(t.to_string()))
            .ok_or(Fault::InvalidRepresentation),
    };
    device
        .set_mps_credentials(&server, text("RemoteID")?, text("Secret")?)
        .map_err(fault)
}

fn capabilities(_: &Device) -> Vec<Instance> {
    use amtemu_model::device::remote_access::{MAX_MP_SERVERS, MAX_SERVERS_PER_RULE, Trigger};
    let name = "Intel(r) AMT Remote Access Capabilities";
    vec![
        Instance::new("AMT_RemoteAccessCapabilities")
            .with("ElementName", name)
            .with("InstanceID", name)
            .with("MaxMpsPerPolicy", MAX_SERVERS_PER_RULE as u32)
            .with("MaxTotalMpServers", MAX_MP_SERVERS as u32)
            // One rule per trigger.
            .with("MaxTotalPolicies", Trigger::ALL.len() as u32),
    ]
}

pub(crate) fn credential_contexts(device: &Device) -> Vec<Instance> {
    device
        .remote_access()
        .servers
        .iter()
        .filter_map(|s| match s.auth {
            MpsAuth::MutualTls { certificate } => Some(
                Instance::new("AMT_RemoteAccessCredentialContext")
                    .with("ElementInContext", certificate_epr(certificate))
                    .with("ElementProvidingContext", server_epr(s)),
            ),
            MpsAuth::Password { .. } => None,
        })
        .collect()
}

fn user_initiated_service(device: &Device) -> Vec<Instance> {
    vec![
        service(USER_SERVICE, USER_SERVICE_NAME)
            .with("ElementName", USER_SERVICE_NAME)
            .with(
                "EnabledState",
                device.remote_access().user_initiated.number(),
            )
            .with("RequestedState", 12),
    ]
}

fn environment_detection(device: &Device) -> Vec<Instance> {
    let strings = device.remote_access().detection_strings;
    let mut i = Instance::new("AMT_EnvironmentDetectionSettingData")
        .with("DetectionAlgorithm", 0)
        .with("ElementName", ENVIRONMENT_ID)
        .with("InstanceID", ENVIRONMENT_ID);
    if !strings.is_empty() {
        i = i.with_array("DetectionStrings", strings);
    }
    vec![i]
}

/// Put replaces the list: MeshCentral clears it by sending the instance
/// without DetectionStrings, so an absent property is an empty list.
fn put_environment_detection(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let strings = match input.get("DetectionStrings") {
        None => Vec::new(),
        Some(v) => v
            .items()
            .iter()
            .map(|s| s.as_text().map(|t| t.trim().to_string()))
            .filter(|s| s.as_deref() != Some(""))
            .collect::<Option<Vec<_>>>()
            .ok_or(Fault::InvalidRepresentation)?,
    };
    device.set_detection_strings(strings).map_err(fault)
}

/// CIM's RequestStateChange codes (this is not an AMT method).
fn user_initiated_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "RequestStateChange";
    const INVALID_PARAMETER: u32 = 5;
    let Some(state) = input
        .int("RequestedState")
        .and_then(UserInitiated::from_number)
    else {
        return Ok(output(METHOD, INVALID_PARAMETER));
    };
    match device.set_user_initiated(state) {
        Ok(()) => Ok(output(METHOD, 0)),
        Err(_) => Ok(output(METHOD, INVALID_PARAMETER)),
    }
}

/// A text argument; consoles send absent values as empty elements.
fn argument<'a>(input: &'a Instance, name: &str) -> Option<&'a str> {
    input
        .get(name)
        .and_then(Value::as_text)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// AddMpServer(AccessInfo, InfoFormat, Port, AuthMethod, Certificate,
/// Username, Password, CN) → MpServer.
fn add_mp_server(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddMpServer";
    let invalid = || Ok(output(METHOD, PtStatus::InvalidParameter.into()));
    let number = |name| input.int(name);
    let (Some(address), Some(format), Some(port)) = (
        argument(input, "AccessInfo"),
        number("InfoFormat").and_then(MpsAddressFormat::from_number),
        number("Port").and_then(|p| u16::try_from(p).ok()),
    ) else {
        return invalid();
    };
    let auth = match number("AuthMethod") {
        Some(1) => match certificate_handle(input.get("Certificate")) {
            Some(certificate) => MpsAuth::MutualTls { certificate },
            None => return invalid(),
        },
        Some(2) => match (argument(input, "Username"), argument(input, "Password")) {
            (Some(u), Some(p)) => MpsAuth::Password {
                username: u.into(),
                password: p.into(),
            },
            _ => return invalid(),
        },
        _ => return invalid(),
    };
    let new = NewMpServer {
        address: address.into(),
        format,
        port,
        auth,
        common_name: argument(input, "CN").unwrap_or_default().into(),
    };
    match device.add_mp_server(new) {
        Ok(name) => {
            tracing::info!(device = %device.name, address, port, "MPS added");
            Ok(output(METHOD, PtStatus::Success.into()).with("MpServer", service_epr(SAP, &name)))
        }
        Err(r) => {
            tracing::info!(device = %device.name, address, port, refusal = %r, "MPS refused");
            Ok(output(METHOD, status(r).into()))
        }
    }
}

/// AddRemoteAccessPolicyRule(Trigger, TunnelLifeTime, ExtendedData,
/// MpServer[], InternalMpServer[]) → PolicyRule. Internal servers (11.6+
/// CILA) are accepted and kept as such.
fn add_policy_rule(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "AddRemoteAccessPolicyRule";
    let invalid = || Ok(output(METHOD, PtStatus::InvalidParameter.into()));
    let Some(trigger) = input.int("Trigger").and_then(Trigger::from_number) else {
        return invalid();
    };
    let Some(lifetime) = input
        .int("TunnelLifeTime")
        .and_then(|t| u32::try_from(t).ok())
    else {
        return invalid();
    };
    let extended = match argument(input, "ExtendedData").map(|t| BASE64.decode(t)) {
        None => Vec::new(),
        Some(Ok(bytes)) => bytes,
        Some(Err(_)) => return invalid(),
    };
    let names = |arg: &str| -> Option<Vec<String>> {
        let Some(v) = input.get(arg) else {
            return Some(Vec::new());
        };
        v.items()
            .iter()
            .filter(|i| !matches!(i, Value::Text(t) if t.trim().is_empty()))
            .map(|i| Some(i.as_ref()?.selector_text("Name")?.to_string()))
            .collect()
    };
    let (Some(external), Some(internal)) = (names("MpServer"), names("InternalMpServer")) else {
        return invalid();
    };
    let all: Vec<String> = external.iter().chain(&internal).cloned().collect();
    let added = device.add_policy_rule(trigger, lifetime, extended, &all);
    let added = added.and_then(|name| {
        for server in &internal {
            device.set_mps_type(trigger, server, MpsType::Internal)?;
        }
        Ok(name)
    });
    match added {
        Ok(_) => {
            tracing::info!(device = %device.name, trigger = trigger.rule_name(), "CIRA policy added");
            Ok(output(METHOD, PtStatus::Success.into()).with("PolicyRule", rule_epr(trigger)))
        }
        Err(r) => Ok(output(METHOD, status(r).into())),
    }
}

fn delete_server(device: &Device, instance: &Instance) -> Result<(), Fault> {
    let name = instance.text("Name").ok_or(Fault::InvalidSelectors)?;
    device.delete_mp_server(name).map_err(fault)
}

fn delete_rule(device: &Device, instance: &Instance) -> Result<(), Fault> {
    let trigger = instance
        .text("PolicyRuleName")
        .and_then(Trigger::by_rule_name)
        .ok_or(Fault::InvalidSelectors)?;
    device.delete_policy_rule(trigger).map_err(fault)
}

#[cfg(test)]
mod tests;
