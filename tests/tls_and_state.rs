//! TLS on 16993 and device state across restarts, against the real binary.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use support::*;

const CA_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/ca");

fn ca_certificate() -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ca", "export", "--ca-dir", CA_DIR])
        .output()
        .expect("amtemu ca export");
    assert!(out.status.success());
    CertificateDer::from_pem_slice(&out.stdout).expect("a PEM certificate")
}

fn https_addr(emu: &Emulator) -> std::net::SocketAddr {
    std::net::SocketAddr::new(emu.addr.ip(), 16993)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection that trusts only the emulator's CA and checks the name.
fn connect_tls(emu: &Emulator, name: &str) -> Result<TlsStream, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_certificate()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(https_addr(emu))?;
    tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream.flush()?;
    // Drive the handshake to completion.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// One digest-authenticated POST over TLS (challenge on one connection,
/// the request on another, as MeshCommander does).
fn tls_post(emu: &Emulator, body: &str) -> Response {
    let mut c = emu.client();
    let mut first = connect_tls(emu, "amt-0001.vpro.test").unwrap();
    first.write_all(&c.request_bytes(body, None)).unwrap();
    let challenge = read_response(&mut BufReader::new(&mut first)).unwrap();
    assert_eq!(challenge.status, 401);
    let www = challenge.header("www-authenticate").unwrap().to_string();
    c.realm = challenge_param(&www, "realm");
    c.nonce = challenge_param(&www, "nonce");
    let auth = c.authorization("POST", "/wsman");
    let mut second = connect_tls(emu, "amt-0001.vpro.test").unwrap();
    second
        .write_all(&c.request_bytes(body, Some(&auth)))
        .unwrap();
    read_response(&mut BufReader::new(&mut second)).unwrap()
}

#[test]
fn wsman_over_tls_with_a_certificate_from_the_emulator_ca() {
    let emu = Emulator::start(&[]);
    let stream =
        connect_tls(&emu, "amt-0001.vpro.test").expect("handshake verified against the CA");
    assert_eq!(
        stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let r = tls_post(&emu, &envelope_get("AMT_GeneralSettings", "1"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        element_text(&r.text(), "HostName").as_deref(),
        Some("amt-0001")
    );
    // The certificate names the device, not some other one.
    assert!(connect_tls(&emu, "other.vpro.test").is_err());
}

#[test]
fn garbage_and_half_handshakes_on_16993_leave_the_device_serving() {
    let emu = Emulator::start(&[]);
    let mut s = TcpStream::connect(https_addr(&emu)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    {
        // The first bytes of a ClientHello, then silence and a close.
        let mut half = TcpStream::connect(https_addr(&emu)).unwrap();
        half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .unwrap();
    }
    assert_eq!(
        tls_post(&emu, &envelope_get("CIM_SoftwareIdentity", "2")).status,
        200
    );
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

#[test]
fn firmware_16_1_serves_tls_only() {
    let emu = Emulator::start(&["--firmware", "16.1"]);
    assert!(TcpStream::connect_timeout(&emu.addr, Duration::from_secs(2)).is_err());
    let r = tls_post(&emu, &envelope_get("CIM_SoftwareIdentity", "3"));
    assert_eq!(r.status, 200);
    assert!(r.header("server").unwrap().ends_with("16.1.25.2049"));
}

#[test]
fn a_user_supplied_certificate_is_what_the_device_presents() {
    let dir = std::env::temp_dir().join(format!("amtemu-usercert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["amt-0001.vpro.test".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let emu = Emulator::start(&[
        "--tls-cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        dir.join("key.pem").to_str().unwrap(),
    ]);
    // Trusting only the emulator CA, the handshake now fails…
    assert!(connect_tls(&emu, "amt-0001.vpro.test").is_err());
    // …and the certificate on the wire is the one supplied.
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &https_addr(&emu).to_string(),
            "-showcerts",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        let first_pem: String = cert.pem().lines().nth(1).unwrap().to_string();
        assert!(text.contains(&first_pem), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_survives_a_kill_with_a_state_directory() {
    let dir = std::env::temp_dir().join(format!("amtemu-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.to_str().unwrap().to_string();
    let ip = unique_address().to_string();
    let args = ["--state-dir", state.as_str()];
    let fingerprint;
    {
        let emu = Emulator::start_at(&ip, &args);
        let mut c = emu.client();
        let current = c.get("AMT_GeneralSettings").text();
        let start = current.find("<g:AMT_GeneralSettings>").unwrap();
        let end = current.find("</a:Body>").unwrap();
        let instance = current[start..end]
            .replace("g:", "r:")
            .replace(
                "<r:AMT_GeneralSettings>",
                &format!(
                    r#"<r:AMT_GeneralSettings xmlns:r="{}">"#,
                    class_uri("AMT_GeneralSettings")
                ),
            )
            .replace(
                "<r:HostName>amt-0001</r:HostName>",
                "<r:HostName>kept</r:HostName>",
            );
        let r = c.post(&envelope(
            ACTION_PUT,
            "AMT_GeneralSettings",
            "7",
            "",
            &instance,
        ));
        assert_eq!(r.status, 200);
        // The TLS identity is made at the first handshake (for the name the
        // device has then) and kept too.
        let stream = connect_tls(&emu, "kept.vpro.test").unwrap();
        fingerprint = stream.conn.peer_certificates().unwrap()[0].to_vec();
        // Let the write land, then die without a chance to save.
        std::thread::sleep(Duration::from_millis(500));
        emu.kill_hard();
    }
    let emu = Emulator::start_at(&ip, &args);
    let r = emu.client().get("AMT_GeneralSettings");
    assert_eq!(element_text(&r.text(), "HostName").as_deref(), Some("kept"));
    let stream = connect_tls(&emu, "kept.vpro.test").unwrap();
    assert_eq!(
        stream.conn.peer_certificates().unwrap()[0].to_vec(),
        fingerprint
    );
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}
