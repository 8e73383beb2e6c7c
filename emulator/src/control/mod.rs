//! The control plane (being written): a REST API, an event stream and
//! Prometheus metrics on a port of its own.

use std::sync::Arc;

use crate::fleet::Fleet;

/// Serves the control API for a fleet on `listener` until dropped.
pub async fn serve(fleet: Arc<Fleet>, listener: tokio::net::TcpListener) {
    let _ = (fleet, listener);
}
