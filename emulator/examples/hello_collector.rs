//! A provisioning-server stand-in for measuring hello storms: accepts on
//! ADDR (default 127.0.0.1:9971), parses every hello, and when COUNT
//! distinct devices (by UUID) have been heard, or SECONDS passed, prints one
//! JSON line: how many hellos, how many malformed, distinct devices and
//! senders, and the milliseconds from the first hello to the last.
//!
//! cargo run --release --example hello_collector -- 127.0.0.1:9971 10000 120

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amtemu::provision::Hello;
use tokio::io::AsyncReadExt;

#[derive(Default)]
struct Tally {
    hellos: u64,
    malformed: u64,
    devices: HashSet<[u8; 16]>,
    senders: HashSet<std::net::IpAddr>,
    first: Option<Instant>,
    last: Option<Instant>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9971".into())
        .parse()
        .expect("ADDR as IP:PORT");
    let want: usize = args.next().map_or(1, |c| c.parse().expect("COUNT"));
    let seconds: u64 = args.next().map_or(120, |s| s.parse().expect("SECONDS"));
    // A deep accept queue: a storm's connections complete in the kernel
    // faster than any server accepts them.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(65535)?;
    eprintln!("collector listening on {addr}");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(tokio::sync::Notify::new());
    let accept = {
        let (tally, done) = (tally.clone(), done.clone());
        async move {
            loop {
                let Ok((mut stream, peer)) = listener.accept().await else {
                    continue;
                };
                let (tally, done) = (tally.clone(), done.clone());
                tokio::spawn(async move {
                    let mut bytes = Vec::with_capacity(1024);
                    if stream.read_to_end(&mut bytes).await.is_err() {
                        return;
                    }
                    let mut t = tally.lock().unwrap();
                    let now = Instant::now();
                    t.first.get_or_insert(now);
                    t.last = Some(now);
                    t.hellos += 1;
                    t.senders.insert(peer.ip());
                    match Hello::parse(&bytes) {
                        Ok(hello) => {
                            t.devices.insert(hello.uuid);
                        }
                        Err(_) => t.malformed += 1,
                    }
                    if t.devices.len() >= want {
                        done.notify_one();
                    }
                });
            }
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = done.notified() => {}
        _ = tokio::time::sleep(Duration::from_secs(seconds)) => {}
    }
    let t = tally.lock().unwrap();
    let span = match (t.first, t.last) {
        (Some(a), Some(b)) => b.duration_since(a).as_millis(),
        _ => 0,
    };
    println!(
        "{{\"hellos\":{},\"malformed\":{},\"devices\":{},\"senders\":{},\"first_to_last_ms\":{}}}",
        t.hellos,
        t.malformed,
        t.devices.len(),
        t.senders.len(),
        span
    );
    Ok(())
}
