//! CIM_RegisteredProfile and CIM_ElementConformsToProfile: the DMTF (DASH)
//! management profiles the firmware advertises, and the one conformance
//! association that ties the central profile to the host computer system.
//!
//! Facts: Intel's reference ("Discovering CIM_ComputerSystem") finds the
//! host by the profile RegisteredName "Base Desktop and Mobile",
//! RegisteredOrganization 2 (DMTF), RegisteredVersion 1.0.0 from 3.2 to
//! 6.0, then CIM_ElementConformsToProfile to CIM_ComputerSystem; a capture
//! of a real device (dashcli output) shows that association as the only
//! instance, naming the profile "Intel(r) ME:Base Desktop and Mobile" and
//! the system "ManagedSystem". Which other profiles each version lists,
//! and their versions after 6.0, are not in any source we have: the list
//! below names the DASH profiles whose classes amtemu answers on that
//! firmware, each at 1.0.0 (observed, inferred from the classes present).

use super::{Access, CLASS, Class, managed_system_epr};
use amtemu_model::device::{Device, Feature, Firmware};
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const PROFILE: &str = "CIM_RegisteredProfile";
const ID_PREFIX: &str = "Intel(r) ME:";
const CENTRAL: &str = "Base Desktop and Mobile";
/// RegisteredOrganization 2: DMTF.
const DMTF: i64 = 2;
const VERSION: &str = "1.0.0";
/// AdvertiseTypes 3: SLP (the DASH value for advertised profiles).
const ADVERTISED_SLP: i64 = 3;

pub static CLASSES: &[Class] = &[
    Class {
        name: PROFILE,
        keys: &["InstanceID"],
        instances: profiles,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
    Class {
        name: "CIM_ElementConformsToProfile",
        keys: &["ConformantStandard", "ManagedElement"],
        instances: conformance,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
];

/// The profiles a firmware lists: the central one and the profiles whose
/// classes it answers.
fn registered(fw: &Firmware) -> Vec<&'static str> {
    let mut names = vec![
        CENTRAL,
        "Profile Registration",
        "Boot Control",
        "Power State Management",
        "Physical Asset",
        "Software Inventory",
        "CPU",
        "System Memory",
        "Fan",
        "Sensors",
    ];
    if fw.has(Feature::DashAccounts) {
        names.extend(["Simple Identity Management", "Role Based Authorization"]);
    }
    if fw.has(Feature::WsEventing) {
        names.push("Indications");
    }
    if fw.has(Feature::AuditLog) {
        names.push("Record Log");
    }
    if fw.has(Feature::Kvm) {
        names.push("KVM Redirection");
    }
    names
}

fn profile_epr(name: &str) -> Epr {
    Epr::new(names::class_uri(PROFILE)).with("InstanceID", format!("{ID_PREFIX}{name}"))
}

fn profiles(device: &Device) -> Vec<Instance> {
    registered(device.firmware)
        .into_iter()
        .map(|name| {
            Instance::new(PROFILE)
                .with("AdvertiseTypes", ADVERTISED_SLP)
                .with("ElementName", name)
                .with("InstanceID", format!("{ID_PREFIX}{name}"))
                .with("RegisteredName", name)
                .with("RegisteredOrganization", DMTF)
                .with("RegisteredVersion", VERSION)
        })
        .collect()
}

fn conformance(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_ElementConformsToProfile")
            .with("ConformantStandard", profile_epr(CENTRAL))
            .with("ManagedElement", managed_system_epr()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn the_central_profile_leads_to_the_host_system() {
        let d = device("11.8");
        let listed = profiles(&d);
        let central = listed
            .iter()
            .find(|p| p.text("RegisteredName") == Some(CENTRAL))
            .unwrap();
        assert_eq!(central.int("RegisteredOrganization"), Some(2));
        let link = &conformance(&d)[0];
        let standard = link.get("ConformantStandard").unwrap().as_ref().unwrap();
        assert_eq!(
            standard.selector_text("InstanceID"),
            central.text("InstanceID")
        );
        let element = link.get("ManagedElement").unwrap().as_ref().unwrap();
        assert_eq!(element.selector_text("Name"), Some("ManagedSystem"));
    }

    #[test]
    fn profiles_follow_the_firmware() {
        let names = |fw: &str| {
            profiles(&device(fw))
                .iter()
                .map(|p| p.text("RegisteredName").unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert!(!names("3.2.1").iter().any(|n| n == "KVM Redirection"));
        assert!(names("11.8").iter().any(|n| n == "KVM Redirection"));
        assert!(
            names("11.8")
                .iter()
                .any(|n| n == "Role Based Authorization")
        );
        assert!(
            !names("15.0")
                .iter()
                .any(|n| n == "Role Based Authorization")
        );
    }
}
