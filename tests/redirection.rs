//! The redirection protocol on 16994 against the real binary, with a raw
//! console written from the wire layouts (not from the emulator's codec):
//! the handshake with each authentication method, refusals, malformed
//! input, vanishing consoles, SOL data and an IDE-R read round trip.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::*;

const REDIRECTION_PORT: u16 = 16994;

/// Starts a device in ACM with MEBx's default consent policy (KVM only), so
/// SOL and IDE-R start without a consent code.
fn device(extra: &[&str]) -> Emulator {
    Emulator::start(extra)
}

fn redirection_addr(emu: &Emulator) -> SocketAddr {
    SocketAddr::new(emu.addr.ip(), REDIRECTION_PORT)
}

/// A console speaking the protocol byte by byte.
struct Console {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The length of the device message at the front of `b`, once known.
fn device_message_len(b: &[u8]) -> Option<usize> {
    let len = match *b.first()? {
        0x11 => 13 + usize::from(*b.get(12)?),
        0x14 => 9 + u32_at(b.get(..9)?, 5) as usize,
        0x21 => 23,
        0x23 | 0x2B | 0x43 | 0x44 | 0x45 | 0x4B => 8,
        0x29 => 10,
        0x2A => 10 + u16_at(b.get(..10)?, 8),
        0x41 => 30 + usize::from(*b.get(29)?),
        0x46 => 9,
        0x49 => 13,
        0x4A => 11,
        0x50 => 28,
        0x53 => 14 + u16_at(b.get(..11)?, 9),
        other => panic!("the device sent unknown type {other:#04x}"),
    };
    Some(len)
}

impl Console {
    fn connect(addr: SocketAddr) -> Console {
        let stream = TcpStream::connect(addr).expect("the redirection port accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Console {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next device message, whole.
    fn read(&mut self) -> Vec<u8> {
        self.try_read().expect("a message from the device")
    }

    /// The next message, or None when the device closed.
    fn try_read(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(len) = device_message_len(&self.buf)
                && self.buf.len() >= len
            {
                let msg: Vec<u8> = self.buf.drain(..len).collect();
                // Echo heartbeats as amtterm does, so the device hears
                // from an otherwise silent console.
                if msg[0] == 0x2B || msg[0] == 0x4B {
                    self.send(&msg);
                }
                return Some(msg);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading from the device: {e}"),
            }
        }
    }

    /// The next message that is not a heartbeat.
    fn read_skipping_heartbeats(&mut self) -> Vec<u8> {
        loop {
            let m = self.read();
            if m[0] != 0x2B && m[0] != 0x4B {
                return m;
            }
        }
    }

    /// Whether the device closes the connection (reading what it still
    /// sends first).
    fn closed(&mut self) -> bool {
        self.buf.clear();
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    fn start(&mut self, kind: &[u8; 4]) -> u8 {
        let mut msg = vec![0x10, 0, 0, 0];
        msg.extend_from_slice(kind);
        self.send(&msg);
        let reply = self.read();
        assert_eq!(reply.len(), 13, "amtterm consumes exactly 13 bytes");
        assert_eq!(reply[0], 0x11);
        reply[1]
    }

    /// amtterm 1.4's plain authentication, its length field as it writes it.
    fn plain(&mut self, user: &str, password: &str) -> Vec<u8> {
        let mut data = vec![user.len() as u8];
        data.extend_from_slice(user.as_bytes());
        data.push(password.len() as u8);
        data.extend_from_slice(password.as_bytes());
        let mut msg = vec![0x13, 0, 0, 0, 1, data.len() as u8, 0, 0, 0];
        msg.extend_from_slice(&data);
        self.send(&msg);
        self.read()
    }

    fn query(&mut self) -> Vec<u8> {
        self.send(&[0x13, 0, 0, 0, 0, 0, 0, 0, 0]);
        let reply = self.read();
        assert_eq!(&reply[..5], &[0x14, 0, 0, 0, 0]);
        reply[9..].to_vec()
    }

    fn auth(&mut self, auth_type: u8, fields: &[&str]) -> Vec<u8> {
        let mut data = Vec::new();
        for f in fields {
            data.push(f.len() as u8);
            data.extend_from_slice(f.as_bytes());
        }
        let mut msg = vec![0x13, 0, 0, 0, auth_type];
        msg.extend_from_slice(&(data.len() as u32).to_le_bytes());
        msg.extend_from_slice(&data);
        self.send(&msg);
        self.read()
    }

    /// The digest exchange (type 4 with qop, or 3 without); returns the
    /// final 0x14.
    fn digest(&mut self, auth_type: u8, user: &str, password: &str) -> Vec<u8> {
        let uri = "/RedirectionService";
        let n = if auth_type == 4 { 8 } else { 7 };
        let challenge = self.auth(auth_type, &[user, "", "", uri, "", "", "", ""][..n]);
        assert_eq!(&challenge[..5], &[0x14, 1, 0, 0, auth_type], "a challenge");
        let mut fields = Vec::new();
        let mut rest = &challenge[9..];
        while let Some((&len, tail)) = rest.split_first() {
            fields.push(String::from_utf8(tail[..usize::from(len)].to_vec()).unwrap());
            rest = &tail[usize::from(len)..];
        }
        let (realm, nonce) = (fields[0].clone(), fields[1].clone());
        assert!(realm.starts_with("Digest:") && realm.len() <= 64);
        assert!(nonce.len() <= 32, "amtterm refuses longer nonces");
        if auth_type == 4 {
            assert_eq!(fields[2], "auth");
        } else {
            assert_eq!(fields.len(), 2);
        }
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("POST:{uri}"));
        let cnonce = "9a7c3b1e5d2f4a6b8c0e1f2a3b4c5d6e";
        let nc = "00000002";
        let response = if auth_type == 4 {
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
        } else {
            md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
        };
        self.auth(
            auth_type,
            &[user, &realm, &nonce, uri, cnonce, nc, &response, "auth"][..n],
        )
    }

    /// StartSOLRedirection with amtterm's values; returns the 0x21 reply.
    fn start_sol(&mut self) -> Vec<u8> {
        self.send(&[
            0x20, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 0x64, 0, 0, 0, 0x10, 0x27, 0, 0, 0x88, 0x13, 0,
            0, 0, 0,
        ]);
        self.read()
    }

    fn type_keys(&mut self, keys: &[u8]) {
        let mut msg = vec![0x28, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&(keys.len() as u16).to_le_bytes());
        msg.extend_from_slice(keys);
        self.send(&msg);
    }

    /// Host output until `needle` appears (or the limit passes).
    fn sol_text_until(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut text = String::new();
        while Instant::now() < deadline && !text.contains(needle) {
            let m = self.read();
            if m[0] == 0x2A {
                text.push_str(&String::from_utf8_lossy(&m[10..]));
            }
        }
        text
    }
}

/// An authenticated SOL console with its 0x21 and first 0x29 read.
fn sol_session(addr: SocketAddr) -> Console {
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 0);
    assert_eq!(&c.digest(4, USER, PASSWORD)[..2], &[0x14, 0]);
    let started = c.start_sol();
    assert_eq!((started[0], started[1], started.len()), (0x21, 0, 23));
    let controls = c.read_skipping_heartbeats();
    assert_eq!(controls[0], 0x29);
    c
}

#[test]
fn sol_handshake_with_digest_types_4_and_3_then_host_text_and_typing() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    for auth_type in [4u8, 3] {
        let mut c = Console::connect(addr);
        assert_eq!(c.start(b"SOL "), 0);
        let methods = c.query();
        assert!(methods.contains(&4) && methods.contains(&3), "{methods:?}");
        assert!(methods.iter().all(|&m| m != 0 && m < 32), "amtterm's check");
        let done = c.digest(auth_type, USER, PASSWORD);
        assert_eq!(done, [0x14, 0, 0, 0, auth_type, 0, 0, 0, 0]);
        let started = c.start_sol();
        assert_eq!((started[0], started[1], started.len()), (0x21, 0, 23));
        assert_eq!(started[22], 0, "no OEM data");
        let controls = c.read_skipping_heartbeats();
        assert_eq!(controls.len(), 10);
        assert_eq!(controls[9] & 4, 4, "the host is powered on");
        // The console ends as amtterm does: 0x22, then 0x12 after 0x23.
        c.send(&[0x22, 0, 0, 0, 0, 0, 0, 0]);
        loop {
            let m = c.read();
            if m[0] == 0x23 {
                break;
            }
            assert!(matches!(m[0], 0x29..=0x2B), "{m:?}");
        }
        c.send(&[0x12, 0, 0, 0]);
        assert!(c.closed());
    }
}

#[test]
fn amtterm_1_4_plain_authentication_sees_the_host_and_types() {
    let emu = device(&[]);
    let mut c = Console::connect(redirection_addr(&emu));
    assert_eq!(c.start(b"SOL "), 0);
    assert_eq!(c.plain(USER, PASSWORD), [0x14, 0, 0, 0, 1, 0, 0, 0, 0]);
    let started = c.start_sol();
    assert_eq!((started[0], started[1]), (0x21, 0));
    // The host is running: its console shows a login prompt sooner or
    // later; pressing Enter asks for it again.
    c.type_keys(b"\r");
    let text = c.sol_text_until("login:", Duration::from_secs(20));
    assert!(text.contains("login:"), "host output: {text:?}");
}

#[test]
fn plain_authentication_can_be_switched_off() {
    let emu = device(&["--no-redirection-plain-auth"]);
    let mut c = Console::connect(redirection_addr(&emu));
    assert_eq!(c.start(b"SOL "), 0);
    assert!(!c.query().contains(&1));
    // Type 1 is "not supported" (status 2); the console may try another.
    assert_eq!(c.plain(USER, PASSWORD)[..2], [0x14, 2]);
    assert_eq!(&c.digest(4, USER, PASSWORD)[..2], &[0x14, 0]);
}

#[test]
fn a_wrong_password_fails_once_and_closes_and_counts_towards_lockout() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    for _ in 0..10 {
        let mut c = Console::connect(addr);
        assert_eq!(c.start(b"SOL "), 0);
        assert_eq!(
            c.digest(4, USER, "Wr0ng-Pass"),
            [0x14, 1, 0, 0, 4, 0, 0, 0, 0],
            "failure without a new challenge"
        );
        assert!(c.closed());
    }
    // Ten failures lock the account: now even the right password is refused.
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 0);
    assert_eq!(c.digest(4, USER, PASSWORD)[..2], [0x14, 1]);
    assert!(c.closed());
}

#[test]
fn a_second_sol_session_is_busy_until_the_first_console_vanishes() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    let first = sol_session(addr);
    let mut second = Console::connect(addr);
    assert_eq!(second.start(b"SOL "), 2, "busy");
    assert!(second.closed());
    // IDE-R is a separate slot.
    let mut ider = Console::connect(addr);
    assert_eq!(ider.start(b"IDER"), 0);
    // The first console disappears without a goodbye.
    drop(first);
    assert!(eventually(Duration::from_secs(10), || {
        let mut c = Console::connect(addr);
        c.start(b"SOL ") == 0
    }));
}

#[test]
fn a_start_without_a_login_keeps_no_console_out() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    // Someone without credentials asks for SOL and then says nothing.
    let mut squatter = Console::connect(addr);
    assert_eq!(squatter.start(b"SOL "), 0);
    // A console with credentials still gets the session...
    let _console = sol_session(addr);
    // ...and the squatter, were it to log in now, finds it taken.
    assert_eq!(squatter.digest(4, USER, PASSWORD)[..2], [0x14, 1]);
    assert!(squatter.closed());
}

#[test]
fn a_connection_that_never_logs_in_is_closed_at_the_login_deadline() {
    let emu = device(&[]);
    let mut c = Console::connect(redirection_addr(&emu));
    assert_eq!(c.start(b"SOL "), 0);
    // closed() waits up to its 15 s read timeout: the device must close
    // first (its login deadline is 10 s; the whole handshake has 60).
    assert!(c.closed(), "still open after 15 s without a login");
}

#[test]
fn only_a_few_connections_per_device_may_wait_to_log_in() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    let mut waiting: Vec<Console> = (0..4)
        .map(|_| {
            let mut c = Console::connect(addr);
            assert_eq!(c.start(b"IDER"), 0);
            c
        })
        .collect();
    // The fifth is closed before it hears anything.
    let mut fifth = Console::connect(addr);
    fifth.send(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' ']);
    assert_eq!(fifth.try_read(), None, "the fifth was answered");
    // One logs in, which frees its place for the next.
    assert_eq!(&waiting[0].digest(4, USER, PASSWORD)[..2], &[0x14, 0]);
    let mut next = Console::connect(addr);
    assert_eq!(next.start(b"SOL "), 0);
    // And another device is not affected by this one's queue.
    let other = device(&[]);
    let _ = sol_session(redirection_addr(&other));
    waiting.clear();
}

#[test]
fn disabled_sol_and_kvm_are_unsupported_and_consent_for_all_is_enforced() {
    let emu = Emulator::start(&[]);
    let addr = redirection_addr(&emu);
    // ACM with MEBx's default policy (consent for KVM only): SOL opens.
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 0);
    drop(c);
    // Consent for all redirection, none given: refused.
    let r = emu.client().put_edited(
        "IPS_OptInService",
        "<r:OptInRequired>1</r:OptInRequired>",
        "<r:OptInRequired>4294967295</r:OptInRequired>",
    );
    assert_eq!(r.status, 200);
    assert!(eventually(Duration::from_secs(10), || {
        let mut c = Console::connect(addr);
        c.start(b"SOL ") == 3 && c.closed()
    }));
    let r = emu.client().put_edited(
        "IPS_OptInService",
        "<r:OptInRequired>4294967295</r:OptInRequired>",
        "<r:OptInRequired>0</r:OptInRequired>",
    );
    assert_eq!(r.status, 200);
    // EnabledState 32769: IDE-R only.
    let r = emu.client().invoke(
        "AMT_RedirectionService",
        "RequestStateChange",
        "",
        "<h:RequestedState>32769</h:RequestedState>",
    );
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 3);
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"IDER"), 0);
    // KVM with no consent asked for opens (its own tests are in kvm.rs).
    let mut c = Console::connect(addr);
    c.send(&[0x10, 1, 0, 0, b'K', b'V', b'M', b'R']);
    assert_eq!(c.read()[1], 0, "KVM opens when no consent is asked");
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"ABCD"), 1, "unknown session type");
}

#[test]
fn a_disabled_listener_closes_at_once() {
    let emu = device(&[]);
    let r = emu.client().put_edited(
        "AMT_RedirectionService",
        "<r:ListenerEnabled>true</r:ListenerEnabled>",
        "<r:ListenerEnabled>false</r:ListenerEnabled>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut c = Console::connect(redirection_addr(&emu));
    let _ = c.stream.write_all(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' ']);
    assert!(c.closed());
}

#[test]
fn an_unprovisioned_device_closes_at_once() {
    let emu = Emulator::start(&["--provisioning", "pre"]);
    let mut c = Console::connect(redirection_addr(&emu));
    let _ = c.stream.write_all(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' ']);
    assert!(c.closed());
}

#[test]
fn malformed_input_closes_the_connection_and_nothing_else() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    // An unknown type byte before anything else.
    let mut c = Console::connect(addr);
    c.send(&[0x99, 0, 0, 0, 0, 0, 0, 0]);
    assert!(c.closed());
    // An authentication length far beyond any ticket.
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 0);
    c.send(&[0x13, 0, 0, 0, 4, 0xF0, 0xFF, 0xFF, 0xFF]);
    assert!(c.closed());
    // An unknown type in the middle of a SOL session.
    let mut c = sol_session(addr);
    c.send(&[0x77, 0, 0, 0, 0, 0, 0, 0]);
    assert!(c.closed());
    // A message out of order (SOL data before authenticating).
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"SOL "), 0);
    c.send(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'x']);
    assert!(c.closed());
    // The device is fine: a session and WS-Man still work.
    drop(sol_session(addr));
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

fn request_power(emu: &Emulator, state: u32) {
    let r = emu.client().request_power(state);
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
}

/// A 2048-byte ISO 9660 primary volume descriptor with a label.
fn iso_pvd(label: &str) -> Vec<u8> {
    let mut block = vec![0u8; 2048];
    block[0] = 1;
    block[1..6].copy_from_slice(b"CD001");
    block[6] = 1;
    let mut id = [b' '; 32];
    id[..label.len()].copy_from_slice(label.as_bytes());
    block[40..72].copy_from_slice(&id);
    block
}

/// 0x54 with the final chunk flag, as MeshCommander builds it.
fn data_to_host(seq: u32, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x54, 0, 0, 2];
    m.extend_from_slice(&seq.to_le_bytes());
    m.push(0);
    m.extend_from_slice(&(data.len() as u16).to_le_bytes());
    m.push(0);
    m.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0xB0, 0x58]);
    m.extend_from_slice(&[0x85, 0, 3, 0, 0, 0, 0xB0, 0x50]);
    m.extend_from_slice(&[0; 6]);
    m.extend_from_slice(data);
    m
}

/// 0x51 good status.
fn command_end(seq: u32) -> Vec<u8> {
    let mut m = vec![0x51, 0, 0, 2];
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&[0; 12]);
    m.extend_from_slice(&[0x85, 0, 3, 0, 0, 0, 0xB0, 0x50]);
    m.extend_from_slice(&[0; 3]);
    m
}

#[test]
fn ide_r_serves_the_booting_host_a_cd_image() {
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    let mut c = Console::connect(addr);
    assert_eq!(c.start(b"IDER"), 0);
    assert_eq!(&c.digest(4, USER, PASSWORD)[..2], &[0x14, 0]);
    // MeshCommander's 0x40: rx 30000, tx 0, heartbeat 20000, version 1.
    c.send(&[
        0x40, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x75, 0, 0, 0x20, 0x4E, 1, 0, 0, 0,
    ]);
    let mut expected_seq = 0u32;
    let mut next = |c: &mut Console| {
        let m = c.read();
        assert_eq!(u32_at(&m, 4), expected_seq, "device sequence of {m:?}");
        expected_seq += 1;
        m
    };
    let opened = next(&mut c);
    assert_eq!((opened[0], opened[1], opened.len()), (0x41, 0, 30));
    assert_eq!(u16_at(&opened, 16), 8192);
    assert_eq!(u16_at(&opened, 18), 8192);
    assert_eq!(opened[21], 0, "MeshCommander aborts otherwise");
    // Enable the registers at once (0x01 | 0x18).
    c.send(&[0x48, 0, 0, 0, 1, 0, 0, 0, 3, 0x19, 0, 0, 0]);
    let toggled = next(&mut c);
    assert_eq!(toggled, [0x49, 0, 0, 0, 1, 0, 0, 0, 3, 1, 0, 0, 0]);
    // Boot from IDE-R.
    let r = emu.client().put_edited(
        "AMT_BootSettingData",
        "<r:UseIDER>false</r:UseIDER>",
        "<r:UseIDER>true</r:UseIDER>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    request_power(&emu, 10);
    let mut console_seq = 1u32;
    let mut read_lba = None;
    let mut resets = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read_lba.is_none() && Instant::now() < deadline {
        let m = next(&mut c);
        if m[0] == 0x4B {
            continue;
        }
        if m[0] == 0x46 {
            // The reset under the session; MeshCommander acknowledges.
            assert_eq!(m.len(), 9);
            c.send(&[0x47, 0, 0, 0, 0, 0, 0, 0]);
            resets += 1;
            continue;
        }
        assert_eq!(m[0], 0x50, "{m:?}");
        assert_eq!(m[15], 0xA0, "ATA PACKET");
        let cdb = &m[16..28];
        match cdb[0] {
            0x00 => c.send(&command_end(console_seq)),
            0x25 => {
                let mut cap = Vec::new();
                cap.extend_from_slice(&99u32.to_be_bytes());
                cap.extend_from_slice(&2048u32.to_be_bytes());
                c.send(&data_to_host(console_seq, &cap));
            }
            0x28 => {
                assert_eq!(m[14], 0xB0, "the CD drive");
                let lba = u32::from_be_bytes([cdb[2], cdb[3], cdb[4], cdb[5]]);
                assert_eq!(u16::from_be_bytes([cdb[7], cdb[8]]), 1);
                // One block in two chunks: only the last completes.
                let block = iso_pvd("EMU_TEST_CD");
                let mut first = data_to_host(console_seq, &block[..1024]);
                first[3] = 0;
                c.send(&first);
                console_seq += 1;
                c.send(&data_to_host(console_seq, &block[1024..]));
                read_lba = Some(lba);
            }
            other => panic!("unexpected CDB {other:#04x}"),
        }
        console_seq += 1;
    }
    assert_eq!(read_lba, Some(16), "the host reads the volume descriptor");
    assert_eq!(resets, 1, "the reset was reported once");
    // The host found the medium: it says so on its console.
    let mut sol = sol_session(addr);
    let text = sol.sol_text_until("EMU_TEST_CD", Duration::from_secs(20));
    assert!(text.contains("EMU_TEST_CD"), "{text:?}");
    // Ending: 0x42 → 0x43.
    c.send(&[0x42, 0, 0, 0, 0, 0, 0, 0]);
    loop {
        let m = next(&mut c);
        if m[0] == 0x43 {
            break;
        }
    }
}

/// A client driver's first arguments: where the console connects and as
/// whom.
fn driver_login(cmd: &mut std::process::Command, addr: SocketAddr) {
    cmd.args([
        &addr.ip().to_string(),
        &addr.port().to_string(),
        USER,
        PASSWORD,
    ]);
}

/// Driver steps from a login prompt (after waking the console) to the
/// booted host's root shell.
const ROOT_SHELL: &[&str] = &[
    "send:\\r",
    "expect:login:",
    "send:root\\r",
    "expect:Password:",
    "send:amtemu\\r",
    "expect:# ",
];

/// The whole story with Debian's amtterm 1.4 in a pseudo-terminal: the
/// console attaches to a powered-off host, WS-Man powers it on, the POST
/// and boot text arrive, a user logs in, runs a command and powers off,
/// and WS-Man sees the host off.
#[test]
fn amtterm_watches_a_boot_logs_in_and_powers_off() {
    if !client_available(std::path::Path::new("/usr/bin/amtterm").exists(), "amtterm") {
        return;
    }
    let emu = device(&["--power", "s5"]);
    let addr = redirection_addr(&emu);
    let mut cmd = std::process::Command::new(repo().join("tests/clients/amtterm.sh"));
    driver_login(&mut cmd, addr);
    cmd.args([
        "expect:RUN_SOL",
        "expect:AMTEMU BIOS",
        "expect:Reached target",
        "sleep:0.5",
    ]);
    cmd.args(ROOT_SHELL);
    cmd.args([
        "send:uname -a\\r",
        "expect:6.6.0-amtemu",
        "send:poweroff\\r",
        "expect:reboot: Power down",
    ]);
    let driver = std::thread::spawn(move || run_driver(cmd));
    // amtterm holds the device's SOL slot once it is connected.
    assert!(eventually(Duration::from_secs(20), || {
        let mut probe = Console::connect(addr);
        probe.start(b"SOL ") == 2
    }));
    assert_eq!(emu.client().power_state(), "8", "the host starts off");
    request_power(&emu, 2);
    let result = driver.join().expect("the driver thread");
    assert_eq!(result["ok"], true, "{result:#}");
    assert!(
        eventually(Duration::from_secs(10), || emu.client().power_state()
            == "8"),
        "WS-Man sees the host off after the OS shut down"
    );
}

fn meshcommander_redir() -> Option<std::process::Command> {
    let found = clients_prefix()
        .join("node/node_modules/meshcentral/public/scripts/amt-redir-ws-0.1.0.js")
        .exists();
    if !client_available(found, "meshcentral (npm)") {
        return None;
    }
    let mut cmd = std::process::Command::new("node");
    cmd.arg(repo().join("tests/clients/meshcommander-redir.js"))
        .env("OPENSSL_CONF", legacy_openssl_conf());
    Some(cmd)
}

/// MeshCommander's browser SOL terminal stack: digest type 4, 0x27, its own
/// 2-second heartbeats, typing and reading.
#[test]
fn meshcommander_sol_logs_in_and_runs_a_command() {
    let Some(mut cmd) = meshcommander_redir() else {
        return;
    };
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    driver_login(&mut cmd, addr);
    cmd.arg("sol");
    cmd.args(ROOT_SHELL);
    cmd.args([
        "send:cat /etc/hostname\\r",
        "expect:amt-0001",
        // Longer than MeshCommander's heartbeat period.
        "sleep:3",
        "send:echo still-here\\r",
        "expect:still-here\r\n",
    ]);
    let result = run_driver(cmd);
    assert_eq!(result["ok"], true, "{result:#}");
}

/// MeshCommander's browser IDE-R stack serves an ISO the test builds; the
/// host, reset with UseIDER, boots from it (seen on a SOL console).
/// MeshCommander checks every device sequence number and closes on a
/// mismatch, so getting the image read at all proves the numbering.
#[test]
fn meshcommander_ide_r_serves_an_iso_the_host_boots_from() {
    let Some(mut cmd) = meshcommander_redir() else {
        return;
    };
    let emu = device(&[]);
    let addr = redirection_addr(&emu);
    let mut image = vec![0u8; 64 * 2048];
    image[16 * 2048..17 * 2048].copy_from_slice(&iso_pvd("MESH_IDER_ISO"));
    let iso = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ider-{}.iso", std::process::id()));
    std::fs::write(&iso, &image).unwrap();
    driver_login(&mut cmd, addr);
    cmd.args(["ider", iso.to_str().unwrap()]);
    let driver = std::thread::spawn(move || run_driver(cmd));
    assert!(
        eventually(Duration::from_secs(20), || {
            let mut probe = Console::connect(addr);
            probe.start(b"IDER") == 2
        }),
        "MeshCommander holds the IDE-R slot"
    );
    let mut sol = sol_session(addr);
    let r = emu.client().put_edited(
        "AMT_BootSettingData",
        "<r:UseIDER>false</r:UseIDER>",
        "<r:UseIDER>true</r:UseIDER>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    request_power(&emu, 10);
    let text = sol.sol_text_until("MESH_IDER_ISO", Duration::from_secs(30));
    let result = driver.join().expect("the driver thread");
    assert_eq!(result["ok"], true, "{result:#}");
    assert!(
        text.contains("Booting from IDE-R CD-ROM: MESH_IDER_ISO"),
        "{text:?}"
    );
    let _ = std::fs::remove_file(iso);
}

/// The same MeshCommander SOL stack over TLS on 16995, which presents the
/// device's 16993 identity.
#[test]
fn meshcommander_sol_over_tls_on_16995() {
    let Some(mut cmd) = meshcommander_redir() else {
        return;
    };
    let emu = device(&[]);
    cmd.args([
        &emu.addr.ip().to_string(),
        "16995",
        USER,
        PASSWORD,
        "sol",
        "send:\\r",
        "expect:login:",
        "--tls",
    ]);
    let result = run_driver(cmd);
    assert_eq!(result["ok"], true, "{result:#}");
}

/// Firmware from CSME 16.1 on never answers on 16994.
#[test]
fn tls_only_firmware_has_no_plain_redirection_port() {
    let emu = Emulator::start(&["--firmware", "16.1"]);
    let plain = SocketAddr::new(emu.addr.ip(), REDIRECTION_PORT);
    assert!(TcpStream::connect_timeout(&plain, Duration::from_secs(2)).is_err());
    let tls = SocketAddr::new(emu.addr.ip(), 16995);
    assert!(TcpStream::connect_timeout(&tls, Duration::from_secs(2)).is_ok());
}
