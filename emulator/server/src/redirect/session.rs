//! The session manager's state machine: StartRedirectionSession, the
//! authentication exchange, and the start of the SOL or IDE-R channel. It
//! sees messages, not sockets; what it needs from the device (gating, the
//! realm, accounts) comes through [`Gate`].

use amtemu_wire::digest::{Credentials, expected_response};
use amtemu_wire::redirection::{
    ClientMessage, DeviceMessage, IderSettings, SessionKind, SolSettings,
};

/// Authentication types (byte 4 of 0x13/0x14).
pub mod auth {
    pub const QUERY: u8 = 0;
    pub const PLAIN: u8 = 1;
    pub const KERBEROS: u8 = 2;
    pub const DIGEST_RFC2069: u8 = 3;
    pub const DIGEST: u8 = 4;
}

/// 0x11 status values.
pub mod start_status {
    pub const OK: u8 = 0;
    pub const UNKNOWN_TYPE: u8 = 1;
    pub const BUSY: u8 = 2;
    pub const UNSUPPORTED: u8 = 3;
}

/// 0x14 status values.
mod auth_status {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const NOT_SUPPORTED: u8 = 2;
}

/// The version bytes of 0x11 (protocol 1.0, session manager 1.1).
pub const SESSION_VERSION: [u8; 4] = [1, 0, 1, 1];

/// Why a session of a kind cannot start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session type is not one the device knows.
    UnknownType,
    /// SOL or IDE-R disabled (AMT_RedirectionService.EnabledState), or KVM
    /// disabled or absent from the firmware.
    Disabled,
    /// The user-consent policy asks for consent that was not given.
    NoConsent,
    /// Another session of this kind is open on the device.
    Busy,
}

impl Refusal {
    /// The 0x11 status a console sees. Consent has no documented status;
    /// it gets "unsupported" (3), which consoles show as not available.
    pub fn status(self) -> u8 {
        match self {
            Refusal::UnknownType => start_status::UNKNOWN_TYPE,
            Refusal::Disabled | Refusal::NoConsent => start_status::UNSUPPORTED,
            Refusal::Busy => start_status::BUSY,
        }
    }
}

/// Why a login failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginError {
    /// No network account by that name.
    NoSuchUser,
    /// The password (or digest) does not match; counted towards lockout.
    WrongPassword,
    /// The account is locked out.
    Locked,
    /// The account lacks the redirection realm.
    NoRedirectionRealm,
    /// A Kerberos token the device refused (the reason is logged where it
    /// was checked).
    KerberosRefused,
}

/// What the session asks of the device it belongs to.
pub trait Gate {
    /// Whether a session of this kind may start now (enabled, consented
    /// to, not already open); asked at StartRedirectionSession, before
    /// anyone has logged in, so it holds nothing.
    fn admit(&self, kind: SessionKind) -> Result<(), Refusal>;
    /// Claims the device's slot for a session kind (released when the
    /// gate is dropped), once the console has logged in: an unauthenticated
    /// connection never keeps a logged-in console out.
    fn claim(&mut self, kind: SessionKind) -> Result<(), Refusal>;
    /// The device's digest realm.
    fn realm(&self) -> String;
    /// Whether plain user/password authentication (type 1) is offered.
    fn plain_auth(&self) -> bool;
    /// Logs in `user`: `proves` says whether a candidate HA1 (lowercase
    /// hex of MD5(user:realm:password)) matches what the console sent.
    fn login(&mut self, user: &str, proves: &dyn Fn(&str) -> bool) -> Result<(), LoginError>;
    /// Whether Kerberos (type 2) is offered: it is configured and on.
    fn kerberos_enabled(&self) -> bool;
    /// Logs in with a Kerberos (SPNEGO or bare GSS) token.
    fn kerberos_login(&mut self, token: &[u8]) -> Result<(), LoginError>;
}

/// Where a session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    AwaitStart,
    Authenticating {
        kind: SessionKind,
        /// The digest challenge issued: auth type and nonce.
        challenge: Option<(u8, String)>,
    },
    /// Authenticated, waiting for the channel's start message.
    Authenticated {
        kind: SessionKind,
    },
    Ready(Channel),
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Sol(SolSettings),
    Ider(IderSettings),
    /// KVM: the channel reads its own start (0x40 in its 8-byte KVMR form,
    /// which the codec, knowing IDE-R's 18-byte form, cannot tell apart).
    Kvm,
}

/// What the connection does after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these, each in its own write, and keep reading.
    Reply(Vec<DeviceMessage>),
    /// Send this (if any), then close.
    Close(Option<DeviceMessage>, &'static str),
    /// The channel is open: the channel's loop takes over (and sends its
    /// start reply).
    Open(Channel),
    /// Send these, each in its own write, then the channel's loop takes
    /// over (KVM, whose start message the channel reads itself).
    ReplyThenOpen(Vec<DeviceMessage>, Channel),
}

pub struct Session<G: Gate> {
    pub state: State,
    gate: G,
    /// A nonce source, replaceable in tests.
    nonce: fn() -> String,
}

fn random_nonce() -> String {
    // 32 hex characters: amtterm refuses nonces longer than 32.
    let bytes: [u8; 16] = rand::random();
    amtemu_model::device::identity::hex_lower(&bytes)
}

/// Reads u8-length-prefixed strings until the data ends.
fn length_prefixed(data: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n);
        if tail.len() < n {
            return None;
        }
        out.push(String::from_utf8_lossy(&tail[..n]).into_owned());
        rest = &tail[n..];
    }
    Some(out)
}

fn put_prefixed(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn auth_reply(status: u8, auth_type: u8, data: Vec<u8>) -> DeviceMessage {
    DeviceMessage::AuthenticateReply {
        status,
        auth_type,
        data,
    }
}

/// The fields of a digest AuthenticateSession, in wire order (user, realm,
/// nonce, uri, cnonce, nc, response, qop), as HTTP digest credentials over
/// "POST": type 4 (RFC 2617) carries a qop, type 3 (RFC 2069) does not.
fn digest_credentials(auth_type: u8, data: &[u8]) -> Option<Credentials<'static>> {
    let mut f = length_prefixed(data)?.into_iter();
    let mut next = || f.next().unwrap_or_default();
    let (username, realm, nonce, uri) = (next(), next(), next(), next());
    let (cnonce, nc, response, qop) = (next(), next(), next(), next());
    Some(Credentials {
        username: username.into(),
        realm: realm.into(),
        nonce: nonce.into(),
        uri: uri.into(),
        response: response.into(),
        qop: (auth_type == auth::DIGEST).then_some(qop.into()),
        nc: Some(nc.into()),
        cnonce: Some(cnonce.into()),
        algorithm: None,
    })
}

impl<G: Gate> Session<G> {
    pub fn new(gate: G) -> Session<G> {
        Session {
            state: State::AwaitStart,
            gate,
            nonce: random_nonce,
        }
    }

    pub fn gate(&self) -> &G {
        &self.gate
    }

    /// Hands over the gate (and the slot it holds) to the channel's loop.
    pub fn into_gate(self) -> G {
        self.gate
    }

    fn end(&mut self, reply: Option<DeviceMessage>, why: &'static str) -> Step {
        self.state = State::Ended;
        Step::Close(reply, why)
    }

    pub fn handle(&mut self, msg: ClientMessage) -> Step {
        if msg == ClientMessage::EndSession {
            return self.end(None, "console ended the session");
        }
        match (std::mem::replace(&mut self.state, State::Ended), msg) {
            (State::AwaitStart, ClientMessage::StartSession { kind, .. }) => {
                let refusal = match kind {
                    SessionKind::Sol | SessionKind::Ider | SessionKind::Kvm => {
                        self.gate.admit(kind).err()
                    }
                    SessionKind::Other(_) => Some(Refusal::UnknownType),
                };
                let reply = |status| DeviceMessage::StartSessionReply {
                    status,
                    version: SESSION_VERSION,
                    oem_iana: 0,
                };
                match refusal {
                    None => {
                        self.state = State::Authenticating {
                            kind,
                            challenge: None,
                        };
                        Step::Reply(vec![reply(start_status::OK)])
                    }
                    Some(r) => self.end(Some(reply(r.status())), refusal_reason(r)),
                }
            }
            (
                State::Authenticating { kind, challenge },
                ClientMessage::Authenticate { auth_type, data },
            ) => self.authenticate(kind, challenge, auth_type, &data),
            (
                State::Authenticated {
                    kind: SessionKind::Sol,
                },
                ClientMessage::StartSol(s),
            ) => {
                self.state = State::Ready(Channel::Sol(s));
                Step::Open(Channel::Sol(s))
            }
            (
                State::Authenticated {
                    kind: SessionKind::Ider,
                },
                ClientMessage::StartIder { raw },
            ) => {
                let s = ClientMessage::ider_settings(&raw);
                self.state = State::Ready(Channel::Ider(s));
                Step::Open(Channel::Ider(s))
            }
            // Heartbeats may cross the handshake's last reply.
            (
                state @ State::Authenticated { .. },
                ClientMessage::SolHeartbeat { .. } | ClientMessage::IderHeartbeat { .. },
            ) => {
                self.state = state;
                Step::Reply(Vec::new())
            }
            (_, _) => self.end(None, "message out of order"),
        }
    }

    fn authenticate(
        &mut self,
        kind: SessionKind,
        challenge: Option<(u8, String)>,
        auth_type: u8,
        data: &[u8],
    ) -> Step {
        let stay = |s: &mut Self, challenge| {
            s.state = State::Authenticating { kind, challenge };
        };
        match auth_type {
            auth::QUERY => {
                let mut methods = vec![auth::DIGEST, auth::DIGEST_RFC2069];
                if self.gate.kerberos_enabled() {
                    methods.push(auth::KERBEROS);
                }
                if self.gate.plain_auth() {
                    methods.push(auth::PLAIN);
                }
                stay(self, challenge);
                Step::Reply(vec![auth_reply(auth_status::OK, auth::QUERY, methods)])
            }
            auth::PLAIN if self.gate.plain_auth() => {
                let Some([user, password]) =
                    length_prefixed(data).and_then(|f| <[String; 2]>::try_from(f).ok())
                else {
                    return self.end(
                        Some(auth_reply(auth_status::FAILURE, auth::PLAIN, Vec::new())),
                        "malformed plain authentication",
                    );
                };
                let candidate = amtemu_model::device::identity::hex_lower(
                    &amtemu_model::device::users::ha1(&user, &self.gate.realm(), &password),
                );
                let result = self
                    .gate
                    .login(&user, &|ha1| ha1.eq_ignore_ascii_case(&candidate));
                self.finish_login(kind, auth::PLAIN, result)
            }
            // The token is the whole of the data (MeshCommander's Kerberos
            // build); whether firmware's success reply carries an AP-REP is
            // not documented, so it carries nothing.
            auth::KERBEROS if self.gate.kerberos_enabled() => {
                let result = self.gate.kerberos_login(data);
                self.finish_login(kind, auth::KERBEROS, result)
            }
            auth::DIGEST | auth::DIGEST_RFC2069 => {
                let Some(fields) = digest_credentials(auth_type, data) else {
                    return self.end(
                        Some(auth_reply(auth_status::FAILURE, auth_type, Vec::new())),
                        "malformed digest authentication",
                    );
                };
                match challenge {
                    Some((issued_type, nonce))
                        if !fields.response.is_empty() && issued_type == auth_type =>
                    {
                        let realm = self.gate.realm();
                        if fields.nonce != nonce
                            || fields.realm != realm
                            || (auth_type == auth::DIGEST && fields.qop.as_deref() != Some("auth"))
                        {
                            return self.end(
                                Some(auth_reply(auth_status::FAILURE, auth_type, Vec::new())),
                                "digest with a foreign nonce, realm or qop",
                            );
                        }
                        let result = self.gate.login(&fields.username, &|ha1| {
                            expected_response(&fields, ha1, "POST", &[])
                                .is_some_and(|e| e.eq_ignore_ascii_case(&fields.response))
                        });
                        self.finish_login(kind, auth_type, result)
                    }
                    // A second empty request after a challenge: consoles
                    // that loop on challenges get one, then the door.
                    Some(_) => self.end(
                        Some(auth_reply(auth_status::FAILURE, auth_type, Vec::new())),
                        "digest without a response after the challenge",
                    ),
                    None => {
                        let nonce = (self.nonce)();
                        let mut reply = Vec::new();
                        put_prefixed(&mut reply, &self.gate.realm());
                        put_prefixed(&mut reply, &nonce);
                        if auth_type == auth::DIGEST {
                            put_prefixed(&mut reply, "auth");
                        }
                        stay(self, Some((auth_type, nonce)));
                        Step::Reply(vec![auth_reply(auth_status::FAILURE, auth_type, reply)])
                    }
                }
            }
            other => {
                // Kerberos or plain when switched off, anything else: not
                // supported; the console may pick another method.
                stay(self, challenge);
                Step::Reply(vec![auth_reply(
                    auth_status::NOT_SUPPORTED,
                    other,
                    Vec::new(),
                )])
            }
        }
    }

    fn finish_login(
        &mut self,
        kind: SessionKind,
        auth_type: u8,
        result: Result<(), LoginError>,
    ) -> Step {
        match result
            .map_err(Err)
            .and_then(|()| self.gate.claim(kind).map_err(Ok))
        {
            Ok(()) if kind == SessionKind::Kvm => {
                self.state = State::Ready(Channel::Kvm);
                Step::ReplyThenOpen(
                    vec![auth_reply(auth_status::OK, auth_type, Vec::new())],
                    Channel::Kvm,
                )
            }
            Ok(()) => {
                self.state = State::Authenticated { kind };
                Step::Reply(vec![auth_reply(auth_status::OK, auth_type, Vec::new())])
            }
            // Another console logged in first, or the session kind was
            // switched off meanwhile: the login itself was right, but there
            // is nothing to open.
            Err(Ok(refusal)) => self.end(
                Some(auth_reply(auth_status::FAILURE, auth_type, Vec::new())),
                refusal_reason(refusal),
            ),
            Err(Err(e)) => self.end(
                Some(auth_reply(auth_status::FAILURE, auth_type, Vec::new())),
                match e {
                    LoginError::NoSuchUser => "authentication failed: no such network user",
                    LoginError::WrongPassword => "authentication failed: wrong password",
                    LoginError::Locked => "authentication refused: account locked out",
                    LoginError::NoRedirectionRealm => {
                        "authentication refused: user lacks the redirection realm"
                    }
                    LoginError::KerberosRefused => "Kerberos authentication refused",
                },
            ),
        }
    }
}

fn refusal_reason(r: Refusal) -> &'static str {
    match r {
        Refusal::UnknownType => "unknown session type",
        Refusal::Disabled => "session type disabled",
        Refusal::NoConsent => "user consent not given",
        Refusal::Busy => "a session of this type is already open",
    }
}

#[cfg(test)]
mod tests;
