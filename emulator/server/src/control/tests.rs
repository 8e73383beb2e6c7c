//! The control API served in-process on an ephemeral loopback port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::*;
use crate::fleet::{DeviceSpec, Ports};
use crate::tls::{TlsContext, ca::Ca};
use amtemu_model::device::{DeviceConfig, Firmware, HostPower, PowerTimings};

struct Running {
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fleet of `n` devices (alternating 11.8 and 6.2 firmware, the latter
/// without the extended power states) with its control API.
async fn start(n: usize) -> Running {
    start_with_token(n, None).await
}

async fn start_with_token(n: usize, token: Option<&str>) -> Running {
    let specs = (0..n)
        .map(|i| {
            let firmware = Firmware::by_name(if i % 2 == 0 { "11.8" } else { "6.2" }).unwrap();
            let name = format!("test/amt-{:05}", i + 1);
            let address = IpAddr::V4(Ipv4Addr::new(
                127,
                210,
                (i / 250) as u8,
                (i % 250) as u8 + 1,
            ));
            let mut config = DeviceConfig::new(&name, firmware);
            config.timings = PowerTimings {
                boot: Duration::from_millis(150),
                shutdown: Duration::from_millis(100),
                reset: Duration::from_millis(100),
            };
            config.ip_address = address.to_string();
            config.host_name = format!("amt-{:05}", i + 1);
            DeviceSpec {
                config,
                address,
                ports: Ports::default(),
                tls_identity: None,
            }
        })
        .collect();
    let fleet = Arc::new(
        Fleet::new(
            specs,
            Arc::new(TlsContext {
                ca: Ca::generate().unwrap(),
            }),
            None,
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(serve(fleet.clone(), listener, token.map(str::to_string)));
    Running { fleet, addr, task }
}

/// One request on its own connection: the status and the body.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        client_dechunk(rest.as_bytes(), &mut out);
        out
    } else {
        rest.to_string()
    };
    (status, body)
}

fn client_dechunk(wire: &[u8], out: &mut String) {
    use std::io::Read;
    super::client::ChunkedReader::new(wire)
        .read_to_string(out)
        .unwrap();
}

async fn json_call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = call(addr, method, path, body).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (status, v)
}

const D1: &str = "test%2Famt-00001";
const D2: &str = "test%2Famt-00002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_pages_and_details() {
    let r = start(5).await;
    let (status, v) = json_call(r.addr, "GET", "/api/v1/devices", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["total"], 5);
    assert_eq!(v["devices"].as_array().unwrap().len(), 5);
    let first = &v["devices"][0];
    assert_eq!(first["name"], "test/amt-00001");
    assert_eq!(first["address"], "127.210.0.1");
    assert_eq!(first["firmware"], "11.8");
    assert_eq!(first["power"], "s0");
    assert_eq!(first["provisioning"], "post");
    assert!(first.get("faults").is_none());
    assert!(v.get("next_offset").is_none());

    let (_, page) = json_call(r.addr, "GET", "/api/v1/devices?offset=1&limit=2", None).await;
    let names: Vec<&str> = page["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test/amt-00002", "test/amt-00003"]);
    assert_eq!(page["next_offset"], 3);
    let (_, past) = json_call(r.addr, "GET", "/api/v1/devices?offset=99", None).await;
    assert_eq!(past["devices"].as_array().unwrap().len(), 0);
    let (status, bad) = json_call(r.addr, "GET", "/api/v1/devices?limit=-1", None).await;
    assert_eq!(status, 400);
    assert!(bad["error"].is_string());

    let (status, d) = json_call(r.addr, "GET", &format!("/api/v1/devices/{D2}"), None).await;
    assert_eq!(status, 200);
    let device = r.fleet.get(1).unwrap().device.clone();
    assert_eq!(d["identity"]["uuid"], device.identity.uuid_string());
    assert_eq!(d["identity"]["realm"], device.identity.digest_realm);
    assert_eq!(d["identity"]["mac"], device.identity.mac);
    assert_eq!(d["firmware"]["name"], "6.2");
    assert_eq!(d["provisioning"], json!({"state": "post", "mode": "admin"}));
    assert_eq!(d["host_name"], "amt-00002");
    assert_eq!(d["domain_name"], "vpro.test");
    assert_eq!(d["tls_enabled"], true);
    assert_eq!(
        d["timing"], "fast",
        "devices answer as fast as they can by default"
    );
    assert_eq!(d["users"], 1);
    assert_eq!(d["stopped"], false);
    assert_eq!(d["provisioning_refusals"], 0);
    assert_eq!(d["local_system_account"]["user"], "$$OsAdmin");
    assert_eq!(
        d["local_system_account"]["password"],
        amtemu_model::device::local_account::local_account_password(&device.identity)
    );

    let (status, e) = json_call(r.addr, "GET", "/api/v1/devices/nope", None).await;
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("nope"));
    let (status, _) = json_call(r.addr, "GET", "/api/v2/whatever", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_actions_are_requests_and_refusals_are_409() {
    let r = start(2).await;
    let path = format!("/api/v1/devices/{D1}/power");
    let (status, v) = json_call(r.addr, "POST", &path, Some(r#"{"action":"on"}"#)).await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("s0"));
    let (status, v) = json_call(r.addr, "POST", &path, Some(r#"{"action":"off"}"#)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["destination"], "s5");
    // A second request while the first is under way.
    let (status, v) = json_call(r.addr, "POST", &path, Some(r#"{"action":"reset"}"#)).await;
    assert_eq!(status, 409);
    assert!(v["error"].as_str().unwrap().contains("in progress"));
    let device = r.fleet.get(0).unwrap().device.clone();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(device.with_state(|s| s.power.state()), HostPower::S5);
    // The power button turns it back on.
    let (status, v) = json_call(r.addr, "POST", &path, Some(r#"{"action":"button"}"#)).await;
    assert_eq!((status, &v["destination"]), (202, &json!("s0")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(device.with_state(|s| s.power.state()), HostPower::S0);
    // The OS shuts itself down at once.
    let (status, v) = json_call(r.addr, "POST", &path, Some(r#"{"action":"os-shutdown"}"#)).await;
    assert_eq!((status, &v["power"]), (202, &json!("s5")));
    let (status, _) = json_call(r.addr, "POST", &path, Some(r#"{"action":"os-shutdown"}"#)).await;
    assert_eq!(status, 409);

    // 6.2 has no hibernate.
    let path2 = format!("/api/v1/devices/{D2}/power");
    let (status, v) = json_call(r.addr, "POST", &path2, Some(r#"{"action":"hibernate"}"#)).await;
    assert_eq!(status, 409);
    assert!(v["error"].as_str().unwrap().contains("not supported"));

    for bad in [
        r#"{"action":"explode"}"#,
        r#"{"action":5}"#,
        r#"{"action":"on","extra":1}"#,
        "not json",
        "",
    ] {
        let (status, v) = json_call(r.addr, "POST", &path2, Some(bad)).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].is_string());
    }
    let (status, _) = json_call(
        r.addr,
        "POST",
        "/api/v1/devices/ghost/power",
        Some(r#"{"action":"on"}"#),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_set_cleared_and_shared() {
    let r = start(20).await;
    let faults = format!("/api/v1/devices/{D1}/faults");
    let (status, v) = json_call(
        r.addr,
        "PUT",
        &faults,
        Some(r#"{"http_error": 503, "latency_ms": [1, 5]}"#),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(r.fleet.get(0).unwrap().faults.get().http_error, Some(503));
    assert!(r.fleet.get(1).unwrap().faults.get().is_clear());
    let (_, list) = json_call(r.addr, "GET", "/api/v1/devices?limit=2", None).await;
    assert_eq!(list["devices"][0]["faults"]["http_error"], 503);
    assert!(list["devices"][1].get("faults").is_none());

    let (status, v) = json_call(r.addr, "PUT", &faults, Some(r#"{"ofline": true}"#)).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("ofline"), "{v}");
    let (status, _) = json_call(r.addr, "PUT", &faults, Some(r#"{"reset_probability": 2}"#)).await;
    assert_eq!(status, 400);
    // The failed PUTs left the plan alone.
    assert_eq!(r.fleet.get(0).unwrap().faults.get().http_error, Some(503));

    // Stop keeps the rest of the plan; start takes only offline away.
    let (status, v) = json_call(r.addr, "POST", &format!("/api/v1/devices/{D1}/stop"), None).await;
    assert_eq!((status, &v["stopped"]), (200, &json!(true)));
    let plan = r.fleet.get(0).unwrap().faults.get();
    assert!(plan.offline && plan.http_error == Some(503));
    json_call(r.addr, "POST", &format!("/api/v1/devices/{D1}/start"), None).await;
    let plan = r.fleet.get(0).unwrap().faults.get();
    assert!(!plan.offline && plan.http_error == Some(503));

    let (status, v) = json_call(r.addr, "DELETE", &faults, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["stopped"], false);
    assert!(r.fleet.get(0).unwrap().faults.get().is_clear());

    // Named devices; an unknown name changes nothing.
    let (status, _) = json_call(
        r.addr,
        "PUT",
        "/api/v1/faults",
        Some(r#"{"plan": {"hang": true}, "devices": ["test/amt-00003", "ghost"]}"#),
    )
    .await;
    assert_eq!(status, 404);
    assert!(r.fleet.get(2).unwrap().faults.get().is_clear());
    let (status, v) = json_call(
        r.addr,
        "PUT",
        "/api/v1/faults",
        Some(r#"{"plan": {"hang": true}, "devices": ["test/amt-00003"]}"#),
    )
    .await;
    assert_eq!((status, &v["count"]), (200, &json!(1)));
    assert!(r.fleet.get(2).unwrap().faults.get().hang);

    // A seeded share: the same devices for the same seed.
    let share = |seed: u64| {
        let addr = r.addr;
        async move {
            let body =
                json!({"plan": {"stale_nonces": true}, "share": 0.25, "seed": seed}).to_string();
            let (status, v) = json_call(addr, "PUT", "/api/v1/faults", Some(&body)).await;
            assert_eq!(status, 200, "{v}");
            let mut names: Vec<String> = v["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        }
    };
    let a = share(7).await;
    assert_eq!(a.len(), 5);
    assert_eq!(a, share(7).await);
    assert_ne!(a, share(8).await);
    let (status, v) = json_call(r.addr, "DELETE", "/api/v1/faults", None).await;
    assert_eq!(status, 200);
    assert!(v["cleared"].as_u64().unwrap() >= 5);
    assert!(r.fleet.built().all(|(_, e)| e.faults.get().is_clear()));

    for bad in [
        r#"{"plan": {}}"#,
        r#"{"plan": {}, "devices": [], "share": 0.5}"#,
        r#"{"plan": {}, "share": 1.5}"#,
        r#"{"plan": {"nope": 1}, "share": 0.5}"#,
        r#"{"plan": {}, "share": 0.5, "extra": true}"#,
    ] {
        let (status, _) = json_call(r.addr, "PUT", "/api/v1/faults", Some(bad)).await;
        assert_eq!(status, 400, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_power_changes_and_metrics_count_them() {
    let r = start(3).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut content_type = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        if line.to_ascii_lowercase().starts_with("content-type:") {
            content_type = line.clone();
        }
        if line == "\r\n" {
            break;
        }
    }
    assert!(content_type.contains("text/event-stream"), "{content_type}");

    let (status, _) = json_call(
        r.addr,
        "POST",
        "/api/v1/devices/test%2Famt-00003/power",
        Some(r#"{"action":"cycle"}"#),
    )
    .await;
    assert_eq!(status, 202);
    // Read data lines (inside chunks) until the off and on land.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 3 {
        line.clear();
        tokio::time::timeout_at(deadline, reader.read_line(&mut line))
            .await
            .expect("events in time")
            .unwrap();
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            seen.push(serde_json::from_str::<Value>(data).unwrap());
        }
    }
    assert_eq!(
        seen[0],
        json!({"device": "test/amt-00003", "event": {"type": "power_changed", "from": "s0", "to": "s5"}})
    );
    assert_eq!(
        seen[1]["event"],
        json!({"type": "power_changed", "from": "s5", "to": "s0"})
    );
    assert_eq!(
        seen[2]["event"],
        json!({"type": "booted", "target": "disk"})
    );

    let (status, text) = call(r.addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("amtemu_power_transitions_total{to=\"s5\"}"),
        "{text}"
    );
    assert!(text.contains("# TYPE amtemu_devices gauge"));
    assert!(text.ends_with("# EOF\n"));

    let (status, _) = json_call(r.addr, "GET", "/api/v1/events?device=ghost", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_devices_list_quickly() {
    let r = start(1000).await;
    let started = std::time::Instant::now();
    let (status, v) = json_call(r.addr, "GET", "/api/v1/devices", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["devices"].as_array().unwrap().len(), 1000);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices/test%2Famt-01000", None).await;
    assert_eq!(v["address"], "127.210.3.250");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ctl_client_drives_the_api() {
    use super::client::{CtlArgs, CtlCommand, run};
    let r = start(3).await;
    let addr = r.addr.to_string();
    let ctl = move |command: CtlCommand| {
        let args = CtlArgs {
            control: addr.clone(),
            allow_remote: false,
            token: None,
            command,
        };
        tokio::task::spawn_blocking(move || run(args))
    };
    let name = || "test/amt-00002".to_string();
    ctl(CtlCommand::Devices {
        offset: None,
        limit: Some(1),
        json: false,
    })
    .await
    .unwrap()
    .unwrap();
    ctl(CtlCommand::Device { name: name() })
        .await
        .unwrap()
        .unwrap();
    let err = ctl(CtlCommand::Device {
        name: "ghost".into(),
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().starts_with("404"), "{err}");
    ctl(CtlCommand::Power {
        name: name(),
        action: "off".into(),
    })
    .await
    .unwrap()
    .unwrap();
    let err = ctl(CtlCommand::Power {
        name: name(),
        action: "off".into(),
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().starts_with("409"), "{err}");
    ctl(CtlCommand::Fault {
        name: name(),
        plan: r#"{"http_error": 503}"#.into(),
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.fleet.get(1).unwrap().faults.get().http_error, Some(503));
    let err = ctl(CtlCommand::Fault {
        name: name(),
        plan: "{".into(),
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().starts_with("400"), "{err}");
    ctl(CtlCommand::Stop { name: name() })
        .await
        .unwrap()
        .unwrap();
    assert!(r.fleet.get(1).unwrap().faults.get().offline);
    ctl(CtlCommand::Clear { name: name() })
        .await
        .unwrap()
        .unwrap();
    assert!(r.fleet.get(1).unwrap().faults.get().is_clear());
    ctl(CtlCommand::Metrics).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_counts_the_fleet() {
    let r = start(6).await;
    // Devices 1 and 4 faulted, 4 also stopped; device 2 powered off.
    let (status, _) = json_call(
        r.addr,
        "PUT",
        "/api/v1/faults",
        Some(r#"{"plan": {"http_error": 503}, "devices": ["test/amt-00001", "test/amt-00004"]}"#),
    )
    .await;
    assert_eq!(status, 200);
    json_call(
        r.addr,
        "POST",
        "/api/v1/devices/test%2Famt-00004/stop",
        None,
    )
    .await;
    r.fleet
        .get(1)
        .unwrap()
        .device
        .with_state(|s| s.power.force(HostPower::S5));
    let names = |v: &Value| -> Vec<String> {
        v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?faults=faulted", None).await;
    assert_eq!(names(&v), ["test/amt-00001", "test/amt-00004"]);
    assert_eq!(v["total"], 2);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?faults=stopped", None).await;
    assert_eq!(names(&v), ["test/amt-00004"]);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?firmware=6.2&limit=2", None).await;
    assert_eq!(names(&v), ["test/amt-00002", "test/amt-00004"]);
    assert_eq!(v["total"], 3);
    assert_eq!(v["next_offset"], 2);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?firmware=6.2&offset=2", None).await;
    assert_eq!(names(&v), ["test/amt-00006"]);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?power=s5", None).await;
    assert_eq!(names(&v), ["test/amt-00002"]);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?name=00003&cira=off", None).await;
    assert_eq!(names(&v), ["test/amt-00003"]);
    let (_, v) = json_call(r.addr, "GET", "/api/v1/devices?limit=1&counts=true", None).await;
    assert_eq!(v["fleet"], 6);
    assert_eq!(v["total"], 6);
    assert_eq!(v["counts"]["power"], json!({"s0": 5, "s5": 1}));
    assert_eq!(v["counts"]["firmware"], json!({"11.8": 3, "6.2": 3}));
    assert_eq!(v["counts"]["provisioning"], json!({"post": 6}));
    assert_eq!(v["counts"]["cira"], json!({"off": 6}));
    assert_eq!(
        v["counts"]["faults"],
        json!({"faulted": 2, "clear": 4, "stopped": 1})
    );
    for bad in [
        "power=s9",
        "faults=maybe",
        "cira=up",
        "provisioning=done",
        "colour=red",
    ] {
        let (status, e) = json_call(r.addr, "GET", &format!("/api/v1/devices?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(e["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_from_the_binary() {
    let r = start(1).await;
    let (status, page) = call(r.addr, "GET", "/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("/assets/app.js"), "{page}");
    for asset in ["app.js", "app.css", "xterm.js", "xterm.css", "novnc-rfb.js"] {
        let (status, body) = call(r.addr, "GET", &format!("/assets/{asset}"), None).await;
        assert_eq!(status, 200, "{asset}");
        assert!(body.len() > 1000, "{asset}");
    }
    let (status, _) = call(r.addr, "GET", "/assets/../Cargo.toml", None).await;
    assert_eq!(status, 404);
}

/// A WebSocket upgrade request for a console, from `origin`.
async fn console_upgrade(addr: SocketAddr, path: &str, origin: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await.unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consoles_open_only_for_the_dashboards_own_origin() {
    let r = start(1).await;
    let path = format!("/api/v1/devices/{D1}/sol");
    assert_eq!(
        console_upgrade(r.addr, &path, "http://evil.example").await,
        403
    );
    // From the dashboard's own origin the upgrade goes through (the
    // console then finds no device listening and says so).
    let own = format!("http://{}", r.addr);
    assert_eq!(console_upgrade(r.addr, &path, &own).await, 101);
    let (status, _) = call(r.addr, "GET", &path, None).await;
    assert!(status >= 400, "not a WebSocket request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_request() {
    let r = start_with_token(1, Some("s3cret")).await;
    let (status, e) = json_call(r.addr, "GET", "/api/v1/devices", None).await;
    assert_eq!(status, 401);
    assert!(e["error"].as_str().unwrap().contains("token"));
    let (status, _) = call(r.addr, "GET", "/", None).await;
    assert_eq!(status, 401);
    let with = |header: &str, path: &str| {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{header}\r\n\r\n");
        let addr = r.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).await.unwrap();
            raw
        }
    };
    assert!(
        with("Authorization: Bearer s3cret", "/api/v1/devices")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        with("Authorization: Bearer wrong", "/api/v1/devices")
            .await
            .starts_with("HTTP/1.1 401")
    );
    assert!(
        with("Cookie: amtemu_token=s3cret", "/")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let link = with("X-Nothing: 1", "/?token=s3cret").await;
    assert!(link.starts_with("HTTP/1.1 303"), "{link}");
    assert!(
        link.to_ascii_lowercase()
            .contains("set-cookie: amtemu_token=s3cret; path=/; httponly"),
        "{link}"
    );
    assert!(
        with("X-Nothing: 1", "/?token=wrong")
            .await
            .starts_with("HTTP/1.1 401")
    );
}

/// A large laid-out fleet: listing, filtering and counting read unbuilt
/// devices from their specs and build none; naming a device builds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_counts_over_a_large_fleet_build_nothing() {
    let fleet = Arc::new(crate::fleet::tests::laid_fleet(100_000));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(serve(fleet.clone(), listener, None));
    let (status, v) = json_call(addr, "GET", "/api/v1/devices?counts=true&limit=3", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 100_000);
    assert_eq!(v["fleet"], 100_000);
    assert_eq!(v["counts"]["firmware"]["11.8"], 50_000);
    assert_eq!(v["counts"]["firmware"]["6.2"], 50_000);
    assert_eq!(v["counts"]["power"]["s0"], 100_000);
    assert_eq!(v["counts"]["faults"]["clear"], 100_000);
    assert_eq!(v["devices"][2]["name"], "lazy/amt-0000003");
    assert_eq!(v["devices"][2]["address"], "127.40.0.3");
    let (_, v) = json_call(
        addr,
        "GET",
        "/api/v1/devices?firmware=6.2&name=amt-00999&limit=5",
        None,
    )
    .await;
    // amt-0099900..amt-0099999: the even numbers are 6.2 (odd indices).
    assert_eq!(v["total"], 50, "{v}");
    assert_eq!(fleet.built().count(), 0, "a read built devices");

    // A call naming a device reaches (builds) that one only.
    let (status, _) = json_call(
        addr,
        "POST",
        "/api/v1/devices/lazy%2Famt-0050000/power",
        Some(r#"{"action":"off"}"#),
    )
    .await;
    assert_eq!(status, 202);
    let built: Vec<usize> = fleet.built().map(|(i, _)| i).collect();
    assert_eq!(built, [49_999]);
    let (_, v) = json_call(addr, "GET", "/api/v1/devices?counts=true&limit=0", None).await;
    assert_eq!(v["fleet"], 100_000);
    assert_eq!(fleet.built().count(), 1);
    task.abort();
}
