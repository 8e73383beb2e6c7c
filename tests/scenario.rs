//! Scenario files: every example loads and builds its devices, errors name
//! the line and key, and scenarios run in-process against a fleet (in
//! paused time, so minutes of timeline take no time).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use amtemu_server::fleet::{DeviceSpec, Fleet};
use amtemu_server::scenario::{self, Report, Scenario};
use amtemu_server::tls::TlsContext;
use amtemu_server::tls::ca::Ca;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn example(name: &str) -> Scenario {
    let path = scenarios_dir().join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// One CA for all tests (generating an RSA key is slow in debug builds).
fn tls() -> Arc<TlsContext> {
    static CA_PEM: OnceLock<Arc<TlsContext>> = OnceLock::new();
    CA_PEM
        .get_or_init(|| {
            Arc::new(TlsContext {
                ca: Ca::generate().unwrap(),
            })
        })
        .clone()
}

fn fleet_for(s: &Scenario) -> Arc<Fleet> {
    Arc::new(Fleet::new(s.device_specs().unwrap(), tls(), None).unwrap())
}

async fn run(s: &Scenario) -> Report {
    s.run(fleet_for(s)).await
}

fn error(text: &str) -> scenario::ScenarioError {
    match scenario::parse(text, "fleet.toml") {
        Ok(_) => panic!("should not parse:\n{text}"),
        Err(e) => e,
    }
}

const EXAMPLES: &[&str] = &[
    "smoke.toml",
    "sp1-mixed.toml",
    "sp2-features.toml",
    "power-chaos.toml",
    "modern-ccm-acm.toml",
    "hello-storm.toml",
    "seed-unsupported.toml",
    "console-lab.toml",
];

#[test]
fn every_file_in_scenarios_loads_and_builds_its_devices() {
    let mut found: Vec<String> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.ends_with(".toml").then_some(name)
        })
        .collect();
    found.sort();
    let mut expected: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "a scenario file without a test, or a test without its file"
    );
    for name in &found {
        let s = example(name);
        let specs = s.device_specs().unwrap();
        assert_eq!(specs.len(), s.device_count(), "{name}");
        assert!(!specs.is_empty(), "{name}");
        // Every device has its own address, name and host name.
        let mut addrs: Vec<_> = specs
            .iter()
            .flat_map(|d| [(d.address, d.ports.http), (d.address, d.ports.https)])
            .collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 2 * specs.len(), "{name}");
        let mut names: Vec<&str> = specs.iter().map(|d| d.config.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), specs.len(), "{name}");
        // And a fleet can be built from them.
        Fleet::new(specs, tls(), None).unwrap();
        assert!(s.describe().contains("devices"));
    }
}

#[test]
fn the_examples_hold_what_they_say() {
    let sp1 = example("sp1-mixed.toml").device_specs().unwrap();
    assert_eq!(sp1.len(), 300);
    let mut versions: Vec<&str> = sp1.iter().map(|d| d.config.firmware.name).collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions, ["3.2.1", "4.0", "5.2"]);

    let sp2 = example("sp2-features.toml").device_specs().unwrap();
    assert!(sp2.iter().all(|d| d.config.firmware.major >= 4));

    let modern = example("modern-ccm-acm.toml");
    let specs = modern.device_specs().unwrap();
    assert!(
        specs
            .iter()
            .all(|d| (12..=18).contains(&d.config.firmware.major))
    );
    assert!(
        specs
            .iter()
            .any(|d| d.config.setup.mode == amtemu_model::device::ControlMode::Client)
    );

    let storm = example("hello-storm.toml").device_specs().unwrap();
    assert_eq!(storm.len(), 1000);
    let waiting = |state| {
        storm
            .iter()
            .filter(|d| d.config.setup.state == state)
            .count()
    };
    assert_eq!(waiting(amtemu_model::device::ProvisioningState::Pre), 600);
    assert_eq!(waiting(amtemu_model::device::ProvisioningState::In), 400);

    let unsupported = example("seed-unsupported.toml");
    let specs = unsupported.device_specs().unwrap();
    let domains: Vec<&str> = specs
        .iter()
        .map(|d| d.config.domain_name.as_str())
        .collect();
    assert!(domains.contains(&""));
    assert!(domains.contains(&"fabrikam.com"));
    assert!(domains.contains(&"northwindtraders.com"));
}

#[test]
fn device_specs_are_deterministic() {
    let a = example("power-chaos.toml").device_specs().unwrap();
    let b = example("power-chaos.toml").device_specs().unwrap();
    let key = |d: &DeviceSpec| {
        (
            d.config.name.clone(),
            d.config.host_name.clone(),
            d.config.firmware.name,
            d.address,
            d.ports,
        )
    };
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(a[0].config.name, "power-chaos/desktops-00001");
    assert_eq!(a[0].address.to_string(), "127.1.0.1");
    assert_eq!(a[40].config.host_name, "laptops-00001");
    assert_eq!(a[40].address.to_string(), "127.1.0.41");
    // The identity follows from the name, so it repeats too.
    let f1 = Fleet::new(a, tls(), None).unwrap();
    let f2 = Fleet::new(b, tls(), None).unwrap();
    assert_eq!(
        f1.get(7).unwrap().device.identity.uuid_string(),
        f2.get(7).unwrap().device.identity.uuid_string()
    );

    // Another seed, other identities.
    let text = std::fs::read_to_string(scenarios_dir().join("power-chaos.toml"))
        .unwrap()
        .replace("seed = \"power-chaos\"", "seed = \"other\"");
    let c = scenario::parse(&text, "other.toml").unwrap();
    assert_eq!(
        c.device_specs().unwrap()[0].config.name,
        "other/desktops-00001"
    );
}

#[test]
fn errors_name_the_file_line_and_key() {
    let e =
        error("[fleet]\nseed = \"x\"\n\n[[groups]]\nname = \"a\"\ncount = 2\ncolour = \"red\"\n");
    assert_eq!(
        e.to_string(),
        "fleet.toml:7:1: groups[0].colour: unknown field `colour`, expected one of `name`, `count`, `firmware`, `power`, `provisioning`, `mode`, `user`, `password`, `domain`, `host_prefix`, `boot_ms`, `shutdown_ms`, `reset_ms`, `power_policy`, `timing`, `faults`, `console`, `provisioning_server`, `provisioning_port`, `mebx_domain`, `dhcp_domain`, `pki_dns_suffix`, `pid`, `pps`, `trusted_hashes`, `qemu`"
    );

    let e = error(
        "[[groups]]\nname = \"a\"\ncount = 1\n\n[[groups]]\nname = \"b\"\ncount = 1\nfirmware = \"2.5\"\n",
    );
    assert!(
        e.to_string().starts_with(
            "fleet.toml:8:12: groups[1].firmware: unknown firmware \"2.5\" (known: 3.2.1, 4.0, 5.2"
        ),
        "{e}"
    );

    let e =
        error("[fleet]\nfirst_address = \"203.0.113.10\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert!(
        e.to_string().starts_with(
            "fleet.toml:2:17: fleet.first_address: 203.0.113.10 is outside the blocks a fleet may use"
        ),
        "{e}"
    );
    // A fleet that would run out of 127/8.
    let e = error(
        "[fleet]\nfirst_address = \"127.255.255.200\"\n[[groups]]\nname = \"a\"\ncount = 100\n",
    );
    assert_eq!(e.key.as_deref(), Some("fleet.first_address"));
    assert!(e.message.contains("outside the first address's block"));

    let e = error("[fleet]\nduration = \"5 minutes\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert!(
        e.to_string()
            .starts_with("fleet.toml:2:12: fleet.duration: bad duration \"5 minutes\""),
        "{e}"
    );
    let e = error(
        "[[groups]]\nname = \"a\"\ncount = 1\n[[timeline]]\nat = \"soon\"\naction = \"reset\"\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(5), Some("timeline[0].at"))
    );

    // Unsupported events are refused, not ignored.
    let e = error(
        "[[groups]]\nname = \"a\"\ncount = 1\nprovisioning = \"pre\"\n[[timeline]]\nat = \"1s\"\naction = \"start-hellos\"\n",
    );
    assert!(
        e.to_string()
            .starts_with("fleet.toml:7:10: timeline[0].action: not supported yet:"),
        "{e}"
    );
    let e = error(
        "[[groups]]\nname = \"a\"\ncount = 1\n[[timeline]]\nat = \"1s\"\naction = \"expire-certificates\"\n",
    );
    assert!(e.message.starts_with("not supported yet:"), "{e}");
    let e = error("[[groups]]\nname = \"a\"\ncount = 1\nconsole_script = \"boot.txt\"\n");
    assert!(
        e.to_string()
            .starts_with("fleet.toml:4:1: groups[0].console_script: not supported yet:"),
        "{e}"
    );

    // A file that cannot be read.
    let e = scenario::load(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml: cannot read")
    );
}

#[tokio::test(start_paused = true)]
async fn smoke_runs_and_passes() {
    let s = example("smoke.toml");
    assert_eq!(s.duration(), Some(std::time::Duration::from_secs(4)));
    let fleet = fleet_for(&s);
    let start = tokio::time::Instant::now();
    let report = s.run(fleet.clone()).await;
    assert!(report.passed, "{}", report.to_json());
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(4));
    assert_eq!(report.devices, 20);
    assert_eq!(report.expectations.len(), 5);
    assert_eq!(report.events[0].applied, 5);
    assert_eq!(report.events[1].applied, 2);
    let off = (0..fleet.len())
        .map(|i| fleet.get(i).unwrap())
        .filter(|e| !e.device.with_state(|s| s.power.state()).is_on())
        .count();
    assert_eq!(off, 7);
    assert!(report.summary().contains("PASSED"), "{}", report.summary());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["passed"], true);
    let first = &json["expectations"][0];
    assert_eq!(first["at"], "3s");
    assert_eq!(first["observed_share"], 0.5);
    assert!(
        first["description"]
            .as_str()
            .unwrap()
            .contains("group office")
    );
    let junit = report.to_junit();
    assert!(junit.contains("<testsuite name=\"scenario "));
    assert!(junit.contains("smoke.toml\" tests=\"5\" failures=\"0\""));
    assert_eq!(junit.matches("<testcase ").count(), 5);
    assert!(!junit.contains("<failure"));
}

#[tokio::test(start_paused = true)]
async fn the_small_examples_run_and_pass() {
    for name in [
        "power-chaos.toml",
        "sp2-features.toml",
        "modern-ccm-acm.toml",
        // hello-storm.toml needs a provisioning server: see
        // tests/provisioning_hello.rs.
        "seed-unsupported.toml",
    ] {
        let s = example(name);
        let report = run(&s).await;
        assert!(report.passed, "{name}: {}", report.to_json());
    }
}

#[tokio::test(start_paused = true)]
async fn sp1_fails_only_on_the_check_for_a_service_point() {
    // Without a service point nobody provisions the waiting devices.
    let report = run(&example("sp1-mixed.toml")).await;
    assert!(!report.passed);
    let failed: Vec<&str> = report
        .expectations
        .iter()
        .filter(|x| !x.passed)
        .map(|x| x.description.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("provisioned by the service point"));
    assert_eq!(report.faulted_at_start, 6);
}

#[tokio::test(start_paused = true)]
async fn a_failing_expectation_fails_the_run_and_the_junit() {
    let s = scenario::parse(
        r#"
[fleet]
seed = "fail"
duration = "3s"

[[groups]]
name = "A"
count = 10
shutdown_ms = 500

[[timeline]]
at = "1s"
action = "power-button"
group = "A"
share = 0.3

[[expect]]
at = "2s"
group = "A"
power = "off"
share = 0.95

[[expect]]
group = "A"
power = "on"
share = 0.7
"#,
        "fail.toml",
    )
    .unwrap();
    let report = run(&s).await;
    assert!(!report.passed);
    let bad = &report.expectations[0];
    assert!(!bad.passed);
    assert_eq!((bad.matching, bad.total), (3, 10));
    assert_eq!(bad.observed_share, 0.3);
    assert!(report.expectations[1].passed);
    assert_eq!(report.expectations[1].at, "end");
    let junit = report.to_junit();
    assert!(junit.contains("<testsuite name=\"scenario fail.toml\" tests=\"2\" failures=\"1\""));
    assert_eq!(junit.matches("<failure ").count(), 1);
    assert!(junit.contains("3 of 10 (30.0%) matched; needed at least 95%"));
    assert!(
        report
            .summary()
            .contains("FAILED (1 of 2 expectations failed")
    );
}

#[tokio::test(start_paused = true)]
async fn faults_unplug_and_saw_power_on() {
    let s = scenario::parse(
        r#"
[fleet]
seed = "faults"

[[groups]]
name = "a"
count = 10
power = "s5"
boot_ms = 100
faults = { http_error = 503, share = 0.5 }

[[groups]]
name = "b"
count = 4
faults = { hang = true }

[[timeline]]
at = "1s"
action = "unplug"
group = "a"
count = 3

[[timeline]]
at = "1s"
action = "power-on"
device = "a-00002"

[[timeline]]
at = "2s"
action = "clear-faults"
group = "b"

[[timeline]]
at = "2s"
action = "fault"
device = "a-00010"
plan = { offline = true }

[[expect]]
at = "1s"
group = "a"
responds = true
share = 0.7

[[expect]]
at = "1s"
group = "b"
responds = false

[[expect]]
at = "2s"
group = "b"
responds = true

[[expect]]
at = "2s"
device = "a-00002"
saw-power-on = true

[[expect]]
at = "2s"
group = "a"
saw-power-on = false
share = 0.9

[[timeline]]
at = "3s"
action = "replug"
group = "a"
"#,
        "faults.toml",
    )
    .unwrap();
    assert_eq!(s.duration(), None);
    let fleet = fleet_for(&s);
    let report = s.run(fleet.clone()).await;
    assert!(report.passed, "{}", report.to_json());
    assert_eq!(report.faulted_at_start, 5 + 4);
    // Without a duration, run returns after the last item (3s).
    assert_eq!(report.elapsed_ms, 3000);
    // Replugged: no device of group a is offline, except a-00010 only if
    // it was not among the replugged (replug applies to all of group a).
    assert!(
        (0..10)
            .map(|i| fleet.get(i).unwrap())
            .all(|e| !e.faults.get().offline)
    );
    let with_503 = (0..10)
        .map(|i| fleet.get(i).unwrap())
        .filter(|e| e.faults.get().http_error == Some(503))
        .count();
    assert!(with_503 <= 5);

    // The same scenario selects the same devices every time.
    let again = s.run(fleet_for(&s)).await;
    let targets = |r: &Report| {
        r.events
            .iter()
            .map(|e| (e.target.clone(), e.applied))
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(&report), targets(&again));
}

#[tokio::test(start_paused = true)]
async fn without_timeline_or_duration_run_returns_at_once() {
    let s = scenario::parse(
        "[[groups]]\nname = \"a\"\ncount = 3\nfaults = { latency_ms = [10, 20] }\n",
        "idle.toml",
    )
    .unwrap();
    assert_eq!(s.duration(), None);
    let fleet = fleet_for(&s);
    let report = s.run(fleet.clone()).await;
    assert!(report.passed);
    assert_eq!(report.elapsed_ms, 0);
    // The faults are on.
    assert!(
        (0..fleet.len())
            .map(|i| fleet.get(i).unwrap())
            .all(|e| e.faults.get().latency_ms == Some((10, 20)))
    );
}

/// The same in real time on a multi-threaded runtime, as the CLI runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_real_time_too() {
    let s = scenario::parse(
        r#"
[fleet]
seed = "real"
duration = "600ms"

[[groups]]
name = "a"
count = 6
shutdown_ms = 100
boot_ms = 100

[[timeline]]
at = "100ms"
action = "power-button"
group = "a"
count = 3

[[expect]]
at = "400ms"
group = "a"
power = "off"
share = 0.5

[[expect]]
group = "a"
power = "on"
share = 0.5
"#,
        "real.toml",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let report = run(&s).await;
    assert!(report.passed, "{}", report.to_json());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(600)
            && elapsed < std::time::Duration::from_secs(5)
    );
}

#[test]
fn console_lab_gives_each_group_its_script() {
    let specs = example("console-lab.toml").device_specs().unwrap();
    let lab = specs[0].config.console.as_ref().unwrap();
    assert_eq!(
        (lab.user.as_str(), lab.password.as_str()),
        ("tech", "fixit")
    );
    assert_eq!(lab.post.len(), 2);
    let kiosk = specs[3].config.console.as_ref().unwrap();
    assert_eq!(kiosk.prompt, "kiosk:~$ ");
    assert_eq!(kiosk.user, "root", "the rest is the built-in script");
}

/// Each timeline event's place in the file and the names of its devices.
type EventDevices = Vec<(usize, Vec<String>)>;

/// The shards' devices (each spec as Debug text: name, identity seed,
/// address, ports, settings) and each event's devices.
fn shard_views(s: &Scenario, n: u32) -> Vec<(Vec<String>, EventDevices)> {
    use amtemu_server::fleet::shard::Shard;
    (0..n)
        .map(|k| {
            let shard = s.clone().with_shard(Shard::new(k, n).unwrap());
            let specs = shard
                .device_specs()
                .unwrap()
                .iter()
                .map(|d| format!("{d:?}"))
                .collect();
            let events = shard
                .event_devices()
                .into_iter()
                .map(|(i, names)| (i, names.into_iter().map(String::from).collect()))
                .collect();
            (specs, events)
        })
        .collect()
}

/// Shards are disjoint and together give exactly the unsharded fleet:
/// the same devices in the same order (identities, addresses, settings)
/// and the same devices for every timeline event.
fn assert_shards_make_the_fleet(s: &Scenario, n: u32) -> Result<(), String> {
    let whole = &shard_views(s, 1)[0];
    let shards = shard_views(s, n);
    let specs: Vec<String> = shards.iter().flat_map(|(d, _)| d.clone()).collect();
    if specs != whole.0 {
        return Err(format!("{n} shards' devices differ from the fleet's"));
    }
    let distinct: std::collections::HashSet<&String> = specs.iter().collect();
    if distinct.len() != specs.len() {
        return Err(format!("{n} shards overlap"));
    }
    for (e, (index, names)) in whole.1.iter().enumerate() {
        let joined: Vec<String> = shards
            .iter()
            .flat_map(|(_, events)| events[e].1.clone())
            .collect();
        if (*index, &joined) != (shards[0].1[e].0, names) {
            return Err(format!("{n} shards: event {index} acts on other devices"));
        }
    }
    Ok(())
}

#[test]
fn every_example_split_into_shards_is_the_same_fleet() {
    for name in EXAMPLES {
        let s = example(name);
        for n in [1, 2, 3, 4, 7, 16] {
            assert_shards_make_the_fleet(&s, n).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn any_fleet_split_into_shards_is_the_same_fleet(
        seed in "[a-z]{1,8}",
        a in 1u32..300,
        b in 1u32..300,
        pick in 0u32..300,
        share in 1u32..100,
        n in 1u32..12,
    ) {
        let text = format!(
            r#"
[fleet]
seed = "{seed}"
first_address = "198.18.0.1"

[[groups]]
name = "a"
count = {a}
firmware = ["11.8", "3.2.1", "15.0"]

[[groups]]
name = "b"
count = {b}
firmware = "9.5"

[[timeline]]
at = "1s"
action = "power-off"
group = "a"
count = {}

[[timeline]]
at = "2s"
action = "unplug"
share = {}

[[expect]]
responds = true
"#,
            pick % a + 1,
            f64::from(share) / 100.0
        );
        let s = scenario::parse(&text, "shards.toml").unwrap();
        proptest::prop_assert_eq!(assert_shards_make_the_fleet(&s, n), Ok(()));
    }
}

#[tokio::test(start_paused = true)]
async fn shard_reports_merge_into_the_unsharded_report() {
    use amtemu_server::fleet::shard::Shard;
    let s = example("smoke.toml");
    let whole = run(&s).await;
    for n in [2, 3, 7] {
        let mut reports = Vec::new();
        for k in 0..n {
            let shard = s.clone().with_shard(Shard::new(k, n).unwrap());
            let report = run(&shard).await;
            let info = report.shard.clone().expect("a sharded report says so");
            assert_eq!((info.index, info.count, info.fleet_devices), (k, n, 20));
            assert_eq!(report.devices, info.end_device - info.first_device);
            reports.push(report);
        }
        // Given in any order.
        reports.reverse();
        let merged = Report::merge(reports).unwrap();
        assert_eq!(merged.devices, whole.devices);
        assert_eq!(merged.passed, whole.passed, "{}", merged.summary());
        assert_eq!(merged.merged_shards, Some(n));
        for (m, w) in merged.events.iter().zip(&whole.events) {
            assert_eq!(
                (m.selected, m.applied, m.skipped, &m.target),
                (w.selected, w.applied, w.skipped, &w.target)
            );
        }
        for (m, w) in merged.expectations.iter().zip(&whole.expectations) {
            assert_eq!(
                (&m.description, m.matching, m.total, m.passed, &m.message),
                (&w.description, w.matching, w.total, w.passed, &w.message)
            );
        }
    }
}
