//! HTTP Digest authentication as AMT does it: MD5, `qop="auth"`, one realm
//! per device, nonces that clients reuse with an increasing nonce count.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use tokio::time::Instant;

/// How long a nonce is accepted; after that a correct response gets a new
/// challenge with `stale="true"` and clients retry without asking the user.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Outstanding nonces per device. Clients that do a fresh 401 round trip per
/// request (amtctrl, wget) leave many behind; the oldest are dropped.
const MAX_NONCES: usize = 128;

/// The fields of an `Authorization: Digest …` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
}

/// Parses the Authorization header. Values may be quoted or not, with or
/// without spaces after commas; unknown parameters are ignored. Every
/// authenticated request comes through here, so it slices the header
/// rather than copying it a character at a time.
pub fn parse_authorization(header: &str) -> Option<Credentials> {
    let rest = header.trim_start();
    let (scheme, params) = rest.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut creds = Credentials::default();
    let b = params.as_bytes();
    // Every delimiter is ASCII, so each index below is a char boundary.
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return None;
        }
        let key = params[key_start..i].trim();
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut value = String::new();
            let mut run = i;
            loop {
                match b.get(i)? {
                    b'\\' => {
                        // A backslash takes the next character literally.
                        value.push_str(&params[run..i]);
                        let escaped = params[i + 1..].chars().next()?;
                        value.push(escaped);
                        i += 1 + escaped.len_utf8();
                        run = i;
                    }
                    b'"' => {
                        value.push_str(&params[run..i]);
                        i += 1;
                        break value;
                    }
                    _ => i += 1,
                }
            }
        } else {
            let value_start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            params[value_start..i].trim().to_string()
        };
        let slot = match key {
            k if k.eq_ignore_ascii_case("username") => &mut creds.username,
            k if k.eq_ignore_ascii_case("realm") => &mut creds.realm,
            k if k.eq_ignore_ascii_case("nonce") => &mut creds.nonce,
            k if k.eq_ignore_ascii_case("uri") => &mut creds.uri,
            k if k.eq_ignore_ascii_case("response") => &mut creds.response,
            k if k.eq_ignore_ascii_case("qop") => creds.qop.insert(String::new()),
            k if k.eq_ignore_ascii_case("nc") => creds.nc.insert(String::new()),
            k if k.eq_ignore_ascii_case("cnonce") => creds.cnonce.insert(String::new()),
            k if k.eq_ignore_ascii_case("algorithm") => creds.algorithm.insert(String::new()),
            _ => continue,
        };
        *slot = value;
    }
    Some(creds)
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    crate::device::identity::hex_lower(&h.finalize())
}

/// The response a client with the right password computes.
pub fn expected_response(
    creds: &Credentials,
    ha1: &str,
    method: &str,
    body: &[u8],
) -> Option<String> {
    let ha2 = match creds.qop.as_deref() {
        Some("auth-int") => {
            let body_hash = md5_hex(&[body]);
            md5_hex(&[
                method.as_bytes(),
                creds.uri.as_bytes(),
                body_hash.as_bytes(),
            ])
        }
        Some("auth") | None => md5_hex(&[method.as_bytes(), creds.uri.as_bytes()]),
        Some(_) => return None,
    };
    Some(match creds.qop.as_deref() {
        Some(qop) => md5_hex(&[
            ha1.as_bytes(),
            creds.nonce.as_bytes(),
            creds.nc.as_deref()?.as_bytes(),
            creds.cnonce.as_deref()?.as_bytes(),
            qop.as_bytes(),
            ha2.as_bytes(),
        ]),
        None => md5_hex(&[ha1.as_bytes(), creds.nonce.as_bytes(), ha2.as_bytes()]),
    })
}

/// Constant-time comparison of two hex digests.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

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
        let Some(expected) = expected_response(creds, ha1, method, body) else {
            return Verdict::Rejected;
        };
        if !same_digest(&expected, &creds.response) {
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

/// The WWW-Authenticate value in AMT's exact layout: a space after the first
/// comma only.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    format!(r#"Digest realm="{realm}", nonce="{nonce}",stale="{stale}",qop="auth""#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REALM: &str = "Digest:A4070000000000000000000000000000";

    fn sign(nonce: &str, nc: &str, password: &str) -> Credentials {
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
            &crate::device::identity::hex_lower(&crate::device::users::ha1(
                "admin", REALM, password,
            )),
            "POST",
            b"",
        )
        .unwrap();
        c
    }

    #[test]
    fn parses_every_client_style() {
        let mesh = r#"Digest username="admin",realm="Digest:X",nonce="n+/a",uri="/wsman",qop=auth,nc=00000001,cnonce="c",response="r""#;
        let c = parse_authorization(mesh).unwrap();
        assert_eq!(
            (c.qop.as_deref(), c.nc.as_deref()),
            (Some("auth"), Some("00000001"))
        );
        let rps = r#"Digest username="admin", realm="Digest:X", nonce="n", uri="/wsman", response="r", qop="auth", nc="00000002", cnonce="c", algorithm="MD5""#;
        let c = parse_authorization(rps).unwrap();
        assert_eq!(
            (c.nc.as_deref(), c.algorithm.as_deref()),
            (Some("00000002"), Some("MD5"))
        );
        let odd =
            "digest  Username = \"ad\\\"mi\\\\n\" ,nc=0000000a , QOP=auth,Realm=\"R\u{e9}alm\"";
        let c = parse_authorization(odd).unwrap();
        assert_eq!(c.username, "ad\"mi\\n");
        assert_eq!(
            (c.nc.as_deref(), c.qop.as_deref()),
            (Some("0000000a"), Some("auth"))
        );
        assert_eq!(c.realm, "R\u{e9}alm");
        assert!(parse_authorization(r#"Digest username"#).is_none());
        assert!(parse_authorization(r#"Digest username="x\"#).is_none());
        assert!(parse_authorization("Basic YWRtaW46eA==").is_none());
        assert!(parse_authorization(r#"Digest username="unterminated"#).is_none());
    }

    #[test]
    fn the_challenge_has_amts_layout() {
        assert_eq!(
            challenge(REALM, "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", false),
            r#"Digest realm="Digest:A4070000000000000000000000000000", nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",stale="false",qop="auth""#
        );
    }

    #[test]
    fn nonce_reuse_replay_and_expiry() {
        let t0 = Instant::now();
        let mut nonces = Nonces::default();
        let n = nonces.issue(t0);
        assert_eq!(n.len(), 32);
        assert!(!n.contains('='));
        let ha = crate::device::identity::hex_lower(&crate::device::users::ha1(
            "admin", REALM, "P@ssw0rd",
        ));
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

    proptest! {
        #[test]
        fn the_header_parser_never_panics(s in ".{0,300}") {
            let _ = parse_authorization(&s);
        }
    }
}
