//! The WS-Man envelope parser on any bytes: a request or a fault, never a
//! panic; and the borrowing reader for the common shapes answers only what
//! the general parser answers.
#![no_main]

use amtemu_wire::wsman::request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = request::parse(data);
    if let Some(borrowed) = request::parse_borrowed(data) {
        assert_eq!(request::parse_general(data), Ok(borrowed));
    }
});
