//! The control API's switch for the agent software on the simulated
//! host, which registers and feeds the device's agent presence
//! watchdogs while the host runs (`amtemu_model::device::agent_presence`).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Shared, durable, ok, parse_body};
use amtemu_model::device::Device;
use amtemu_model::device::defense::INTERFACES;

/// `{"enabled": bool, "running": bool, "watchdogs": [{"device_id",
/// "state"}], "active_policies": [wired, wireless]}`: running is enabled
/// and the host in S0; the System Defense policy handle each interface
/// enforces (one a watchdog's action switched on wins), or null.
fn json(device: &Device) -> Value {
    let (enabled, running) = device.host_agent();
    let watchdogs: Vec<Value> = device
        .watchdogs()
        .iter()
        .map(|w| json!({"device_id": w.device_id, "state": w.state.code()}))
        .collect();
    let defense = device.defense();
    let active: Vec<Option<u32>> = (0..INTERFACES).map(|i| defense.active(i)).collect();
    json!({
        "enabled": enabled,
        "running": running,
        "watchdogs": watchdogs,
        "active_policies": active,
    })
}

/// `GET /api/v1/devices/{name}/agent`.
pub(super) async fn status(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(name) = name?;
    ok(StatusCode::OK, json(&c.endpoint(&name)?.device))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentBody {
    action: String,
}

/// `POST /api/v1/devices/{name}/agent` with `{"action": "start"|"stop"}`:
/// start runs the agent whenever the host is in S0; stop kills it, so its
/// watchdogs expire after their timeout.
pub(super) async fn set(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let AgentBody { action } = parse_body(&body)?;
    let enabled = match action.as_str() {
        "start" => true,
        "stop" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown agent action {other:?}; known: start, stop"
            )));
        }
    };
    let device = &endpoint.device;
    device.set_host_agent(enabled);
    // Starting may register watchdogs (a saved state change).
    durable(&endpoint).await?;
    ok(StatusCode::OK, json(device))
}
