//! One tunnel's life: the APF handshake and steady state on a connected
//! TLS stream, driven by `amtemu_apf::Tunnel`. One task owns the stream and
//! the tunnel; channels talk to it through one queue (see `channel`).
//!
//! Timers the tunnel leaves to its caller: the device's own keep-alives
//! (every `keepalive_interval`), the end of a policy's tunnel lifetime, and
//! a silence limit — nothing received for three keep-alive intervals (the
//! MPS answers each) means the connection is lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amtemu_apf::message::{DisconnectReason, TriggerReason};
use amtemu_apf::{ChannelId, Config, Event, Tunnel, Uuid};
use amtemu_model::device::remote_access::{CiraChange, CiraPlan, Trigger};
use amtemu_model::device::{DeviceEvent, Port};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};

use super::channel::{self, FromChannel, Link, Service};
use crate::endpoint::Endpoint;
use crate::endpoint::cira::{CiraPhase, Interruption};
use crate::tls::TlsContext;

/// Largest read from the MPS at once: one device data chunk and change.
/// Kept small because every tunnel of a large fleet holds one.
const READ_CHUNK: usize = 4 * 1024;
/// How long a write to the MPS may stall before the connection counts as
/// lost: an MPS that stops reading must not hold the device's tunnel (and
/// its channels) for ever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Keep-alive intervals of silence after which the MPS is taken for gone.
const SILENCE_INTERVALS: u32 = 3;

/// How a tunnel ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// The handshake completed and ports were forwarded.
    pub established: bool,
    pub reason: String,
    /// The configuration changed: plan again at once.
    pub replan: bool,
}

/// The ports the device forwards, in firmware's order (spec §3.6): the
/// TLS ports (16993, 16995 and DASH's 664) only while remote TLS is on,
/// 5900 where the firmware has its VNC port (6.0 to 15.x). The plain ports
/// are forwarded even where the LAN side is TLS-only (16.1+): both MPSs
/// talk plain WS-Man to 16992 inside the tunnel (spec §8, §10), and the
/// tunnel refuses channels to ports it did not forward.
fn forwarded_ports(endpoint: &Endpoint) -> Vec<u16> {
    let device = &endpoint.device;
    let tls = device.with_state(|s| s.nvram.tls.remote.enabled);
    amtemu_apf::tunnel::FIRMWARE_PORT_ORDER
        .into_iter()
        .filter(|port| match port {
            16993 | 664 => tls && device.firmware.opens(Port::Https),
            16995 => tls && device.firmware.opens(Port::RedirectionTls),
            5900 => device.firmware.opens(Port::Vnc),
            _ => true,
        })
        .collect()
}

fn config(endpoint: &Endpoint, plan: &CiraPlan) -> Config {
    let (username, password) = match &plan.server.auth {
        amtemu_model::device::remote_access::MpsAuth::Password { username, password } => {
            (username.as_str(), password.as_str())
        }
        // Mutual TLS: the certificate speaks for the device (spec §9 q1).
        amtemu_model::device::remote_access::MpsAuth::MutualTls { .. } => ("", ""),
    };
    let mut config = Config::new(
        Uuid(endpoint.device.identity.uuid),
        username,
        password,
        &forwarded_ports(endpoint),
    );
    config.trigger = match plan.trigger {
        Trigger::UserInitiated => TriggerReason::UserInitiated,
        Trigger::Alert => TriggerReason::Alert,
        Trigger::HomeProvisioning => TriggerReason::HitProvisioning,
        Trigger::Periodic => TriggerReason::Periodic,
    };
    config.forward_address = endpoint.device.with_state(|s| {
        let g = &s.nvram.general;
        crate::tls::fqdn(&g.host_name, &g.domain_name)
    });
    config
}

/// Runs a tunnel on a connected stream until it ends.
pub(crate) async fn run<S>(
    stream: S,
    mps: SocketAddr,
    endpoint: &Arc<Endpoint>,
    tls: &Arc<TlsContext>,
    plan: &CiraPlan,
    changes: &mut broadcast::Receiver<DeviceEvent>,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = config(endpoint, plan);
    let max_chunk = config.max_chunk as usize;
    let mut session = Session {
        tunnel: Tunnel::new(config),
        links: HashMap::new(),
        endpoint: endpoint.clone(),
        tls: tls.clone(),
        mps,
        max_chunk,
        established: false,
        trigger: plan.trigger,
        events: mpsc::unbounded_channel(),
    };
    let reason = session.drive(stream, plan, changes).await;
    let replan = matches!(reason, Stop::Replan);
    Ended {
        established: session.established,
        reason: reason.to_string(),
        replan,
    }
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("MPS closed the connection")]
    Eof,
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("closed the tunnel with {reason:?}: {error}")]
    Protocol {
        error: amtemu_apf::ProtocolError,
        reason: DisconnectReason,
    },
    #[error("MPS disconnected: {0:?}")]
    Disconnected(DisconnectReason),
    #[error("nothing heard from the MPS for {0:?}")]
    Silent(Duration),
    #[error("the MPS took nothing for {0:?}")]
    WriteStalled(Duration),
    #[error("tunnel lifetime over")]
    Lifetime,
    #[error("the connection was cut")]
    Cut,
    #[error("nothing heard from the MPS for {0:?} (the path went quiet)")]
    PathLost(Duration),
    #[error("configuration changed")]
    Replan,
}

struct Session {
    tunnel: Tunnel,
    links: HashMap<ChannelId, Link>,
    endpoint: Arc<Endpoint>,
    tls: Arc<TlsContext>,
    mps: SocketAddr,
    max_chunk: usize,
    established: bool,
    trigger: Trigger,
    events: (
        mpsc::UnboundedSender<FromChannel>,
        mpsc::UnboundedReceiver<FromChannel>,
    ),
}

impl Session {
    async fn drive<S>(
        &mut self,
        mut stream: S,
        plan: &CiraPlan,
        changes: &mut broadcast::Receiver<DeviceEvent>,
    ) -> Stop
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.tunnel.start();
        let stop = self.serve(&mut stream, plan, changes).await;
        self.endpoint.cira.clear_interruption();
        if matches!(stop, Stop::Cut | Stop::PathLost(_)) {
            // Gone without a word: no DISCONNECT and no TLS close reach
            // the MPS (dropping the stream closes the socket).
            self.links.clear();
            return stop;
        }
        // Say why, where the tunnel has not already (a fault queues its own
        // DISCONNECT; one from the MPS needs no answer).
        let reason = match &stop {
            Stop::Silent(_) => Some(DisconnectReason::ConnectionTimedOut),
            Stop::Lifetime | Stop::Replan => Some(DisconnectReason::ByApplication),
            _ => None,
        };
        if let Some(reason) = reason {
            self.tunnel.disconnect(reason);
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
            let _ = self.flush(&mut stream).await;
            let _ = stream.shutdown().await;
        })
        .await;
        self.links.clear();
        stop
    }

    async fn serve<S>(
        &mut self,
        stream: &mut S,
        plan: &CiraPlan,
        changes: &mut broadcast::Receiver<DeviceEvent>,
    ) -> Stop
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let lifetime = plan
            .lifetime
            .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        // Bytes of an incomplete message; empty (and unallocated) between
        // messages, which is most of the time.
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut heard = Instant::now();
        let mut next_keepalive = Instant::now() + self.interval();
        let mut cookie: u32 = 0;
        loop {
            match tokio::time::timeout(WRITE_TIMEOUT, self.flush(stream)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return e.into(),
                Err(_) => return Stop::WriteStalled(WRITE_TIMEOUT),
            }
            let silence = self.interval() * SILENCE_INTERVALS;
            tokio::select! {
                read = stream.read(&mut chunk) => {
                    let n = match read {
                        Ok(0) => return Stop::Eof,
                        Ok(n) => n,
                        Err(e) => return e.into(),
                    };
                    heard = Instant::now();
                    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    match self.tunnel.receive(&buf) {
                        Ok(used) => { buf.drain(..used); }
                        Err(error) => {
                            let reason = error.disconnect_reason();
                            return Stop::Protocol { error, reason };
                        }
                    }
                    if let Some(stop) = self.handle_events() {
                        return stop;
                    }
                    // An MPS that shortens the interval (KEEPALIVE_OPTIONS)
                    // gets keep-alives at its pace from now, not after the
                    // old interval: the silence limit follows the new one.
                    next_keepalive = next_keepalive.min(Instant::now() + self.interval());
                }
                Some(msg) = self.events.1.recv() => self.channel_said(msg),
                _ = sleep_until(next_keepalive) => {
                    cookie = cookie.wrapping_add(1);
                    let _ = self.tunnel.send_keepalive(cookie);
                    next_keepalive = Instant::now() + self.interval();
                }
                _ = sleep_until(heard + silence) => return Stop::Silent(silence),
                _ = sleep_until(lifetime.unwrap_or_else(far_future)), if lifetime.is_some() => {
                    return Stop::Lifetime;
                }
                how = self.endpoint.cira.interrupted() => match how {
                    Interruption::Cut => return Stop::Cut,
                    Interruption::Silence => {
                        // Nothing sent, nothing read: the device's silence
                        // limit runs out as it would on a dead path.
                        sleep_until(heard + silence).await;
                        return Stop::PathLost(silence);
                    }
                },
                alive = super::next_change(changes) => {
                    if !alive {
                        return Stop::Replan;
                    }
                    let now = self.endpoint.device.cira_plan(plan.trigger == Trigger::UserInitiated);
                    if now.as_ref().ok().map(|p| &p.server) != Some(&plan.server)
                        || !self.endpoint.device.me_reachable()
                    {
                        return Stop::Replan;
                    }
                }
            }
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.tunnel.keepalive_interval().max(1)))
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.tunnel.write_transmit(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        Ok(())
    }

    /// Acts on what the tunnel reported; a stop when the MPS said goodbye.
    fn handle_events(&mut self) -> Option<Stop> {
        while let Some(event) = self.tunnel.poll_event() {
            match event {
                Event::Established => {
                    self.established = true;
                    let mps = self.mps.to_string();
                    self.endpoint
                        .cira
                        .enter(CiraPhase::Connected, Some(mps.clone()));
                    self.endpoint.device.cira_changed(CiraChange::Connected {
                        mps,
                        trigger: self.trigger,
                    });
                    self.endpoint.cira.update(|s| {
                        s.connects += 1;
                        s.last_error = None;
                    });
                    tracing::info!(device = %self.endpoint.device.name, mps = %self.mps, ports = ?self.tunnel.forwarded_ports(), "CIRA tunnel established");
                }
                Event::ForwardRefused { port } => {
                    tracing::info!(device = %self.endpoint.device.name, port, "MPS refused a port forward");
                }
                Event::ChannelOpened { channel, port, .. } => self.open(channel, port),
                Event::Data { channel, bytes } => {
                    let delivered = self.links.get(&channel).is_some_and(|l| l.deliver(bytes));
                    if !delivered {
                        tracing::debug!(device = %self.endpoint.device.name, %channel, "CIRA channel data for a service that is gone");
                        // The service went away; the channel closes.
                        let _ = self.tunnel.close_channel(channel);
                    }
                }
                Event::SendWindow { channel, .. } => self.send_pending(channel),
                Event::ChannelClosed { channel } => {
                    self.links.remove(&channel);
                }
                Event::Disconnect(reason) => return Some(Stop::Disconnected(reason)),
                Event::PeerVersion(_)
                | Event::Authenticated
                | Event::Forwarded { .. }
                | Event::ForwardCancelled { .. }
                | Event::KeepaliveOptions { .. }
                | Event::KeepaliveReply { .. } => {}
            }
        }
        None
    }

    fn open(&mut self, channel: ChannelId, port: u16) {
        self.endpoint.cira.update(|s| s.channels += 1);
        let Some(service) = Service::for_port(port) else {
            // Every port the device forwards has a server; the tunnel
            // refuses channels to others before they get here.
            tracing::debug!(device = %self.endpoint.device.name, port, "CIRA channel to a port with no server here");
            let _ = self.tunnel.close_channel(channel);
            return;
        };
        let link = channel::open(
            channel,
            service,
            &self.endpoint,
            &self.tls,
            self.mps,
            self.max_chunk,
            self.events.0.clone(),
        );
        tracing::debug!(device = %self.endpoint.device.name, %channel, port, "CIRA channel opened");
        self.links.insert(channel, link);
    }

    fn channel_said(&mut self, msg: FromChannel) {
        match msg {
            FromChannel::Data(id, bytes) => {
                if let Some(link) = self.links.get_mut(&id) {
                    link.pending.extend_from_slice(&bytes);
                    self.send_pending(id);
                }
            }
            FromChannel::Eof(id) => {
                tracing::debug!(device = %self.endpoint.device.name, channel = %id, "CIRA channel's service closed");
                if let Some(link) = self.links.get_mut(&id) {
                    link.eof = true;
                    self.send_pending(id);
                }
            }
            FromChannel::Consumed(id, n) => {
                // The channel may have closed meanwhile.
                let _ = self.tunnel.consumed(id, n);
            }
        }
    }

    /// Sends what the MPS's window allows of a channel's pending bytes;
    /// once none are left the reader may go on, and a closed service
    /// closes the channel.
    fn send_pending(&mut self, id: ChannelId) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !link.pending.is_empty() {
            match self.tunnel.send_data(id, &link.pending) {
                Ok(n) => {
                    link.pending.drain(..n);
                }
                Err(_) => {
                    link.pending.clear();
                }
            }
        }
        if link.pending.is_empty() {
            if link.eof {
                let _ = self.tunnel.close_channel(id);
            } else {
                link.drained();
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}
