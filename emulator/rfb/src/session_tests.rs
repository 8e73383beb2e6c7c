use super::*;
use crate::auth::vnc_auth_response;
use crate::encode::tests::{MeshCommanderDecoder, login_screen};
use crate::screen::Screen;

fn feed(s: &mut Session, bytes: &[u8]) -> Vec<Event> {
    let mut ev = vec![];
    s.receive(bytes, &mut ev).unwrap();
    ev
}

fn msg(m: ClientMessage) -> Vec<u8> {
    let mut v = vec![];
    m.encode(&mut v);
    v
}

fn request(incremental: bool) -> Vec<u8> {
    msg(ClientMessage::FramebufferUpdateRequest {
        incremental,
        rect: Rect::new(0, 0, 720, 400),
    })
}

/// MeshCommander's handshake, byte for byte as amt-desktop-0.0.2.js sends it.
fn meshcommander_session(rle: bool) -> Session {
    let mut s = Session::new(SessionConfig::redirection(), 720, 400);
    assert_eq!(s.take_output(), b"RFB 004.000\n");
    feed(&mut s, b"RFB 003.008\n");
    assert_eq!(s.take_output(), [1, 1]);
    feed(&mut s, &[1]);
    assert_eq!(s.take_output(), [0, 0, 0, 0]);
    assert_eq!(feed(&mut s, &[1]), [Event::Initialised { shared: true }]);
    let init = s.take_output();
    assert_eq!(&init[..4], &[0x02, 0xD0, 0x01, 0x90]);
    assert_eq!(&init[4..20], &PixelFormat::RGB565.to_bytes());
    assert_eq!(&init[24..], b"Intel(r) AMT KVM");
    let mut encs = vec![];
    if rle {
        encs.push(Encoding::INTEL_RLE);
    }
    encs.extend([
        Encoding::RAW,
        Encoding::KVM_DATA_CHANNEL,
        Encoding::DESKTOP_SIZE,
    ]);
    feed(&mut s, &msg(ClientMessage::SetEncodings(encs)));
    s
}

/// Parses one FramebufferUpdate the way MeshCommander does.
fn read_update(dec: &mut MeshCommanderDecoder, b: &[u8]) -> (Vec<(Rect, Vec<u32>)>, usize) {
    assert_eq!(b[0], 0);
    let n = u16::from_be_bytes([b[2], b[3]]);
    let mut at = 4;
    let mut rects = vec![];
    for _ in 0..n {
        if i32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap()) == -223 {
            let r = Rect::new(
                0,
                0,
                u16::from_be_bytes([b[at + 4], b[at + 5]]),
                u16::from_be_bytes([b[at + 6], b[at + 7]]),
            );
            rects.push((r, vec![]));
            at += 12;
            continue;
        }
        let (r, px, used) = dec.rect(&b[at..]);
        rects.push((r, px));
        at += used;
    }
    (rects, at)
}

fn check_pixels(fb: &Framebuffer, rects: &[(Rect, Vec<u32>)]) {
    for (r, px) in rects {
        let want: Vec<u32> = (r.y..r.y + r.h)
            .flat_map(|y| (r.x..r.x + r.w).map(move |x| (x, y)))
            .map(|(x, y)| PixelFormat::RGB565.pack(fb.pixel(x, y)))
            .collect();
        assert_eq!(px, &want, "{r:?}");
    }
}

#[test]
fn first_incremental_request_gets_the_whole_screen_then_only_changes() {
    for rle in [false, true] {
        let mut screen = login_screen();
        let mut s = meshcommander_session(rle);
        let mut dec = MeshCommanderDecoder::new(2);
        assert_eq!(s.poll_update(screen.framebuffer()), Ok(false));
        feed(&mut s, &request(true));
        assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
        let out = s.take_output();
        let (rects, used) = read_update(&mut dec, &out);
        assert_eq!(used, out.len());
        assert_eq!(rects.len(), 84);
        check_pixels(screen.framebuffer(), &rects);

        // Nothing changed: the incremental request waits.
        feed(&mut s, &request(true));
        assert_eq!(s.poll_update(screen.framebuffer()), Ok(false));
        assert!(s.update_requested());
        // One character typed: only its tile (cursor in the same tile).
        screen.feed(b"l");
        assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
        let out = s.take_output();
        let (rects, _) = read_update(&mut dec, &out);
        assert_eq!(
            rects.iter().map(|r| r.0).collect::<Vec<_>>(),
            [Rect::new(192, 64, 64, 64)]
        );
        check_pixels(screen.framebuffer(), &rects);
        // A non-incremental request gets everything again.
        feed(&mut s, &request(false));
        assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
        let (rects, _) = read_update(&mut dec, &s.take_output());
        assert_eq!(rects.len(), 84);
    }
}

#[test]
fn updates_coalesce_while_the_client_is_not_reading() {
    let mut screen = Screen::new();
    let mut s = meshcommander_session(true);
    feed(&mut s, &request(true));
    assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
    // The update is not taken yet: a second request is not answered on top.
    feed(&mut s, &request(true));
    screen.feed(b"a");
    assert_eq!(s.poll_update(screen.framebuffer()), Ok(false));
    s.take_output();
    s.set_client_reading(false);
    screen.feed(b"\x1b[20;70Hb");
    assert_eq!(s.poll_update(screen.framebuffer()), Ok(false));
    s.set_client_reading(true);
    assert_eq!(s.poll_update(screen.framebuffer()), Ok(true));
    // Both changes in one update: the tile of 'a' and the tile of 'b'.
    let out = s.take_output();
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 2);
}

#[test]
fn desktop_size_on_resize() {
    let mut s = meshcommander_session(false);
    let mut fb = Framebuffer::new(720, 400);
    feed(&mut s, &request(true));
    s.poll_update(&fb).unwrap();
    s.take_output();
    fb.resize(640, 480);
    feed(&mut s, &request(true));
    assert_eq!(s.poll_update(&fb), Ok(true));
    assert_eq!(
        s.take_output(),
        [
            0, 0, 0, 1, 0, 0, 0, 0, 0x02, 0x80, 0x01, 0xE0, 0xFF, 0xFF, 0xFF, 0x21
        ]
    );
    feed(
        &mut s,
        &msg(ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 640, 480),
        }),
    );
    assert_eq!(s.poll_update(&fb), Ok(true));
    let out = s.take_output();
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 80);
}

#[test]
fn input_events() {
    let mut s = meshcommander_session(true);
    let mut bytes = msg(ClientMessage::KeyEvent {
        down: true,
        keysym: 0x61,
    });
    bytes.extend(msg(ClientMessage::PointerEvent {
        buttons: 1,
        x: 5,
        y: 6,
    }));
    bytes.extend(msg(ClientMessage::ClientCutText(
        b"\0KvmDataChannel\0".to_vec(),
    )));
    let (a, b) = bytes.split_at(7);
    assert_eq!(feed(&mut s, a), []);
    assert_eq!(
        feed(&mut s, b),
        [
            Event::Key {
                down: true,
                keysym: 0x61
            },
            Event::Pointer {
                buttons: 1,
                x: 5,
                y: 6
            },
            Event::CutText(b"\0KvmDataChannel\0".to_vec())
        ]
    );
    s.bell();
    s.cut_text(b"x");
    assert_eq!(s.take_output(), [2, 3, 0, 0, 0, 0, 0, 0, 1, b'x']);
}

#[test]
fn rgb332_and_colour_map_clients() {
    let screen = login_screen();
    let mut s = meshcommander_session(false);
    feed(
        &mut s,
        &msg(ClientMessage::SetPixelFormat(PixelFormat::RGB332)),
    );
    feed(&mut s, &request(true));
    s.poll_update(screen.framebuffer()).unwrap();
    let out = s.take_output();
    let mut dec = MeshCommanderDecoder::new(1);
    let (rects, used) = read_update(&mut dec, &out);
    assert_eq!(used, out.len());
    assert_eq!(
        rects[0].1[0],
        PixelFormat::RGB332.pack(screen.framebuffer().pixel(0, 0))
    );

    let cmap = PixelFormat {
        true_colour: false,
        ..PixelFormat::RGB332
    };
    let ev = feed(&mut s, &msg(ClientMessage::SetPixelFormat(cmap)));
    assert_eq!(ev, [Event::PixelFormatSet(cmap)]);
    let out = s.take_output();
    assert_eq!(&out[..6], &[1, 0, 0, 0, 0, 16]);
    assert_eq!(out.len(), 6 + 16 * 6);
}

#[test]
fn port_5900_vnc_authentication() {
    let challenge = [7u8; 16];
    for version in [&b"RFB 003.008\n"[..], b"RFB 003.007\n", b"RFB 004.000\n"] {
        let mut s = Session::new(SessionConfig::port_5900(b"P@ssw0rd", challenge), 720, 400);
        s.take_output();
        feed(&mut s, version);
        assert_eq!(s.take_output(), [1, 2]);
        feed(&mut s, &[2]);
        assert_eq!(s.take_output(), challenge);
        feed(&mut s, &vnc_auth_response(b"P@ssw0rd", &challenge));
        assert_eq!(s.take_output(), [0, 0, 0, 0]);
        assert_eq!(feed(&mut s, &[0]), [Event::Initialised { shared: false }]);
        assert!(s.is_initialised());
    }
    // 3.3: the server names the type; the challenge follows at once.
    let mut s = Session::new(SessionConfig::port_5900(b"P@ssw0rd", challenge), 720, 400);
    s.take_output();
    feed(&mut s, b"RFB 003.003\n");
    let out = s.take_output();
    assert_eq!(&out[..4], &[0, 0, 0, 2]);
    assert_eq!(&out[4..], &challenge);
    // Wrong password: failure with a reason, then closed.
    let mut s = Session::new(SessionConfig::port_5900(b"P@ssw0rd", challenge), 720, 400);
    s.take_output();
    feed(&mut s, b"RFB 003.008\n");
    let mut ev = vec![];
    let wrong = vnc_auth_response(b"password", &challenge);
    assert_eq!(s.receive(&[2], &mut ev), Ok(()));
    assert_eq!(
        s.receive(&wrong, &mut ev),
        Err(SessionError::AuthenticationFailed)
    );
    let out = s.take_output();
    assert_eq!(
        &out[out.len() - 29..out.len() - 21],
        &[0, 0, 0, 1, 0, 0, 0, 21]
    );
    assert!(s.is_closed());
    assert_eq!(s.receive(&[0], &mut ev), Err(SessionError::Closed));
}

#[test]
fn refusals_close_the_session() {
    let mut s = Session::new(SessionConfig::redirection(), 720, 400);
    let mut ev = vec![];
    assert!(matches!(
        s.receive(b"RFB 005.000\n", &mut ev),
        Err(SessionError::Decode(_))
    ));
    let mut s = Session::new(SessionConfig::redirection(), 720, 400);
    s.take_output();
    s.receive(b"RFB 003.008\n", &mut ev).unwrap();
    s.take_output();
    assert_eq!(
        s.receive(&[2], &mut ev),
        Err(SessionError::SecurityTypeRefused(2))
    );
    assert_eq!(&s.take_output()[..4], &[0, 0, 0, 1]);
    let mut s = meshcommander_session(true);
    assert_eq!(
        s.receive(&[9], &mut ev),
        Err(SessionError::Decode(DecodeError::UnknownMessageType(9)))
    );
}
