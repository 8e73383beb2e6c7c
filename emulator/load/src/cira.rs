//! `amtemu-load cira`: the MPS side of CIRA at fleet scale. It configures
//! each device over WS-Man as rps does (MPS root, server by IP address with
//! a common name, periodic policy, an environment-detection suffix that
//! never matches), accepts the tunnels on its own MPS ([`crate::mps`]),
//! times how long the fleet takes to call in, then times WS-Man Gets
//! through the tunnels (a channel per Get, as the MPSs open one per
//! management pass) and the same Gets directly.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Devices;
use crate::client::{Target, WsmanClient};
use crate::digest::DigestSession;
use crate::mps::{Mps, MpsTunnel, http_response_complete};
use crate::report::{self, Stats};

/// The name in the MPS certificate, given to the devices as AddMpServer's
/// CN (they reach the MPS by IP address).
const MPS_NAME: &str = "mps.load.test";
const MPS_USER: &str = "amtemuLoadMps001";
const MPS_PASSWORD: &str = "Load-Mps-1";
const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

#[derive(Clone, Debug)]
pub struct CiraRun {
    pub devices: Devices,
    /// Where the MPS listens (loopback).
    pub listen: SocketAddr,
    pub user: String,
    pub password: String,
    /// Devices configured at once.
    pub concurrency: usize,
    /// Timed Gets per tunnel (and directly per device).
    pub gets: usize,
    /// How long to wait for every device to call in.
    pub timeout: Duration,
}

/// What a run measured.
pub struct CiraReport {
    /// Per device: from its configuration's last answer to its tunnel
    /// forwarding its ports.
    pub connect: Stats,
    /// First configuration request to the last tunnel up.
    pub all_connected: Duration,
    pub tunnels: usize,
    pub through_tunnel: Stats,
    pub direct: Stats,
    /// Tunnels are kept open until the report is dropped.
    pub held: Vec<MpsTunnel>,
}

/// A throwaway MPS PKI.
struct Pki {
    /// The root, DER: what devices trust.
    root: Vec<u8>,
    /// The MPS's chain, leaf first, DER.
    chain: Vec<Vec<u8>>,
    /// Its key, PKCS#8 DER.
    key: Vec<u8>,
}

fn pki() -> Result<Pki, rcgen::Error> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "amtemu-load MPS root");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let root = ca.self_signed(&ca_key)?.der().to_vec();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    // RSA: every suite firmware offers the MPS authenticates with RSA
    // (static RSA before 12.0, ECDHE-RSA after).
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
    let leaf = rcgen::CertificateParams::new(vec![MPS_NAME.to_string()])?;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Pki {
        root,
        chain: vec![cert.der().to_vec()],
        key: key.serialize_der(),
    })
}

fn invoke(class: &str, method: &str, args: &str, id: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{AMT}{class}/{method}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>{id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body><h:{method}_INPUT xmlns:h="{AMT}{class}">{args}</h:{method}_INPUT></Body></Envelope>"#
    )
}

fn put_environment(id: u64) -> String {
    let class = "AMT_EnvironmentDetectionSettingData";
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Put</a:Action><a:To>/wsman</a:To><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>{id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body><h:{class} xmlns:h="{AMT}{class}"><h:DetectionStrings>never-inside.load.test</h:DetectionStrings><h:ElementName>Intel(r) AMT Environment Detection Settings</h:ElementName><h:InstanceID>Intel(r) AMT Environment Detection Settings</h:InstanceID></h:{class}></Body></Envelope>"#
    )
}

/// The four requests rps makes, on one keep-alive connection.
async fn configure(
    addr: SocketAddr,
    run: &CiraRun,
    root: &str,
    mps: SocketAddr,
) -> Result<(), String> {
    let mut c = WsmanClient::new(
        Target { addr, tls: None },
        DigestSession::new(&run.user, &run.password),
    );
    let steps: [Box<dyn Fn(u64) -> String + Send>; 4] = [
        Box::new(move |id| {
            invoke(
                "AMT_PublicKeyManagementService",
                "AddTrustedRootCertificate",
                &format!("<h:CertificateBlob>{root}</h:CertificateBlob>"),
                id,
            )
        }),
        Box::new(move |id| {
            invoke(
                "AMT_RemoteAccessService",
                "AddMpServer",
                &format!(
                    "<h:AccessInfo>{}</h:AccessInfo><h:InfoFormat>3</h:InfoFormat><h:Port>{}</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>{MPS_USER}</h:Username><h:Password>{MPS_PASSWORD}</h:Password><h:CN>{MPS_NAME}</h:CN>",
                    mps.ip(),
                    mps.port()
                ),
                id,
            )
        }),
        Box::new(|id| {
            invoke(
                "AMT_RemoteAccessService",
                "AddRemoteAccessPolicyRule",
                &format!(
                    r#"<h:Trigger>2</h:Trigger><h:TunnelLifeTime>0</h:TunnelLifeTime><h:ExtendedData>AAAAAAAAAB4=</h:ExtendedData><h:MpServer><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{AMT}AMT_ManagementPresenceRemoteSAP</w:ResourceURI><w:SelectorSet><w:Selector Name="Name">Intel(r) AMT:Management Presence Server 0</w:Selector></w:SelectorSet></a:ReferenceParameters></h:MpServer>"#
                ),
                id,
            )
        }),
        Box::new(put_environment),
    ];
    for step in steps {
        c.post(step).await.map_err(|e| format!("{addr}: {e}"))?;
    }
    Ok(())
}

/// One authenticated Get through a tunnel on a channel of its own; the
/// digest session carries the nonce from one Get to the next.
async fn get_through(
    tunnel: &mut MpsTunnel,
    session: &mut DigestSession,
    host: SocketAddr,
    id: u64,
) -> Result<(), String> {
    for _ in 0..3 {
        let mut ch = tunnel
            .open_channel(16992)
            .await
            .map_err(|e| e.to_string())?;
        let body = amtemu_wire::wsman::client::get_general_settings(id);
        let mut request = format!(
            "POST /wsman HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(auth) = session.authorization("POST", "/wsman") {
            request.push_str(&format!("Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        tunnel
            .write(&mut ch, request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let (answer, closed) = tunnel
            .read(&mut ch, http_response_complete)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer);
        if !closed {
            tunnel.close(&ch).await.map_err(|e| e.to_string())?;
        }
        if text.starts_with("HTTP/1.1 200") {
            return Ok(());
        }
        let challenge = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("WWW-Authenticate: ")
                    .or(l.strip_prefix("Www-Authenticate: "))
            })
            .ok_or_else(|| format!("unexpected answer: {}", text.lines().next().unwrap_or("")))?;
        session.challenged(challenge);
        if !closed {
            continue;
        }
        // The device closes after a 401; the close was answered in read.
    }
    Err("not authenticated".into())
}

impl CiraRun {
    pub async fn run(&self) -> Result<CiraReport, String> {
        self.devices.check_loopback()?;
        if !self.listen.ip().is_loopback() {
            return Err(format!("{} is not a loopback address", self.listen));
        }
        let Pki { root, chain, key } = pki().map_err(|e| e.to_string())?;
        let mps = Mps::bind(self.listen, chain, key, MPS_USER, MPS_PASSWORD)
            .await
            .map_err(|e| e.to_string())?;
        let mps_addr = mps.local_addr().map_err(|e| e.to_string())?;
        let root = base64::engine::general_purpose::STANDARD.encode(root);

        // Accept on a task of its own while devices are configured.
        let configured: Arc<Mutex<HashMap<IpAddr, Instant>>> = Arc::default();
        let expected = self.devices.count;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let acceptor = tokio::spawn(async move {
            let mps = Arc::new(mps);
            loop {
                let mps = mps.clone();
                let tx = tx.clone();
                let Ok((tcp, peer)) = mps.accept_tcp().await else {
                    continue;
                };
                // TLS and APF on a task per device, so handshakes overlap.
                tokio::spawn(async move {
                    let Ok(mut t) = mps.tls(tcp, peer).await else {
                        return;
                    };
                    let ok = t.handshake(MPS_USER, MPS_PASSWORD).await.is_ok()
                        && t.wait_for_port(16994).await.is_ok();
                    if ok {
                        let _ = tx.send((t, Instant::now()));
                    }
                });
            }
        });

        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = 0;
        let mut failures = Vec::new();
        while next < expected || !tasks.is_empty() {
            while tasks.len() < self.concurrency.max(1) && next < expected {
                let addr = self.devices.addr(next)?;
                next += 1;
                let (run, root, configured) = (self.clone(), root.clone(), configured.clone());
                tasks.spawn(async move {
                    configure(addr, &run, &root, mps_addr).await?;
                    configured.lock().await.insert(addr.ip(), Instant::now());
                    Ok::<_, String>(())
                });
            }
            match tasks.join_next().await {
                Some(Ok(Err(e))) => failures.push(e),
                Some(Err(e)) => failures.push(e.to_string()),
                _ => {}
            }
        }
        if let Some(e) = failures.first() {
            acceptor.abort();
            return Err(format!("{} devices not configured: {e}", failures.len()));
        }

        let mut connect = Stats::new("cira configured → tunnel up");
        let mut held = Vec::with_capacity(expected);
        let deadline = started + self.timeout;
        while held.len() < expected {
            let Ok(Some((tunnel, at))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                break;
            };
            if let Some(done) = configured.lock().await.get(&tunnel.peer.ip()) {
                report::record(&mut connect.latency, at.saturating_duration_since(*done));
                connect.ok += 1;
            }
            held.push(tunnel);
        }
        let all_connected = started.elapsed();
        acceptor.abort();
        connect.elapsed = all_connected;

        // Gets through each tunnel, then the same directly.
        let mut through = Stats::new("cira wsman get through the tunnel");
        let began = Instant::now();
        for tunnel in &mut held {
            let host = SocketAddr::new(tunnel.peer.ip(), 16992);
            let mut session = DigestSession::new(&self.user, &self.password);
            // The first Get learns the nonce; it is not timed.
            if let Err(e) = get_through(tunnel, &mut session, host, 0).await {
                through.failed(e);
                continue;
            }
            for i in 0..self.gets {
                let t = Instant::now();
                match get_through(tunnel, &mut session, host, i as u64 + 1).await {
                    Ok(()) => {
                        through.ok += 1;
                        report::record(&mut through.latency, t.elapsed());
                    }
                    Err(e) => through.failed(e),
                }
            }
        }
        through.elapsed = began.elapsed();

        let mut direct = Stats::new("cira wsman get direct");
        let began = Instant::now();
        for tunnel in &held {
            let addr = SocketAddr::new(tunnel.peer.ip(), self.devices.port);
            let mut c = WsmanClient::new(
                Target { addr, tls: None },
                DigestSession::new(&self.user, &self.password),
            );
            if let Err(e) = c.get().await {
                direct.failed(e);
                continue;
            }
            for _ in 0..self.gets {
                // A new connection per Get, as a channel per Get above.
                c.fresh_connections = true;
                let t = Instant::now();
                match c.get().await {
                    Ok(_) => {
                        direct.ok += 1;
                        report::record(&mut direct.latency, t.elapsed());
                    }
                    Err(e) => direct.failed(e),
                }
            }
        }
        direct.elapsed = began.elapsed();
        Ok(CiraReport {
            connect,
            all_connected,
            tunnels: held.len(),
            through_tunnel: through,
            direct,
            held,
        })
    }
}
