//! The setup-mode hello parser (what a provisioning server reads).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = amtemu_wire::hello::Hello::parse(data) {
        // What parses writes back to bytes that parse the same.
        let again = amtemu_wire::hello::Hello::parse(&hello.to_bytes());
        assert_eq!(again.ok().map(|h| h.body), Some(hello.body));
    }
});
