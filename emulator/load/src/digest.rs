//! The client side of AMT's Digest authentication, as real consoles do it:
//! one 401 round trip per nonce, then the nonce reused with an increasing
//! nonce count (`nc`) for as long as the device accepts it.

use amtemu_model::device::identity::hex_lower;
use amtemu_model::device::users::ha1;
use amtemu_wire::digest::{Credentials, expected_response, parse_authorization};

/// A user's credentials and the nonce the device last issued.
#[derive(Clone, Debug)]
pub struct DigestSession {
    user: String,
    password: String,
    challenge: Option<Challenge>,
}

#[derive(Clone, Debug)]
struct Challenge {
    realm: String,
    nonce: String,
    ha1: String,
    nc: u32,
}

impl DigestSession {
    pub fn new(user: &str, password: &str) -> DigestSession {
        DigestSession {
            user: user.to_string(),
            password: password.to_string(),
            challenge: None,
        }
    }

    /// Takes the nonce from a `WWW-Authenticate: Digest …` header; false
    /// when the header cannot be read.
    pub fn challenged(&mut self, www_authenticate: &str) -> bool {
        // A challenge has the same `Digest k=v, …` syntax as the answer.
        let Some(c) = parse_authorization(www_authenticate) else {
            return false;
        };
        if c.nonce.is_empty() {
            return false;
        }
        let ha1 = hex_lower(&ha1(&self.user, &c.realm, &self.password));
        self.challenge = Some(Challenge {
            realm: c.realm.into_owned(),
            nonce: c.nonce.into_owned(),
            ha1,
            nc: 0,
        });
        true
    }

    /// The Authorization header for the next request, counting the nonce
    /// use; None before the first challenge.
    pub fn authorization(&mut self, method: &str, uri: &str) -> Option<String> {
        let c = self.challenge.as_mut()?;
        c.nc += 1;
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let mut creds = Credentials {
            username: self.user.as_str().into(),
            realm: c.realm.as_str().into(),
            nonce: c.nonce.as_str().into(),
            uri: uri.into(),
            qop: Some("auth".into()),
            nc: Some(format!("{:08x}", c.nc).into()),
            cnonce: Some(cnonce.into()),
            ..Credentials::default()
        };
        creds.response = expected_response(&creds, &c.ha1, method, b"")?.into();
        Some(format!(
            r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", qop=auth, nc={}, cnonce="{}", response="{}""#,
            creds.username,
            creds.realm,
            creds.nonce,
            creds.uri,
            creds.nc.as_deref().unwrap_or_default(),
            creds.cnonce.as_deref().unwrap_or_default(),
            creds.response
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_server::endpoint::nonces::{Nonces, Verdict};
    use tokio::time::Instant;

    #[test]
    fn reuses_the_nonce_with_increasing_counts_the_server_accepts() {
        let realm = "Digest:0123";
        let now = Instant::now();
        let mut nonces = Nonces::default();
        let nonce = nonces.issue(now);
        let mut session = DigestSession::new("admin", "P@ssw0rd");
        assert!(session.authorization("POST", "/wsman").is_none());
        assert!(session.challenged(&amtemu_wire::digest::challenge(realm, &nonce, false)));
        let server_ha1 = hex_lower(&ha1("admin", realm, "P@ssw0rd"));
        for expected_nc in ["00000001", "00000002", "00000003"] {
            let header = session.authorization("POST", "/wsman").unwrap();
            let creds = parse_authorization(&header).unwrap();
            assert_eq!(creds.nc.as_deref(), Some(expected_nc));
            assert_eq!(
                nonces.verify(&creds, realm, Some(&server_ha1), "POST", b"", now),
                Verdict::Accepted
            );
        }
        let mut wrong = DigestSession::new("admin", "nope");
        assert!(wrong.challenged(&amtemu_wire::digest::challenge(realm, &nonce, false)));
        let header = wrong.authorization("POST", "/wsman").unwrap();
        let creds = parse_authorization(&header).unwrap();
        assert_eq!(
            nonces.verify(&creds, realm, Some(&server_ha1), "POST", b"", now),
            Verdict::Rejected
        );
        assert!(!session.challenged("Basic realm=\"x\""));
    }
}
