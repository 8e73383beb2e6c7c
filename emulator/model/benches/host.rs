//! The simulated host's hot paths, under tokio's paused clock so only CPU
//! is measured:
//!
//! - a whole disk boot, from power-on to the login prompt, generated on the
//!   first read (what every booted device costs once);
//! - a keystroke through `console_input` and back out of `console_read`
//!   (the SOL echo path, without the network);
//! - a shell command and its answer;
//! - the ISO 9660 descriptor parse the IDE-R boot does.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use amtemu_model::device::{Device, DeviceConfig, Firmware, HostPower, PowerRequest};
use amtemu_model::host::media;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

fn device(power: HostPower) -> Arc<Device> {
    let mut config = DeviceConfig::new("bench", Firmware::by_name("11.8").expect("11.8"));
    config.power = power;
    Device::new(config)
}

fn read_all(device: &Device, cursor: &mut u64) -> usize {
    device.console_read(cursor).len()
}

fn host(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    println!(
        "idle device: {} bytes for its host slot; a booted host: {} bytes plus its output",
        std::mem::size_of::<Option<Box<amtemu_model::host::Host>>>(),
        std::mem::size_of::<amtemu_model::host::Host>()
    );

    c.bench_function("host/boot to login (first read)", |b| {
        b.iter(|| {
            let d = device(HostPower::S5);
            d.request_power(PowerRequest::On).expect("on");
            rt.block_on(tokio::time::advance(Duration::from_secs(30)));
            let mut cursor = 0;
            black_box(read_all(&d, &mut cursor))
        })
    });

    let d = device(HostPower::S0);
    let mut cursor = d.console_cursor();
    read_all(&d, &mut cursor);
    d.console_input(b"root\ramtemu\r");
    read_all(&d, &mut cursor);
    c.bench_function("host/keystroke echo", |b| {
        b.iter(|| {
            // A key and its erasure, so the line stays short.
            d.console_input(black_box(b"x"));
            let n = read_all(&d, &mut cursor);
            d.console_input(b"\x7f");
            n + read_all(&d, &mut cursor)
        })
    });
    c.bench_function("host/shell command (uname -a)", |b| {
        b.iter(|| {
            d.console_input(black_box(b"uname -a\r"));
            read_all(&d, &mut cursor)
        })
    });

    let mut block = vec![0u8; media::CD_BLOCK];
    block[0] = 1;
    block[1..6].copy_from_slice(b"CD001");
    block[6] = 1;
    block[40..72].copy_from_slice(b"UBUNTU_24_04_LTS                ");
    c.bench_function("host/iso9660 pvd", |b| {
        b.iter(|| media::iso9660_pvd(black_box(&block)))
    });
}

criterion_group!(benches, host);
criterion_main!(benches);
