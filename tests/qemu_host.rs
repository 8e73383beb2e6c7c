//! A QEMU virtual machine as the host behind a device (`--host qemu`).
//!
//! The lab test drives the real binary with real clients: amtctrl powers
//! the device on, amtterm reads the guest kernel's line over SOL and types
//! into its shell, vncdotool on amtemu's port 5900 sees the guest's VGA
//! console (what only the VM's display shows) and types a command there
//! whose output SOL shows, the control API's screenshot shows the same
//! screen, and a graceful off (ACPI power button) lands as power state
//! 8. The guest (a Debian kernel and a busybox initramfs) is built by
//! `tests/qemu/build-image.sh`, which `tests/clients/install.sh` runs; the
//! VM runs under TCG so the test does not depend on nested KVM. The IDE-R
//! test has MeshCommander's IDE-R code serve the guest's boot.iso, which
//! the VM boots from after a one-time IDE-R boot set over WS-Man, after a
//! first console has left in the middle of the boot loader's reads.
//!
//! The bad-input tests run an emulator in process, with a QEMU device
//! beside a simulated one: a VM that cannot start, a disk that does not
//! exist, QEMU killed under a running VM. Each leaves the QEMU device's
//! host off with a clear reason, and the simulated device as it was.

mod support;
#[path = "support/viewer.rs"]
mod viewer;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use amtemu_model::device::HostPower;
use amtemu_server::emulator::{Emulator, EmulatorBuilder};
use amtemu_server::endpoint::Endpoint;
use amtemu_server::qemu::{Accel, QemuConfig};
use amtemu_server::tls::ca::Ca;
use support::{Client, PASSWORD, USER, device_spec, unique_address};
use viewer::{enable_5900, no_consent_needed};

/// How long a TCG boot of the tiny guest may take on a loaded machine.
const BOOT_LIMIT: Duration = Duration::from_secs(240);

/// A boot over IDE-R moves the boot loader, kernel and initramfs (15 MB)
/// through the console's session, under TCG.
const IDER_BOOT_LIMIT: Duration = Duration::from_secs(480);

fn qemu_installed() -> bool {
    Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The guest built by tests/qemu/build-image.sh, when it is there.
fn guest() -> Option<PathBuf> {
    let dir = support::clients_prefix().join("qemu-guest");
    let built = qemu_installed()
        && ["vmlinuz", "initrd.img"]
            .iter()
            .all(|f| dir.join(f).is_file());
    support::client_available(
        built,
        "qemu-system-x86_64 and the guest of tests/qemu/build-image.sh",
    )
    .then_some(dir)
}

/// A device off (S5) whose host is a TCG VM booting the test guest's
/// kernel and initramfs, with `extra` flags.
fn vm_device(guest: &std::path::Path, extra: &[&str]) -> support::Emulator {
    vm_device_at(guest, support::unique_address(), extra)
}

/// [`vm_device`] on address `ip`.
fn vm_device_at(
    guest: &std::path::Path,
    ip: std::net::Ipv4Addr,
    extra: &[&str],
) -> support::Emulator {
    let kernel = guest.join("vmlinuz");
    let initrd = guest.join("initrd.img");
    let mut args = vec![
        "--power",
        "s5",
        "--boot-ms",
        "100",
        "--host",
        "qemu",
        "--qemu-accel",
        "tcg",
        "--qemu-kernel",
        kernel.to_str().unwrap(),
        "--qemu-initrd",
        initrd.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    support::Emulator::start_at(&ip.to_string(), &args)
}

fn amtctrl(addr: SocketAddr, op: &str) -> serde_json::Value {
    let mut cmd = Command::new("bash");
    cmd.arg(support::repo().join("tests/clients/amtctrl.sh"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args([USER, PASSWORD, op]);
    support::run_driver(cmd)
}

#[test]
fn a_vm_boots_over_wsman_talks_over_sol_and_powers_off_gracefully() {
    let Some(guest) = guest() else { return };
    let clients = support::clients_prefix();
    let have_clients = clients.join("venv/bin/amtctrl").exists()
        && Command::new("amtterm").arg("-h").output().is_ok();
    if !support::client_available(have_clients, "amtctrl and amtterm") {
        return;
    }
    // Graceful off has ten minutes before amtemu would stop the VM itself,
    // so power state 8 within the test's wait is the guest's own doing.
    let ip = support::unique_address();
    let control = SocketAddr::from((ip, 17000));
    let emulator = vm_device_at(
        &guest,
        ip,
        &[
            "--qemu-shutdown-deadline-ms",
            "600000",
            "--control",
            &control.to_string(),
        ],
    );
    let addr = emulator.addr;
    assert_eq!(emulator.client().power_state(), "8", "starts off");

    let on = amtctrl(addr, "on");
    assert_eq!(on["ok"], true, "{on}");

    let step_timeout = BOOT_LIMIT.as_secs().to_string();
    let mut cmd = Command::new("bash");
    cmd.arg(support::repo().join("tests/clients/amtterm.sh"))
        .arg(addr.ip().to_string())
        .arg("16994")
        .args([USER, PASSWORD])
        .args([
            "expect:amtemu-qemu-guest ready",
            "sleep:1",
            "send:echo qemu-sum-$((40+2))\\r",
            "expect:qemu-sum-42",
        ])
        .env("AMT_DRIVER_STEP_TIMEOUT", &step_timeout);
    let sol = support::run_driver(cmd);
    assert_eq!(sol["ok"], true, "{sol}");

    kvm_shows_the_vms_screen_and_types_into_it(&emulator, control);
    the_vm_sleeps_in_s3_and_wakes(&emulator);

    let status = amtctrl(addr, "status");
    assert_eq!(status["powerstate"], 2, "{status}");
    let off = amtctrl(addr, "softoff");
    assert_eq!(off["ok"], true, "{off}");
    let mut last = serde_json::Value::Null;
    let landed = support::eventually(Duration::from_secs(60), || {
        last = amtctrl(addr, "status");
        last["powerstate"] == 8
    });
    assert!(landed, "the guest powered off on the ACPI button: {last}");
}

/// How long the running VM may take to suspend, or to wake and answer
/// again, under TCG (resuming took up to a minute on the 2-core test VM).
const SLEEP_LIMIT: Duration = Duration::from_secs(150);

/// The power state WS-Man reports (amtctrl's status), polled until it is
/// `want`; the last answer when it never was.
fn power_state_becomes(addr: SocketAddr, want: u64) -> Result<(), serde_json::Value> {
    let mut last = serde_json::Value::Null;
    if support::eventually(SLEEP_LIMIT, || {
        last = amtctrl(addr, "status");
        last["powerstate"] == want
    }) {
        Ok(())
    } else {
        Err(last)
    }
}

/// SOL over amtterm: once the session shows the shell's prompt (keys sent
/// before the session runs are lost), types `command` and waits for
/// `answer`.
fn sol_answers(addr: SocketAddr, command: &str, answer: &str) -> serde_json::Value {
    let mut cmd = Command::new("bash");
    cmd.arg(support::repo().join("tests/clients/amtterm.sh"))
        .arg(addr.ip().to_string())
        .arg("16994")
        .args([USER, PASSWORD])
        .args([
            "expect:/ # ".to_string(),
            "sleep:1".to_string(),
            format!("send:{command}\\r"),
            format!("expect:{answer}"),
        ])
        .env("AMT_DRIVER_STEP_TIMEOUT", SLEEP_LIMIT.as_secs().to_string());
    support::run_driver(cmd)
}

/// ACPI S3 with the running VM: the guest suspending itself (typed over
/// SOL) is the host in Sleep - Deep (4); a WS-Man power-on wakes it (QMP
/// `system_wakeup`, no reboot: the same shell answers). Then Sleep - Deep
/// requested over WS-Man: the guest's agent suspends it, and S3 shows long
/// before the ten-minute deadline would have landed it without the guest.
fn the_vm_sleeps_in_s3_and_wakes(emulator: &support::Emulator) {
    let addr = emulator.addr;
    // amtterm shows nothing of a host that is not on, so the power state
    // alone says the guest slept.
    let mut cmd = Command::new("bash");
    cmd.arg(support::repo().join("tests/clients/amtterm.sh"))
        .arg(addr.ip().to_string())
        .arg("16994")
        .args([USER, PASSWORD])
        .args([
            "expect:/ # ",
            "sleep:1",
            "send:echo mem > /sys/power/state\\r",
            "sleep:3",
        ])
        .env("AMT_DRIVER_STEP_TIMEOUT", SLEEP_LIMIT.as_secs().to_string());
    let suspend = support::run_driver(cmd);
    assert_eq!(suspend["ok"], true, "{suspend}");
    if let Err(last) = power_state_becomes(addr, 4) {
        panic!("the guest's own suspend is S3 (4): {last}");
    }
    let on = amtctrl(addr, "on");
    assert_eq!(on["ok"], true, "{on}");
    if let Err(last) = power_state_becomes(addr, 2) {
        panic!("powered on from S3: {last}");
    }
    let awake = sol_answers(addr, "echo woke-$((6*7))", "woke-42");
    assert_eq!(
        awake["ok"], true,
        "the woken guest's shell answers: {awake}"
    );

    let asked = emulator.client().request_power(4);
    assert_eq!(
        support::element_text(&asked.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        asked.text()
    );
    if let Err(last) = power_state_becomes(addr, 4) {
        panic!("the requested sleep is S3 (4) once the guest suspended: {last}");
    }
    let on = amtctrl(addr, "on");
    assert_eq!(on["ok"], true, "{on}");
    if let Err(last) = power_state_becomes(addr, 2) {
        panic!("powered on from the requested S3: {last}");
    }
    let seen = sol_expect(addr, "asked to sleep, suspending to RAM");
    assert_eq!(
        seen["ok"], true,
        "the guest's agent heard the request: {seen}"
    );
    let awake = sol_answers(addr, "echo again-$((6*7))", "again-42");
    assert_eq!(
        awake["ok"], true,
        "the guest's shell answers again: {awake}"
    );
}

/// vncdotool (PyPI), installed by tests/clients/install.sh.
fn vncdo() -> Option<PathBuf> {
    let path = support::clients_prefix().join("venv/bin/vncdo");
    support::client_available(path.exists(), "vncdotool").then_some(path)
}

/// RGB pixels and the width of a PNG (vncdotool writes RGB or RGBA).
fn picture(png: &[u8]) -> (Vec<[u8; 3]>, usize) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a PNG");
    let mut data = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut data).expect("a frame");
    let step = info.color_type.samples();
    let pixels = data[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (pixels, info.width as usize)
}

/// Whether a row of the picture holds the guest's tty1 colour bar: runs
/// of red, green and blue background cells side by side (four cells each,
/// VGA's dark colours, as wide as the text mode's cells make them). The
/// guest prints it on its VGA console only, so neither the serial console
/// nor the simulated host's screen ever shows it.
fn shows_the_colour_bar((pixels, width): &(Vec<[u8; 3]>, usize)) -> bool {
    let colour = |[r, g, b]: [u8; 3]| match (r > 120, g > 120, b > 120) {
        _ if r.max(g).max(b) < 60 => 'k',
        (true, false, false) if g < 60 && b < 60 => 'r',
        (false, true, false) if r < 60 && b < 60 => 'g',
        (false, false, true) if r < 60 && g < 60 => 'b',
        _ => '?',
    };
    pixels.chunks(*width).any(|row| {
        let mut runs: Vec<(char, usize)> = Vec::new();
        for c in row.iter().map(|p| colour(*p)) {
            match runs.last_mut() {
                Some((last, n)) if *last == c => *n += 1,
                _ => runs.push((c, 1)),
            }
        }
        runs.windows(3).any(|w| {
            w.iter().map(|(c, _)| *c).eq(['r', 'g', 'b']) && w.iter().all(|(_, n)| *n >= 30)
        })
    })
}

/// KVM on the booted VM, through amtemu's port 5900 once WS-Man enables it
/// (consent off, an RFB password): vncdotool's capture is the VM's VGA
/// console, the control API's screenshot shows it too, and what vncdotool
/// types runs in the VM's tty1 shell (its `say` writes to the serial port,
/// so SOL shows it).
fn kvm_shows_the_vms_screen_and_types_into_it(emulator: &support::Emulator, control: SocketAddr) {
    let Some(vncdo) = vncdo() else { return };
    let mut client = emulator.client();
    no_consent_needed(&mut client);
    let put = enable_5900(&mut client, "P@ssw0rd");
    assert_eq!(put.status, 200, "{}", put.text());

    let dir = std::env::temp_dir().join(format!("amtemu-qemu-kvm-{}", emulator.addr.ip()));
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("vm.png");
    let out = Command::new(&vncdo)
        .args(["-s", &format!("{}::5900", emulator.addr.ip())])
        .args(["-p", "P@ssw0rd", "capture"])
        .arg(&capture)
        .args(["type", "say kvm-typed", "key", "enter"])
        // Stay a moment before leaving: a viewer that closes with updates
        // it never read resets the connection, and the kernel drops the
        // keys amtemu had not read yet with it (the likely cause of this
        // step hanging under load).
        .args(["pause", "2"])
        .output()
        .expect("vncdo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = picture(&std::fs::read(&capture).expect("vncdotool wrote its capture"));
    assert!(
        shows_the_colour_bar(&seen),
        "vncdotool sees the VM's tty1 through amtemu's KVM"
    );
    let shot = Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ctl", "--control", &control.to_string()])
        .args(["screenshot", "amtemu-default"])
        .output()
        .expect("amtemu ctl runs");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert!(
        shows_the_colour_bar(&picture(&shot.stdout)),
        "the control API's screenshot is the VM's screen"
    );
    let typed = sol_expect(emulator.addr, "tty1 says: kvm-typed");
    assert_eq!(
        typed["ok"], true,
        "keys typed over KVM ran in the VM: {typed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// MeshCommander's IDE-R stack serving `iso` as its CD to the device at
/// `addr`, until the host has read `until` bytes (then it closes, as a
/// console that leaves); killed when dropped.
struct IderConsole(std::process::Child);

impl IderConsole {
    fn start(addr: SocketAddr, iso: &std::path::Path, until: u64) -> Option<IderConsole> {
        let found = support::clients_prefix()
            .join("node/node_modules/meshcentral/public/scripts/amt-redir-ws-0.1.0.js")
            .exists();
        if !support::client_available(found, "meshcentral (npm)") {
            return None;
        }
        let child = Command::new("node")
            .arg(support::repo().join("tests/clients/meshcommander-redir.js"))
            .args([&addr.ip().to_string(), "16994", USER, PASSWORD, "ider"])
            .arg(iso)
            .env("OPENSSL_CONF", support::legacy_openssl_conf())
            .env("AMT_IDER_UNTIL_BYTES", until.to_string())
            .env("AMT_DRIVER_TIMEOUT", "900")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        let console = IderConsole(child);
        // The slot is taken once MeshCommander has logged in; its drives'
        // registers follow in the same exchange, which the wait after it
        // covers (the VM must find the CD at power-on).
        let held = support::eventually(Duration::from_secs(30), || ider_slot_busy(addr));
        assert!(held, "MeshCommander holds the IDE-R slot");
        std::thread::sleep(Duration::from_secs(2));
        Some(console)
    }
}

impl IderConsole {
    /// Waits for the console to end by itself; its JSON verdict.
    fn verdict(mut self) -> serde_json::Value {
        use std::io::Read;
        let mut out = String::new();
        if let Some(mut stdout) = self.0.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let _ = self.0.wait();
        let last = out.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

impl Drop for IderConsole {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether an IDE-R session holds the device's slot: a second start is
/// answered "busy" (status 2).
fn ider_slot_busy(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect((addr.ip(), 16994)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reply = [0u8; 13];
    s.write_all(&[0x10, 0, 0, 0, b'I', b'D', b'E', b'R'])
        .is_ok()
        && s.read_exact(&mut reply).is_ok()
        && reply[0] == 0x11
        && reply[1] == 2
}

/// SOL over amtterm until `text` shows (the console's history included).
fn sol_expect(addr: SocketAddr, text: &str) -> serde_json::Value {
    let mut cmd = Command::new("bash");
    cmd.arg(support::repo().join("tests/clients/amtterm.sh"))
        .arg(addr.ip().to_string())
        .arg("16994")
        .args([USER, PASSWORD])
        .arg(format!("expect:{text}"))
        .env(
            "AMT_DRIVER_STEP_TIMEOUT",
            IDER_BOOT_LIMIT.as_secs().to_string(),
        );
    support::run_driver(cmd)
}

/// The ISO MeshCommander serves over IDE-R is the VM's CD: a one-time boot
/// from IDE-R set over WS-Man boots the VM from it. First a console leaves
/// while the VM's boot loader is still reading the kernel from its CD: the
/// reads under way fail, and nothing hangs: the device goes on answering,
/// and a second console's CD, inserted into the running VM, boots it on a
/// reset (QEMU's block layer had let go of the first one's reads).
#[test]
fn a_vm_boots_the_iso_meshcommander_serves_over_ide_r() {
    let Some(guest) = guest() else { return };
    let iso = guest.join("boot.iso");
    let have = iso.is_file() && Command::new("amtterm").arg("-h").output().is_ok();
    if !support::client_available(have, "boot.iso of tests/qemu/build-image.sh and amtterm") {
        return;
    }
    let emulator = vm_device(&guest, &[]);
    let addr = emulator.addr;
    let use_ider = |client: &mut Client| {
        let r = client.put_edited(
            "AMT_BootSettingData",
            "<r:UseIDER>false</r:UseIDER>",
            "<r:UseIDER>true</r:UseIDER>",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };

    // A console that leaves after 4 MiB: the boot loader is reading the
    // kernel (14 MB) then.
    let Some(leaving) = IderConsole::start(addr, &iso, 4 << 20) else {
        return;
    };
    let mut client = emulator.client();
    use_ider(&mut client);
    let on = client.request_power(2);
    assert_eq!(on.status, 200, "{}", on.text());
    let left = leaving.verdict();
    assert_eq!(left["ok"], true, "the VM read 4 MiB of the CD: {left}");
    assert_eq!(client.power_state(), "2", "the device and its VM go on");

    // A second console: its CD goes into the running VM; a reset boots it.
    let Some(_serving) = IderConsole::start(addr, &iso, u64::MAX >> 12) else {
        return;
    };
    use_ider(&mut client);
    let reset = client.request_power(10);
    assert_eq!(reset.status, 200, "{}", reset.text());
    let sol = sol_expect(addr, "amtemu-qemu-iso booted");
    assert_eq!(
        sol["ok"], true,
        "the VM booted from the ISO over IDE-R: {sol}"
    );
}

// ------------------------------------------------------------ bad input

/// A QEMU device and a simulated one in one in-process emulator.
async fn mixed_fleet(config: QemuConfig) -> (Emulator, Arc<Endpoint>, Arc<Endpoint>) {
    let (vm_ip, sim_ip) = (IpAddr::V4(unique_address()), IpAddr::V4(unique_address()));
    let emulator = EmulatorBuilder::new(vec![
        device_spec("qemu-device", vm_ip),
        device_spec("simulated-device", sim_ip),
    ])
    .ca(Ca::generate().expect("a CA"))
    .qemu_host("qemu-device", config)
    .start()
    .await
    .expect("the emulator starts");
    let fleet = emulator.fleet();
    let (vm, sim) = (fleet.get(0).unwrap(), fleet.get(1).unwrap());
    (emulator, vm, sim)
}

fn tcg() -> QemuConfig {
    QemuConfig {
        accel: Accel::Tcg,
        memory_mb: 64,
        ..QemuConfig::new()
    }
}

fn console_text(endpoint: &Endpoint) -> String {
    let host = endpoint.host_port();
    let mut cursor = host.console_cursor();
    String::from_utf8_lossy(&host.console_read(&mut cursor)).into_owned()
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

/// The simulated device still answers WS-Man and is still on.
async fn still_serving(sim: &Endpoint) {
    assert_eq!(sim.device.power_status().state, HostPower::S0);
    let addr = SocketAddr::new(
        sim.device
            .with_state(|s| s.nvram.network.ip_address.parse().expect("an address")),
        16992,
    );
    let state =
        tokio::task::spawn_blocking(move || Client::new(addr, USER, PASSWORD).power_state())
            .await
            .expect("the client ran");
    assert_eq!(state, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_that_cannot_start_leaves_the_host_off_with_the_reason() {
    if !support::client_available(qemu_installed(), "qemu-system-x86_64") {
        return;
    }
    // A file that exists but is no kernel: QEMU itself refuses it.
    let not_a_kernel =
        std::env::temp_dir().join(format!("amtemu-not-a-kernel-{}", std::process::id()));
    std::fs::write(&not_a_kernel, b"this is not a kernel").unwrap();
    let (_emulator, vm, sim) = mixed_fleet(QemuConfig {
        kernel: Some(not_a_kernel.clone()),
        ..tcg()
    })
    .await;
    let off = wait_until(Duration::from_secs(30), || {
        vm.device.power_status().state == HostPower::S5
    })
    .await;
    assert!(off, "the host is off: {:?}", vm.device.power_status());
    let console = console_text(&vm);
    assert!(
        console.contains("the VM did not start: QEMU ended"),
        "{console}"
    );
    still_serving(&sim).await;
    let _ = std::fs::remove_file(not_a_kernel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_does_not_exist_is_named_and_the_host_stays_off() {
    if !support::client_available(qemu_installed(), "qemu-system-x86_64") {
        return;
    }
    let (_emulator, vm, sim) = mixed_fleet(QemuConfig {
        disk: Some("/nonexistent/amtemu-disk.img".into()),
        ..tcg()
    })
    .await;
    let off = wait_until(Duration::from_secs(10), || {
        vm.device.power_status().state == HostPower::S5
    })
    .await;
    assert!(off, "the host is off: {:?}", vm.device.power_status());
    let console = console_text(&vm);
    assert!(
        console.contains("disk /nonexistent/amtemu-disk.img does not exist"),
        "{console}"
    );
    still_serving(&sim).await;
    // Asking again gets the same answer, not a hang.
    vm.device
        .request_power(amtemu_model::device::PowerRequest::On)
        .expect("on is accepted");
    let off_again = wait_until(Duration::from_secs(10), || {
        let s = vm.device.power_status();
        s.state == HostPower::S5 && s.destination == HostPower::S5
    })
    .await;
    assert!(off_again, "{:?}", vm.device.power_status());
}

/// The QEMU process running `device`'s VM, found by its socket path.
fn qemu_pid(device: &str) -> Option<u32> {
    let marker = format!("amtemu-qemu-{}/{device}/", std::process::id());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&marker)
                .then_some(pid)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_killed_under_a_running_vm_is_the_host_powering_off() {
    if !support::client_available(qemu_installed(), "qemu-system-x86_64") {
        return;
    }
    // No kernel and no disk: the firmware runs and finds nothing to boot,
    // which is enough of a VM to kill.
    let (_emulator, vm, sim) = mixed_fleet(tcg()).await;
    let mut pid = None;
    let found = wait_until(Duration::from_secs(30), || {
        pid = qemu_pid("qemu_device");
        pid.is_some()
    })
    .await;
    assert!(found, "QEMU runs for the device");
    // Its QMP socket is open once the device has gone on serving.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(vm.device.power_status().state, HostPower::S0);
    let killed = Command::new("kill")
        .args(["-KILL", &pid.unwrap().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let off = wait_until(Duration::from_secs(10), || {
        vm.device.power_status().state == HostPower::S5
    })
    .await;
    assert!(off, "the host is off: {:?}", vm.device.power_status());
    still_serving(&sim).await;
    // The device powers the host on again: a new VM.
    vm.device
        .request_power(amtemu_model::device::PowerRequest::On)
        .expect("on is accepted");
    let again = wait_until(Duration::from_secs(30), || {
        vm.device.power_status().state == HostPower::S0 && qemu_pid("qemu_device").is_some()
    })
    .await;
    assert!(again, "a new VM runs");
}
