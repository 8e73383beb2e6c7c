//! Network settings of the ME's interfaces: AMT_EthernetPortSettings (IPv4,
//! link policy) and IPS_IPv6PortSettings. The emulated desktop has a wired
//! port only, so each class has the one instance numbered 0.

use std::net::Ipv6Addr;

use super::{Access, CLASS, Class, Method, output, put_bool, put_text, put_uint};
use amtemu_model::device::{
    Device, Feature, LINK_POLICIES, LinkPreference, NetworkRefusal, NetworkSettings,
};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_EthernetPortSettings",
        keys: &["InstanceID"],
        instances: ethernet_ports,
        put: Some(put_ethernet_port),
        methods: &[Method {
            name: "SetLinkPreference",
            requires: None,
            call: set_link_preference,
        }],
        read: Access::GENERAL_INFO,
        write: Access::ADMIN,
        invoke: Access::ADMIN,
        ..CLASS
    },
    Class {
        name: "IPS_IPv6PortSettings",
        requires: Some(Feature::Ipv6),
        keys: &["InstanceID"],
        instances: ipv6_ports,
        put: Some(put_ipv6_port),
        read: Access::GENERAL_INFO,
        write: Access::ADMIN,
        ..CLASS
    },
    Class {
        name: "IPS_HostIPSettings",
        requires: Some(Feature::HostIpSettings),
        keys: &["InstanceID"],
        instances: host_ip_settings,
        read: Access::GENERAL_INFO,
        ..CLASS
    },
];

/// The host's own addressing as its OS agent reports it. The simulated host
/// runs no agent that reports, so firmware's default stands: DHCP off and
/// no addresses, as a device whose host never wrote the class answers.
fn host_ip_settings(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT: Host IP Settings";
    vec![
        Instance::new("IPS_HostIPSettings")
            .with("DHCPEnabled", false)
            .with("ElementName", name)
            .with("InstanceID", name),
    ]
}

const WIRED_PORT: &str = "Intel(r) AMT Ethernet Port Settings 0";
const IPV6_PORT: &str = "Intel(r) IPS IPv6 Settings 0";

/// How the firmware refuses a bad value in an intrinsic operation (as an
/// InternalError fault) or a method (ReturnValue).
const INVALID: PtStatus = PtStatus::InvalidParameter;

/// The PT_STATUS a network refusal answers with.
fn status(refusal: NetworkRefusal) -> PtStatus {
    match refusal {
        NetworkRefusal::InvalidAddress => PtStatus::InvalidParameter,
        NetworkRefusal::InvalidNetmask => PtStatus::InvalidNetmask,
    }
}

fn ethernet_ports(device: &Device) -> Vec<Instance> {
    vec![wired_port(&device.network(), &device.identity.mac)]
}

/// The wired port as the firmware reports it. Addresses it does not have
/// are left out rather than sent empty. LinkPreference, LinkControl,
/// ConsoleTcpMaxRetransmissions and WLANLinkProtectionLevel belong to the
/// wireless port, and real firmware leaves them out of the wired one.
fn wired_port(n: &NetworkSettings, mac: &str) -> Instance {
    let present = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Instance::new("AMT_EthernetPortSettings")
        .with("DHCPEnabled", n.dhcp_enabled)
        .with_opt("DefaultGateway", present(&n.default_gateway))
        .with("ElementName", "Intel(r) AMT Ethernet Port Settings")
        // Reported in both modes: the leased address under DHCP.
        .with_opt("IPAddress", present(&n.ip_address))
        .with("InstanceID", WIRED_PORT)
        .with("IpSyncEnabled", n.ip_sync_enabled)
        .with("LinkIsUp", true)
        .with_array("LinkPolicy", n.link_policy.iter().copied())
        .with("MACAddress", mac)
        // 0: integrated LAN.
        .with("PhysicalConnectionType", 0)
        .with_opt("PrimaryDNS", present(&n.primary_dns))
        .with_opt("SecondaryDNS", present(&n.secondary_dns))
        .with("SharedDynamicIP", true)
        .with("SharedMAC", true)
        .with("SharedStaticIp", n.shared_static_ip)
        .with_opt("SubnetMask", present(&n.subnet_mask))
}

/// Clients send back the whole instance from their Get. The mode flags
/// and the link policy always apply; the addresses only where the device
/// takes them ([`NetworkSettings::addresses_writable`]), so values sent
/// back for read-only addresses are not even read. Nothing changes unless
/// the result is a usable configuration.
fn put_ethernet_port(device: &Device, _current: &Instance, input: &Instance) -> Result<(), Fault> {
    device
        .configure_network(|n| {
            put_bool(input, "DHCPEnabled", &mut n.dhcp_enabled)?;
            put_bool(input, "IpSyncEnabled", &mut n.ip_sync_enabled)?;
            put_bool(input, "SharedStaticIp", &mut n.shared_static_ip)?;
            put_link_policy(input, &mut n.link_policy)?;
            if n.addresses_writable() {
                put_text(input, "IPAddress", &mut n.ip_address)?;
                put_text(input, "SubnetMask", &mut n.subnet_mask)?;
                put_text(input, "DefaultGateway", &mut n.default_gateway)?;
                put_text(input, "PrimaryDNS", &mut n.primary_dns)?;
                put_text(input, "SecondaryDNS", &mut n.secondary_dns)?;
            }
            Ok(())
        })?
        .map_err(|r| Fault::InternalError(status(r).into()))
}

/// LinkPolicy is repeated elements (a plain value when there is one); each
/// must be one of the known values.
fn put_link_policy(input: &Instance, slot: &mut Vec<u16>) -> Result<(), Fault> {
    let Some(value) = input.get("LinkPolicy") else {
        return Ok(());
    };
    let mut policy = Vec::new();
    for item in value.items() {
        let v = item.as_int().ok_or(Fault::InvalidRepresentation)?;
        let v = u16::try_from(v)
            .ok()
            .filter(|v| LINK_POLICIES.contains(v))
            .ok_or(Fault::InternalError(INVALID.into()))?;
        if !policy.contains(&v) {
            policy.push(v);
        }
    }
    *slot = policy;
    Ok(())
}

/// LinkPreference 1 gives the link to the ME, 2 to the host; Timeout (up to
/// 65535 seconds) bounds an ME preference. Only the preference is kept.
fn set_link_preference(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "SetLinkPreference";
    let preference = input
        .int("LinkPreference")
        .and_then(LinkPreference::from_cim);
    let timeout_ok = input
        .get("Timeout")
        .is_none_or(|t| t.as_int().is_some_and(|t| (0..=65535).contains(&t)));
    let (Some(preference), true) = (preference, timeout_ok) else {
        return Ok(output(METHOD, INVALID.into()));
    };
    device.set_link_preference(preference);
    Ok(output(METHOD, PtStatus::Success.into()))
}

/// IPv6 is unconfigured on the emulated port, as the fixture shows a fresh
/// device: no manual address, router or DNS (`::`), and a randomized
/// interface ID (InterfaceIDType 0), so ManualInterfaceID is all zeros.
fn ipv6_ports(_: &Device) -> Vec<Instance> {
    let none = "::";
    vec![
        Instance::new("IPS_IPv6PortSettings")
            .with("CurrentDefaultRouter", none)
            .with("CurrentPrimaryDNS", none)
            .with("CurrentSecondaryDNS", none)
            .with("DefaultRouter", none)
            .with("ElementName", IPV6_PORT)
            .with("IPv6Address", none)
            .with("InstanceID", IPV6_PORT)
            .with("InterfaceIDType", 0)
            .with("ManualInterfaceID", "0000000000000000")
            .with("PrimaryDNS", none)
            .with("SecondaryDNS", none),
    ]
}

/// The device keeps no IPv6 configuration, so a Put is checked and accepted
/// but changes nothing: a well-formed request succeeds, as it would on
/// firmware where the host's IPv6 stack then overrides it.
fn put_ipv6_port(_: &Device, _current: &Instance, input: &Instance) -> Result<(), Fault> {
    let invalid = Fault::InternalError(INVALID.into());
    for name in ["IPv6Address", "DefaultRouter", "PrimaryDNS", "SecondaryDNS"] {
        let Some(value) = input.get(name) else {
            continue;
        };
        let text = value.as_text().ok_or(Fault::InvalidRepresentation)?;
        if text.parse::<Ipv6Addr>().is_err() {
            return Err(invalid);
        }
    }
    let mut id_type = 0u8;
    put_uint(input, "InterfaceIDType", &mut id_type)?;
    // 0 randomized, 1 Intel ID (from the MAC), 2 manual.
    if id_type > 2 {
        return Err(invalid);
    }
    if let Some(value) = input.get("ManualInterfaceID") {
        let text = value.as_text().ok_or(Fault::InvalidRepresentation)?;
        if text.len() != 16 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;
    use amtemu_wire::wsman::value::Value;

    fn wired(d: &Device) -> Instance {
        ethernet_ports(d).remove(0)
    }

    fn static_put(current: &Instance) -> Instance {
        let mut sent = current.clone();
        sent.set("DHCPEnabled", "false");
        sent.set("IpSyncEnabled", "false");
        sent.set("SharedStaticIp", "false");
        sent.set("IPAddress", "192.168.10.20");
        sent.set("SubnetMask", "255.255.255.0");
        sent.set("DefaultGateway", "192.168.10.1");
        sent.set("PrimaryDNS", "192.168.10.2");
        sent
    }

    #[test]
    fn the_wired_port_is_the_only_one() {
        let d = device("11.8");
        let ports = ethernet_ports(&d);
        assert_eq!(ports.len(), 1);
        let port = &ports[0];
        assert_eq!(port.text("InstanceID"), Some(WIRED_PORT));
        assert_eq!(port.text("MACAddress"), Some(d.identity.mac.as_str()));
        assert_eq!(port.bool("DHCPEnabled"), Some(true));
        assert_eq!(port.text("IPAddress"), Some("127.0.0.1"));
        assert_eq!(port.int("PhysicalConnectionType"), Some(0));
        assert!(port.get("LinkPreference").is_none());
        assert!(port.get("DefaultGateway").is_none());
        assert_eq!(
            port.get("LinkPolicy"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Int(14),
                Value::Int(16)
            ]))
        );
    }

    #[test]
    fn a_static_configuration_is_what_the_next_read_returns() {
        let d = device("11.8");
        let before = wired(&d);
        let mut sent = static_put(&before);
        sent.set(
            "LinkPolicy",
            Value::Array(vec![Value::text("1"), Value::text("14")]),
        );
        put_ethernet_port(&d, &before, &sent).unwrap();
        let after = wired(&d);
        assert_eq!(after.bool("DHCPEnabled"), Some(false));
        assert_eq!(after.bool("IpSyncEnabled"), Some(false));
        assert_eq!(after.text("IPAddress"), Some("192.168.10.20"));
        assert_eq!(after.text("SubnetMask"), Some("255.255.255.0"));
        assert_eq!(after.text("DefaultGateway"), Some("192.168.10.1"));
        assert_eq!(after.text("PrimaryDNS"), Some("192.168.10.2"));
        assert!(after.get("SecondaryDNS").is_none());
        assert_eq!(
            after.get("LinkPolicy"),
            Some(&Value::Array(vec![Value::Int(1), Value::Int(14)]))
        );
        // Read-only properties sent back are ignored.
        assert_eq!(after.text("MACAddress"), before.text("MACAddress"));
    }

    #[test]
    fn bad_addresses_are_refused_and_change_nothing() {
        let d = device("11.8");
        let before = wired(&d);
        for (name, value, status) in [
            ("IPAddress", "192.168.10", 36),
            ("IPAddress", "not an address", 36),
            ("IPAddress", "0.0.0.0", 36),
            ("SubnetMask", "255.0.255.0", 37),
            ("DefaultGateway", "192.168.10.256", 36),
        ] {
            let mut sent = static_put(&before);
            sent.set(name, value);
            assert_eq!(
                put_ethernet_port(&d, &before, &sent),
                Err(Fault::InternalError(status)),
                "{name}={value}"
            );
            assert_eq!(wired(&d), before);
        }
        let mut sent = static_put(&before);
        sent.set("DHCPEnabled", "maybe");
        assert_eq!(
            put_ethernet_port(&d, &before, &sent),
            Err(Fault::InvalidRepresentation)
        );
        let mut sent = before.clone();
        sent.set("LinkPolicy", Value::Array(vec![Value::text("2")]));
        assert_eq!(
            put_ethernet_port(&d, &before, &sent),
            Err(Fault::InternalError(36))
        );
        assert_eq!(wired(&d), before);
    }

    #[test]
    fn addresses_are_read_only_under_dhcp() {
        let d = device("11.8");
        let before = wired(&d);
        let mut sent = before.clone();
        sent.set("IPAddress", "10.9.8.7");
        sent.set("SubnetMask", "garbage");
        put_ethernet_port(&d, &before, &sent).unwrap();
        assert_eq!(wired(&d), before);
    }

    #[test]
    fn set_link_preference_checks_its_arguments() {
        let d = device("11.8");
        let call = |args: Instance| {
            set_link_preference(&d, &wired(&d), &args)
                .unwrap()
                .int("ReturnValue")
        };
        let input = || Instance::new("SetLinkPreference_INPUT");
        assert_eq!(
            call(input().with("LinkPreference", "1").with("Timeout", "60")),
            Some(0)
        );
        assert_eq!(d.network().link_preference, 1);
        assert_eq!(call(input().with("LinkPreference", "3")), Some(36));
        assert_eq!(call(input().with("Timeout", "60")), Some(36));
        assert_eq!(
            call(input().with("LinkPreference", "2").with("Timeout", "70000")),
            Some(36)
        );
        assert_eq!(d.network().link_preference, 1);
    }

    #[test]
    fn ipv6_settings_come_with_the_feature() {
        use crate::classes::lookup;
        use amtemu_model::device::Firmware;
        assert!(lookup("IPS_IPv6PortSettings", Firmware::by_name("5.2").unwrap()).is_none());
        assert!(lookup("IPS_IPv6PortSettings", Firmware::by_name("11.8").unwrap()).is_some());
        let d = device("11.8");
        let port = ipv6_ports(&d).remove(0);
        assert_eq!(port.text("InstanceID"), Some(IPV6_PORT));
        let mut sent = port.clone();
        sent.set("IPv6Address", "2001:db8::5");
        assert_eq!(put_ipv6_port(&d, &port, &sent), Ok(()));
        sent.set("IPv6Address", "2001:db8::zz");
        assert_eq!(
            put_ipv6_port(&d, &port, &sent),
            Err(Fault::InternalError(36))
        );
    }
}
