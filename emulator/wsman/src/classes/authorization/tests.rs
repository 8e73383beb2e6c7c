use super::*;
use amtemu_model::device::users::ha1;
use amtemu_model::testing::device;

fn call(
    f: fn(&Device, &Instance, &Instance) -> Result<Instance, Fault>,
    d: &Device,
    input: Instance,
) -> Instance {
    f(d, &Instance::default(), &input).unwrap()
}

fn rv(out: &Instance) -> i64 {
    out.int("ReturnValue").unwrap()
}

fn network_ha1(d: &Device, name: &str) -> Option<[u8; 16]> {
    d.network_login(name, tokio::time::Instant::now())
        .map(|l| l.ha1)
}

fn add_input(d: &Device, name: &str, password: &str, realms: &[u8]) -> Instance {
    let blob = BASE64.encode(ha1(name, &d.identity.digest_realm, password));
    Instance::new("AddUserAclEntryEx_INPUT")
        .with("DigestUsername", name)
        .with("DigestPassword", blob)
        .with("AccessPermission", 2)
        .with_array("Realms", realms.iter().map(|r| r.to_string()))
}

#[test]
fn users_round_trip_through_the_methods() {
    let d = device("11.8");
    let added = call(add_user, &d, add_input(&d, "ops", "Passw0rd!", &[4, 5]));
    assert_eq!(rv(&added), 0);
    let handle = added.int("Handle").unwrap();
    assert_eq!(handle, 1);

    let got = call(
        get_user,
        &d,
        Instance::new("GetUserAclEntryEx_INPUT").with("Handle", handle),
    );
    assert_eq!(got.text("DigestUsername"), Some("ops"));
    assert_eq!(got.int("AccessPermission"), Some(2));
    assert!(got.get("DigestPassword").is_none());
    let realms: Vec<i64> = got
        .get("Realms")
        .unwrap()
        .items()
        .iter()
        .map(|v| v.as_int().unwrap())
        .collect();
    assert_eq!(realms, [4, 5]);

    // Duplicate name; bad password blobs.
    assert_eq!(
        rv(&call(add_user, &d, add_input(&d, "ops", "x", &[4]))),
        2058
    );
    for blob in ["not base64!", "AAAA", ""] {
        let bad = add_input(&d, "ops2", "x", &[4]).with("DigestPassword", blob);
        assert_eq!(rv(&call(add_user, &d, bad)), 2054, "{blob:?}");
    }
    let bad_realm = add_input(&d, "ops2", "x", &[1]);
    assert_eq!(rv(&call(add_user, &d, bad_realm)), 2055);

    // go-wsman-messages nests the realm values.
    let mut nested = add_input(&d, "ops2", "x", &[]);
    nested.set(
        "Realms",
        Value::Object(Instance::default().with_array("RealmValue", ["13", "19"])),
    );
    let h2 = call(add_user, &d, nested).int("Handle").unwrap();
    assert_eq!(d.user(h2 as u32).unwrap().realms, [13, 19]);

    let update = add_input(&d, "ops", "N3w-pass", &[13])
        .with("Handle", handle)
        .with("AccessPermission", 1);
    assert_eq!(rv(&call(update_user, &d, update)), 0);
    assert_eq!(
        network_ha1(&d, "ops"),
        Some(ha1("ops", &d.identity.digest_realm, "N3w-pass"))
    );

    let state = |h: i64| {
        call(
            get_enabled,
            &d,
            Instance::new("GetAclEnabledState_INPUT").with("Handle", h),
        )
    };
    assert_eq!(state(handle).bool("Enabled"), Some(true));
    let disable = Instance::new("SetAclEnabledState_INPUT")
        .with("Handle", handle)
        .with("Enabled", false);
    assert_eq!(rv(&call(set_enabled, &d, disable)), 0);
    assert_eq!(state(handle).bool("Enabled"), Some(false));
    assert_eq!(rv(&state(77)), 2053);

    let remove = |h: i64| {
        call(
            remove_user,
            &d,
            Instance::new("RemoveUserAclEntry_INPUT").with("Handle", h),
        )
    };
    assert_eq!(rv(&remove(handle)), 0);
    assert_eq!(rv(&remove(handle)), 2053);
    assert_eq!(rv(&remove(-1)), 2053);
}

#[test]
fn enumeration_pages_from_the_start_index() {
    let d = device("11.8");
    let list = |start: i64| {
        call(
            enumerate_users,
            &d,
            Instance::new("EnumerateUserAclEntries_INPUT").with("StartIndex", start),
        )
    };
    let empty = list(1);
    assert_eq!(
        (
            rv(&empty),
            empty.int("TotalCount"),
            empty.int("HandlesCount")
        ),
        (0, Some(0), Some(0))
    );
    for i in 0..5 {
        call(
            add_user,
            &d,
            add_input(&d, &format!("user{i}"), "Passw0rd!", &[4]),
        );
    }
    let handles = |out: &Instance| -> Vec<i64> {
        out.get("Handles")
            .map(|v| v.items().iter().map(|h| h.as_int().unwrap()).collect())
            .unwrap_or_default()
    };
    let all = list(1);
    assert_eq!(all.int("TotalCount"), Some(5));
    assert_eq!(handles(&all), [1, 2, 3, 4, 5]);
    let rest = list(4);
    assert_eq!(
        (rest.int("TotalCount"), rest.int("HandlesCount")),
        (Some(5), Some(2))
    );
    assert_eq!(handles(&rest), [4, 5]);
    assert_eq!(list(6).int("HandlesCount"), Some(0));
    assert_eq!(rv(&list(0)), 36);
}

#[test]
fn the_admin_entry() {
    let d = device("11.8");
    let none = Instance::default();
    assert_eq!(
        call(get_admin, &d, none.clone()).text("Username"),
        Some("admin")
    );
    assert_eq!(
        call(get_admin_status, &d, none.clone()).bool("IsDefault"),
        Some(true)
    );
    let realm = d.identity.digest_realm.clone();
    let set = |name: &str, blob: String| {
        call(
            set_admin,
            &d,
            Instance::new("SetAdminAclEntryEx_INPUT")
                .with("Username", name)
                .with("DigestPassword", blob),
        )
    };
    assert_eq!(rv(&set("admin", "short".into())), 2054);
    assert_eq!(
        rv(&set("$$me", BASE64.encode(ha1("$$me", &realm, "x")))),
        12
    );
    assert_eq!(
        rv(&set(
            "admin",
            BASE64.encode(ha1("admin", &realm, "N3w-p@ss"))
        )),
        0
    );
    assert_eq!(
        network_ha1(&d, "admin"),
        Some(ha1("admin", &realm, "N3w-p@ss"))
    );
    assert_eq!(
        call(get_admin_net_status, &d, none).bool("IsDefault"),
        Some(false)
    );
}

#[test]
fn kerberos_settings_and_kerberos_users() {
    let d = device("11.8");
    let current = kerberos_settings(&d).remove(0);
    assert_eq!(current.text("InstanceID"), Some(KERBEROS));
    assert_eq!(current.bool("KrbEnabled"), Some(false));
    let sid = BASE64.encode([7u8; 28]);
    let kerberos_user = Instance::new("AddUserAclEntryEx_INPUT")
        .with("DigestUsername", "")
        .with("KerberosUserSid", sid.clone())
        .with("AccessPermission", 2)
        .with("Realms", "5");
    // Not before Kerberos is enabled.
    assert_eq!(rv(&call(add_user, &d, kerberos_user.clone())), 16);

    // Enabling needs a realm name and a key.
    let enable = current.clone().with("KrbEnabled", true);
    assert_eq!(
        put_kerberos_settings(&d, &current, &enable),
        Err(Fault::InternalError(36))
    );
    let enable = enable
        .with("RealmName", "VPRO.TEST")
        .with("MasterKey", BASE64.encode([1u8; 16]))
        .with_array("ServicePrincipalName", ["HTTP/amt-0001.vpro.test:16992"])
        .with_array("ServicePrincipalProtocol", ["0"]);
    put_kerberos_settings(&d, &current, &enable).unwrap();
    let now = kerberos_settings(&d).remove(0);
    assert_eq!(now.bool("KrbEnabled"), Some(true));
    assert_eq!(now.text("RealmName"), Some("VPRO.TEST"));
    assert!(now.get("MasterKey").is_none());
    assert_eq!(
        now.get("ConfiguredEncryptionAlgorithms").unwrap().items(),
        [Value::Int(0)]
    );
    let short_key = enable.clone().with("MasterKey", BASE64.encode([1u8; 15]));
    assert_eq!(
        put_kerberos_settings(&d, &now, &short_key),
        Err(Fault::InternalError(36))
    );

    let added = call(add_user, &d, kerberos_user.clone());
    assert_eq!(rv(&added), 0);
    let got = call(
        get_user,
        &d,
        Instance::new("GetUserAclEntryEx_INPUT").with("Handle", added.int("Handle").unwrap()),
    );
    assert_eq!(got.text("KerberosUserSid"), Some(sid.as_str()));
    assert!(got.get("DigestUsername").is_none());
    assert_eq!(rv(&call(add_user, &d, kerberos_user)), 2058);
    let listed = call(
        enumerate_users,
        &d,
        Instance::new("EnumerateUserAclEntries_INPUT").with("StartIndex", 1),
    );
    assert_eq!(listed.int("TotalCount"), Some(1));

    let cache = |d: &Device| {
        call(get_credential_cache, d, Instance::default())
            .bool("Enabled")
            .unwrap()
    };
    assert!(!cache(&d));
    let set = Instance::new("SetCredentialCacheState_INPUT").with("Enabled", true);
    assert_eq!(rv(&call(set_credential_cache, &d, set)), 0);
    assert!(cache(&d));
}
