//! A small Management Presence Server: the MPS side of CIRA, for tests and
//! for `amtemu-load`'s MPS mode. It accepts TLS, runs the APF handshake as
//! MeshCentral's and Intel's MPSs do (accept the services, check one user
//! name and password, accept every tcpip-forward, answer keep-alives) and
//! then lets its caller open channels and exchange bytes on them, relay a
//! channel to a local TCP connection (so a real client can talk through
//! the tunnel), or send any bytes at all, to see how a device takes
//! malformed APF.
//!
//! TLS is OpenSSL's, as open as MeshCentral's MPS (spec §10): TLS 1.0 to
//! 1.3, static-RSA or ECDHE suites, no DHE, at security level 0 so that the
//! TLS 1.0/1.1 and SHA-1 suites of pre-12 firmware get through. What was
//! negotiated is kept on each tunnel.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use amtemu_apf::message::{
    AuthMethod, ChannelOpen, ChannelType, DisconnectReason, GlobalRequest, SERVICE_AUTH,
    SERVICE_PFWD, TriggerReason,
};
use amtemu_apf::{Message, Uuid};
use openssl::pkey::PKey;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

/// The window the MPS grants per channel (both real MPSs use 32768).
pub const MPS_WINDOW: u32 = 32768;

#[derive(Debug, thiserror::Error)]
pub enum MpsError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("undecodable APF from the device: {0}")]
    Decode(#[from] amtemu_apf::DecodeError),
    #[error("the device closed the connection")]
    Closed,
    #[error("unexpected message from the device: {0:?}")]
    Unexpected(Box<Message>),
    #[error("the device sent DISCONNECT {0:?}")]
    Disconnected(DisconnectReason),
    #[error("refused the device's credentials")]
    Refused,
    #[error("the device sent {len} bytes with {left} left in the window")]
    WindowOverrun { len: u32, left: u32 },
    #[error("timed out")]
    Timeout,
    #[error("TLS configuration: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    #[error("TLS handshake: {0}")]
    Handshake(String),
}

/// A listening MPS.
pub struct Mps {
    listener: TcpListener,
    context: SslContext,
    username: String,
    password: String,
}

impl Mps {
    /// Listens on `addr` with the certificate chain (leaf first, DER) and
    /// PKCS#8 key given; devices must log in as `username`/`password`.
    pub async fn bind(
        addr: SocketAddr,
        chain: Vec<Vec<u8>>,
        key_pkcs8: Vec<u8>,
        username: &str,
        password: &str,
    ) -> Result<Mps, MpsError> {
        let context = server_context(&chain, &key_pkcs8)?;
        // A fleet calls in all at once: a long accept queue keeps SYNs from
        // being dropped and retried seconds later.
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener: TcpListener = socket.listen(65535)?;
        Ok(Mps {
            listener,
            context,
            username: username.into(),
            password: password.into(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next device's connection after TLS, before any APF.
    pub async fn accept_raw(&self) -> Result<MpsTunnel, MpsError> {
        let (tcp, peer) = self.accept_tcp().await?;
        self.tls(tcp, peer).await
    }

    /// The next TCP connection; [`Mps::tls`] finishes it, on a task of its
    /// own when many devices call at once.
    pub async fn accept_tcp(&self) -> Result<(TcpStream, SocketAddr), MpsError> {
        let (tcp, peer) = self.listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        Ok((tcp, peer))
    }

    /// The TLS handshake on an accepted connection.
    pub async fn tls(&self, tcp: TcpStream, peer: SocketAddr) -> Result<MpsTunnel, MpsError> {
        let ssl = Ssl::new(&self.context)?;
        let mut stream = SslStream::new(ssl, tcp)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| MpsError::Handshake(e.to_string()))?;
        let tls_version = stream.ssl().version_str().to_string();
        let cipher = stream
            .ssl()
            .current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default();
        Ok(MpsTunnel {
            stream,
            peer,
            tls_version,
            cipher,
            buf: Vec::new(),
            uuid: None,
            trigger: None,
            username: None,
            ports: Vec::new(),
            next_channel: 4,
            keepalives: 0,
        })
    }

    /// The next device, through the handshake up to USERAUTH_SUCCESS (its
    /// forwards arrive afterwards; see [`MpsTunnel::wait_for_port`]).
    pub async fn accept(&self) -> Result<MpsTunnel, MpsError> {
        let mut tunnel = self.accept_raw().await?;
        tunnel.handshake(&self.username, &self.password).await?;
        Ok(tunnel)
    }
}

/// The MPS's TLS server: everything MeshCentral's accepts (module comment).
fn server_context(chain: &[Vec<u8>], key_pkcs8: &[u8]) -> Result<SslContext, MpsError> {
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    b.set_security_level(0);
    b.set_min_proto_version(Some(SslVersion::TLS1))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_cipher_list("ALL:!kDHE:!aNULL:!eNULL:!PSK:@SECLEVEL=0")?;
    let mut certs = chain.iter();
    let leaf = certs
        .next()
        .ok_or_else(|| MpsError::Handshake("no certificate".into()))?;
    let leaf = X509::from_der(leaf)?;
    b.set_certificate(&leaf)?;
    for der in certs {
        b.add_extra_chain_cert(X509::from_der(der)?)?;
    }
    let key = PKey::private_key_from_pkcs8(key_pkcs8)?;
    b.set_private_key(&key)?;
    b.check_private_key()?;
    // Neither MPS insists on a client certificate (spec §1).
    b.set_verify(SslVerifyMode::NONE);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    Ok(b.build())
}

/// One device's tunnel, seen from the MPS.
pub struct MpsTunnel {
    stream: SslStream<TcpStream>,
    pub peer: SocketAddr,
    /// The TLS version the device's client negotiated (`TLSv1.1`, ...).
    pub tls_version: String,
    /// Its cipher suite, by OpenSSL's name.
    pub cipher: String,
    buf: Vec<u8>,
    /// From PROTOCOLVERSION.
    pub uuid: Option<Uuid>,
    /// Why the device called (PROTOCOLVERSION).
    pub trigger: Option<TriggerReason>,
    pub username: Option<String>,
    /// Ports the device forwarded (each accepted).
    pub ports: Vec<u16>,
    next_channel: u32,
    /// Keep-alive requests from the device answered.
    pub keepalives: u64,
}

/// A channel the MPS opened on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpsChannel {
    /// The MPS's id (the device's "recipient" for what it sends us).
    pub ours: u32,
    /// The device's id.
    pub theirs: u32,
    /// What the device lets us send before it grants more.
    pub window: u32,
    /// The window we granted the device at open.
    pub granted: u32,
    /// What the device may still send us before our next adjust.
    pub left: u32,
    /// Received, not yet granted back.
    unacked: u32,
}

impl MpsTunnel {
    /// Runs the device's side of the handshake.
    pub async fn handshake(&mut self, username: &str, password: &str) -> Result<(), MpsError> {
        loop {
            match self.next_raw().await? {
                Message::ProtocolVersion(v) => {
                    self.uuid = Some(v.uuid);
                    self.trigger = Some(v.trigger);
                }
                Message::ServiceRequest { service }
                    if service == SERVICE_AUTH || service == SERVICE_PFWD =>
                {
                    self.send(&Message::ServiceAccept { service }).await?;
                }
                Message::UserauthRequest {
                    username: user,
                    method: AuthMethod::Password(secret),
                    ..
                } => {
                    self.username = Some(user.clone());
                    if user == username && secret == password {
                        self.send(&Message::UserauthSuccess).await?;
                        return Ok(());
                    }
                    self.send(&Message::UserauthFailure {
                        methods: "password".into(),
                    })
                    .await?;
                    return Err(MpsError::Refused);
                }
                other => return Err(MpsError::Unexpected(Box::new(other))),
            }
        }
    }

    /// The next message, as it came.
    async fn next_raw(&mut self) -> Result<Message, MpsError> {
        loop {
            if let Some((msg, used)) = amtemu_apf::decode(&self.buf)? {
                self.buf.drain(..used);
                return Ok(msg);
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(MpsError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next message the caller should see: forwards, keep-alives and
    /// the port-forwarding service request are answered on the way.
    pub async fn next(&mut self) -> Result<Message, MpsError> {
        loop {
            if let Some(msg) = self.step().await? {
                return Ok(msg);
            }
        }
    }

    /// Reads one message; answers it and returns `None` when the MPS
    /// handles it itself.
    async fn step(&mut self) -> Result<Option<Message>, MpsError> {
        let msg = self.next_raw().await?;
        self.answer(msg).await
    }

    /// Answers what the MPS handles itself; anything else is returned.
    async fn answer(&mut self, msg: Message) -> Result<Option<Message>, MpsError> {
        match msg {
            Message::GlobalRequest {
                want_reply,
                request: GlobalRequest::TcpipForward { port, .. },
            } => {
                self.ports.push(u16::try_from(port).unwrap_or_default());
                if want_reply {
                    self.send(&Message::RequestSuccess { port: Some(port) })
                        .await?;
                }
            }
            // The port-forwarding service, asked for after USERAUTH.
            Message::ServiceRequest { service } if service == SERVICE_PFWD => {
                self.send(&Message::ServiceAccept { service }).await?;
            }
            Message::KeepaliveRequest { cookie } => {
                self.keepalives += 1;
                self.send(&Message::KeepaliveReply { cookie }).await?;
            }
            Message::Disconnect { reason } => return Err(MpsError::Disconnected(reason)),
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Waits (answering as it goes) until the device has forwarded `port`.
    pub async fn wait_for_port(&mut self, port: u16) -> Result<(), MpsError> {
        while !self.ports.contains(&port) {
            match self.step().await? {
                // Nothing else is expected while forwards arrive.
                None | Some(Message::KeepaliveReply { .. }) => {}
                Some(msg) => return Err(MpsError::Unexpected(Box::new(msg))),
            }
        }
        Ok(())
    }

    pub async fn send(&mut self, msg: &Message) -> Result<(), MpsError> {
        let mut out = Vec::new();
        amtemu_apf::encode(msg, &mut out);
        self.send_raw(&out).await
    }

    /// Any bytes at all.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), MpsError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Opens a `forwarded-tcpip` channel to `port`, as the MPSs do.
    pub async fn open_channel(&mut self, port: u16) -> Result<MpsChannel, MpsError> {
        self.open_channel_with_window(port, MPS_WINDOW).await
    }

    /// [`MpsTunnel::open_channel`] granting the device `window` bytes.
    pub async fn open_channel_with_window(
        &mut self,
        port: u16,
        window: u32,
    ) -> Result<MpsChannel, MpsError> {
        let ours = self.next_channel;
        self.next_channel += 1;
        self.send(&Message::ChannelOpen(ChannelOpen {
            channel_type: ChannelType::ForwardedTcpip,
            sender_channel: ours,
            initial_window: window,
            connected_address: String::new(),
            connected_port: u32::from(port),
            originator_address: "1.2.3.4".into(),
            originator_port: 1024 + ours,
        }))
        .await?;
        loop {
            match self.next().await? {
                Message::ChannelOpenConfirmation {
                    recipient_channel,
                    sender_channel,
                    initial_window,
                } if recipient_channel == ours => {
                    return Ok(MpsChannel {
                        ours,
                        theirs: sender_channel,
                        window: initial_window,
                        granted: window,
                        left: window,
                        unacked: 0,
                    });
                }
                Message::KeepaliveReply { .. } => {}
                other => return Err(MpsError::Unexpected(Box::new(other))),
            }
        }
    }

    /// Sends `bytes` on a channel (in pieces the device's window allows;
    /// callers keep requests under one window).
    pub async fn write(&mut self, channel: &mut MpsChannel, bytes: &[u8]) -> Result<(), MpsError> {
        for piece in bytes.chunks(4096) {
            self.send(&Message::ChannelData {
                recipient_channel: channel.theirs,
                data: piece.to_vec(),
            })
            .await?;
            channel.window = channel.window.saturating_sub(piece.len() as u32);
        }
        Ok(())
    }

    /// Reads channel data until `done` says the bytes so far are complete
    /// or the device closes the channel; grants window as MPSs do (once
    /// half is used) and fails if the device sends past it. Returns the
    /// bytes and whether the device closed.
    pub async fn read(
        &mut self,
        channel: &mut MpsChannel,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<(Vec<u8>, bool), MpsError> {
        let mut got = Vec::new();
        while !done(&got) {
            match self.next().await? {
                Message::ChannelData {
                    recipient_channel,
                    data,
                } if recipient_channel == channel.ours => {
                    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    if len > channel.left {
                        return Err(MpsError::WindowOverrun {
                            len,
                            left: channel.left,
                        });
                    }
                    channel.left -= len;
                    channel.unacked += len;
                    got.extend_from_slice(&data);
                    if channel.unacked > channel.granted / 2 {
                        self.send(&Message::ChannelWindowAdjust {
                            recipient_channel: channel.theirs,
                            bytes_to_add: channel.unacked,
                        })
                        .await?;
                        channel.left += channel.unacked;
                        channel.unacked = 0;
                    }
                }
                Message::ChannelWindowAdjust {
                    recipient_channel,
                    bytes_to_add,
                } if recipient_channel == channel.ours => {
                    channel.window = channel.window.saturating_add(bytes_to_add);
                }
                Message::ChannelClose { recipient_channel }
                    if recipient_channel == channel.ours =>
                {
                    self.send(&Message::ChannelClose {
                        recipient_channel: channel.theirs,
                    })
                    .await?;
                    return Ok((got, true));
                }
                Message::KeepaliveReply { .. } => {}
                other => return Err(MpsError::Unexpected(Box::new(other))),
            }
        }
        Ok((got, false))
    }

    /// Closes a channel and waits for the device's answer.
    pub async fn close(&mut self, channel: &MpsChannel) -> Result<(), MpsError> {
        self.send(&Message::ChannelClose {
            recipient_channel: channel.theirs,
        })
        .await?;
        loop {
            match self.next().await? {
                Message::ChannelClose { recipient_channel }
                    if recipient_channel == channel.ours =>
                {
                    return Ok(());
                }
                // Data still in flight as we closed.
                Message::ChannelData { .. }
                | Message::ChannelWindowAdjust { .. }
                | Message::KeepaliveReply { .. } => {}
                other => return Err(MpsError::Unexpected(Box::new(other))),
            }
        }
    }

    /// Relays a channel to a TCP connection until either side closes: what
    /// the client sends goes to the device within the device's window,
    /// what the device sends goes to the client, with the window granted
    /// back as the MPSs grant it. Keep-alives and forwards are answered on
    /// the way. A client that closes closes the channel (the device's
    /// close is awaited); a device that closes closes the connection.
    pub async fn relay(
        &mut self,
        channel: &mut MpsChannel,
        tcp: &mut TcpStream,
    ) -> Result<(), MpsError> {
        let (mut from_client, mut to_client) = tcp.split();
        let mut chunk = vec![0u8; 4096];
        // Client bytes the device's window has no room for yet.
        let mut waiting: Vec<u8> = Vec::new();
        loop {
            while !waiting.is_empty() && channel.window > 0 {
                let n = waiting.len().min(channel.window as usize).min(4096);
                let data: Vec<u8> = waiting.drain(..n).collect();
                self.send(&Message::ChannelData {
                    recipient_channel: channel.theirs,
                    data,
                })
                .await?;
                channel.window -= n as u32;
            }
            enum Got {
                Client(std::io::Result<usize>),
                Device(Result<Message, MpsError>),
            }
            // Both reads are cancel-safe: a read that loses the race has
            // taken nothing.
            let got = tokio::select! {
                read = from_client.read(&mut chunk), if waiting.is_empty() => Got::Client(read),
                msg = self.next_raw() => Got::Device(msg),
            };
            match got {
                Got::Client(Ok(0)) | Got::Client(Err(_)) => return self.close(channel).await,
                Got::Client(Ok(n)) => waiting.extend_from_slice(&chunk[..n]),
                Got::Device(msg) => match self.answer(msg?).await? {
                    None | Some(Message::KeepaliveReply { .. }) => {}
                    Some(Message::ChannelData {
                        recipient_channel,
                        data,
                    }) if recipient_channel == channel.ours => {
                        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                        if len > channel.left {
                            return Err(MpsError::WindowOverrun {
                                len,
                                left: channel.left,
                            });
                        }
                        channel.left -= len;
                        channel.unacked += len;
                        to_client.write_all(&data).await?;
                        if channel.unacked > channel.granted / 2 {
                            self.send(&Message::ChannelWindowAdjust {
                                recipient_channel: channel.theirs,
                                bytes_to_add: channel.unacked,
                            })
                            .await?;
                            channel.left += channel.unacked;
                            channel.unacked = 0;
                        }
                    }
                    Some(Message::ChannelWindowAdjust {
                        recipient_channel,
                        bytes_to_add,
                    }) if recipient_channel == channel.ours => {
                        channel.window = channel.window.saturating_add(bytes_to_add);
                    }
                    Some(Message::ChannelClose { recipient_channel })
                        if recipient_channel == channel.ours =>
                    {
                        self.send(&Message::ChannelClose {
                            recipient_channel: channel.theirs,
                        })
                        .await?;
                        let _ = to_client.shutdown().await;
                        return Ok(());
                    }
                    Some(other) => return Err(MpsError::Unexpected(Box::new(other))),
                },
            }
        }
    }

    /// Serves `listener` as the device's `port` for `connections`
    /// connections: each gets a channel of its own, relayed until it closes
    /// (one at a time). A refused channel closes only the connection that
    /// wanted it.
    pub async fn forward(
        &mut self,
        listener: &TcpListener,
        port: u16,
        connections: usize,
    ) -> Result<(), MpsError> {
        for _ in 0..connections {
            let (mut tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let mut channel = match self.open_channel(port).await {
                Ok(channel) => channel,
                Err(MpsError::Unexpected(msg))
                    if matches!(*msg, Message::ChannelOpenFailure { .. }) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.relay(&mut channel, &mut tcp).await?;
        }
        Ok(())
    }

    /// Waits up to `limit` for the device's DISCONNECT (its reason) or the
    /// end of the connection (`None`).
    pub async fn disconnect_reason(
        &mut self,
        limit: Duration,
    ) -> Result<Option<DisconnectReason>, MpsError> {
        let wait = async {
            loop {
                match self.next().await {
                    Err(MpsError::Disconnected(reason)) => return Ok(Some(reason)),
                    Err(MpsError::Closed) | Err(MpsError::Io(_)) => return Ok(None),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| MpsError::Timeout)?
    }
}

/// An HTTP/1.1 response is complete: headers and, by Content-Length or the
/// final chunk, the whole body. Good enough for reading WS-Man replies.
pub fn http_response_complete(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let body = &bytes[end + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    true
}
