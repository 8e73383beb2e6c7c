//! Faults a user (a scenario, the control API) can put on a device, and the
//! places in the protocol layers that honour them. A device without faults
//! pays one uncontended lock per connection and per request.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What is wrong with a device right now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// The network cable is out: connections are closed as soon as they
    /// are accepted.
    pub offline: bool,
    /// Extra delay before every HTTP answer, uniform in [min, max] ms.
    pub latency_ms: Option<(u64, u64)>,
    /// The share of connections (0..=1) reset right after accept.
    pub reset_probability: f64,
    /// Connections are accepted and then never answered.
    pub hang: bool,
    /// Every HTTP request is answered with this status and no body.
    pub http_error: Option<u16>,
    /// TLS handshakes are aborted.
    pub tls_failure: bool,
    /// Every digest nonce is treated as expired (`stale="true"`).
    pub stale_nonces: bool,
    /// Every Pull is answered as if its enumeration context had expired.
    pub expire_enumerations: bool,
}

impl FaultPlan {
    pub fn is_clear(&self) -> bool {
        *self == FaultPlan::default()
    }

    /// Whether this connection should be dropped at accept.
    pub fn drop_connection(&self) -> bool {
        self.offline
            || (self.reset_probability > 0.0 && rand::random::<f64>() < self.reset_probability)
    }

    /// The delay to add before an answer.
    pub fn latency(&self) -> Option<Duration> {
        let (min, max) = self.latency_ms?;
        let (min, max) = (min.min(max), min.max(max));
        let ms = if max > min {
            min + rand::random::<u64>() % (max - min + 1)
        } else {
            min
        };
        Some(Duration::from_millis(ms))
    }
}

/// A device's current faults.
#[derive(Debug, Default)]
pub struct Faults(Mutex<FaultPlan>);

impl Faults {
    pub fn get(&self) -> FaultPlan {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, plan: FaultPlan) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }

    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_stays_in_range_and_plans_parse() {
        let plan = FaultPlan {
            latency_ms: Some((20, 10)),
            ..FaultPlan::default()
        };
        for _ in 0..100 {
            let d = plan.latency().unwrap();
            assert!((10..=20).contains(&(d.as_millis() as u64)));
        }
        let parsed: FaultPlan = serde_json::from_str(r#"{"offline": true}"#).unwrap();
        assert!(parsed.offline && parsed.drop_connection());
        assert!(serde_json::from_str::<FaultPlan>(r#"{"ofline": true}"#).is_err());
        assert!(FaultPlan::default().is_clear());
    }
}
