//! Open enumerations of one device: what Enumerate snapshotted and Pull hands
//! out page by page.

use std::collections::VecDeque;

use amtemu_wire::wsman::request::EnumerationMode;
use amtemu_wire::wsman::value::{Epr, Instance};

/// Firmware keeps a small table of open enumerations; a client that never
/// pulls must not make the table grow, so the oldest is dropped.
pub const MAX_OPEN: usize = 32;

/// One snapshotted item: the instance, its namespace and its reference.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub instance: Instance,
    pub namespace: String,
    pub epr: Epr,
}

#[derive(Debug)]
pub struct Open {
    pub id: u32,
    pub mode: EnumerationMode,
    pub common: bool,
    pub items: VecDeque<Snapshot>,
}

#[derive(Debug, Default)]
pub struct Enumerations {
    next_id: u32,
    open: VecDeque<Open>,
}

impl Enumerations {
    /// Opens an enumeration and returns its id.
    pub fn open(&mut self, mode: EnumerationMode, common: bool, items: Vec<Snapshot>) -> u32 {
        // AMT's counter starts well above zero on a running device; any
        // starting point is fine as long as it only grows.
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        if self.open.len() == MAX_OPEN {
            self.open.pop_front();
        }
        self.open.push_back(Open {
            id,
            mode,
            common,
            items: items.into(),
        });
        id
    }

    /// Takes up to `max` items; the enumeration stays open while items remain.
    /// Returns `None` for an unknown id.
    pub fn pull(
        &mut self,
        id: u32,
        max: usize,
    ) -> Option<(Vec<Snapshot>, bool, EnumerationMode, bool)> {
        let index = self.open.iter().position(|o| o.id == id)?;
        let open = &mut self.open[index];
        let n = max.min(open.items.len());
        let items: Vec<Snapshot> = open.items.drain(..n).collect();
        let more = !open.items.is_empty();
        let (mode, common) = (open.mode, open.common);
        if !more {
            self.open.remove(index);
        }
        Some((items, more, mode, common))
    }

    /// Closes every open enumeration; ids keep growing.
    pub fn clear(&mut self) {
        self.open.clear();
    }

    pub fn release(&mut self, id: u32) -> bool {
        match self.open.iter().position(|o| o.id == id) {
            Some(i) => {
                self.open.remove(i);
                true
            }
            None => false,
        }
    }
}

/// Parses AMT's context form back to the counter.
pub fn parse_context(text: &str) -> Option<u32> {
    let (head, tail) = text.split_once('-')?;
    if tail != "0000-0000-0000-000000000000" || head.len() != 8 {
        return None;
    }
    u32::from_str_radix(head, 16).ok().map(u32::swap_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_wire::wsman::writer::enumeration_context;

    #[test]
    fn contexts_round_trip() {
        for id in [1u32, 0x14, 0x551D0, u32::MAX] {
            assert_eq!(parse_context(&enumeration_context(id)), Some(id));
        }
        assert_eq!(parse_context("garbage"), None);
        assert_eq!(parse_context("14000000-0000-0000-0000-000000000001"), None);
    }

    #[test]
    fn the_table_is_bounded_and_pages() {
        let mut e = Enumerations::default();
        let first = e.open(EnumerationMode::Objects, false, vec![]);
        for _ in 0..MAX_OPEN {
            e.open(EnumerationMode::Objects, false, vec![]);
        }
        assert!(e.pull(first, 10).is_none());
        let snap = Snapshot {
            instance: Instance::new("X"),
            namespace: "n".into(),
            epr: Epr::default(),
        };
        let id = e.open(
            EnumerationMode::Objects,
            false,
            vec![snap.clone(), snap.clone(), snap],
        );
        let (items, more, ..) = e.pull(id, 2).unwrap();
        assert_eq!((items.len(), more), (2, true));
        let (items, more, ..) = e.pull(id, 2).unwrap();
        assert_eq!((items.len(), more), (1, false));
        assert!(e.pull(id, 2).is_none());
    }
}
