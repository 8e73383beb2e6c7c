use std::net::Ipv4Addr;
use std::time::Duration;

use super::source::line_column;
use super::values::seeded_pick;
use super::*;
use crate::fleet::Ports;
use crate::scenario::{Action, ScenarioError};

#[test]
fn console_scripts_inline_or_from_a_file() {
    let text =
        "[[groups]]\nname = \"a\"\ncount = 2\nconsole = { user = \"ops\", password = \"pw\" }\n";
    let scenario = parse(text, "t.toml").unwrap();
    let specs = scenario.device_specs().unwrap();
    let first = specs[0].config.console.clone().unwrap();
    assert_eq!(
        (first.user.as_str(), first.password.as_str()),
        ("ops", "pw")
    );
    assert!(std::sync::Arc::ptr_eq(
        &first,
        specs[1].config.console.as_ref().unwrap()
    ));
    let dir = std::env::temp_dir().join(format!("amtemu-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.toml"), "prompt = \"$ \"\n").unwrap();
    let file = dir.join("s.toml");
    let text = "[[groups]]\nname = \"a\"\ncount = 1\nconsole = \"c.toml\"\n";
    let scenario = parse(text, &file.display().to_string()).unwrap();
    let specs = scenario.device_specs().unwrap();
    assert_eq!(specs[0].config.console.as_ref().unwrap().prompt, "$ ");
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nconsole = \"missing.toml\"\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].console"));
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nconsole = { usr = \"x\" }\n");
    assert!(e.message.contains("usr"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&dir);
}

fn err(text: &str) -> ScenarioError {
    match parse(text, "t.toml") {
        Ok(_) => panic!("parsed: {text}"),
        Err(e) => e,
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
    assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
    assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
    for bad in ["", "5", "s", "5x", "-1s", "1.5s"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
}

#[test]
fn line_columns() {
    assert_eq!(line_column("a\nbc\nd", 0), (1, 1));
    assert_eq!(line_column("a\nbc\nd", 3), (2, 2));
    assert_eq!(line_column("a\nbc\nd", 5), (3, 1));
}

#[test]
fn addresses_skip_0_and_255() {
    let first = Ipv4Addr::new(127, 1, 0, 254);
    let (a, _) = crate::fleet::slot(
        first,
        None,
        Ports {
            http: 16992,
            https: 16993,
            ..Ports::default()
        },
        1,
    )
    .unwrap();
    assert_eq!(a.to_string(), "127.1.1.1");
    assert!(
        crate::fleet::slot(
            Ipv4Addr::new(127, 255, 255, 250),
            None,
            Ports {
                http: 1,
                https: 2,
                ..Ports::default()
            },
            10
        )
        .is_err()
    );
    let (a, p) = crate::fleet::slot(
        Ipv4Addr::new(127, 0, 0, 1),
        Some(10),
        Ports {
            http: 20000,
            https: 20001,
            ..Ports::default()
        },
        3,
    )
    .unwrap();
    assert_eq!(
        (a.to_string(), p.http, p.https),
        ("127.0.0.1".into(), 20030, 20031)
    );
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let e = err("[fleet]\nseed = \"x\"\nsed = 1\n\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert_eq!(e.line, Some(3));
    assert_eq!(e.column, Some(1));
    assert_eq!(e.key.as_deref(), Some("fleet.sed"));
    assert!(
        e.to_string()
            .starts_with("t.toml:3:1: fleet.sed: unknown field `sed`")
    );

    let e = err(
        "[[groups]]\nname = \"a\"\ncount = 1\n\n[[groups]]\nname = \"b\"\ncount = 2\nfoo = 3\n",
    );
    assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("groups[1].foo")));

    // Inside a fault plan, inline or as its own table.
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nfaults = { ofline = true, share = 0.5 }\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].faults.ofline"), "{e}");
    assert_eq!((e.line, e.column), (Some(4), Some(12)));
    let e = err(
        "[[groups]]\nname = \"a\"\ncount = 1\n[groups.faults]\nshare = 0.5\nhang = true\nlatency = 3\n",
    );
    assert_eq!(e.key.as_deref(), Some("groups[0].faults.latency"), "{e}");
    assert_eq!(e.line, Some(7));
    let e = err(
        "[[groups]]\nname = \"a\"\ncount = 1\n[[timeline]]\nat = \"1s\"\naction = \"fault\"\nplan = { offline = 3 }\n",
    );
    assert_eq!(e.key.as_deref(), Some("timeline[0].plan.offline"), "{e}");
}

#[test]
fn values_are_checked_where_they_are() {
    let e = err(
        "[[groups]]\nname = \"a\"\ncount = 1\n\n[[groups]]\nname = \"b\"\ncount = 1\nfirmware = [\"4.0\", \"2.5\"]\n",
    );
    assert_eq!(e.key.as_deref(), Some("groups[1].firmware[1]"));
    assert_eq!((e.line, e.column), (Some(8), Some(20)));
    assert!(
        e.message
            .contains("unknown firmware \"2.5\" (known: 3.2.1, 4.0")
    );

    let e = err("[fleet]\nfirst_address = \"203.0.113.1\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert_eq!(e.key.as_deref(), Some("fleet.first_address"));
    assert_eq!((e.line, e.column), (Some(2), Some(17)));
    assert!(e.message.contains("outside the blocks a fleet may use"));

    let e = err("[fleet]\nduration = \"ten seconds\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert_eq!(e.key.as_deref(), Some("fleet.duration"));
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("bad duration"));

    let e = err("[[groups]]\nname = \"a\"\ncount = \"x\"\n");
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("groups[0].count"), Some(3))
    );

    let e = err("[[groups]]\nname = \"a\"\n");
    assert_eq!((e.key.as_deref(), e.line), (Some("groups[0]"), Some(1)));
    assert!(e.message.contains("missing field `count`"));

    let e = err("[[groups]]\nname = \"a\"\ncount = 1\npower = \"s7\"\n");
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("groups[0].power"), Some(4))
    );

    // Syntax errors still have a line.
    let e = err("[[groups]]\nname = \"a\"\ncount = \n");
    assert_eq!(e.line, Some(3));
}

#[test]
fn timeline_and_expectations_are_checked() {
    let base = "[fleet]\nduration = \"10s\"\n[[groups]]\nname = \"a\"\ncount = 4\n";
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"11s\"\naction = \"reset\"\n"
    ));
    assert_eq!(e.key.as_deref(), Some("timeline[0].at"));
    assert!(e.message.contains("after the scenario ends"));
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"jump\"\n"
    ));
    assert!(e.message.contains("unknown action \"jump\""), "{e}");
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"start-hellos\"\n"
    ));
    assert!(e.message.contains("enter-setup-mode"), "{e}");
    assert_eq!(e.key.as_deref(), Some("timeline[0].action"));
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"reset\"\ngroup = \"b\"\n"
    ));
    assert_eq!(e.key.as_deref(), Some("timeline[0].group"));
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"reset\"\ncount = 5\n"
    ));
    assert_eq!(e.key.as_deref(), Some("timeline[0].count"));
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"fault\"\n"
    ));
    assert!(e.message.contains("needs a plan"));
    let e = err(&format!(
        "{base}[[expect]]\npower = \"on\"\nresponds = true\n"
    ));
    assert_eq!(e.key.as_deref(), Some("expect[0]"));
    let e = err(&format!("{base}[[expect]]\npower = \"on\"\nshare = 1.5\n"));
    assert_eq!(e.key.as_deref(), Some("expect[0].share"));
    let e = err(&format!("{base}[[expect]]\nhellos = 3\n"));
    assert!(e.message.contains("hellos_delivered"), "{e}");
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\ntrusted_hashes = [\"abc\"]\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].trusted_hashes[0]"));
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nprovisioning_server = \"nowhere\"\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].provisioning_server"));
    let e = err("[fleet]\nhello_interval_scale = 0.0\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert_eq!(e.key.as_deref(), Some("fleet.hello_interval_scale"));
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\npower_policy = \"sometimes\"\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].power_policy"));
    assert_eq!(e.line, Some(4));
}

#[test]
fn groups_and_names() {
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\n[[groups]]\nname = \"a\"\ncount = 1\n");
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("groups[1].name"), Some(5))
    );
    let e = err(
        "[[groups]]\nname = \"a\"\ncount = 1\n[[groups]]\nname = \"b\"\nhost_prefix = \"a\"\ncount = 1\n",
    );
    assert_eq!(e.key.as_deref(), Some("groups[1].host_prefix"));
    let e = err("[fleet]\nport_step = 1\n[[groups]]\nname = \"a\"\ncount = 2\n");
    assert_eq!(e.key.as_deref(), Some("fleet.port_step"));
    let s = parse(
        "[fleet]\nseed = \"s\"\n[[groups]]\nname = \"a\"\ncount = 3\nfirmware = [\"4.0\", \"12.0\"]\n",
        "t.toml",
    )
    .unwrap();
    let specs = s.device_specs().unwrap();
    assert_eq!(specs[0].config.name, "s/a-00001");
    assert_eq!(specs[2].config.host_name, "a-00003");
    assert_eq!(specs[1].config.firmware.name, "12.0");
    assert_eq!(specs[2].config.firmware.name, "4.0");
    assert_eq!(specs[2].address.to_string(), "127.1.0.3");
}

#[test]
fn seeded_selection_repeats_and_varies() {
    let pool: Vec<usize> = (0..100).collect();
    let a = seeded_pick("x", "timeline/0", &pool, 10);
    assert_eq!(a, seeded_pick("x", "timeline/0", &pool, 10));
    assert_ne!(a, seeded_pick("x", "timeline/1", &pool, 10));
    assert_ne!(a, seeded_pick("y", "timeline/0", &pool, 10));
    assert_eq!(a.len(), 10);
}

#[test]
fn a_group_may_give_a_few_devices_a_qemu_host() {
    let text = "[[groups]]\nname = \"lab\"\ncount = 2\nqemu = { kernel = \"/g/vmlinuz\", accel = \"tcg\", memory_mb = 128 }\n[[groups]]\nname = \"fleet\"\ncount = 3\n";
    let scenario = parse(text, "t.toml").unwrap();
    let hosts = scenario.qemu_hosts();
    let names: Vec<&str> = hosts.iter().map(|(n, _)| n.as_str()).collect();
    let specs = scenario.device_specs().unwrap();
    assert_eq!(names, [&specs[0].config.name, &specs[1].config.name]);
    assert_eq!(
        hosts[0].1.kernel.as_deref(),
        Some(std::path::Path::new("/g/vmlinuz"))
    );
    assert_eq!(hosts[0].1.accel, crate::qemu::Accel::Tcg);
    assert_eq!(hosts[0].1.memory_mb, 128);
    let e = err("[[groups]]\nname = \"a\"\ncount = 9\nqemu = {}\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].qemu"));
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nqemu = { accel = \"hvf\" }\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].qemu.accel"));
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\nqemu = { kernal = \"x\" }\n");
    assert!(e.message.contains("kernal"), "{}", e.message);
}

#[test]
fn cira_actions_parse_and_take_no_plan() {
    let base = "[[groups]]\nname = \"a\"\ncount = 2\n";
    let s = parse(
        &format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"cira-connect\"\n[[timeline]]\nat = \"2s\"\naction = \"cira-cut\"\n[[timeline]]\nat = \"3s\"\naction = \"cira-silence\"\n"
        ),
        "t.toml",
    )
    .expect("parses");
    let actions: Vec<Action> = s.timeline.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [Action::CiraConnect, Action::CiraCut, Action::CiraSilence]
    );
    let e = err(&format!(
        "{base}[[timeline]]\nat = \"1s\"\naction = \"cira-cut\"\nplan = {{ offline = true }}\n"
    ));
    assert!(
        e.message.contains("only action \"fault\" takes a plan"),
        "{e}"
    );
}

#[test]
fn a_group_may_answer_at_its_firmwares_pace() {
    use amtemu_model::device::firmware::TimingMode;
    let text = "[[groups]]\nname = \"slow\"\ncount = 1\nfirmware = \"6.2\"\ntiming = \"firmware\"\n\
                [[groups]]\nname = \"quick\"\ncount = 1\n";
    let specs = parse(text, "t.toml").unwrap().device_specs().unwrap();
    assert_eq!(specs[0].config.timing, TimingMode::Firmware);
    assert_eq!(
        specs[1].config.timing,
        TimingMode::Fast,
        "fast unless asked"
    );
    let e = err("[[groups]]\nname = \"a\"\ncount = 1\ntiming = \"slow\"\n");
    assert_eq!(e.key.as_deref(), Some("groups[0].timing"));
    assert!(e.message.contains("`fast`, `firmware`"), "{}", e.message);
}

/// The schema editors read offers the names the parser accepts.
#[test]
fn the_schema_lists_the_timing_and_power_policy_names() {
    use amtemu_model::device::firmware::TimingMode;
    use amtemu_model::device::{MePowerPolicy, Named};
    let schema: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../../scenarios/scenario.schema.json"
    ))
    .unwrap();
    let group = schema["definitions"]["group"]["properties"].clone();
    let names = |key: &str| -> Vec<String> {
        group[key]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no enum for {key}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("timing"), TimingMode::names());
    assert_eq!(group["timing"]["default"], "fast");
    assert_eq!(names("power_policy"), MePowerPolicy::names());
}
