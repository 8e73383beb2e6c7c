use super::*;

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amtemu-store-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_are_durable_when_they_resolve_and_come_back_after_reopening() {
    let dir = temp_dir("reopen");
    let device = amtemu_model::testing::device("11.8");
    device.with_state(|s| s.nvram.general.host_name = "kept".parse().unwrap());
    {
        let store = Store::open(&dir).unwrap();
        assert!(store.load(&device.name).unwrap().is_none());
        store.save(&device).await.unwrap();
    }
    let store = Store::open(&dir).unwrap();
    let back = store.load(&device.name).unwrap().expect("saved");
    assert_eq!(back.general.host_name, "kept");
    assert_eq!(store.devices().unwrap(), vec![key_of(&device.name)]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_saved_at_once_share_commits_and_all_land() {
    let dir = temp_dir("group");
    let store = Store::open(&dir).unwrap();
    let devices: Vec<_> = (0..200)
        .map(|i| {
            let d = amtemu_model::device::Device::new(amtemu_model::device::DeviceConfig::new(
                &format!("fleet/amt-{i:05}"),
                amtemu_model::device::Firmware::by_name("11.8").unwrap(),
            ));
            d.with_state(|s| s.nvram.general.host_name = format!("host-{i}").parse().unwrap());
            d
        })
        .collect();
    let saves = devices.iter().map(|d| store.save(d));
    for result in futures_join(saves).await {
        result.unwrap();
    }
    for (i, d) in devices.iter().enumerate() {
        let back = store.load(&d.name).unwrap().expect("saved");
        assert_eq!(back.general.host_name, format!("host-{i}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let pinned: Vec<_> = futures.map(Box::pin).collect();
    for f in pinned {
        out.push(f.await);
    }
    out
}

#[test]
fn state_files_of_earlier_versions_are_imported_once_and_set_aside() {
    let dir = temp_dir("import");
    std::fs::create_dir_all(&dir).unwrap();
    let device = amtemu_model::testing::device("11.8");
    device.with_state(|s| s.nvram.general.host_name = "from-a-file".parse().unwrap());
    let json = encode(&device.nvram());
    std::fs::write(dir.join(format!("{}.json", key_of(&device.name))), &json).unwrap();
    let store = Store::open(&dir).unwrap();
    assert_eq!(
        store.load(&device.name).unwrap().unwrap().general.host_name,
        "from-a-file"
    );
    assert!(
        dir.join("imported-json")
            .join(format!("{}.json", key_of(&device.name)))
            .exists()
    );
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        0
    );
    // Export and import are the same JSON.
    let exported = store.export(&device.name).unwrap().unwrap();
    store.import("another", exported.as_bytes()).unwrap();
    assert_eq!(
        store.load("another").unwrap().unwrap().general.host_name,
        "from-a-file"
    );
    assert!(matches!(
        store.import("broken", b"{}"),
        Err(StoreError::Format { .. })
    ));
    assert!(store.load("broken").unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_that_is_not_a_device_state_is_refused_at_open() {
    let dir = temp_dir("refuse");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("junk.json"), b"{\"not\": 1}").unwrap();
    assert!(matches!(Store::open(&dir), Err(StoreError::Format { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The JSON of a device's state as a version that did not check names
/// could have written it: a host name with control characters, which made
/// every Get of AMT_GeneralSettings unreadable.
fn state_with_a_broken_host_name(device: &Device) -> Vec<u8> {
    let mut json = serde_json::to_value(device.nvram()).unwrap();
    json["general"]["host_name"] = "pc\u{1}\u{1b}[2J".into();
    json["general"]["domain_name"] = "vpro.test".into();
    json["general"]["ddns_ttl"] = 600.into();
    serde_json::to_vec(&json).unwrap()
}

/// Such a name is dropped on load, with a warning, and the rest of the
/// device's state is kept: from a state file of an earlier version and
/// from a record already in the database alike. The device restored from
/// it answers Gets with XML a parser accepts.
#[test]
fn a_stored_name_firmware_refuses_is_dropped_on_load_and_the_rest_kept() {
    let dir = temp_dir("broken-name");
    std::fs::create_dir_all(&dir).unwrap();
    let device = amtemu_model::testing::device("11.8");
    let broken = state_with_a_broken_host_name(&device);
    std::fs::write(dir.join(format!("{}.json", key_of("from-file"))), &broken).unwrap();
    let store = Store::open(&dir).unwrap();
    store
        .writer
        .write_blocking(vec![(key_of("in-database"), broken.clone())])
        .unwrap();
    for name in ["from-file", "in-database"] {
        let nvram = store.load(name).unwrap().expect("kept");
        assert_eq!(nvram.general.host_name, "", "{name}");
        assert_eq!(nvram.general.domain_name, "vpro.test", "{name}");
        assert_eq!(nvram.general.ddns_ttl, 600, "{name}");
        let restored = amtemu_model::testing::device("11.8");
        restored.restore(nvram);
        let get = format!(
            r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><w:ResourceURI>{}</w:ResourceURI><a:MessageID>1</a:MessageID></Header><Body/></Envelope>"#,
            amtemu_wire::wsman::names::class_uri("AMT_GeneralSettings")
        );
        let reply = amtemu_wsman::handle(
            &restored,
            &amtemu_wsman::WsmanState::default(),
            &amtemu_model::device::users::Caller::Admin,
            get.as_bytes(),
        );
        assert_eq!(reply.fault, None);
        assert!(
            reply.xml.contains("<g:HostName></g:HostName>"),
            "{}",
            reply.xml
        );
        assert!(!reply.xml.chars().any(|c| c.is_control()), "{}", reply.xml);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
