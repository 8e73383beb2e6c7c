//! RFB message types (RFC 6143 §7) as AMT firmware and its clients use them,
//! and their wire layouts. Decoding of client messages is in [`crate::codec`];
//! everything here writes bytes.

use crate::pixel::{PixelFormat, Rgb};

/// What the device announces: AMT speaks "4.0" (handled as 3.8).
pub const SERVER_VERSION: &[u8; 12] = b"RFB 004.000\n";

/// Desktop name in ServerInit; noVNC switches to 8-bit colour on it.
pub const AMT_DESKTOP_NAME: &str = "Intel(r) AMT KVM";

/// Protocol version the client answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V3_3,
    V3_7,
    /// 3.8, and 4.0 (which follows 3.8's rules).
    V3_8,
}

/// Security types this crate offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SecurityType {
    /// Over the redirection port: the client authenticated with digest already.
    None = 1,
    /// On port 5900: DES challenge keyed by `RFBPassword`.
    VncAuth = 2,
}

/// An encoding number (signed: pseudo-encodings are negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encoding(pub i32);

impl Encoding {
    pub const RAW: Encoding = Encoding(0);
    pub const COPY_RECT: Encoding = Encoding(1);
    /// What Intel and MeshCommander call "RLE": RFC 6143's ZRLE number,
    /// u32 length + deflate data per rectangle.
    pub const INTEL_RLE: Encoding = Encoding(16);
    /// Intel's in-band KVM data channel (rides in cut-text payloads).
    pub const KVM_DATA_CHANNEL: Encoding = Encoding(1092);
    pub const DESKTOP_SIZE: Encoding = Encoding(-223);
    pub const LAST_RECT: Encoding = Encoding(-224);
    pub const QEMU_EXTENDED_KEY: Encoding = Encoding(-258);
}

/// A rectangle in framebuffer pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub const fn new(x: u16, y: u16, w: u16, h: u16) -> Self {
        Rect { x, y, w, h }
    }

    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    fn right(&self) -> u32 {
        u32::from(self.x) + u32::from(self.w)
    }

    fn bottom(&self) -> u32 {
        u32::from(self.y) + u32::from(self.h)
    }

    /// The overlap of two rectangles (empty when none).
    pub fn intersect(&self, o: &Rect) -> Rect {
        let x = self.x.max(o.x);
        let y = self.y.max(o.y);
        let r = self.right().min(o.right());
        let b = self.bottom().min(o.bottom());
        if r <= u32::from(x) || b <= u32::from(y) {
            return Rect::default();
        }
        // r - x fits: both ends are within u16 range of x's rectangle.
        Rect::new(x, y, (r - u32::from(x)) as u16, (b - u32::from(y)) as u16)
    }

    /// The smallest rectangle holding both (an empty one is ignored).
    pub fn union(&self, o: &Rect) -> Rect {
        if self.is_empty() {
            return *o;
        }
        if o.is_empty() {
            return *self;
        }
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        let r = self.right().max(o.right());
        let b = self.bottom().max(o.bottom());
        let w = (r - u32::from(x)).min(u32::from(u16::MAX)) as u16;
        let h = (b - u32::from(y)).min(u32::from(u16::MAX)) as u16;
        Rect::new(x, y, w, h)
    }

    pub fn contains(&self, o: &Rect) -> bool {
        o.x >= self.x && o.y >= self.y && o.right() <= self.right() && o.bottom() <= self.bottom()
    }
}

/// A message from the client once the session is initialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    SetPixelFormat(PixelFormat),
    SetEncodings(Vec<Encoding>),
    FramebufferUpdateRequest {
        incremental: bool,
        rect: Rect,
    },
    KeyEvent {
        down: bool,
        keysym: u32,
    },
    PointerEvent {
        buttons: u8,
        x: u16,
        y: u16,
    },
    /// Latin-1 text, or Intel's `\0KvmDataChannel\0` / `\0KvmExtCmd\0` payloads.
    ClientCutText(Vec<u8>),
}

impl ClientMessage {
    /// Writes the message as a client would (used by tests and client code).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientMessage::SetPixelFormat(pf) => {
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&pf.to_bytes());
            }
            ClientMessage::SetEncodings(encs) => {
                out.extend_from_slice(&[2, 0]);
                let n = encs.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for e in &encs[..n] {
                    out.extend_from_slice(&e.0.to_be_bytes());
                }
            }
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                out.extend_from_slice(&[3, u8::from(*incremental)]);
                put_rect(rect, out);
            }
            ClientMessage::KeyEvent { down, keysym } => {
                out.extend_from_slice(&[4, u8::from(*down), 0, 0]);
                out.extend_from_slice(&keysym.to_be_bytes());
            }
            ClientMessage::PointerEvent { buttons, x, y } => {
                out.extend_from_slice(&[5, *buttons]);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
            }
            ClientMessage::ClientCutText(text) => {
                out.extend_from_slice(&[6, 0, 0, 0]);
                put_cut_text(text, out);
            }
        }
    }
}

fn put_rect(r: &Rect, out: &mut Vec<u8>) {
    for v in [r.x, r.y, r.w, r.h] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn put_cut_text(text: &[u8], out: &mut Vec<u8>) {
    let n = text.len().min(u32::MAX as usize);
    out.extend_from_slice(&(n as u32).to_be_bytes());
    out.extend_from_slice(&text[..n]);
}

/// The security-type list of 3.7/3.8 (u8 count + types).
pub fn security_types(types: &[SecurityType], out: &mut Vec<u8>) {
    out.push(types.len() as u8);
    out.extend(types.iter().map(|t| *t as u8));
}

/// SecurityResult: u32 0 for success; on failure u32 1 and, from 3.8 on,
/// a reason string.
pub fn security_result(ok: bool, reason: &str, version: Version, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::from(!ok).to_be_bytes());
    if !ok && version >= Version::V3_8 {
        put_cut_text(reason.as_bytes(), out);
    }
}

/// ServerInit: size, pixel format, name.
pub fn server_init(width: u16, height: u16, pf: &PixelFormat, name: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&pf.to_bytes());
    put_cut_text(name.as_bytes(), out);
}

/// FramebufferUpdate header; rectangles follow.
pub fn framebuffer_update_header(rects: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&rects.to_be_bytes());
}

/// A rectangle header inside a FramebufferUpdate.
pub fn rect_header(r: &Rect, enc: Encoding, out: &mut Vec<u8>) {
    put_rect(r, out);
    out.extend_from_slice(&enc.0.to_be_bytes());
}

/// SetColourMapEntries with 8-bit colours widened to RFB's 16-bit channels.
pub fn set_colour_map_entries(first: u16, colours: &[Rgb], out: &mut Vec<u8>) {
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&first.to_be_bytes());
    let n = colours.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    for c in &colours[..n] {
        for ch in [c.r, c.g, c.b] {
            out.extend_from_slice(&(u16::from(ch) * 257).to_be_bytes());
        }
    }
}

pub fn bell(out: &mut Vec<u8>) {
    out.push(2);
}

pub fn server_cut_text(text: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[3, 0, 0, 0]);
    put_cut_text(text, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_init_layout() {
        let mut out = vec![];
        server_init(720, 400, &PixelFormat::RGB565, AMT_DESKTOP_NAME, &mut out);
        let mut want = vec![0x02, 0xD0, 0x01, 0x90];
        want.extend_from_slice(&[16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 16]);
        want.extend_from_slice(b"Intel(r) AMT KVM");
        assert_eq!(out, want);
    }

    #[test]
    fn security_layouts() {
        let mut out = vec![];
        security_types(&[SecurityType::None], &mut out);
        assert_eq!(out, [1, 1]);
        out.clear();
        security_result(true, "", Version::V3_8, &mut out);
        assert_eq!(out, [0, 0, 0, 0]);
        out.clear();
        security_result(false, "no", Version::V3_8, &mut out);
        assert_eq!(out, [0, 0, 0, 1, 0, 0, 0, 2, b'n', b'o']);
        out.clear();
        security_result(false, "no", Version::V3_3, &mut out);
        assert_eq!(out, [0, 0, 0, 1]);
    }

    #[test]
    fn server_message_layouts() {
        let mut out = vec![];
        framebuffer_update_header(2, &mut out);
        rect_header(&Rect::new(64, 1, 16, 2), Encoding::DESKTOP_SIZE, &mut out);
        assert_eq!(
            out,
            [0, 0, 0, 2, 0, 64, 0, 1, 0, 16, 0, 2, 0xFF, 0xFF, 0xFF, 0x21]
        );
        out.clear();
        bell(&mut out);
        server_cut_text(b"hi", &mut out);
        assert_eq!(out, [2, 3, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        out.clear();
        set_colour_map_entries(0, &[Rgb::new(0xFF, 0, 0x55)], &mut out);
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0, 0, 0x55, 0x55]);
    }

    #[test]
    fn client_message_layouts() {
        let cases: Vec<(ClientMessage, Vec<u8>)> = vec![
            (
                ClientMessage::SetEncodings(vec![Encoding::INTEL_RLE, Encoding::DESKTOP_SIZE]),
                vec![2, 0, 0, 2, 0, 0, 0, 16, 0xFF, 0xFF, 0xFF, 0x21],
            ),
            (
                ClientMessage::FramebufferUpdateRequest {
                    incremental: true,
                    rect: Rect::new(0, 0, 720, 400),
                },
                vec![3, 1, 0, 0, 0, 0, 0x02, 0xD0, 0x01, 0x90],
            ),
            (
                ClientMessage::KeyEvent {
                    down: true,
                    keysym: 0xff0d,
                },
                vec![4, 1, 0, 0, 0, 0, 0xFF, 0x0D],
            ),
            (
                ClientMessage::PointerEvent {
                    buttons: 1,
                    x: 300,
                    y: 2,
                },
                vec![5, 1, 0x01, 0x2C, 0, 2],
            ),
            (
                ClientMessage::ClientCutText(b"ab".to_vec()),
                vec![6, 0, 0, 0, 0, 0, 0, 2, b'a', b'b'],
            ),
        ];
        for (msg, bytes) in cases {
            let mut out = vec![];
            msg.encode(&mut out);
            assert_eq!(out, bytes, "{msg:?}");
        }
    }

    #[test]
    fn rect_arithmetic() {
        let a = Rect::new(0, 0, 100, 100);
        let b = Rect::new(64, 64, 64, 64);
        assert_eq!(a.intersect(&b), Rect::new(64, 64, 36, 36));
        assert!(a.intersect(&Rect::new(100, 0, 5, 5)).is_empty());
        assert_eq!(a.union(&b), Rect::new(0, 0, 128, 128));
        assert!(a.contains(&Rect::new(10, 10, 90, 90)));
        assert!(!a.contains(&b));
        let far = Rect::new(u16::MAX, u16::MAX, u16::MAX, u16::MAX);
        assert_eq!(far.intersect(&far), far);
    }
}
