//! The redirection wire format (TCP 16994/16995): bytes ⇄ typed messages.
//!
//! There is no outer length prefix: each message's length follows from its
//! type byte (fixed) or a length field at a fixed offset, so the decoder
//! must know every type's rule and treats an unknown type as fatal, as every
//! known console does. Integers are little-endian; CDBs and IDE-R register
//! images are carried as opaque bytes.

/// Bytes the authentication payload may carry. Kerberos tickets are the
/// largest legitimate data (about 4 KiB); anything far above is garbage.
pub const MAX_AUTH_DATA: u32 = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    #[error("length field {0} over the limit")]
    TooLong(u32),
    #[error("IDE-R feature subcommand {0} unknown")]
    UnknownSubcommand(u8),
}

/// The session type named in StartRedirectionSession.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    Sol,
    Ider,
    Kvm,
    Other([u8; 4]),
}

impl SessionKind {
    fn from_bytes(b: [u8; 4]) -> SessionKind {
        match &b {
            b"SOL " => SessionKind::Sol,
            b"IDER" => SessionKind::Ider,
            b"KVMR" => SessionKind::Kvm,
            _ => SessionKind::Other(b),
        }
    }

    fn bytes(self) -> [u8; 4] {
        match self {
            SessionKind::Sol => *b"SOL ",
            SessionKind::Ider => *b"IDER",
            SessionKind::Kvm => *b"KVMR",
            SessionKind::Other(b) => b,
        }
    }
}

/// The console's SOL parameters (StartSOLRedirection, 0x20).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SolSettings {
    pub seq: u32,
    pub max_transmit_buffer: u16,
    pub transmit_timeout_ms: u16,
    pub overflow_timeout_ms: u16,
    pub receive_timeout_ms: u16,
    pub fifo_flush_timeout_ms: u16,
    pub heartbeat_ms: u16,
}

/// The console's IDE-R parameters (StartIDERRedirection, 0x40), at the
/// documented offsets. amtider writes them shifted; see `session`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IderSettings {
    pub seq: u32,
    pub receive_timeout_ms: u16,
    pub transmit_timeout_ms: u16,
    pub heartbeat_ms: u16,
    pub version: u32,
}

/// The ATA register image and sense a console reports with 0x51/0x52/0x54.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IderStatus {
    pub attributes: u8,
    pub seq: u32,
    pub cable_select: u8,
    pub byte_count: u16,
    pub packet_number: u8,
    pub transfer_registers: [u8; 8],
    pub final_registers: [u8; 8],
    pub sense: [u8; 3],
}

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

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// The whole length of the message starting at `buf[0]`, given its rule:
/// `fixed` bytes, or `header` bytes plus a length field at `len_at` of
/// `len_size` bytes. None while the header itself is incomplete.
fn framed(
    buf: &[u8],
    header: usize,
    len_at: usize,
    len_size: usize,
) -> Result<Option<usize>, CodecError> {
    if buf.len() < header {
        return Ok(None);
    }
    let n = match len_size {
        2 => u32::from(u16_at(buf, len_at)),
        _ => u32_at(buf, len_at),
    };
    if len_size == 4 && n > MAX_AUTH_DATA {
        return Err(CodecError::TooLong(n));
    }
    Ok(Some(header + n as usize))
}

/// The type byte and the bytes of the message at the front of `buf` once
/// all of it is there; `len_rule` gives a type's whole length (None while
/// the bytes that tell it are still missing). Both directions frame alike
/// and differ only in their rules.
fn frame(
    buf: &[u8],
    len_rule: impl FnOnce(u8) -> Result<Option<usize>, CodecError>,
) -> Result<Option<(u8, &[u8])>, CodecError> {
    let Some(&code) = buf.first() else {
        return Ok(None);
    };
    Ok(len_rule(code)?
        .filter(|&len| buf.len() >= len)
        .map(|len| (code, &buf[..len])))
}

/// A 0x13/0x14 authentication message: its first five bytes, then the data
/// behind a u32 length.
fn put_auth(out: &mut Vec<u8>, head: [u8; 5], data: &[u8]) {
    out.extend_from_slice(&head);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// A 0x28/0x2A SOL data message: the header, then the data behind a u16
/// length.
fn put_sol_data(out: &mut Vec<u8>, code: u8, seq: u32, data: &[u8]) {
    header(out, code, seq);
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

fn status_at(b: &[u8]) -> IderStatus {
    IderStatus {
        attributes: b[3],
        seq: u32_at(b, 4),
        cable_select: b[8],
        byte_count: u16_at(b, 9),
        packet_number: b[11],
        transfer_registers: array(b, 12),
        final_registers: array(b, 20),
        sense: array(b, 28),
    }
}

fn put_status(out: &mut Vec<u8>, code: u8, s: &IderStatus, byte_count: u16) {
    out.extend_from_slice(&[code, 0, 0, s.attributes]);
    out.extend_from_slice(&s.seq.to_le_bytes());
    out.push(s.cable_select);
    out.extend_from_slice(&byte_count.to_le_bytes());
    out.push(s.packet_number);
    out.extend_from_slice(&s.transfer_registers);
    out.extend_from_slice(&s.final_registers);
    out.extend_from_slice(&s.sense);
}

fn header(out: &mut Vec<u8>, code: u8, seq: u32) {
    out.extend_from_slice(&[code, 0, 0, 0]);
    out.extend_from_slice(&seq.to_le_bytes());
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

impl DeviceMessage {
    /// Decodes one device message (for consoles and tests); see
    /// [`ClientMessage::decode`].
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

#[cfg(test)]
mod tests {
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
            (any::<u8>(), kind())
                .prop_map(|(flag, kind)| ClientMessage::StartSession { flag, kind }),
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
            (any::<u32>(), bytes(2000))
                .prop_map(|(seq, data)| ClientMessage::SolData { seq, data }),
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
            (any::<u32>(), bytes(2000))
                .prop_map(|(seq, data)| DeviceMessage::SolData { seq, data }),
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
            any::<(u32, u8)>()
                .prop_map(|(seq, mask)| DeviceMessage::IderResetOccurred { seq, mask }),
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
}
