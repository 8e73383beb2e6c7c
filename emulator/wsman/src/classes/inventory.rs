//! Hardware inventory: the chassis, baseboard, BIOS, processor, memory and
//! disk of the host, as the firmware reads them from SMBIOS. All read-only.
//!
//! The emulated host is one fixed desktop model. Only the serial numbers
//! differ between devices, derived from the identity so that a fleet shows
//! distinct but reproducible machines.

use super::{Access, CLASS, Class, SERVICE_KEYS, service};
use amtemu_model::device::Device;
use amtemu_wire::wsman::value::{Instance, Value};

pub static CLASSES: &[Class] = &[
    Class {
        name: "CIM_Chassis",
        common: true,
        keys: PHYSICAL_KEYS,
        instances: chassis,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_Card",
        common: true,
        keys: PHYSICAL_KEYS,
        instances: card,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    // MeshCentral and MPS enumerate the base class and read the baseboard
    // from the CIM_Card items it yields.
    Class {
        name: "CIM_PhysicalPackage",
        common: true,
        keys: PHYSICAL_KEYS,
        instances: physical_packages,
        subclasses: &["CIM_Card", "CIM_Chassis"],
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_BIOSElement",
        common: true,
        keys: &[
            "Name",
            "SoftwareElementID",
            "SoftwareElementState",
            "TargetOperatingSystem",
            "Version",
        ],
        instances: bios,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_Processor",
        common: true,
        keys: DEVICE_KEYS,
        instances: processors,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    // The memory modules are chips too: enumerating CIM_Chip yields the
    // processor chip and then the CIM_PhysicalMemory items (real firmware
    // pages them after the processor). MeshCentral picks the processor out
    // by its ElementName.
    Class {
        name: "CIM_Chip",
        common: true,
        keys: PHYSICAL_KEYS,
        instances: chips,
        subclasses: &["CIM_PhysicalMemory"],
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_PhysicalMemory",
        common: true,
        keys: PHYSICAL_KEYS,
        instances: memory_modules,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_MediaAccessDevice",
        common: true,
        keys: DEVICE_KEYS,
        instances: media_access_devices,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_BIOSFeature",
        common: true,
        keys: &[
            "IdentifyingNumber",
            "Name",
            "ProductName",
            "Vendor",
            "Version",
        ],
        instances: bios_features,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_Fan",
        common: true,
        keys: DEVICE_KEYS,
        instances: fans,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    Class {
        name: "CIM_Sensor",
        common: true,
        keys: DEVICE_KEYS,
        instances: sensors,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    // The SMBIOS OEM tables (types 130 and 131) the firmware keeps for
    // asset management; consoles read which types there are.
    Class {
        name: "AMT_AssetTableService",
        common: true,
        keys: SERVICE_KEYS,
        instances: asset_table_service,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
    // Consoles read it where a battery may exist (MeshCommander's mobile
    // view); a desktop has the class but no instance, so enumerations come
    // back empty and a Get finds nothing to select.
    Class {
        name: "CIM_Battery",
        common: true,
        keys: DEVICE_KEYS,
        read: Access::HARDWARE_ASSET,
        ..CLASS
    },
];

/// CIM_PhysicalElement's keys.
const PHYSICAL_KEYS: &[&str] = &["CreationClassName", "Tag"];
/// CIM_LogicalDevice's keys: host devices belong to the managed system.
const DEVICE_KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

const VENDOR: &str = "Emulated Systems";
const CPU_BRAND: &str = "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz";
const BIOS_VERSION: &str = "EMUDT11.0042.2021.0315.1200";
/// What the BIOS writes as every module's asset tag; the firmware makes the
/// tags unique (they are keys) by numbering repeats.
const MEMORY_ASSET_TAG: &str = "Not Specified";

/// A serial number of the device's own, distinct per part: the identity's
/// hex digits behind a part prefix.
fn part_serial(device: &Device, prefix: &str) -> String {
    let digits = device
        .identity
        .serial_number
        .trim_start_matches(|c: char| c.is_ascii_alphabetic());
    format!("{prefix}{digits}")
}

/// The fields every physical element here carries.
fn physical(class: &str, tag: &str, element_name: &str) -> Instance {
    Instance::new(class)
        .with("CreationClassName", class)
        .with("ElementName", element_name)
        .with("OperationalStatus", 0)
        .with("Tag", tag)
}

/// A device of the host system (not of the ME), hence `ManagedSystem`.
fn host_device(class: &str, device_id: &str, element_name: &str) -> Instance {
    Instance::new(class)
        .with("CreationClassName", class)
        .with("DeviceID", device_id)
        .with("ElementName", element_name)
        .with("OperationalStatus", 0)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", "ManagedSystem")
}

/// The chassis the identity module's CIM_ComputerSystemPackage points at
/// (Tag `CIM_Chassis`); its serial number is the system's.
fn chassis(device: &Device) -> Vec<Instance> {
    vec![
        physical("CIM_Chassis", "CIM_Chassis", "Managed System Chassis")
            // 3: Desktop.
            .with("ChassisPackageType", 3)
            .with("Manufacturer", VENDOR)
            .with("Model", "EMU-DT11")
            // 3: Chassis/Frame.
            .with("PackageType", 3)
            .with("SerialNumber", device.identity.serial_number.as_str())
            .with("Version", "Rev A"),
    ]
}

fn card(device: &Device) -> Vec<Instance> {
    vec![
        physical("CIM_Card", "CIM_Card", "Managed System Base Board")
            .with("CanBeFRUed", true)
            .with("Manufacturer", VENDOR)
            .with("Model", "EMU-BB11")
            // 9: Board.
            .with("PackageType", 9)
            .with("SerialNumber", part_serial(device, "BB"))
            .with("Version", "Rev B"),
    ]
}

/// The baseboard first, then the chassis, as real firmware orders them.
fn physical_packages(device: &Device) -> Vec<Instance> {
    let mut all = card(device);
    all.extend(chassis(device));
    all
}

fn bios(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_BIOSElement")
            .with("ElementName", "Primary BIOS")
            .with("Manufacturer", VENDOR)
            .with("Name", "Primary BIOS")
            .with("OperationalStatus", 0)
            .with("PrimaryBIOS", true)
            .with(
                "ReleaseDate",
                Value::Datetime("2021-03-15T00:00:00Z".to_string()),
            )
            .with("SoftwareElementID", BIOS_VERSION)
            // 2: Executable.
            .with("SoftwareElementState", 2)
            // 66: Other (the BIOS runs under no operating system).
            .with("TargetOperatingSystem", 66)
            .with("Version", BIOS_VERSION),
    ]
}

fn processors(_: &Device) -> Vec<Instance> {
    vec![
        host_device("CIM_Processor", "CPU 0", "Managed System CPU")
            // 1: CPU enabled.
            .with("CPUStatus", 1)
            .with("CurrentClockSpeed", 3200)
            .with("EnabledState", 2)
            .with("ExternalBusClockSpeed", 100)
            // 198: Intel Core i7.
            .with("Family", 198)
            .with("HealthState", 0)
            .with("MaxClockSpeed", 4600)
            // Real firmware sends it empty rather than leaving it out.
            .with("OtherFamilyDescription", "")
            .with("RequestedState", 12)
            .with("Role", "Central")
            .with("Stepping", 10)
            // The SMBIOS socket code: LGA1151.
            .with("UpgradeMethod", 63),
    ]
}

fn processor_chip() -> Instance {
    physical("CIM_Chip", "CPU 0", "Managed System Processor Chip")
        .with("CanBeFRUed", true)
        .with("Manufacturer", "Intel(R) Corporation")
        .with("Version", CPU_BRAND)
}

fn chips(device: &Device) -> Vec<Instance> {
    let mut all = vec![processor_chip()];
    all.extend(memory_modules(device));
    all
}

/// Two 8 GiB DDR4 DIMMs, one per channel (hence banks 0 and 2). FormFactor
/// and MemoryType are the SMBIOS codes, which the firmware passes through.
fn memory_modules(device: &Device) -> Vec<Instance> {
    ["BANK 0", "BANK 2"]
        .into_iter()
        .enumerate()
        .map(|(n, bank)| {
            let tag = match n {
                0 => MEMORY_ASSET_TAG.to_string(),
                n => format!("{MEMORY_ASSET_TAG} (#{n})"),
            };
            physical("CIM_PhysicalMemory", &tag, "Managed System Memory Chip")
                .with("BankLabel", bank)
                .with("Capacity", 8u64 << 30)
                .with("ConfiguredMemoryClockSpeed", 2666)
                // 9: DIMM.
                .with("FormFactor", 9)
                .with("IsSpeedInMhz", true)
                // The JEDEC manufacturer code, as SMBIOS reports it.
                .with("Manufacturer", "CE00")
                .with("MaxMemorySpeed", 2666)
                // 26: DDR4.
                .with("MemoryType", 26)
                // SMBIOS pads part numbers; the firmware keeps the padding.
                .with("PartNumber", "EMU8G4DU2666A ")
                .with("SerialNumber", memory_serial(device, n))
                .with("Speed", 0)
        })
        .collect()
}

/// Eight hex digits, like a module's SPD serial, from the platform UUID.
fn memory_serial(device: &Device, module: usize) -> String {
    let u = &device.identity.uuid;
    let start = 8 + 4 * (module % 2);
    amtemu_model::device::identity::hex_upper(&u[start..start + 4])
}

/// The system disk. MaxMediaSize is in kilobytes (1000 bytes): a 512 GB SSD.
fn media_access_devices(_: &Device) -> Vec<Instance> {
    vec![
        host_device(
            "CIM_MediaAccessDevice",
            "MEDIA DEV 0",
            "Managed System Media Access Device",
        )
        // 4: Random Access.
        .with("Capabilities", 4)
        .with("EnabledDefault", 2)
        .with("EnabledState", 0)
        .with("MaxMediaSize", 512_110_190u64)
        .with("RequestedState", 12)
        // 2: None.
        .with("Security", 2),
    ]
}

/// The BIOS's SMBIOS characteristics (type 0), as the firmware passes
/// them through: 7 PCI, 11 upgradeable (flash), 12 shadowing, 27-29 the
/// keyboard, floppy and print-screen services of INT 9h/13h/5h, 31 the
/// serial services of INT 14h (the codes firmware reported in a capture).
const BIOS_CHARACTERISTICS: [i64; 7] = [7, 11, 12, 27, 28, 29, 31];

fn bios_features(_: &Device) -> Vec<Instance> {
    let name = "Primary BIOS Features";
    vec![
        Instance::new("CIM_BIOSFeature")
            .with_array("Characteristics", BIOS_CHARACTERISTICS)
            .with("ElementName", name)
            .with("IdentifyingNumber", BIOS_VERSION)
            .with("Name", name)
            .with("OperationalStatus", 0)
            .with("ProductName", "EMU-DT11")
            .with("Vendor", VENDOR)
            .with("Version", BIOS_VERSION),
    ]
}

/// A logical device of the host whose state firmware reports as CIM's
/// "OK" (HealthState 5, OperationalStatus 2) and "not applicable"
/// EnabledState 5: the ME reads it but cannot switch it.
fn monitored_device(class: &str, device_id: &str, element_name: &str) -> Instance {
    host_device(class, device_id, element_name)
        .with("EnabledState", 5)
        .with("HealthState", 5)
        .with("OperationalStatus", 2)
        .with("RequestedState", 12)
}

/// The chassis fan: fixed speed as far as the ME knows (it reports no RPM).
fn fans(_: &Device) -> Vec<Instance> {
    vec![
        monitored_device("CIM_Fan", "Fan 0", "Fan")
            .with("ActiveCooling", true)
            .with("DesiredSpeed", 0)
            .with("VariableSpeed", false),
    ]
}

/// A discrete sensor whose states firmware names but does not read on a
/// desktop board (CurrentState "Unknown", SensorType 0 "Unknown").
fn sensors(_: &Device) -> Vec<Instance> {
    vec![
        monitored_device("CIM_Sensor", "Sensor 1", "Sensor")
            .with("CurrentState", "Unknown")
            .with_array("PossibleStates", ["Bad", "Good", "Unknown"])
            .with("SensorType", 0),
    ]
}

fn asset_table_service(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT Asset Table Service";
    vec![
        service("AMT_AssetTableService", name)
            .with("ElementName", name)
            .with_array("TableTypes", ["SMbios:130", "SMbios:131"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn another_device() -> std::sync::Arc<Device> {
        use amtemu_model::device::{DeviceConfig, Firmware};
        Device::new(DeviceConfig::new(
            "another",
            Firmware::by_name("11.8").unwrap(),
        ))
    }

    fn class(name: &str) -> &'static Class {
        CLASSES.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn every_instance_has_its_keys() {
        let d = device("11.8");
        for class in CLASSES {
            for instance in (class.instances)(&d) {
                let keys =
                    crate::classes::lookup_any(&instance.class).map_or(class.keys, |c| c.keys);
                for key in keys {
                    assert!(
                        instance.get(key).is_some(),
                        "{} lacks {key}",
                        instance.class
                    );
                }
            }
        }
    }

    #[test]
    fn physical_package_yields_the_card_then_the_chassis() {
        let d = device("11.8");
        let items = (class("CIM_PhysicalPackage").instances)(&d);
        let classes: Vec<_> = items.iter().map(|i| i.class.as_str()).collect();
        assert_eq!(classes, ["CIM_Card", "CIM_Chassis"]);
        assert_eq!(items[0].text("Tag"), Some("CIM_Card"));
        assert_eq!(items[1], chassis(&d)[0]);
    }

    #[test]
    fn the_chassis_is_what_the_system_package_points_at() {
        let d = device("11.8");
        let chassis = chassis(&d).remove(0);
        assert_eq!(
            chassis.text("SerialNumber"),
            Some(d.identity.serial_number.as_str())
        );
        let epr = class("CIM_Chassis").epr_of(&chassis);
        assert_eq!(epr.selector_text("CreationClassName"), Some("CIM_Chassis"));
        assert_eq!(epr.selector_text("Tag"), Some("CIM_Chassis"));
    }

    #[test]
    fn serial_numbers_differ_per_device_and_part() {
        let a = device("11.8");
        let b = another_device();
        let board = |d: &Device| card(d)[0].text("SerialNumber").unwrap().to_string();
        assert_ne!(board(&a), board(&b));
        assert_ne!(
            Some(board(&a).as_str()),
            chassis(&a)[0].text("SerialNumber")
        );
        let dimms = memory_modules(&a);
        assert_ne!(dimms[0].text("SerialNumber"), dimms[1].text("SerialNumber"));
    }

    #[test]
    fn chips_are_the_processor_then_the_memory_with_unique_tags() {
        let d = device("11.8");
        let items = (class("CIM_Chip").instances)(&d);
        assert_eq!(items[0].class, "CIM_Chip");
        assert_eq!(items[0].text("Version"), Some(CPU_BRAND));
        assert!(items[1..].iter().all(|i| i.class == "CIM_PhysicalMemory"));
        let mut tags: Vec<_> = items.iter().filter_map(|i| i.text("Tag")).collect();
        let count = tags.len();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), count);
        assert_eq!(items[2].int("Capacity"), Some(8 * 1024 * 1024 * 1024));
    }

    #[test]
    fn the_bios_release_date_is_a_datetime() {
        let d = device("11.8");
        let bios = bios(&d).remove(0);
        assert!(matches!(bios.get("ReleaseDate"), Some(Value::Datetime(_))));
        assert_eq!(bios.bool("PrimaryBIOS"), Some(true));
        assert!(class("CIM_BIOSElement").common);
    }

    #[test]
    fn a_desktop_has_no_battery() {
        let d = device("11.8");
        assert!((class("CIM_Battery").instances)(&d).is_empty());
    }
    #[test]
    fn fan_and_sensor_are_host_devices_reported_ok() {
        let d = device("11.8");
        for class_name in ["CIM_Fan", "CIM_Sensor"] {
            let items = (class(class_name).instances)(&d);
            assert_eq!(items.len(), 1, "{class_name}");
            assert_eq!(items[0].text("SystemName"), Some("ManagedSystem"));
            assert_eq!(items[0].int("HealthState"), Some(5));
        }
        let sensor = sensors(&d).remove(0);
        assert!(matches!(sensor.get("PossibleStates"), Some(Value::Array(v)) if v.len() == 3));
    }

    #[test]
    fn the_bios_feature_names_the_bios_it_belongs_to() {
        let d = device("11.8");
        let feature = bios_features(&d).remove(0);
        let element = bios(&d).remove(0);
        assert_eq!(feature.text("Version"), element.text("Version"));
        let epr = class("CIM_BIOSFeature").epr_of(&feature);
        assert_eq!(epr.selector_text("Name"), Some("Primary BIOS Features"));
    }
}
