//! Encoding framebuffer regions into FramebufferUpdate rectangles.
//!
//! Every rectangle is at most 64x64 ([`tiles`]) since MeshCommander drops
//! larger ones. Two encodings:
//! - Raw (0): pixels in the client's format.
//! - Intel "RLE" (16): RFC 6143's ZRLE number and tile coding (subencodings
//!   raw, solid, packed palette, plain RLE, palette RLE) with one tile per
//!   rectangle, each rectangle a u32 big-endian length and deflate data.
//!   MeshCommander (`amt-desktop-0.0.2.js`) creates one raw-deflate inflater
//!   (`inflateInit(-15)`) per desktop object and feeds it every rectangle, so
//!   the deflate stream continues across rectangles for the whole session and
//!   each rectangle ends on a sync flush. It also takes a rectangle that is a
//!   single stored block (first byte 0, u16 LE length = total − 5) on a fast
//!   path that bypasses the inflater. Generic viewers on 5900 follow RFC 6143:
//!   one zlib stream (with header) per connection. [`RleStream`] picks.

use flate2::{Compress, Compression, FlushCompress};

use crate::framebuffer::{Framebuffer, TILE};
use crate::messages::{Encoding, Rect, rect_header};
use crate::pixel::PixelFormat;

/// Splits `r` along the 64-pixel tile grid into rectangles of at most 64x64.
pub fn tiles(r: Rect) -> impl Iterator<Item = Rect> {
    let step = |from: u16, len: u16| {
        // Clipped to the 16-bit coordinate space, so every span fits a u16.
        let end = (u32::from(from) + u32::from(len)).min(1 << 16);
        let mut at = u32::from(from);
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let next = ((at / u32::from(TILE)) + 1) * u32::from(TILE);
            let stop = next.min(end);
            let span = (at as u16, (stop - at) as u16);
            at = stop;
            Some(span)
        })
    };
    step(r.y, r.h).flat_map(move |(y, h)| step(r.x, r.w).map(move |(x, w)| Rect::new(x, y, w, h)))
}

/// The framebuffer's palette in the client's pixel format.
fn packed_palette(fb: &Framebuffer, pf: &PixelFormat) -> Vec<u32> {
    fb.palette().iter().map(|&c| pf.pack(c)).collect()
}

/// Raw encoding: header, then the pixels of `r` row by row (black outside
/// the framebuffer).
pub fn encode_raw(fb: &Framebuffer, r: Rect, pf: &PixelFormat, out: &mut Vec<u8>) {
    rect_header(&r, Encoding::RAW, out);
    out.reserve(usize::from(r.w) * usize::from(r.h) * pf.bytes_per_pixel());
    let packed = packed_palette(fb, pf);
    let black = pf.pack(crate::pixel::Rgb::default());
    for y in r.y..r.y.saturating_add(r.h) {
        let row = fb.row(r.x, y, r.w);
        for i in 0..usize::from(r.w) {
            let v = row
                .get(i)
                .and_then(|&p| packed.get(usize::from(p)))
                .copied()
                .unwrap_or(black);
            pf.put(v, out);
        }
    }
}

/// How the Intel-RLE bytes of each rectangle are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RleStream {
    /// One raw deflate stream (no zlib header) for the session, a sync
    /// flush per rectangle: what MeshCommander's inflater was made for,
    /// though it resets it to expect a zlib header before the first
    /// rectangle (see `SessionConfig::rle_stream`).
    RawDeflate,
    /// One zlib stream for the connection: RFC 6143 ZRLE for generic
    /// viewers on port 5900.
    Zlib,
    /// Each rectangle a single stored deflate block (MeshCommander's fast
    /// path): no compression, no state shared between rectangles.
    Stored,
}

/// Why a rectangle could not be encoded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The deflate engine refused; the session's stream is unusable.
    Deflate(String),
    /// A rectangle larger than a tile was given to the RLE encoder.
    TooLarge(Rect),
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Deflate(e) => write!(f, "deflate failed: {e}"),
            Self::TooLarge(r) => write!(f, "rectangle {r:?} is larger than 64x64"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The Intel-RLE encoder of one session.
///
/// It holds no deflate state: the sessions of a thread share one
/// compressor, which is reset whenever it passes from one session to
/// another. Each rectangle ends on a sync flush without the final bit, so
/// to the client it is all one continuing deflate stream; after a reset
/// the blocks simply refer back no further than the data since, which
/// every inflater takes. A deflate state per session (about 300 KB for
/// miniz's) was most of what an open session cost; what it loses is the
/// history across other sessions' turns (figures in README's KVM section).
#[derive(Debug)]
pub struct RleEncoder {
    stream: RleStream,
    /// Which session the shared compressor's history belongs to.
    id: u64,
    /// Whether the zlib header went out (Zlib streams: before the first
    /// rectangle's data, once per connection).
    header_sent: bool,
}

/// The zlib stream header: deflate, 32 KB window, fastest level (CMF 0x78,
/// FLG 0x01; 0x7801 is a multiple of 31 as RFC 1950 asks). The stream is
/// never finished, so no Adler-32 trailer is owed.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// Numbers encoders, so the shared compressor knows whose it is.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A thread's deflate compressor, the encoder whose stream it continues,
/// and a tile buffer.
struct Shared {
    deflate: Compress,
    owner: u64,
    tile: Vec<u8>,
}

thread_local! {
    /// Shared by every session encoding on the thread (see [`RleEncoder`]).
    static SHARED: std::cell::RefCell<Option<Shared>> = const { std::cell::RefCell::new(None) };
}

impl RleEncoder {
    pub fn new(stream: RleStream) -> Self {
        RleEncoder {
            stream,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            header_sent: false,
        }
    }

    pub fn stream(&self) -> RleStream {
        self.stream
    }

    /// Writes one rectangle (at most 64x64): header, u32 length, data.
    pub fn encode(
        &mut self,
        fb: &Framebuffer,
        r: Rect,
        pf: &PixelFormat,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if r.w > TILE || r.h > TILE {
            return Err(EncodeError::TooLarge(r));
        }
        rect_header(&r, Encoding::INTEL_RLE, out);
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        SHARED.with(|shared| {
            // Not re-entered: nothing below calls back into an encoder.
            let mut shared = shared.borrow_mut();
            // Level 1: text screens compress well at any level, and
            // firmware is not known for spending time on it.
            let Shared {
                deflate,
                owner,
                tile,
            } = shared.get_or_insert_with(|| Shared {
                deflate: Compress::new(Compression::fast(), false),
                owner: u64::MAX,
                tile: Vec::new(),
            });
            tile.clear();
            tile_payload(fb, r, pf, tile);
            match self.stream {
                RleStream::Stored => {
                    // Stored block: BFINAL 0, BTYPE 00, LEN, NLEN. A tile is
                    // at most 1 + 64·64·4 bytes, under a block's 65535.
                    let n = tile.len() as u16;
                    out.push(0);
                    out.extend_from_slice(&n.to_le_bytes());
                    out.extend_from_slice(&(!n).to_le_bytes());
                    out.extend_from_slice(tile);
                    Ok(())
                }
                RleStream::RawDeflate | RleStream::Zlib => {
                    if self.stream == RleStream::Zlib && !self.header_sent {
                        out.extend_from_slice(&ZLIB_HEADER);
                        self.header_sent = true;
                    }
                    if *owner != self.id {
                        // Another session's history: this client never had it.
                        deflate.reset();
                        *owner = self.id;
                    }
                    deflate_sync(deflate, tile, out)
                }
            }
        })?;
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

/// Compresses `input` onto `out` and sync-flushes, so the client can
/// decode this rectangle before the next one arrives.
fn deflate_sync(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut consumed = 0usize;
    loop {
        out.reserve(input.len() - consumed + 64);
        let before = c.total_in();
        c.compress_vec(&input[consumed..], out, FlushCompress::Sync)
            .map_err(|e| EncodeError::Deflate(e.to_string()))?;
        consumed += (c.total_in() - before) as usize;
        // Room left in `out` means the flush completed.
        if consumed >= input.len() && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

/// Bytes per CPIXEL (RFC 6143 §7.7.6): 3 for 32-bpp true colour whose
/// channels fit in three bytes, else the pixel size.
fn cpixel_len(pf: &PixelFormat) -> (usize, usize) {
    if pf.true_colour && pf.bits_per_pixel == 32 && pf.depth <= 24 {
        let mask = (u32::from(pf.red_max) << pf.red_shift)
            | (u32::from(pf.green_max) << pf.green_shift)
            | (u32::from(pf.blue_max) << pf.blue_shift);
        // (length, offset of the kept bytes in the written pixel)
        let low = mask & 0xFF00_0000 == 0;
        let high = mask & 0x0000_00FF == 0;
        if low {
            return (3, if pf.big_endian { 1 } else { 0 });
        }
        if high {
            return (3, if pf.big_endian { 0 } else { 1 });
        }
    }
    (pf.bytes_per_pixel(), 0)
}

fn put_cpixel(pf: &PixelFormat, (len, off): (usize, usize), v: u32, out: &mut Vec<u8>) {
    let mut buf = Vec::with_capacity(4);
    pf.put(v, &mut buf);
    out.extend_from_slice(&buf[off..off + len]);
}

fn put_run(len: usize, out: &mut Vec<u8>) {
    let mut rest = len - 1;
    while rest >= 255 {
        out.push(255);
        rest -= 255;
    }
    out.push(rest as u8);
}

/// One ZRLE tile (subencoding byte + data), uncompressed. Picks the
/// smallest of the subencodings MeshCommander and RFC 6143 agree on.
pub fn tile_payload(fb: &Framebuffer, r: Rect, pf: &PixelFormat, out: &mut Vec<u8>) {
    let cp = cpixel_len(pf);
    let packed = packed_palette(fb, pf);
    let mut px = Vec::with_capacity(usize::from(r.w) * usize::from(r.h));
    for y in r.y..r.y.saturating_add(r.h) {
        px.extend(
            fb.row(r.x, y, r.w)
                .iter()
                .map(|&i| packed.get(usize::from(i)).copied().unwrap_or(0)),
        );
    }
    let n = px.len();
    let mut palette: Vec<u32> = Vec::new();
    for &v in &px {
        if !palette.contains(&v) {
            palette.push(v);
            if palette.len() > 127 {
                break;
            }
        }
    }
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for &v in &px {
        match runs.last_mut() {
            Some((c, len)) if *c == v => *len += 1,
            _ => runs.push((v, 1)),
        }
    }
    if palette.len() == 1 {
        out.push(1);
        put_cpixel(pf, cp, palette[0], out);
        return;
    }
    let run_bytes = |len: usize| (len - 1) / 255 + 1;
    let raw = n * cp.0;
    let plain_rle: usize = runs.iter().map(|&(_, l)| cp.0 + run_bytes(l)).sum();
    let pal_rle = (palette.len() <= 127).then(|| {
        palette.len() * cp.0
            + runs
                .iter()
                .map(|&(_, l)| if l == 1 { 1 } else { 1 + run_bytes(l) })
                .sum::<usize>()
    });
    let bits = match palette.len() {
        2 => 1,
        3..=4 => 2,
        5..=16 => 4,
        _ => 0,
    };
    // MeshCommander does not pad packed rows to a byte as RFC 6143 does:
    // use packed palettes only where the two agree (whole-byte rows).
    let packed = (bits > 0 && (usize::from(r.w) * bits) % 8 == 0)
        .then(|| palette.len() * cp.0 + n * bits / 8);
    let best = [Some(raw), Some(plain_rle), pal_rle, packed]
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (s, i)))
        .min()
        .map_or(0, |(_, i)| i);
    let index = |v: u32| palette.iter().position(|&p| p == v).unwrap_or(0) as u8;
    match best {
        1 => {
            out.push(128);
            for &(v, l) in &runs {
                put_cpixel(pf, cp, v, out);
                put_run(l, out);
            }
        }
        2 => {
            out.push(128 + palette.len() as u8);
            for &v in &palette {
                put_cpixel(pf, cp, v, out);
            }
            for &(v, l) in &runs {
                if l == 1 {
                    out.push(index(v));
                } else {
                    out.push(128 | index(v));
                    put_run(l, out);
                }
            }
        }
        3 => {
            out.push(palette.len() as u8);
            for &v in &palette {
                put_cpixel(pf, cp, v, out);
            }
            let mut acc = 0u8;
            let mut filled = 0;
            for &v in &px {
                acc = (acc << bits) | index(v);
                filled += bits;
                if filled == 8 {
                    out.push(acc);
                    acc = 0;
                    filled = 0;
                }
            }
        }
        _ => {
            out.push(0);
            for &v in &px {
                put_cpixel(pf, cp, v, out);
            }
        }
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
pub(crate) mod tests;
