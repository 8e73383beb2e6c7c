//! The VM's display as the host's screen. QEMU serves the VM's VGA output
//! as VNC on a unix socket in the device's runtime directory (`-vnc
//! unix:…`, nobody else's to reach); a [`VmView`] is amtemu as a viewer of
//! it ([`amtemu_rfb::Viewer`]), connected only while a KVM session or a
//! screenshot looks, and it passes the KVM viewer's keys and pointer on.
//!
//! What the KVM viewer sees ([`amtemu_rfb::Mirror`]): the VM's picture at
//! the VM's size (720x400 in text mode; a mode switch is a DesktopSize to
//! viewers that take it, as AMT does), "no signal" while no VM runs or the
//! host is not on (in S3 the guest is suspended or the VM paused), and the
//! consent code on top while it is displayed.
//!
//! One task per view owns the socket ([`watch_display`]): it follows the
//! VM runs (a new VM is a new display), reads the VM's updates into
//! [`Shown`] events for the view, and writes the viewer's input. Its
//! channel to the view is bounded and it asks QEMU for the next update
//! only after passing the last one on, so a view that stops reading stops
//! QEMU's updates rather than queueing them. When the view closes, the
//! task writes the input still queued (a viewer that types and leaves at
//! once, as vncdotool does, is heard out) and ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use amtemu_rfb::framebuffer::Framebuffer;
use amtemu_rfb::{Mirror, Viewer, ViewerEvent};

use super::console::QemuConsole;
use crate::host_port::HostPort;
use crate::redirect::kvm::view::{ScreenView, Wait};

/// How long a view waits for the VM's first frame before it shows what
/// it has (a VM that is slow to draw must not keep a KVM viewer blank).
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(3);

/// How long QEMU may take to listen on its display socket after the VM
/// has started (it listens before it answers QMP, so this is slack).
const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// A display connection that ended under a VM still running is tried
/// again after this long.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What the task passes on: bounded, as each can hold a screenful.
const SHOWN_QUEUE: usize = 16;

/// Viewer input waiting for the socket; a viewer that floods past it
/// loses pointer moves and keys (logged), as a congested KVM link would.
const INPUT_QUEUE: usize = 256;

/// Bytes read from QEMU at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What the display task tells the view.
#[derive(Debug)]
pub enum Shown {
    /// Something the VM's display sent.
    Screen(ViewerEvent),
    /// No display (no VM runs, or its display closed), and why.
    Lost(String),
}

/// What the view asks of the display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Key {
        down: bool,
        keysym: u32,
    },
    Pointer {
        buttons: u8,
        x: u16,
        y: u16,
    },
    /// The whole picture again (after the view drew over it).
    Full,
}

/// One look at the VM's display.
pub struct VmView<'a> {
    console: &'a QemuConsole,
    mirror: Mirror,
    shown: mpsc::Receiver<Shown>,
    /// Taken by [`ScreenView::changed`], applied by the next refresh.
    pending: Option<Shown>,
    /// Closed with the view, which ends the task once it has written
    /// what is queued.
    input: mpsc::Sender<Input>,
    /// The display's size while connected to it.
    connected: Option<(u16, u16)>,
    /// Whether the VM's picture is shown (connected and the host on).
    showing: bool,
    /// The viewer asked for the whole picture itself (at the start and
    /// after a resize), so showing it needs no request of the view's.
    full_coming: bool,
    consent: Option<u32>,
    ready: bool,
    opened: Instant,
}

impl<'a> VmView<'a> {
    /// Opens a view: the task connects to the running VM's display, if
    /// any, at once.
    pub fn open(console: &'a QemuConsole, display: watch::Receiver<Option<PathBuf>>) -> VmView<'a> {
        let (shown_tx, shown) = mpsc::channel(SHOWN_QUEUE);
        let (input, input_rx) = mpsc::channel(INPUT_QUEUE);
        tokio::spawn(watch_display(display, shown_tx, input_rx));
        let mut view = VmView {
            console,
            mirror: Mirror::new(),
            shown,
            pending: None,
            input,
            connected: None,
            showing: false,
            full_coming: false,
            consent: None,
            ready: false,
            opened: Instant::now(),
        };
        view.refresh();
        view
    }

    fn apply(&mut self, shown: Shown) {
        match shown {
            Shown::Screen(ViewerEvent::Ready { width, height, .. })
            | Shown::Screen(ViewerEvent::Resized { width, height }) => {
                self.connected = Some((width, height));
                // Shown anew (at the new size) by `show`.
                self.showing = false;
                self.full_coming = true;
            }
            Shown::Screen(ViewerEvent::UpdateDone) => {
                if !self.ready && self.showing {
                    self.ready = true;
                    tracing::info!(
                        ms = self.opened.elapsed().as_millis() as u64,
                        "KVM: the VM's first frame"
                    );
                }
            }
            Shown::Screen(event) => self.mirror.apply(&event),
            Shown::Lost(why) => {
                if self.connected.take().is_some() {
                    tracing::info!("KVM: the VM's display is gone: {why}");
                }
                // "No signal" is the picture now.
                self.ready = true;
            }
        }
    }

    /// Shows the VM's picture exactly while there is one and the host is
    /// on.
    fn show(&mut self) {
        let on = self.console.host_powered();
        match (self.connected, on) {
            (Some((width, height)), true) if !self.showing => {
                self.showing = true;
                self.mirror.apply(&ViewerEvent::Resized { width, height });
                if !std::mem::take(&mut self.full_coming) {
                    self.send(Input::Full);
                }
            }
            (Some(_), true) => {}
            _ => {
                self.showing = false;
                // What comes meanwhile is not shown: the picture is asked
                // for again when it is.
                self.full_coming = false;
                self.mirror.lose_signal();
                if !on {
                    // Off or asleep: "no signal" is the host's picture.
                    self.ready = true;
                }
            }
        }
    }

    fn send(&self, input: Input) {
        if let Err(mpsc::error::TrySendError::Full(dropped)) = self.input.try_send(input) {
            tracing::debug!(
                ?dropped,
                "KVM input to the VM dropped: its display is behind"
            );
        }
    }
}

impl ScreenView for VmView<'_> {
    fn refresh(&mut self) {
        let mut next = self.pending.take();
        while let Some(shown) = next.take().or_else(|| self.shown.try_recv().ok()) {
            self.apply(shown);
            // A new display is shown (or not) before its pixels apply.
            self.show();
        }
        self.show();
        let code = self.console.consent_code();
        if code != self.consent {
            self.consent = code;
            if self.mirror.set_consent_code(code) {
                self.send(Input::Full);
            }
        }
    }

    fn framebuffer(&self) -> &Framebuffer {
        self.mirror.framebuffer()
    }

    fn is_ready(&self) -> bool {
        self.ready || self.opened.elapsed() >= FIRST_FRAME_WAIT
    }

    fn key(&mut self, down: bool, keysym: u32) {
        if self.showing {
            self.send(Input::Key { down, keysym });
        }
    }

    fn pointer(&mut self, buttons: u8, x: u16, y: u16) {
        if self.showing {
            self.send(Input::Pointer { buttons, x, y });
        }
    }

    fn changed(&mut self) -> Wait<'_> {
        Box::pin(async {
            if self.pending.is_some() {
                return;
            }
            match self.shown.recv().await {
                Some(shown) => self.pending = Some(shown),
                None => std::future::pending().await,
            }
        })
    }

    fn next_due(&self) -> Option<Instant> {
        (!self.ready).then_some(self.opened + FIRST_FRAME_WAIT)
    }
}

/// Follows the VM's display for one view until the view is gone: connects
/// to each VM run's socket, passes what it shows on, and says when there
/// is none.
async fn watch_display(
    mut display: watch::Receiver<Option<PathBuf>>,
    shown: mpsc::Sender<Shown>,
    mut input: mpsc::Receiver<Input>,
) {
    loop {
        let current = display.borrow_and_update().clone();
        let why = match &current {
            None => "no VM runs".to_string(),
            Some(path) => tokio::select! {
                why = view_display(path, &shown, &mut input) => why,
                changed = display.changed() => match changed {
                    Ok(()) => "the VM stopped".to_string(),
                    Err(_) => return,
                },
            },
        };
        if shown.send(Shown::Lost(why)).await.is_err() {
            return;
        }
        if *display.borrow() != current {
            continue;
        }
        // The same VM (or none): wait for the next, or try its display
        // again a little later.
        let again = async {
            match current {
                Some(_) => tokio::time::sleep(RECONNECT_DELAY).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = display.changed() => if changed.is_err() { return },
            () = again => {}
            () = shown.closed() => return,
        }
    }
}

/// QEMU creates the socket as it starts: a refused or missing socket is
/// tried again for a moment.
async fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        match UnixStream::connect(path).await {
            Ok(stream) => return Ok(stream),
            Err(e)
                if Instant::now() < deadline
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One connection to a VM's display, until it ends; says why it ended.
async fn view_display(
    path: &Path,
    shown: &mpsc::Sender<Shown>,
    input: &mut mpsc::Receiver<Input>,
) -> String {
    let stream = match connect(path).await {
        Ok(stream) => stream,
        Err(e) => return format!("{}: {e}", path.display()),
    };
    let (mut from, mut to) = stream.into_split();
    let mut viewer = Viewer::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut events = Vec::new();
    loop {
        let out = viewer.take_output();
        if !out.is_empty()
            && let Err(e) = to.write_all(&out).await
        {
            return format!("writing to the display: {e}");
        }
        tokio::select! {
            read = from.read(&mut chunk) => {
                let n = match read {
                    Ok(0) => return "the display closed".to_string(),
                    Ok(n) => n,
                    Err(e) => return format!("reading the display: {e}"),
                };
                let received = viewer.receive(&chunk[..n], &mut events);
                for event in events.drain(..) {
                    if shown.send(Shown::Screen(event)).await.is_err() {
                        return write_last_input(&mut viewer, input, &mut to).await;
                    }
                }
                if let Err(e) = received {
                    tracing::warn!(error = %e, "the VM's display sent what a viewer cannot read");
                    return format!("VNC: {e}");
                }
            }
            got = input.recv() => match got {
                Some(got) => pass_on(&mut viewer, got),
                None => return "the view closed".to_string(),
            },
        }
    }
}

fn pass_on(viewer: &mut Viewer, input: Input) {
    match input {
        Input::Key { down, keysym } => viewer.key(down, keysym),
        Input::Pointer { buttons, x, y } => viewer.pointer(buttons, x, y),
        Input::Full => viewer.request_full(),
    }
}

/// The view has closed: what it queued still goes to the VM.
async fn write_last_input(
    viewer: &mut Viewer,
    input: &mut mpsc::Receiver<Input>,
    to: &mut OwnedWriteHalf,
) -> String {
    while let Ok(got) = input.try_recv() {
        pass_on(viewer, got);
    }
    let _ = to.write_all(&viewer.take_output()).await;
    "the view closed".to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    use super::*;
    use amtemu_model::device::firmware::Firmware;
    use amtemu_model::device::{Device, DeviceConfig, HostPower};
    use amtemu_rfb::pixel::{Rgb, VGA_PALETTE};

    fn console() -> Arc<QemuConsole> {
        let config = DeviceConfig::new("vm-display", Firmware::by_name("11.8").unwrap());
        let device = Device::new(config);
        device.force_power(HostPower::S0);
        Arc::new(QemuConsole::new(device))
    }

    fn socket(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("amtemu-display-{}-{name}", std::process::id()));
        super::super::vm::private_dir(&dir).unwrap();
        let path = dir.join("display.sock");
        let _ = std::fs::remove_file(&path);
        path
    }

    /// QEMU's side of a display connection, written from RFC 6143: the
    /// 3.8 handshake with security None and a `width`x`height` screen.
    async fn handshake(s: &mut UnixStream, width: u16, height: u16) {
        s.write_all(b"RFB 003.008\n").await.unwrap();
        let mut version = [0u8; 12];
        s.read_exact(&mut version).await.unwrap();
        assert_eq!(&version, b"RFB 003.008\n");
        s.write_all(&[1, 1]).await.unwrap();
        assert_eq!(s.read_u8().await.unwrap(), 1, "security None");
        s.write_all(&[0, 0, 0, 0]).await.unwrap();
        assert_eq!(s.read_u8().await.unwrap(), 1, "shared");
        let mut init = Vec::new();
        init.extend(width.to_be_bytes());
        init.extend(height.to_be_bytes());
        init.extend(amtemu_rfb::PixelFormat::RGB888.to_bytes());
        init.extend(4u32.to_be_bytes());
        init.extend(b"QEMU");
        s.write_all(&init).await.unwrap();
        // SetPixelFormat (20), SetEncodings (4 + 3 * 4), the first request (10).
        let mut asked = [0u8; 20 + 16 + 10];
        s.read_exact(&mut asked).await.unwrap();
        assert_eq!(asked[36], 3, "a FramebufferUpdateRequest");
    }

    /// One update: the whole screen in `colour`.
    async fn paint_all(s: &mut UnixStream, width: u16, height: u16, colour: Rgb) {
        let mut update = vec![0, 0, 0, 1];
        for v in [0, 0, width, height] {
            update.extend(v.to_be_bytes());
        }
        update.extend(0i32.to_be_bytes());
        for _ in 0..u32::from(width) * u32::from(height) {
            update.extend([colour.b, colour.g, colour.r, 0]);
        }
        s.write_all(&update).await.unwrap();
    }

    /// Refreshes `view` until `done` holds, waiting on it between.
    async fn until(view: &mut VmView<'_>, mut done: impl FnMut(&VmView<'_>) -> bool) {
        let wait = async {
            loop {
                view.refresh();
                if done(view) {
                    return;
                }
                tokio::select! {
                    () = view.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the view got there");
    }

    #[tokio::test]
    async fn the_view_shows_the_vms_display_and_passes_keys_on() {
        let console = console();
        let path = socket("shows");
        let listener = UnixListener::bind(&path).unwrap();
        let red = Rgb::new(0xA8, 0, 0);
        let qemu = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            handshake(&mut s, 640, 480).await;
            paint_all(&mut s, 640, 480, red).await;
            // The next request, then the key the viewer typed.
            let mut next = [0u8; 10];
            s.read_exact(&mut next).await.unwrap();
            assert_eq!(next[..2], [3, 1], "incremental");
            let mut key = [0u8; 8];
            s.read_exact(&mut key).await.unwrap();
            key
        });
        // The sender lives as long as the VM's console does.
        let (_display, watching) = watch::channel(Some(path));
        let mut view = VmView::open(&console, watching);
        assert!(!view.is_ready(), "the first frame is on its way");
        until(&mut view, |v| v.is_ready()).await;
        let fb = view.framebuffer();
        assert_eq!((fb.width(), fb.height()), (640, 480), "the VM's mode");
        assert_eq!(fb.pixel(639, 479), red);
        view.key(true, 0x61);
        let key = qemu.await.unwrap();
        assert_eq!(key, [4, 1, 0, 0, 0, 0, 0, 0x61]);
    }

    #[tokio::test]
    async fn no_vm_no_display_or_a_display_that_breaks_is_no_signal() {
        let console = console();
        let no_signal = VGA_PALETTE[7];
        // No VM runs: "no signal" at once, ready.
        let (display, watching) = watch::channel(None);
        let mut view = VmView::open(&console, watching);
        until(&mut view, |v| v.is_ready()).await;
        assert_eq!(view.framebuffer().pixel(200, 152), no_signal);

        // A VM starts; its display sends a frame, then bytes no viewer
        // reads (an unknown message): logged, and "no signal" again.
        let path = socket("breaks");
        let listener = UnixListener::bind(&path).unwrap();
        let gone = path.clone();
        let (seen, shown) = tokio::sync::oneshot::channel::<()>();
        let qemu = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            handshake(&mut s, 720, 400).await;
            paint_all(&mut s, 720, 400, Rgb::new(1, 2, 3)).await;
            shown.await.unwrap();
            // The viewer's reconnection, a second later, finds no socket.
            drop(listener);
            std::fs::remove_file(gone).unwrap();
            s.write_all(&[0xEE]).await.unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        display.send_replace(Some(path.clone()));
        until(&mut view, |v| {
            v.framebuffer().pixel(200, 152) == Rgb::new(1, 2, 3)
        })
        .await;
        seen.send(()).unwrap();
        until(&mut view, |v| v.framebuffer().pixel(200, 152) == no_signal).await;
        qemu.await.unwrap();
        // The host turned off (the VM gone): no signal, keys go nowhere.
        display.send_replace(None);
        view.key(true, 0x61);
        until(&mut view, |v| !v.showing).await;
        assert_eq!(view.framebuffer().pixel(200, 152), no_signal);
    }
}
