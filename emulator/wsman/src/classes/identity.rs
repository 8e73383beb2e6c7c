//! Identity and version: CIM_SoftwareIdentity, AMT_GeneralSettings, the two
//! computer systems and the package that ties the host to its chassis.

use super::{Access, CLASS, Class, managed_system_epr, put_bool, put_checked, put_uint};
use amtemu_model::device::users::realm;
use amtemu_model::device::{Device, GeneralSettings, GeneralSettingsRefusal};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, PropertySink};

pub static CLASSES: &[Class] = &[
    Class {
        name: "CIM_SoftwareIdentity",
        keys: &["InstanceID"],
        instances: software_identities,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
    Class {
        name: "AMT_GeneralSettings",
        keys: &["InstanceID"],
        instances: general_settings,
        write_single: Some(write_general_settings),
        put: Some(put_general_settings),
        read: Access::GENERAL_INFO,
        write: Access::ADMIN,
        ..CLASS
    },
    Class {
        name: "CIM_ComputerSystem",
        keys: &["CreationClassName", "Name"],
        instances: computer_systems,
        read: Access(&[
            realm::HARDWARE_ASSET,
            realm::REMOTE_CONTROL,
            realm::GENERAL_INFO,
        ]),
        ..CLASS
    },
    Class {
        name: "CIM_ComputerSystemPackage",
        keys: &["Antecedent", "Dependent"],
        instances: computer_system_package,
        read: Access(&[realm::HARDWARE_ASSET, realm::GENERAL_INFO]),
        ..CLASS
    },
    Class {
        name: "CIM_SystemPackaging",
        keys: &["Antecedent", "Dependent"],
        instances: computer_system_package,
        subclasses: &["CIM_ComputerSystemPackage"],
        read: Access(&[realm::HARDWARE_ASSET, realm::GENERAL_INFO]),
        ..CLASS
    },
];

/// The version instances, in the order real firmware lists them.
fn software_identities(device: &Device) -> Vec<Instance> {
    let fw = device.firmware;
    [
        ("Flash", fw.version),
        ("Netstack", fw.version),
        ("AMTApps", fw.version),
        ("AMT", fw.version),
        ("Sku", fw.sku),
        ("VendorID", "8086"),
        ("Build Number", fw.build),
        ("Recovery Version", fw.recovery_version),
        ("Recovery Build Num", fw.build),
        ("Legacy Mode", "False"),
        ("AMT FW Core Version", fw.version),
    ]
    .into_iter()
    .map(|(id, version)| {
        Instance::new("CIM_SoftwareIdentity")
            .with("InstanceID", id)
            .with("IsEntity", true)
            .with("VersionString", version)
    })
    .collect()
}

fn general_settings(device: &Device) -> Vec<Instance> {
    let mut i = Instance::new("AMT_GeneralSettings");
    general_settings_props(device, &device.general_settings(), &mut i);
    vec![i]
}

/// A Get's answer written from the settings where they are kept, under
/// the device's lock for as long as writing them takes.
fn write_general_settings(device: &Device, sink: &mut dyn PropertySink) {
    device.with_state(|s| general_settings_props(device, &s.nvram.general, sink));
}

/// The instance's properties, in name order. (Only the device's identity
/// and firmware are read besides `g`: this runs under the state lock.)
fn general_settings_props(device: &Device, g: &GeneralSettings, sink: &mut dyn PropertySink) {
    let has_ipv6 = device.firmware.has(amtemu_model::device::Feature::Ipv6);
    sink.int("AMTNetworkEnabled", 1);
    sink.int(
        "DDNSPeriodicUpdateInterval",
        g.ddns_periodic_update_interval.into(),
    );
    sink.int("DDNSTTL", g.ddns_ttl.into());
    sink.boolean(
        "DDNSUpdateByDHCPServerEnabled",
        g.ddns_update_by_dhcp_server_enabled,
    );
    sink.boolean("DDNSUpdateEnabled", g.ddns_update_enabled);
    if has_ipv6 {
        sink.int(
            "DHCPv6ConfigurationTimeout",
            g.dhcpv6_configuration_timeout.into(),
        );
    }
    sink.text("DigestRealm", &device.identity.digest_realm);
    sink.text("DomainName", g.domain_name.as_str());
    sink.text("ElementName", "Intel(r) AMT: General Settings");
    sink.text("HostName", g.host_name.as_str());
    sink.text("HostOSFQDN", g.host_os_fqdn.as_str());
    sink.int("IdleWakeTimeout", g.idle_wake_timeout.into());
    sink.text("InstanceID", "Intel(r) AMT: General Settings");
    sink.boolean("NetworkInterfaceEnabled", g.network_interface_enabled);
    sink.boolean("PingResponseEnabled", g.ping_response_enabled);
    sink.int("PowerSource", 0);
    if has_ipv6 {
        sink.int("PreferredAddressFamily", g.preferred_address_family.into());
    }
    sink.int(
        "PresenceNotificationInterval",
        g.presence_notification_interval.into(),
    );
    sink.int("PrivacyLevel", g.privacy_level.into());
    sink.boolean("RmcpPingResponseEnabled", g.rmcp_ping_response_enabled);
    sink.boolean("SharedFQDN", g.shared_fqdn);
    if has_ipv6 {
        sink.int("ThunderboltDockEnabled", g.thunderbolt_dock_enabled.into());
    }
    sink.boolean("WsmanOnlyMode", g.wsman_only_mode);
}

/// Clients send back the whole instance from their Get, read-only properties
/// included; those are ignored, the writable ones applied. Nothing changes
/// unless every value is well-formed.
fn put_general_settings(
    device: &Device,
    _current: &Instance,
    input: &Instance,
) -> Result<(), Fault> {
    device
        .configure_general(|g| {
            put_checked(input, "HostName", &mut g.host_name)?;
            put_checked(input, "DomainName", &mut g.domain_name)?;
            put_checked(input, "HostOSFQDN", &mut g.host_os_fqdn)?;
            put_bool(input, "SharedFQDN", &mut g.shared_fqdn)?;
            put_bool(
                input,
                "NetworkInterfaceEnabled",
                &mut g.network_interface_enabled,
            )?;
            put_bool(input, "PingResponseEnabled", &mut g.ping_response_enabled)?;
            put_bool(
                input,
                "RmcpPingResponseEnabled",
                &mut g.rmcp_ping_response_enabled,
            )?;
            put_bool(input, "DDNSUpdateEnabled", &mut g.ddns_update_enabled)?;
            put_bool(
                input,
                "DDNSUpdateByDHCPServerEnabled",
                &mut g.ddns_update_by_dhcp_server_enabled,
            )?;
            put_uint(input, "DDNSTTL", &mut g.ddns_ttl)?;
            put_uint(
                input,
                "DDNSPeriodicUpdateInterval",
                &mut g.ddns_periodic_update_interval,
            )?;
            put_uint(input, "IdleWakeTimeout", &mut g.idle_wake_timeout)?;
            put_uint(
                input,
                "PreferredAddressFamily",
                &mut g.preferred_address_family,
            )?;
            put_uint(input, "PrivacyLevel", &mut g.privacy_level)?;
            put_uint(
                input,
                "PresenceNotificationInterval",
                &mut g.presence_notification_interval,
            )?;
            put_uint(
                input,
                "DHCPv6ConfigurationTimeout",
                &mut g.dhcpv6_configuration_timeout,
            )?;
            put_bool(input, "WsmanOnlyMode", &mut g.wsman_only_mode)?;
            put_uint(
                input,
                "ThunderboltDockEnabled",
                &mut g.thunderbolt_dock_enabled,
            )?;
            Ok(())
        })?
        .map_err(|r| Fault::InternalError(status(r).into()))
}

/// The PT_STATUS a refused change of the general settings answers with.
fn status(refusal: GeneralSettingsRefusal) -> PtStatus {
    match refusal {
        GeneralSettingsRefusal::HostNameNotALabel
        | GeneralSettingsRefusal::UnknownPrivacyLevel
        | GeneralSettingsRefusal::OutOfRange(_) => PtStatus::InvalidParameter,
    }
}

fn computer_systems(_: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_ComputerSystem")
            .with("CreationClassName", "CIM_ComputerSystem")
            .with("ElementName", "Intel(r) AMT Subsystem")
            .with("EnabledState", 5)
            .with("Name", "Intel(r) AMT")
            .with("NameFormat", "Other")
            .with("OperationalStatus", 0)
            .with("RequestedState", 12)
            .with_array("Dedicated", [14u16]),
        Instance::new("CIM_ComputerSystem")
            .with("CreationClassName", "CIM_ComputerSystem")
            .with("ElementName", "Managed System")
            .with("EnabledState", 2)
            .with("Name", "ManagedSystem")
            .with("NameFormat", "Other")
            .with("OperationalStatus", 0)
            .with("RequestedState", 12)
            .with_array("Dedicated", [0u16]),
    ]
}

fn computer_system_package(device: &Device) -> Vec<Instance> {
    vec![
        Instance::new("CIM_ComputerSystemPackage")
            .with(
                "Antecedent",
                Epr::new(names::class_uri("CIM_Chassis"))
                    .with("CreationClassName", "CIM_Chassis")
                    .with("Tag", "CIM_Chassis"),
            )
            .with("Dependent", managed_system_epr())
            .with("PlatformGUID", device.identity.platform_guid()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn the_amt_identity_carries_the_firmware_version() {
        let d = device("15.0");
        let amt = software_identities(&d)
            .into_iter()
            .find(|i| i.text("InstanceID") == Some("AMT"))
            .unwrap();
        assert_eq!(amt.text("VersionString"), Some("15.0.23"));
    }

    #[test]
    fn general_settings_put_keeps_the_realm_and_refuses_bad_values() {
        let d = device("11.8");
        let before = general_settings(&d).remove(0);
        let mut sent = before.clone();
        sent.set("HostName", "renamed");
        sent.set("DigestRealm", "Digest:00");
        put_general_settings(&d, &before, &sent).unwrap();
        let after = general_settings(&d).remove(0);
        assert_eq!(after.text("HostName"), Some("renamed"));
        assert_eq!(after.text("DigestRealm"), before.text("DigestRealm"));

        let mut bad = after.clone();
        bad.set("HostName", "other");
        bad.set("DDNSTTL", "many");
        assert_eq!(
            put_general_settings(&d, &after, &bad),
            Err(Fault::InvalidRepresentation)
        );
        assert_eq!(general_settings(&d).remove(0), after);
    }
}
