//! The redirection codec on the SOL hot path: decoding a console's
//! keystroke (0x28) and encoding the host's output (0x2A).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use amtemu_wire::redirection::{ClientMessage, DeviceMessage};

fn keystroke_decode(c: &mut Criterion) {
    let mut wire = Vec::new();
    ClientMessage::SolData {
        seq: 7,
        data: b"x".to_vec(),
    }
    .encode(&mut wire);
    c.bench_function("redirect/decode keystroke", |b| {
        b.iter(|| {
            let (msg, used) = ClientMessage::decode(black_box(&wire))
                .expect("valid")
                .expect("complete");
            assert_eq!(used, wire.len());
            msg
        })
    });
}

fn output_encode(c: &mut Criterion) {
    // A line of console output, as a booting host prints it.
    let msg = DeviceMessage::SolData {
        seq: 7,
        data: b"Loading Linux 6.1.0-18-amd64 ...                                    \r\n".to_vec(),
    };
    let mut out = Vec::with_capacity(128);
    c.bench_function("redirect/encode console line", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).encode(&mut out);
            out.len()
        })
    });
}

criterion_group!(benches, keystroke_decode, output_encode);
criterion_main!(benches);
