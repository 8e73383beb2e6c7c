//! Each message's layout against bytes written out by hand from the spec
//! (cira.md §2), and the decoder's refusals of malformed input.

use amtemu_apf::codec::{
    self, DecodeError, MAX_PACKET, MAX_STRING, SuccessShape, check_with, decode_packet, decode_with,
};
use amtemu_apf::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, Message,
    OpenFailureReason, ProtocolVersion, TriggerReason, Uuid,
};

/// Encodes `msg`, compares with `wire`, and decodes `wire` back to `msg`.
fn layout(msg: Message, wire: &[u8], shape: SuccessShape) {
    let mut out = Vec::new();
    codec::encode(&msg, &mut out);
    assert_eq!(out, wire, "encoding of {msg:?}");
    assert_eq!(check_with(wire, shape), Ok(Some(wire.len())));
    assert_eq!(
        decode_with(wire, shape),
        Ok(Some((msg.clone(), wire.len())))
    );
    assert_eq!(decode_packet(wire, shape), Ok(msg));
    // One byte short is always incomplete, never an error.
    assert_eq!(check_with(&wire[..wire.len() - 1], shape), Ok(None));
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn disconnect() {
    let wire = [1, 0, 0, 0, 2, 0, 0];
    layout(
        Message::Disconnect {
            reason: DisconnectReason::ProtocolError,
        },
        &wire,
        SuccessShape::default(),
    );
    assert_eq!(wire.len(), 7);
}

#[test]
fn service_request_and_accept() {
    let name = b"auth@amt.intel.com";
    assert_eq!(name.len(), 18);
    let wire = cat(&[&[5, 0, 0, 0, 18], name]);
    layout(
        Message::ServiceRequest {
            service: "auth@amt.intel.com".into(),
        },
        &wire,
        SuccessShape::default(),
    );
    let wire = cat(&[&[6, 0, 0, 0, 18], b"pfwd@amt.intel.com"]);
    layout(
        Message::ServiceAccept {
            service: "pfwd@amt.intel.com".into(),
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn userauth_request_password() {
    let wire = cat(&[
        &[50, 0, 0, 0, 4],
        b"user",
        &[0, 0, 0, 18],
        b"pfwd@amt.intel.com",
        &[0, 0, 0, 8],
        b"password",
        &[0],
        &[0, 0, 0, 6],
        b"secret",
    ]);
    layout(
        Message::UserauthRequest {
            username: "user".into(),
            service: "pfwd@amt.intel.com".into(),
            method: AuthMethod::Password("secret".into()),
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn userauth_request_none() {
    let wire = cat(&[
        &[50, 0, 0, 0, 1],
        b"u",
        &[0, 0, 0, 1],
        b"s",
        &[0, 0, 0, 4],
        b"none",
    ]);
    layout(
        Message::UserauthRequest {
            username: "u".into(),
            service: "s".into(),
            method: AuthMethod::None,
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn userauth_failure_and_success() {
    // The MPSs' form: method list then two zero bytes, 15 bytes in all.
    let wire = cat(&[&[51, 0, 0, 0, 8], b"password", &[0, 0]]);
    assert_eq!(wire.len(), 15);
    layout(
        Message::UserauthFailure {
            methods: "password".into(),
        },
        &wire,
        SuccessShape::default(),
    );
    layout(Message::UserauthSuccess, &[52], SuccessShape::default());
}

#[test]
fn global_request_tcpip_forward() {
    let wire = cat(&[
        &[80, 0, 0, 0, 13],
        b"tcpip-forward",
        &[1],
        &[0, 0, 0, 4],
        b"host",
        &[0, 0, 0x42, 0x60], // 16992
    ]);
    layout(
        Message::GlobalRequest {
            want_reply: true,
            request: GlobalRequest::TcpipForward {
                address: "host".into(),
                port: 16992,
            },
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn global_request_cancel_with_empty_address() {
    let wire = cat(&[
        &[80, 0, 0, 0, 20],
        b"cancel-tcpip-forward",
        &[0],
        &[0, 0, 0, 0],
        &[0, 0, 0x17, 0x0c], // 5900
    ]);
    layout(
        Message::GlobalRequest {
            want_reply: false,
            request: GlobalRequest::CancelTcpipForward {
                address: String::new(),
                port: 5900,
            },
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn global_request_udp_send_to() {
    let wire = cat(&[
        &[80, 0, 0, 0, 25],
        b"udp-send-to@amt.intel.com",
        &[0],
        &[0, 0, 0, 1],
        b"a",
        &[0, 0, 0, 162],
        &[0, 0, 0, 1],
        b"b",
        &[0, 0, 0x02, 0x6f], // 623
        &[0, 0, 0, 3],
        &[9, 8, 7],
    ]);
    layout(
        Message::GlobalRequest {
            want_reply: false,
            request: GlobalRequest::UdpSendTo {
                address: "a".into(),
                port: 162,
                originator_address: "b".into(),
                originator_port: 623,
                data: vec![9, 8, 7],
            },
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn request_success_both_shapes_and_failure() {
    layout(
        Message::RequestSuccess { port: Some(16993) },
        &[81, 0, 0, 0x42, 0x61],
        SuccessShape::WithPort,
    );
    layout(
        Message::RequestSuccess { port: None },
        &[81],
        SuccessShape::Bare,
    );
    layout(Message::RequestFailure, &[82], SuccessShape::default());
    // A bare success followed by a keep-alive must not be read as a port.
    let stream = [81, 208, 0, 0, 0, 7];
    assert_eq!(
        decode_with(&stream, SuccessShape::Bare),
        Ok(Some((Message::RequestSuccess { port: None }, 1)))
    );
}

#[test]
fn channel_open_forwarded() {
    let wire = cat(&[
        &[90, 0, 0, 0, 15],
        b"forwarded-tcpip",
        &[0, 0, 0, 4],    // sender channel
        &[0, 0, 0x80, 0], // window 32768
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 0],       // connected address ""
        &[0, 0, 0x42, 0x60], // 16992
        &[0, 0, 0, 7],
        b"1.2.3.4",
        &[0, 0, 0x04, 0x00], // 1024
    ]);
    layout(
        Message::ChannelOpen(ChannelOpen {
            channel_type: ChannelType::ForwardedTcpip,
            sender_channel: 4,
            initial_window: 32768,
            connected_address: String::new(),
            connected_port: 16992,
            originator_address: "1.2.3.4".into(),
            originator_port: 1024,
        }),
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn channel_open_direct_and_unknown_type() {
    let wire = cat(&[
        &[90, 0, 0, 0, 12],
        b"direct-tcpip",
        &[0, 0, 0, 1],
        &[0, 0, 0x10, 0],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 2],
        b"mp",
        &[0, 0, 0x41, 0x7a], // 16762
        &[0, 0, 0, 2],
        b"me",
        &[0, 0, 0, 1],
    ]);
    layout(
        Message::ChannelOpen(ChannelOpen {
            channel_type: ChannelType::DirectTcpip,
            sender_channel: 1,
            initial_window: 4096,
            connected_address: "mp".into(),
            connected_port: 16762,
            originator_address: "me".into(),
            originator_port: 1,
        }),
        &wire,
        SuccessShape::default(),
    );
    let mut odd = wire.clone();
    odd[5..17].copy_from_slice(b"session@x.yz");
    let Ok(Some((Message::ChannelOpen(open), _))) = codec::decode(&odd) else {
        panic!("an unknown channel type still decodes")
    };
    assert_eq!(open.channel_type, ChannelType::Other("session@x.yz".into()));
}

#[test]
fn channel_open_confirmation_and_failure() {
    let wire = [
        91, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(wire.len(), 17);
    layout(
        Message::ChannelOpenConfirmation {
            recipient_channel: 4,
            sender_channel: 1,
            initial_window: 32768,
        },
        &wire,
        SuccessShape::default(),
    );
    let wire = [92, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
    layout(
        Message::ChannelOpenFailure {
            recipient_channel: 4,
            reason: OpenFailureReason::UnknownChannelType,
        },
        &wire,
        SuccessShape::default(),
    );
}

#[test]
fn window_adjust_data_close() {
    layout(
        Message::ChannelWindowAdjust {
            recipient_channel: 5,
            bytes_to_add: 16385,
        },
        &[93, 0, 0, 0, 5, 0, 0, 0x40, 0x01],
        SuccessShape::default(),
    );
    layout(
        Message::ChannelData {
            recipient_channel: 5,
            data: b"GET".to_vec(),
        },
        &cat(&[&[94, 0, 0, 0, 5, 0, 0, 0, 3], b"GET"]),
        SuccessShape::default(),
    );
    layout(
        Message::ChannelClose {
            recipient_channel: 0x01020304,
        },
        &[97, 1, 2, 3, 4],
        SuccessShape::default(),
    );
}

#[test]
fn protocol_version_uuid_byte_order() {
    let uuid: Uuid = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
    let mut wire = vec![192, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4];
    wire.extend_from_slice(&[
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]);
    wire.extend_from_slice(&[0; 64]);
    assert_eq!(wire.len(), 93);
    layout(
        Message::ProtocolVersion(ProtocolVersion {
            major: 1,
            minor: 0,
            trigger: TriggerReason::Periodic,
            uuid,
        }),
        &wire,
        SuccessShape::default(),
    );
    assert_eq!(uuid.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
    assert!(
        "00112233-4455-6677-8899-aabbccddeef"
            .parse::<Uuid>()
            .is_err()
    );
    assert!(
        "00112233x4455-6677-8899-aabbccddeeff"
            .parse::<Uuid>()
            .is_err()
    );
    assert!(
        "0011223g-4455-6677-8899-aabbccddeeff"
            .parse::<Uuid>()
            .is_err()
    );
}

#[test]
fn keepalives() {
    layout(
        Message::KeepaliveRequest { cookie: 255 },
        &[208, 0, 0, 0, 255],
        SuccessShape::default(),
    );
    layout(
        Message::KeepaliveReply { cookie: 255 },
        &[209, 0, 0, 0, 255],
        SuccessShape::default(),
    );
    layout(
        Message::KeepaliveOptionsRequest {
            interval: 30,
            timeout: 0,
        },
        &[210, 0, 0, 0, 30, 0, 0, 0, 0],
        SuccessShape::default(),
    );
    layout(
        Message::KeepaliveOptionsReply {
            interval: 30,
            timeout: 0,
        },
        &[211, 0, 0, 0, 30, 0, 0, 0, 0],
        SuccessShape::default(),
    );
}

#[test]
fn reason_codes_round_trip_and_keep_unknown_values() {
    for c in 0..40 {
        assert_eq!(DisconnectReason::from_code(c).code(), c);
        assert_eq!(OpenFailureReason::from_code(c).code(), c);
        assert_eq!(TriggerReason::from_code(c).code(), c);
    }
    assert_eq!(
        DisconnectReason::from_code(15),
        DisconnectReason::InvalidCredentials
    );
    assert_eq!(
        DisconnectReason::from_code(18),
        DisconnectReason::TemporarilyUnavailable
    );
    assert_eq!(DisconnectReason::from_code(19), DisconnectReason::Other(19));
    assert_eq!(TriggerReason::from_code(254), TriggerReason::Lme);
}

// ---- malformed input ----

#[test]
fn unknown_types_are_refused() {
    for t in [0u8, 2, 7, 53, 95, 96, 98, 193, 212, 250, 255] {
        let err = codec::check(&[t, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(err, DecodeError::UnknownType(t));
        assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolError);
    }
}

#[test]
fn empty_input_is_incomplete() {
    assert_eq!(codec::check(&[]), Ok(None));
    assert_eq!(codec::decode(&[]), Ok(None));
    assert_eq!(
        decode_packet(&[], SuccessShape::default()),
        Err(DecodeError::LengthOverrun { packet_len: 0 })
    );
}

#[test]
fn string_over_the_cap_is_refused_before_its_bytes_arrive() {
    let len = MAX_STRING + 1;
    let wire = cat(&[&[5], &len.to_be_bytes()]);
    assert_eq!(
        codec::check(&wire),
        Err(DecodeError::StringTooLong {
            len,
            max: MAX_STRING
        })
    );
    // At the cap it is merely incomplete.
    let wire = cat(&[&[5], &MAX_STRING.to_be_bytes()]);
    assert_eq!(codec::check(&wire), Ok(None));
}

#[test]
fn data_over_the_packet_limit_is_refused_before_its_bytes_arrive() {
    let over = (MAX_PACKET - 9 + 1) as u32;
    let wire = cat(&[&[94, 0, 0, 0, 1], &over.to_be_bytes()]);
    assert_eq!(
        codec::check(&wire),
        Err(DecodeError::PacketTooLarge {
            len: MAX_PACKET as u64 + 1,
            max: MAX_PACKET
        })
    );
    let wire = cat(&[&[94, 0, 0, 0, 1], &u32::MAX.to_be_bytes()]);
    assert!(matches!(
        codec::check(&wire),
        Err(DecodeError::PacketTooLarge { .. })
    ));
    let at = (MAX_PACKET - 9) as u32;
    let wire = cat(&[&[94, 0, 0, 0, 1], &at.to_be_bytes()]);
    assert_eq!(codec::check(&wire), Ok(None));
}

#[test]
fn lengths_overrunning_a_packet() {
    // CHANNEL_DATA claiming 10 bytes but carrying 3.
    let packet = [94, 0, 0, 0, 1, 0, 0, 0, 10, 1, 2, 3];
    assert_eq!(
        decode_packet(&packet, SuccessShape::default()),
        Err(DecodeError::LengthOverrun { packet_len: 12 })
    );
    // In a stream the same bytes wait for more.
    assert_eq!(codec::check(&packet), Ok(None));
    // SERVICE_REQUEST whose name length runs past the packet.
    let packet = cat(&[&[5, 0, 0, 0, 19], b"auth@amt.intel.com"]);
    assert_eq!(
        decode_packet(&packet, SuccessShape::default()),
        Err(DecodeError::LengthOverrun { packet_len: 23 })
    );
    // A packet with bytes after its message.
    assert_eq!(
        decode_packet(&[52, 0], SuccessShape::default()),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn text_fields_must_be_utf8() {
    let wire = [6, 0, 0, 0, 2, 0xc3, 0x28];
    assert_eq!(codec::check(&wire), Ok(Some(7)), "framing needs no UTF-8");
    assert_eq!(
        codec::decode(&wire),
        Err(DecodeError::BadUtf8 {
            field: "service name"
        })
    );
    // Channel data is bytes, not text.
    let wire = [94, 0, 0, 0, 1, 0, 0, 0, 2, 0xc3, 0x28];
    assert!(codec::decode(&wire).unwrap().is_some());
}

#[test]
fn unknown_global_request_and_auth_method() {
    let wire = cat(&[&[80, 0, 0, 0, 3], b"foo", &[1]]);
    assert_eq!(codec::check(&wire), Err(DecodeError::UnknownGlobalRequest));
    let wire = cat(&[
        &[50, 0, 0, 0, 1],
        b"u",
        &[0, 0, 0, 1],
        b"s",
        &[0, 0, 0, 9],
        b"publickey",
    ]);
    assert_eq!(codec::check(&wire), Err(DecodeError::UnknownAuthMethod));
    let wire = cat(&[
        &[50, 0, 0, 0, 1],
        b"u",
        &[0, 0, 0, 1],
        b"s",
        &[0, 0, 0, 8],
        b"password",
        &[1],
    ]);
    assert_eq!(codec::check(&wire), Err(DecodeError::PasswordChange));
}
