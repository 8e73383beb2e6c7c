//! The control API's CIRA view and the host's "fast call for help".

use std::time::UNIX_EPOCH;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiResult, Shared, ok};
use crate::endpoint::Endpoint;
use crate::endpoint::cira::Interruption;

/// `{"state": "off"|"connecting"|"connected", "since": unix seconds,
/// "mps": "addr:port", "last_error": "...", "connects": n, "channels": n}`.
pub(super) fn json(endpoint: &Endpoint) -> Value {
    let s = endpoint.cira.snapshot();
    json!({
        "state": s.phase.name(),
        "since": s.since.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        "mps": s.mps,
        "last_error": s.last_error,
        "connects": s.connects,
        "channels": s.channels,
    })
}

/// `GET /api/v1/devices/{name}/cira`.
pub(super) async fn status(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(name) = name?;
    ok(StatusCode::OK, json(&*c.endpoint(&name)?))
}

use axum::extract::State;

/// `POST /api/v1/devices/{name}/cira/connect`: software on the host asks
/// for a user-initiated connection. 202: asked; whether the device may
/// (its user-initiated policy and service state) shows in the state.
pub(super) async fn connect(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    endpoint.cira.request_user_initiated();
    ok(StatusCode::ACCEPTED, json(&endpoint))
}

/// `POST /api/v1/devices/{name}/cira/cut`: the tunnel's connection is cut
/// mid-session (no DISCONNECT); 202, or 409 when no tunnel is up.
pub(super) async fn cut(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    interrupt(c, name, Interruption::Cut)
}

/// `POST /api/v1/devices/{name}/cira/silence`: the tunnel's path goes
/// quiet until the device's silence limit gives it up; 202, or 409 when
/// no tunnel is up.
pub(super) async fn silence(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    interrupt(c, name, Interruption::Silence)
}

fn interrupt(
    c: std::sync::Arc<super::Control>,
    name: Result<Path<String>, PathRejection>,
    how: Interruption,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let status = if endpoint.cira.interrupt(how) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CONFLICT
    };
    ok(status, json(&endpoint))
}
