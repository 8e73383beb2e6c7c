//! RFB from a hostile viewer: a KVM session (over redirection, and on
//! 5900 with VNC authentication) fed any bytes, producing updates of a
//! text screen.
#![no_main]

use std::sync::LazyLock;

use amtemu_rfb::screen::Screen;
use amtemu_rfb::session::{Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

/// Rendered once: drawing 720x400 pixels per input would cost more than
/// the session code under test.
static SCREEN: LazyLock<Screen> = LazyLock::new(|| {
    let mut screen = Screen::new();
    screen.feed(b"login: ");
    screen
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let config = if which & 1 == 0 {
        SessionConfig::redirection()
    } else {
        SessionConfig::port_5900(b"P@ssw0rd", [9; 16])
    };
    let fb = SCREEN.framebuffer();
    let mut session = Session::new(config, fb.width(), fb.height());
    let mut events = Vec::new();
    let _ = session.receive(bytes, &mut events);
    let _ = session.poll_update(fb);
    let _ = session.take_output();
});
