//! Sending hellos for a whole fleet: one scheduler task keeps a heap of
//! which device is due when, and spawns a short task per hello (bounded by
//! a semaphore). An idle device costs a heap entry, not a task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::locate::Locator;
use super::schedule::{self, PKI_WINDOW, PSK_WINDOW, Schedule};
use crate::metrics::METRICS;
use amtemu_model::device::{Device, Feature, ProvisioningState};
use amtemu_wire::hello::{Hello, HelloBody};

/// How the fleet's hellos are sent.
#[derive(Clone, Debug)]
pub struct HelloConfig {
    /// The only DNS server asked for `ProvisionServer.<domain>`.
    pub dns: Option<SocketAddr>,
    /// Multiplies every interval of the schedule (1 = firmware timing).
    pub scale: f64,
    /// Hello connections open at once, fleet-wide.
    pub concurrency: usize,
    /// How long one hello may take (connect and write).
    pub timeout: Duration,
}

impl Default for HelloConfig {
    fn default() -> Self {
        HelloConfig {
            dns: None,
            scale: 1.0,
            concurrency: 256,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A device, the address its hellos leave from, and whether its network
/// cable is in (the fleet's `offline` fault; always, without one).
#[derive(Clone)]
pub struct HelloTarget {
    pub device: Arc<Device>,
    pub address: IpAddr,
    pub cable: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl HelloTarget {
    pub fn new(device: Arc<Device>, address: IpAddr) -> HelloTarget {
        HelloTarget {
            device,
            address,
            cable: None,
        }
    }

    fn connected(&self) -> bool {
        self.cable.as_ref().is_none_or(|cable| cable())
    }
}

impl std::fmt::Debug for HelloTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelloTarget")
            .field("device", &self.device.name)
            .field("address", &self.address)
            .finish()
    }
}

/// The running scheduler. Devices wake it themselves when they enter setup
/// mode ([`Device::enter_setup_mode`]); more devices join it as a fleet
/// builds them ([`Hellos::add`]). It runs while this handle (any clone of
/// it) lives.
#[derive(Clone, Debug)]
pub struct Hellos {
    targets: Arc<AtomicUsize>,
    joining: mpsc::UnboundedSender<HelloTarget>,
}

impl Hellos {
    /// Starts the scheduler for `targets`; devices already in setup mode
    /// begin their window now.
    pub fn start(targets: Vec<HelloTarget>, config: HelloConfig) -> Result<Hellos, String> {
        let locator = Locator::new(config.dns)?;
        if !locator.has_resolver() {
            tracing::debug!(
                "no DNS resolver configured (--dns): devices without a provisioning server address will find none"
            );
        }
        let (wake, woken) = mpsc::unbounded_channel();
        let (joining, joined) = mpsc::unbounded_channel();
        let scheduler = Scheduler {
            tracks: Vec::new(),
            targets: Vec::new(),
            wake,
            heap: BinaryHeap::new(),
            locator,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
        };
        tokio::spawn(scheduler.run(joined, woken));
        let hellos = Hellos {
            targets: Arc::default(),
            joining,
        };
        for target in targets {
            hellos.add(target);
        }
        Ok(hellos)
    }

    /// One more device; if it is in setup mode, its window opens now.
    pub fn add(&self, target: HelloTarget) {
        if self.joining.send(target).is_ok() {
            self.targets.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many devices the scheduler looks after.
    pub fn targets(&self) -> usize {
        self.targets.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Copy, Debug)]
struct Track {
    opened: Instant,
    attempt: u32,
    schedule: Schedule,
    /// Tells a stale heap entry from the current window's.
    generation: u64,
}

struct Scheduler {
    targets: Vec<HelloTarget>,
    /// What each device is given to wake the scheduler with.
    wake: mpsc::UnboundedSender<usize>,
    tracks: Vec<Option<Track>>,
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    locator: Locator,
    permits: Arc<Semaphore>,
    config: HelloConfig,
}

impl Scheduler {
    async fn run(
        mut self,
        mut joined: mpsc::UnboundedReceiver<HelloTarget>,
        mut woken: mpsc::UnboundedReceiver<usize>,
    ) {
        let mut generation = 0u64;
        loop {
            // Everything already due goes out now: a sleep per entry would
            // cost a timer tick (a millisecond) per hello in a storm. Devices
            // that entered setup mode meanwhile open their windows between
            // hellos, so a storm that keeps the heap due cannot starve them.
            let now = Instant::now();
            while let Some(&Reverse((at, index, g))) = self.heap.peek()
                && at <= now
            {
                self.heap.pop();
                self.due(index, g).await;
                while let Ok(target) = joined.try_recv() {
                    self.join(target);
                }
                while let Ok(index) = woken.try_recv() {
                    self.wake(index, &mut generation);
                }
            }
            let next = self.heap.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                // Joins first: a device's wake-up never precedes its join.
                biased;
                target = joined.recv() => {
                    let Some(target) = target else { return };
                    self.join(target);
                }
                index = woken.recv() => {
                    // The scheduler holds a sender itself: never None.
                    if let Some(index) = index {
                        self.wake(index, &mut generation);
                    }
                }
                _ = sleep_until(next) => {
                    if let Some(Reverse((_, index, g))) = self.heap.pop() {
                        self.due(index, g).await;
                    }
                }
            }
        }
    }

    /// A device joins: it wakes the scheduler when it enters setup mode,
    /// and opens its window now if it is in setup mode already.
    fn join(&mut self, target: HelloTarget) {
        let index = self.targets.len();
        let ready = target.device.with_state(|s| {
            s.nvram.setup.state == ProvisioningState::In && !s.nvram.provisioning.hello.given_up
        });
        target.device.watch_setup_mode(self.wake.clone(), index);
        self.targets.push(target);
        self.tracks.push(None);
        if ready {
            self.open(index);
        }
    }

    /// Device `index` entered setup mode: a new window, under a new
    /// generation so entries of an earlier window are ignored.
    fn wake(&mut self, index: usize, generation: &mut u64) {
        if index < self.targets.len() {
            *generation += 1;
            self.open_with(index, *generation);
        }
    }

    fn open(&mut self, index: usize) {
        self.open_with(index, 0);
    }

    /// Opens (or reopens) device `index`'s hello window now.
    fn open_with(&mut self, index: usize, generation: u64) {
        let device = &self.targets[index].device;
        let window = if device.firmware.has(Feature::PskSetup)
            && device.with_state(|s| s.nvram.provisioning.psk_pid().is_some())
        {
            PSK_WINDOW
        } else if device.firmware.has(Feature::RemoteConfiguration) {
            PKI_WINDOW
        } else {
            tracing::info!(device = %device.name, firmware = device.firmware.name, "firmware has no remote setup: no hellos");
            return;
        };
        let now = Instant::now();
        let schedule = Schedule::new(window, self.config.scale);
        self.tracks[index] = Some(Track {
            opened: now,
            attempt: 0,
            schedule,
            generation,
        });
        let clock = u64::from(device.clock());
        device.with_state(|s| {
            let hello = &mut s.nvram.provisioning.hello;
            hello.window_start = Some(clock);
            hello.retries_sent = 0;
            hello.delivered = 0;
            hello.given_up = false;
        });
        tracing::info!(device = %device.name, hours = window.as_secs() / 3600, "hello window opened");
        self.push(index, now + schedule.due(0).unwrap_or_default(), generation);
    }

    fn push(&mut self, index: usize, at: Instant, generation: u64) {
        self.heap.push(Reverse((at, index, generation)));
    }

    /// A heap entry came due: send the next hello, or close the window.
    async fn due(&mut self, index: usize, generation: u64) {
        let Some(mut track) = self.tracks[index].filter(|t| t.generation == generation) else {
            return;
        };
        let target = self.targets[index].clone();
        let device = &target.device;
        let (state, settings) =
            device.with_state(|s| (s.nvram.setup.state, s.nvram.provisioning.clone()));
        if state != ProvisioningState::In {
            tracing::info!(device = %device.name, ?state, "hellos stop: the device left setup mode");
            self.tracks[index] = None;
            return;
        }
        if !device.me_reachable() || !target.connected() {
            // Firmware measures the intervals only while the ME is powered
            // and the cable is in:
            // the window stands still, and the device looks again a
            // (scaled) minute later; the hello that was due goes out then.
            let pause = track.schedule.scaled(schedule::MINUTE);
            track.opened += pause;
            self.tracks[index] = Some(track);
            self.push(index, Instant::now() + pause, generation);
            return;
        }
        if track.schedule.due(track.attempt).is_none() {
            self.tracks[index] = None;
            device.with_state(|s| s.nvram.provisioning.hello.given_up = true);
            METRICS.hello("given_up");
            tracing::warn!(device = %device.name, hellos = track.attempt, "hello window expired without configuration: hello.given_up");
            device.changed("hello.given_up");
            return;
        }
        let body = match settings.psk_pid() {
            Some(pid) if device.firmware.has(Feature::PskSetup) => HelloBody::Psk { pid },
            _ => amtemu_model::device::provisioning::pki_hello(&settings.trusted_hashes),
        };
        let hello = Hello {
            // MeshCentral's captured hellos carry 1; the MEBx password is
            // always set before setup mode can be entered.
            admin_credentials_set: true,
            retry_count: schedule::retry_count(track.attempt),
            uuid: device.identity.uuid,
            body,
        };
        track.attempt += 1;
        self.tracks[index] = Some(track);
        let next = track
            .schedule
            .due(track.attempt)
            .unwrap_or_else(|| track.schedule.closes());
        self.push(index, track.opened + next, generation);
        // Waiting here when the fleet is at its connection limit delays the
        // heap, which is the back-pressure we want.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        device.with_state(|s| s.nvram.provisioning.hello.retries_sent = track.attempt);
        let locator = self.locator.clone();
        let timeout = self.config.timeout;
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(
                timeout,
                deliver(&locator, &settings, target.address, &hello.to_bytes()),
            )
            .await
            .unwrap_or(Err(DeliveryError::Timeout));
            drop(permit);
            let device = &target.device;
            match outcome {
                Ok(server) => {
                    METRICS.hello("delivered");
                    tracing::debug!(device = %device.name, %server, retry = hello.retry_count, "hello sent");
                    device.with_state(|s| {
                        let status = &mut s.nvram.provisioning.hello;
                        status.delivered += 1;
                        status.last_server = Some(server);
                        status.last_error = None;
                    });
                }
                Err(e) => {
                    METRICS.hello("failed");
                    tracing::info!(device = %device.name, error = %e, "hello not delivered");
                    device.with_state(|s| {
                        s.nvram.provisioning.hello.last_error = Some(e.to_string())
                    });
                }
            }
        });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Locate(#[from] super::locate::LocateError),
    #[error("connecting from {from} to {server}: {source}")]
    Connect {
        from: IpAddr,
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("sending to {server}: {source}")]
    Write {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("the hello took too long")]
    Timeout,
}

/// One hello: find the server, connect from the device's own address,
/// write, close.
async fn deliver(
    locator: &Locator,
    settings: &amtemu_model::device::ProvisioningSettings,
    from: IpAddr,
    bytes: &[u8],
) -> Result<SocketAddr, DeliveryError> {
    let server = locator.locate(settings).await?;
    let connect = async {
        let socket = match from {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(from, 0))?;
        socket.connect(server).await
    };
    let mut stream = connect.await.map_err(|source| DeliveryError::Connect {
        from,
        server,
        source,
    })?;
    let write = async {
        stream.write_all(bytes).await?;
        stream.shutdown().await
    };
    write
        .await
        .map_err(|source| DeliveryError::Write { server, source })?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::{DeviceConfig, Firmware, SetupState};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A device of `firmware` in setup mode whose hellos go to `server`.
    fn config_in_setup(name: &str, firmware: &str, server: SocketAddr) -> DeviceConfig {
        let mut config = DeviceConfig::new(name, Firmware::by_name(firmware).unwrap());
        config.setup = SetupState {
            state: ProvisioningState::In,
            ..config.setup
        };
        config.provisioning.server = Some(server);
        config
    }

    fn device_in_setup(name: &str, server: SocketAddr) -> Arc<Device> {
        Device::new(config_in_setup(name, "11.8", server))
    }

    /// Starts `device`'s hellos from 127.0.0.1 on the default schedule.
    fn start_hellos(device: &Arc<Device>) -> Hellos {
        Hellos::start(
            vec![HelloTarget::new(
                device.clone(),
                "127.0.0.1".parse().unwrap(),
            )],
            HelloConfig::default(),
        )
        .unwrap()
    }

    /// Accepts hellos and returns them as the scheduler sent them.
    async fn collector() -> (SocketAddr, mpsc::UnboundedReceiver<Hello>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                stream.read_to_end(&mut buf).await.unwrap();
                let _ = tx.send(Hello::parse(&buf).unwrap());
            }
        });
        (addr, rx)
    }

    #[tokio::test(start_paused = true)]
    async fn hellos_follow_the_schedule_and_the_window_gives_up() {
        let (server, mut hellos) = collector().await;
        let device = device_in_setup("sched", server);
        let config = HelloConfig {
            scale: 0.001,
            ..HelloConfig::default()
        };
        let localhost = "127.0.0.1".parse().unwrap();
        let started = Instant::now();
        let _h = Hellos::start(vec![HelloTarget::new(device.clone(), localhost)], config).unwrap();
        let mut seen = Vec::new();
        for _ in 0..39 {
            let hello = hellos.recv().await.unwrap();
            seen.push((hello.retry_count, started.elapsed()));
        }
        assert_eq!(seen[0].0, 0);
        assert_eq!(seen[1].0, 1);
        assert_eq!(seen[20].0, 14, "the counter saturates");
        // 60 ms of scaled time is a minute.
        assert!(seen[1].1 >= Duration::from_millis(60));
        assert!(seen[38].1 >= Duration::from_millis(23 * 3600));
        // The window (24 h scaled: 86.4 s) closes 3.6 s after the last hello.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(hellos.try_recv().is_err(), "no hello after the window");
        let status = device.with_state(|s| s.nvram.provisioning.hello.clone());
        assert!(status.given_up);
        assert_eq!(status.retries_sent, 39);
        assert_eq!(status.delivered, 39);
        assert_eq!(status.last_server, Some(server));
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_setup_mode_stops_the_hellos() {
        let (server, mut hellos) = collector().await;
        let device = device_in_setup("stop", server);
        let _h = start_hellos(&device);
        assert_eq!(hellos.recv().await.unwrap().retry_count, 0);
        device.with_state(|s| s.nvram.setup.state = ProvisioningState::Post);
        tokio::time::sleep(Duration::from_secs(48 * 3600)).await;
        assert!(hellos.try_recv().is_err());
        assert!(!device.with_state(|s| s.nvram.provisioning.hello.given_up));
    }

    #[tokio::test(start_paused = true)]
    async fn hellos_wait_while_the_me_is_off() {
        let (server, mut hellos) = collector().await;
        let mut config = config_in_setup("me-off", "11.8", server);
        config.power = amtemu_model::device::HostPower::S5;
        config.power_policy = amtemu_model::device::MePowerPolicy::S0Only;
        let device = Device::new(config);
        let _h = start_hellos(&device);
        // Two days with the ME off: no hello, and the window does not run out.
        tokio::time::sleep(Duration::from_secs(48 * 3600)).await;
        assert!(hellos.try_recv().is_err());
        assert!(!device.with_state(|s| s.nvram.provisioning.hello.given_up));
        device.force_power(amtemu_model::device::HostPower::S0);
        assert_eq!(hellos.recv().await.unwrap().retry_count, 0);
        assert_eq!(hellos.recv().await.unwrap().retry_count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unplugged_device_sends_nothing_until_plugged_back() {
        let (server, mut hellos) = collector().await;
        let device = device_in_setup("unplugged", server);
        let plugged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cable = plugged.clone();
        let _h = Hellos::start(
            vec![HelloTarget {
                cable: Some(Arc::new(move || {
                    cable.load(std::sync::atomic::Ordering::Relaxed)
                })),
                ..HelloTarget::new(device.clone(), "127.0.0.1".parse().unwrap())
            }],
            HelloConfig::default(),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(hellos.try_recv().is_err());
        plugged.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(hellos.recv().await.unwrap().retry_count, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_psk_device_sends_its_pid_for_six_hours() {
        let (server, mut hellos) = collector().await;
        let mut config = config_in_setup("psk", "8.1", server);
        config.provisioning.pid = Some("ABCD-1234".into());
        let device = Device::new(config);
        let _h = start_hellos(&device);
        let first = hellos.recv().await.unwrap();
        assert_eq!(first.body, HelloBody::Psk { pid: *b"ABCD1234" });
        assert_eq!(first.uuid, device.identity.uuid);
        tokio::time::sleep(Duration::from_secs(7 * 3600)).await;
        let mut count = 1;
        while hellos.try_recv().is_ok() {
            count += 1;
        }
        assert_eq!(count, 21);
        assert!(device.with_state(|s| s.nvram.provisioning.hello.given_up));
    }

    #[tokio::test(start_paused = true)]
    async fn a_device_woken_later_starts_its_window_then() {
        let (server, mut hellos) = collector().await;
        let mut config = DeviceConfig::new("late", Firmware::by_name("11.8").unwrap());
        config.setup.state = ProvisioningState::Pre;
        config.provisioning.server = Some(server);
        let device = Device::new(config);
        let h = start_hellos(&device);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(hellos.try_recv().is_err(), "nothing while pre-provisioning");
        assert!(h.targets() == 1 && device.enter_setup_mode());
        let hello = hellos.recv().await.unwrap();
        assert_eq!(hello.retry_count, 0);
        assert!(matches!(hello.body, HelloBody::Pki { ref hashes } if hashes.len() >= 10));
    }
}
