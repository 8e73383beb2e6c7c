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

mod channel;
pub mod codec;
mod encode;
pub mod message;
pub mod tunnel;

pub use channel::ChannelId;
pub use codec::{DecodeError, SuccessShape, check, decode, encode};
pub use message::{Message, Uuid};
pub use tunnel::{Config, Event, Phase, ProtocolError, Tunnel, UsageError};
