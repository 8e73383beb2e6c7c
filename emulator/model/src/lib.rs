//! The AMT device model: one virtual device's identity, firmware profile,
//! state and rules, and the simulated PC behind it. It knows no sockets,
//! no XML and no HTTP: protocol layers call [`device::Device`]'s methods,
//! and its changes go out as [`device::DeviceEvent`]s.

pub mod device;
pub mod host;
pub mod identity;
pub mod pki;
pub mod testing;
pub mod values;
