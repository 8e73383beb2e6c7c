//! AMT's wire formats, with no I/O and no device behind them: bytes in,
//! typed messages out, and back. Everything here can be fuzzed and
//! property-tested alone.
//!
//! - [`wsman`]: the WS-Man SOAP envelope (parse a request, write a reply,
//!   faults, values).
//! - [`digest`]: HTTP Digest headers and responses (RFC 2617 as AMT uses it).
//! - [`redirection`]: the redirection protocol's messages on 16994/16995.
//! - [`hello`]: the setup-mode hello a device sends to port 9971.

pub mod digest;
pub mod hello;
pub mod hex;
pub mod redirection;
pub mod status;
pub mod wsman;
