//! A terminal's line discipline for the login prompt and the shell: echo,
//! CR / LF / CR LF as one Enter, backspace that erases on screen, Ctrl-C,
//! Ctrl-U, and escape sequences (cursor keys) swallowed.

/// Longest line kept; further characters ring the bell.
const MAX_LINE: usize = 256;

#[derive(Debug, Default)]
pub struct LineEditor {
    line: String,
    after_cr: bool,
    escape: Escape,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside a CSI (`ESC [`) sequence, until its final byte.
    Csi,
}

/// What a keystroke completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    Enter(String),
    Interrupt,
    /// Ctrl-D on an empty line.
    EndOfInput,
}

impl LineEditor {
    pub fn clear(&mut self) {
        self.line.clear();
    }

    /// Feeds one byte; what the terminal should show goes to `echo` (which
    /// hides the characters themselves when `visible` is false).
    pub fn feed(&mut self, byte: u8, visible: bool, echo: &mut Vec<u8>) -> Option<Edit> {
        let after_cr = std::mem::take(&mut self.after_cr);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' {
                    Escape::Csi
                } else {
                    Escape::None
                };
                return None;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                return None;
            }
            Escape::None => {}
        }
        match byte {
            b'\r' | b'\n' => {
                if byte == b'\n' && after_cr {
                    return None;
                }
                self.after_cr = byte == b'\r';
                echo.extend_from_slice(b"\r\n");
                return Some(Edit::Enter(std::mem::take(&mut self.line)));
            }
            0x08 | 0x7f => self.erase(visible, echo),
            0x03 => {
                self.line.clear();
                echo.extend_from_slice(b"^C\r\n");
                return Some(Edit::Interrupt);
            }
            0x04 if self.line.is_empty() => return Some(Edit::EndOfInput),
            0x15 => {
                if visible {
                    for _ in 0..self.line.chars().count() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                self.line.clear();
            }
            0x1b => self.escape = Escape::Start,
            0x20..=0x7e => {
                if self.line.len() >= MAX_LINE {
                    echo.push(0x07);
                } else {
                    self.line.push(byte as char);
                    if visible {
                        echo.push(byte);
                    }
                }
            }
            // Other control characters and non-ASCII bytes are ignored.
            _ => {}
        }
        None
    }
}

impl LineEditor {
    fn erase(&mut self, visible: bool, echo: &mut Vec<u8>) {
        if self.line.pop().is_some() && visible {
            echo.extend_from_slice(b"\x08 \x08");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_in(editor: &mut LineEditor, keys: &[u8], visible: bool) -> (Vec<Edit>, Vec<u8>) {
        let mut echo = Vec::new();
        let edits = keys
            .iter()
            .filter_map(|&b| editor.feed(b, visible, &mut echo))
            .collect();
        (edits, echo)
    }

    #[test]
    fn echo_backspace_and_enter() {
        let mut e = LineEditor::default();
        let (edits, echo) = type_in(&mut e, b"lx\x7fs\r\n", true);
        assert_eq!(edits, vec![Edit::Enter("ls".into())]);
        assert_eq!(echo, b"lx\x08 \x08s\r\n");
        let (edits, _) = type_in(&mut e, b"\n\n", true);
        assert_eq!(
            edits,
            vec![Edit::Enter(String::new()), Edit::Enter(String::new())]
        );
    }

    #[test]
    fn passwords_are_not_echoed_and_cursor_keys_are_swallowed() {
        let mut e = LineEditor::default();
        let (edits, echo) = type_in(&mut e, b"se\x1b[Acr\x1bOPet\r", false);
        assert_eq!(edits, vec![Edit::Enter("secret".into())]);
        assert_eq!(echo, b"\r\n");
        let (edits, echo) = type_in(&mut e, b"abc\x03", true);
        assert_eq!(edits, vec![Edit::Interrupt]);
        let (edits, _) = type_in(&mut e, b"a\x04\x7f\x04", true);
        assert_eq!(edits, vec![Edit::EndOfInput], "only on an empty line");
        assert_eq!(echo, b"abc^C\r\n");
    }

    #[test]
    fn a_line_is_bounded() {
        let mut e = LineEditor::default();
        let (_, echo) = type_in(&mut e, &[b'a'; MAX_LINE + 3], true);
        assert_eq!(echo.iter().filter(|&&b| b == 7).count(), 3);
    }
}
