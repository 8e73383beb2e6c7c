//! KVM figures against the real binary over loopback: one KVMR session per
//! device of a fleet of AMTEMU_BENCH_KVM_SESSIONS devices (1000), all open
//! at once with the whole screen sent; then each types a key at its login
//! prompt and times the update that carries the echo (p50/p99 one session
//! at a time, then all sessions typing together), with the emulator's
//! resident memory idle and with the sessions.
//!
//!     cargo bench --bench kvm_fleet
//!
//! Consent is switched off per device over WS-Man first (firmware 6.2+
//! asks for it for KVM by default). Needs about six descriptors per
//! device on each side: raise `ulimit -n` for large fleets.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{Client, Emulator, PASSWORD, USER};

struct Viewer {
    stream: TcpStream,
    buf: Vec<u8>,
    bytes: usize,
}

impl Viewer {
    fn take(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 65536];
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.bytes += got;
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// KVMR with plain login, RFB handshake, Intel RLE then Raw, and the
    /// whole screen.
    fn open(addr: SocketAddr) -> std::io::Result<Viewer> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut v = Viewer {
            stream,
            buf: Vec::new(),
            bytes: 0,
        };
        v.stream
            .write_all(&[0x10, 1, 0, 0, b'K', b'V', b'M', b'R'])?;
        if v.take(13)?[1] != 0 {
            return Err(std::io::Error::other("KVMR refused"));
        }
        let data = [
            &[USER.len() as u8][..],
            USER.as_bytes(),
            &[PASSWORD.len() as u8],
            PASSWORD.as_bytes(),
        ]
        .concat();
        let mut auth = vec![0x13, 0, 0, 0, 1];
        auth.extend_from_slice(&(data.len() as u32).to_le_bytes());
        auth.extend_from_slice(&data);
        v.stream.write_all(&auth)?;
        if v.take(9)?[1] != 0 {
            return Err(std::io::Error::other("login refused"));
        }
        v.stream.write_all(&[0x40, 0, 0, 0, 0, 0, 0, 0])?;
        v.take(8)?;
        v.take(12)?;
        v.stream.write_all(b"RFB 003.008\n")?;
        v.take(2)?;
        v.stream.write_all(&[1])?;
        v.take(4)?;
        v.stream.write_all(&[1])?;
        let head = v.take(24)?;
        let n = u32::from_be_bytes(head[20..24].try_into().unwrap()) as usize;
        v.take(n)?;
        v.stream.write_all(&[2, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0])?;
        v.request(false)?;
        v.update()?;
        Ok(v)
    }

    fn request(&mut self, incremental: bool) -> std::io::Result<()> {
        self.stream
            .write_all(&[3, u8::from(incremental), 0, 0, 0, 0, 2, 0xD0, 1, 0x90])
    }

    fn key(&mut self, keysym: u8) -> std::io::Result<()> {
        let mut msg = Vec::new();
        for down in [1, 0] {
            msg.extend_from_slice(&[4, down, 0, 0, 0, 0, 0, keysym]);
        }
        self.stream.write_all(&msg)?;
        self.request(true)
    }

    /// Reads one FramebufferUpdate (Raw or Intel RLE rectangles).
    fn update(&mut self) -> std::io::Result<usize> {
        while self.take(1)?[0] == 2 {}
        let head = self.take(3)?;
        let count = u16::from_be_bytes([head[1], head[2]]);
        for _ in 0..count {
            let h = self.take(12)?;
            let (w, hh) = (
                usize::from(u16::from_be_bytes([h[4], h[5]])),
                usize::from(u16::from_be_bytes([h[6], h[7]])),
            );
            match i32::from_be_bytes(h[8..12].try_into().unwrap()) {
                0 => {
                    self.take(w * hh * 2)?;
                }
                16 => {
                    let len = u32::from_be_bytes(self.take(4)?.try_into().unwrap());
                    self.take(len as usize)?;
                }
                other => return Err(std::io::Error::other(format!("encoding {other}"))),
            }
        }
        Ok(usize::from(count))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Resident memory of the emulator (the bench's only amtemu child).
fn emulator_rss_kib() -> Option<u64> {
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        if stat.contains("(amtemu)") && fields.get(1) == Some(&me.as_str()) {
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            return line.split_whitespace().nth(1)?.parse().ok();
        }
    }
    None
}

fn main() {
    let count: usize = std::env::var("AMTEMU_BENCH_KVM_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let first = Ipv4Addr::new(127, 91, 0, 1);
    let args: Vec<String> = [
        "fleet",
        "--count",
        &count.to_string(),
        "--firmware",
        "11.8",
        "--vnc-port",
        "0",
        "--first-address",
        &first.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let emu = Emulator::launch(args, SocketAddr::from((first, 16992)));
    let addrs: Vec<Ipv4Addr> = (0..count)
        .map(
            |i| match amtemu_server::fleet::slot(first, None, Default::default(), i) {
                Ok((std::net::IpAddr::V4(ip), _)) => ip,
                other => panic!("slot {i}: {other:?}"),
            },
        )
        .collect();
    for ip in &addrs {
        let r = Client::new(SocketAddr::from((*ip, 16992)), USER, PASSWORD).put_edited(
            "IPS_OptInService",
            "<r:OptInRequired>1</r:OptInRequired>",
            "<r:OptInRequired>0</r:OptInRequired>",
        );
        assert_eq!(r.status, 200, "consent off on {ip}");
    }
    // Let the hosts reach their login prompts.
    std::thread::sleep(Duration::from_secs(3));
    let idle_rss = emulator_rss_kib();
    let started = Instant::now();
    let mut viewers: Vec<Viewer> = addrs
        .iter()
        .filter_map(|ip| Viewer::open(SocketAddr::from((*ip, 16994))).ok())
        .collect();
    let opened = started.elapsed();
    let busy_rss = emulator_rss_kib();
    let first_bytes: usize = viewers.iter().map(|v| v.bytes).sum::<usize>() / viewers.len().max(1);

    // One at a time.
    let mut alone = Vec::new();
    for v in &mut viewers {
        let sent = Instant::now();
        if v.key(b'a').and_then(|_| v.update()).is_ok() {
            alone.push(sent.elapsed());
        }
    }
    // Everyone at once.
    let before: usize = viewers.iter().map(|v| v.bytes).sum();
    let sent = Instant::now();
    for v in &mut viewers {
        let _ = v.key(b'b');
    }
    let mut together = Vec::new();
    for v in &mut viewers {
        if v.update().is_ok() {
            together.push(sent.elapsed());
        }
    }
    let per_update =
        (viewers.iter().map(|v| v.bytes).sum::<usize>() - before) / viewers.len().max(1);
    alone.sort();
    together.sort();
    println!(
        "kvm sessions: {} of {count} devices opened in {:.2} s ({first_bytes} bytes each up to the first screen); emulator RSS {} KiB idle, {} KiB with the sessions",
        viewers.len(),
        opened.as_secs_f64(),
        idle_rss.map_or("?".into(), |k| k.to_string()),
        busy_rss.map_or("?".into(), |k| k.to_string()),
    );
    if !alone.is_empty() {
        println!(
            "kvm keystroke → update, one session at a time ({} keys): p50 {:?}, p99 {:?}",
            alone.len(),
            percentile(&alone, 0.5),
            percentile(&alone, 0.99)
        );
    }
    if !together.is_empty() {
        println!(
            "kvm keystroke → update, all {} sessions at once: p50 {:?}, p99 {:?}, {per_update} bytes per update",
            together.len(),
            percentile(&together, 0.5),
            percentile(&together, 0.99)
        );
    }
    drop(emu);
}
