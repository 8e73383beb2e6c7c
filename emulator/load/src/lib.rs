//! The load generator behind `amtemu-load`: WS-Man over HTTP and TLS with
//! real Digest authentication, spread over a fleet's devices, held at a
//! concurrency or a rate, measured into HDR histograms and read against
//! bare baseline servers driven by the same generator in the same run.
//!
//! The pieces: [`client`] (a small keep-alive HTTP/1.1 client),
//! [`digest`] (nonce reuse with `nc`, as consoles do), [`scheduler`]
//! (closed and open loop), [`report`] (figures and ratios) and
//! [`baseline`] (the yardstick servers); [`hellos`] collects setup-mode
//! hellos from a fleet; [`sol`] holds Serial-over-LAN sessions and times
//! keystroke echoes; [`mps`] is a small Management Presence Server that
//! CIRA devices call home to.

pub mod baseline;
pub mod cira;
pub mod client;
pub mod digest;
pub mod hellos;
pub mod mps;
pub mod report;
pub mod scheduler;
pub mod sol;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use client::{Operation, Target, WsmanClient};
use digest::DigestSession;
use report::Stats;
use scheduler::{Load, Worker};

/// The devices load is spread over: `count` consecutive fleet addresses from
/// `first` (as `amtemu fleet` assigns them), all on `port`.
#[derive(Clone, Debug)]
pub struct Devices {
    pub first: Ipv4Addr,
    pub count: usize,
    pub port: u16,
}

impl Devices {
    /// The address of device `index`, wrapping around the fleet.
    pub fn addr(&self, index: usize) -> Result<SocketAddr, String> {
        let ports = amtemu_server::fleet::Ports {
            http: self.port,
            https: self.port,
            ..amtemu_server::fleet::Ports::default()
        };
        let (ip, ports) =
            amtemu_server::fleet::slot(self.first, None, ports, index % self.count.max(1))?;
        Ok(SocketAddr::new(ip, ports.http))
    }

    /// Only loopback is ever a target.
    pub fn check_loopback(&self) -> Result<(), String> {
        if !self.first.is_loopback() {
            return Err(format!("{} is not a loopback address", self.first));
        }
        Ok(())
    }
}

/// What one WS-Man run does.
#[derive(Clone, Debug)]
pub struct GetRun {
    pub devices: Devices,
    pub tls: bool,
    /// A new connection (and, over TLS, a full handshake) for every request.
    pub fresh_connections: bool,
    /// Gets, or Puts that each wait for durability.
    pub operation: Operation,
    pub load: Load,
    pub duration: Duration,
    pub user: String,
    pub password: String,
}

impl GetRun {
    fn workers(&self) -> usize {
        match self.load {
            Load::Concurrency(n) => n.max(1),
            Load::Rate { pool, .. } => pool.max(1),
        }
    }

    fn kind(&self) -> &'static str {
        if self.operation == Operation::PutHostName {
            return if self.tls {
                "put tls keep-alive"
            } else {
                "put http keep-alive"
            };
        }
        match (self.tls, self.fresh_connections) {
            (false, false) => "get http keep-alive",
            (false, true) => "get http new connections",
            (true, false) => "get tls keep-alive",
            (true, true) => "get tls new handshakes",
        }
    }

    fn target(&self, addr: SocketAddr) -> Target {
        Target {
            addr,
            tls: self.tls.then(client::tls_client_config),
        }
    }

    /// Drives amtemu's devices.
    pub async fn against_amtemu(&self) -> Result<Stats, String> {
        self.devices.check_loopback()?;
        let mut workers = Vec::new();
        for i in 0..self.workers() {
            let mut c = WsmanClient::new(
                self.target(self.devices.addr(i)?),
                DigestSession::new(&self.user, &self.password),
            );
            c.fresh_connections = self.fresh_connections;
            c.operation = self.operation;
            workers.push(c);
        }
        let label = format!("amtemu {}", self.kind());
        Ok(scheduler::run(&label, workers, self.load, self.duration).await)
    }

    /// Drives a baseline server at `addr` with exactly the same requests,
    /// Authorization header included (it is computed and sent, and ignored).
    /// `server` names it in the report (hyper, rustls, openssl).
    pub async fn against_baseline(&self, addr: SocketAddr, server: &str) -> Stats {
        let mut workers = Vec::new();
        for _ in 0..self.workers() {
            let mut session = DigestSession::new(&self.user, &self.password);
            session.challenged(r#"Digest realm="baseline", nonce="bmV2ZXIgY2hlY2tlZCBieSB0aGUgYmFzZWxpbmU=", qop="auth""#);
            let mut c = WsmanClient::new(self.target(addr), session);
            c.fresh_connections = self.fresh_connections;
            workers.push(c);
        }
        let label = format!(
            "baseline {server} {}",
            self.kind().trim_start_matches("get ")
        );
        scheduler::run(&label, workers, self.load, self.duration).await
    }

    /// One authenticated Get to the first device: the size of amtemu's
    /// answer, which the baseline then sends back.
    pub async fn probe_body_len(&self) -> Result<usize, String> {
        let mut c = WsmanClient::new(
            self.target(self.devices.addr(0)?),
            DigestSession::new(&self.user, &self.password),
        );
        c.get().await.map_err(|e| e.to_string())
    }
}

impl Worker for WsmanClient {
    async fn step(&mut self) -> Result<(), String> {
        self.get().await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The first TLS handshake to each of `devices` (untouched devices issue
/// their certificate then), `concurrency` at a time: latency per device.
pub async fn first_handshakes(devices: &Devices, concurrency: usize) -> Result<Stats, String> {
    devices.check_loopback()?;
    let config = client::tls_client_config();
    let mut stats = Stats::new("amtemu first tls handshake");
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while tasks.len() < concurrency.max(1) && next < devices.count {
            let target = Target {
                addr: devices.addr(next)?,
                tls: Some(config.clone()),
            };
            next += 1;
            tasks.spawn(async move {
                let began = tokio::time::Instant::now();
                target.connect().await.map(|_| began.elapsed())
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        match done {
            Ok(Ok(latency)) => {
                stats.ok += 1;
                report::record(&mut stats.latency, latency);
            }
            Ok(Err(e)) => stats.failed(e),
            Err(e) => stats.failed(e),
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Opens one SOL session to each device (a few at a time) and waits for
/// each console to answer a first Enter.
pub async fn open_sol_sessions(
    devices: &Devices,
    user: &str,
    password: &str,
) -> Result<Vec<sol::SolSession>, String> {
    devices.check_loopback()?;
    let mut sessions = Vec::with_capacity(devices.count);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while tasks.len() < 32 && next < devices.count {
            let (addr, user, password) =
                (devices.addr(next)?, user.to_string(), password.to_string());
            next += 1;
            tasks.spawn(async move {
                let mut s = sol::SolSession::open(addr, &user, &password)
                    .await
                    .map_err(|e| format!("{addr}: {e}"))?;
                s.settle().await.map_err(|e| format!("{addr}: {e}"))?;
                Ok::<_, String>(s)
            });
        }
        match tasks.join_next().await {
            Some(Ok(opened)) => sessions.push(opened?),
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(sessions)
}

/// A loopback address for a baseline server.
pub fn default_baseline_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 77, 0, 1)), 18992)
}
