//! The dashboard's files, served at `/` and `/assets/…`, compiled into the
//! binary: the page works on a machine with no network, and nothing is
//! fetched from elsewhere. Its own code is in `emulator/server/dashboard/src/`;
//! xterm.js and noVNC are built from the pinned lock file into
//! `emulator/server/dashboard/vendor/` by `dashboard/build.sh` (committed, so
//! building amtemu needs neither npm nor a network). The data comes from
//! the API beside it: the device list with its filters and counts, the
//! detail, power, fault and setup-mode endpoints, the event stream, and the
//! consoles ([`super::bridge`]).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($dir:literal, $name:literal, $mime:expr) => {
        Asset {
            name: $name,
            mime: $mime,
            bytes: include_bytes!(concat!("../../dashboard/", $dir, "/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

const INDEX: &[u8] = include_bytes!("../../dashboard/src/index.html");

static ASSETS: &[Asset] = &[
    asset!("src", "app.js", JS),
    asset!("src", "app.css", CSS),
    asset!("vendor", "xterm.js", JS),
    asset!("vendor", "xterm.css", CSS),
    asset!("vendor", "novnc-rfb.js", JS),
    asset!("vendor", "LICENSE-xterm.txt", TEXT),
    asset!("vendor", "LICENSE-novnc.txt", TEXT),
];

/// `GET /`: the page.
pub(super) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing but this origin: no CDN, no inline script.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'",
            ),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /assets/{name}`.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => ([(header::CONTENT_TYPE, a.mime)], a.bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
