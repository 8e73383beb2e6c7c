//! Socket plumbing shared by the session manager and the channel loops:
//! reading whole client messages, an outbox that keeps the write
//! separation consoles rely on and bounds what a stalled console can queue,
//! and the wait at the heart of both the SOL and the IDE-R loop.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::host_port::HostPort;
use amtemu_model::device::DeviceEvent;
use amtemu_wire::redirection::{ClientMessage, CodecError, DeviceMessage};

/// After a message a console consumes together with whatever else is in its
/// read buffer (amtterm: 0x21, 0x29, 0x41, 0x49, 0x50 …), nothing else is
/// written for this long, so the next message arrives in a later read.
pub const SEPARATION: Duration = Duration::from_millis(30);

/// Bytes a console that stopped reading may leave queued before the session
/// is dropped. The kernel's socket buffer holds more before this fills.
pub const MAX_QUEUED: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("console stopped reading ({0} bytes queued)")]
    Stalled(usize),
}

/// Bytes read but not yet decoded.
#[derive(Default)]
pub struct Inbox {
    pub buf: Vec<u8>,
}

impl Inbox {
    /// The next whole message already read, if any.
    pub fn take(&mut self) -> Result<Option<ClientMessage>, CodecError> {
        Ok(ClientMessage::decode(&self.buf)?.map(|(msg, used)| {
            self.buf.drain(..used);
            msg
        }))
    }

    /// Reads until a whole message is there.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> Result<ClientMessage, WireError> {
        loop {
            if let Some(msg) = self.take()? {
                return Ok(msg);
            }
            self.fill(reader).await?;
        }
    }

    /// One read from the socket; a closed connection is an error.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> Result<(), WireError> {
        self.buf.reserve(4096);
        match reader.read_buf(&mut self.buf).await? {
            0 => Err(WireError::Closed),
            _ => Ok(()),
        }
    }
}

/// Writes one message by itself (handshake replies).
pub async fn send_alone<W: AsyncWrite + Unpin>(
    writer: &mut W,
    msg: &DeviceMessage,
) -> Result<(), WireError> {
    writer.write_all(&msg.to_bytes()).await?;
    writer.flush().await?;
    Ok(())
}

/// Messages waiting to be written.
#[derive(Default)]
pub struct Outbox {
    /// Encoded messages; `true` marks one that must travel alone.
    queue: VecDeque<(Vec<u8>, bool)>,
    queued: usize,
    /// The bytes of the write under way and how far it got.
    current: Vec<u8>,
    written: usize,
    current_alone: bool,
    quiet_until: Option<Instant>,
}

impl Outbox {
    pub fn push(&mut self, msg: &DeviceMessage, alone: bool) -> Result<(), WireError> {
        let bytes = msg.to_bytes();
        self.queued += bytes.len();
        self.queue.push_back((bytes, alone));
        if self.queued > MAX_QUEUED {
            return Err(WireError::Stalled(self.queued));
        }
        Ok(())
    }

    /// The bytes to write now, if any: a lone message by itself, or every
    /// ordinary message up to the next lone one.
    pub fn ready(&mut self, now: Instant) -> Option<&[u8]> {
        if self.written == self.current.len() {
            if self.quiet_until.is_some_and(|q| now < q) {
                return None;
            }
            self.current.clear();
            self.written = 0;
            self.current_alone = false;
            while let Some((bytes, alone)) = self.queue.front() {
                if *alone && !self.current.is_empty() {
                    break;
                }
                let alone = *alone;
                self.current.extend_from_slice(bytes);
                self.queue.pop_front();
                if alone {
                    self.current_alone = true;
                    break;
                }
            }
            if self.current.is_empty() {
                return None;
            }
        }
        Some(&self.current[self.written..])
    }

    /// When `ready` may have something again after a quiet period.
    pub fn quiet_until(&self) -> Option<Instant> {
        self.quiet_until
            .filter(|_| !self.queue.is_empty() && self.written == self.current.len())
    }

    /// Records `n` bytes written.
    pub fn wrote(&mut self, n: usize, now: Instant) {
        self.written += n;
        self.queued -= n;
        if self.written == self.current.len() && self.current_alone {
            self.quiet_until = Some(now + SEPARATION);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }
}

/// Counts device messages: SOL and IDE-R number everything they send from 0
/// (no known console checks SOL's numbers; MeshCommander checks IDE-R's).
#[derive(Default)]
pub struct Seq(u32);

impl Seq {
    // Numbers never run out (they wrap), so an Iterator's Option would only
    // add unwraps at every call.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        let n = self.0;
        self.0 = self.0.wrapping_add(1);
        n
    }
}

/// What woke a channel loop.
pub enum Woke {
    /// Bytes arrived; whole messages wait in the inbox.
    Read,
    /// The device announced something (or the receiver lagged or closed).
    Event(Result<DeviceEvent, RecvError>),
    /// A write went out, the host changed or a deadline passed.
    Tick,
}

/// The socket side of a running SOL or IDE-R channel: both loops read the
/// console, write their outbox, follow the host and the device's events and
/// keep a heartbeat and a receive timeout the same way, and differ only in
/// what they make of messages and events.
pub struct ChannelIo<R, W> {
    reader: R,
    pub writer: W,
    pub inbox: Inbox,
    pub out: Outbox,
    watch: watch::Receiver<u64>,
    /// The host's watch stops waking once its sender is gone.
    watch_open: bool,
    events: broadcast::Receiver<DeviceEvent>,
    heartbeat: Duration,
    receive_timeout: Duration,
    last_heartbeat: Instant,
    last_received: Instant,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> ChannelIo<R, W> {
    /// Starts following `host` now; `out` may already hold the opening
    /// replies.
    pub fn new<H: HostPort + ?Sized>(
        reader: R,
        writer: W,
        inbox: Inbox,
        out: Outbox,
        host: &H,
        heartbeat: Duration,
        receive_timeout: Duration,
    ) -> ChannelIo<R, W> {
        ChannelIo {
            reader,
            writer,
            inbox,
            out,
            watch: host.host_watch(),
            watch_open: true,
            events: host.events(),
            heartbeat,
            receive_timeout,
            last_heartbeat: Instant::now(),
            last_received: Instant::now(),
        }
    }

    /// Writes what the outbox has ready while waiting for the console, the
    /// host or the device; wakes at the latest for the heartbeat, the
    /// receive timeout or `also`.
    pub async fn wait(&mut self, also: Option<Instant>) -> Result<Woke, WireError> {
        let now = Instant::now();
        let wake = [
            Some(self.last_heartbeat + self.heartbeat),
            Some(self.last_received + self.receive_timeout),
            also,
            self.out.quiet_until(),
        ]
        .into_iter()
        .flatten()
        .min();
        let chunk = self.out.ready(now);
        let writing = chunk.is_some();
        let chunk = chunk.unwrap_or(&[]);
        tokio::select! {
            read = self.inbox.fill(&mut self.reader) => {
                read?;
                self.last_received = Instant::now();
                Ok(Woke::Read)
            }
            written = self.writer.write(chunk), if writing => {
                match written? {
                    0 => Err(WireError::Closed),
                    n => {
                        self.out.wrote(n, Instant::now());
                        Ok(Woke::Tick)
                    }
                }
            }
            changed = self.watch.changed(), if self.watch_open => {
                self.watch_open = changed.is_ok();
                Ok(Woke::Tick)
            }
            event = self.events.recv() => Ok(Woke::Event(event)),
            _ = sleep_until_opt(wake) => Ok(Woke::Tick),
        }
    }

    /// Whether the console has been silent longer than the receive timeout.
    pub fn timed_out(&self, now: Instant) -> bool {
        now >= self.last_received + self.receive_timeout
    }

    /// Whether a heartbeat is due; if so it counts as sent now.
    pub fn heartbeat_due(&mut self, now: Instant) -> bool {
        let due = now >= self.last_heartbeat + self.heartbeat;
        if due {
            self.last_heartbeat = now;
        }
        due
    }
}

/// Waits until `at`, or forever without one.
pub async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lone_messages_travel_by_themselves_with_a_pause_after() {
        let mut out = Outbox::default();
        let data = |b: u8| DeviceMessage::SolData {
            seq: 0,
            data: vec![b],
        };
        out.push(&data(1), false).unwrap();
        out.push(&data(2), false).unwrap();
        out.push(
            &DeviceMessage::SolControls {
                seq: 0,
                control: 0,
                status: 4,
            },
            true,
        )
        .unwrap();
        out.push(&data(3), false).unwrap();
        let now = Instant::now();
        let first = out.ready(now).unwrap().len();
        assert_eq!(first, 22, "two data messages together");
        out.wrote(first, now);
        let lone = out.ready(now).unwrap().len();
        assert_eq!(lone, 10);
        out.wrote(lone, now);
        assert!(out.ready(now).is_none(), "quiet after a lone message");
        assert_eq!(out.quiet_until(), Some(now + SEPARATION));
        assert_eq!(out.ready(now + SEPARATION).unwrap().len(), 11);
    }

    #[test]
    fn a_stalled_console_overflows_the_bound() {
        let mut out = Outbox::default();
        let big = DeviceMessage::SolData {
            seq: 0,
            data: vec![0; 60_000],
        };
        let results: Vec<bool> = (0..5).map(|_| out.push(&big, false).is_ok()).collect();
        assert_eq!(results, [true, true, true, true, false]);
    }
}
