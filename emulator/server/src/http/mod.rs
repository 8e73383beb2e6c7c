//! HTTP as AMT speaks it on 16992 (and, over TLS, 16993): `POST /wsman`
//! with Digest authentication, chunked SOAP answers, faults as 400 with
//! `Connection: close`, and the small web UI.

pub mod body;
pub mod webui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::endpoint::nonces::Verdict;
use crate::metrics::METRICS;
use amtemu_model::device::identity::hex_lower;
use amtemu_model::device::users::{Caller, NetworkLogin};
use amtemu_wire::digest::{self, Credentials};
use amtemu_wire::wsman::{fault::Fault, request};
use amtemu_wsman as wsman;
use body::AmtBody;

/// The largest request body accepted; real clients send a few kilobytes.
pub const MAX_BODY: usize = 256 * 1024;

/// How long a request's body may take to arrive once its head has: with
/// [`MAX_BODY`] that is a floor of 25 KiB/s. A client that declares more
/// than it sends, leaves a chunked body unfinished or asks for
/// `100-continue` and sends nothing is cut off then, credentials or not,
/// so it holds no task or buffer past it.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// A request whose body did not arrive in time: the connection is closed
/// without an answer, as firmware drops a stalled socket.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {BODY_DEADLINE:?}"
        )
    }
}

impl std::error::Error for BodyTimedOut {}

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
    let service = service_fn(move |mut req: Request<Incoming>| {
        let endpoint = endpoint.clone();
        req.extensions_mut().insert(Peer(peer));
        async move { route(&endpoint, req, interface).await }
    });
    let result = http1::Builder::new()
        // AMT writes headers title-cased and sets its own Date (and none on
        // a 401), so hyper must not add one.
        .title_case_headers(true)
        .auto_date_header(false)
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = result {
        // Garbage on the port, a client that vanished, a read timeout: the
        // connection ends; nothing else is affected.
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

async fn route(
    endpoint: &Endpoint,
    req: Request<Incoming>,
    interface: Interface,
) -> Result<Response<AmtBody>, BodyTimedOut> {
    let faults = endpoint.faults.get();
    if !faults.is_clear() {
        if let Some(delay) = faults.latency() {
            tokio::time::sleep(delay).await;
        }
        if let Some(code) = faults.http_error {
            let mut r = Response::new(AmtBody::empty());
            *r.status_mut() =
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut().insert(header::SERVER, server(endpoint));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return Ok(r);
        }
        if faults.expire_enumerations {
            endpoint.wsman.forget_enumerations();
        }
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    Ok(match (method, path.as_str()) {
        (Method::POST, "/wsman") => return wsman_post(endpoint, req, interface).await,
        (Method::GET, "/") => {
            let mut r = Response::new(AmtBody::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            let h = r.headers_mut();
            h.insert(header::LOCATION, HeaderValue::from_static("/logon.htm"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            h.insert(header::SERVER, server(endpoint));
            r
        }
        (Method::GET, "/logon.htm") => html(endpoint, StatusCode::OK, webui::logon()),
        (Method::GET, "/index.htm") => {
            let parts = req.into_parts().0;
            match authenticate(endpoint, &parts, "GET", b"", interface) {
                Ok(_) => html(endpoint, StatusCode::OK, webui::index(&endpoint.device)),
                Err(verdict) => unauthorized(endpoint, verdict == Verdict::Stale),
            }
        }
        _ => html(endpoint, StatusCode::NOT_FOUND, webui::not_found()),
    })
}

/// The client's address, carried to the handlers in the request.
#[derive(Clone, Copy, Debug)]
struct Peer(SocketAddr);

async fn wsman_post(
    endpoint: &Endpoint,
    req: Request<Incoming>,
    interface: Interface,
) -> Result<Response<AmtBody>, BodyTimedOut> {
    let (parts, incoming) = req.into_parts();
    let collected = tokio::time::timeout(BODY_DEADLINE, Limited::new(incoming, MAX_BODY).collect());
    let body = match collected.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            tracing::info!(device = %endpoint.device.name, error = %e, "request body refused");
            return Ok(soap_fault(endpoint, Fault::EncodingLimit));
        }
        Err(_) => {
            tracing::info!(device = %endpoint.device.name, "request body too slow: connection closed");
            return Err(BodyTimedOut);
        }
    };
    let (response, changed) = wsman_answer(endpoint, &parts, &body, interface);
    if changed && let Err(e) = endpoint.make_durable().await {
        // The change stands in memory but could not be kept: say so rather
        // than acknowledge it.
        tracing::error!(device = %endpoint.device.name, error = %e, "a change was not saved");
        return Ok(soap_fault(endpoint, Fault::InternalError(0)));
    }
    Ok(response)
}

/// The answer to a WS-Man request whose body has arrived, and whether the
/// request may have changed the device (the reply then waits for the
/// change to be durable).
fn wsman_answer(
    endpoint: &Endpoint,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    interface: Interface,
) -> (Response<AmtBody>, bool) {
    let has_credentials = parts.headers.contains_key(header::AUTHORIZATION);
    // Identify may go without credentials (DSP0226); AMT's version is public
    // in the Server header anyway.
    if !has_credentials && is_identify(body) {
        return (
            soap(endpoint, handle_counted(endpoint, &Caller::Anonymous, body)),
            false,
        );
    }
    match authenticate(endpoint, parts, "POST", body, interface) {
        Ok(caller) => {
            // Audit records made while handling name this caller and, over
            // the network, where it called from.
            let address = match (interface, parts.extensions.get::<Peer>()) {
                (Interface::Network, Some(Peer(peer))) => Some(peer.ip().to_string()),
                _ => None,
            };
            let actor = amtemu_model::device::audit::Actor {
                caller: caller.clone(),
                address,
            };
            let reply = amtemu_model::device::audit::acting(actor, || {
                handle_counted(endpoint, &caller, body)
            });
            let changed = reply.may_have_changed_state();
            (soap(endpoint, reply), changed)
        }
        Err(verdict) => (unauthorized(endpoint, verdict == Verdict::Stale), false),
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
    parts: &hyper::http::request::Parts,
    method: &str,
    body: &[u8],
    interface: Interface,
) -> Result<Caller, Verdict> {
    let result = check_credentials(endpoint, parts, method, body, interface);
    // A request without credentials is a client's first try before the
    // challenge, not a failure.
    if result.is_err() && parts.headers.contains_key(header::AUTHORIZATION) {
        METRICS.auth_failure();
    }
    result
}

fn check_credentials(
    endpoint: &Endpoint,
    parts: &hyper::http::request::Parts,
    method: &str,
    body: &[u8],
    interface: Interface,
) -> Result<Caller, Verdict> {
    let Some(creds) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
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
    let in_setup =
        device.with_state(|s| s.nvram.setup.state == amtemu_model::device::ProvisioningState::In);
    if in_setup
        && interface == Interface::Network
        && creds.username == "admin"
        && creds.realm == *realm
    {
        return Ok(Caller::Admin);
    }
    let Some(account) = user_login(endpoint, &creds, now) else {
        tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: no such network user");
        return Err(Verdict::Rejected);
    };
    let ha1 = hex_lower(&account.ha1);
    // A response that does not match the account's password is a failed
    // guess; one that matches but is refused (stale or unknown nonce,
    // replayed count) is not.
    let wrong_password = || {
        digest::expected_response(&creds, &ha1, method, body)
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
    let uri_ok = parts
        .uri
        .path_and_query()
        .is_some_and(|pq| pq.as_str() == creds.uri || parts.uri.path() == creds.uri);
    if !uri_ok {
        tracing::warn!(device = %device.name, user = %creds.username, "digest authentication failed: URI mismatch");
        return Err(Verdict::Rejected);
    }
    let verdict = endpoint
        .http
        .nonces()
        .verify(&creds, realm, Some(&ha1), method, body, now);
    match verdict {
        // An injected fault: the right password meets an expired nonce.
        Verdict::Accepted if endpoint.faults.get().stale_nonces => Err(Verdict::Stale),
        Verdict::Accepted => {
            device.login_succeeded(account.key);
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

/// The account a digest user name logs in as from the network, if any.
fn user_login(endpoint: &Endpoint, creds: &Credentials, now: Instant) -> Option<NetworkLogin> {
    endpoint.device.network_login(&creds.username, now)
}

fn server(endpoint: &Endpoint) -> HeaderValue {
    HeaderValue::from_str(&endpoint.device.firmware.server_banner())
        .unwrap_or_else(|_| HeaderValue::from_static("Intel(R) Active Management Technology"))
}

fn date() -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// 401 in AMT's layout: challenge, HTML body with a length, and close.
fn unauthorized(endpoint: &Endpoint, stale: bool) -> Response<AmtBody> {
    let nonce = endpoint.http.nonces().issue(Instant::now());
    let challenge = digest::challenge(&endpoint.device.identity.digest_realm, &nonce, stale);
    let page = webui::logon_failed();
    let mut r = Response::new(AmtBody::fixed(page.clone()));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::SERVER, server(endpoint));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn soap(endpoint: &Endpoint, reply: wsman::Reply) -> Response<AmtBody> {
    let mut r = Response::new(AmtBody::chunked(Bytes::from(reply.xml)));
    if reply.fault.is_some() {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    let h = r.headers_mut();
    h.insert(header::DATE, date());
    h.insert(header::SERVER, server(endpoint));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml; charset=UTF-8"),
    );
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    if reply.fault.is_some() {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

fn soap_fault(endpoint: &Endpoint, fault: Fault) -> Response<AmtBody> {
    soap(endpoint, wsman::fault_reply(&endpoint.wsman, "0", fault))
}

fn html(endpoint: &Endpoint, status: StatusCode, page: String) -> Response<AmtBody> {
    let len = page.len();
    let mut r = Response::new(AmtBody::fixed(page));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::DATE, date());
    h.insert(header::SERVER, server(endpoint));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}
