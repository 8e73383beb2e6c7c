//! The IDE-R channel: the host's media commands go to the console as 0x50,
//! the console's image answers with 0x54 data chunks and 0x51 status.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::host_port::HostPort;
use super::wire::{ChannelIo, Inbox, Outbox, Seq, WireError, Woke};
use amtemu_model::device::DeviceEvent;
use amtemu_model::host::{IderReply, IderRequest};
use amtemu_wire::redirection::{ClientMessage, DeviceMessage, IderSettings, IderStatus};

/// Device heartbeat cadence: amtider gives up after 20 s of silence;
/// MeshCommander ignores heartbeats but counts them in its sequence.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// MeshCommander sends nothing while idle (its ping timer is disabled), so
/// silence ends a session only after this long, whatever was requested.
const MIN_RECEIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// What 0x41 advertises for 0x54 and 0x53 payloads (MeshCommander aborts
/// above 8192; amtider sends 8192 whatever it is told).
pub const BUFFER: u16 = 8192;

/// The ATA PACKET command every 0x50 carries.
const ATA_PACKET: u8 = 0xA0;

/// 0x48/0x49 subcommands.
mod features {
    pub const SUPPORTED: u8 = 1;
    pub const GET_STATE: u8 = 2;
    pub const SET_STATE: u8 = 3;
    /// SUPPORTED value: register control.
    pub const REGISTER_CONTROL: u32 = 1;
    /// GET_STATE value: the IDE-R registers are active.
    pub const REGISTERS_ACTIVE: u32 = 2;
    /// SET_STATE value bit: enable.
    pub const ENABLE: u32 = 1;
}

/// 0x46 reset mask: the host's IDE bus was reset (the bit layout is not
/// documented; consoles only acknowledge it).
const RESET_MASK: u8 = 1;

/// 0x54 attribute bit: this chunk completes the command.
const LAST_CHUNK: u8 = 2;

/// A command sent to the console and the data collected for it.
struct Outstanding {
    id: u64,
    limit: usize,
    data: Vec<u8>,
}

/// Tells the host the console's drives are gone on every exit path.
struct Registers<'a, H: HostPort + ?Sized> {
    host: &'a H,
    active: bool,
}

impl<H: HostPort + ?Sized> Registers<'_, H> {
    fn set(&mut self, active: bool) {
        if self.active != active {
            self.active = active;
            self.host.ider_session(active);
        }
    }
}

impl<H: HostPort + ?Sized> Drop for Registers<'_, H> {
    fn drop(&mut self) {
        self.set(false);
    }
}

fn command(seq: u32, request: &IderRequest) -> DeviceMessage {
    // PIO transfer; the byte-count limit is what one DRQ block may carry.
    let limit = request.transfer_len.min(0xFFFE) as u16;
    DeviceMessage::IderCommand {
        seq,
        cable_select: 0,
        features: 0,
        sector_count: 0,
        sector_number: 0,
        byte_count_limit: limit,
        drive: request.drive.select(),
        command: ATA_PACKET,
        cdb: request.cdb,
    }
}

fn sense(status: &IderStatus) -> (u8, u8, u8) {
    (status.sense[0], status.sense[1], status.sense[2])
}

/// Runs an accepted IDE-R session until it ends; returns why it ended.
pub async fn run<R, W, H>(
    reader: R,
    writer: W,
    inbox: Inbox,
    host: &H,
    settings: IderSettings,
) -> Result<&'static str, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: HostPort + ?Sized,
{
    // amtider writes its 0x40 fields at the wrong offsets, which reads
    // here as zeros: zero means "use the defaults".
    let receive_timeout =
        Duration::from_millis(settings.receive_timeout_ms.into()).max(MIN_RECEIVE_TIMEOUT);
    let mut seq = Seq::default();
    let mut out = Outbox::default();
    out.push(
        &DeviceMessage::StartIderReply {
            status: 0,
            seq: seq.next(),
            version: [1, 0, 1, 1],
            read_buffer: BUFFER,
            write_buffer: BUFFER,
            oem_iana: 0,
        },
        true,
    )?;
    let mut io = ChannelIo::new(reader, writer, inbox, out, host, HEARTBEAT, receive_timeout);
    // Declared after `io` so that it is dropped first: the host hears the
    // drives are gone before the console sees the socket close.
    let mut registers = Registers {
        host,
        active: false,
    };
    let mut outstanding: Option<Outstanding> = None;
    let mut ending = false;

    loop {
        match io.wait(None).await? {
            Woke::Read => {
                while let Some(msg) = io.inbox.take()? {
                    match msg {
                        ClientMessage::IderFeatures {
                            subcommand, value, ..
                        } => {
                            let reply = match (subcommand, value) {
                                (features::SUPPORTED, _) => features::REGISTER_CONTROL,
                                (features::GET_STATE, _) => {
                                    u32::from(registers.active) * features::REGISTERS_ACTIVE
                                }
                                (features::SET_STATE, value) => {
                                    let enable = value.unwrap_or(0) & features::ENABLE != 0;
                                    registers.set(enable);
                                    tracing::debug!(
                                        enable,
                                        start_mode = value.unwrap_or(0) & 0x18,
                                        "IDE-R registers"
                                    );
                                    1
                                }
                                // The codec admits no other subcommand.
                                _ => 0,
                            };
                            io.out.push(
                                &DeviceMessage::IderFeaturesReply {
                                    seq: seq.next(),
                                    subcommand,
                                    value: reply,
                                },
                                true,
                            )?;
                        }
                        ClientMessage::IderData { status, data } => {
                            let Some(o) = outstanding.as_mut() else {
                                return Ok("data for no command");
                            };
                            // Consoles may answer with more than the
                            // allocation length; the host gets what it asked.
                            let room = o.limit.saturating_sub(o.data.len());
                            o.data.extend_from_slice(&data[..data.len().min(room)]);
                            if status.attributes & LAST_CHUNK != 0
                                && let Some(o) = outstanding.take()
                            {
                                host.ider_complete(IderReply {
                                    id: o.id,
                                    data: o.data,
                                    sense: sense(&status),
                                });
                            }
                        }
                        ClientMessage::IderCommandEnd(status) => {
                            let Some(o) = outstanding.take() else {
                                return Ok("status for no command");
                            };
                            host.ider_complete(IderReply {
                                id: o.id,
                                data: o.data,
                                sense: sense(&status),
                            });
                        }
                        ClientMessage::IderGetData(status) => {
                            // The emulated host only reads; a console asking
                            // for write data gets zeros.
                            let n = status.byte_count.min(BUFFER);
                            io.out.push(
                                &DeviceMessage::IderDataFromHost {
                                    seq: seq.next(),
                                    cable_select: 0,
                                    registers: [0; 3],
                                    data: vec![0; n.into()],
                                },
                                false,
                            )?;
                        }
                        ClientMessage::IderPing { .. } => {
                            io.out
                                .push(&DeviceMessage::IderPong { seq: seq.next() }, false)?;
                        }
                        ClientMessage::IderHeartbeat { .. }
                        | ClientMessage::IderPong { .. }
                        | ClientMessage::IderResetAck { .. } => {}
                        ClientMessage::EndIder { .. } => {
                            ending = true;
                            registers.set(false);
                            io.out
                                .push(&DeviceMessage::EndIderReply { seq: seq.next() }, true)?;
                        }
                        ClientMessage::EndSession => return Ok("console ended the session"),
                        other => {
                            tracing::info!(message = ?other, "IDE-R session got a message of another channel");
                            return Ok("message out of place");
                        }
                    }
                }
            }
            // The host restarted under the console: say so, as firmware
            // does, when the drives are in use.
            Woke::Event(Ok(DeviceEvent::Booted(_))) if registers.active && !ending => {
                io.out.push(
                    &DeviceMessage::IderResetOccurred {
                        seq: seq.next(),
                        mask: RESET_MASK,
                    },
                    true,
                )?;
            }
            Woke::Event(Ok(_) | Err(RecvError::Lagged(_))) => {}
            Woke::Event(Err(RecvError::Closed)) => return Ok("device gone"),
            Woke::Tick => {}
        }
        let now = Instant::now();
        if io.timed_out(now) {
            return Ok("receive timeout");
        }
        if ending {
            if io.out.is_empty() {
                // amtider closes after 0x43; MeshCommander just stops.
                let _ = io.writer.flush().await;
            }
            continue;
        }
        // One command at a time, each by itself (amtterm-derived consoles
        // take the whole read as one 0x50).
        if registers.active
            && outstanding.is_none()
            && let Some(request) = host.ider_next_request()
        {
            io.out.push(&command(seq.next(), &request), true)?;
            outstanding = Some(Outstanding {
                id: request.id,
                limit: request.transfer_len as usize,
                data: Vec::new(),
            });
        }
        if io.heartbeat_due(now) {
            io.out
                .push(&DeviceMessage::IderHeartbeat { seq: seq.next() }, false)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::redirect::sol::tests::FakeHost;

    async fn next(stream: &mut tokio::io::DuplexStream, buf: &mut Vec<u8>) -> DeviceMessage {
        loop {
            if let Some((msg, used)) = DeviceMessage::decode(buf).unwrap() {
                buf.drain(..used);
                return msg;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the device closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn encoded(msg: &ClientMessage) -> Vec<u8> {
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        bytes
    }

    fn spawn(
        host: Arc<FakeHost>,
        theirs: tokio::io::DuplexStream,
        settings: IderSettings,
    ) -> tokio::task::JoinHandle<Result<&'static str, WireError>> {
        tokio::spawn(async move {
            let (r, w) = tokio::io::split(theirs);
            run(r, w, Inbox::default(), &*host, settings).await
        })
    }

    /// Answers for no command and another channel's messages end the
    /// session; a request for write data gets zeros, at most `BUFFER`.
    #[tokio::test(start_paused = true)]
    async fn stray_answers_end_the_session_and_write_requests_get_zeros() {
        let status = IderStatus {
            byte_count: 9000,
            ..IderStatus::default()
        };
        for (msg, why) in [
            (
                ClientMessage::IderData {
                    status,
                    data: vec![1; 4],
                },
                "data for no command",
            ),
            (
                ClientMessage::IderCommandEnd(status),
                "status for no command",
            ),
            (
                ClientMessage::SolData {
                    seq: 0,
                    data: b"x".to_vec(),
                },
                "message out of place",
            ),
        ] {
            let (mut ours, theirs) = tokio::io::duplex(1 << 16);
            let task = spawn(Arc::new(FakeHost::new()), theirs, IderSettings::default());
            let mut buf = Vec::new();
            next(&mut ours, &mut buf).await;
            ours.write_all(&encoded(&msg)).await.unwrap();
            assert_eq!(task.await.unwrap().unwrap(), why);
        }
        let (mut ours, theirs) = tokio::io::duplex(1 << 16);
        let _task = spawn(Arc::new(FakeHost::new()), theirs, IderSettings::default());
        let mut buf = Vec::new();
        next(&mut ours, &mut buf).await;
        ours.write_all(&encoded(&ClientMessage::IderGetData(status)))
            .await
            .unwrap();
        assert_eq!(
            next(&mut ours, &mut buf).await,
            DeviceMessage::IderDataFromHost {
                seq: 1,
                cable_select: 0,
                registers: [0; 3],
                data: vec![0; BUFFER.into()],
            }
        );
    }

    fn seq_of(msg: &DeviceMessage) -> u32 {
        let bytes = msg.to_bytes();
        u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])
    }

    /// amtider writes 0x40's three u16 fields at offsets 1-6 and a 1 at
    /// offset 7; the session must still open, answer the feature requests
    /// and send heartbeats, numbering every message from 0.
    #[tokio::test(start_paused = true)]
    async fn amtider_s_misplaced_start_fields_are_tolerated() {
        let host = Arc::new(FakeHost::new());
        let (mut ours, theirs) = tokio::io::duplex(1 << 16);
        let mut raw = [0u8; 17];
        raw[0..2].copy_from_slice(&10_000u16.to_le_bytes());
        raw[2..4].copy_from_slice(&0u16.to_le_bytes());
        raw[4..6].copy_from_slice(&5000u16.to_le_bytes());
        raw[6] = 1;
        let settings = ClientMessage::ider_settings(&raw);
        assert_eq!(
            settings.receive_timeout_ms, 0,
            "documented offsets read zeros"
        );
        spawn(host.clone(), theirs, settings);
        let mut buf = Vec::new();
        let opened = next(&mut ours, &mut buf).await;
        assert!(matches!(
            opened,
            DeviceMessage::StartIderReply {
                status: 0,
                seq: 0,
                read_buffer: 8192,
                write_buffer: 8192,
                ..
            }
        ));
        let ask = |subcommand, value| {
            encoded(&ClientMessage::IderFeatures {
                seq: 0,
                subcommand,
                value,
            })
        };
        let requests = [ask(1, None), ask(3, Some(0x19)), ask(2, Some(0))];
        let mut replies = Vec::new();
        for r in requests {
            ours.write_all(&r).await.unwrap();
            replies.push(next(&mut ours, &mut buf).await);
        }
        assert_eq!(
            replies,
            [
                DeviceMessage::IderFeaturesReply {
                    seq: 1,
                    subcommand: 1,
                    value: 1
                },
                DeviceMessage::IderFeaturesReply {
                    seq: 2,
                    subcommand: 3,
                    value: 1
                },
                DeviceMessage::IderFeaturesReply {
                    seq: 3,
                    subcommand: 2,
                    value: 2
                },
            ]
        );
        let heartbeat = next(&mut ours, &mut buf).await;
        assert!(matches!(heartbeat, DeviceMessage::IderHeartbeat { .. }));
        assert_eq!(seq_of(&heartbeat), 4);
    }
}
