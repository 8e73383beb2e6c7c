//! The fleet: devices by the address they are reached at, and the listeners
//! that accept for all of them. A single device is a fleet of one.
//!
//! Every accepted connection is resolved to its device by the local address
//! it was sent to, then handed to the protocol layer for that port.

pub mod names;
pub mod shard;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::endpoint::Endpoint;
use crate::endpoint::limits::{DEFAULT_MAX_CONNECTIONS, Permit};
use crate::http;
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsContext};
use amtemu_model::device::{Device, DeviceConfig, Port, TlsIdentity};

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

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("two devices share the address {0}")]
    DuplicateAddress(SocketAddr),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct Fleet {
    devices: Vec<Arc<Endpoint>>,
    /// Listening address → the device and the kind of port it is.
    by_address: HashMap<SocketAddr, (Arc<Endpoint>, Port)>,
    tls: Arc<TlsContext>,
    store: Option<Store>,
    /// The hello scheduler, once started (devices in setup mode).
    hellos: std::sync::OnceLock<crate::provision::Hellos>,
    /// Sockets each device serves at once over its network ports.
    max_connections: usize,
}

impl Fleet {
    /// Builds the devices; with a store, each starts from its saved state.
    pub fn new(
        specs: Vec<DeviceSpec>,
        tls: Arc<TlsContext>,
        store: Option<Store>,
    ) -> Result<Fleet, FleetError> {
        Fleet::new_with_progress(specs, tls, store, |_| {})
    }

    /// [`Fleet::new`], telling `progress` how many devices are built, now
    /// and then (for a progress bar on large starts).
    pub fn new_with_progress(
        specs: Vec<DeviceSpec>,
        tls: Arc<TlsContext>,
        store: Option<Store>,
        mut progress: impl FnMut(usize),
    ) -> Result<Fleet, FleetError> {
        let mut fleet = Fleet {
            devices: Vec::new(),
            by_address: HashMap::new(),
            tls,
            store,
            hellos: std::sync::OnceLock::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        };
        for spec in specs {
            let device = Device::new(spec.config);
            if let Some(nvram) = fleet
                .store
                .as_ref()
                .map(|s| s.load(&device.name))
                .transpose()?
                .flatten()
            {
                device.restore(nvram);
            }
            if let Some(identity) = spec.tls_identity {
                device.with_state(|s| s.nvram.tls_identity = Some(identity));
            }
            let endpoint = Endpoint::new(device, fleet.store.clone());
            for (port, kind) in spec.ports.each() {
                let addr = SocketAddr::new(spec.address, port);
                if fleet
                    .by_address
                    .insert(addr, (endpoint.clone(), kind))
                    .is_some()
                {
                    return Err(FleetError::DuplicateAddress(addr));
                }
            }
            fleet.devices.push(endpoint);
            if fleet.devices.len().is_multiple_of(4096) {
                progress(fleet.devices.len());
            }
        }
        progress(fleet.devices.len());
        Ok(fleet)
    }

    /// How many sockets each device serves at once over its network
    /// ports ([`DEFAULT_MAX_CONNECTIONS`] unless set).
    pub fn with_max_connections(mut self, max: usize) -> Fleet {
        self.max_connections = max;
        self
    }

    pub fn devices(&self) -> &[Arc<Endpoint>] {
        &self.devices
    }

    /// The device a connection to `local` is for, and the port kind.
    pub fn lookup(&self, local: SocketAddr) -> Option<(&Arc<Endpoint>, Port)> {
        // A v4 address may arrive mapped into v6 on a dual-stack socket.
        let local = match local {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
                None => local,
            },
            v4 => v4,
        };
        self.by_address.get(&local).map(|(e, p)| (e, *p))
    }

    /// Where a device answers on a kind of port (the control API's browser
    /// consoles connect there, as any console does). A walk over the
    /// address map: asked once per console opened, not per request.
    pub fn address_of(&self, endpoint: &Arc<Endpoint>, port: Port) -> Option<SocketAddr> {
        self.by_address
            .iter()
            .find(|(_, (e, p))| *p == port && Arc::ptr_eq(e, endpoint))
            .map(|(addr, _)| *addr)
    }

    /// Binds a listener for every address a device's firmware opens.
    pub async fn bind(&self) -> Result<Vec<(TcpListener, Port)>, FleetError> {
        let mut listeners = Vec::new();
        for (addr, port) in self.listening_addresses() {
            match TcpListener::bind(addr).await {
                Ok(listener) => listeners.push((listener, port)),
                Err(source) if optional(port) => skip_optional(addr, &source),
                Err(source) => return Err(FleetError::Bind { addr, source }),
            }
        }
        Ok(listeners)
    }

    /// Every address a device's firmware opens, in order.
    fn listening_addresses(&self) -> Vec<(SocketAddr, Port)> {
        let mut addresses: Vec<_> = self
            .by_address
            .iter()
            .filter(|(_, (e, port))| e.device.firmware.opens(*port))
            .map(|(addr, (_, port))| (*addr, *port))
            .collect();
        addresses.sort_by_key(|(addr, _)| *addr);
        addresses
    }

    /// One listener per port number for all devices, instead of one per
    /// address: a wildcard socket bound to the loopback interface, so only
    /// connections from this machine reach it. It takes the port for every
    /// local address (another program on the same port collides with it)
    /// and needs CAP_NET_RAW for SO_BINDTODEVICE; for fleets too large for
    /// a descriptor per address.
    #[cfg(target_os = "linux")]
    pub async fn bind_shared(&self) -> Result<Vec<(TcpListener, Port)>, FleetError> {
        let mut ports: Vec<(u16, Port)> = self
            .listening_addresses()
            .into_iter()
            .map(|(addr, port)| (addr.port(), port))
            .collect();
        ports.sort_by_key(|(number, _)| *number);
        ports.dedup();
        let mut listeners = Vec::new();
        for (number, port) in ports {
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
    /// The address each device's outgoing connections (hellos) leave from:
    /// the address it answers on.
    fn device_addresses(&self) -> Vec<IpAddr> {
        let mut by_device: HashMap<*const Endpoint, IpAddr> = HashMap::new();
        for (addr, (endpoint, _)) in &self.by_address {
            by_device.insert(Arc::as_ptr(endpoint), addr.ip());
        }
        self.devices
            .iter()
            .map(|e| {
                by_device
                    .get(&Arc::as_ptr(e))
                    .copied()
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
            })
            .collect()
    }

    /// Starts sending hellos for devices in setup mode now and for those
    /// that enter it later. Once per fleet.
    pub fn start_hellos(&self, config: crate::provision::HelloConfig) -> Result<(), String> {
        let targets = self
            .devices
            .iter()
            .zip(self.device_addresses())
            .map(|(e, address)| {
                let endpoint = e.clone();
                crate::provision::HelloTarget {
                    cable: Some(Arc::new(move || !endpoint.faults.get().offline)),
                    ..crate::provision::HelloTarget::new(e.device.clone(), address)
                }
            })
            .collect();
        let hellos = crate::provision::Hellos::start(targets, config)?;
        self.hellos
            .set(hellos)
            .map_err(|_| "hellos already started".to_string())
    }

    /// The hello scheduler, when hellos were started.
    pub fn hellos(&self) -> Option<&crate::provision::Hellos> {
        self.hellos.get()
    }

    /// Logs every device's events (power changes, boots, settings changes),
    /// on tasks in `tasks`.
    pub fn log_events(&self, tasks: &mut tokio::task::JoinSet<()>) {
        for endpoint in &self.devices {
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
        }
    }

    /// Saves each device's state whenever it changes (with a store). Replies
    /// that acknowledge a change wait for their own save; this catches what
    /// nobody waits for (a power transition ending, the host powering off,
    /// a TLS identity made at a handshake), sharing the store's commits.
    /// The tasks run in `tasks`, so whoever stops the fleet stops them.
    pub fn persist(&self, tasks: &mut tokio::task::JoinSet<()>) {
        let Some(store) = &self.store else { return };
        for endpoint in &self.devices {
            let mut events = endpoint.device.subscribe();
            let device = endpoint.device.clone();
            let store = store.clone();
            tasks.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                    while events.try_recv().is_ok() {}
                    if let Err(e) = store.save(&device).await {
                        tracing::error!(device = %device.name, error = %e, "saving state failed");
                    }
                }
            });
        }
    }

    /// Saves every device now, in one transaction, and closes the state
    /// directory (at shutdown).
    pub fn save_all(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let saved = store.save_all(self.devices.iter().map(|e| &*e.device));
        store.close();
        saved
    }

    /// Starts delivering each device's events to its WS-Eventing
    /// subscribers.
    pub fn start_eventing(&self, tasks: &mut tokio::task::JoinSet<()>) {
        for endpoint in &self.devices {
            crate::eventing::start(endpoint.clone(), tasks);
        }
    }

    /// Starts the CIRA task of each device whose firmware has remote
    /// access; its tunnels come from the device's own address.
    pub fn start_cira(&self, tasks: &mut tokio::task::JoinSet<()>) {
        let mut sources = HashMap::new();
        for (addr, (endpoint, _)) in &self.by_address {
            sources.insert(Arc::as_ptr(endpoint), addr.ip());
        }
        for endpoint in &self.devices {
            let Some(source) = sources.get(&Arc::as_ptr(endpoint)).copied() else {
                continue;
            };
            if crate::cira::supported(endpoint) {
                tasks.spawn(crate::cira::run(endpoint.clone(), source, self.tls.clone()));
            }
        }
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
                    (stream, permit),
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
                    (stream, permit),
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
/// on 16995).
fn spawn_over_tls<F, Served>(
    fleet: &Fleet,
    (stream, permit): (tokio::net::TcpStream, Permit),
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
        match tls::accept(stream, &endpoint.device, &endpoint.tls, &ctx).await {
            Ok(tls_stream) => serve(tls_stream, endpoint, peer).await,
            Err(e) => {
                tracing::info!(device = %endpoint.device.name, %peer, error = %e, "TLS connection refused")
            }
        }
    });
}
