//! The host's screen as KVM shows it: an `amtemu_rfb::Screen` fed from the
//! host's console output, switched to "no signal" while the host is off,
//! with the user-consent code on top while it is displayed.
//!
//! A view exists only while someone looks (a KVM session past its
//! handshake, or a screenshot being taken), so a device nobody watches
//! holds no framebuffer. A new view replays the console output the host
//! still retains, as a SOL console attaching does, which rebuilds the text
//! screen from the escape sequences in it.

use amtemu_rfb::Screen;
use amtemu_rfb::framebuffer::Framebuffer;

use crate::redirect::host_port::HostPort;

pub struct HostView {
    screen: Screen,
    cursor: u64,
    consent: Option<u32>,
}

impl HostView {
    /// Builds the screen from what the host retains now.
    pub fn new<H: HostPort + ?Sized>(host: &H) -> HostView {
        let mut view = HostView {
            screen: Screen::new(),
            cursor: host.console_cursor(),
            consent: None,
        };
        view.refresh(host);
        view
    }

    /// Catches up with the host: new console output, power, consent.
    pub fn refresh<H: HostPort + ?Sized>(&mut self, host: &H) {
        let fresh = host.console_read(&mut self.cursor);
        if host.host_powered() {
            self.screen.set_powered(true);
            self.screen.feed(&fresh);
        } else {
            // What it printed before going off is gone with the picture.
            self.screen.set_powered(false);
        }
        let code = host.consent_code();
        if code != self.consent {
            self.consent = code;
            self.screen.set_consent_code(code);
        }
    }

    pub fn framebuffer(&self) -> &Framebuffer {
        self.screen.framebuffer()
    }

    /// BELs the console sent since the last call.
    pub fn take_bells(&mut self) -> u32 {
        self.screen.take_bells()
    }

    /// The text on screen row `row` (tests read the login prompt with it).
    pub fn row_text(&self, row: u16) -> String {
        self.screen.text().row_text(row)
    }
}

/// The host's screen now as a PNG, for people (`amtemu ctl screenshot`).
pub fn screenshot<H: HostPort + ?Sized>(host: &H) -> Result<Vec<u8>, String> {
    HostView::new(host)
        .framebuffer()
        .to_png()
        .map_err(|e| e.to_string())
}
