//! The dashboard's consoles: a WebSocket per browser terminal or screen,
//! bridged to the device's redirection port as a console would connect:
//! over TCP to the device's own address, logged in with the device's
//! administrator account (digest, from the HA1 the device keeps), so the
//! device's gates apply (faults, power policy, TLS-only, one session per
//! kind, user consent).
//!
//! - `GET /api/v1/devices/{name}/sol` (WebSocket): binary frames both ways
//!   are the host console's bytes (SOL data); text frames from the server
//!   are notices for the person (why the console closed).
//! - `GET /api/v1/devices/{name}/kvm` (WebSocket): binary frames both ways
//!   are RFB, as noVNC speaks it, after KVMR's start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ApiError, ApiResult, Shared, auth};
use crate::endpoint::Endpoint;
use crate::redirect::console::{self, Login, Opened, Reader};
use amtemu_model::device::Port;
use amtemu_model::device::identity::hex_lower;
use amtemu_wire::redirection::{ClientMessage, DeviceMessage};

/// How long connecting and the redirection handshake may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sol,
    Kvm,
}

pub(super) async fn sol(
    state: Shared,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult {
    upgrade(state, name, headers, ws, Kind::Sol)
}

pub(super) async fn kvm(
    state: Shared,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult {
    upgrade(state, name, headers, ws, Kind::Kvm)
}

fn upgrade(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    kind: Kind,
) -> ApiResult {
    let Path(name) = name?;
    // A page from elsewhere must not open a console on the user's behalf
    // (browsers send cookies and reach loopback from any page).
    auth::same_origin(&headers)?;
    let endpoint = c.endpoint(&name)?;
    let addr = c
        .fleet
        .address_of(c.index(&name)?, Port::Redirection)
        .ok_or_else(|| ApiError::not_found(format!("{name} has no redirection port")))?;
    Ok(ws.on_upgrade(move |socket| run(socket, endpoint, addr, kind)))
}

/// The administrator's name and HA1, as a console configured for this
/// device knows them.
fn login(endpoint: &Endpoint) -> Login {
    endpoint.device.with_state(|s| Login {
        user: s.nvram.users.admin_name.clone(),
        ha1: hex_lower(&s.nvram.users.admin_ha1),
    })
}

async fn run(mut socket: WebSocket, endpoint: Arc<Endpoint>, addr: SocketAddr, kind: Kind) {
    let name = endpoint.device.name.clone();
    let login = login(&endpoint);
    drop(endpoint);
    let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match kind {
            Kind::Sol => console::open_sol(tcp, &login).await,
            Kind::Kvm => console::open_kvm(tcp, &login).await,
        }
    })
    .await
    .unwrap_or_else(|_| Err("the device did not answer in time".into()));
    let ended = match opened {
        Err(why) => Err(why),
        Ok(opened) => {
            tracing::info!(device = %name, ?kind, "dashboard console opened");
            match kind {
                Kind::Sol => sol_loop(&mut socket, opened).await,
                Kind::Kvm => kvm_loop(&mut socket, opened).await,
            }
        }
    };
    let reason = match ended {
        Ok(why) => why,
        Err(why) => {
            tracing::info!(device = %name, ?kind, "dashboard console ended: {why}");
            why
        }
    };
    // The terminal shows notices; noVNC takes only RFB, and reads the
    // close reason instead.
    if matches!(kind, Kind::Sol) {
        let _ = socket.send(Message::Text(reason.clone().into())).await;
    }
    // Close reasons are limited to 123 bytes.
    let short: String = reason.chars().take(60).collect();
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: short.into(),
        })))
        .await;
}

/// Relays SOL: console bytes to the browser, keystrokes to the device,
/// heartbeats answered. `Ok` when the browser went away.
async fn sol_loop(socket: &mut WebSocket, opened: Opened<TcpStream>) -> Result<String, String> {
    let (mut rd, mut wr) = opened.io.into_split();
    let mut reader = Reader { buf: opened.rest };
    let mut seq = 0u32;
    loop {
        tokio::select! {
            msg = reader.next(&mut rd) => match msg? {
                // Not a guard: the guard could not move `data` into the frame.
                #[allow(clippy::collapsible_match)]
                DeviceMessage::SolData { data, .. } => {
                    if socket.send(Message::Binary(data.into())).await.is_err() {
                        return Ok("the browser went away".into());
                    }
                }
                DeviceMessage::SolHeartbeat { .. } => {
                    seq = seq.wrapping_add(1);
                    console::send(&mut wr, &ClientMessage::SolHeartbeat { seq }).await?;
                }
                DeviceMessage::EndSolReply { .. } => return Err("the device ended SOL".into()),
                _ => {}
            },
            msg = socket.recv() => {
                let data: Vec<u8> = match msg {
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        let _ = console::send(&mut wr, &ClientMessage::EndSession).await;
                        return Ok("the browser closed the console".into());
                    }
                    Some(Ok(_)) => continue,
                };
                seq = seq.wrapping_add(1);
                console::send(&mut wr, &ClientMessage::SolData { seq, data }).await?;
            }
        }
    }
}

/// Relays RFB bytes both ways.
async fn kvm_loop(socket: &mut WebSocket, opened: Opened<TcpStream>) -> Result<String, String> {
    let (mut rd, mut wr) = opened.io.into_split();
    if !opened.rest.is_empty()
        && socket
            .send(Message::Binary(opened.rest.into()))
            .await
            .is_err()
    {
        return Ok("the browser went away".into());
    }
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = rd.read(&mut chunk) => {
                let n = n.map_err(|e| format!("reading from the device: {e}"))?;
                if n == 0 {
                    return Err("the device closed the KVM session".into());
                }
                if socket.send(Message::Binary(chunk[..n].to_vec().into())).await.is_err() {
                    return Ok("the browser went away".into());
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    wr.write_all(&b).await.map_err(|e| format!("writing to the device: {e}"))?;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    return Ok("the browser closed the screen".into());
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
