//! Lazy building: devices are made on first reach, once.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use super::source::{Layout, LayoutArgs};
use super::*;
use crate::tls::ca::Ca;
use amtemu_model::device::Firmware;

pub(crate) fn laid_fleet(count: usize) -> Fleet {
    let layout = Layout::new(LayoutArgs {
        range: 0..count,
        width: 7,
        first: Ipv4Addr::new(127, 40, 0, 1),
        port_step: None,
        base: Ports::default(),
        seed: "lazy".into(),
        prefix: "amt".into(),
        firmware: vec![
            Firmware::by_name("11.8").unwrap(),
            Firmware::by_name("6.2").unwrap(),
        ],
        make: Arc::new(|_, name, host, fw, address| {
            let mut config = DeviceConfig::new(name, fw);
            config.host_name = host.into();
            config.ip_address = address.to_string();
            config
        }),
    })
    .unwrap();
    let tls = Arc::new(TlsContext {
        ca: Ca::generate().unwrap(),
    });
    Fleet::from_source(DeviceSource::Laid(layout), tls, None, |_| {}).unwrap()
}

#[test]
fn nothing_is_built_until_reached() {
    let fleet = laid_fleet(100_000);
    assert_eq!(fleet.len(), 100_000);
    assert_eq!(fleet.built().count(), 0);
    let (endpoint, port) = fleet
        .lookup(SocketAddr::from(([127, 40, 1, 5], 16993)))
        .unwrap();
    assert_eq!(port, Port::Https);
    // .1.5 is the 254 + 5th address: index 258.
    assert_eq!(endpoint.device.name, "lazy/amt-0000259");
    assert_eq!(endpoint.device.firmware.name, "11.8");
    let built: Vec<usize> = fleet.built().map(|(i, _)| i).collect();
    assert_eq!(built, [258]);
    // .0 and .255 and addresses past the fleet name no device.
    assert!(
        fleet
            .lookup(SocketAddr::from(([127, 40, 1, 0], 16992)))
            .is_none()
    );
    assert!(
        fleet
            .lookup(SocketAddr::from(([127, 42, 0, 1], 16992)))
            .is_none()
    );
    assert!(
        fleet
            .lookup(SocketAddr::from(([127, 40, 0, 1], 1)))
            .is_none()
    );
    assert_eq!(fleet.built().count(), 1);
}

#[test]
fn a_device_reached_from_two_connections_at_once_is_built_once() {
    let fleet = laid_fleet(1000);
    let builds = Arc::new(AtomicUsize::new(0));
    let counted = builds.clone();
    fleet.on_build(Box::new(move |_, _, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    for index in 0..200 {
        let spec = fleet.spec(index).unwrap();
        let at = SocketAddr::new(spec.address, spec.ports.http);
        let gate = Barrier::new(2);
        let [a, b] = std::thread::scope(|s| {
            let reach = || {
                gate.wait();
                fleet.lookup(at).unwrap().0
            };
            let a = s.spawn(reach);
            let b = s.spawn(reach);
            [a.join().unwrap(), b.join().unwrap()]
        });
        assert!(Arc::ptr_eq(&a, &b), "device {index} built twice");
    }
    assert_eq!(builds.load(Ordering::SeqCst), 200);
    assert_eq!(fleet.built().count(), 200);
}

#[test]
fn a_hook_added_late_meets_each_built_device_once() {
    let fleet = laid_fleet(10);
    fleet.get(3).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    fleet.on_build(Box::new(move |i, source, _| {
        log.lock().unwrap().push((i, source));
    }));
    fleet.get(3).unwrap();
    fleet.get(7).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (3, IpAddr::from([127, 40, 0, 4])),
            (7, IpAddr::from([127, 40, 0, 8]))
        ]
    );
}

#[test]
fn devices_in_setup_mode_are_built_at_the_start_for_their_hellos() {
    let specs: Vec<DeviceSpec> = (0..4u8)
        .map(|i| {
            let mut config =
                DeviceConfig::new(&format!("s/{i}"), Firmware::by_name("11.8").unwrap());
            if i == 2 {
                config.setup.state = ProvisioningState::In;
            }
            DeviceSpec {
                config,
                address: IpAddr::from([127, 41, 0, i + 1]),
                ports: Ports::default(),
                tls_identity: None,
            }
        })
        .collect();
    let tls = Arc::new(TlsContext {
        ca: Ca::generate().unwrap(),
    });
    let fleet = Fleet::new(specs, tls, None).unwrap();
    let built: Vec<usize> = fleet.built().map(|(i, _)| i).collect();
    assert_eq!(built, [2]);
}
