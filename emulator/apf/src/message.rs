//! The APF message set as typed values.
//!
//! Reserved fields (DISCONNECT's u16, CHANNEL_OPEN's and
//! CHANNEL_OPEN_CONFIRMATION's 0xFFFFFFFF, CHANNEL_OPEN_FAILURE's two u32s,
//! PROTOCOLVERSION's 64 bytes, USERAUTH_FAILURE's trailing two bytes) carry
//! nothing either MPS reads, so they are not modelled: the encoder writes the
//! values the MPSs and firmware write and the decoder skips them.

use std::fmt;
use std::str::FromStr;

/// Service requested first, to authenticate.
pub const SERVICE_AUTH: &str = "auth@amt.intel.com";
/// Service requested after authentication, for port forwarding.
pub const SERVICE_PFWD: &str = "pfwd@amt.intel.com";

/// Message type codes (the first byte of every message).
pub mod code {
    pub const DISCONNECT: u8 = 1;
    pub const SERVICE_REQUEST: u8 = 5;
    pub const SERVICE_ACCEPT: u8 = 6;
    pub const USERAUTH_REQUEST: u8 = 50;
    pub const USERAUTH_FAILURE: u8 = 51;
    pub const USERAUTH_SUCCESS: u8 = 52;
    pub const GLOBAL_REQUEST: u8 = 80;
    pub const REQUEST_SUCCESS: u8 = 81;
    pub const REQUEST_FAILURE: u8 = 82;
    pub const CHANNEL_OPEN: u8 = 90;
    pub const CHANNEL_OPEN_CONFIRMATION: u8 = 91;
    pub const CHANNEL_OPEN_FAILURE: u8 = 92;
    pub const CHANNEL_WINDOW_ADJUST: u8 = 93;
    pub const CHANNEL_DATA: u8 = 94;
    pub const CHANNEL_CLOSE: u8 = 97;
    pub const PROTOCOLVERSION: u8 = 192;
    pub const KEEPALIVE_REQUEST: u8 = 208;
    pub const KEEPALIVE_REPLY: u8 = 209;
    pub const KEEPALIVE_OPTIONS_REQUEST: u8 = 210;
    pub const KEEPALIVE_OPTIONS_REPLY: u8 = 211;
}

/// A u32 code with named values; unnamed values survive as `Other` so a
/// peer's newer code is reported, not rejected.
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A value with no name here.
            Other(u32),
        }

        impl $name {
            /// The value for a wire code (named where one exists).
            pub fn from_code(code: u32) -> Self {
                match code {
                    $($val => Self::$var,)*
                    other => Self::Other(other),
                }
            }

            /// The wire code.
            pub fn code(self) -> u32 {
                match self {
                    $(Self::$var => $val,)*
                    Self::Other(code) => code,
                }
            }
        }
    };
}

code_enum! {
    /// DISCONNECT reason codes (SSH's, plus AMT's 16-18).
    DisconnectReason {
        HostNotAllowedToConnect = 1,
        ProtocolError = 2,
        KeyExchangeFailed = 3,
        Reserved = 4,
        MacError = 5,
        CompressionError = 6,
        ServiceNotAvailable = 7,
        ProtocolVersionNotSupported = 8,
        HostKeyNotVerifiable = 9,
        ConnectionLost = 10,
        ByApplication = 11,
        TooManyConnections = 12,
        AuthCancelledByUser = 13,
        NoMoreAuthMethodsAvailable = 14,
        InvalidCredentials = 15,
        ConnectionTimedOut = 16,
        ByPolicy = 17,
        TemporarilyUnavailable = 18,
    }
}

code_enum! {
    /// CHANNEL_OPEN_FAILURE reason codes.
    OpenFailureReason {
        AdministrativelyProhibited = 1,
        ConnectFailed = 2,
        UnknownChannelType = 3,
        ResourceShortage = 4,
    }
}

code_enum! {
    /// Why the device opened the tunnel (PROTOCOLVERSION).
    TriggerReason {
        UserInitiated = 1,
        Alert = 2,
        HitProvisioning = 3,
        Periodic = 4,
        /// Used by LMS/LME for local sessions.
        Lme = 254,
    }
}

/// A system UUID in APF's wire order: the first three GUID fields
/// little-endian, as SMBIOS stores it and as both MPSs un-swap it before
/// printing. Text conversions ([`FromStr`], [`Display`](fmt::Display)) use
/// the canonical printed form, so `"00112233-..."` is sent as `33 22 11 00 ...`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Uuid(pub [u8; 16]);

/// The positions that swap between the printed form and the wire order.
const UUID_SWAP: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

/// A UUID string that is not 32 hex digits in the 8-4-4-4-12 layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID in 8-4-4-4-12 hex form")]
pub struct UuidParseError;

impl FromStr for Uuid {
    type Err = UuidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.as_bytes();
        if text.len() != 36 {
            return Err(UuidParseError);
        }
        let mut printed = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in text.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(UuidParseError);
                }
                continue;
            }
            let v = (c as char).to_digit(16).ok_or(UuidParseError)? as u8;
            let byte = printed.get_mut(nibbles / 2).ok_or(UuidParseError)?;
            *byte = (*byte << 4) | v;
            nibbles += 1;
        }
        let mut wire = [0u8; 16];
        for (w, &from) in wire.iter_mut().zip(UUID_SWAP.iter()) {
            *w = printed.get(from).copied().unwrap_or_default();
        }
        Ok(Uuid(wire))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &from) in UUID_SWAP.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{:02x}", self.0.get(from).copied().unwrap_or_default())?;
        }
        Ok(())
    }
}

/// USERAUTH_REQUEST's method and its method-specific fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `none`: nothing follows the method name.
    None,
    /// `password`: a FALSE byte (no password change), then the password.
    Password(String),
}

/// GLOBAL_REQUEST's request name and its request-specific fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalRequest {
    /// `tcpip-forward`: the device serves `port` (address = its host name).
    TcpipForward { address: String, port: u32 },
    /// `cancel-tcpip-forward`: the device stops serving `port`.
    CancelTcpipForward { address: String, port: u32 },
    /// `udp-send-to@amt.intel.com`: a datagram relayed through the MPS.
    UdpSendTo {
        address: String,
        port: u32,
        originator_address: String,
        originator_port: u32,
        data: Vec<u8>,
    },
}

impl GlobalRequest {
    /// The request name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            GlobalRequest::TcpipForward { .. } => "tcpip-forward",
            GlobalRequest::CancelTcpipForward { .. } => "cancel-tcpip-forward",
            GlobalRequest::UdpSendTo { .. } => "udp-send-to@amt.intel.com",
        }
    }
}

/// CHANNEL_OPEN's channel type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelType {
    /// `forwarded-tcpip`: MPS → device, to a port the device forwarded.
    ForwardedTcpip,
    /// `direct-tcpip`: device → MPS.
    DirectTcpip,
    /// Any other name; APF gives every type one layout, so it still decodes
    /// and can be refused with "unknown channel type".
    Other(String),
}

impl ChannelType {
    /// The type name on the wire.
    pub fn name(&self) -> &str {
        match self {
            ChannelType::ForwardedTcpip => "forwarded-tcpip",
            ChannelType::DirectTcpip => "direct-tcpip",
            ChannelType::Other(name) => name,
        }
    }

    pub(crate) fn from_name(name: String) -> ChannelType {
        match name.as_str() {
            "forwarded-tcpip" => ChannelType::ForwardedTcpip,
            "direct-tcpip" => ChannelType::DirectTcpip,
            _ => ChannelType::Other(name),
        }
    }
}

/// CHANNEL_OPEN's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOpen {
    pub channel_type: ChannelType,
    /// The opener's id for the channel.
    pub sender_channel: u32,
    /// Bytes the opener lets the other side send before a window adjust.
    pub initial_window: u32,
    pub connected_address: String,
    pub connected_port: u32,
    pub originator_address: String,
    pub originator_port: u32,
}

/// PROTOCOLVERSION's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
    pub trigger: TriggerReason,
    pub uuid: Uuid,
}

/// One APF message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Disconnect {
        reason: DisconnectReason,
    },
    ServiceRequest {
        service: String,
    },
    ServiceAccept {
        service: String,
    },
    UserauthRequest {
        username: String,
        service: String,
        method: AuthMethod,
    },
    /// `methods` is the comma-separated list the MPS would accept (`password`).
    UserauthFailure {
        methods: String,
    },
    UserauthSuccess,
    GlobalRequest {
        want_reply: bool,
        request: GlobalRequest,
    },
    /// `port` is present when answering tcpip-forward (5 bytes) and absent
    /// when answering cancel-tcpip-forward (1 byte); see
    /// [`crate::codec::SuccessShape`].
    RequestSuccess {
        port: Option<u32>,
    },
    RequestFailure,
    ChannelOpen(ChannelOpen),
    ChannelOpenConfirmation {
        recipient_channel: u32,
        sender_channel: u32,
        initial_window: u32,
    },
    ChannelOpenFailure {
        recipient_channel: u32,
        reason: OpenFailureReason,
    },
    ChannelWindowAdjust {
        recipient_channel: u32,
        bytes_to_add: u32,
    },
    ChannelData {
        recipient_channel: u32,
        data: Vec<u8>,
    },
    ChannelClose {
        recipient_channel: u32,
    },
    ProtocolVersion(ProtocolVersion),
    KeepaliveRequest {
        cookie: u32,
    },
    KeepaliveReply {
        cookie: u32,
    },
    /// Interval and timeout in seconds.
    KeepaliveOptionsRequest {
        interval: u32,
        timeout: u32,
    },
    KeepaliveOptionsReply {
        interval: u32,
        timeout: u32,
    },
}

impl Message {
    /// The type code this message is sent with.
    pub fn code(&self) -> u8 {
        match self {
            Message::Disconnect { .. } => code::DISCONNECT,
            Message::ServiceRequest { .. } => code::SERVICE_REQUEST,
            Message::ServiceAccept { .. } => code::SERVICE_ACCEPT,
            Message::UserauthRequest { .. } => code::USERAUTH_REQUEST,
            Message::UserauthFailure { .. } => code::USERAUTH_FAILURE,
            Message::UserauthSuccess => code::USERAUTH_SUCCESS,
            Message::GlobalRequest { .. } => code::GLOBAL_REQUEST,
            Message::RequestSuccess { .. } => code::REQUEST_SUCCESS,
            Message::RequestFailure => code::REQUEST_FAILURE,
            Message::ChannelOpen(_) => code::CHANNEL_OPEN,
            Message::ChannelOpenConfirmation { .. } => code::CHANNEL_OPEN_CONFIRMATION,
            Message::ChannelOpenFailure { .. } => code::CHANNEL_OPEN_FAILURE,
            Message::ChannelWindowAdjust { .. } => code::CHANNEL_WINDOW_ADJUST,
            Message::ChannelData { .. } => code::CHANNEL_DATA,
            Message::ChannelClose { .. } => code::CHANNEL_CLOSE,
            Message::ProtocolVersion(_) => code::PROTOCOLVERSION,
            Message::KeepaliveRequest { .. } => code::KEEPALIVE_REQUEST,
            Message::KeepaliveReply { .. } => code::KEEPALIVE_REPLY,
            Message::KeepaliveOptionsRequest { .. } => code::KEEPALIVE_OPTIONS_REQUEST,
            Message::KeepaliveOptionsReply { .. } => code::KEEPALIVE_OPTIONS_REPLY,
        }
    }
}
