//! TLS per firmware row, against the real binary: each row's protocol
//! versions and cipher suites probed with `openssl s_client`, legacy
//! clients (TLS 1.0 with static RSA; MeshCommander's node transport), the
//! alerts for what a row lacks, and bad input on every TLS acceptor.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use amtemu_model::device::firmware::{CipherSuite, Firmware, TlsVersion};
use support::*;

fn https(emu: &Emulator) -> SocketAddr {
    SocketAddr::new(emu.addr.ip(), 16993)
}

fn openssl_ready() -> bool {
    client_available(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl",
    )
}

/// What one `openssl s_client` handshake ended with.
struct Probe {
    /// (protocol, OpenSSL suite name) when the handshake completed.
    negotiated: Option<(String, String)>,
    /// Everything it printed (the alert on a refusal).
    output: String,
}

fn s_client(addr: SocketAddr, args: &[&str]) -> Probe {
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let output = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // "New, TLSv1/SSLv3, Cipher is AES128-SHA" (the suite's own minimum
    // version there) or "New, (NONE), Cipher is (NONE)"; the protocol is
    // the session's "Protocol  : TLSv1".
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim_start_matches([' ', ':']).trim().to_string())
    };
    let negotiated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("New, "))
        .and_then(|l| l.split_once(", Cipher is "))
        .filter(|(_, suite)| suite.trim() != "(NONE)")
        .and_then(|(_, suite)| Some((field("Protocol")?, suite.trim().to_string())));
    Probe { negotiated, output }
}

fn with_level_0(cipher: &str) -> String {
    format!("{cipher}:@SECLEVEL=0")
}

#[test]
fn openssl_tls1_with_aes128_sha_reaches_6_2_and_is_refused_by_16_1() {
    if !openssl_ready() {
        return;
    }
    let cipher = with_level_0("AES128-SHA");
    let old = Emulator::start(&["--firmware", "6.2"]);
    let p = s_client(https(&old), &["-tls1", "-cipher", &cipher]);
    assert_eq!(
        p.negotiated,
        Some(("TLSv1".into(), "AES128-SHA".into())),
        "{}",
        p.output
    );
    drop(old);
    let new = Emulator::start(&["--firmware", "16.1"]);
    let p = s_client(https(&new), &["-tls1", "-cipher", &cipher]);
    assert_eq!(p.negotiated, None, "{}", p.output);
    // What firmware sends to a version it does not speak.
    assert!(p.output.contains("alert protocol version"), "{}", p.output);
    // A static-RSA suite over TLS 1.2 is still served there.
    let p = s_client(
        https(&new),
        &["-tls1_2", "-cipher", &with_level_0("AES128-GCM-SHA256")],
    );
    assert_eq!(
        p.negotiated,
        Some(("TLSv1.2".into(), "AES128-GCM-SHA256".into())),
        "{}",
        p.output
    );
}

/// Every row: each version is accepted exactly when the row lists it (and
/// then the server picks the row's first suite for it), TLS 1.3 nowhere,
/// and each suite exactly when the row lists it for that version. A suite
/// the row lacks gets handshake_failure.
#[test]
fn each_firmware_row_offers_exactly_its_versions_and_suites() {
    if !openssl_ready() {
        return;
    }
    let everything = with_level_0("ALL");
    for fw in Firmware::all() {
        let emu = Emulator::start(&["--firmware", fw.name]);
        let addr = https(&emu);
        for version in TlsVersion::ALL {
            let p = s_client(addr, &[version.s_client_flag(), "-cipher", &everything]);
            if !fw.tls.offers(version) {
                assert_eq!(p.negotiated, None, "{fw} {version}: {}", p.output);
                // Below the row's lowest version, and to a TLS 1.3-only
                // hello (which names 1.3 only in its extension), the device
                // sends protocol_version; to a TLS 1.2-only client above the
                // row it answers with its highest version, which that
                // client refuses itself.
                let refusal = if version < fw.tls.versions[0] || version == TlsVersion::Tls13 {
                    "alert protocol version"
                } else {
                    "unsupported protocol"
                };
                assert!(p.output.contains(refusal), "{fw} {version}: {}", p.output);
                continue;
            }
            let first = fw.tls.suites_for(version).next().expect("a suite");
            assert_eq!(
                p.negotiated,
                Some((version.name().to_string(), first.openssl().to_string())),
                "{fw} {version}: {}",
                p.output
            );
            for suite in CipherSuite::ALL.iter().filter(|s| !s.psk()) {
                let p = s_client(
                    addr,
                    &[
                        version.s_client_flag(),
                        "-cipher",
                        &with_level_0(suite.openssl()),
                    ],
                );
                let offered = fw.tls.suites_for(version).any(|s| s == *suite);
                if offered {
                    assert_eq!(
                        p.negotiated,
                        Some((version.name().to_string(), suite.openssl().to_string())),
                        "{fw} {version} {suite}: {}",
                        p.output
                    );
                } else {
                    assert_eq!(p.negotiated, None, "{fw} {version} {suite}: {}", p.output);
                    // A suite TLS 1.0/1.1 cannot carry never leaves the
                    // client; the others reach the device and are refused.
                    if !suite.tls12_only() || version >= TlsVersion::Tls12 {
                        assert!(
                            p.output.contains("alert handshake failure"),
                            "{fw} {version} {suite}: {}",
                            p.output
                        );
                    }
                }
            }
        }
    }
}

/// The `amtemu_tls_handshakes_total` samples of the control API's metrics:
/// (version, suite, count).
fn handshakes(control: SocketAddr) -> Vec<(String, String, u64)> {
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n");
    let r = Client::raw(control, req.as_bytes()).expect("the control API answers");
    r.text()
        .lines()
        .filter_map(|l| l.strip_prefix("amtemu_tls_handshakes_total{"))
        .filter_map(|l| {
            let (labels, count) = l.split_once("} ")?;
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
            };
            Some((
                label("version")?,
                label("suite")?,
                count.trim().parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn meshcommander_over_tls_to_11_8_uses_its_static_rsa_suite() {
    let found = clients_prefix()
        .join("node/node_modules/meshcentral/amt/amt-wsman-comm.js")
        .exists();
    if !client_available(found, "MeshCommander (npm meshcentral)") {
        return;
    }
    let control = SocketAddr::new(unique_address().into(), 17000);
    let emu = Emulator::start(&["--firmware", "11.8", "--control", &control.to_string()]);
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("tests/clients/meshcommander.js"))
        .arg(emu.addr.ip().to_string())
        .args(["16993", USER, PASSWORD, "info", "--tls"])
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        // Node's OpenSSL 3 refuses TLS 1.0/1.1 at its default level, as
        // on any current distribution; MeshCommander asks for TLS 1.0 up.
        .env("OPENSSL_CONF", legacy_openssl_conf())
        .stdin(Stdio::null());
    let v = run_driver(cmd);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["realm_match"], true, "{v:#}");
    // MeshCommander offers `RSA+AES` only; 11.8 speaks TLS 1.0/1.1 and
    // prefers AES-256: every connection it made used exactly that.
    let seen = handshakes(control);
    assert!(!seen.is_empty(), "no TLS handshake counted");
    for (version, suite, _) in &seen {
        assert_eq!(
            (version.as_str(), suite.as_str()),
            ("TLSv1.1", "TLS_RSA_WITH_AES_256_CBC_SHA"),
            "{seen:?}"
        );
    }
}

/// Sends `bytes`, half-closes, and says whether the device closed the
/// connection (rather than leaving it hanging) within a few seconds.
fn closed_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).expect("the port accepts");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// An SSLv2-format CLIENT-HELLO (version 2, seven SSLv2 cipher kinds).
const SSLV2_HELLO: &[u8] = &[
    0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 0x07, 0x00, 0xc0, 0x05, 0x00,
    0x80, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80, 0x06, 0x00, 0x40, 0x04, 0x00, 0x80, 0x02, 0x00, 0x80,
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
];

/// A handshake record announcing 512 bytes of ClientHello, cut after 9.
const TRUNCATED_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];

#[test]
fn garbage_truncated_and_sslv2_hellos_on_each_acceptor_leave_neighbours_served() {
    let garbage: Vec<u8> = (0..600u32).map(|i| (i * 7919 % 251) as u8).collect();
    let inputs: [(&str, &[u8]); 4] = [
        ("garbage", &garbage),
        ("plain HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("truncated ClientHello", TRUNCATED_HELLO),
        ("SSLv2 hello", SSLV2_HELLO),
    ];
    let operational = Emulator::start(&["--firmware", "11.8"]);
    let setup = Emulator::start(&[
        "--firmware",
        "9.5",
        "--provisioning",
        "in",
        "--dhcp-domain",
        "vpro.test",
        "--local-port",
        "0",
    ]);
    let acceptors = [
        ("16993", SocketAddr::new(operational.addr.ip(), 16993)),
        ("16995", SocketAddr::new(operational.addr.ip(), 16995)),
        ("16993 in setup", https(&setup)),
    ];
    for (port, addr) in acceptors {
        for (what, bytes) in inputs {
            assert!(closed_after(addr, bytes), "{port}: {what} left open");
        }
        // The acceptor itself still completes handshakes.
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let connector = legacy_tls::connector().build();
        if port != "16993 in setup" {
            legacy_tls::connect(&connector, tcp).unwrap_or_else(|e| panic!("{port}: {e}"));
        }
    }
    // Neighbours: WS-Man on the operational device, plain and over TLS.
    assert_eq!(operational.client().get("AMT_GeneralSettings").status, 200);
    let tcp = TcpStream::connect(https(&operational)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = legacy_tls::connect(&legacy_tls::connector().build(), tcp).unwrap();
    tls.write_all(
        &operational
            .client()
            .request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None),
    )
    .unwrap();
    let r = read_response(&mut std::io::BufReader::new(&mut tls)).unwrap();
    assert_eq!(r.status, 401);
}
