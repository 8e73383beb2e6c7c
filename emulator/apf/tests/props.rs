//! Properties: round trips, split streams, hostile bytes, and whole
//! handshakes against the scripted MPS.

mod support;

use amtemu_apf::codec::{self, DecodeError, SuccessShape, check_with, decode_packet, decode_with};
use amtemu_apf::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, Message,
    OpenFailureReason, ProtocolVersion, TriggerReason, Uuid, code,
};
use amtemu_apf::{Event, Phase, ProtocolError, Tunnel};
use proptest::prelude::*;
use support::*;

fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

fn global_request() -> impl Strategy<Value = GlobalRequest> {
    prop_oneof![
        (text(), any::<u32>())
            .prop_map(|(address, port)| GlobalRequest::TcpipForward { address, port }),
        (text(), any::<u32>())
            .prop_map(|(address, port)| GlobalRequest::CancelTcpipForward { address, port }),
        (text(), any::<u32>(), text(), any::<u32>(), data()).prop_map(|(a, p, oa, op, d)| {
            GlobalRequest::UdpSendTo {
                address: a,
                port: p,
                originator_address: oa,
                originator_port: op,
                data: d,
            }
        }),
    ]
}

fn channel_type() -> impl Strategy<Value = ChannelType> {
    prop_oneof![
        Just(ChannelType::ForwardedTcpip),
        Just(ChannelType::DirectTcpip),
        // from_name's canonical form: known names never come back as Other.
        "[a-z]{0,10}@x".prop_map(ChannelType::Other),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let u = any::<u32>;
    prop_oneof![
        u().prop_map(|c| Message::Disconnect {
            reason: DisconnectReason::from_code(c)
        }),
        text().prop_map(|service| Message::ServiceRequest { service }),
        text().prop_map(|service| Message::ServiceAccept { service }),
        (
            text(),
            text(),
            prop_oneof![
                Just(AuthMethod::None),
                text().prop_map(AuthMethod::Password)
            ]
        )
            .prop_map(|(username, service, method)| Message::UserauthRequest {
                username,
                service,
                method
            }),
        text().prop_map(|methods| Message::UserauthFailure { methods }),
        Just(Message::UserauthSuccess),
        (any::<bool>(), global_request()).prop_map(|(want_reply, request)| {
            Message::GlobalRequest {
                want_reply,
                request,
            }
        }),
        proptest::option::of(u()).prop_map(|port| Message::RequestSuccess { port }),
        Just(Message::RequestFailure),
        (channel_type(), (u(), u()), (text(), u()), (text(), u())).prop_map(
            |(channel_type, (s, w), (ca, cp), (oa, op))| {
                Message::ChannelOpen(ChannelOpen {
                    channel_type,
                    sender_channel: s,
                    initial_window: w,
                    connected_address: ca,
                    connected_port: cp,
                    originator_address: oa,
                    originator_port: op,
                })
            }
        ),
        (u(), u(), u()).prop_map(|(r, s, w)| Message::ChannelOpenConfirmation {
            recipient_channel: r,
            sender_channel: s,
            initial_window: w
        }),
        (u(), u()).prop_map(|(r, c)| Message::ChannelOpenFailure {
            recipient_channel: r,
            reason: OpenFailureReason::from_code(c)
        }),
        (u(), u()).prop_map(|(r, b)| Message::ChannelWindowAdjust {
            recipient_channel: r,
            bytes_to_add: b
        }),
        (u(), data()).prop_map(|(r, data)| Message::ChannelData {
            recipient_channel: r,
            data
        }),
        u().prop_map(|r| Message::ChannelClose {
            recipient_channel: r
        }),
        (u(), u(), u(), any::<[u8; 16]>()).prop_map(|(major, minor, t, b)| {
            Message::ProtocolVersion(ProtocolVersion {
                major,
                minor,
                trigger: TriggerReason::from_code(t),
                uuid: Uuid(b),
            })
        }),
        u().prop_map(|cookie| Message::KeepaliveRequest { cookie }),
        u().prop_map(|cookie| Message::KeepaliveReply { cookie }),
        (u(), u())
            .prop_map(|(interval, timeout)| Message::KeepaliveOptionsRequest { interval, timeout }),
        (u(), u())
            .prop_map(|(interval, timeout)| Message::KeepaliveOptionsReply { interval, timeout }),
    ]
}

fn shape_of(m: &Message) -> SuccessShape {
    match m {
        Message::RequestSuccess { port: None } => SuccessShape::Bare,
        _ => SuccessShape::WithPort,
    }
}

fn encoded(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(m, &mut out);
    out
}

/// check and decode must agree on every input: same length, same error,
/// and both incomplete together.
fn agree(buf: &[u8], shape: SuccessShape) {
    let checked = check_with(buf, shape);
    let decoded = decode_with(buf, shape);
    match (&checked, &decoded) {
        (Ok(Some(n)), Ok(Some((_, m)))) => assert_eq!(n, m),
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        // Content errors (UTF-8) surface only when building; anything else
        // there would mean the walk and the build read different layouts.
        (Ok(Some(_)), Err(DecodeError::BadUtf8 { .. })) => {}
        other => panic!("check and decode disagree: {other:?}"),
    }
    let _ = decode_packet(buf, shape);
}

const CODES: [u8; 20] = [
    code::DISCONNECT,
    code::SERVICE_REQUEST,
    code::SERVICE_ACCEPT,
    code::USERAUTH_REQUEST,
    code::USERAUTH_FAILURE,
    code::USERAUTH_SUCCESS,
    code::GLOBAL_REQUEST,
    code::REQUEST_SUCCESS,
    code::REQUEST_FAILURE,
    code::CHANNEL_OPEN,
    code::CHANNEL_OPEN_CONFIRMATION,
    code::CHANNEL_OPEN_FAILURE,
    code::CHANNEL_WINDOW_ADJUST,
    code::CHANNEL_DATA,
    code::CHANNEL_CLOSE,
    code::PROTOCOLVERSION,
    code::KEEPALIVE_REQUEST,
    code::KEEPALIVE_REPLY,
    code::KEEPALIVE_OPTIONS_REQUEST,
    code::KEEPALIVE_OPTIONS_REPLY,
];

fn shape() -> impl Strategy<Value = SuccessShape> {
    prop_oneof![Just(SuccessShape::WithPort), Just(SuccessShape::Bare)]
}

/// After any call, a tunnel that failed is closed with its DISCONNECT last.
fn closed_after_error(t: &mut Tunnel, r: &Result<usize, ProtocolError>) {
    if let Err(e) = r {
        assert_eq!(t.phase(), Phase::Closed);
        if *e != ProtocolError::Closed {
            let sent = drain_sent(t);
            assert_eq!(
                sent.last(),
                Some(&Message::Disconnect {
                    reason: e.disconnect_reason()
                })
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let wire = encoded(&m);
        let shape = shape_of(&m);
        prop_assert_eq!(check_with(&wire, shape), Ok(Some(wire.len())));
        prop_assert_eq!(decode_with(&wire, shape), Ok(Some((m.clone(), wire.len()))));
        prop_assert_eq!(decode_packet(&wire, shape), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        buf in prop::collection::vec(any::<u8>(), 0..200),
        shape in shape(),
    ) {
        agree(&buf, shape);
    }

    #[test]
    fn bytes_behind_a_known_type_never_panic_the_decoder(
        t in prop::sample::select(&CODES[..]),
        rest in prop::collection::vec(any::<u8>(), 0..200),
        shape in shape(),
    ) {
        let mut buf = vec![t];
        buf.extend_from_slice(&rest);
        agree(&buf, shape);
    }

    #[test]
    fn damaged_messages_never_panic_the_decoder(
        m in message(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = encoded(&m);
        let i = at.index(wire.len());
        wire[i] = byte;
        wire.truncate(cut.index(wire.len() + 1));
        agree(&wire, shape_of(&m));
    }

    #[test]
    fn a_stream_split_anywhere_decodes_as_whole(
        msgs in prop::collection::vec(message(), 0..12),
        cuts in prop::collection::vec(1usize..40, 1..10),
    ) {
        // One shape per stream: bare successes become port-carrying ones.
        let msgs: Vec<Message> = msgs
            .into_iter()
            .map(|m| match m {
                Message::RequestSuccess { port: None } => Message::RequestSuccess { port: Some(0) },
                m => m,
            })
            .collect();
        let mut stream = Vec::new();
        for m in &msgs {
            codec::encode(m, &mut stream);
        }
        let mut whole = Vec::new();
        let mut at = 0;
        while let Some((m, n)) = codec::decode(&stream[at..]).unwrap() {
            whole.push(m);
            at += n;
        }
        prop_assert_eq!(at, stream.len());
        prop_assert_eq!(&whole, &msgs);

        let mut pieces = Vec::new();
        let mut buf = Vec::new();
        let mut fed = 0;
        for step in cuts.iter().cycle() {
            if fed == stream.len() {
                break;
            }
            let end = (fed + step).min(stream.len());
            buf.extend_from_slice(&stream[fed..end]);
            fed = end;
            while let Some((m, n)) = codec::decode(&buf).unwrap() {
                pieces.push(m);
                buf.drain(..n);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(pieces, msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_tunnel(
        established_first in any::<bool>(),
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let mut t = if established_first {
            established(&[16992, 5900]).0
        } else {
            let mut t = Tunnel::new(config(&[16992]));
            t.start();
            drain_sent(&mut t);
            t
        };
        for chunk in chunks {
            let r = t.receive(&chunk);
            if let Ok(n) = r {
                prop_assert!(n <= chunk.len());
            }
            closed_after_error(&mut t, &r);
        }
    }

    #[test]
    fn arbitrary_messages_never_panic_the_tunnel(
        msgs in prop::collection::vec(message(), 0..16),
    ) {
        let (mut t, _) = established(&[16992, 16993]);
        for m in msgs {
            let r = t.handle(m).map(|()| 0);
            closed_after_error(&mut t, &r);
            let _ = drain_events(&mut t);
        }
    }

    #[test]
    fn handshake_with_any_ports_and_any_read_splits(
        ports in prop::sample::subsequence(vec![16993, 16992, 664, 623, 16995, 16994, 5900], 0..=7),
        cuts in prop::collection::vec(1usize..30, 1..8),
    ) {
        let mut t = Tunnel::new(config(&ports));
        let mut mps = Mps::new();
        t.start();
        pump(&mut t, &mut mps, &cuts);
        prop_assert_eq!(t.phase(), Phase::Established);
        prop_assert_eq!(t.forwarded_ports(), &ports[..]);
        prop_assert_eq!(&mps.bound, &ports.iter().map(|&p| u32::from(p)).collect::<Vec<_>>());
        let events = drain_events(&mut t);
        prop_assert!(events.contains(&Event::Established));
        prop_assert_eq!(t.keepalive_interval(), if ports.contains(&5900) { 30 } else { 25 });
    }

    /// An MPS that honours the device's window can push any amount through
    /// a channel whose consumer keeps up, and it all arrives in order.
    #[test]
    fn flow_control_never_stalls_a_well_behaved_peer(
        writes in prop::collection::vec(1usize..9000, 1..20),
    ) {
        let (mut t, _) = established(&[16992]);
        t.handle(Message::ChannelOpen(ChannelOpen {
            channel_type: ChannelType::ForwardedTcpip,
            sender_channel: 4,
            initial_window: 32768,
            connected_address: String::new(),
            connected_port: 16992,
            originator_address: "1.2.3.4".into(),
            originator_port: 1024,
        })).unwrap();
        let Some(Message::ChannelOpenConfirmation { sender_channel, initial_window, .. }) =
            t.poll_transmit() else { panic!("confirmed") };
        let mut window = initial_window as usize;
        let (mut sent, mut got) = (Vec::new(), Vec::new());
        let mut counter = 0u8;
        for want in writes {
            let n = want.min(window);
            prop_assert!(n > 0, "peer stalled with a window of 0");
            let chunk: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
            sent.extend_from_slice(&chunk);
            window -= n;
            t.handle(Message::ChannelData { recipient_channel: sender_channel, data: chunk }).unwrap();
            while let Some(ev) = t.poll_event() {
                if let Event::Data { channel, bytes } = ev {
                    t.consumed(channel, bytes.len() as u32).unwrap();
                    got.extend_from_slice(&bytes);
                }
            }
            while let Some(m) = t.poll_transmit() {
                if let Message::ChannelWindowAdjust { recipient_channel: 4, bytes_to_add } = m {
                    window += bytes_to_add as usize;
                }
            }
        }
        prop_assert_eq!(got, sent);
    }
}
