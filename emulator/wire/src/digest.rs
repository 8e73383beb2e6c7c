//! HTTP Digest headers as AMT uses them: MD5, `qop="auth"`, one realm per
//! device. Parsing, the expected response and the challenge's layout; which
//! nonces are live is the server's state (`amtemu_server::http::digest`).

use std::borrow::Cow;

use md5::{Digest, Md5};

/// The fields of an `Authorization: Digest …` header. Parsed values borrow
/// from the header (every authenticated request is parsed, and values are
/// copied only where a quoted one holds a backslash escape); a client
/// building its own header gives owned strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: Cow<'a, str>,
    pub realm: Cow<'a, str>,
    pub nonce: Cow<'a, str>,
    pub uri: Cow<'a, str>,
    pub response: Cow<'a, str>,
    pub qop: Option<Cow<'a, str>>,
    pub nc: Option<Cow<'a, str>>,
    pub cnonce: Option<Cow<'a, str>>,
    pub algorithm: Option<Cow<'a, str>>,
}

/// Parses the Authorization header. Values may be quoted or not, with or
/// without spaces after commas; unknown parameters are ignored. Every
/// authenticated request comes through here, so it slices the header
/// rather than copying it a character at a time.
pub fn parse_authorization(header: &str) -> Option<Credentials<'_>> {
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
        // Keys are a few bytes: a plain scan beats a vector search's set-up.
        i += b[i..]
            .iter()
            .position(|&c| c == b'=' || c == b',')
            .unwrap_or(b.len() - i);
        if b.get(i) != Some(&b'=') {
            return None;
        }
        let key = params[key_start..i].trim_ascii();
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            // Borrowed until an escape is met; from then on copied.
            let mut escaped_value: Option<String> = None;
            let mut run = i;
            loop {
                // Straight to the next quote or backslash.
                i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
                if b[i] == b'\\' {
                    // A backslash takes the next character literally.
                    let value = escaped_value.get_or_insert_with(String::new);
                    value.push_str(&params[run..i]);
                    let escaped = params[i + 1..].chars().next()?;
                    value.push(escaped);
                    i += 1 + escaped.len_utf8();
                    run = i;
                } else {
                    // The closing quote.
                    let value = match escaped_value {
                        Some(mut value) => {
                            value.push_str(&params[run..i]);
                            Cow::Owned(value)
                        }
                        None => Cow::Borrowed(&params[run..i]),
                    };
                    i += 1;
                    break value;
                }
            }
        } else {
            let value_start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            Cow::Borrowed(params[value_start..i].trim_ascii())
        };
        let slot = match key {
            k if k.eq_ignore_ascii_case("username") => &mut creds.username,
            k if k.eq_ignore_ascii_case("realm") => &mut creds.realm,
            k if k.eq_ignore_ascii_case("nonce") => &mut creds.nonce,
            k if k.eq_ignore_ascii_case("uri") => &mut creds.uri,
            k if k.eq_ignore_ascii_case("response") => &mut creds.response,
            k if k.eq_ignore_ascii_case("qop") => creds.qop.insert(Cow::Borrowed("")),
            k if k.eq_ignore_ascii_case("nc") => creds.nc.insert(Cow::Borrowed("")),
            k if k.eq_ignore_ascii_case("cnonce") => creds.cnonce.insert(Cow::Borrowed("")),
            k if k.eq_ignore_ascii_case("algorithm") => creds.algorithm.insert(Cow::Borrowed("")),
            _ => continue,
        };
        *slot = value;
    }
    Some(creds)
}

/// MD5 of the parts joined by colons, in lower-case hex. Parts that fit
/// are joined on the stack and hashed in one call: a dozen small updates
/// cost more in the hasher's buffering than the hashing itself.
fn md5_hex(parts: &[&[u8]]) -> [u8; 32] {
    let mut joined = [0u8; 384];
    let len = parts
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let digest = if len <= joined.len() {
        let mut at = 0;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                joined[at] = b':';
                at += 1;
            }
            joined[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        Md5::digest(&joined[..at])
    } else {
        let mut h = Md5::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                h.update(b":");
            }
            h.update(p);
        }
        h.finalize()
    };
    crate::hex::md5_hex_lower(&digest.into())
}

/// The response a client with the right password computes.
pub fn expected_response(
    creds: &Credentials,
    ha1: &str,
    method: &str,
    body: &[u8],
) -> Option<String> {
    expected_response_hex(creds, ha1, method, body)
        .map(|hex| hex.iter().map(|b| char::from(*b)).collect())
}

/// [`expected_response`] as hex bytes on the stack: what a server
/// compares each request's response with, without allocating.
pub fn expected_response_hex(
    creds: &Credentials,
    ha1: &str,
    method: &str,
    body: &[u8],
) -> Option<[u8; 32]> {
    response_hex(creds, ha1, &ha2_hex(creds, method, body)?)
}

/// Whether the "HA2" of these credentials covers only the method and
/// URI (and so is the same for every request a console sends), rather
/// than the body too.
pub fn ha2_covers_uri_only(creds: &Credentials) -> bool {
    matches!(creds.qop.as_deref(), Some("auth") | None)
}

/// The digest "HA2" in hex: MD5(method:uri), or with `auth-int`
/// MD5(method:uri:MD5(body)); `None` for a qop nobody defined.
pub fn ha2_hex(creds: &Credentials, method: &str, body: &[u8]) -> Option<[u8; 32]> {
    match creds.qop.as_deref() {
        Some("auth-int") => {
            let body_hash = md5_hex(&[body]);
            Some(md5_hex(&[
                method.as_bytes(),
                creds.uri.as_bytes(),
                &body_hash,
            ]))
        }
        Some("auth") | None => Some(md5_hex(&[method.as_bytes(), creds.uri.as_bytes()])),
        Some(_) => None,
    }
}

/// The response for credentials whose HA2 is already known.
pub fn response_hex(creds: &Credentials, ha1: &str, ha2: &[u8; 32]) -> Option<[u8; 32]> {
    Some(match creds.qop.as_deref() {
        Some(qop) => md5_hex(&[
            ha1.as_bytes(),
            creds.nonce.as_bytes(),
            creds.nc.as_deref()?.as_bytes(),
            creds.cnonce.as_deref()?.as_bytes(),
            qop.as_bytes(),
            ha2,
        ]),
        None => md5_hex(&[ha1.as_bytes(), creds.nonce.as_bytes(), ha2]),
    })
}

/// MD5(user:realm:password), the digest "HA1".
pub fn ha1(user: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Constant-time comparison of two hex digests.
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
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
    fn values_borrow_from_the_header_unless_escaped() {
        let h = r#"Digest username="ad\"min", realm=R, nonce="n", uri="/wsman", response="r""#;
        let c = parse_authorization(h).unwrap();
        assert!(matches!(c.username, Cow::Owned(ref u) if u == "ad\"min"));
        for v in [&c.realm, &c.nonce, &c.uri, &c.response] {
            assert!(matches!(v, Cow::Borrowed(_)), "{v:?} copied");
        }
        assert_eq!((&*c.realm, &*c.nonce, &*c.uri), ("R", "n", "/wsman"));
    }

    #[test]
    fn the_challenge_has_amts_layout() {
        assert_eq!(
            challenge(REALM, "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", false),
            r#"Digest realm="Digest:A4070000000000000000000000000000", nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",stale="false",qop="auth""#
        );
    }

    proptest! {
        #[test]
        fn the_header_parser_never_panics(s in ".{0,300}") {
            let _ = parse_authorization(&s);
        }
    }
}
