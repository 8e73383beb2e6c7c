//! A loopback collector for setup-mode hellos: accepts on a provisioning
//! server's port, reads each hello to the device's close, parses it, and
//! counts distinct devices until it has heard from as many as expected.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use amtemu_wire::hello::Hello;

/// A hello is a few hundred bytes at most; more is not a hello.
const MAX_HELLO: u64 = 4096;
/// How long a device may take to send its hello and close.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the collector heard.
#[derive(Debug, Default)]
pub struct HelloStats {
    pub distinct: usize,
    pub hellos: u64,
    pub malformed: u64,
    /// From the first hello to the one that completed the expected count
    /// (or to the last one heard).
    pub first_to_last: Duration,
    /// From a given start (the fleet's launch) to the same moment.
    pub since_start: Option<Duration>,
}

impl HelloStats {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "distinct": self.distinct,
            "hellos": self.hellos,
            "malformed": self.malformed,
            "first_to_last_s": self.first_to_last.as_secs_f64(),
            "since_start_s": self.since_start.map(|d| d.as_secs_f64()),
        })
    }
}

impl std::fmt::Display for HelloStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hellos: {} devices ({} hellos, {} malformed); first to last {:.3} s",
            self.distinct,
            self.hellos,
            self.malformed,
            self.first_to_last.as_secs_f64()
        )?;
        if let Some(d) = self.since_start {
            write!(f, "; {:.3} s since the fleet started", d.as_secs_f64())?;
        }
        Ok(())
    }
}

/// Collects until `expect` distinct devices have said hello or `timeout`
/// passes. `started` is when the fleet was launched, if known.
pub async fn collect(
    listener: TcpListener,
    expect: usize,
    timeout: Duration,
    started: Option<SystemTime>,
) -> HelloStats {
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<[u8; 16]>>();
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                let read = tokio::time::timeout(
                    READ_TIMEOUT,
                    (&mut stream).take(MAX_HELLO).read_to_end(&mut bytes),
                )
                .await;
                let uuid = match read {
                    Ok(Ok(_)) => Hello::parse(&bytes).ok().map(|h| h.uuid),
                    _ => None,
                };
                let _ = tx.send(uuid);
            });
        }
    });
    let mut stats = HelloStats::default();
    let mut seen = HashSet::new();
    let mut first = None;
    let deadline = Instant::now() + timeout;
    while seen.len() < expect {
        let Ok(Some(heard)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        let now = Instant::now();
        let first = *first.get_or_insert(now);
        match heard {
            Some(uuid) => {
                stats.hellos += 1;
                seen.insert(uuid);
                stats.first_to_last = now - first;
                stats.since_start = started.and_then(|s| s.elapsed().ok());
            }
            None => stats.malformed += 1,
        }
    }
    acceptor.abort();
    stats.distinct = seen.len();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_wire::hello::HelloBody;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn counts_distinct_devices_and_malformed_hellos() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = tokio::spawn(collect(listener, 2, Duration::from_secs(10), None));
        let send = |bytes: Vec<u8>| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&bytes).await.unwrap();
        };
        let hello = |n: u8| Hello {
            admin_credentials_set: false,
            retry_count: 0,
            uuid: [n; 16],
            body: HelloBody::Pki { hashes: Vec::new() },
        };
        send(b"not a hello".to_vec()).await;
        send(hello(1).to_bytes()).await;
        send(hello(1).to_bytes()).await;
        send(hello(2).to_bytes()).await;
        let stats = collector.await.unwrap();
        assert_eq!(stats.distinct, 2);
        assert!(stats.hellos >= 2);
        assert!(stats.malformed <= 1);
    }
}
