//! The AMT, CIM and IPS classes: one module per feature area. Each class maps
//! device state to instances and implements what clients can do with it.
//! Classes know nothing of sockets or XML text; they see [`Instance`]s.

mod accounts;
mod agent_presence;
mod alarm_clock;
mod asset_tables;
mod audit;
mod authorization;
mod boot;
mod credential_context;
mod element_capabilities;
mod endpoint_access;
mod ethernet;
pub(crate) mod events;
mod heuristics;
mod hosted_service;
mod http_proxy;
mod identity;
mod ieee8021x;
mod inventory;
mod message_log;
mod network;
mod pci;
mod pki;
mod power;
mod power_policy;
mod profiles;
mod provisioning_hashes;
mod provisioning_records;
mod redirection;
mod remote_access;
mod screen_configuration;
mod screen_settings;
mod setup;
mod snmp_subscribers;
mod storage;
mod system_defense;
mod time;
mod web_ui;

use std::sync::LazyLock;

use amtemu_model::device::users::{Caller, realm};
use amtemu_model::device::{Device, Feature, Firmware};
use amtemu_model::values::{Checked, Rule, ValueRefusal};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, PropertySink};

/// Builds a class's instances from the device.
pub type InstancesFn = fn(&Device) -> Vec<Instance>;
/// Gives a single-instance class's properties to a sink, in name order.
pub type WriteSingleFn = fn(&Device, &mut dyn PropertySink);
/// Applies a Put: the instance as it is, and as the client sent it.
pub type PutFn = fn(&Device, &Instance, &Instance) -> Result<(), Fault>;
/// Creates an instance; returns the new instance's reference.
pub type CreateFn = fn(&Device, &Instance) -> Result<Epr, Fault>;
/// Deletes the instance given.
pub type DeleteFn = fn(&Device, &Instance) -> Result<(), Fault>;
/// Runs a method on the target instance with the `_INPUT` arguments and
/// returns the `_OUTPUT` instance.
pub type MethodFn = fn(&Device, &Instance, &Instance) -> Result<Instance, Fault>;

/// A class as the firmware knows it.
pub struct Class {
    pub name: &'static str,
    /// The firmware feature the class comes with; `None` means every
    /// WS-Man firmware (3.0 and later) has it.
    pub requires: Option<Feature>,
    /// Whether responses declare the CIM common namespace (AMT does so for
    /// classes whose schema has datetime or interval properties).
    pub common: bool,
    /// Key properties, which selectors may name.
    pub keys: &'static [&'static str],
    pub instances: InstancesFn,
    /// For a class with one instance of its own class: that instance's
    /// properties given straight from device state, which a Get without
    /// selectors writes into the response without building the instance
    /// (the hot path of the consoles' most frequent request). It must give
    /// what `instances` builds; a test per class holds the two together.
    pub write_single: Option<WriteSingleFn>,
    pub put: Option<PutFn>,
    pub create: Option<CreateFn>,
    pub delete: Option<DeleteFn>,
    pub methods: &'static [Method],
    /// Subclasses whose instances an enumeration of this class returns too,
    /// named as themselves (CIM polymorphism).
    pub subclasses: &'static [&'static str],
    /// Who may Get, Enumerate, Pull and Release.
    pub read: Access,
    /// Who may Put, Create and Delete.
    pub write: Access,
    /// Who may invoke a method that `method_access` does not name.
    pub invoke: Access,
    /// Methods whose realms differ from `invoke`. (Kept on the class rather
    /// than on [`Method`] so method definitions keep their three fields.)
    pub method_access: &'static [(&'static str, Access)],
}

pub struct Method {
    pub name: &'static str,
    pub requires: Option<Feature>,
    pub call: MethodFn,
}

/// The defaults a class definition starts from.
pub const CLASS: Class = Class {
    name: "",
    requires: None,
    common: false,
    keys: &[],
    instances: no_instances,
    write_single: None,
    put: None,
    create: None,
    delete: None,
    methods: &[],
    subclasses: &[],
    read: Access::ADMIN,
    write: Access::ADMIN,
    invoke: Access::ADMIN,
    method_access: &[],
};

/// The realms that may use part of a class: a caller holding any one of
/// them may. The built-in administrator holds every realm, and so does an
/// entry granted PT Administration; a class that names no realm is theirs
/// alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(pub &'static [u8]);

impl Access {
    /// Security and network administration (PT Administration realm).
    pub const ADMIN: Access = Access(&[realm::PT_ADMINISTRATION]);
    pub const REDIRECTION: Access = Access(&[realm::REDIRECTION]);
    pub const HARDWARE_ASSET: Access = Access(&[realm::HARDWARE_ASSET]);
    pub const REMOTE_CONTROL: Access = Access(&[realm::REMOTE_CONTROL]);
    pub const EVENT_MANAGER: Access = Access(&[realm::EVENT_MANAGER]);
    pub const NETWORK_TIME: Access = Access(&[realm::NETWORK_TIME]);
    pub const GENERAL_INFO: Access = Access(&[realm::GENERAL_INFO]);

    pub fn allows(&self, caller: &Caller) -> bool {
        self.0.iter().any(|r| caller.has_realm(*r))
    }
}

/// What a request does with a class, for the access check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    /// Get, Enumerate, Pull, Release.
    Read,
    /// Put, Create, Delete.
    Write,
    /// A method, by name.
    Invoke(&'a str),
}

fn no_instances(_: &Device) -> Vec<Instance> {
    Vec::new()
}

impl Class {
    pub fn uri(&self) -> String {
        names::class_uri(self.name)
    }

    pub fn method(&self, name: &str, firmware: &Firmware) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| m.name == name && m.requires.is_none_or(|f| firmware.has(f)))
    }

    /// The realms an operation on this class needs.
    pub fn access(&self, op: Operation) -> Access {
        match op {
            Operation::Read => self.read,
            Operation::Write => self.write,
            Operation::Invoke(name) => self
                .method_access
                .iter()
                .find(|(m, _)| *m == name)
                .map_or(self.invoke, |(_, a)| *a),
        }
    }

    /// AccessDenied unless the caller holds a realm the operation needs.
    pub fn authorize(&self, caller: &Caller, op: Operation) -> Result<(), Fault> {
        if self.access(op).allows(caller) {
            Ok(())
        } else {
            Err(Fault::AccessDenied)
        }
    }

    /// The reference to one of this class's instances: its keys as selectors.
    pub fn epr_of(&self, instance: &Instance) -> Epr {
        let mut epr = Epr::new(names::class_uri(&instance.class));
        for key in self.keys {
            match instance.get(key) {
                Some(amtemu_wire::wsman::value::Value::Ref(r)) => {
                    epr = epr.with_ref(key, r.clone());
                }
                Some(v) => {
                    if let Some(t) = v.to_text() {
                        epr = epr.with(key, t);
                    }
                }
                None => {}
            }
        }
        epr
    }
}

/// Every class, sorted by the length of its name and then the name:
/// found by binary search, where most steps compare lengths alone. For a
/// few hundred names that costs less than hashing the name with std's
/// SipHash (this runs for every request).
static REGISTRY: LazyLock<Vec<(&'static str, &'static Class)>> = LazyLock::new(|| {
    let modules: &[&'static [Class]] = &[
        accounts::CLASSES,
        agent_presence::CLASSES,
        alarm_clock::CLASSES,
        asset_tables::CLASSES,
        audit::CLASSES,
        authorization::CLASSES,
        boot::CLASSES,
        credential_context::CLASSES,
        element_capabilities::CLASSES,
        endpoint_access::CLASSES,
        ethernet::CLASSES,
        events::CLASSES,
        heuristics::CLASSES,
        hosted_service::CLASSES,
        http_proxy::CLASSES,
        identity::CLASSES,
        ieee8021x::CLASSES,
        ieee8021x::IPS_CLASSES,
        inventory::CLASSES,
        message_log::CLASSES,
        network::CLASSES,
        pci::CLASSES,
        pki::CLASSES,
        power::CLASSES,
        power_policy::CLASSES,
        profiles::CLASSES,
        provisioning_hashes::CLASSES,
        provisioning_records::CLASSES,
        redirection::CLASSES,
        screen_configuration::CLASSES,
        screen_settings::CLASSES,
        remote_access::CLASSES,
        setup::CLASSES,
        snmp_subscribers::CLASSES,
        storage::CLASSES,
        system_defense::CLASSES,
        time::CLASSES,
        web_ui::CLASSES,
    ];
    let mut sorted: Vec<_> = modules
        .iter()
        .flat_map(|m| m.iter())
        .map(|class| (class.name, class))
        .collect();
    sorted.sort_unstable_by(|(a, _), (b, _)| by_length_then_name(a, b));
    for pair in sorted.windows(2) {
        assert!(pair[0].0 != pair[1].0, "class {} defined twice", pair[0].0);
    }
    sorted
});

/// The class a firmware knows by this name, if it has it.
pub fn lookup(name: &str, firmware: &Firmware) -> Option<&'static Class> {
    lookup_any(name).filter(|c| c.requires.is_none_or(|f| firmware.has(f)))
}

/// A class by name regardless of firmware (to describe enumerated
/// subclass instances).
pub fn lookup_any(name: &str) -> Option<&'static Class> {
    REGISTRY
        .binary_search_by(|(n, _)| by_length_then_name(n, name))
        .ok()
        .map(|at| REGISTRY[at].1)
}

fn by_length_then_name(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Every class name in the registry (for listings and tests), sorted.
pub fn all_names() -> Vec<&'static str> {
    let mut names: Vec<_> = REGISTRY.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names
}

// ---- helpers shared by the class modules ----------------------------------

/// The four keys of a CIM service hosted by the management engine.
pub(crate) fn service(class: &str, name: &str) -> Instance {
    Instance::new(class)
        .with("CreationClassName", class)
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "CreationClassName",
    "Name",
    "SystemCreationClassName",
    "SystemName",
];

/// A reference to a CIM service hosted by the management engine.
pub(crate) fn service_epr(class: &str, name: &str) -> Epr {
    Epr::new(names::class_uri(class))
        .with("CreationClassName", class)
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "Intel(r) AMT")
}

/// The host computer system, as power and boot methods refer to it.
pub(crate) fn managed_system_epr() -> Epr {
    Epr::new(names::class_uri("CIM_ComputerSystem"))
        .with("CreationClassName", "CIM_ComputerSystem")
        .with("Name", "ManagedSystem")
}

/// A method offered wherever its class is, needing no feature of its own
/// (the common case in the larger method tables).
pub(crate) const fn method(name: &'static str, call: MethodFn) -> Method {
    Method {
        name,
        requires: None,
        call,
    }
}

/// A method's output with its ReturnValue: a [`PtStatus`] (`.into()`) for
/// AMT's own methods, the class's documented codes for CIM and IPS methods.
///
/// [`PtStatus`]: amtemu_wire::status::PtStatus
pub(crate) fn output(method: &str, return_value: u32) -> Instance {
    Instance::new(format!("{method}_OUTPUT")).with("ReturnValue", return_value)
}

/// Reads an optional boolean property of a Put; a present but malformed value
/// is an invalid representation.
pub(crate) fn put_bool(input: &Instance, name: &str, slot: &mut bool) -> Result<(), Fault> {
    if let Some(v) = input.get(name) {
        *slot = v.as_bool().ok_or(Fault::InvalidRepresentation)?;
    }
    Ok(())
}

/// Reads an optional unsigned property of a Put into a slot of any width.
pub(crate) fn put_uint<T: TryFrom<i64>>(
    input: &Instance,
    name: &str,
    slot: &mut T,
) -> Result<(), Fault> {
    if let Some(v) = input.get(name) {
        let i = v.as_int().ok_or(Fault::InvalidRepresentation)?;
        *slot = T::try_from(i).map_err(|_| Fault::InvalidRepresentation)?;
    }
    Ok(())
}

/// Reads an optional string property of a Put into a value that keeps its
/// rule ([`amtemu_model::values`]). A value the rule refuses gets what
/// firmware answers for a bad parameter of an intrinsic operation: an
/// InternalError fault with AMT-STATUS 36.
pub(crate) fn put_checked<R: Rule>(
    input: &Instance,
    name: &str,
    slot: &mut Checked<R>,
) -> Result<(), Fault> {
    if let Some(v) = input.get(name) {
        let text = v.as_text().ok_or(Fault::InvalidRepresentation)?;
        *slot = Checked::new(text).map_err(|refusal| refused(name, refusal))?;
    }
    Ok(())
}

/// The fault for a value a rule refused, logged with why (the fault
/// itself says only AMT-STATUS 36).
pub(crate) fn refused(property: &str, refusal: ValueRefusal) -> Fault {
    tracing::info!(property, %refusal, "a written value was refused");
    Fault::InternalError(PtStatus::InvalidParameter.into())
}

/// An optional property of a Create, Put or method body read with `read`:
/// absent is `None`; present but not of its type (or out of range) is an
/// invalid representation, as firmware answers a malformed write.
pub(crate) fn optional<T>(
    input: &Instance,
    name: &str,
    read: impl FnOnce(&amtemu_wire::wsman::value::Value) -> Option<T>,
) -> Result<Option<T>, Fault> {
    match input.get(name) {
        None => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| {
            tracing::info!(property = name, "a written value is malformed");
            Fault::InvalidRepresentation
        }),
    }
}

pub(crate) fn put_text(input: &Instance, name: &str, slot: &mut String) -> Result<(), Fault> {
    if let Some(v) = input.get(name) {
        *slot = v.as_text().ok_or(Fault::InvalidRepresentation)?.to_string();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_builds_its_instances_on_every_firmware() {
        for fw in Firmware::all() {
            let device = amtemu_model::testing::device(fw.name);
            for name in all_names() {
                let Some(class) = lookup(name, fw) else {
                    continue;
                };
                for instance in (class.instances)(&device) {
                    assert!(
                        instance.class == class.name
                            || class.subclasses.contains(&instance.class.as_str()),
                        "{} yields {}",
                        class.name,
                        instance.class
                    );
                    for key in class.keys {
                        assert!(instance.get(key).is_some(), "{name} lacks key {key}");
                    }
                }
            }
        }
    }

    #[test]
    fn method_realms_name_real_methods() {
        for name in all_names() {
            let class = lookup_any(name).unwrap();
            for (method, _) in class.method_access {
                assert!(
                    class.methods.iter().any(|m| m.name == *method),
                    "{name} gives realms to unknown method {method}"
                );
            }
        }
    }

    #[test]
    fn realms_decide_who_may_do_what() {
        let power = lookup_any("CIM_PowerManagementService").unwrap();
        let chassis = lookup_any("CIM_Chassis").unwrap();
        let hardware = Caller::User {
            name: "hw".into(),
            realms: vec![realm::HARDWARE_ASSET],
        };
        let pt_admin = Caller::User {
            name: "pt".into(),
            realms: vec![realm::PT_ADMINISTRATION],
        };
        assert!(chassis.authorize(&hardware, Operation::Read).is_ok());
        assert_eq!(
            power.authorize(&hardware, Operation::Invoke("RequestPowerStateChange")),
            Err(Fault::AccessDenied)
        );
        for caller in [&Caller::Admin, &pt_admin] {
            assert!(
                power
                    .authorize(caller, Operation::Invoke("RequestPowerStateChange"))
                    .is_ok()
            );
        }
        assert_eq!(
            chassis.authorize(&Caller::Anonymous, Operation::Read),
            Err(Fault::AccessDenied)
        );
        // Nothing is open to a caller without realms, and everything to the
        // administrator.
        for name in all_names() {
            let class = lookup_any(name).unwrap();
            for op in [Operation::Read, Operation::Write] {
                assert!(class.authorize(&Caller::Admin, op).is_ok());
                assert!(class.authorize(&Caller::Anonymous, op).is_err());
            }
        }
    }

    #[test]
    fn classes_follow_the_firmware() {
        let old = Firmware::by_name("3.2.1").unwrap();
        let new = Firmware::by_name("11.8").unwrap();
        assert!(lookup("AMT_GeneralSettings", old).is_some());
        assert!(lookup("CIM_KVMRedirectionSAP", old).is_none());
        assert!(lookup("CIM_KVMRedirectionSAP", new).is_some());
        assert!(
            lookup(
                "IPS_PowerManagementService",
                Firmware::by_name("9.5").unwrap()
            )
            .is_none()
        );
        assert!(lookup("AMT_NoSuchClass", new).is_none());
    }
}
