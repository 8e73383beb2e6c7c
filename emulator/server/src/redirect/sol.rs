//! The Serial-over-LAN channel: host console output to the console as 0x2A,
//! keystrokes from 0x28 to the host, heartbeats, host power as 0x29.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::host_port::HostPort;
use super::wire::{ChannelIo, Inbox, Outbox, Seq, WireError, Woke};
use amtemu_model::device::DeviceEvent;
use amtemu_wire::redirection::{ClientMessage, DeviceMessage, SolSettings};

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

fn controls(seq: &mut Seq, powered: bool) -> DeviceMessage {
    DeviceMessage::SolControls {
        seq: seq.next(),
        control: 0,
        status: if powered { STATUS_POWER_ON } else { 0 },
    }
}

/// Runs an accepted SOL session until it ends; returns why it ended.
pub async fn run<R, W, H>(
    reader: R,
    writer: W,
    inbox: Inbox,
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

    let mut io = ChannelIo::new(
        reader,
        writer,
        inbox,
        out,
        host,
        timing.heartbeat,
        timing.receive_timeout,
    );
    let mut cursor = host.console_cursor();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_since: Option<Instant> = None;
    let mut ending = false;

    loop {
        let also = [
            pending_since.map(|t| t + timing.coalesce),
            host.console_next_due(),
        ]
        .into_iter()
        .flatten()
        .min();
        match io.wait(also).await? {
            Woke::Read => {
                while let Some(msg) = io.inbox.take()? {
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
                            io.out
                                .push(&DeviceMessage::EndSolReply { seq: seq.next() }, true)?;
                        }
                        ClientMessage::EndSession => return Ok("console ended the session"),
                        other => {
                            tracing::info!(message = ?other, "SOL session got a message of another channel");
                            return Ok("message out of place");
                        }
                    }
                }
            }
            Woke::Event(Ok(DeviceEvent::PowerChanged { .. }) | Err(RecvError::Lagged(_))) => {}
            Woke::Event(Ok(_)) => continue,
            Woke::Event(Err(RecvError::Closed)) => return Ok("device gone"),
            Woke::Tick => {}
        }
        let now = Instant::now();
        if io.timed_out(now) {
            return Ok("receive timeout");
        }
        if ending {
            // After 0x23 only the console's 0x12 (or its close) is awaited.
            continue;
        }
        let now_powered = host.host_powered();
        if now_powered != powered {
            powered = now_powered;
            io.out.push(&controls(&mut seq, powered), true)?;
        }
        let fresh = host.console_read(&mut cursor);
        if !fresh.is_empty() {
            pending_since.get_or_insert(now);
            pending.extend_from_slice(&fresh);
        }
        // Full chunks go at once; what is left goes when it has waited the
        // transmit timeout.
        let due = pending_since.is_some_and(|t| now >= t + timing.coalesce);
        while pending.len() >= timing.max_chunk || (due && !pending.is_empty()) {
            let rest = pending.split_off(timing.max_chunk.min(pending.len()));
            let data = std::mem::replace(&mut pending, rest);
            io.out.push(
                &DeviceMessage::SolData {
                    seq: seq.next(),
                    data,
                },
                false,
            )?;
        }
        if pending.is_empty() {
            pending_since = None;
        }
        if io.heartbeat_due(now) {
            io.out
                .push(&DeviceMessage::SolHeartbeat { seq: seq.next() }, false)?;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::{broadcast, watch};

    use super::*;
    use amtemu_model::device::HostPower;
    use amtemu_model::host::{IderReply, IderRequest};

    /// A host whose console output and power the test sets.
    pub(crate) struct FakeHost {
        output: Mutex<Vec<u8>>,
        pub(crate) typed: Mutex<Vec<u8>>,
        powered: Mutex<bool>,
        consent: Mutex<Option<u32>>,
        watch: watch::Sender<u64>,
        events: broadcast::Sender<DeviceEvent>,
    }

    impl FakeHost {
        pub(crate) fn new() -> FakeHost {
            FakeHost {
                output: Mutex::new(Vec::new()),
                typed: Mutex::new(Vec::new()),
                powered: Mutex::new(true),
                consent: Mutex::new(None),
                watch: watch::channel(0).0,
                events: broadcast::channel(8).0,
            }
        }

        pub(crate) fn print(&self, bytes: &[u8]) {
            self.output.lock().unwrap().extend_from_slice(bytes);
            self.watch.send_modify(|n| *n += 1);
        }

        /// Puts a consent code on the host's screen (or takes it off).
        pub(crate) fn show_consent(&self, code: Option<u32>) {
            *self.consent.lock().unwrap() = code;
            self.watch.send_modify(|n| *n += 1);
        }

        pub(crate) fn power(&self, on: bool) {
            *self.powered.lock().unwrap() = on;
            let (from, to) = if on {
                (HostPower::S5, HostPower::S0)
            } else {
                (HostPower::S0, HostPower::S5)
            };
            let _ = self.events.send(DeviceEvent::PowerChanged { from, to });
        }
    }

    impl HostPort for FakeHost {
        fn console_cursor(&self) -> u64 {
            0
        }
        fn console_read(&self, cursor: &mut u64) -> Vec<u8> {
            let out = self.output.lock().unwrap();
            let fresh = out[*cursor as usize..].to_vec();
            *cursor = out.len() as u64;
            fresh
        }
        fn console_input(&self, bytes: &[u8]) {
            self.typed.lock().unwrap().extend_from_slice(bytes);
        }
        fn console_next_due(&self) -> Option<Instant> {
            None
        }
        fn host_watch(&self) -> watch::Receiver<u64> {
            self.watch.subscribe()
        }
        fn host_powered(&self) -> bool {
            *self.powered.lock().unwrap()
        }
        fn events(&self) -> broadcast::Receiver<DeviceEvent> {
            self.events.subscribe()
        }
        fn ider_session(&self, _: bool) {}
        fn ider_next_request(&self) -> Option<IderRequest> {
            None
        }
        fn ider_complete(&self, _: IderReply) {}
        fn consent_code(&self) -> Option<u32> {
            *self.consent.lock().unwrap()
        }
    }

    fn settings(max: u16, coalesce_ms: u16) -> SolSettings {
        SolSettings {
            max_transmit_buffer: max,
            transmit_timeout_ms: coalesce_ms,
            receive_timeout_ms: 10_000,
            heartbeat_ms: 5000,
            ..SolSettings::default()
        }
    }

    /// The console's end: reads device messages.
    struct Console {
        stream: DuplexStream,
        buf: Vec<u8>,
    }

    impl Console {
        async fn next(&mut self) -> DeviceMessage {
            loop {
                if let Some((msg, used)) = DeviceMessage::decode(&self.buf).unwrap() {
                    self.buf.drain(..used);
                    return msg;
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the device closed");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }

        async fn send(&mut self, msg: ClientMessage) {
            let mut bytes = Vec::new();
            msg.encode(&mut bytes);
            self.stream.write_all(&bytes).await.unwrap();
        }
    }

    fn start(
        host: std::sync::Arc<FakeHost>,
        s: SolSettings,
        capacity: usize,
    ) -> (
        Console,
        tokio::task::JoinHandle<Result<&'static str, WireError>>,
    ) {
        let (ours, theirs) = tokio::io::duplex(capacity);
        let task = tokio::spawn(async move {
            let (r, w) = tokio::io::split(theirs);
            run(r, w, Inbox::default(), &*host, s).await
        });
        (
            Console {
                stream: ours,
                buf: Vec::new(),
            },
            task,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn output_is_coalesced_chunked_and_keys_reach_the_host() {
        let host = std::sync::Arc::new(FakeHost::new());
        let (mut c, _task) = start(host.clone(), settings(4, 100), 1 << 16);
        assert!(matches!(
            c.next().await,
            DeviceMessage::StartSolReply { status: 0, .. }
        ));
        assert!(matches!(
            c.next().await,
            DeviceMessage::SolControls { status: 4, .. }
        ));
        host.print(b"ab");
        tokio::time::sleep(Duration::from_millis(10)).await;
        host.print(b"cdefg");
        // Four bytes fill a message at once; the rest waits for the
        // transmit timeout.
        let started = Instant::now();
        let DeviceMessage::SolData { data, .. } = c.next().await else {
            panic!("data expected");
        };
        assert_eq!(data, b"abcd");
        let DeviceMessage::SolData { data, .. } = c.next().await else {
            panic!("data expected");
        };
        assert_eq!(data, b"efg");
        assert!(started.elapsed() >= Duration::from_millis(80));
        c.send(ClientMessage::SolData {
            seq: 1,
            data: b"ls\r".to_vec(),
        })
        .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(*host.typed.lock().unwrap(), b"ls\r");
    }

    #[tokio::test(start_paused = true)]
    async fn power_changes_resend_controls_and_heartbeats_flow() {
        let host = std::sync::Arc::new(FakeHost::new());
        let (mut c, _task) = start(host.clone(), settings(1000, 0), 1 << 16);
        c.next().await;
        c.next().await;
        host.power(false);
        assert!(matches!(
            c.next().await,
            DeviceMessage::SolControls { status: 0, .. }
        ));
        let before = Instant::now();
        c.send(ClientMessage::SolHeartbeat { seq: 0 }).await;
        assert!(matches!(c.next().await, DeviceMessage::SolHeartbeat { .. }));
        assert!(before.elapsed() <= MAX_HEARTBEAT);
    }

    /// Another channel's message ends the session; keys typed after 0x22
    /// never reach the host.
    #[tokio::test(start_paused = true)]
    async fn keys_after_the_end_are_dropped_and_a_foreign_message_ends_the_session() {
        let host = std::sync::Arc::new(FakeHost::new());
        let (mut c, task) = start(host.clone(), settings(1000, 0), 1 << 16);
        c.next().await;
        c.next().await;
        c.send(ClientMessage::EndSol { seq: 1 }).await;
        assert!(matches!(c.next().await, DeviceMessage::EndSolReply { .. }));
        c.send(ClientMessage::SolData {
            seq: 2,
            data: b"\x1d".to_vec(),
        })
        .await;
        c.send(ClientMessage::IderPing { seq: 3 }).await;
        assert_eq!(task.await.unwrap().unwrap(), "message out of place");
        assert!(host.typed.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_console_is_dropped_after_the_receive_timeout() {
        let host = std::sync::Arc::new(FakeHost::new());
        let (mut c, task) = start(host, settings(1000, 0), 1 << 16);
        c.next().await;
        let started = Instant::now();
        let why = task.await.unwrap().unwrap();
        assert_eq!(why, "receive timeout");
        assert!(started.elapsed() >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_console_that_stops_reading_is_dropped_not_buffered_forever() {
        let host = std::sync::Arc::new(FakeHost::new());
        // A tiny pipe: the device's writes block almost at once.
        let (c, task) = start(host.clone(), settings(1000, 0), 64);
        let mut printed = 0;
        while !task.is_finished() && printed < 10 * crate::redirect::wire::MAX_QUEUED {
            host.print(&[b'x'; 4096]);
            printed += 4096;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ended = task.await.unwrap();
        assert!(matches!(ended, Err(WireError::Stalled(_))), "{ended:?}");
        drop(c);
    }
}
