//! The 80x25 VGA text screen: cells of a CP437 character and a VGA
//! attribute, written by console bytes through the [`ansi`](crate::ansi)
//! parser. It knows which cells changed since it was last drawn.

use crate::ansi::{Action, Parser};

pub const COLS: u16 = 80;
pub const ROWS: u16 = 25;
/// Light grey on black, the BIOS default.
pub const DEFAULT_ATTR: u8 = 0x07;

/// One character cell: CP437 code and VGA attribute (low nibble foreground,
/// bits 4-6 background, bit 7 bright background as with blink disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub ch: u8,
    pub attr: u8,
}

impl Cell {
    pub const BLANK: Cell = Cell {
        ch: b' ',
        attr: DEFAULT_ATTR,
    };

    pub fn fg(&self) -> u8 {
        self.attr & 0x0F
    }

    pub fn bg(&self) -> u8 {
        self.attr >> 4
    }
}

/// ANSI colour order (black red green yellow blue magenta cyan white) to
/// VGA's (black blue green cyan red magenta brown grey).
const ANSI_TO_VGA: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];

#[derive(Debug, Clone)]
pub struct TextScreen {
    cells: Vec<Cell>,
    dirty: Vec<bool>,
    row: u16,
    col: u16,
    /// VT100's deferred wrap: writing the last column does not move to the
    /// next line until another character comes, so a BIOS can fill row 25
    /// without scrolling the screen.
    wrap_pending: bool,
    attr: u8,
    reverse: bool,
    cursor_visible: bool,
    saved: (u16, u16, u8),
    parser: Parser,
    bells: u32,
}

impl Default for TextScreen {
    fn default() -> Self {
        Self::new()
    }
}

impl TextScreen {
    pub fn new() -> Self {
        let n = usize::from(COLS) * usize::from(ROWS);
        TextScreen {
            cells: vec![Cell::BLANK; n],
            dirty: vec![true; n],
            row: 0,
            col: 0,
            wrap_pending: false,
            attr: DEFAULT_ATTR,
            reverse: false,
            cursor_visible: true,
            saved: (0, 0, DEFAULT_ATTR),
            parser: Parser::new(),
            bells: 0,
        }
    }

    fn index(row: u16, col: u16) -> usize {
        usize::from(row) * usize::from(COLS) + usize::from(col)
    }

    /// The cell at `(row, col)`, blank outside the screen.
    pub fn cell(&self, row: u16, col: u16) -> Cell {
        if row >= ROWS || col >= COLS {
            return Cell::BLANK;
        }
        self.cells[Self::index(row, col)]
    }

    /// `(row, col)` of the cursor, 0-based.
    pub fn cursor(&self) -> (u16, u16) {
        (self.row, self.col)
    }

    pub fn cursor_visible(&self) -> bool {
        self.cursor_visible
    }

    /// The characters of a row as text (for tests and logs).
    pub fn row_text(&self, row: u16) -> String {
        (0..COLS)
            .map(|c| char::from(self.cell(row, c).ch))
            .collect()
    }

    /// BEL characters seen since the last call.
    pub fn take_bells(&mut self) -> u32 {
        std::mem::take(&mut self.bells)
    }

    /// Interprets console output.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut parser = std::mem::take(&mut self.parser);
        for &b in bytes {
            parser.advance(b, &mut |a| self.apply(a));
        }
        self.parser = parser;
    }

    /// Cells changed since the last call, as `(row, col)`; clears the marks.
    pub fn take_dirty(&mut self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                out.push((
                    (i / usize::from(COLS)) as u16,
                    (i % usize::from(COLS)) as u16,
                ));
            }
        }
        out
    }

    /// Marks every cell for redrawing (after an overlay went away).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.fill(true);
    }

    /// Marks the cells of a row range and column range for redrawing.
    pub fn mark_dirty(&mut self, rows: std::ops::Range<u16>, cols: std::ops::Range<u16>) {
        for r in rows.start..rows.end.min(ROWS) {
            for c in cols.start..cols.end.min(COLS) {
                self.dirty[Self::index(r, c)] = true;
            }
        }
    }

    fn set(&mut self, row: u16, col: u16, cell: Cell) {
        let i = Self::index(row, col);
        if self.cells[i] != cell {
            self.cells[i] = cell;
            self.dirty[i] = true;
        }
    }

    fn move_cursor(&mut self, row: u16, col: u16) {
        // The cursor is drawn in its cell: both old and new cell change.
        self.dirty[Self::index(self.row, self.col)] = true;
        self.row = row.min(ROWS - 1);
        self.col = col.min(COLS - 1);
        self.wrap_pending = false;
        self.dirty[Self::index(self.row, self.col)] = true;
    }

    fn blank(&self) -> Cell {
        Cell {
            ch: b' ',
            attr: self.effective_attr(),
        }
    }

    fn effective_attr(&self) -> u8 {
        if self.reverse {
            ((self.attr & 0x0F) << 4) | (self.attr >> 4)
        } else {
            self.attr
        }
    }

    fn erase(&mut self, from: usize, to: usize) {
        let blank = self.blank();
        for i in from..to.min(self.cells.len()) {
            self.set(
                (i / usize::from(COLS)) as u16,
                (i % usize::from(COLS)) as u16,
                blank,
            );
        }
    }

    fn line_feed(&mut self) {
        if self.row + 1 < ROWS {
            self.move_cursor(self.row + 1, self.col);
            return;
        }
        // Scroll up one row: every cell whose content moves is redrawn.
        let cols = usize::from(COLS);
        for i in 0..self.cells.len() - cols {
            let below = self.cells[i + cols];
            self.set((i / cols) as u16, (i % cols) as u16, below);
        }
        let last = self.cells.len() - cols;
        self.erase(last, self.cells.len());
        self.wrap_pending = false;
    }

    fn print(&mut self, ch: u8) {
        if self.wrap_pending {
            self.move_cursor(self.row, 0);
            self.line_feed();
        }
        let cell = Cell {
            ch,
            attr: self.effective_attr(),
        };
        self.set(self.row, self.col, cell);
        if self.col + 1 < COLS {
            self.move_cursor(self.row, self.col + 1);
        } else {
            self.wrap_pending = true;
        }
    }

    fn sgr(&mut self, p: u16) {
        let a = self.attr;
        self.attr = match p {
            0 => {
                self.reverse = false;
                DEFAULT_ATTR
            }
            1 => a | 0x08,
            22 => a & !0x08,
            7 => {
                self.reverse = true;
                a
            }
            27 => {
                self.reverse = false;
                a
            }
            30..=37 => (a & 0xF8) | ANSI_TO_VGA[usize::from(p - 30)],
            39 => (a & 0xF8) | 7,
            40..=47 => (a & 0x0F) | (ANSI_TO_VGA[usize::from(p - 40)] << 4),
            49 => a & 0x0F,
            90..=97 => (a & 0xF0) | 0x08 | ANSI_TO_VGA[usize::from(p - 90)],
            100..=107 => (a & 0x0F) | 0x80 | (ANSI_TO_VGA[usize::from(p - 100)] << 4),
            _ => a,
        };
    }

    fn apply(&mut self, action: Action) {
        let here = Self::index(self.row, self.col);
        match action {
            Action::Print(ch) => self.print(ch),
            Action::CarriageReturn => self.move_cursor(self.row, 0),
            Action::LineFeed => self.line_feed(),
            Action::Backspace => self.move_cursor(self.row, self.col.saturating_sub(1)),
            Action::Tab => self.move_cursor(self.row, ((self.col / 8) + 1) * 8),
            Action::Bell => self.bells = self.bells.saturating_add(1),
            Action::CursorTo { row, col } => self.move_cursor(row, col),
            Action::CursorMove { rows, cols } => {
                let r = (i32::from(self.row) + rows).clamp(0, i32::from(ROWS) - 1);
                let c = (i32::from(self.col) + cols).clamp(0, i32::from(COLS) - 1);
                self.move_cursor(r as u16, c as u16);
            }
            Action::CursorColumn(c) => self.move_cursor(self.row, c),
            Action::CursorRow(r) => self.move_cursor(r, self.col),
            Action::EraseDisplay(0) => self.erase(here, self.cells.len()),
            Action::EraseDisplay(1) => self.erase(0, here + 1),
            Action::EraseDisplay(_) => self.erase(0, self.cells.len()),
            Action::EraseLine(n) => {
                let start = Self::index(self.row, 0);
                let end = start + usize::from(COLS);
                match n {
                    0 => self.erase(here, end),
                    1 => self.erase(start, here + 1),
                    _ => self.erase(start, end),
                }
            }
            Action::Sgr(p) => self.sgr(p),
            Action::ShowCursor(on) => {
                self.cursor_visible = on;
                self.dirty[here] = true;
            }
            Action::SaveCursor => self.saved = (self.row, self.col, self.attr),
            Action::RestoreCursor => {
                let (r, c, a) = self.saved;
                self.attr = a;
                self.move_cursor(r, c);
            }
            Action::Reset => {
                let bells = self.bells;
                *self = TextScreen::new();
                self.bells = bells;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_output_wraps_and_scrolls() {
        let mut t = TextScreen::new();
        t.feed(b"login: root\r\nPassword:\x08\x08x\tY");
        assert_eq!(t.row_text(0).trim_end(), "login: root");
        assert_eq!(t.row_text(1).trim_end(), "Passworx:       Y");
        for i in 0..30 {
            t.feed(format!("line {i}\r\n").as_bytes());
        }
        assert_eq!(t.row_text(23).trim_end(), "line 29");
        assert_eq!(t.cursor(), (24, 0));
        // Deferred wrap: 80 characters on the last row do not scroll.
        t.feed(&[b'#'; 80]);
        assert_eq!(t.row_text(23).trim_end(), "line 29");
        assert_eq!(t.cursor(), (24, 79));
        t.feed(b"!");
        assert_eq!(t.row_text(22).trim_end(), "line 29");
        assert_eq!(t.row_text(24).trim_end(), "!");
    }

    #[test]
    fn bios_setup_like_screen() {
        let mut t = TextScreen::new();
        // Blue background, clear, a title bar in reverse, a box in CP437,
        // and the cursor hidden: what a BIOS setup page sends.
        t.feed(b"\x1b[?25l\x1b[0;37;44m\x1b[2J\x1b[1;1H\x1b[7m   BIOS SETUP UTILITY   \x1b[27m");
        t.feed(b"\x1b[3;5H\xda\xc4\xc4\xbf\x1b[4;5H\xb3\x1b[1;33mOK\x1b[0;37;44m\xb3");
        t.feed(b"\x1b[5;5H\x1b(0mqqj\x1b(B\x1b[25;1H\x1b[30;47mF10=Save\x1b[K");
        assert!(!t.cursor_visible());
        assert_eq!(t.cell(0, 0).attr, 0x71); // reverse: blue on grey
        assert_eq!(&t.row_text(0)[3..20], "BIOS SETUP UTILIT");
        assert_eq!(
            t.cell(10, 10),
            Cell {
                ch: b' ',
                attr: 0x17
            }
        );
        assert_eq!(t.cell(2, 4).ch, 0xDA);
        assert_eq!(
            t.cell(3, 5),
            Cell {
                ch: b'O',
                attr: 0x1E
            }
        );
        assert_eq!(t.cell(3, 7).ch, 0xB3);
        assert_eq!(
            [t.cell(4, 4).ch, t.cell(4, 5).ch, t.cell(4, 7).ch],
            [0xC0, 0xC4, 0xD9]
        );
        assert_eq!(t.row_text(24).trim_end(), "F10=Save");
        assert_eq!(t.cell(24, 79).attr, 0x70); // erased with black on grey
    }

    #[test]
    fn dirty_cells_are_exactly_the_changed_ones() {
        let mut t = TextScreen::new();
        t.take_dirty();
        t.feed(b"a");
        // The written cell and the cell the cursor moved to.
        assert_eq!(t.take_dirty(), [(0, 0), (0, 1)]);
        t.feed(b"\x1b[1;1Ha");
        assert_eq!(t.take_dirty(), [(0, 0), (0, 1)]);
    }
}
