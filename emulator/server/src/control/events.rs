//! The event stream: a watcher per device counts power transitions and,
//! while a client listens, turns the device's events into JSON lines for
//! the hub that every stream reads.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use super::{ApiError, Shared};
use crate::metrics::METRICS;
use amtemu_model::device::remote_access::CiraChange;
use amtemu_model::device::{BootTarget, Device, DeviceEvent, Named};

/// A device event for the event stream: the device's name (for filtering)
/// and the JSON line.
#[derive(Clone, Debug)]
pub(super) struct HubEvent {
    device: Arc<str>,
    json: Arc<str>,
}

/// Counts a device's power transitions and forwards its events to the hub.
pub(super) async fn watch(device: Arc<Device>, hub: broadcast::Sender<HubEvent>) {
    let mut events = device.subscribe();
    let name: Arc<str> = device.name.as_str().into();
    drop(device);
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(device = %name, missed = n, "control plane missed device events");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // A request is plumbing for an outside host; the stream reports
        // what landed (power_changed, booted), as it always has.
        if matches!(event, DeviceEvent::PowerRequested(_)) {
            continue;
        }
        if let DeviceEvent::PowerChanged { to, .. } = event {
            METRICS.power_transition(to);
        }
        if hub.receiver_count() > 0 {
            let line = json!({"device": &*name, "event": event_json(&event)}).to_string();
            let _ = hub.send(HubEvent {
                device: name.clone(),
                json: line.into(),
            });
        }
    }
}

fn event_json(event: &DeviceEvent) -> Value {
    match event {
        DeviceEvent::PowerChanged { from, to } => json!({
            "type": "power_changed",
            "from": from.name(),
            "to": to.name(),
        }),
        // Not streamed (see `watch`); described for completeness.
        DeviceEvent::PowerRequested(request) => json!({
            "type": "power_requested",
            "power_state": request.cim(),
        }),
        DeviceEvent::Booted(target) => json!({
            "type": "booted",
            "target": match target {
                BootTarget::Disk => "disk",
                BootTarget::Pxe => "pxe",
                BootTarget::CdDvd => "cd-dvd",
                BootTarget::Diagnostic => "diagnostic",
                BootTarget::BiosSetup => "bios-setup",
                BootTarget::IdeRedirection => "ide-redirection",
            },
        }),
        DeviceEvent::SettingsChanged(what) => json!({"type": "settings_changed", "what": what}),
        DeviceEvent::RedirectionSession { kind, open } => json!({
            "type": if *open { "session_opened" } else { "session_closed" },
            "kind": kind.name(),
        }),
        DeviceEvent::Cira(CiraChange::Connecting { mps, trigger }) => json!({
            "type": "cira_connecting",
            "mps": mps,
            "trigger": trigger.name(),
        }),
        DeviceEvent::Cira(CiraChange::Connected { mps, trigger }) => json!({
            "type": "cira_connected",
            "mps": mps,
            "trigger": trigger.name(),
        }),
        DeviceEvent::Cira(CiraChange::Disconnected { reason }) => json!({
            "type": "cira_disconnected",
            "reason": reason,
        }),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EventFilter {
    device: Option<String>,
}

pub(super) async fn events(
    State(c): Shared,
    filter: Result<Query<EventFilter>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(filter) = filter?;
    if let Some(name) = &filter.device {
        c.index(name)?;
    }
    let wanted: Option<Arc<str>> = filter.device.map(Into::into);
    let stream = BroadcastStream::new(c.hub.subscribe()).filter_map(move |item| match item {
        Ok(event) => {
            if wanted.as_ref().is_some_and(|w| *w != event.device) {
                return None;
            }
            Some(Ok(Event::default().data(&*event.json)))
        }
        Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(Event::default()
            .event("lagged")
            .data(json!({"missed": n}).to_string()))),
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
