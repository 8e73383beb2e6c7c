//! The whole WS-Man engine as an administrator calls it: envelope, class
//! lookup, selectors, Put bodies and every method's argument parsing, on
//! one device per profile that lives across inputs (as a real one does).
//! The reply must always be an envelope the device can write.
#![no_main]

use std::sync::{Arc, LazyLock};

use amtemu_model::device::users::Caller;
use amtemu_model::device::{Device, DeviceConfig, Firmware};
use amtemu_wsman::WsmanState;
use libfuzzer_sys::fuzz_target;

static DEVICES: LazyLock<Vec<(Arc<Device>, WsmanState)>> = LazyLock::new(|| {
    ["3.2.1", "6.2", "11.8", "16.1"]
        .into_iter()
        .filter_map(Firmware::by_name)
        .map(|fw| (Device::new(DeviceConfig::new("fuzz", fw)), WsmanState::default()))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (device, state) = &DEVICES[usize::from(pick) % DEVICES.len()];
    let reply = amtemu_wsman::handle(device, state, &Caller::Admin, body);
    assert!(reply.xml.starts_with("<?xml"), "a reply that is no envelope");
});
