//! amtemu's services and their one lifecycle: listeners and the fleet's
//! address map, TLS, the HTTP (WS-Man) and redirection servers, setup
//! hellos, the local interface, persistence, the control API and scenarios.

pub mod address;
pub mod cira;
pub mod control;
pub mod emulator;
pub mod endpoint;
pub mod eventing;
pub mod faults;
pub mod fleet;
pub mod host_port;
pub mod http;
pub mod kerberos;
pub mod metrics;
pub mod provision;
pub mod qemu;
pub mod redirect;
pub mod scenario;
pub mod store;
pub mod tls;
