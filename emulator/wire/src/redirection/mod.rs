//! The redirection wire format (TCP 16994/16995): bytes ⇄ typed messages.
//!
//! There is no outer length prefix: each message's length follows from its
//! type byte (fixed) or a length field at a fixed offset, so the decoder
//! must know every type's rule and treats an unknown type as fatal, as every
//! known console does. Integers are little-endian; CDBs and IDE-R register
//! images are carried as opaque bytes.

mod client;
mod device;

#[cfg(test)]
mod tests;

pub use client::ClientMessage;
pub use device::DeviceMessage;

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
