//! The console's side of the session manager, for the control API's
//! browser bridges: StartRedirectionSession, a digest login (type 4, as
//! MeshCommander and amtterm log in) from an account's HA1, then the SOL
//! start or the KVM start. It speaks to the device over a socket as any
//! console does, so the device's gates (power policy, faults, TLS-only,
//! one session per kind, consent) apply to it as to anyone.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::session::auth;
use amtemu_wire::digest::{Credentials, expected_response};
use amtemu_wire::redirection::{ClientMessage, DeviceMessage, SessionKind, SolSettings};

/// An account to log in with: its name and MD5(user:realm:password) in
/// lowercase hex (all the device keeps, so all a bridge can have).
pub struct Login {
    pub user: String,
    pub ha1: String,
}

/// A console connection after its handshake: the stream and whatever the
/// device sent past the last handshake message (SOL data, RFB bytes).
pub struct Opened<IO> {
    pub io: IO,
    pub rest: Vec<u8>,
}

/// Bytes read per socket read.
const CHUNK: usize = 16 * 1024;

/// Reads device messages from a stream, keeping what follows the last.
pub struct Reader {
    pub buf: Vec<u8>,
}

impl Reader {
    /// The next whole device message, or an error saying why there is none.
    pub async fn next<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
    ) -> Result<DeviceMessage, String> {
        loop {
            match DeviceMessage::decode(&self.buf) {
                Ok(Some((msg, used))) => {
                    self.buf.drain(..used);
                    return Ok(msg);
                }
                Ok(None) => {}
                Err(e) => return Err(format!("the device sent something undecodable: {e}")),
            }
            self.read_more(io, "the device closed the connection")
                .await?;
        }
    }

    /// Appends one read's bytes to the buffer; `closed` says what an end of
    /// stream means where the caller is.
    async fn read_more<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        closed: &str,
    ) -> Result<(), String> {
        let mut chunk = vec![0u8; CHUNK];
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading from the device: {e}"))?;
        if n == 0 {
            return Err(closed.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

pub async fn send<IO: AsyncWrite + Unpin>(io: &mut IO, msg: &ClientMessage) -> Result<(), String> {
    let mut out = Vec::new();
    msg.encode(&mut out);
    io.write_all(&out)
        .await
        .map_err(|e| format!("writing to the device: {e}"))
}

fn put_prefixed(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Reads u8-length-prefixed strings (a digest challenge: realm, nonce, qop).
fn prefixed(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        out.push(String::from_utf8_lossy(&tail[..n]).into_owned());
        rest = &tail[n..];
    }
    out
}

/// Starts a session of `kind` and logs in with digest authentication.
async fn start_and_login<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    reader: &mut Reader,
    kind: SessionKind,
    login: &Login,
) -> Result<(), String> {
    send(io, &ClientMessage::StartSession { flag: 0, kind }).await?;
    match reader.next(io).await? {
        DeviceMessage::StartSessionReply { status: 0, .. } => {}
        DeviceMessage::StartSessionReply { status: 2, .. } => {
            return Err("another console has this session open (busy)".into());
        }
        DeviceMessage::StartSessionReply { status, .. } => {
            return Err(format!(
                "the device refused the session (status {status}: disabled, or user consent needed)"
            ));
        }
        other => {
            return Err(format!(
                "unexpected answer to StartRedirectionSession: {other:?}"
            ));
        }
    }
    // An empty digest request asks for the challenge.
    send(
        io,
        &ClientMessage::Authenticate {
            auth_type: auth::DIGEST,
            data: empty_digest(&login.user),
        },
    )
    .await?;
    let (realm, nonce) = match reader.next(io).await? {
        DeviceMessage::AuthenticateReply {
            auth_type: auth::DIGEST,
            data,
            ..
        } => {
            let fields = prefixed(&data);
            match fields.as_slice() {
                [realm, nonce, ..] => (realm.clone(), nonce.clone()),
                _ => return Err("the device's digest challenge is malformed".into()),
            }
        }
        other => return Err(format!("no digest challenge from the device: {other:?}")),
    };
    let cnonce = amtemu_model::device::identity::hex_lower(&rand::random::<[u8; 16]>());
    let mut creds = Credentials {
        username: login.user.clone().into(),
        realm: realm.into(),
        nonce: nonce.into(),
        uri: "".into(),
        response: "".into(),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        cnonce: Some(cnonce.into()),
        algorithm: None,
    };
    creds.response = expected_response(&creds, &login.ha1, "POST", &[])
        .ok_or("cannot compute the digest")?
        .into();
    let mut data = Vec::new();
    for field in [
        &*creds.username,
        &*creds.realm,
        &*creds.nonce,
        &*creds.uri,
        creds.cnonce.as_deref().unwrap_or_default(),
        creds.nc.as_deref().unwrap_or_default(),
        &*creds.response,
        creds.qop.as_deref().unwrap_or_default(),
    ] {
        put_prefixed(&mut data, field);
    }
    send(
        io,
        &ClientMessage::Authenticate {
            auth_type: auth::DIGEST,
            data,
        },
    )
    .await?;
    match reader.next(io).await? {
        DeviceMessage::AuthenticateReply { status: 0, .. } => Ok(()),
        _ => Err("the device refused the login (locked out, no redirection realm, or another console logged in first)".into()),
    }
}

/// A digest request with only the user name: asks for a challenge.
fn empty_digest(user: &str) -> Vec<u8> {
    let mut data = Vec::new();
    put_prefixed(&mut data, user);
    for _ in 0..7 {
        put_prefixed(&mut data, "");
    }
    data
}

/// Opens Serial-over-LAN: the device's console output then arrives as
/// SOL data messages.
pub async fn open_sol<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    login: &Login,
) -> Result<Opened<IO>, String> {
    let mut reader = Reader { buf: Vec::new() };
    start_and_login(&mut io, &mut reader, SessionKind::Sol, login).await?;
    send(
        &mut io,
        &ClientMessage::StartSol(SolSettings {
            seq: 0,
            max_transmit_buffer: 1000,
            // Send at once rather than coalesce: a person is typing.
            transmit_timeout_ms: 0,
            overflow_timeout_ms: 0,
            receive_timeout_ms: 0,
            fifo_flush_timeout_ms: 0,
            heartbeat_ms: 0,
        }),
    )
    .await?;
    loop {
        match reader.next(&mut io).await? {
            DeviceMessage::StartSolReply { status: 0, .. } => break,
            DeviceMessage::StartSolReply { status, .. } => {
                return Err(format!("StartSOL refused with status {status}"));
            }
            _ => continue,
        }
    }
    Ok(Opened {
        io,
        rest: reader.buf,
    })
}

/// KVMR's start and the device's answer (see `redirect::kvm`).
const KVM_START: [u8; 8] = [0x40, 0, 0, 0, 0, 0, 0, 0];
const KVM_START_REPLY: u8 = 0x41;

/// Opens KVM: what follows is RFB, the device speaking first.
pub async fn open_kvm<IO: AsyncRead + AsyncWrite + Unpin>(
    mut io: IO,
    login: &Login,
) -> Result<Opened<IO>, String> {
    let mut reader = Reader { buf: Vec::new() };
    start_and_login(&mut io, &mut reader, SessionKind::Kvm, login).await?;
    io.write_all(&KVM_START)
        .await
        .map_err(|e| format!("writing to the device: {e}"))?;
    while reader.buf.len() < KVM_START.len() {
        reader
            .read_more(&mut io, "the device closed the KVM channel")
            .await?;
    }
    if reader.buf[0] != KVM_START_REPLY {
        return Err(format!(
            "the device answered the KVM start with {:#04x}",
            reader.buf[0]
        ));
    }
    let rest = reader.buf.split_off(KVM_START.len());
    Ok(Opened { io, rest })
}
