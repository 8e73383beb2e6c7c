//! Where a fleet's devices come from: the `DeviceSpec` of device i on
//! demand, and the way back from an address a connection reached (or a
//! name the control API was given) to i.
//!
//! A fleet laid out by `amtemu fleet --count N` keeps no list of its
//! devices: device i's name, identity (derived from the name), address
//! and ports are functions of i ([`Layout`]), so a million idle devices
//! cost nothing here. Specs given one by one (a single device, tests,
//! scenarios) are kept as a list with an address map ([`Listed`]).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use amtemu_model::device::{DeviceConfig, Firmware, HostPower, Port, ProvisioningState};

use super::{DeviceSpec, FleetError, Ports, slot};

/// The devices of a fleet, by index (0-based, within this process).
#[derive(Debug)]
pub enum DeviceSource {
    Listed(Listed),
    Laid(Layout),
}

impl DeviceSource {
    /// Specs given one by one; two devices on one address are refused.
    pub fn listed(specs: Vec<DeviceSpec>) -> Result<DeviceSource, FleetError> {
        Listed::new(specs).map(DeviceSource::Listed)
    }

    pub fn len(&self) -> usize {
        match self {
            DeviceSource::Listed(l) => l.specs.len(),
            DeviceSource::Laid(l) => l.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Device `index`'s spec (None past the end).
    pub fn spec(&self, index: usize) -> Option<DeviceSpec> {
        match self {
            DeviceSource::Listed(l) => l.specs.get(index).cloned(),
            DeviceSource::Laid(l) => l.spec(index),
        }
    }

    /// Device `index`'s name, without making its whole spec where it can.
    pub fn name(&self, index: usize) -> Option<String> {
        match self {
            DeviceSource::Listed(l) => l.specs.get(index).map(|s| s.config.name.clone()),
            DeviceSource::Laid(l) => (index < l.count).then(|| l.name(index)),
        }
    }

    /// What device `index` starts as, read without making its spec where
    /// the source can (listing and counting a large fleet reads this).
    pub fn initial(&self, index: usize) -> Option<Initial> {
        match self {
            DeviceSource::Listed(l) => l.specs.get(index).map(|s| Initial {
                name: s.config.name.clone(),
                firmware: s.config.firmware,
                power: s.config.power,
                provisioning: s.config.setup.state,
                address: s.address,
            }),
            DeviceSource::Laid(l) => l.initial(index),
        }
    }

    /// The index of the device named `name`.
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        match self {
            DeviceSource::Listed(l) => l.by_name.get(name).copied(),
            DeviceSource::Laid(l) => l.index_of_name(name),
        }
    }

    /// The device a connection to `local` is for, and the kind of port.
    pub fn index_of_address(&self, local: SocketAddr) -> Option<(usize, Port)> {
        match self {
            DeviceSource::Listed(l) => l.by_address.get(&local).copied(),
            DeviceSource::Laid(l) => l.index_of_address(local),
        }
    }

    /// Each kind of port that some device of the fleet opens, with its
    /// port number, for one shared listener per number (walks every
    /// address of a port-stepped fleet, whose numbers differ per device).
    pub fn port_numbers(&self) -> Vec<(u16, Port)> {
        let mut numbers: Vec<(u16, Port)> = match self {
            DeviceSource::Listed(l) => l
                .specs
                .iter()
                .flat_map(|s| s.ports.each().filter(|(_, p)| s.config.firmware.opens(*p)))
                .collect(),
            DeviceSource::Laid(l) if l.port_step.is_none() => l
                .base
                .each()
                .filter(|(_, p)| l.firmware.iter().any(|f| f.opens(*p)))
                .collect(),
            DeviceSource::Laid(_) => self
                .listening_addresses()
                .into_iter()
                .map(|(addr, port)| (addr.port(), port))
                .collect(),
        };
        numbers.sort_by_key(|(number, _)| *number);
        numbers.dedup();
        numbers
    }

    /// Every address a device's firmware opens, in order (one listener
    /// each: for small fleets).
    pub fn listening_addresses(&self) -> Vec<(SocketAddr, Port)> {
        let mut addresses: Vec<(SocketAddr, Port)> = (0..self.len())
            .filter_map(|i| self.spec(i))
            .flat_map(|s| {
                let (address, firmware) = (s.address, s.config.firmware);
                s.ports
                    .each()
                    .filter(move |(_, p)| firmware.opens(*p))
                    .map(move |(number, p)| (SocketAddr::new(address, number), p))
                    .collect::<Vec<_>>()
            })
            .collect();
        addresses.sort_by_key(|(addr, _)| *addr);
        addresses
    }
}

/// What a device is before it is built: what the control API lists.
#[derive(Clone, Debug)]
pub struct Initial {
    pub name: String,
    pub firmware: &'static Firmware,
    pub power: HostPower,
    pub provisioning: ProvisioningState,
    pub address: IpAddr,
}

/// Specs given one by one, with their address map.
pub struct Listed {
    specs: Vec<DeviceSpec>,
    by_address: HashMap<SocketAddr, (usize, Port)>,
    by_name: HashMap<String, usize>,
}

impl fmt::Debug for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Listed({} devices)", self.specs.len())
    }
}

impl Listed {
    fn new(specs: Vec<DeviceSpec>) -> Result<Listed, FleetError> {
        let mut by_address = HashMap::new();
        let mut by_name = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            for (port, kind) in spec.ports.each() {
                let addr = SocketAddr::new(spec.address, port);
                if by_address.insert(addr, (index, kind)).is_some() {
                    return Err(FleetError::DuplicateAddress(addr));
                }
            }
            by_name.entry(spec.config.name.clone()).or_insert(index);
        }
        Ok(Listed {
            specs,
            by_address,
            by_name,
        })
    }
}

/// Makes device configurations: (index in the whole fleet, name, host
/// name, firmware, address) → configuration. Configurations differ only
/// in what it is given: the layout reads device 0's power and setup state
/// as every device's (to list devices without making their specs, and to
/// know which start in setup mode and must be built at once).
pub type MakeConfig =
    Arc<dyn Fn(usize, &str, &str, &'static Firmware, IpAddr) -> DeviceConfig + Send + Sync>;

/// A fleet laid out by [`slot`]: device i (of the whole fleet) is
/// `{prefix}-{i+1}` (zero-padded), named `{seed}/{prefix}-{i+1}`, with
/// firmware `firmware[i % len]`, at `slot(first, port_step, base, i)`.
/// This process runs `count` of them from `offset` (its shard).
pub struct Layout {
    pub(super) offset: usize,
    pub(super) count: usize,
    first: Ipv4Addr,
    port_step: Option<u16>,
    pub(super) base: Ports,
    seed: String,
    prefix: String,
    width: usize,
    pub(super) firmware: Vec<&'static Firmware>,
    make: MakeConfig,
    /// Every device's starting power and setup state (device 0's).
    start: (HostPower, ProvisioningState),
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Layout({} devices from {} at {})",
            self.count, self.offset, self.first
        )
    }
}

/// What a [`Layout`] is made from.
pub struct LayoutArgs {
    /// The device indices (of the whole fleet) this process runs.
    pub range: std::ops::Range<usize>,
    /// Digits of the host names' numbers (at least).
    pub width: usize,
    pub first: Ipv4Addr,
    pub port_step: Option<u16>,
    /// Device 0's ports; a port step raises every one, the local one too.
    pub base: Ports,
    pub seed: String,
    pub prefix: String,
    pub firmware: Vec<&'static Firmware>,
    pub make: MakeConfig,
}

impl Layout {
    /// Checks the layout once (every address in the first one's block, no
    /// port above 65535, no two devices on one address), so `spec` cannot
    /// fail later.
    pub fn new(args: LayoutArgs) -> Result<Layout, String> {
        if args.firmware.is_empty() {
            return Err("a fleet needs at least one firmware profile".into());
        }
        let mut layout = Layout {
            start: (HostPower::S0, ProvisioningState::Pre),
            offset: args.range.start,
            count: args.range.len(),
            first: args.first,
            port_step: args.port_step,
            base: args.base,
            seed: args.seed,
            prefix: args.prefix,
            width: args.width,
            firmware: args.firmware,
            make: args.make,
        };
        if layout.port_step == Some(0) && layout.count > 1 {
            return Err("a port step of 0 puts every device on one address".into());
        }
        // Addresses and ports grow with the index: the ends bound the rest.
        for end in [args.range.start, args.range.end.saturating_sub(1)] {
            slot(layout.first, layout.port_step, layout.base, end)?;
        }
        let numbers: Vec<u16> = layout.base.each().map(|(n, _)| n).collect();
        for (a, &x) in numbers.iter().enumerate() {
            for &y in &numbers[a + 1..] {
                let (low, high) = (u64::from(x.min(y)), u64::from(x.max(y)));
                let clash = match layout.port_step {
                    None => low == high,
                    // Device i's port `low` meets device j's `high` when
                    // high - low is a multiple of the step below the count.
                    Some(step) => {
                        let step = u64::from(step.max(1));
                        (high - low).is_multiple_of(step)
                            && (high - low) / step < args.range.len() as u64
                    }
                };
                if clash {
                    return Err(format!(
                        "two devices (or two ports of one) would share port {high}; choose another port step or ports"
                    ));
                }
            }
        }
        if let Some(spec) = layout.spec(0) {
            layout.start = (spec.config.power, spec.config.setup.state);
        }
        Ok(layout)
    }

    fn initial(&self, index: usize) -> Option<Initial> {
        if index >= self.count {
            return None;
        }
        let whole = self.offset + index;
        Some(Initial {
            name: self.name(index),
            firmware: self.firmware[whole % self.firmware.len()],
            power: self.start.0,
            provisioning: self.start.1,
            address: slot(self.first, self.port_step, self.base, whole).ok()?.0,
        })
    }

    /// Whether every device starts in setup mode (sending hellos).
    pub(super) fn starts_in_setup(&self) -> bool {
        self.count > 0 && self.start.1 == ProvisioningState::In
    }

    fn name(&self, index: usize) -> String {
        format!("{}/{}", self.seed, self.host(index))
    }

    fn host(&self, index: usize) -> String {
        let width = self.width;
        format!("{}-{:0width$}", self.prefix, self.offset + index + 1)
    }

    fn spec(&self, index: usize) -> Option<DeviceSpec> {
        if index >= self.count {
            return None;
        }
        let whole = self.offset + index;
        let (address, ports) = slot(self.first, self.port_step, self.base, whole).ok()?;
        let firmware = self.firmware[whole % self.firmware.len()];
        let config = (self.make)(
            whole,
            &self.name(index),
            &self.host(index),
            firmware,
            address,
        );
        Some(DeviceSpec {
            config,
            address,
            ports,
            tls_identity: None,
        })
    }

    fn index_of_name(&self, name: &str) -> Option<usize> {
        let number = name
            .strip_prefix(self.seed.as_str())?
            .strip_prefix('/')?
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('-')?;
        let whole = number.parse::<usize>().ok()?.checked_sub(1)?;
        let index = whole.checked_sub(self.offset)?;
        // Only the spelling this layout writes (zero-padded) names it.
        let width = self.width;
        (index < self.count && format!("{:0width$}", whole + 1) == number).then_some(index)
    }

    /// The inverse of [`slot`]: which device (and port kind) answers at
    /// `local`, if any.
    fn index_of_address(&self, local: SocketAddr) -> Option<(usize, Port)> {
        let IpAddr::V4(address) = local.ip() else {
            return None;
        };
        let whole = match self.port_step {
            Some(step) => {
                if address != self.first {
                    return None;
                }
                let step = usize::from(step.max(1));
                return self.base.each().find_map(|(base, kind)| {
                    let raised = usize::from(local.port()).checked_sub(usize::from(base))?;
                    if !raised.is_multiple_of(step) {
                        return None;
                    }
                    let index = (raised / step).checked_sub(self.offset)?;
                    (index < self.count).then_some((index, kind))
                });
            }
            None => {
                let kind = self
                    .base
                    .each()
                    .find(|(number, _)| *number == local.port())?
                    .1;
                (slot_of(address)?.checked_sub(slot_of(self.first)?)?, kind)
            }
        };
        let (whole, kind) = whole;
        let index = whole.checked_sub(self.offset)?;
        (index < self.count).then_some((index, kind))
    }
}

/// The running number [`slot`] gives an address: 254 per /24, skipping
/// .0 and .255 (None for those).
fn slot_of(address: Ipv4Addr) -> Option<usize> {
    let raw = u32::from(address);
    let last = raw & 0xFF;
    if last == 0 || last == 255 {
        return None;
    }
    usize::try_from(u64::from(raw >> 8) * 254 + u64::from(last - 1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(
        first: Ipv4Addr,
        port_step: Option<u16>,
        range: std::ops::Range<usize>,
    ) -> Result<Layout, String> {
        let base = Ports {
            local: Some(16998),
            ..Ports::default()
        };
        Layout::new(LayoutArgs {
            range,
            width: 5,
            first,
            port_step,
            base,
            seed: "s".into(),
            prefix: "amt".into(),
            firmware: vec![Firmware::by_name("11.8").unwrap()],
            make: Arc::new(|_, name, _, fw, _| DeviceConfig::new(name, fw)),
        })
    }

    proptest! {
        #[test]
        fn addresses_and_names_lead_back_to_their_device(
            first in 1u32..2_000_000,
            start in 0usize..50_000,
            count in 1usize..2_000,
            pick in 0usize..2_000,
        ) {
            let first = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + first);
            prop_assume!(first.octets()[3] != 0 && first.octets()[3] != 255);
            let l = layout(first, None, start..start + count).unwrap();
            let i = pick % count;
            let spec = l.spec(i).unwrap();
            for (port, kind) in spec.ports.each() {
                prop_assert_eq!(
                    l.index_of_address(SocketAddr::new(spec.address, port)),
                    Some((i, kind))
                );
            }
            prop_assert_eq!(l.index_of_name(&spec.config.name), Some(i));
            // Just outside the range: nobody.
            if let Some(before) = start.checked_sub(1) {
                let (addr, _) = slot(first, None, l.base, before).unwrap();
                prop_assert_eq!(l.index_of_address(SocketAddr::new(addr, 16992)), None);
            }
            let (after, _) = slot(first, None, l.base, start + count).unwrap();
            prop_assert_eq!(l.index_of_address(SocketAddr::new(after, 16992)), None);
        }

        #[test]
        fn port_stepped_ports_lead_back_to_their_device(
            start in 0usize..100,
            count in 1usize..100,
            pick in 0usize..100,
        ) {
            let first = Ipv4Addr::new(127, 0, 0, 1);
            let l = layout(first, Some(10), start..start + count).unwrap();
            let i = pick % count;
            let spec = l.spec(i).unwrap();
            for (port, kind) in spec.ports.each() {
                prop_assert_eq!(
                    l.index_of_address(SocketAddr::new(spec.address, port)),
                    Some((i, kind))
                );
            }
            prop_assert_eq!(
                l.index_of_address(SocketAddr::new([127, 0, 0, 2].into(), spec.ports.http)),
                None
            );
        }
    }

    #[test]
    fn layouts_that_would_put_two_devices_on_one_address_are_refused() {
        let first = Ipv4Addr::new(127, 0, 0, 1);
        // 16992 + 1 = 16993: device 1's HTTP port is device 0's HTTPS port.
        assert!(layout(first, Some(1), 0..2).is_err());
        assert!(layout(first, Some(1), 0..1).is_ok());
        assert!(layout(first, Some(10), 0..100).is_ok());
        // Past the loopback block.
        assert!(layout(Ipv4Addr::new(127, 255, 255, 1), None, 0..1000).is_err());
    }

    #[test]
    fn only_the_padded_spelling_names_a_device() {
        let l = layout(Ipv4Addr::new(127, 0, 0, 1), None, 10..20).unwrap();
        assert_eq!(l.index_of_name("s/amt-00011"), Some(0));
        assert_eq!(l.index_of_name("s/amt-11"), None);
        assert_eq!(l.index_of_name("s/amt-00010"), None);
        assert_eq!(l.index_of_name("s/amt-00021"), None);
        assert_eq!(l.index_of_name("t/amt-00011"), None);
    }
}
