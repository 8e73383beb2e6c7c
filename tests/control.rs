//! The control API (`--control`) against the real binary: what it changes
//! is seen over WS-Man, and what happens over WS-Man shows in its events
//! and metrics.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const HTTP_PORT: u16 = 36992;
const STEP: u16 = 10;

struct Fleet {
    _emu: Emulator,
    ip: Ipv4Addr,
    control: SocketAddr,
}

impl Fleet {
    /// Three devices on one address (ports 36992, 37002, 37012), with the
    /// control API on port 17000 of the same address.
    fn start() -> Fleet {
        let ip = unique_address();
        let control = SocketAddr::from((ip, 17000));
        let args: Vec<String> = [
            "fleet",
            "--count",
            "3",
            "--firmware",
            "11.8,6.2",
            "--port-step",
            &STEP.to_string(),
            "--first-address",
            &ip.to_string(),
            "--http-port",
            &HTTP_PORT.to_string(),
            "--https-port",
            "36993",
            "--boot-ms",
            "200",
            "--shutdown-ms",
            "200",
            "--control",
            &control.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let emu = Emulator::launch(args, SocketAddr::from((ip, HTTP_PORT)));
        Fleet {
            _emu: emu,
            ip,
            control,
        }
    }

    /// Where device `n` (0-based) answers WS-Man.
    fn device(&self, n: u16) -> SocketAddr {
        SocketAddr::from((self.ip, HTTP_PORT + STEP * n))
    }

    fn client(&self, n: u16) -> Client {
        Client::new(self.device(n), USER, PASSWORD)
    }

    /// One control API request; the status and the body as JSON (or as a
    /// JSON string when it is not JSON).
    fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let r = self.raw_api(method, path, body);
        let text = r.text();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (r.status, v)
    }

    fn raw_api(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.control,
            body.len()
        );
        Client::raw(self.control, req.as_bytes()).expect("the control API answers")
    }
}

/// The name of device `n` (0-based) in a fleet started with the defaults.
fn name(n: u16) -> String {
    format!("amtemu/amt-{:05}", n + 1)
}

fn path(n: u16, rest: &str) -> String {
    format!("/api/v1/devices/{}{rest}", name(n).replace('/', "%2F"))
}

/// A WS-Man Get without credentials on a fresh connection: 401 when the
/// device answers normally.
fn unauthenticated_status(addr: SocketAddr) -> std::io::Result<u16> {
    let c = Client::new(addr, USER, PASSWORD);
    Client::raw(
        addr,
        &c.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None),
    )
    .map(|r| r.status)
}

#[test]
fn devices_are_listed_and_detailed_and_errors_are_json() {
    let f = Fleet::start();
    let (status, list) = f.api("GET", "/api/v1/devices", None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 3);
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(devices[0]["name"], name(0));
    assert_eq!(devices[0]["firmware"], "11.8");
    assert_eq!(devices[1]["firmware"], "6.2");
    assert_eq!(devices[0]["address"], f.ip.to_string());
    assert_eq!(devices[0]["power"], "s0");
    assert_eq!(devices[0]["provisioning"], "post");

    let (_, page) = f.api("GET", "/api/v1/devices?offset=2&limit=5", None);
    assert_eq!(page["devices"][0]["name"], name(2));

    let (status, d) = f.api("GET", &path(1, ""), None);
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["host_name"], "amt-00002");
    // The identity matches what the device says over WS-Man.
    let text = f.client(1).get("AMT_GeneralSettings").text();
    assert_eq!(
        d["identity"]["realm"].as_str(),
        element_text(&text, "DigestRealm").as_deref()
    );
    assert_eq!(d["identity"]["uuid"].as_str().unwrap().len(), 36);

    let (status, e) = f.api("GET", "/api/v1/devices/amtemu%2Fghost", None);
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("ghost"));
    let (status, e) = f.api("POST", &path(0, "/power"), Some("{not json"));
    assert_eq!(status, 400);
    assert!(e["error"].is_string());
    let (status, e) = f.api("PUT", &path(0, "/faults"), Some(r#"{"ofline": true}"#));
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("ofline"), "{e}");
}

#[test]
fn power_actions_show_over_wsman_and_refusals_are_409() {
    let f = Fleet::start();
    let mut c = f.client(0);
    assert_eq!(c.power_state(), "2");
    let (status, e) = f.api("POST", &path(0, "/power"), Some(r#"{"action":"on"}"#));
    assert_eq!(status, 409, "{e}");
    let (status, v) = f.api("POST", &path(0, "/power"), Some(r#"{"action":"off"}"#));
    assert_eq!(status, 202, "{v}");
    assert!(eventually(Duration::from_secs(5), || c.power_state() == "8"));
    // The power button brings it back.
    let (status, _) = f.api("POST", &path(0, "/power"), Some(r#"{"action":"button"}"#));
    assert_eq!(status, 202);
    assert!(eventually(Duration::from_secs(5), || c.power_state() == "2"));
    // The OS shutting down is immediate.
    let (status, _) = f.api(
        "POST",
        &path(0, "/power"),
        Some(r#"{"action":"os-shutdown"}"#),
    );
    assert_eq!(status, 202);
    assert_eq!(c.power_state(), "8");
    // The others were not touched.
    assert_eq!(f.client(1).power_state(), "2");
    // AMT 6.2 cannot hibernate: the same refusal WS-Man gives.
    let (status, e) = f.api(
        "POST",
        &path(1, "/power"),
        Some(r#"{"action":"hibernate"}"#),
    );
    assert_eq!(status, 409, "{e}");
}

#[test]
fn faults_break_one_device_as_planned_and_clearing_restores_it() {
    let f = Fleet::start();
    let (a, b) = (f.device(0), f.device(1));
    assert_eq!(unauthenticated_status(a).unwrap(), 401);

    // An HTTP error on every request.
    let (status, v) = f.api("PUT", &path(0, "/faults"), Some(r#"{"http_error": 503}"#));
    assert_eq!(status, 200, "{v}");
    assert_eq!(unauthenticated_status(a).unwrap(), 503);
    assert_eq!(unauthenticated_status(b).unwrap(), 401);
    assert_eq!(f.client(1).get("AMT_GeneralSettings").status, 200);
    let (_, list) = f.api("GET", "/api/v1/devices", None);
    assert_eq!(list["devices"][0]["faults"]["http_error"], 503);
    assert!(list["devices"][1].get("faults").is_none());

    // Stale nonces: the right password is answered with stale="true".
    f.api(
        "PUT",
        &path(0, "/faults"),
        Some(r#"{"stale_nonces": true}"#),
    );
    let mut c = f.client(0);
    c.challenge();
    let auth = c.authorization("POST", "/wsman");
    let r = Client::raw(
        a,
        &c.request_bytes(&envelope_get("AMT_GeneralSettings", "2"), Some(&auth)),
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("stale=\"true\""),
        "{}",
        r.head
    );

    // Offline (stop): connections are closed at once.
    let (status, v) = f.api("POST", &path(0, "/stop"), None);
    assert_eq!((status, &v["stopped"]), (200, &json!(true)));
    assert!(unauthenticated_status(a).is_err());
    assert_eq!(unauthenticated_status(b).unwrap(), 401);
    let (status, _) = f.api("POST", &path(0, "/start"), None);
    assert_eq!(status, 200);

    // Clearing restores service.
    let (status, _) = f.api("DELETE", &path(0, "/faults"), None);
    assert_eq!(status, 200);
    assert_eq!(unauthenticated_status(a).unwrap(), 401);
    assert_eq!(f.client(0).get("AMT_GeneralSettings").status, 200);

    // Several devices at once, then all cleared.
    let body = json!({"plan": {"offline": true}, "devices": [name(1), name(2)]}).to_string();
    let (status, v) = f.api("PUT", "/api/v1/faults", Some(&body));
    assert_eq!((status, &v["count"]), (200, &json!(2)));
    assert!(unauthenticated_status(f.device(2)).is_err());
    assert_eq!(unauthenticated_status(a).unwrap(), 401);
    f.api("DELETE", "/api/v1/faults", None);
    assert_eq!(unauthenticated_status(f.device(2)).unwrap(), 401);
}

#[test]
fn events_stream_power_changes() {
    let f = Fleet::start();
    let mut s = TcpStream::connect(f.control).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/event-stream"),
        "{head}"
    );

    // A power change made over WS-Man.
    let r = f.client(2).request_power(8);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));

    let mut events = Vec::new();
    while events.is_empty() {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            if v["event"]["type"] == "power_changed" {
                events.push(v);
            }
        }
    }
    assert_eq!(
        events[0],
        json!({"device": name(2), "event": {"type": "power_changed", "from": "s0", "to": "s5"}})
    );
}

#[test]
fn metrics_count_wsman_requests_and_auth_failures() {
    let f = Fleet::start();
    let mut c = f.client(0);
    for _ in 0..3 {
        assert_eq!(c.get("AMT_GeneralSettings").status, 200);
    }
    // A fault answer.
    assert_eq!(c.get("AMT_NoSuchClass").status, 400);
    // A wrong password.
    let mut wrong = Client::new(f.device(1), USER, "Wr0ng!pass");
    wrong.challenge();
    let auth = wrong.authorization("POST", "/wsman");
    let r = Client::raw(
        f.device(1),
        &wrong.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), Some(&auth)),
    )
    .unwrap();
    assert_eq!(r.status, 401);

    let r = f.raw_api("GET", "/metrics", None);
    assert_eq!(r.status, 200);
    let text = r.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(
        value(
            r#"amtemu_wsman_requests_total{class="AMT_GeneralSettings",operation="Get",status="200"}"#
        ) >= 3.0
    );
    assert!(
        value(r#"amtemu_wsman_requests_total{class="unknown",operation="Get",status="400"}"#)
            >= 1.0
    );
    assert!(value(r#"amtemu_wsman_request_duration_seconds_count{operation="Get"}"#) >= 4.0);
    assert!(value("amtemu_http_auth_failures_total") >= 1.0);
    assert_eq!(value("amtemu_devices"), 3.0);

    // A power change is counted.
    f.api(
        "POST",
        &path(1, "/power"),
        Some(r#"{"action":"os-shutdown"}"#),
    );
    assert!(eventually(Duration::from_secs(5), || {
        f.raw_api("GET", "/metrics", None)
            .text()
            .contains(r#"amtemu_power_transitions_total{to="s5"} 1"#)
    }));
}

#[test]
fn amtemu_ctl_lists_powers_and_reports_errors() {
    let fleet = Fleet::start();
    let ctl = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
            .args(["ctl", "--control", &fleet.control.to_string()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = ctl(&["devices", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = listed.to_string();
    assert!(text.contains(&name(0)) && text.contains(&name(2)), "{text}");
    let out = ctl(&["power", &name(1), "off"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = Client::new(
        SocketAddr::from((fleet.ip, HTTP_PORT + STEP)),
        USER,
        PASSWORD,
    );
    assert!(eventually(Duration::from_secs(5), || c.power_state() == "8"));
    let out = ctl(&["power", "no-such-device", "on"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    // The client only talks to loopback unless told otherwise.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ctl", "--control", "10.1.2.3:17000", "devices"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
