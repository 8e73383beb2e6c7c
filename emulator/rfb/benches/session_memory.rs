//! Heap bytes one open KVM session holds at the RFB layer: the host's
//! screen (text grid and framebuffer) and the session (buffers, tile
//! generations, encoder state), after the handshake, the whole first
//! screen and 100 typed characters, counted by a counting allocator.
//! Also the bytes and time per update of that typing, and of a full
//! screen.
//!
//!     cargo bench -p amtemu-rfb --bench session_memory
//!
//! Sessions are made 100 at a time and the live bytes divided, so
//! per-thread state (a shared compressor) shows as what it is: shared.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use amtemu_rfb::messages::ClientMessage;
use amtemu_rfb::{Encoding, Event, Rect, Screen, Session, SessionConfig};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn request(s: &mut Session, incremental: bool) {
    let mut msg = Vec::new();
    ClientMessage::FramebufferUpdateRequest {
        incremental,
        rect: Rect::new(0, 0, 720, 400),
    }
    .encode(&mut msg);
    s.receive(&msg, &mut Vec::new()).expect("request");
}

/// A screen at a login prompt and a session past its first full update.
fn open(encodings: &[Encoding]) -> (Screen, Session, usize) {
    let mut screen = Screen::new();
    screen.feed(b"\x1b[2J\x1b[24;1HDebian GNU/Linux amt-0001 tty1\r\n\r\namt-0001 login: ");
    let mut s = Session::new(SessionConfig::redirection(), 720, 400);
    let mut hello = b"RFB 003.008\n".to_vec();
    hello.extend_from_slice(&[1, 1]);
    ClientMessage::SetEncodings(encodings.to_vec()).encode(&mut hello);
    s.receive(&hello, &mut Vec::<Event>::new())
        .expect("handshake");
    request(&mut s, true);
    s.poll_update(screen.framebuffer()).expect("first update");
    let first = s.take_output().len();
    (screen, s, first)
}

fn typing(screen: &mut Screen, s: &mut Session, i: usize) -> usize {
    screen.feed(&[b'a' + (i % 26) as u8]);
    request(s, true);
    s.poll_update(screen.framebuffer()).expect("update");
    s.take_output().len()
}

fn main() {
    for (name, encodings) in [
        ("raw", vec![Encoding::RAW]),
        ("intel_rle", vec![Encoding::INTEL_RLE, Encoding::RAW]),
    ] {
        const N: usize = 100;
        let before = LIVE.load(Ordering::Relaxed);
        let mut sessions = Vec::with_capacity(N);
        let mut first = 0;
        for _ in 0..N {
            let (mut screen, mut s, f) = open(&encodings);
            first = f;
            for i in 0..100 {
                typing(&mut screen, &mut s, i);
            }
            sessions.push((screen, s));
        }
        let per_session = (LIVE.load(Ordering::Relaxed) - before) as usize / N;
        let (screen, s) = &mut sessions[0];
        let started = Instant::now();
        let bytes: usize = (0..1000).map(|i| typing(screen, s, i)).sum();
        let per_key = started.elapsed() / 1000;
        let started = Instant::now();
        for _ in 0..20 {
            request(s, false);
            s.poll_update(screen.framebuffer()).expect("full");
            s.take_output();
        }
        let per_full = started.elapsed() / 20;
        println!(
            "{name}: {per_session} heap bytes per open session; first screen {first} B; \
             typing {:.0} B and {per_key:?} per update; full screen {per_full:?}",
            bytes as f64 / 1000.0
        );
    }
}
