use super::*;
use std::time::Duration;

const REALM: &str = "Digest:A4070000000000000000000000000000";

fn fw() -> &'static Firmware {
    Firmware::by_name("11.8").unwrap()
}

fn users() -> Users {
    Users::new("admin", "P@ssw0rd", REALM)
}

fn digest(name: &str, realms: &[i64]) -> AclEntryRequest {
    AclEntryRequest {
        name: Some(name.into()),
        ha1: Some(ha1(name, REALM, "Passw0rd!")),
        kerberos_sid: None,
        access: Some(2),
        realms: Some(realms.to_vec()),
    }
}

#[test]
fn add_get_update_remove() {
    let mut u = users();
    let h = u.add(&digest("ops", &[4, 5]), fw()).unwrap();
    assert_eq!(h, 1);
    let a = u.account(h).unwrap();
    assert_eq!(
        (a.name.as_str(), a.realms.as_slice()),
        ("ops", &[4u8, 5][..])
    );
    let login = u.network_login("ops", Instant::now()).unwrap();
    assert_eq!(
        login.caller,
        Caller::User {
            name: "ops".into(),
            realms: vec![4, 5]
        }
    );
    assert!(!login.caller.has_realm(realm::GENERAL_INFO));

    let mut req = digest("ops2", &[13]);
    req.access = Some(1);
    u.update(h, &req, fw()).unwrap();
    assert!(u.network_login("ops", Instant::now()).is_none());
    let a = u.account(h).unwrap();
    assert_eq!(
        (a.name.as_str(), a.access, a.realms.as_slice()),
        ("ops2", AccessPermission::NetworkOnly, &[13u8][..])
    );
    // A new name without the password hashed for it is refused.
    let mut rename = digest("ops3", &[13]);
    rename.ha1 = None;
    assert_eq!(
        u.update(h, &rename, fw()),
        Err(UserRefusal::InvalidPassword)
    );
    assert_eq!(u.update(99, &req, fw()), Err(UserRefusal::InvalidHandle));

    assert_eq!(u.set_enabled(h, false), Ok(()));
    assert!(u.network_login("ops2", Instant::now()).is_none());
    assert_eq!(u.remove(h), Ok(()));
    assert_eq!(u.remove(h), Err(UserRefusal::InvalidHandle));
    assert!(u.accounts.is_empty());
}

#[test]
fn names_duplicates_realms_and_limits() {
    let mut u = users();
    for bad in [
        "",
        "$$uns",
        "a:b",
        "a,b",
        "a<b",
        "a b",
        "x".repeat(17).as_str(),
    ] {
        assert_eq!(
            u.add(&digest(bad, &[4]), fw()),
            Err(UserRefusal::InvalidName),
            "{bad:?}"
        );
    }
    assert_eq!(
        u.add(&digest("Admin", &[4]), fw()),
        Err(UserRefusal::InvalidName)
    );
    assert!(u.add(&digest(&"x".repeat(16), &[4]), fw()).is_ok());
    assert_eq!(
        u.add(&digest("ops", &[0]), fw()),
        Err(UserRefusal::InvalidRealm)
    );
    assert_eq!(
        u.add(&digest("ops", &[]), fw()),
        Err(UserRefusal::InvalidRealm)
    );
    assert_eq!(
        u.add(&digest("ops", &[16]), fw()),
        Err(UserRefusal::InvalidRealm)
    );
    assert_eq!(
        u.add(&digest("ops", &[25]), fw()),
        Err(UserRefusal::InvalidRealm)
    );
    let mut network_only_local = digest("ops", &[24]);
    network_only_local.access = Some(1);
    assert_eq!(
        u.add(&network_only_local, fw()),
        Err(UserRefusal::InvalidRealm)
    );
    let old = Firmware::by_name("3.2.1").unwrap();
    assert_eq!(
        u.add(&digest("ops", &[20]), old),
        Err(UserRefusal::InvalidRealm)
    );
    let mut bad_access = digest("ops", &[4]);
    bad_access.access = Some(3);
    assert_eq!(u.add(&bad_access, fw()), Err(UserRefusal::InvalidParameter));

    u.add(&digest("ops", &[4, 4, 2]), fw()).unwrap();
    assert_eq!(u.account(2).unwrap().realms, [2, 4]);
    assert_eq!(
        u.add(&digest("ops", &[4]), fw()),
        Err(UserRefusal::Duplicate)
    );
    // The administrator's name is taken too.
    u.set_admin("root", ha1("root", REALM, "x")).unwrap();
    assert_eq!(
        u.add(&digest("root", &[4]), fw()),
        Err(UserRefusal::Duplicate)
    );
    assert_eq!(u.set_admin("ops", [0; 16]), Err(UserRefusal::Duplicate));
    assert!(!u.admin_is_default);

    for i in 0..5 {
        u.add(&digest(&format!("u{i}"), &[4]), fw()).unwrap();
    }
    assert_eq!(u.accounts.len(), MAX_DIGEST_USERS);
    assert_eq!(
        u.add(&digest("one-more", &[4]), fw()),
        Err(UserRefusal::MaxLimitReached)
    );
    // Handles are reused lowest first.
    u.remove(3).unwrap();
    assert_eq!(u.add(&digest("again", &[4]), fw()), Ok(3));
}

#[test]
fn kerberos_entries_and_paging() {
    let mut u = users();
    let sid = AclEntryRequest {
        kerberos_sid: Some(vec![1; 28]),
        access: Some(2),
        realms: Some(vec![5]),
        ..AclEntryRequest::default()
    };
    // Kerberos must be enabled first.
    assert_eq!(u.add(&sid, fw()), Err(UserRefusal::NotPermitted));
    u.kerberos.enabled = true;
    let h = u.add(&sid, fw()).unwrap();
    assert!(u.account(h).unwrap().name.is_empty());
    assert_eq!(u.add(&sid, fw()), Err(UserRefusal::Duplicate));
    let odd = AclEntryRequest {
        kerberos_sid: Some(vec![1; 5]),
        ..sid.clone()
    };
    assert_eq!(u.add(&odd, fw()), Err(UserRefusal::InvalidParameter));
    let both = AclEntryRequest {
        name: Some("ops".into()),
        ..sid.clone()
    };
    assert_eq!(u.add(&both, fw()), Err(UserRefusal::InvalidParameter));
    // A Kerberos entry cannot become a digest one.
    assert_eq!(
        u.update(h, &digest("ops", &[5]), fw()),
        Err(UserRefusal::NotPermitted)
    );
    for i in 0..4u8 {
        u.add(
            &AclEntryRequest {
                kerberos_sid: Some(vec![i; 8]),
                ..sid.clone()
            },
            fw(),
        )
        .unwrap();
    }
    u.add(&digest("ops", &[4]), fw()).unwrap();
    assert_eq!(u.enumerate(1), Ok((6, vec![1, 2, 3, 4, 5, 6])));
    assert_eq!(u.enumerate(5), Ok((6, vec![5, 6])));
    assert_eq!(u.enumerate(7), Ok((6, vec![])));
    assert_eq!(u.enumerate(0), Err(UserRefusal::InvalidParameter));
    // Kerberos entries never log in with digest.
    assert!(u.network_login("", Instant::now()).is_none());
}

#[test]
fn saved_state_keeps_entries_but_not_lockouts() {
    let mut u = users();
    u.add(&digest("ops", &[4]), fw()).unwrap();
    u.login_failed(AccountKey::Admin, Instant::now());
    let mut json = serde_json::to_value(&u).unwrap();
    assert!(json.get("lockouts").is_none());
    // State saved before Kerberos settings existed still loads.
    json.as_object_mut().unwrap().remove("kerberos");
    let back: Users = serde_json::from_value(json).unwrap();
    assert_eq!(back.accounts, u.accounts);
    assert_eq!(back.kerberos, KerberosSettings::default());
    assert!(back.lockouts.is_empty());
}

#[test]
fn a_login_tells_whether_failures_are_on_record() {
    let mut u = users();
    let failures = |u: &Users| {
        u.network_login("admin", Instant::now())
            .unwrap()
            .has_failures
    };
    assert!(!failures(&u));
    u.login_failed(AccountKey::Admin, Instant::now());
    assert!(failures(&u));
    u.login_succeeded(AccountKey::Admin);
    assert!(!failures(&u));
}

#[tokio::test(start_paused = true)]
async fn lockout_backs_off_and_resets() {
    let mut u = users();
    let key = AccountKey::Admin;
    let locked = |u: &Users| u.network_login("admin", Instant::now()).unwrap().locked;
    for _ in 0..LOCKOUT_THRESHOLD - 1 {
        u.login_failed(key, Instant::now());
    }
    assert!(!locked(&u));
    u.login_failed(key, Instant::now());
    assert!(locked(&u));
    // Failures while locked do not lengthen the lock.
    tokio::time::advance(Duration::from_secs(4)).await;
    u.login_failed(key, Instant::now());
    assert!(locked(&u));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!locked(&u));
    // After a lock every failure locks again, twice as long, up to 80 s.
    for expected in [10, 20, 40, 80, 80] {
        u.login_failed(key, Instant::now());
        tokio::time::advance(Duration::from_secs(expected - 1)).await;
        assert!(locked(&u), "{expected}");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!locked(&u), "{expected}");
    }
    // An hour without failures forgets the back-off.
    tokio::time::advance(QUIET_RESET).await;
    u.login_failed(key, Instant::now());
    assert!(!locked(&u));
    // So does a successful login: the count starts again.
    u.login_succeeded(key);
    for _ in 0..LOCKOUT_THRESHOLD - 1 {
        u.login_failed(key, Instant::now());
    }
    u.login_succeeded(key);
    for _ in 0..LOCKOUT_THRESHOLD - 1 {
        u.login_failed(key, Instant::now());
    }
    assert!(!locked(&u));
    u.login_failed(key, Instant::now());
    assert!(locked(&u));
}

#[tokio::test(start_paused = true)]
async fn lockout_is_per_account_and_bounded() {
    let mut u = users();
    let h = u.add(&digest("ops", &[4]), fw()).unwrap();
    for _ in 0..LOCKOUT_THRESHOLD {
        u.login_failed(AccountKey::User(h), Instant::now());
    }
    assert!(u.network_login("ops", Instant::now()).unwrap().locked);
    assert!(!u.network_login("admin", Instant::now()).unwrap().locked);
    // A new password unlocks; removing the entry drops its state.
    let mut req = digest("ops", &[4]);
    req.ha1 = Some(ha1("ops", REALM, "N3w-pass"));
    u.update(h, &req, fw()).unwrap();
    assert!(!u.network_login("ops", Instant::now()).unwrap().locked);
    u.login_failed(AccountKey::User(h), Instant::now());
    assert_eq!(u.lockouts.len(), 1);
    u.remove(h).unwrap();
    assert!(u.lockouts.is_empty());
    // Keys of accounts that do not exist leave no state.
    u.login_failed(AccountKey::User(42), Instant::now());
    assert!(u.lockouts.is_empty());
}

fn device() -> std::sync::Arc<Device> {
    Device::new(crate::device::DeviceConfig::new("users", fw()))
}

#[test]
fn the_device_refuses_with_the_acl_rules_and_audits_what_it_changes() {
    use crate::device::audit::{EventId, Initiator, PolicyType};
    let d = device();
    d.set_audit_policy(&[
        (EventId::ACL_ENTRY_ADDED, Some(PolicyType::Alert)),
        (EventId::ACL_ENTRY_MODIFIED, Some(PolicyType::Alert)),
        (EventId::ACL_ENTRY_REMOVED, Some(PolicyType::Alert)),
        (EventId::ACL_ENTRY_STATE, Some(PolicyType::Alert)),
    ])
    .unwrap();
    let realm = d.identity.digest_realm.clone();
    let mut req = digest("ops", &[4]);
    req.ha1 = Some(ha1("ops", &realm, "Passw0rd!"));
    let h = d.add_user(&req).unwrap();
    assert_eq!(d.add_user(&req), Err(UserRefusal::Duplicate));
    assert_eq!(d.user(h).unwrap().name, "ops");
    assert_eq!(d.user(h + 1), Err(UserRefusal::InvalidHandle));
    assert_eq!(d.user_handles(0), Err(UserRefusal::InvalidParameter));
    assert_eq!(d.user_handles(1), Ok((1, vec![h])));
    assert!(d.network_login("ops", Instant::now()).is_some());
    assert_eq!(d.update_user(h + 1, &req), Err(UserRefusal::InvalidHandle));
    d.update_user(h, &req).unwrap();
    assert_eq!(
        d.set_user_enabled(h + 1, false),
        Err(UserRefusal::InvalidHandle)
    );
    d.set_user_enabled(h, false).unwrap();
    assert!(!d.user(h).unwrap().enabled);
    d.remove_user(h).unwrap();
    assert_eq!(d.remove_user(h), Err(UserRefusal::InvalidHandle));
    assert_eq!(d.set_admin("ops:1", [0; 16]), Err(UserRefusal::InvalidName));
    assert_eq!(d.admin_entry(), ("admin".to_string(), true));

    let records = d.with_state(|s| s.nvram.audit_log.records().clone());
    let ids: Vec<(u16, u16)> = records.iter().map(|r| (r.app, r.event)).collect();
    assert_eq!(
        ids,
        [(20, 1), (16, 2), (16, 3), (16, 6), (16, 4)],
        "policy set, added, modified, disabled, removed; nothing refused"
    );
    for r in records.iter().skip(1) {
        assert_eq!(r.initiator, Initiator::Local);
        assert!(r.extended.ends_with(b"\x03ops"), "{:?}", r.extended);
    }
}

#[test]
fn kerberos_updates_apply_whole_or_not_at_all() {
    let d = device();
    let keyed = KerberosUpdate {
        realm_name: Some("VPRO.TEST".parse().unwrap()),
        master_key: Some(vec![1; 16]),
        enabled: Some(true),
        ..KerberosUpdate::default()
    };
    for bad in [
        KerberosUpdate {
            enabled: Some(true),
            ..KerberosUpdate::default()
        },
        KerberosUpdate {
            master_key: Some(vec![1; 15]),
            ..keyed.clone()
        },
        KerberosUpdate {
            encryption_algorithm: Some(1),
            ..keyed.clone()
        },
        KerberosUpdate {
            maximum_clock_tolerance: Some(0),
            ..keyed.clone()
        },
        KerberosUpdate {
            service_principal_names: Some(vec!["a".parse().unwrap(), "b".parse().unwrap()]),
            service_principal_protocols: Some(vec![0]),
            ..keyed.clone()
        },
        KerberosUpdate {
            service_principal_names: Some(vec!["a".parse().unwrap()]),
            service_principal_protocols: Some(vec![4]),
            ..keyed.clone()
        },
    ] {
        assert_eq!(
            d.update_kerberos(bad.clone()),
            Err(UserRefusal::InvalidParameter),
            "{bad:?}"
        );
        assert_eq!(d.kerberos_settings(), KerberosSettings::default());
    }
    d.update_kerberos(keyed).unwrap();
    // A passphrase with a salt keys it too; absent fields keep their values.
    d.update_kerberos(KerberosUpdate {
        passphrase: Some("pass".into()),
        salt: Some("salt".into()),
        ..KerberosUpdate::default()
    })
    .unwrap();
    let k = d.kerberos_settings();
    assert!(k.enabled && k.master_key.is_some());
    assert_eq!(k.configured_algorithms(), [0, 1, 2]);
    d.set_kerberos_credential_cache(true);
    assert!(d.kerberos_settings().credential_cache);
}

#[test]
fn kerberos_login_grants_the_realms_of_matching_sids() {
    let mut u = users();
    let user_sid = sid(&[21, 1, 2, 3, 1104]);
    let group_sid = sid(&[21, 1, 2, 3, 513]);
    let entry = |sid: &[u8], realms: Vec<i64>, access| AclEntryRequest {
        kerberos_sid: Some(sid.to_vec()),
        access: Some(access),
        realms: Some(realms),
        ..AclEntryRequest::default()
    };
    u.kerberos.enabled = true;
    u.add(&entry(&user_sid, vec![5], 2), fw()).unwrap();
    let g = u.add(&entry(&group_sid, vec![4, 5], 1), fw()).unwrap();
    u.add(&entry(&sid(&[21, 9, 9, 9, 500]), vec![3], 2), fw())
        .unwrap();
    let caller = u.kerberos_login(&[user_sid.clone(), group_sid.clone()]);
    assert_eq!(
        caller,
        Some(Caller::User {
            name: "S-1-5-21-1-2-3-1104".into(),
            realms: vec![4, 5],
        })
    );
    // A disabled group entry no longer grants its realms.
    u.set_enabled(g, false).unwrap();
    let caller = u
        .kerberos_login(&[user_sid.clone(), group_sid.clone()])
        .unwrap();
    assert!(!caller.has_realm(4) && caller.has_realm(5));
    // Unknown SIDs, and everything while Kerberos is off: nobody.
    assert_eq!(u.kerberos_login(&[sid(&[21, 7, 7, 7, 1000])]), None);
    u.kerberos.enabled = false;
    assert_eq!(u.kerberos_login(&[user_sid]), None);
}

#[test]
fn sid_strings() {
    assert_eq!(sid_string(&sid(&[32, 544])), "S-1-5-32-544");
    // Not a SID: the bytes in hex.
    assert_eq!(sid_string(&[1, 9, 0, 0]), "01090000");
}

/// A binary SID S-1-5-<subs…>.
fn sid(subs: &[u32]) -> Vec<u8> {
    let mut out = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, 5];
    for s in subs {
        out.extend(s.to_le_bytes());
    }
    out
}

#[test]
fn digest_accounts_by_name_never_remove_the_administrator() {
    let mut u = users();
    let h = u.add(&digest("ops", &[4, 5]), fw()).unwrap();
    assert_eq!(u.digest_account("admin"), Some(DigestAccount::Admin));
    assert_eq!(u.digest_account("ops"), Some(DigestAccount::Entry(h)));
    assert_eq!(u.digest_account("nobody"), None);
    assert_eq!(
        u.remove_digest_account("admin"),
        Err(UserRefusal::NotPermitted)
    );
    assert_eq!(
        u.remove_digest_account("nobody"),
        Err(UserRefusal::InvalidHandle)
    );
    assert_eq!(u.remove_digest_account("ops"), Ok(h));
    assert!(u.account(h).is_none());
    // The ACL path cannot name the administrator either: it has no handle.
    assert_eq!(u.remove(0), Err(UserRefusal::InvalidHandle));
    assert!(u.network_login("admin", Instant::now()).is_some());
}

#[test]
fn digest_accounts_change_name_and_password_together() {
    let mut u = users();
    let h = u.add(&digest("ops", &[4, 5]), fw()).unwrap();
    let new = ha1("ops", REALM, "N3w-pass!");
    u.change_digest_account("ops", "ops", Some(new)).unwrap();
    assert_eq!(u.network_ha1("ops"), Some(new));
    assert_eq!(u.account(h).unwrap().realms, [4, 5], "realms are kept");
    // A new name without a password hashed for it is refused.
    assert_eq!(
        u.change_digest_account("ops", "ops2", None),
        Err(UserRefusal::InvalidPassword)
    );
    let renamed = ha1("ops2", REALM, "N3w-pass!");
    u.change_digest_account("ops", "ops2", Some(renamed))
        .unwrap();
    assert_eq!(u.digest_account("ops2"), Some(DigestAccount::Entry(h)));
    // The administrator's name is reserved to it.
    assert_eq!(
        u.change_digest_account("ops2", "admin", Some(renamed)),
        Err(UserRefusal::InvalidName)
    );
    // The administrator: a password, or a new name with one.
    let admin = ha1("admin", REALM, "0ther-pass!");
    u.change_digest_account("admin", "admin", Some(admin))
        .unwrap();
    assert_eq!(u.network_ha1("admin"), Some(admin));
    assert_eq!(
        u.change_digest_account("admin", "root", None),
        Err(UserRefusal::InvalidPassword)
    );
    assert_eq!(
        u.change_digest_account("admin", "ops2", Some(admin)),
        Err(UserRefusal::Duplicate)
    );
    assert_eq!(
        u.change_digest_account("ghost", "ghost", None),
        Err(UserRefusal::InvalidHandle)
    );
}

#[test]
fn created_digest_accounts_log_in_without_realms_until_granted_some() {
    let mut u = users();
    let pass = ha1("ops", REALM, "Passw0rd!");
    let h = u.create_digest_account("ops", Some(pass)).unwrap();
    let a = u.account(h).unwrap().clone();
    assert_eq!(
        (a.access, a.realms.as_slice(), a.enabled, a.is_kerberos()),
        (AccessPermission::Any, &[][..], true, false)
    );
    let login = u.network_login("ops", Instant::now()).unwrap();
    assert_eq!(login.ha1, pass);
    assert!(!login.caller.has_realm(realm::GENERAL_INFO));
    assert!(!login.caller.has_realm(realm::PT_ADMINISTRATION));
    // A Put keeps the (empty) realms; UpdateUserAclEntryEx grants some.
    let renamed = ha1("ops2", REALM, "N3w-pass!");
    u.change_digest_account("ops", "ops2", Some(renamed))
        .unwrap();
    assert!(u.account(h).unwrap().realms.is_empty());
    u.update(h, &digest("ops2", &[13]), fw()).unwrap();
    let login = u.network_login("ops2", Instant::now()).unwrap();
    assert!(login.caller.has_realm(realm::GENERAL_INFO));
}

#[test]
fn created_digest_accounts_follow_the_acl_rules() {
    let mut u = users();
    let pass = Some([7; 16]);
    for bad in ["", "$$uns", "a:b", "a b", "admin", "x".repeat(17).as_str()] {
        assert_eq!(
            u.create_digest_account(bad, pass),
            Err(UserRefusal::InvalidName),
            "{bad:?}"
        );
    }
    assert_eq!(
        u.create_digest_account("ops", None),
        Err(UserRefusal::InvalidPassword)
    );
    u.add(&digest("ops", &[4]), fw()).unwrap();
    assert_eq!(
        u.create_digest_account("ops", pass),
        Err(UserRefusal::Duplicate)
    );
    u.set_admin("root", [1; 16]).unwrap();
    assert_eq!(
        u.create_digest_account("root", pass),
        Err(UserRefusal::Duplicate)
    );
    // Kerberos entries do not count against the digest limit.
    u.kerberos.enabled = true;
    let mut group = digest("", &[4]);
    group.name = None;
    group.kerberos_sid = Some(sid(&[21, 1, 2, 3, 512]));
    u.add(&group, fw()).unwrap();
    for i in 1..MAX_DIGEST_USERS {
        assert_eq!(
            u.create_digest_account(&format!("u{i}"), pass),
            Ok(u32::try_from(i).unwrap() + 2)
        );
    }
    let before = u.clone();
    assert_eq!(
        u.create_digest_account("one-more", pass),
        Err(UserRefusal::MaxLimitReached)
    );
    assert_eq!(u, before, "a refusal changes nothing");
}

#[test]
fn the_device_announces_and_audits_created_digest_accounts() {
    use crate::device::audit::{EventId, PolicyType};
    let d = device();
    d.set_audit_policy(&[(EventId::ACL_ENTRY_ADDED, Some(PolicyType::Alert))])
        .unwrap();
    let mut changes = d.subscribe();
    let h = d.create_digest_account("ops", Some([7; 16])).unwrap();
    assert_eq!(d.user(h).unwrap().name, "ops");
    assert!(matches!(
        changes.try_recv(),
        Ok(crate::device::DeviceEvent::SettingsChanged(
            "AMT_AuthorizationService"
        ))
    ));
    assert_eq!(
        d.create_digest_account("ops", Some([7; 16])),
        Err(UserRefusal::Duplicate)
    );
    let records = d.with_state(|s| s.nvram.audit_log.records().clone());
    let ids: Vec<(u16, u16)> = records.iter().map(|r| (r.app, r.event)).collect();
    assert_eq!(ids, [(20, 1), (16, 2)], "policy set, added once");
}
