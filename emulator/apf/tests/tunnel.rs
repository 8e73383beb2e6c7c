//! The device tunnel against a scripted MPS, and its refusals.

mod support;

use amtemu_apf::codec::{self, DecodeError, MAX_STRING};
use amtemu_apf::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, Message,
    OpenFailureReason, ProtocolVersion, SERVICE_AUTH, SERVICE_PFWD, TriggerReason,
};
use amtemu_apf::{ChannelId, Event, Phase, ProtocolError, Tunnel, UsageError};
use support::*;

fn bytes(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        codec::encode(m, &mut out);
    }
    out
}

/// Feeds whole messages through the byte path.
fn feed(t: &mut Tunnel, msgs: &[Message]) -> Result<usize, ProtocolError> {
    t.receive(&bytes(msgs))
}

/// Asserts `err`, its reason, and that the tunnel queued exactly that
/// DISCONNECT last and is closed.
fn assert_fatal(t: &mut Tunnel, got: Result<usize, ProtocolError>, want: ProtocolError) {
    let reason = want.disconnect_reason();
    assert_eq!(got, Err(want));
    assert_eq!(t.phase(), Phase::Closed);
    let sent = drain_sent(t);
    assert_eq!(sent.last(), Some(&Message::Disconnect { reason }));
    // Nothing more is accepted, and no second DISCONNECT is queued.
    assert_eq!(t.receive(&[52]), Err(ProtocolError::Closed));
    assert!(drain_sent(t).is_empty());
}

fn open(sender: u32, port: u32) -> Message {
    Message::ChannelOpen(ChannelOpen {
        channel_type: ChannelType::ForwardedTcpip,
        sender_channel: sender,
        initial_window: 32768,
        connected_address: String::new(),
        connected_port: port,
        originator_address: "1.2.3.4".into(),
        originator_port: 1024,
    })
}

/// An established tunnel with one channel open to 16992 (MPS id 4).
fn with_channel() -> (Tunnel, ChannelId) {
    let (mut t, _) = established(&[16992, 16993]);
    feed(&mut t, &[open(4, 16992)]).unwrap();
    let Some(Event::ChannelOpened { channel, .. }) = t.poll_event() else {
        panic!("channel opened")
    };
    drain_sent(&mut t);
    (t, channel)
}

#[test]
fn handshake_sends_what_firmware_sends_in_order() {
    let ports = [16993, 16992, 664, 623, 16995, 16994, 5900];
    let mut t = Tunnel::new(config(&ports));
    let mut mps = Mps::new();
    t.start();
    pump(&mut t, &mut mps, &[]);
    assert_eq!(t.phase(), Phase::Established);
    assert_eq!(t.forwarded_ports(), &ports);
    assert_eq!(mps.bound, ports.map(u32::from));

    let mut want = vec![
        Message::ProtocolVersion(ProtocolVersion {
            major: 1,
            minor: 0,
            trigger: TriggerReason::Periodic,
            uuid: uuid(),
        }),
        Message::ServiceRequest {
            service: SERVICE_AUTH.into(),
        },
        Message::UserauthRequest {
            username: USER.into(),
            service: SERVICE_PFWD.into(),
            method: AuthMethod::Password(PASS.into()),
        },
        Message::ServiceRequest {
            service: SERVICE_PFWD.into(),
        },
    ];
    for p in ports {
        want.push(Message::GlobalRequest {
            want_reply: true,
            request: GlobalRequest::TcpipForward {
                address: String::new(),
                port: p.into(),
            },
        });
    }
    // MeshCentral's options request after 5900, answered in kind.
    want.push(Message::KeepaliveOptionsReply {
        interval: 30,
        timeout: 0,
    });
    assert_eq!(mps.seen, want);
    assert_eq!(t.keepalive_interval(), 30);

    let events = drain_events(&mut t);
    assert_eq!(events.first(), Some(&Event::Authenticated));
    assert!(events.contains(&Event::Forwarded { port: 5900 }));
    assert!(events.contains(&Event::KeepaliveOptions {
        interval: 30,
        timeout: 0
    }));
    // Established once 5900's forward is answered; the options follow it.
    let at = |e: &Event| events.iter().position(|x| x == e).unwrap();
    assert!(at(&Event::Forwarded { port: 5900 }) < at(&Event::Established));
    assert_eq!(
        events.last(),
        Some(&Event::KeepaliveOptions {
            interval: 30,
            timeout: 0
        })
    );
}

#[test]
fn without_5900_no_options_arrive_and_the_default_interval_holds() {
    let (t, mps) = established(&[16992, 16993]);
    assert_eq!(t.keepalive_interval(), 25);
    assert!(
        !mps.seen
            .iter()
            .any(|m| matches!(m, Message::KeepaliveOptionsReply { .. }))
    );
}

#[test]
fn no_ports_is_established_after_pfwd_accept() {
    let (t, mps) = established(&[]);
    assert!(mps.bound.is_empty());
    assert_eq!(t.forwarded_ports(), &[] as &[u16]);
}

#[test]
fn refused_forward_is_reported_and_the_rest_continue() {
    let mut t = Tunnel::new(config(&[16992, 16993]));
    t.start();
    feed(
        &mut t,
        &[
            Message::ServiceAccept {
                service: SERVICE_AUTH.into(),
            },
            Message::UserauthSuccess,
            Message::ServiceAccept {
                service: SERVICE_PFWD.into(),
            },
            Message::RequestFailure,
            Message::RequestSuccess { port: Some(16993) },
        ],
    )
    .unwrap();
    assert_eq!(t.phase(), Phase::Established);
    assert_eq!(t.forwarded_ports(), &[16993]);
    let events = drain_events(&mut t);
    assert!(events.contains(&Event::ForwardRefused { port: 16992 }));
    // A CHANNEL_OPEN to the refused port is answered "connect failed".
    drain_sent(&mut t);
    feed(&mut t, &[open(4, 16992)]).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::ChannelOpenFailure {
            recipient_channel: 4,
            reason: OpenFailureReason::ConnectFailed
        }]
    );
}

#[test]
fn wrong_password_disconnects_with_no_more_auth_methods() {
    let mut t = Tunnel::new(config(&[16992]));
    let mut mps = Mps::new();
    mps.password = Some("other".into());
    t.start();
    let mut out = Vec::new();
    t.write_transmit(&mut out);
    let answer = mps.receive(&out);
    t.receive(&answer).unwrap(); // SERVICE_ACCEPT auth
    out.clear();
    t.write_transmit(&mut out);
    let answer = mps.receive(&out);
    let got = t.receive(&answer);
    assert_fatal(&mut t, got, ProtocolError::AuthFailed);
    assert_eq!(
        ProtocolError::AuthFailed.disconnect_reason(),
        DisconnectReason::NoMoreAuthMethodsAvailable
    );
}

#[test]
fn messages_out_of_order_are_protocol_errors() {
    let mut t = Tunnel::new(config(&[16992]));
    let got = feed(&mut t, &[Message::UserauthSuccess]);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Unexpected {
            code: 52,
            phase: Phase::Connected,
        },
    );

    let mut t = Tunnel::new(config(&[16992]));
    t.start();
    let got = feed(&mut t, &[Message::UserauthSuccess]);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Unexpected {
            code: 52,
            phase: Phase::AwaitAuthService,
        },
    );

    let mut t = Tunnel::new(config(&[16992]));
    t.start();
    let got = feed(
        &mut t,
        &[
            Message::ServiceAccept {
                service: SERVICE_AUTH.into(),
            },
            open(4, 16992),
        ],
    );
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Unexpected {
            code: 90,
            phase: Phase::AwaitUserauth,
        },
    );

    // Confirmations answer nothing: the device opens no channels.
    let (mut t, _) = established(&[16992]);
    let got = feed(
        &mut t,
        &[Message::ChannelOpenConfirmation {
            recipient_channel: 1,
            sender_channel: 4,
            initial_window: 100,
        }],
    );
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Unexpected {
            code: 91,
            phase: Phase::Established,
        },
    );
}

#[test]
fn wrong_service_accepted() {
    let mut t = Tunnel::new(config(&[16992]));
    t.start();
    let got = feed(
        &mut t,
        &[Message::ServiceAccept {
            service: SERVICE_PFWD.into(),
        }],
    );
    assert_fatal(
        &mut t,
        got,
        ProtocolError::WrongService {
            expected: SERVICE_AUTH,
            got: SERVICE_PFWD.into(),
        },
    );
}

#[test]
fn peer_version_other_than_1_is_refused_with_reason_8() {
    let mut t = Tunnel::new(config(&[16992]));
    t.start();
    let v = |major| {
        Message::ProtocolVersion(ProtocolVersion {
            major,
            minor: 0,
            trigger: TriggerReason::Lme,
            uuid: uuid(),
        })
    };
    // LMS answers with 1.0: reported, not fatal.
    feed(&mut t, &[v(1)]).unwrap();
    assert!(matches!(t.poll_event(), Some(Event::PeerVersion(_))));
    let got = feed(&mut t, &[v(2)]);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::UnsupportedVersion { major: 2, minor: 0 },
    );
    assert_eq!(
        ProtocolError::UnsupportedVersion { major: 2, minor: 0 }.disconnect_reason(),
        DisconnectReason::ProtocolVersionNotSupported
    );
}

#[test]
fn undecodable_bytes_disconnect_with_protocol_error() {
    let (mut t, _) = established(&[16992]);
    let got = t.receive(&[7, 0, 0, 0, 0]);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Decode(DecodeError::UnknownType(7)),
    );

    let (mut t, _) = established(&[16992]);
    let mut wire = vec![90];
    wire.extend_from_slice(&(MAX_STRING + 1).to_be_bytes());
    let got = t.receive(&wire);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::Decode(DecodeError::StringTooLong {
            len: MAX_STRING + 1,
            max: MAX_STRING,
        }),
    );
}

#[test]
fn channel_open_is_confirmed_with_our_id_and_window() {
    let (mut t, _) = established(&[16992, 16993]);
    feed(&mut t, &[open(4, 16993), open(5, 16992)]).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![
            Message::ChannelOpenConfirmation {
                recipient_channel: 4,
                sender_channel: 1,
                initial_window: 32768
            },
            Message::ChannelOpenConfirmation {
                recipient_channel: 5,
                sender_channel: 2,
                initial_window: 32768
            },
        ]
    );
    assert_eq!(
        t.poll_event(),
        Some(Event::ChannelOpened {
            channel: ChannelId(1),
            port: 16993,
            originator: "1.2.3.4".into(),
            originator_port: 1024
        })
    );
    assert_eq!(t.channel_port(ChannelId(2)), Some(16992));
    assert_eq!(t.channel_count(), 2);
}

#[test]
fn channel_open_refusals_are_answers_not_disconnects() {
    let (mut t, _) = established(&[16992]);
    let mut direct = open(6, 16992);
    if let Message::ChannelOpen(o) = &mut direct {
        o.channel_type = ChannelType::DirectTcpip;
    }
    feed(&mut t, &[open(4, 16994), open(5, 70000), direct]).unwrap();
    let fail = |recipient_channel, reason| Message::ChannelOpenFailure {
        recipient_channel,
        reason,
    };
    assert_eq!(
        drain_sent(&mut t),
        vec![
            fail(4, OpenFailureReason::ConnectFailed),
            fail(5, OpenFailureReason::ConnectFailed),
            fail(6, OpenFailureReason::UnknownChannelType),
        ]
    );
    assert_eq!(t.phase(), Phase::Established);
    assert_eq!(t.channel_count(), 0);
}

#[test]
fn channels_beyond_the_limit_are_refused_for_resource_shortage() {
    let mut cfg = config(&[16992]);
    cfg.max_channels = 2;
    let mut t = Tunnel::new(cfg);
    let mut mps = Mps::new();
    t.start();
    pump(&mut t, &mut mps, &[]);
    feed(&mut t, &[open(4, 16992), open(5, 16992), open(6, 16992)]).unwrap();
    assert_eq!(
        drain_sent(&mut t).last(),
        Some(&Message::ChannelOpenFailure {
            recipient_channel: 6,
            reason: OpenFailureReason::ResourceShortage
        })
    );
}

#[test]
fn data_is_delivered_and_the_window_regranted_past_half() {
    let (mut t, ch) = with_channel();
    feed(
        &mut t,
        &[Message::ChannelData {
            recipient_channel: ch.0,
            data: vec![1; 16384],
        }],
    )
    .unwrap();
    assert_eq!(
        t.poll_event(),
        Some(Event::Data {
            channel: ch,
            bytes: vec![1; 16384]
        })
    );
    // Exactly half consumed: no adjust yet.
    t.consumed(ch, 16384).unwrap();
    assert!(drain_sent(&mut t).is_empty());
    feed(
        &mut t,
        &[Message::ChannelData {
            recipient_channel: ch.0,
            data: vec![2; 10],
        }],
    )
    .unwrap();
    t.consumed(ch, 1).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::ChannelWindowAdjust {
            recipient_channel: 4,
            bytes_to_add: 16385
        }]
    );
    assert_eq!(
        t.consumed(ch, 10),
        Err(UsageError::OverConsumed {
            channel: ch,
            consumed: 10,
            held: 9
        })
    );
    // The regranted window admits a full window's worth again.
    feed(
        &mut t,
        &[Message::ChannelData {
            recipient_channel: ch.0,
            data: vec![3; 32768 - 9],
        }],
    )
    .unwrap();
}

#[test]
fn data_beyond_the_window_is_fatal() {
    let (mut t, ch) = with_channel();
    let data = |n| Message::ChannelData {
        recipient_channel: ch.0,
        data: vec![0; n],
    };
    feed(&mut t, &[data(20000)]).unwrap();
    let got = feed(&mut t, &[data(20000)]);
    assert_fatal(
        &mut t,
        got,
        ProtocolError::WindowExceeded {
            channel: ch.0,
            len: 20000,
            window: 12768,
        },
    );

    let (mut t, ch) = with_channel();
    let got = feed(
        &mut t,
        &[Message::ChannelData {
            recipient_channel: ch.0,
            data: vec![0; 32769],
        }],
    );
    assert_fatal(
        &mut t,
        got,
        ProtocolError::WindowExceeded {
            channel: ch.0,
            len: 32769,
            window: 32768,
        },
    );
}

#[test]
fn messages_for_channels_never_opened_are_fatal() {
    for msg in [
        Message::ChannelData {
            recipient_channel: 99,
            data: vec![1],
        },
        Message::ChannelWindowAdjust {
            recipient_channel: 99,
            bytes_to_add: 1,
        },
        Message::ChannelClose {
            recipient_channel: 99,
        },
        Message::ChannelClose {
            recipient_channel: 0,
        },
    ] {
        let (mut t, _) = with_channel();
        let id = match &msg {
            Message::ChannelClose { recipient_channel } => *recipient_channel,
            _ => 99,
        };
        let got = feed(&mut t, &[msg]);
        assert_fatal(&mut t, got, ProtocolError::UnknownChannel(id));
    }
}

#[test]
fn peer_close_is_answered_and_later_data_is_fatal() {
    let (mut t, ch) = with_channel();
    feed(
        &mut t,
        &[Message::ChannelClose {
            recipient_channel: ch.0,
        }],
    )
    .unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::ChannelClose {
            recipient_channel: 4
        }]
    );
    assert_eq!(t.poll_event(), Some(Event::ChannelClosed { channel: ch }));
    assert_eq!(t.send_data(ch, b"x"), Err(UsageError::UnknownChannel(ch)));
    let got = feed(
        &mut t,
        &[Message::ChannelData {
            recipient_channel: ch.0,
            data: vec![1],
        }],
    );
    assert_fatal(&mut t, got, ProtocolError::ClosedChannel(ch.0));
}

#[test]
fn our_close_waits_for_the_peer_and_drops_data_in_flight() {
    let (mut t, ch) = with_channel();
    t.close_channel(ch).unwrap();
    t.close_channel(ch).unwrap(); // idempotent
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::ChannelClose {
            recipient_channel: 4
        }]
    );
    assert_eq!(t.send_data(ch, b"x"), Err(UsageError::ChannelClosing(ch)));
    // Sent by the MPS before it saw our close: legal, dropped.
    feed(
        &mut t,
        &[
            Message::ChannelData {
                recipient_channel: ch.0,
                data: vec![1; 10],
            },
            Message::ChannelWindowAdjust {
                recipient_channel: ch.0,
                bytes_to_add: 10,
            },
            Message::ChannelClose {
                recipient_channel: ch.0,
            },
        ],
    )
    .unwrap();
    assert_eq!(
        drain_events(&mut t),
        vec![Event::ChannelClosed { channel: ch }]
    );
    assert!(drain_sent(&mut t).is_empty(), "no second close");
    assert_eq!(t.channel_count(), 0);
    let got = feed(
        &mut t,
        &[Message::ChannelClose {
            recipient_channel: ch.0,
        }],
    );
    assert_fatal(&mut t, got, ProtocolError::ClosedChannel(ch.0));
}

#[test]
fn sending_stays_within_the_peer_window_in_chunks() {
    let (mut t, ch) = with_channel();
    assert_eq!(t.send_capacity(ch), Ok(32768));
    let big = vec![7u8; 40000];
    assert_eq!(t.send_data(ch, &big), Ok(32768));
    let sent = drain_sent(&mut t);
    assert_eq!(sent.len(), 8); // 32768 / 4096
    assert!(sent.iter().all(|m| matches!(m,
        Message::ChannelData { recipient_channel: 4, data } if data.len() == 4096)));
    assert_eq!(t.send_capacity(ch), Ok(0));
    assert_eq!(t.send_data(ch, &big), Ok(0));
    feed(
        &mut t,
        &[Message::ChannelWindowAdjust {
            recipient_channel: ch.0,
            bytes_to_add: 5000,
        }],
    )
    .unwrap();
    assert_eq!(
        t.poll_event(),
        Some(Event::SendWindow {
            channel: ch,
            available: 5000
        })
    );
    assert_eq!(t.send_data(ch, &big[..100]), Ok(100));
    assert_eq!(t.send_capacity(ch), Ok(4900));
}

#[test]
fn keepalives_both_ways() {
    let (mut t, _) = established(&[16992]);
    feed(&mut t, &[Message::KeepaliveRequest { cookie: 77 }]).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::KeepaliveReply { cookie: 77 }]
    );
    t.send_keepalive(255).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::KeepaliveRequest { cookie: 255 }]
    );
    feed(&mut t, &[Message::KeepaliveReply { cookie: 255 }]).unwrap();
    assert_eq!(t.poll_event(), Some(Event::KeepaliveReply { cookie: 255 }));
    assert_eq!(
        Tunnel::new(config(&[])).send_keepalive(1),
        Err(UsageError::WrongPhase(Phase::Connected))
    );
}

#[test]
fn cancel_forward_reads_the_bare_success_and_refuses_new_channels() {
    let (mut t, mut mps) = established(&[16992, 16993]);
    t.cancel_forward(16993).unwrap();
    assert_eq!(
        t.cancel_forward(16993),
        Err(UsageError::NotForwarded(16993))
    );
    let mut out = Vec::new();
    t.write_transmit(&mut out);
    let mut answer = mps.receive(&out);
    assert_eq!(answer, [81]);
    // A keep-alive right behind the 1-byte success must not be read as a port.
    codec::encode(&Message::KeepaliveRequest { cookie: 9 }, &mut answer);
    assert_eq!(t.receive(&answer), Ok(6));
    assert_eq!(
        drain_events(&mut t),
        vec![Event::ForwardCancelled {
            port: 16993,
            accepted: true
        }]
    );
    assert_eq!(mps.bound, [16992]);
    feed(&mut t, &[open(4, 16993)]).unwrap();
    assert_eq!(
        drain_sent(&mut t),
        vec![
            Message::KeepaliveReply { cookie: 9 },
            Message::ChannelOpenFailure {
                recipient_channel: 4,
                reason: OpenFailureReason::ConnectFailed
            }
        ]
    );
}

#[test]
fn unsolicited_request_reply_is_fatal() {
    let (mut t, _) = established(&[16992]);
    let got = feed(&mut t, &[Message::RequestFailure]);
    assert_fatal(&mut t, got, ProtocolError::UnsolicitedReply);
}

#[test]
fn global_requests_from_the_mps_are_declined() {
    let (mut t, _) = established(&[16992]);
    feed(
        &mut t,
        &[Message::GlobalRequest {
            want_reply: true,
            request: GlobalRequest::TcpipForward {
                address: String::new(),
                port: 1,
            },
        }],
    )
    .unwrap();
    assert_eq!(drain_sent(&mut t), vec![Message::RequestFailure]);
}

#[test]
fn peer_disconnect_closes_and_ignores_what_follows() {
    let (mut t, _ch) = with_channel();
    let wire = bytes(&[
        Message::Disconnect {
            reason: DisconnectReason::ByApplication,
        },
        Message::KeepaliveRequest { cookie: 1 },
    ]);
    assert_eq!(t.receive(&wire), Ok(7));
    assert_eq!(t.phase(), Phase::Closed);
    assert_eq!(
        drain_events(&mut t),
        vec![Event::Disconnect(DisconnectReason::ByApplication)]
    );
    assert!(drain_sent(&mut t).is_empty());
    assert_eq!(t.channel_count(), 0);
}

#[test]
fn caller_disconnect_queues_the_reason_once() {
    let (mut t, _) = established(&[16992]);
    t.disconnect(DisconnectReason::ByPolicy);
    t.disconnect(DisconnectReason::ByApplication);
    assert_eq!(
        drain_sent(&mut t),
        vec![Message::Disconnect {
            reason: DisconnectReason::ByPolicy
        }]
    );
}

#[test]
fn usage_errors_leave_the_tunnel_alone() {
    let (mut t, ch) = with_channel();
    let other = ChannelId(ch.0 + 1);
    assert_eq!(
        t.send_capacity(other),
        Err(UsageError::UnknownChannel(other))
    );
    assert_eq!(t.consumed(other, 1), Err(UsageError::UnknownChannel(other)));
    assert_eq!(
        t.close_channel(other),
        Err(UsageError::UnknownChannel(other))
    );
    let mut fresh = Tunnel::new(config(&[16992]));
    assert_eq!(
        fresh.cancel_forward(16992),
        Err(UsageError::WrongPhase(Phase::Connected))
    );
    assert_eq!(t.phase(), Phase::Established);
    assert!(drain_sent(&mut t).is_empty());
}
