//! What the firmware draws over the host's picture, whatever the picture
//! is (the simulated text screen or a VM's display): the "no signal" box
//! while the host is off, and the 6-digit user-consent code while it is
//! displayed. Both are centred on the framebuffer as it is now.

use crate::font::draw_text_scaled;
use crate::framebuffer::Framebuffer;
use crate::messages::Rect;
use crate::pixel::{Rgb, VGA_PALETTE};

const CONSENT_BOX: (u16, u16) = (300, 120);
const NO_SIGNAL_BOX: (u16, u16) = (320, 96);

/// A consent code as the six digits shown (only the last six count).
pub fn consent_digits(code: u32) -> [u8; 6] {
    let s = format!("{:06}", code % 1_000_000);
    let mut d = [b'0'; 6];
    d.copy_from_slice(s.as_bytes());
    d
}

fn centred(fb: &Framebuffer, (w, h): (u16, u16)) -> Rect {
    let x = fb.width().saturating_sub(w) / 2;
    let y = fb.height().saturating_sub(h) / 2;
    Rect::new(x, y, w, h)
}

/// Where the consent box goes on `fb`: what paints under it must redraw it.
pub fn consent_box(fb: &Framebuffer) -> Rect {
    centred(fb, CONSENT_BOX)
}

fn draw_box(fb: &mut Framebuffer, r: Rect, border: Rgb, fill: Rgb) {
    fb.fill(r, border);
    let inner = Rect::new(
        r.x + 3,
        r.y + 3,
        r.w.saturating_sub(6),
        r.h.saturating_sub(6),
    );
    fb.fill(inner, fill);
}

/// Blanks `fb` and draws the "no signal" box (a host that is off).
pub fn draw_no_signal(fb: &mut Framebuffer) {
    fb.fill(fb.bounds(), VGA_PALETTE[0]);
    let r = centred(fb, NO_SIGNAL_BOX);
    let (white, grey, black) = (VGA_PALETTE[15], VGA_PALETTE[7], VGA_PALETTE[0]);
    draw_box(fb, r, grey, black);
    let title = b"No Signal";
    let tx = r.x + r.w.saturating_sub(title.len() as u16 * 16) / 2;
    draw_text_scaled(fb, tx, r.y + 20, title, (white, black), (2, 3));
    let sub = b"Host is powered off";
    let sx = r.x + r.w.saturating_sub(sub.len() as u16 * 8) / 2;
    draw_text_scaled(fb, sx, r.y + 60, sub, (grey, black), (1, 2));
}

/// Draws the consent code's box on top of whatever `fb` shows.
pub fn draw_consent(fb: &mut Framebuffer, digits: &[u8; 6]) {
    let r = consent_box(fb);
    let (white, yellow, blue) = (VGA_PALETTE[15], VGA_PALETTE[14], VGA_PALETTE[1]);
    draw_box(fb, r, white, blue);
    let title = b"User Consent Code";
    let tx = r.x + r.w.saturating_sub(title.len() as u16 * 8) / 2;
    draw_text_scaled(fb, tx, r.y + 14, title, (white, blue), (1, 2));
    // Six digits of 40x48 pixels with 4-pixel gaps: readable at a glance.
    let (dw, gap) = (40u16, 4u16);
    let total = 6 * dw + 5 * gap;
    let mut x = r.x + r.w.saturating_sub(total) / 2;
    for &d in digits {
        draw_text_scaled(fb, x, r.y + 50, &[d], (yellow, blue), (5, 6));
        x += dw + gap;
    }
}
