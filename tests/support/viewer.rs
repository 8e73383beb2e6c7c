//! A KVM console for tests that speaks the wire itself: RFB per RFC 6143
//! with Raw encoding only, the KVMR start on the redirection port, and the
//! WS-Man Put that switches port 5900 on. Shared by the KVM, CIRA and QEMU
//! host tests so that each checks the device, not its own copy of a viewer.
//! Only the VNC DES response comes from amtemu-rfb.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{ACTION_PUT, Client, PASSWORD, Response, USER, envelope};

/// AMT's KVM screen: 720x400.
pub const WIDTH: usize = 720;
pub const HEIGHT: usize = 400;

/// How long a read may wait for the device.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// An RFB client on a TCP stream, keeping the screen as the RGB565 values
/// AMT sends.
pub struct Viewer {
    stream: TcpStream,
    buf: Vec<u8>,
    pub screen: Vec<u16>,
}

impl Viewer {
    pub fn new(stream: TcpStream) -> Viewer {
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Viewer {
            stream,
            buf: Vec::new(),
            screen: vec![0; WIDTH * HEIGHT],
        }
    }

    pub fn connect(addr: SocketAddr) -> Viewer {
        Viewer::new(TcpStream::connect(addr).expect("the device accepts"))
    }

    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 65536];
            let got = self.stream.read(&mut chunk).expect("the device answers");
            assert!(got > 0, "the device closed");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("sent");
    }

    /// Whether the device closes the connection (reading and dropping
    /// anything it still sends).
    pub fn closed(&mut self) -> bool {
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

    /// VNC authentication after the server's version banner was read:
    /// RFB 3.8, security type 2, the DES response; the SecurityResult.
    pub fn vnc_auth(&mut self, password: &[u8]) -> u32 {
        self.send(b"RFB 003.008\n");
        assert_eq!(self.take(2), [1, 2], "VNC authentication");
        self.send(&[2]);
        let challenge: [u8; 16] = self.take(16).try_into().unwrap();
        self.send(&amtemu_rfb::vnc_auth_response(password, &challenge));
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    /// ClientInit → ServerInit, checking AMT's announcement; then Raw
    /// encoding only.
    pub fn init(&mut self) {
        self.send(&[1]);
        let head = self.take(24);
        assert_eq!(&head[..4], [2, 0xD0, 1, 0x90], "720x400");
        assert_eq!(
            &head[4..20],
            [16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0],
            "RGB565 little-endian"
        );
        let n = u32::from_be_bytes(head[20..24].try_into().unwrap()) as usize;
        assert_eq!(self.take(n), b"Intel(r) AMT KVM");
        self.send(&[2, 0, 0, 1, 0, 0, 0, 0]);
    }

    /// Asks for an update of the whole screen and applies it.
    pub fn update(&mut self, incremental: bool) {
        self.send(&[3, u8::from(incremental), 0, 0, 0, 0, 2, 0xD0, 1, 0x90]);
        loop {
            match self.take(1)[0] {
                0 => break,
                // Bell: AMT rings it for consent prompts.
                2 => continue,
                other => panic!("unexpected server message {other}"),
            }
        }
        let head = self.take(3);
        for _ in 0..u16::from_be_bytes([head[1], head[2]]) {
            let h = self.take(12);
            let v = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
            let (x, y, w, hh) = (v(0), v(2), v(4), v(6));
            assert_eq!(&h[8..12], [0, 0, 0, 0], "Raw");
            assert!(w <= 64 && hh <= 64, "tiles of at most 64x64");
            let data = self.take(w * hh * 2);
            for (i, px) in data.chunks(2).enumerate() {
                self.screen[(y + i / w) * WIDTH + x + i % w] = u16::from_le_bytes([px[0], px[1]]);
            }
        }
    }

    /// Each byte as a key press and release (`\r` as Return).
    pub fn type_text(&mut self, text: &str) {
        for b in text.bytes() {
            let keysym = if b == b'\r' { 0xFF0D } else { u32::from(b) };
            for down in [1, 0] {
                let mut msg = vec![4, down, 0, 0];
                msg.extend_from_slice(&keysym.to_be_bytes());
                self.send(&msg);
            }
        }
    }
}

/// A KVMR session on a redirection port, logged in with plain
/// user/password (as amtterm logs in), up to ServerInit.
pub fn kvmr(addr: SocketAddr) -> Viewer {
    let mut v = Viewer::connect(addr);
    v.send(&[0x10, 1, 0, 0, b'K', b'V', b'M', b'R']);
    assert_eq!(&v.take(13)[..2], [0x11, 0], "KVMR accepted");
    let data = [&[5u8][..], USER.as_bytes(), &[8], PASSWORD.as_bytes()].concat();
    let mut auth = vec![0x13, 0, 0, 0, 1];
    auth.extend_from_slice(&(data.len() as u32).to_le_bytes());
    auth.extend_from_slice(&data);
    v.send(&auth);
    assert_eq!(&v.take(9)[..2], [0x14, 0], "logged in");
    v.send(&[0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(v.take(8)[0], 0x41);
    assert_eq!(v.take(12), b"RFB 004.000\n");
    v.send(b"RFB 003.008\n");
    assert_eq!(v.take(2), [1, 1], "None: the redirection login counts");
    v.send(&[1]);
    assert_eq!(v.take(4), [0, 0, 0, 0]);
    v.init();
    v
}

/// The WS-Man Put a console sends to switch port 5900 on with an RFB
/// password: the instance from a Get with the switch on and the
/// (write-only, read back empty) password filled in.
pub fn enable_5900(client: &mut Client, password: &str) -> Response {
    const CLASS: &str = "IPS_KVMRedirectionSettingData";
    let body = client
        .instance_for_put(CLASS)
        .replace(
            "<r:Is5900PortEnabled>false</r:Is5900PortEnabled>",
            "<r:Is5900PortEnabled>true</r:Is5900PortEnabled>",
        )
        .replace("<r:RFBPassword></r:RFBPassword>", "<r:RFBPassword/>")
        .replace(
            "<r:RFBPassword/>",
            &format!("<r:RFBPassword>{password}</r:RFBPassword>"),
        );
    assert!(body.contains(password), "{body}");
    let id = client.next_message_id();
    client.post(&envelope(ACTION_PUT, CLASS, &id, "", &body))
}

/// The WS-Man Put that turns user consent off (`OptInRequired` 0).
pub fn no_consent_needed(client: &mut Client) {
    let r = client.put_edited(
        "IPS_OptInService",
        "<r:OptInRequired>1</r:OptInRequired>",
        "<r:OptInRequired>0</r:OptInRequired>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
