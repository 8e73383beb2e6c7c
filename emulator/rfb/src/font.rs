//! Glyphs for VGA text mode, from the public-domain `font8x8` crate.
//!
//! Console bytes are code page 437 (what VGA text memory holds and what
//! BIOS setup screens draw their boxes with); each is mapped to the Unicode
//! character `font8x8` indexes by. Its 8x8 glyphs are drawn doubled
//! vertically into VGA's 9x16 cell, and, as VGA hardware does, the ninth
//! column repeats the eighth for the line-drawing characters 0xC0..=0xDF so
//! that horizontal lines join.

use std::sync::OnceLock;

use font8x8::legacy::{BASIC_LEGACY, BLOCK_LEGACY, BOX_LEGACY, GREEK_LEGACY, LATIN_LEGACY};

use crate::framebuffer::Framebuffer;
use crate::messages::Rect;
use crate::pixel::Rgb;

/// Width of a text cell in pixels.
pub const CELL_W: u16 = 9;
/// Height of a text cell in pixels.
pub const CELL_H: u16 = 16;

/// Code page 437 from 0x80 up, in Unicode.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»\
░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀\
αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

fn unicode_glyph(c: char) -> [u8; 8] {
    let u = c as usize;
    let pick = |table: &[[u8; 8]], base: usize| table.get(u - base).copied();
    let g = match u {
        0..=0x7F => pick(&BASIC_LEGACY, 0),
        0xA0..=0xFF => pick(&LATIN_LEGACY, 0xA0),
        0x390..=0x3C9 => pick(&GREEK_LEGACY, 0x390),
        0x2500..=0x257F => pick(&BOX_LEGACY, 0x2500),
        0x2580..=0x259F => pick(&BLOCK_LEGACY, 0x2580),
        // µ has its own code point in Latin-1; the rest of CP437's maths
        // symbols are not in font8x8 and show as a box.
        _ => None,
    };
    g.unwrap_or([0x00, 0x7E, 0x42, 0x42, 0x42, 0x42, 0x7E, 0x00])
}

/// The 8x8 glyph of a CP437 byte (bit 0 of each row is the leftmost pixel).
pub fn glyph(cp437: u8) -> [u8; 8] {
    static TABLE: OnceLock<[[u8; 8]; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [[0u8; 8]; 256];
        for (i, g) in t.iter_mut().enumerate().take(0x80).skip(0x20) {
            *g = unicode_glyph(char::from(i as u8));
        }
        for (g, c) in t[0x80..].iter_mut().zip(CP437_HIGH.chars()) {
            *g = unicode_glyph(c);
        }
        t
    });
    table[usize::from(cp437)]
}

/// Whether glyph pixel `(px, py)` of a 9x16 cell is lit.
pub fn cell_pixel(cp437: u8, px: u16, py: u16) -> bool {
    let rows = glyph(cp437);
    let Some(&row) = rows.get(usize::from(py / 2)) else {
        return false;
    };
    match px {
        0..=7 => row & (1 << px) != 0,
        8 => (0xC0..=0xDF).contains(&cp437) && row & 0x80 != 0,
        _ => false,
    }
}

/// Draws one text cell at pixel `(x, y)`; `cursor` underlines it as VGA's
/// default cursor does (scan lines 14-15).
pub fn draw_cell(fb: &mut Framebuffer, x: u16, y: u16, ch: u8, fg: Rgb, bg: Rgb, cursor: bool) {
    fb.paint(Rect::new(x, y, CELL_W, CELL_H), |px, py| {
        let (cx, cy) = (px - x, py - y);
        if cell_pixel(ch, cx, cy) || (cursor && cy >= 14) {
            fg
        } else {
            bg
        }
    });
}

/// Draws `text` with each glyph pixel scaled `sx` by `sy` (8·sx by 8·sy per
/// character, no gap), for the consent code and the no-signal box.
pub fn draw_text_scaled(
    fb: &mut Framebuffer,
    x: u16,
    y: u16,
    text: &[u8],
    (fg, bg): (Rgb, Rgb),
    (sx, sy): (u16, u16),
) {
    let (sx, sy) = (sx.max(1), sy.max(1));
    for (i, &ch) in text.iter().enumerate() {
        let Ok(i) = u16::try_from(i) else { break };
        let cx = x.saturating_add(i.saturating_mul(8 * sx));
        let g = glyph(ch);
        fb.paint(Rect::new(cx, y, 8 * sx, 8 * sy), |px, py| {
            let (gx, gy) = ((px - cx) / sx, (py - y) / sy);
            let lit = g
                .get(usize::from(gy))
                .is_some_and(|row| row & (1 << gx) != 0);
            if lit { fg } else { bg }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_has_the_expected_pixels() {
        // font8x8's 'A': rows 0C 1E 33 33 3F 33 33 00, leftmost pixel bit 0.
        let lit = |px, py| cell_pixel(b'A', px, py);
        let row = |py| {
            (0..9)
                .map(|px| if lit(px, py) { '#' } else { '.' })
                .collect::<String>()
        };
        assert_eq!(row(0), "..##.....");
        assert_eq!(row(1), "..##....."); // doubled vertically
        assert_eq!(row(2), ".####....");
        assert_eq!(row(4), "##..##...");
        assert_eq!(row(8), "######...");
        assert_eq!(row(15), ".........");
    }

    #[test]
    fn box_drawing_joins_in_the_ninth_column() {
        // 0xC4 is '─' in CP437: a full-width line, ninth column included.
        let lit: Vec<bool> = (0..9)
            .map(|px| (0..16).any(|py| cell_pixel(0xC4, px, py)))
            .collect();
        assert!(lit.iter().all(|&b| b));
        // 0xB3 '│' and 0xDB '█' are drawn, not the missing-glyph box.
        assert_eq!(glyph(0xDB), [0xFF; 8]);
        assert!(glyph(0xB3).iter().all(|&r| r != 0));
        // A letter's ninth column stays dark.
        assert!(!(0..16).any(|py| cell_pixel(b'M', 8, py)));
    }

    #[test]
    fn the_table_covers_cp437() {
        assert_eq!(CP437_HIGH.chars().count(), 128);
    }
}
