//! The host's screen as KVM shows it, whatever draws it: a [`ScreenView`]
//! is one look at it, opened by the host ([`HostPort::open_screen`]) when
//! a KVM session is past its handshake or a screenshot is taken, and
//! closed with it, so a device nobody watches holds no framebuffer and
//! no connection to a display. It lives with [`HostPort`] because each
//! host supplies its own; the KVM code drives any view the same way and
//! does not know which host is behind it.
//!
//! [`TextView`] is the simulated host's: an `amtemu_rfb::Screen` fed from
//! the host's console output, switched to "no signal" while the host is
//! off, with the user-consent code on top while it is displayed. A new
//! one replays the console output the host still retains, as a SOL
//! console attaching does, which rebuilds the text screen from the escape
//! sequences in it. A QEMU host's view is its VM's display (the qemu
//! module's `display`).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;
use tokio::time::Instant;

use amtemu_rfb::Screen;
use amtemu_rfb::framebuffer::Framebuffer;
use amtemu_rfb::keys::KeyTranslator;

use super::HostPort;

/// A future a view hands out to wait on.
pub type Wait<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One look at the host's screen.
pub trait ScreenView: Send {
    /// Catches up with the host: new output or pixels, power, consent.
    fn refresh(&mut self);
    fn framebuffer(&self) -> &Framebuffer;
    /// Whether the picture is the host's yet: a remote display's first
    /// frame may still be on its way, and until then no update goes out
    /// (a viewer's first picture would be a blank one).
    fn is_ready(&self) -> bool {
        true
    }
    /// BELs the host sent since the last call.
    fn take_bells(&mut self) -> u32 {
        0
    }
    /// A key from the viewer (an X keysym).
    fn key(&mut self, down: bool, keysym: u32);
    /// The viewer's pointer.
    fn pointer(&mut self, buttons: u8, x: u16, y: u16);
    /// Resolves when the picture may have changed ([`ScreenView::refresh`]
    /// then shows how).
    fn changed(&mut self) -> Wait<'_>;
    /// When the view wants a refresh though nothing said it changed.
    fn next_due(&self) -> Option<Instant>;
}

/// The simulated host's text console, drawn.
pub struct TextView<'a, H: HostPort + ?Sized> {
    host: &'a H,
    screen: Screen,
    cursor: u64,
    consent: Option<u32>,
    keys: KeyTranslator,
    watch: watch::Receiver<u64>,
    watch_open: bool,
}

impl<'a, H: HostPort + ?Sized> TextView<'a, H> {
    /// Builds the screen from what the host retains now.
    pub fn new(host: &'a H) -> TextView<'a, H> {
        let mut view = TextView {
            host,
            screen: Screen::new(),
            cursor: host.console_cursor(),
            consent: None,
            keys: KeyTranslator::default(),
            watch: host.host_watch(),
            watch_open: true,
        };
        view.refresh();
        view
    }

    /// The text on screen row `row` (tests read the login prompt with it).
    pub fn row_text(&self, row: u16) -> String {
        self.screen.text().row_text(row)
    }
}

impl<H: HostPort + ?Sized> ScreenView for TextView<'_, H> {
    fn refresh(&mut self) {
        let fresh = self.host.console_read(&mut self.cursor);
        if self.host.host_powered() {
            self.screen.set_powered(true);
            self.screen.feed(&fresh);
        } else {
            // What it printed before going off is gone with the picture.
            self.screen.set_powered(false);
        }
        let code = self.host.consent_code();
        if code != self.consent {
            self.consent = code;
            self.screen.set_consent_code(code);
        }
    }

    fn framebuffer(&self) -> &Framebuffer {
        self.screen.framebuffer()
    }

    fn take_bells(&mut self) -> u32 {
        self.screen.take_bells()
    }

    fn key(&mut self, down: bool, keysym: u32) {
        if let Some(bytes) = self.keys.key(down, keysym) {
            self.host.console_input(&bytes);
        }
    }

    // A text console has no pointer.
    fn pointer(&mut self, _buttons: u8, _x: u16, _y: u16) {}

    fn changed(&mut self) -> Wait<'_> {
        Box::pin(async {
            if self.watch_open {
                self.watch_open = self.watch.changed().await.is_ok();
            } else {
                std::future::pending::<()>().await;
            }
        })
    }

    fn next_due(&self) -> Option<Instant> {
        self.host.console_next_due()
    }
}
