//! Bytes ⇄ [`Message`]s.
//!
//! APF over TLS has no outer length prefix: a message's length follows from
//! its type and its own length fields. So the decoder must know every
//! layout, an unknown type is fatal (nothing says where the next message
//! starts), and [`check`] walks a message's length fields to find its end
//! before [`decode`] builds anything, so a partial read never allocates.
//!
//! One message has no self-describing length: REQUEST_SUCCESS is 5 bytes
//! (with the bound port) when it answers tcpip-forward and 1 byte when it
//! answers cancel-tcpip-forward. Only the receiver's memory of what it asked
//! tells them apart, so the `*_with` functions take a [`SuccessShape`]; the
//! plain ones assume the tcpip-forward answer, the one a handshake meets.
//! [`crate::Tunnel`] tracks its outstanding requests and picks the shape.

use crate::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, Message,
    OpenFailureReason, ProtocolVersion, TriggerReason, Uuid, code,
};

pub use crate::encode::encode;

/// Longest string (names, addresses, user name, password) accepted.
/// MeshCentral's MPS drops connections whose names or addresses exceed
/// 2048 bytes; nothing legitimate comes near it.
pub const MAX_STRING: u32 = 2048;

/// Largest message accepted, in bytes: a CHANNEL_DATA of 1 MiB plus its
/// 9-byte header. Intel's MPS disconnects on a CHANNEL_DATA over 1 MiB
/// (spec §4), the largest figure any peer in the spec tolerates, so no
/// legitimate peer sends more; the tunnel's window bounds data far lower.
pub const MAX_PACKET: usize = 9 + (1 << 20);

/// How a REQUEST_SUCCESS is framed; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuccessShape {
    /// 5 bytes: the answer to tcpip-forward, carrying the port.
    #[default]
    WithPort,
    /// 1 byte: the answer to cancel-tcpip-forward.
    Bare,
}

/// Why bytes are not an APF message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("string of {len} bytes over the {max}-byte limit")]
    StringTooLong { len: u32, max: u32 },
    #[error("message of at least {len} bytes over the {max}-byte limit")]
    PacketTooLarge { len: u64, max: usize },
    /// Only from [`decode_packet`]: the length fields run past the packet.
    #[error("length fields run past the end of the {packet_len}-byte packet")]
    LengthOverrun { packet_len: usize },
    /// Only from [`decode_packet`]: the message ends before the packet does.
    #[error("{extra} bytes left in the packet after the message")]
    TrailingBytes { extra: usize },
    #[error("{field} is not UTF-8")]
    BadUtf8 { field: &'static str },
    #[error("unknown global request name")]
    UnknownGlobalRequest,
    #[error("unknown authentication method")]
    UnknownAuthMethod,
    /// A password request with the TRUE byte (SSH's password change), whose
    /// extra field APF does not define.
    #[error("password change requested")]
    PasswordChange,
}

impl DecodeError {
    /// The DISCONNECT reason to send before closing. Every decode failure is
    /// a malformed stream, which SSH (and so APF firmware) reports as a
    /// protocol error; the method exists so callers need not know that.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        DisconnectReason::ProtocolError
    }
}

/// Why a walk stopped: more bytes may yet arrive, or they never can help.
enum Stop {
    Incomplete,
    Bad(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Stop {
        Stop::Bad(e)
    }
}

type Step<T> = Result<T, Stop>;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        let end = self.pos.saturating_add(n);
        let bytes = self.buf.get(self.pos..end).ok_or(Stop::Incomplete)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Step<u8> {
        let b = self.take(1)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    fn u32(&mut self) -> Step<u32> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(word))
    }

    fn array<const N: usize>(&mut self) -> Step<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A u32-prefixed field; the caps are checked as soon as the length is
    /// readable so a hostile length never makes the caller buffer for it.
    fn prefixed(&mut self, max: Option<u32>) -> Step<&'a [u8]> {
        let len = self.u32()?;
        if let Some(max) = max
            && len > max
        {
            return Err(DecodeError::StringTooLong { len, max }.into());
        }
        let end = self.pos as u64 + u64::from(len);
        if end > MAX_PACKET as u64 {
            return Err(DecodeError::PacketTooLarge {
                len: end,
                max: MAX_PACKET,
            }
            .into());
        }
        self.take(len as usize)
    }

    fn string(&mut self) -> Step<&'a [u8]> {
        self.prefixed(Some(MAX_STRING))
    }

    fn data(&mut self) -> Step<&'a [u8]> {
        self.prefixed(None)
    }

    fn text(&mut self, field: &'static str) -> Step<String> {
        let bytes = self.string()?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::BadUtf8 { field }.into()),
        }
    }
}

const TCPIP_FORWARD: &[u8] = b"tcpip-forward";
const CANCEL_TCPIP_FORWARD: &[u8] = b"cancel-tcpip-forward";
const UDP_SEND_TO: &[u8] = b"udp-send-to@amt.intel.com";

/// Whether a complete message is at the front of `buf`, and its length.
/// `Ok(None)` means more bytes are needed. Never allocates.
pub fn check(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    check_with(buf, SuccessShape::default())
}

/// [`check`], framing a REQUEST_SUCCESS as `shape`.
pub fn check_with(buf: &[u8], shape: SuccessShape) -> Result<Option<usize>, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    match walk(&mut r, shape) {
        Ok(()) => Ok(Some(r.pos)),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Bad(e)) => Err(e),
    }
}

/// Skips over one message's fields; mirrors [`build`] without allocating.
fn walk(r: &mut Reader<'_>, shape: SuccessShape) -> Step<()> {
    match r.u8()? {
        code::DISCONNECT => r.take(6).map(drop),
        code::SERVICE_REQUEST | code::SERVICE_ACCEPT => r.string().map(drop),
        code::USERAUTH_REQUEST => {
            r.string()?;
            r.string()?;
            match r.string()? {
                b"none" => Ok(()),
                b"password" => {
                    if r.u8()? != 0 {
                        return Err(DecodeError::PasswordChange.into());
                    }
                    r.string().map(drop)
                }
                _ => Err(DecodeError::UnknownAuthMethod.into()),
            }
        }
        code::USERAUTH_FAILURE => {
            r.string()?;
            r.take(2).map(drop)
        }
        code::USERAUTH_SUCCESS | code::REQUEST_FAILURE => Ok(()),
        code::GLOBAL_REQUEST => {
            let name = r.string()?;
            r.u8()?;
            match name {
                TCPIP_FORWARD | CANCEL_TCPIP_FORWARD => {
                    r.string()?;
                    r.take(4).map(drop)
                }
                UDP_SEND_TO => {
                    r.string()?;
                    r.take(4)?;
                    r.string()?;
                    r.take(4)?;
                    r.data().map(drop)
                }
                _ => Err(DecodeError::UnknownGlobalRequest.into()),
            }
        }
        code::REQUEST_SUCCESS => match shape {
            SuccessShape::WithPort => r.take(4).map(drop),
            SuccessShape::Bare => Ok(()),
        },
        code::CHANNEL_OPEN => {
            r.string()?;
            r.take(12)?;
            r.string()?;
            r.take(4)?;
            r.string()?;
            r.take(4).map(drop)
        }
        code::CHANNEL_OPEN_CONFIRMATION | code::CHANNEL_OPEN_FAILURE => r.take(16).map(drop),
        code::CHANNEL_WINDOW_ADJUST => r.take(8).map(drop),
        code::CHANNEL_DATA => {
            r.take(4)?;
            r.data().map(drop)
        }
        code::CHANNEL_CLOSE | code::KEEPALIVE_REQUEST | code::KEEPALIVE_REPLY => {
            r.take(4).map(drop)
        }
        code::PROTOCOLVERSION => r.take(92).map(drop),
        code::KEEPALIVE_OPTIONS_REQUEST | code::KEEPALIVE_OPTIONS_REPLY => r.take(8).map(drop),
        other => Err(DecodeError::UnknownType(other).into()),
    }
}

/// The message at the front of `buf` and the bytes it used, or `Ok(None)`
/// while it is incomplete.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    decode_with(buf, SuccessShape::default())
}

/// [`decode`], framing a REQUEST_SUCCESS as `shape`.
pub fn decode_with(
    buf: &[u8],
    shape: SuccessShape,
) -> Result<Option<(Message, usize)>, DecodeError> {
    let Some(len) = check_with(buf, shape)? else {
        return Ok(None);
    };
    let frame = buf.get(..len).unwrap_or(buf);
    Ok(Some((build_frame(frame, shape)?, len)))
}

/// Decodes a transport packet that must hold exactly one message (LME over
/// MEI frames each message), so a length field running past the packet is
/// an error rather than a wait.
pub fn decode_packet(packet: &[u8], shape: SuccessShape) -> Result<Message, DecodeError> {
    match check_with(packet, shape)? {
        None => Err(DecodeError::LengthOverrun {
            packet_len: packet.len(),
        }),
        Some(len) if len < packet.len() => Err(DecodeError::TrailingBytes {
            extra: packet.len() - len,
        }),
        Some(_) => build_frame(packet, shape),
    }
}

/// Builds from bytes [`check_with`] found complete.
fn build_frame(frame: &[u8], shape: SuccessShape) -> Result<Message, DecodeError> {
    let mut r = Reader { buf: frame, pos: 0 };
    match build(&mut r, shape) {
        Ok(m) => Ok(m),
        Err(Stop::Bad(e)) => Err(e),
        // check_with said the frame is whole; reaching here is a walk/build
        // mismatch, reported rather than panicking.
        Err(Stop::Incomplete) => Err(DecodeError::LengthOverrun {
            packet_len: frame.len(),
        }),
    }
}

fn build(r: &mut Reader<'_>, shape: SuccessShape) -> Step<Message> {
    Ok(match r.u8()? {
        code::DISCONNECT => {
            let reason = DisconnectReason::from_code(r.u32()?);
            r.take(2)?;
            Message::Disconnect { reason }
        }
        code::SERVICE_REQUEST => Message::ServiceRequest {
            service: r.text("service name")?,
        },
        code::SERVICE_ACCEPT => Message::ServiceAccept {
            service: r.text("service name")?,
        },
        code::USERAUTH_REQUEST => {
            let username = r.text("user name")?;
            let service = r.text("service name")?;
            let method = match r.string()? {
                b"none" => AuthMethod::None,
                b"password" => {
                    if r.u8()? != 0 {
                        return Err(DecodeError::PasswordChange.into());
                    }
                    AuthMethod::Password(r.text("password")?)
                }
                _ => return Err(DecodeError::UnknownAuthMethod.into()),
            };
            Message::UserauthRequest {
                username,
                service,
                method,
            }
        }
        code::USERAUTH_FAILURE => {
            let methods = r.text("method list")?;
            r.take(2)?;
            Message::UserauthFailure { methods }
        }
        code::USERAUTH_SUCCESS => Message::UserauthSuccess,
        code::GLOBAL_REQUEST => {
            let name = r.string()?;
            let want_reply = r.u8()? != 0;
            let request = match name {
                TCPIP_FORWARD => GlobalRequest::TcpipForward {
                    address: r.text("address")?,
                    port: r.u32()?,
                },
                CANCEL_TCPIP_FORWARD => GlobalRequest::CancelTcpipForward {
                    address: r.text("address")?,
                    port: r.u32()?,
                },
                UDP_SEND_TO => GlobalRequest::UdpSendTo {
                    address: r.text("address")?,
                    port: r.u32()?,
                    originator_address: r.text("originator address")?,
                    originator_port: r.u32()?,
                    data: r.data()?.to_vec(),
                },
                _ => return Err(DecodeError::UnknownGlobalRequest.into()),
            };
            Message::GlobalRequest {
                want_reply,
                request,
            }
        }
        code::REQUEST_SUCCESS => Message::RequestSuccess {
            port: match shape {
                SuccessShape::WithPort => Some(r.u32()?),
                SuccessShape::Bare => None,
            },
        },
        code::REQUEST_FAILURE => Message::RequestFailure,
        code::CHANNEL_OPEN => {
            let channel_type = ChannelType::from_name(r.text("channel type")?);
            let sender_channel = r.u32()?;
            let initial_window = r.u32()?;
            r.take(4)?;
            Message::ChannelOpen(ChannelOpen {
                channel_type,
                sender_channel,
                initial_window,
                connected_address: r.text("connected address")?,
                connected_port: r.u32()?,
                originator_address: r.text("originator address")?,
                originator_port: r.u32()?,
            })
        }
        code::CHANNEL_OPEN_CONFIRMATION => {
            let m = Message::ChannelOpenConfirmation {
                recipient_channel: r.u32()?,
                sender_channel: r.u32()?,
                initial_window: r.u32()?,
            };
            r.take(4)?;
            m
        }
        code::CHANNEL_OPEN_FAILURE => {
            let m = Message::ChannelOpenFailure {
                recipient_channel: r.u32()?,
                reason: OpenFailureReason::from_code(r.u32()?),
            };
            r.take(8)?;
            m
        }
        code::CHANNEL_WINDOW_ADJUST => Message::ChannelWindowAdjust {
            recipient_channel: r.u32()?,
            bytes_to_add: r.u32()?,
        },
        code::CHANNEL_DATA => Message::ChannelData {
            recipient_channel: r.u32()?,
            data: r.data()?.to_vec(),
        },
        code::CHANNEL_CLOSE => Message::ChannelClose {
            recipient_channel: r.u32()?,
        },
        code::PROTOCOLVERSION => {
            let v = ProtocolVersion {
                major: r.u32()?,
                minor: r.u32()?,
                trigger: TriggerReason::from_code(r.u32()?),
                uuid: Uuid(r.array()?),
            };
            r.take(64)?;
            Message::ProtocolVersion(v)
        }
        code::KEEPALIVE_REQUEST => Message::KeepaliveRequest { cookie: r.u32()? },
        code::KEEPALIVE_REPLY => Message::KeepaliveReply { cookie: r.u32()? },
        code::KEEPALIVE_OPTIONS_REQUEST => Message::KeepaliveOptionsRequest {
            interval: r.u32()?,
            timeout: r.u32()?,
        },
        code::KEEPALIVE_OPTIONS_REPLY => Message::KeepaliveOptionsReply {
            interval: r.u32()?,
            timeout: r.u32()?,
        },
        other => return Err(DecodeError::UnknownType(other).into()),
    })
}
