//! What a tunnel reports: its phase, events, and the two kinds of error.

use crate::channel::ChannelId;
use crate::codec::DecodeError;
use crate::message::{DisconnectReason, ProtocolVersion};

/// Where the tunnel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connected, nothing sent yet.
    Connected,
    /// PROTOCOLVERSION and SERVICE_REQUEST auth sent.
    AwaitAuthService,
    /// USERAUTH_REQUEST sent.
    AwaitUserauth,
    /// SERVICE_REQUEST pfwd sent.
    AwaitPfwdService,
    /// tcpip-forward requests under way.
    Forwarding,
    Established,
    /// DISCONNECT sent or received.
    Closed,
}

/// Something the caller should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer's PROTOCOLVERSION (LMS/LME sends one; MPSs do not).
    PeerVersion(ProtocolVersion),
    Authenticated,
    Forwarded {
        port: u16,
    },
    ForwardRefused {
        port: u16,
    },
    ForwardCancelled {
        port: u16,
        accepted: bool,
    },
    /// Every forward has been answered.
    Established,
    ChannelOpened {
        channel: ChannelId,
        port: u16,
        originator: String,
        originator_port: u32,
    },
    /// Data for the consumer, who reports it with [`Tunnel::consumed`](crate::Tunnel::consumed).
    Data {
        channel: ChannelId,
        bytes: Vec<u8>,
    },
    /// The peer granted window; `available` bytes may now be sent.
    SendWindow {
        channel: ChannelId,
        available: u32,
    },
    /// Both sides have closed the channel; its id is dead.
    ChannelClosed {
        channel: ChannelId,
    },
    /// The MPS set the keep-alive interval (already answered).
    KeepaliveOptions {
        interval: u32,
        timeout: u32,
    },
    KeepaliveReply {
        cookie: u32,
    },
    /// The peer sent DISCONNECT; close the connection.
    Disconnect(DisconnectReason),
}

/// A fatal fault in what the peer sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("undecodable input: {0}")]
    Decode(#[from] DecodeError),
    #[error("message type {code} not expected in phase {phase:?}")]
    Unexpected { code: u8, phase: Phase },
    #[error("peer accepted service {got:?}, expected {expected}")]
    WrongService { expected: &'static str, got: String },
    #[error("MPS refused the user name and password")]
    AuthFailed,
    #[error("peer speaks APF {major}.{minor}")]
    UnsupportedVersion { major: u32, minor: u32 },
    #[error("reply to a global request never sent")]
    UnsolicitedReply,
    #[error("channel {0} was never opened")]
    UnknownChannel(u32),
    #[error("channel {0} is closed")]
    ClosedChannel(u32),
    #[error("{len} bytes on channel {channel} with {window} left in its window")]
    WindowExceeded { channel: u32, len: u32, window: u32 },
    #[error("tunnel already closed")]
    Closed,
}

impl ProtocolError {
    /// The reason the tunnel put in its DISCONNECT. SSH's reasons where
    /// one fits (version, auth); every other fault is a protocol error.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            ProtocolError::Decode(e) => e.disconnect_reason(),
            ProtocolError::UnsupportedVersion { .. } => {
                DisconnectReason::ProtocolVersionNotSupported
            }
            // The device has one method and one password: nothing left to try.
            ProtocolError::AuthFailed => DisconnectReason::NoMoreAuthMethodsAvailable,
            // Nothing is sent for this one; the DISCONNECT already went out.
            ProtocolError::Closed => DisconnectReason::ByApplication,
            _ => DisconnectReason::ProtocolError,
        }
    }
}

/// A call the caller should not have made; the tunnel is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    #[error("no channel {0}")]
    UnknownChannel(ChannelId),
    #[error("channel {0} is closing")]
    ChannelClosing(ChannelId),
    #[error("consumed {consumed} bytes on channel {channel}, only {held} delivered")]
    OverConsumed {
        channel: ChannelId,
        consumed: u32,
        held: u32,
    },
    #[error("port {0} is not forwarded")]
    NotForwarded(u16),
    #[error("not allowed in phase {0:?}")]
    WrongPhase(Phase),
}
