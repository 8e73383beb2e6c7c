//! One running emulator: a fleet of devices and every service that serves
//! it (the device ports, the control API, hellos, persistence), with one
//! start-up and one stop. The command line fills an [`EmulatorBuilder`]
//! from flags; tests fill one in code and run an emulator in-process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use amtemu_model::device::Port;

use crate::fleet::tasks::TaskOwner;
use crate::fleet::{DeviceSource, DeviceSpec, Fleet, FleetError};
use crate::provision::HelloConfig;
use crate::store::{Store, StoreError};
use crate::tls::TlsContext;
use crate::tls::ca::{Ca, CaError};

/// Why an emulator did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    #[error("the CA in {dir}: {source}")]
    Ca { dir: PathBuf, source: CaError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(
        "the control API listens on loopback only, not {0}, unless it has a token (--control-token)"
    )]
    ControlNotLoopback(SocketAddr),
    #[error("the control API on {addr}: {source}")]
    ControlBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--shared-listener needs Linux (SO_BINDTODEVICE)")]
    SharedListenerUnsupported,
    #[error("{0}")]
    Hellos(String),
    #[error("no device named {0:?} for a QEMU host")]
    NoSuchDevice(String),
}

/// Where the emulator's CA comes from.
#[derive(Debug)]
enum CaSource {
    Dir(PathBuf),
    Ready(Ca),
}

/// What an emulator is made of; [`EmulatorBuilder::start`] brings it up.
#[derive(Debug)]
pub struct EmulatorBuilder {
    devices: Result<DeviceSource, FleetError>,
    ca: CaSource,
    key_pool: usize,
    state_dir: Option<PathBuf>,
    control: Option<SocketAddr>,
    /// Where `GET /metrics` alone is served (any address).
    metrics: Option<SocketAddr>,
    control_token: Option<String>,
    hellos: HelloConfig,
    shared_listener: bool,
    plain_redirection_auth: bool,
    max_connections: usize,
    /// Devices (by name) whose host is a QEMU virtual machine.
    qemu_hosts: Vec<(String, Arc<crate::qemu::QemuConfig>)>,
}

impl EmulatorBuilder {
    /// An emulator of these devices with the defaults: the CA in its
    /// default directory, no state directory, no control API, one
    /// listener per device port, plain redirection logins offered.
    pub fn new(specs: Vec<DeviceSpec>) -> EmulatorBuilder {
        EmulatorBuilder::from_source(DeviceSource::listed(specs))
    }

    /// An emulator of the source's devices (a laid-out fleet keeps no
    /// list of them), with the defaults of [`EmulatorBuilder::new`].
    pub fn from_source(devices: Result<DeviceSource, FleetError>) -> EmulatorBuilder {
        EmulatorBuilder {
            devices,
            ca: CaSource::Dir(crate::tls::ca::default_dir()),
            key_pool: crate::tls::ca::DEFAULT_KEY_POOL,
            state_dir: None,
            control: None,
            metrics: None,
            control_token: None,
            hellos: HelloConfig::default(),
            shared_listener: false,
            plain_redirection_auth: true,
            max_connections: crate::endpoint::limits::DEFAULT_MAX_CONNECTIONS,
            qemu_hosts: Vec::new(),
        }
    }

    /// The device named `device` gets a QEMU virtual machine as its host
    /// instead of the simulated one.
    pub fn qemu_host(mut self, device: &str, config: crate::qemu::QemuConfig) -> Self {
        self.qemu_hosts.push((device.to_string(), Arc::new(config)));
        self
    }

    /// Keep (or make) the CA in this directory.
    pub fn ca_dir(mut self, dir: PathBuf) -> Self {
        self.ca = CaSource::Dir(dir);
        self
    }

    /// Use this CA (tests make one in memory).
    pub fn ca(mut self, ca: Ca) -> Self {
        self.ca = CaSource::Ready(ca);
        self
    }

    /// RSA keys the devices' own certificates share (0: one per device).
    pub fn tls_key_pool(mut self, keys: usize) -> Self {
        self.key_pool = keys;
        self
    }

    /// Keep each device's non-volatile state here across restarts.
    pub fn state_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.state_dir = dir;
        self
    }

    /// Serve the control API on this loopback address.
    pub fn control(mut self, addr: Option<SocketAddr>) -> Self {
        self.control = addr;
        self
    }

    /// Serve only the Prometheus metrics on this address (any address;
    /// for a scraper outside the machine).
    pub fn metrics(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics = addr;
        self
    }

    /// Require this bearer token on every control API request (needed for
    /// a control address off loopback).
    pub fn control_token(mut self, token: Option<String>) -> Self {
        self.control_token = token.filter(|t| !t.is_empty());
        self
    }

    /// How devices in setup mode send hellos.
    pub fn hellos(mut self, config: HelloConfig) -> Self {
        self.hellos = config;
        self
    }

    /// One wildcard listener per port number for the whole fleet.
    pub fn shared_listener(mut self, on: bool) -> Self {
        self.shared_listener = on;
        self
    }

    /// Offer plain user/password redirection logins (Debian's amtterm 1.4
    /// needs them).
    pub fn plain_redirection_auth(mut self, on: bool) -> Self {
        self.plain_redirection_auth = on;
        self
    }

    /// How many sockets each device serves at once over its network ports
    /// (firmware has a small fixed pool; see `endpoint::limits`).
    pub fn max_connections_per_device(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How many devices the emulator will have.
    pub fn device_count(&self) -> usize {
        self.devices.as_ref().map_or(0, |d| d.len())
    }

    /// Builds the devices that have work before anyone reaches them
    /// (restoring saved state; the rest are built on first reach), binds
    /// every port, and starts serving, on the current tokio runtime.
    /// `progress` hears how many devices are built, now and then.
    pub async fn start_with_progress(
        self,
        progress: impl FnMut(usize),
    ) -> Result<Emulator, EmulatorError> {
        if let Some(addr) = self.control
            && !addr.ip().is_loopback()
            && self.control_token.is_none()
        {
            return Err(EmulatorError::ControlNotLoopback(addr));
        }
        let ca = match self.ca {
            CaSource::Ready(ca) => ca,
            CaSource::Dir(dir) => {
                Ca::load_or_create(&dir).map_err(|source| EmulatorError::Ca { dir, source })?
            }
        }
        .with_key_pool(self.key_pool);
        let store = self.state_dir.as_deref().map(Store::open).transpose()?;
        let devices = self.devices?;
        let many = devices.len() > 1;
        let tls = Arc::new(TlsContext { ca });
        if many {
            // Low-priority work the first handshakes would otherwise wait for.
            let tls = tls.clone();
            std::thread::spawn(move || tls.ca.fill_key_pool());
        }
        let fleet = Arc::new(
            Fleet::from_source(devices, tls, store, progress)?
                .with_max_connections(self.max_connections),
        );
        let device_tasks = TaskOwner::default();
        let plain_auth = self.plain_redirection_auth;
        fleet.on_build(Box::new(move |_, _, endpoint| {
            endpoint.redirect.set_plain_auth(plain_auth);
        }));
        let mut tasks = JoinSet::new();
        for (name, config) in self.qemu_hosts {
            let endpoint = fleet
                .index_of(&name)
                .and_then(|i| fleet.get(i))
                .ok_or_else(|| EmulatorError::NoSuchDevice(name.clone()))?;
            tasks.spawn(crate::qemu::drive(endpoint, config));
        }
        let listeners = if self.shared_listener {
            bind_shared(&fleet).await?
        } else {
            fleet.bind().await?
        };
        let listening = listeners
            .iter()
            .filter_map(|(l, port)| Some((l.local_addr().ok()?, *port)))
            .collect();
        let control = match self.control {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| EmulatorError::ControlBind { addr, source })?;
                let bound = listener.local_addr().unwrap_or(addr);
                tasks.spawn(crate::control::serve(
                    fleet.clone(),
                    listener,
                    self.control_token.clone(),
                ));
                Some(bound)
            }
            None => None,
        };
        if let Some(addr) = self.metrics {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| EmulatorError::ControlBind { addr, source })?;
            tasks.spawn(crate::control::serve_metrics(fleet.len(), listener));
        }
        if !many {
            fleet.log_events(&device_tasks.handle());
        }
        fleet.persist(&device_tasks.handle());
        fleet.start_cira(&device_tasks.handle());
        fleet.start_eventing(&device_tasks.handle());
        fleet
            .start_hellos(self.hellos)
            .map_err(EmulatorError::Hellos)?;
        tasks.spawn(fleet.clone().serve(listeners));
        Ok(Emulator {
            fleet,
            listening,
            control,
            tasks,
            device_tasks,
        })
    }

    /// [`EmulatorBuilder::start_with_progress`] without progress reports.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        self.start_with_progress(|_| {}).await
    }
}

#[cfg(target_os = "linux")]
async fn bind_shared(fleet: &Fleet) -> Result<Vec<(TcpListener, Port)>, EmulatorError> {
    Ok(fleet.bind_shared().await?)
}

#[cfg(not(target_os = "linux"))]
async fn bind_shared(_: &Fleet) -> Result<Vec<(TcpListener, Port)>, EmulatorError> {
    Err(EmulatorError::SharedListenerUnsupported)
}

/// A running emulator. Dropping it stops serving without saving; call
/// [`Emulator::stop`] to save every device's state first.
#[derive(Debug)]
pub struct Emulator {
    fleet: Arc<Fleet>,
    listening: Vec<(SocketAddr, Port)>,
    control: Option<SocketAddr>,
    tasks: JoinSet<()>,
    /// Built devices' tasks (persistence, CIRA, event log).
    device_tasks: TaskOwner,
}

impl Emulator {
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Every bound device address with the kind of port it is.
    pub fn listening(&self) -> &[(SocketAddr, Port)] {
        &self.listening
    }

    /// Where the control API answers, when it was asked for.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control
    }

    /// Serves until every listener has stopped (in practice: until the
    /// caller stops waiting).
    pub async fn serve(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops serving and saves every device's state; the state directory
    /// is closed once the fleet is gone.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        self.tasks.shutdown().await;
        self.device_tasks.shutdown().await;
        self.fleet.save_all()
    }
}
