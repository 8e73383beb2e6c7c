use super::*;
use amtemu_model::testing::device;

fn call(d: &Device, f: crate::classes::MethodFn, input: Instance) -> Instance {
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
