//! The device's replay cache (RFC 4120 3.2.3): an authenticator (client,
//! time, microseconds) is accepted once while it is within the clock
//! tolerance. Bounded: when full, the entry that expires first makes room,
//! so a flood of valid tickets costs memory no more than [`CAPACITY`].

use std::sync::Mutex;

/// Authenticators remembered per device.
pub const CAPACITY: usize = 256;

#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: Mutex<Vec<Seen>>,
}

#[derive(Debug)]
struct Seen {
    client: String,
    ctime: i64,
    cusec: i64,
    /// When the authenticator is past the tolerance and may be forgotten.
    expires: i64,
}

impl ReplayCache {
    /// Whether an authenticator is new (and now remembered).
    pub fn admit(&self, client: &str, ctime: i64, cusec: i64, now: i64, tolerance: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|s| s.expires >= now);
        if seen
            .iter()
            .any(|s| s.ctime == ctime && s.cusec == cusec && s.client == client)
        {
            return false;
        }
        if seen.len() >= CAPACITY
            && let Some(first) = seen
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.expires)
                .map(|(i, _)| i)
        {
            seen.swap_remove(first);
        }
        seen.push(Seen {
            client: client.to_string(),
            ctime,
            cusec,
            expires: ctime + tolerance,
        });
        true
    }
}
