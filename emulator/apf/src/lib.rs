//! APF, the SSH-like channel protocol an Intel AMT device speaks to a
//! Management Presence Server (MPS) inside CIRA's TLS connection, and to the
//! host's LMS over MEI (LME).
//!
//! What this crate holds:
//!
//! - [`message`]: every APF message as a typed value.
//! - [`codec`]: an incremental decoder (`check` before `decode`, as
//!   mini-redis frames) and an encoder, with exact big-endian layouts.
//! - [`tunnel`]: the device side of a tunnel as a state machine: handshake,
//!   port forwards, channels with flow-control windows, keep-alives.
//!
//! What it does not: no sockets, no TLS, no timers, no async. Bytes and
//! decoded messages go in; messages to send and events come out, and the
//! caller owns the connection, the clock (when to send a keep-alive) and any
//! data that does not yet fit a channel's window. Nothing here panics on
//! input: malformed bytes and out-of-order messages are error values that
//! name the DISCONNECT reason to send.
//!
//! Where the spec (`shared/spec/cira.md`) is silent, the choices are:
//! limits of 2048 bytes per string and 1 MiB + 9 per message
//! ([`codec::MAX_STRING`], [`codec::MAX_PACKET`]); a device window of 32768
//! and 4 KiB data chunks ([`tunnel::DEFAULT_WINDOW`],
//! [`tunnel::DEFAULT_MAX_CHUNK`]); keep-alives every 25 s until the MPS sets
//! an interval; forwards requested one at a time; a refused USERAUTH ends
//! the tunnel with "no more auth methods available". Each is documented
//! where it is made.

mod channel;
pub mod codec;
mod encode;
pub mod message;
pub mod tunnel;

pub use channel::ChannelId;
pub use codec::{DecodeError, SuccessShape, check, decode, encode};
pub use message::{Message, Uuid};
pub use tunnel::{Config, Event, Phase, ProtocolError, Tunnel, UsageError};
