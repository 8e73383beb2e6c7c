//! A short run of each load-generator mode against the real binary and the
//! baselines: the generator must complete requests against both, report a
//! ratio, and hear every hello. No timing is asserted; figures live in
//! bench/README.md.

mod support;

use std::process::Command;

use serde_json::Value;

/// Runs `amtemu-load` and returns its stdout and the JSON of its last line.
fn load(args: &[&str]) -> (String, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_amtemu-load"))
        .args(args)
        .env("AMTEMU_LOG", "amtemu=warn")
        .output()
        .expect("run amtemu-load");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtemu-load {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let json = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (stdout, json)
}

/// Both runs (amtemu's and the baseline's) completed requests without
/// errors, and the ratio was computed and printed.
fn assert_sane(stdout: &str, json: &Value) {
    assert_eq!(json["ok"], true, "{stdout}");
    let runs = json["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{stdout}");
    for run in runs {
        assert!(run["ok"].as_u64().unwrap() > 0, "{stdout}");
        assert_eq!(run["errors"], 0, "{stdout}");
        assert!(run["p99_ms"].as_f64().unwrap() > 0.0, "{stdout}");
    }
    let labels: Vec<_> = runs.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert!(labels.iter().any(|l| l.starts_with("amtemu")), "{labels:?}");
    assert!(
        labels.iter().any(|l| l.starts_with("baseline")),
        "{labels:?}"
    );
    assert!(json["ratios"][0].as_f64().unwrap() > 0.0, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ratio amtemu") && l.contains("target >=")),
        "{stdout}"
    );
}

/// A short run of `mode` against a fresh emulator and against the mode's
/// bare baseline listening on `baseline_port`.
fn against_baseline(mode: &str, baseline_port: u16) {
    let emulator = support::Emulator::start(&[]);
    let baseline = format!("{}:{baseline_port}", support::unique_address());
    let first = emulator.addr.ip().to_string();
    let args = [
        mode,
        "--first",
        &first,
        "--concurrency",
        "2",
        "--seconds",
        "0.5",
        "--baseline",
        "--baseline-addr",
        &baseline,
        "--json",
    ];
    let (stdout, json) = load(&args);
    assert_sane(&stdout, &json);
}

#[test]
fn keep_alive_gets_against_amtemu_and_bare_hyper() {
    against_baseline("get", 18992);
}

#[test]
fn new_tls_handshakes_against_amtemu_and_bare_rustls() {
    against_baseline("handshakes", 18993);
}

#[test]
fn a_wrong_password_is_counted_as_errors_not_successes() {
    let emulator = support::Emulator::start(&[]);
    let first = emulator.addr.ip().to_string();
    let args = [
        "get",
        "--first",
        &first,
        "--concurrency",
        "1",
        "--seconds",
        "0.3",
        "--password",
        "wrong",
        "--json",
    ];
    let (stdout, json) = load(&args);
    assert_eq!(json["ok"], false, "{stdout}");
    assert_eq!(json["runs"][0]["ok"], 0, "{stdout}");
    assert!(json["runs"][0]["errors"].as_u64().unwrap() > 0, "{stdout}");
}

#[test]
fn the_collector_hears_every_device_of_a_fleet_in_setup_mode() {
    // One fresh address for the whole fleet: devices on raised ports.
    let first = support::unique_address();
    let collector = format!("{}:9971", support::unique_address());
    let ca = concat!(env!("CARGO_TARGET_TMPDIR"), "/ca");
    let first = first.to_string();
    let args = [
        "hellos",
        "--listen",
        &collector,
        "--expect",
        "3",
        "--timeout-seconds",
        "30",
        "--json",
        "--",
        env!("CARGO_BIN_EXE_amtemu"),
        "fleet",
        "--count",
        "3",
        "--first-address",
        &first,
        "--port-step",
        "10",
        "--ca-dir",
        ca,
        "--provisioning",
        "in",
        "--provisioning-server",
        &collector,
    ];
    let (stdout, json) = load(&args);
    assert_eq!(json["ok"], true, "{stdout}");
    assert_eq!(json["hellos"]["distinct"], 3, "{stdout}");
    assert_eq!(json["hellos"]["malformed"], 0, "{stdout}");
}

#[test]
fn sol_sessions_echo_keystrokes() {
    // Firmware 5.2 predates user consent, so redirection starts at once.
    let emulator = support::Emulator::start(&["--firmware", "5.2"]);
    let first = emulator.addr.ip().to_string();
    let args = [
        "sol",
        "--first",
        &first,
        "--devices",
        "1",
        "--rate",
        "20",
        "--seconds",
        "0.5",
        "--json",
    ];
    let (stdout, json) = load(&args);
    assert_eq!(json["ok"], true, "{stdout}");
    assert!(json["runs"][0]["ok"].as_u64().unwrap() > 0, "{stdout}");
    assert_eq!(json["runs"][0]["errors"], 0, "{stdout}");
    assert!(stdout.contains("1 SOL sessions open"), "{stdout}");
}
