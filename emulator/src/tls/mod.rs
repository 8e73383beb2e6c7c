//! TLS for 16993 and 16995: per-device server configurations, the
//! emulator's CA, and the certificate operations devices perform.

pub mod pki;
