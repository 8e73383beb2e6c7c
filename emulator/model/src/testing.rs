//! Devices for the tests and benchmarks of this crate and the crates above
//! it (a profile by name, the embedded defaults otherwise).

use std::sync::Arc;

use crate::device::{Device, DeviceConfig, Firmware};

/// A device with the embedded defaults on the named firmware profile.
///
/// # Panics
/// When no profile has that name: a mistake in the calling test.
pub fn device(firmware: &str) -> Arc<Device> {
    let firmware = Firmware::by_name(firmware)
        .unwrap_or_else(|| panic!("no firmware profile named {firmware}"));
    Device::new(DeviceConfig::new("class-test", firmware))
}
