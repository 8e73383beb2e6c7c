//! Third-party data storage (3PDS): flash the ME lends to host and console
//! applications. Applications register for a session, allocate named blocks
//! within their quota, and read, write and lock them. The administrator
//! names partner applications (allocation entries) that get larger quotas.
//!
//! Every operation checks everything before it changes anything, so a
//! refused call leaves no trace.

use crate::values::check_text;
use serde::{Deserialize, Serialize};

/// The firmware's storage limits. Intel documents only that the store is at
/// least 192 KB and the API buffer 4 KB; the other figures are inferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageLimits {
    /// All blocks together, bytes.
    pub total: u32,
    /// The most bytes one ReadBlock or WriteBlock moves.
    pub mtu: u32,
    /// The largest block.
    pub max_block: u32,
    /// What an application without a partner entry may allocate in all.
    pub non_partner_quota: u32,
    /// What one partner entry may grant.
    pub max_partner_quota: u32,
    /// Applications registered at once (open sessions).
    pub max_sessions: usize,
    /// Applications the store remembers (they own blocks).
    pub max_applications: usize,
    pub max_blocks: usize,
    pub max_alloc_entries: usize,
    /// Longest block, application, vendor and enterprise name.
    pub max_name: usize,
}

pub const LIMITS: StorageLimits = StorageLimits {
    total: 192 * 1024,
    mtu: 4096,
    max_block: 64 * 1024,
    non_partner_quota: 16 * 1024,
    max_partner_quota: 128 * 1024,
    max_sessions: 8,
    max_applications: 32,
    max_blocks: 256,
    max_alloc_entries: 32,
    max_name: 32,
};

/// Why a storage operation was refused. A refused operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageRefusal {
    #[error("no session has that handle")]
    NotRegistered,
    #[error("the application's UUID is not 16 bytes")]
    InvalidRegistrationData,
    #[error("no application has that handle")]
    NoSuchApplication,
    #[error("the quota or the store is full")]
    NotEnoughStorage,
    #[error("a name is empty, too long or has control characters")]
    InvalidName,
    #[error("no block has that handle (or it is hidden from the caller)")]
    NoSuchBlock,
    #[error("the offset is outside the block")]
    InvalidByteOffset,
    #[error("the byte count is negative, over the MTU or past the block's end")]
    InvalidByteCount,
    #[error("the block belongs to another application")]
    NotOwner,
    #[error("another session holds the block's lock")]
    LockedByOther,
    #[error("the block is not locked")]
    NotLocked,
    #[error("too many sessions, applications, blocks or entries")]
    LimitReached,
    #[error("the start index is outside the list")]
    InvalidIndex,
    #[error("the allocation is negative or over what the entry may grant")]
    InvalidAllocation,
    #[error("no allocation entry has that handle")]
    NoSuchEntry,
    #[error("the name is taken")]
    Duplicate,
    #[error("the audit log cannot record the change")]
    AuditFail,
}

/// Who an application says it is when it registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppIdentity {
    pub uuid: Vec<u8>,
    pub vendor: String,
    pub name: String,
    pub enterprise: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub handle: u32,
    pub identity: AppIdentity,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub handle: u32,
    /// The owning application's handle.
    pub owner: u32,
    pub name: String,
    pub hidden: bool,
    pub data: Vec<u8>,
    /// The session holding the lock; sessions do not survive a restart.
    #[serde(skip)]
    pub locked_by: Option<u32>,
}

/// A partner entry (FPACL): an application and the storage it may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocEntry {
    pub handle: u32,
    pub application: String,
    pub vendor: String,
    pub is_partner: bool,
    pub total_allocation: u32,
}

/// What GetBlockAttributes reports: a block without its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub size: usize,
    pub hidden: bool,
    pub name: String,
    /// The owning application's handle.
    pub owner: u32,
}

/// One page of the allocation entries' handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntriesPage {
    /// Entries in all.
    pub total: usize,
    pub handles: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Session {
    handle: u32,
    app: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    applications: Vec<Application>,
    blocks: Vec<Block>,
    entries: Vec<AllocEntry>,
    #[serde(skip)]
    sessions: Vec<Session>,
    last_handle: u32,
}

fn check_name(name: &str, allow_empty: bool) -> Result<(), StorageRefusal> {
    if (!allow_empty && name.is_empty()) || check_text(name, LIMITS.max_name).is_err() {
        return Err(StorageRefusal::InvalidName);
    }
    Ok(())
}

impl Storage {
    fn new_handle(&mut self) -> u32 {
        self.last_handle = self.last_handle.wrapping_add(1).max(1);
        self.last_handle
    }

    fn session(&self, session: u32) -> Result<Session, StorageRefusal> {
        self.sessions
            .iter()
            .find(|s| s.handle == session)
            .copied()
            .ok_or(StorageRefusal::NotRegistered)
    }

    /// Opens a session for an application, remembering the application
    /// the first time it registers.
    pub fn register(&mut self, identity: AppIdentity) -> Result<u32, StorageRefusal> {
        if identity.uuid.len() != 16 {
            return Err(StorageRefusal::InvalidRegistrationData);
        }
        for name in [&identity.vendor, &identity.name] {
            check_name(name, false)?;
        }
        check_name(&identity.enterprise, true)?;
        if self.sessions.len() >= LIMITS.max_sessions {
            return Err(StorageRefusal::LimitReached);
        }
        let known = self
            .applications
            .iter()
            .find(|a| a.identity == identity)
            .map(|a| a.handle);
        let app = match known {
            Some(handle) => handle,
            None => {
                if self.applications.len() >= LIMITS.max_applications {
                    return Err(StorageRefusal::LimitReached);
                }
                let handle = self.new_handle();
                self.applications.push(Application { handle, identity });
                handle
            }
        };
        let handle = self.new_handle();
        self.sessions.push(Session { handle, app });
        Ok(handle)
    }

    /// Ends a session and releases the locks it held.
    pub fn unregister(&mut self, session: u32) -> Result<(), StorageRefusal> {
        self.session(session)?;
        self.sessions.retain(|s| s.handle != session);
        for b in &mut self.blocks {
            if b.locked_by == Some(session) {
                b.locked_by = None;
            }
        }
        Ok(())
    }

    /// Applications with an open session.
    pub fn current_applications(&self, session: u32) -> Result<Vec<u32>, StorageRefusal> {
        self.session(session)?;
        let mut apps: Vec<u32> = self.sessions.iter().map(|s| s.app).collect();
        apps.sort_unstable();
        apps.dedup();
        Ok(apps)
    }

    /// Every application the store knows.
    pub fn registered_applications(&self, session: u32) -> Result<Vec<u32>, StorageRefusal> {
        self.session(session)?;
        Ok(self.applications.iter().map(|a| a.handle).collect())
    }

    pub fn application(&self, session: u32, handle: u32) -> Result<&Application, StorageRefusal> {
        self.session(session)?;
        self.applications
            .iter()
            .find(|a| a.handle == handle)
            .ok_or(StorageRefusal::NoSuchApplication)
    }

    /// What an application may allocate in all: its partner entry's grant,
    /// or the non-partner quota.
    fn quota(&self, app: u32) -> u32 {
        let Some(a) = self.applications.iter().find(|a| a.handle == app) else {
            return 0;
        };
        self.entries
            .iter()
            .find(|e| e.application == a.identity.name && e.vendor == a.identity.vendor)
            .map_or(LIMITS.non_partner_quota, |e| e.total_allocation)
    }

    fn used_by(&self, app: u32) -> u32 {
        self.blocks
            .iter()
            .filter(|b| b.owner == app)
            .map(|b| b.data.len() as u32)
            .sum()
    }

    pub fn used(&self) -> u32 {
        self.blocks.iter().map(|b| b.data.len() as u32).sum()
    }

    pub fn allocate(
        &mut self,
        session: u32,
        size: i64,
        hidden: bool,
        name: &str,
    ) -> Result<u32, StorageRefusal> {
        let s = self.session(session)?;
        check_name(name, false)?;
        if size < 1 || size > i64::from(LIMITS.max_block) {
            return Err(StorageRefusal::InvalidByteCount);
        }
        let size = size as u32;
        if self
            .blocks
            .iter()
            .any(|b| b.owner == s.app && b.name == name)
        {
            return Err(StorageRefusal::Duplicate);
        }
        if self.blocks.len() >= LIMITS.max_blocks {
            return Err(StorageRefusal::LimitReached);
        }
        if self.used_by(s.app) + size > self.quota(s.app) || self.used() + size > LIMITS.total {
            return Err(StorageRefusal::NotEnoughStorage);
        }
        let handle = self.new_handle();
        self.blocks.push(Block {
            handle,
            owner: s.app,
            name: name.to_string(),
            hidden,
            data: vec![0; size as usize],
            locked_by: None,
        });
        Ok(handle)
    }

    /// The block a session may use: its application's own.
    fn block_index(&self, session: u32, block: u32) -> Result<(Session, usize), StorageRefusal> {
        let s = self.session(session)?;
        let index = self
            .blocks
            .iter()
            .position(|b| b.handle == block)
            .ok_or(StorageRefusal::NoSuchBlock)?;
        if self.blocks[index].owner != s.app {
            return Err(StorageRefusal::NotOwner);
        }
        Ok((s, index))
    }

    fn check_unlocked_for(&self, s: Session, index: usize) -> Result<(), StorageRefusal> {
        match self.blocks[index].locked_by {
            Some(holder) if holder != s.handle => Err(StorageRefusal::LockedByOther),
            _ => Ok(()),
        }
    }

    pub fn deallocate(&mut self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        self.blocks.remove(index);
        Ok(())
    }

    /// The blocks an application owns (the caller's own by default);
    /// another application's hidden blocks are not listed.
    pub fn blocks_of(&self, session: u32, owner: Option<u32>) -> Result<Vec<u32>, StorageRefusal> {
        let s = self.session(session)?;
        let owner = owner.unwrap_or(s.app);
        if !self.applications.iter().any(|a| a.handle == owner) {
            return Err(StorageRefusal::NoSuchApplication);
        }
        Ok(self
            .blocks
            .iter()
            .filter(|b| b.owner == owner && (owner == s.app || !b.hidden))
            .map(|b| b.handle)
            .collect())
    }

    pub fn block(&self, session: u32, block: u32) -> Result<&Block, StorageRefusal> {
        let s = self.session(session)?;
        let b = self
            .blocks
            .iter()
            .find(|b| b.handle == block)
            .ok_or(StorageRefusal::NoSuchBlock)?;
        if b.hidden && b.owner != s.app {
            // A hidden block does not exist for others.
            return Err(StorageRefusal::NoSuchBlock);
        }
        Ok(b)
    }

    fn check_range(len: usize, offset: i64, count: i64) -> Result<(usize, usize), StorageRefusal> {
        if offset < 0 || offset as u64 > len as u64 {
            return Err(StorageRefusal::InvalidByteOffset);
        }
        if count < 0 || count > i64::from(LIMITS.mtu) || offset + count > len as i64 {
            return Err(StorageRefusal::InvalidByteCount);
        }
        Ok((offset as usize, count as usize))
    }

    pub fn read(
        &self,
        session: u32,
        block: u32,
        offset: i64,
        count: i64,
    ) -> Result<Vec<u8>, StorageRefusal> {
        let (_, index) = self.block_index(session, block)?;
        let data = &self.blocks[index].data;
        let (from, count) = Self::check_range(data.len(), offset, count)?;
        Ok(data[from..from + count].to_vec())
    }

    /// Writes all of `bytes` at `offset` or nothing. A write longer than
    /// the MTU is refused whatever else is wrong with it.
    pub fn write(
        &mut self,
        session: u32,
        block: u32,
        offset: i64,
        bytes: &[u8],
    ) -> Result<(), StorageRefusal> {
        if bytes.len() > LIMITS.mtu as usize {
            // More than one call may move: refused before anything else.
            return Err(StorageRefusal::InvalidByteCount);
        }
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        let len = self.blocks[index].data.len();
        let (from, count) = Self::check_range(len, offset, bytes.len() as i64)?;
        self.blocks[index].data[from..from + count].copy_from_slice(bytes);
        Ok(())
    }

    pub fn lock(&mut self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        self.blocks[index].locked_by = Some(s.handle);
        Ok(())
    }

    pub fn unlock(&mut self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        let (s, index) = self.block_index(session, block)?;
        match self.blocks[index].locked_by {
            None => Err(StorageRefusal::NotLocked),
            Some(holder) if holder != s.handle => Err(StorageRefusal::LockedByOther),
            Some(_) => {
                self.blocks[index].locked_by = None;
                Ok(())
            }
        }
    }

    // ---- administration (partner entries) ----------------------------

    pub fn entries(&self) -> &[AllocEntry] {
        &self.entries
    }

    pub fn entry(&self, handle: u32) -> Result<&AllocEntry, StorageRefusal> {
        self.entries
            .iter()
            .find(|e| e.handle == handle)
            .ok_or(StorageRefusal::NoSuchEntry)
    }

    pub fn add_entry(
        &mut self,
        application: &str,
        vendor: &str,
        is_partner: bool,
        total_allocation: i64,
    ) -> Result<u32, StorageRefusal> {
        check_name(application, false)?;
        check_name(vendor, false)?;
        let limit = if is_partner {
            LIMITS.max_partner_quota
        } else {
            LIMITS.non_partner_quota
        };
        if total_allocation < 0 || total_allocation > i64::from(limit) {
            return Err(StorageRefusal::InvalidAllocation);
        }
        if self
            .entries
            .iter()
            .any(|e| e.application == application && e.vendor == vendor)
        {
            return Err(StorageRefusal::Duplicate);
        }
        if self.entries.len() >= LIMITS.max_alloc_entries {
            return Err(StorageRefusal::LimitReached);
        }
        let handle = self.new_handle();
        self.entries.push(AllocEntry {
            handle,
            application: application.to_string(),
            vendor: vendor.to_string(),
            is_partner,
            total_allocation: total_allocation as u32,
        });
        Ok(handle)
    }

    pub fn remove_entry(&mut self, handle: u32) -> Result<(), StorageRefusal> {
        self.entry(handle)?;
        self.entries.retain(|e| e.handle != handle);
        Ok(())
    }

    /// Up to `page` entry handles from the 1-based index `start`; one past
    /// the last entry is an empty page, further is an invalid index.
    pub fn entries_page(&self, start: i64, page: usize) -> Result<EntriesPage, StorageRefusal> {
        let total = self.entries.len();
        if start < 1 || start as u64 > total as u64 + 1 {
            return Err(StorageRefusal::InvalidIndex);
        }
        let handles = self
            .entries
            .iter()
            .skip(start as usize - 1)
            .take(page)
            .map(|e| e.handle)
            .collect();
        Ok(EntriesPage { total, handles })
    }
}

mod api;
pub(super) use api::audit_blocks_in;

#[cfg(test)]
mod tests;
