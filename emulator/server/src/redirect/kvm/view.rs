//! Opening the host's screen for KVM and screenshots. What a view is and
//! the simulated host's own are in `host_port::screen`, beside the trait
//! each host supplies its view through.

use std::time::Duration;

use tokio::time::Instant;

pub use crate::host_port::screen::{ScreenView, TextView, Wait};
use crate::redirect::host_port::HostPort;

/// Opens a view of `host`'s screen and waits (at most `limit`) until it
/// shows the host's picture.
pub async fn open_ready<'a, H: HostPort + ?Sized>(
    host: &'a H,
    limit: Duration,
) -> Box<dyn ScreenView + 'a> {
    let mut view = host.open_screen();
    let deadline = Instant::now() + limit;
    view.refresh();
    while !view.is_ready() && Instant::now() < deadline {
        let wake = view.next_due().map_or(deadline, |at| at.min(deadline));
        tokio::select! {
            () = view.changed() => {}
            () = tokio::time::sleep_until(wake) => {}
        }
        view.refresh();
    }
    view
}

/// How long a screenshot waits for a remote display's first frame.
const SCREENSHOT_WAIT: Duration = Duration::from_secs(5);

/// The host's screen now as a PNG, for people (`amtemu ctl screenshot`).
pub async fn screenshot<H: HostPort + ?Sized>(host: &H) -> Result<Vec<u8>, String> {
    let view = open_ready(host, SCREENSHOT_WAIT).await;
    view.framebuffer().to_png().map_err(|e| e.to_string())
}
