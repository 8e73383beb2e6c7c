//! What serves a device beside the device itself: the per-device protocol
//! state each protocol keeps between connections (digest nonces, WS-Man
//! enumerations, the TLS configuration, redirection slots) and its
//! injected faults. The protocol modules above use it; it uses none of
//! them, so per-connection code never reaches up into the fleet.

pub mod cira;
pub mod limits;
pub mod nonces;
pub mod pace;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use amtemu_model::device::Device;
use amtemu_wire::redirection::SessionKind;
use amtemu_wsman::WsmanState;

use crate::store::{Store, StoreError};
use crate::tls::TlsState;
use limits::Gauge;
use nonces::Nonces;

/// A device with the per-device protocol state that serves it.
#[derive(Debug)]
pub struct Endpoint {
    pub device: Arc<Device>,
    pub wsman: WsmanState,
    pub http: HttpState,
    pub tls: TlsState,
    pub faults: crate::faults::Faults,
    pub redirect: RedirectState,
    /// Kerberos authenticators already accepted and derived keys (HTTP and
    /// redirection).
    pub kerberos: crate::kerberos::DeviceState,
    /// The device's sockets in use, over all its network ports.
    pub connections: Arc<Gauge>,
    /// The firmware row's connection ceilings when the device answers at
    /// its firmware's pace (`--timing firmware`); None by default (boxed:
    /// a word per device when off).
    pub pace: Option<Box<pace::Pace>>,
    /// The CIRA tunnel's state and the host's requests for one.
    pub cira: cira::CiraStatus,
    /// Where the device's state is kept, when it is kept: replies that
    /// acknowledge a change wait for [`Store::save`].
    pub store: Option<Store>,
    /// The host behind the firmware when it is not the simulated one (a
    /// QEMU virtual machine); set once, before the device serves.
    pub host: std::sync::OnceLock<OutsideHost>,
}

/// A host that is not the device's simulated one.
pub struct OutsideHost(pub Arc<dyn crate::host_port::HostPort>);

impl std::fmt::Debug for OutsideHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutsideHost")
    }
}

impl Endpoint {
    /// A device with fresh protocol state and no faults.
    pub fn new(device: Arc<Device>, store: Option<Store>) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            pace: device.pace.map(|row| Box::new(pace::Pace::new(row))),
            device,
            wsman: WsmanState::default(),
            http: HttpState::default(),
            tls: TlsState::default(),
            faults: crate::faults::Faults::default(),
            redirect: RedirectState::default(),
            kerberos: Default::default(),
            connections: Arc::default(),
            cira: cira::CiraStatus::default(),
            store,
            host: std::sync::OnceLock::new(),
        })
    }

    /// What redirection sessions talk to: the outside host when there is
    /// one, else the device's simulated host.
    pub fn host_port(&self) -> &dyn crate::host_port::HostPort {
        match self.host.get() {
            Some(host) => host.0.as_ref(),
            None => self.device.as_ref(),
        }
    }
}

impl Endpoint {
    /// Replaces the device's faults (scenarios and the control API alike).
    /// The CIRA tunnel follows the cable: pulled, the tunnel's path goes
    /// quiet; plugged back, the device calls its MPS again at once.
    pub fn set_faults(&self, plan: crate::faults::FaultPlan) {
        let was_offline = self.faults.get().offline;
        let offline = plan.offline;
        self.faults.set(plan);
        if offline && !was_offline {
            self.cira.interrupt(cira::Interruption::Silence);
        } else if was_offline && !offline {
            self.cira.wake();
        }
    }

    /// Makes the device's state as it is now durable, when it is kept at
    /// all; a reply that acknowledges a change goes out after this.
    pub async fn make_durable(&self) -> Result<(), StoreError> {
        match &self.store {
            Some(store) => store.save(&self.device).await,
            None => Ok(()),
        }
    }
}

/// Per-device HTTP state.
#[derive(Debug, Default)]
pub struct HttpState {
    nonces: Mutex<Nonces>,
}

impl HttpState {
    pub(crate) fn nonces(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-device redirection state beside the device.
#[derive(Debug)]
pub struct RedirectState {
    sol: AtomicBool,
    ider: AtomicBool,
    /// One KVM session per device, over KVMR or port 5900 alike.
    kvm: AtomicBool,
    /// Offer plain user/password authentication (type 1). On by default:
    /// Debian's amtterm 1.4 knows nothing else.
    plain_auth: AtomicBool,
    /// Connections that have not logged in yet.
    pending_logins: Arc<Gauge>,
}

impl Default for RedirectState {
    fn default() -> Self {
        RedirectState {
            sol: AtomicBool::new(false),
            ider: AtomicBool::new(false),
            kvm: AtomicBool::new(false),
            plain_auth: AtomicBool::new(true),
            pending_logins: Arc::default(),
        }
    }
}

impl RedirectState {
    pub fn set_plain_auth(&self, on: bool) {
        self.plain_auth.store(on, Ordering::Relaxed);
    }

    /// Whether plain user/password logins are offered.
    pub fn plain_auth(&self) -> bool {
        self.plain_auth.load(Ordering::Relaxed)
    }

    /// Connections that have not logged in yet.
    pub(crate) fn pending_logins(&self) -> &Arc<Gauge> {
        &self.pending_logins
    }

    pub(crate) fn flag(&self, kind: SessionKind) -> Option<&AtomicBool> {
        match kind {
            SessionKind::Sol => Some(&self.sol),
            SessionKind::Ider => Some(&self.ider),
            SessionKind::Kvm => Some(&self.kvm),
            SessionKind::Other(_) => None,
        }
    }

    /// Whether a session of this kind is open (for tests and metrics).
    pub fn busy(&self, kind: SessionKind) -> bool {
        self.flag(kind).is_some_and(|f| f.load(Ordering::Acquire))
    }
}
