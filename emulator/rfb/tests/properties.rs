//! Properties over arbitrary input: nothing panics, splitting the byte
//! stream anywhere decodes the same as whole, client messages round-trip.

use amtemu_rfb::codec::{self, MAX_CUT_TEXT};
use amtemu_rfb::messages::{ClientMessage, Encoding, Rect};
use amtemu_rfb::pixel::PixelFormat;
use amtemu_rfb::screen::Screen;
use amtemu_rfb::session::{Event, Session, SessionConfig};
use proptest::prelude::*;

fn pixel_format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::RGB565),
        Just(PixelFormat::RGB332),
        Just(PixelFormat::RGB888),
        Just(PixelFormat {
            true_colour: false,
            ..PixelFormat::RGB332
        }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        pixel_format().prop_map(ClientMessage::SetPixelFormat),
        prop::collection::vec(any::<i32>().prop_map(Encoding), 0..20)
            .prop_map(ClientMessage::SetEncodings),
        (any::<bool>(), any::<(u16, u16, u16, u16)>()).prop_map(|(incremental, (x, y, w, h))| {
            ClientMessage::FramebufferUpdateRequest {
                incremental,
                rect: Rect::new(x, y, w, h),
            }
        }),
        (any::<bool>(), any::<u32>())
            .prop_map(|(down, keysym)| ClientMessage::KeyEvent { down, keysym }),
        (any::<u8>(), any::<u16>(), any::<u16>())
            .prop_map(|(buttons, x, y)| ClientMessage::PointerEvent { buttons, x, y }),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(ClientMessage::ClientCutText),
    ]
}

/// Decodes everything in `buf`, as a server loop would.
fn decode_all(buf: &[u8]) -> Result<Vec<ClientMessage>, codec::DecodeError> {
    let mut at = 0;
    let mut out = vec![];
    while let Some((m, n)) = codec::decode(&buf[at..])? {
        assert!(n > 0 && at + n <= buf.len());
        at += n;
        out.push(m);
    }
    Ok(out)
}

proptest! {
    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&bytes);
        if let Ok(Some(n)) = codec::check(&bytes) {
            prop_assert!(n <= bytes.len() && n <= 8 + MAX_CUT_TEXT as usize);
        }
    }

    #[test]
    fn client_messages_round_trip(msgs in prop::collection::vec(client_message(), 0..8)) {
        let mut bytes = vec![];
        for m in &msgs {
            m.encode(&mut bytes);
        }
        prop_assert_eq!(decode_all(&bytes).unwrap(), msgs);
    }

    #[test]
    fn split_anywhere_decodes_as_whole(
        msgs in prop::collection::vec(client_message(), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut bytes = b"RFB 003.008\n\x01\x01".to_vec();
        for m in &msgs {
            m.encode(&mut bytes);
        }
        let whole = {
            let mut s = Session::new(SessionConfig::redirection(), 720, 400);
            let mut ev = vec![];
            s.receive(&bytes, &mut ev).unwrap();
            (ev, s.take_output())
        };
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len())).collect();
        points.sort_unstable();
        let mut s = Session::new(SessionConfig::redirection(), 720, 400);
        let mut ev = vec![];
        let mut last = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            s.receive(&bytes[last..p], &mut ev).unwrap();
            last = p;
        }
        prop_assert_eq!(&ev, &whole.0);
        prop_assert_eq!(s.take_output(), whole.1);
        let inits = ev.iter().filter(|e| matches!(e, Event::Initialised { .. })).count();
        prop_assert_eq!(inits, 1);
    }

    #[test]
    fn session_never_panics_on_arbitrary_bytes(
        prefix in prop::bool::ANY,
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        vnc in prop::bool::ANY,
    ) {
        let config = if vnc { SessionConfig::port_5900(b"secret!1", [3; 16]) } else { SessionConfig::redirection() };
        let mut s = Session::new(config, 720, 400);
        let mut screen = Screen::new();
        let mut ev = vec![];
        if prefix {
            let _ = s.receive(b"RFB 003.008\n\x01\x01", &mut ev);
        }
        for c in &chunks {
            let _ = s.receive(c, &mut ev);
            screen.feed(c);
            let _ = s.poll_update(screen.framebuffer());
            s.take_output();
        }
    }

    #[test]
    fn updates_for_any_request_and_format(
        pf in pixel_format(),
        rle in any::<bool>(),
        req in any::<(bool, u16, u16, u16, u16)>(),
        console in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = b"RFB 003.008\n\x01\x01".to_vec();
        let encs = if rle { vec![Encoding::INTEL_RLE, Encoding::RAW] } else { vec![Encoding::RAW] };
        ClientMessage::SetEncodings(encs).encode(&mut bytes);
        ClientMessage::SetPixelFormat(pf).encode(&mut bytes);
        let (incremental, x, y, w, h) = req;
        ClientMessage::FramebufferUpdateRequest { incremental, rect: Rect::new(x, y, w, h) }.encode(&mut bytes);
        let mut s = Session::new(SessionConfig::redirection(), 720, 400);
        let mut screen = Screen::new();
        screen.feed(&console);
        s.receive(&bytes, &mut vec![]).unwrap();
        s.take_output();
        prop_assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
        let out = s.take_output();
        // Every rectangle lies inside the screen and the request, at most 64x64.
        let n = u16::from_be_bytes([out[2], out[3]]);
        let mut at = 4;
        let area = Rect::new(x, y, w, h).intersect(&Rect::new(0, 0, 720, 400));
        for _ in 0..n {
            let f = |i: usize| u16::from_be_bytes([out[at + i], out[at + i + 1]]);
            let r = Rect::new(f(0), f(2), f(4), f(6));
            prop_assert!(r.w <= 64 && r.h <= 64 && area.contains(&r));
            let enc = i32::from_be_bytes(out[at + 8..at + 12].try_into().unwrap());
            at += 12 + if enc == 16 {
                4 + u32::from_be_bytes(out[at + 12..at + 16].try_into().unwrap()) as usize
            } else {
                usize::from(r.w) * usize::from(r.h) * pf.bytes_per_pixel()
            };
        }
        prop_assert_eq!(at, out.len());
    }
}
