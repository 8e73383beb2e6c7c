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
    assert_eq!(
        s.register(bad),
        Err(StorageRefusal::InvalidRegistrationData)
    );
    assert_eq!(s.register(app("")), Err(StorageRefusal::InvalidName));
    assert_eq!(
        s.register(app(&"x".repeat(LIMITS.max_name + 1))),
        Err(StorageRefusal::InvalidName)
    );
    let one = s.register(app("a")).unwrap();
    let two = s.register(app("a")).unwrap();
    assert_ne!(one, two);
    assert_eq!(s.current_applications(one).unwrap().len(), 1);
    assert_eq!(s.registered_applications(one).unwrap().len(), 1);
    for i in 2..LIMITS.max_sessions {
        s.register(app(&format!("app{i}"))).unwrap();
    }
    assert_eq!(s.register(app("late")), Err(StorageRefusal::LimitReached));
    s.unregister(two).unwrap();
    assert_eq!(s.unregister(two), Err(StorageRefusal::NotRegistered));
    assert_eq!(
        s.current_applications(two),
        Err(StorageRefusal::NotRegistered)
    );
}

#[test]
fn blocks_are_bounded_and_writes_are_all_or_nothing() {
    let mut s = Storage::default();
    let me = s.register(app("a")).unwrap();
    assert_eq!(
        s.allocate(me, 0, false, "b"),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(
        s.allocate(me, i64::from(LIMITS.max_block) + 1, false, "b"),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(
        s.allocate(me, i64::from(LIMITS.non_partner_quota) + 1, false, "b"),
        Err(StorageRefusal::NotEnoughStorage)
    );
    let b = s.allocate(me, 100, false, "b").unwrap();
    assert_eq!(
        s.allocate(me, 10, false, "b"),
        Err(StorageRefusal::Duplicate)
    );
    s.write(me, b, 10, b"hello").unwrap();
    assert_eq!(s.read(me, b, 10, 5).unwrap(), b"hello");
    assert_eq!(
        s.write(me, b, 101, b"x"),
        Err(StorageRefusal::InvalidByteOffset)
    );
    assert_eq!(
        s.write(me, b, -1, b"x"),
        Err(StorageRefusal::InvalidByteOffset)
    );
    assert_eq!(
        s.write(me, b, 98, b"xyz"),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(s.read(me, b, 98, 3), Err(StorageRefusal::InvalidByteCount));
    // The extremes a request can carry: no overflow, the exact refusal.
    assert_eq!(
        s.read(me, b, i64::MAX, 1),
        Err(StorageRefusal::InvalidByteOffset)
    );
    assert_eq!(
        s.read(me, b, i64::MIN, 1),
        Err(StorageRefusal::InvalidByteOffset)
    );
    assert_eq!(
        s.read(me, b, 0, i64::MAX),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(
        s.read(me, b, 0, i64::MIN),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(s.read(me, b, 100, 1), Err(StorageRefusal::InvalidByteCount));
    assert_eq!(s.read(me, b, 100, 0).unwrap(), b"");
    assert_eq!(
        s.allocate(me, i64::MAX, false, "c"),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(
        s.allocate(me, i64::MIN, false, "c"),
        Err(StorageRefusal::InvalidByteCount)
    );
    assert_eq!(s.read(me, b, 0, 0).unwrap(), b"");
    assert_eq!(s.read(me, b, 0, 100).unwrap()[10..15], *b"hello");
    assert_eq!(
        s.read(me, b, 0, 100).unwrap()[98..],
        [0, 0],
        "no partial write"
    );
    assert_eq!(s.read(me, 999, 0, 1), Err(StorageRefusal::NoSuchBlock));
    let other = s.register(app("b")).unwrap();
    assert_eq!(s.read(other, b, 0, 1), Err(StorageRefusal::NotOwner));
    s.deallocate(me, b).unwrap();
    assert_eq!(s.used(), 0);
}

#[test]
fn locks_belong_to_sessions() {
    let mut s = Storage::default();
    let one = s.register(app("a")).unwrap();
    let two = s.register(app("a")).unwrap();
    let b = s.allocate(one, 16, true, "b").unwrap();
    assert_eq!(s.unlock(one, b), Err(StorageRefusal::NotLocked));
    s.lock(one, b).unwrap();
    assert_eq!(s.write(two, b, 0, b"x"), Err(StorageRefusal::LockedByOther));
    assert_eq!(s.lock(two, b), Err(StorageRefusal::LockedByOther));
    assert_eq!(s.unlock(two, b), Err(StorageRefusal::LockedByOther));
    s.write(one, b, 0, b"x").unwrap();
    s.unregister(one).unwrap();
    s.write(two, b, 0, b"y").unwrap();
    let stranger = s.register(app("z")).unwrap();
    assert_eq!(
        s.block(stranger, b),
        Err(StorageRefusal::NoSuchBlock),
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
        Err(StorageRefusal::InvalidAllocation)
    );
    let e = s
        .add_entry("big", "Contoso", true, i64::from(LIMITS.max_partner_quota))
        .unwrap();
    assert_eq!(
        s.add_entry("big", "Contoso", true, 1),
        Err(StorageRefusal::Duplicate)
    );
    let me = s.register(app("big")).unwrap();
    let block = i64::from(LIMITS.max_block);
    s.allocate(me, block, false, "1").unwrap();
    s.allocate(me, block, false, "2").unwrap();
    assert_eq!(
        s.allocate(me, 1, false, "3"),
        Err(StorageRefusal::NotEnoughStorage)
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
        Err(StorageRefusal::NotEnoughStorage)
    );
    s.remove_entry(e).unwrap();
    assert_eq!(s.remove_entry(e), Err(StorageRefusal::NoSuchEntry));
}

#[test]
fn entries_come_in_pages_from_a_one_based_index() {
    let mut s = Storage::default();
    let handles: Vec<u32> = (0..3)
        .map(|i| {
            s.add_entry(&format!("app{i}"), "Contoso", false, 1)
                .unwrap()
        })
        .collect();
    let page = s.entries_page(2, 10).unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.handles, handles[1..]);
    assert_eq!(s.entries_page(1, 2).unwrap().handles, handles[..2]);
    assert_eq!(s.entries_page(4, 10).unwrap().handles, Vec::<u32>::new());
    for start in [0, 5, i64::MIN, i64::MAX] {
        assert_eq!(s.entries_page(start, 10), Err(StorageRefusal::InvalidIndex));
    }
}

#[test]
fn a_write_over_the_mtu_is_refused_before_anything_else() {
    let mut s = Storage::default();
    let big = vec![0u8; LIMITS.mtu as usize + 1];
    assert_eq!(
        s.write(42, 42, -1, &big),
        Err(StorageRefusal::InvalidByteCount)
    );
    let me = s.register(app("a")).unwrap();
    let b = s.allocate(me, 100, false, "b").unwrap();
    assert_eq!(
        s.write(me, b, 0, &big),
        Err(StorageRefusal::InvalidByteCount)
    );
}

#[test]
fn the_device_api_answers_with_snapshots() {
    let d = crate::testing::device("11.8");
    let me = d.storage_register(app("a")).unwrap();
    let b = d.storage_allocate(me, 10, true, "b").unwrap();
    d.storage_write(me, b, 2, b"hi").unwrap();
    assert_eq!(d.storage_read(me, b, 2, 2).unwrap(), b"hi");
    assert_eq!(
        d.storage_block(me, b).unwrap(),
        BlockInfo {
            size: 10,
            hidden: true,
            name: "b".into(),
            owner: d.storage_registered_applications(me).unwrap()[0],
        }
    );
    assert_eq!(
        d.storage_application(me, 4242),
        Err(StorageRefusal::NoSuchApplication)
    );
    assert_eq!(d.storage_used(), 10);
    assert_eq!(d.storage_entry(1), Err(StorageRefusal::NoSuchEntry));
}

#[test]
fn an_audit_log_that_cannot_take_the_record_refuses_a_partner_entry() {
    use crate::device::audit::{CAPACITY, EventId, PolicyType, StoragePolicy};
    let d = crate::testing::device("11.8");
    d.with_state(|s| {
        let log = &mut s.nvram.audit_log;
        log.storage_policy = StoragePolicy::NoRollover;
        log.set_policy(EventId::STORAGE_FPACL_MODIFIED, Some(PolicyType::Critical))
            .unwrap();
    });
    let first = d.storage_add_entry("a", "Contoso", false, 1).unwrap();
    for _ in 0..CAPACITY {
        d.audit(EventId::STORAGE_FPACL_MODIFIED);
    }
    assert!(d.audit_blocks(EventId::STORAGE_FPACL_MODIFIED));
    assert_eq!(
        d.storage_add_entry("b", "Contoso", false, 1),
        Err(StorageRefusal::AuditFail)
    );
    assert_eq!(d.storage_entries_page(1, 10).unwrap().handles, vec![first]);
}
