//! The redirection codec on a byte stream as a console would send it:
//! decode message after message until the bytes run out or are refused.
#![no_main]

use amtemu_wire::redirection::{ClientMessage, DeviceMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((_, used))) = ClientMessage::decode(rest) {
        assert!(used > 0 && used <= rest.len(), "a decode that took {used} bytes");
        rest = &rest[used..];
    }
    let mut rest = data;
    while let Ok(Some((_, used))) = DeviceMessage::decode(rest) {
        assert!(used > 0 && used <= rest.len(), "a decode that took {used} bytes");
        rest = &rest[used..];
    }
});
