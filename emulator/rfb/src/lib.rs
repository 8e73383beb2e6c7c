//! placeholder
pub mod codec;
pub mod messages;
pub mod pixel;
pub mod auth;
pub mod font;
pub mod framebuffer;
pub mod ansi;
pub mod text;
pub mod screen;
pub mod encode;
pub mod keys;
pub mod session;
