//! Out-of-band provisioning as the device drives it: in setup mode a device
//! finds its provisioning server ([`locate`]) and sends it hellos on 9971
//! ([`hello`]) on a fixed schedule ([`schedule`]) until it is configured or
//! its window runs out ([`sender`]).

pub mod locate;
pub mod schedule;
pub mod sender;

pub use sender::{HelloConfig, HelloTarget, Hellos};
