//! Prometheus metrics, process-wide so the protocol layers can record
//! without plumbing: `METRICS.wsman_request(..)` from the HTTP layer, power
//! transitions from the control plane's event hub. `GET /metrics` on the
//! control port encodes them (OpenMetrics text).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `amtemu_wsman_requests_total` | counter | class, operation, status |
//! | `amtemu_wsman_request_duration_seconds` | histogram | operation |
//! | `amtemu_http_auth_failures_total` | counter | |
//! | `amtemu_power_transitions_total` | counter | to |
//! | `amtemu_devices` | gauge | |
//! | `amtemu_provisioning_hellos_total` | counter | outcome (delivered, failed, given_up) |
//! | `amtemu_cira_connect_attempts_total` | counter | |
//! | `amtemu_cira_tunnels` | gauge | |
//! | `amtemu_tls_handshakes_total` | counter | version, suite (IANA) |
//!
//! Label values come from bounded sets (class and method names the
//! registry knows, power states), never from what a client sent.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use amtemu_model::device::{HostPower, Named};

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    class: &'static str,
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// An outcome label (hellos, event deliveries).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HelloLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    version: &'static str,
    suite: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PowerLabels {
    to: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// How many label sets' handles a thread keeps (a fleet under load answers
/// a few kinds of request over and over).
const CACHED_HANDLES: usize = 16;

/// The counter and histogram of the label sets a thread recorded last.
/// Finding them in their families hashes the labels and takes the family's
/// lock, twice per request; the handles share their values with the
/// families (they are reference-counted), so what is encoded is the same.
/// The cache belongs to [`METRICS`], the only `Metrics` there is
/// (`Metrics::new` is private).
struct Handles {
    entries: Vec<(RequestLabels, Counter, Histogram)>,
    /// The slot the next new label set takes once the cache is full.
    next: usize,
}

impl Handles {
    fn get(
        &mut self,
        labels: &RequestLabels,
        create: impl FnOnce() -> (Counter, Histogram),
    ) -> (&Counter, &Histogram) {
        let at = match self.entries.iter().position(|(l, _, _)| l == labels) {
            Some(at) => at,
            None => {
                let (counter, histogram) = create();
                let entry = (labels.clone(), counter, histogram);
                if self.entries.len() < CACHED_HANDLES {
                    self.entries.push(entry);
                    self.entries.len() - 1
                } else {
                    let at = self.next;
                    self.next = (at + 1) % CACHED_HANDLES;
                    self.entries[at] = entry;
                    at
                }
            }
        };
        let (_, counter, histogram) = &self.entries[at];
        (counter, histogram)
    }
}

thread_local! {
    static WSMAN_HANDLES: std::cell::RefCell<Handles> = const {
        std::cell::RefCell::new(Handles { entries: Vec::new(), next: 0 })
    };
}

#[derive(Debug)]
pub struct Metrics {
    tls_handshakes: Family<TlsLabels, Counter>,
    registry: Registry,
    wsman_requests: Family<RequestLabels, Counter>,
    wsman_duration: HistogramFamily<OperationLabels>,
    auth_failures: Counter,
    power_transitions: Family<PowerLabels, Counter>,
    devices: Gauge,
    hellos: Family<HelloLabels, Counter>,
    kvm: KvmMetrics,
    cira_attempts: Counter,
    cira_tunnels: Gauge,
    event_deliveries: Family<HelloLabels, Counter>,
}

/// KVM sessions and what their updates cost on the wire.
#[derive(Debug, Default)]
struct KvmMetrics {
    sessions: Gauge,
    updates: Counter,
    update_bytes: Counter,
}

impl KvmMetrics {
    fn register(registry: &mut Registry) -> KvmMetrics {
        let kvm = KvmMetrics::default();
        registry.register(
            "kvm_sessions",
            "KVM sessions past ServerInit, over KVMR or port 5900",
            kvm.sessions.clone(),
        );
        registry.register(
            "kvm_updates",
            "KVM framebuffer updates sent",
            kvm.updates.clone(),
        );
        registry.register(
            "kvm_update_bytes",
            "Bytes of the KVM framebuffer updates sent",
            kvm.update_bytes.clone(),
        );
        kvm
    }
}

/// 100 µs to about 6.5 s: emulator service times are sub-millisecond, and
/// injected latency goes up to seconds.
fn duration_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 4.0, 9,
    ))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("amtemu");
        let wsman_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "wsman_requests",
            "WS-Man requests answered, by class, operation and HTTP status",
            wsman_requests.clone(),
        );
        let wsman_duration: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "wsman_request_duration_seconds",
            "Time the WS-Man engine took to answer, by operation",
            wsman_duration.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "http_auth_failures",
            "Digest credentials presented and refused (wrong, stale, replayed, locked out)",
            auth_failures.clone(),
        );
        let power_transitions = Family::<PowerLabels, Counter>::default();
        registry.register(
            "power_transitions",
            "Host power state changes, by the state entered (counted while the control API runs)",
            power_transitions.clone(),
        );
        let devices = Gauge::default();
        registry.register(
            "devices",
            "Devices in the fleet the control API serves",
            devices.clone(),
        );
        let hellos = Family::<HelloLabels, Counter>::default();
        registry.register(
            "provisioning_hellos",
            "Setup-mode hello attempts (delivered, failed) and hello windows that ran out (given_up)",
            hellos.clone(),
        );
        let kvm = KvmMetrics::register(&mut registry);
        let cira_attempts = Counter::default();
        registry.register(
            "cira_connect_attempts",
            "Connections devices began to their MPS",
            cira_attempts.clone(),
        );
        let cira_tunnels = Gauge::default();
        registry.register(
            "cira_tunnels",
            "CIRA connections open to an MPS (TLS up, handshake done or under way)",
            cira_tunnels.clone(),
        );
        let event_deliveries = Family::<HelloLabels, Counter>::default();
        registry.register(
            "event_deliveries",
            "WS-Eventing events sent to subscribers, by outcome (delivered, failed)",
            event_deliveries.clone(),
        );
        let tls_handshakes = Family::<TlsLabels, Counter>::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes completed, by negotiated version and cipher suite",
            tls_handshakes.clone(),
        );
        Metrics {
            event_deliveries,
            tls_handshakes,
            kvm,
            cira_attempts,
            cira_tunnels,
            hellos,
            registry,
            wsman_requests,
            wsman_duration,
            auth_failures,
            power_transitions,
            devices,
        }
    }

    /// One WS-Man request answered with `status` after `took`.
    pub fn wsman_request(
        &self,
        class: &'static str,
        operation: &'static str,
        status: u16,
        took: Duration,
    ) {
        let labels = RequestLabels {
            class,
            operation,
            status,
        };
        WSMAN_HANDLES.with_borrow_mut(|handles| {
            let (counter, histogram) = handles.get(&labels, || {
                let counter = self.wsman_requests.get_or_create(&labels).clone();
                let histogram = self
                    .wsman_duration
                    .get_or_create(&OperationLabels { operation })
                    .clone();
                (counter, histogram)
            });
            counter.inc();
            histogram.observe(took.as_secs_f64());
        });
    }

    /// A TLS handshake completed with this version and suite (names from
    /// the TLS libraries' own static tables).
    pub fn tls_handshake(&self, version: &'static str, suite: &'static str) {
        self.tls_handshakes
            .get_or_create(&TlsLabels { version, suite })
            .inc();
    }

    /// Credentials were presented and refused.
    pub fn auth_failure(&self) {
        self.auth_failures.inc();
    }

    /// A device's host entered `to`.
    pub fn power_transition(&self, to: HostPower) {
        self.power_transitions
            .get_or_create(&PowerLabels { to: to.name() })
            .inc();
    }

    /// A hello attempt ended, or a hello window ran out: `outcome` is
    /// `delivered`, `failed` or `given_up`.
    pub fn hello(&self, outcome: &'static str) {
        self.hellos.get_or_create(&HelloLabels { outcome }).inc();
    }

    /// A KVM session started (`true`) or ended its normal state.
    pub fn kvm_session(&self, open: bool) {
        if open {
            self.kvm.sessions.inc();
        } else {
            self.kvm.sessions.dec();
        }
    }

    /// A KVM framebuffer update of `bytes` went out.
    pub fn kvm_update(&self, bytes: usize) {
        self.kvm.updates.inc();
        self.kvm.update_bytes.inc_by(bytes as u64);
    }

    /// One WS-Eventing delivery ended: `delivered` or `failed`.
    pub fn event_delivery(&self, outcome: &'static str) {
        self.event_deliveries
            .get_or_create(&HelloLabels { outcome })
            .inc();
    }

    /// A device began connecting to its MPS.
    pub fn cira_attempt(&self) {
        self.cira_attempts.inc();
    }

    /// A CIRA connection opened (true) or closed (false).
    pub fn cira_tunnel_up(&self, up: bool) {
        self.cira_tunnels.inc_by(if up { 1 } else { -1 });
    }

    pub fn set_devices(&self, count: usize) {
        self.devices.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::users::Caller;
    use amtemu_model::testing::device;
    use amtemu_wsman::{self, WsmanState};

    #[test]
    fn replies_carry_bounded_labels_and_are_counted() {
        let d = device("11.8");
        let state = WsmanState::default();
        let get = |uri: &str| {
            format!(
                r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>1</a:MessageID></Header><Body/></Envelope>"#
            )
        };
        let ok = amtemu_wsman::handle(
            &d,
            &state,
            &Caller::Admin,
            get("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings").as_bytes(),
        );
        assert_eq!(
            (ok.class, ok.operation, ok.fault.is_none()),
            ("AMT_GeneralSettings", "Get", true)
        );
        let unknown = amtemu_wsman::handle(
            &d,
            &state,
            &Caller::Admin,
            get("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_NoSuchThing").as_bytes(),
        );
        assert_eq!((unknown.class, unknown.operation), ("unknown", "Get"));
        let garbage = amtemu_wsman::handle(&d, &state, &Caller::Admin, b"<nope");
        assert_eq!((garbage.class, garbage.operation), ("none", "unknown"));

        METRICS.wsman_request(ok.class, ok.operation, 200, Duration::from_micros(250));
        METRICS.power_transition(HostPower::S5);
        let text = METRICS.encode();
        assert!(text.contains(
            r#"amtemu_wsman_requests_total{class="AMT_GeneralSettings",operation="Get",status="200"}"#
        ));
        assert!(text.contains(
            r#"amtemu_wsman_request_duration_seconds_bucket{le="0.0004",operation="Get"}"#
        ));
        assert!(text.contains(r#"amtemu_power_transitions_total{to="s5"}"#));
        assert!(text.contains("amtemu_http_auth_failures_total"));
        assert!(text.contains("# TYPE amtemu_devices gauge"));
    }
}
