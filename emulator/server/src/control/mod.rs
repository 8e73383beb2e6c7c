//! The control plane: a REST API, an event stream and Prometheus metrics on
//! a port of its own (`--control ADDR`, loopback only unless a token guards
//! it), and the browser dashboard over them. `amtemu ctl` is its
//! command-line client ([`client`]).
//!
//! Endpoints (every answer is JSON unless said otherwise; errors are
//! `{"error": "..."}` with 400 for bad input, 404 for an unknown device or
//! path, 409 for a power request the device refuses):
//!
//! - `GET /api/v1/devices?offset=&limit=`: a page of the fleet (default
//!   1000 devices, at most 10000): name, address, firmware, power,
//!   provisioning and faults (when any). The answer carries `total` and,
//!   when more follow, `next_offset`. Filters narrow the list (and
//!   `total`): `firmware=11.8`, `power=s0`, `provisioning=post`,
//!   `cira=connected`, `faults=faulted|clear|stopped`, `name=` (a part of
//!   the name); `counts=true` adds the whole fleet's devices per state
//!   (`counts`) and its size (`fleet`) ([`query`]).
//! - `GET /api/v1/devices/{name}`: one device in detail. Device names may
//!   hold `/` (`amtemu/amt-00001`); send it percent-encoded (`%2F`).
//! - `POST /api/v1/devices/{name}/power` with `{"action": A}`: `on`, `off`,
//!   `cycle`, `reset`, `sleep` and `hibernate` are requests as WS-Man's
//!   RequestPowerStateChange makes them (and refused the same way); `button`
//!   is a press of the power button (on when the host is off, asleep or
//!   hibernating, a soft-off when it runs); `os-shutdown` is the host OS
//!   shutting itself down (straight to S5, only while it runs). 202 when
//!   accepted.
//! - `GET`, `PUT` (a [`FaultPlan`], unknown keys refused) and `DELETE`
//!   `/api/v1/devices/{name}/faults`.
//! - `PUT /api/v1/faults` with `{"plan": P, "devices": [names]}` or
//!   `{"plan": P, "share": 0.1, "seed": 7}`: a plan for several devices; a
//!   share picks `round(share × fleet)` devices, the same ones for the same
//!   seed and names whatever the order of the fleet. `DELETE /api/v1/faults`
//!   clears every device.
//! - `POST /api/v1/devices/{name}/stop` and `/start`: a stopped device is
//!   unplugged from the network: it is the fault plan's `offline` flag (the
//!   rest of the plan is kept), so connections to it are closed as soon as
//!   they are accepted while the host keeps its power state and timers.
//! - `GET /api/v1/events[?device=NAME]`: server-sent events, one per device
//!   event, each `data: {"device": NAME, "event": {"type": ...}}`; a client
//!   too slow to keep up gets an `event: lagged` with the number missed.
//! - `GET /api/v1/devices/{name}/screenshot`: the host's screen as KVM
//!   shows it, a PNG (`image/png`); drawn for the request, so a device
//!   nobody looks at keeps no framebuffer.
//! - `GET /api/v1/devices/{name}/cira`: the CIRA tunnel's state (also in
//!   the detail view); `POST .../cira/connect`: a user-initiated connection
//!   as host software asks for one (202).
//! - `GET /api/v1/devices/{name}/agent`: the simulated host's agent
//!   (enabled, running, the watchdogs it feeds); `POST` with
//!   `{"action": "start"|"stop"}` starts or kills it.
//! - `GET /metrics`: Prometheus metrics ([`metrics`]), OpenMetrics text.
//! - `GET /`: the dashboard ([`dashboard`]), a page over this API; its
//!   consoles are WebSockets at `GET /api/v1/devices/{name}/sol` and
//!   `…/kvm` ([`bridge`]).
//! - With a token (`--control-token`), every request carries it ([`auth`]).
//!
//! While the control plane runs it listens to every device's events (one
//! small task per device): to count power transitions and to feed the
//! event stream, which serializes events only while someone is connected.

mod agent;
mod auth;
mod bridge;
mod cira;
pub mod client;
mod dashboard;
mod events;
mod faults;
mod query;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::endpoint::Endpoint;
use crate::faults::FaultPlan;
use crate::fleet::Fleet;
use crate::metrics::METRICS;
use amtemu_model::device::Named;
use amtemu_model::device::{Device, PowerRefusal, PowerRequest};
use events::{HubEvent, events, watch};
use faults::{bulk_faults, clear_all_faults, clear_faults, get_faults, set_faults, start, stop};
use query::{Filter, ListQuery};

/// How many devices a page holds unless the client asks otherwise, and at
/// most.
pub const DEFAULT_PAGE: usize = 1000;
pub const MAX_PAGE: usize = 10_000;

/// Events buffered per event-stream client before it is told it lagged.
const HUB_CAPACITY: usize = 4096;

/// Serves the control API for a fleet on `listener` until dropped; with a
/// token, only to requests that carry it ([`auth`]).
pub async fn serve(fleet: Arc<Fleet>, listener: tokio::net::TcpListener, token: Option<String>) {
    METRICS.set_devices(fleet.len());
    let (hub, _) = broadcast::channel(HUB_CAPACITY);
    // Each device's events reach the hub from when it is built (an unbuilt
    // device has none). The tasks belong to this future: when it ends,
    // the hook finds its owner gone and the watchers are aborted.
    let watchers = crate::fleet::tasks::TaskOwner::default();
    let spawner = watchers.handle();
    let to_hub = hub.clone();
    fleet.on_build(Box::new(move |_, _, endpoint| {
        spawner.spawn(watch(endpoint.device.clone(), to_hub.clone()));
    }));
    let mut router = router(fleet, hub);
    if let Some(token) = token {
        let token: Arc<str> = token.into();
        router = router.layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ));
    }
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "the control API stopped");
    }
    drop(watchers);
}

struct Control {
    fleet: Arc<Fleet>,
    hub: broadcast::Sender<HubEvent>,
}

impl Control {
    /// The index of the device named `name` (nothing is built).
    fn index(&self, name: &str) -> Result<usize, ApiError> {
        self.fleet
            .index_of(name)
            .ok_or_else(|| ApiError::not_found(format!("no device named {name:?}")))
    }

    /// The device named `name`, built now if it was not: a call naming a
    /// device reaches it.
    fn endpoint(&self, name: &str) -> Result<Arc<Endpoint>, ApiError> {
        let index = self.index(name)?;
        self.fleet.get(index).ok_or_else(|| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{name}'s saved state cannot be read"),
            )
        })
    }
}

type Shared = State<Arc<Control>>;

fn router(fleet: Arc<Fleet>, hub: broadcast::Sender<HubEvent>) -> Router {
    let control = Arc::new(Control { fleet, hub });
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{name}", get(detail))
        .route("/api/v1/devices/{name}/power", post(power))
        .route(
            "/api/v1/devices/{name}/faults",
            get(get_faults).put(set_faults).delete(clear_faults),
        )
        .route("/api/v1/devices/{name}/setup-mode", post(setup_mode))
        .route(
            "/api/v1/devices/{name}/agent",
            get(agent::status).post(agent::set),
        )
        .route("/api/v1/devices/{name}/hello", get(hello_status))
        .route("/api/v1/devices/{name}/cira", get(cira::status))
        .route("/api/v1/devices/{name}/cira/connect", post(cira::connect))
        .route("/api/v1/devices/{name}/cira/cut", post(cira::cut))
        .route("/api/v1/devices/{name}/cira/silence", post(cira::silence))
        .route("/api/v1/devices/{name}/stop", post(stop))
        .route("/api/v1/devices/{name}/start", post(start))
        .route("/api/v1/devices/{name}/screenshot", get(screenshot))
        .route("/api/v1/faults", put(bulk_faults).delete(clear_all_faults))
        .route("/api/v1/events", get(events))
        .route("/api/v1/devices/{name}/sol", get(bridge::sol))
        .route("/api/v1/devices/{name}/kvm", get(bridge::kvm))
        .route("/", get(dashboard::index))
        .route("/assets/{name}", get(dashboard::asset))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { ApiError::not_found("no such endpoint".into()) })
        .with_state(control)
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(message: String) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: String) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

type ApiResult = Result<Response, ApiError>;

/// A 2xx that acknowledges a change goes out once the change is durable.
async fn durable(endpoint: &Endpoint) -> Result<(), ApiError> {
    endpoint.make_durable().await.map_err(|e| {
        tracing::error!(device = %endpoint.device.name, error = %e, "a change was not saved");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the change was made but not saved: {e}"),
        )
    })
}

fn ok(status: StatusCode, value: Value) -> ApiResult {
    Ok((status, axum::Json(value)).into_response())
}

/// Parses a JSON body into `T`, refusing anything else with a 400 that
/// says why.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn faults_json(plan: &FaultPlan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

/// Device `index` as the list shows it; an unbuilt device is shown from
/// its spec (its state until it is built) and stays unbuilt.
fn summary(fleet: &Fleet, index: usize) -> Option<Value> {
    let Some(endpoint) = fleet.built_device(index) else {
        let initial = fleet.initial(index)?;
        return Some(json!({
            "name": initial.name,
            "address": initial.address.to_string(),
            "firmware": initial.firmware.name,
            "power": initial.power.name(),
            "provisioning": initial.provisioning,
        }));
    };
    let device = &endpoint.device;
    let (address, power, provisioning) = device.with_state(|s| {
        (
            s.nvram.network.ip_address.clone(),
            s.power.state(),
            s.nvram.setup.state,
        )
    });
    let mut v = json!({
        "name": device.name,
        "address": address,
        "firmware": device.firmware.name,
        "power": power.name(),
        "provisioning": provisioning,
    });
    let faults = endpoint.faults.get();
    if !faults.is_clear() {
        v["faults"] = faults_json(&faults);
    }
    Some(v)
}

fn details(endpoint: &Endpoint) -> Value {
    let device = &endpoint.device;
    let id = &device.identity;
    let fw = device.firmware;
    let faults = endpoint.faults.get();
    device.with_state(|s| {
        let mut v = json!({
            "name": device.name,
            "address": s.nvram.network.ip_address,
            "identity": {
                "uuid": id.uuid_string(),
                "realm": id.digest_realm,
                "mac": id.mac,
                "serial": id.serial_number,
            },
            "firmware": {
                "name": fw.name,
                "version": fw.version,
                "build": fw.build,
            },
            "power": s.power.state().name(),
            "provisioning": {
                "state": s.nvram.setup.state,
                "mode": s.nvram.setup.mode,
            },
            // What PTHI GET_LOCAL_SYSTEM_ACCOUNT gives a local agent: the
            // account of the local interface (see `amtemu_model::device::local_account`).
            // Provisioning chains refused at the handshake since start.
            "provisioning_refusals": s.provisioning_refusals,
            "local_system_account": {
                "user": amtemu_model::device::local_account::LOCAL_ACCOUNT,
                "password": amtemu_model::device::local_account::local_account_password(id),
            },
            "host_name": s.nvram.general.host_name,
            "domain_name": s.nvram.general.domain_name,
            "tls_enabled": s.nvram.tls.remote.enabled,
            // Whether it answers at its firmware's pace (`--timing`).
            "timing": match device.pace {
                Some(_) => amtemu_model::device::firmware::TimingMode::Firmware,
                None => amtemu_model::device::firmware::TimingMode::Fast,
            }
            .name(),
            // The administrator and the ACL entries.
            "users": 1 + s.nvram.users.accounts.len(),
            "stopped": faults.offline,
            "faults": faults_json(&faults),
            "cira": cira::json(endpoint),
        });
        if s.power.is_transitioning() {
            v["power_destination"] = s.power.destination().name().into();
        }
        v
    })
}

async fn list(State(c): Shared, query: Result<Query<ListQuery>, QueryRejection>) -> ApiResult {
    let Query(query) = query?;
    let filter = Filter::parse(&query)?;
    let all = &*c.fleet;
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let (page, total, counts) = query::select(all, &filter, offset, limit, query.counts);
    let devices: Vec<Value> = page.iter().filter_map(|&i| summary(all, i)).collect();
    let offset = offset.min(total);
    let end = offset + devices.len();
    let mut v = json!({
        "total": total,
        "offset": offset,
        "limit": limit,
        "devices": devices,
    });
    if end < total {
        v["next_offset"] = end.into();
    }
    if let Some(counts) = counts {
        v["counts"] = counts;
        v["fleet"] = all.len().into();
    }
    ok(StatusCode::OK, v)
}

async fn detail(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(name) = name?;
    ok(StatusCode::OK, details(&*c.endpoint(&name)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerBody {
    action: String,
}

/// The power actions the API accepts, for error messages.
const POWER_ACTIONS: &str = "on, off, cycle, reset, sleep, hibernate, button, os-shutdown";

async fn power(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let PowerBody { action } = parse_body(&body)?;
    let device = &endpoint.device;
    let outcome = match action.as_str() {
        "on" => device.request_power(PowerRequest::On),
        "off" => device.request_power(PowerRequest::OffSoft),
        "cycle" => device.request_power(PowerRequest::PowerCycle),
        "reset" => device.request_power(PowerRequest::MasterBusReset),
        "sleep" => device.request_power(PowerRequest::SleepDeep),
        "hibernate" => device.request_power(PowerRequest::Hibernate),
        "button" => device.press_power_button(),
        "os-shutdown" => {
            if !device.os_shutdown() {
                return Err(ApiError(
                    StatusCode::CONFLICT,
                    "the host OS is not running".into(),
                ));
            }
            Ok(())
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown power action {other:?}; known: {POWER_ACTIONS}"
            )));
        }
    };
    match outcome {
        Ok(()) => {
            durable(&endpoint).await?;
            power_answer(device, &action)
        }
        Err(refusal) => {
            let state = device.with_state(|s| s.power.state());
            let why = match refusal {
                PowerRefusal::NotSupported => format!(
                    "{action} is not supported by firmware {}",
                    device.firmware.name
                ),
                PowerRefusal::NotAvailableNow => {
                    format!(
                        "{action} is not possible while the host is in {}",
                        state.name()
                    )
                }
                PowerRefusal::Busy => "a power change is still in progress".to_string(),
            };
            Err(ApiError(StatusCode::CONFLICT, why))
        }
    }
}

fn power_answer(device: &Device, action: &str) -> ApiResult {
    let (now, destination) = device.with_state(|s| (s.power.state(), s.power.destination()));
    ok(
        StatusCode::ACCEPTED,
        json!({
            "device": device.name,
            "action": action,
            "power": now.name(),
            "destination": destination.name(),
        }),
    )
}

/// The device's setup state and hello window.
fn hello_json(device: &Device) -> Value {
    device.with_state(|s| {
        let hello = &s.nvram.provisioning.hello;
        json!({
            "provisioning_state": format!("{:?}", s.nvram.setup.state).to_lowercase(),
            "window_start": hello.window_start,
            "retries_sent": hello.retries_sent,
            "delivered": hello.delivered,
            "given_up": hello.given_up,
            "last_server": hello.last_server.map(|a| a.to_string()),
            "last_error": hello.last_error,
        })
    })
}

async fn hello_status(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(name) = name?;
    ok(StatusCode::OK, hello_json(&c.endpoint(&name)?.device))
}

/// As a local agent's START_CONFIGURATION: pre-provisioned (or expired)
/// devices enter setup mode and start sending hellos.
async fn setup_mode(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let device = &endpoint.device;
    if !device.enter_setup_mode() {
        return ok(
            StatusCode::CONFLICT,
            json!({"error": "the device is provisioned; unprovision it first"}),
        );
    }
    durable(&endpoint).await?;
    ok(StatusCode::OK, hello_json(device))
}

/// The host's screen as a PNG.
async fn screenshot(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let png = crate::redirect::kvm::screenshot(endpoint.host_port())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn metrics_text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        METRICS.encode(),
    )
        .into_response()
}

/// Serves only `GET /metrics` on `listener`, which may be on any address
/// (`--metrics`): it changes nothing and tells only counts, so a Prometheus
/// outside the machine or pod can scrape it while the control API, which
/// can power devices off, stays on loopback.
pub async fn serve_metrics(devices: usize, listener: tokio::net::TcpListener) {
    METRICS.set_devices(devices);
    let router = Router::new().route("/metrics", get(metrics_text));
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

#[cfg(test)]
mod tests;
