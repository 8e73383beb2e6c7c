//! The wired port as CIM devices: CIM_EthernetPort (the NIC the ME shares)
//! and CIM_LANEndpoint (its protocol endpoint). Read-only views of the
//! device's identity; the addresses themselves are AMT_EthernetPortSettings'
//! (network.rs). Names and values follow the CIM_WiFiPort instance in the
//! AMT capture in go-wsman-messages (`WiFi Port 0`, SystemName
//! `Intel(r) AMT`, the address as 12 hex digits), the wired analogue of
//! which is not captured anywhere.

use super::{Access, CLASS, Class};
use amtemu_model::device::Device;
use amtemu_wire::wsman::value::Instance;

pub static CLASSES: &[Class] = &[
    Class {
        name: "CIM_EthernetPort",
        keys: DEVICE_KEYS,
        instances: ethernet_port,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
    Class {
        name: "CIM_LANEndpoint",
        keys: super::SERVICE_KEYS,
        instances: lan_endpoint,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
];

/// The keys of a CIM logical device.
const DEVICE_KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

/// `02-ab-cd-ef-01-23` as CIM writes a permanent address: `02ABCDEF0123`.
fn cim_mac(device: &Device) -> String {
    device
        .identity
        .mac
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn ethernet_port(device: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_EthernetPort")
            .with("CreationClassName", "CIM_EthernetPort")
            .with("DeviceID", "Ethernet Port 0")
            .with("ElementName", "Ethernet Port 0")
            // 2: enabled; the wired port is always on for the ME.
            .with("EnabledState", 2)
            // 5: OK.
            .with("HealthState", 5)
            // 2: Ethernet.
            .with("LinkTechnology", 2)
            .with("PermanentAddress", cim_mac(device))
            .with("PortType", 0)
            .with("RequestedState", 2)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "Intel(r) AMT"),
    ]
}

fn lan_endpoint(device: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_LANEndpoint")
            .with("CreationClassName", "CIM_LANEndpoint")
            .with("ElementName", "Ethernet Endpoint 0")
            .with("EnabledState", 2)
            .with("MACAddress", cim_mac(device))
            .with("Name", "Ethernet Endpoint 0")
            // 6: ethernetCsmacd (IANA ifType).
            .with("ProtocolIFType", 6)
            .with("RequestedState", 2)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "Intel(r) AMT"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn the_port_carries_the_devices_mac_in_cim_form() {
        let d = device("11.8");
        let port = &ethernet_port(&d)[0];
        let mac = port.text("PermanentAddress").unwrap();
        assert_eq!(mac.len(), 12);
        assert!(
            mac.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert!(mac.starts_with("02"));
        assert_eq!(lan_endpoint(&d)[0].text("MACAddress"), Some(mac));
    }
}
