//! KVM against the real binary: KVMR on 16994 after the redirection login,
//! port 5900 with VNC authentication once WS-Man enables it, 16.1 without
//! 5900, user consent with the code read off the screen, and
//! `amtemu ctl screenshot`. The console here speaks the wire layouts
//! itself (RFB per RFC 6143, the KVMR start per the redirection notes);
//! only the VNC DES response and the reference rendering of the consent
//! digits come from amtemu-rfb.

mod support;
#[path = "support/viewer.rs"]
mod viewer;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::*;
use viewer::{Viewer, enable_5900, kvmr, no_consent_needed};

/// `amtemu serve`'s device name.
const NAME: &str = "amtemu-default";

/// A device with a control API on port 17000 of its address.
fn device(firmware: &str) -> (Emulator, SocketAddr) {
    let ip = unique_address();
    let control = SocketAddr::from((ip, 17000));
    let emu = Emulator::start_at(
        &ip.to_string(),
        &["--firmware", firmware, "--control", &control.to_string()],
    );
    (emu, control)
}

/// RGB pixels of a 720x400 screen.
type Picture = Vec<[u8; 3]>;

/// `amtemu ctl screenshot` decoded.
fn screenshot(control: SocketAddr, name: &str) -> Picture {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ctl", "--control", &control.to_string(), "screenshot", name])
        .output()
        .expect("amtemu ctl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(out.stdout));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut data = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut data).expect("a frame");
    assert_eq!((info.width, info.height), (720, 400));
    data[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// An RGB colour as RGB565 (what the KVM client receives).
fn rgb565(p: [u8; 3]) -> u16 {
    let scale = |c: u8, max: u32| (u32::from(c) * max + 127) / 255;
    ((scale(p[0], 31) << 11) | (scale(p[1], 63) << 5) | scale(p[2], 31)) as u16
}

impl Viewer {
    fn shows(&self, picture: &Picture) -> bool {
        self.screen
            .iter()
            .zip(picture)
            .all(|(got, p)| *got == rgb565(*p))
    }
}

/// KVMR's start answer, or None when the device refuses or closes.
fn kvmr_status(addr: SocketAddr) -> u8 {
    let mut s = TcpStream::connect(addr).expect("16994 accepts");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(&[0x10, 1, 0, 0, b'K', b'V', b'M', b'R'])
        .unwrap();
    let mut reply = [0u8; 13];
    s.read_exact(&mut reply).unwrap();
    reply[1]
}

#[test]
fn kvmr_shows_what_the_screenshot_shows_and_typing_changes_it() {
    let (emu, control) = device("11.8");
    no_consent_needed(&mut emu.client());
    let addr = SocketAddr::new(emu.addr.ip(), 16994);
    let mut v = kvmr(addr);
    // The host may still be printing its boot: ask until both agree.
    assert!(eventually(Duration::from_secs(20), || {
        v.update(true);
        v.shows(&screenshot(control, NAME))
    }));
    let before = v.screen.clone();
    v.type_text("root");
    assert!(eventually(Duration::from_secs(10), || {
        v.update(true);
        v.screen != before && v.shows(&screenshot(control, NAME))
    }));
    // One KVM session per device.
    assert_eq!(kvmr_status(addr), 2, "busy");
    drop(v);
    assert!(eventually(Duration::from_secs(10), || kvmr_status(addr) != 2));
}

/// VNC authentication on 5900 with `password`; the SecurityResult.
fn vnc_login(addr: SocketAddr, password: &[u8]) -> (Viewer, u32) {
    // A session that just ended may hold the device's one KVM slot for a
    // moment after its close: such a client is closed at once.
    let mut banner = [0u8; 12];
    let mut stream = None;
    assert!(eventually(Duration::from_secs(10), || {
        let mut s = TcpStream::connect(addr).expect("5900 accepts");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let got = s.read_exact(&mut banner).is_ok();
        stream = got.then_some(s);
        got
    }));
    let mut v = Viewer::new(stream.expect("a session"));
    assert_eq!(&banner, b"RFB 004.000\n");
    let result = v.vnc_auth(password);
    (v, result)
}

#[test]
fn port_5900_opens_with_the_rfb_password_once_enabled() {
    let (emu, control) = device("11.8");
    no_consent_needed(&mut emu.client());
    let addr = SocketAddr::new(emu.addr.ip(), 5900);
    let mut off = Viewer::connect(addr);
    assert!(off.closed(), "switched off: closed at once");
    let r = enable_5900(&mut emu.client(), "P@ssw0rd");
    assert_eq!(r.status, 200, "{}", r.text());
    let get = emu.client().get("IPS_KVMRedirectionSettingData").text();
    assert_eq!(
        element_text(&get, "RFBPassword").unwrap_or_default(),
        "",
        "write-only"
    );
    let (mut wrong, result) = vnc_login(addr, b"P@ssw0rX");
    assert_eq!(result, 1);
    assert!(wrong.closed());
    let (mut v, result) = vnc_login(addr, b"P@ssw0rd");
    assert_eq!(result, 0);
    v.init();
    assert!(eventually(Duration::from_secs(20), || {
        v.update(true);
        v.shows(&screenshot(control, NAME))
    }));
}

/// 16.1 serves WS-Man and redirection over TLS only; KVMR on 16995 is
/// exercised with MeshCommander's client in real_clients.rs, and the Put
/// refusal in the model's tests.
#[test]
fn firmware_16_1_has_no_port_5900() {
    let (emu, control) = device("16.1");
    assert!(
        TcpStream::connect(SocketAddr::new(emu.addr.ip(), 5900)).is_err(),
        "nothing listens on 5900"
    );
    assert_eq!(screenshot(control, NAME).len(), 720 * 400);
}

/// The six digits of the consent box, read off a screenshot by comparing
/// each digit cell with the reference rendering of every digit.
fn consent_code_on(picture: &Picture) -> Option<u32> {
    // The box is 300x120, centred; six 40x48 digits with 4-pixel gaps start
    // 50 pixels down (amtemu-rfb's screen layout).
    let (x0, y0) = (210 + (300 - (6 * 40 + 5 * 4)) / 2, 140 + 50);
    let references: Vec<amtemu_rfb::Screen> = (0..10)
        .map(|d| {
            let mut s = amtemu_rfb::Screen::new();
            s.set_consent_code(Some(d * 111_111));
            s
        })
        .collect();
    let mut code = 0;
    for i in 0..6u16 {
        let x = x0 + i * 44;
        let digit = (0..10).find(|&d| {
            let fb = references[d].framebuffer();
            (y0..y0 + 48).all(|y| {
                (x..x + 40).all(|xx| {
                    let p = fb.pixel(xx, y);
                    picture[usize::from(y) * 720 + usize::from(xx)] == [p.r, p.g, p.b]
                })
            })
        })?;
        code = code * 10 + digit as u32;
    }
    Some(code)
}

#[test]
fn consent_code_from_the_screen_lets_kvm_in() {
    let (emu, control) = device("11.8");
    let addr = SocketAddr::new(emu.addr.ip(), 16994);
    // MEBx's default policy asks consent for KVM: refused until given.
    assert_eq!(kvmr_status(addr), 3);
    assert_eq!(consent_code_on(&screenshot(control, NAME)), None);
    let r = emu
        .client()
        .invoke("IPS_OptInService", "StartOptIn", "", "");
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));
    let code = consent_code_on(&screenshot(control, NAME)).expect("the code is shown");
    assert_eq!(kvmr_status(addr), 3, "shown is not given");
    let r = emu.client().invoke(
        "IPS_OptInService",
        "SendOptInCode",
        "",
        &format!("<h:OptInCode>{code}</h:OptInCode>"),
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    assert_eq!(consent_code_on(&screenshot(control, NAME)), None);
    let state =
        |class: &str, property: &str| element_text(&emu.client().get(class).text(), property);
    assert_eq!(
        state("IPS_OptInService", "OptInState").as_deref(),
        Some("3")
    );
    let mut v = kvmr(addr);
    v.update(false);
    // Consent in session, KVM enabled with a session (Intel's values).
    assert_eq!(
        state("IPS_OptInService", "OptInState").as_deref(),
        Some("4")
    );
    assert_eq!(
        state("CIM_KVMRedirectionSAP", "EnabledState").as_deref(),
        Some("2")
    );
    drop(v);
    assert!(eventually(Duration::from_secs(10), || {
        state("CIM_KVMRedirectionSAP", "EnabledState").as_deref() == Some("6")
    }));
    assert_eq!(
        state("IPS_OptInService", "OptInState").as_deref(),
        Some("3"),
        "received again: a new session within OptInCodeTimeout needs no code"
    );
    let mut again = kvmr(addr);
    again.update(false);
}

/// vncdotool (PyPI), installed by tests/clients/install.sh.
fn vncdo() -> Option<std::path::PathBuf> {
    let path = clients_prefix().join("venv/bin/vncdo");
    client_available(path.exists(), "vncdotool").then_some(path)
}

/// A PNG file decoded to RGB (vncdotool writes RGB or RGBA).
fn picture_file(path: &std::path::Path) -> Picture {
    let file = std::fs::File::open(path).expect("vncdotool wrote the capture");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut data = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut data).expect("a frame");
    assert_eq!((info.width, info.height), (720, 400));
    let step = info.color_type.samples();
    data[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// Waits until the host has finished booting to its login prompt.
fn settle(control: SocketAddr) {
    assert!(eventually(Duration::from_secs(20), || {
        let a = screenshot(control, NAME);
        std::thread::sleep(Duration::from_millis(500));
        a == screenshot(control, NAME)
    }));
}

/// Whether two pictures agree up to RGB565's precision (vncdotool widens
/// the 16-bit pixels it receives its own way).
fn same_picture(a: &Picture, b: &Picture) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (0..3).all(|i| p[i].abs_diff(q[i]) <= 8))
}

#[test]
fn vncdotool_captures_port_5900_and_sees_typing_at_the_prompt() {
    let Some(vncdo) = vncdo() else { return };
    let (emu, control) = device("11.8");
    no_consent_needed(&mut emu.client());
    let r = enable_5900(&mut emu.client(), "P@ssw0rd");
    assert_eq!(r.status, 200, "{}", r.text());
    settle(control);
    let dir = std::env::temp_dir().join(format!("amtemu-kvm-vncdo-{}", emu.addr.ip()));
    std::fs::create_dir_all(&dir).unwrap();
    let (before, after) = (dir.join("before.png"), dir.join("after.png"));
    let server = format!("{}::5900", emu.addr.ip());
    let out = std::process::Command::new(&vncdo)
        .args(["-s", &server, "-p", "P@ssw0rd", "capture"])
        .arg(&before)
        .args(["type", "root", "pause", "1", "capture"])
        .arg(&after)
        .output()
        .expect("vncdo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The README's picture comes from here: AMTEMU_KEEP_CAPTURE=FILE.
    if let Some(keep) = std::env::var_os("AMTEMU_KEEP_CAPTURE") {
        std::fs::copy(&after, keep).expect("the capture is kept");
    }
    let (before, after) = (picture_file(&before), picture_file(&after));
    assert!(!same_picture(&before, &after), "typing changed the screen");
    assert!(
        same_picture(&after, &screenshot(control, NAME)),
        "vncdotool sees what the device shows"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// MeshCommander's KVM stack (tests/clients/meshcommander-kvm.js), when
/// npm meshcentral is installed.
fn meshcommander_kvm() -> Option<std::process::Command> {
    let found = clients_prefix()
        .join("node/node_modules/meshcentral/public/scripts/amt-desktop-0.0.2.js")
        .exists();
    if !client_available(found, "MeshCommander (npm meshcentral)") {
        return None;
    }
    let mut cmd = std::process::Command::new("node");
    cmd.arg(repo().join("tests/clients/meshcommander-kvm.js"));
    Some(cmd)
}

/// MeshCommander's desktop module asks for Intel RLE first: it decodes
/// every tile, types at the prompt and ends with the picture the device
/// shows.
#[test]
fn meshcommander_kvm_decodes_rle_frames_over_16994_and_types() {
    let Some(mut cmd) = meshcommander_kvm() else {
        return;
    };
    let (emu, control) = device("11.8");
    no_consent_needed(&mut emu.client());
    settle(control);
    let out = std::env::temp_dir().join(format!("amtemu-kvm-mesh-{}.rgb", emu.addr.ip()));
    cmd.args([
        &emu.addr.ip().to_string(),
        "16994",
        "admin",
        "P@ssw0rd",
        "kvm",
        "root",
    ])
    .arg(&out);
    let result = run_driver(cmd);
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(result["stats"]["width"], 720);
    let rgb = std::fs::read(&out).expect("the driver wrote the screen");
    let picture: Picture = rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    assert_eq!(picture.len(), 720 * 400);
    let shot = screenshot(control, NAME);
    let differ = (0..shot.len())
        .filter(|&i| (0..3).any(|c| picture[i][c].abs_diff(shot[i][c]) > 8))
        .count();
    assert_eq!(
        differ, 0,
        "pixels where MeshCommander's screen is not the device's"
    );
    let _ = std::fs::remove_file(out);
}

/// 16.1 has no 5900 and no plain ports, but KVMR over TLS on 16995 works:
/// MeshCommander turns consent off over WS-Man on 16993 and opens KVM.
#[test]
fn firmware_16_1_serves_kvmr_over_tls_to_meshcommander() {
    let Some(mut cmd) = meshcommander_kvm() else {
        return;
    };
    let (emu, control) = device("16.1");
    settle(control);
    let out = std::env::temp_dir().join(format!("amtemu-kvm-mesh-{}.rgb", emu.addr.ip()));
    cmd.args([
        &emu.addr.ip().to_string(),
        "16995",
        "admin",
        "P@ssw0rd",
        "kvm",
        "root",
    ])
    .arg(&out)
    .args(["--tls", "--no-consent"]);
    let result = run_driver(cmd);
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(result["stats"]["consent_off"], true);
    let rgb = std::fs::read(&out).expect("the driver wrote the screen");
    let _ = std::fs::remove_file(out);
    let picture: Picture = rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    assert!(same_picture(&picture, &screenshot(control, NAME)));
}

/// A VNC server of the machine's own on 5900 does not stop a device from
/// starting: it serves without 5900.
#[test]
fn a_taken_port_5900_is_left_out() {
    let ip = unique_address();
    let _vnc = std::net::TcpListener::bind((ip, 5900)).expect("5900 is free here");
    let control = SocketAddr::from((ip, 17000));
    let emu = Emulator::start_at(&ip.to_string(), &["--control", &control.to_string()]);
    no_consent_needed(&mut emu.client());
    let mut v = kvmr(SocketAddr::new(ip.into(), 16994));
    v.update(false);
}
