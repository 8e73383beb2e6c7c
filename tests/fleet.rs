//! `amtemu fleet`: many devices from one process, each resolved from the
//! address (or port) a connection was sent to.

mod support;

use std::net::SocketAddr;

use support::*;

fn header_version(addr: SocketAddr) -> String {
    let r = Client::raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    r.header("server")
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn port_step_mode_puts_every_device_on_one_address() {
    let ip = unique_address();
    let args: Vec<String> = [
        "fleet",
        "--count",
        "6",
        "--firmware",
        "4.0,12.0",
        "--port-step",
        "10",
        "--first-address",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        ip.to_string(),
        "--http-port".into(),
        "46992".into(),
        "--https-port".into(),
        "46993".into(),
        "--redirection-port".into(),
        "46994".into(),
        "--redirection-tls-port".into(),
        "46995".into(),
    ])
    .collect();
    let emu = Emulator::launch(args, SocketAddr::from((ip, 46992)));
    let device = |n: u16| SocketAddr::from((ip, 46992 + 10 * n));
    assert_eq!(header_version(device(0)), "4.0.4.1165");
    assert_eq!(header_version(device(1)), "12.0.67.1579");
    assert_eq!(header_version(device(5)), "12.0.67.1579");
    // Each device has its own identity.
    let mut realms = Vec::new();
    for n in 0..6 {
        let mut c = Client::new(device(n), USER, PASSWORD);
        let text = c.get("AMT_GeneralSettings").text();
        assert_eq!(
            element_text(&text, "HostName"),
            Some(format!("amt-{:05}", n + 1))
        );
        realms.push(element_text(&text, "DigestRealm").unwrap());
    }
    realms.sort();
    realms.dedup();
    assert_eq!(realms.len(), 6);
    // Nothing answers between the devices' ports.
    assert!(std::net::TcpStream::connect(SocketAddr::from((ip, 46997))).is_err());
    drop(emu);
}

#[test]
fn bad_fleet_arguments_are_refused() {
    for args in [
        vec!["fleet", "--count", "0"],
        vec!["fleet", "--count", "3", "--firmware", "2.5"],
        vec!["fleet", "--count", "3", "--first-address", "10.0.0.1"],
        vec![
            "fleet",
            "--count",
            "70000",
            "--first-address",
            "127.255.255.1",
        ],
        vec!["fleet", "--count", "10", "--port-step", "10000"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
            .args(&args)
            .args(["--ca-dir", concat!(env!("CARGO_TARGET_TMPDIR"), "/ca")])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("amtemu:"),
            "{args:?}"
        );
    }
}

#[test]
fn a_shared_listener_serves_every_device_address() {
    let ip = unique_address();
    let first = std::net::Ipv4Addr::new(127, ip.octets()[1], 200, 1);
    let args: Vec<String> = [
        "fleet",
        "--count",
        "300",
        "--shared-listener",
        "--http-port",
        "31992",
        "--https-port",
        "31993",
        "--redirection-port",
        "31994",
        "--redirection-tls-port",
        "31995",
        "--local-port",
        "31996",
        "--vnc-port",
        "31997",
        "--first-address",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([first.to_string()])
    .collect();
    // Binding to the loopback device needs CAP_NET_RAW: skip without it.
    let allowed = tokio::net::TcpSocket::new_v4().and_then(|s| s.bind_device(Some(b"lo")));
    if let Err(e) = allowed {
        eprintln!("skipping: SO_BINDTODEVICE not permitted here ({e})");
        return;
    }
    let emu = Emulator::launch(args, SocketAddr::from((first, 31992)));
    for n in [0u8, 1, 150, 253] {
        let addr = SocketAddr::from((
            std::net::Ipv4Addr::new(127, ip.octets()[1], 200, n + 1),
            31992,
        ));
        let mut c = Client::new(addr, USER, PASSWORD);
        let text = c.get("AMT_GeneralSettings").text();
        assert_eq!(
            element_text(&text, "HostName"),
            Some(format!("amt-{:05}", u32::from(n) + 1))
        );
    }
    // The 300th device is on the next /24 (.0 and .255 are skipped).
    let last = SocketAddr::from((std::net::Ipv4Addr::new(127, ip.octets()[1], 201, 46), 31992));
    assert_eq!(header_version(last), "11.8.50.3425");
    // An address no device has: the connection is closed unanswered.
    let stranger = SocketAddr::from((std::net::Ipv4Addr::new(127, ip.octets()[1], 250, 9), 31992));
    assert!(Client::raw(stranger, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err());
    drop(emu);
}

fn run_scenario(file: &std::path::Path, junit: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["fleet", "--scenario"])
        .arg(file)
        .arg("--report-junit")
        .arg(junit)
        .args(["--ca-dir", concat!(env!("CARGO_TARGET_TMPDIR"), "/ca")])
        .env("AMTEMU_LOG", "amtemu=warn")
        .output()
        .unwrap()
}

#[test]
fn a_scenario_run_ends_with_its_verdict_and_a_junit_report() {
    let dir = std::env::temp_dir().join(format!("amtemu-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The example as shipped, moved to an address of this test's own.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let smoke = dir.join("smoke.toml");
    let text = std::fs::read_to_string(shipped).unwrap().replace(
        "first_address = \"127.1.0.1\"",
        &format!("first_address = \"{}\"", unique_address()),
    );
    assert!(!text.contains("127.1.0.1"));
    std::fs::write(&smoke, text).unwrap();
    let junit = dir.join("smoke.xml");
    let out = run_scenario(&smoke, &junit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 5, "{xml}");
    assert!(!xml.contains("<failure"));
    // An expectation that cannot hold fails the run.
    let ip = unique_address();
    let failing = dir.join("failing.toml");
    std::fs::write(
        &failing,
        format!(
            "[fleet]\nseed = \"failing\"\nfirst_address = \"{ip}\"\nduration = \"1s\"\n\n[[groups]]\nname = \"a\"\ncount = 3\n\n[[expect]]\nat = \"500ms\"\ngroup = \"a\"\npower = \"off\"\n"
        ),
    )
    .unwrap();
    let out = run_scenario(&failing, &dir.join("failing.xml"));
    assert!(!out.status.success());
    assert!(
        std::fs::read_to_string(dir.join("failing.xml"))
            .unwrap()
            .contains("<failure")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fleet_restarted_with_its_state_directory_keeps_each_devices_state() {
    let ip = unique_address();
    let first = std::net::Ipv4Addr::new(127, ip.octets()[1], 180, 1);
    let dir = std::env::temp_dir().join(format!("amtemu-fleet-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args: Vec<String> = [
        "fleet",
        "--count",
        "50",
        "--firmware",
        "11.8,15.0",
        "--state-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        dir.to_string_lossy().into_owned(),
        "--first-address".into(),
        first.to_string(),
    ])
    .collect();
    let device = |n: u8| {
        SocketAddr::from((
            std::net::Ipv4Addr::new(127, ip.octets()[1], 180, n + 1),
            16992,
        ))
    };
    {
        let emu = Emulator::launch(args.clone(), device(0));
        let mut c = Client::new(device(7), USER, PASSWORD);
        let r = c.put_edited(
            "AMT_GeneralSettings",
            "<r:HostName>amt-00008</r:HostName>",
            "<r:HostName>renamed-eight</r:HostName>",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        // The 200 went out once the change was durable: kill at once.
        emu.kill_hard();
    }
    // Only what changed was written before the kill; the others come back
    // from their seeds as they were.
    assert_eq!(saved_devices(&dir), vec!["amtemu_amt-00008".to_string()]);
    let emu = Emulator::launch(args, device(0));
    let host = |n: u8| {
        element_text(
            &Client::new(device(n), USER, PASSWORD)
                .get("AMT_GeneralSettings")
                .text(),
            "HostName",
        )
    };
    assert_eq!(host(7).as_deref(), Some("renamed-eight"));
    assert_eq!(host(8).as_deref(), Some("amt-00009"));
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The devices a state directory holds state for, as `amtemu state list`
/// prints them.
fn saved_devices(dir: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["state", "--state-dir"])
        .arg(dir)
        .arg("list")
        .output()
        .expect("amtemu state list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn shards_run_as_separate_processes_and_their_reports_merge() {
    let dir = std::env::temp_dir().join(format!("amtemu-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let smoke = dir.join("smoke.toml");
    let text = std::fs::read_to_string(shipped).unwrap().replace(
        "first_address = \"127.1.0.1\"",
        // 20 addresses of this test's own: unique_address() never uses a
        // third octet above 250.
        &format!(
            "first_address = \"127.{}.252.1\"",
            100 + std::process::id() % 100
        ),
    );
    std::fs::write(&smoke, text).unwrap();
    let amtemu = || std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"));
    let report = |k: u32| dir.join(format!("shard{k}.json"));
    // Both shards at once, as on two hosts. A shard's own verdict is about
    // its devices only (a share may miss in one shard and hold overall),
    // so only the merged report decides.
    let shards: Vec<std::process::Child> = (0..2)
        .map(|k| {
            amtemu()
                .args(["fleet", "--scenario"])
                .arg(&smoke)
                .args(["--shard", &format!("{k}/2"), "--report-json"])
                .arg(report(k))
                .args(["--ca-dir", concat!(env!("CARGO_TARGET_TMPDIR"), "/ca")])
                .env("AMTEMU_LOG", "amtemu=warn")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut shard in shards {
        shard.wait().unwrap();
    }
    let junit = dir.join("merged.xml");
    let out = amtemu()
        .args(["scenario", "merge"])
        .arg(report(1))
        .arg(report(0))
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["devices"], 20);
    assert_eq!(merged["merged_shards"], 2);
    assert_eq!(merged["events"][0]["selected"], 5);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 5, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    // One shard alone is not the fleet; a shard twice overlaps.
    let out = amtemu()
        .args(["scenario", "merge"])
        .arg(report(0))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("devices 10..20 of 20 are in no report"));
    let out = amtemu()
        .args(["scenario", "merge"])
        .arg(report(0))
        .arg(report(0))
        .arg(report(1))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlap"));
    // K must be below N.
    let out = amtemu()
        .args(["fleet", "--count", "4", "--shard", "4/4"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be below N"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_metrics_listener_serves_metrics_and_nothing_else() {
    let pid = std::process::id();
    let first = format!("127.{}.253.1", 100 + pid % 100);
    let metrics: std::net::SocketAddr = format!("127.{}.253.200:9464", 100 + pid % 100)
        .parse()
        .unwrap();
    let emu = Emulator::launch(
        [
            "fleet",
            "--count",
            "3",
            "--shard",
            "1/2",
            "--first-address",
            &first,
            "--metrics",
            &metrics.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        format!("{first}:16992").parse().unwrap(),
    );
    let response = Client::raw(
        metrics,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response.status, 200);
    // Shard 1 of 2 of a fleet of 3 runs devices 2 and 3.
    assert!(
        response.text().contains("amtemu_devices 2"),
        "{}",
        response.text()
    );
    // The control API's routes, which change devices, are not there.
    let response = Client::raw(
        metrics,
        b"GET /api/v1/devices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response.status, 404);
    drop(emu);
}
