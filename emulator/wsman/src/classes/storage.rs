//! Third-party data storage over WS-Man: AMT_ThirdPartyDataStorageService
//! (applications, blocks, reads, writes and locks) and
//! AMT_ThirdPartyDataStorageAdministrationService (limits and the partner
//! allocation entries). Failures are PT_STATUS return values, never faults.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, SERVICE_KEYS, method, output, service};
use amtemu_model::device::Device;
use amtemu_model::device::audit::EventId;
use amtemu_model::device::storage::{AppIdentity, LIMITS, status};
use amtemu_model::device::users::realm;
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

/// A handle argument: present and a u32, or INVALID_PARAMETER.
fn handle(input: &Instance, name: &str) -> Result<u32, u32> {
    input
        .int(name)
        .and_then(|h| u32::try_from(h).ok())
        .ok_or(status::INVALID_PARAMETER)
}

fn text<'a>(input: &'a Instance, name: &str) -> Result<&'a str, u32> {
    match input.get(name) {
        None => Ok(""),
        Some(v) => v.as_text().ok_or(status::INVALID_PARAMETER),
    }
}

/// Turns a method's result into its output: the values on success, the
/// status alone on failure.
fn answer(method: &str, result: Result<Instance, u32>) -> Result<Instance, Fault> {
    Ok(match result {
        Ok(values) => {
            let mut out = output(method, 0);
            out.props.extend(values.props);
            out
        }
        Err(rv) => output(method, rv),
    })
}

fn values() -> Instance {
    Instance::default()
}

fn get_mtu(_: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetMTU", 0).with("Mtu", LIMITS.mtu))
}

fn register_application(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = (|| {
        let uuid = BASE64
            .decode(text(input, "CallerUUID")?)
            .map_err(|_| status::INVALID_REGISTRATION_DATA)?;
        let identity = AppIdentity {
            uuid,
            vendor: text(input, "VendorName")?.to_string(),
            name: text(input, "ApplicationName")?.to_string(),
            enterprise: text(input, "EnterpriseName")?.to_string(),
        };
        let session = device.with_state(|s| s.nvram.storage.register(identity))?;
        Ok(values().with("SessionHandle", session))
    })();
    answer("RegisterApplication", result)
}

fn unregister_application(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = handle(input, "SessionHandle")
        .and_then(|s| device.with_state(|st| st.nvram.storage.unregister(s)))
        .map(|()| values());
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
    let result = handle(input, "SessionHandle")
        .and_then(|s| device.with_state(|st| st.nvram.storage.current_applications(s)))
        .map(|list| handles("ApplicationHandles", list));
    answer("GetCurrentApplicationHandles", result)
}

fn registered_applications(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = handle(input, "SessionHandle")
        .and_then(|s| device.with_state(|st| st.nvram.storage.registered_applications(s)))
        .map(|list| handles("ApplicationHandles", list));
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
        device.with_state(|s| {
            let a = s.nvram.storage.application(session, app)?;
            Ok(values()
                .with("UUID", BASE64.encode(&a.identity.uuid))
                .with("VendorName", a.identity.vendor.as_str())
                .with("ApplicationName", a.identity.name.as_str())
                .with("EnterpriseName", a.identity.enterprise.as_str()))
        })
    })();
    answer("GetApplicationAttributes", result)
}

fn allocate_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let size = input
            .int("BytesRequested")
            .ok_or(status::INVALID_PARAMETER)?;
        let hidden = match input.get("BlockHidden") {
            None => false,
            Some(v) => v.as_bool().ok_or(status::INVALID_PARAMETER)?,
        };
        let name = text(input, "BlockName")?;
        let block = device.with_state(|s| s.nvram.storage.allocate(session, size, hidden, name))?;
        Ok(values().with("BlockHandle", block))
    })();
    if result.is_ok() {
        device.changed("AMT_ThirdPartyDataStorage");
    }
    answer("AllocateBlock", result)
}

fn deallocate_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let block = handle(input, "BlockHandle")?;
        device.with_state(|s| s.nvram.storage.deallocate(session, block))?;
        device.changed("AMT_ThirdPartyDataStorage");
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
        let list = device.with_state(|s| s.nvram.storage.blocks_of(session, owner))?;
        Ok(handles("BlockHandles", list))
    })();
    answer("GetAllocatedBlocks", result)
}

fn block_attributes(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let block = handle(input, "BlockHandle")?;
        device.with_state(|s| {
            let b = s.nvram.storage.block(session, block)?;
            Ok(values()
                .with("BlockSize", b.data.len())
                .with("BlockHidden", b.hidden)
                .with("BlockName", b.name.as_str())
                .with("BlockOwnerApplication", b.owner))
        })
    })();
    answer("GetBlockAttributes", result)
}

fn read_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let block = handle(input, "BlockHandle")?;
        let offset = input.int("ByteOffset").ok_or(status::INVALID_BYTE_OFFSET)?;
        let count = input.int("ByteCount").ok_or(status::INVALID_BYTE_COUNT)?;
        let data = device.with_state(|s| s.nvram.storage.read(session, block, offset, count))?;
        Ok(values().with("Data", BASE64.encode(data)))
    })();
    answer("ReadBlock", result)
}

fn write_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = (|| {
        let session = handle(input, "SessionHandle")?;
        let block = handle(input, "BlockHandle")?;
        let offset = input.int("ByteOffset").ok_or(status::INVALID_BYTE_OFFSET)?;
        let data = BASE64
            .decode(text(input, "Data")?)
            .map_err(|_| status::INVALID_PARAMETER)?;
        if data.len() > LIMITS.mtu as usize {
            return Err(status::INVALID_BYTE_COUNT);
        }
        device.with_state(|s| s.nvram.storage.write(session, block, offset, &data))?;
        device.changed("AMT_ThirdPartyDataStorage");
        Ok(values())
    })();
    answer("WriteBlock", result)
}

fn lock_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle(input, "SessionHandle")
        .and_then(|s| Ok((s, handle(input, "BlockHandle")?)))
        .and_then(|(s, b)| device.with_state(|st| st.nvram.storage.lock(s, b)))
        .map(|()| values());
    answer("LockBlock", result)
}

fn unlock_block(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle(input, "SessionHandle")
        .and_then(|s| Ok((s, handle(input, "BlockHandle")?)))
        .and_then(|(s, b)| device.with_state(|st| st.nvram.storage.unlock(s, b)))
        .map(|()| values());
    answer("UnlockBlock", result)
}

// ---- administration ---------------------------------------------------

fn storage_attributes(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let used = device.with_state(|s| s.nvram.storage.used());
    Ok(output("GetStorageAttributes", 0)
        .with("TotalStorage", LIMITS.total)
        .with("TotalAllocatedStorage", used)
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
            return Err(status::INVALID_PARAMETER);
        }
        let partner = match input.get("IsPartner") {
            None => false,
            Some(v) => v.as_bool().ok_or(status::INVALID_PARAMETER)?,
        };
        let size = input
            .int("TotalAllocationSize")
            .ok_or(status::INVALID_PARAMETER)?;
        let application = text(input, "ApplicationName")?;
        let vendor = text(input, "VendorName")?;
        if device.audit_blocks(EventId::STORAGE_FPACL_MODIFIED) {
            return Err(amtemu_wire::status::PtStatus::AuditFail.into());
        }
        let h = device.with_state(|s| {
            s.nvram
                .storage
                .add_entry(application, vendor, partner, size)
        })?;
        device.changed("AMT_ThirdPartyDataStorage");
        device.audit(EventId::STORAGE_FPACL_MODIFIED);
        Ok(values().with("Handle", h))
    })();
    answer("AddStorageFpaclEntry", result)
}

fn get_entry(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle(input, "Handle").and_then(|h| {
        device.with_state(|s| {
            let e = s.nvram.storage.entry(h)?;
            Ok(values()
                .with("AttrType", 1)
                .with("ApplicationName", e.application.as_str())
                .with("VendorName", e.vendor.as_str())
                .with("IsPartner", e.is_partner)
                .with("TotalAllocationSize", e.total_allocation))
        })
    });
    answer("GetStorageAllocEntry", result)
}

fn remove_entry(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = handle(input, "Handle")
        .and_then(|h| device.with_state(|s| s.nvram.storage.remove_entry(h)));
    if result.is_ok() {
        device.changed("AMT_ThirdPartyDataStorage");
        device.audit(EventId::STORAGE_FPACL_MODIFIED);
    }
    answer("RemoveStorageFpaclEntry", result.map(|()| values()))
}

/// Pages of handles from a 1-based index.
fn enumerate_entries(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const PAGE: usize = 10;
    let all: Vec<u32> =
        device.with_state(|s| s.nvram.storage.entries().iter().map(|e| e.handle).collect());
    let result = match input.int("StartIndex") {
        Some(start) if start >= 1 && start as u64 <= all.len() as u64 + 1 => {
            let page: Vec<u32> = all
                .iter()
                .copied()
                .skip(start as usize - 1)
                .take(PAGE)
                .collect();
            Ok(handles("Handles", page.clone())
                .with("TotalCount", all.len())
                .with("HandlesCount", page.len()))
        }
        Some(_) => Err(status::INVALID_INDEX),
        None => Err(status::INVALID_PARAMETER),
    };
    answer("EnumerateStorageAllocEntries", result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn call(d: &Device, f: super::super::MethodFn, input: Instance) -> Instance {
        f(d, &Instance::default(), &input).unwrap()
    }

    fn rv(out: &Instance) -> i64 {
        out.int("ReturnValue").unwrap()
    }

    fn register(d: &Device, name: &str) -> i64 {
        let out = call(
            d,
            register_application,
            Instance::new("RegisterApplication_INPUT")
                .with("CallerUUID", BASE64.encode([9u8; 16]))
                .with("VendorName", "Contoso")
                .with("ApplicationName", name)
                .with("EnterpriseName", "Corp"),
        );
        assert_eq!(rv(&out), 0);
        out.int("SessionHandle").unwrap()
    }

    #[test]
    fn an_application_stores_and_reads_back_a_block() {
        let d = device("11.8");
        assert_eq!(
            call(&d, get_mtu, Instance::default()).int("Mtu"),
            Some(4096)
        );
        let bad_uuid = call(
            &d,
            register_application,
            Instance::new("RegisterApplication_INPUT")
                .with("CallerUUID", "%%%")
                .with("VendorName", "v")
                .with("ApplicationName", "a"),
        );
        assert_eq!(rv(&bad_uuid), 9);
        let s = register(&d, "inventory");
        let alloc = call(
            &d,
            allocate_block,
            Instance::new("AllocateBlock_INPUT")
                .with("SessionHandle", s)
                .with("BytesRequested", 64)
                .with("BlockHidden", false)
                .with("BlockName", "asset"),
        );
        assert_eq!(rv(&alloc), 0);
        let b = alloc.int("BlockHandle").unwrap();
        let write = |offset: i64, data: &[u8]| {
            rv(&call(
                &d,
                write_block,
                Instance::new("WriteBlock_INPUT")
                    .with("SessionHandle", s)
                    .with("BlockHandle", b)
                    .with("ByteOffset", offset)
                    .with("Data", BASE64.encode(data)),
            ))
        };
        assert_eq!(write(4, b"tag-1234"), 0);
        assert_eq!(write(65, b"x"), 14);
        assert_eq!(write(60, b"too long"), 15);
        assert_eq!(write(0, &vec![1u8; LIMITS.mtu as usize + 1]), 15);
        let read = call(
            &d,
            read_block,
            Instance::new("ReadBlock_INPUT")
                .with("SessionHandle", s)
                .with("BlockHandle", b)
                .with("ByteOffset", 0)
                .with("ByteCount", 64),
        );
        let data = BASE64.decode(read.text("Data").unwrap()).unwrap();
        assert_eq!(&data[4..12], b"tag-1234");
        assert!(
            data[56..].iter().all(|x| *x == 0),
            "refused writes left nothing"
        );
        let unknown = call(
            &d,
            read_block,
            Instance::new("ReadBlock_INPUT")
                .with("SessionHandle", 4242)
                .with("BlockHandle", b)
                .with("ByteOffset", 0)
                .with("ByteCount", 1),
        );
        assert_eq!(rv(&unknown), 8);
        let attrs = call(
            &d,
            block_attributes,
            Instance::new("GetBlockAttributes_INPUT")
                .with("SessionHandle", s)
                .with("BlockHandle", b),
        );
        assert_eq!(attrs.int("BlockSize"), Some(64));
        assert_eq!(attrs.text("BlockName"), Some("asset"));
        let blocks = call(
            &d,
            allocated_blocks,
            Instance::new("GetAllocatedBlocks_INPUT").with("SessionHandle", s),
        );
        assert_eq!(blocks.get("BlockHandles").unwrap().items().len(), 1);
    }

    #[test]
    fn partner_entries_are_administered() {
        let d = device("4.0");
        let add = |size: i64| {
            call(
                &d,
                add_entry,
                Instance::new("AddStorageFpaclEntry_INPUT")
                    .with("AttrType", 1)
                    .with("ApplicationName", "inventory")
                    .with("VendorName", "Contoso")
                    .with("IsPartner", true)
                    .with("TotalAllocationSize", size),
            )
        };
        assert_eq!(rv(&add(i64::from(LIMITS.max_partner_quota) + 1)), 36);
        let ok = add(100_000);
        assert_eq!(rv(&ok), 0);
        assert_eq!(rv(&add(10)), 2058);
        let h = ok.int("Handle").unwrap();
        let got = call(
            &d,
            get_entry,
            Instance::new("GetStorageAllocEntry_INPUT").with("Handle", h),
        );
        assert_eq!(got.int("TotalAllocationSize"), Some(100_000));
        let list = call(
            &d,
            enumerate_entries,
            Instance::new("EnumerateStorageAllocEntries_INPUT").with("StartIndex", 1),
        );
        assert_eq!(list.int("TotalCount"), Some(1));
        let page_from = |start: Option<i64>| {
            let input = Instance::new("EnumerateStorageAllocEntries_INPUT");
            call(
                &d,
                enumerate_entries,
                match start {
                    Some(start) => input.with("StartIndex", start),
                    None => input,
                },
            )
        };
        let past_the_end = page_from(Some(2));
        assert_eq!(rv(&past_the_end), 0, "one past the last entry");
        assert_eq!(past_the_end.int("HandlesCount"), Some(0));
        assert_eq!(rv(&page_from(Some(0))), 35);
        assert_eq!(rv(&page_from(Some(3))), 35);
        assert_eq!(rv(&page_from(Some(i64::MAX))), 35);
        assert_eq!(rv(&page_from(Some(i64::MIN))), 35);
        assert_eq!(rv(&page_from(None)), 36);
        let attrs = call(&d, storage_attributes, Instance::default());
        assert_eq!(attrs.int("TotalStorage"), Some(i64::from(LIMITS.total)));
        let gone = |h: i64| {
            rv(&call(
                &d,
                remove_entry,
                Instance::new("RemoveStorageFpaclEntry_INPUT").with("Handle", h),
            ))
        };
        assert_eq!(gone(h), 0);
        assert_eq!(gone(h), 2053);
    }
}
