//! The acceptor against tickets built here as an AD KDC builds them (the
//! real KDC's are in tests/kerberos.rs): what it accepts, and each way a
//! token is refused.

use super::*;
use picky_asn1::bit_string::BitString;
use picky_asn1::restricted_string::Ia5String;
use picky_asn1::wrapper::{
    Asn1SequenceOf, BitStringAsn1, ExplicitContextTag4, ExplicitContextTag5, ExplicitContextTag6,
    ExplicitContextTag7, ExplicitContextTag10, GeneralizedTimeAsn1,
};
use picky_krb::data_types::{
    AuthenticatorInner, AuthorizationDataInner, EncTicketPartInner, EncryptionKey,
    KerberosStringAsn1, TicketInner, TransitedEncoding,
};
use picky_krb::messages::ApReqInner;
use proptest::prelude::*;

const PASSPHRASE: &str = "Svc-Passw0rd!";
const SALT: &str = "VPRO.TESTamtsvc";
const NOW: u64 = 1_800_000_000;

fn settings() -> KerberosSettings {
    KerberosSettings {
        realm_name: "VPRO.TEST".parse().unwrap(),
        passphrase: Some(PASSPHRASE.into()),
        salt: Some(SALT.into()),
        maximum_clock_tolerance: 5,
        enabled: true,
        ..KerberosSettings::default()
    }
}

fn service_key(etype: i64) -> Key {
    Key::device(&settings(), etype).unwrap()
}

/// S-1-5-21-1-2-3 (the domain) with a RID.
fn domain_sid(rid: Option<u32>) -> Vec<u8> {
    let subs: Vec<u32> = [21, 1, 2, 3].into_iter().chain(rid).collect();
    let mut out = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, 5];
    for s in subs {
        out.extend(s.to_le_bytes());
    }
    out
}

/// A KERB_VALIDATION_INFO in NDR: user 1104, primary group 513, group
/// 1200, one extra SID (S-1-5-32-544), and an effective name.
fn logon_info() -> Vec<u8> {
    let mut f = Vec::new();
    let u32s = |f: &mut Vec<u8>, v: &[u32]| v.iter().for_each(|x| f.extend(x.to_le_bytes()));
    f.extend([0u8; 48]);
    // EffectiveName "bob" (length 6, max 6, pointer), five empty strings.
    f.extend([6, 0, 6, 0]);
    u32s(&mut f, &[0x20004]);
    f.extend([0u8; 40]);
    f.extend([0u8; 4]);
    u32s(&mut f, &[1104, 513, 1, 0x20008]);
    f.extend([0u8; 20]);
    f.extend([0u8; 16]);
    u32s(&mut f, &[0x2000c]);
    f.extend([0u8; 40]);
    u32s(&mut f, &[1, 0x20010, 0, 0, 0]);
    // Deferred: the name, the groups, the domain SID, the extra SIDs.
    u32s(&mut f, &[3, 0, 3]);
    f.extend("bob".encode_utf16().flat_map(u16::to_le_bytes));
    f.extend([0, 0]);
    u32s(&mut f, &[1, 1200, 7]);
    let domain = domain_sid(None);
    u32s(&mut f, &[u32::from(domain[1])]);
    f.extend(&domain);
    u32s(&mut f, &[1, 0x20014, 7]);
    u32s(&mut f, &[2]);
    f.extend([1, 2, 0, 0, 0, 0, 0, 5]);
    u32s(&mut f, &[32, 544]);
    let mut out = vec![1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc];
    out.extend((f.len() as u32 + 4).to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(0x20000u32.to_le_bytes());
    out.extend(f);
    out
}

/// A PAC with logon info and server/KDC signatures, the server's made
/// with `key` but claiming `signature_type`.
fn pac(key: &Key, signature_type: i32) -> Vec<u8> {
    let info = logon_info();
    let len = keys::signature_len(signature_type).unwrap();
    let sig = |t: i32| {
        let mut b = t.to_le_bytes().to_vec();
        b.extend(vec![0u8; len]);
        b
    };
    let buffers = [
        (1u32, info),
        (6, sig(signature_type)),
        (7, sig(signature_type)),
    ];
    let mut offset = 8 + 16 * buffers.len();
    let mut head = Vec::new();
    let mut body = Vec::new();
    head.extend((buffers.len() as u32).to_le_bytes());
    head.extend(0u32.to_le_bytes());
    let mut server_at = 0;
    for (kind, data) in &buffers {
        head.extend(kind.to_le_bytes());
        head.extend((data.len() as u32).to_le_bytes());
        head.extend((offset as u64).to_le_bytes());
        if *kind == 6 {
            server_at = offset;
        }
        let padded = data.len().div_ceil(8) * 8;
        body.extend(data);
        body.resize(body.len() + padded - data.len(), 0);
        offset += padded;
    }
    let mut pac = [head, body].concat();
    let mut checksum = key.checksum(17, &pac).unwrap();
    checksum.resize(len, 0);
    pac[server_at + 4..server_at + 4 + len].copy_from_slice(&checksum);
    pac
}

fn time(unix: u64) -> GeneralizedTimeAsn1 {
    let text = amtemu_wire::wsman::cim_time::format_datetime(unix);
    let n = |r: std::ops::Range<usize>| text[r].parse::<u16>().unwrap();
    GeneralizedTimeAsn1::from(
        picky_asn1::date::Date::new(
            n(0..4),
            n(5..7) as u8,
            n(8..10) as u8,
            n(11..13) as u8,
            n(14..16) as u8,
            n(17..19) as u8,
        )
        .unwrap(),
    )
}

fn kstring(s: &str) -> KerberosStringAsn1 {
    KerberosStringAsn1::from(Ia5String::from_string(s.into()).unwrap())
}

fn name(parts: &[&str]) -> PrincipalName {
    PrincipalName {
        name_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![1])),
        name_string: ExplicitContextTag1::from(Asn1SequenceOf::from(
            parts.iter().map(|p| kstring(p)).collect::<Vec<_>>(),
        )),
    }
}

/// How a test ticket differs from a good one.
#[derive(Clone)]
struct Ticket {
    key: Key,
    session: Key,
    start: u64,
    end: u64,
    ctime: u64,
    cusec: u8,
    pac: Option<Vec<u8>>,
    spnego: bool,
}

impl Default for Ticket {
    fn default() -> Self {
        let key = service_key(keys::AES256);
        Ticket {
            pac: Some(pac(&key, 16)),
            key,
            session: Key::session(keys::AES256, &[7; 32]).unwrap(),
            start: NOW - 60,
            end: NOW + 3600,
            ctime: NOW,
            cusec: 1,
            spnego: true,
        }
    }
}

impl Ticket {
    fn token(&self) -> Vec<u8> {
        let ad = self.pac.as_ref().map(|pac| {
            let win2k = AuthorizationDataInner {
                ad_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![0x00, 0x80])),
                ad_data: ExplicitContextTag1::from(OctetStringAsn1::from(pac.clone())),
            };
            let inner = picky_asn1_der::to_vec(&AuthorizationData::from(vec![win2k])).unwrap();
            ExplicitContextTag10::from(AuthorizationData::from(vec![AuthorizationDataInner {
                ad_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![1])),
                ad_data: ExplicitContextTag1::from(OctetStringAsn1::from(inner)),
            }]))
        });
        let part = EncTicketPart::from(EncTicketPartInner {
            flags: ExplicitContextTag0::from(BitStringAsn1::from(BitString::with_bytes(vec![
                0x40, 0, 0, 0,
            ]))),
            key: ExplicitContextTag1::from(EncryptionKey {
                key_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![
                    self.session.etype() as u8
                ])),
                key_value: ExplicitContextTag1::from(OctetStringAsn1::from(self.session.bytes())),
            }),
            crealm: ExplicitContextTag2::from(kstring("VPRO.TEST")),
            cname: ExplicitContextTag3::from(name(&["bob"])),
            transited: ExplicitContextTag4::from(TransitedEncoding {
                tr_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![1])),
                contents: ExplicitContextTag1::from(OctetStringAsn1::from(vec![])),
            }),
            auth_time: ExplicitContextTag5::from(time(self.start)),
            starttime: Optional::from(Some(ExplicitContextTag6::from(time(self.start)))),
            endtime: ExplicitContextTag7::from(time(self.end)),
            renew_till: Optional::from(None),
            caddr: Optional::from(None),
            authorization_data: Optional::from(ad),
        });
        let enc_part = self
            .key
            .encrypt(TICKET_USAGE, &picky_asn1_der::to_vec(&part).unwrap())
            .unwrap();
        let authenticator = Authenticator::from(AuthenticatorInner {
            authenticator_vno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
            crealm: ExplicitContextTag1::from(kstring("VPRO.TEST")),
            cname: ExplicitContextTag2::from(name(&["bob"])),
            cksum: Optional::from(None),
            cusec: ExplicitContextTag4::from(IntegerAsn1::from(vec![self.cusec])),
            ctime: ExplicitContextTag5::from(time(self.ctime)),
            subkey: Optional::from(None),
            seq_number: Optional::from(None),
            authorization_data: Optional::from(None),
        });
        let auth = self
            .session
            .encrypt(
                key_usages::AP_REQ_AUTHENTICATOR,
                &picky_asn1_der::to_vec(&authenticator).unwrap(),
            )
            .unwrap();
        let encrypted = |key: &Key, cipher: Vec<u8>| EncryptedData {
            etype: ExplicitContextTag0::from(IntegerAsn1::from(vec![key.etype() as u8])),
            kvno: Optional::from(None),
            cipher: ExplicitContextTag2::from(OctetStringAsn1::from(cipher)),
        };
        let ap_req = ApReq::from(ApReqInner {
            pvno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
            msg_type: ExplicitContextTag1::from(IntegerAsn1::from(vec![14])),
            ap_options: ExplicitContextTag2::from(BitStringAsn1::from(BitString::with_bytes(
                vec![0x20, 0, 0, 0],
            ))),
            ticket: ExplicitContextTag3::from(picky_krb::data_types::Ticket::from(TicketInner {
                tkt_vno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
                realm: ExplicitContextTag1::from(kstring("VPRO.TEST")),
                sname: ExplicitContextTag2::from(name(&["HTTP", "amt.vpro.test:16992"])),
                enc_part: ExplicitContextTag3::from(encrypted(&self.key, enc_part)),
            })),
            authenticator: ExplicitContextTag4::from(encrypted(&self.session, auth)),
        });
        gss::wrap_ap_req(&picky_asn1_der::to_vec(&ap_req).unwrap(), self.spnego)
    }
}

fn accept_at(ticket: &Ticket, state: &DeviceState) -> Result<Accepted, Refusal> {
    accept(&settings(), &ticket.token(), NOW, state)
}

#[test]
fn a_good_ticket_gives_the_users_and_groups_sids_and_an_ap_rep() {
    for spnego in [true, false] {
        let ticket = Ticket {
            spnego,
            ..Ticket::default()
        };
        let accepted = accept_at(&ticket, &DeviceState::default()).unwrap();
        assert_eq!(accepted.client, "bob@VPRO.TEST");
        let mut extra = vec![1, 2, 0, 0, 0, 0, 0, 5];
        extra.extend(32u32.to_le_bytes());
        extra.extend(544u32.to_le_bytes());
        assert_eq!(
            accepted.sids,
            vec![
                domain_sid(Some(1104)),
                domain_sid(Some(513)),
                domain_sid(Some(1200)),
                extra
            ]
        );
        // The reply is framed as the request, and its AP-REP opens with
        // the session key and echoes the authenticator's time.
        let reply = &accepted.reply;
        let ap_rep_at = if spnego {
            assert_eq!(reply[0], 0xa1);
            reply.windows(2).position(|w| w == [0x02, 0x00]).unwrap() + 2
        } else {
            assert_eq!(reply[0], 0x60);
            2 + 11 + 2
        };
        let ap_rep: ApRep = picky_asn1_der::from_bytes(&reply[ap_rep_at..]).unwrap();
        let plain = ticket
            .session
            .decrypt(key_usages::AP_REP_ENC, &ap_rep.0.enc_part.0.cipher.0.0)
            .unwrap();
        let part: EncApRepPart = picky_asn1_der::from_bytes(&plain).unwrap();
        assert_eq!(seconds(&part.0.ctime.0.0).unwrap(), NOW as i64);
    }
}

#[test]
fn aes128_and_rc4_tickets_open_with_their_keys() {
    for (etype, session, signature) in [
        (
            keys::AES128,
            Key::session(keys::AES128, &[5; 16]).unwrap(),
            15,
        ),
        (
            keys::RC4_HMAC,
            Key::session(keys::RC4_HMAC, &[5; 16]).unwrap(),
            -138,
        ),
    ] {
        let key = service_key(etype);
        let ticket = Ticket {
            pac: Some(pac(&key, signature)),
            key,
            session,
            ..Ticket::default()
        };
        let accepted = accept_at(&ticket, &DeviceState::default()).unwrap();
        assert_eq!(accepted.sids[0], domain_sid(Some(1104)), "etype {etype}");
    }
    // The RC4 key is AMT's MasterKey when one is set.
    let master = KerberosSettings {
        master_key: Some(keys::nt_hash(PASSPHRASE).to_vec()),
        passphrase: None,
        ..settings()
    };
    let key = Key::device(&master, keys::RC4_HMAC).unwrap();
    let ticket = Ticket {
        pac: Some(pac(&key, -138)),
        key,
        ..Ticket::default()
    };
    accept(&master, &ticket.token(), NOW, &DeviceState::default()).unwrap();
    // A PAC signed with the right key but claiming another type: refused.
    let key = service_key(keys::AES128);
    let mislabelled = Ticket {
        pac: Some(pac(&key, 16)),
        key,
        ..Ticket::default()
    };
    assert_eq!(
        accept_at(&mislabelled, &DeviceState::default()),
        Err(Refusal::Pac(pac::PacError::SignatureType))
    );
}

#[test]
fn the_nt_hash_is_md4_of_utf16() {
    // The well-known NT hash of "password".
    let hash = keys::nt_hash("password");
    assert_eq!(
        amtemu_wire::hex::hex_lower(&hash),
        "8846f7eaee8fb117ad06bdd830b7586c"
    );
}

#[test]
fn replayed_authenticators_are_refused_and_new_ones_accepted() {
    let state = DeviceState::default();
    let ticket = Ticket::default();
    accept_at(&ticket, &state).unwrap();
    assert_eq!(accept_at(&ticket, &state), Err(Refusal::Replay));
    let next = Ticket {
        cusec: 2,
        ..ticket.clone()
    };
    accept_at(&next, &state).unwrap();
    // Another device's cache knows nothing of it.
    accept_at(&ticket, &DeviceState::default()).unwrap();
}

#[test]
fn times_beyond_the_tolerance_are_refused() {
    let state = DeviceState::default();
    let expired = Ticket {
        end: NOW - 6 * 60,
        ..Ticket::default()
    };
    assert_eq!(accept_at(&expired, &state), Err(Refusal::Expired));
    let early = Ticket {
        start: NOW + 6 * 60,
        ..Ticket::default()
    };
    assert_eq!(accept_at(&early, &state), Err(Refusal::NotYetValid));
    let skewed = Ticket {
        ctime: NOW - 301,
        ..Ticket::default()
    };
    assert_eq!(accept_at(&skewed, &state), Err(Refusal::Skew(-301)));
    // Within the tolerance both ways: accepted.
    let late = Ticket {
        ctime: NOW + 299,
        end: NOW - 60,
        ..Ticket::default()
    };
    accept_at(&late, &state).unwrap();
}

#[test]
fn a_ticket_for_another_key_or_a_bad_pac_is_refused() {
    let state = DeviceState::default();
    let other = Ticket {
        key: Key::session(keys::AES256, &[9; 32]).unwrap(),
        ..Ticket::default()
    };
    assert_eq!(accept_at(&other, &state), Err(Refusal::WrongKey));
    let forged = Ticket {
        pac: Some(pac(&Key::session(keys::AES256, &[9; 32]).unwrap(), 16)),
        ..Ticket::default()
    };
    assert_eq!(
        accept_at(&forged, &state),
        Err(Refusal::Pac(pac::PacError::BadSignature))
    );
    let mut tampered = pac(&service_key(keys::AES256), 16);
    // A group RID changed after signing.
    let at = tampered.len() - 60;
    tampered[at] ^= 1;
    let tampered = Ticket {
        pac: Some(tampered),
        cusec: 3,
        ..Ticket::default()
    };
    assert!(matches!(accept_at(&tampered, &state), Err(Refusal::Pac(_))));
    let none = Ticket {
        pac: None,
        cusec: 4,
        ..Ticket::default()
    };
    assert_eq!(accept_at(&none, &state), Err(Refusal::NoPac));
}

#[test]
fn tokens_that_are_not_kerberos_are_refused() {
    let state = DeviceState::default();
    let refuse = |token: &[u8]| accept(&settings(), token, NOW, &state);
    // NTLM, bare and inside SPNEGO (mechType NTLMSSP first).
    assert_eq!(
        refuse(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2"),
        Err(Refusal::Framing(FramingError::NotKerberos))
    );
    let ntlm_spnego = [
        0x60, 0x1c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x12, 0x30, 0x10, 0xa0,
        0x0e, 0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
    ];
    assert_eq!(
        refuse(&ntlm_spnego),
        Err(Refusal::Framing(FramingError::NotKerberos))
    );
    // Empty, garbage, and every truncation of a good token.
    assert!(refuse(b"").is_err());
    assert!(refuse(b"\x60\x80garbage").is_err());
    let good = Ticket::default().token();
    for len in 0..good.len() {
        assert!(refuse(&good[..len]).is_err(), "truncated to {len}");
    }
    // Kerberos off: nothing is accepted.
    let off = KerberosSettings {
        enabled: false,
        ..settings()
    };
    assert_eq!(accept(&off, &good, NOW, &state), Err(Refusal::Disabled));
    // No AES key without a passphrase.
    let no_key = KerberosSettings {
        passphrase: None,
        master_key: Some(vec![1; 16]),
        ..settings()
    };
    assert_eq!(accept(&no_key, &good, NOW, &state), Err(Refusal::NoKey(18)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes: refused or accepted, never a panic.
    #[test]
    fn arbitrary_tokens_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = accept(&settings(), &bytes, NOW, &DeviceState::default());
    }

    /// A good token with one byte changed: never a panic.
    #[test]
    fn mutated_tokens_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        static GOOD: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| Ticket::default().token());
        let mut token = GOOD.clone();
        let i = at.index(token.len());
        token[i] = byte;
        let _ = accept(&settings(), &token, NOW, &DeviceState::default());
    }

    /// Any bytes as logon info or as a PAC: an error at worst.
    #[test]
    fn arbitrary_pacs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = pac::logon_info_sids(&bytes);
        let _ = pac::verified_sids(&bytes, &Key::session(keys::AES256, &[0; 32]).unwrap());
        let _ = pac::verified_sids(&bytes, &Key::Rc4([0; 16]));
    }
}

#[test]
fn derived_keys_follow_the_configured_passphrase() {
    let state = DeviceState::default();
    accept_at(&Ticket::default(), &state).unwrap();
    // The passphrase changed: the remembered key no longer opens tickets
    // for the old one.
    let changed = KerberosSettings {
        passphrase: Some("another".into()),
        ..settings()
    };
    let ticket = Ticket {
        cusec: 9,
        ..Ticket::default()
    };
    assert_eq!(
        accept(&changed, &ticket.token(), NOW, &state),
        Err(Refusal::WrongKey)
    );
    // And back.
    accept(&settings(), &ticket.token(), NOW, &state).unwrap();
}
