//! IPS_ScreenSettingData: the host's displays as KVM can show them. The
//! simulated host has one monitor in VGA text mode; firmware reports four
//! slots (the AMT 11+ capture in go-wsman-messages), unused ones inactive
//! at 0x0 with their corner at -1,-1.

use super::{CLASS, Class, SERVICE_KEYS};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::value::Instance;

/// VGA text mode, 80x25 cells of 9x16 pixels: the size amtemu-rfb draws
/// the host's screen at.
const RESOLUTION: (i64, i64) = (720, 400);

pub static CLASSES: &[Class] = &[
    Class {
        name: "IPS_ScreenSettingData",
        requires: Some(Feature::ScreenSettings),
        keys: &["InstanceID"],
        instances: screens,
        read: super::Access::REDIRECTION,
        ..CLASS
    },
    // The secure display the firmware draws over the host's screen (the
    // user-consent code): which screen it uses, its language and zoom.
    Class {
        name: "IPS_SecIOService",
        requires: Some(Feature::UserConsent),
        common: true,
        keys: SERVICE_KEYS,
        instances: secure_io,
        read: super::Access::REDIRECTION,
        ..CLASS
    },
];

/// Firmware's defaults, copied from a capture of real firmware (the values'
/// meaning is not documented there): the primary screen, RequestedLanguage
/// 2, language 1, zoom 65535.
fn secure_io(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("IPS_SecIOService")
            .with("CreationClassName", "IPS_SecIOService")
            .with("DefaultScreen", 1)
            .with("EnabledState", 2)
            .with("Name", "SecIO")
            .with("RequestedLanguage", 2)
            .with("Started", true)
            .with("Status", "OK")
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "ManagedSystem")
            .with("language", 1)
            .with("zoom", 65535),
    ]
}

fn screens(_: &Device) -> Vec<Instance> {
    let slot = |i: usize| i == 0;
    vec![
        Instance::new("IPS_ScreenSettingData")
            .with("ElementName", "Intel(r) Screen Settings")
            .with("InstanceID", "Intel(r) Screen Settings")
            .with_array("IsActive", (0..4).map(slot))
            .with("PrimaryIndex", 1)
            .with("QuadraryIndex", 4)
            .with_array(
                "ResolutionX",
                (0..4).map(|i| if slot(i) { RESOLUTION.0 } else { 0 }),
            )
            .with_array(
                "ResolutionY",
                (0..4).map(|i| if slot(i) { RESOLUTION.1 } else { 0 }),
            )
            .with("SecondaryIndex", 2)
            .with("TertiaryIndex", 3)
            .with_array(
                "UpperLeftX",
                (0..4).map(|i| if slot(i) { 0i64 } else { -1 }),
            )
            .with_array(
                "UpperLeftY",
                (0..4).map(|i| if slot(i) { 0i64 } else { -1 }),
            ),
    ]
}
