//! Boot control: the one-time boot settings, the boot order and the role
//! that makes them apply at the next boot.

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_uint, service};
use amtemu_model::device::{BootRefusal, BootSource, Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

const BOOT_CONFIG: &str = "Intel(r) AMT: Boot Configuration 0";
const BOOT_SERVICE: &str = "Intel(r) AMT Boot Service";

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_BootSettingData",
        keys: &["InstanceID"],
        instances: boot_setting_data,
        put: Some(put_boot_setting_data),
        read: Access::REMOTE_CONTROL,
        write: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "AMT_BootCapabilities",
        keys: &["InstanceID"],
        instances: boot_capabilities,
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_BootConfigSetting",
        keys: &["InstanceID"],
        instances: boot_config_setting,
        methods: &[Method {
            name: "ChangeBootOrder",
            requires: None,
            call: change_boot_order,
        }],
        read: Access::REMOTE_CONTROL,
        invoke: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_BootSourceSetting",
        keys: &["InstanceID"],
        instances: boot_sources,
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_BootService",
        keys: SERVICE_KEYS,
        instances: boot_service,
        methods: &[
            Method {
                name: "SetBootConfigRole",
                requires: None,
                call: set_boot_config_role,
            },
            Method {
                name: "RequestStateChange",
                requires: Some(Feature::OneClickRecovery),
                call: boot_service_state_change,
            },
        ],
        read: Access::REMOTE_CONTROL,
        invoke: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_ElementSettingData",
        keys: &["ManagedElement", "SettingData"],
        instances: element_setting_data,
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
];

fn boot_setting_data(device: &Device) -> Vec<Instance> {
    let ocr = device.firmware.has(Feature::OneClickRecovery);
    let b = device.boot_settings();
    let mut i = Instance::new("AMT_BootSettingData")
        .with_array("BIOSLastStatus", [2u16, 0])
        .with("BIOSPause", b.bios_pause)
        .with("BIOSSetup", b.bios_setup)
        .with("BootMediaIndex", b.boot_media_index)
        .with("ConfigurationDataReset", b.configuration_data_reset)
        .with("ElementName", "Intel(r) AMT Boot Configuration Settings")
        .with("EnforceSecureBoot", b.enforce_secure_boot)
        .with("FirmwareVerbosity", b.firmware_verbosity)
        .with("ForcedProgressEvents", b.forced_progress_events)
        .with("IDERBootDevice", b.ider_boot_device)
        .with("InstanceID", "Intel(r) AMT:BootSettingData 0")
        .with("LockKeyboard", b.lock_keyboard)
        .with("LockPowerButton", b.lock_power_button)
        .with("LockResetButton", b.lock_reset_button)
        .with("LockSleepButton", b.lock_sleep_button)
        .with("OptionsCleared", b.options_cleared)
        .with("OwningEntity", "Intel(r) AMT")
        .with("ReflashBIOS", b.reflash_bios)
        .with("SecureErase", b.secure_erase)
        .with("UseIDER", b.use_ider)
        .with("UseSOL", b.use_sol)
        .with("UseSafeMode", b.use_safe_mode)
        .with("UserPasswordBypass", b.user_password_bypass);
    if ocr {
        for (name, value) in [
            ("PlatformErase", false),
            ("RPEEnabled", false),
            ("SecureBootControlEnabled", true),
            ("UEFIHTTPSBootEnabled", true),
            ("UEFILocalPBABootEnabled", true),
            ("WinREBootEnabled", true),
        ] {
            i.set(name, value);
        }
        i.set("BootguardStatus", 127);
        i.set("RSEPassword", "");
        i.set("UefiBootNumberOfParams", 0);
    }
    vec![i]
}

/// Clients Get, change a few flags and Put everything back; read-only
/// properties in the Put are ignored. Nothing changes unless all values are
/// well-formed.
fn put_boot_setting_data(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    device
        .edit_boot_settings(|b| {
            put_bool(input, "BIOSPause", &mut b.bios_pause)?;
            put_bool(input, "BIOSSetup", &mut b.bios_setup)?;
            put_uint(input, "BootMediaIndex", &mut b.boot_media_index)?;
            put_bool(
                input,
                "ConfigurationDataReset",
                &mut b.configuration_data_reset,
            )?;
            put_uint(input, "FirmwareVerbosity", &mut b.firmware_verbosity)?;
            put_bool(input, "ForcedProgressEvents", &mut b.forced_progress_events)?;
            put_uint(input, "IDERBootDevice", &mut b.ider_boot_device)?;
            put_bool(input, "LockKeyboard", &mut b.lock_keyboard)?;
            put_bool(input, "LockPowerButton", &mut b.lock_power_button)?;
            put_bool(input, "LockResetButton", &mut b.lock_reset_button)?;
            put_bool(input, "LockSleepButton", &mut b.lock_sleep_button)?;
            put_bool(input, "ReflashBIOS", &mut b.reflash_bios)?;
            put_bool(input, "SecureErase", &mut b.secure_erase)?;
            put_bool(input, "UseIDER", &mut b.use_ider)?;
            put_bool(input, "UseSOL", &mut b.use_sol)?;
            put_bool(input, "UseSafeMode", &mut b.use_safe_mode)?;
            put_bool(input, "UserPasswordBypass", &mut b.user_password_bypass)?;
            put_bool(input, "EnforceSecureBoot", &mut b.enforce_secure_boot)
        })?
        .map_err(|r| Fault::InternalError(status(r).into()))
}

/// The PT_STATUS a refused Put is answered with (as an InternalError fault).
fn status(r: BootRefusal) -> PtStatus {
    match r {
        BootRefusal::OutOfRange => PtStatus::InvalidParameter,
    }
}

fn boot_capabilities(device: &Device) -> Vec<Instance> {
    let ocr = device.firmware.has(Feature::OneClickRecovery);
    let mut i = Instance::new("AMT_BootCapabilities")
        .with("ElementName", "Intel(r) AMT: Boot Capabilities")
        .with("InstanceID", "Intel(r) AMT:BootCapabilities 0");
    for (name, value) in [
        ("BIOSPause", false),
        ("BIOSReflash", true),
        ("BIOSSecureBoot", true),
        ("BIOSSetup", true),
        ("ConfigurationDataReset", false),
        ("ForceCDorDVDBoot", true),
        ("ForceDiagnosticBoot", false),
        ("ForceHardDriveBoot", true),
        ("ForceHardDriveSafeModeBoot", false),
        ("ForcePXEBoot", true),
        ("ForcedProgressEvents", true),
        ("IDER", true),
        ("KeyboardLock", true),
        ("PowerButtonLock", false),
        ("ResetButtonLock", false),
        ("SOL", true),
        ("SecureErase", false),
        ("SleepButtonLock", false),
        ("UserPasswordBypass", true),
        ("VerbosityQuiet", false),
        ("VerbosityScreenBlank", false),
        ("VerbosityVerbose", false),
    ] {
        i.set(name, value);
    }
    if ocr {
        // The names DMT and MeshCentral read (One Click Recovery).
        for name in [
            "ForceUEFIHTTPSBoot",
            "ForceUEFILocalPBABoot",
            "ForceWinREBoot",
        ] {
            i.set(name, true);
        }
        i.set("PlatformErase", 0);
    }
    vec![i]
}

fn boot_config_setting(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_BootConfigSetting")
            .with("ElementName", "Intel(r) AMT: Boot Configuration")
            .with("InstanceID", BOOT_CONFIG),
    ]
}

fn boot_sources(_: &Device) -> Vec<Instance> {
    BootSource::ALL
        .iter()
        .map(|s| {
            Instance::new("CIM_BootSourceSetting")
                .with("ElementName", "Intel(r) AMT: Boot Source")
                .with("FailThroughSupported", 2)
                .with("InstanceID", s.instance_id())
                .with("StructuredBootString", s.structured_boot_string())
        })
        .collect()
}

/// CIM ReturnValues of the boot methods (ChangeBootOrder,
/// SetBootConfigRole, RequestStateChange).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BootMethod {
    Completed = 0,
    InvalidReference = 4,
    InvalidParameter = 5,
}

impl From<BootMethod> for u32 {
    fn from(rv: BootMethod) -> u32 {
        rv as u32
    }
}

/// With a Source, forces that device; without one, clears the order.
fn change_boot_order(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "ChangeBootOrder";
    let source = match input.get("Source") {
        None => None,
        Some(value) => {
            // Only one forced device can be named.
            let [single] = value.items() else {
                return Ok(output(METHOD, BootMethod::InvalidReference.into()));
            };
            let found = single
                .as_ref()
                .and_then(|epr| epr.selector_text("InstanceID"))
                .and_then(BootSource::by_instance_id);
            match found {
                Some(s) => Some(s),
                None => return Ok(output(METHOD, BootMethod::InvalidReference.into())),
            }
        }
    };
    device.set_boot_order(source);
    device.changed("CIM_BootConfigSetting");
    Ok(output(METHOD, BootMethod::Completed.into()))
}

fn boot_service(device: &Device) -> Vec<Instance> {
    let mut i = service("CIM_BootService", BOOT_SERVICE)
        .with("ElementName", BOOT_SERVICE)
        .with("OperationalStatus", 0)
        .with("RequestedState", 12);
    // On OCR firmware EnabledState reports OCR/RPE enablement.
    i.set(
        "EnabledState",
        if device.firmware.has(Feature::OneClickRecovery) {
            32771
        } else {
            2
        },
    );
    vec![i]
}

/// Role 1 (IsNext) makes the boot configuration apply to the next boot;
/// role 2 (IsNextSingleUse) the same; anything else is an invalid parameter.
fn set_boot_config_role(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "SetBootConfigRole";
    let names_config = input
        .get("BootConfigSetting")
        .and_then(|v| v.as_ref())
        .and_then(|epr| epr.selector_text("InstanceID"))
        .is_some_and(|id| id == BOOT_CONFIG);
    if !names_config {
        return Ok(output(METHOD, BootMethod::InvalidReference.into()));
    }
    match input.int("Role") {
        Some(1 | 2) => {
            device.use_boot_config_next();
            device.changed("CIM_BootService");
            Ok(output(METHOD, BootMethod::Completed.into()))
        }
        _ => Ok(output(METHOD, BootMethod::InvalidParameter.into())),
    }
}

fn boot_service_state_change(
    _: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let rv = match input.int("RequestedState") {
        Some(32768..=32771) => BootMethod::Completed,
        _ => BootMethod::InvalidParameter,
    };
    Ok(output("RequestStateChange", rv.into()))
}

/// Which settings belong to which element: the boot and power settings of
/// the ME, as MeshCommander lists them.
fn element_setting_data(device: &Device) -> Vec<Instance> {
    let amt = Epr::new(names::class_uri("CIM_ComputerSystem"))
        .with("CreationClassName", "CIM_ComputerSystem")
        .with("Name", "Intel(r) AMT");
    vec![
        Instance::new("CIM_ElementSettingData")
            .with("IsCurrent", 1)
            .with("ManagedElement", amt.clone())
            .with(
                "SettingData",
                Epr::new(names::class_uri("AMT_BootSettingData"))
                    .with("InstanceID", "Intel(r) AMT:BootSettingData 0"),
            ),
        Instance::new("CIM_ElementSettingData")
            .with("IsCurrent", 1)
            .with("ManagedElement", amt.clone())
            .with(
                "SettingData",
                Epr::new(names::class_uri("CIM_BootConfigSetting")).with("InstanceID", BOOT_CONFIG),
            ),
        super::power_policy::active_scheme_setting(device, amt),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::BootTarget;
    use amtemu_model::testing::device;

    fn source(id: &str) -> Epr {
        Epr::new(names::class_uri("CIM_BootSourceSetting")).with("InstanceID", id)
    }

    #[test]
    fn boot_order_and_role_select_the_next_boot() {
        let d = device("11.8");
        let none = Instance::default();
        let input = Instance::new("ChangeBootOrder_INPUT")
            .with("Source", source("Intel(r) AMT: Force PXE Boot"));
        assert_eq!(
            change_boot_order(&d, &none, &input)
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        let role = Instance::new("SetBootConfigRole_INPUT")
            .with(
                "BootConfigSetting",
                Epr::new(names::class_uri("CIM_BootConfigSetting")).with("InstanceID", BOOT_CONFIG),
            )
            .with("Role", 1);
        assert_eq!(
            set_boot_config_role(&d, &none, &role)
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        assert_eq!(d.boot_settings().target(), BootTarget::Pxe);
        // An empty call clears the order.
        let clear = Instance::new("ChangeBootOrder_INPUT");
        change_boot_order(&d, &none, &clear).unwrap();
        assert_eq!(d.boot_settings().target(), BootTarget::Disk);
        let bad = Instance::new("ChangeBootOrder_INPUT").with("Source", source("nope"));
        assert_eq!(
            change_boot_order(&d, &none, &bad)
                .unwrap()
                .int("ReturnValue"),
            Some(4)
        );
    }

    #[test]
    fn put_applies_writable_flags_only() {
        let d = device("16.1");
        let before = boot_setting_data(&d).remove(0);
        let mut sent = before.clone();
        sent.set("BIOSSetup", "true");
        sent.set("OptionsCleared", "false");
        sent.set("InstanceID", "changed");
        put_boot_setting_data(&d, &before, &sent).unwrap();
        let after = boot_setting_data(&d).remove(0);
        assert_eq!(after.bool("BIOSSetup"), Some(true));
        assert_eq!(
            after.text("InstanceID"),
            Some("Intel(r) AMT:BootSettingData 0")
        );
        let mut bad = after.clone();
        bad.set("FirmwareVerbosity", 9);
        assert_eq!(
            put_boot_setting_data(&d, &after, &bad),
            Err(Fault::InternalError(36))
        );
    }
}
