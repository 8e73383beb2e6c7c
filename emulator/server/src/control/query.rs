//! The device list's filters and the fleet's counts per state, for the
//! dashboard's fleet view. One pass over the fleet reads each built
//! device's few states under its lock (no device is copied) and each
//! unbuilt one's spec (none is built), and only the page asked for is
//! turned into JSON.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::endpoint::cira::CiraPhase;
use crate::fleet::Fleet;
use amtemu_model::device::{HostPower, Named, ProvisioningState};

/// The query of `GET /api/v1/devices`: a page and optional filters, each
/// a name as the rest of the API spells it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    /// A firmware profile name (`11.8`).
    pub firmware: Option<String>,
    /// `s0`, `s3`, `s4`, `s5` or `off`.
    pub power: Option<String>,
    /// `pre`, `in` or `post`.
    pub provisioning: Option<String>,
    /// `off`, `connecting` or `connected`.
    pub cira: Option<String>,
    /// `faulted` (any fault planned, stopped included), `clear` or
    /// `stopped`.
    pub faults: Option<String>,
    /// A part of the device's name.
    pub name: Option<String>,
    /// Add the fleet's counts per state to the answer.
    #[serde(default)]
    pub counts: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultFilter {
    Faulted,
    Clear,
    Stopped,
}

const CIRA_PHASES: [CiraPhase; 3] = [CiraPhase::Off, CiraPhase::Connecting, CiraPhase::Connected];

/// The filters, parsed.
#[derive(Debug, Default)]
pub(super) struct Filter {
    firmware: Option<String>,
    power: Option<HostPower>,
    provisioning: Option<ProvisioningState>,
    cira: Option<CiraPhase>,
    faults: Option<FaultFilter>,
    name: Option<String>,
}

fn named<T: Named>(what: &str, text: Option<&str>) -> Result<Option<T>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| {
            T::from_name(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown {what} {t:?}; known: {}",
                    T::names().join(", ")
                ))
            })
        })
        .transpose()
}

impl Filter {
    pub(super) fn parse(q: &ListQuery) -> Result<Filter, ApiError> {
        let cira =
            match q.cira.as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => Some(CIRA_PHASES.into_iter().find(|p| p.name() == t).ok_or_else(
                    || {
                        ApiError::bad_request(format!(
                            "unknown cira state {t:?}; known: off, connecting, connected"
                        ))
                    },
                )?),
            };
        let faults = match q.faults.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some("faulted") => Some(FaultFilter::Faulted),
            Some("clear") => Some(FaultFilter::Clear),
            Some("stopped") => Some(FaultFilter::Stopped),
            Some(t) => {
                return Err(ApiError::bad_request(format!(
                    "unknown faults filter {t:?}; known: faulted, clear, stopped"
                )));
            }
        };
        Ok(Filter {
            firmware: q.firmware.clone().filter(|t| !t.is_empty()),
            power: named("power state", q.power.as_deref())?,
            provisioning: named("provisioning state", q.provisioning.as_deref())?,
            cira,
            faults,
            name: q.name.clone().filter(|t| !t.is_empty()),
        })
    }

    fn is_empty(&self) -> bool {
        self.firmware.is_none()
            && self.power.is_none()
            && self.provisioning.is_none()
            && self.cira.is_none()
            && self.faults.is_none()
            && self.name.is_none()
    }
}

/// What the filters and counts look at, read once per device: a built
/// device's state under its lock, or an unbuilt device's spec (its state
/// until it is built), so reading the fleet builds nothing.
struct Facts {
    name: String,
    firmware: &'static str,
    power: HostPower,
    provisioning: ProvisioningState,
    cira: CiraPhase,
    faulted: bool,
    stopped: bool,
}

fn facts(fleet: &Fleet, index: usize) -> Option<Facts> {
    if let Some(endpoint) = fleet.built_device(index) {
        let (power, provisioning) = endpoint
            .device
            .with_state(|s| (s.power.state(), s.nvram.setup.state));
        let plan = endpoint.faults.get();
        return Some(Facts {
            name: endpoint.device.name.clone(),
            firmware: endpoint.device.firmware.name,
            power,
            provisioning,
            cira: endpoint.cira.phase(),
            faulted: !plan.is_clear(),
            stopped: plan.offline,
        });
    }
    let initial = fleet.initial(index)?;
    Some(Facts {
        firmware: initial.firmware.name,
        power: initial.power,
        provisioning: initial.provisioning,
        name: initial.name,
        cira: CiraPhase::Off,
        faulted: false,
        stopped: false,
    })
}

fn matches(filter: &Filter, f: &Facts) -> bool {
    filter.firmware.as_deref().is_none_or(|fw| f.firmware == fw)
        && filter.power.is_none_or(|p| f.power == p)
        && filter.provisioning.is_none_or(|p| f.provisioning == p)
        && filter.cira.is_none_or(|c| f.cira == c)
        && filter.faults.is_none_or(|w| match w {
            FaultFilter::Faulted => f.faulted,
            FaultFilter::Clear => !f.faulted,
            FaultFilter::Stopped => f.stopped,
        })
        && filter.name.as_deref().is_none_or(|n| f.name.contains(n))
}

/// Devices per state over the whole fleet (not only the filtered ones, so
/// the numbers at the top of the page stay put while one filters).
#[derive(Default)]
struct Counts {
    power: BTreeMap<&'static str, usize>,
    provisioning: BTreeMap<&'static str, usize>,
    cira: BTreeMap<&'static str, usize>,
    firmware: BTreeMap<&'static str, usize>,
    faulted: usize,
    stopped: usize,
}

impl Counts {
    fn add(&mut self, f: &Facts) {
        *self.power.entry(f.power.name()).or_default() += 1;
        *self.provisioning.entry(f.provisioning.name()).or_default() += 1;
        *self.cira.entry(f.cira.name()).or_default() += 1;
        *self.firmware.entry(f.firmware).or_default() += 1;
        self.faulted += usize::from(f.faulted);
        self.stopped += usize::from(f.stopped);
    }

    fn json(&self, total: usize) -> Value {
        json!({
            "power": self.power,
            "provisioning": self.provisioning,
            "cira": self.cira,
            "firmware": self.firmware,
            "faults": {"faulted": self.faulted, "clear": total - self.faulted, "stopped": self.stopped},
        })
    }
}

/// The indices of the devices on the page, how many devices match in all,
/// and the counts when asked for.
pub(super) fn select(
    all: &Fleet,
    filter: &Filter,
    offset: usize,
    limit: usize,
    counts: bool,
) -> (Vec<usize>, usize, Option<Value>) {
    // Without filters or counts nothing needs reading: the page is a slice.
    if filter.is_empty() && !counts {
        let start = offset.min(all.len());
        let end = start.saturating_add(limit).min(all.len());
        return ((start..end).collect(), all.len(), None);
    }
    let mut tally = Counts::default();
    let mut page = Vec::new();
    let mut matched = 0;
    for i in 0..all.len() {
        let Some(f) = facts(all, i) else { continue };
        if counts {
            tally.add(&f);
        }
        if matches(filter, &f) {
            if matched >= offset && page.len() < limit {
                page.push(i);
            }
            matched += 1;
        }
    }
    (page, matched, counts.then(|| tally.json(all.len())))
}
