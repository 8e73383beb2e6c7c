//! Setup-mode hellos from the real binary: a collector on a fresh 127.x
//! address receives them, a tiny DNS server answers `ProvisionServer.*`,
//! and MeshCentral's own hello server judges them.

mod support;

use std::collections::HashSet;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amtemu_model::device::Identity;
use amtemu_wire::hello::{Hello, HelloBody};
use support::*;

/// Every hello a collector received: the sender's address and the bytes.
type Received = Arc<Mutex<Vec<(IpAddr, Vec<u8>)>>>;

/// A hello server on `ip:9971` that keeps what it receives.
fn collector(ip: Ipv4Addr) -> Received {
    let listener = TcpListener::bind((ip, 9971)).expect("bind the collector");
    let received: Received = Arc::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let peer = stream.peer_addr().map(|p| p.ip());
                let mut bytes = Vec::new();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                if stream.read_to_end(&mut bytes).is_ok()
                    && let Ok(peer) = peer
                {
                    sink.lock().unwrap().push((peer, bytes));
                }
            });
        }
    });
    received
}

fn wait_for(received: &Received, count: usize, limit: Duration) -> Vec<(IpAddr, Vec<u8>)> {
    eventually(limit, || received.lock().unwrap().len() >= count);
    received.lock().unwrap().clone()
}

/// A DNS server on UDP `ip:5353` answering A queries for the names in
/// `zone` (lower case, no final dot) and NXDOMAIN for the rest; it records
/// every name asked.
fn dns_server(ip: Ipv4Addr, zone: Vec<(&'static str, Ipv4Addr)>) -> Arc<Mutex<Vec<String>>> {
    let socket = UdpSocket::bind((ip, 5353)).expect("bind the DNS server");
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = asked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let query = &buf[..n];
            let Some((name, end)) = question(query) else {
                continue;
            };
            log.lock().unwrap().push(name.clone());
            let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
            let found = zone
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                .filter(|_| qtype == 1);
            let mut reply = Vec::with_capacity(n + 16);
            reply.extend_from_slice(&query[..2]);
            // Response, recursion desired and available; NXDOMAIN when the
            // name is not in the zone.
            reply.extend_from_slice(&[0x81, if found.is_some() { 0x80 } else { 0x83 }]);
            reply.extend_from_slice(&[0, 1, 0, u8::from(found.is_some()), 0, 0, 0, 0]);
            reply.extend_from_slice(&query[12..end + 4]);
            if let Some((_, addr)) = found {
                reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                reply.extend_from_slice(&addr.octets());
            }
            let _ = socket.send_to(&reply, from);
        }
    });
    asked
}

/// The question's name (dotted, no final dot) and where its type starts.
fn question(query: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).into_owned());
        at += len;
    }
    (query.len() >= at + 4).then(|| (labels.join("."), at))
}

fn device(ip: Ipv4Addr, name: &str, extra: &[&str]) -> Emulator {
    let mut args = vec![
        "--name",
        name,
        "--provisioning",
        "in",
        "--hello-interval-scale",
        "0.01",
    ];
    args.extend_from_slice(extra);
    Emulator::start_at(&ip.to_string(), &args)
}

#[test]
fn a_device_in_setup_mode_sends_a_v3_hello_from_its_own_address() {
    let server = unique_address();
    let received = collector(server);
    let ip = unique_address();
    let _emu = device(
        ip,
        "hello-v3",
        &["--provisioning-server", &server.to_string()],
    );
    let got = wait_for(&received, 2, Duration::from_secs(30));
    assert!(got.len() >= 2, "two hellos within a scaled minute");
    let (from, bytes) = &got[0];
    assert_eq!(*from, IpAddr::V4(ip), "sent from the device's own address");
    assert_eq!(&bytes[2..4], &[3, 0], "interface version 3");
    let hello = Hello::parse(bytes).expect("a well-formed hello");
    assert!(hello.admin_credentials_set);
    assert_eq!(hello.retry_count, 0);
    assert_eq!(hello.uuid, Identity::from_seed("hello-v3").uuid);
    let HelloBody::Pki { hashes } = hello.body else {
        panic!("a PKI hello")
    };
    assert!(hashes.len() >= 10, "the default root hashes");
    assert_eq!(
        bytes.len(),
        25 + hashes.iter().map(|(_, h)| 2 + h.len()).sum::<usize>()
    );
    assert_eq!(Hello::parse(&got[1].1).unwrap().retry_count, 1);
}

#[test]
fn a_psk_device_sends_its_pid_in_a_v2_hello() {
    let server = unique_address();
    let received = collector(server);
    let _emu = device(
        unique_address(),
        "hello-v2",
        &[
            "--firmware",
            "8.1",
            "--provisioning-server",
            &server.to_string(),
            "--pid",
            "WXYZ-0123",
            "--pps",
            "0123-4567-89AB-CDEF-0123-4567-89AB-CDEF",
        ],
    );
    let got = wait_for(&received, 1, Duration::from_secs(30));
    let bytes = &got.first().expect("a hello").1;
    assert_eq!(bytes.len(), 32);
    assert_eq!(&bytes[2..4], &[2, 0]);
    assert_eq!(&bytes[24..], b"WXYZ0123");
}

#[test]
fn the_server_is_found_by_name_mebx_domain_first_then_dhcp_domain() {
    let server = unique_address();
    let received = collector(server);
    let dns = unique_address();
    let asked = dns_server(dns, vec![("ProvisionServer.dhcp.test", server)]);
    let ip = unique_address();
    let _emu = device(
        ip,
        "hello-dns",
        &[
            "--mebx-domain",
            "mebx.test",
            "--dhcp-domain",
            "dhcp.test",
            "--dns",
            &format!("{dns}:5353"),
        ],
    );
    let got = wait_for(&received, 1, Duration::from_secs(30));
    assert_eq!(got.first().map(|(from, _)| *from), Some(IpAddr::V4(ip)));
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        &asked[..2],
        &["ProvisionServer.mebx.test", "ProvisionServer.dhcp.test"]
    );
}

#[test]
fn a_workgroup_device_asks_only_for_the_bare_name_and_sends_nothing() {
    let server = unique_address();
    let received = collector(server);
    let dns = unique_address();
    // The zone has the server under a domain the device does not have.
    let asked = dns_server(dns, vec![("ProvisionServer.corp.test", server)]);
    let emu = device(
        unique_address(),
        "hello-workgroup",
        &["--dns", &format!("{dns}:5353")],
    );
    // Three scaled minutes: three attempts.
    assert!(eventually(Duration::from_secs(20), || {
        asked.lock().unwrap().len() >= 3
    }));
    assert!(received.lock().unwrap().is_empty(), "no hello delivered");
    let asked: HashSet<String> = asked.lock().unwrap().iter().cloned().collect();
    assert_eq!(asked, HashSet::from(["ProvisionServer".to_string()]));
    // The emulator carries on serving.
    assert!(std::net::TcpStream::connect((emu.addr.ip(), 16993)).is_ok());
}

/// Runs the control API beside one device and returns its address.
fn control_address() -> SocketAddr {
    SocketAddr::from((unique_address(), 17000))
}

fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let r = Client::raw(addr, request.as_bytes()).expect("control API answers");
    (
        r.status,
        serde_json::from_str(&r.text()).unwrap_or_default(),
    )
}

#[test]
fn the_control_api_puts_a_device_into_setup_mode_and_reports_its_hellos() {
    let server = unique_address();
    let received = collector(server);
    let control = control_address();
    let _emu = Emulator::start_at(
        &unique_address().to_string(),
        &[
            "--name",
            "hello-ctl",
            "--provisioning",
            "pre",
            "--provisioning-server",
            &server.to_string(),
            "--hello-interval-scale",
            "0.01",
            "--control",
            &control.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        received.lock().unwrap().is_empty(),
        "no hellos before setup"
    );
    let (status, before) = http(control, "GET", "/api/v1/devices/hello-ctl/hello");
    assert_eq!(status, 200);
    assert_eq!(before["provisioning_state"], "pre");
    let (status, after) = http(control, "POST", "/api/v1/devices/hello-ctl/setup-mode");
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["provisioning_state"], "in");
    assert_eq!(wait_for(&received, 1, Duration::from_secs(20)).len(), 1);
    assert!(eventually(Duration::from_secs(10), || {
        http(control, "GET", "/api/v1/devices/hello-ctl/hello").1["delivered"] == 1
    }));
    let (_, status_now) = http(control, "GET", "/api/v1/devices/hello-ctl/hello");
    assert_eq!(status_now["last_server"], format!("{server}:9971"));
    let metrics = Client::raw(control, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap()
        .text();
    assert!(
        metrics.contains("amtemu_provisioning_hellos_total{outcome=\"delivered\"}"),
        "{metrics}"
    );
    // An unknown device is not found.
    let (status, _) = http(control, "POST", "/api/v1/devices/nobody/setup-mode");
    assert_eq!(status, 404);
}

#[test]
fn an_unreachable_server_is_recorded_and_nothing_else_suffers() {
    let control = control_address();
    // Nothing listens on this address's 9971.
    let nowhere = unique_address();
    let emu = Emulator::start_at(
        &unique_address().to_string(),
        &[
            "--name",
            "hello-refused",
            "--provisioning",
            "in",
            "--provisioning-server",
            &nowhere.to_string(),
            "--hello-interval-scale",
            "0.01",
            "--control",
            &control.to_string(),
        ],
    );
    assert!(eventually(Duration::from_secs(20), || {
        let (_, s) = http(control, "GET", "/api/v1/devices/hello-refused/hello");
        s["retries_sent"].as_u64() >= Some(2) && s["last_error"].is_string()
    }));
    let (_, s) = http(control, "GET", "/api/v1/devices/hello-refused/hello");
    assert_eq!(s["delivered"], 0);
    assert!(
        s["last_error"].as_str().unwrap().contains("connecting"),
        "{s}"
    );
    assert!(std::net::TcpStream::connect((emu.addr.ip(), 16993)).is_ok());
}

#[test]
fn a_fleet_of_1000_devices_in_setup_mode_all_deliver_a_hello() {
    let server = unique_address();
    let received = collector(server);
    let first = Ipv4Addr::new(127, 60 + (std::process::id() % 60) as u8, 0, 1);
    let args: Vec<String> = [
        "fleet",
        "--count",
        "1000",
        "--provisioning",
        "in",
        "--provisioning-server",
        &server.to_string(),
        "--local-port",
        "0",
        "--first-address",
        &first.to_string(),
        "--http-port",
        "16992",
        // A burst of 1,000 can overflow this collector's accept queue (a
        // hello the kernel took but nobody accepted is lost, as it would be
        // at a real server); the device's next retry brings it.
        "--hello-interval-scale",
        "0.01",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _emu = Emulator::launch(args, SocketAddr::from((first, 16992)));
    let senders = || -> HashSet<IpAddr> {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(from, _)| *from)
            .collect()
    };
    eventually(Duration::from_secs(60), || senders().len() >= 1000);
    assert_eq!(senders().len(), 1000, "a hello from each device's address");
    let got = received.lock().unwrap().clone();
    let uuids: HashSet<[u8; 16]> = got
        .iter()
        .map(|(_, bytes)| Hello::parse(bytes).expect("well formed").uuid)
        .collect();
    assert_eq!(uuids.len(), 1000);
}

fn meshcentral_driver() -> Option<PathBuf> {
    let present = clients_prefix()
        .join("node/node_modules/meshcentral/amtprovisioningserver.js")
        .exists();
    client_available(present, "MeshCentral (npm meshcentral)")
        .then(|| repo().join("tests/clients/meshcentral-hello.js"))
}

#[test]
fn meshcentrals_hello_server_accepts_our_hellos() {
    let Some(driver) = meshcentral_driver() else {
        return;
    };
    let server = unique_address();
    let mut node = std::process::Command::new("node")
        .arg(&driver)
        .args([&server.to_string(), "9971", "3", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start node");
    // Wait until MeshCentral listens.
    let mut stderr = node.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while Instant::now() < deadline && !String::from_utf8_lossy(&seen).contains("listening") {
        match stderr.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => break,
        }
    }
    assert!(
        String::from_utf8_lossy(&seen).contains("listening"),
        "MeshCentral did not start: {}",
        String::from_utf8_lossy(&seen)
    );
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let ips: Vec<Ipv4Addr> = (0..3).map(|_| unique_address()).collect();
    let names = ["mc-a", "mc-b", "mc-c"];
    let _devices: Vec<Emulator> = ips
        .iter()
        .zip(names)
        .map(|(ip, name)| device(*ip, name, &["--provisioning-server", &server.to_string()]))
        .collect();
    let output = node.wait_with_output().expect("node finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(verdict["ok"], true, "{stdout}");
    let hellos = verdict["hellos"].as_array().unwrap();
    assert_eq!(hellos.len(), 3);
    for (ip, name) in ips.iter().zip(names) {
        let hello = hellos
            .iter()
            .find(|h| h["addr"] == ip.to_string())
            .unwrap_or_else(|| panic!("no hello from {ip}: {stdout}"));
        assert_eq!(hello["version"], 3);
        // MeshCentral prints the GUID the way SMBIOS byte order reads.
        assert_eq!(
            hello["guid"].as_str().unwrap(),
            Identity::from_seed(name).uuid_string()
        );
        assert!(hello["hashes"].as_array().unwrap().len() >= 10);
    }
}

#[test]
fn the_hello_storm_scenario_passes_against_a_collector() {
    let server = unique_address();
    let received = collector(server);
    let first = Ipv4Addr::new(127, 60 + (std::process::id() % 60) as u8, 128, 1);
    // The example, five times faster (ten times made the storm outrun two
    // busy cores), against our collector and addresses.
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/hello-storm.toml"),
    )
    .unwrap()
    .replace("duration = \"2m\"", "duration = \"24s\"")
    .replace(
        "hello_interval_scale = 0.01",
        "hello_interval_scale = 0.002",
    )
    .replace("at = \"5s\"", "at = \"1s\"")
    .replace(
        "first_address = \"127.4.0.1\"",
        &format!("first_address = \"{first}\""),
    )
    .replace("\"127.0.0.1\"", &format!("\"{server}\""));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("storm-{server}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hello-storm.toml");
    std::fs::write(&file, text).unwrap();
    let report = dir.join("report.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["fleet", "--local-port", "0", "--scenario"])
        .arg(&file)
        .arg("--report-json")
        .arg(&report)
        .args(["--ca-dir", concat!(env!("CARGO_TARGET_TMPDIR"), "/ca")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run the scenario");
    let json = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(status.success(), "{json}");
    let senders: HashSet<IpAddr> = received.lock().unwrap().iter().map(|(f, _)| *f).collect();
    assert_eq!(senders.len(), 1000);
}

#[test]
fn a_provisioned_device_refuses_setup_mode_and_sends_nothing() {
    let server = unique_address();
    let received = collector(server);
    let control = control_address();
    let _emu = Emulator::start_at(
        &unique_address().to_string(),
        &[
            "--name",
            "hello-post",
            "--provisioning-server",
            &server.to_string(),
            "--hello-interval-scale",
            "0.01",
            "--control",
            &control.to_string(),
        ],
    );
    let (status, body) = http(control, "POST", "/api/v1/devices/hello-post/setup-mode");
    assert_eq!(status, 409, "{body}");
    // The same through `amtemu ctl`.
    let ctl = |command: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
            .args([
                "ctl",
                "--control",
                &control.to_string(),
                command,
                "hello-post",
            ])
            .output()
            .expect("run amtemu ctl")
    };
    let refused = ctl("setup-mode");
    assert!(!refused.status.success());
    let shown = ctl("hello");
    assert!(shown.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["provisioning_state"], "post");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(received.lock().unwrap().is_empty());
    let (_, s) = http(control, "GET", "/api/v1/devices/hello-post/hello");
    assert_eq!(s["provisioning_state"], "post");
    assert_eq!(s["retries_sent"], 0);
}

#[test]
fn a_window_that_ran_out_stays_closed_across_a_restart() {
    let server = unique_address();
    let received = collector(server);
    let control = control_address();
    let ip = unique_address().to_string();
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hello-state-{ip}"));
    let _ = std::fs::remove_dir_all(&state);
    let args = [
        "--name",
        "hello-expiry",
        "--provisioning",
        "in",
        "--provisioning-server",
        &server.to_string(),
        // A 24-hour window in 8.6 s.
        "--hello-interval-scale",
        "0.0001",
        "--state-dir",
        state.to_str().unwrap(),
        "--control",
        &control.to_string(),
    ];
    let emu = Emulator::start_at(&ip, &args);
    assert!(eventually(Duration::from_secs(30), || {
        http(control, "GET", "/api/v1/devices/hello-expiry/hello").1["given_up"] == true
    }));
    let (_, s) = http(control, "GET", "/api/v1/devices/hello-expiry/hello");
    assert_eq!(s["retries_sent"], 39, "{s}");
    assert_eq!(received.lock().unwrap().len(), 39);
    // Let the state file catch up, then restart without a graceful save.
    std::thread::sleep(Duration::from_millis(500));
    emu.kill_hard();
    let _emu = Emulator::start_at(&ip, &args);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received.lock().unwrap().len(), 39, "no hellos after expiry");
    let (status, _) = http(control, "POST", "/api/v1/devices/hello-expiry/setup-mode");
    assert_eq!(status, 200, "a local agent may start again");
    assert!(eventually(Duration::from_secs(10), || {
        received.lock().unwrap().len() > 39
    }));
}
