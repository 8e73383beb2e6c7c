//! The provisioning root hash table as clients edit it
//! (AMT_ProvisioningCertificateHash): list, add, remove and switch
//! entries. The table itself lives in `ProvisioningSettings`; what the
//! next PKI hello carries and which chains setup accepts are read from it
//! (`provisioning::pki_hello`, `chain::Policy`), so an edit here changes
//! both at once.

use super::Device;
use super::provisioning::{HashAlgorithm, TrustedRootHash};

/// User-added entries the table holds besides the factory defaults: Intel
/// documents three custom hashes next to the embedded ones.
pub const MAX_CUSTOM_HASHES: usize = 3;

/// The longest friendly name (the firmware's name field holds 32 bytes).
pub const MAX_HASH_NAME: usize = 32;

/// One entry with the handle clients address it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashEntry {
    pub handle: u32,
    pub entry: TrustedRootHash,
}

/// Why an edit of the hash table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashRefusal {
    /// No entry has that handle.
    NoSuchEntry,
    /// The same algorithm and hash are already in the table.
    Duplicate,
    /// The hash's length is not the algorithm's digest length.
    WrongLength,
    /// A name longer than [`MAX_HASH_NAME`] bytes or not ASCII.
    BadName,
    /// [`MAX_CUSTOM_HASHES`] user entries exist already.
    TableFull,
}

impl std::fmt::Display for HashRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HashRefusal::NoSuchEntry => "no hash entry has that handle",
            HashRefusal::Duplicate => "that hash is already in the table",
            HashRefusal::WrongLength => "the hash's length does not fit its algorithm",
            HashRefusal::BadName => "the name is too long or not ASCII",
            HashRefusal::TableFull => "the table holds no more user hashes",
        })
    }
}

/// Handles are positions in the table, fixed when an entry is made: an
/// entry keeps its handle when one before it goes, and a new entry takes
/// the lowest free one. State files from before handles were kept get
/// them by position.
fn handles(table: &mut [TrustedRootHash]) {
    let mut seen = std::collections::BTreeSet::new();
    if table
        .iter()
        .all(|h| h.handle.is_some_and(|n| seen.insert(n)))
    {
        return;
    }
    for (i, h) in table.iter_mut().enumerate() {
        h.handle = Some(i as u32);
    }
}

pub(crate) fn free_handle(table: &[TrustedRootHash]) -> u32 {
    (0..)
        .find(|n| table.iter().all(|h| h.handle != Some(*n)))
        .unwrap_or(0)
}

impl Device {
    /// The table in handle order.
    pub fn provisioning_hashes(&self) -> Vec<HashEntry> {
        self.with_state(|s| {
            let table = &mut s.nvram.provisioning.trusted_hashes;
            handles(table);
            let mut entries: Vec<HashEntry> = table
                .iter()
                .map(|h| HashEntry {
                    handle: h.handle.unwrap_or(0),
                    entry: h.clone(),
                })
                .collect();
            entries.sort_by_key(|e| e.handle);
            entries
        })
    }

    /// Adds a user hash; returns its handle.
    pub fn add_provisioning_hash(
        &self,
        name: &str,
        algorithm: HashAlgorithm,
        hash: Vec<u8>,
        active: bool,
    ) -> Result<u32, HashRefusal> {
        if hash.len() != algorithm.digest_len() {
            return Err(HashRefusal::WrongLength);
        }
        if name.len() > MAX_HASH_NAME || !name.is_ascii() {
            return Err(HashRefusal::BadName);
        }
        self.with_state(|s| {
            let table = &mut s.nvram.provisioning.trusted_hashes;
            handles(table);
            if table
                .iter()
                .any(|h| h.algorithm == algorithm && h.hash == hash)
            {
                return Err(HashRefusal::Duplicate);
            }
            if table.iter().filter(|h| !h.default).count() >= MAX_CUSTOM_HASHES {
                return Err(HashRefusal::TableFull);
            }
            let handle = free_handle(table);
            table.push(TrustedRootHash {
                name: name.to_string(),
                algorithm,
                hash,
                active,
                default: false,
                handle: Some(handle),
            });
            Ok(handle)
        })
    }

    /// Removes an entry, a factory default as well (firmware lets an
    /// administrator prune the embedded roots).
    pub fn delete_provisioning_hash(&self, handle: u32) -> Result<(), HashRefusal> {
        self.with_state(|s| {
            let table = &mut s.nvram.provisioning.trusted_hashes;
            handles(table);
            let at = table
                .iter()
                .position(|h| h.handle == Some(handle))
                .ok_or(HashRefusal::NoSuchEntry)?;
            table.remove(at);
            Ok(())
        })
    }

    /// Turns an entry on or off for hellos and setup.
    pub fn set_provisioning_hash_active(
        &self,
        handle: u32,
        active: bool,
    ) -> Result<(), HashRefusal> {
        self.with_state(|s| {
            let table = &mut s.nvram.provisioning.trusted_hashes;
            handles(table);
            let entry = table
                .iter_mut()
                .find(|h| h.handle == Some(handle))
                .ok_or(HashRefusal::NoSuchEntry)?;
            entry.active = active;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::provisioning::pki_hello;
    use crate::testing::device;
    use amtemu_wire::hello::HelloBody;

    fn hello_hashes(d: &Device) -> Vec<Vec<u8>> {
        let body = d.with_state(|s| pki_hello(&s.nvram.provisioning.trusted_hashes));
        match body {
            HelloBody::Pki { hashes } => hashes.into_iter().map(|(_, h)| h).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn edits_change_what_the_next_hello_carries() {
        let d = device("11.8");
        let defaults = d.provisioning_hashes();
        assert!(defaults.len() >= 10);
        let handles: Vec<u32> = defaults.iter().map(|e| e.handle).collect();
        assert_eq!(handles, (0..defaults.len() as u32).collect::<Vec<_>>());

        let mine = vec![7u8; 32];
        let h = d
            .add_provisioning_hash("Test root", HashAlgorithm::Sha256, mine.clone(), true)
            .unwrap();
        assert!(hello_hashes(&d).contains(&mine));
        d.set_provisioning_hash_active(h, false).unwrap();
        assert!(!hello_hashes(&d).contains(&mine));
        d.set_provisioning_hash_active(h, true).unwrap();

        // Deleting one before it leaves its handle alone.
        d.delete_provisioning_hash(0).unwrap();
        assert!(
            d.provisioning_hashes()
                .iter()
                .any(|e| e.handle == h && e.entry.hash == mine)
        );
        assert!(!hello_hashes(&d).contains(&defaults[0].entry.hash));
        // The freed handle is taken next.
        let again = d
            .add_provisioning_hash("Other", HashAlgorithm::Sha1, vec![1; 20], true)
            .unwrap();
        assert_eq!(again, 0);
    }

    #[test]
    fn edits_change_the_roots_setup_accepts() {
        use crate::device::chain::Policy;
        let d = device("15.0");
        let trusted = |d: &Device| -> Vec<Vec<u8>> {
            Policy::for_device(d)
                .trusted
                .into_iter()
                .map(|h| h.hash)
                .collect()
        };
        let root = vec![9u8; 48];
        let h = d
            .add_provisioning_hash("Lab", HashAlgorithm::Sha384, root.clone(), false)
            .unwrap();
        assert!(!trusted(&d).contains(&root), "added inactive");
        d.set_provisioning_hash_active(h, true).unwrap();
        assert!(trusted(&d).contains(&root));
        d.delete_provisioning_hash(h).unwrap();
        assert!(!trusted(&d).contains(&root));
    }

    #[test]
    fn refusals_leave_the_table_as_it_was() {
        let d = device("11.8");
        let before = d.provisioning_hashes();
        let existing = before[1].entry.hash.clone();
        let cases = [
            (
                "x",
                HashAlgorithm::Sha256,
                vec![1; 31],
                HashRefusal::WrongLength,
            ),
            ("x", HashAlgorithm::Sha256, existing, HashRefusal::Duplicate),
            (
                &"n".repeat(33)[..],
                HashAlgorithm::Sha256,
                vec![1; 32],
                HashRefusal::BadName,
            ),
        ];
        for (name, alg, hash, refusal) in cases {
            assert_eq!(d.add_provisioning_hash(name, alg, hash, true), Err(refusal));
        }
        assert_eq!(
            d.delete_provisioning_hash(999),
            Err(HashRefusal::NoSuchEntry)
        );
        assert_eq!(
            d.set_provisioning_hash_active(999, false),
            Err(HashRefusal::NoSuchEntry)
        );
        assert_eq!(d.provisioning_hashes(), before);
        for i in 0..MAX_CUSTOM_HASHES {
            d.add_provisioning_hash("c", HashAlgorithm::Sha256, vec![i as u8 + 50; 32], true)
                .unwrap();
        }
        assert_eq!(
            d.add_provisioning_hash("c", HashAlgorithm::Sha256, vec![99; 32], true),
            Err(HashRefusal::TableFull)
        );
    }
}
