//! The WS-Man envelope parser on any bytes: a request or a fault, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = amtemu_wire::wsman::request::parse(data);
});
