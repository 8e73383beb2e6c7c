//! Several hosts on one machine: network namespaces the test makes, one
//! "console" and three "hosts", joined by veth pairs. Each host runs one
//! shard of a scenario fleet (`amtemu fleet --shard K/3`) on the
//! addresses 198.18.K.1-254 (RFC 2544 benchmarking addresses, which exist
//! only inside these namespaces); the console routes each shard's /24
//! through that host's veth, as a data-centre router would, and real AMT
//! clients there reach random devices of every shard. The shards' reports
//! merge into one that passes, and merging an incomplete or overlapping
//! set fails.
//!
//! Needs root (or CAP_NET_ADMIN/CAP_SYS_ADMIN) for `ip netns`; skips
//! without it unless AMTEMU_REQUIRE_CLIENTS=1.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

const SHARDS: u32 = 3;
/// 254 devices per shard: each shard's addresses are exactly one /24.
const PER_SHARD: u32 = 254;

/// Runs `ip ARGS…`; true when it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map(|o| {
            if !o.status.success() {
                eprintln!("ip {args:?}: {}", String::from_utf8_lossy(&o.stderr).trim());
            }
            o.status.success()
        })
        .unwrap_or(false)
}

fn must(args: &[&str]) {
    assert!(ip(args), "ip {args:?} failed");
}

/// The namespaces of one test run, deleted when dropped (also when the
/// test fails): deleting a namespace removes its veth ends and their
/// peers, and the processes in it are killed before (see `Shard`).
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, name: String) -> bool {
        let made = ip(&["netns", "add", &name]);
        if made {
            self.0.push(name);
        }
        made
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            ip(&["netns", "del", name]);
        }
    }
}

/// A console namespace and `SHARDS` host namespaces, linked and routed.
fn lay_out_network(nets: &mut Namespaces, tag: &str) -> (String, Vec<String>) {
    let console = format!("amtemu-{tag}-console");
    assert!(nets.add(console.clone()));
    must(&["-n", &console, "link", "set", "lo", "up"]);
    let mut hosts = Vec::new();
    for k in 0..SHARDS {
        let host = format!("amtemu-{tag}-host{k}");
        assert!(nets.add(host.clone()));
        // veth names: at most 15 characters.
        let (c_end, h_end) = (format!("ae{tag}c{k}"), format!("ae{tag}h{k}"));
        must(&[
            "link", "add", &c_end, "netns", &console, "type", "veth", "peer", "name", &h_end,
            "netns", &host,
        ]);
        let link = |last: u32| format!("198.19.255.{}", 4 * k + last);
        let (c_addr, h_addr) = (link(1), link(2));
        must(&[
            "-n",
            &console,
            "addr",
            "add",
            &format!("{c_addr}/30"),
            "dev",
            &c_end,
        ]);
        must(&["-n", &console, "link", "set", &c_end, "up"]);
        must(&[
            "-n",
            &host,
            "addr",
            "add",
            &format!("{h_addr}/30"),
            "dev",
            &h_end,
        ]);
        must(&["-n", &host, "link", "set", &h_end, "up"]);
        must(&["-n", &host, "link", "set", "lo", "up"]);
        let block = format!("198.18.{k}.0/24");
        // The host takes its shard's whole block as its own addresses
        // (any address in it can be bound), and the console routes the
        // block to that host.
        must(&["-n", &host, "route", "add", "local", &block, "dev", "lo"]);
        must(&["-n", &console, "route", "add", &block, "via", &h_addr]);
        hosts.push(host);
    }
    (console, hosts)
}

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("multihost.toml");
    let text = format!(
        r#"description = "one fleet over {SHARDS} hosts"
[fleet]
seed = "multihost"
first_address = "198.18.0.1"

[[groups]]
name = "office"
count = {}
firmware = ["11.8", "15.0", "3.2.1"]
shutdown_ms = 200

[[groups]]
name = "lab"
count = {}
firmware = "9.5"

[[timeline]]
at = "1s"
action = "power-off"
group = "office"
count = 100

# 100 of 400 office machines off: exactly a quarter of the whole fleet's
# office, but not of any one shard's part of it.
[[expect]]
at = "2s"
group = "office"
power = "off"
share = 0.25

[[expect]]
at = "2s"
group = "office"
power = "on"
share = 0.75

[[expect]]
at = "2s"
responds = true
"#,
        400,
        SHARDS * PER_SHARD - 400
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The address and host name of each device a hosts file lists.
fn hosts_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().to_string(), f.nth(1).unwrap().to_string())
        })
        .collect()
}

fn amtemu(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(args)
        .output()
        .expect("amtemu runs")
}

fn clients_installed() -> bool {
    let p = clients_prefix();
    p.join("venv/bin/amtctrl").exists()
        && p.join("node/node_modules/meshcentral/amt/amt-wsman-comm.js")
            .exists()
        && Path::new("/usr/bin/wsl").exists()
}

/// One real client operation, run in the console namespace.
fn client_in(console: &str, n: usize, address: &str, host: &str) {
    let dir = repo().join("tests/clients");
    let (program, script, op) = match n % 3 {
        0 => ("node", "meshcommander.js", "info"),
        1 => ("bash", "wsl.sh", "settings"),
        _ => ("bash", "amtctrl.sh", "status"),
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", console, program])
        .arg(dir.join(script))
        .args([address, "16992", USER, PASSWORD, op])
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        // The drivers refuse addresses off loopback; these exist only in
        // the namespaces this test made.
        .env("AMT_CLIENTS_ALLOW_REMOTE", "1")
        .stdin(Stdio::null());
    let v = run_driver(cmd);
    assert_eq!(v["ok"], true, "{script} {op} at {address}: {v:#}");
    match n % 3 {
        0 => assert_eq!(v["hostname"], host, "{address}"),
        1 => assert_eq!(v["properties"]["HostName"], host, "{address}"),
        _ => assert!(
            v["status"] == "on" || v["status"] == "off",
            "{address}: {v:#}"
        ),
    }
}

#[test]
fn three_shards_on_three_hosts_are_one_fleet_to_a_console() {
    if !client_available(clients_installed(), "the real AMT clients") {
        return;
    }
    let pid = std::process::id();
    let tag = format!("{}", pid % 10_000_000);
    let mut nets = Namespaces(Vec::new());
    let probe = format!("amtemu-{tag}-probe");
    if !nets.add(probe) {
        client_available(false, "permission to create network namespaces (ip netns)");
        return;
    }
    let (console, hosts) = lay_out_network(&mut nets, &tag);

    let dir = std::env::temp_dir().join(format!("amtemu-multihost-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = scenario(&dir);
    let file = |name: String| dir.join(name).to_string_lossy().into_owned();

    // One shard per host. Declared after `nets`, so they are killed before
    // the namespaces go.
    let mut shards = Vec::new();
    for (k, host) in hosts.iter().enumerate() {
        let args: Vec<String> = [
            "fleet",
            "--scenario",
            &scenario.to_string_lossy(),
            "--shard",
            &format!("{k}/{SHARDS}"),
            "--report-json",
            &file(format!("shard{k}.json")),
            "--report-junit",
            &file(format!("shard{k}.xml")),
            "--hosts-file",
            &file(format!("hosts{k}")),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let first = format!("198.18.{k}.1:16992").parse().unwrap();
        shards.push(Emulator::launch_via(
            &["ip", "netns", "exec", host],
            args,
            first,
        ));
    }

    // Each shard runs its own /24 of the fleet, and together they are the
    // whole fleet, each device once.
    let mut all = Vec::new();
    for k in 0..SHARDS {
        let entries = hosts_file(&dir.join(format!("hosts{k}")));
        assert_eq!(entries.len(), PER_SHARD as usize, "shard {k}");
        for (address, _) in &entries {
            assert!(address.starts_with(&format!("198.18.{k}.")), "{address}");
        }
        all.push(entries);
    }
    let names: HashSet<&String> = all.iter().flatten().map(|(_, h)| h).collect();
    assert_eq!(names.len(), (SHARDS * PER_SHARD) as usize);
    assert_eq!(all[0][0].1, "office-00001");
    assert_eq!(all[2][PER_SHARD as usize - 1].1, "lab-00362");

    // Real clients in the console reach random devices of every shard.
    let mut x = u64::from(pid) | 1;
    let mut n = 0;
    for (k, entries) in all.iter().enumerate() {
        for _ in 0..3 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (address, host) = &entries[(x >> 33) as usize % entries.len()];
            client_in(&console, n, address, host);
            n += 1;
        }
        // Shard k's devices are not on the console's own network: the
        // route through host k is what reaches them.
        let route = Command::new("ip")
            .args(["-n", &console, "route", "get", &format!("198.18.{k}.7")])
            .output()
            .unwrap();
        let route = String::from_utf8_lossy(&route.stdout);
        assert!(
            route.contains(&format!("via 198.19.255.{}", 4 * k + 2)),
            "{route}"
        );
    }

    // The shards' reports (written once their checks at 2s ran).
    let reports: Vec<String> = (0..SHARDS)
        .map(|k| file(format!("shard{k}.json")))
        .collect();
    assert!(
        eventually(std::time::Duration::from_secs(60), || reports
            .iter()
            .all(|r| Path::new(r).exists())),
        "the shards wrote no reports"
    );
    for (k, r) in reports.iter().enumerate() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
        assert_eq!(v["shard"]["index"], k as u64);
        assert_eq!(v["devices"], PER_SHARD);
        assert_eq!(v["missing_devices"], 0);
    }
    drop(shards);

    let merged_json = file("merged.json".into());
    let merged_xml = file("merged.xml".into());
    let mut args: Vec<&str> = vec!["scenario", "merge"];
    args.extend(reports.iter().map(String::as_str));
    args.extend(["--json", &merged_json, "--junit", &merged_xml]);
    let out = amtemu(&args);
    assert!(
        out.status.success(),
        "merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&merged_json).unwrap()).unwrap();
    assert_eq!(v["passed"], true, "{v:#}");
    assert_eq!(v["devices"], SHARDS * PER_SHARD);
    assert_eq!(v["merged_shards"], SHARDS);
    assert_eq!(v["events"][0]["selected"], 100);
    assert_eq!(v["expectations"][0]["matching"], 100);
    assert_eq!(v["expectations"][0]["total"], 400);
    let xml = std::fs::read_to_string(&merged_xml).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"0\""), "{xml}");

    // A shard missing, or one given twice, is refused.
    let out = amtemu(&["scenario", "merge", &reports[0], &reports[2]]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in no report"));
    let out = amtemu(&[
        "scenario",
        "merge",
        &reports[0],
        &reports[1],
        &reports[1],
        &reports[2],
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlap"));

    let _ = std::fs::remove_dir_all(&dir);
}
