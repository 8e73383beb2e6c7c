//! Third-party data storage (3PDS): flash the ME lends to host and console
//! applications. Applications register for a session, allocate named blocks
//! within their quota, and read, write and lock them. The administrator
//! names partner applications (allocation entries) that get larger quotas.
//!
//! Every operation checks everything before it changes anything, so a
//! refused call leaves no trace.

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

/// PT_STATUS values of the storage methods.
pub mod status {
    pub const APPLICATION_NOT_REGISTERED: u32 = 8;
    pub const INVALID_REGISTRATION_DATA: u32 = 9;
    pub const APPLICATION_DOES_NOT_EXIST: u32 = 10;
    pub const NOT_ENOUGH_STORAGE: u32 = 11;
    pub const INVALID_NAME: u32 = 12;
    pub const BLOCK_DOES_NOT_EXIST: u32 = 13;
    pub const INVALID_BYTE_OFFSET: u32 = 14;
    pub const INVALID_BYTE_COUNT: u32 = 15;
    pub const NOT_OWNER: u32 = 17;
    pub const BLOCK_LOCKED_BY_OTHER: u32 = 18;
    pub const BLOCK_NOT_LOCKED: u32 = 19;
    pub const MAX_LIMIT_REACHED: u32 = 23;
    pub const INVALID_INDEX: u32 = 35;
    pub const INVALID_PARAMETER: u32 = 36;
    pub const INVALID_HANDLE: u32 = 2053;
    pub const DUPLICATE: u32 = 2058;
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

fn check_name(name: &str, allow_empty: bool) -> Result<(), u32> {
    if (!allow_empty && name.is_empty())
        || name.len() > LIMITS.max_name
        || name.chars().any(char::is_control)
    {
        return Err(status::INVALID_NAME);
    }
    Ok(())
}

impl Storage {
    fn new_handle(&mut self) -> u32 {
        self.last_handle = self.last_handle.wrapping_add(1).max(1);
        self.last_handle
    }

    fn session(&self, session: u32) -> Result<Session, u32> {
        self.sessions
            .iter()
            .find(|s| s.handle == session)
            .copied()
            .ok_or(status::APPLICATION_NOT_REGISTERED)
    }

    /// Opens a session for an application, remembering the application
    /// the first time it registers.
    pub fn register(&mut self, identity: AppIdentity) -> Result<u32, u32> {
        if identity.uuid.len() != 16 {
            return Err(status::INVALID_REGISTRATION_DATA);
        }
        for name in [&identity.vendor, &identity.name] {
            check_name(name, false)?;
        }
        check_name(&identity.enterprise, true)?;
        if self.sessions.len() >= LIMITS.max_sessions {
            return Err(status::MAX_LIMIT_REACHED);
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
                    return Err(status::MAX_LIMIT_REACHED);
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
    pub fn unregister(&mut self, session: u32) -> Result<(), u32> {
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
    pub fn current_applications(&self, session: u32) -> Result<Vec<u32>, u32> {
        self.session(session)?;
        let mut apps: Vec<u32> = self.sessions.iter().map(|s| s.app).collect();
        apps.sort_unstable();
        apps.dedup();
        Ok(apps)
    }

    /// Every application the store knows.
    pub fn registered_applications(&self, session: u32) -> Result<Vec<u32>, u32> {
        self.session(session)?;
        Ok(self.applications.iter().map(|a| a.handle).collect())
    }

    pub fn application(&self, session: u32, handle: u32) -> Result<&Application, u32> {
        self.session(session)?;
        self.applications
            .iter()
            .find(|a| a.handle == handle)
            .ok_or(status::APPLICATION_DOES_NOT_EXIST)
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
    ) -> Result<u32, u32> {
        let s = self.session(session)?;
        check_name(name, false)?;
        if size < 1 || size > i64::from(LIMITS.max_block) {
            return Err(status::INVALID_BYTE_COUNT);
        }
        let size = size as u32;
        if self
            .blocks
            .iter()
            .any(|b| b.owner == s.app && b.name == name)
        {
            return Err(status::DUPLICATE);
        }
        if self.blocks.len() >= LIMITS.max_blocks {
            return Err(status::MAX_LIMIT_REACHED);
        }
        if self.used_by(s.app) + size > self.quota(s.app) || self.used() + size > LIMITS.total {
            return Err(status::NOT_ENOUGH_STORAGE);
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
    fn block_index(&self, session: u32, block: u32) -> Result<(Session, usize), u32> {
        let s = self.session(session)?;
        let index = self
            .blocks
            .iter()
            .position(|b| b.handle == block)
            .ok_or(status::BLOCK_DOES_NOT_EXIST)?;
        if self.blocks[index].owner != s.app {
            return Err(status::NOT_OWNER);
        }
        Ok((s, index))
    }

    fn check_unlocked_for(&self, s: Session, index: usize) -> Result<(), u32> {
        match self.blocks[index].locked_by {
            Some(holder) if holder != s.handle => Err(status::BLOCK_LOCKED_BY_OTHER),
            _ => Ok(()),
        }
    }

    pub fn deallocate(&mut self, session: u32, block: u32) -> Result<(), u32> {
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        self.blocks.remove(index);
        Ok(())
    }

    /// The blocks an application owns (the caller's own by default);
    /// another application's hidden blocks are not listed.
    pub fn blocks_of(&self, session: u32, owner: Option<u32>) -> Result<Vec<u32>, u32> {
        let s = self.session(session)?;
        let owner = owner.unwrap_or(s.app);
        if !self.applications.iter().any(|a| a.handle == owner) {
            return Err(status::APPLICATION_DOES_NOT_EXIST);
        }
        Ok(self
            .blocks
            .iter()
            .filter(|b| b.owner == owner && (owner == s.app || !b.hidden))
            .map(|b| b.handle)
            .collect())
    }

    pub fn block(&self, session: u32, block: u32) -> Result<&Block, u32> {
        let s = self.session(session)?;
        let b = self
            .blocks
            .iter()
            .find(|b| b.handle == block)
            .ok_or(status::BLOCK_DOES_NOT_EXIST)?;
        if b.hidden && b.owner != s.app {
            // A hidden block does not exist for others.
            return Err(status::BLOCK_DOES_NOT_EXIST);
        }
        Ok(b)
    }

    fn check_range(len: usize, offset: i64, count: i64) -> Result<(usize, usize), u32> {
        if offset < 0 || offset as u64 > len as u64 {
            return Err(status::INVALID_BYTE_OFFSET);
        }
        if count < 0 || count > i64::from(LIMITS.mtu) || offset + count > len as i64 {
            return Err(status::INVALID_BYTE_COUNT);
        }
        Ok((offset as usize, count as usize))
    }

    pub fn read(&self, session: u32, block: u32, offset: i64, count: i64) -> Result<Vec<u8>, u32> {
        let (_, index) = self.block_index(session, block)?;
        let data = &self.blocks[index].data;
        let (from, count) = Self::check_range(data.len(), offset, count)?;
        Ok(data[from..from + count].to_vec())
    }

    /// Writes all of `bytes` at `offset` or nothing.
    pub fn write(
        &mut self,
        session: u32,
        block: u32,
        offset: i64,
        bytes: &[u8],
    ) -> Result<(), u32> {
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        let len = self.blocks[index].data.len();
        let (from, count) = Self::check_range(len, offset, bytes.len() as i64)?;
        self.blocks[index].data[from..from + count].copy_from_slice(bytes);
        Ok(())
    }

    pub fn lock(&mut self, session: u32, block: u32) -> Result<(), u32> {
        let (s, index) = self.block_index(session, block)?;
        self.check_unlocked_for(s, index)?;
        self.blocks[index].locked_by = Some(s.handle);
        Ok(())
    }

    pub fn unlock(&mut self, session: u32, block: u32) -> Result<(), u32> {
        let (s, index) = self.block_index(session, block)?;
        match self.blocks[index].locked_by {
            None => Err(status::BLOCK_NOT_LOCKED),
            Some(holder) if holder != s.handle => Err(status::BLOCK_LOCKED_BY_OTHER),
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

    pub fn entry(&self, handle: u32) -> Result<&AllocEntry, u32> {
        self.entries
            .iter()
            .find(|e| e.handle == handle)
            .ok_or(status::INVALID_HANDLE)
    }

    pub fn add_entry(
        &mut self,
        application: &str,
        vendor: &str,
        is_partner: bool,
        total_allocation: i64,
    ) -> Result<u32, u32> {
        check_name(application, false)?;
        check_name(vendor, false)?;
        let limit = if is_partner {
            LIMITS.max_partner_quota
        } else {
            LIMITS.non_partner_quota
        };
        if total_allocation < 0 || total_allocation > i64::from(limit) {
            return Err(status::INVALID_PARAMETER);
        }
        if self
            .entries
            .iter()
            .any(|e| e.application == application && e.vendor == vendor)
        {
            return Err(status::DUPLICATE);
        }
        if self.entries.len() >= LIMITS.max_alloc_entries {
            return Err(status::MAX_LIMIT_REACHED);
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

    pub fn remove_entry(&mut self, handle: u32) -> Result<(), u32> {
        self.entry(handle)?;
        self.entries.retain(|e| e.handle != handle);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppIdentity {
        AppIdentity {
            uuid: vec![7; 16],
            vendor: "Contoso".into(),
            name: name.into(),
            enterprise: String::new(),
        }
    }

    #[test]
    fn registration_sessions_and_applications() {
        let mut s = Storage::default();
        let bad = AppIdentity {
            uuid: vec![1; 3],
            ..app("a")
        };
        assert_eq!(s.register(bad), Err(status::INVALID_REGISTRATION_DATA));
        assert_eq!(s.register(app("")), Err(status::INVALID_NAME));
        assert_eq!(
            s.register(app(&"x".repeat(LIMITS.max_name + 1))),
            Err(status::INVALID_NAME)
        );
        let one = s.register(app("a")).unwrap();
        let two = s.register(app("a")).unwrap();
        assert_ne!(one, two);
        assert_eq!(s.current_applications(one).unwrap().len(), 1);
        assert_eq!(s.registered_applications(one).unwrap().len(), 1);
        for i in 2..LIMITS.max_sessions {
            s.register(app(&format!("app{i}"))).unwrap();
        }
        assert_eq!(s.register(app("late")), Err(status::MAX_LIMIT_REACHED));
        s.unregister(two).unwrap();
        assert_eq!(s.unregister(two), Err(status::APPLICATION_NOT_REGISTERED));
        assert_eq!(
            s.current_applications(two),
            Err(status::APPLICATION_NOT_REGISTERED)
        );
    }

    #[test]
    fn blocks_are_bounded_and_writes_are_all_or_nothing() {
        let mut s = Storage::default();
        let me = s.register(app("a")).unwrap();
        assert_eq!(
            s.allocate(me, 0, false, "b"),
            Err(status::INVALID_BYTE_COUNT)
        );
        assert_eq!(
            s.allocate(me, i64::from(LIMITS.max_block) + 1, false, "b"),
            Err(status::INVALID_BYTE_COUNT)
        );
        assert_eq!(
            s.allocate(me, i64::from(LIMITS.non_partner_quota) + 1, false, "b"),
            Err(status::NOT_ENOUGH_STORAGE)
        );
        let b = s.allocate(me, 100, false, "b").unwrap();
        assert_eq!(s.allocate(me, 10, false, "b"), Err(status::DUPLICATE));
        s.write(me, b, 10, b"hello").unwrap();
        assert_eq!(s.read(me, b, 10, 5).unwrap(), b"hello");
        assert_eq!(s.write(me, b, 101, b"x"), Err(status::INVALID_BYTE_OFFSET));
        assert_eq!(s.write(me, b, -1, b"x"), Err(status::INVALID_BYTE_OFFSET));
        assert_eq!(s.write(me, b, 98, b"xyz"), Err(status::INVALID_BYTE_COUNT));
        assert_eq!(s.read(me, b, 98, 3), Err(status::INVALID_BYTE_COUNT));
        // The extremes a request can carry: no overflow, the exact refusal.
        assert_eq!(s.read(me, b, i64::MAX, 1), Err(status::INVALID_BYTE_OFFSET));
        assert_eq!(s.read(me, b, i64::MIN, 1), Err(status::INVALID_BYTE_OFFSET));
        assert_eq!(s.read(me, b, 0, i64::MAX), Err(status::INVALID_BYTE_COUNT));
        assert_eq!(s.read(me, b, 0, i64::MIN), Err(status::INVALID_BYTE_COUNT));
        assert_eq!(s.read(me, b, 100, 1), Err(status::INVALID_BYTE_COUNT));
        assert_eq!(s.read(me, b, 100, 0).unwrap(), b"");
        assert_eq!(
            s.allocate(me, i64::MAX, false, "c"),
            Err(status::INVALID_BYTE_COUNT)
        );
        assert_eq!(
            s.allocate(me, i64::MIN, false, "c"),
            Err(status::INVALID_BYTE_COUNT)
        );
        assert_eq!(s.read(me, b, 0, 0).unwrap(), b"");
        assert_eq!(s.read(me, b, 0, 100).unwrap()[10..15], *b"hello");
        assert_eq!(
            s.read(me, b, 0, 100).unwrap()[98..],
            [0, 0],
            "no partial write"
        );
        assert_eq!(s.read(me, 999, 0, 1), Err(status::BLOCK_DOES_NOT_EXIST));
        let other = s.register(app("b")).unwrap();
        assert_eq!(s.read(other, b, 0, 1), Err(status::NOT_OWNER));
        s.deallocate(me, b).unwrap();
        assert_eq!(s.used(), 0);
    }

    #[test]
    fn locks_belong_to_sessions() {
        let mut s = Storage::default();
        let one = s.register(app("a")).unwrap();
        let two = s.register(app("a")).unwrap();
        let b = s.allocate(one, 16, true, "b").unwrap();
        assert_eq!(s.unlock(one, b), Err(status::BLOCK_NOT_LOCKED));
        s.lock(one, b).unwrap();
        assert_eq!(s.write(two, b, 0, b"x"), Err(status::BLOCK_LOCKED_BY_OTHER));
        assert_eq!(s.lock(two, b), Err(status::BLOCK_LOCKED_BY_OTHER));
        assert_eq!(s.unlock(two, b), Err(status::BLOCK_LOCKED_BY_OTHER));
        s.write(one, b, 0, b"x").unwrap();
        s.unregister(one).unwrap();
        s.write(two, b, 0, b"y").unwrap();
        let stranger = s.register(app("z")).unwrap();
        assert_eq!(
            s.block(stranger, b),
            Err(status::BLOCK_DOES_NOT_EXIST),
            "hidden"
        );
        assert_eq!(s.blocks_of(stranger, Some(1)).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn partners_get_their_grant_and_the_store_has_a_total() {
        let mut s = Storage::default();
        assert_eq!(
            s.add_entry(
                "big",
                "Contoso",
                false,
                i64::from(LIMITS.non_partner_quota) + 1
            ),
            Err(status::INVALID_PARAMETER)
        );
        let e = s
            .add_entry("big", "Contoso", true, i64::from(LIMITS.max_partner_quota))
            .unwrap();
        assert_eq!(
            s.add_entry("big", "Contoso", true, 1),
            Err(status::DUPLICATE)
        );
        let me = s.register(app("big")).unwrap();
        let block = i64::from(LIMITS.max_block);
        s.allocate(me, block, false, "1").unwrap();
        s.allocate(me, block, false, "2").unwrap();
        assert_eq!(
            s.allocate(me, 1, false, "3"),
            Err(status::NOT_ENOUGH_STORAGE)
        );
        // Another partner fills the rest of the store, then it is full.
        s.add_entry(
            "other",
            "Contoso",
            true,
            i64::from(LIMITS.max_partner_quota),
        )
        .unwrap();
        let other = s.register(app("other")).unwrap();
        s.allocate(other, block, false, "1").unwrap();
        assert_eq!(s.used(), LIMITS.total);
        assert_eq!(
            s.allocate(other, 1, false, "2"),
            Err(status::NOT_ENOUGH_STORAGE)
        );
        s.remove_entry(e).unwrap();
        assert_eq!(s.remove_entry(e), Err(status::INVALID_HANDLE));
    }
}
