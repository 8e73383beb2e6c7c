//! Redirection figures against the real binary over loopback:
//!
//! - keystroke echo latency: a SOL console sends one key (0x28) and times
//!   the host's echo (0x2A), p50/p99 over AMTEMU_BENCH_KEYS keys (1000), with
//!   the console asking for no output coalescing and with amtterm's 100 ms;
//! - concurrent SOL sessions: one console per device of a fleet of
//!   AMTEMU_BENCH_SESSIONS devices (1000), all open at once, each then
//!   typing a key and getting its echo.
//!
//! The fleet needs about five descriptors per device on each side: raise
//! `ulimit -n` in the shell that runs `cargo bench --bench redirection`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{Emulator, PASSWORD, USER};

struct Console {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn message_len(b: &[u8]) -> Option<usize> {
    Some(match *b.first()? {
        0x11 => 13 + usize::from(*b.get(12)?),
        0x14 => {
            let h = b.get(..9)?;
            9 + u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize
        }
        0x21 => 23,
        0x23 | 0x2B => 8,
        0x29 => 10,
        0x2A => {
            let h = b.get(..10)?;
            10 + usize::from(u16::from_le_bytes([h[8], h[9]]))
        }
        other => panic!("unexpected message type {other:#04x}"),
    })
}

impl Console {
    /// Connects, logs in with plain authentication and starts SOL with the
    /// given transmit-buffer timeout.
    fn open(addr: SocketAddr, coalesce_ms: u16) -> std::io::Result<Console> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut c = Console {
            stream,
            buf: Vec::new(),
        };
        c.stream.write_all(b"\x10\0\0\0SOL ")?;
        assert_eq!(c.read()?[1], 0, "session refused");
        let mut auth = vec![0x13, 0, 0, 0, 1, 0, 0, 0, 0, USER.len() as u8];
        auth.extend_from_slice(USER.as_bytes());
        auth.push(PASSWORD.len() as u8);
        auth.extend_from_slice(PASSWORD.as_bytes());
        auth[5] = (auth.len() - 9) as u8;
        c.stream.write_all(&auth)?;
        assert_eq!(c.read()?[1], 0, "login refused");
        let mut start = vec![0x20, 0, 0, 0, 0, 0, 0, 0];
        for v in [1000u16, coalesce_ms, 0, 10_000, 0, 5000] {
            start.extend_from_slice(&v.to_le_bytes());
        }
        start.extend_from_slice(&[0; 4]);
        c.stream.write_all(&start)?;
        assert_eq!(c.read()?[0], 0x21);
        Ok(c)
    }

    fn read(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(len) = message_len(&self.buf)
                && self.buf.len() >= len
            {
                let msg: Vec<u8> = self.buf.drain(..len).collect();
                if msg[0] == 0x2B {
                    self.stream.write_all(&msg)?;
                }
                return Ok(msg);
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk)? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn key(&mut self, key: u8) -> std::io::Result<()> {
        self.stream
            .write_all(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, key])
    }

    /// Host output until it contains `want`.
    fn until(&mut self, want: &[u8]) -> std::io::Result<()> {
        let mut seen = Vec::new();
        loop {
            let m = self.read()?;
            if m[0] == 0x2A {
                seen.extend_from_slice(&m[10..]);
                if seen.windows(want.len()).any(|w| w == want) {
                    return Ok(());
                }
            }
        }
    }

    /// Reads whatever has arrived without waiting, echoing heartbeats.
    fn pump(&mut self) {
        let _ = self.stream.set_nonblocking(true);
        let mut chunk = [0u8; 8192];
        while let Ok(n) = self.stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let _ = self.stream.set_nonblocking(false);
        while let Some(len) = message_len(&self.buf).filter(|&len| self.buf.len() >= len) {
            let msg: Vec<u8> = self.buf.drain(..len).collect();
            if msg[0] == 0x2B {
                let _ = self.stream.write_all(&msg);
            }
        }
    }

    /// Ends the session and waits until the device has closed it, so the
    /// device's SOL slot is free again.
    fn close(mut self) {
        let _ = self.stream.write_all(&[0x12, 0, 0, 0]);
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
    }

    /// Skips output until nothing arrives for `quiet`.
    fn drain(&mut self, quiet: Duration) {
        let _ = self.stream.set_read_timeout(Some(quiet));
        while self.read().is_ok() {}
        self.buf.clear();
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(20)));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn echo_latency(emu: &Emulator, coalesce_ms: u16, keys: usize) {
    let addr = SocketAddr::new(emu.addr.ip(), 16994);
    let mut c = Console::open(addr, coalesce_ms).expect("a SOL session");
    // A fresh login prompt; the line editor echoes what is typed there.
    c.key(b'\r').unwrap();
    c.until(b"login: ").unwrap();
    c.drain(Duration::from_millis(300));
    let mut times = Vec::with_capacity(keys);
    for i in 0..keys {
        // Type and erase in turn, so the line never fills up.
        let (key, echo): (u8, &[u8]) = if i % 2 == 0 {
            (b'a', b"a")
        } else {
            (0x7f, b"\x08 \x08")
        };
        // Only a heartbeat may be left over; earlier output would be
        // mistaken for the echo.
        assert!(
            c.buf.first().is_none_or(|&t| t == 0x2B),
            "no output may be pending before a key"
        );
        let sent = Instant::now();
        c.key(key).unwrap();
        c.until(echo).unwrap();
        times.push(sent.elapsed());
    }
    c.close();
    times.sort();
    println!(
        "sol echo latency, console transmit timeout {coalesce_ms} ms, {keys} keys: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().unwrap(),
    );
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

fn concurrent_sessions(count: usize) {
    let first = Ipv4Addr::new(127, 90, 0, 1);
    let args: Vec<String> = [
        "fleet",
        "--count",
        &count.to_string(),
        "--firmware",
        // Before user consent (6.2): sessions start without a code.
        "5.2",
        "--first-address",
        &first.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let emu = Emulator::launch(args, SocketAddr::from((first, 16992)));
    let idle_rss = emulator_rss_kib();
    let started = Instant::now();
    let mut consoles = Vec::with_capacity(count);
    let mut refused = 0;
    for i in 0..count {
        let (ip, _) = amtemu_server::fleet::slot(first, None, Default::default(), i).unwrap();
        match Console::open(SocketAddr::new(ip, 16994), 0) {
            Ok(c) => consoles.push(c),
            Err(e) => {
                refused += 1;
                if refused == 1 {
                    eprintln!("session {i} failed: {e}");
                }
            }
        }
    }
    let opened = started.elapsed();
    let busy_rss = emulator_rss_kib();
    // Hold them for longer than the receive timeout (10 s), echoing the
    // device's heartbeats as amtterm does, then every console types a key
    // and waits for its echo.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(12) {
        for c in &mut consoles {
            c.pump();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in &mut consoles {
        let _ = c.key(b'z');
    }
    let mut alive = 0;
    let mut failures = std::collections::BTreeMap::new();
    for c in &mut consoles {
        match c.until(b"z") {
            Ok(()) => alive += 1,
            Err(e) => *failures.entry(format!("{:?}", e.kind())).or_insert(0) += 1,
        }
    }
    if !failures.is_empty() {
        eprintln!("sessions that did not answer: {failures:?}");
    }
    println!(
        "concurrent sol sessions: {} of {count} devices opened in {:.2} s, {alive} still answered a key after 12 s; emulator RSS {} KiB idle, {} KiB with the sessions",
        consoles.len(),
        opened.as_secs_f64(),
        idle_rss.map_or("?".into(), |k| k.to_string()),
        busy_rss.map_or("?".into(), |k| k.to_string()),
    );
    drop(emu);
}

fn main() {
    let keys = std::env::var("AMTEMU_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let sessions = std::env::var("AMTEMU_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let emu = Emulator::start(&["--firmware", "5.2"]);
    echo_latency(&emu, 0, keys);
    echo_latency(&emu, 100, keys.min(200));
    drop(emu);
    concurrent_sessions(sessions);
}
