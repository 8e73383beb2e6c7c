//! The host's PCI functions as the firmware reports them: AMT_PCIDevice,
//! and its CIM superclass CIM_PCIController, whose enumeration returns the
//! same functions named as AMT_PCIDevice (CIM polymorphism, as
//! CIM_PhysicalPackage does with its cards). Read-only.
//!
//! Property names and types are those of Intel's AMT_PCIDevice MOF (the
//! SDK's CIM framework): VendorID, SubsystemID, SubsystemVendorID,
//! RevisionID, ProgIf, Subclass, DeviceLocation, with CIM_PCIController's
//! ClassCode. The functions themselves are the emulated desktop's, a
//! plausible Q370 board (observed: no capture of a real list).

use super::{Access, CLASS, Class};
use amtemu_model::device::Device;
use amtemu_wire::wsman::value::Instance;

const PCI_DEVICE: &str = "AMT_PCIDevice";
const KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

pub static CLASSES: &[Class] = &[
    Class {
        name: PCI_DEVICE,
        keys: KEYS,
        instances: functions,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_PCIController",
        keys: KEYS,
        instances: functions,
        subclasses: &[PCI_DEVICE],
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
];

/// One PCI function of the emulated board. (Its PCI device ID has no
/// property in the MOF: DeviceID is the CIM key, the function's address.)
struct Function {
    name: &'static str,
    bus: u16,
    device: u16,
    function: u16,
    vendor: u16,
    class: u8,
    subclass: u8,
    prog_if: u8,
    revision: u8,
}

const fn f(
    name: &'static str,
    (bus, device, function): (u16, u16, u16),
    vendor: u16,
    (class, subclass, prog_if): (u8, u8, u8),
    revision: u8,
) -> Function {
    Function {
        name,
        bus,
        device,
        function,
        vendor,
        class,
        subclass,
        prog_if,
        revision,
    }
}

const INTEL: u16 = 0x8086;
const BOARD: &[Function] = &[
    f("Host Bridge", (0, 0, 0), INTEL, (6, 0, 0), 7),
    f("VGA Controller", (0, 2, 0), INTEL, (3, 0, 0), 0),
    f(
        "USB 3.1 xHCI Controller",
        (0, 20, 0),
        INTEL,
        (12, 3, 0x30),
        16,
    ),
    f(
        "Management Engine Interface",
        (0, 22, 0),
        INTEL,
        (7, 128, 0),
        16,
    ),
    f("Serial over LAN", (0, 22, 3), INTEL, (7, 0, 2), 16),
    f("SATA AHCI Controller", (0, 23, 0), INTEL, (1, 6, 1), 16),
    f(
        "Ethernet Connection I219-LM",
        (0, 31, 6),
        INTEL,
        (2, 0, 0),
        16,
    ),
];

/// Bus, device and function as PCI configuration addresses pack them.
fn location(p: &Function) -> u16 {
    (p.bus << 8) | (p.device << 3) | p.function
}

fn functions(_: &Device) -> Vec<Instance> {
    BOARD
        .iter()
        .map(|p| {
            Instance::new(PCI_DEVICE)
                .with("ClassCode", p.class)
                .with("CreationClassName", PCI_DEVICE)
                .with(
                    "DeviceID",
                    format!("PCI {:02x}:{:02x}.{}", p.bus, p.device, p.function),
                )
                .with("DeviceLocation", location(p))
                .with("ElementName", p.name)
                .with("ProgIf", p.prog_if)
                .with("RevisionID", p.revision)
                .with("Subclass", p.subclass)
                .with("SubsystemID", 0x0000u16)
                .with("SubsystemVendorID", INTEL)
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", "ManagedSystem")
                .with("VendorID", p.vendor)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn functions_are_unique_and_the_me_is_among_them() {
        let list = functions(&device("11.8"));
        let mut ids: Vec<_> = list.iter().map(|i| i.text("DeviceID").unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), list.len());
        let mei = list
            .iter()
            .find(|i| i.text("DeviceID") == Some("PCI 00:16.0"))
            .unwrap();
        assert_eq!(mei.int("DeviceLocation"), Some(0xB0));
        assert_eq!(mei.int("VendorID"), Some(0x8086));
    }
}
