//! Third-party data storage over WS-Man: AMT_ThirdPartyDataStorageService
//! (applications, blocks, reads, writes and locks) and
//! AMT_ThirdPartyDataStorageAdministrationService (limits and the partner
//! allocation entries). Failures are PT_STATUS return values, never faults.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, SERVICE_KEYS, method, output, service};
use amtemu_model::device::Device;
use amtemu_model::device::audit::EventId;
use amtemu_model::device::storage::{AppIdentity, LIMITS, StorageRefusal};
use amtemu_model::device::users::realm;
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const SERVICE: &str = "AMT_ThirdPartyDataStorageService";
const ADMIN_SERVICE: &str = "AMT_ThirdPartyDataStorageAdministrationService";
const STORAGE: Access = Access(&[realm::STORAGE]);
const STORAGE_ADMIN: Access = Access(&[realm::STORAGE_ADMIN]);

pub static CLASSES: &[Class] = &[
    Class {
        name: SERVICE,
        keys: SERVICE_KEYS,
        instances: storage_service,
        methods: &[
            method("GetMTU", get_mtu),
            method("RegisterApplication", register_application),
            method("UnregisterApplication", unregister_application),
            method("GetCurrentApplicationHandles", current_applications),
            method("GetRegisteredApplications", registered_applications),
            method("GetApplicationAttributes", application_attributes),
            method("AllocateBlock", allocate_block),
            method("DeallocateBlock", deallocate_block),
            method("GetAllocatedBlocks", allocated_blocks),
            method("GetBlockAttributes", block_attributes),
            method("ReadBlock", read_block),
            method("WriteBlock", write_block),
            method("LockBlock", lock_block),
            method("UnlockBlock", unlock_block),
        ],
        read: STORAGE,
        invoke: STORAGE,
        ..CLASS
    },
    Class {
        name: ADMIN_SERVICE,
        keys: SERVICE_KEYS,
        instances: admin_service,
        methods: &[
            method("GetStorageAttributes", storage_attributes),
            method("AddStorageFpaclEntry", add_entry),
            method("GetStorageAllocEntry", get_entry),
            method("RemoveStorageFpaclEntry", remove_entry),
            method("EnumerateStorageAllocEntries", enumerate_entries),
        ],
        read: STORAGE_ADMIN,
        invoke: STORAGE_ADMIN,
        ..CLASS
    },
];

fn storage_service(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT Third Party Data Storage Service";
    vec![
        service(SERVICE, name)
            .with("ElementName", name)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

fn admin_service(_: &Device) -> Vec<Instance> {
    let name = "Intel(r) AMT Third Party Data Storage Administration Service";
    vec![
        service(ADMIN_SERVICE, name)
            .with("ElementName", name)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// The PT_STATUS a storage refusal is answered with.
fn status(r: StorageRefusal) -> PtStatus {
    match r {
        StorageRefusal::NotRegistered => PtStatus::ApplicationNotRegistered,
        StorageRefusal::InvalidRegistrationData => PtStatus::InvalidRegistrationData,
        StorageRefusal::NoSuchApplication => PtStatus::ApplicationDoesNotExist,
        StorageRefusal::NotEnoughStorage => PtStatus::NotEnoughStorage,
        StorageRefusal::InvalidName => PtStatus::InvalidName,
        StorageRefusal::NoSuchBlock => PtStatus::BlockDoesNotExist,
        StorageRefusal::InvalidByteOffset => PtStatus::InvalidByteOffset,
        StorageRefusal::InvalidByteCount => PtStatus::InvalidByteCount,
        StorageRefusal::NotOwner => PtStatus::NotOwner,
        StorageRefusal::LockedByOther => PtStatus::BlockLockedByOther,
        StorageRefusal::NotLocked => PtStatus::BlockNotLocked,
        StorageRefusal::LimitReached => PtStatus::MaxLimitReached,
        StorageRefusal::InvalidIndex => PtStatus::InvalidIndex,
        StorageRefusal::InvalidAllocation => PtStatus::InvalidParameter,
        StorageRefusal::NoSuchEntry => PtStatus::InvalidHandle,
        StorageRefusal::Duplicate => PtStatus::Duplicate,
        StorageRefusal::AuditFail => PtStatus::AuditFail,
    }
}

/// A method's result before it is written: the output values, or the
/// PT_STATUS of a malformed argument or a refusal.
type Outcome = Result<Instance, PtStatus>;

/// A handle argument: present and a u32, or INVALID_PARAMETER.
fn handle(input: &Instance, name: &str) -> Result<u32, PtStatus> {
    input
        .int(name)
        .and_then(|h| u32::try_from(h).ok())
        .ok_or(PtStatus::InvalidParameter)
}

fn text<'a>(input: &'a Instance, name: &str) -> Result<&'a str, PtStatus> {
    match input.get(name) {
        None => Ok(""),
        Some(v) => v.as_text().ok_or(PtStatus::InvalidParameter),
    }
}

fn flag(input: &Instance, name: &str) -> Result<bool, PtStatus> {
    match input.get(name) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or(PtStatus::InvalidParameter),
    }
}

/// The session and block handles most block methods take.
fn session_and_block(input: &Instance) -> Result<(u32, u32), PtStatus> {
    Ok((
        handle(input, "SessionHandle")?,
        handle(input, "BlockHandle")?,
    ))
}

/// Turns a method's result into its output: the values on success, the
/// status alone on failure.
fn answer(method: &str, result: Outcome) -> Result<Instance, Fault> {
    Ok(match result {
        Ok(values) => {
            let mut out = output(method, PtStatus::Success.into());
            out.props.extend(values.props);
            out
        }
        Err(rv) => output(method, rv.into()),
    })
}

fn values() -> Instance {
    Instance::default()
}

fn changed(device: &Device) {
    device.changed("AMT_ThirdPartyDataStorage");
}

fn get_mtu(_: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetMTU", PtStatus::Success.into()).with("Mtu", LIMITS.mtu))
}

fn register_application(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let uuid = BASE64
            .decode(text(input, "CallerUUID")?)
            .map_err(|_| PtStatus::InvalidRegistrationData)?;
        let identity = AppIdentity {
            uuid,
            vendor: text(input, "VendorName")?.to_string(),
            name: text(input, "ApplicationName")?.to_string(),
            enterprise: text(input, "EnterpriseName")?.to_string(),
        };
        let session = device.storage_register(identity).map_err(status)?;
        Ok(values().with("SessionHandle", session))
    })();
    answer("RegisterApplication", result)
}

fn unregister_application(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        device.storage_unregister(session).map_err(status)?;
        Ok(values())
    })();
    answer("UnregisterApplication", result)
}

fn handles(name: &str, list: Vec<u32>) -> Instance {
    if list.is_empty() {
        values()
    } else {
        values().with_array(name, list)
    }
}

fn current_applications(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let list = device
            .storage_current_applications(session)
            .map_err(status)?;
        Ok(handles("ApplicationHandles", list))
    })();
    answer("GetCurrentApplicationHandles", result)
}

fn registered_applications(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let list = device
            .storage_registered_applications(session)
            .map_err(status)?;
        Ok(handles("ApplicationHandles", list))
    })();
    answer("GetRegisteredApplications", result)
}

fn application_attributes(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let app = handle(input, "Handle")?;
        let a = device.storage_application(session, app).map_err(status)?;
        Ok(values()
            .with("UUID", BASE64.encode(&a.uuid))
            .with("VendorName", a.vendor)
            .with("ApplicationName", a.name)
            .with("EnterpriseName", a.enterprise))
    })();
    answer("GetApplicationAttributes", result)
}

fn allocate_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let size = input
            .int("BytesRequested")
            .ok_or(PtStatus::InvalidParameter)?;
        let hidden = flag(input, "BlockHidden")?;
        let name = text(input, "BlockName")?;
        let block = device
            .storage_allocate(session, size, hidden, name)
            .map_err(status)?;
        changed(device);
        Ok(values().with("BlockHandle", block))
    })();
    answer("AllocateBlock", result)
}

fn deallocate_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        device.storage_deallocate(session, block).map_err(status)?;
        changed(device);
        Ok(values())
    })();
    answer("DeallocateBlock", result)
}

fn allocated_blocks(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let owner = match input.get("BlockOwnerApplication") {
            None => None,
            Some(_) => Some(handle(input, "BlockOwnerApplication")?),
        };
        let list = device.storage_blocks(session, owner).map_err(status)?;
        Ok(handles("BlockHandles", list))
    })();
    answer("GetAllocatedBlocks", result)
}

fn block_attributes(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        let b = device.storage_block(session, block).map_err(status)?;
        Ok(values()
            .with("BlockSize", b.size)
            .with("BlockHidden", b.hidden)
            .with("BlockName", b.name)
            .with("BlockOwnerApplication", b.owner))
    })();
    answer("GetBlockAttributes", result)
}

fn read_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        let offset = input.int("ByteOffset").ok_or(PtStatus::InvalidByteOffset)?;
        let count = input.int("ByteCount").ok_or(PtStatus::InvalidByteCount)?;
        let data = device
            .storage_read(session, block, offset, count)
            .map_err(status)?;
        Ok(values().with("Data", BASE64.encode(data)))
    })();
    answer("ReadBlock", result)
}

fn write_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        let offset = input.int("ByteOffset").ok_or(PtStatus::InvalidByteOffset)?;
        let data = BASE64
            .decode(text(input, "Data")?)
            .map_err(|_| PtStatus::InvalidParameter)?;
        device
            .storage_write(session, block, offset, &data)
            .map_err(status)?;
        changed(device);
        Ok(values())
    })();
    answer("WriteBlock", result)
}

fn lock_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        device.storage_lock(session, block).map_err(status)?;
        Ok(values())
    })();
    answer("LockBlock", result)
}

fn unlock_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let (session, block) = session_and_block(input)?;
        device.storage_unlock(session, block).map_err(status)?;
        Ok(values())
    })();
    answer("UnlockBlock", result)
}

// ---- administration ---------------------------------------------------

fn storage_attributes(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetStorageAttributes", PtStatus::Success.into())
        .with("TotalStorage", LIMITS.total)
        .with("TotalAllocatedStorage", device.storage_used())
        .with("MaxPartnerStorage", LIMITS.max_partner_quota)
        .with("MaxNonPartnerTotalAllocationSize", LIMITS.non_partner_quota)
        .with("MaxBlockSize", LIMITS.max_block)
        .with("MaxFpaclEntries", LIMITS.max_alloc_entries)
        .with("MaxRegisteredApplications", LIMITS.max_sessions))
}

fn add_entry(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        // AttrType 1 is the only kind of allocation entry (FPACL).
        if input.int("AttrType").is_some_and(|t| t != 1) {
            return Err(PtStatus::InvalidParameter);
        }
        let partner = flag(input, "IsPartner")?;
        let size = input
            .int("TotalAllocationSize")
            .ok_or(PtStatus::InvalidParameter)?;
        let application = text(input, "ApplicationName")?;
        let vendor = text(input, "VendorName")?;
        let h = device
            .storage_add_entry(application, vendor, partner, size)
            .map_err(status)?;
        changed(device);
        device.audit(EventId::STORAGE_FPACL_MODIFIED);
        Ok(values().with("Handle", h))
    })();
    answer("AddStorageFpaclEntry", result)
}

fn get_entry(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let e = device
            .storage_entry(handle(input, "Handle")?)
            .map_err(status)?;
        Ok(values()
            .with("AttrType", 1)
            .with("ApplicationName", e.application)
            .with("VendorName", e.vendor)
            .with("IsPartner", e.is_partner)
            .with("TotalAllocationSize", e.total_allocation))
    })();
    answer("GetStorageAllocEntry", result)
}

fn remove_entry(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        device
            .storage_remove_entry(handle(input, "Handle")?)
            .map_err(status)?;
        changed(device);
        device.audit(EventId::STORAGE_FPACL_MODIFIED);
        Ok(values())
    })();
    answer("RemoveStorageFpaclEntry", result)
}

/// Pages of handles from a 1-based index.
fn enumerate_entries(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const PAGE: usize = 10;
    let result = (|| {
        let start = input.int("StartIndex").ok_or(PtStatus::InvalidParameter)?;
        let page = device.storage_entries_page(start, PAGE).map_err(status)?;
        let count = page.handles.len();
        Ok(handles("Handles", page.handles)
            .with("TotalCount", page.total)
            .with("HandlesCount", count))
    })();
    answer("EnumerateStorageAllocEntries", result)
}

#[cfg(test)]
mod tests;
