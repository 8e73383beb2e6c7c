//! Provisioning, black-box: PKI remote configuration of a device in setup
//! mode by the in-repo test provisioning server (tests/support/provisioner),
//! the seed rules refused at the handshake, what a configuration that was
//! never committed leaves, Unprovision, and host-based setup (CCM and ACM)
//! through the local interface with DMT's wsman-messages building the
//! activation messages.

#[path = "support/provisioner.rs"]
mod provisioner;
mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use provisioner::{Credential, Leaf, Pki, SETUP_OU, TlsClient};
use rcgen::RsaKeySize;
use support::*;

/// The name `amtemu serve` gives its device unless told otherwise.
const DEVICE_NAME: &str = "amtemu-default";
const NEW_PASSWORD: &str = "N3w-Adm1n!";
const OPERATOR_PASSWORD: &str = "0perat0r!Pass";

fn md5_raw(text: &str) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(text.as_bytes()).into()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("provisioning")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` to `dir/name`; returns the path as dmt-activate takes it.
fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

/// Writes a credential's leaf, root and key into `dir` for dmt-activate's
/// upgrade and acm commands; returns their paths in that order.
fn write_credential(dir: &std::path::Path, cred: &Credential) -> (String, String, String) {
    (
        write_file(dir, "leaf.der", &cred.chain[0]),
        write_file(dir, "chain-root.der", &cred.chain[1]),
        write_file(dir, "key.pk8", &cred.key),
    )
}

fn https(emu: &Emulator) -> SocketAddr {
    SocketAddr::new(emu.addr.ip(), 16993)
}

/// A device in setup mode (PKI remote configuration) in DHCP domain
/// `vpro.test`, trusting `pki`'s root for provisioning.
fn in_setup(pki: &Pki, firmware: &str, name: &str) -> Emulator {
    in_setup_with(pki, firmware, name, &[])
}

fn in_setup_with(pki: &Pki, firmware: &str, name: &str, extra: &[&str]) -> Emulator {
    let root = pki.write_root(&scratch(name), "root.der");
    let mut args = vec![
        "--firmware",
        firmware,
        "--provisioning",
        "in",
        "--dhcp-domain",
        "vpro.test",
        "--provisioning-root",
        &root,
        "--local-port",
        "0",
    ];
    args.extend_from_slice(extra);
    Emulator::start(&args)
}

/// The control API's view of the device.
fn control_detail(control: SocketAddr) -> serde_json::Value {
    let req = format!(
        "GET /api/v1/devices/{DEVICE_NAME} HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n"
    );
    let r = Client::raw(control, req.as_bytes()).expect("the control API answers");
    serde_json::from_str(&r.text()).expect("JSON")
}

/// Whether the device closed a plain TCP connection without answering.
fn closed_at_accept(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return true;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::Write;
    let _ = s.write_all(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

fn rv(r: &Response) -> Option<String> {
    element_text(&r.text(), "ReturnValue")
}

fn ok_rv(r: std::io::Result<Response>, what: &str) -> Response {
    let r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(rv(&r).as_deref(), Some("0"), "{what}: {}", r.text());
    r
}

fn provisioning_state(c: &mut TlsClient) -> String {
    let r = c.get("AMT_SetupAndConfigurationService").unwrap();
    element_text(&r.text(), "ProvisioningState").unwrap()
}

/// The instance of a single-instance class as a Put body (the consoles'
/// round trip), with `from` replaced by `to`.
fn edited_instance(c: &mut TlsClient, class: &str, from: &str, to: &str) -> String {
    let current = c.get(class).unwrap().text();
    let start = current.find(&format!("<g:{class}>")).expect("the instance");
    let end = current.find("</a:Body>").expect("the body");
    let instance = current[start..end].replace("g:", "r:").replace(
        &format!("<r:{class}>"),
        &format!(r#"<r:{class} xmlns:r="{}">"#, class_uri(class)),
    );
    assert!(instance.contains(from), "{from} in {current}");
    instance.replace(from, to)
}

fn epr(class: &str, key: &str, value: &str) -> String {
    format!(
        r#"<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="{key}">{value}</w:Selector></w:SelectorSet></a:ReferenceParameters>"#,
        class_uri(class)
    )
}

/// Configures what the seed's service point pushes: MEBx and admin
/// passwords, host and domain, the clock, and a TLS certificate issued by
/// the enterprise CA with TLS required. Does not commit.
fn configure(c: &mut TlsClient, server: &Credential) {
    ok_rv(
        c.invoke(
            "AMT_SetupAndConfigurationService",
            "ExtendProvisioningPeriod",
            "<h:Duration>6</h:Duration>",
        ),
        "ExtendProvisioningPeriod",
    );
    ok_rv(
        c.invoke(
            "AMT_SetupAndConfigurationService",
            "SetMEBxPassword",
            "<h:Password>Mebx-P4ss!</h:Password>",
        ),
        "SetMEBxPassword",
    );
    // MeshCentral's form: the HA1 as 32 hex digits.
    let realm = c.digest.realm.clone().expect("realm from the challenge");
    let ha1 = md5_hex(&format!("admin:{realm}:{NEW_PASSWORD}"));
    ok_rv(
        c.invoke(
            "AMT_AuthorizationService",
            "SetAdminAclEntryEx",
            &format!("<h:Username>admin</h:Username><h:DigestPassword>{ha1}</h:DigestPassword>"),
        ),
        "SetAdminAclEntryEx",
    );
    // A console operator: a digest user with the remote control and general
    // info realms (ConfigMgr's "view management controllers" role).
    let operator = BASE64.encode(md5_raw(&format!("operator:{realm}:{OPERATOR_PASSWORD}")));
    ok_rv(
        c.invoke(
            "AMT_AuthorizationService",
            "AddUserAclEntryEx",
            &format!(
                "<h:DigestUsername>operator</h:DigestUsername><h:DigestPassword>{operator}</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>5</h:Realms><h:Realms>13</h:Realms>"
            ),
        ),
        "AddUserAclEntryEx",
    );
    ok_rv(
        c.invoke(
            "AMT_RedirectionService",
            "RequestStateChange",
            "<h:RequestedState>32771</h:RequestedState>",
        ),
        "RedirectionService RequestStateChange",
    );
    let body = edited_instance(
        c,
        "AMT_GeneralSettings",
        "<r:HostName>amt-0001</r:HostName>",
        "<r:HostName>amt-prov</r:HostName>",
    );
    let r = c
        .send(ACTION_PUT, "AMT_GeneralSettings", "", &body)
        .unwrap();
    assert_eq!(r.status, 200, "GeneralSettings Put: {}", r.text());
    let r = ok_rv(
        c.invoke(
            "AMT_TimeSynchronizationService",
            "GetLowAccuracyTimeSynch",
            "",
        ),
        "GetLowAccuracyTimeSynch",
    );
    let ta0 = element_text(&r.text(), "Ta0").unwrap();
    ok_rv(
        c.invoke(
            "AMT_TimeSynchronizationService",
            "SetHighAccuracyTimeSynch",
            &format!("<h:Ta0>{ta0}</h:Ta0><h:Tm1>{ta0}</h:Tm1><h:Tm2>{ta0}</h:Tm2>"),
        ),
        "SetHighAccuracyTimeSynch",
    );
    ok_rv(
        c.invoke(
            "AMT_PublicKeyManagementService",
            "AddKey",
            &format!("<h:KeyBlob>{}</h:KeyBlob>", BASE64.encode(&server.key)),
        ),
        "AddKey",
    );
    let r = ok_rv(
        c.invoke(
            "AMT_PublicKeyManagementService",
            "AddCertificate",
            &format!(
                "<h:CertificateBlob>{}</h:CertificateBlob>",
                BASE64.encode(&server.chain[0])
            ),
        ),
        "AddCertificate",
    );
    let cert_id = element_text(&r.text(), "Selector").expect("the new certificate");
    let uri = class_uri("AMT_TLSCredentialContext");
    let create = format!(
        r#"<h:AMT_TLSCredentialContext xmlns:h="{uri}"><h:ElementInContext>{}</h:ElementInContext><h:ElementProvidingContext>{}</h:ElementProvidingContext></h:AMT_TLSCredentialContext>"#,
        epr("AMT_PublicKeyCertificate", "InstanceID", &cert_id),
        epr(
            "AMT_TLSProtocolEndpointCollection",
            "ElementName",
            "TLSProtocolEndpointInstances Collection"
        ),
    );
    let r = c
        .send(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            "AMT_TLSCredentialContext",
            "",
            &create,
        )
        .unwrap();
    assert_eq!(r.status, 200, "TLSCredentialContext Create: {}", r.text());
    require_tls(c);
}

/// Remote TLS on, plain HTTP refused (applied by CommitChanges).
fn require_tls(c: &mut TlsClient) {
    let id = "Intel(r) AMT 802.3 TLS Settings";
    let uri = class_uri("AMT_TLSSettingData");
    let body = format!(
        r#"<h:AMT_TLSSettingData xmlns:h="{uri}"><h:AcceptNonSecureConnections>false</h:AcceptNonSecureConnections><h:ElementName>{id}</h:ElementName><h:Enabled>true</h:Enabled><h:InstanceID>{id}</h:InstanceID><h:MutualAuthentication>false</h:MutualAuthentication></h:AMT_TLSSettingData>"#
    );
    let selector = format!(
        r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#
    );
    let r = c
        .send(ACTION_PUT, "AMT_TLSSettingData", &selector, &body)
        .unwrap();
    assert_eq!(r.status, 200, "TLSSettingData Put: {}", r.text());
}

fn self_signed(der: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.subject() == cert.issuer()
}

#[test]
fn a_provisioning_server_configures_commits_and_then_manages_the_device() {
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let emu = in_setup(&pki, "11.8", "e2e");
    let provisioning = pki.provisioning(Leaf::good("prov.vpro.test"));

    // Setup mode: no plain HTTP, and 16993 only with a provisioning
    // certificate.
    assert!(closed_at_accept(emu.addr), "16992 answers in setup mode");
    let mut anonymous = TlsClient::new(https(&emu), "admin", "admin", None);
    assert!(anonymous.get("AMT_GeneralSettings").is_err());
    // Any password is taken for `admin` once the chain is valid.
    let mut server = TlsClient::new(https(&emu), "admin", "whatever", Some(&provisioning));
    assert_eq!(provisioning_state(&mut server), "1");
    assert!(
        self_signed(&server.server_certificate().unwrap()),
        "the device presents its self-signed certificate in setup mode"
    );

    let device_tls = pki.server("amt-prov.vpro.test");
    configure(&mut server, &device_tls);
    ok_rv(
        server.invoke("AMT_SetupAndConfigurationService", "CommitChanges", ""),
        "CommitChanges",
    );

    // Provisioned: the new certificate, the new password, TLS only.
    let mut console = TlsClient::new(https(&emu), "admin", NEW_PASSWORD, None);
    let settings = console.get("AMT_GeneralSettings").unwrap();
    assert_eq!(settings.status, 200, "{}", settings.text());
    assert_eq!(
        element_text(&settings.text(), "HostName").as_deref(),
        Some("amt-prov")
    );
    assert_eq!(
        console.server_certificate().as_deref(),
        Some(device_tls.chain[0].as_slice()),
        "the configured certificate is served"
    );
    assert_eq!(provisioning_state(&mut console), "2");
    let r = console.get("AMT_RedirectionService").unwrap();
    assert_eq!(
        element_text(&r.text(), "EnabledState").as_deref(),
        Some("32771")
    );
    // The operator configured during setup logs in, with its realms only.
    let mut operator = TlsClient::new(https(&emu), "operator", OPERATOR_PASSWORD, None);
    assert_eq!(operator.get("CIM_SoftwareIdentity").unwrap().status, 200);
    let r = operator
        .invoke(
            "AMT_SetupAndConfigurationService",
            "Unprovision",
            "<h:ProvisioningMode>1</h:ProvisioningMode>",
        )
        .unwrap();
    assert_eq!(r.status, 400, "not PT Administration: {}", r.text());
    assert!(r.text().contains("AccessDenied"), "{}", r.text());
    let mut old = TlsClient::new(https(&emu), "admin", "whatever", None);
    assert!(old.get("AMT_GeneralSettings").is_err(), "the old password");
    assert!(closed_at_accept(emu.addr), "TLS is required now");
    // The provisioning certificate no longer opens anything special.
    let mut again = TlsClient::new(https(&emu), "admin", "whatever", Some(&provisioning));
    assert!(again.get("AMT_GeneralSettings").is_err());

    // Unprovision: back to Pre, the remote ports closed.
    ok_rv(
        console.invoke(
            "AMT_SetupAndConfigurationService",
            "Unprovision",
            "<h:ProvisioningMode>1</h:ProvisioningMode>",
        ),
        "Unprovision",
    );
    let mut after = TlsClient::new(https(&emu), "admin", NEW_PASSWORD, None);
    assert!(
        after.get("AMT_GeneralSettings").is_err(),
        "16993 after Unprovision"
    );
    assert!(closed_at_accept(emu.addr), "16992 after Unprovision");
}

/// PID/PPS setup (AMT 2.0 – 10.x): TLS-PSK with the PID as identity and
/// the PPS as key, then the same configuration calls as PKI setup.
#[test]
fn psk_setup_with_the_pid_and_pps_configures_and_commits() {
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let (pid, pps) = ("ABCD-1234", "1234-5678-9ABC-DEF0-1234-5678-9ABC-DEF0");
    let emu = in_setup_with(&pki, "9.5", "psk", &["--pid", pid, "--pps", pps]);
    // An identity the device does not know is refused at the handshake.
    let mut stranger = TlsClient::psk(https(&emu), "admin", "admin", "WXYZ-9876", pps);
    let e = stranger
        .get("AMT_GeneralSettings")
        .expect_err("unknown identity")
        .to_string();
    assert!(e.contains("unknown psk identity"), "{e}");
    // The right identity with the wrong key does not get through either.
    let wrong = "0000-0000-0000-0000-0000-0000-0000-0000";
    let mut guesser = TlsClient::psk(https(&emu), "admin", "admin", pid, wrong);
    assert!(guesser.get("AMT_GeneralSettings").is_err());

    let mut server = TlsClient::psk(https(&emu), "admin", "admin", pid, pps);
    assert_eq!(provisioning_state(&mut server), "1");
    let (version, suite) = server.negotiated().expect("a handshake");
    assert_eq!(version, "TLSv1.1");
    assert_eq!(suite, "TLS_PSK_WITH_AES_256_CBC_SHA");
    assert_eq!(server.server_certificate(), None, "PSK: no certificate");
    let device_tls = pki.server("amt-psk.vpro.test");
    configure(&mut server, &device_tls);
    ok_rv(
        server.invoke("AMT_SetupAndConfigurationService", "CommitChanges", ""),
        "CommitChanges",
    );
    let mut console = TlsClient::new(https(&emu), "admin", NEW_PASSWORD, None);
    assert_eq!(provisioning_state(&mut console), "2");
    assert_eq!(
        console.server_certificate().as_deref(),
        Some(device_tls.chain[0].as_slice()),
        "the configured certificate is served"
    );
    // The record says PSK, with no certificate to describe.
    let r = console.get("IPS_TLSProvisioningRecord").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        element_text(&r.text(), "ProvisioningTLSMode").as_deref(),
        Some("1")
    );
    assert!(element_text(&r.text(), "SelectedHashData").is_none());
    // Provisioned: PSK opens nothing any more.
    let mut late = TlsClient::psk(https(&emu), "admin", "admin", pid, pps);
    assert!(late.get("AMT_GeneralSettings").is_err());
}

#[test]
fn every_seed_rule_is_refused_at_the_handshake() {
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let control = SocketAddr::new(unique_address().into(), 17000);
    let emu = in_setup_with(&pki, "11.8", "rules", &["--control", &control.to_string()]);
    let stranger = Pki::new("Someone Else's Root", RsaKeySize::_2048);
    let cases: Vec<(&str, Credential, &str)> = vec![
        (
            "root hash not trusted",
            stranger.provisioning(Leaf::good("prov.vpro.test")),
            "unknown ca",
        ),
        (
            "neither Intel EKU nor OU",
            pki.provisioning(Leaf {
                intel_eku: false,
                ..Leaf::good("prov.vpro.test")
            }),
            "unsupported certificate",
        ),
        (
            "OU spelled differently",
            pki.provisioning(Leaf {
                intel_eku: false,
                ou: Some("Intel(r) Client Setup Certificate"),
                ..Leaf::good("prov.vpro.test")
            }),
            "unsupported certificate",
        ),
        (
            "no Server Authentication EKU",
            pki.provisioning(Leaf {
                server_auth: false,
                ..Leaf::good("prov.vpro.test")
            }),
            "unsupported certificate",
        ),
        (
            "other forest",
            pki.provisioning(Leaf::good("prov.contoso.test")),
            "bad certificate",
        ),
        (
            "non-contiguous namespace",
            pki.provisioning(Leaf::good("prov.na.vpro.test")),
            "bad certificate",
        ),
        (
            "expired",
            pki.provisioning(Leaf {
                expired: true,
                ..Leaf::good("prov.vpro.test")
            }),
            "certificate expired",
        ),
    ];
    for (what, credential, alert) in &cases {
        let mut c = TlsClient::new(https(&emu), "admin", "admin", Some(credential));
        let e = c
            .get("AMT_SetupAndConfigurationService")
            .expect_err(what)
            .to_string();
        assert!(e.contains(alert), "{what}: expected {alert}, got {e}");
    }
    // Each refusal is counted on the device (control API).
    let refusals = control_detail(control)["provisioning_refusals"].as_u64();
    assert_eq!(refusals, Some(cases.len() as u64));
    // The exact OU is as good as the EKU, and the device is still waiting.
    let ou = pki.provisioning(Leaf {
        intel_eku: false,
        ou: Some(SETUP_OU),
        ..Leaf::good("prov.vpro.test")
    });
    let mut c = TlsClient::new(https(&emu), "admin", "", Some(&ou));
    assert_eq!(provisioning_state(&mut c), "1");
}

#[test]
fn a_4096_bit_ca_is_refused_by_2048_bit_firmware() {
    let big = Pki::new("Big Key Root", RsaKeySize::_4096);
    let leaf = big.provisioning(Leaf::good("prov.vpro.test"));
    let old = in_setup(&big, "5.2", "big-old");
    let mut c = TlsClient::new(https(&old), "admin", "admin", Some(&leaf));
    let e = c.get("AMT_GeneralSettings").expect_err("5.2").to_string();
    assert!(e.contains("bad certificate"), "{e}");
    drop(old);
    let new = in_setup(&big, "11.8", "big-new");
    let mut c = TlsClient::new(https(&new), "admin", "admin", Some(&leaf));
    assert_eq!(provisioning_state(&mut c), "1");
}

#[test]
fn a_configuration_that_was_not_committed_is_not_live() {
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let emu = in_setup(&pki, "11.8", "half");
    let provisioning = pki.provisioning(Leaf::good("prov.vpro.test"));
    let mut server = TlsClient::new(https(&emu), "admin", "admin", Some(&provisioning));
    // TLS required without a credential does not commit, and leaves the
    // device in setup.
    require_tls(&mut server);
    let r = server
        .invoke("AMT_SetupAndConfigurationService", "CommitChanges", "")
        .unwrap();
    assert_eq!(rv(&r).as_deref(), Some("36"), "{}", r.text());
    assert_eq!(provisioning_state(&mut server), "1");

    configure(&mut server, &pki.server("amt-prov.vpro.test"));
    drop(server);
    // The server went away before CommitChanges: still in setup, nothing
    // it set answers anyone.
    let mut console = TlsClient::new(https(&emu), "admin", NEW_PASSWORD, None);
    assert!(console.get("AMT_GeneralSettings").is_err());
    assert!(closed_at_accept(emu.addr));
    let mut server = TlsClient::new(https(&emu), "admin", "admin", Some(&provisioning));
    assert_eq!(provisioning_state(&mut server), "1");
    assert!(self_signed(&server.server_certificate().unwrap()));
    // A server that comes back can finish the job.
    ok_rv(
        server.invoke("AMT_SetupAndConfigurationService", "CommitChanges", ""),
        "CommitChanges",
    );
    let mut console = TlsClient::new(https(&emu), "admin", NEW_PASSWORD, None);
    assert_eq!(console.get("AMT_GeneralSettings").unwrap().status, 200);
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// curl as a provisioning server: client certificate and chain, Digest.
fn curl(
    emu: &Emulator,
    credential: Option<&Credential>,
    dir: &std::path::Path,
) -> std::process::Output {
    let mut cmd = Command::new("curl");
    // 11.8 speaks TLS 1.1 at most: a client certificate's signature there
    // (MD5+SHA-1) needs OpenSSL's security level 0.
    cmd.env("OPENSSL_CONF", legacy_openssl_conf());
    cmd.args(["-s", "-k", "--digest", "-u", "admin:anything"]);
    if let Some(c) = credential {
        let chain: String = c.chain.iter().map(|d| pem("CERTIFICATE", d)).collect();
        let (cert, key) = (dir.join("chain.pem"), dir.join("key.pem"));
        std::fs::write(&cert, chain).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", &c.key)).unwrap();
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    cmd.args([
        "--data",
        &envelope_get("AMT_SetupAndConfigurationService", "1"),
        &format!("https://{}/wsman", https(emu)),
    ])
    .output()
    .unwrap()
}

#[test]
fn curl_with_a_provisioning_certificate_reaches_a_device_in_setup() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl not installed; skipping");
        return;
    }
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let emu = in_setup(&pki, "11.8", "curl");
    let dir = scratch("curl");
    let without = curl(&emu, None, &dir);
    assert!(!without.status.success(), "no client certificate");
    let good = pki.provisioning(Leaf::good("prov.vpro.test"));
    let with = curl(&emu, Some(&good), &dir);
    let body = String::from_utf8_lossy(&with.stdout);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert_eq!(
        element_text(&body, "ProvisioningState").as_deref(),
        Some("1"),
        "{body}"
    );
}

/// Takes one hello on `server`:9971: who sent it and what it said.
fn take_hello(listener: &std::net::TcpListener) -> (SocketAddr, Vec<u8>) {
    let (mut stream, from) = listener.accept().expect("a hello");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = Vec::new();
    // The device writes the hello and closes its side.
    stream.read_to_end(&mut bytes).expect("the hello");
    (from, bytes)
}

#[test]
fn the_out_of_band_flow_starts_with_a_hello_on_9971() {
    use amtemu_model::device::HashAlgorithm;
    use amtemu_wire::hello::{Hello, HelloBody};
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let server = unique_address();
    let listener = std::net::TcpListener::bind((server, 9971)).expect("9971 on loopback");
    let root = pki.write_root(&scratch("oob"), "root.der");
    let emu = Emulator::start(&[
        "--provisioning",
        "in",
        "--dhcp-domain",
        "vpro.test",
        "--provisioning-root",
        &root,
        "--provisioning-server",
        &server.to_string(),
        "--local-port",
        "0",
    ]);
    let (from, bytes) = take_hello(&listener);
    assert_eq!(from.ip(), emu.addr.ip(), "the hello comes from the device");
    let hello = Hello::parse(&bytes).expect("a v3 hello");
    let HelloBody::Pki { hashes } = hello.body else {
        panic!("a PKI hello")
    };
    // The service point looks for its provisioning root among the hashes.
    let ours = provisioner::sha256(&pki.root_der);
    assert!(hashes.contains(&(HashAlgorithm::Sha256, ours)));

    // It connects back to the address the hello came from and configures.
    let provisioning = pki.provisioning(Leaf::good("prov.vpro.test"));
    let device = SocketAddr::new(from.ip(), 16993);
    let mut c = TlsClient::new(device, "admin", "admin", Some(&provisioning));
    assert_eq!(provisioning_state(&mut c), "1");
    configure(&mut c, &pki.server("amt-prov.vpro.test"));
    ok_rv(
        c.invoke("AMT_SetupAndConfigurationService", "CommitChanges", ""),
        "CommitChanges",
    );
    let mut console = TlsClient::new(device, "admin", NEW_PASSWORD, None);
    assert_eq!(provisioning_state(&mut console), "2");
}

// ---- host-based setup through the local interface ------------------------

/// Whether DMT's wsman-messages is installed.
fn dmt_ready() -> bool {
    client_available(
        clients_prefix()
            .join("node/node_modules/@device-management-toolkit/wsman-messages")
            .exists(),
        "DMT wsman-messages",
    )
}

/// A device not yet provisioned, with its local interface on 26992.
fn pre_provisioned(extra: &[&str]) -> Emulator {
    let mut args = vec!["--provisioning", "pre", "--dhcp-domain", "vpro.test"];
    args.extend_from_slice(extra);
    Emulator::start(&args)
}

fn local(emu: &Emulator) -> SocketAddr {
    SocketAddr::new(emu.addr.ip(), 26992)
}

fn local_password() -> String {
    amtemu_model::device::local_account::local_account_password(
        &amtemu_model::device::Identity::from_seed(DEVICE_NAME),
    )
}

fn dmt_activate(emu: &Emulator, args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/dmt-activate.js");
    let out = Command::new("node")
        .arg(script)
        .arg(emu.addr.ip().to_string())
        .arg("26992")
        .arg(amtemu_model::device::local_account::LOCAL_ACCOUNT)
        .arg(local_password())
        .args(args)
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        .stdin(Stdio::null())
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "no verdict\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn the_local_interface_takes_only_the_local_system_account() {
    let emu = pre_provisioned(&[]);
    assert!(closed_at_accept(emu.addr), "16992 before provisioning");
    let mut wrong = Client::new(
        local(&emu),
        amtemu_model::device::local_account::LOCAL_ACCOUNT,
        "nope",
    );
    wrong.challenge();
    let auth = wrong.authorization("POST", "/wsman");
    let body = envelope_get("IPS_HostBasedSetupService", "1");
    let r = Client::raw(local(&emu), &wrong.request_bytes(&body, Some(&auth))).unwrap();
    assert_eq!(r.status, 401, "a wrong local password");
    let mut local = Client::new(
        local(&emu),
        amtemu_model::device::local_account::LOCAL_ACCOUNT,
        &local_password(),
    );
    let r = local.get("IPS_HostBasedSetupService");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        element_text(&r.text(), "CurrentControlMode").as_deref(),
        Some("0")
    );
    let nonce = BASE64
        .decode(element_text(&r.text(), "ConfigurationNonce").unwrap())
        .unwrap();
    assert_eq!(nonce.len(), 20);
    // Setup with a password that is not an MD5 HA1 is an invalid parameter.
    let r = local.invoke(
        "IPS_HostBasedSetupService",
        "Setup",
        "",
        "<h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>plain</h:NetworkAdminPassword>",
    );
    assert_eq!(rv(&r).as_deref(), Some("3"), "{}", r.text());
}

#[test]
fn host_based_setup_to_client_control_mode_with_dmt() {
    if !dmt_ready() {
        return;
    }
    let emu = pre_provisioned(&[]);
    let v = dmt_activate(&emu, &["ccm", NEW_PASSWORD]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["before"], 0);
    assert_eq!(v["setup"], 0, "{v:#}");
    assert_eq!(v["after"], 1);
    // Provisioned in CCM: the network takes the new password, and user
    // consent is required for everything.
    let mut c = Client::new(emu.addr, "admin", NEW_PASSWORD);
    let r = c.get("AMT_SetupAndConfigurationService");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        element_text(&r.text(), "ProvisioningMode").as_deref(),
        Some("4")
    );
    let r = c.get("IPS_OptInService");
    assert_eq!(
        element_text(&r.text(), "OptInRequired").as_deref(),
        Some("4294967295")
    );
    // Setup wrote the client control record (unsigned: no hash).
    let r = c.get("IPS_ClientProvisioningRecord");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(element_text(&r.text(), "CreationTimeStamp").is_some());
    assert!(element_text(&r.text(), "ProvCertificateHash").is_none());
    // A second Setup finds the device provisioned.
    let v = dmt_activate(&emu, &["ccm", NEW_PASSWORD]);
    assert_eq!(v["setup"], 2, "{v:#}");
    // A CCM device is deactivated locally.
    let mut local = Client::new(
        local(&emu),
        amtemu_model::device::local_account::LOCAL_ACCOUNT,
        &local_password(),
    );
    let r = local.invoke(
        "AMT_SetupAndConfigurationService",
        "Unprovision",
        "",
        "<h:ProvisioningMode>4</h:ProvisioningMode>",
    );
    assert_eq!(rv(&r).as_deref(), Some("0"), "{}", r.text());
    let r = local.get("AMT_SetupAndConfigurationService");
    assert_eq!(
        element_text(&r.text(), "ProvisioningState").as_deref(),
        Some("0")
    );
    assert!(closed_at_accept(emu.addr));
}

#[test]
fn a_client_control_device_is_upgraded_to_admin_with_a_signed_nonce() {
    if !dmt_ready() {
        return;
    }
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let dir = scratch("upgrade");
    let root = pki.write_root(&dir, "root.der");
    let emu = pre_provisioned(&["--provisioning-root", &root]);
    let v = dmt_activate(&emu, &["ccm", NEW_PASSWORD]);
    assert_eq!(v["after"], 1, "{v:#}");
    let good = pki.provisioning(Leaf::good("prov.vpro.test"));
    let (leaf, root_der, key) = write_credential(&dir, &good);
    let v = dmt_activate(&emu, &["upgrade", NEW_PASSWORD, &leaf, &root_der, &key]);
    assert_eq!(v["upgrade"], 0, "{v:#}");
    assert_eq!(v["after"], 2, "{v:#}");
    // The upgrade is an admin activation: its record replaces the client
    // one (the log has one slot).
    let mut c = Client::new(emu.addr, "admin", NEW_PASSWORD);
    let r = c.get("IPS_AdminProvisioningRecord");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        element_text(&r.text(), "CertificateCN").as_deref(),
        Some("prov.vpro.test")
    );
    assert_ne!(c.get("IPS_ClientProvisioningRecord").status, 200);
}

#[test]
fn host_based_setup_to_admin_control_mode_verifies_the_signature() {
    if !dmt_ready() {
        return;
    }
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let dir = scratch("acm");
    let root = pki.write_root(&dir, "root.der");
    let emu = pre_provisioned(&["--provisioning-root", &root]);
    let good = pki.provisioning(Leaf::good("prov.vpro.test"));
    let (leaf, root_der, key) = write_credential(&dir, &good);

    // A signature over the wrong bytes is refused, and nothing changes.
    let v = dmt_activate(
        &emu,
        &["acm", NEW_PASSWORD, &leaf, &root_der, &key, "--tamper"],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["leaf"], 0);
    assert_eq!(v["root"], 0);
    assert_eq!(v["chain_status"], 2);
    assert_eq!(v["admin_setup"], 5, "{v:#}");
    assert_eq!(v["after"], 0);

    // A chain the device's rules refuse ends at the root.
    let foreign = pki.provisioning(Leaf::good("prov.contoso.test"));
    let foreign_leaf = write_file(&dir, "foreign.der", &foreign.chain[0]);
    let v = dmt_activate(&emu, &["acm", NEW_PASSWORD, &foreign_leaf, &root_der, &key]);
    assert_eq!(v["root"], 4, "{v:#}");
    assert_eq!(v["admin_setup"], 2, "no chain, no setup: {v:#}");

    let v = dmt_activate(&emu, &["acm", NEW_PASSWORD, &leaf, &root_der, &key]);
    assert_eq!(v["config_nonce_bytes"], 20);
    assert_eq!(v["admin_setup"], 0, "{v:#}");
    assert_eq!(v["after"], 2);
    let mut c = Client::new(emu.addr, "admin", NEW_PASSWORD);
    let r = c.get("AMT_SetupAndConfigurationService");
    assert_eq!(
        element_text(&r.text(), "ProvisioningState").as_deref(),
        Some("2")
    );
    assert_eq!(
        element_text(&r.text(), "ProvisioningMode").as_deref(),
        Some("1")
    );
    // The admin record names the chain AddNextCertInChain delivered.
    let r = c.get("IPS_AdminProvisioningRecord");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert_eq!(
        element_text(&text, "CertificateCN").as_deref(),
        Some("prov.vpro.test")
    );
    assert_eq!(
        element_text(&text, "SelectedHashData"),
        Some(BASE64.encode(provisioner::sha256(&pki.root_der)))
    );
    assert_eq!(
        element_text(&text, "HashIsOemDefault").as_deref(),
        Some("false")
    );
}

/// The CA serial numbers of a chain as a record lists them (base64).
fn root_serial(der: &[u8]) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    BASE64.encode(cert.tbs_certificate.raw_serial())
}

/// PKI remote configuration leaves a TLS provisioning record with what the
/// handshake saw; it is saved with the activation and read back after a
/// kill.
#[test]
fn pki_setup_writes_a_tls_provisioning_record_that_survives_a_restart() {
    let pki = Pki::new("Contoso Provisioning Root", RsaKeySize::_2048);
    let dir = scratch("record");
    let state = dir.join("state").to_string_lossy().into_owned();
    let ip = unique_address().to_string();
    let root = pki.write_root(&dir, "root.der");
    let args = [
        "--firmware",
        "11.8",
        "--provisioning",
        "in",
        "--dhcp-domain",
        "vpro.test",
        "--provisioning-root",
        &root,
        "--local-port",
        "0",
        "--state-dir",
        &state,
    ];
    let emu = Emulator::start_at(&ip, &args);
    let provisioning = pki.provisioning(Leaf::good("prov.vpro.test"));
    let mut server = TlsClient::new(https(&emu), "admin", "whatever", Some(&provisioning));
    let r = server.get("IPS_ProvisioningRecordLog").unwrap();
    assert_eq!(
        element_text(&r.text(), "CurrentNumberOfRecords").as_deref(),
        Some("0"),
        "nothing recorded before the commit: {}",
        r.text()
    );
    configure(&mut server, &pki.server("amt-prov.vpro.test"));
    ok_rv(
        server.invoke("AMT_SetupAndConfigurationService", "CommitChanges", ""),
        "CommitChanges",
    );
    let check = |emu: &Emulator| {
        let mut console = TlsClient::new(https(emu), "admin", NEW_PASSWORD, None);
        let r = console.get("IPS_ProvisioningRecordLog").unwrap();
        assert_eq!(
            element_text(&r.text(), "CurrentNumberOfRecords").as_deref(),
            Some("1")
        );
        let r = console.get("IPS_TLSProvisioningRecord").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        let field = |name: &str| element_text(&text, name);
        assert_eq!(field("ProvServerFQDN").as_deref(), Some("prov.vpro.test"));
        let server_ip = field("ProvServerIP").unwrap_or_default();
        assert!(
            server_ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            "the configuration server's address: {server_ip:?}"
        );
        assert_eq!(field("ProvisioningTLSMode").as_deref(), Some("2"), "PKI");
        assert_eq!(field("SelectedHashType").as_deref(), Some("2"), "SHA-256");
        assert_eq!(
            field("SelectedHashData"),
            Some(BASE64.encode(provisioner::sha256(&pki.root_der)))
        );
        assert_eq!(
            field("CaCertificateSerials"),
            Some(root_serial(&pki.root_der))
        );
        assert_eq!(field("AdditionalCaSerialNums").as_deref(), Some("false"));
        assert_eq!(field("SecureDNS").as_deref(), Some("false"), "DHCP domain");
        assert_eq!(
            field("HostInitiated").as_deref(),
            Some("false"),
            "at power-up"
        );
        assert!(field("CreationTimeStamp").is_some(), "{text}");
        text
    };
    let before = check(&emu);
    emu.kill_hard();
    let emu = Emulator::start_at(&ip, &args);
    let after = check(&emu);
    assert_eq!(
        element_text(&before, "CreationTimeStamp"),
        element_text(&after, "CreationTimeStamp"),
        "the same record, not a new one"
    );
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}
