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
    let value = head.header("authorization")?.trim_start();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("Negotiate")
        .then(|| rest.trim())
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
