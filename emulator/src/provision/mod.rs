//! Provisioning: how a device in setup mode finds and authenticates the
//! server that configures it.

pub mod chain;
