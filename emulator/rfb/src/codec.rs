//! Incremental decoding of what an RFB client sends to the server.
//!
//! As in mini-redis' `frame.rs`, [`check`] first tells whether a complete
//! message sits at the front of the buffer (and how long it is) without
//! allocating; only then does [`decode`] build it. Nothing here panics on
//! input: every malformed byte string is a [`DecodeError`].

use crate::messages::{ClientMessage, Encoding, Rect, Version};
use crate::pixel::{PIXEL_FORMAT_LEN, PixelFormat, PixelFormatError};

/// Most encodings a SetEncodings may list. Real clients list 4 (MeshCommander)
/// to about 40 (TigerVNC with its quality and compression levels); 256 leaves
/// room and keeps the message under 1 KiB.
pub const MAX_ENCODINGS: u16 = 256;

/// Longest ClientCutText accepted. Clipboard text and Intel's KVM data-channel
/// payloads are small; 256 KiB bounds what one message can make us buffer.
pub const MAX_CUT_TEXT: u32 = 256 * 1024;

/// Why the client's bytes cannot be a message.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A ProtocolVersion that is not `RFB 003.003/007/008` or `004.000`.
    UnsupportedVersion([u8; 12]),
    /// A client message type this server does not know.
    UnknownMessageType(u8),
    /// SetEncodings with more entries than [`MAX_ENCODINGS`].
    TooManyEncodings(u16),
    /// ClientCutText longer than [`MAX_CUT_TEXT`].
    CutTextTooLong(u32),
    /// SetPixelFormat with a format that cannot be served.
    InvalidPixelFormat(PixelFormatError),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported protocol version {:?}",
                    v.escape_ascii().to_string()
                )
            }
            Self::UnknownMessageType(t) => write!(f, "unknown client message type {t}"),
            Self::TooManyEncodings(n) => {
                write!(f, "SetEncodings lists {n} encodings (max {MAX_ENCODINGS})")
            }
            Self::CutTextTooLong(n) => write!(f, "cut text of {n} bytes (max {MAX_CUT_TEXT})"),
            Self::InvalidPixelFormat(e) => write!(f, "invalid pixel format: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads the client's 12-byte ProtocolVersion; `Ok(None)` while incomplete.
pub fn decode_version(buf: &[u8]) -> Result<Option<Version>, DecodeError> {
    let Some(v) = buf.first_chunk::<12>() else {
        return Ok(None);
    };
    match v {
        b"RFB 003.003\n" => Ok(Some(Version::V3_3)),
        b"RFB 003.007\n" => Ok(Some(Version::V3_7)),
        b"RFB 003.008\n" | b"RFB 004.000\n" => Ok(Some(Version::V3_8)),
        _ => Err(DecodeError::UnsupportedVersion(*v)),
    }
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*buf.get(at..)?.first_chunk::<2>()?))
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*buf.get(at..)?.first_chunk::<4>()?))
}

/// Is a complete client message at the front of `buf`? `Ok(Some(len))` if
/// so, `Ok(None)` if more bytes are needed. Allocates nothing, and rejects
/// absurd lengths before waiting for their bytes.
pub fn check(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(&ty) = buf.first() else {
        return Ok(None);
    };
    let len = match ty {
        0 => 4 + PIXEL_FORMAT_LEN,
        2 => {
            let Some(n) = be16(buf, 2) else {
                return Ok(None);
            };
            if n > MAX_ENCODINGS {
                return Err(DecodeError::TooManyEncodings(n));
            }
            4 + 4 * usize::from(n)
        }
        3 => 10,
        4 => 8,
        5 => 6,
        6 => {
            let Some(n) = be32(buf, 4) else {
                return Ok(None);
            };
            if n > MAX_CUT_TEXT {
                return Err(DecodeError::CutTextTooLong(n));
            }
            8 + n as usize
        }
        other => return Err(DecodeError::UnknownMessageType(other)),
    };
    Ok((buf.len() >= len).then_some(len))
}

/// Decodes the client message at the front of `buf`, returning it and the
/// number of bytes it took; `Ok(None)` while incomplete.
pub fn decode(buf: &[u8]) -> Result<Option<(ClientMessage, usize)>, DecodeError> {
    let Some(len) = check(buf)? else {
        return Ok(None);
    };
    // `check` proved `len` bytes are there; the getters still return Option
    // so that a mistake here is an error value, not a panic.
    let b = &buf[..len];
    let short = || DecodeError::UnknownMessageType(b[0]);
    let msg = match b[0] {
        0 => {
            let raw = b
                .get(4..)
                .and_then(|s| s.first_chunk::<PIXEL_FORMAT_LEN>())
                .ok_or_else(short)?;
            let pf = PixelFormat::from_bytes(raw);
            pf.validate().map_err(DecodeError::InvalidPixelFormat)?;
            ClientMessage::SetPixelFormat(pf)
        }
        2 => ClientMessage::SetEncodings(
            b[4..]
                .chunks_exact(4)
                .map(|c| Encoding(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        3 => {
            let f = |at| be16(b, at).ok_or_else(short);
            ClientMessage::FramebufferUpdateRequest {
                incremental: b[1] != 0,
                rect: Rect::new(f(2)?, f(4)?, f(6)?, f(8)?),
            }
        }
        4 => ClientMessage::KeyEvent {
            down: b[1] != 0,
            keysym: be32(b, 4).ok_or_else(short)?,
        },
        5 => ClientMessage::PointerEvent {
            buttons: b[1],
            x: be16(b, 2).ok_or_else(short)?,
            y: be16(b, 4).ok_or_else(short)?,
        },
        6 => ClientMessage::ClientCutText(b[8..].to_vec()),
        other => return Err(DecodeError::UnknownMessageType(other)),
    };
    Ok(Some((msg, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(decode_version(b"RFB 003.0"), Ok(None));
        assert_eq!(decode_version(b"RFB 003.008\n"), Ok(Some(Version::V3_8)));
        assert_eq!(decode_version(b"RFB 003.007\n"), Ok(Some(Version::V3_7)));
        assert_eq!(decode_version(b"RFB 003.003\n"), Ok(Some(Version::V3_3)));
        assert_eq!(decode_version(b"RFB 004.000\n"), Ok(Some(Version::V3_8)));
        assert!(matches!(
            decode_version(b"RFB 003.889\n"),
            Err(DecodeError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn meshcommanders_rgb332_set_pixel_format() {
        let bytes = [0, 0, 0, 0, 8, 8, 0, 1, 0, 7, 0, 7, 0, 3, 5, 2, 0, 0, 0, 0];
        assert_eq!(check(&bytes[..19]), Ok(None));
        assert_eq!(
            decode(&bytes),
            Ok(Some((
                ClientMessage::SetPixelFormat(PixelFormat::RGB332),
                20
            )))
        );
    }

    #[test]
    fn meshcommanders_set_encodings() {
        let bytes = [
            2, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 4, 0x44, 0xFF, 0xFF, 0xFF, 0x21,
        ];
        let (msg, n) = decode(&bytes).unwrap().unwrap();
        assert_eq!(n, 20);
        assert_eq!(
            msg,
            ClientMessage::SetEncodings(vec![
                Encoding::INTEL_RLE,
                Encoding::RAW,
                Encoding::KVM_DATA_CHANNEL,
                Encoding::DESKTOP_SIZE
            ])
        );
    }

    #[test]
    fn fixed_messages() {
        assert_eq!(
            decode(&[3, 0, 0, 1, 0, 2, 0, 3, 0, 4, 99]),
            Ok(Some((
                ClientMessage::FramebufferUpdateRequest {
                    incremental: false,
                    rect: Rect::new(1, 2, 3, 4)
                },
                10
            )))
        );
        assert_eq!(
            decode(&[4, 0, 0, 0, 0, 0, 0, 0x61]),
            Ok(Some((
                ClientMessage::KeyEvent {
                    down: false,
                    keysym: 0x61
                },
                8
            )))
        );
        assert_eq!(
            decode(&[5, 4, 0, 9, 1, 0]),
            Ok(Some((
                ClientMessage::PointerEvent {
                    buttons: 4,
                    x: 9,
                    y: 256
                },
                6
            )))
        );
        let mut kvm = vec![6, 0, 0, 0, 0, 0, 0, 17];
        kvm.extend_from_slice(b"\0KvmDataChannel\0\x01");
        assert_eq!(
            decode(&kvm),
            Ok(Some((ClientMessage::ClientCutText(kvm[8..].to_vec()), 25)))
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(check(&[1]), Err(DecodeError::UnknownMessageType(1)));
        assert_eq!(check(&[7, 0]), Err(DecodeError::UnknownMessageType(7)));
        assert_eq!(
            check(&[2, 0, 0x01, 0x01]),
            Err(DecodeError::TooManyEncodings(257))
        );
        assert_eq!(
            check(&[6, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::CutTextTooLong(u32::MAX))
        );
        let mut bad = vec![0, 0, 0, 0];
        bad.extend_from_slice(&[24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        assert_eq!(
            decode(&bad),
            Err(DecodeError::InvalidPixelFormat(
                PixelFormatError::BitsPerPixel(24)
            ))
        );
        assert_eq!(check(&[]), Ok(None));
        assert_eq!(check(&[6, 0, 0, 0, 0, 0]), Ok(None));
    }
}
