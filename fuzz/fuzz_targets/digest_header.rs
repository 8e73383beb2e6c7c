//! The Authorization header parser and the response arithmetic on any
//! text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(creds) = amtemu_wire::digest::parse_authorization(text) {
        let _ = amtemu_wire::digest::expected_response(&creds, "00", "POST", data);
    }
});
