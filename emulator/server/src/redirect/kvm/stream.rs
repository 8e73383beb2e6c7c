//! One RFB connection against the host: drives the sans-I/O
//! `amtemu_rfb::Session` from a socket, feeds it a view of the host's
//! screen (whichever host draws it) and hands the viewer's keys and
//! pointer to that view.
//!
//! Back-pressure: at most one write is under way. While it is, the session
//! makes no update (`set_client_reading(false)`); the tiles that change
//! meanwhile go out together in the next update. So a client that stops
//! reading costs one update's bytes plus the small messages its own input
//! causes, and those are bounded by [`MAX_QUEUED`]: past it the client is
//! dropped.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use amtemu_rfb::screen::{TEXT_HEIGHT, TEXT_WIDTH};
use amtemu_rfb::{Event, Session, SessionConfig, SessionError};

use super::view::ScreenView;
use crate::metrics::METRICS;
use crate::redirect::host_port::HostPort;
use crate::redirect::wire::{MAX_QUEUED, WireError, sleep_until_opt};

/// How long a client may take from connecting to ServerInit (5900 has no
/// session manager in front whose timeout would cover it).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes read from the client at a time: its messages are small (keys,
/// pointer, update requests), so 4 KiB keeps a flood moving and costs an
/// idle session a quarter of what 16 did.
const READ_CHUNK: usize = 4 * 1024;

/// Counts a session in the open-sessions gauge while it lives.
struct Counted;

impl Counted {
    fn new() -> Counted {
        METRICS.kvm_session(true);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        METRICS.kvm_session(false);
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What ended a session that did not fail on the socket.
fn session_error(e: &SessionError) -> &'static str {
    match e {
        SessionError::AuthenticationFailed => "VNC authentication failed",
        SessionError::SecurityTypeRefused(_) => "security type not offered",
        SessionError::Decode(_) => "malformed RFB message",
        SessionError::Encode(_) => "update could not be encoded",
        _ => "session closed",
    }
}

/// Runs an RFB session on a connection whose first client bytes (already
/// read) are `initial`, until it ends; returns why. `admit` is asked once
/// the client is through the handshake (and, on 5900, authenticated)
/// whether it may have the screen; false ends the session.
pub async fn run<R, W, H>(
    mut reader: R,
    mut writer: W,
    initial: Vec<u8>,
    host: &H,
    config: SessionConfig,
    admit: &mut (dyn FnMut() -> bool + Send),
) -> Result<&'static str, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: HostPort + ?Sized,
{
    // Text mode's size until the view says otherwise (DesktopSize then,
    // for clients that take it).
    let mut session = Session::new(config, TEXT_WIDTH, TEXT_HEIGHT);
    let mut view: Option<Box<dyn ScreenView + '_>> = None;
    let mut events = host.events();
    let handshake_deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut input = initial;
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0;
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut ended: Option<&'static str> = None;
    let mut _counted: Option<Counted> = None;
    // The viewer's last key or pointer event: `SessionTimeout` ends a
    // session without one for that long (update requests do not count:
    // viewers send them on their own).
    let mut last_input = Instant::now();

    loop {
        if !input.is_empty() {
            let mut happened = Vec::new();
            let received = session.receive(&input, &mut happened);
            input.clear();
            for event in happened {
                match event {
                    Event::Initialised { .. } if !admit() => {
                        ended = Some("a KVM session is open");
                    }
                    Event::Initialised { .. } => {
                        view = Some(host.open_screen());
                        _counted = Some(Counted::new());
                    }
                    Event::Pointer { buttons, x, y } => {
                        last_input = Instant::now();
                        if let Some(v) = view.as_mut() {
                            v.pointer(buttons, x, y);
                        }
                    }
                    Event::Key { down, keysym } => {
                        last_input = Instant::now();
                        if let Some(v) = view.as_mut() {
                            v.key(down, keysym);
                        }
                    }
                    Event::PixelFormatSet(pf) if !pf.firmware_accepts() => {
                        // As firmware does (vncdotool #168, noVNC #118).
                        tracing::info!(
                            bpp = pf.bits_per_pixel,
                            "KVM client dropped: pixel format firmware does not serve"
                        );
                        ended = Some("pixel format not served");
                    }
                    // Clipboard and Intel's data-channel payloads have
                    // nowhere to go.
                    _ => {}
                }
            }
            if let Err(e) = received {
                tracing::info!(error = %e, "RFB session failed");
                ended = Some(session_error(&e));
            }
        }
        if let Some(why) = ended {
            // What the session still says (a failed SecurityResult) goes
            // out before the close, as far as the client takes it.
            out.extend(session.take_output());
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                writer.write_all(&out[written.min(out.len())..]),
            )
            .await;
            let _ = writer.shutdown().await;
            return Ok(why);
        }
        if let Some(v) = view.as_mut() {
            v.refresh();
            if v.take_bells() > 0 {
                session.bell();
            }
        }
        if written == out.len() {
            out.clear();
            written = 0;
            session.set_client_reading(true);
            let updated = match &view {
                Some(v) if v.is_ready() => match session.poll_update(v.framebuffer()) {
                    Ok(updated) => updated,
                    Err(e) => {
                        tracing::warn!(error = %e, "KVM update failed");
                        ended = Some(session_error(&e));
                        continue;
                    }
                },
                _ => false,
            };
            out = session.take_output();
            if updated {
                // The update and any small message before it: near enough.
                METRICS.kvm_update(out.len());
            }
        } else {
            session.set_client_reading(false);
        }
        if session.output_len() > MAX_QUEUED {
            return Err(WireError::Stalled(session.output_len()));
        }
        let idle_deadline = host.kvm_session_timeout().map(|t| last_input + t);
        let wake = if session.is_initialised() {
            earliest(view.as_ref().and_then(|v| v.next_due()), idle_deadline)
        } else {
            Some(handshake_deadline)
        };
        let writing = written < out.len();
        tokio::select! {
            read = reader.read(&mut chunk) => match read? {
                0 => return Ok("client closed the connection"),
                n => input.extend_from_slice(&chunk[..n]),
            },
            wrote = writer.write(&out[written..]), if writing => match wrote? {
                0 => return Err(WireError::Closed),
                n => written += n,
            },
            () = async {
                match view.as_mut() {
                    Some(v) => v.changed().await,
                    None => std::future::pending().await,
                }
            } => {}
            event = events.recv() => {
                if let Err(RecvError::Closed) = event {
                    return Ok("device gone");
                }
            }
            _ = sleep_until_opt(wake) => {
                let now = Instant::now();
                if !session.is_initialised() && now >= handshake_deadline {
                    return Ok("RFB handshake timed out");
                }
                if session.is_initialised() && idle_deadline.is_some_and(|at| now >= at) {
                    let _ = writer.shutdown().await;
                    return Ok("session timeout: no input from the viewer");
                }
            }
        }
    }
}
