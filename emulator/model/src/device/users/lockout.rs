//! The brute-force lockout: failed network logins per account, and the
//! back-off they earn.
//!
//! Intel's provisioning documentation (quoted by Intel support in the
//! "How long is the AMT temporary lockout" forum thread) describes a login
//! back-off: after ten successive failed logins further attempts are refused
//! for a while; the wait starts at 5 seconds and grows to 80 seconds under a
//! continuous attack; an hour without an attack resets the mechanism. The
//! 401 page itself says "Incorrect user name or password, or user account
//! temporarily locked", so the emulator keeps the state per account:
//!
//! - A failure is a digest response that does not match the password of an
//!   account that exists and may log in from the network (a wrong password,
//!   or one hashed for another realm). Stale or unknown nonces with the right
//!   password, replayed nonce counts, malformed headers and unknown user
//!   names are not failures; unknown names create no state at all, so the
//!   state is bounded by the number of accounts.
//! - The 10th successive failure locks the account for 5 seconds. Once a lock
//!   has expired, each further failure locks it again at once for twice as
//!   long as the previous lock: 10, 20, 40, then 80 seconds at most.
//! - While locked, every attempt gets the usual 401, even with the right
//!   password; attempts during a lock do not lengthen it.
//! - A successful login, a new password, or an hour without failures
//!   forgets the account's failures and its back-off.
//! - The administrator is subject to it like every other account; locking one
//!   account leaves the others usable.
//!
//! The lockout lives in memory only (a restart forgets it) and uses
//! [`tokio::time::Instant`], so tests can pause and advance time.

use std::time::Duration;

use tokio::time::Instant;

/// Successive failures that lock an account the first time.
pub const LOCKOUT_THRESHOLD: u32 = 10;
/// The first lock; each later one lasts twice as long as the one before.
pub const FIRST_LOCK: Duration = Duration::from_secs(5);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(80);
/// Without a failure for this long, an account's failures are forgotten.
pub const QUIET_RESET: Duration = Duration::from_secs(3600);

/// An account, as the lockout keys it. Handles are unique and a removed
/// entry's state is dropped, so a reused handle starts clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKey {
    Admin,
    User(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LockState {
    key: AccountKey,
    /// Successive failures since the last lock (or the start).
    failures: u32,
    /// How long the last lock lasted; zero before the first.
    last_lock: Duration,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// Failed-login state of the accounts that have any; at most one entry per
/// account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockouts {
    states: Vec<LockState>,
}

impl Lockouts {
    fn position(&self, key: AccountKey) -> Option<usize> {
        self.states.iter().position(|s| s.key == key)
    }

    /// Whether the account is locked at `now`.
    pub fn is_locked(&self, key: AccountKey, now: Instant) -> bool {
        self.position(key)
            .and_then(|i| self.states[i].locked_until)
            .is_some_and(|until| now < until)
    }

    /// Whether the account has failures (or a lock) to forget.
    pub fn has_state(&self, key: AccountKey) -> bool {
        self.position(key).is_some()
    }

    /// Records a wrong password for an existing account.
    pub fn failed(&mut self, key: AccountKey, now: Instant) {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.states.push(LockState {
                    key,
                    failures: 0,
                    last_lock: Duration::ZERO,
                    locked_until: None,
                    last_failure: now,
                });
                self.states.len() - 1
            }
        };
        let s = &mut self.states[i];
        if now.saturating_duration_since(s.last_failure) >= QUIET_RESET {
            s.failures = 0;
            s.last_lock = Duration::ZERO;
            s.locked_until = None;
        }
        s.last_failure = now;
        if s.locked_until.is_some_and(|until| now < until) {
            return;
        }
        s.failures += 1;
        let lock = if s.last_lock.is_zero() {
            (s.failures >= LOCKOUT_THRESHOLD).then_some(FIRST_LOCK)
        } else {
            Some((s.last_lock * 2).min(MAX_LOCK))
        };
        if let Some(lock) = lock {
            s.failures = 0;
            s.last_lock = lock;
            s.locked_until = Some(now + lock);
        }
    }

    /// Forgets an account's failures (a successful login, a new password,
    /// a removed account).
    pub fn forget(&mut self, key: AccountKey) {
        self.states.retain(|s| s.key != key);
    }

    /// How many accounts have state (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}
