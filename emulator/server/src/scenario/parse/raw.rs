//! Raw structures: what serde reads. Values that need checking beyond their
//! type are kept as plain strings and checked by the builders, where the key
//! path is known.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

use crate::faults::FaultPlan;
use amtemu_model::device::firmware::TimingMode;
use amtemu_model::device::{ByName, ControlMode, HostPower, MePowerPolicy, ProvisioningState};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) fleet: RawFleet,
    #[serde(default)]
    pub(super) groups: Vec<RawGroup>,
    #[serde(default)]
    pub(super) timeline: Vec<RawEvent>,
    #[serde(default)]
    pub(super) expect: Vec<RawExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFleet {
    pub(super) seed: Option<String>,
    pub(super) first_address: Option<String>,
    pub(super) port_step: Option<u16>,
    pub(super) http_port: Option<u16>,
    pub(super) https_port: Option<u16>,
    pub(super) domain: Option<String>,
    pub(super) duration: Option<String>,
    /// Multiplies the hello schedule (see `--hello-interval-scale`).
    pub(super) hello_interval_scale: Option<f64>,
    /// The DNS server (IP or IP:PORT) devices ask for ProvisionServer.*.
    pub(super) dns: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) name: String,
    pub(super) count: u32,
    pub(super) firmware: Option<toml::Value>,
    pub(super) power: Option<ByName<HostPower>>,
    pub(super) provisioning: Option<ProvisioningState>,
    pub(super) mode: Option<ByName<ControlMode>>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) host_prefix: Option<String>,
    pub(super) boot_ms: Option<u64>,
    pub(super) shutdown_ms: Option<u64>,
    pub(super) reset_ms: Option<u64>,
    pub(super) power_policy: Option<ByName<MePowerPolicy>>,
    /// `fast` (default) or `firmware`: the group's devices answer at their
    /// firmware's pace (see `--timing`).
    pub(super) timing: Option<ByName<TimingMode>>,
    pub(super) faults: Option<GroupFaults>,
    pub(super) console: Option<toml::Value>,
    /// MEBx provisioning settings.
    pub(super) provisioning_server: Option<String>,
    pub(super) provisioning_port: Option<u16>,
    pub(super) mebx_domain: Option<String>,
    pub(super) dhcp_domain: Option<String>,
    pub(super) pki_dns_suffix: Option<String>,
    pub(super) pid: Option<String>,
    pub(super) pps: Option<String>,
    /// Extra active trusted root hashes (hex SHA-1/256/384).
    pub(super) trusted_hashes: Option<Vec<String>>,
    /// A QEMU virtual machine as each device's host (a few devices only).
    pub(super) qemu: Option<RawQemu>,
}

/// A group's `qemu` table: the `--qemu-*` flags of `serve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQemu {
    pub(super) binary: Option<std::path::PathBuf>,
    pub(super) kernel: Option<std::path::PathBuf>,
    pub(super) initrd: Option<std::path::PathBuf>,
    pub(super) append: Option<String>,
    pub(super) disk: Option<std::path::PathBuf>,
    pub(super) cdrom: Option<std::path::PathBuf>,
    pub(super) memory_mb: Option<u32>,
    pub(super) accel: Option<String>,
    pub(super) shutdown_deadline_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub(super) at: String,
    pub(super) action: String,
    pub(super) group: Option<String>,
    pub(super) device: Option<String>,
    pub(super) share: Option<f64>,
    pub(super) count: Option<u32>,
    pub(super) plan: Option<FaultPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub(super) name: Option<String>,
    pub(super) at: Option<String>,
    pub(super) group: Option<String>,
    pub(super) device: Option<String>,
    pub(super) share: Option<f64>,
    pub(super) power: Option<String>,
    pub(super) provisioned: Option<bool>,
    pub(super) responds: Option<bool>,
    #[serde(rename = "saw-power-on", alias = "saw_power_on")]
    pub(super) saw_power_on: Option<bool>,
    pub(super) hellos_delivered: Option<u32>,
}

/// A group's `faults` table: a [`FaultPlan`] and, beside its keys, an
/// optional `share` of the group it applies to. The plan's own keys are read
/// straight from the document, so their errors keep their spans.
#[derive(Debug)]
pub(super) struct GroupFaults {
    pub(super) plan: FaultPlan,
    pub(super) share: Option<f64>,
}

impl<'de> Deserialize<'de> for GroupFaults {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = GroupFaults;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of faults")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<GroupFaults, M::Error> {
                let mut share = None;
                let plan =
                    FaultPlan::deserialize(de::value::MapAccessDeserializer::new(WithoutShare {
                        inner: map,
                        share: &mut share,
                    }))?;
                Ok(GroupFaults { plan, share })
            }
        }
        deserializer.deserialize_map(TableVisitor)
    }
}

/// A map that takes the `share` key out for itself.
struct WithoutShare<'a, M> {
    inner: M,
    share: &'a mut Option<f64>,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for WithoutShare<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        while let Some(key) = self.inner.next_key::<String>()? {
            if key == "share" {
                *self.share = Some(self.inner.next_value()?);
                continue;
            }
            let key: de::value::StringDeserializer<M::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}
