//! What a console sends: session, authentication, SOL and IDE-R messages.

use super::{
    CodecError, IderSettings, IderStatus, SessionKind, SolSettings, array, frame, framed, header,
    put_auth, put_sol_data, put_status, status_at, u16_at, u32_at,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// 0x10. `flag` is byte 1 (MeshCommander sends 1 for KVM).
    StartSession { flag: u8, kind: SessionKind },
    /// 0x12.
    EndSession,
    /// 0x13.
    Authenticate { auth_type: u8, data: Vec<u8> },
    /// 0x20.
    StartSol(SolSettings),
    /// 0x22.
    EndSol { seq: u32 },
    /// 0x24.
    SolPing { seq: u32 },
    /// 0x27 (meaning undocumented; consumed and ignored).
    SolControl { seq: u32, body: [u8; 6] },
    /// 0x28.
    SolData { seq: u32, data: Vec<u8> },
    /// 0x2B.
    SolHeartbeat { seq: u32 },
    /// 0x40 (IDER form, 18 bytes). KVMR sessions are refused at 0x10, so
    /// the 8-byte KVM form never reaches the decoder.
    StartIder { raw: [u8; 17] },
    /// 0x42.
    EndIder { seq: u32 },
    /// 0x44.
    IderPing { seq: u32 },
    /// 0x45.
    IderPong { seq: u32 },
    /// 0x47.
    IderResetAck { seq: u32 },
    /// 0x48: subcommand 1 has no value; 2 and 3 carry one.
    IderFeatures {
        seq: u32,
        subcommand: u8,
        value: Option<u32>,
    },
    /// 0x4B.
    IderHeartbeat { seq: u32 },
    /// 0x51.
    IderCommandEnd(IderStatus),
    /// 0x52.
    IderGetData(IderStatus),
    /// 0x54.
    IderData { status: IderStatus, data: Vec<u8> },
}

impl ClientMessage {
    /// Decodes one message from the front of `buf`: `Ok(None)` when more
    /// bytes are needed, otherwise the message and the bytes it took.
    pub fn decode(buf: &[u8]) -> Result<Option<(ClientMessage, usize)>, CodecError> {
        let Some((code, b)) = frame(buf, |code| {
            Ok(match code {
                0x10 | 0x22 | 0x24 | 0x2B | 0x42 | 0x44 | 0x45 | 0x47 | 0x4B => Some(8),
                0x12 => Some(4),
                0x13 => framed(buf, 9, 5, 4)?,
                0x20 => Some(24),
                0x27 => Some(14),
                0x28 => framed(buf, 10, 8, 2)?,
                0x40 => Some(18),
                0x48 => match buf.get(8) {
                    None => None,
                    Some(1) => Some(9),
                    Some(2 | 3) => Some(13),
                    Some(&other) => return Err(CodecError::UnknownSubcommand(other)),
                },
                0x51 | 0x52 => Some(31),
                0x54 => framed(buf, 34, 9, 2)?,
                other => return Err(CodecError::UnknownType(other)),
            })
        })?
        else {
            return Ok(None);
        };
        let len = b.len();
        let seq = || u32_at(b, 4);
        let msg = match code {
            0x10 => ClientMessage::StartSession {
                flag: b[1],
                kind: SessionKind::from_bytes(array(b, 4)),
            },
            0x12 => ClientMessage::EndSession,
            0x13 => ClientMessage::Authenticate {
                auth_type: b[4],
                data: b[9..].to_vec(),
            },
            0x20 => ClientMessage::StartSol(SolSettings {
                seq: seq(),
                max_transmit_buffer: u16_at(b, 8),
                transmit_timeout_ms: u16_at(b, 10),
                overflow_timeout_ms: u16_at(b, 12),
                receive_timeout_ms: u16_at(b, 14),
                fifo_flush_timeout_ms: u16_at(b, 16),
                heartbeat_ms: u16_at(b, 18),
            }),
            0x22 => ClientMessage::EndSol { seq: seq() },
            0x24 => ClientMessage::SolPing { seq: seq() },
            0x27 => ClientMessage::SolControl {
                seq: seq(),
                body: array(b, 8),
            },
            0x28 => ClientMessage::SolData {
                seq: seq(),
                data: b[10..].to_vec(),
            },
            0x2B => ClientMessage::SolHeartbeat { seq: seq() },
            0x40 => ClientMessage::StartIder { raw: array(b, 1) },
            0x42 => ClientMessage::EndIder { seq: seq() },
            0x44 => ClientMessage::IderPing { seq: seq() },
            0x45 => ClientMessage::IderPong { seq: seq() },
            0x47 => ClientMessage::IderResetAck { seq: seq() },
            0x48 => ClientMessage::IderFeatures {
                seq: seq(),
                subcommand: b[8],
                value: (len == 13).then(|| u32_at(b, 9)),
            },
            0x4B => ClientMessage::IderHeartbeat { seq: seq() },
            0x51 => ClientMessage::IderCommandEnd(status_at(b)),
            0x52 => ClientMessage::IderGetData(status_at(b)),
            0x54 => ClientMessage::IderData {
                status: status_at(b),
                data: b[34..].to_vec(),
            },
            // The length rules above admit exactly the types decoded here.
            other => return Err(CodecError::UnknownType(other)),
        };
        Ok(Some((msg, len)))
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientMessage::StartSession { flag, kind } => {
                out.extend_from_slice(&[0x10, *flag, 0, 0]);
                out.extend_from_slice(&kind.bytes());
            }
            ClientMessage::EndSession => out.extend_from_slice(&[0x12, 0, 0, 0]),
            ClientMessage::Authenticate { auth_type, data } => {
                put_auth(out, [0x13, 0, 0, 0, *auth_type], data)
            }
            ClientMessage::StartSol(s) => {
                header(out, 0x20, s.seq);
                for v in [
                    s.max_transmit_buffer,
                    s.transmit_timeout_ms,
                    s.overflow_timeout_ms,
                    s.receive_timeout_ms,
                    s.fifo_flush_timeout_ms,
                    s.heartbeat_ms,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(&[0; 4]);
            }
            ClientMessage::EndSol { seq } => header(out, 0x22, *seq),
            ClientMessage::SolPing { seq } => header(out, 0x24, *seq),
            ClientMessage::SolControl { seq, body } => {
                header(out, 0x27, *seq);
                out.extend_from_slice(body);
            }
            ClientMessage::SolData { seq, data } => put_sol_data(out, 0x28, *seq, data),
            ClientMessage::SolHeartbeat { seq } => header(out, 0x2B, *seq),
            ClientMessage::StartIder { raw } => {
                out.push(0x40);
                out.extend_from_slice(raw);
            }
            ClientMessage::EndIder { seq } => header(out, 0x42, *seq),
            ClientMessage::IderPing { seq } => header(out, 0x44, *seq),
            ClientMessage::IderPong { seq } => header(out, 0x45, *seq),
            ClientMessage::IderResetAck { seq } => header(out, 0x47, *seq),
            ClientMessage::IderFeatures {
                seq,
                subcommand,
                value,
            } => {
                header(out, 0x48, *seq);
                out.push(*subcommand);
                if let Some(v) = value {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            ClientMessage::IderHeartbeat { seq } => header(out, 0x4B, *seq),
            ClientMessage::IderCommandEnd(s) => put_status(out, 0x51, s, s.byte_count),
            ClientMessage::IderGetData(s) => put_status(out, 0x52, s, s.byte_count),
            ClientMessage::IderData { status, data } => {
                put_status(out, 0x54, status, data.len() as u16);
                out.extend_from_slice(&[0; 3]);
                out.extend_from_slice(data);
            }
        }
    }
}

impl ClientMessage {
    /// The documented fields of a 0x40 body (bytes 1-17 of the message).
    pub fn ider_settings(raw: &[u8; 17]) -> IderSettings {
        let mut b = [0u8; 18];
        b[1..].copy_from_slice(raw);
        IderSettings {
            seq: u32_at(&b, 4),
            receive_timeout_ms: u16_at(&b, 8),
            transmit_timeout_ms: u16_at(&b, 10),
            heartbeat_ms: u16_at(&b, 12),
            version: u32_at(&b, 14),
        }
    }
}
