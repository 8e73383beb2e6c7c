//! Fault plans over the API: one device's (get, set, clear; stop and start
//! are its `offline` flag) and several devices' at once (named, or a seeded
//! share of the fleet).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, Control, Shared, faults_json, ok, parse_body};
use crate::endpoint::Endpoint;
use crate::faults::FaultPlan;
use crate::fleet::Fleet;

fn faults_answer(endpoint: &Endpoint) -> ApiResult {
    let plan = endpoint.faults.get();
    ok(
        StatusCode::OK,
        json!({"device": endpoint.device.name, "faults": faults_json(&plan), "stopped": plan.offline}),
    )
}

pub(super) async fn get_faults(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(name) = name?;
    faults_answer(&*c.endpoint(&name)?)
}

pub(super) async fn set_faults(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let plan: FaultPlan = parse_body(&body)?;
    check_plan(&plan)?;
    endpoint.set_faults(plan);
    tracing::info!(device = %name, faults = ?endpoint.faults.get(), "faults set by the control API");
    faults_answer(&endpoint)
}

pub(super) async fn clear_faults(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    endpoint.set_faults(crate::faults::FaultPlan::default());
    faults_answer(&endpoint)
}

/// Values serde accepts but that make no sense.
fn check_plan(plan: &FaultPlan) -> Result<(), ApiError> {
    if !(0.0..=1.0).contains(&plan.reset_probability) {
        return Err(ApiError::bad_request(
            "reset_probability must be between 0 and 1".into(),
        ));
    }
    if let Some(code) = plan.http_error
        && !(100..=999).contains(&code)
    {
        return Err(ApiError::bad_request(format!(
            "http_error {code} is not an HTTP status"
        )));
    }
    Ok(())
}

pub(super) async fn stop(State(c): Shared, name: Result<Path<String>, PathRejection>) -> ApiResult {
    set_offline(&c, name, true)
}

pub(super) async fn start(
    State(c): Shared,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult {
    set_offline(&c, name, false)
}

fn set_offline(c: &Control, name: Result<Path<String>, PathRejection>, offline: bool) -> ApiResult {
    let Path(name) = name?;
    let endpoint = c.endpoint(&name)?;
    let mut plan = endpoint.faults.get();
    plan.offline = offline;
    endpoint.set_faults(plan);
    faults_answer(&endpoint)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkFaults {
    plan: FaultPlan,
    devices: Option<Vec<String>>,
    share: Option<f64>,
    #[serde(default)]
    seed: u64,
}

pub(super) async fn bulk_faults(State(c): Shared, body: Bytes) -> ApiResult {
    let bulk: BulkFaults = parse_body(&body)?;
    check_plan(&bulk.plan)?;
    let targets: Vec<Arc<Endpoint>> = match (&bulk.devices, bulk.share) {
        (Some(names), None) => names
            .iter()
            .map(|n| c.endpoint(n))
            .collect::<Result<_, _>>()?,
        (None, Some(share)) => {
            if !(0.0..=1.0).contains(&share) {
                return Err(ApiError::bad_request(
                    "share must be between 0 and 1".into(),
                ));
            }
            // Only the devices picked are built (a fault changes them).
            seeded_share(&c.fleet, share, bulk.seed)
                .into_iter()
                .filter_map(|i| c.fleet.get(i))
                .collect()
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either \"devices\" or \"share\" (with an optional \"seed\")".into(),
            ));
        }
    };
    for endpoint in &targets {
        endpoint.set_faults(bulk.plan.clone());
    }
    let names: Vec<&str> = targets.iter().map(|e| e.device.name.as_str()).collect();
    tracing::info!(count = names.len(), "faults set by the control API");
    ok(
        StatusCode::OK,
        json!({"count": names.len(), "devices": names, "faults": faults_json(&bulk.plan)}),
    )
}

pub(super) async fn clear_all_faults(State(c): Shared) -> ApiResult {
    let mut count = 0;
    // An unbuilt device has no faults.
    for (_, endpoint) in c.fleet.built() {
        if !endpoint.faults.get().is_clear() {
            endpoint.set_faults(crate::faults::FaultPlan::default());
            count += 1;
        }
    }
    ok(StatusCode::OK, json!({"cleared": count}))
}

/// `round(share × n)` devices, chosen by a hash of the seed and each name:
/// the same seed picks the same devices, and a larger share picks a
/// superset of a smaller one.
fn seeded_share(fleet: &Fleet, share: f64, seed: u64) -> Vec<usize> {
    use md5::{Digest, Md5};
    let count = ((fleet.len() as f64) * share).round() as usize;
    let mut ranked: Vec<([u8; 16], String, usize)> = (0..fleet.len())
        .filter_map(|i| {
            let name = fleet.name(i)?;
            let mut h = Md5::new();
            h.update(seed.to_le_bytes());
            h.update(name.as_bytes());
            Some((h.finalize().into(), name, i))
        })
        .collect();
    ranked.sort_unstable();
    ranked.into_iter().take(count).map(|(_, _, i)| i).collect()
}
