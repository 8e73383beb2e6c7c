//! KVM: the host's screen and keyboard over RFB, reached two ways.
//!
//! - KVMR on the redirection ports: the session manager (0x10-0x14, the
//!   same login as SOL) hands over, the console sends the 8-byte start
//!   `40 00 …`, the device answers `41 00 …`, and the rest of the
//!   connection is RFB with security type None ([`run_kvmr`]).
//! - Port 5900 on firmware 6 to 15, once `Is5900PortEnabled` is set: plain
//!   RFB with VNC authentication by the RFB password ([`serve_vnc`]).
//!
//! `view` is a look at the host's screen (the simulated console's text, or
//! a VM's display), opened only while someone looks; `stream` runs one
//! RFB connection against it.
//!
//! Decisions where firmware behaviour is not documented:
//! - One KVM session per device, whichever way it came in; a second KVMR
//!   gets 0x11 status 2, a second 5900 client is closed after its VNC
//!   authentication (only then is the slot claimed, so a client that never
//!   authenticates keeps nobody out).
//! - Without the consent the policy asks for, KVMR answers 0x11 status 3
//!   (as SOL does) and 5900 closes; the consent code is drawn on the
//!   host's screen (`amtemu ctl screenshot` shows it), never served to the
//!   console waiting for consent.
//! - 5900 is closed at once when switched off, KVM is disabled or the
//!   firmware lacks it, like a shared listener must.

pub mod stream;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::host_port::HostPort;
use super::session::Refusal;
use super::wire::{Inbox, WireError};
use super::{HANDSHAKE_TIMEOUT, Slot};
use crate::endpoint::Endpoint;
use amtemu_model::device::{Device, KvmRefusal};
use amtemu_rfb::SessionConfig;
use amtemu_wire::redirection::SessionKind;

pub use view::screenshot;

/// KVMR's start message: type 0x40 and seven bytes nobody fills.
const KVM_START: u8 = 0x40;
const KVM_START_LEN: usize = 8;
/// The device's answer: 0x41 and seven zero bytes (MeshCommander reads
/// only the type).
const KVM_START_REPLY: [u8; 8] = [0x41, 0, 0, 0, 0, 0, 0, 0];

/// Whether a KVMR session may start, as the session manager's refusal.
pub fn access(device: &Device) -> Result<(), Refusal> {
    device.kvm_access(false).map(|_| ()).map_err(|r| match r {
        KvmRefusal::NoConsent => Refusal::NoConsent,
        KvmRefusal::Unsupported | KvmRefusal::Disabled | KvmRefusal::Port5900Off => {
            Refusal::Disabled
        }
    })
}

/// Runs KVMR after the session manager's login: reads the console's 0x40,
/// answers 0x41, then serves RFB on the rest of the connection.
pub async fn run_kvmr<R, W, H>(
    mut reader: R,
    mut writer: W,
    mut inbox: Inbox,
    host: &H,
) -> Result<&'static str, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: HostPort + ?Sized,
{
    let start = async {
        while inbox.buf.len() < KVM_START_LEN {
            inbox.fill(&mut reader).await?;
        }
        Ok::<_, WireError>(())
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, start).await {
        Ok(read) => read?,
        Err(_) => return Ok("KVM start timed out"),
    }
    if inbox.buf[0] != KVM_START {
        tracing::info!(
            message = inbox.buf[0],
            "KVM channel got something other than its start"
        );
        return Ok("expected the KVM start (0x40)");
    }
    let rfb = inbox.buf.split_off(KVM_START_LEN);
    writer.write_all(&KVM_START_REPLY).await?;
    writer.flush().await?;
    // The session manager claimed the slot at 0x10, as for SOL.
    let admit = &mut || true;
    stream::run(
        reader,
        writer,
        rfb,
        host,
        SessionConfig::redirection(),
        admit,
    )
    .await
}

/// Serves one connection on port 5900 until it ends.
pub async fn serve_vnc<IO>(io: IO, endpoint: Arc<Endpoint>, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let device = endpoint.device.clone();
    let name = &device.name;
    let password = match device.kvm_access(true) {
        Ok(Some(password)) => password,
        Ok(None) => return,
        Err(why) => {
            tracing::info!(device = %name, %peer, "port 5900 refused: {why}");
            return;
        }
    };
    // The slot is claimed once the client has authenticated, so a client
    // that never does cannot keep KVM from others.
    let mut slot = None;
    let admit = &mut || {
        match Slot::claim(&endpoint, SessionKind::Kvm) {
            Ok(claimed) => slot = Some(claimed),
            // Busy, or the consent ran out during the handshake.
            Err(why) => tracing::info!(device = %name, %peer, ?why, "port 5900 session refused"),
        }
        slot.is_some()
    };
    let challenge: [u8; 16] = rand::random();
    let config = SessionConfig::port_5900(password.as_bytes(), challenge);
    let (reader, writer) = tokio::io::split(io);
    tracing::info!(device = %name, %peer, kind = "KVM", "VNC session started");
    let started = tokio::time::Instant::now();
    let ended = stream::run(
        reader,
        writer,
        Vec::new(),
        endpoint.host_port(),
        config,
        admit,
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    match ended {
        Ok(why) => tracing::info!(device = %name, %peer, seconds, "VNC session ended: {why}"),
        Err(e) => tracing::info!(device = %name, %peer, seconds, error = %e, "VNC session ended"),
    }
}

#[cfg(test)]
mod tests;
