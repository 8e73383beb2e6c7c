//! HTTP as AMT speaks it on 16992 (and, over TLS, 16993): `POST /wsman`
//! with Digest authentication, chunked SOAP answers, faults as 400 with
//! `Connection: close`, and the small web UI.

pub mod answer;
pub mod conn;
pub mod incoming;
pub mod negotiate;
pub mod webui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::endpoint::nonces::Verdict;
use crate::metrics::METRICS;
use amtemu_model::device::firmware::Firmware;
use amtemu_model::device::firmware::timing::Answering;
use amtemu_model::device::identity::hex_lower;
use amtemu_model::device::users::Caller;
use amtemu_wire::digest;
use amtemu_wire::wsman::{fault::Fault, request};
use amtemu_wsman as wsman;
use answer::{Answer, Framing};
use conn::Body;
use incoming::Head;

/// The largest request body accepted; real clients send a few kilobytes.
pub const MAX_BODY: usize = 256 * 1024;

/// How long a request's body may take to arrive once its head has: with
/// [`MAX_BODY`] that is a floor of 25 KiB/s. A client that declares more
/// than it sends, leaves a chunked body unfinished or asks for
/// `100-continue` and sends nothing is cut off then, credentials or not,
/// so it holds no task or buffer past it.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Where a connection came in: the network ports, or the local interface
/// that stands in for LMS (see `amtemu_model::device::local_account`), where the firmware's local
/// system account logs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Network,
    Local,
}

/// Serves HTTP/1.1 on one accepted connection for one device.
pub async fn serve_connection<IO>(io: IO, endpoint: Arc<Endpoint>, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve(io, endpoint, peer, Interface::Network).await
}

/// Serves HTTP/1.1 on a connection to the device's local interface.
pub async fn serve_local_connection<IO>(io: IO, endpoint: Arc<Endpoint>, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve(io, endpoint, peer, Interface::Local).await
}

async fn serve<IO>(io: IO, endpoint: Arc<Endpoint>, peer: SocketAddr, interface: Interface)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let bad_request = || {
        Answer::new(400, Framing::Plain, Bytes::new())
            .header("Server", server(&endpoint))
            .header("Content-Length", "0")
            .header("Connection", "close")
    };
    let route = |head: Head, body: Body| route(&endpoint, head, body, peer, interface);
    let result = conn::run(io, MAX_BODY, BODY_DEADLINE, bad_request, route).await;
    if let Err(e) = result {
        // A client that vanished or reset: the connection ends; nothing
        // else is affected.
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

async fn route(
    endpoint: &Endpoint,
    head: Head,
    body: Body,
    peer: SocketAddr,
    interface: Interface,
) -> Answer {
    let faults = endpoint.faults.get();
    let (answer, answering) = respond(endpoint, &faults, head, body, peer, interface).await;
    // The one place an answer waits: an injected latency and, with
    // `--timing firmware`, the firmware's service time for this kind of
    // answer. A timer, so no lock is held and no thread is blocked.
    let injected = if faults.is_clear() {
        None
    } else {
        faults.latency()
    };
    let paced = endpoint
        .device
        .pace
        .map(|pace| pace.service(answering).at(rand::random::<f64>()));
    if injected.is_some() || paced.is_some() {
        tokio::time::sleep(injected.unwrap_or_default() + paced.unwrap_or_default()).await;
    }
    answer
}

/// The answer to one request, and what kind of answer it is (for its
/// service time).
async fn respond(
    endpoint: &Endpoint,
    faults: &crate::faults::FaultPlan,
    head: Head,
    body: Body,
    peer: SocketAddr,
    interface: Interface,
) -> (Answer, Answering) {
    if !faults.is_clear() {
        if let Some(code) = faults.http_error {
            let answer = Answer::new(code, Framing::Plain, Bytes::new())
                .header("Server", server(endpoint))
                .header("Content-Length", "0");
            return (answer, Answering::Read);
        }
        if faults.expire_enumerations {
            endpoint.wsman.forget_enumerations();
        }
    }
    let body = match body {
        Body::Complete(body) => body,
        Body::TooLarge => {
            tracing::info!(device = %endpoint.device.name, "request body over {MAX_BODY} bytes refused");
            return (soap_fault(endpoint, Fault::EncodingLimit), Answering::Read);
        }
    };
    let page = match (head.method(), head.path()) {
        ("POST", "/wsman") => return wsman_post(endpoint, &head, &body, peer, interface).await,
        ("GET", "/") => Answer::new(303, Framing::Plain, Bytes::new())
            .header("Location", "/logon.htm")
            .header("Content-Length", "0")
            .header("Server", server(endpoint)),
        // Switched off (AMT_WebUIService), the pages are gone; WS-Man stays.
        ("GET", "/logon.htm" | "/index.htm") if !endpoint.device.web_ui_enabled() => {
            tracing::info!(device = %endpoint.device.name, "web UI page refused: the web UI is off");
            html(endpoint, 404, webui::disabled())
        }
        ("GET", "/logon.htm") => html(endpoint, 200, webui::logon()),
        ("GET", "/index.htm") => match authenticate(endpoint, &head, "GET", b"", interface) {
            Ok(_) => html(endpoint, 200, webui::index(&endpoint.device)),
            Err(verdict) => {
                return (
                    unauthorized(endpoint, verdict == Verdict::Stale),
                    Answering::Challenge,
                );
            }
        },
        _ => html(endpoint, 404, webui::not_found()),
    };
    (page, Answering::Read)
}

async fn wsman_post(
    endpoint: &Endpoint,
    head: &Head,
    body: &Bytes,
    peer: SocketAddr,
    interface: Interface,
) -> (Answer, Answering) {
    let (response, answering) = wsman_answer(endpoint, head, body, peer, interface);
    if answering == Answering::Write
        && let Err(e) = endpoint.make_durable().await
    {
        // The change stands in memory but could not be kept: say so rather
        // than acknowledge it.
        tracing::error!(device = %endpoint.device.name, error = %e, "a change was not saved");
        return (soap_fault(endpoint, Fault::InternalError(0)), answering);
    }
    (response, answering)
}

/// The answer to a WS-Man request whose body has arrived, and its kind: a
/// challenge, a read, or a write (a request that may have changed the
/// device: the reply then waits for the change to be durable).
fn wsman_answer(
    endpoint: &Endpoint,
    head: &Head,
    body: &Bytes,
    peer: SocketAddr,
    interface: Interface,
) -> (Answer, Answering) {
    let has_credentials = head.header("authorization").is_some();
    // Identify may go without credentials (DSP0226); AMT's version is public
    // in the Server header anyway.
    if !has_credentials && is_identify(body) {
        return (
            soap(endpoint, handle_counted(endpoint, &Caller::Anonymous, body)),
            Answering::Read,
        );
    }
    // Kerberos (Negotiate) on the network ports; the answer carries the
    // AP-REP for mutual authentication.
    let mut negotiate_reply = None;
    let login = match negotiate::token(head) {
        Some(token) if interface == Interface::Network => match negotiate::login(endpoint, token) {
            Some(login) => {
                negotiate_reply = Some(login.reply);
                Ok(login.caller)
            }
            None => {
                METRICS.auth_failure();
                Err(Verdict::Rejected)
            }
        },
        _ => authenticate(endpoint, head, "POST", body, interface),
    };
    match login {
        Ok(caller) => {
            // Audit records made while handling name this caller and, over
            // the network, where it called from.
            let address = match interface {
                Interface::Network => Some(peer.ip()),
                Interface::Local => None,
            };
            let actor = amtemu_model::device::audit::Actor {
                caller: caller.clone(),
                address,
            };
            let reply = amtemu_model::device::audit::acting(actor, || {
                handle_counted(endpoint, &caller, body)
            });
            let answering = if reply.may_have_changed_state() {
                Answering::Write
            } else {
                Answering::Read
            };
            let mut answer = soap(endpoint, reply);
            if let Some(token) = negotiate_reply {
                answer = answer.header("WWW-Authenticate", token);
            }
            (answer, answering)
        }
        Err(verdict) => (
            unauthorized(endpoint, verdict == Verdict::Stale),
            Answering::Challenge,
        ),
    }
}

/// Runs the WS-Man engine and records the request in the metrics: its
/// class, operation and status (200, or 400 for a fault), and how long the
/// engine took.
fn handle_counted(endpoint: &Endpoint, caller: &Caller, body: &[u8]) -> wsman::Reply {
    let started = std::time::Instant::now();
    let reply = wsman::handle(&endpoint.device, &endpoint.wsman, caller, body);
    let status = if reply.fault.is_some() { 400 } else { 200 };
    METRICS.wsman_request(reply.class, reply.operation, status, started.elapsed());
    reply
}

/// Whether a body is an Identify, before authentication. Most
/// unauthenticated requests are a client's first try before the challenge,
/// so a substring check spares them a parse.
fn is_identify(body: &[u8]) -> bool {
    body.windows(b"Identify".len()).any(|w| w == b"Identify")
        && matches!(request::parse(body), Ok(r) if r.body == request::Body::Identify)
}

/// Checks a request's digest credentials against the device's accounts and
/// returns who sent it. Wrong passwords for an existing account count
/// towards its lockout, and a locked account is refused whatever it sends
/// (see `device::users` for the policy); other refusals (no or malformed
/// header, unknown or local-only user, replayed count, another URI) leave
/// no state behind. Only the network listeners call this, so local-only
/// accounts never log in here.
fn authenticate(
    endpoint: &Endpoint,
    head: &Head,
    method: &str,
    body: &[u8],
    interface: Interface,
) -> Result<Caller, Verdict> {
    let result = check_credentials(endpoint, head, method, body, interface);
    // A request without credentials is a client's first try before the
    // challenge, not a failure.
    if result.is_err() && head.header("authorization").is_some() {
        METRICS.auth_failure();
    }
    result
}

fn check_credentials(
    endpoint: &Endpoint,
    head: &Head,
    method: &str,
    body: &[u8],
    interface: Interface,
) -> Result<Caller, Verdict> {
    let Some(creds) = head
        .header("authorization")
        .and_then(digest::parse_authorization)
    else {
        return Err(Verdict::Rejected);
    };
    let device = &endpoint.device;
    let now = Instant::now();
    let realm = &device.identity.digest_realm;
    if interface == Interface::Local
        && creds.username == amtemu_model::device::local_account::LOCAL_ACCOUNT
    {
        let ha1 = hex_lower(&amtemu_model::device::local_account::local_account_ha1(
            device,
        ));
        return match endpoint
            .http
            .nonces()
            .verify(&creds, realm, Some(&ha1), method, body, now)
        {
            Verdict::Accepted => Ok(Caller::Admin),
            verdict => {
                tracing::warn!(device = %device.name, "local system account authentication failed");
                Err(verdict)
            }
        };
    }
    // During PKI remote configuration the server has already proven itself
    // with its provisioning certificate at the handshake (16993 admits no
    // one else), and firmware's expectations of the digest password are
    // not documented (Intel's tools send `admin`, MeshCentral an empty
    // one): `admin` is accepted with any password.
    // The setup state and the account are read under one lock: this runs
    // for every request.
    let (in_setup, account) = device.with_state(|s| {
        (
            s.nvram.setup.state == amtemu_model::device::ProvisioningState::In,
            s.nvram.users.network_login(&creds.username, now),
        )
    });
    if in_setup
        && interface == Interface::Network
        && creds.username == "admin"
        && creds.realm == *realm
    {
        return Ok(Caller::Admin);
    }
    let Some(account) = account else {
        tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: no such network user");
        return Err(Verdict::Rejected);
    };
    // The stored HA1 in hex, on the stack (every request needs it).
    let ha1_hex = amtemu_wire::hex::md5_hex_lower(&account.ha1);
    let ha1 = std::str::from_utf8(&ha1_hex).unwrap_or_default();
    // A response that does not match the account's password is a failed
    // guess; one that matches but is refused (stale or unknown nonce,
    // replayed count) is not.
    let wrong_password = || {
        digest::expected_response(&creds, ha1, method, body)
            .is_some_and(|expected| !expected.eq_ignore_ascii_case(&creds.response))
    };
    let fail = |why: &str| {
        device.login_failed(account.key, now);
        tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: {why}");
    };
    if account.locked {
        if wrong_password() {
            fail("wrong password while locked out");
        } else {
            tracing::warn!(device = %device.name, user = %creds.username, "digest authentication refused: account locked out");
        }
        return Err(Verdict::Rejected);
    }
    // The digest covers the URI the client asked for.
    let uri_ok = head.target() == creds.uri || head.path() == creds.uri;
    if !uri_ok {
        tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: URI mismatch");
        return Err(Verdict::Rejected);
    }
    let verdict = endpoint
        .http
        .nonces()
        .verify(&creds, realm, Some(ha1), method, body, now);
    match verdict {
        // An injected fault: the right password meets an expired nonce.
        Verdict::Accepted if endpoint.faults.get().stale_nonces => Err(Verdict::Stale),
        Verdict::Accepted => {
            // Failures recorded between the lookup above and here are kept:
            // the success counts as of the lookup.
            if account.has_failures {
                device.login_succeeded(account.key);
            }
            Ok(account.caller)
        }
        Verdict::Stale => Err(Verdict::Stale),
        Verdict::Rejected => {
            if wrong_password() {
                fail("wrong password");
            } else {
                tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: malformed or replayed");
            }
            Err(Verdict::Rejected)
        }
    }
}

/// The Server header of a device's firmware row. Rows are a fixed table,
/// so each banner is formatted once and kept for the life of the process
/// rather than formatted for every answer.
fn server(endpoint: &Endpoint) -> &'static str {
    use std::sync::Mutex;
    type Banners = Vec<(&'static Firmware, &'static str)>;
    static BANNERS: Mutex<Banners> = Mutex::new(Vec::new());
    let firmware = endpoint.device.firmware;
    let mut banners = BANNERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, banner)) = banners.iter().find(|(f, _)| std::ptr::eq(*f, firmware)) {
        return banner;
    }
    let banner: &'static str = Box::leak(firmware.server_banner().into_boxed_str());
    banners.push((firmware, banner));
    banner
}

/// The Date header, formatted once a second per thread (it only has
/// second resolution).
fn date() -> String {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static LAST: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        text.clone()
    })
}

/// 401 in AMT's layout (captured from 11.8): challenge, HTML body with a
/// length, and close; no Date.
fn unauthorized(endpoint: &Endpoint, stale: bool) -> Answer {
    let nonce = endpoint.http.nonces().issue(Instant::now());
    let challenge = digest::challenge(&endpoint.device.identity.digest_realm, &nonce, stale);
    let page = webui::logon_failed();
    let len = page.len();
    let mut answer = Answer::new(401, Framing::Plain, page).header("WWW-Authenticate", challenge);
    // With Kerberos on, the device offers Negotiate beside Digest (the
    // order firmware uses is not documented; Digest first keeps clients
    // that read only the first challenge working).
    if endpoint.device.kerberos_enabled() {
        answer = answer.header("WWW-Authenticate", "Negotiate");
    }
    answer
        .header("Content-Type", "text/html")
        .header("Server", server(endpoint))
        .header("Content-Length", len.to_string())
        .header("Connection", "close")
}

/// A SOAP answer in AMT's layout (captured from 15.0): always chunked;
/// a fault is a 400 that closes the connection.
fn soap(endpoint: &Endpoint, reply: wsman::Reply) -> Answer {
    let fault = reply.fault.is_some();
    let answer = Answer::new(if fault { 400 } else { 200 }, Framing::Chunked, reply.xml)
        .header("Date", date())
        .header("Server", server(endpoint))
        .header("X-Frame-Options", "DENY")
        .header("Content-Type", "application/soap+xml; charset=UTF-8")
        .header("Transfer-Encoding", "chunked");
    if fault {
        answer.header("Connection", "close")
    } else {
        answer
    }
}

fn soap_fault(endpoint: &Endpoint, fault: Fault) -> Answer {
    soap(endpoint, wsman::fault_reply(&endpoint.wsman, "0", fault))
}

fn html(endpoint: &Endpoint, status: u16, page: String) -> Answer {
    let len = page.len();
    Answer::new(status, Framing::Plain, page)
        .header("Date", date())
        .header("Server", server(endpoint))
        .header("X-Frame-Options", "DENY")
        .header("Content-Type", "text/html")
        .header("Content-Length", len.to_string())
}
