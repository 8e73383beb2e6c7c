//! A scripted MPS that answers the device as MeshCentral's `mpsserver.js`
//! does (spec §3, §5), and helpers to pump bytes between it and a tunnel.

#![allow(dead_code)]

use amtemu_apf::codec;
use amtemu_apf::message::{AuthMethod, GlobalRequest, Message, SERVICE_PFWD};
use amtemu_apf::{Config, Event, Tunnel, Uuid};

pub const USER: &str = "0123456789abcdef";
pub const PASS: &str = "P@ssw0rd";

pub fn uuid() -> Uuid {
    "4c4c4544-0042-3510-8051-b8c04f4b3732".parse().unwrap()
}

pub fn config(ports: &[u16]) -> Config {
    Config::new(uuid(), USER, PASS, ports)
}

#[derive(Default)]
pub struct Mps {
    /// Bytes from the device not yet decoded.
    inbox: Vec<u8>,
    pub seen: Vec<Message>,
    pub bound: Vec<u32>,
    pub password: Option<String>,
}

impl Mps {
    pub fn new() -> Mps {
        Mps {
            password: Some(PASS.into()),
            ..Mps::default()
        }
    }

    /// Takes device bytes; returns the MPS's answer bytes.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.inbox.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some((msg, len)) = codec::decode(&self.inbox).expect("device sent valid APF") {
            self.inbox.drain(..len);
            for reply in self.answer(&msg) {
                codec::encode(&reply, &mut out);
            }
            self.seen.push(msg);
        }
        out
    }

    fn answer(&mut self, msg: &Message) -> Vec<Message> {
        match msg {
            Message::ServiceRequest { service } => vec![Message::ServiceAccept {
                service: service.clone(),
            }],
            Message::UserauthRequest {
                username,
                service,
                method: AuthMethod::Password(p),
            } => {
                let good = username.len() == 16
                    && service == SERVICE_PFWD
                    && self.password.as_deref().is_none_or(|want| want == p);
                if good {
                    vec![Message::UserauthSuccess]
                } else {
                    vec![Message::UserauthFailure {
                        methods: "password".into(),
                    }]
                }
            }
            Message::GlobalRequest {
                request: GlobalRequest::TcpipForward { port, .. },
                ..
            } => {
                self.bound.push(*port);
                let mut out = vec![Message::RequestSuccess { port: Some(*port) }];
                if *port == 5900 {
                    out.push(Message::KeepaliveOptionsRequest {
                        interval: 30,
                        timeout: 0,
                    });
                }
                out
            }
            Message::GlobalRequest {
                request: GlobalRequest::CancelTcpipForward { port, .. },
                ..
            } => {
                self.bound.retain(|p| p != port);
                vec![Message::RequestSuccess { port: None }]
            }
            Message::KeepaliveRequest { cookie } => {
                vec![Message::KeepaliveReply { cookie: *cookie }]
            }
            _ => Vec::new(),
        }
    }
}

pub fn drain_events(t: &mut Tunnel) -> Vec<Event> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

pub fn drain_sent(t: &mut Tunnel) -> Vec<Message> {
    std::iter::from_fn(|| t.poll_transmit()).collect()
}

/// Runs device ⇄ MPS until neither has anything to say. MPS bytes reach the
/// device in pieces cut by `cuts` (cycled), to show framing is independent
/// of how reads split the stream.
pub fn pump(t: &mut Tunnel, mps: &mut Mps, cuts: &[usize]) {
    let mut pending: Vec<u8> = Vec::new();
    let mut cut = cuts.iter().copied().cycle();
    for _ in 0..1000 {
        let mut from_device = Vec::new();
        t.write_transmit(&mut from_device);
        let answer = mps.receive(&from_device);
        if from_device.is_empty() && answer.is_empty() && pending.is_empty() {
            return;
        }
        pending.extend_from_slice(&answer);
        // Deliver the whole answer, in pieces.
        let mut offered = 0;
        while offered < pending.len() {
            let step = if cuts.is_empty() {
                pending.len()
            } else {
                cut.next().unwrap_or(1).max(1)
            };
            offered = (offered + step).min(pending.len());
            let used = t.receive(&pending[..offered]).expect("handshake succeeds");
            pending.drain(..used);
            offered -= used;
        }
    }
    panic!("device and MPS never went quiet");
}

/// A tunnel through the handshake with `ports`, events drained.
pub fn established(ports: &[u16]) -> (Tunnel, Mps) {
    let mut t = Tunnel::new(config(ports));
    let mut mps = Mps::new();
    t.start();
    pump(&mut t, &mut mps, &[]);
    assert_eq!(t.phase(), amtemu_apf::Phase::Established);
    drain_events(&mut t);
    (t, mps)
}
