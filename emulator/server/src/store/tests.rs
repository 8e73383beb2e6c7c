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
    device.with_state(|s| s.nvram.general.host_name = "kept".into());
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
            d.with_state(|s| s.nvram.general.host_name = format!("host-{i}"));
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
    device.with_state(|s| s.nvram.general.host_name = "from-a-file".into());
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
