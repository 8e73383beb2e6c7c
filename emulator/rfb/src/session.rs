//! A server-side RFB session as a sans-I/O state machine: bytes from the
//! client go in ([`Session::receive`]), events come out, and bytes to send
//! collect in an output buffer ([`Session::take_output`]). Framebuffer
//! updates are made from a [`Framebuffer`] when the client asked for one
//! ([`Session::poll_update`]).
//!
//! States follow RFC 6143: version → security (a challenge on port 5900) →
//! ClientInit → ServerInit → normal; an unexpected byte is an error value
//! and closes the session, never a panic.
//!
//! Updates never pile up: at most one update sits unsent in the output, and
//! while the caller reports that the client is not reading, none is made.
//! Changes meanwhile are remembered per tile, so the next update carries
//! them all at once (coalesced, not appended).

use crate::auth::{CHALLENGE_LEN, vnc_auth_verify};
use crate::codec::{self, DecodeError};
use crate::encode::{EncodeError, RleEncoder, RleStream, encode_raw};
use crate::framebuffer::Framebuffer;
use crate::messages::{self, ClientMessage, Encoding, Rect, SecurityType, Version};
use crate::pixel::{COLOUR_MAP, PixelFormat};

/// How the client reached the device, which decides security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// KVMR over 16994/16995: already authenticated, security type None.
    Redirection,
    /// Port 5900: VNC authentication with `password` (first 8 bytes count)
    /// and a `challenge` the caller draws at random (no RNG in here).
    Port5900 {
        password: Vec<u8>,
        challenge: [u8; CHALLENGE_LEN],
    },
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub transport: Transport,
    /// ServerInit's desktop name.
    pub name: String,
    /// How Intel-RLE rectangles are wrapped; `None` is one zlib stream
    /// (with its header) for the session, on both transports: RFC 6143
    /// viewers expect it on 5900, and MeshCommander, although it creates a
    /// raw inflater, resets it at the KVM start (0x41) with zlib.js's
    /// default window bits, which expect the zlib header (checked against
    /// npm meshcentral 1.1.55's amt-desktop-0.0.2.js and zlib-inflate.js).
    pub rle_stream: Option<RleStream>,
}

impl SessionConfig {
    pub fn redirection() -> Self {
        SessionConfig {
            transport: Transport::Redirection,
            name: messages::AMT_DESKTOP_NAME.to_owned(),
            rle_stream: None,
        }
    }

    pub fn port_5900(password: &[u8], challenge: [u8; CHALLENGE_LEN]) -> Self {
        SessionConfig {
            transport: Transport::Port5900 {
                password: password.to_vec(),
                challenge,
            },
            ..Self::redirection()
        }
    }
}

/// What the client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake finished; ServerInit has been queued.
    Initialised {
        shared: bool,
    },
    Key {
        down: bool,
        keysym: u32,
    },
    Pointer {
        buttons: u8,
        x: u16,
        y: u16,
    },
    /// Clipboard text, or Intel's KVM data-channel payloads.
    CutText(Vec<u8>),
    UpdateRequested {
        incremental: bool,
        rect: Rect,
    },
    /// The server decides whether to keep a client with this format
    /// (firmware drops 32 bpp; see [`PixelFormat::firmware_accepts`]).
    PixelFormatSet(PixelFormat),
    EncodingsSet(Vec<Encoding>),
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    Decode(DecodeError),
    /// The client picked a security type that was not offered.
    SecurityTypeRefused(u8),
    /// Wrong VNC password; the failure result is in the output.
    AuthenticationFailed,
    Encode(EncodeError),
    /// The session ended earlier.
    Closed,
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "{e}"),
            Self::SecurityTypeRefused(t) => write!(f, "security type {t} was not offered"),
            Self::AuthenticationFailed => write!(f, "VNC authentication failed"),
            Self::Encode(e) => write!(f, "{e}"),
            Self::Closed => write!(f, "session closed"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<DecodeError> for SessionError {
    fn from(e: DecodeError) -> Self {
        SessionError::Decode(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Version,
    SecurityChoice(Version),
    AuthResponse(Version),
    ClientInit,
    Normal,
    Closed,
}

#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    update_unsent: bool,
    client_reading: bool,
    pf: PixelFormat,
    encodings: Vec<Encoding>,
    request: Option<(bool, Rect)>,
    /// Per framebuffer tile, the generation the client has.
    client_tiles: Vec<u64>,
    size: (u16, u16),
    size_generation: Option<u64>,
    sent_any: bool,
    rle: RleEncoder,
}

impl Session {
    /// Starts a session for a `width`x`height` screen; the version banner
    /// is already in the output.
    pub fn new(config: SessionConfig, width: u16, height: u16) -> Self {
        let stream = config.rle_stream.unwrap_or(RleStream::Zlib);
        Session {
            config,
            state: State::Version,
            input: Vec::new(),
            output: messages::SERVER_VERSION.to_vec(),
            update_unsent: false,
            client_reading: true,
            pf: PixelFormat::RGB565,
            encodings: Vec::new(),
            request: None,
            client_tiles: Vec::new(),
            size: (width, height),
            size_generation: None,
            sent_any: false,
            rle: RleEncoder::new(stream),
        }
    }

    /// Bytes to send, in order; taking them means the caller will write them.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.update_unsent = false;
        std::mem::take(&mut self.output)
    }

    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// The caller reports whether the client keeps up (its socket drains).
    /// While not, no update is made; what changes meanwhile comes in one
    /// update afterwards.
    pub fn set_client_reading(&mut self, reading: bool) {
        self.client_reading = reading;
    }

    /// True once ServerInit has been sent.
    pub fn is_initialised(&self) -> bool {
        self.state == State::Normal
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn pixel_format(&self) -> &PixelFormat {
        &self.pf
    }

    pub fn encodings(&self) -> &[Encoding] {
        &self.encodings
    }

    /// Whether an update request waits to be answered.
    pub fn update_requested(&self) -> bool {
        self.request.is_some()
    }

    fn fail(&mut self, e: SessionError) -> Result<(), SessionError> {
        self.state = State::Closed;
        self.input.clear();
        Err(e)
    }

    /// Feeds bytes from the client; events are appended to `events` (those
    /// before an error stay there). After an error the session is closed:
    /// send what [`Session::take_output`] holds, then close the connection.
    pub fn receive(&mut self, bytes: &[u8], events: &mut Vec<Event>) -> Result<(), SessionError> {
        if self.state == State::Closed {
            return Err(SessionError::Closed);
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
            Err(e) => self.fail(e),
        }
    }

    /// Handles one unit of input at `at`; `Ok(None)` when more is needed.
    fn step(&mut self, at: usize, events: &mut Vec<Event>) -> Result<Option<usize>, SessionError> {
        let buf = &self.input[at..];
        match self.state {
            State::Version => {
                let Some(v) = codec::decode_version(buf)? else {
                    return Ok(None);
                };
                self.offer_security(v);
                Ok(Some(12))
            }
            State::SecurityChoice(v) => {
                let Some(&t) = buf.first() else {
                    return Ok(None);
                };
                let offered = self.security_type();
                if t != offered as u8 {
                    messages::security_result(
                        false,
                        "security type not offered",
                        v,
                        &mut self.output,
                    );
                    return Err(SessionError::SecurityTypeRefused(t));
                }
                self.after_security_choice(v);
                Ok(Some(1))
            }
            State::AuthResponse(v) => {
                let Some(resp) = buf.first_chunk::<CHALLENGE_LEN>() else {
                    return Ok(None);
                };
                let ok = match &self.config.transport {
                    Transport::Port5900 {
                        password,
                        challenge,
                    } => vnc_auth_verify(password, challenge, resp),
                    Transport::Redirection => false,
                };
                messages::security_result(ok, "authentication failed", v, &mut self.output);
                if !ok {
                    return Err(SessionError::AuthenticationFailed);
                }
                self.state = State::ClientInit;
                Ok(Some(CHALLENGE_LEN))
            }
            State::ClientInit => {
                let Some(&shared) = buf.first() else {
                    return Ok(None);
                };
                let (w, h) = self.size;
                messages::server_init(w, h, &self.pf, &self.config.name, &mut self.output);
                self.state = State::Normal;
                events.push(Event::Initialised {
                    shared: shared != 0,
                });
                Ok(Some(1))
            }
            State::Normal => {
                let Some((msg, n)) = codec::decode(buf)? else {
                    return Ok(None);
                };
                self.handle(msg, events);
                Ok(Some(n))
            }
            State::Closed => Err(SessionError::Closed),
        }
    }

    fn security_type(&self) -> SecurityType {
        match self.config.transport {
            Transport::Redirection => SecurityType::None,
            Transport::Port5900 { .. } => SecurityType::VncAuth,
        }
    }

    fn offer_security(&mut self, v: Version) {
        let t = self.security_type();
        if v == Version::V3_3 {
            // 3.3: the server decides and says so in a u32.
            self.output.extend_from_slice(&(t as u32).to_be_bytes());
            self.after_security_choice(v);
        } else {
            messages::security_types(&[t], &mut self.output);
            self.state = State::SecurityChoice(v);
        }
    }

    fn after_security_choice(&mut self, v: Version) {
        match &self.config.transport {
            Transport::Redirection => {
                // 3.8 (MeshCommander) expects SecurityResult even for None.
                if v == Version::V3_8 {
                    messages::security_result(true, "", v, &mut self.output);
                }
                self.state = State::ClientInit;
            }
            Transport::Port5900 { challenge, .. } => {
                self.output.extend_from_slice(challenge);
                self.state = State::AuthResponse(v);
            }
        }
    }

    fn handle(&mut self, msg: ClientMessage, events: &mut Vec<Event>) {
        match msg {
            ClientMessage::SetPixelFormat(pf) => {
                self.pf = pf;
                if !pf.true_colour {
                    messages::set_colour_map_entries(0, COLOUR_MAP, &mut self.output);
                }
                // What the client holds is in the old format: resend all.
                self.client_tiles.clear();
                events.push(Event::PixelFormatSet(pf));
            }
            ClientMessage::SetEncodings(e) => {
                self.encodings = e.clone();
                events.push(Event::EncodingsSet(e));
            }
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                self.request = Some(match self.request {
                    Some((inc, r)) => (inc && incremental, r.union(&rect)),
                    None => (incremental, rect),
                });
                events.push(Event::UpdateRequested { incremental, rect });
            }
            ClientMessage::KeyEvent { down, keysym } => events.push(Event::Key { down, keysym }),
            ClientMessage::PointerEvent { buttons, x, y } => {
                events.push(Event::Pointer { buttons, x, y })
            }
            ClientMessage::ClientCutText(t) => events.push(Event::CutText(t)),
        }
    }

    /// Queues a Bell (once initialised).
    pub fn bell(&mut self) {
        if self.state == State::Normal {
            messages::bell(&mut self.output);
        }
    }

    /// Queues ServerCutText (once initialised), e.g. a KVM data-channel reply.
    pub fn cut_text(&mut self, text: &[u8]) {
        if self.state == State::Normal {
            messages::server_cut_text(text, &mut self.output);
        }
    }

    fn supports(&self, e: Encoding) -> bool {
        self.encodings.contains(&e)
    }

    /// Makes a FramebufferUpdate if one was requested and there is
    /// something to send: the changed tiles for an incremental request,
    /// everything for a full one and for the first request (MeshCommander's
    /// first request is incremental and expects the whole screen). Returns
    /// whether an update was queued.
    pub fn poll_update(&mut self, fb: &Framebuffer) -> Result<bool, SessionError> {
        let Some((incremental, req)) = self.request else {
            return Ok(false);
        };
        if self.state != State::Normal || !self.client_reading || self.update_unsent {
            return Ok(false);
        }
        let tiles_total = fb.tiles_x() * fb.tiles_y();
        let resized = self
            .size_generation
            .is_some_and(|g| g < fb.size_generation())
            && (fb.width(), fb.height()) != self.size;
        if self.size_generation.is_none() || resized || self.client_tiles.len() != tiles_total {
            self.client_tiles = vec![0; tiles_total];
        }
        self.size_generation = Some(fb.size_generation());
        if resized && self.supports(Encoding::DESKTOP_SIZE) {
            // The size change goes alone; the client asks anew for the
            // new screen (MeshCommander sends a full request after it).
            self.size = (fb.width(), fb.height());
            messages::framebuffer_update_header(1, &mut self.output);
            let r = Rect::new(0, 0, fb.width(), fb.height());
            messages::rect_header(&r, Encoding::DESKTOP_SIZE, &mut self.output);
            self.finish_update();
            return Ok(true);
        }
        let full = !incremental || !self.sent_any;
        let visible = Rect::new(0, 0, self.size.0, self.size.1);
        let area = req.intersect(&fb.bounds()).intersect(&visible);
        let mut rects: Vec<(Rect, usize, bool)> = Vec::new();
        for ty in 0..fb.tiles_y() {
            for tx in 0..fb.tiles_x() {
                let t = ty * fb.tiles_x() + tx;
                let tile = fb.tile_rect(tx, ty);
                let part = tile.intersect(&area);
                let stale =
                    fb.tile_generation(tx, ty) > self.client_tiles.get(t).copied().unwrap_or(0);
                if !part.is_empty() && (full || stale) {
                    rects.push((part, t, part == tile));
                }
            }
        }
        if rects.is_empty() && !full {
            return Ok(false);
        }
        // The count is a u16; what does not fit waits for the next request.
        rects.truncate(usize::from(u16::MAX));
        let rle = self
            .encodings
            .iter()
            .find(|e| **e == Encoding::RAW || **e == Encoding::INTEL_RLE)
            == Some(&Encoding::INTEL_RLE);
        let mut out = std::mem::take(&mut self.output);
        messages::framebuffer_update_header(rects.len() as u16, &mut out);
        for &(r, t, whole) in &rects {
            if rle {
                if let Err(e) = self.rle.encode(fb, r, &self.pf, &mut out) {
                    self.output = out;
                    self.state = State::Closed;
                    return Err(SessionError::Encode(e));
                }
            } else {
                encode_raw(fb, r, &self.pf, &mut out);
            }
            if whole && let Some(g) = self.client_tiles.get_mut(t) {
                *g = fb.tile_generation(t % fb.tiles_x(), t / fb.tiles_x());
            }
        }
        self.output = out;
        self.finish_update();
        Ok(true)
    }

    fn finish_update(&mut self) {
        self.request = None;
        self.sent_any = true;
        self.update_unsent = true;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
