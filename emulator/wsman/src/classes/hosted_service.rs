//! CIM_HostedService: each service and the computer system it runs on
//! (Intel's WS-Eventing CIM elements list the association; WS-Eventing is
//! 3.2+). Built from the registry rather than a list: every class named
//! `...Service` with the four service keys that this firmware answers,
//! each instance tied to the system its SystemCreationClassName and
//! SystemName scope it to (the ME, "Intel(r) AMT", for most; the host,
//! "ManagedSystem", for the few services firmware hosts there). A service
//! class added later joins without an edit here.

use std::collections::HashSet;

use super::{CLASS, Class, SERVICE_KEYS, all_names, lookup};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const CLASS_NAME: &str = "CIM_HostedService";

pub static CLASSES: &[Class] = &[Class {
    name: CLASS_NAME,
    requires: Some(Feature::WsEventing),
    keys: &["Antecedent", "Dependent"],
    instances: hosted_services,
    ..CLASS
}];

fn hosted_services(device: &Device) -> Vec<Instance> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for name in all_names() {
        let Some(class) = lookup(name, device.firmware) else {
            continue;
        };
        if !name.ends_with("Service") || class.keys != SERVICE_KEYS {
            continue;
        }
        for service in (class.instances)(device) {
            // A parent class lists its subclasses' instances too: one
            // association per instance, under its own class.
            if !seen.insert((service.class.clone(), service.key_text("Name"))) {
                continue;
            }
            let (Some(system_class), Some(system)) = (
                service.key_text("SystemCreationClassName"),
                service.key_text("SystemName"),
            ) else {
                continue;
            };
            let antecedent = Epr::new(names::class_uri(&system_class))
                .with("CreationClassName", system_class.as_str())
                .with("Name", system);
            let dependent = lookup(&service.class, device.firmware)
                .unwrap_or(class)
                .epr_of(&service);
            out.push(
                Instance::new(CLASS_NAME)
                    .with("Antecedent", antecedent)
                    .with("Dependent", dependent),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn hosted(fw: &str) -> Vec<(String, String)> {
        hosted_services(&device(fw))
            .iter()
            .map(|i| {
                let system = i.get("Antecedent").and_then(|v| v.as_ref());
                let service = i.get("Dependent").and_then(|v| v.as_ref());
                (
                    system
                        .and_then(|r| r.selector_text("Name"))
                        .unwrap_or_default()
                        .to_string(),
                    service
                        .and_then(|r| r.selector_text("CreationClassName"))
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn each_service_the_firmware_answers_is_hosted_once() {
        let list = hosted("11.8");
        let has = |system: &str, class: &str| {
            list.iter()
                .filter(|(s, c)| s == system && c == class)
                .count()
        };
        assert_eq!(has("Intel(r) AMT", "AMT_EventManagerService"), 1);
        assert_eq!(has("Intel(r) AMT", "IPS_ScreenConfigurationService"), 1);
        assert_eq!(has("ManagedSystem", "IPS_SecIOService"), 1);
        // Not on 3.2.1: screen blanking came with 10.0.
        assert!(
            !hosted("3.2.1")
                .iter()
                .any(|(_, c)| c == "IPS_ScreenConfigurationService")
        );
    }
}
