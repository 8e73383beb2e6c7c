//! X keysyms (what RFB KeyEvents carry) to the bytes a serial console on
//! the host would receive, so KVM keyboard input can drive the same
//! console SOL does.
//!
//! Choices where nothing is specified: BackSpace sends DEL (0x7f), what
//! Linux terminals and getty expect (0x08 is available, see
//! [`Backspace`]); Home/End are `ESC [ H` / `ESC [ F`, F1-F4 `ESC O P..S`
//! and F5-F12 `ESC [ n ~` as xterm and BIOS VT100+ redirection use; Alt
//! prefixes ESC; Latin-1 keysyms send their Latin-1 byte. Intel's
//! 0x171700xx JP/EU keysyms have no console byte and send nothing.

/// What BackSpace sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backspace {
    /// 0x7f, the default.
    #[default]
    Del,
    /// 0x08 (Ctrl-H), for consoles that want it.
    CtrlH,
}

/// Tracks modifier keys across KeyEvents and translates key presses.
#[derive(Debug, Clone, Default)]
pub struct KeyTranslator {
    pub backspace: Backspace,
    ctrl_l: bool,
    ctrl_r: bool,
    alt: bool,
}

const ESC: u8 = 0x1B;

impl KeyTranslator {
    pub fn new(backspace: Backspace) -> Self {
        KeyTranslator {
            backspace,
            ..Default::default()
        }
    }

    /// Bytes for a key event: `Some` for a press that types something,
    /// `None` for releases, modifiers and keys without console bytes.
    pub fn key(&mut self, down: bool, keysym: u32) -> Option<Vec<u8>> {
        match keysym {
            0xFFE3 => self.ctrl_l = down,
            0xFFE4 => self.ctrl_r = down,
            0xFFE7..=0xFFEA => self.alt = down,
            _ => {}
        }
        if !down {
            return None;
        }
        let mut out = self.base(keysym)?;
        if (self.ctrl_l || self.ctrl_r)
            && let [b] = out.as_mut_slice()
        {
            *b = match *b {
                b'a'..=b'z' => *b - b'a' + 1,
                b'@'..=b'_' => *b - b'@',
                b' ' => 0,
                b'?' => 0x7F,
                other => other,
            };
        }
        if self.alt {
            out.insert(0, ESC);
        }
        Some(out)
    }

    fn base(&self, keysym: u32) -> Option<Vec<u8>> {
        let csi = |tail: &[u8]| {
            let mut v = vec![ESC, b'['];
            v.extend_from_slice(tail);
            v
        };
        Some(match keysym {
            0x20..=0x7E | 0xA0..=0xFF => vec![keysym as u8],
            0xFF08 => vec![match self.backspace {
                Backspace::Del => 0x7F,
                Backspace::CtrlH => 0x08,
            }],
            0xFF09 => vec![b'\t'],
            0xFE20 => csi(b"Z"), // ISO_Left_Tab (Shift-Tab)
            0xFF0D | 0xFF8D => vec![b'\r'],
            0xFF1B => vec![ESC],
            0xFF50 => csi(b"H"),
            0xFF51 => csi(b"D"),
            0xFF52 => csi(b"A"),
            0xFF53 => csi(b"C"),
            0xFF54 => csi(b"B"),
            0xFF55 => csi(b"5~"),
            0xFF56 => csi(b"6~"),
            0xFF57 => csi(b"F"),
            0xFF63 => csi(b"2~"),
            0xFFFF => csi(b"3~"),
            0xFFB0..=0xFFB9 => vec![b'0' + (keysym - 0xFFB0) as u8],
            0xFFAA => vec![b'*'],
            0xFFAB => vec![b'+'],
            0xFFAD => vec![b'-'],
            0xFFAE => vec![b'.'],
            0xFFAF => vec![b'/'],
            0xFFBE..=0xFFC1 => vec![ESC, b'O', b'P' + (keysym - 0xFFBE) as u8],
            0xFFC2..=0xFFC9 => {
                const CODES: [&[u8]; 8] = [
                    b"15~", b"17~", b"18~", b"19~", b"20~", b"21~", b"23~", b"24~",
                ];
                csi(CODES[(keysym - 0xFFC2) as usize])
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(t: &mut KeyTranslator, k: u32) -> Option<Vec<u8>> {
        let r = t.key(true, k);
        t.key(false, k);
        r
    }

    #[test]
    fn keys_to_console_bytes() {
        let mut t = KeyTranslator::default();
        assert_eq!(press(&mut t, 0x61), Some(b"a".to_vec()));
        assert_eq!(press(&mut t, 0xE9), Some(vec![0xE9]));
        assert_eq!(press(&mut t, 0xFF0D), Some(b"\r".to_vec()));
        assert_eq!(press(&mut t, 0xFF08), Some(vec![0x7F]));
        assert_eq!(press(&mut t, 0xFF09), Some(b"\t".to_vec()));
        assert_eq!(press(&mut t, 0xFF1B), Some(vec![0x1B]));
        assert_eq!(press(&mut t, 0xFF52), Some(b"\x1b[A".to_vec()));
        assert_eq!(press(&mut t, 0xFF54), Some(b"\x1b[B".to_vec()));
        assert_eq!(press(&mut t, 0xFF53), Some(b"\x1b[C".to_vec()));
        assert_eq!(press(&mut t, 0xFF51), Some(b"\x1b[D".to_vec()));
        assert_eq!(press(&mut t, 0xFFBE), Some(b"\x1bOP".to_vec()));
        assert_eq!(press(&mut t, 0xFFC7), Some(b"\x1b[21~".to_vec())); // F10
        assert_eq!(press(&mut t, 0xFFFF), Some(b"\x1b[3~".to_vec()));
        assert_eq!(press(&mut t, 0x1717_0001), None);
        assert_eq!(t.key(false, 0x61), None);
        assert_eq!(
            KeyTranslator::new(Backspace::CtrlH).key(true, 0xFF08),
            Some(vec![0x08])
        );
    }

    #[test]
    fn modifiers() {
        let mut t = KeyTranslator::default();
        assert_eq!(t.key(true, 0xFFE3), None);
        assert_eq!(press(&mut t, 0x63), Some(vec![0x03])); // Ctrl-C
        assert_eq!(press(&mut t, 0x5B), Some(vec![0x1B])); // Ctrl-[
        t.key(false, 0xFFE3);
        assert_eq!(press(&mut t, 0x63), Some(b"c".to_vec()));
        t.key(true, 0xFFE9);
        assert_eq!(press(&mut t, 0x78), Some(b"\x1bx".to_vec())); // Alt-x
    }
}
