//! TLS on 16993 and device state across restarts, against the real binary.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openssl::ssl::{SslStream, SslVerifyMode};
use openssl::x509::X509;
use support::*;

const CA_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/ca");

fn ca_certificate() -> X509 {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ca", "export", "--ca-dir", CA_DIR])
        .output()
        .expect("amtemu ca export");
    assert!(out.status.success());
    X509::from_pem(&out.stdout).expect("a PEM certificate")
}

fn https_addr(emu: &Emulator) -> std::net::SocketAddr {
    std::net::SocketAddr::new(emu.addr.ip(), 16993)
}

type TlsStream = SslStream<TcpStream>;

/// A TLS connection that trusts only the emulator's CA and checks the name
/// (OpenSSL, reaching every firmware row's versions and suites).
fn connect_tls(emu: &Emulator, name: &str) -> Result<TlsStream, std::io::Error> {
    let mut b = legacy_tls::connector();
    b.cert_store_mut().add_cert(ca_certificate()).unwrap();
    b.set_verify(SslVerifyMode::PEER);
    let connector = b.build();
    let tcp = TcpStream::connect(https_addr(emu))?;
    tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
    connector
        .configure()
        .map_err(std::io::Error::other)?
        .use_server_name_indication(false)
        .connect(name, tcp)
        .map_err(|e| std::io::Error::other(legacy_tls::handshake_error(e)))
}

fn peer_certificate(stream: &TlsStream) -> Vec<u8> {
    stream.ssl().peer_certificate().unwrap().to_der().unwrap()
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
    // 11.8's row: TLS 1.1 at most, static RSA, its first suite.
    assert_eq!(stream.ssl().version_str(), "TLSv1.1");
    assert_eq!(stream.ssl().current_cipher().unwrap().name(), "AES256-SHA");
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
    // Identify tells clients so: TLS with digest, no plain HTTP.
    let identify = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"#;
    let mut stream = connect_tls(&emu, "amt-0001.vpro.test").unwrap();
    stream
        .write_all(&emu.client().request_bytes(identify, None))
        .unwrap();
    let r = read_response(&mut BufReader::new(&mut stream)).unwrap();
    assert_eq!(
        element_texts(&r.text(), "SecurityProfileName"),
        ["http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/digest"]
    );
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
        let r = c.put_edited(
            "AMT_GeneralSettings",
            "<r:HostName>amt-0001</r:HostName>",
            "<r:HostName>kept</r:HostName>",
        );
        assert_eq!(r.status, 200);
        // A user added over WS-Man is kept too.
        use base64::Engine;
        let realm = c.realm.clone().unwrap();
        let hash: Vec<u8> = (0..16)
            .map(|i| {
                u8::from_str_radix(
                    &md5_hex(&format!("operator:{realm}:Op3rator!"))[i * 2..i * 2 + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        let blob = base64::engine::general_purpose::STANDARD.encode(hash);
        let r = c.invoke(
            "AMT_AuthorizationService",
            "AddUserAclEntryEx",
            "",
            &format!("<h:DigestUsername>operator</h:DigestUsername><h:DigestPassword>{blob}</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>4</h:Realms>"),
        );
        assert_eq!(
            element_text(&r.text(), "ReturnValue").as_deref(),
            Some("0"),
            "{}",
            r.text()
        );
        // The TLS identity is made at the first handshake (for the name the
        // device has then) and kept too.
        let stream = connect_tls(&emu, "kept.vpro.test").unwrap();
        fingerprint = peer_certificate(&stream);
        // Let the write land, then die without a chance to save.
        std::thread::sleep(Duration::from_millis(500));
        emu.kill_hard();
    }
    let emu = Emulator::start_at(&ip, &args);
    let r = emu.client().get("AMT_GeneralSettings");
    assert_eq!(element_text(&r.text(), "HostName").as_deref(), Some("kept"));
    let mut operator = Client::new(emu.addr, "operator", "Op3rator!");
    assert_eq!(operator.get("CIM_Chassis").status, 200);
    let stream = connect_tls(&emu, "kept.vpro.test").unwrap();
    assert_eq!(peer_certificate(&stream), fingerprint);
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A CA and a client certificate it issued, made with rcgen.
struct ClientPki {
    ca_der: Vec<u8>,
    ca_issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl ClientPki {
    fn new(name: &str) -> ClientPki {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let ca_der = cert.der().to_vec();
        ClientPki {
            ca_issuer: rcgen::Issuer::new(params, key),
            ca_der,
        }
    }

    /// A client certificate; `expired` makes one whose validity has ended.
    fn client(&self, cn: &str, expired: bool) -> (Vec<Vec<u8>>, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.ca_issuer).unwrap();
        (vec![cert.der().to_vec()], key.serialize_der())
    }
}

/// Whether a TLS connection (with this client certificate, or none) gets
/// an HTTP answer from the device.
fn answered_with(emu: &Emulator, client: Option<(Vec<Vec<u8>>, Vec<u8>)>) -> bool {
    let mut b = legacy_tls::connector();
    if let Some((chain, key)) = client {
        legacy_tls::with_client_certificate(&mut b, &chain, &key);
    }
    let Ok(tcp) = TcpStream::connect(https_addr(emu)) else {
        return false;
    };
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let Ok(mut stream) = legacy_tls::connect(&b.build(), tcp) else {
        return false;
    };
    let request = emu
        .client()
        .request_bytes(&envelope_get("AMT_GeneralSettings", "1"), None);
    if stream.write_all(&request).is_err() {
        return false;
    }
    read_response(&mut BufReader::new(&mut stream)).is_ok_and(|r| r.status == 401)
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_a_trusted_root_and_cn() {
    use base64::Engine;
    let emu = Emulator::start(&[]);
    let pki = ClientPki::new("Console CA");
    let other = ClientPki::new("Someone Else CA");
    let mut c = emu.client();
    // Before: no client certificate needed.
    assert!(answered_with(&emu, None));
    let blob = base64::engine::general_purpose::STANDARD.encode(&pki.ca_der);
    let r = c.invoke(
        "AMT_PublicKeyManagementService",
        "AddTrustedRootCertificate",
        "",
        &format!("<h:CertificateBlob>{blob}</h:CertificateBlob>"),
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    let id = "Intel(r) AMT 802.3 TLS Settings";
    let selector = format!(
        r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#
    );
    let uri = class_uri("AMT_TLSSettingData");
    let body = format!(
        r#"<h:AMT_TLSSettingData xmlns:h="{uri}"><h:AcceptNonSecureConnections>true</h:AcceptNonSecureConnections><h:ElementName>{id}</h:ElementName><h:Enabled>true</h:Enabled><h:InstanceID>{id}</h:InstanceID><h:MutualAuthentication>true</h:MutualAuthentication><h:TrustedCN>console.vpro.test</h:TrustedCN></h:AMT_TLSSettingData>"#
    );
    let r = c.post(&envelope(
        ACTION_PUT,
        "AMT_TLSSettingData",
        "30",
        &selector,
        &body,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    // Settings wait for CommitChanges.
    assert!(answered_with(&emu, None));
    let r = c.invoke("AMT_SetupAndConfigurationService", "CommitChanges", "", "");
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));
    assert!(!answered_with(&emu, None), "no client certificate");
    assert!(
        answered_with(&emu, Some(pki.client("console.vpro.test", false))),
        "trusted root and CN"
    );
    assert!(
        !answered_with(&emu, Some(pki.client("intruder.vpro.test", false))),
        "CN not in TrustedCN"
    );
    assert!(
        !answered_with(&emu, Some(other.client("console.vpro.test", false))),
        "another CA"
    );
    assert!(
        !answered_with(&emu, Some(pki.client("console.vpro.test", true))),
        "expired"
    );
    // Plain HTTP was left on, and is unaffected.
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

#[test]
fn curl_with_digest_over_tls_verifies_the_device() {
    let Ok(version) = std::process::Command::new("curl").arg("--version").output() else {
        eprintln!("curl not installed; skipping");
        return;
    };
    assert!(version.status.success());
    let emu = Emulator::start(&[]);
    let ca = std::env::temp_dir().join(format!("amtemu-curl-ca-{}.pem", std::process::id()));
    let pem = std::process::Command::new(env!("CARGO_BIN_EXE_amtemu"))
        .args(["ca", "export", "--ca-dir", CA_DIR])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&ca, pem).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--digest",
            "-u",
            &format!("{USER}:{PASSWORD}"),
            "--cacert",
        ])
        .arg(&ca)
        .args([
            "--resolve",
            &format!("amt-0001.vpro.test:16993:{}", emu.addr.ip()),
        ])
        .args([
            "--data",
            &envelope_get("CIM_SoftwareIdentity", "1"),
            "https://amt-0001.vpro.test:16993/wsman",
        ])
        .output()
        .unwrap();
    std::fs::remove_file(&ca).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        element_text(&String::from_utf8_lossy(&out.stdout), "InstanceID").as_deref(),
        Some("Flash")
    );
}

#[test]
fn a_scenarios_cert_expire_makes_the_device_present_an_expired_certificate() {
    let ip = unique_address();
    let dir = std::env::temp_dir().join(format!("amtemu-expiry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("expiry.toml");
    std::fs::write(
        &file,
        format!(
            "[fleet]\nseed = \"expiry\"\nfirst_address = \"{ip}\"\nduration = \"60s\"\n\n\
             [[groups]]\nname = \"a\"\ncount = 1\n\n\
             [[timeline]]\nat = \"4s\"\naction = \"cert-expire\"\n"
        ),
    )
    .unwrap();
    let emu = Emulator::launch(
        vec![
            "fleet".into(),
            "--scenario".into(),
            file.display().to_string(),
        ],
        std::net::SocketAddr::from((ip, 16992)),
    );
    let name = ip.to_string();
    connect_tls(&emu, &name).expect("a valid certificate before the event");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let refusal = loop {
        match connect_tls(&emu, &name) {
            Err(e) => break e.to_string(),
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250))
            }
            Ok(_) => panic!("the certificate never expired"),
        }
    };
    assert!(refusal.contains("certificate has expired"), "{refusal}");
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}
