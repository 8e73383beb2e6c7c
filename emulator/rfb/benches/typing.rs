//! Bytes and CPU per KVM update in a typing session, at the RFB layer: a
//! login prompt on the VGA text screen, one character echoed per update,
//! the session answering MeshCommander's incremental request with the
//! changed tiles (Raw, or Intel RLE in one zlib stream), 16 bpp.
//!
//!     cargo bench -p amtemu-rfb --bench typing
//!
//! Besides criterion's time per update (what one update costs the
//! emulator's CPU: rendering the echo, finding changed tiles, encoding),
//! it prints the bytes each update puts on the wire.

use criterion::{Criterion, criterion_group, criterion_main};

use amtemu_rfb::messages::ClientMessage;
use amtemu_rfb::{Encoding, Event, Rect, Screen, Session, SessionConfig};

/// A session past ServerInit with `encodings`, the full screen sent.
fn session(screen: &Screen, encodings: Vec<Encoding>) -> Session {
    let mut s = Session::new(SessionConfig::redirection(), 720, 400);
    let mut events: Vec<Event> = Vec::new();
    let mut hello = b"RFB 003.008\n".to_vec();
    hello.extend_from_slice(&[1, 1]);
    ClientMessage::SetEncodings(encodings).encode(&mut hello);
    s.receive(&hello, &mut events).expect("handshake");
    request(&mut s);
    s.poll_update(screen.framebuffer()).expect("first update");
    s.take_output();
    s
}

fn request(s: &mut Session) {
    let mut msg = Vec::new();
    ClientMessage::FramebufferUpdateRequest {
        incremental: true,
        rect: Rect::new(0, 0, 720, 400),
    }
    .encode(&mut msg);
    s.receive(&msg, &mut Vec::new()).expect("request");
}

/// One keystroke's echo and the update that carries it; its bytes.
fn keystroke(s: &mut Session, screen: &mut Screen, i: usize) -> usize {
    // Back to the prompt's end every 40 characters, as a line editor
    // erasing a word would.
    if i.is_multiple_of(40) {
        screen.feed(b"\r\x1b[Kamt-0001 login: ");
    }
    screen.feed(&[b'a' + (i % 26) as u8]);
    request(s);
    s.poll_update(screen.framebuffer()).expect("update");
    s.take_output().len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("kvm_typing_update");
    for (name, encodings) in [
        ("raw", vec![Encoding::RAW]),
        ("intel_rle", vec![Encoding::INTEL_RLE, Encoding::RAW]),
    ] {
        let mut screen = Screen::new();
        screen.feed(b"\x1b[2J\x1b[24;1HDebian GNU/Linux amt-0001 tty1\r\n\r\namt-0001 login: ");
        let mut s = session(&screen, encodings.clone());
        let bytes: usize = (0..1000).map(|i| keystroke(&mut s, &mut screen, i)).sum();
        println!(
            "{name}: {:.0} bytes per update (mean of 1000 keystrokes)",
            bytes as f64 / 1000.0
        );
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                keystroke(&mut s, &mut screen, i)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
