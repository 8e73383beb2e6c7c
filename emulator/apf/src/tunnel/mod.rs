//! The device side of an APF tunnel as a sans-I/O state machine.
//!
//! The caller connects (TLS to the MPS, or MEI to LMS), calls
//! [`Tunnel::start`], feeds received bytes to [`Tunnel::receive`] (or
//! decoded messages to [`Tunnel::handle`]), writes out what
//! [`Tunnel::write_transmit`] yields, and acts on [`Tunnel::poll_event`].
//! Any error is fatal: the tunnel has already queued the DISCONNECT named
//! by [`ProtocolError::disconnect_reason`], so the caller flushes the
//! transmit queue and closes the connection.
//!
//! Handshake (spec §3): PROTOCOLVERSION and SERVICE_REQUEST auth go out
//! together (neither MPS answers the version) → SERVICE_ACCEPT auth →
//! USERAUTH_REQUEST password → USERAUTH_SUCCESS → SERVICE_REQUEST pfwd →
//! SERVICE_ACCEPT pfwd → one tcpip-forward per port, each sent after the
//! previous one's answer (as MeshCentral's emulating client does) →
//! established.

mod config;
mod event;

use std::collections::VecDeque;

pub use config::{
    Config, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_MAX_CHANNELS, DEFAULT_MAX_CHUNK, DEFAULT_WINDOW,
    FIRMWARE_PORT_ORDER,
};
pub use event::{Event, Phase, ProtocolError, UsageError};

use crate::channel::{ChannelId, Channels, Closed};
use crate::codec::{self, SuccessShape};
use crate::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, Message,
    OpenFailureReason, ProtocolVersion, SERVICE_AUTH, SERVICE_PFWD,
};

/// A global request awaiting its answer; answers come in request order.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Forward(u16),
    Cancel(u16),
}

/// The device side of one APF tunnel.
#[derive(Debug)]
pub struct Tunnel {
    config: Config,
    phase: Phase,
    next_port: usize,
    forwarded: Vec<u16>,
    pending: VecDeque<Pending>,
    channels: Channels,
    keepalive_interval: u32,
    outbox: VecDeque<Message>,
    events: VecDeque<Event>,
}

impl Tunnel {
    pub fn new(config: Config) -> Tunnel {
        Tunnel {
            phase: Phase::Connected,
            next_port: 0,
            forwarded: Vec::new(),
            pending: VecDeque::new(),
            channels: Channels::new(config.initial_window, config.max_channels),
            keepalive_interval: config.keepalive_interval,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            config,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Ports the MPS has accepted forwards for.
    pub fn forwarded_ports(&self) -> &[u16] {
        &self.forwarded
    }

    /// Channels in the table (open or closing).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The port a channel was opened to.
    pub fn channel_port(&self, channel: ChannelId) -> Option<u16> {
        self.channels.port(channel)
    }

    /// Seconds between the device's keep-alives: the MPS's figure once it
    /// sent options (a zero there leaves the configured one), else the
    /// configured one. The caller's clock drives [`Tunnel::send_keepalive`].
    pub fn keepalive_interval(&self) -> u32 {
        self.keepalive_interval
    }

    /// How the next REQUEST_SUCCESS is framed: by the oldest unanswered
    /// global request, or bare when none is outstanding (that reply is an
    /// error anyway, and the bare form consumes the fewest bytes).
    pub fn success_shape(&self) -> SuccessShape {
        match self.pending.front() {
            Some(Pending::Forward(_)) => SuccessShape::WithPort,
            Some(Pending::Cancel(_)) | None => SuccessShape::Bare,
        }
    }

    /// Queues PROTOCOLVERSION (1.0) and the auth service request. Does
    /// nothing after the first call.
    pub fn start(&mut self) {
        if self.phase != Phase::Connected {
            return;
        }
        self.send(Message::ProtocolVersion(ProtocolVersion {
            major: 1,
            minor: 0,
            trigger: self.config.trigger,
            uuid: self.config.uuid,
        }));
        self.send(Message::ServiceRequest {
            service: SERVICE_AUTH.into(),
        });
        self.phase = Phase::AwaitAuthService;
    }

    /// Next message to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.outbox.pop_front()
    }

    /// Encodes every queued message onto `out`.
    pub fn write_transmit(&mut self, out: &mut Vec<u8>) {
        while let Some(msg) = self.outbox.pop_front() {
            codec::encode(&msg, out);
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Decodes and handles every complete message at the front of `buf`;
    /// returns the bytes used (the rest is an incomplete message to keep).
    /// Stops after a DISCONNECT from the peer.
    pub fn receive(&mut self, buf: &[u8]) -> Result<usize, ProtocolError> {
        if self.phase == Phase::Closed && !buf.is_empty() {
            return Err(ProtocolError::Closed);
        }
        let mut used = 0;
        while self.phase != Phase::Closed {
            let rest = buf.get(used..).unwrap_or_default();
            // The shape is re-read per message: each reply changes it.
            match codec::decode_with(rest, self.success_shape()) {
                Ok(None) => break,
                Ok(Some((msg, len))) => {
                    used += len;
                    self.handle(msg)?;
                }
                Err(e) => return Err(self.fail(e.into())),
            }
        }
        Ok(used)
    }

    /// Handles one decoded message from the peer.
    pub fn handle(&mut self, msg: Message) -> Result<(), ProtocolError> {
        match self.step(msg) {
            Ok(()) => Ok(()),
            Err(ProtocolError::Closed) => Err(ProtocolError::Closed),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn step(&mut self, msg: Message) -> Result<(), ProtocolError> {
        use Phase::*;
        let phase = self.phase;
        match (phase, msg) {
            (Closed, _) => return Err(ProtocolError::Closed),
            (_, Message::Disconnect { reason }) => {
                self.phase = Closed;
                self.channels.clear();
                self.events.push_back(Event::Disconnect(reason));
            }
            (Connected, msg) => return Err(unexpected(&msg, phase)),
            (_, Message::ProtocolVersion(v)) => {
                if v.major != 1 {
                    return Err(ProtocolError::UnsupportedVersion {
                        major: v.major,
                        minor: v.minor,
                    });
                }
                self.events.push_back(Event::PeerVersion(v));
            }
            (_, Message::KeepaliveRequest { cookie }) => {
                self.send(Message::KeepaliveReply { cookie })
            }
            (_, Message::KeepaliveReply { cookie }) => {
                self.events.push_back(Event::KeepaliveReply { cookie })
            }
            (_, Message::KeepaliveOptionsRequest { interval, timeout }) => {
                if interval != 0 {
                    self.keepalive_interval = interval;
                }
                self.send(Message::KeepaliveOptionsReply { interval, timeout });
                self.events
                    .push_back(Event::KeepaliveOptions { interval, timeout });
            }
            (AwaitAuthService, Message::ServiceAccept { service }) => {
                expect_service(SERVICE_AUTH, service)?;
                self.send(Message::UserauthRequest {
                    username: self.config.username.clone(),
                    service: SERVICE_PFWD.into(),
                    method: AuthMethod::Password(self.config.password.clone()),
                });
                self.phase = AwaitUserauth;
            }
            (AwaitUserauth, Message::UserauthSuccess) => {
                self.send(Message::ServiceRequest {
                    service: SERVICE_PFWD.into(),
                });
                self.events.push_back(Event::Authenticated);
                self.phase = AwaitPfwdService;
            }
            (AwaitUserauth, Message::UserauthFailure { .. }) => {
                return Err(ProtocolError::AuthFailed);
            }
            (AwaitPfwdService, Message::ServiceAccept { service }) => {
                expect_service(SERVICE_PFWD, service)?;
                self.phase = Forwarding;
                self.forward_next();
            }
            (Forwarding | Established, msg) => self.step_forwarding(msg)?,
            (_, msg) => return Err(unexpected(&msg, phase)),
        }
        Ok(())
    }

    /// Messages valid once port forwarding has begun.
    fn step_forwarding(&mut self, msg: Message) -> Result<(), ProtocolError> {
        match msg {
            Message::RequestSuccess { .. } | Message::RequestFailure => {
                let ok = matches!(msg, Message::RequestSuccess { .. });
                match self.pending.pop_front() {
                    None => return Err(ProtocolError::UnsolicitedReply),
                    Some(Pending::Forward(port)) => {
                        if ok {
                            self.forwarded.push(port);
                            self.events.push_back(Event::Forwarded { port });
                        } else {
                            self.events.push_back(Event::ForwardRefused { port });
                        }
                        self.forward_next();
                    }
                    Some(Pending::Cancel(port)) => {
                        self.events
                            .push_back(Event::ForwardCancelled { port, accepted: ok });
                    }
                }
            }
            // The MPSs send none; SSH answers requests it does not serve.
            Message::GlobalRequest { want_reply, .. } => {
                if want_reply {
                    self.send(Message::RequestFailure);
                }
            }
            Message::ChannelOpen(open) => self.open_channel(open),
            Message::ChannelData {
                recipient_channel,
                data,
            } => {
                if self.channels.receive(recipient_channel, data.len())? && !data.is_empty() {
                    self.events.push_back(Event::Data {
                        channel: ChannelId(recipient_channel),
                        bytes: data,
                    });
                }
            }
            Message::ChannelWindowAdjust {
                recipient_channel,
                bytes_to_add,
            } => {
                if let Some(available) = self.channels.grant(recipient_channel, bytes_to_add)? {
                    self.events.push_back(Event::SendWindow {
                        channel: ChannelId(recipient_channel),
                        available,
                    });
                }
            }
            Message::ChannelClose { recipient_channel } => {
                if let Closed::AnswerTo(peer) = self.channels.close_received(recipient_channel)? {
                    self.send(Message::ChannelClose {
                        recipient_channel: peer,
                    });
                }
                self.events.push_back(Event::ChannelClosed {
                    channel: ChannelId(recipient_channel),
                });
            }
            // The device opens no channels, so confirmations and failures
            // answer nothing; neither do service or auth messages here.
            other => return Err(unexpected(&other, self.phase)),
        }
        Ok(())
    }

    fn forward_next(&mut self) {
        if self.phase != Phase::Forwarding {
            return;
        }
        match self.config.ports.get(self.next_port).copied() {
            Some(port) => {
                self.next_port += 1;
                self.pending.push_back(Pending::Forward(port));
                self.send(Message::GlobalRequest {
                    want_reply: true,
                    request: GlobalRequest::TcpipForward {
                        address: self.config.forward_address.clone(),
                        port: u32::from(port),
                    },
                });
            }
            None => {
                self.phase = Phase::Established;
                self.events.push_back(Event::Established);
            }
        }
    }

    /// Answers the MPS's CHANNEL_OPEN. A refusal is an answer, not a
    /// fault: the spec has the device reply OPEN_FAILURE, not disconnect.
    fn open_channel(&mut self, open: ChannelOpen) {
        let refuse = |reason| Message::ChannelOpenFailure {
            recipient_channel: open.sender_channel,
            reason,
        };
        let port = u16::try_from(open.connected_port).ok();
        let reply = if open.channel_type != ChannelType::ForwardedTcpip {
            refuse(OpenFailureReason::UnknownChannelType)
        } else if let Some(port) = port.filter(|p| self.forwarded.contains(p)) {
            match self
                .channels
                .open(open.sender_channel, port, open.initial_window)
            {
                Some(channel) => {
                    self.events.push_back(Event::ChannelOpened {
                        channel,
                        port,
                        originator: open.originator_address,
                        originator_port: open.originator_port,
                    });
                    Message::ChannelOpenConfirmation {
                        recipient_channel: open.sender_channel,
                        sender_channel: channel.0,
                        initial_window: self.config.initial_window,
                    }
                }
                None => refuse(OpenFailureReason::ResourceShortage),
            }
        } else {
            // Not served: "connect failed", as the spec has it.
            refuse(OpenFailureReason::ConnectFailed)
        };
        self.send(reply);
    }

    /// Bytes that may be sent on `channel` now.
    pub fn send_capacity(&mut self, channel: ChannelId) -> Result<u32, UsageError> {
        Ok(self.channels.capacity(channel)?.1)
    }

    /// Queues as much of `data` as the peer's window allows, in chunks of
    /// at most `max_chunk`; returns how many bytes were taken. Keeping the
    /// rest until [`Event::SendWindow`] is the caller's business.
    pub fn send_data(&mut self, channel: ChannelId, data: &[u8]) -> Result<usize, UsageError> {
        let (peer, window) = self.channels.capacity(channel)?;
        let take = data.len().min(window as usize);
        let chunk = (self.config.max_chunk as usize).max(1);
        for piece in data.get(..take).unwrap_or_default().chunks(chunk) {
            self.send(Message::ChannelData {
                recipient_channel: peer,
                data: piece.to_vec(),
            });
        }
        self.channels.spend(channel, take as u32);
        Ok(take)
    }

    /// Reports that the consumer took `n` bytes delivered on `channel`;
    /// the window is granted back in batches (see the channel table).
    pub fn consumed(&mut self, channel: ChannelId, n: u32) -> Result<(), UsageError> {
        if let Some((peer, bytes_to_add)) = self.channels.consume(channel, n)? {
            self.send(Message::ChannelWindowAdjust {
                recipient_channel: peer,
                bytes_to_add,
            });
        }
        Ok(())
    }

    /// Starts closing `channel`; [`Event::ChannelClosed`] follows the
    /// peer's answer. Closing a closing channel does nothing.
    pub fn close_channel(&mut self, channel: ChannelId) -> Result<(), UsageError> {
        if let Some(peer) = self.channels.close(channel)? {
            self.send(Message::ChannelClose {
                recipient_channel: peer,
            });
        }
        Ok(())
    }

    /// Stops serving `port`: new channels to it are refused at once and the
    /// MPS is asked to drop it. Open channels to it stay open.
    pub fn cancel_forward(&mut self, port: u16) -> Result<(), UsageError> {
        if self.phase != Phase::Established {
            return Err(UsageError::WrongPhase(self.phase));
        }
        let at = self.forwarded.iter().position(|&p| p == port);
        let at = at.ok_or(UsageError::NotForwarded(port))?;
        self.forwarded.remove(at);
        self.pending.push_back(Pending::Cancel(port));
        self.send(Message::GlobalRequest {
            want_reply: true,
            request: GlobalRequest::CancelTcpipForward {
                address: self.config.forward_address.clone(),
                port: u32::from(port),
            },
        });
        Ok(())
    }

    /// Queues a KEEPALIVE_REQUEST; the caller's timer decides when.
    pub fn send_keepalive(&mut self, cookie: u32) -> Result<(), UsageError> {
        match self.phase {
            Phase::Connected | Phase::Closed => Err(UsageError::WrongPhase(self.phase)),
            _ => {
                self.send(Message::KeepaliveRequest { cookie });
                Ok(())
            }
        }
    }

    /// Queues DISCONNECT with `reason` and closes the tunnel.
    pub fn disconnect(&mut self, reason: DisconnectReason) {
        if self.phase != Phase::Closed {
            self.send(Message::Disconnect { reason });
            self.phase = Phase::Closed;
            self.channels.clear();
        }
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.disconnect(e.disconnect_reason());
        e
    }

    fn send(&mut self, msg: Message) {
        self.outbox.push_back(msg);
    }
}

fn unexpected(msg: &Message, phase: Phase) -> ProtocolError {
    ProtocolError::Unexpected {
        code: msg.code(),
        phase,
    }
}

fn expect_service(expected: &'static str, got: String) -> Result<(), ProtocolError> {
    if got == expected {
        Ok(())
    } else {
        Err(ProtocolError::WrongService { expected, got })
    }
}
