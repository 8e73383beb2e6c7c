use flate2::{Decompress, FlushDecompress};

use super::*;
use crate::pixel::Rgb;
use crate::screen::Screen;

/// A decoder written after MeshCommander's `amt-desktop-0.0.2.js`: one
/// inflater for the session (made raw, but reset at the KVM start with
/// zlib.js's default window bits, so it expects a zlib header), the
/// stored-block fast path, 1- or 2-byte pixels, and its reading of each
/// subencoding (no row padding).
pub(crate) struct MeshCommanderDecoder {
    inflate: Decompress,
    bpp: usize,
}

impl MeshCommanderDecoder {
    pub(crate) fn new(bpp: usize) -> Self {
        MeshCommanderDecoder {
            inflate: Decompress::new(true),
            bpp,
        }
    }

    /// Decodes one rectangle (header included); returns its pixel values
    /// and the bytes it took.
    pub(crate) fn rect(&mut self, b: &[u8]) -> (Rect, Vec<u32>, usize) {
        let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let r = Rect::new(be16(0), be16(2), be16(4), be16(6));
        assert!(
            (1..=64).contains(&r.w) && (1..=64).contains(&r.h),
            "Invalid tile size"
        );
        let enc = i32::from_be_bytes(b[8..12].try_into().unwrap());
        let s = usize::from(r.w) * usize::from(r.h);
        if enc == 0 {
            let px = (0..s)
                .map(|i| self.pixel(&b[12 + i * self.bpp..]))
                .collect();
            return (r, px, 12 + s * self.bpp);
        }
        assert_eq!(enc, 16);
        let datalen = u32::from_be_bytes(b[12..16].try_into().unwrap()) as usize;
        let data = &b[16..16 + datalen];
        let tile = if datalen > 5
            && data[0] == 0
            && usize::from(u16::from_le_bytes([data[1], data[2]])) == datalen - 5
        {
            data[5..].to_vec()
        } else {
            let mut out = Vec::with_capacity(70_000);
            self.inflate
                .decompress_vec(data, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert!(!out.is_empty(), "Invalid deflate data");
            out
        };
        (r, self.lre(&tile, s), 16 + datalen)
    }

    fn pixel(&self, b: &[u8]) -> u32 {
        if self.bpp == 2 {
            u32::from(b[0]) | u32::from(b[1]) << 8
        } else {
            u32::from(b[0])
        }
    }

    fn lre(&self, d: &[u8], s: usize) -> Vec<u32> {
        let mut p = 1;
        let mut px = Vec::new();
        let read = |p: &mut usize| {
            let v = self.pixel(&d[*p..]);
            *p += self.bpp;
            v
        };
        let runlen = |p: &mut usize| {
            let mut n = 1;
            loop {
                let b = d[*p];
                *p += 1;
                n += usize::from(b);
                if b != 255 {
                    return n;
                }
            }
        };
        match d[0] {
            0 => (0..s).for_each(|_| px.push(read(&mut p))),
            1 => px = vec![read(&mut p); s],
            sub @ 2..=16 => {
                let pal: Vec<u32> = (0..sub).map(|_| read(&mut p)).collect();
                let (br, bm) = if sub == 2 {
                    (1, 1)
                } else if sub <= 4 {
                    (2, 3)
                } else {
                    (4, 15)
                };
                while px.len() < s && p < d.len() {
                    let v = d[p];
                    p += 1;
                    let mut i = 8 - br;
                    while i >= 0 {
                        px.push(pal[usize::from((v >> i) & bm)]);
                        i -= br;
                    }
                }
                px.truncate(s);
            }
            128 => {
                while px.len() < s && p < d.len() {
                    let v = read(&mut p);
                    let n = runlen(&mut p);
                    px.extend(std::iter::repeat_n(v, n));
                }
            }
            sub @ 130.. => {
                let pal: Vec<u32> = (0..sub - 128).map(|_| read(&mut p)).collect();
                while px.len() < s && p < d.len() {
                    let idx = d[p];
                    p += 1;
                    let n = if idx > 127 { runlen(&mut p) } else { 1 };
                    px.extend(std::iter::repeat_n(pal[usize::from(idx % 128)], n));
                }
            }
            other => panic!("subencoding {other}"),
        }
        px
    }
}

pub(crate) fn login_screen() -> Screen {
    let mut s = Screen::new();
    s.feed(b"\x1b[2J\x1b[HDebian GNU/Linux 13 host tty1\r\n\r\nhost login: root\r\nPassword: \r\n");
    s.feed(b"\x1b[1;32mLast login:\x1b[0m Sat Dec  5 on ttyS0\r\n\x1b[44;33m colours \x1b[0m root@host:~# ");
    s
}

fn expected(fb: &Framebuffer, r: Rect, pf: &PixelFormat) -> Vec<u32> {
    (r.y..r.y + r.h)
        .flat_map(|y| (r.x..r.x + r.w).map(move |x| (x, y)))
        .map(|(x, y)| pf.pack(fb.pixel(x, y)))
        .collect()
}

#[test]
fn tiles_follow_the_grid() {
    let t: Vec<Rect> = tiles(Rect::new(60, 0, 80, 70)).collect();
    assert_eq!(
        t,
        [
            Rect::new(60, 0, 4, 64),
            Rect::new(64, 0, 64, 64),
            Rect::new(128, 0, 12, 64),
            Rect::new(60, 64, 4, 6),
            Rect::new(64, 64, 64, 6),
            Rect::new(128, 64, 12, 6),
        ]
    );
    assert_eq!(tiles(Rect::new(0, 0, 720, 400)).count(), 84);
    assert_eq!(tiles(Rect::new(65535, 65535, 65535, 65535)).count(), 1);
}

#[test]
fn raw_rectangle_layout() {
    let mut fb = Framebuffer::new(4, 2);
    fb.fill(Rect::new(1, 0, 1, 1), Rgb::new(255, 255, 255));
    let mut out = vec![];
    encode_raw(&fb, Rect::new(0, 0, 2, 1), &PixelFormat::RGB565, &mut out);
    assert_eq!(out, [0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]);
}

#[test]
fn meshcommander_decodes_intel_rle_to_the_framebuffer_pixels() {
    let s = login_screen();
    let fb = s.framebuffer();
    for (stream, pf, bpp) in [
        (RleStream::Zlib, PixelFormat::RGB565, 2),
        (RleStream::Zlib, PixelFormat::RGB332, 1),
        (RleStream::Stored, PixelFormat::RGB565, 2),
        (RleStream::Stored, PixelFormat::RGB332, 1),
    ] {
        let mut enc = RleEncoder::new(stream);
        let mut dec = MeshCommanderDecoder::new(bpp);
        // Two passes: the second proves the deflate stream continues.
        for _ in 0..2 {
            let mut out = vec![];
            for t in tiles(fb.bounds()) {
                enc.encode(fb, t, &pf, &mut out).unwrap();
            }
            let mut at = 0;
            for t in tiles(fb.bounds()) {
                let (r, px, used) = dec.rect(&out[at..]);
                assert_eq!(r, t);
                assert_eq!(px, expected(fb, t, &pf), "{stream:?} {pf:?} {t:?}");
                at += used;
            }
            assert_eq!(at, out.len());
        }
    }
}

#[test]
fn every_subencoding_round_trips() {
    // Tiles made to favour each subencoding, in a 10-wide tile too (where
    // packed palettes would need row padding and so are not used).
    let mut fb = Framebuffer::new(192, 64);
    fb.fill(Rect::new(128, 0, 64, 64), Rgb::new(9, 9, 200));
    let pal = crate::pixel::VGA_PALETTE;
    fb.paint(Rect::new(0, 0, 64, 64), |x, y| {
        pal[usize::from((x / 8 + y) % 3)]
    });
    fb.paint(Rect::new(64, 0, 64, 32), |x, y| {
        let h = u32::from(x).wrapping_mul(2_654_435_761) ^ u32::from(y).wrapping_mul(40_503);
        let h = h.wrapping_mul(2_246_822_519);
        Rgb::new((h >> 8) as u8, (h >> 16) as u8, (h >> 24) as u8)
    });
    fb.paint(Rect::new(64, 32, 64, 32), |x, _| pal[usize::from(x / 20)]);
    let mut seen = std::collections::BTreeSet::new();
    for pf in [PixelFormat::RGB565, PixelFormat::RGB332] {
        for r in [
            fb.bounds(),
            Rect::new(3, 3, 10, 10),
            Rect::new(60, 0, 10, 64),
        ] {
            for t in tiles(r) {
                let mut tile = vec![];
                tile_payload(&fb, t, &pf, &mut tile);
                seen.insert(match tile[0] {
                    2..=16 => 2,
                    130.. => 130,
                    s => s,
                });
                let dec = MeshCommanderDecoder::new(pf.bytes_per_pixel());
                assert_eq!(
                    dec.lre(&tile, usize::from(t.w) * usize::from(t.h)),
                    expected(&fb, t, &pf)
                );
            }
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2, 128, 130]);
}

#[test]
fn zlib_stream_for_generic_viewers() {
    let s = login_screen();
    let fb = s.framebuffer();
    let pf = PixelFormat::RGB888;
    let mut enc = RleEncoder::new(RleStream::Zlib);
    let mut inflate = Decompress::new(true);
    for t in tiles(fb.bounds()) {
        let mut out = vec![];
        enc.encode(fb, t, &pf, &mut out).unwrap();
        let mut tile = Vec::with_capacity(70_000);
        inflate
            .decompress_vec(&out[16..], &mut tile, FlushDecompress::Sync)
            .unwrap();
        // 32-bpp true colour with depth 24: 3-byte CPIXELs, low bytes first.
        let want: Vec<u8> = expected(fb, t, &pf)
            .iter()
            .flat_map(|v| v.to_le_bytes()[..3].to_vec())
            .collect();
        match tile[0] {
            0 => assert_eq!(&tile[1..], &want[..]),
            1 => assert_eq!(&tile[1..4], &want[..3]),
            _ => {}
        }
    }
}

#[test]
fn larger_than_a_tile_is_refused() {
    let fb = Framebuffer::new(128, 128);
    let mut enc = RleEncoder::new(RleStream::Stored);
    let r = Rect::new(0, 0, 65, 1);
    assert_eq!(
        enc.encode(&fb, r, &PixelFormat::RGB565, &mut vec![]),
        Err(EncodeError::TooLarge(r))
    );
}

/// Cost of a full 720x400 screen in RGB565 (run with --nocapture to see it).
#[test]
fn full_screen_cost() {
    let mut s = login_screen();
    s.feed(b"\x1b[7;1H");
    for i in 0..17 {
        s.feed(
            format!("drwxr-xr-x  2 root root 4096 Dec  5 08:{i:02} directory-number-{i}\r\n")
                .as_bytes(),
        );
    }
    let fb = s.framebuffer();
    let pf = PixelFormat::RGB565;
    let time = |f: &mut dyn FnMut() -> usize| {
        let start = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..5 {
            bytes = f();
        }
        (bytes, start.elapsed() / 5)
    };
    let raw = time(&mut || {
        let mut out = vec![];
        tiles(fb.bounds()).for_each(|t| encode_raw(fb, t, &pf, &mut out));
        out.len()
    });
    let mut enc = RleEncoder::new(RleStream::RawDeflate);
    let rle = time(&mut || {
        let mut out = vec![];
        tiles(fb.bounds()).for_each(|t| enc.encode(fb, t, &pf, &mut out).unwrap());
        out.len()
    });
    let mut stored = RleEncoder::new(RleStream::Stored);
    let st = time(&mut || {
        let mut out = vec![];
        tiles(fb.bounds()).for_each(|t| stored.encode(fb, t, &pf, &mut out).unwrap());
        out.len()
    });
    println!(
        "full 720x400 RGB565: raw {} B in {:?}; RLE+deflate {} B in {:?}; RLE stored {} B in {:?}",
        raw.0, raw.1, rle.0, rle.1, st.0, st.1
    );
    assert_eq!(raw.0, 720 * 400 * 2 + 84 * 12);
    assert!(rle.0 < raw.0 / 10);
}

#[test]
fn sessions_sharing_the_threads_compressor_each_decode_their_own_stream() {
    // Two sessions' rectangles interleaved on one thread, with the same
    // compressor reset between them: each client's inflater, which sees
    // only its own stream, still decodes every rectangle (no rectangle
    // refers back into data its client never got).
    let a = login_screen();
    let mut b = Screen::new();
    b.feed(b"\x1b[2J\x1b[Hsomething else entirely\r\n$ ");
    let pf = PixelFormat::RGB565;
    let mut encoders = [
        RleEncoder::new(RleStream::Zlib),
        RleEncoder::new(RleStream::RawDeflate),
    ];
    let mut decoders = [
        MeshCommanderDecoder::new(2),
        MeshCommanderDecoder {
            inflate: Decompress::new(false),
            bpp: 2,
        },
    ];
    let screens = [a.framebuffer(), b.framebuffer()];
    for t in tiles(screens[0].bounds()) {
        for i in 0..2 {
            let mut out = vec![];
            encoders[i].encode(screens[i], t, &pf, &mut out).unwrap();
            let (r, px, used) = decoders[i].rect(&out);
            assert_eq!((r, used), (t, out.len()));
            assert_eq!(px, expected(screens[i], t, &pf), "session {i} {t:?}");
        }
    }
}
