//! The management engine's own power policy ("power package"): in which
//! host power states the ME stays powered and reachable on the network.
//! Outside them the device does not answer at all.

use serde::{Deserialize, Serialize};

use super::Device;
use super::audit::EventId;
use super::power::HostPower;
use super::storage::audit_blocks_in;

/// The policies a desktop platform on AC power offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MePowerPolicy {
    /// On only while the host runs.
    S0Only,
    /// On while the host runs or sleeps (suspend to RAM).
    S0AndSleep,
    /// On in every host state while AC is present (S0, S3, S4-5); the
    /// emulator's behaviour before policies existed, hence the default.
    #[default]
    AlwaysOn,
}

/// One selectable package as AMT_SystemPowerScheme lists it.
pub struct Scheme {
    pub policy: MePowerPolicy,
    pub instance_id: &'static str,
    /// MeshCommander shows the text after the (one) colon.
    pub description: &'static str,
    /// Base64 of the package's 16-byte GUID. Firmware GUIDs are
    /// platform-specific and none was captured; these are the emulator's own.
    pub guid: &'static str,
}

pub const SCHEMES: &[Scheme] = &[
    Scheme {
        policy: MePowerPolicy::S0Only,
        instance_id: "Intel(r) AMT:System Power Scheme 1",
        description: "Intel(r) AMT:Desktop ON in S0",
        guid: "4VIaHrlMnUu56j4tIQtsbQ==",
    },
    Scheme {
        policy: MePowerPolicy::S0AndSleep,
        instance_id: "Intel(r) AMT:System Power Scheme 2",
        description: "Intel(r) AMT:Desktop ON in S0, S3",
        guid: "lrAhRDFYgkKvyN3f2u0Y5Q==",
    },
    Scheme {
        policy: MePowerPolicy::AlwaysOn,
        instance_id: "Intel(r) AMT:System Power Scheme 3",
        description: "Intel(r) AMT:Desktop ON in S0, S3, S4-5",
        guid: "DcWGGDUHzU6bAOaTdkQaHg==",
    },
];

impl MePowerPolicy {
    /// Whether the ME is powered while the host is in `host`. Mechanical
    /// off (G3) is modelled with AC present, as S5 (see [`HostPower::Off`]).
    pub fn keeps_on(self, host: HostPower) -> bool {
        match self {
            MePowerPolicy::S0Only => host == HostPower::S0,
            MePowerPolicy::S0AndSleep => matches!(host, HostPower::S0 | HostPower::S3),
            MePowerPolicy::AlwaysOn => true,
        }
    }

    pub fn scheme(self) -> &'static Scheme {
        SCHEMES
            .iter()
            .find(|s| s.policy == self)
            .unwrap_or(&SCHEMES[SCHEMES.len() - 1])
    }

    pub fn by_instance_id(id: &str) -> Option<MePowerPolicy> {
        SCHEMES
            .iter()
            .find(|s| s.instance_id == id)
            .map(|s| s.policy)
    }
}

/// Why the power policy was not changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowerPolicyRefusal {
    #[error("the audit log cannot record the change")]
    AuditFail,
}

impl Device {
    /// The policy in force.
    pub fn power_policy(&self) -> MePowerPolicy {
        self.with_state(|s| s.nvram.power_policy)
    }

    /// Makes `policy` the one in force, at once; true when the ME stays
    /// reachable in the host's current state. The change is audited: it is
    /// refused when the audit log could not take the record (checked under
    /// the same lock as the change; the caller records the event).
    pub fn set_power_policy(&self, policy: MePowerPolicy) -> Result<bool, PowerPolicyRefusal> {
        self.with_state(|s| {
            if audit_blocks_in(self, s, EventId::POWER_PACKAGE_MODIFIED) {
                return Err(PowerPolicyRefusal::AuditFail);
            }
            s.nvram.power_policy = policy;
            Ok(policy.keeps_on(s.power.state()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Named;

    #[test]
    fn each_policy_keeps_the_me_on_in_its_states() {
        use HostPower::*;
        let on = |p: MePowerPolicy| {
            [S0, S3, S4, S5, Off]
                .into_iter()
                .filter(|h| p.keeps_on(*h))
                .collect::<Vec<_>>()
        };
        assert_eq!(on(MePowerPolicy::S0Only), vec![S0]);
        assert_eq!(on(MePowerPolicy::S0AndSleep), vec![S0, S3]);
        assert_eq!(on(MePowerPolicy::AlwaysOn), vec![S0, S3, S4, S5, Off]);
    }

    #[test]
    fn setting_a_policy_is_refused_when_the_audit_log_cannot_take_it() {
        use crate::device::audit::{CAPACITY, PolicyType, StoragePolicy};
        let d = crate::testing::device("11.8");
        assert_eq!(d.set_power_policy(MePowerPolicy::S0AndSleep), Ok(true));
        d.force_power(HostPower::S5);
        assert_eq!(d.set_power_policy(MePowerPolicy::S0AndSleep), Ok(false));
        d.with_state(|s| {
            let log = &mut s.nvram.audit_log;
            log.storage_policy = StoragePolicy::NoRollover;
            log.set_policy(EventId::POWER_PACKAGE_MODIFIED, Some(PolicyType::Critical))
                .unwrap();
        });
        for _ in 0..CAPACITY {
            d.audit(EventId::POWER_PACKAGE_MODIFIED);
        }
        assert_eq!(
            d.set_power_policy(MePowerPolicy::S0Only),
            Err(PowerPolicyRefusal::AuditFail)
        );
        assert_eq!(d.power_policy(), MePowerPolicy::S0AndSleep);
    }

    #[test]
    fn names_and_schemes_round_trip() {
        for name in MePowerPolicy::names() {
            let p = MePowerPolicy::from_name(name).unwrap();
            assert_eq!(p.name(), name);
            assert_eq!(
                MePowerPolicy::by_instance_id(p.scheme().instance_id),
                Some(p)
            );
        }
        assert_eq!(MePowerPolicy::from_name("sometimes"), None);
        assert_eq!(MePowerPolicy::by_instance_id("nope"), None);
        assert_eq!(MePowerPolicy::default(), MePowerPolicy::AlwaysOn);
    }
}
