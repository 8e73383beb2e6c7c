//! The storage area's API on [`Device`]: each call checks and changes
//! under one hold of the device's lock.

use super::{AllocEntry, AppIdentity, BlockInfo, EntriesPage, Storage, StorageRefusal};
use crate::device::audit::EventId;
use crate::device::{Device, DeviceState, Feature};

/// The storage API of a device: each call checks and changes under one
/// hold of the device's lock.
impl Device {
    fn storage<R>(&self, f: impl FnOnce(&mut Storage) -> R) -> R {
        self.with_state(|s| f(&mut s.nvram.storage))
    }

    /// Opens a session for an application; its handle.
    pub fn storage_register(&self, identity: AppIdentity) -> Result<u32, StorageRefusal> {
        self.storage(|st| st.register(identity))
    }

    pub fn storage_unregister(&self, session: u32) -> Result<(), StorageRefusal> {
        self.storage(|st| st.unregister(session))
    }

    /// Applications with an open session.
    pub fn storage_current_applications(&self, session: u32) -> Result<Vec<u32>, StorageRefusal> {
        self.storage(|st| st.current_applications(session))
    }

    /// Every application the store knows.
    pub fn storage_registered_applications(
        &self,
        session: u32,
    ) -> Result<Vec<u32>, StorageRefusal> {
        self.storage(|st| st.registered_applications(session))
    }

    pub fn storage_application(
        &self,
        session: u32,
        app: u32,
    ) -> Result<AppIdentity, StorageRefusal> {
        self.storage(|st| st.application(session, app).map(|a| a.identity.clone()))
    }

    pub fn storage_allocate(
        &self,
        session: u32,
        size: i64,
        hidden: bool,
        name: &str,
    ) -> Result<u32, StorageRefusal> {
        self.storage(|st| st.allocate(session, size, hidden, name))
    }

    pub fn storage_deallocate(&self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        self.storage(|st| st.deallocate(session, block))
    }

    /// The blocks an application owns (the caller's own when `owner` is
    /// None), less another application's hidden ones.
    pub fn storage_blocks(
        &self,
        session: u32,
        owner: Option<u32>,
    ) -> Result<Vec<u32>, StorageRefusal> {
        self.storage(|st| st.blocks_of(session, owner))
    }

    pub fn storage_block(&self, session: u32, block: u32) -> Result<BlockInfo, StorageRefusal> {
        self.storage(|st| {
            st.block(session, block).map(|b| BlockInfo {
                size: b.data.len(),
                hidden: b.hidden,
                name: b.name.clone(),
                owner: b.owner,
            })
        })
    }

    pub fn storage_read(
        &self,
        session: u32,
        block: u32,
        offset: i64,
        count: i64,
    ) -> Result<Vec<u8>, StorageRefusal> {
        self.storage(|st| st.read(session, block, offset, count))
    }

    pub fn storage_write(
        &self,
        session: u32,
        block: u32,
        offset: i64,
        bytes: &[u8],
    ) -> Result<(), StorageRefusal> {
        self.storage(|st| st.write(session, block, offset, bytes))
    }

    pub fn storage_lock(&self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        self.storage(|st| st.lock(session, block))
    }

    pub fn storage_unlock(&self, session: u32, block: u32) -> Result<(), StorageRefusal> {
        self.storage(|st| st.unlock(session, block))
    }

    /// Bytes allocated in all.
    pub fn storage_used(&self) -> u32 {
        self.storage(|st| st.used())
    }

    /// Adds a partner entry. The change is audited: when the audit log
    /// could not take the record it is refused (checked under the same
    /// lock as the change; the caller records the event afterwards).
    pub fn storage_add_entry(
        &self,
        application: &str,
        vendor: &str,
        is_partner: bool,
        total_allocation: i64,
    ) -> Result<u32, StorageRefusal> {
        self.with_state(|s| {
            if audit_blocks_in(self, s, EventId::STORAGE_FPACL_MODIFIED) {
                return Err(StorageRefusal::AuditFail);
            }
            s.nvram
                .storage
                .add_entry(application, vendor, is_partner, total_allocation)
        })
    }

    pub fn storage_entry(&self, handle: u32) -> Result<AllocEntry, StorageRefusal> {
        self.storage(|st| st.entry(handle).cloned())
    }

    pub fn storage_remove_entry(&self, handle: u32) -> Result<(), StorageRefusal> {
        self.storage(|st| st.remove_entry(handle))
    }

    /// A page of allocation entry handles from a 1-based index.
    pub fn storage_entries_page(
        &self,
        start: i64,
        page: usize,
    ) -> Result<EntriesPage, StorageRefusal> {
        self.storage(|st| st.entries_page(start, page))
    }
}

/// [`Device::audit_blocks`] for a caller already holding the state, so the
/// check and the change it guards happen under one lock.
pub(in crate::device) fn audit_blocks_in(device: &Device, s: &DeviceState, id: EventId) -> bool {
    device.firmware.has(Feature::AuditLog)
        && s.nvram
            .audit_log
            .blocks(id, crate::device::unix_now(s.nvram.clock_offset))
}
