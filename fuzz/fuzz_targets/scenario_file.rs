//! Scenario files as people write them (TOML): a scenario or a message
//! that points at the line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = amtemu_server::scenario::parse(text, "fuzz.toml");
    }
});
