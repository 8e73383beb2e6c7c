//! The simulated host end to end: a scenario gives a device its own console
//! script, the host boots while no console is attached, and Debian's
//! amtterm, attaching afterwards, sees the retained boot text, logs in with
//! the script's credentials and powers the host off from its shell, which
//! WS-Man then reports.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;

const HOST: &str = "hc-00001";

/// A one-device fleet from a scenario whose group brings an inline script.
fn fleet_with_script() -> (Emulator, std::path::PathBuf) {
    let ip = unique_address();
    let dir = std::env::temp_dir().join(format!("amtemu-host-console-{ip}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("console.toml");
    std::fs::write(
        &file,
        format!(
            r#"[fleet]
first_address = "{ip}"

[[groups]]
name = "hc"
count = 1
power = "s5"
boot_ms = 200
console = {{ user = "ops", password = "s3cret", prompt = "ops@{{host}}> ", post = [{{ after_ms = 0, text = "HOSTCONSOLE-POST {{host}}\n" }}] }}
"#
        ),
    )
    .unwrap();
    let args = vec![
        "fleet".to_string(),
        "--scenario".into(),
        file.display().to_string(),
    ];
    let emu = Emulator::launch(args, SocketAddr::from((ip, 16992)));
    (emu, dir)
}

/// Whether Debian's amtterm is installed.
fn have_amtterm() -> bool {
    client_available(std::path::Path::new("/usr/bin/amtterm").exists(), "amtterm")
}

/// Drives amtterm (tests/clients/amtterm.sh) as admin against `ip`'s SOL
/// port through `steps`; returns the driver's result (its last line).
fn amtterm(ip: &str, steps: &[&str]) -> serde_json::Value {
    let mut cmd = std::process::Command::new(repo().join("tests/clients/amtterm.sh"));
    cmd.args([ip, "16994", "admin", "P@ssw0rd"]).args(steps);
    run_driver(cmd)
}

fn power_on(emu: &Emulator) {
    let r = emu.client().request_power(2);
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
}

#[test]
fn amtterm_attaching_late_sees_the_boot_logs_in_with_the_script_and_powers_off() {
    if !have_amtterm() {
        return;
    }
    let (emu, dir) = fleet_with_script();
    power_on(&emu);
    assert!(eventually(Duration::from_secs(10), || emu
        .client()
        .power_state()
        == "2"));
    // The whole disk boot (about 5 s of script) happens with nobody
    // attached; its text must still be there.
    std::thread::sleep(Duration::from_secs(7));
    let result = amtterm(
        &emu.addr.ip().to_string(),
        &[
            &format!("expect:HOSTCONSOLE-POST {HOST}"),
            "expect:GRUB",
            &format!("expect:{HOST} login: "),
            "send:ops\\r",
            "expect:Password: ",
            "send:wrong\\r",
            "expect:Login incorrect",
            &format!("expect:{HOST} login: "),
            "send:ops\\r",
            "expect:Password: ",
            "send:s3cret\\r",
            &format!("expect:ops@{HOST}> "),
            "send:hostname\\r",
            // The echoed command, then the answer on a line of its own.
            &format!("expect:\n{HOST}"),
            "send:cat /etc/os-release\\r",
            "expect:ID=amtemu",
            "send:shutdown -h now\\r",
            "expect:reboot: Power down",
        ],
    );
    assert_eq!(result["ok"], true, "{result:#}");
    eprintln!(
        "amtterm saw:\n{}",
        result["output_tail"].as_str().unwrap_or("")
    );
    assert!(
        eventually(Duration::from_secs(10), || emu.client().power_state()
            == "8"),
        "WS-Man sees the host off after its OS shut down"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `serve --console FILE`: the shipped rescue-lab script's texts and login,
/// and `reboot` from its shell boots the host again (WS-Man keeps seeing it
/// on).
#[test]
fn serve_takes_a_console_script_and_reboot_boots_again() {
    if !have_amtterm() {
        return;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = repo.join("scenarios/consoles/rescue-lab.toml");
    let emu = Emulator::start(&["--console", script.to_str().unwrap(), "--boot-ms", "200"]);

    let result = amtterm(
        &emu.addr.ip().to_string(),
        &[
            // The host was running when the console attached: a login prompt.
            "expect:Rescue Lab OS 2.1",
            "expect:login: ",
            "send:tech\\r",
            "expect:Password: ",
            "send:fixit\\r",
            "expect:Nothing here is backed up.",
            "expect:$ ",
            "send:ls\\r",
            "expect:README  diag.sh  images",
            "send:reboot\\r",
            "expect:reboot: Restarting system",
            "expect:LAB-BIOS 1.07",
            "expect:GRUB",
            "expect:login: ",
        ],
    );
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(
        emu.client().power_state(),
        "2",
        "a reboot leaves the host on"
    );
}

#[test]
fn a_broken_console_script_stops_the_start_with_its_reason() {
    let bad = std::env::temp_dir().join(format!("amtemu-bad-console-{}.toml", std::process::id()));
    std::fs::write(&bad, "usr = \"x\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args([
            "serve",
            "--bind",
            &unique_address().to_string(),
            "--console",
        ])
        .arg(&bad)
        .output()
        .expect("amtemu runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `usr`"), "{stderr}");
    let _ = std::fs::remove_file(bad);
}

/// The node command running MeshCommander's redirection stack, if the
/// clients are installed (tests/clients/install.sh).
fn meshcommander_redir() -> Option<std::process::Command> {
    let found = clients_prefix()
        .join("node/node_modules/meshcentral/public/scripts/amt-redir-ws-0.1.0.js")
        .exists()
        && std::path::Path::new("/usr/bin/amtterm").exists();
    if !client_available(found, "meshcentral (npm) or amtterm") {
        return None;
    }
    let mut cmd = std::process::Command::new("node");
    cmd.arg(repo().join("tests/clients/meshcommander-redir.js"));
    Some(cmd)
}

/// Two real consoles at once: MeshCommander serves an ISO over IDE-R
/// ("start now") while amtterm, on SOL, logs in to the running host and
/// mounts it; the host reads the label from MeshCommander's image.
#[test]
fn a_running_host_mounts_what_meshcommander_serves_seen_through_amtterm() {
    let Some(mut mesh) = meshcommander_redir() else {
        return;
    };
    let emu = Emulator::start(&[]);

    // A 64-block ISO 9660 image: the primary volume descriptor at LBA 16.
    let mut image = vec![0u8; 64 * 2048];
    let pvd = &mut image[16 * 2048..17 * 2048];
    pvd[0] = 1;
    pvd[1..6].copy_from_slice(b"CD001");
    pvd[6] = 1;
    pvd[40..72].copy_from_slice(b"MESH_LIVE_MOUNT                 ");
    let iso = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("host-console-{}.iso", std::process::id()));
    std::fs::write(&iso, &image).unwrap();
    let ip = emu.addr.ip().to_string();
    mesh.args([
        &ip,
        "16994",
        "admin",
        "P@ssw0rd",
        "ider",
        iso.to_str().unwrap(),
    ]);
    let ider = std::thread::spawn(move || {
        let out = mesh
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("node runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    let result = amtterm(
        &ip,
        &[
            "expect:login: ",
            "send:root\\r",
            "expect:Password: ",
            "send:amtemu\\r",
            "expect:# ",
            // MeshCommander is connected and has its drives enabled by now.
            "sleep:3",
            "send:mount /dev/cdrom\\r",
            "expect:mount: /dev/sr0 (ISO 9660) mounted read-only on /media/MESH_LIVE_MOUNT",
            "send:mount\\r",
            "expect:type iso9660 (ro)",
        ],
    );
    assert_eq!(result["ok"], true, "{result:#}");
    let mesh_out = ider.join().expect("the MeshCommander thread");
    let mesh_last: serde_json::Value =
        serde_json::from_str(mesh_out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {mesh_out}"));
    assert_eq!(mesh_last["ok"], true, "{mesh_last:#}");
    assert_eq!(emu.client().power_state(), "2", "mounting needs no reboot");
    let _ = std::fs::remove_file(iso);
}
