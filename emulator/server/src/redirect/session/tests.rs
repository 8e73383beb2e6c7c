use super::*;
use proptest::prelude::*;

const REALM: &str = "Digest:0123456789ABCDEF0123456789ABCDEF";
/// The URI every console digests.
const DIGEST_URI: &str = "/RedirectionService";

fn md5_hex(parts: &[&str]) -> String {
    use md5::{Digest, Md5};
    amtemu_model::device::identity::hex_lower(&Md5::digest(parts.join(":")))
}

#[derive(Default)]
struct FakeGate {
    refuse: Option<Refusal>,
    plain: bool,
    failures: u32,
    /// Another console logged in first: claiming finds the slot taken.
    taken: bool,
    /// Kerberos is on; the token `good` logs in.
    kerberos: bool,
    claimed: Option<SessionKind>,
}

impl Gate for FakeGate {
    fn admit(&self, _: SessionKind) -> Result<(), Refusal> {
        self.refuse.map_or(Ok(()), Err)
    }
    fn claim(&mut self, kind: SessionKind) -> Result<(), Refusal> {
        if self.taken {
            return Err(Refusal::Busy);
        }
        self.claimed = Some(kind);
        Ok(())
    }
    fn realm(&self) -> String {
        REALM.into()
    }
    fn plain_auth(&self) -> bool {
        self.plain
    }
    fn login(&mut self, user: &str, proves: &dyn Fn(&str) -> bool) -> Result<(), LoginError> {
        if user != "admin" {
            return Err(LoginError::NoSuchUser);
        }
        let ha1 = md5_hex(&["admin", REALM, "P@ssw0rd"]);
        if proves(&ha1) {
            Ok(())
        } else {
            self.failures += 1;
            Err(LoginError::WrongPassword)
        }
    }
    fn kerberos_enabled(&self) -> bool {
        self.kerberos
    }
    fn kerberos_login(&mut self, token: &[u8]) -> Result<(), LoginError> {
        if token == b"good" {
            Ok(())
        } else {
            self.failures += 1;
            Err(LoginError::KerberosRefused)
        }
    }
}

fn session(gate: FakeGate) -> Session<FakeGate> {
    let mut s = Session::new(gate);
    s.nonce = || "00112233445566778899aabbccddeeff".into();
    s
}

fn start(kind: SessionKind) -> ClientMessage {
    ClientMessage::StartSession { flag: 0, kind }
}

fn digest_request(auth_type: u8, fields: &[&str]) -> ClientMessage {
    let mut data = Vec::new();
    for f in fields {
        put_prefixed(&mut data, f);
    }
    ClientMessage::Authenticate { auth_type, data }
}

fn started(gate: FakeGate) -> Session<FakeGate> {
    let mut s = session(gate);
    assert!(matches!(s.handle(start(SessionKind::Sol)), Step::Reply(_)));
    s
}

fn digest_login(auth_type: u8, password: &str) -> (Session<FakeGate>, Step) {
    digest_login_at(FakeGate::default(), auth_type, password)
}

fn digest_login_at(gate: FakeGate, auth_type: u8, password: &str) -> (Session<FakeGate>, Step) {
    let mut s = started(gate);
    let qop = if auth_type == auth::DIGEST {
        "auth"
    } else {
        ""
    };
    let first = ["admin", "", "", DIGEST_URI, "", "", "", ""];
    let n = if auth_type == auth::DIGEST { 8 } else { 7 };
    let Step::Reply(reply) = s.handle(digest_request(auth_type, &first[..n])) else {
        panic!("no challenge");
    };
    let DeviceMessage::AuthenticateReply { status, data, .. } = &reply[0] else {
        panic!("not an auth reply");
    };
    assert_eq!(*status, 1, "a challenge is a failure status");
    let fields = length_prefixed(data).unwrap();
    assert_eq!(fields[0], REALM);
    assert!(fields[1].len() <= 32);
    assert_eq!(fields.len(), if auth_type == auth::DIGEST { 3 } else { 2 });
    let nonce = fields[1].clone();
    let ha1 = md5_hex(&["admin", REALM, password]);
    let ha2 = md5_hex(&["POST", DIGEST_URI]);
    let cnonce = "0123456789abcdef0123456789abcdef";
    let response = if auth_type == auth::DIGEST {
        md5_hex(&[&ha1, &nonce, "00000002", cnonce, "auth", &ha2])
    } else {
        md5_hex(&[&ha1, &nonce, &ha2])
    }
    .to_uppercase();
    let second = [
        "admin", REALM, &nonce, DIGEST_URI, cnonce, "00000002", &response, qop,
    ];
    let step = s.handle(digest_request(auth_type, &second[..n]));
    (s, step)
}

/// MeshCommander's second digest message against a test server with
/// admin / P@ssw0rd, as captured.
#[test]
fn a_captured_meshcommander_digest_verifies() {
    let mut data = Vec::new();
    for f in [
        "admin",
        "Digest:9CA11CFC97219114B5BAAD4DD3A91D53",
        "ExBQGXSqDHaPcs3PLzvypfULY8Vjb8Hc",
        "/RedirectionService",
        "F081B5F2B407FD4DA4691E60E15B3019",
        "00000002",
        "34f7d31f2a7506434fd4f8aed8d2a8ae",
        "auth",
    ] {
        put_prefixed(&mut data, f);
    }
    assert_eq!(data.len(), 179, "the captured datalen");
    let fields = digest_credentials(auth::DIGEST, &data).unwrap();
    let ha1 = md5_hex(&["admin", &fields.realm, "P@ssw0rd"]);
    assert_eq!(
        expected_response(&fields, &ha1, "POST", &[]),
        Some(fields.response.to_string())
    );
    let wrong = md5_hex(&["admin", &fields.realm, "p@ssw0rd"]);
    assert_ne!(
        expected_response(&fields, &wrong, "POST", &[]),
        Some(fields.response.to_string())
    );
}

#[test]
fn query_lists_digest_and_plain_only_when_enabled() {
    for (plain, expected) in [(true, vec![4, 3, 1]), (false, vec![4, 3])] {
        let mut s = started(FakeGate {
            plain,
            ..FakeGate::default()
        });
        let step = s.handle(ClientMessage::Authenticate {
            auth_type: auth::QUERY,
            data: Vec::new(),
        });
        assert_eq!(
            step,
            Step::Reply(vec![auth_reply(0, auth::QUERY, expected)])
        );
    }
}

#[test]
fn kerberos_is_offered_and_logs_in_only_when_enabled() {
    let query = ClientMessage::Authenticate {
        auth_type: auth::QUERY,
        data: Vec::new(),
    };
    let token = |t: &[u8]| ClientMessage::Authenticate {
        auth_type: auth::KERBEROS,
        data: t.to_vec(),
    };
    let on = || {
        started(FakeGate {
            kerberos: true,
            ..FakeGate::default()
        })
    };
    let mut s = on();
    assert_eq!(
        s.handle(query.clone()),
        Step::Reply(vec![auth_reply(0, auth::QUERY, vec![4, 3, 2])])
    );
    assert_eq!(
        s.handle(token(b"good")),
        Step::Reply(vec![auth_reply(0, auth::KERBEROS, Vec::new())])
    );
    assert_eq!(
        s.state,
        State::Authenticated {
            kind: SessionKind::Sol
        }
    );
    // A refused token fails and closes, as a wrong digest does.
    let mut s = on();
    assert_eq!(
        s.handle(token(b"garbage")),
        Step::Close(
            Some(auth_reply(1, auth::KERBEROS, Vec::new())),
            "Kerberos authentication refused"
        )
    );
    assert_eq!(s.gate().failures, 1);
    // Off: not offered, and a token is "not supported".
    let mut off = started(FakeGate::default());
    assert_eq!(
        off.handle(token(b"good")),
        Step::Reply(vec![auth_reply(2, auth::KERBEROS, Vec::new())])
    );
}

#[test]
fn digest_types_4_and_3_log_in_with_the_right_password() {
    for t in [auth::DIGEST, auth::DIGEST_RFC2069] {
        let (s, step) = digest_login(t, "P@ssw0rd");
        assert_eq!(step, Step::Reply(vec![auth_reply(0, t, Vec::new())]));
        assert_eq!(
            s.state,
            State::Authenticated {
                kind: SessionKind::Sol
            }
        );
    }
}

#[test]
fn a_wrong_digest_fails_closes_and_counts() {
    let (s, step) = digest_login(auth::DIGEST, "wrong");
    assert_eq!(
        step,
        Step::Close(
            Some(auth_reply(1, auth::DIGEST, Vec::new())),
            "authentication failed: wrong password"
        )
    );
    assert_eq!(s.gate().failures, 1);
    assert_eq!(s.state, State::Ended);
}

#[test]
fn plain_login_only_when_enabled() {
    let mut data = Vec::new();
    put_prefixed(&mut data, "admin");
    put_prefixed(&mut data, "P@ssw0rd");
    let msg = ClientMessage::Authenticate {
        auth_type: auth::PLAIN,
        data,
    };
    let mut on = started(FakeGate {
        plain: true,
        ..FakeGate::default()
    });
    assert_eq!(
        on.handle(msg.clone()),
        Step::Reply(vec![auth_reply(0, auth::PLAIN, Vec::new())])
    );
    let mut off = started(FakeGate::default());
    assert_eq!(
        off.handle(msg),
        Step::Reply(vec![auth_reply(2, auth::PLAIN, Vec::new())])
    );
    assert!(matches!(off.state, State::Authenticating { .. }));
}

#[test]
fn refusals_map_to_0x11_statuses() {
    for (refuse, status) in [
        (Refusal::Busy, 2),
        (Refusal::Disabled, 3),
        (Refusal::NoConsent, 3),
    ] {
        let mut s = session(FakeGate {
            refuse: Some(refuse),
            ..FakeGate::default()
        });
        let Step::Close(Some(DeviceMessage::StartSessionReply { status: got, .. }), _) =
            s.handle(start(SessionKind::Sol))
        else {
            panic!("not refused");
        };
        assert_eq!(got, status);
    }
    let mut kvm = session(FakeGate {
        refuse: Some(Refusal::Disabled),
        ..FakeGate::default()
    });
    assert!(matches!(
        kvm.handle(start(SessionKind::Kvm)),
        Step::Close(Some(DeviceMessage::StartSessionReply { status: 3, .. }), _)
    ));
    let mut other = session(FakeGate::default());
    assert!(matches!(
        other.handle(start(SessionKind::Other(*b"ABCD"))),
        Step::Close(Some(DeviceMessage::StartSessionReply { status: 1, .. }), _)
    ));
}

/// Every malformed or mismatched login gets 0x14 status 1 with no data
/// and the connection closes, without asking the device.
#[test]
fn malformed_and_mismatched_logins_fail_and_close() {
    let failed = |t, why| Step::Close(Some(auth_reply(1, t, Vec::new())), why);
    // A length prefix running past the data.
    let overrun = vec![5, b'a', b'd'];
    let mut plain = started(FakeGate {
        plain: true,
        ..FakeGate::default()
    });
    let step = plain.handle(ClientMessage::Authenticate {
        auth_type: auth::PLAIN,
        data: overrun.clone(),
    });
    assert_eq!(step, failed(auth::PLAIN, "malformed plain authentication"));
    assert_eq!(plain.state, State::Ended);
    // Plain with three fields instead of two.
    let mut three = started(FakeGate {
        plain: true,
        ..FakeGate::default()
    });
    assert_eq!(
        three.handle(digest_request(auth::PLAIN, &["admin", "P@ssw0rd", "x"])),
        failed(auth::PLAIN, "malformed plain authentication")
    );
    let mut digest = started(FakeGate::default());
    assert_eq!(
        digest.handle(ClientMessage::Authenticate {
            auth_type: auth::DIGEST,
            data: overrun,
        }),
        failed(auth::DIGEST, "malformed digest authentication")
    );
    // After the challenge: a foreign nonce, realm or qop, or a second
    // request without a response.
    let nonce = "00112233445566778899aabbccddeeff";
    for (fields, why) in [
        (
            ["admin", REALM, "ffff", DIGEST_URI, "c", "1", "r", "auth"],
            "digest with a foreign nonce, realm or qop",
        ),
        (
            ["admin", "other", nonce, DIGEST_URI, "c", "1", "r", "auth"],
            "digest with a foreign nonce, realm or qop",
        ),
        (
            ["admin", REALM, nonce, DIGEST_URI, "c", "1", "r", "auth-int"],
            "digest with a foreign nonce, realm or qop",
        ),
        (
            ["admin", REALM, nonce, DIGEST_URI, "c", "1", "", "auth"],
            "digest without a response after the challenge",
        ),
    ] {
        let mut s = started(FakeGate::default());
        let first = ["admin", "", "", DIGEST_URI, "", "", "", ""];
        assert!(matches!(
            s.handle(digest_request(auth::DIGEST, &first)),
            Step::Reply(_)
        ));
        assert_eq!(
            s.handle(digest_request(auth::DIGEST, &fields)),
            failed(auth::DIGEST, why)
        );
        assert_eq!(s.state, State::Ended);
        assert_eq!(s.gate().failures, 0, "the device was not asked");
    }
}

#[test]
fn the_channel_opens_only_after_authentication() {
    let sol = SolSettings::default();
    let mut early = started(FakeGate::default());
    assert!(matches!(
        early.handle(ClientMessage::StartSol(sol)),
        Step::Close(None, _)
    ));
    let (mut s, _) = digest_login(auth::DIGEST, "P@ssw0rd");
    assert_eq!(
        s.handle(ClientMessage::StartSol(sol)),
        Step::Open(Channel::Sol(sol))
    );
}

fn any_client_message() -> impl Strategy<Value = ClientMessage> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_filter_map("decodable", |bytes| {
        ClientMessage::decode(&bytes).ok().flatten().map(|(m, _)| m)
    })
}

proptest! {
    /// Whatever a console sends before authenticating, it never gets a
    /// channel.
    #[test]
    fn no_channel_without_a_login(msgs in proptest::collection::vec(any_client_message(), 0..12)) {
        let mut s = session(FakeGate { plain: true, ..FakeGate::default() });
        for m in msgs {
            let step = s.handle(m);
            prop_assert!(!matches!(step, Step::Open(_)));
            if matches!(step, Step::Close(..)) {
                prop_assert_eq!(&s.state, &State::Ended);
                break;
            }
        }
    }
}

#[test]
fn the_slot_is_claimed_at_login_not_at_start() {
    let s = started(FakeGate::default());
    assert_eq!(
        s.gate().claimed,
        None,
        "StartRedirectionSession holds nothing"
    );
    let (s, step) = digest_login(auth::DIGEST, "P@ssw0rd");
    assert_eq!(
        step,
        Step::Reply(vec![auth_reply(0, auth::DIGEST, Vec::new())])
    );
    assert_eq!(s.gate().claimed, Some(SessionKind::Sol));
    let (s, _) = digest_login(auth::DIGEST, "wrong");
    assert_eq!(s.gate().claimed, None, "a failed login claims nothing");
}

#[test]
fn a_right_login_after_another_console_took_the_slot_is_turned_away() {
    let gate = FakeGate {
        taken: true,
        ..FakeGate::default()
    };
    let (s, step) = digest_login_at(gate, auth::DIGEST, "P@ssw0rd");
    assert_eq!(
        step,
        Step::Close(
            Some(auth_reply(1, auth::DIGEST, Vec::new())),
            "a session of this type is already open"
        )
    );
    assert_eq!(s.state, State::Ended);
}

/// KVM asks the gate like SOL does, and after the login hands the
/// connection to the KVM channel, which reads its own 8-byte 0x40.
#[test]
fn kvm_is_gated_and_handed_over_after_the_login() {
    let mut s = session(FakeGate {
        plain: true,
        ..FakeGate::default()
    });
    assert!(matches!(s.handle(start(SessionKind::Kvm)), Step::Reply(_)));
    assert_eq!(s.gate().claimed, None, "nothing is held before the login");
    let mut data = Vec::new();
    put_prefixed(&mut data, "admin");
    put_prefixed(&mut data, "P@ssw0rd");
    let step = s.handle(ClientMessage::Authenticate {
        auth_type: auth::PLAIN,
        data,
    });
    assert_eq!(
        step,
        Step::ReplyThenOpen(vec![auth_reply(0, auth::PLAIN, Vec::new())], Channel::Kvm)
    );
    assert_eq!(s.state, State::Ready(Channel::Kvm));
    assert_eq!(s.gate().claimed, Some(SessionKind::Kvm));
}
