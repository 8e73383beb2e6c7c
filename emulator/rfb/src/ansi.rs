//! A small VT100/ANSI escape-sequence parser for the host's console output.
//!
//! It recognises what BIOS console redirection and a Linux shell send:
//! printable bytes, CR/LF/BS/TAB/BEL, `ESC [ … H f J K m A B C D G d s u`,
//! `ESC [ ? 25 h/l`, `ESC 7/8`, `ESC c` and the DEC line-drawing charset
//! switch `ESC ( 0` / `ESC ( B`; `ESC ]` titles are swallowed. Anything
//! else is consumed and ignored.
//! Parameters live in a fixed array, so hostile input can neither allocate
//! nor overflow: extra parameters are dropped and numbers saturate.

/// Most parameters kept from one control sequence.
const MAX_PARAMS: usize = 16;

/// What a byte (or sequence) asks the screen to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A CP437 byte to draw at the cursor.
    Print(u8),
    CarriageReturn,
    LineFeed,
    Backspace,
    Tab,
    Bell,
    /// 0-based row and column.
    CursorTo {
        row: u16,
        col: u16,
    },
    /// Relative moves (rows down, columns right; negative up/left).
    CursorMove {
        rows: i32,
        cols: i32,
    },
    CursorColumn(u16),
    CursorRow(u16),
    /// 0: to the end, 1: from the start, 2 (or 3): everything.
    EraseDisplay(u16),
    EraseLine(u16),
    /// One SGR parameter (the sequence is split so no list is needed).
    Sgr(u16),
    ShowCursor(bool),
    SaveCursor,
    RestoreCursor,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Escape,
    /// `ESC (`: the next byte picks the G0 character set.
    Charset,
    Csi,
    /// An operating-system command (`ESC ]`, e.g. a window title):
    /// swallowed up to BEL or ESC.
    Osc,
}

#[derive(Debug, Clone)]
pub struct Parser {
    state: State,
    params: [u16; MAX_PARAMS],
    count: usize,
    private: bool,
    line_drawing: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            state: State::Ground,
            params: [0; MAX_PARAMS],
            count: 0,
            private: false,
            line_drawing: false,
        }
    }
}

/// DEC special graphics (`ESC ( 0`) 0x60..=0x7E in CP437; VT100 BIOS
/// redirection draws its boxes with these.
const DEC_GRAPHICS: [u8; 31] = [
    0x04, 0xB1, b'\t', b'\x0c', b'\r', b'\n', 0xF8, 0xF1, b'\n', b'\x0b', 0xD9, 0xBF, 0xDA, 0xC0,
    0xC5, 0xC4, 0xC4, 0xC4, 0xC4, 0xC4, 0xC3, 0xB4, 0xC1, 0xC2, 0xB3, 0xF3, 0xF2, 0xE3, 0xD8, 0x9C,
    0xFA,
];

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one byte; at most one action comes out of it, except SGR
    /// sequences, whose parameters `emit` receives one by one.
    pub fn advance(&mut self, b: u8, emit: &mut impl FnMut(Action)) {
        match self.state {
            State::Ground => self.ground(b, emit),
            State::Escape => {
                self.state = State::Ground;
                match b {
                    b'[' => {
                        self.state = State::Csi;
                        self.count = 0;
                        self.params = [0; MAX_PARAMS];
                        self.private = false;
                    }
                    b'(' => self.state = State::Charset,
                    b']' => self.state = State::Osc,
                    b'7' => emit(Action::SaveCursor),
                    b'8' => emit(Action::RestoreCursor),
                    b'c' => {
                        self.line_drawing = false;
                        emit(Action::Reset)
                    }
                    b'D' => emit(Action::LineFeed),
                    b'M' => emit(Action::CursorMove { rows: -1, cols: 0 }),
                    0x1B => self.state = State::Escape,
                    _ => {}
                }
            }
            State::Charset => {
                self.state = State::Ground;
                self.line_drawing = b == b'0';
            }
            State::Csi => self.csi(b, emit),
            State::Osc => match b {
                0x07 => self.state = State::Ground,
                0x1B => self.state = State::Escape,
                _ => {}
            },
        }
    }

    fn ground(&mut self, b: u8, emit: &mut impl FnMut(Action)) {
        let action = match b {
            0x1B => {
                self.state = State::Escape;
                return;
            }
            b'\r' => Action::CarriageReturn,
            b'\n' | 0x0B | 0x0C => Action::LineFeed,
            0x08 => Action::Backspace,
            b'\t' => Action::Tab,
            0x07 => Action::Bell,
            0x0E => {
                self.line_drawing = true;
                return;
            }
            0x0F => {
                self.line_drawing = false;
                return;
            }
            0x00..=0x1F | 0x7F => return,
            0x60..=0x7E if self.line_drawing => Action::Print(
                DEC_GRAPHICS
                    .get(usize::from(b - 0x60))
                    .copied()
                    .unwrap_or(b),
            ),
            _ => Action::Print(b),
        };
        emit(action);
    }

    fn param(&self, i: usize, default: u16) -> u16 {
        match self.params.get(i) {
            Some(&v) if i < self.count && v != 0 => v,
            _ => default,
        }
    }

    fn csi(&mut self, b: u8, emit: &mut impl FnMut(Action)) {
        match b {
            b'0'..=b'9' => {
                if self.count == 0 {
                    self.count = 1;
                }
                if let Some(p) = self.params.get_mut(self.count - 1) {
                    *p = p.saturating_mul(10).saturating_add(u16::from(b - b'0'));
                }
                return;
            }
            b';' => {
                // An empty first parameter still counts as one.
                self.count = (self.count.max(1) + 1).min(MAX_PARAMS + 1);
                return;
            }
            b'?' => {
                self.private = true;
                return;
            }
            0x1B => {
                self.state = State::Escape;
                return;
            }
            0x20..=0x3F => return,
            0x40..=0x7E => {}
            // A control byte inside a sequence acts as if outside (VT100).
            _ => {
                self.ground(b, emit);
                return;
            }
        }
        self.state = State::Ground;
        let n = |d| i32::from(self.param(0, d));
        match (self.private, b) {
            (true, b'h' | b'l') if (0..self.count).any(|i| self.params.get(i) == Some(&25)) => {
                emit(Action::ShowCursor(b == b'h'))
            }
            (true, _) => {}
            (false, b'H') | (false, b'f') => emit(Action::CursorTo {
                row: self.param(0, 1) - 1,
                col: self.param(1, 1) - 1,
            }),
            (false, b'A') => emit(Action::CursorMove {
                rows: -n(1),
                cols: 0,
            }),
            (false, b'B') => emit(Action::CursorMove {
                rows: n(1),
                cols: 0,
            }),
            (false, b'C') => emit(Action::CursorMove {
                rows: 0,
                cols: n(1),
            }),
            (false, b'D') => emit(Action::CursorMove {
                rows: 0,
                cols: -n(1),
            }),
            (false, b'G') => emit(Action::CursorColumn(self.param(0, 1) - 1)),
            (false, b'd') => emit(Action::CursorRow(self.param(0, 1) - 1)),
            (false, b'J') => emit(Action::EraseDisplay(self.param(0, 0))),
            (false, b'K') => emit(Action::EraseLine(self.param(0, 0))),
            (false, b's') => emit(Action::SaveCursor),
            (false, b'u') => emit(Action::RestoreCursor),
            (false, b'm') => {
                if self.count == 0 {
                    emit(Action::Sgr(0));
                }
                for i in 0..self.count.min(MAX_PARAMS) {
                    emit(Action::Sgr(self.params[i]));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Vec<Action> {
        let mut p = Parser::new();
        let mut out = vec![];
        for &b in bytes {
            p.advance(b, &mut |a| out.push(a));
        }
        out
    }

    #[test]
    fn sequences() {
        assert_eq!(
            run(b"\x1b[5;10Ha\x1b[H"),
            [
                Action::CursorTo { row: 4, col: 9 },
                Action::Print(b'a'),
                Action::CursorTo { row: 0, col: 0 }
            ]
        );
        assert_eq!(
            run(b"\x1b[1;37;44m\x1b[m"),
            [
                Action::Sgr(1),
                Action::Sgr(37),
                Action::Sgr(44),
                Action::Sgr(0)
            ]
        );
        assert_eq!(
            run(b"\x1b[2J\x1b[K"),
            [Action::EraseDisplay(2), Action::EraseLine(0)]
        );
        assert_eq!(
            run(b"\x1b[?25l\x1b[?25h"),
            [Action::ShowCursor(false), Action::ShowCursor(true)]
        );
        assert_eq!(
            run(b"\x1b[3A\x1b[C"),
            [
                Action::CursorMove { rows: -3, cols: 0 },
                Action::CursorMove { rows: 0, cols: 1 }
            ]
        );
        assert_eq!(
            run(b"\x1b(0lqk\x1b(Bq"),
            [
                Action::Print(0xDA),
                Action::Print(0xC4),
                Action::Print(0xBF),
                Action::Print(b'q')
            ]
        );
    }

    #[test]
    fn unknown_and_hostile_sequences_are_swallowed() {
        assert_eq!(
            run(b"\x1b[?1049h\x1b[38;5;200mX"),
            [
                Action::Sgr(38),
                Action::Sgr(5),
                Action::Sgr(200),
                Action::Print(b'X')
            ]
        );
        assert_eq!(run(b"\x1b]0;title\x07Y"), [Action::Print(b'Y')]);
        assert_eq!(run(b"\x1b]0;t\x1b\\Z"), [Action::Print(b'Z')]);
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b"99999999;".as_slice(), 100).flatten());
        long.extend_from_slice(b"HZ");
        let out = run(&long);
        assert_eq!(out.last(), Some(&Action::Print(b'Z')));
    }
}
