use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::view::ScreenView;
use super::*;
use crate::redirect::sol::tests::FakeHost;
use amtemu_rfb::messages::ClientMessage as Rfb;
use amtemu_rfb::{Encoding, PixelFormat, Rect, Screen};

/// A VNC client good enough to check what the device sends: it keeps the
/// screen as packed RGB565 values from Raw rectangles.
struct Client {
    stream: DuplexStream,
    buf: Vec<u8>,
    pixels: Vec<u32>,
    width: usize,
    bells: usize,
}

impl Client {
    fn new(stream: DuplexStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
            pixels: Vec::new(),
            width: 0,
            bells: 0,
        }
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 8192];
            let got = self.stream.read(&mut chunk).await.unwrap();
            assert!(
                got > 0,
                "the device closed ({} of {n} bytes)",
                self.buf.len()
            );
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Whether the device closes the connection (reads until it does).
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn send_msg(&mut self, msg: Rfb) {
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        self.send(&bytes).await;
    }

    /// Version and security as MeshCommander does them over KVMR (None);
    /// then ClientInit; returns the ServerInit's size and name.
    async fn init_none(&mut self) -> (u16, u16, String) {
        assert_eq!(self.take(12).await, b"RFB 004.000\n");
        self.send(b"RFB 003.008\n").await;
        assert_eq!(self.take(2).await, [1, 1], "security type None only");
        self.send(&[1]).await;
        assert_eq!(self.take(4).await, [0, 0, 0, 0]);
        self.server_init().await
    }

    async fn server_init(&mut self) -> (u16, u16, String) {
        self.send(&[1]).await;
        let head = self.take(24).await;
        let w = u16::from_be_bytes([head[0], head[1]]);
        let h = u16::from_be_bytes([head[2], head[3]]);
        let pf: [u8; 16] = head[4..20].try_into().unwrap();
        assert_eq!(PixelFormat::from_bytes(&pf), PixelFormat::RGB565);
        let n = u32::from_be_bytes(head[20..24].try_into().unwrap()) as usize;
        let name = String::from_utf8(self.take(n).await).unwrap();
        self.width = usize::from(w);
        self.pixels = vec![u32::MAX; usize::from(w) * usize::from(h)];
        (w, h, name)
    }

    async fn request(&mut self, incremental: bool) {
        self.send_msg(Rfb::FramebufferUpdateRequest {
            incremental,
            rect: Rect::new(0, 0, 720, 400),
        })
        .await;
    }

    /// Reads messages until a FramebufferUpdate; returns its rectangles.
    async fn update(&mut self) -> Vec<Rect> {
        loop {
            match self.take(1).await[0] {
                0 => break,
                2 => self.bells += 1,
                other => panic!("unexpected server message {other}"),
            }
        }
        let head = self.take(3).await;
        let count = u16::from_be_bytes([head[1], head[2]]);
        let mut rects = Vec::new();
        for _ in 0..count {
            let h = self.take(12).await;
            let v = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
            let r = Rect::new(v(0), v(2), v(4), v(6));
            let enc = i32::from_be_bytes(h[8..12].try_into().unwrap());
            assert_eq!(enc, 0, "Raw");
            assert!(r.w <= 64 && r.h <= 64, "tiles of at most 64x64");
            let data = self.take(usize::from(r.w) * usize::from(r.h) * 2).await;
            for (i, px) in data.chunks(2).enumerate() {
                let (x, y) = (
                    usize::from(r.x) + i % usize::from(r.w),
                    usize::from(r.y) + i / usize::from(r.w),
                );
                self.pixels[y * self.width + x] = PixelFormat::RGB565.get(px).unwrap();
            }
            rects.push(r);
        }
        rects
    }

    /// Whether the client's picture is `screen`'s.
    fn shows(&self, screen: &Screen) -> bool {
        let fb = screen.framebuffer();
        (0..fb.height()).all(|y| {
            (0..fb.width()).all(|x| {
                self.pixels[usize::from(y) * self.width + usize::from(x)]
                    == PixelFormat::RGB565.pack(fb.pixel(x, y))
            })
        })
    }
}

fn screen_of(console: &[u8]) -> Screen {
    let mut s = Screen::new();
    s.feed(console);
    s
}

type Task = JoinHandle<Result<&'static str, WireError>>;

/// A KVMR channel after the login, on a pipe of `capacity` bytes.
fn kvmr(host: Arc<FakeHost>, capacity: usize) -> (Client, Task) {
    let (ours, theirs) = tokio::io::duplex(capacity);
    let task = tokio::spawn(async move {
        let (r, w) = tokio::io::split(theirs);
        run_kvmr(r, w, Inbox::default(), &*host).await
    });
    (Client::new(ours), task)
}

async fn started(host: Arc<FakeHost>, capacity: usize) -> (Client, Task) {
    let (mut c, task) = kvmr(host, capacity);
    c.send(&[0x40, 0, 0, 0, 0, 0, 0, 0]).await;
    assert_eq!(c.take(8).await, KVM_START_REPLY);
    let (w, h, name) = c.init_none().await;
    assert_eq!((w, h, name.as_str()), (720, 400, "Intel(r) AMT KVM"));
    c.send_msg(Rfb::SetEncodings(vec![Encoding::RAW])).await;
    (c, task)
}

/// A counter of the metrics text, by name.
fn metric(name: &str) -> f64 {
    crate::metrics::METRICS
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn kvmr_shows_the_console_and_types_on_it() {
    let host = Arc::new(FakeHost::new());
    host.print(b"\x1b[2J\x1b[Hamt-0001 login: ");
    let (mut c, _task) = started(host.clone(), 1 << 20).await;
    let bytes = metric("amtemu_kvm_update_bytes_total");
    // MeshCommander's first request is incremental; it gets everything.
    c.request(true).await;
    assert_eq!(c.update().await.len(), 12 * 7);
    // Counted (other tests may add to it meanwhile, never take away).
    assert!(metric("amtemu_kvm_update_bytes_total") >= bytes + 720.0 * 400.0 * 2.0);
    assert!(metric("amtemu_kvm_sessions") >= 1.0);
    assert!(c.shows(&screen_of(b"\x1b[2J\x1b[Hamt-0001 login: ")));
    // A key goes to the console; the echo comes back as a small update.
    c.send_msg(Rfb::KeyEvent {
        down: true,
        keysym: u32::from(b'r'),
    })
    .await;
    c.send_msg(Rfb::KeyEvent {
        down: false,
        keysym: u32::from(b'r'),
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*host.typed.lock().unwrap(), b"r");
    host.print(b"r");
    c.request(true).await;
    let rects = c.update().await;
    assert!(rects.len() <= 2, "only the changed tiles: {rects:?}");
    assert!(c.shows(&screen_of(b"\x1b[2J\x1b[Hamt-0001 login: r")));
}

#[tokio::test]
async fn power_off_shows_no_signal_and_consent_draws_the_code() {
    let host = Arc::new(FakeHost::new());
    host.print(b"hello");
    let (mut c, _task) = started(host.clone(), 1 << 20).await;
    c.request(false).await;
    c.update().await;
    host.power(false);
    c.request(true).await;
    c.update().await;
    let mut off = Screen::new();
    off.set_powered(false);
    assert!(c.shows(&off));
    host.power(true);
    host.show_consent(Some(123456));
    c.request(true).await;
    c.update().await;
    let mut consent = Screen::new();
    consent.set_consent_code(Some(123456));
    assert!(c.shows(&consent));
}

#[tokio::test]
async fn something_other_than_the_kvm_start_ends_the_channel() {
    let host = Arc::new(FakeHost::new());
    let (mut c, task) = kvmr(host, 4096);
    c.send(&[0x28, 0, 0, 0, 0, 0, 0, 0]).await;
    assert_eq!(
        task.await.unwrap().unwrap(),
        "expected the KVM start (0x40)"
    );
}

#[tokio::test]
async fn malformed_rfb_ends_the_session_without_touching_the_host() {
    let host = Arc::new(FakeHost::new());
    let (mut c, task) = started(host.clone(), 1 << 20).await;
    c.send(&[0xEE, 1, 2, 3]).await;
    assert_eq!(task.await.unwrap().unwrap(), "malformed RFB message");
    assert!(host.typed.lock().unwrap().is_empty());
    // A second session starts fine afterwards.
    let (mut c, _task) = started(host, 1 << 20).await;
    c.request(false).await;
    assert_eq!(c.update().await.len(), 84);
}

#[tokio::test]
async fn absurd_rectangles_and_encoding_floods_are_harmless() {
    let host = Arc::new(FakeHost::new());
    host.print(b"x");
    let (mut c, _task) = started(host, 1 << 20).await;
    let mut flood = Vec::new();
    for i in 0..2000 {
        let many: Vec<Encoding> = (0..256).map(|e| Encoding(e * 7 - i)).collect();
        Rfb::SetEncodings(many).encode(&mut flood);
    }
    Rfb::SetEncodings(vec![Encoding::RAW]).encode(&mut flood);
    c.send(&flood).await;
    // Far outside the screen: an empty update, not a panic or a
    // rectangle past the edge.
    c.send_msg(Rfb::FramebufferUpdateRequest {
        incremental: false,
        rect: Rect::new(65000, 65000, 65535, 65535),
    })
    .await;
    assert_eq!(c.update().await, []);
    // Half on screen: clipped to it, in the tiles it touches.
    c.send_msg(Rfb::FramebufferUpdateRequest {
        incremental: false,
        rect: Rect::new(700, 390, 65535, 65535),
    })
    .await;
    assert_eq!(
        c.update().await,
        [Rect::new(700, 390, 4, 10), Rect::new(704, 390, 16, 10)]
    );
}

#[tokio::test]
async fn a_32_bpp_client_is_dropped_as_firmware_does() {
    let host = Arc::new(FakeHost::new());
    let (mut c, task) = started(host, 1 << 20).await;
    c.send_msg(Rfb::SetPixelFormat(PixelFormat::RGB888)).await;
    assert_eq!(task.await.unwrap().unwrap(), "pixel format not served");
}

/// A client that stops reading gets no queue of updates: what changes
/// meanwhile arrives as one update once it reads again; one that keeps
/// asking for replies it never reads is dropped.
#[tokio::test]
async fn a_client_that_stops_reading_gets_updates_coalesced_then_dropped() {
    let host = Arc::new(FakeHost::new());
    let (mut c, task) = started(host.clone(), 4096).await;
    for i in 0..300 {
        c.request(true).await;
        host.print(format!("line {i}\r\n").as_bytes());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(!task.is_finished());
    // Reading again: whatever was in flight, then the latest screen.
    let mut all = Vec::new();
    for i in 0..300 {
        all.extend_from_slice(format!("line {i}\r\n").as_bytes());
    }
    let mut updates = 0;
    loop {
        c.request(true).await;
        c.update().await;
        updates += 1;
        if c.shows(&screen_of(&all)) {
            break;
        }
        assert!(updates < 5, "the latest screen comes at once");
    }
    // Colour-map replies asked for and never read: dropped.
    let mapped = PixelFormat {
        true_colour: false,
        ..PixelFormat::RGB332
    };
    let mut flood = Vec::new();
    for _ in 0..5000 {
        Rfb::SetPixelFormat(mapped).encode(&mut flood);
    }
    let writer = tokio::spawn(async move {
        let _ = c.stream.write_all(&flood).await;
        c
    });
    let ended = task.await.unwrap();
    assert!(matches!(ended, Err(WireError::Stalled(_))), "{ended:?}");
    drop(writer);
}

fn endpoint(firmware: &str) -> Arc<Endpoint> {
    use amtemu_model::device::{DeviceConfig, Firmware};
    let config = DeviceConfig::new("kvm", Firmware::by_name(firmware).unwrap());
    Endpoint::new(Device::new(config), None)
}

fn vnc(e: &Arc<Endpoint>) -> Client {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let peer = "127.0.0.1:5900".parse().unwrap();
    tokio::spawn(serve_vnc(theirs, e.clone(), peer));
    Client::new(ours)
}

/// VNC authentication up to its result.
async fn vnc_login(c: &mut Client, password: &[u8]) -> Vec<u8> {
    assert_eq!(c.take(12).await, b"RFB 004.000\n");
    c.send(b"RFB 003.008\n").await;
    assert_eq!(c.take(2).await, [1, 2], "VNC authentication only");
    c.send(&[2]).await;
    let challenge: [u8; 16] = c.take(16).await.try_into().unwrap();
    c.send(&amtemu_rfb::vnc_auth_response(password, &challenge))
        .await;
    c.take(4).await
}

#[tokio::test]
async fn port_5900_needs_the_switch_and_the_rfb_password() {
    use amtemu_model::device::KvmSettingsChange;
    let e = endpoint("11.8");
    e.device.set_opt_in_policy(Some(0), None).unwrap();
    assert!(vnc(&e).closed().await, "switched off: closed at once");
    e.device
        .update_kvm_settings(KvmSettingsChange {
            port_5900_enabled: Some(true),
            rfb_password: Some("P@ssw0rd".into()),
            ..KvmSettingsChange::default()
        })
        .unwrap();
    let mut wrong = vnc(&e);
    assert_eq!(vnc_login(&mut wrong, b"P@ssw0rX").await, [0, 0, 0, 1]);
    assert!(wrong.closed().await);
    let mut right = vnc(&e);
    assert_eq!(vnc_login(&mut right, b"P@ssw0rd").await, [0, 0, 0, 0]);
    let (w, h, _) = right.server_init().await;
    assert_eq!((w, h), (720, 400));
    assert!(e.redirect.busy(SessionKind::Kvm));
    let mut second = vnc(&e);
    assert_eq!(vnc_login(&mut second, b"P@ssw0rd").await, [0, 0, 0, 0]);
    second.send(&[1]).await;
    assert!(second.closed().await, "one KVM session per device");
    // One that never authenticates holds nothing.
    let mut idle = vnc(&e);
    assert_eq!(idle.take(12).await, b"RFB 004.000\n");
    assert!(e.redirect.busy(SessionKind::Kvm));
    drop(right);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!e.redirect.busy(SessionKind::Kvm), "the slot is freed");
    // Consent asked for and not given: closed.
    e.device.set_opt_in_policy(Some(1), None).unwrap();
    assert!(vnc(&e).closed().await);
}

/// A device whose port 5900 is on with password "P@ssw0rd", no consent
/// asked, and `SessionTimeout` of `minutes`.
fn vnc_device(minutes: u32) -> Arc<Endpoint> {
    use amtemu_model::device::KvmSettingsChange;
    let e = endpoint("11.8");
    e.device.set_opt_in_policy(Some(0), None).unwrap();
    e.device
        .update_kvm_settings(KvmSettingsChange {
            port_5900_enabled: Some(true),
            rfb_password: Some("P@ssw0rd".into()),
            session_timeout: Some(minutes),
            ..KvmSettingsChange::default()
        })
        .unwrap();
    e
}

#[tokio::test(start_paused = true)]
async fn session_timeout_ends_a_session_without_input_and_input_defers_it() {
    use amtemu_model::device::{DeviceEvent, RedirectionKind};
    let e = vnc_device(1);
    // Collected as they come: the host's own events could overrun a
    // receiver read only at the end.
    let mut events = e.device.subscribe();
    let collector = tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        let mut sessions = Vec::new();
        loop {
            match events.recv().await {
                Ok(DeviceEvent::RedirectionSession { kind, open }) => {
                    sessions.push((kind, open));
                    if !open {
                        return sessions;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return sessions,
            }
        }
    });
    let mut c = vnc(&e);
    assert_eq!(vnc_login(&mut c, b"P@ssw0rd").await, [0, 0, 0, 0]);
    c.server_init().await;
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(e.device.kvm_session_open());
    c.send_msg(Rfb::KeyEvent {
        down: true,
        keysym: u32::from(b'x'),
    })
    .await;
    let typed = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(
        e.device.kvm_session_open(),
        "a key 50 s ago: the minute starts again"
    );
    // Virtual time: without the session timeout this fails, not hangs.
    let closed = tokio::time::timeout(Duration::from_secs(3600), c.closed()).await;
    assert_eq!(closed, Ok(true), "ended by the session timeout");
    let idle = typed.elapsed();
    assert!(
        idle >= Duration::from_secs(60) && idle < Duration::from_secs(61),
        "ended a minute after the key: {idle:?}"
    );
    assert_eq!(
        collector.await.unwrap(),
        [(RedirectionKind::Kvm, true), (RedirectionKind::Kvm, false)]
    );
    assert!(!e.device.kvm_session_open());
    assert!(!e.redirect.busy(SessionKind::Kvm), "the slot is freed");
}

#[tokio::test(start_paused = true)]
async fn no_session_timeout_keeps_an_idle_session() {
    let e = vnc_device(0);
    let mut c = vnc(&e);
    assert_eq!(vnc_login(&mut c, b"P@ssw0rd").await, [0, 0, 0, 0]);
    c.server_init().await;
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert!(e.device.kvm_session_open());
    c.request(false).await;
    assert_eq!(c.update().await.len(), 12 * 7, "still served");
}

#[tokio::test(start_paused = true)]
async fn a_host_booted_to_bios_setup_shows_the_setup_screen() {
    use amtemu_model::device::PowerRequest;
    use amtemu_rfb::pixel::VGA_PALETTE;
    let e = endpoint("11.8");
    e.device.with_state(|s| s.nvram.boot.bios_setup = true);
    e.device.request_power(PowerRequest::PowerCycle).unwrap();
    let mut view = view::TextView::new(&*e.device);
    let mut shown = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        view.refresh();
        if (0..25).any(|row| view.row_text(row).contains("AMTEMU Setup Utility")) {
            shown = true;
            break;
        }
    }
    assert!(shown, "the setup utility's title on the KVM screen");
    // Drawn in setup's colours: white on blue, as VGA text shows them.
    let fb = view.framebuffer();
    assert_eq!(fb.pixel(700, 390), VGA_PALETTE[1], "blue background");
    assert!((0..16).any(|y| (0..720).any(|x| fb.pixel(x, y) == VGA_PALETTE[15])));
}
