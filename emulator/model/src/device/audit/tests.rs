use super::*;

fn rec(id: EventId, time: u32) -> AuditRecord {
    AuditRecord {
        app: id.app,
        event: id.event,
        initiator: Initiator::Digest("admin".into()),
        time,
        address: Some("127.0.0.1".into()),
        extended: vec![],
    }
}

#[test]
fn records_encode_in_the_layout_meshcommander_decodes() {
    let mut r = rec(EventId::ACL_ENTRY_ADDED, 0x0102_0304);
    r.extended = AuditEvent::acl_entry(EventId::ACL_ENTRY_ADDED, "bob").extended;
    let b = r.encode();
    assert_eq!(&b[..4], &[0, 16, 0, 2]);
    assert_eq!(b[4], 0, "digest initiator");
    assert_eq!(&b[5..11], b"\x05admin");
    assert_eq!(&b[11..15], &[1, 2, 3, 4]);
    assert_eq!(b[15], 0, "IPv4 location");
    assert_eq!(&b[16..26], b"\x09127.0.0.1");
    assert_eq!(&b[26..], b"\x05\x00\x03bob");
    assert_eq!(
        AuditEvent::acl_state(false, "bob").extended,
        b"\x00\x00\x03bob"
    );
    let local = AuditRecord {
        initiator: Initiator::Local,
        address: None,
        ..rec(EventId::POWER_UP, 7)
    };
    assert_eq!(local.encode(), vec![0, 17, 0, 0, 2, 0, 0, 0, 7, 2, 0, 0]);
}

#[test]
fn only_audited_events_are_recorded_and_unknown_ids_are_refused() {
    let mut log = AuditLog::default();
    assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(false));
    assert_eq!(
        log.set_policy(EventId::new(16, 99), Some(PolicyType::Alert)),
        Err(AuditRefusal::InvalidParameter)
    );
    assert_eq!(
        log.set_policy(EventId::new(99, 0), Some(PolicyType::Alert)),
        Err(AuditRefusal::InvalidParameter)
    );
    log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
        .unwrap();
    assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(true));
    // The log's own management is always recorded.
    assert_eq!(log.record(rec(EventId::LOG_CLEARED, 1), 1), Ok(true));
    log.enabled = false;
    assert_eq!(log.record(rec(EventId::POWER_UP, 1), 1), Ok(false));
    assert_eq!(log.state_bits(1) & 1, 1);
    log.set_policy(EventId::POWER_UP, None).unwrap();
    assert!(log.policy_rules().is_empty());
}

#[test]
fn a_full_log_follows_its_storage_policy() {
    let fill = |policy| {
        let mut log = AuditLog {
            storage_policy: policy,
            ..AuditLog::default()
        };
        log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
            .unwrap();
        log.set_policy(EventId::RESET, Some(PolicyType::Critical))
            .unwrap();
        for t in 0..CAPACITY as u32 {
            assert_eq!(log.record(rec(EventId::POWER_UP, t), t), Ok(true));
        }
        log
    };
    let mut wrap = fill(StoragePolicy::Rollover);
    assert_eq!(wrap.state_bits(0) & 0xC, 0xC);
    assert_eq!(wrap.record(rec(EventId::RESET, 5000), 5000), Ok(true));
    assert_eq!(wrap.len(), CAPACITY);
    assert_eq!(wrap.records().front().unwrap().time, 1, "oldest dropped");

    let mut keep = fill(StoragePolicy::NoRollover);
    assert_eq!(keep.record(rec(EventId::POWER_UP, 5000), 5000), Ok(false));
    assert!(keep.blocks(EventId::RESET, 5000));
    assert_eq!(
        keep.record(rec(EventId::RESET, 5000), 5000),
        Err(AuditRefusal::CannotRecord)
    );
    assert_eq!(keep.len(), CAPACITY);
    assert_eq!(keep.records().back().unwrap().time, CAPACITY as u32 - 1);

    let mut restricted = fill(StoragePolicy::RestrictedRollover);
    restricted.min_days_to_keep = 1;
    assert!(restricted.blocks(EventId::RESET, 86_399));
    assert!(!restricted.blocks(EventId::RESET, 86_400));
    assert_eq!(
        restricted.record(rec(EventId::RESET, 86_400), 86_400),
        Ok(true)
    );
}

#[test]
fn reading_pages_from_a_one_based_index() {
    let mut log = AuditLog::default();
    log.set_policy(EventId::POWER_UP, Some(PolicyType::Alert))
        .unwrap();
    for t in 0..25 {
        log.record(rec(EventId::POWER_UP, t), t).unwrap();
    }
    let (total, first) = log.read(1).unwrap();
    assert_eq!((total, first.len()), (25, PAGE_SIZE));
    let (_, last) = log.read(21).unwrap();
    assert_eq!(last.len(), 5);
    assert_eq!(log.read(26).unwrap().1.len(), 0);
    assert_eq!(log.read(0), Err(AuditRefusal::InvalidIndex));
    assert_eq!(log.read(27), Err(AuditRefusal::InvalidIndex));
    assert_eq!(AuditLog::default().read(1), Ok((0, vec![])));
}

#[test]
fn the_lock_keeps_others_out_until_it_expires() {
    let mut log = AuditLog::default();
    assert_eq!(log.lock(0, 100), Err(AuditRefusal::InvalidParameter));
    assert_eq!(
        log.lock(MAX_LOCK_SECONDS + 1, 100),
        Err(AuditRefusal::InvalidParameter)
    );
    let handle = log.lock(60, 100).unwrap();
    assert_eq!(log.state_bits(100) & 2, 2);
    assert_eq!(log.lock(60, 101), Err(AuditRefusal::NotPermitted));
    assert_eq!(log.clear(101), Err(AuditRefusal::NotPermitted));
    assert_eq!(
        log.unlock(handle + 1, 101),
        Err(AuditRefusal::InvalidHandle)
    );
    log.unlock(handle, 101).unwrap();
    assert_eq!(log.clear(101), Ok(()));
    let again = log.lock(10, 200).unwrap();
    assert_ne!(again, handle);
    assert_eq!(log.clear(210), Ok(()), "the lock ran out");
    assert_eq!(log.unlock(again, 210), Err(AuditRefusal::NotPermitted));
}

#[test]
fn the_sp2_state_survives_a_restart() {
    use crate::device::{Device, DeviceConfig, Firmware, MePowerPolicy, storage::AppIdentity};
    let config = DeviceConfig::new("nv", Firmware::by_name("11.8").unwrap());
    let before = Device::new(config.clone());
    before.with_state(|s| {
        s.nvram
            .audit_log
            .set_policy(EventId::POWER_UP, Some(PolicyType::Critical))
            .unwrap();
        s.nvram.audit_log.storage_policy = StoragePolicy::NoRollover;
        s.nvram.power_policy = MePowerPolicy::S0AndSleep;
        let session = s
            .nvram
            .storage
            .register(AppIdentity {
                uuid: vec![1; 16],
                vendor: "v".into(),
                name: "a".into(),
                enterprise: String::new(),
            })
            .unwrap();
        let block = s.nvram.storage.allocate(session, 8, false, "b").unwrap();
        s.nvram.storage.write(session, block, 0, b"kept").unwrap();
    });
    before.audit(EventId::POWER_UP);
    let saved = serde_json::to_string(&before.nvram()).unwrap();
    let after = Device::new(config);
    after.restore(serde_json::from_str(&saved).unwrap());
    after.with_state(|s| {
        before.with_state(|b| {
            assert_eq!(s.nvram.audit_log, b.nvram.audit_log);
            assert_eq!(s.nvram.power_policy, b.nvram.power_policy);
            assert_eq!(s.nvram.ieee8021x, b.nvram.ieee8021x);
        });
        assert_eq!(s.nvram.audit_log.len(), 1);
        assert_eq!(s.nvram.storage.used(), 8);
    });
    // State files from before these features load with the defaults.
    let mut old: serde_json::Value = serde_json::from_str(&saved).unwrap();
    for key in ["audit_log", "storage", "power_policy", "ieee8021x"] {
        old.as_object_mut().unwrap().remove(key);
    }
    let restored: crate::device::Nvram = serde_json::from_value(old).unwrap();
    assert_eq!(restored.power_policy, MePowerPolicy::AlwaysOn);
    assert!(restored.audit_log.is_empty());
}

#[test]
fn the_device_records_for_the_acting_caller_on_firmware_with_a_log() {
    use crate::device::{Device, DeviceConfig, Firmware};
    let device = |fw| Device::new(DeviceConfig::new("a", Firmware::by_name(fw).unwrap()));
    for fw in ["3.2.1", "4.0"] {
        let d = device(fw);
        d.with_state(|s| {
            s.nvram
                .audit_log
                .set_policy(EventId::RESET, Some(PolicyType::Alert))
        })
        .unwrap();
        let user = Actor {
            caller: Caller::User {
                name: "console".into(),
                realms: vec![],
            },
            address: Some(std::net::IpAddr::from([127, 9, 9, 9])),
        };
        acting(user, || d.audit(EventId::RESET));
        d.audit(EventId::RESET);
        let records = d.with_state(|s| s.nvram.audit_log.records().clone());
        if fw == "3.2.1" {
            assert!(records.is_empty(), "no audit log before 4.0");
            continue;
        }
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].initiator, Initiator::Digest("console".into()));
        assert_eq!(records[0].address.as_deref(), Some("127.9.9.9"));
        assert_eq!(
            records[1].initiator,
            Initiator::Local,
            "no caller: the host"
        );
    }
}

#[test]
fn the_acting_caller_is_scoped() {
    assert_eq!(current_actor(), None);
    let actor = Actor {
        caller: Caller::Admin,
        address: None,
    };
    let inside = acting(actor.clone(), current_actor);
    assert_eq!(inside, Some(actor));
    assert_eq!(current_actor(), None);
}

fn device(fw: &str) -> std::sync::Arc<Device> {
    use crate::device::{DeviceConfig, Firmware};
    Device::new(DeviceConfig::new("audit", Firmware::by_name(fw).unwrap()))
}

#[test]
fn the_device_refuses_what_the_log_cannot_do() {
    let d = device("11.8");
    assert_eq!(
        d.set_audit_policy(&[
            (EventId::POWER_UP, Some(PolicyType::Alert)),
            (EventId::LOG_CLEARED, None),
        ]),
        Err(AuditRefusal::InvalidParameter),
        "the log's own events are always audited"
    );
    assert!(d.audit_policy_rules().is_empty(), "all or nothing");
    assert_eq!(
        d.set_audit_storage_policy(StoragePolicy::RestrictedRollover, None),
        Err(AuditRefusal::InvalidParameter)
    );
    assert_eq!(d.audit_log_status().records, 0, "nothing changed");
    d.set_audit_storage_policy(StoragePolicy::RestrictedRollover, Some(3))
        .unwrap();
    let status = d.audit_log_status();
    assert_eq!(
        (
            status.storage_policy,
            status.min_days_to_keep,
            status.records
        ),
        (StoragePolicy::RestrictedRollover, 3, 1)
    );
    assert_eq!(d.lock_audit_log(0), Err(AuditRefusal::InvalidParameter));
    let handle = d.lock_audit_log(60).unwrap();
    assert_eq!(d.lock_audit_log(60), Err(AuditRefusal::NotPermitted));
    assert_eq!(d.clear_audit_log(), Err(AuditRefusal::NotPermitted));
    assert_eq!(
        d.unlock_audit_log(handle + 1),
        Err(AuditRefusal::InvalidHandle)
    );
    d.unlock_audit_log(handle).unwrap();
    assert_eq!(d.unlock_audit_log(handle), Err(AuditRefusal::NotPermitted));
    assert_eq!(d.read_audit_log(3), Err(AuditRefusal::InvalidIndex));
    d.clear_audit_log().unwrap();
    assert_eq!(d.read_audit_log(1).unwrap().0, 1, "the clearing itself");
}

#[test]
fn switching_the_log_off_and_on_is_recorded_on_either_side() {
    let d = device("11.8");
    d.set_audit_log_enabled(true);
    assert_eq!(d.audit_log_status().records, 0, "no change, no record");
    d.set_audit_log_enabled(false);
    d.set_audit_log_enabled(false);
    assert!(!d.audit_log_status().enabled);
    d.set_audit_log_enabled(true);
    let events: Vec<(u16, u16)> = d.with_state(|s| {
        s.nvram
            .audit_log
            .records()
            .iter()
            .map(|r| (r.app, r.event))
            .collect()
    });
    let (disabled, enabled) = (EventId::LOG_DISABLED, EventId::LOG_ENABLED);
    assert_eq!(
        events,
        [(disabled.app, disabled.event), (enabled.app, enabled.event)]
    );
    // Firmware without an audit log records nothing.
    let old = device("3.2.1");
    old.set_audit_log_enabled(false);
    old.set_audit_log_enabled(true);
    assert_eq!(old.audit_log_status().records, 0);
}
