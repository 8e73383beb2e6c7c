//! System Defense ("circuit breaker"): packet filters, policies that group
//! them, and which policy each network interface enforces
//! (AMT_Hdr8021Filter, AMT_IPHeadersFilter, AMT_SystemDefensePolicy,
//! AMT_NetworkPortSystemDefensePolicy). Stored configuration: no packet
//! passes through the emulator's host, so the counters stay at zero.
//!
//! An agent presence watchdog's action may switch a policy on
//! ([`Defense::triggered`]); it then overrides the interfaces' own.
//! The counters of the active policies live in [`statistics`]; the
//! heuristic packet filter's settings in [`heuristics`].

use serde::{Deserialize, Serialize};

use super::{ControlMode, Device, Feature};

pub mod heuristics;
pub mod statistics;
use heuristics::HeuristicSettings;
use statistics::PortStatistics;

/// Filters the table holds. Intel does not document the figure for every
/// release; 32 is an inference that keeps the state small.
pub const MAX_FILTERS: usize = 32;
/// Policies the table holds (inferred like [`MAX_FILTERS`]).
pub const MAX_POLICIES: usize = 16;
/// The longest filter or policy name accepted (inferred).
pub const MAX_NAME: usize = 32;
/// The interfaces a policy can be bound to: 0 wired, 1 wireless
/// (`Intel(r) AMT Ethernet Port N`).
pub const INTERFACES: u8 = 2;

/// What a filter does with the packets it matches (FilterProfile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterProfile {
    /// 0: pass and count.
    PassCount,
    /// 1: drop and count.
    DropCount,
    /// 2: rate limit (FilterProfileData packets a second).
    RateLimit,
    /// 3: pass.
    Pass,
    /// 4: drop.
    Drop,
}

impl FilterProfile {
    pub fn from_code(code: i64) -> Option<FilterProfile> {
        Some(match code {
            0 => FilterProfile::PassCount,
            1 => FilterProfile::DropCount,
            2 => FilterProfile::RateLimit,
            3 => FilterProfile::Pass,
            4 => FilterProfile::Drop,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            FilterProfile::PassCount => 0,
            FilterProfile::DropCount => 1,
            FilterProfile::RateLimit => 2,
            FilterProfile::Pass => 3,
            FilterProfile::Drop => 4,
        }
    }
}

/// The header fields an IP filter matches. Addresses and masks are kept
/// as the octets the client wrote (4 for IPv4, 16 for IPv6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpMatch {
    /// 4 or 6.
    pub version: u8,
    pub protocol: Option<u8>,
    pub src_address: Option<Vec<u8>>,
    pub src_mask: Option<Vec<u8>>,
    pub src_address_end: Option<Vec<u8>>,
    pub dest_address: Option<Vec<u8>>,
    pub dest_mask: Option<Vec<u8>>,
    pub dest_address_end: Option<Vec<u8>>,
    pub src_ports: Option<(u16, u16)>,
    pub dest_ports: Option<(u16, u16)>,
    pub tcp_flags_on: Option<u8>,
    pub tcp_flags_off: Option<u8>,
}

/// Which packets a filter looks at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterMatch {
    /// AMT_Hdr8021Filter: an Ethernet type (0x0800 IP, 0x0806 ARP, ...).
    Ethernet { protocol: u16 },
    /// AMT_IPHeadersFilter.
    Ip(IpMatch),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The creation handle policies list the filter by.
    pub handle: u32,
    /// The name a console gave it (the instance's Name key).
    pub name: String,
    /// 0 transmit, 1 receive (FilterDirection).
    pub direction: u8,
    pub profile: FilterProfile,
    /// Packets a second, for [`FilterProfile::RateLimit`].
    pub profile_data: Option<u32>,
    pub event_on_match: bool,
    pub matches: FilterMatch,
}

/// What a policy does with packets no filter matched, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultAction {
    pub drop: bool,
    pub match_event: bool,
    pub count: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// InstanceID `Intel(r) AMT:SystemDefensePolicy N`.
    pub handle: u32,
    pub name: String,
    pub precedence: u32,
    /// AntiSpoofingSupport 0-4.
    pub anti_spoofing: u8,
    /// Creation handles of its filters, in the order given.
    pub filters: Vec<u32>,
    pub tx: DefaultAction,
    pub rx: DefaultAction,
}

/// A policy switched on by an agent presence watchdog's action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggered {
    pub policy: u32,
    /// The watchdog (DeviceID) whose transition switched it on.
    pub by_watchdog: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Defense {
    pub filters: Vec<Filter>,
    pub policies: Vec<Policy>,
    /// (interface, policy handle): the policy each interface enforces.
    pub bound: Vec<(u8, u32)>,
    pub triggered: Option<Triggered>,
    /// AMT_SystemDefensePolicy.SetTimeout: seconds a policy switched on
    /// by a heuristic stays on (stored; nothing here triggers one).
    pub timeout: u32,
    /// Statistics of each interface's active policy; absent in older
    /// state files.
    #[serde(default)]
    pub stats: Vec<PortStatistics>,
    /// Heuristic packet filter settings; None while at their defaults.
    #[serde(default)]
    pub heuristics: Option<HeuristicSettings>,
    /// (interface, policy handle): what a heuristic detection switches on.
    #[serde(default)]
    pub heuristic_policies: Vec<(u8, u32)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefenseRefusal {
    /// The firmware lacks System Defense, or the device is in client
    /// control mode, where Intel's reference says it is unavailable.
    NotPermitted,
    BadName,
    Duplicate,
    TooMany,
    /// A filter handle a policy lists does not exist.
    NoSuchFilter,
    NoSuchPolicy,
    /// A filter still listed by a policy, or a policy bound to an
    /// interface or named by a watchdog action.
    InUse,
    BadInterface,
    /// A setting outside the range Intel's reference gives.
    OutOfRange,
}

impl std::fmt::Display for DefenseRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DefenseRefusal::NotPermitted => "system defense is not available",
            DefenseRefusal::BadName => "the name is empty, too long or not ASCII",
            DefenseRefusal::Duplicate => "one of that name exists",
            DefenseRefusal::TooMany => "the table is full",
            DefenseRefusal::NoSuchFilter => "no filter has that handle",
            DefenseRefusal::NoSuchPolicy => "no policy has that handle",
            DefenseRefusal::InUse => "it is in use",
            DefenseRefusal::BadInterface => "no such network interface",
            DefenseRefusal::OutOfRange => "a value is out of range",
        })
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// The lowest handle not in use.
fn free_handle(used: impl Iterator<Item = u32> + Clone) -> u32 {
    (1..).find(|n| used.clone().all(|u| u != *n)).unwrap_or(0)
}

impl Defense {
    /// The policy an interface enforces now: one a watchdog switched on,
    /// else its own.
    pub fn active(&self, interface: u8) -> Option<u32> {
        self.triggered.as_ref().map(|t| t.policy).or_else(|| {
            self.bound
                .iter()
                .find(|(i, _)| *i == interface)
                .map(|(_, p)| *p)
        })
    }

    pub fn policy(&self, handle: u32) -> Option<&Policy> {
        self.policies.iter().find(|p| p.handle == handle)
    }
}

impl Device {
    pub fn defense(&self) -> Defense {
        self.with_state(|s| s.nvram.defense.as_deref().cloned().unwrap_or_default())
    }

    /// Runs a change of the System Defense tables under one lock, after
    /// the checks every change shares.
    fn change_defense<R>(
        &self,
        f: impl FnOnce(&mut Defense) -> Result<R, DefenseRefusal>,
    ) -> Result<R, DefenseRefusal> {
        if !self.firmware.has(Feature::SystemDefense) {
            return Err(DefenseRefusal::NotPermitted);
        }
        self.with_state(|s| {
            if s.nvram.setup.mode == ControlMode::Client {
                return Err(DefenseRefusal::NotPermitted);
            }
            // Work on a copy so a refusal changes nothing.
            let mut defense = s.nvram.defense.as_deref().cloned().unwrap_or_default();
            let r = f(&mut defense)?;
            defense.note_activations(super::unix_now(s.nvram.clock_offset));
            s.nvram.defense = (defense != Defense::default()).then(|| Box::new(defense));
            Ok(r)
        })
    }

    /// Adds a filter; returns its creation handle.
    pub fn add_filter(&self, mut filter: Filter) -> Result<u32, DefenseRefusal> {
        if !valid_name(&filter.name) {
            return Err(DefenseRefusal::BadName);
        }
        self.change_defense(|d| {
            if d.filters.iter().any(|f| f.name == filter.name) {
                return Err(DefenseRefusal::Duplicate);
            }
            if d.filters.len() >= MAX_FILTERS {
                return Err(DefenseRefusal::TooMany);
            }
            filter.handle = free_handle(d.filters.iter().map(|f| f.handle));
            let handle = filter.handle;
            d.filters.push(filter);
            Ok(handle)
        })
    }

    pub fn delete_filter(&self, name: &str) -> Result<(), DefenseRefusal> {
        self.change_defense(|d| {
            let at = d
                .filters
                .iter()
                .position(|f| f.name == name)
                .ok_or(DefenseRefusal::NoSuchFilter)?;
            let handle = d.filters[at].handle;
            if d.policies.iter().any(|p| p.filters.contains(&handle)) {
                return Err(DefenseRefusal::InUse);
            }
            d.filters.remove(at);
            Ok(())
        })
    }

    /// Adds a policy (its `handle` is chosen here); returns the handle.
    pub fn add_policy(&self, mut policy: Policy) -> Result<u32, DefenseRefusal> {
        if !valid_name(&policy.name) {
            return Err(DefenseRefusal::BadName);
        }
        self.change_defense(|d| {
            check_policy(d, &policy, None)?;
            if d.policies.len() >= MAX_POLICIES {
                return Err(DefenseRefusal::TooMany);
            }
            policy.handle = free_handle(d.policies.iter().map(|p| p.handle));
            let handle = policy.handle;
            d.policies.push(policy);
            Ok(handle)
        })
    }

    /// Replaces a policy's settings (Put); the handle stays.
    pub fn put_policy(&self, policy: Policy) -> Result<(), DefenseRefusal> {
        if !valid_name(&policy.name) {
            return Err(DefenseRefusal::BadName);
        }
        self.change_defense(|d| {
            check_policy(d, &policy, Some(policy.handle))?;
            let slot = d
                .policies
                .iter_mut()
                .find(|p| p.handle == policy.handle)
                .ok_or(DefenseRefusal::NoSuchPolicy)?;
            *slot = policy;
            Ok(())
        })
    }

    /// Deletes a policy that no interface enforces and no watchdog action
    /// names.
    pub fn delete_policy(&self, handle: u32) -> Result<(), DefenseRefusal> {
        let named_by_action = self.with_state(|s| {
            s.nvram
                .watchdogs
                .iter()
                .flat_map(|w| &w.actions)
                .any(|a| a.policy == Some(handle))
        });
        self.change_defense(|d| {
            let at = d
                .policies
                .iter()
                .position(|p| p.handle == handle)
                .ok_or(DefenseRefusal::NoSuchPolicy)?;
            if named_by_action
                || d.bound.iter().any(|(_, p)| *p == handle)
                || d.heuristic_policies.iter().any(|(_, p)| *p == handle)
                || d.triggered.as_ref().is_some_and(|t| t.policy == handle)
            {
                return Err(DefenseRefusal::InUse);
            }
            d.policies.remove(at);
            Ok(())
        })
    }

    /// Binds a policy to an interface (creating the
    /// AMT_NetworkPortSystemDefensePolicy association), or unbinds it
    /// with `None`. One policy per interface: binding replaces.
    pub fn bind_policy(&self, interface: u8, policy: Option<u32>) -> Result<(), DefenseRefusal> {
        if interface >= INTERFACES {
            return Err(DefenseRefusal::BadInterface);
        }
        self.change_defense(|d| {
            match policy {
                Some(handle) => {
                    d.policy(handle).ok_or(DefenseRefusal::NoSuchPolicy)?;
                    d.bound.retain(|(i, _)| *i != interface);
                    d.bound.push((interface, handle));
                }
                None => {
                    let before = d.bound.len();
                    d.bound.retain(|(i, _)| *i != interface);
                    if d.bound.len() == before {
                        return Err(DefenseRefusal::NoSuchPolicy);
                    }
                }
            }
            Ok(())
        })
    }

    /// AMT_SystemDefensePolicy.UpdateStatistics: one read of the
    /// statistics of the policy `interface` enforces.
    pub fn update_filter_statistics(
        &self,
        interface: u8,
        reset: bool,
    ) -> Result<(), DefenseRefusal> {
        if interface >= INTERFACES {
            return Err(DefenseRefusal::BadInterface);
        }
        let clock = self.clock();
        self.change_defense(|d| {
            d.read_statistics(interface, reset, clock);
            Ok(())
        })
    }

    /// Put of AMT_HeuristicPacketFilterSettings.
    pub fn put_heuristics(&self, settings: HeuristicSettings) -> Result<(), DefenseRefusal> {
        self.change_defense(|d| d.put_heuristics(settings))
    }

    /// Creates (`Some`) or deletes (`None`) the
    /// AMT_HeuristicPacketFilterInterfacePolicy of `interface`.
    pub fn set_heuristic_policy(
        &self,
        interface: u8,
        policy: Option<u32>,
    ) -> Result<(), DefenseRefusal> {
        if interface >= INTERFACES {
            return Err(DefenseRefusal::BadInterface);
        }
        self.change_defense(|d| d.set_heuristic_policy(interface, policy))
    }

    pub fn set_defense_timeout(&self, seconds: u32) -> Result<(), DefenseRefusal> {
        self.change_defense(|d| {
            d.timeout = seconds;
            Ok(())
        })
    }
}

/// A policy's name is unique and its filters exist.
fn check_policy(
    d: &Defense,
    policy: &Policy,
    replacing: Option<u32>,
) -> Result<(), DefenseRefusal> {
    if d.policies
        .iter()
        .any(|p| p.name == policy.name && Some(p.handle) != replacing)
    {
        return Err(DefenseRefusal::Duplicate);
    }
    if policy.anti_spoofing > 4 {
        return Err(DefenseRefusal::BadName);
    }
    for handle in &policy.filters {
        if !d.filters.iter().any(|f| f.handle == *handle) {
            return Err(DefenseRefusal::NoSuchFilter);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    fn filter(name: &str) -> Filter {
        Filter {
            handle: 0,
            name: name.into(),
            direction: 1,
            profile: FilterProfile::Drop,
            profile_data: None,
            event_on_match: false,
            matches: FilterMatch::Ethernet { protocol: 0x0806 },
        }
    }

    fn policy(name: &str, filters: Vec<u32>) -> Policy {
        Policy {
            handle: 0,
            name: name.into(),
            precedence: 0,
            anti_spoofing: 0,
            filters,
            tx: DefaultAction::default(),
            rx: DefaultAction::default(),
        }
    }

    #[test]
    fn policies_bind_to_interfaces_and_refusals_change_nothing() {
        let d = device("11.8");
        let arp = d.add_filter(filter("arp")).unwrap();
        assert_eq!(d.add_filter(filter("arp")), Err(DefenseRefusal::Duplicate));
        assert_eq!(d.add_filter(filter("")), Err(DefenseRefusal::BadName));
        let isolate = d.add_policy(policy("isolate", vec![arp])).unwrap();
        assert_eq!(
            d.add_policy(policy("other", vec![99])),
            Err(DefenseRefusal::NoSuchFilter)
        );
        let before = d.defense();
        assert_eq!(d.delete_filter("arp"), Err(DefenseRefusal::InUse));
        assert_eq!(
            d.bind_policy(2, Some(isolate)),
            Err(DefenseRefusal::BadInterface)
        );
        assert_eq!(
            d.bind_policy(0, Some(42)),
            Err(DefenseRefusal::NoSuchPolicy)
        );
        assert_eq!(d.defense(), before);

        d.bind_policy(0, Some(isolate)).unwrap();
        assert_eq!(d.defense().active(0), Some(isolate));
        assert_eq!(d.defense().active(1), None);
        assert_eq!(d.delete_policy(isolate), Err(DefenseRefusal::InUse));
        d.bind_policy(0, None).unwrap();
        d.delete_policy(isolate).unwrap();
        d.delete_filter("arp").unwrap();
        assert_eq!(d.defense(), Defense::default());
    }

    #[test]
    fn unprovisioning_empties_the_tables() {
        let d = device("11.8");
        let arp = d.add_filter(filter("arp")).unwrap();
        let p = d.add_policy(policy("isolate", vec![arp])).unwrap();
        d.bind_policy(1, Some(p)).unwrap();
        d.unprovision(crate::device::Unprovisioning::Full);
        assert_eq!(d.defense(), Defense::default());
    }

    #[test]
    fn statistics_start_with_each_activation_and_count_reads() {
        let d = device("11.8");
        let arp = d.add_filter(filter("arp")).unwrap();
        let a = d.add_policy(policy("a", vec![arp])).unwrap();
        let b = d.add_policy(policy("b", vec![arp])).unwrap();
        assert_eq!(
            d.update_filter_statistics(2, false),
            Err(DefenseRefusal::BadInterface)
        );
        d.bind_policy(1, Some(a)).unwrap();
        let first = d.defense().statistics(1).cloned().unwrap();
        assert_eq!((first.policy, first.reads, first.shown.0), (a, 0, 0));
        assert_eq!(first.last_reset, first.activated);
        assert!(d.defense().statistics(0).is_none());

        d.update_filter_statistics(1, false).unwrap();
        d.update_filter_statistics(1, true).unwrap();
        let s = d.defense().statistics(1).cloned().unwrap();
        assert_eq!((s.reads, s.shown.0), (0, 2));
        // Reading an interface without a policy changes nothing.
        let before = d.defense();
        d.update_filter_statistics(0, true).unwrap();
        assert_eq!(d.defense(), before);

        // Another policy on the interface starts from zero.
        d.update_filter_statistics(1, false).unwrap();
        d.bind_policy(1, Some(b)).unwrap();
        let s = d.defense().statistics(1).cloned().unwrap();
        assert_eq!((s.policy, s.reads, s.shown.0), (b, 0, 0));
        d.bind_policy(1, None).unwrap();
        assert!(d.defense().stats.is_empty());
    }

    #[test]
    fn heuristic_settings_refuse_clear_times_out_of_range() {
        use heuristics::HeuristicSettings;
        let d = device("3.2.1");
        let good = HeuristicSettings {
            enabled: true,
            fast_clear_ms: Some(10),
            slow_clear_ms: Some(50_000),
            ..HeuristicSettings::default()
        };
        d.put_heuristics(good.clone()).unwrap();
        assert_eq!(d.defense().heuristics.as_ref(), Some(&good));
        for bad in [
            HeuristicSettings {
                fast_clear_ms: Some(1001),
                ..good.clone()
            },
            HeuristicSettings {
                slow_clear_ms: Some(999),
                ..good.clone()
            },
        ] {
            assert_eq!(d.put_heuristics(bad), Err(DefenseRefusal::OutOfRange));
        }
        assert_eq!(d.defense().heuristics.as_ref(), Some(&good));
        // Back at the defaults, nothing is kept.
        d.put_heuristics(HeuristicSettings::default()).unwrap();
        assert_eq!(d.defense(), Defense::default());
    }

    #[test]
    fn client_control_mode_has_no_system_defense() {
        let d = device("11.8");
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        assert_eq!(
            d.add_filter(filter("arp")),
            Err(DefenseRefusal::NotPermitted)
        );
        assert_eq!(
            d.update_filter_statistics(0, false),
            Err(DefenseRefusal::NotPermitted)
        );
    }
}
