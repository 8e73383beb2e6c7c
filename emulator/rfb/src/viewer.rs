//! The viewer's side of RFB, sans-I/O: how amtemu reads another server's
//! screen (a QEMU virtual machine's VNC display) to show it as the host's
//! screen over KVM.
//!
//! Bytes from the server go in ([`Viewer::receive`]), typed
//! [`ViewerEvent`]s come out, and what the viewer says (its handshake
//! answers, update requests, keys and pointer) collects in an output
//! buffer ([`Viewer::take_output`]). The viewer asks for 32-bit xRGB
//! pixels in Raw and CopyRect rectangles, and for DesktopSize, which a
//! local socket carries cheaply and which need no decompressor. After each
//! update it asks for the next, incremental, one; a server that follows
//! RFC 6143 then sends only what changed, when it changed.
//!
//! The server's bytes are read as untrusted: a screen over [`MAX_PIXELS`],
//! a rectangle outside the screen, an encoding or message that was not
//! asked for, an over-long name or cut text is a typed error and ends the
//! viewer, never a panic or an allocation the server sized.

use crate::messages::{ClientMessage, Encoding, Rect};
use crate::pixel::{PIXEL_FORMAT_LEN, PixelFormat, Rgb};

/// The largest screen the viewer mirrors (a 4K monitor): the framebuffer
/// and one Raw rectangle of it are what the server can make it hold.
pub const MAX_PIXELS: u32 = 3840 * 2160;

/// The longest desktop name or failure reason read.
pub const MAX_NAME: u32 = 4096;

/// The longest ServerCutText accepted (the viewer has no use for it but
/// must read past it).
pub const MAX_CUT_TEXT: u32 = 256 * 1024;

/// What the viewer asks the server for: 32-bit little-endian xRGB, so
/// every colour arrives as the server has it.
pub const PIXEL_FORMAT: PixelFormat = PixelFormat::RGB888;

/// The encodings the viewer decodes, in its order of preference.
pub const ENCODINGS: [Encoding; 3] = [Encoding::RAW, Encoding::COPY_RECT, Encoding::DESKTOP_SIZE];

/// What the server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewerEvent {
    /// ServerInit: the handshake is over; the screen's size and name.
    Ready {
        width: u16,
        height: u16,
        name: String,
    },
    /// The screen changed size (DesktopSize); its content is to come.
    Resized {
        width: u16,
        height: u16,
    },
    /// New pixels for `rect`, row by row.
    Pixels {
        rect: Rect,
        pixels: Vec<Rgb>,
    },
    /// `rect` is a copy of the same-sized area at `(src_x, src_y)`, as the
    /// screen was before this rectangle.
    Copy {
        rect: Rect,
        src_x: u16,
        src_y: u16,
    },
    /// A FramebufferUpdate is complete: the screen is as the server had
    /// it (the viewer has asked for the next one).
    UpdateDone,
    Bell,
}

/// Why the server's bytes cannot be read on.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewerError {
    /// Not `RFB 003.00x` with x ≥ 3.
    UnsupportedVersion([u8; 12]),
    /// The server offered no security type the viewer has (None).
    NoUsableSecurity(Vec<u8>),
    /// The server refused the connection or the security handshake.
    Refused(String),
    /// A desktop name, reason or cut text over its bound.
    TooLong(u32),
    /// A screen of more than [`MAX_PIXELS`] (or of no pixels).
    ScreenSize(u16, u16),
    /// A rectangle that is not inside the screen.
    OutsideScreen(Rect),
    /// An encoding the viewer did not ask for.
    UnexpectedEncoding(i32),
    /// A server message type the viewer does not know.
    UnknownMessage(u8),
    /// The viewer ended earlier.
    Closed,
}

impl core::fmt::Display for ViewerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => write!(
                f,
                "unsupported server version {:?}",
                v.escape_ascii().to_string()
            ),
            Self::NoUsableSecurity(t) => write!(f, "no usable security type in {t:?}"),
            Self::Refused(why) => write!(f, "refused: {why}"),
            Self::TooLong(n) => write!(f, "a string of {n} bytes"),
            Self::ScreenSize(w, h) => write!(f, "a {w}x{h} screen"),
            Self::OutsideScreen(r) => write!(f, "rectangle {r:?} outside the screen"),
            Self::UnexpectedEncoding(e) => write!(f, "encoding {e} was not asked for"),
            Self::UnknownMessage(t) => write!(f, "unknown server message type {t}"),
            Self::Closed => write!(f, "viewer closed"),
        }
    }
}

impl std::error::Error for ViewerError {}

/// The protocol versions the viewer speaks (the server's, capped at 3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V3_3,
    V3_7,
    V3_8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Version,
    /// 3.7/3.8: the list of security types; 3.3: the server's choice.
    Security(Version),
    /// 3.8 after None: the SecurityResult.
    SecurityResult,
    ServerInit,
    Normal,
    /// Inside a FramebufferUpdate: rectangles still to come.
    Rectangles(u16),
    Closed,
}

#[derive(Debug)]
pub struct Viewer {
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    width: u16,
    height: u16,
    /// The next request asks for everything (at the start and after a
    /// size change).
    want_full: bool,
}

impl Default for Viewer {
    fn default() -> Self {
        Self::new()
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*b.get(at..)?.first_chunk::<2>()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*b.get(at..)?.first_chunk::<4>()?))
}

/// A length-prefixed string at `at`: `Ok(None)` while incomplete, else it
/// and the bytes it took (prefix included).
fn string_at(b: &[u8], at: usize) -> Result<Option<(String, usize)>, ViewerError> {
    let Some(n) = be32(b, at) else {
        return Ok(None);
    };
    if n > MAX_NAME {
        return Err(ViewerError::TooLong(n));
    }
    let Some(text) = b.get(at + 4..at + 4 + n as usize) else {
        return Ok(None);
    };
    Ok(Some((
        String::from_utf8_lossy(text).into_owned(),
        4 + n as usize,
    )))
}

impl Viewer {
    /// A viewer waiting for the server's ProtocolVersion.
    pub fn new() -> Viewer {
        Viewer {
            state: State::Version,
            input: Vec::new(),
            output: Vec::new(),
            width: 0,
            height: 0,
            want_full: true,
        }
    }

    /// Bytes to send to the server, in order.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The screen's size (0x0 before ServerInit).
    pub fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// True once ServerInit has arrived.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Normal | State::Rectangles(_))
    }

    /// A key to pass on (once ready; dropped before).
    pub fn key(&mut self, down: bool, keysym: u32) {
        if self.is_ready() {
            ClientMessage::KeyEvent { down, keysym }.encode(&mut self.output);
        }
    }

    /// The pointer to pass on, clipped to the screen (once ready).
    pub fn pointer(&mut self, buttons: u8, x: u16, y: u16) {
        if self.is_ready() {
            let x = x.min(self.width.saturating_sub(1));
            let y = y.min(self.height.saturating_sub(1));
            ClientMessage::PointerEvent { buttons, x, y }.encode(&mut self.output);
        }
    }

    /// Asks for the whole screen now (what the viewer's user drew over is
    /// needed again); the incremental requests go on after it.
    pub fn request_full(&mut self) {
        if self.is_ready() {
            let rect = Rect::new(0, 0, self.width, self.height);
            ClientMessage::FramebufferUpdateRequest {
                incremental: false,
                rect,
            }
            .encode(&mut self.output);
        }
    }

    /// Feeds bytes from the server; events are appended to `events` (those
    /// before an error stay there). After an error the viewer is closed.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        events: &mut Vec<ViewerEvent>,
    ) -> Result<(), ViewerError> {
        if self.state == State::Closed {
            return Err(ViewerError::Closed);
        }
        self.input.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            match self.step(at, events) {
                Ok(Some(n)) => at += n,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                self.input.drain(..at);
                Ok(())
            }
            Err(e) => {
                self.state = State::Closed;
                self.input = Vec::new();
                Err(e)
            }
        }
    }

    /// Handles one unit of input at `at`; `Ok(None)` when more is needed.
    fn step(
        &mut self,
        at: usize,
        events: &mut Vec<ViewerEvent>,
    ) -> Result<Option<usize>, ViewerError> {
        let buf = &self.input[at..];
        match self.state {
            State::Version => {
                let Some(v) = buf.first_chunk::<12>() else {
                    return Ok(None);
                };
                let version = parse_version(v)?;
                self.output.extend_from_slice(match version {
                    Version::V3_3 => b"RFB 003.003\n",
                    Version::V3_7 => b"RFB 003.007\n",
                    Version::V3_8 => b"RFB 003.008\n",
                });
                self.state = State::Security(version);
                Ok(Some(12))
            }
            State::Security(Version::V3_3) => {
                let Some(chosen) = be32(buf, 0) else {
                    return Ok(None);
                };
                match chosen {
                    0 => match string_at(buf, 4)? {
                        Some((why, _)) => Err(ViewerError::Refused(why)),
                        None => Ok(None),
                    },
                    1 => {
                        self.client_init();
                        Ok(Some(4))
                    }
                    other => Err(ViewerError::NoUsableSecurity(vec![other as u8])),
                }
            }
            State::Security(version) => {
                let Some(&count) = buf.first() else {
                    return Ok(None);
                };
                if count == 0 {
                    return match string_at(buf, 1)? {
                        Some((why, _)) => Err(ViewerError::Refused(why)),
                        None => Ok(None),
                    };
                }
                let Some(types) = buf.get(1..1 + usize::from(count)) else {
                    return Ok(None);
                };
                if !types.contains(&1) {
                    return Err(ViewerError::NoUsableSecurity(types.to_vec()));
                }
                self.output.push(1);
                if version == Version::V3_8 {
                    self.state = State::SecurityResult;
                } else {
                    self.client_init();
                }
                Ok(Some(1 + usize::from(count)))
            }
            State::SecurityResult => {
                let Some(result) = be32(buf, 0) else {
                    return Ok(None);
                };
                if result != 0 {
                    return match string_at(buf, 4)? {
                        Some((why, _)) => Err(ViewerError::Refused(why)),
                        None => Ok(None),
                    };
                }
                self.client_init();
                Ok(Some(4))
            }
            State::ServerInit => {
                const HEAD: usize = 4 + PIXEL_FORMAT_LEN;
                let (Some(width), Some(height)) = (be16(buf, 0), be16(buf, 2)) else {
                    return Ok(None);
                };
                let Some((name, n)) = string_at(buf, HEAD)? else {
                    return Ok(None);
                };
                check_size(width, height)?;
                (self.width, self.height) = (width, height);
                self.state = State::Normal;
                ClientMessage::SetPixelFormat(PIXEL_FORMAT).encode(&mut self.output);
                ClientMessage::SetEncodings(ENCODINGS.to_vec()).encode(&mut self.output);
                self.request_update();
                events.push(ViewerEvent::Ready {
                    width,
                    height,
                    name,
                });
                Ok(Some(HEAD + n))
            }
            State::Normal => self.message(at, events),
            State::Rectangles(left) => {
                let Some(n) = self.rectangle(at, events)? else {
                    return Ok(None);
                };
                if left <= 1 {
                    self.update_done(events);
                } else {
                    self.state = State::Rectangles(left - 1);
                }
                Ok(Some(n))
            }
            State::Closed => Err(ViewerError::Closed),
        }
    }

    fn client_init(&mut self) {
        // Shared: the VM's display may have another viewer (a screenshot
        // while a session looks), and neither should end the other.
        self.output.push(1);
        self.state = State::ServerInit;
    }

    fn request_update(&mut self) {
        let rect = Rect::new(0, 0, self.width, self.height);
        let incremental = !std::mem::take(&mut self.want_full);
        ClientMessage::FramebufferUpdateRequest { incremental, rect }.encode(&mut self.output);
    }

    fn update_done(&mut self, events: &mut Vec<ViewerEvent>) {
        self.state = State::Normal;
        self.request_update();
        events.push(ViewerEvent::UpdateDone);
    }

    /// One server message in the normal state.
    fn message(
        &mut self,
        at: usize,
        events: &mut Vec<ViewerEvent>,
    ) -> Result<Option<usize>, ViewerError> {
        let buf = &self.input[at..];
        let Some(&kind) = buf.first() else {
            return Ok(None);
        };
        match kind {
            // FramebufferUpdate: padding, then the rectangle count.
            0 => {
                let Some(count) = be16(buf, 2) else {
                    return Ok(None);
                };
                if count == 0 {
                    self.update_done(events);
                } else {
                    self.state = State::Rectangles(count);
                }
                Ok(Some(4))
            }
            // SetColourMapEntries: not asked for (true colour), read past.
            1 => {
                let Some(n) = be16(buf, 4) else {
                    return Ok(None);
                };
                let len = 6 + 6 * usize::from(n);
                Ok((buf.len() >= len).then_some(len))
            }
            2 => {
                events.push(ViewerEvent::Bell);
                Ok(Some(1))
            }
            // ServerCutText: read past.
            3 => {
                let Some(n) = be32(buf, 4) else {
                    return Ok(None);
                };
                if n > MAX_CUT_TEXT {
                    return Err(ViewerError::TooLong(n));
                }
                let len = 8 + n as usize;
                Ok((buf.len() >= len).then_some(len))
            }
            other => Err(ViewerError::UnknownMessage(other)),
        }
    }

    /// One rectangle of an update at `at`, once all of it is there.
    fn rectangle(
        &mut self,
        at: usize,
        events: &mut Vec<ViewerEvent>,
    ) -> Result<Option<usize>, ViewerError> {
        let buf = &self.input[at..];
        let Some(head) = buf.first_chunk::<12>() else {
            return Ok(None);
        };
        let field = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
        let rect = Rect::new(field(0), field(2), field(4), field(6));
        let encoding = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let screen = Rect::new(0, 0, self.width, self.height);
        match Encoding(encoding) {
            Encoding::DESKTOP_SIZE => {
                check_size(rect.w, rect.h)?;
                (self.width, self.height) = (rect.w, rect.h);
                self.want_full = true;
                events.push(ViewerEvent::Resized {
                    width: rect.w,
                    height: rect.h,
                });
                Ok(Some(12))
            }
            _ if !screen.contains(&rect) => Err(ViewerError::OutsideScreen(rect)),
            Encoding::RAW => {
                let bpp = PIXEL_FORMAT.bytes_per_pixel();
                let len = usize::from(rect.w) * usize::from(rect.h) * bpp;
                let Some(data) = buf.get(12..12 + len) else {
                    return Ok(None);
                };
                let pixels = data
                    .chunks_exact(bpp)
                    .map(|p| PIXEL_FORMAT.unpack(PIXEL_FORMAT.get(p).unwrap_or(0)))
                    .collect();
                events.push(ViewerEvent::Pixels { rect, pixels });
                Ok(Some(12 + len))
            }
            Encoding::COPY_RECT => {
                let (Some(src_x), Some(src_y)) = (be16(buf, 12), be16(buf, 14)) else {
                    return Ok(None);
                };
                let src = Rect::new(src_x, src_y, rect.w, rect.h);
                if !screen.contains(&src) {
                    return Err(ViewerError::OutsideScreen(src));
                }
                events.push(ViewerEvent::Copy { rect, src_x, src_y });
                Ok(Some(16))
            }
            Encoding(other) => Err(ViewerError::UnexpectedEncoding(other)),
        }
    }
}

fn parse_version(v: &[u8; 12]) -> Result<Version, ViewerError> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = std::str::from_utf8(v.get(r)?).ok()?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let parsed = (v.starts_with(b"RFB ") && v[7] == b'.' && v[11] == b'\n')
        .then(|| Some((digits(4..7)?, digits(8..11)?)))
        .flatten();
    match parsed {
        Some((3, minor)) if minor >= 8 => Ok(Version::V3_8),
        Some((3, 7)) => Ok(Version::V3_7),
        Some((3, 3..=6)) => Ok(Version::V3_3),
        Some((major, _)) if major > 3 => Ok(Version::V3_8),
        _ => Err(ViewerError::UnsupportedVersion(*v)),
    }
}

fn check_size(width: u16, height: u16) -> Result<(), ViewerError> {
    let pixels = u32::from(width) * u32::from(height);
    if pixels == 0 || pixels > MAX_PIXELS {
        return Err(ViewerError::ScreenSize(width, height));
    }
    Ok(())
}

#[cfg(test)]
#[path = "viewer_tests.rs"]
mod tests;
