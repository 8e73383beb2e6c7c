//! APF from a hostile MPS: the codec on any bytes, and a device-side
//! tunnel fed them after its handshake started.
#![no_main]

use amtemu_apf::{Config, Tunnel, Uuid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((_, used))) = amtemu_apf::codec::decode(rest) {
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
    }
    let mut tunnel = Tunnel::new(Config::new(Uuid([7; 16]), "user", "P@ssw0rd", &[16992, 16993]));
    tunnel.start();
    let _ = tunnel.receive(data);
    while tunnel.poll_event().is_some() {}
    let mut out = Vec::new();
    tunnel.write_transmit(&mut out);
});
