//! CIM_ElementCapabilities: which element each capabilities instance
//! describes. Built from the class registry, so a capabilities class added
//! to any module appears here with no edit: every class this firmware
//! answers whose name ends in `Capabilities` is paired with its element.
//!
//! Pairings are inferred (no capture of this association was available):
//! a capabilities class `P_FooCapabilities` describes the service
//! `*_FooService` where one is answered (CIM_PowerManagementService,
//! AMT_PublicKeyManagementService, AMT_RemoteAccessService,
//! CIM_AccountManagementService, AMT_AgentPresenceService, CIM_BootService
//! for AMT_BootCapabilities), else the element `*_Foo` itself (CIM_WiFiPort
//! for CIM_WiFiPortCapabilities), else the management engine's own
//! computer system ("Intel(r) AMT"), whose features the rest describe
//! (AMT_CryptographicCapabilities, AMT_GeneralSystemDefenseCapabilities). Intel's Remote Access CIM
//! elements place the association from 4.0 on; 3.2 is not known to have
//! it and keeps its fault.

use super::{CLASS, Class, all_names, lookup};
use amtemu_model::device::{Device, Feature, Firmware};
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const NAME: &str = "CIM_ElementCapabilities";
const SUFFIX: &str = "Capabilities";
/// Where a stem is looked for, first the capabilities class's own prefix.
const PREFIXES: &[&str] = &["AMT", "CIM", "IPS"];

pub static CLASSES: &[Class] = &[Class {
    name: NAME,
    requires: Some(Feature::RemoteAccess),
    keys: &["Capabilities", "ManagedElement"],
    instances,
    ..CLASS
}];

fn instances(device: &Device) -> Vec<Instance> {
    let firmware = device.firmware;
    let mut pairs = Vec::new();
    for name in all_names() {
        // The association's own name ends in the suffix too.
        if name == NAME || !name.ends_with(SUFFIX) {
            continue;
        }
        let Some(class) = lookup(name, firmware) else {
            continue;
        };
        let elements = elements_for(name, device);
        for capabilities in (class.instances)(device) {
            if capabilities.class != class.name {
                continue;
            }
            let capabilities = class.epr_of(&capabilities);
            for element in &elements {
                pairs.push(
                    Instance::new(NAME)
                        .with("Capabilities", capabilities.clone())
                        .with("ManagedElement", element.clone()),
                );
            }
        }
    }
    pairs
}

/// The references of the elements a capabilities class describes.
fn elements_for(capabilities: &str, device: &Device) -> Vec<Epr> {
    let (prefix, rest) = capabilities.split_once('_').unwrap_or(("", capabilities));
    let stem = rest.strip_suffix(SUFFIX).unwrap_or(rest);
    let prefixes = std::iter::once(prefix).chain(PREFIXES.iter().copied().filter(|p| *p != prefix));
    let candidates: Vec<String> = prefixes
        .clone()
        .map(|p| format!("{p}_{stem}Service"))
        .chain(prefixes.map(|p| format!("{p}_{stem}")))
        .collect();
    for candidate in &candidates {
        if let Some(found) = answered(candidate, device.firmware, device) {
            return found;
        }
    }
    vec![engine_system()]
}

/// The references to a class's own instances, if this firmware answers the
/// class and it has any.
fn answered(name: &str, firmware: &Firmware, device: &Device) -> Option<Vec<Epr>> {
    let class = lookup(name, firmware)?;
    let eprs: Vec<Epr> = (class.instances)(device)
        .iter()
        .filter(|i| i.class == class.name)
        .map(|i| class.epr_of(i))
        .collect();
    (!eprs.is_empty()).then_some(eprs)
}

/// The management engine's computer system, as CIM_ComputerSystem lists it.
fn engine_system() -> Epr {
    Epr::new(names::class_uri("CIM_ComputerSystem"))
        .with("CreationClassName", "CIM_ComputerSystem")
        .with("Name", "Intel(r) AMT")
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn pairs(profile: &str) -> Vec<(String, String)> {
        let d = device(profile);
        instances(&d)
            .iter()
            .map(|i| {
                let class_of = |p: &str| {
                    let epr = i.get(p).and_then(|v| v.as_ref()).expect("a reference");
                    epr.resource_uri
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                };
                (class_of("Capabilities"), class_of("ManagedElement"))
            })
            .collect()
    }

    #[test]
    fn every_answered_capabilities_class_is_paired() {
        let d = device("11.8");
        let found = pairs("11.8");
        for name in all_names() {
            if name == NAME || !name.ends_with(SUFFIX) {
                continue;
            }
            let Some(class) = lookup(name, d.firmware) else {
                continue;
            };
            if (class.instances)(&d).iter().any(|i| i.class == name) {
                assert!(found.iter().any(|(c, _)| c == name), "{name} unpaired");
            }
        }
        for (capabilities, element) in [
            (
                "CIM_PowerManagementCapabilities",
                "CIM_PowerManagementService",
            ),
            ("AMT_BootCapabilities", "CIM_BootService"),
            (
                "CIM_AccountManagementCapabilities",
                "CIM_AccountManagementService",
            ),
            ("AMT_CryptographicCapabilities", "CIM_ComputerSystem"),
        ] {
            assert!(
                found.contains(&(capabilities.into(), element.into())),
                "{capabilities} -> {element}: {found:?}"
            );
        }
    }

    #[test]
    fn only_classes_the_firmware_answers_are_paired() {
        // The association itself is from 4.0 on.
        assert!(lookup(NAME, device("3.2.1").firmware).is_none());
        for profile in ["4.0", "11.8", "15.0", "18.0"] {
            let fw = device(profile).firmware;
            for (capabilities, element) in pairs(profile) {
                assert!(
                    lookup(&capabilities, fw).is_some(),
                    "{profile}: {capabilities}"
                );
                assert!(lookup(&element, fw).is_some(), "{profile}: {element}");
            }
        }
    }
}
