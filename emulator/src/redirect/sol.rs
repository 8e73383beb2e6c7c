//! The Serial-over-LAN channel: host console output to the console as 0x2A,
//! keystrokes from 0x28 to the host, heartbeats, host power as 0x29.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::codec::{ClientMessage, DeviceMessage, SolSettings};
use super::host_port::HostPort;
use super::wire::{Inbox, Outbox, WireError, sleep_until_opt};
use crate::device::DeviceEvent;

/// The longest gap between device heartbeats: amtterm gives up after 20 s
/// of silence, so heartbeats go out at least this often whatever the
/// console asked for.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(5);

/// The receive timeout when a console asks for none.
const DEFAULT_RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// 0x29 status bit: the host is powered on.
const STATUS_POWER_ON: u8 = 4;

/// What the device does with the console's requested parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SolTiming {
    pub max_chunk: usize,
    pub coalesce: Duration,
    pub heartbeat: Duration,
    pub receive_timeout: Duration,
}

impl SolTiming {
    pub fn from_settings(s: &SolSettings) -> SolTiming {
        let heartbeat = match s.heartbeat_ms {
            0 => MAX_HEARTBEAT,
            ms => Duration::from_millis(ms.into()).min(MAX_HEARTBEAT),
        };
        // Consoles keep traffic flowing by echoing heartbeats; leave room
        // for one lost round.
        let receive_timeout = match s.receive_timeout_ms {
            0 => DEFAULT_RECEIVE_TIMEOUT,
            ms => Duration::from_millis(ms.into()).max(heartbeat * 2),
        };
        SolTiming {
            max_chunk: match s.max_transmit_buffer {
                0 => 1000,
                n => n.into(),
            },
            coalesce: Duration::from_millis(s.transmit_timeout_ms.into()),
            heartbeat,
            receive_timeout,
        }
    }
}

/// Counts device messages (SOL sequence numbers are not checked by any
/// known console, but they count like IDE-R's).
#[derive(Default)]
struct Seq(u32);

impl Seq {
    fn next(&mut self) -> u32 {
        let n = self.0;
        self.0 = self.0.wrapping_add(1);
        n
    }
}

fn controls(seq: &mut Seq, powered: bool) -> DeviceMessage {
    DeviceMessage::SolControls {
        seq: seq.next(),
        control: 0,
        status: if powered { STATUS_POWER_ON } else { 0 },
    }
}

/// Runs an accepted SOL session until it ends; returns why it ended.
pub async fn run<R, W, H>(
    mut reader: R,
    mut writer: W,
    mut inbox: Inbox,
    host: &H,
    settings: SolSettings,
) -> Result<&'static str, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: HostPort + ?Sized,
{
    let timing = SolTiming::from_settings(&settings);
    let mut seq = Seq::default();
    let mut out = Outbox::default();
    out.push(
        &DeviceMessage::StartSolReply {
            status: 0,
            seq: seq.next(),
            max_transmit_buffer: timing.max_chunk.min(u16::MAX.into()) as u16,
            transmit_timeout_ms: settings.transmit_timeout_ms,
            overflow_timeout_ms: settings.overflow_timeout_ms,
            receive_timeout_ms: settings.receive_timeout_ms,
            revision: [1, 0],
            oem_iana: 0,
        },
        true,
    )?;
    let mut powered = host.host_powered();
    out.push(&controls(&mut seq, powered), true)?;

    let mut watch = host.host_watch();
    let mut watch_open = true;
    let mut events = host.events();
    let mut cursor = host.console_cursor();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_since: Option<Instant> = None;
    let mut last_heartbeat = Instant::now();
    let mut last_received = Instant::now();
    let mut ending = false;

    loop {
        let now = Instant::now();
        let wake = [
            Some(last_heartbeat + timing.heartbeat),
            Some(last_received + timing.receive_timeout),
            pending_since.map(|t| t + timing.coalesce),
            host.console_next_due(),
            out.quiet_until(),
        ]
        .into_iter()
        .flatten()
        .min();
        let chunk = out.ready(now);
        let writing = chunk.is_some();
        let chunk = chunk.unwrap_or(&[]);
        tokio::select! {
            read = inbox.fill(&mut reader) => {
                read?;
                last_received = Instant::now();
                while let Some(msg) = inbox.take()? {
                    match msg {
                        // amtterm sends its escape key after 0x22; the host never
                        // sees keys typed after the console said goodbye.
                        ClientMessage::SolData { data, .. } if !ending => host.console_input(&data),
                        ClientMessage::SolData { .. } => {}
                        ClientMessage::SolHeartbeat { .. }
                        | ClientMessage::SolPing { .. }
                        | ClientMessage::SolControl { .. } => {}
                        ClientMessage::EndSol { seq: _ } => {
                            ending = true;
                            out.push(&DeviceMessage::EndSolReply { seq: seq.next() }, true)?;
                        }
                        ClientMessage::EndSession => return Ok("console ended the session"),
                        other => {
                            tracing::info!(message = ?other, "SOL session got a message of another channel");
                            return Ok("message out of place");
                        }
                    }
                }
            }
            written = writer.write(chunk), if writing => {
                match written? {
                    0 => return Err(WireError::Closed),
                    n => out.wrote(n, Instant::now()),
                }
            }
            changed = watch.changed(), if watch_open => {
                watch_open = changed.is_ok();
            }
            event = events.recv() => match event {
                Ok(DeviceEvent::PowerChanged { .. }) | Err(RecvError::Lagged(_)) => {}
                Ok(_) => continue,
                Err(RecvError::Closed) => return Ok("device gone"),
            },
            _ = sleep_until_opt(wake) => {}
        }
        let now = Instant::now();
        if now >= last_received + timing.receive_timeout {
            return Ok("receive timeout");
        }
        if ending {
            // After 0x23 only the console's 0x12 (or its close) is awaited.
            continue;
        }
        let now_powered = host.host_powered();
        if now_powered != powered {
            powered = now_powered;
            out.push(&controls(&mut seq, powered), true)?;
        }
        let fresh = host.console_read(&mut cursor);
        if !fresh.is_empty() {
            pending_since.get_or_insert(now);
            pending.extend_from_slice(&fresh);
        }
        while pending.len() >= timing.max_chunk {
            let rest = pending.split_off(timing.max_chunk);
            let data = std::mem::replace(&mut pending, rest);
            out.push(
                &DeviceMessage::SolData {
                    seq: seq.next(),
                    data,
                },
                false,
            )?;
        }
        if pending.is_empty() {
            pending_since = None;
        } else if pending_since.is_some_and(|t| now >= t + timing.coalesce) {
            let data = std::mem::take(&mut pending);
            out.push(
                &DeviceMessage::SolData {
                    seq: seq.next(),
                    data,
                },
                false,
            )?;
            pending_since = None;
        }
        if now >= last_heartbeat + timing.heartbeat {
            last_heartbeat = now;
            out.push(&DeviceMessage::SolHeartbeat { seq: seq.next() }, false)?;
        }
    }
}
