//! What the host shows on its monitor, as KVM sees it: the VGA text screen
//! rendered at 9x16 pixels per cell (720x400, VGA text mode), or, when the
//! host is off, a "no signal" screen; and on top of either, while user
//! consent is pending, the 6-digit consent code — screens SOL cannot show.

use crate::font::{CELL_H, CELL_W, draw_cell};
use crate::framebuffer::Framebuffer;
use crate::messages::Rect;
use crate::overlay::{consent_box, consent_digits, draw_consent, draw_no_signal};
use crate::pixel::VGA_PALETTE;
use crate::text::{COLS, ROWS, TextScreen};

/// VGA text mode in pixels.
pub const TEXT_WIDTH: u16 = COLS * CELL_W;
pub const TEXT_HEIGHT: u16 = ROWS * CELL_H;

#[derive(Debug, Clone)]
pub struct Screen {
    text: TextScreen,
    fb: Framebuffer,
    powered: bool,
    consent: Option<[u8; 6]>,
}

impl Default for Screen {
    fn default() -> Self {
        Self::new()
    }
}

impl Screen {
    /// A powered host with an empty text screen.
    pub fn new() -> Self {
        let mut s = Screen {
            text: TextScreen::new(),
            fb: Framebuffer::new(TEXT_WIDTH, TEXT_HEIGHT),
            powered: true,
            consent: None,
        };
        s.redraw();
        s
    }

    pub fn framebuffer(&self) -> &Framebuffer {
        &self.fb
    }

    pub fn text(&self) -> &TextScreen {
        &self.text
    }

    pub fn powered(&self) -> bool {
        self.powered
    }

    /// BEL characters the console sent since the last call (each can
    /// become an RFB Bell).
    pub fn take_bells(&mut self) -> u32 {
        self.text.take_bells()
    }

    /// Console output from the host. Ignored while it is off.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.powered {
            return;
        }
        self.text.feed(bytes);
        self.render_dirty();
    }

    /// Power changes: off shows "no signal"; on starts from an empty text
    /// screen, as a host that boots does.
    pub fn set_powered(&mut self, on: bool) {
        if on == self.powered {
            return;
        }
        self.powered = on;
        self.text = TextScreen::new();
        self.redraw();
    }

    /// Shows (`Some`) or removes (`None`) the user-consent code; only its
    /// last six decimal digits count.
    pub fn set_consent_code(&mut self, code: Option<u32>) {
        self.consent = code.map(consent_digits);
        self.redraw();
    }

    /// The consent code shown, as text.
    pub fn consent_code(&self) -> Option<&str> {
        self.consent
            .as_ref()
            .and_then(|d| std::str::from_utf8(d).ok())
    }

    /// Repaints everything (pixels that stay the same cost no update).
    fn redraw(&mut self) {
        if self.powered {
            self.text.mark_all_dirty();
            self.render_dirty();
        } else {
            self.text.take_dirty();
            draw_no_signal(&mut self.fb);
            self.draw_consent();
        }
    }

    fn render_dirty(&mut self) {
        let overlay = self.consent.map(|_| consent_box(&self.fb));
        let (crow, ccol) = self.text.cursor();
        let mut under_overlay = false;
        for (row, col) in self.text.take_dirty() {
            let cell = self.text.cell(row, col);
            let (x, y) = (col * CELL_W, row * CELL_H);
            let area = Rect::new(x, y, CELL_W, CELL_H);
            if overlay.is_some_and(|o| !o.intersect(&area).is_empty()) {
                under_overlay = true;
            }
            let cursor = self.text.cursor_visible() && (row, col) == (crow, ccol);
            let fg = VGA_PALETTE[usize::from(cell.fg())];
            // Attribute bit 7 is a bright background (blink disabled).
            let bg = VGA_PALETTE[usize::from(cell.bg() & 0x0F)];
            draw_cell(&mut self.fb, x, y, cell.ch, fg, bg, cursor);
        }
        if under_overlay {
            self.draw_consent();
        }
    }

    fn draw_consent(&mut self) {
        if let Some(digits) = &self.consent {
            draw_consent(&mut self.fb, digits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed_tiles(fb: &Framebuffer, since: u64) -> Vec<(usize, usize)> {
        (0..fb.tiles_y())
            .flat_map(|ty| (0..fb.tiles_x()).map(move |tx| (tx, ty)))
            .filter(|&(tx, ty)| fb.tile_generation(tx, ty) > since)
            .collect()
    }

    #[test]
    fn text_mode_is_720x400() {
        let s = Screen::new();
        assert_eq!(
            (s.framebuffer().width(), s.framebuffer().height()),
            (720, 400)
        );
    }

    #[test]
    fn typing_one_char_changes_only_its_tiles() {
        let mut s = Screen::new();
        s.feed(b"\x1b[10;20H");
        let g = s.framebuffer().generation();
        s.feed(b"x");
        // Cell (row 9, col 19) is x 171..180, y 144..160: tile (2, 2); the
        // cursor moved to col 20 (x 180..189), same tile.
        assert_eq!(changed_tiles(s.framebuffer(), g), [(2, 2)]);
        let fb = s.framebuffer();
        let lit = (171..180).flat_map(|x| (144..160).map(move |y| (x, y)));
        assert!(lit.clone().any(|(x, y)| fb.pixel(x, y) == VGA_PALETTE[7]));
    }

    #[test]
    fn cursor_is_an_underline() {
        let s = Screen::new();
        let fb = s.framebuffer();
        assert_eq!(fb.pixel(0, 15), VGA_PALETTE[7]);
        assert_eq!(fb.pixel(0, 13), VGA_PALETTE[0]);
    }

    #[test]
    fn no_signal_and_consent_overlays() {
        let mut s = Screen::new();
        s.feed(b"hello");
        s.set_powered(false);
        s.feed(b"ignored");
        let fb = s.framebuffer();
        assert_eq!(fb.pixel(0, 0), VGA_PALETTE[0]);
        let r = Rect::new(200, 152, 320, 96);
        assert_eq!(fb.pixel(r.x, r.y), VGA_PALETTE[7]); // box border
        assert!(
            (r.y..r.y + r.h).any(|y| (r.x..r.x + r.w).any(|x| fb.pixel(x, y) == VGA_PALETTE[15]))
        );

        s.set_powered(true);
        s.set_consent_code(Some(42));
        assert_eq!(s.consent_code(), Some("000042"));
        let fb = s.framebuffer();
        assert_eq!(fb.pixel(210, 140), VGA_PALETTE[15]);
        let yellow = (190..238).filter(|&y| (214..500).any(|x| fb.pixel(x, y) == VGA_PALETTE[14]));
        assert!(yellow.count() > 30);
        // Console output under the box does not paint over it.
        s.feed(b"\x1b[13;40H########");
        assert_eq!(s.framebuffer().pixel(360, 200), VGA_PALETTE[1]);
        s.set_consent_code(None);
        assert_ne!(s.framebuffer().pixel(210, 140), VGA_PALETTE[15]);
    }
}
