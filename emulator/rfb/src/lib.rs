//! KVM for amtemu: RFB (VNC) as Intel AMT firmware speaks it, and the
//! host's screen it shows.
//!
//! This crate does no I/O: no sockets, no tasks, no clocks, no randomness.
//! Bytes go in, typed messages, events and bytes to send come out, so every
//! part can be tested and fuzzed alone and a server can drive it from any
//! runtime.
//!
//! - [`codec`] / [`messages`] / [`pixel`]: the wire format. Client messages
//!   are `check`ed for completeness before they are decoded; malformed input
//!   is a typed error, never a panic. [`auth`] holds VNC's DES challenge.
//! - [`session`]: the server-side state machine (version → security →
//!   ClientInit/ServerInit → updates and input events), including the
//!   KVMR and port-5900 variants.
//! - [`text`] / [`ansi`] / [`font`] / [`screen`] / [`framebuffer`]: an 80x25
//!   VGA text screen fed with console bytes, rendered at 9x16 pixels per
//!   cell (720x400), the no-signal and user-consent screens, and per-tile
//!   change tracking; PNG screenshots.
//! - [`encode`]: Raw and Intel-RLE (encoding 16) rectangles of at most
//!   64x64 in the client's pixel format.
//! - [`keys`]: X keysyms to the bytes a serial console receives.
//! - [`viewer`] / [`mirror`]: the other side, a viewer of another RFB
//!   server (a virtual machine's display) and the host's screen made of
//!   what it shows; [`overlay`] draws "no signal" and the consent code on
//!   either kind of screen.

pub mod ansi;
pub mod auth;
pub mod codec;
pub mod encode;
pub mod font;
pub mod framebuffer;
pub mod keys;
pub mod messages;
pub mod mirror;
pub mod overlay;
pub mod pixel;
pub mod screen;
pub mod session;
pub mod text;
pub mod viewer;

pub use auth::vnc_auth_response;
pub use framebuffer::Framebuffer;
pub use messages::{ClientMessage, Encoding, Rect};
pub use mirror::Mirror;
pub use pixel::{PixelFormat, Rgb};
pub use screen::Screen;
pub use session::{Event, Session, SessionConfig, SessionError, Transport};
pub use viewer::{Viewer, ViewerError, ViewerEvent};
