//! `--timing firmware` against the real binary: answers wait at least the
//! firmware row's floor for their kind, connections beyond the row's
//! ceilings are reset, and without the flag none of it applies. Only lower
//! bounds are asserted: a loaded machine may always be slower.

mod support;

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use amtemu_model::device::firmware::{Firmware, TimingProfile};
use serde_json::Value;
use support::*;

fn row(name: &str) -> &'static TimingProfile {
    Firmware::by_name(name).expect("a firmware row").timing
}

/// `serve` with the control API on port 17000 of the device's address.
fn start(extra: &[&str]) -> (Emulator, SocketAddr) {
    let ip = unique_address();
    let control = SocketAddr::from((ip, 17000));
    let mut args = vec!["--control".to_string(), control.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Emulator::start_at(&ip.to_string(), &args), control)
}

/// The one device's details from the control API.
fn details(control: SocketAddr) -> Value {
    let get = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n");
        let r = Client::raw(control, req.as_bytes()).expect("the control API answers");
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_str::<Value>(&r.text()).unwrap()
    };
    let list = get("/api/v1/devices");
    let name = list["devices"][0]["name"]
        .as_str()
        .unwrap()
        .replace('/', "%2F");
    get(&format!("/api/v1/devices/{name}"))
}

/// Opens a connection and waits until the device has taken it (it answers
/// a challenge on another connection after, so accepts are in order).
fn held(addr: SocketAddr) -> TcpStream {
    let s = Client::connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// What a connection gets when the device refuses it: the reset error, or
/// (if the reset raced the read) an end without bytes. Never an answer.
fn refused(mut s: TcpStream) -> Result<(), String> {
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(0) => Err("closed without a reset".into()),
        other => Err(format!(
            "served: {other:?} {:?}",
            String::from_utf8_lossy(&answer)
        )),
    }
}

#[test]
fn answers_wait_at_least_the_firmware_floor_for_their_kind() {
    let (emu, control) = start(&["--timing", "firmware"]);
    assert_eq!(details(control)["timing"], "firmware");
    let pace = row("11.8");

    // The challenge: a new connection (read after the accept floor) and a
    // 401.
    let c = emu.client();
    let started = Instant::now();
    let r = Client::raw(
        emu.addr,
        &c.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None),
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let took = started.elapsed();
    let floor = pace.accept.min() + pace.challenge.min();
    assert!(took >= floor, "a challenge in {took:?}, under {floor:?}");

    // Reads on a kept connection.
    let mut c = emu.client();
    assert_eq!(c.get("AMT_GeneralSettings").status, 200);
    for _ in 0..5 {
        let started = Instant::now();
        let r = c.get("AMT_GeneralSettings");
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            took >= pace.read.min(),
            "a Get in {took:?}, under {:?}",
            pace.read.min()
        );
    }
    let started = Instant::now();
    let pulled = c.enumerate("CIM_ServiceAvailableToElement");
    let took = started.elapsed();
    assert!(!pulled.is_empty());
    // Enumerate, then at least one Pull.
    assert!(took >= pace.read.min() * 2, "an enumeration in {took:?}");

    // A write: the Get it starts from, then the Put.
    let started = Instant::now();
    let r = c.put_edited(
        "IPS_OptInService",
        "<r:OptInRequired>1</r:OptInRequired>",
        "<r:OptInRequired>0</r:OptInRequired>",
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    let floor = pace.read.min() + pace.write.min();
    assert!(
        took >= floor,
        "a Get and a Put in {took:?}, under {floor:?}"
    );
}

/// Plain connections up to the row's ceiling are served; one more is reset.
/// TLS sessions have their own, lower ceiling. Places come back when
/// connections end.
#[test]
fn connections_beyond_the_firmware_ceiling_are_reset() {
    let (emu, _control) = start(&["--timing", "firmware"]);
    let pace = row("11.8");
    assert!(pace.tls_sessions < pace.http_connections);
    let mut open: Vec<TcpStream> = (0..pace.http_connections).map(|_| held(emu.addr)).collect();
    // Let the device take them all before the next knocks.
    std::thread::sleep(Duration::from_millis(300));
    let extra = held(emu.addr);
    refused(extra).expect("the connection past the ceiling");
    // The held ones are still served.
    let mut first = open.remove(0);
    let c = emu.client();
    std::io::Write::write_all(
        &mut first,
        &c.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None),
    )
    .unwrap();
    let r = read_response(&mut std::io::BufReader::new(&mut first)).unwrap();
    assert_eq!(r.status, 401);
    drop(first);
    drop(open);
    let unauthenticated = c.request_bytes(&envelope_get("AMT_GeneralSettings", "2"), None);
    assert!(
        eventually(Duration::from_secs(10), || {
            Client::raw(emu.addr, &unauthenticated).is_ok_and(|r| r.status == 401)
        }),
        "places come back when connections end"
    );

    // TLS: the sessions' ceiling, lower than the connections'.
    let tls = SocketAddr::new(emu.addr.ip(), 16993);
    let sessions: Vec<TcpStream> = (0..pace.tls_sessions).map(|_| held(tls)).collect();
    std::thread::sleep(Duration::from_millis(300));
    refused(held(tls)).expect("the TLS session past the ceiling");
    // A plain connection still has room.
    assert!(Client::raw(emu.addr, &unauthenticated).is_ok_and(|r| r.status == 401));
    drop(sessions);
}

/// Without the flag the device says so, and takes more connections than
/// any firmware row allows (the emulator's own ceiling applies).
#[test]
fn by_default_nothing_is_paced() {
    let (emu, control) = start(&[]);
    assert_eq!(details(control)["timing"], "fast");
    let most = Firmware::all()
        .iter()
        .map(|f| f.timing.http_connections)
        .max()
        .unwrap();
    let _open: Vec<TcpStream> = (0..=most).map(|_| held(emu.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let c = emu.client();
    let r = Client::raw(
        emu.addr,
        &c.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None),
    )
    .unwrap();
    assert_eq!(r.status, 401, "served past every firmware ceiling");
}
