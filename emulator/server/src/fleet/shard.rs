//! Shards: one of N processes runs a contiguous slice of a fleet.
//!
//! Shard K of N runs the devices with indices `[⌊K·T/N⌋, ⌊(K+1)·T/N⌋)` of a
//! fleet of T. Every device keeps the index, and so the name, identity,
//! address and timeline events, it has in the whole fleet; the shards are
//! disjoint and together are the fleet. Contiguous slices (rather than
//! every N-th device) give each shard one address range, so a router sends
//! one block per host; with T a multiple of 254·N and the first address at
//! .1 of a /24, each shard's addresses are whole /24s.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::str::FromStr;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("a fleet has at least one shard (N ≥ 1)".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count}: K counts from 0 and must be below N"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The whole fleet as one shard.
    pub fn whole() -> Shard {
        Shard { index: 0, count: 1 }
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The device indices this shard runs in a fleet of `total`.
    pub fn range(self, total: usize) -> Range<usize> {
        let at = |k: u32| (total as u128 * u128::from(k) / u128::from(self.count)) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `K/N`. K may also be a name ending in `-K`, such as a StatefulSet pod's
/// name (`amtemu-2/4` is shard 2 of 4), so a pod can pass its own name.
impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("{text:?} is not K/N (e.g. 0/4, or amtemu-0/4 from a pod name)");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let ordinal = match index.rsplit_once('-') {
            Some((name, ordinal)) if !name.is_empty() => ordinal,
            Some(_) => return Err(usage()),
            None => index,
        };
        let index: u32 = ordinal.trim().parse().map_err(|_| usage())?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        Shard::new(index, count)
    }
}

/// The address blocks a fleet may be laid out in: loopback (the default,
/// one machine), and private or benchmarking blocks for fleets whose
/// ranges are routed to their host (namespaces, pods; see README "Beyond
/// one machine"). A fleet stays inside the block its first address is in.
const BLOCKS: [(Ipv4Addr, u8); 5] = [
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // RFC 2544: benchmarking networks, never routed on the Internet.
    (Ipv4Addr::new(198, 18, 0, 0), 15),
];

/// The block (network, prefix length) `address` is in, if a fleet may use it.
pub fn address_block(address: Ipv4Addr) -> Option<(Ipv4Addr, u8)> {
    BLOCKS.into_iter().find(|&(network, prefix)| {
        let mask = u32::MAX << (32 - prefix);
        u32::from(address) & mask == u32::from(network)
    })
}

/// The blocks, for messages.
pub fn address_blocks() -> String {
    BLOCKS
        .iter()
        .map(|(n, p)| format!("{n}/{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_k_of_n_and_pod_names() {
        assert_eq!("1/4".parse(), Ok(Shard::new(1, 4).unwrap()));
        assert_eq!("amtemu-3/4".parse(), Ok(Shard::new(3, 4).unwrap()));
        assert_eq!("my-fleet-0/1".parse(), Ok(Shard::whole()));
        for bad in ["4/4", "1/0", "1", "a/4", "-1/4", "1/4/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn blocks() {
        assert!(address_block(Ipv4Addr::new(127, 1, 0, 1)).is_some());
        assert_eq!(
            address_block(Ipv4Addr::new(198, 19, 3, 4)),
            Some((Ipv4Addr::new(198, 18, 0, 0), 15))
        );
        assert!(address_block(Ipv4Addr::new(8, 8, 8, 8)).is_none());
        assert!(address_block(Ipv4Addr::new(198, 20, 0, 1)).is_none());
    }

    proptest! {
        #[test]
        fn shards_are_disjoint_contiguous_and_cover_the_fleet(total in 0usize..100_000, n in 1u32..64) {
            let mut next = 0;
            for k in 0..n {
                let r = Shard::new(k, n).unwrap().range(total);
                prop_assert_eq!(r.start, next);
                prop_assert!(r.end >= r.start);
                // Balanced: sizes differ by at most one.
                prop_assert!(r.len() <= total / n as usize + 1);
                next = r.end;
            }
            prop_assert_eq!(next, total);
        }
    }
}
