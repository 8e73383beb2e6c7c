//! amtemu: an emulator of Intel AMT (vPro) management controllers.
//!
//! Every connection is resolved to one virtual [`device::Device`] by the
//! address it was sent to ([`fleet`]); a protocol layer ([`http`], [`wsman`])
//! turns bytes into operations on the device model; [`classes`] map the
//! model to the AMT/CIM/IPS classes.

pub mod classes;
pub mod cli;
pub mod control;
pub mod device;
pub mod faults;
pub mod fleet;
pub mod host;
pub mod http;
pub mod load;
pub mod local;
pub mod provision;
pub mod redirect;
pub mod scenario;
pub mod store;
pub mod tls;
pub mod wsman;
