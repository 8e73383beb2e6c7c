//! The dashboard in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core through `tests/clients/dashboard.js`) against the real
//! binary: the fleet view of a 1,000-device fleet and its filters; a power
//! button, seen by amtctrl over WS-Man; a fault toggle, felt by amtctrl;
//! the SOL terminal's login and a command's output; the KVM screen drawn
//! by noVNC. Screenshots of the fleet view and the device page go to
//! `target/dashboard/` (the README's are copies, taken by hand once).
//! Also: the vendored browser libraries are what their lock file builds.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// `amtemu serve`'s device name.
const NAME: &str = "amtemu-default";

fn browser_ready() -> bool {
    client_available(
        std::path::Path::new("/usr/bin/chromium").exists()
            && clients_prefix()
                .join("dashboard/driver/node_modules/playwright-core")
                .exists(),
        "chromium and playwright-core",
    )
}

/// Runs a browser step; its JSON verdict.
fn browser(control: SocketAddr, args: &[&str]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("tests/clients/dashboard.js"))
        .arg(format!("http://{control}"))
        .args(args);
    run_driver(cmd)
}

fn ok(v: Value) -> Value {
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(
        v["errors"],
        Value::Array(vec![]),
        "errors in the page: {v:#}"
    );
    v
}

/// Where the screenshots go: `target/dashboard/`.
fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// amtctrl (PyPI amt) against a device; its JSON verdict.
fn amtctrl(emu: &Emulator, op: &str) -> Value {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("tests/clients/amtctrl.sh"))
        .arg(emu.addr.ip().to_string())
        .arg(emu.addr.port().to_string())
        .args([USER, PASSWORD, op])
        .env("AMT_DRIVER_TIMEOUT", "20");
    run_driver(cmd)
}

fn amtctrl_ready() -> bool {
    client_available(
        clients_prefix().join("venv/bin/amtctrl").exists(),
        "amtctrl (PyPI amt)",
    )
}

/// One device (`serve`) with its control API on port 17000 of its address.
fn device(extra: &[&str]) -> (Emulator, SocketAddr) {
    let ip = unique_address();
    let control = SocketAddr::from((ip, 17000));
    let control_text = control.to_string();
    let mut args = vec!["--control", control_text.as_str()];
    args.extend_from_slice(extra);
    (Emulator::start_at(&ip.to_string(), &args), control)
}

/// One control API request; the status and the body as JSON.
fn api(control: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = Client::raw(control, req.as_bytes()).expect("the control API answers");
    let v = serde_json::from_str(&r.text()).unwrap_or(Value::String(r.text()));
    (r.status, v)
}

/// A first address for a 1,000-device fleet (four /24s) that no other
/// test of this run uses: other tests take 127.100-199.x.x.
fn fleet_first_address() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 20 + (pid % 40) as u8, (pid / 40 % 60 * 4) as u8, 1)
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn the_fleet_view_lists_a_thousand_devices_and_filters_them() {
    if !browser_ready() {
        return;
    }
    let first = fleet_first_address();
    let control = SocketAddr::from((first, 17000));
    let args: Vec<String> = [
        "fleet",
        "--count",
        "1000",
        "--firmware",
        "11.8,6.2",
        "--first-address",
        &first.to_string(),
        "--control",
        &control.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _emu = Emulator::launch(args, SocketAddr::from((first, 16992)));
    // Ten devices faulted, picked by the API's seeded share.
    let (status, faulted) = api(
        control,
        "PUT",
        "/api/v1/faults",
        r#"{"plan": {"http_error": 503}, "share": 0.01, "seed": 7}"#,
    );
    assert_eq!(status, 200, "{faulted}");
    let shot = shots().join("fleet.png");
    let v = ok(browser(control, &["fleet", shot.to_str().unwrap()]));
    assert_eq!(v["fleet"], 1000, "{v:#}");
    assert_eq!(v["total"], 1000);
    assert_eq!(v["rows"], 100, "a page of 100 rows");
    assert_eq!(v["first_page"][0], "amtemu/amt-00001");
    assert_eq!(v["first_page"][99], "amtemu/amt-00100");
    assert_eq!(v["second_page_first"], "amtemu/amt-00101");
    assert_eq!(names(&v["faulted"]), names(&faulted["devices"]));
    let expected: Vec<String> = (990..1000).map(|n| format!("amtemu/amt-00{n}")).collect();
    assert_eq!(names(&v["named"]), expected);
    assert!(shot.exists());
    eprintln!("fleet view screenshot: {}", shot.display());
}

#[test]
fn a_power_off_clicked_in_the_page_is_seen_over_wsman_by_amtctrl() {
    if !browser_ready() || !amtctrl_ready() {
        return;
    }
    let (emu, control) = device(&["--shutdown-ms", "300"]);
    assert_eq!(amtctrl(&emu, "status")["status"], "on");
    let v = ok(browser(control, &["power", NAME, "off"]));
    assert!(
        v["timeline"].to_string().contains("power s0"),
        "the event stream reached the page: {v:#}"
    );
    assert!(
        eventually(
            Duration::from_secs(10),
            || amtctrl(&emu, "status")["status"] == "off"
        ),
        "amtctrl sees the host off"
    );
}

#[test]
fn a_fault_toggled_in_the_page_makes_the_device_fail_for_amtctrl() {
    if !browser_ready() || !amtctrl_ready() {
        return;
    }
    let (emu, control) = device(&[]);
    assert_eq!(amtctrl(&emu, "status")["ok"], true);
    let v = ok(browser(control, &["fault", NAME, "offline"]));
    assert_eq!(v["checked"], true, "{v:#}");
    let failed = amtctrl(&emu, "status");
    assert_eq!(
        failed["ok"], false,
        "an unplugged device answers nobody: {failed:#}"
    );
    // The control API agrees, and unplugging is undone there.
    let (_, faults) = api(
        control,
        "GET",
        &format!("/api/v1/devices/{NAME}/faults"),
        "",
    );
    assert_eq!(faults["stopped"], true, "{faults}");
    api(
        control,
        "POST",
        &format!("/api/v1/devices/{NAME}/start"),
        "",
    );
    assert_eq!(amtctrl(&emu, "status")["ok"], true);
}

#[test]
fn the_sol_terminal_shows_the_login_prompt_and_a_commands_output() {
    if !browser_ready() {
        return;
    }
    let (_emu, control) = device(&["--boot-ms", "200"]);
    let shot = shots().join("device.png");
    let v = ok(browser(control, &["sol", NAME, shot.to_str().unwrap()]));
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("login: "), "{text}");
    assert!(
        text.contains("uname -a"),
        "the typed command echoed: {text}"
    );
    assert!(text.contains("-amtemu"), "its output: {text}");
    eprintln!("device page screenshot: {}", shot.display());
}

#[test]
fn the_kvm_screen_is_drawn_by_novnc() {
    if !browser_ready() {
        return;
    }
    let (emu, control) = device(&[]);
    // KVM asks for user consent by default; a console that needs none is
    // what this test is about.
    let r = emu.client().put_edited(
        "IPS_OptInService",
        "<r:OptInRequired>1</r:OptInRequired>",
        "<r:OptInRequired>0</r:OptInRequired>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = ok(browser(control, &["kvm", NAME]));
    assert_eq!(v["size"], serde_json::json!([720, 400]), "{v:#}");
    assert!(
        v["lit"].as_u64().unwrap() > 500,
        "text on the screen: {v:#}"
    );
}

/// The committed `emulator/server/dashboard/vendor/` is what the lock file
/// builds (install.sh runs `build.sh` into the clients' prefix).
#[test]
fn the_vendored_browser_libraries_match_their_lock_file() {
    let built = clients_prefix().join("dashboard/vendor");
    if !client_available(built.join("xterm.js").exists(), "the dashboard build") {
        return;
    }
    let vendored = repo().join("emulator/server/dashboard/vendor");
    let list = |dir: &PathBuf| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&vendored), list(&built));
    for name in list(&built) {
        assert!(
            std::fs::read(vendored.join(&name)).unwrap()
                == std::fs::read(built.join(&name)).unwrap(),
            "{name} differs from what package-lock.json builds: run emulator/server/dashboard/build.sh and commit vendor/"
        );
    }
}
