//! Real third-party AMT clients against the real binary on loopback:
//! MeshCommander's WS-Man stack (npm meshcentral), requests built by Intel's
//! @device-management-toolkit/wsman-messages, amtctrl (PyPI amt) and Dell's
//! wsl (Debian). `tests/clients/install.sh` installs them; `tests/run` does
//! that first and sets AMTEMU_REQUIRE_CLIENTS=1, which turns a missing client
//! into a failure instead of a skip.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The firmware matrix the clients run against.
const FIRMWARE: [&str; 3] = ["3.2.1", "11.8", "15.0"];

#[derive(Clone, Copy, Debug)]
enum Driver {
    MeshCommander,
    WsmanMessages,
    Amtctrl,
    Wsl,
}

/// Whether the clients are installed; a skip (with a note) unless the
/// suite was asked to require them.
fn clients_ready() -> bool {
    let p = clients_prefix();
    let present = p
        .join("node/node_modules/meshcentral/amt/amt-wsman-comm.js")
        .exists()
        && p.join("node/node_modules/@device-management-toolkit/wsman-messages")
            .exists()
        && p.join("venv/bin/amtctrl").exists()
        && std::path::Path::new("/usr/bin/wsl").exists();
    if !present {
        if std::env::var("AMTEMU_REQUIRE_CLIENTS").as_deref() == Ok("1") {
            panic!(
                "the real AMT clients are not installed under {}; run tests/clients/install.sh",
                p.display()
            );
        }
        eprintln!("skipping: real AMT clients not installed (run tests/clients/install.sh)");
    }
    present
}

/// Runs one driver operation and returns its JSON verdict.
fn run(emu: &Emulator, driver: Driver, op: &[&str]) -> Value {
    run_on(emu, emu.addr.port(), driver, op)
}

/// The same over TLS on 16993.
fn ok_tls(emu: &Emulator, driver: Driver, op: &[&str]) -> Value {
    let mut op = op.to_vec();
    op.push("--tls");
    let v = run_on(emu, 16993, driver, &op);
    assert_eq!(
        v["ok"],
        Value::Bool(true),
        "{driver:?} {op:?} over TLS failed: {v:#}"
    );
    v
}

fn run_on(emu: &Emulator, port: u16, driver: Driver, op: &[&str]) -> Value {
    run_at(std::net::SocketAddr::new(emu.addr.ip(), port), driver, op)
}

/// Runs one driver operation against any device address.
fn run_at(addr: std::net::SocketAddr, driver: Driver, op: &[&str]) -> Value {
    let dir = repo().join("tests/clients");
    let (program, script): (&str, Option<PathBuf>) = match driver {
        Driver::MeshCommander => ("node", Some(dir.join("meshcommander.js"))),
        Driver::WsmanMessages => ("node", Some(dir.join("wsman-messages.js"))),
        Driver::Amtctrl => ("bash", Some(dir.join("amtctrl.sh"))),
        Driver::Wsl => ("bash", Some(dir.join("wsl.sh"))),
    };
    let mut cmd = Command::new(program);
    if let Some(s) = script {
        cmd.arg(s);
    }
    cmd.arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(USER)
        .arg(PASSWORD)
        .args(op)
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        // TLS to firmware up to 11.x needs TLS 1.0/1.1 (see the file).
        .env("OPENSSL_CONF", legacy_openssl_conf())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start driver");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{driver:?} {op:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    let verdict: Value = serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "{driver:?} {op:?} printed no verdict\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    verdict
}

/// Runs an operation that must succeed.
fn ok(emu: &Emulator, driver: Driver, op: &[&str]) -> Value {
    let v = run(emu, driver, op);
    assert_eq!(
        v["ok"],
        Value::Bool(true),
        "{driver:?} {op:?} failed: {v:#}"
    );
    v
}

/// Runs a power operation, retrying while the device reports a previous
/// change still under way (ReturnValue 6), as consoles are told to.
fn ok_when_idle(emu: &Emulator, driver: Driver, op: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = run(emu, driver, op);
        if v["return_value"] != 6 || Instant::now() > deadline {
            assert_eq!(
                v["ok"],
                Value::Bool(true),
                "{driver:?} {op:?} failed: {v:#}"
            );
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_power(emu: &Emulator, state: &str) {
    assert!(
        eventually(Duration::from_secs(15), || emu.client().power_state()
            == state),
        "power state never became {state}"
    );
}

fn start(firmware: &str) -> Emulator {
    Emulator::start(&[
        "--firmware",
        firmware,
        "--boot-ms",
        "400",
        "--shutdown-ms",
        "400",
        "--reset-ms",
        "400",
    ])
}

/// A device whose power cycle stays off long enough to be seen off.
fn start_slow(firmware: &str) -> Emulator {
    Emulator::start(&[
        "--firmware",
        firmware,
        "--boot-ms",
        "2000",
        "--shutdown-ms",
        "300",
    ])
}

fn expected_version(firmware: &str) -> &'static str {
    match firmware {
        "3.2.1" => "3.2.1",
        "11.8" => "11.8.50",
        "15.0" => "15.0.23",
        _ => unreachable!(),
    }
}

#[test]
fn meshcommander_connects_reads_and_powers_each_firmware() {
    if !clients_ready() {
        return;
    }
    for fw in FIRMWARE {
        let emu = start(fw);
        let info = ok(&emu, Driver::MeshCommander, &["info"]);
        assert_eq!(info["version"], expected_version(fw), "{fw}");
        assert_eq!(info["hostname"], "amt-0001");
        assert_eq!(info["realm_match"], true);
        assert_eq!(info["powerstate"], 2);
        if fw != "3.2.1" {
            // MeshCentral's first contact: general settings + host-based
            // setup, realm pinning, then the clock sync.
            let connect = ok(&emu, Driver::MeshCommander, &["connect"]);
            assert_eq!(connect["control_mode"], 2);
            assert_eq!(connect["set_time_return_value"], 0);
        }
        // A power action with boot options, as the MeshCommander dialog does it.
        let power = ok(&emu, Driver::MeshCommander, &["power", "10", "pxe"]);
        assert_eq!(power["return_value"], 0, "{power:#}");
        wait_power(&emu, "2");
        let off = ok_when_idle(&emu, Driver::MeshCommander, &["power", "8"]);
        assert_eq!(off["return_value"], 0);
        wait_power(&emu, "8");
        assert_eq!(
            ok(&emu, Driver::MeshCommander, &["powerstate"])["powerstate"],
            8
        );
    }
}

#[test]
fn meshcommander_full_state_walk_gets_data_or_clean_faults() {
    if !clients_ready() {
        return;
    }
    // The fewest classes each profile answers with 200, as measured when
    // the alarm clock, provisioning hashes, web UI and port classes came,
    // raised when System Defense and agent presence came (11 classes of
    // the walk), again with the event manager and WS-Eventing classes, and
    // again with accounts and roles (3.2 to 11.x only), registered
    // profiles, credential contexts, PCI devices, asset tables and the
    // capabilities classes, and again with screen blanking (10.0+), the two
    // System Defense associations, the endpoint access control service,
    // the indication service and the hosted-service association, and
    // again with the SNMP subscribers and CIM_ElementCapabilities (4.0+),
    // and with AMT_ActiveFilterStatistics and the three heuristics
    // classes (3.0 to 9.5 only), and with the EAC posture signer's
    // credential context (docs/CLASSES.md lists what still faults and
    // whether it should).
    for (fw, min_answered) in [("3.2.1", 97), ("11.8", 133), ("15.0", 124)] {
        let emu = start(fw);
        let state = ok(&emu, Driver::MeshCommander, &["fullstate"]);
        let statuses = state["statuses"].as_object().expect("statuses");
        assert!(statuses.len() > 200, "{fw}: {} classes", statuses.len());
        let answered = statuses.values().filter(|s| **s == 200).count();
        eprintln!(
            "{fw}: {answered} of {} classes answered with data",
            statuses.len()
        );
        assert!(
            answered >= min_answered,
            "{fw}: {answered} classes answered with data, expected at least {min_answered}"
        );
        for (class, status) in statuses {
            assert!(
                status == 200 || status == 400,
                "{fw}: {class} answered {status}"
            );
        }
        assert_eq!(statuses["AMT_GeneralSettings"], 200);
        assert_eq!(statuses["CIM_SoftwareIdentity"], 200);
        let kvm = if fw == "3.2.1" { 400 } else { 200 };
        assert_eq!(statuses["CIM_KVMRedirectionSAP"], kvm, "{fw}");
        assert_eq!(state["eventlog_status"], 200);
        for class in [
            "AMT_SystemDefensePolicy",
            "AMT_AgentPresenceWatchdog",
            "CIM_RegisteredProfile",
            "CIM_CredentialContext",
            "AMT_PCIDevice",
            "AMT_SystemDefensePolicyInService",
            "AMT_FilterInSystemDefensePolicy",
            "AMT_EndpointAccessControlService",
            "CIM_IndicationService",
            "CIM_HostedService",
            "AMT_SNMPEventSubscriber",
        ] {
            assert_eq!(statuses[class], 200, "{fw}: {class}");
        }
        // The capabilities association came with 4.0.
        let capabilities = if fw == "3.2.1" { 400 } else { 200 };
        assert_eq!(statuses["CIM_ElementCapabilities"], capabilities, "{fw}");
        assert_eq!(statuses["AMT_ActiveFilterStatistics"], 200, "{fw}");
        assert_eq!(statuses["AMT_EACCredentialContext"], 200, "{fw}");
        // Heuristic packet filtering went after 9.5.
        let heuristics = if fw == "3.2.1" { 200 } else { 400 };
        for class in [
            "AMT_HeuristicPacketFilterSettings",
            "AMT_HeuristicPacketFilterStatistics",
            "AMT_HeuristicPacketFilterInterfacePolicy",
        ] {
            assert_eq!(statuses[class], heuristics, "{fw}: {class}");
        }
        // Screen blanking came with 10.0.
        let blanking = if fw == "3.2.1" { 400 } else { 200 };
        assert_eq!(statuses["IPS_ScreenConfigurationService"], blanking, "{fw}");
        // The DASH account classes went with 12.0.
        let accounts = if fw == "15.0" { 400 } else { 200 };
        assert_eq!(statuses["CIM_Account"], accounts, "{fw}");
    }
}

/// Every class name in the DMT message builder's class enums, enumerated
/// with curl against one device per profile (bench/dmt-classes.sh, which
/// the closing note's counts come from). 11.8 lacks only the HTTP proxy
/// classes (12.0+); 16.1 answers all.
#[test]
fn dmt_builder_classes_enumerate_on_11_8_and_16_1() {
    if !clients_ready() {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/dmt-classes.sh");
    let out = Command::new(script)
        .args([env!("CARGO_BIN_EXE_amtemu"), "11.8", "16.1"])
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        .output()
        .expect("run bench/dmt-classes.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |fw: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{fw}: ")))
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no count for {fw}: {text}"))
    };
    assert!(count("11.8") >= 58, "{text}");
    assert!(count("16.1") >= 60, "{text}");
    for missing in text
        .lines()
        .filter(|l| l.starts_with("11.8 ") && !l.ends_with(" 200"))
    {
        assert!(missing.contains("IPS_HTTPProxy"), "11.8 faults {missing}");
    }
}

#[test]
fn wsman_messages_requests_are_answered_on_each_firmware() {
    if !clients_ready() {
        return;
    }
    for fw in FIRMWARE {
        let emu = start(fw);
        let info = ok(&emu, Driver::WsmanMessages, &["info"]);
        assert_eq!(info["version"], expected_version(fw));
        assert_eq!(info["powerstate"], 2);
        let version = ok(&emu, Driver::WsmanMessages, &["version"]);
        assert_eq!(version["provisioning_state"], 2);
        assert_eq!(version["provisioning_mode"], 1);
        let settings = ok(&emu, Driver::WsmanMessages, &["settings"]);
        assert_eq!(settings["realm_match"], true);
        assert_eq!(ok(&emu, Driver::WsmanMessages, &["bootcaps"])["ok"], true);
        assert_eq!(
            ok(&emu, Driver::WsmanMessages, &["redirection"])["enabled_state"],
            32771
        );
        if fw == "3.2.1" {
            // Host-based setup and user consent came later: the device says
            // so with a fault, and the client reports the failure.
            assert_eq!(run(&emu, Driver::WsmanMessages, &["setup"])["ok"], false);
        } else {
            assert_eq!(
                ok(&emu, Driver::WsmanMessages, &["setup"])["current_control_mode"],
                2
            );
            assert_eq!(
                ok(&emu, Driver::WsmanMessages, &["optin"])["opt_in_state"],
                0
            );
        }
        // The console's power action and boot-option sequences.
        let boot = ok(&emu, Driver::WsmanMessages, &["boot", "pxe"]);
        assert_eq!(boot["return_value"], 0, "{boot:#}");
        wait_power(&emu, "2");
        let off = ok_when_idle(&emu, Driver::WsmanMessages, &["power", "8"]);
        assert_eq!(off["return_value"], 0, "{off:#}");
        wait_power(&emu, "8");
        assert_eq!(
            ok(&emu, Driver::WsmanMessages, &["powerstate"])["powerstate"],
            8
        );
        let on = ok(&emu, Driver::WsmanMessages, &["power", "2"]);
        assert_eq!(on["return_value"], 0);
        wait_power(&emu, "2");
    }
}

#[test]
fn amtctrl_status_on_off_reboot_and_pxeboot_on_each_firmware() {
    if !clients_ready() {
        return;
    }
    for fw in FIRMWARE {
        let emu = start_slow(fw);
        assert_eq!(
            ok(&emu, Driver::Amtctrl, &["status"])["status"],
            "on",
            "{fw}"
        );
        ok(&emu, Driver::Amtctrl, &["off"]);
        wait_power(&emu, "8");
        assert_eq!(ok(&emu, Driver::Amtctrl, &["status"])["status"], "off");
        ok(&emu, Driver::Amtctrl, &["on"]);
        wait_power(&emu, "2");
        ok_when_idle(&emu, Driver::Amtctrl, &["reboot"]);
        // A power cycle passes through off and comes back on.
        wait_power(&emu, "8");
        wait_power(&emu, "2");
        ok_when_idle(&emu, Driver::Amtctrl, &["pxeboot"]);
        wait_power(&emu, "8");
        wait_power(&emu, "2");
        assert_eq!(ok(&emu, Driver::Amtctrl, &["status"])["status"], "on");
    }
}

#[test]
fn wsl_identifies_enumerates_reads_and_powers_each_firmware() {
    if !clients_ready() {
        return;
    }
    for fw in FIRMWARE {
        let emu = start(fw);
        let id = ok(&emu, Driver::Wsl, &["identify"]);
        let major_minor = fw.split('.').take(2).collect::<Vec<_>>().join(".");
        assert_eq!(id["product_version"], format!("AMT {major_minor}"));
        let e = ok(&emu, Driver::Wsl, &["enum", "CIM_SoftwareIdentity"]);
        assert_eq!(e["count"], 11);
        let s = ok(&emu, Driver::Wsl, &["settings"]);
        assert_eq!(s["properties"]["HostName"], "amt-0001");
        assert_eq!(ok(&emu, Driver::Wsl, &["powerstate"])["powerstate"], 2);
        ok(&emu, Driver::Wsl, &["power", "8"]);
        wait_power(&emu, "8");
        assert_eq!(ok(&emu, Driver::Wsl, &["powerstate"])["powerstate"], 8);
    }
}

#[test]
fn a_power_action_from_one_client_is_what_every_other_client_reads() {
    if !clients_ready() {
        return;
    }
    let emu = Emulator::start(&["--shutdown-ms", "1500", "--boot-ms", "1500"]);
    ok(&emu, Driver::Amtctrl, &["off"]);
    // Off only after the configured delay…
    assert_eq!(emu.client().power_state(), "2");
    wait_power(&emu, "8");
    // …and then every client sees it.
    assert_eq!(
        ok(&emu, Driver::MeshCommander, &["powerstate"])["powerstate"],
        8
    );
    assert_eq!(
        ok(&emu, Driver::WsmanMessages, &["powerstate"])["powerstate"],
        8
    );
    assert_eq!(ok(&emu, Driver::Wsl, &["powerstate"])["powerstate"], 8);
    ok(&emu, Driver::MeshCommander, &["power", "2"]);
    wait_power(&emu, "2");
    assert_eq!(ok(&emu, Driver::Amtctrl, &["status"])["status"], "on");
    assert_eq!(
        ok(&emu, Driver::WsmanMessages, &["powerstate"])["powerstate"],
        2
    );
}

#[test]
fn every_client_works_over_tls_including_on_tls_only_firmware() {
    if !clients_ready() {
        return;
    }
    // 11.8 speaks TLS 1.0/1.1 only: MeshCommander (which asks for TLS 1.0
    // up) and curl reach it; the DMT transport (node's TLS 1.2 minimum)
    // and amtctrl (Python's, since 3.10) do not, as against a real AMT 11.
    let emu = start("11.8");
    let info = ok_tls(&emu, Driver::MeshCommander, &["info"]);
    assert_eq!(info["realm_match"], true);
    assert_eq!(ok_tls(&emu, Driver::Wsl, &["powerstate"])["powerstate"], 2);
    for (driver, op) in [(Driver::WsmanMessages, "info"), (Driver::Amtctrl, "status")] {
        let refused = run_on(&emu, 16993, driver, &[op, "--tls"]);
        assert_eq!(refused["ok"], Value::Bool(false), "{driver:?}: {refused:#}");
    }
    drop(emu);
    for fw in ["12.0", "16.1"] {
        let emu = start(fw);
        let info = ok_tls(&emu, Driver::MeshCommander, &["info"]);
        assert_eq!(info["realm_match"], true, "{fw}");
        let info = ok_tls(&emu, Driver::WsmanMessages, &["info"]);
        assert_eq!(info["powerstate"], 2);
        assert_eq!(ok_tls(&emu, Driver::Amtctrl, &["status"])["status"], "on");
        assert_eq!(ok_tls(&emu, Driver::Wsl, &["powerstate"])["powerstate"], 2);
        // A power action over TLS is seen over TLS.
        ok_tls(&emu, Driver::Amtctrl, &["off"]);
        assert!(eventually(Duration::from_secs(15), || {
            run_on(&emu, 16993, Driver::WsmanMessages, &["powerstate", "--tls"])["powerstate"] == 8
        }));
    }
}

/// Whether the device's 16992 closes a connection instead of answering.
fn plain_http_refused(emu: &Emulator) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&emu.addr, Duration::from_secs(1)) else {
        return true;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return true;
    }
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

/// A throwaway CA made with openssl, as a customer's enterprise CA would be.
fn test_ca(dir: &std::path::Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/O=Test Enterprise/CN=Test Enterprise CA",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

#[test]
fn the_dmt_tls_configuration_sequence_runs_end_to_end_and_survives_a_restart() {
    if !clients_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("amtemu-tlsconfig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ca_cert, ca_key) = test_ca(&dir.join("ca"));
    let state = dir.join("state");
    let state_arg = state.to_str().unwrap();
    let ip = unique_address().to_string();
    let served;
    // 12.0: the first row with TLS 1.2, the DMT transport's minimum.
    let args = ["--state-dir", state_arg, "--firmware", "12.0"];
    {
        let emu = Emulator::start_at(&ip, &args);
        let v = ok(
            &emu,
            Driver::WsmanMessages,
            &["tlsconfig", &ca_cert, &ca_key],
        );
        assert_eq!(v["certificate_served"], true, "{v:#}");
        served = v["certificate"].clone();
        // Non-secure connections are now refused; TLS clients carry on.
        assert!(eventually(Duration::from_secs(5), || plain_http_refused(
            &emu
        )));
        assert_eq!(
            ok_tls(&emu, Driver::MeshCommander, &["info"])["realm_match"],
            true
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // After a restart with the state directory, the device still presents
    // the configured certificate and still refuses plain HTTP.
    let emu = Emulator::start_at(&ip, &args);
    assert!(plain_http_refused(&emu));
    let info = ok_tls(
        &emu,
        Driver::WsmanMessages,
        &["enum", "AMT_PublicKeyCertificate"],
    );
    assert!(info["count"].as_u64().unwrap() >= 2, "{info:#}");
    assert!(served.is_string());
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("{ip}:16993"),
            "-CAfile",
            &ca_cert,
            "-verify_return_error",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fleet_of_1000_devices_answers_real_clients_at_random_devices() {
    if !clients_ready() {
        return;
    }
    let pid = std::process::id();
    let first = format!("127.{}.0.1", 200 + pid % 50);
    let control = format!("127.{}.250.1:17000", 200 + pid % 50);
    let hosts = std::env::temp_dir().join(format!("amtemu-fleet-hosts-{pid}"));
    let zones = std::env::temp_dir().join(format!("amtemu-fleet-zones-{pid}"));
    let args: Vec<String> = [
        "fleet",
        "--count",
        "1000",
        "--firmware",
        "3.2.1,11.8,15.0",
        "--first-address",
        &first,
        "--boot-ms",
        "300",
        "--shutdown-ms",
        "300",
        "--reset-ms",
        "300",
        "--control",
        &control,
        "--hosts-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([hosts.to_string_lossy().into_owned()])
    .chain([
        "--zone-dir".to_string(),
        zones.to_string_lossy().into_owned(),
    ])
    .collect();
    let emu = Emulator::launch(args, format!("{first}:16992").parse().unwrap());
    let entries: Vec<(String, String)> = std::fs::read_to_string(&hosts)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().to_string(), f.nth(1).unwrap().to_string())
        })
        .collect();
    assert_eq!(entries.len(), 1000);
    // The zone file names the same devices at the same addresses.
    let zone = std::fs::read_to_string(zones.join("vpro.test.zone")).unwrap();
    let records: Vec<&str> = zone.lines().filter(|l| l.contains(" IN A ")).collect();
    assert_eq!(records.len(), 1000);
    let (address, host) = &entries[999];
    assert_eq!(records[999], format!("{host} IN A {address}"));
    std::fs::remove_dir_all(&zones).unwrap();
    let addr =
        |i: usize| -> std::net::SocketAddr { format!("{}:16992", entries[i].0).parse().unwrap() };
    // A dozen devices picked pseudo-randomly (seeded by the process id).
    let mut x = u64::from(pid) | 1;
    let mut picked: Vec<usize> = (0..12)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % 1000
        })
        .collect();
    picked.sort_unstable();
    picked.dedup();
    let mut realms = std::collections::HashSet::new();
    for (n, &i) in picked.iter().enumerate() {
        let fw = ["3.2.1", "11.8", "15.0"][i % 3];
        let host = &entries[i].1;
        let v = match n % 4 {
            0 => run_at(addr(i), Driver::MeshCommander, &["info"]),
            1 => run_at(addr(i), Driver::WsmanMessages, &["info"]),
            2 => run_at(addr(i), Driver::Wsl, &["settings"]),
            _ => run_at(addr(i), Driver::Amtctrl, &["status"]),
        };
        assert_eq!(v["ok"], true, "device {i}: {v:#}");
        match n % 4 {
            0 | 1 => {
                assert_eq!(v["hostname"], host.as_str(), "device {i}");
                assert_eq!(v["version"], expected_version(fw), "device {i}");
                assert!(realms.insert(v["digest_realm"].as_str().unwrap().to_string()));
            }
            2 => assert_eq!(v["properties"]["HostName"], host.as_str()),
            _ => assert_eq!(v["status"], "on"),
        }
    }
    // A power action on one device leaves its neighbours alone.
    let (a, b) = (picked[0], (picked[0] + 1) % 1000);
    assert_eq!(run_at(addr(a), Driver::Amtctrl, &["off"])["ok"], true);
    let state = |i: usize| {
        element_text(
            &Client::new(addr(i), USER, PASSWORD)
                .get("CIM_AssociatedPowerManagementService")
                .text(),
            "PowerState",
        )
        .unwrap()
    };
    assert!(eventually(Duration::from_secs(10), || state(a) == "8"));
    assert_eq!(state(b), "2");
    // Faults on a seeded tenth of the fleet, through the control API: a
    // faulted device fails the way the plan says, the rest carry on.
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_amtemu"))
            .args(["ctl", "--control", &control])
            .args(args)
            .output()
            .unwrap()
    };
    let broken = picked[1];
    let plan = r#"{"http_error": 503}"#;
    let out = ctl(&[
        "fault",
        &format!("amtemu/{}", entries[broken].1),
        "--json",
        plan,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let faulted = run_at(addr(broken), Driver::WsmanMessages, &["info"]);
    assert_eq!(faulted["ok"], false, "{faulted:#}");
    for &i in &picked[2..] {
        let v = run_at(addr(i), Driver::WsmanMessages, &["powerstate"]);
        assert_eq!(v["ok"], true, "device {i} was disturbed: {v:#}");
    }
    assert_eq!(
        ctl(&["clear", &format!("amtemu/{}", entries[broken].1)])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run_at(addr(broken), Driver::WsmanMessages, &["info"])["ok"],
        true
    );
    drop(emu);
    let _ = std::fs::remove_file(&hosts);
}
