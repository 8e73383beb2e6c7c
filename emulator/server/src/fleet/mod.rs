//! The fleet: devices by the address they are reached at, and the listeners
//! that accept for all of them. A single device is a fleet of one.
//!
//! Every accepted connection is resolved to its device by the local address
//! it was sent to, then handed to the protocol layer for that port.

pub mod names;
pub mod shard;
pub mod source;
pub mod tasks;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::endpoint::Endpoint;
use crate::endpoint::limits::{DEFAULT_MAX_CONNECTIONS, Permit};
use crate::endpoint::pace::{Admitted, Refused};
use crate::http;
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsContext};
use amtemu_model::device::firmware::timing::Beyond;
use amtemu_model::device::{Device, DeviceConfig, Port, ProvisioningState, TlsIdentity};
pub use source::DeviceSource;
pub use tasks::DeviceTasks;

/// The port numbers devices answer on (the standard ones unless a user
/// moves them, e.g. to run without privileges or beside a real AMT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub http: u16,
    pub https: u16,
    pub redirection: u16,
    pub redirection_tls: u16,
    /// KVM as plain VNC (5900) on firmware 6 to 15; None turns it off.
    pub vnc: Option<u16>,
    /// The local interface (LMS stand-in) on devices with host-based setup;
    /// None turns it off.
    pub local: Option<u16>,
}

impl Ports {
    /// Each port number with the kind of port it is.
    pub fn each(&self) -> impl Iterator<Item = (u16, Port)> {
        [
            (Some(self.http), Port::Http),
            (Some(self.https), Port::Https),
            (Some(self.redirection), Port::Redirection),
            (Some(self.redirection_tls), Port::RedirectionTls),
            (self.vnc, Port::Vnc),
            (self.local, Port::Local),
        ]
        .into_iter()
        .filter_map(|(number, port)| Some((number?, port)))
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            http: Port::Http.standard_number(),
            https: Port::Https.standard_number(),
            redirection: Port::Redirection.standard_number(),
            redirection_tls: Port::RedirectionTls.standard_number(),
            vnc: Some(Port::Vnc.standard_number()),
            local: Some(Port::Local.standard_number()),
        }
    }
}

/// The address and ports of device `index` (0-based), as `amtemu fleet`
/// assigns them: consecutive addresses skipping .0 and .255, or with a
/// port step, the first address and raised ports. Addresses stay in the
/// first one's block (127.0.0.0/8 by default; see [`shard::address_block`]).
pub fn slot(
    first: std::net::Ipv4Addr,
    port_step: Option<u16>,
    base: Ports,
    index: usize,
) -> Result<(IpAddr, Ports), String> {
    use std::net::Ipv4Addr;
    if let Some(step) = port_step {
        let raise = |port: u16| -> Result<u16, String> {
            u64::from(port)
                .checked_add(index as u64 * u64::from(step))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("device {} would need a port above 65535", index + 1))
        };
        return Ok((
            IpAddr::V4(first),
            Ports {
                http: raise(base.http)?,
                https: raise(base.https)?,
                redirection: raise(base.redirection)?,
                redirection_tls: raise(base.redirection_tls)?,
                vnc: base.vnc.map(raise).transpose()?,
                local: base.local.map(raise).transpose()?,
            },
        ));
    }
    let first = u64::from(u32::from(first));
    let first_slot = (first >> 8) * 254 + (first & 0xFF).saturating_sub(1);
    let slot = first_slot + index as u64;
    let raw = ((slot / 254) << 8) | (slot % 254 + 1);
    let address = u32::try_from(raw)
        .map(Ipv4Addr::from)
        .map_err(|_| format!("device {} would be past 255.255.255.255", index + 1))?;
    // Each device stays in the block of the first (loopback unless the
    // user routes a private range to this host, see `shard::address_block`).
    let block = shard::address_block(address);
    if block.is_none() || block != shard::address_block(std::net::Ipv4Addr::from(first as u32)) {
        return Err(format!(
            "device {} would be at {address}, outside the first address's block (one of {}); choose a lower first address or fewer devices",
            index + 1,
            shard::address_blocks()
        ));
    }
    Ok((IpAddr::V4(address), base))
}

/// What a fleet is built from: each device's configuration and address.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    pub config: DeviceConfig,
    pub address: IpAddr,
    pub ports: Ports,
    /// A certificate and key the user supplied for the device's TLS server.
    pub tls_identity: Option<TlsIdentity>,
}

/// Whether a device starts in setup mode, where it sends hellos before
/// anyone reaches it.
fn in_setup(spec: &DeviceSpec) -> bool {
    spec.config.setup.state == ProvisioningState::In
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("two devices share the address {0}")]
    DuplicateAddress(SocketAddr),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Layout(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Something done to each device as it is built (and to those built
/// before it was added): its tasks, its listeners. Given the device's
/// index and the address its outgoing connections leave from.
pub type BuildHook = Box<dyn Fn(usize, IpAddr, &Arc<Endpoint>) + Send + Sync>;

/// The devices, built on first reach. An unbuilt device costs its slot
/// here (16 bytes) and nothing else: its spec comes from the source when
/// it is needed, and its state is its spec's until it is built.
pub struct Fleet {
    source: DeviceSource,
    /// Device i once built (None when its saved state could not be read:
    /// it is not served rather than served without it).
    slots: Box<[OnceLock<Option<Arc<Endpoint>>>]>,
    /// Run on each built device, once, before anyone else sees it.
    hooks: RwLock<Vec<BuildHook>>,
    tls: Arc<TlsContext>,
    store: Option<Store>,
    /// The hello scheduler, once started (devices in setup mode).
    hellos: OnceLock<crate::provision::Hellos>,
    /// Sockets each device serves at once over its network ports.
    max_connections: usize,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("source", &self.source)
            .field("built", &self.built().count())
            .finish()
    }
}

impl Fleet {
    /// A fleet of these devices; with a store, each starts from its saved
    /// state when it is built.
    pub fn new(
        specs: Vec<DeviceSpec>,
        tls: Arc<TlsContext>,
        store: Option<Store>,
    ) -> Result<Fleet, FleetError> {
        Fleet::from_source(DeviceSource::listed(specs)?, tls, store, |_| {})
    }

    /// A fleet of the source's devices. Builds now only the devices that
    /// have something to do before anyone reaches them: those with saved
    /// state (they may have a tunnel to open, a window to keep) and those
    /// in setup mode (they send hellos). `progress` hears how many are
    /// built, now and then.
    pub fn from_source(
        source: DeviceSource,
        tls: Arc<TlsContext>,
        store: Option<Store>,
        mut progress: impl FnMut(usize),
    ) -> Result<Fleet, FleetError> {
        let fleet = Fleet {
            slots: (0..source.len()).map(|_| OnceLock::new()).collect(),
            source,
            hooks: RwLock::new(Vec::new()),
            tls,
            store,
            hellos: OnceLock::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        };
        let saved: HashSet<String> = match &fleet.store {
            Some(store) => store.devices()?.into_iter().collect(),
            None => HashSet::new(),
        };
        let mut built = 0;
        for index in 0..fleet.len() {
            let scheduled = match &fleet.source {
                DeviceSource::Listed(_) => fleet.source.spec(index).is_some_and(|s| in_setup(&s)),
                DeviceSource::Laid(layout) => layout.starts_in_setup(),
            };
            let keep = scheduled
                || (!saved.is_empty()
                    && fleet
                        .source
                        .name(index)
                        .is_some_and(|n| saved.contains(&crate::store::key_of(&n))));
            if keep {
                // Stored state that cannot be read stops the start, as
                // it did before devices were built lazily.
                fleet.build_checked(index)?;
                built += 1;
                if built % 4096 == 0 {
                    progress(built);
                }
            }
        }
        progress(built);
        Ok(fleet)
    }

    /// How many sockets each device serves at once over its network
    /// ports ([`DEFAULT_MAX_CONNECTIONS`] unless set).
    pub fn with_max_connections(mut self, max: usize) -> Fleet {
        self.max_connections = max;
        self
    }

    /// How many devices the fleet has, built or not.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Device `index`, built now if it was not yet (None past the end, or
    /// when its saved state cannot be read).
    pub fn get(&self, index: usize) -> Option<Arc<Endpoint>> {
        let slot = self.slots.get(index)?;
        if let Some(built) = slot.get() {
            return built.clone();
        }
        self.build(index, slot).ok().flatten()
    }

    /// Device `index` if it is built; nothing is built.
    pub fn built_device(&self, index: usize) -> Option<Arc<Endpoint>> {
        self.slots.get(index)?.get()?.clone()
    }

    /// The built devices with their indices.
    pub fn built(&self) -> impl Iterator<Item = (usize, &Arc<Endpoint>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.get()?.as_ref()?)))
    }

    /// Device `index`'s spec (its state until it is built).
    pub fn spec(&self, index: usize) -> Option<DeviceSpec> {
        self.source.spec(index)
    }

    /// What device `index` starts as (its state until it is built), read
    /// without building it.
    pub fn initial(&self, index: usize) -> Option<source::Initial> {
        self.source.initial(index)
    }

    /// Device `index`'s name, without building it.
    pub fn name(&self, index: usize) -> Option<String> {
        self.source.name(index)
    }

    /// The index of the device named `name`, without building it.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.source.index_of_name(name)
    }

    /// [`Fleet::get`], reporting why a device with saved state could not be
    /// built.
    fn build_checked(&self, index: usize) -> Result<(), FleetError> {
        match self.slots.get(index) {
            Some(slot) if slot.get().is_none() => self.build(index, slot).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Builds device `index` into its slot once, however many callers ask
    /// at the same time, and runs the hooks on it before any of them sees
    /// it. The hooks' lock is held throughout, so a hook added meanwhile
    /// meets the device exactly once (see [`Fleet::on_build`]).
    fn build(
        &self,
        index: usize,
        slot: &OnceLock<Option<Arc<Endpoint>>>,
    ) -> Result<Option<Arc<Endpoint>>, FleetError> {
        let hooks = self.hooks.read().unwrap_or_else(|e| e.into_inner());
        let mut failed = None;
        let mut fresh = None;
        let built = slot.get_or_init(|| {
            let spec = self.source.spec(index)?;
            match self.make(spec) {
                Ok(made) => {
                    fresh = Some(made.clone());
                    Some(made)
                }
                Err(e) => {
                    tracing::error!(device = index, error = %e, "device not served: its saved state cannot be read");
                    failed = Some(e);
                    None
                }
            }
        });
        if let Some(endpoint) = &fresh {
            let source = self.source_address(index);
            for hook in hooks.iter() {
                hook(index, source, endpoint);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(built.clone()),
        }
    }

    /// A device from its spec, with its saved state when it has any.
    fn make(&self, spec: DeviceSpec) -> Result<Arc<Endpoint>, FleetError> {
        let device = Device::new(spec.config);
        if let Some(store) = &self.store
            && let Some(nvram) = store.load(&device.name)?
        {
            device.restore(nvram);
        }
        if let Some(identity) = spec.tls_identity {
            device.with_state(|s| s.nvram.tls_identity = Some(identity));
        }
        Ok(Endpoint::new(device, self.store.clone()))
    }

    /// Runs `hook` on every device built so far and on each one built
    /// from now on.
    pub fn on_build(&self, hook: BuildHook) {
        let mut hooks = self.hooks.write().unwrap_or_else(|e| e.into_inner());
        for (index, endpoint) in self.built() {
            hook(index, self.source_address(index), endpoint);
        }
        hooks.push(hook);
    }

    /// The address device `index`'s outgoing connections (hellos, CIRA)
    /// leave from: the address it answers on.
    fn source_address(&self, index: usize) -> IpAddr {
        self.source
            .spec(index)
            .map_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), |s| s.address)
    }

    /// The device a connection to `local` is for (built now if need be),
    /// and the port kind.
    pub fn lookup(&self, local: SocketAddr) -> Option<(Arc<Endpoint>, Port)> {
        // A v4 address may arrive mapped into v6 on a dual-stack socket.
        let local = match local {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
                None => local,
            },
            v4 => v4,
        };
        let (index, port) = self.source.index_of_address(local)?;
        Some((self.get(index)?, port))
    }

    /// Where device `index` answers on a kind of port (the control API's
    /// browser consoles connect there, as any console does).
    pub fn address_of(&self, index: usize, port: Port) -> Option<SocketAddr> {
        let spec = self.source.spec(index)?;
        spec.ports
            .each()
            .find(|(_, p)| *p == port)
            .map(|(number, _)| SocketAddr::new(spec.address, number))
    }

    /// Binds a listener for every address a device's firmware opens (for
    /// small fleets: a descriptor per address).
    pub async fn bind(&self) -> Result<Vec<(TcpListener, Port)>, FleetError> {
        let mut listeners = Vec::new();
        for (addr, port) in self.source.listening_addresses() {
            match TcpListener::bind(addr).await {
                Ok(listener) => listeners.push((listener, port)),
                Err(source) if optional(port) => skip_optional(addr, &source),
                Err(source) => return Err(FleetError::Bind { addr, source }),
            }
        }
        Ok(listeners)
    }

    /// One listener per port number for all devices, instead of one per
    /// address: a wildcard socket bound to the loopback interface, so only
    /// connections from this machine reach it. It takes the port for every
    /// local address (another program on the same port collides with it)
    /// and needs CAP_NET_RAW for SO_BINDTODEVICE; for fleets too large for
    /// a descriptor per address.
    #[cfg(target_os = "linux")]
    pub async fn bind_shared(&self) -> Result<Vec<(TcpListener, Port)>, FleetError> {
        let mut listeners = Vec::new();
        for (number, port) in self.source.port_numbers() {
            match bind_shared_port(number) {
                Ok(listener) => listeners.push((listener, port)),
                Err(FleetError::Bind { addr, source }) if optional(port) => {
                    skip_optional(addr, &source)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(listeners)
    }

    /// Starts sending hellos for devices in setup mode now and for those
    /// that enter it later (each device joins the scheduler when it is
    /// built; devices in setup mode are built at the start). Once per fleet.
    pub fn start_hellos(&self, config: crate::provision::HelloConfig) -> Result<(), String> {
        let hellos = crate::provision::Hellos::start(Vec::new(), config)?;
        let joining = hellos.clone();
        self.hellos
            .set(hellos)
            .map_err(|_| "hellos already started".to_string())?;
        self.on_build(Box::new(move |_, address, e| {
            let endpoint = e.clone();
            joining.add(crate::provision::HelloTarget {
                cable: Some(Arc::new(move || !endpoint.faults.get().offline)),
                ..crate::provision::HelloTarget::new(e.device.clone(), address)
            });
        }));
        Ok(())
    }

    /// The hello scheduler, when hellos were started.
    pub fn hellos(&self) -> Option<&crate::provision::Hellos> {
        self.hellos.get()
    }

    /// Logs each built device's events (power changes, boots, settings
    /// changes), on tasks in `tasks`.
    pub fn log_events(&self, tasks: &DeviceTasks) {
        let tasks = tasks.clone();
        self.on_build(Box::new(move |_, _, endpoint| {
            let mut events = endpoint.device.subscribe();
            let name = endpoint.device.name.clone();
            tasks.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => tracing::info!(device = %name, ?event, "device event"),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(device = %name, missed = n, "event log fell behind")
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }));
    }

    /// Saves each built device's state whenever it changes (with a store).
    /// Replies that acknowledge a change wait for their own save; this
    /// catches what nobody waits for (a power transition ending, the host
    /// powering off, a TLS identity made at a handshake), sharing the
    /// store's commits. Unbuilt devices have nothing to save.
    pub fn persist(&self, tasks: &DeviceTasks) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let tasks = tasks.clone();
        self.on_build(Box::new(move |_, _, endpoint| {
            let mut events = endpoint.device.subscribe();
            let device = endpoint.device.clone();
            let store = store.clone();
            tasks.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) if !event.touches_state() => continue,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                    while events.try_recv().is_ok() {}
                    if let Err(e) = store.save(&device).await {
                        tracing::error!(device = %device.name, error = %e, "saving state failed");
                    }
                }
            });
        }));
    }

    /// Saves every built device now, in one transaction, and closes the
    /// state directory (at shutdown). A device never built never changed:
    /// its saved state, if any, is still the one it would have loaded.
    pub fn save_all(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let saved = store.save_all(self.built().map(|(_, e)| &*e.device));
        store.close();
        saved
    }

    /// Delivers each built device's events to its WS-Eventing subscribers
    /// (an unbuilt device has none: subscribing takes a WS-Man call, which
    /// builds it, or saved state, which builds it at the start).
    pub fn start_eventing(&self, tasks: &DeviceTasks) {
        let tasks = tasks.clone();
        self.on_build(Box::new(move |_, _, endpoint| {
            if let Some(task) = crate::eventing::delivery(endpoint.clone()) {
                tasks.spawn(task);
            }
        }));
    }

    /// Starts the CIRA task of each built device whose firmware has remote
    /// access; its tunnels come from the device's own address. (An unbuilt
    /// device has no MPS configured: that takes a WS-Man call, which
    /// builds it, or saved state, which builds it at the start.)
    pub fn start_cira(&self, tasks: &DeviceTasks) {
        let tasks = tasks.clone();
        let tls = self.tls.clone();
        self.on_build(Box::new(move |_, source, endpoint| {
            if crate::cira::supported(endpoint) {
                tasks.spawn(crate::cira::run(endpoint.clone(), source, tls.clone()));
            }
        }));
    }

    /// Accepts on the listeners until the task is dropped.
    pub async fn serve(self: Arc<Self>, listeners: Vec<(TcpListener, Port)>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, port) in listeners {
            tasks.spawn(accept_loop(self.clone(), listener, port));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Whether a port may be left out when it cannot be bound: 5900 is often
/// taken by a VNC server of the machine's own, and devices serve KVM over
/// the redirection ports anyway.
fn optional(port: Port) -> bool {
    port == Port::Vnc
}

fn skip_optional(addr: SocketAddr, e: &std::io::Error) {
    tracing::warn!(%addr, error = %e, "port 5900 not served (KVM stays on the redirection ports)");
}

/// A wildcard socket on `port` bound to the loopback interface: the shared
/// listener of one port number (see `Fleet::bind_shared`).
#[cfg(target_os = "linux")]
fn bind_shared_port(port: u16) -> Result<TcpListener, FleetError> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let bind = || -> std::io::Result<TcpListener> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind_device(Some(b"lo"))?;
        socket.bind(addr)?;
        socket.listen(4096)
    };
    bind().map_err(|source| FleetError::Bind { addr, source })
}

/// The next connection on `listener`, its peer and the local address it
/// reached (which names the device).
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr, SocketAddr) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Ok(local) = stream.local_addr() {
            return (stream, peer, local);
        }
    }
}

async fn accept_loop(fleet: Arc<Fleet>, listener: TcpListener, kind: Port) {
    loop {
        let (stream, peer, local) = accept(&listener).await;
        let Some((endpoint, port)) = fleet.lookup(local) else {
            tracing::debug!(%local, "connection for no device");
            continue;
        };
        if port != kind || !endpoint.device.firmware.opens(port) {
            continue;
        }
        if port == Port::Local {
            // Software on the host reaches the ME whatever the network
            // sees: no power-policy gate and no injected network faults.
            let _ = stream.set_nodelay(true);
            tokio::spawn(http::serve_local_connection(stream, endpoint.clone(), peer));
            continue;
        }
        if !endpoint.device.me_reachable() {
            // Its power policy has the ME off in the host's current state:
            // the device answers on no port until the host wakes.
            tracing::debug!(device = %endpoint.device.name, %peer, "connection closed: ME off by its power policy");
            continue;
        }
        let faults = endpoint.faults.get();
        if faults.drop_connection() {
            tracing::debug!(device = %endpoint.device.name, %peer, "connection dropped by an injected fault");
            continue;
        }
        if faults.hang {
            // Keep the socket open and say nothing until the client gives up.
            tokio::spawn(async move {
                let mut stream = stream;
                let mut sink = [0u8; 1024];
                use tokio::io::AsyncReadExt;
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            continue;
        }
        let Some(permit) = endpoint.connections.try_acquire(fleet.max_connections) else {
            tracing::info!(device = %endpoint.device.name, %peer, max = fleet.max_connections, "connection refused: the device's sockets are all in use");
            continue;
        };
        // At its firmware's pace, the row's ceilings refuse what firmware
        // refuses, as firmware does.
        let paced = match endpoint.pace.as_deref().map(|pace| pace.admit(port)) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(admitted))) => Some(admitted),
            Some(Err(Refused(Beyond::Reset))) => {
                tracing::info!(device = %endpoint.device.name, %peer, ?port, "connection reset: over the firmware's connection ceiling");
                // A zero linger makes the close a reset; the socket is
                // non-blocking, so dropping it does not wait.
                let _ = stream.set_zero_linger();
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let endpoint = endpoint.clone();
        match kind {
            Port::Http => {
                // With TLS on and non-secure connections refused, the
                // device no longer serves plain HTTP to the network; nor
                // does it before it is provisioned (setup goes over 16993
                // or the local interface).
                let (provisioned, tls_only) = endpoint.device.with_state(|s| {
                    (
                        s.nvram.setup.state == amtemu_model::device::ProvisioningState::Post,
                        s.nvram.tls.remote.tls_only(),
                    )
                });
                if !provisioned || tls_only {
                    tracing::info!(device = %endpoint.device.name, %peer, provisioned, "plain HTTP refused");
                    continue;
                }
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Some(paced) = &paced {
                        tokio::time::sleep(paced.first_read_after).await;
                    }
                    http::serve_connection(stream, endpoint, peer).await
                });
            }
            Port::Https if faults.tls_failure => {
                // Abort the handshake: read the ClientHello, then close.
                tokio::spawn(async move {
                    let _permit = permit;
                    let mut stream = stream;
                    let mut hello = [0u8; 512];
                    use tokio::io::AsyncReadExt;
                    let _ = stream.read(&mut hello).await;
                });
            }
            Port::Https => {
                spawn_over_tls(
                    &fleet,
                    (stream, permit, paced),
                    endpoint,
                    peer,
                    http::serve_connection,
                );
            }
            Port::Redirection => {
                // Like plain HTTP, refused when TLS is required.
                let refused = endpoint
                    .device
                    .with_state(|s| s.nvram.tls.remote.tls_only());
                if refused {
                    tracing::info!(device = %endpoint.device.name, %peer, "plain redirection refused: TLS required");
                    continue;
                }
                tokio::spawn(async move {
                    let _permit = permit;
                    crate::redirect::serve(stream, endpoint, peer).await
                });
            }
            Port::RedirectionTls if faults.tls_failure => {}
            Port::RedirectionTls => {
                spawn_over_tls(
                    &fleet,
                    (stream, permit, None),
                    endpoint,
                    peer,
                    crate::redirect::serve,
                );
            }
            // Never TLS, whatever the device's TLS settings.
            Port::Vnc => {
                tokio::spawn(crate::redirect::kvm::serve_vnc(stream, endpoint, peer));
            }
            // Served before the network gates above.
            Port::Local => {}
        }
    }
}

/// Completes the device's TLS handshake on its own task, then hands the
/// stream to the protocol that port serves (WS-Man on 16993, redirection
/// on 16995). A paced connection waits for the firmware's handshake time
/// first.
fn spawn_over_tls<F, Served>(
    fleet: &Fleet,
    (stream, permit, paced): (tokio::net::TcpStream, Permit, Option<Admitted>),
    endpoint: Arc<Endpoint>,
    peer: SocketAddr,
    serve: F,
) where
    F: FnOnce(tls::Stream<tokio::net::TcpStream>, Arc<Endpoint>, SocketAddr) -> Served
        + Send
        + 'static,
    Served: std::future::Future<Output = ()> + Send,
{
    let ctx = fleet.tls.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let Some(paced) = &paced {
            tokio::time::sleep(paced.first_read_after).await;
        }
        match tls::accept(stream, &endpoint.device, &endpoint.tls, &ctx).await {
            Ok(tls_stream) => serve(tls_stream, endpoint, peer).await,
            Err(e) => {
                tracing::info!(device = %endpoint.device.name, %peer, error = %e, "TLS connection refused")
            }
        }
    });
}
