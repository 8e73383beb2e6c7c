use super::*;

fn config() -> DeviceConfig {
    DeviceConfig::new("test", Firmware::by_name("11.8").unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_power_button_toggles_and_the_os_shuts_down_only_when_running() {
    let device = Device::new(config());
    assert!(device.os_shutdown());
    assert_eq!(device.with_state(|s| s.power.state()), HostPower::S5);
    assert!(!device.os_shutdown());
    device.press_power_button().unwrap();
    assert_eq!(
        device.press_power_button(),
        Err(PowerRefusal::Busy),
        "a press while the host is still coming up"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(device.with_state(|s| s.power.state()), HostPower::S0);
    device.press_power_button().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(device.with_state(|s| s.power.state()), HostPower::S5);
}

#[tokio::test(start_paused = true)]
async fn a_power_cycle_lands_on_time_and_consumes_boot_options() {
    let device = Device::new(config());
    let mut events = device.subscribe();
    device.with_state(|s| {
        s.nvram.boot.boot_order = Some(BootSource::Pxe);
        s.nvram.boot.is_next = true;
    });
    device.request_power(PowerRequest::PowerCycle).unwrap();
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerRequested(PowerRequest::PowerCycle)
    );
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerChanged {
            from: HostPower::S0,
            to: HostPower::S5
        }
    );
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerChanged {
            from: HostPower::S5,
            to: HostPower::S0
        }
    );
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::Booted(BootTarget::Pxe)
    );
    device.with_state(|s| {
        assert_eq!(s.nvram.boot, BootSettings::cleared());
        assert_eq!(s.last_boot, BootTarget::Pxe);
        assert!(s.nvram.message_log.records().len() >= 4);
    });
}

#[tokio::test(start_paused = true)]
async fn an_outside_host_lands_its_transitions_when_it_has_settled() {
    let device = Device::new(config());
    device.attach_outside_host(Duration::from_secs(60));
    device.request_power(PowerRequest::OffSoftGraceful).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        device.power_status().state,
        HostPower::S0,
        "waits for the host"
    );
    assert_eq!(device.host_settled(), HostSettled::Transition);
    assert_eq!(device.power_status().state, HostPower::S5);
    assert_eq!(device.host_settled(), HostSettled::AlreadyOff);
    // A cycle: the off half lands when the host is off, the on half a
    // boot delay later, and no simulated host runs.
    device.request_power(PowerRequest::On).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    device.request_power(PowerRequest::PowerCycle).unwrap();
    assert_eq!(device.host_settled(), HostSettled::Transition);
    assert_eq!(device.power_status().state, HostPower::S5);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(device.power_status().state, HostPower::S0);
    assert!(device.with_state(|s| s.host.is_none()));
    // The host going off by itself.
    assert_eq!(device.host_settled(), HostSettled::PoweredOff);
    assert_eq!(device.power_status().state, HostPower::S5);
    // With nobody settling it, the deadline lands it.
    device.request_power(PowerRequest::On).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    device.request_power(PowerRequest::OffSoftGraceful).unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(device.power_status().state, HostPower::S5);
}

/// An outside host's OS sleeping by itself is S3 (CIM 4) at once; waking by
/// itself is S0 with no boot; a requested sleep lands when the host has
/// suspended, and a power-on from S3 is a boot the host hears.
#[tokio::test(start_paused = true)]
async fn an_outside_host_sleeps_and_wakes_by_itself_or_on_request() {
    let device = Device::new(config());
    device.attach_outside_host(Duration::from_secs(60));
    let mut events = device.subscribe();
    assert!(device.host_suspended());
    assert_eq!(device.power_status().state, HostPower::S3);
    assert_eq!(device.power_status().state.cim(), 4);
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerChanged {
            from: HostPower::S0,
            to: HostPower::S3
        }
    );
    assert!(!device.host_suspended(), "asleep already");
    assert!(device.host_woke());
    assert_eq!(device.power_status().state, HostPower::S0);
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerChanged {
            from: HostPower::S3,
            to: HostPower::S0
        }
    );
    assert!(events.try_recv().is_err(), "waking is no boot");
    assert!(!device.host_woke(), "awake already");

    // Requested: S0 until the host has suspended, then S3 at once.
    device.request_power(PowerRequest::SleepDeep).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(device.power_status().state, HostPower::S0);
    assert!(device.host_suspended());
    assert_eq!(device.power_status().state, HostPower::S3);
    // A power-on is a boot; the host's wake-up event afterwards changes
    // nothing more.
    device.request_power(PowerRequest::On).unwrap();
    assert!(!device.host_woke(), "the power-on is under way");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(device.power_status().state, HostPower::S0);
    assert!(!device.host_woke());

    // Off, the host neither sleeps nor wakes.
    device.force_power(HostPower::S5);
    assert!(!device.host_suspended());
    assert!(!device.host_woke());
    assert_eq!(device.power_status().state, HostPower::S5);
}

/// Forcing the host on (scenarios, the host OS's own power) is a boot from
/// its disk, which an outside host hears as one: a stopped VM starts.
#[tokio::test(start_paused = true)]
async fn forcing_the_host_on_is_a_boot_an_outside_host_hears() {
    let device = Device::new(config());
    device.attach_outside_host(Duration::from_secs(60));
    device.force_power(HostPower::S5);
    let mut events = device.subscribe();
    device.force_power(HostPower::S0);
    assert!(matches!(
        events.recv().await.unwrap(),
        DeviceEvent::PowerChanged {
            to: HostPower::S0,
            ..
        }
    ));
    assert_eq!(
        events.recv().await.unwrap(),
        DeviceEvent::Booted(BootTarget::Disk)
    );
    // Forcing the state it has already is no boot.
    device.force_power(HostPower::S0);
    assert!(events.try_recv().is_err());
}

#[test]
fn a_device_that_starts_provisioned_has_the_record_of_its_mode() {
    use crate::device::provisioning_record::Activation;
    let how = |fw: &str| {
        crate::testing::device(fw)
            .with_state(|s| s.nvram.provisioning_record.clone().map(|r| r.how))
    };
    assert_eq!(how("11.8"), Some(Activation::Manual), "ACM: MEBx setup");
    assert_eq!(how("3.2.1"), None, "no record log before 6.2");
}
