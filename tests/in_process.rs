//! The library's `EmulatorBuilder` starts an emulator inside the test's own
//! process, on loopback addresses the test chose: no binary, no flags. The
//! same builder is what `amtemu serve` and `amtemu fleet` fill from flags.

mod support;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use amtemu_model::device::Port;
use amtemu_server::emulator::{Emulator, EmulatorBuilder};
use amtemu_server::tls::ca::Ca;
use support::{Client, PASSWORD, USER, device_spec as spec, element_text, unique_address};

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amtemu-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

async fn start(address: IpAddr, state_dir: &Path) -> Emulator {
    EmulatorBuilder::new(vec![spec("in-process", address)])
        .ca(Ca::generate().expect("a CA"))
        .state_dir(Some(state_dir.to_path_buf()))
        .start()
        .await
        .expect("the emulator starts")
}

/// The host name the device reports, asked by a blocking client off the
/// runtime's threads.
async fn host_name(addr: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        let text = Client::new(addr, USER, PASSWORD)
            .get("AMT_GeneralSettings")
            .text();
        element_text(&text, "HostName").expect("a HostName")
    })
    .await
    .expect("the client ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_emulator_serves_stops_and_comes_back_with_its_state() {
    let ip = IpAddr::V4(unique_address());
    let dir = temp_dir("in-process");
    let emulator = start(ip, &dir).await;
    let http = SocketAddr::new(ip, 16992);
    assert!(
        emulator.listening().contains(&(http, Port::Http)),
        "{:?}",
        emulator.listening()
    );
    assert_eq!(emulator.fleet().len(), 1);
    assert_eq!(host_name(http).await, "amt-0001");

    let status = tokio::task::spawn_blocking(move || {
        Client::new(http, USER, PASSWORD)
            .put_edited(
                "AMT_GeneralSettings",
                "<r:HostName>amt-0001</r:HostName>",
                "<r:HostName>in-process</r:HostName>",
            )
            .status
    })
    .await
    .expect("the client ran");
    assert_eq!(status, 200);

    emulator.stop().await.expect("stopping saves the state");
    assert!(
        TcpStream::connect(http).is_err(),
        "a stopped emulator no longer listens"
    );

    let again = start(ip, &dir).await;
    assert_eq!(host_name(http).await, "in-process");
    again.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_control_api_off_loopback_is_refused_before_anything_starts() {
    let ip = IpAddr::V4(unique_address());
    let err = EmulatorBuilder::new(vec![spec("refused", ip)])
        .ca(Ca::generate().expect("a CA"))
        .control(Some("0.0.0.0:17000".parse().expect("an address")))
        .start()
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the control API listens on loopback only, not 0.0.0.0:17000, unless it has a token (--control-token)"
    );
    assert!(TcpStream::connect(SocketAddr::new(ip, 16992)).is_err());
}

/// A state file written before the device model was reshaped (kept in
/// tests/data/state-v1) still loads: the host name and the extra digest
/// user it saved are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_from_the_previous_layout_loads() {
    let ip = IpAddr::V4(unique_address());
    let dir = temp_dir("state-v1");
    let kept = support::repo().join("tests/data/state-v1/state-fixture.json");
    std::fs::copy(&kept, dir.join("state-fixture.json")).expect("the kept state file");
    let emulator = EmulatorBuilder::new(vec![spec("state-fixture", ip)])
        .ca(Ca::generate().expect("a CA"))
        .state_dir(Some(dir.clone()))
        .start()
        .await
        .expect("the emulator starts");
    let http = SocketAddr::new(ip, 16992);
    assert_eq!(host_name(http).await, "fixture-host");
    // The user was added with DigestPassword T2JpJbt1ExvzFHMSTs8uIQ== (its
    // MD5(user:realm:password), base64), which is what the device keeps.
    use base64::Engine;
    let ha1 = base64::engine::general_purpose::STANDARD
        .decode("T2JpJbt1ExvzFHMSTs8uIQ==")
        .expect("base64");
    let device = emulator.fleet().get(0).unwrap().device.clone();
    assert_eq!(
        device
            .nvram()
            .users
            .network_ha1("operator")
            .map(|h| h.to_vec()),
        Some(ha1),
        "the saved user is back"
    );
    emulator.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
