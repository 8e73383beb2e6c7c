//! Serial-over-LAN sessions for load: the redirection handshake on 16994
//! (StartRedirectionSession, plain authentication as amtterm does it,
//! StartSOL), then keystrokes whose echo from the host's console is timed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::scheduler::Worker;
use amtemu_wire::redirection::{ClientMessage, DeviceMessage, SessionKind, SolSettings};

/// The keystroke typed, and the one that erases it again.
const KEY: u8 = b'x';
const ERASE: u8 = 0x7f;
/// How long one step may wait for its echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// An open SOL session.
pub struct SolSession {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u32,
    /// Whether the last keystroke was the character (the next erases it).
    typed: bool,
}

impl SolSession {
    /// Opens a session to the device at `addr` (its redirection port).
    pub async fn open(addr: SocketAddr, user: &str, password: &str) -> Result<SolSession, String> {
        let stream = tokio::time::timeout(ECHO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut s = SolSession {
            stream,
            buf: Vec::new(),
            seq: 0,
            typed: false,
        };
        s.send(ClientMessage::StartSession {
            flag: 0,
            kind: SessionKind::Sol,
        })
        .await?;
        match s.receive().await? {
            DeviceMessage::StartSessionReply { status: 0, .. } => {}
            other => return Err(format!("StartRedirectionSession refused: {other:?}")),
        }
        let mut data = Vec::new();
        for field in [user, password] {
            data.push(field.len().min(255) as u8);
            data.extend_from_slice(&field.as_bytes()[..field.len().min(255)]);
        }
        s.send(ClientMessage::Authenticate { auth_type: 1, data })
            .await?;
        match s.receive().await? {
            DeviceMessage::AuthenticateReply { status: 0, .. } => {}
            other => return Err(format!("authentication refused: {other:?}")),
        }
        s.send(ClientMessage::StartSol(SolSettings {
            seq: 0,
            max_transmit_buffer: 1000,
            // Ask the device to send at once rather than coalesce.
            transmit_timeout_ms: 0,
            overflow_timeout_ms: 0,
            receive_timeout_ms: 0,
            fifo_flush_timeout_ms: 0,
            heartbeat_ms: 0,
        }))
        .await?;
        loop {
            match s.receive().await? {
                DeviceMessage::StartSolReply { status: 0, .. } => break,
                DeviceMessage::StartSolReply { status, .. } => {
                    return Err(format!("StartSOL refused with status {status}"));
                }
                _ => continue,
            }
        }
        Ok(s)
    }

    async fn send(&mut self, msg: ClientMessage) -> Result<(), String> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// The next device message (answering heartbeats on the way, as
    /// consoles do to keep the session alive).
    async fn receive(&mut self) -> Result<DeviceMessage, String> {
        loop {
            if let Some((msg, used)) =
                DeviceMessage::decode(&self.buf).map_err(|e| format!("decode: {e}"))?
            {
                self.buf.drain(..used);
                if let DeviceMessage::SolHeartbeat { .. } = msg {
                    self.seq += 1;
                    let seq = self.seq;
                    self.send(ClientMessage::SolHeartbeat { seq }).await?;
                    continue;
                }
                return Ok(msg);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(ECHO_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .map_err(|_| "no answer from the device".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the device closed the session".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Types one byte and waits until console output containing `echo`
    /// comes back.
    async fn type_and_wait(&mut self, key: u8, echo: u8) -> Result<(), String> {
        self.seq += 1;
        let seq = self.seq;
        self.send(ClientMessage::SolData {
            seq,
            data: vec![key],
        })
        .await?;
        loop {
            if let DeviceMessage::SolData { data, .. } = self.receive().await?
                && data.contains(&echo)
            {
                return Ok(());
            }
        }
    }

    /// Waits for the console to show anything at all (a prompt), so the
    /// first keystroke does not race the host's boot output.
    pub async fn settle(&mut self) -> Result<(), String> {
        self.type_and_wait(b'\r', b'\n').await
    }
}

/// One measured step: a keystroke and its echo. Steps alternate between a
/// character and the erase that takes it back, so the line never fills.
impl Worker for SolSession {
    async fn step(&mut self) -> Result<(), String> {
        self.typed = !self.typed;
        if self.typed {
            self.type_and_wait(KEY, KEY).await
        } else {
            // The line editor answers an erase with backspace, space,
            // backspace.
            self.type_and_wait(ERASE, 0x08).await
        }
    }
}
