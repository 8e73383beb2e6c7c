//! HTTP `Negotiate` (RFC 4559) on the WS-Man ports: a SPNEGO/Kerberos token
//! checked by [`crate::kerberos`], its SIDs mapped to the ACL by the model.
//! A token that fails for any reason is a 401, as a wrong digest password
//! is; the reason is logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::incoming::Head;
use crate::endpoint::Endpoint;
use crate::kerberos;
use amtemu_model::device::users::Caller;

/// A Negotiate login: who, and the token for the 200's
/// `WWW-Authenticate: Negotiate …` (mutual authentication).
pub struct Login {
    pub caller: Caller,
    pub reply: String,
}

/// The Negotiate token of a request, if its credentials are Negotiate.
pub fn token(head: &Head) -> Option<&str> {
    // Every request comes through here, nearly all with Digest: the
    // scheme is compared where it stands rather than split out.
    let value = head.header("authorization")?.trim_start();
    let scheme = "Negotiate";
    if !value
        .get(..scheme.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    let rest = &value[scheme.len()..];
    match rest.as_bytes().first() {
        None => Some(""),
        Some(b' ') => Some(rest.trim()),
        // A longer scheme name (`NegotiateX`) or another separator.
        Some(_) => None,
    }
}

/// Checks a Negotiate token for a device: a Kerberos ticket its key opens,
/// from a user whose SID (or one of its groups') is in the ACL.
pub fn login(endpoint: &Endpoint, token: &str) -> Option<Login> {
    let Ok(bytes) = BASE64.decode(token) else {
        tracing::warn!(device = %endpoint.device.name, "Negotiate authentication failed: token is not base64");
        return None;
    };
    let (caller, reply) = kerberos::login(&endpoint.device, &endpoint.kerberos, &bytes)?;
    Some(Login {
        caller,
        reply: format!("Negotiate {}", BASE64.encode(reply)),
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::incoming::parse_head;
    use super::*;

    fn token_of(authorization: &str) -> Option<String> {
        let wire = format!("POST /wsman HTTP/1.1\r\nAuthorization: {authorization}\r\n\r\n");
        let head = parse_head(&mut BytesMut::from(wire.as_str()))
            .unwrap()
            .unwrap();
        token(&head).map(str::to_owned)
    }

    #[test]
    fn only_the_negotiate_scheme_gives_a_token() {
        assert_eq!(token_of("Negotiate YIIB"), Some("YIIB".into()));
        assert_eq!(token_of("negotiate   YIIB  "), Some("YIIB".into()));
        assert_eq!(token_of("Negotiate"), Some("".into()));
        for other in [
            "Digest username=\"admin\"",
            "NegotiateX YIIB",
            "Negotiate\tYIIB",
            "Nego",
            "Négotiate YIIB",
            "",
        ] {
            assert_eq!(token_of(other), None, "{other:?}");
        }
    }
}
