//! What the device sends: replies, SOL data and controls, IDE-R commands.

use super::{CodecError, array, frame, framed, header, put_auth, put_sol_data, u16_at, u32_at};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceMessage {
    /// 0x11, always with no OEM data (amtterm consumes exactly 13 bytes).
    StartSessionReply {
        status: u8,
        version: [u8; 4],
        oem_iana: u32,
    },
    /// 0x14.
    AuthenticateReply {
        status: u8,
        auth_type: u8,
        data: Vec<u8>,
    },
    /// 0x21, 23 bytes, no OEM data.
    StartSolReply {
        status: u8,
        seq: u32,
        max_transmit_buffer: u16,
        transmit_timeout_ms: u16,
        overflow_timeout_ms: u16,
        receive_timeout_ms: u16,
        revision: [u8; 2],
        oem_iana: u32,
    },
    /// 0x23.
    EndSolReply { seq: u32 },
    /// 0x29: modem control bits, then status bits (4 = host powered on).
    SolControls { seq: u32, control: u8, status: u8 },
    /// 0x2A.
    SolData { seq: u32, data: Vec<u8> },
    /// 0x2B.
    SolHeartbeat { seq: u32 },
    /// 0x41 (IDER form), 30 bytes, no OEM data.
    StartIderReply {
        status: u8,
        seq: u32,
        version: [u8; 4],
        read_buffer: u16,
        write_buffer: u16,
        oem_iana: u32,
    },
    /// 0x43.
    EndIderReply { seq: u32 },
    /// 0x44.
    IderPing { seq: u32 },
    /// 0x45.
    IderPong { seq: u32 },
    /// 0x46.
    IderResetOccurred { seq: u32, mask: u8 },
    /// 0x49.
    IderFeaturesReply {
        seq: u32,
        subcommand: u8,
        value: u32,
    },
    /// 0x4A, 11 bytes.
    IderError { seq: u32, body: [u8; 3] },
    /// 0x4B.
    IderHeartbeat { seq: u32 },
    /// 0x50: the ATA registers the host wrote, with the ATAPI packet.
    IderCommand {
        seq: u32,
        cable_select: u8,
        features: u8,
        sector_count: u8,
        sector_number: u8,
        byte_count_limit: u16,
        drive: u8,
        command: u8,
        cdb: [u8; 12],
    },
    /// 0x53: write data the console asked for with 0x52.
    IderDataFromHost {
        seq: u32,
        cable_select: u8,
        registers: [u8; 3],
        data: Vec<u8>,
    },
}

impl DeviceMessage {
    /// Decodes one device message (for consoles and tests); see
    /// [`ClientMessage::decode`](super::ClientMessage::decode).
    pub fn decode(buf: &[u8]) -> Result<Option<(DeviceMessage, usize)>, CodecError> {
        let Some((code, b)) = frame(buf, |code| {
            Ok(match code {
                0x11 => buf.get(12).map(|&n| 13 + usize::from(n)),
                0x14 => framed(buf, 9, 5, 4)?,
                0x21 => Some(23),
                0x23 | 0x2B | 0x43 | 0x44 | 0x45 | 0x4B => Some(8),
                0x29 => Some(10),
                0x2A => framed(buf, 10, 8, 2)?,
                0x41 => buf.get(29).map(|&n| 30 + usize::from(n)),
                0x46 => Some(9),
                0x49 => Some(13),
                0x4A => Some(11),
                0x50 => Some(28),
                0x53 => framed(buf, 14, 9, 2)?,
                other => return Err(CodecError::UnknownType(other)),
            })
        })?
        else {
            return Ok(None);
        };
        let len = b.len();
        let seq = || u32_at(b, 4);
        let msg = match code {
            0x11 => DeviceMessage::StartSessionReply {
                status: b[1],
                version: array(b, 4),
                oem_iana: u32_at(b, 8),
            },
            0x14 => DeviceMessage::AuthenticateReply {
                status: b[1],
                auth_type: b[4],
                data: b[9..].to_vec(),
            },
            0x21 => DeviceMessage::StartSolReply {
                status: b[1],
                seq: seq(),
                max_transmit_buffer: u16_at(b, 8),
                transmit_timeout_ms: u16_at(b, 10),
                overflow_timeout_ms: u16_at(b, 12),
                receive_timeout_ms: u16_at(b, 14),
                revision: array(b, 16),
                oem_iana: u32_at(b, 18),
            },
            0x23 => DeviceMessage::EndSolReply { seq: seq() },
            0x29 => DeviceMessage::SolControls {
                seq: seq(),
                control: b[8],
                status: b[9],
            },
            0x2A => DeviceMessage::SolData {
                seq: seq(),
                data: b[10..].to_vec(),
            },
            0x2B => DeviceMessage::SolHeartbeat { seq: seq() },
            0x41 => DeviceMessage::StartIderReply {
                status: b[1],
                seq: seq(),
                version: array(b, 8),
                read_buffer: u16_at(b, 16),
                write_buffer: u16_at(b, 18),
                oem_iana: u32_at(b, 25),
            },
            0x43 => DeviceMessage::EndIderReply { seq: seq() },
            0x44 => DeviceMessage::IderPing { seq: seq() },
            0x45 => DeviceMessage::IderPong { seq: seq() },
            0x46 => DeviceMessage::IderResetOccurred {
                seq: seq(),
                mask: b[8],
            },
            0x49 => DeviceMessage::IderFeaturesReply {
                seq: seq(),
                subcommand: b[8],
                value: u32_at(b, 9),
            },
            0x4A => DeviceMessage::IderError {
                seq: seq(),
                body: array(b, 8),
            },
            0x4B => DeviceMessage::IderHeartbeat { seq: seq() },
            0x50 => DeviceMessage::IderCommand {
                seq: seq(),
                cable_select: b[8],
                features: b[9],
                sector_count: b[10],
                sector_number: b[11],
                byte_count_limit: u16_at(b, 12),
                drive: b[14],
                command: b[15],
                cdb: array(b, 16),
            },
            0x53 => DeviceMessage::IderDataFromHost {
                seq: seq(),
                cable_select: b[8],
                registers: array(b, 11),
                data: b[14..].to_vec(),
            },
            // The length rules above admit exactly the types decoded here.
            other => return Err(CodecError::UnknownType(other)),
        };
        Ok(Some((msg, len)))
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            DeviceMessage::StartSessionReply {
                status,
                version,
                oem_iana,
            } => {
                out.extend_from_slice(&[0x11, *status, 0, 0]);
                out.extend_from_slice(version);
                out.extend_from_slice(&oem_iana.to_le_bytes());
                out.push(0);
            }
            DeviceMessage::AuthenticateReply {
                status,
                auth_type,
                data,
            } => put_auth(out, [0x14, *status, 0, 0, *auth_type], data),
            DeviceMessage::StartSolReply {
                status,
                seq,
                max_transmit_buffer,
                transmit_timeout_ms,
                overflow_timeout_ms,
                receive_timeout_ms,
                revision,
                oem_iana,
            } => {
                out.extend_from_slice(&[0x21, *status, 0, 0]);
                out.extend_from_slice(&seq.to_le_bytes());
                for v in [
                    max_transmit_buffer,
                    transmit_timeout_ms,
                    overflow_timeout_ms,
                    receive_timeout_ms,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(revision);
                out.extend_from_slice(&oem_iana.to_le_bytes());
                out.push(0);
            }
            DeviceMessage::EndSolReply { seq } => header(out, 0x23, *seq),
            DeviceMessage::SolControls {
                seq,
                control,
                status,
            } => {
                header(out, 0x29, *seq);
                out.extend_from_slice(&[*control, *status]);
            }
            DeviceMessage::SolData { seq, data } => put_sol_data(out, 0x2A, *seq, data),
            DeviceMessage::SolHeartbeat { seq } => header(out, 0x2B, *seq),
            DeviceMessage::StartIderReply {
                status,
                seq,
                version,
                read_buffer,
                write_buffer,
                oem_iana,
            } => {
                out.extend_from_slice(&[0x41, *status, 0, 0]);
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(version);
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&read_buffer.to_le_bytes());
                out.extend_from_slice(&write_buffer.to_le_bytes());
                // Byte 21 must be 0: MeshCommander aborts otherwise.
                out.extend_from_slice(&[0; 5]);
                out.extend_from_slice(&oem_iana.to_le_bytes());
                out.push(0);
            }
            DeviceMessage::EndIderReply { seq } => header(out, 0x43, *seq),
            DeviceMessage::IderPing { seq } => header(out, 0x44, *seq),
            DeviceMessage::IderPong { seq } => header(out, 0x45, *seq),
            DeviceMessage::IderResetOccurred { seq, mask } => {
                header(out, 0x46, *seq);
                out.push(*mask);
            }
            DeviceMessage::IderFeaturesReply {
                seq,
                subcommand,
                value,
            } => {
                header(out, 0x49, *seq);
                out.push(*subcommand);
                out.extend_from_slice(&value.to_le_bytes());
            }
            DeviceMessage::IderError { seq, body } => {
                header(out, 0x4A, *seq);
                out.extend_from_slice(body);
            }
            DeviceMessage::IderHeartbeat { seq } => header(out, 0x4B, *seq),
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
            } => {
                header(out, 0x50, *seq);
                out.extend_from_slice(&[*cable_select, *features, *sector_count, *sector_number]);
                out.extend_from_slice(&byte_count_limit.to_le_bytes());
                out.extend_from_slice(&[*drive, *command]);
                out.extend_from_slice(cdb);
            }
            DeviceMessage::IderDataFromHost {
                seq,
                cable_select,
                registers,
                data,
            } => {
                header(out, 0x53, *seq);
                out.push(*cable_select);
                out.extend_from_slice(&(data.len() as u16).to_le_bytes());
                out.extend_from_slice(registers);
                out.extend_from_slice(data);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}
