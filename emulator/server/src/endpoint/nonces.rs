//! Which digest nonces a device has issued, and checking a request's
//! credentials against them (counts, expiry, replays). Header parsing and
//! the response arithmetic are `amtemu_wire::digest`.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::time::Instant;

pub use amtemu_wire::digest::{Credentials, challenge, expected_response, parse_authorization};
use amtemu_wire::digest::{ha2_covers_uri_only, ha2_hex, response_hex, same_digest};

/// How long a nonce is accepted; after that a correct response gets a new
/// challenge with `stale="true"` and clients retry without asking the user.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Outstanding nonces per device. Clients that do a fresh 401 round trip per
/// request (amtctrl, wget) leave many behind; the oldest are dropped.
const MAX_NONCES: usize = 128;

#[derive(Debug)]
struct IssuedNonce {
    value: String,
    issued: Instant,
    /// Highest nonce count seen, and a bitmap of the 64 counts below it, so
    /// requests that overtake each other are accepted but none twice.
    max_nc: u32,
    window: u64,
}

impl IssuedNonce {
    /// Records a nonce count; false if it was used before (a replay).
    fn accept_count(&mut self, nc: u32) -> bool {
        if nc > self.max_nc {
            let shift = nc - self.max_nc;
            self.window = if shift >= 64 { 0 } else { self.window << shift };
            self.window |= 1;
            self.max_nc = nc;
            return true;
        }
        let back = self.max_nc - nc;
        if back >= 64 || self.window & (1 << back) != 0 {
            return false;
        }
        self.window |= 1 << back;
        true
    }
}

/// The outcome of checking a request's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// The right password with an expired or unknown nonce: challenge again
    /// with `stale="true"`.
    Stale,
    /// Wrong user, wrong password, wrong realm, a replayed count, or a
    /// malformed header.
    Rejected,
}

/// A device's issued nonces.
#[derive(Debug, Default)]
pub struct Nonces {
    issued: VecDeque<IssuedNonce>,
    /// The last method and URI whose "HA2" was hashed, and the hash: a
    /// console sends every request to the same URI, so this saves one of
    /// the two hashes each request costs.
    last_ha2: Option<(String, String, [u8; 32])>,
}

impl Nonces {
    /// Issues a fresh nonce: 24 random bytes, base64 (32 characters, never
    /// with `=`, which MeshCommander's parser cannot take).
    pub fn issue(&mut self, now: Instant) -> String {
        let bytes: [u8; 24] = rand::random();
        let value = BASE64.encode(bytes);
        if self.issued.len() == MAX_NONCES {
            self.issued.pop_front();
        }
        self.issued.push_back(IssuedNonce {
            value: value.clone(),
            issued: now,
            max_nc: 0,
            window: 0,
        });
        value
    }

    /// The request's HA2, from the last one when it covers the same
    /// method and URI.
    fn ha2(&mut self, creds: &Credentials, method: &str, body: &[u8]) -> Option<[u8; 32]> {
        if !ha2_covers_uri_only(creds) {
            return ha2_hex(creds, method, body);
        }
        if let Some((m, uri, ha2)) = &self.last_ha2
            && m == method
            && *uri == creds.uri
        {
            return Some(*ha2);
        }
        let ha2 = ha2_hex(creds, method, body)?;
        self.last_ha2 = Some((method.to_owned(), creds.uri.to_string(), ha2));
        Some(ha2)
    }

    /// Checks credentials for one request.
    pub fn verify(
        &mut self,
        creds: &Credentials,
        expected_realm: &str,
        user_ha1: Option<&str>,
        method: &str,
        body: &[u8],
        now: Instant,
    ) -> Verdict {
        let Some(ha1) = user_ha1 else {
            return Verdict::Rejected;
        };
        if creds.realm != expected_realm
            || creds
                .algorithm
                .as_deref()
                .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return Verdict::Rejected;
        }
        let Some(ha2) = self.ha2(creds, method, body) else {
            return Verdict::Rejected;
        };
        let Some(expected) = response_hex(creds, ha1, &ha2) else {
            return Verdict::Rejected;
        };
        // Hex digits are ASCII, so the bytes are a str.
        let expected = std::str::from_utf8(&expected).unwrap_or_default();
        if !same_digest(expected, &creds.response) {
            return Verdict::Rejected;
        }
        let nc = match creds.nc.as_deref() {
            Some(text) => match u32::from_str_radix(text, 16) {
                Ok(n) => n,
                Err(_) => return Verdict::Rejected,
            },
            None => 1,
        };
        let Some(index) = self.issued.iter().position(|n| n.value == creds.nonce) else {
            return Verdict::Stale;
        };
        if now.duration_since(self.issued[index].issued) > NONCE_LIFETIME {
            self.issued.remove(index);
            return Verdict::Stale;
        }
        if self.issued[index].accept_count(nc) {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "Digest:A4070000000000000000000000000000";

    fn sign<'a>(nonce: &'a str, nc: &'a str, password: &str) -> Credentials<'a> {
        let mut c = Credentials {
            username: "admin".into(),
            realm: REALM.into(),
            nonce: nonce.into(),
            uri: "/wsman".into(),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            cnonce: Some("abc".into()),
            ..Credentials::default()
        };
        c.response = expected_response(
            &c,
            &amtemu_wire::hex::hex_lower(&amtemu_wire::digest::ha1("admin", REALM, password)),
            "POST",
            b"",
        )
        .unwrap()
        .into();
        c
    }

    #[test]
    fn nonce_reuse_replay_and_expiry() {
        let t0 = Instant::now();
        let mut nonces = Nonces::default();
        let n = nonces.issue(t0);
        assert_eq!(n.len(), 32);
        assert!(!n.contains('='));
        let ha = amtemu_wire::hex::hex_lower(&amtemu_wire::digest::ha1("admin", REALM, "P@ssw0rd"));
        let check = |nonces: &mut Nonces, c: &Credentials, at| {
            nonces.verify(c, REALM, Some(&ha), "POST", b"", at)
        };
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000001", "P@ssw0rd"), t0),
            Verdict::Accepted
        );
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000003", "P@ssw0rd"), t0),
            Verdict::Accepted
        );
        // Overtaken but unused: fine. Used twice: a replay.
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000002", "P@ssw0rd"), t0),
            Verdict::Accepted
        );
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000002", "P@ssw0rd"), t0),
            Verdict::Rejected
        );
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000004", "wrong"), t0),
            Verdict::Rejected
        );
        let later = t0 + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            check(&mut nonces, &sign(&n, "00000005", "P@ssw0rd"), later),
            Verdict::Stale
        );
        assert_eq!(
            check(
                &mut nonces,
                &sign("never-issued", "00000001", "P@ssw0rd"),
                t0
            ),
            Verdict::Stale
        );
        assert_eq!(
            nonces.verify(&sign(&n, "6", "P@ssw0rd"), REALM, None, "POST", b"", t0),
            Verdict::Rejected
        );
    }
    /// The remembered HA2 only ever stands for the method and URI it was
    /// hashed from: a response signed for one URI or method never passes
    /// for another, before or after the other's HA2 is remembered.
    #[test]
    fn the_remembered_ha2_is_per_method_and_uri() {
        let t0 = Instant::now();
        let mut nonces = Nonces::default();
        let n = nonces.issue(t0);
        let ha = amtemu_wire::hex::hex_lower(&amtemu_wire::digest::ha1("admin", REALM, "P@ssw0rd"));
        let signed_for = |uri: &str, method: &str, nc: &'static str| {
            let mut c = sign(&n, nc, "P@ssw0rd");
            c.uri = uri.to_owned().into();
            c.response = expected_response(&c, &ha, method, b"").unwrap().into();
            c
        };
        let mut verify =
            |c: &Credentials, method: &str| nonces.verify(c, REALM, Some(&ha), method, b"", t0);
        assert_eq!(
            verify(&signed_for("/wsman", "POST", "1"), "POST"),
            Verdict::Accepted
        );
        // Signed for another URI but claiming /wsman's: the claimed URI is
        // what is hashed, so the response does not match.
        let mut forged = signed_for("/other", "POST", "2");
        forged.uri = "/wsman".into();
        assert_eq!(verify(&forged, "POST"), Verdict::Rejected);
        assert_eq!(
            verify(&signed_for("/other", "POST", "3"), "POST"),
            Verdict::Accepted
        );
        assert_eq!(
            verify(&signed_for("/other", "GET", "4"), "POST"),
            Verdict::Rejected
        );
        assert_eq!(
            verify(&signed_for("/other", "GET", "5"), "GET"),
            Verdict::Accepted
        );
        assert_eq!(
            verify(&signed_for("/wsman", "POST", "6"), "POST"),
            Verdict::Accepted
        );
    }
}
