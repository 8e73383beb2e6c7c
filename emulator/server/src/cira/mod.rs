//! CIRA: devices that call home to a Management Presence Server. One task
//! per device with remote access watches its configuration
//! (`Device::cira_plan`), opens the tunnel when a policy wants one
//! (`connect`), runs it (`session`) with each channel served by the same
//! HTTP and redirection code as a direct connection (`channel`), and after
//! a drop tries again with backoff. Its state is the endpoint's
//! `CiraStatus`, which the control API shows.

mod channel;
mod client_tls;
mod connect;
mod session;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use amtemu_model::device::remote_access::{CiraChange, CiraPlan, NoCira};
use amtemu_model::device::{DeviceEvent, Feature};
use rand::Rng;
use tokio::sync::broadcast;

use crate::endpoint::Endpoint;
use crate::endpoint::cira::CiraPhase;
use crate::metrics::METRICS;
use crate::tls::TlsContext;

pub use connect::ConnectError;

/// The first wait after a failed or dropped tunnel; it doubles up to the
/// periodic policy's interval. Firmware's own backoff is not known (spec
/// §9 q4); this keeps a flapping MPS from being hammered, and a jitter of
/// up to a quarter spreads a fleet's reconnects after the MPS restarts.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Whether the device's firmware can hold a tunnel at all: only those get
/// a task.
pub fn supported(endpoint: &Endpoint) -> bool {
    endpoint.device.firmware.has(Feature::RemoteAccess)
}

/// The device's CIRA task: runs until the device's event channel closes
/// (the device is gone) or the task is dropped. `source` is the device's
/// own address, which its tunnels come from.
pub async fn run(endpoint: Arc<Endpoint>, source: IpAddr, tls: Arc<TlsContext>) {
    let mut changes = endpoint.device.subscribe();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let user = endpoint.cira.user_requested();
        let plan = match plan(&endpoint, user) {
            Ok(plan) => plan,
            Err(why) => {
                if user {
                    // A request that cannot be met is spent, as firmware
                    // drops a call for help it has no policy for.
                    endpoint.cira.take_user_request();
                }
                endpoint.cira.enter(CiraPhase::Off, None);
                endpoint
                    .cira
                    .update(|s| s.last_error = Some(why.to_string()));
                if !wait_for_change(&endpoint, &mut changes, None).await {
                    return;
                }
                continue;
            }
        };
        if user {
            endpoint.cira.take_user_request();
        }
        let mps = format!("{}:{}", plan.server.address, plan.server.port);
        endpoint
            .cira
            .enter(CiraPhase::Connecting, Some(mps.clone()));
        endpoint.device.cira_changed(CiraChange::Connecting {
            mps: mps.clone(),
            trigger: plan.trigger,
        });
        METRICS.cira_attempt();
        let offline = endpoint.faults.get().offline;
        let connected = if offline {
            Err(ConnectError::Offline)
        } else {
            connect::connect(&endpoint.device, &plan.server, source).await
        };
        let ended = match connected {
            Ok((stream, addr)) => {
                tracing::debug!(device = %endpoint.device.name, %mps, tls = stream.negotiated().version, "CIRA TLS up");
                METRICS.cira_tunnel_up(true);
                let ended = session::run(stream, addr, &endpoint, &tls, &plan, &mut changes).await;
                METRICS.cira_tunnel_up(false);
                ended
            }
            Err(e) => session::Ended {
                established: false,
                reason: e.to_string(),
                replan: false,
            },
        };
        tracing::info!(device = %endpoint.device.name, %mps, reason = %ended.reason, "CIRA tunnel ended");
        endpoint.device.cira_changed(CiraChange::Disconnected {
            reason: ended.reason.clone(),
        });
        endpoint.cira.enter(CiraPhase::Connecting, None);
        endpoint
            .cira
            .update(|s| s.last_error = Some(ended.reason.clone()));
        if ended.established {
            backoff = FIRST_BACKOFF;
        }
        if ended.replan {
            continue;
        }
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(u64::from(plan.retry_interval.max(1))));
        if !wait_for_change(&endpoint, &mut changes, Some(wait)).await {
            return;
        }
    }
}

/// The plan, unless the ME is off by its power policy (then it holds no
/// tunnel, as it answers on no port).
fn plan(endpoint: &Endpoint, user: bool) -> Result<CiraPlan, String> {
    if endpoint.device.firmware.has(Feature::RemoteAccess) && !endpoint.device.me_reachable() {
        return Err("the ME is off by its power policy".into());
    }
    endpoint
        .device
        .cira_plan(user)
        .map_err(|e: NoCira| e.to_string())
}

fn jitter(d: Duration) -> Duration {
    let quarter = d.as_millis() as u64 / 4;
    d + Duration::from_millis(rand::rng().random_range(0..=quarter))
}

/// Waits for a device change, a user-initiated request or `timeout`;
/// false when the device is gone.
async fn wait_for_change(
    endpoint: &Endpoint,
    changes: &mut broadcast::Receiver<DeviceEvent>,
    timeout: Option<Duration>,
) -> bool {
    let sleep = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        change = next_change(changes) => change,
        _ = endpoint.cira.woken() => true,
        _ = sleep => true,
    }
}

/// The next change that may alter the plan: the task's own tunnel events
/// are not (else announcing a failure would end its own backoff). False
/// when the device is gone.
pub(crate) async fn next_change(changes: &mut broadcast::Receiver<DeviceEvent>) -> bool {
    loop {
        match changes.recv().await {
            Ok(DeviceEvent::Cira(_)) => continue,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_tasks_own_tunnel_events_do_not_wake_it() {
        let (tx, mut rx) = broadcast::channel(8);
        tx.send(DeviceEvent::Cira(CiraChange::Disconnected {
            reason: "cut".into(),
        }))
        .unwrap();
        let woke = tokio::time::timeout(Duration::from_millis(50), next_change(&mut rx)).await;
        assert!(woke.is_err(), "its own event is no change");
        tx.send(DeviceEvent::SettingsChanged("remote access"))
            .unwrap();
        assert!(next_change(&mut rx).await);
        drop(tx);
        assert!(!next_change(&mut rx).await, "the device is gone");
    }
}
