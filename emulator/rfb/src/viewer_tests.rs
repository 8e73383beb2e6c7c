use super::*;

/// What a server sends, written here from RFC 6143's layouts.
struct Server;

impl Server {
    fn server_init(width: u16, height: u16, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend(PixelFormat::RGB565.to_bytes());
        b.extend((name.len() as u32).to_be_bytes());
        b.extend(name.as_bytes());
        b
    }

    fn update(rects: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend((rects.len() as u16).to_be_bytes());
        for r in rects {
            b.extend(r);
        }
        b
    }

    fn rect_head(r: Rect, encoding: i32) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [r.x, r.y, r.w, r.h] {
            b.extend(v.to_be_bytes());
        }
        b.extend(encoding.to_be_bytes());
        b
    }

    /// A Raw rectangle in the viewer's format (little-endian xRGB).
    fn raw(r: Rect, colour: impl Fn(u16, u16) -> Rgb) -> Vec<u8> {
        let mut b = Self::rect_head(r, 0);
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                let c = colour(x, y);
                b.extend([c.b, c.g, c.r, 0]);
            }
        }
        b
    }
}

fn messages(list: &[ClientMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in list {
        m.encode(&mut out);
    }
    out
}

fn feed(v: &mut Viewer, bytes: &[u8]) -> Vec<ViewerEvent> {
    let mut events = Vec::new();
    v.receive(bytes, &mut events).expect("the viewer reads on");
    events
}

/// A viewer through QEMU's handshake (3.8, security None) to a 720x400
/// screen; its output taken.
fn ready_viewer() -> Viewer {
    let mut v = Viewer::new();
    assert!(feed(&mut v, b"RFB 003.008\n").is_empty());
    assert_eq!(v.take_output(), b"RFB 003.008\n");
    feed(&mut v, &[2, 2, 1]);
    assert_eq!(v.take_output(), [1], "security None");
    feed(&mut v, &[0, 0, 0, 0]);
    assert_eq!(v.take_output(), [1], "ClientInit, shared");
    let events = feed(&mut v, &Server::server_init(720, 400, "QEMU (amtemu)"));
    assert_eq!(
        events,
        [ViewerEvent::Ready {
            width: 720,
            height: 400,
            name: "QEMU (amtemu)".into()
        }]
    );
    let asked = messages(&[
        ClientMessage::SetPixelFormat(PixelFormat::RGB888),
        ClientMessage::SetEncodings(vec![Encoding(0), Encoding(1), Encoding(-223)]),
        ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 720, 400),
        },
    ]);
    assert_eq!(v.take_output(), asked);
    v
}

fn incremental_request(w: u16, h: u16) -> Vec<u8> {
    messages(&[ClientMessage::FramebufferUpdateRequest {
        incremental: true,
        rect: Rect::new(0, 0, w, h),
    }])
}

#[test]
fn the_handshake_asks_for_xrgb_raw_copyrect_and_desktop_size() {
    let v = ready_viewer();
    assert!(v.is_ready());
    assert_eq!(v.size(), (720, 400));
}

#[test]
fn updates_become_pixels_copies_and_resizes_and_the_next_request_follows() {
    let mut v = ready_viewer();
    let red = Rgb::new(0xAA, 0, 0);
    let update = Server::update(&[
        Server::raw(Rect::new(8, 16, 2, 2), |_, _| red),
        [
            Server::rect_head(Rect::new(100, 100, 9, 16), 1),
            vec![0, 8, 0, 16],
        ]
        .concat(),
    ]);
    let events = feed(&mut v, &update);
    assert_eq!(
        events,
        [
            ViewerEvent::Pixels {
                rect: Rect::new(8, 16, 2, 2),
                pixels: vec![red; 4]
            },
            ViewerEvent::Copy {
                rect: Rect::new(100, 100, 9, 16),
                src_x: 8,
                src_y: 16
            },
            ViewerEvent::UpdateDone
        ]
    );
    assert_eq!(v.take_output(), incremental_request(720, 400));

    // A mode switch: DesktopSize alone, then the whole new screen is asked
    // for.
    let resize = Server::update(&[Server::rect_head(Rect::new(0, 0, 640, 480), -223)]);
    assert_eq!(
        feed(&mut v, &resize),
        [
            ViewerEvent::Resized {
                width: 640,
                height: 480
            },
            ViewerEvent::UpdateDone
        ]
    );
    assert_eq!(
        v.take_output(),
        messages(&[ClientMessage::FramebufferUpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 640, 480),
        }])
    );
    // An empty update, a bell, cut text and a colour map are read past.
    let mut other = Server::update(&[]);
    other.push(2);
    other.extend([3, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    other.extend([1, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        feed(&mut v, &other),
        [ViewerEvent::UpdateDone, ViewerEvent::Bell]
    );
    v.key(true, 0x61);
    v.pointer(1, 5000, 7);
    assert_eq!(
        v.take_output(),
        [
            incremental_request(640, 480),
            messages(&[
                ClientMessage::KeyEvent {
                    down: true,
                    keysym: 0x61
                },
                ClientMessage::PointerEvent {
                    buttons: 1,
                    x: 639,
                    y: 7
                }
            ])
        ]
        .concat()
    );
}

#[test]
fn bytes_one_at_a_time_read_the_same() {
    let mut whole = ready_viewer();
    let mut split = ready_viewer();
    let update = Server::update(&[
        Server::raw(Rect::new(0, 0, 3, 5), |x, y| Rgb::new(x as u8, y as u8, 9)),
        Server::rect_head(Rect::new(0, 0, 800, 600), -223),
    ]);
    let expected = feed(&mut whole, &update);
    let mut got = Vec::new();
    for b in &update {
        got.extend(feed(&mut split, std::slice::from_ref(b)));
    }
    assert_eq!(got, expected);
    assert_eq!(split.take_output(), whole.take_output());
}

#[test]
fn version_3_3_has_the_server_choose_and_no_security_result() {
    let mut v = Viewer::new();
    feed(&mut v, b"RFB 003.003\n");
    assert_eq!(v.take_output(), b"RFB 003.003\n");
    feed(&mut v, &[0, 0, 0, 1]);
    assert_eq!(v.take_output(), [1], "straight to ClientInit");
    feed(&mut v, &Server::server_init(720, 400, ""));
    assert!(v.is_ready());
    // 3.7 and a newer 3.x answer in kind; 4.0 (AMT's) as 3.8.
    for (server, answer) in [
        (&b"RFB 003.007\n"[..], &b"RFB 003.007\n"[..]),
        (b"RFB 003.889\n", b"RFB 003.008\n"),
        (b"RFB 004.000\n", b"RFB 003.008\n"),
    ] {
        let mut v = Viewer::new();
        feed(&mut v, server);
        assert_eq!(v.take_output(), answer);
    }
    // 3.7 after None goes straight to ClientInit.
    let mut v = Viewer::new();
    feed(&mut v, b"RFB 003.007\n");
    v.take_output();
    feed(&mut v, &[1, 1]);
    assert_eq!(v.take_output(), [1, 1]);
}

#[test]
fn keys_before_the_handshake_are_dropped() {
    let mut v = Viewer::new();
    v.key(true, 0x61);
    v.pointer(0, 1, 1);
    assert!(v.take_output().is_empty());
}

/// What a server may not send, each at the point it may not send it.
#[test]
fn malformed_or_unasked_server_bytes_are_errors() {
    let refused = |bytes: &[u8]| {
        let mut v = Viewer::new();
        let mut events = Vec::new();
        let e = v.receive(bytes, &mut events).expect_err("refused");
        assert_eq!(v.receive(b"", &mut events), Err(ViewerError::Closed));
        e
    };
    assert!(matches!(
        refused(b"HTTP/1.1 400"),
        ViewerError::UnsupportedVersion(_)
    ));
    assert!(matches!(
        refused(b"RFB 002.000\n"),
        ViewerError::UnsupportedVersion(_)
    ));
    assert_eq!(
        refused(b"RFB 003.008\n\x01\x02"),
        ViewerError::NoUsableSecurity(vec![2]),
        "VNC authentication only: the VM's display has no password"
    );
    assert_eq!(
        refused(b"RFB 003.008\n\x00\x00\x00\x00\x03why"),
        ViewerError::Refused("why".into())
    );
    assert_eq!(
        refused(b"RFB 003.003\n\x00\x00\x00\x02"),
        ViewerError::NoUsableSecurity(vec![2])
    );
    assert_eq!(
        refused(b"RFB 003.008\n\x01\x01\x00\x00\x00\x01\x00\x00\x00\x02no"),
        ViewerError::Refused("no".into())
    );
    assert_eq!(
        refused(b"RFB 003.008\n\x00\xFF\xFF\xFF\xFF"),
        ViewerError::TooLong(u32::MAX),
        "a reason of 4 GiB is not waited for"
    );

    let after_init = |bytes: &[u8]| {
        let mut v = ready_viewer();
        let mut events = Vec::new();
        v.receive(bytes, &mut events).expect_err("refused")
    };
    assert_eq!(
        after_init(&Server::update(&[Server::raw(
            Rect::new(715, 0, 6, 1),
            |_, _| { Rgb::default() }
        )])),
        ViewerError::OutsideScreen(Rect::new(715, 0, 6, 1))
    );
    assert_eq!(
        after_init(&Server::update(&[[
            Server::rect_head(Rect::new(0, 0, 8, 8), 1),
            vec![0xFF, 0xFF, 0, 0]
        ]
        .concat()])),
        ViewerError::OutsideScreen(Rect::new(0xFFFF, 0, 8, 8)),
        "a copy from outside the screen"
    );
    assert_eq!(
        after_init(&Server::update(&[Server::rect_head(
            Rect::new(0, 0, 8, 8),
            16
        )])),
        ViewerError::UnexpectedEncoding(16)
    );
    assert_eq!(
        after_init(&Server::update(&[Server::rect_head(
            Rect::new(0, 0, 0xFFFF, 0xFFFF),
            -223
        )])),
        ViewerError::ScreenSize(0xFFFF, 0xFFFF)
    );
    assert_eq!(after_init(&[255]), ViewerError::UnknownMessage(255));
    assert_eq!(
        after_init(&[3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
        ViewerError::TooLong(u32::MAX)
    );

    let mut v = Viewer::new();
    feed(&mut v, b"RFB 003.008\n\x01\x01\x00\x00\x00\x00");
    let mut events = Vec::new();
    assert_eq!(
        v.receive(&Server::server_init(0, 400, ""), &mut events),
        Err(ViewerError::ScreenSize(0, 400))
    );
    let mut v = Viewer::new();
    feed(&mut v, b"RFB 003.008\n\x01\x01\x00\x00\x00\x00");
    let mut init = Server::server_init(720, 400, "");
    init.truncate(20);
    init.extend(u32::MAX.to_be_bytes());
    assert_eq!(
        v.receive(&init, &mut events),
        Err(ViewerError::TooLong(u32::MAX))
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A Raw rectangle of any size inside the 720x400 screen.
    fn raw_rect() -> impl Strategy<Value = Vec<u8>> {
        (0u16..720, 0u16..400, 1u16..16, 1u16..16, any::<u8>()).prop_map(|(x, y, w, h, c)| {
            let r = Rect::new(x, y, w.min(720 - x), h.min(400 - y));
            Server::raw(r, move |x, y| Rgb::new(c, x as u8, y as u8))
        })
    }

    proptest! {
        /// However reads split a server's updates, the viewer sees the same
        /// events and answers the same.
        #[test]
        fn any_split_of_updates_reads_as_the_whole(
            rects in proptest::collection::vec(raw_rect(), 1..4),
            cuts in proptest::collection::vec(1usize..64, 1..32),
        ) {
            let update = Server::update(&rects);
            let mut whole = ready_viewer();
            let expected = feed(&mut whole, &update);
            let mut split = ready_viewer();
            let mut got = Vec::new();
            let mut rest = &update[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, tail) = rest.split_at((*cut).min(rest.len()));
                got.extend(feed(&mut split, piece));
                rest = tail;
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(split.take_output(), whole.take_output());
        }

        /// Any bytes after the handshake are read on or refused, never a
        /// panic, and a refused viewer stays closed.
        #[test]
        fn any_server_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut v = ready_viewer();
            let mut events = Vec::new();
            if v.receive(&bytes, &mut events).is_err() {
                prop_assert!(v.receive(&[0], &mut events).is_err());
            }
        }
    }
}
