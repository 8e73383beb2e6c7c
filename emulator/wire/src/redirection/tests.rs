use super::*;
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = SessionKind> {
    prop_oneof![
        Just(SessionKind::Sol),
        Just(SessionKind::Ider),
        Just(SessionKind::Kvm),
        any::<[u8; 4]>().prop_map(SessionKind::from_bytes),
    ]
}

fn ider_status() -> impl Strategy<Value = IderStatus> {
    (
        any::<(u8, u32, u8, u16, u8)>(),
        any::<([u8; 8], [u8; 8], [u8; 3])>(),
    )
        .prop_map(
            |((attributes, seq, cable_select, byte_count, packet_number), (t, f, sense))| {
                IderStatus {
                    attributes,
                    seq,
                    cable_select,
                    byte_count,
                    packet_number,
                    transfer_registers: t,
                    final_registers: f,
                    sense,
                }
            },
        )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u8>(), kind()).prop_map(|(flag, kind)| ClientMessage::StartSession { flag, kind }),
        Just(ClientMessage::EndSession),
        (any::<u8>(), bytes(300))
            .prop_map(|(auth_type, data)| ClientMessage::Authenticate { auth_type, data }),
        any::<(u32, u16, u16, u16, u16, u16, u16)>().prop_map(|(seq, a, b, c, d, e, f)| {
            ClientMessage::StartSol(SolSettings {
                seq,
                max_transmit_buffer: a,
                transmit_timeout_ms: b,
                overflow_timeout_ms: c,
                receive_timeout_ms: d,
                fifo_flush_timeout_ms: e,
                heartbeat_ms: f,
            })
        }),
        any::<u32>().prop_map(|seq| ClientMessage::EndSol { seq }),
        any::<u32>().prop_map(|seq| ClientMessage::SolPing { seq }),
        any::<(u32, [u8; 6])>().prop_map(|(seq, body)| ClientMessage::SolControl { seq, body }),
        (any::<u32>(), bytes(2000)).prop_map(|(seq, data)| ClientMessage::SolData { seq, data }),
        any::<u32>().prop_map(|seq| ClientMessage::SolHeartbeat { seq }),
        any::<[u8; 17]>().prop_map(|raw| ClientMessage::StartIder { raw }),
        any::<u32>().prop_map(|seq| ClientMessage::EndIder { seq }),
        any::<u32>().prop_map(|seq| ClientMessage::IderPing { seq }),
        any::<u32>().prop_map(|seq| ClientMessage::IderPong { seq }),
        any::<u32>().prop_map(|seq| ClientMessage::IderResetAck { seq }),
        (any::<u32>(), 1u8..=3, any::<u32>()).prop_map(|(seq, subcommand, v)| {
            ClientMessage::IderFeatures {
                seq,
                subcommand,
                value: (subcommand != 1).then_some(v),
            }
        }),
        any::<u32>().prop_map(|seq| ClientMessage::IderHeartbeat { seq }),
        ider_status().prop_map(ClientMessage::IderCommandEnd),
        ider_status().prop_map(ClientMessage::IderGetData),
        (ider_status(), bytes(9000)).prop_map(|(mut status, data)| {
            status.byte_count = data.len() as u16;
            ClientMessage::IderData { status, data }
        }),
    ]
}

fn device_message() -> impl Strategy<Value = DeviceMessage> {
    prop_oneof![
        any::<(u8, [u8; 4], u32)>().prop_map(|(status, version, oem_iana)| {
            DeviceMessage::StartSessionReply {
                status,
                version,
                oem_iana,
            }
        }),
        (any::<(u8, u8)>(), bytes(100)).prop_map(|((status, auth_type), data)| {
            DeviceMessage::AuthenticateReply {
                status,
                auth_type,
                data,
            }
        }),
        any::<(u8, u32, u16, u16, u16, u16, [u8; 2], u32)>().prop_map(
            |(status, seq, a, b, c, d, revision, oem_iana)| {
                DeviceMessage::StartSolReply {
                    status,
                    seq,
                    max_transmit_buffer: a,
                    transmit_timeout_ms: b,
                    overflow_timeout_ms: c,
                    receive_timeout_ms: d,
                    revision,
                    oem_iana,
                }
            }
        ),
        any::<u32>().prop_map(|seq| DeviceMessage::EndSolReply { seq }),
        any::<(u32, u8, u8)>().prop_map(|(seq, control, status)| DeviceMessage::SolControls {
            seq,
            control,
            status
        }),
        (any::<u32>(), bytes(2000)).prop_map(|(seq, data)| DeviceMessage::SolData { seq, data }),
        any::<u32>().prop_map(|seq| DeviceMessage::SolHeartbeat { seq }),
        any::<(u8, u32, [u8; 4], u16, u16, u32)>().prop_map(
            |(status, seq, version, r, w, oem_iana)| {
                DeviceMessage::StartIderReply {
                    status,
                    seq,
                    version,
                    read_buffer: r,
                    write_buffer: w,
                    oem_iana,
                }
            }
        ),
        any::<u32>().prop_map(|seq| DeviceMessage::EndIderReply { seq }),
        any::<u32>().prop_map(|seq| DeviceMessage::IderPing { seq }),
        any::<u32>().prop_map(|seq| DeviceMessage::IderPong { seq }),
        any::<(u32, u8)>().prop_map(|(seq, mask)| DeviceMessage::IderResetOccurred { seq, mask }),
        any::<(u32, u8, u32)>().prop_map(|(seq, subcommand, value)| {
            DeviceMessage::IderFeaturesReply {
                seq,
                subcommand,
                value,
            }
        }),
        any::<(u32, [u8; 3])>().prop_map(|(seq, body)| DeviceMessage::IderError { seq, body }),
        any::<u32>().prop_map(|seq| DeviceMessage::IderHeartbeat { seq }),
        (
            any::<(u32, u8, u8, u8, u8, u16, u8, u8)>(),
            any::<[u8; 12]>()
        )
            .prop_map(
                |(
                    (
                        seq,
                        cable_select,
                        features,
                        sector_count,
                        sector_number,
                        byte_count_limit,
                        drive,
                        command,
                    ),
                    cdb,
                )| {
                    DeviceMessage::IderCommand {
                        seq,
                        cable_select,
                        features,
                        sector_count,
                        sector_number,
                        byte_count_limit,
                        drive,
                        command,
                        cdb,
                    }
                }
            ),
        (any::<(u32, u8, [u8; 3])>(), bytes(9000)).prop_map(
            |((seq, cable_select, registers), data)| {
                DeviceMessage::IderDataFromHost {
                    seq,
                    cable_select,
                    registers,
                    data,
                }
            }
        ),
    ]
}

/// Decodes a stream fed in pieces split at `cuts`, as a socket would.
fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Vec<ClientMessage> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut last = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(stream.len());
    points.sort();
    for p in points {
        buf.extend_from_slice(&stream[last..p]);
        last = p;
        while let Some((msg, used)) = ClientMessage::decode(&buf).unwrap() {
            out.push(msg);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    out
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        prop_assert_eq!(ClientMessage::decode(&bytes).unwrap(), Some((msg, bytes.len())));
        // Every proper prefix asks for more.
        for cut in [0, bytes.len() / 2, bytes.len() - 1] {
            prop_assert_eq!(ClientMessage::decode(&bytes[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn device_messages_round_trip(msg in device_message()) {
        let bytes = msg.to_bytes();
        prop_assert_eq!(DeviceMessage::decode(&bytes).unwrap(), Some((msg, bytes.len())));
        for cut in [0, bytes.len() / 2, bytes.len() - 1] {
            prop_assert_eq!(DeviceMessage::decode(&bytes[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in bytes(200)) {
        let _ = ClientMessage::decode(&bytes);
        let _ = DeviceMessage::decode(&bytes);
    }

    #[test]
    fn split_decoding_equals_whole_decoding(
        msgs in proptest::collection::vec(client_message(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode(&mut stream);
        }
        prop_assert_eq!(decode_in_pieces(&stream, &[]), msgs.clone());
        prop_assert_eq!(decode_in_pieces(&stream, &cuts), msgs);
    }
}

#[test]
fn unknown_types_and_huge_lengths_are_errors() {
    assert_eq!(
        ClientMessage::decode(&[0x99]),
        Err(CodecError::UnknownType(0x99))
    );
    let mut auth = vec![0x13, 0, 0, 0, 4];
    auth.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert_eq!(
        ClientMessage::decode(&auth),
        Err(CodecError::TooLong(0xFFFF_FFF0))
    );
    assert_eq!(
        ClientMessage::decode(&[0x48, 0, 0, 0, 0, 0, 0, 0, 9]),
        Err(CodecError::UnknownSubcommand(9))
    );
}

#[test]
fn captured_console_bytes_decode() {
    // amtterm 1.4: StartRedirectionSession "SOL ", then plain auth with
    // the u32 length filled in its low byte only.
    let start = [0x10, 0, 0, 0, b'S', b'O', b'L', b' '];
    assert_eq!(
        ClientMessage::decode(&start).unwrap(),
        Some((
            ClientMessage::StartSession {
                flag: 0,
                kind: SessionKind::Sol
            },
            8
        ))
    );
    let mut plain = vec![0x13, 0, 0, 0, 1, 15, 0, 0, 0, 5];
    plain.extend_from_slice(b"admin");
    plain.push(8);
    plain.extend_from_slice(b"P@ssw0rd");
    let (msg, used) = ClientMessage::decode(&plain).unwrap().unwrap();
    assert_eq!(used, 24);
    assert!(matches!(
        msg,
        ClientMessage::Authenticate { auth_type: 1, .. }
    ));
    // MeshCommander's 0x27 right after 0x21.
    let control = [0x27, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0x1B, 0, 0, 0];
    assert!(matches!(
        ClientMessage::decode(&control).unwrap(),
        Some((ClientMessage::SolControl { seq: 2, .. }, 14))
    ));
    // The 0x11 reply amtterm needs: 13 bytes, OEM length 0.
    let reply = DeviceMessage::StartSessionReply {
        status: 0,
        version: [1, 0, 1, 1],
        oem_iana: 0,
    };
    let bytes = reply.to_bytes();
    assert_eq!(bytes.len(), 13);
    assert_eq!(bytes[12], 0);
}
