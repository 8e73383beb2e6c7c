//! CIRA end to end against the in-repo MPS (`amtemu_load::mps`): devices
//! configured over WS-Man as consoles configure them call home from their
//! own loopback addresses, serve WS-Man through the tunnel exactly as
//! directly, and a malformed message from the MPS closes that tunnel alone
//! with the firmware's disconnect reason.

// The TLS WS-Man client; its provisioning helpers are not used here.
#[allow(unused_imports)]
#[path = "support/provisioner.rs"]
mod provisioner;
mod support;
#[path = "support/viewer.rs"]
mod viewer;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use amtemu_apf::Message;
use amtemu_apf::message::{DisconnectReason, TriggerReason, code};
use amtemu_load::mps::{Mps, MpsChannel, MpsTunnel, http_response_complete};
use amtemu_server::emulator::{Emulator, EmulatorBuilder};
use amtemu_server::endpoint::cira::CiraPhase;
use amtemu_server::fleet::DeviceSpec;
use amtemu_server::tls::ca::Ca;
use base64::Engine;
use support::{
    Client, PASSWORD, Response, USER, challenge_param, class_uri, device_spec as spec, envelope,
    envelope_get, legacy_tls, read_response, unique_address,
};
use viewer::{Viewer, enable_5900, kvmr, no_consent_needed};

const MPS_NAME: &str = "mps.cira.test";
const MPS_USER: &str = "OM4lFgLLcBbR4kXX";
const MPS_PASSWORD: &str = "Cira-Pass1";
const TIMEOUT: Duration = Duration::from_secs(20);

/// The MPS's root (DER) and its leaf chain and key.
struct MpsPki {
    root: Vec<u8>,
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

fn pki(name: &str) -> MpsPki {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    // Each root its own name: OpenSSL (the device's TLS client on every
    // row) picks an issuer by name, so two trusted roots of one name would
    // leave one of them unusable.
    static ROOTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = ROOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("MPS test root {n}"));
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let root = ca.self_signed(&ca_key).unwrap().der().to_vec();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    // RSA: firmware's suites all authenticate the server with RSA.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    MpsPki {
        root,
        chain: vec![cert.der().to_vec()],
        key: key.serialize_der(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// amtemu-load's MPS on a loopback address of its own, serving `pki`'s
/// leaf and accepting MPS_USER / MPS_PASSWORD.
async fn bind_mps(pki: &MpsPki) -> Mps {
    Mps::bind(
        SocketAddr::new(IpAddr::V4(unique_address()), 0),
        pki.chain.clone(),
        pki.key.clone(),
        MPS_USER,
        MPS_PASSWORD,
    )
    .await
    .expect("the MPS binds")
}

async fn start(addresses: &[Ipv4Addr]) -> Emulator {
    let specs = addresses
        .iter()
        .enumerate()
        .map(|(i, ip)| spec(&format!("cira-{i}"), IpAddr::V4(*ip)))
        .collect();
    start_with(specs, None).await
}

/// An emulator of `specs` with a CA of its own and, given an address, its
/// control API there.
async fn start_with(specs: Vec<DeviceSpec>, control: Option<SocketAddr>) -> Emulator {
    EmulatorBuilder::new(specs)
        .ca(Ca::generate().expect("a CA"))
        .control(control)
        .start()
        .await
        .expect("the emulator starts")
}

fn return_value(text: &str) -> Option<String> {
    support::element_text(text, "ReturnValue")
}

/// What MeshCentral's amt manager and rps push, over WS-Man on the LAN:
/// the MPS root, the server (by IP address, with the certificate's name as
/// CN), a periodic policy and an environment-detection suffix that never
/// matches.
async fn configure(device: SocketAddr, mps: SocketAddr, root: Vec<u8>, password: &str) {
    let address = mps.ip().to_string();
    let server = (address.as_str(), 3);
    configure_as(
        device,
        server,
        mps.port(),
        root,
        (MPS_USER, password),
        PERIODIC,
    )
    .await
}

/// A periodic rule every 10 s that keeps the tunnel up (MeshCentral's).
const PERIODIC: &str = "<h:Trigger>2</h:Trigger><h:TunnelLifeTime>0</h:TunnelLifeTime><h:ExtendedData>AAAAAAAAAAo=</h:ExtendedData>";
/// A user-initiated rule whose tunnels last 2 s.
const USER_INITIATED: &str = "<h:Trigger>0</h:Trigger><h:TunnelLifeTime>2</h:TunnelLifeTime>";

/// `configure` with the server named as given: (AccessInfo, InfoFormat).
async fn configure_as(
    device: SocketAddr,
    (address, format): (&str, u32),
    port: u16,
    root: Vec<u8>,
    (user, password): (&str, &str),
    rule: &'static str,
) {
    let (address, user, password) = (address.to_string(), user.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || {
        let mut c = Client::new(device, USER, PASSWORD);
        let blob = base64::engine::general_purpose::STANDARD.encode(&root);
        let r = c.invoke(
            "AMT_PublicKeyManagementService",
            "AddTrustedRootCertificate",
            "",
            &format!("<h:CertificateBlob>{blob}</h:CertificateBlob>"),
        );
        assert_eq!(return_value(&r.text()).as_deref(), Some("0"), "{}", r.text());
        let r = c.invoke(
            "AMT_RemoteAccessService",
            "AddMpServer",
            "",
            &format!(
                "<h:AccessInfo>{address}</h:AccessInfo><h:InfoFormat>{format}</h:InfoFormat><h:Port>{port}</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>{user}</h:Username><h:Password>{password}</h:Password><h:CN>{cn}</h:CN>",
                cn = if format == 201 { address.as_str() } else { MPS_NAME },
            ),
        );
        assert_eq!(return_value(&r.text()).as_deref(), Some("0"), "{}", r.text());
        let text = r.text();
        let name = text
            .split(r#"Name="Name">"#)
            .nth(1)
            .and_then(|t| t.split('<').next())
            .expect("the new server's name")
            .to_string();
        let sap = support::class_uri("AMT_ManagementPresenceRemoteSAP");
        let r = c.invoke(
            "AMT_RemoteAccessService",
            "AddRemoteAccessPolicyRule",
            "",
            &format!(
                r#"{rule}<h:MpServer><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{sap}</w:ResourceURI><w:SelectorSet><w:Selector Name="Name">{name}</w:Selector></w:SelectorSet></a:ReferenceParameters></h:MpServer>"#
            ),
        );
        assert_eq!(return_value(&r.text()).as_deref(), Some("0"), "{}", r.text());
        let r = c.put_edited(
            "AMT_EnvironmentDetectionSettingData",
            "<r:InstanceID>",
            "<r:DetectionStrings>a1b2c3d4e5f6.com</r:DetectionStrings><r:InstanceID>",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    })
    .await
    .expect("configured");
}

/// The next tunnel, which must come from `from`.
async fn accept_from(mps: &Mps, from: Ipv4Addr) -> MpsTunnel {
    accept_through(mps, from, 5900).await
}

/// The next tunnel, from `from`, once `last` (the last port its firmware
/// forwards) is forwarded.
async fn accept_through(mps: &Mps, from: Ipv4Addr, last: u16) -> MpsTunnel {
    let mut tunnel = tokio::time::timeout(TIMEOUT, mps.accept())
        .await
        .expect("a device calls in")
        .expect("the handshake completes");
    assert_eq!(
        tunnel.peer.ip(),
        IpAddr::V4(from),
        "from the device's own address"
    );
    // 5900 is the last port 11.8 forwards (it has KVM): after its answer
    // the device counts itself connected.
    let forwarded = tokio::time::timeout(TIMEOUT, tunnel.wait_for_port(last)).await;
    assert!(
        matches!(forwarded, Ok(Ok(()))),
        "every port forwarded in time: {forwarded:?}, forwards so far {:?}",
        tunnel.ports
    );
    tunnel
}

/// One HTTP exchange on a channel.
async fn exchange(
    tunnel: &mut MpsTunnel,
    ch: &mut MpsChannel,
    request: &[u8],
) -> support::Response {
    tunnel.write(ch, request).await.expect("sent");
    let (bytes, _) = tokio::time::timeout(TIMEOUT, tunnel.read(ch, http_response_complete))
        .await
        .expect("an answer in time")
        .expect("an answer");
    read_response(&mut &bytes[..])
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&bytes)))
}

/// A Digest-authenticated WS-Man Get through the tunnel: a 401 on a first
/// channel (which the device closes after a 401, as on the LAN), then the
/// answer on a second.
async fn get_through(tunnel: &mut MpsTunnel, device: SocketAddr, class: &str) -> support::Response {
    let mut client = Client::new(device, USER, PASSWORD);
    let body = envelope_get(class, "1");
    let mut ch = tunnel.open_channel(16992).await.expect("a channel");
    let challenge = exchange(tunnel, &mut ch, &client.request_bytes(&body, None)).await;
    assert_eq!(challenge.status, 401);
    let (_, closed) = tokio::time::timeout(TIMEOUT, tunnel.read(&mut ch, |_| false))
        .await
        .expect("closed in time")
        .expect("the channel closes");
    assert!(closed, "the device closes the channel after a 401");
    let www = challenge.header("www-authenticate").unwrap().to_string();
    client.realm = support::challenge_param(&www, "realm");
    client.nonce = support::challenge_param(&www, "nonce");
    let mut ch = tunnel.open_channel(16992).await.expect("a channel");
    let auth = client.authorization("POST", "/wsman");
    let answer = exchange(tunnel, &mut ch, &client.request_bytes(&body, Some(&auth))).await;
    tunnel.close(&ch).await.expect("closed cleanly");
    answer
}

/// The reply's Body element: headers carry per-message ids.
fn body_of(text: &str) -> String {
    let start = text.find("Body>").expect("a body");
    let end = text.rfind("Body>").expect("a body end");
    text[start..end].to_string()
}

async fn direct_get(device: SocketAddr, class: &'static str) -> String {
    tokio::task::spawn_blocking(move || Client::new(device, USER, PASSWORD).get(class).text())
        .await
        .unwrap()
}

async fn wait_for_phase(emulator: &Emulator, index: usize, phase: CiraPhase) {
    let endpoint = emulator.fleet().get(index).unwrap();
    let status = &endpoint.cira;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while status.snapshot().phase != phase {
        assert!(
            tokio::time::Instant::now() < deadline,
            "device {index} never {phase:?}: {:?}",
            status.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_calls_home_and_serves_wsman_through_the_tunnel() {
    let (a, b) = (unique_address(), unique_address());
    let pki = pki(MPS_NAME);
    let mps = bind_mps(&pki).await;
    let mps_addr = mps.local_addr().unwrap();
    let emulator = start(&[a, b]).await;
    let dev_a = SocketAddr::new(IpAddr::V4(a), 16992);
    let dev_b = SocketAddr::new(IpAddr::V4(b), 16992);
    let cira = |i: usize| emulator.fleet().get(i).unwrap().cira.snapshot();
    assert_eq!(cira(0).phase, CiraPhase::Off);

    configure(dev_a, mps_addr, pki.root.clone(), MPS_PASSWORD).await;
    let mut tunnel_a = accept_from(&mps, a).await;
    assert_eq!(
        tunnel_a.uuid.map(|u| u.0),
        Some(emulator.fleet().get(0).unwrap().device.identity.uuid),
        "PROTOCOLVERSION carries the platform UUID"
    );
    assert_eq!(tunnel_a.username.as_deref(), Some(MPS_USER));
    assert_eq!(
        tunnel_a.ports,
        [16993, 16992, 664, 623, 16995, 16994, 5900],
        "firmware's order, TLS ports included while TLS is on"
    );
    wait_for_phase(&emulator, 0, CiraPhase::Connected).await;
    assert_eq!(cira(0).mps.as_deref(), Some(mps_addr.to_string().as_str()));

    // The same body through the tunnel as directly.
    let through = get_through(&mut tunnel_a, dev_a, "AMT_GeneralSettings").await;
    assert_eq!(through.status, 200);
    let direct = direct_get(dev_a, "AMT_GeneralSettings").await;
    assert_eq!(body_of(&through.text()), body_of(&direct));
    assert!(cira(0).channels >= 1);

    // A second device on the same MPS.
    configure(dev_b, mps_addr, pki.root.clone(), MPS_PASSWORD).await;
    let mut tunnel_b = accept_from(&mps, b).await;

    // Each malformed message closes A's tunnel with its reason; B keeps
    // serving, and A calls in again.
    let overrun = {
        // CHANNEL_DATA whose length runs past the packet's end (and past
        // any packet the device accepts).
        let mut m = vec![code::CHANNEL_DATA];
        m.extend(1u32.to_be_bytes());
        m.extend(0xFFFF_FF00u32.to_be_bytes());
        m
    };
    let unknown_type = vec![0x77, 0, 0, 0, 0];
    let mut never_opened = Vec::new();
    amtemu_apf::encode(
        &Message::ChannelData {
            recipient_channel: 999,
            data: b"hello".to_vec(),
        },
        &mut never_opened,
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("length overrun", overrun),
        ("unknown type", unknown_type),
        ("never-opened channel", never_opened),
        ("window overrun", Vec::new()),
    ];
    for (what, bytes) in cases {
        if bytes.is_empty() {
            // More than the device's window in one go on a real channel.
            let ch = tunnel_a.open_channel(16992).await.unwrap();
            tunnel_a
                .send(&Message::ChannelData {
                    recipient_channel: ch.theirs,
                    data: vec![b'x'; ch.window as usize + 1],
                })
                .await
                .unwrap();
        } else {
            tunnel_a.send_raw(&bytes).await.unwrap();
        }
        let reason = tunnel_a.disconnect_reason(TIMEOUT).await.unwrap();
        assert_eq!(reason, Some(DisconnectReason::ProtocolError), "{what}");
        wait_for_phase(&emulator, 0, CiraPhase::Connecting).await;
        assert!(
            cira(0)
                .last_error
                .is_some_and(|e| e.contains("ProtocolError")),
            "{what}: {:?}",
            cira(0)
        );
        let through = get_through(&mut tunnel_b, dev_b, "AMT_GeneralSettings").await;
        assert_eq!(through.status, 200, "{what}: the neighbour still serves");
        tunnel_a = accept_from(&mps, a).await;
        wait_for_phase(&emulator, 0, CiraPhase::Connected).await;
    }
    let through = get_through(&mut tunnel_a, dev_a, "AMT_GeneralSettings").await;
    assert_eq!(through.status, 200, "A serves again after reconnecting");

    // A small window: the device's 401 (about 770 bytes) comes in pieces no
    // larger than what is left, each after the MPS's adjust (the MPS's
    // reader fails on any overrun).
    let mut ch = tunnel_a.open_channel_with_window(16992, 200).await.unwrap();
    let client = Client::new(dev_a, USER, PASSWORD);
    let body = envelope_get("AMT_GeneralSettings", "1");
    let challenge = exchange(&mut tunnel_a, &mut ch, &client.request_bytes(&body, None)).await;
    assert_eq!(challenge.status, 401, "{}", challenge.text());
    assert!(cira(0).connects >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_passwords_and_untrusted_servers_show_as_the_last_error() {
    let a = unique_address();
    let good = pki(MPS_NAME);
    let mps = bind_mps(&good).await;
    let emulator = start(&[a]).await;
    let dev = SocketAddr::new(IpAddr::V4(a), 16992);

    // The device trusts another root: the handshake fails on its side.
    let other = pki(MPS_NAME);
    configure(dev, mps.local_addr().unwrap(), other.root, "Wrong-Pass1").await;
    let refused = tokio::time::timeout(TIMEOUT, mps.accept_raw())
        .await
        .unwrap();
    assert!(refused.is_err(), "TLS must fail");
    let endpoint = emulator.fleet().get(0).unwrap();
    let status = &endpoint.cira;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !status
        .snapshot()
        .last_error
        .is_some_and(|e| e.contains("TLS handshake"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            status.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status.snapshot().phase, CiraPhase::Connecting);

    // Now trusted, but the password is wrong: the MPS refuses it and the
    // device gives up on that tunnel ("no more auth methods").
    let blob = good.root.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Client::new(dev, USER, PASSWORD);
        let blob = base64::engine::general_purpose::STANDARD.encode(&blob);
        let r = c.invoke(
            "AMT_PublicKeyManagementService",
            "AddTrustedRootCertificate",
            "",
            &format!("<h:CertificateBlob>{blob}</h:CertificateBlob>"),
        );
        assert_eq!(return_value(&r.text()).as_deref(), Some("0"));
    })
    .await
    .unwrap();
    let mut tunnel = loop {
        // Attempts already under way may still carry the old trust.
        if let Ok(Ok(t)) = tokio::time::timeout(TIMEOUT, mps.accept_raw()).await {
            break t;
        }
    };
    let refused = tunnel.handshake(MPS_USER, MPS_PASSWORD).await;
    assert!(refused.is_err());
    let reason = tunnel.disconnect_reason(TIMEOUT).await.unwrap();
    assert_eq!(reason, Some(DisconnectReason::NoMoreAuthMethodsAvailable));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !status
        .snapshot()
        .last_error
        .is_some_and(|e| e.contains("NoMoreAuthMethodsAvailable"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            status.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// MeshCentral's own MPS (npm meshcentral, mpsserver.js) run by
/// tests/clients/meshcentral-mps.js: the device, configured as
/// MeshCentral's amt manager configures one (the MPS by name, a
/// 16-character user that starts the device group's id, a periodic policy,
/// a random environment-detection suffix), connects, MeshCentral counts it
/// present, and reads and changes its power state through the tunnel with
/// its own WS-Man stack. MeshCentral's reverse lookup of the device's
/// address is answered inside the driver, so nothing leaves the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meshcentral_sees_the_device_and_powers_it_through_the_tunnel() {
    let driver = support::repo().join("tests/clients/meshcentral-mps.js");
    let present = support::clients_prefix()
        .join("node/node_modules/meshcentral/mpsserver.js")
        .exists();
    if !support::client_available(present, "MeshCentral (npm meshcentral)") {
        return;
    }
    let pki = pki("localhost");
    let dir = std::env::temp_dir().join(format!("amtemu-cira-mc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("mps.pem"), dir.join("mps-key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    // A free port on 127.0.0.1, where `localhost` resolves from /etc/hosts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A device group id as MeshCentral makes them (64 characters of
    // base64, here with no @ or $).
    let mesh_key = "OM4lFgLLcBbR4kXXsX9bW0yq2eLk3ZOQ1tTxvmCUyqG0pXrhiA8XcjKdQzGwcF7n";
    let mesh_user = &mesh_key[..16];
    let password = "Mps-Pass1!xyz";
    let mut node = std::process::Command::new("node")
        .arg(&driver)
        .args(["127.0.0.1", &port.to_string()])
        .arg(&cert)
        .arg(&key)
        .args([mesh_key, mesh_user, password, "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node starts");
    // Its stderr, line by line, on a thread of its own.
    let stderr = node.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("meshcentral: {line}");
            let _ = lines_tx.send(line);
        }
    });
    let listening = tokio::task::spawn_blocking(move || {
        while let Ok(line) = lines_rx.recv_timeout(TIMEOUT) {
            if line.contains("listening") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    if !listening {
        let _ = node.kill();
        panic!("MeshCentral's MPS did not start");
    }

    let ip = unique_address();
    let emulator = start(&[ip]).await;
    let dev = SocketAddr::new(IpAddr::V4(ip), 16992);
    configure_as(
        dev,
        ("localhost", 201),
        port,
        pki.root.clone(),
        (mesh_user, password),
        PERIODIC,
    )
    .await;

    // The driver ends on its own (verdict or its 60 s timeout).
    let output = tokio::task::spawn_blocking(move || node.wait_with_output())
        .await
        .unwrap()
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(verdict["ok"], true, "{stdout}");
    assert_eq!(
        verdict["presence"], 7,
        "MeshCentral counts the device present"
    );
    assert_eq!(
        verdict["address"],
        ip.to_string(),
        "from the device's own address"
    );
    assert_eq!(verdict["powerstate"], 2, "read through the tunnel: on");
    assert_eq!(verdict["power_off"], 0, "RequestPowerStateChange accepted");
    let device = emulator.fleet().get(0).unwrap().device.clone();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while device.with_state(|s| s.power.destination()).is_on() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the host never went off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A minimal HTTP/1.1 exchange with the control API: status and JSON body.
async fn control(addr: SocketAddr, method: &'static str, path: String) -> (u16, serde_json::Value) {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).expect("control API");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let r = read_response(&mut std::io::BufReader::new(s)).expect("an answer");
        (r.status, serde_json::from_slice(&r.body).unwrap_or_default())
    })
    .await
    .unwrap()
}

/// With only a user-initiated rule the device stays off CIRA until host
/// software asks (the control API stands in for it): it then calls in
/// with trigger "user initiated", and hangs up with "by application" when
/// the rule's tunnel lifetime ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_initiated_connection_is_asked_for_through_the_control_api() {
    let ip = unique_address();
    let pki = pki(MPS_NAME);
    let mps = bind_mps(&pki).await;
    let emulator = start_with(
        vec![spec("cira-user", IpAddr::V4(ip))],
        Some(SocketAddr::new(IpAddr::V4(ip), 0)),
    )
    .await;
    let api = emulator.control_addr().expect("a control API");
    let dev = SocketAddr::new(IpAddr::V4(ip), 16992);
    let mps_addr = mps.local_addr().unwrap();
    let address = mps_addr.ip().to_string();
    configure_as(
        dev,
        (&address, 3),
        mps_addr.port(),
        pki.root.clone(),
        (MPS_USER, MPS_PASSWORD),
        USER_INITIATED,
    )
    .await;
    let path = "/api/v1/devices/cira-user/cira".to_string();
    let (status, state) = control(api, "GET", path.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "off", "{state}");

    // Refused while the service is disabled (its factory state). The
    // configuration's change events are let through first, so the
    // answer below is the one to the request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = control(api, "POST", format!("{path}/connect")).await;
    assert_eq!(status, 202);
    let refused = tokio::time::timeout(Duration::from_secs(2), mps.accept_raw()).await;
    assert!(
        refused.is_err(),
        "no tunnel while user-initiated connections are disabled"
    );
    let (_, state) = control(api, "GET", path.clone()).await;
    assert!(
        state["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("disabled")),
        "{state}"
    );

    tokio::task::spawn_blocking(move || {
        let r = Client::new(dev, USER, PASSWORD).invoke(
            "AMT_UserInitiatedConnectionService",
            "RequestStateChange",
            "",
            "<h:RequestedState>32771</h:RequestedState>",
        );
        assert_eq!(
            return_value(&r.text()).as_deref(),
            Some("0"),
            "{}",
            r.text()
        );
    })
    .await
    .unwrap();
    let (status, _) = control(api, "POST", format!("{path}/connect")).await;
    assert_eq!(status, 202);
    let mut tunnel = accept_from(&mps, ip).await;
    assert_eq!(tunnel.trigger, Some(TriggerReason::UserInitiated));
    wait_for_phase(&emulator, 0, CiraPhase::Connected).await;
    let (_, state) = control(api, "GET", path.clone()).await;
    assert_eq!(state["state"], "connected", "{state}");
    assert_eq!(state["mps"], mps_addr.to_string());

    let reason = tunnel.disconnect_reason(TIMEOUT).await.unwrap();
    assert_eq!(reason, Some(DisconnectReason::ByApplication));
    wait_for_phase(&emulator, 0, CiraPhase::Off).await;
    let detail = control(api, "GET", "/api/v1/devices/cira-user".into())
        .await
        .1;
    assert_eq!(detail["cira"]["connects"], 1, "{detail}");
}

/// A local port that stands for the device's `port` through the tunnel
/// (the MPS relays each of `connections` connections on a channel of its
/// own), handed to `client`, which runs on a thread of its own.
async fn through_tunnel<T: Send + 'static>(
    tunnel: &mut MpsTunnel,
    port: u16,
    connections: usize,
    client: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> T {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let local = listener.local_addr().unwrap();
    let client = tokio::task::spawn_blocking(move || client(local));
    let relay = tokio::time::timeout(
        Duration::from_secs(60),
        tunnel.forward(&listener, port, connections),
    );
    let (relayed, out) = tokio::join!(relay, client);
    let out = out.expect("the client finished");
    relayed
        .expect("every connection relayed in time")
        .expect("relayed");
    out
}

/// What a console sends to open port 5900 with an RFB password, with no
/// user consent for KVM.
fn enable_kvm(device: SocketAddr) {
    let mut client = Client::new(device, USER, PASSWORD);
    no_consent_needed(&mut client);
    let r = enable_5900(&mut client, "P@ssw0rd");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The device's screen now, as the RGB565 values a KVM client receives.
/// Called from the blocking client threads, which may wait on the runtime.
fn screen_of(device: &amtemu_model::device::Device) -> Vec<u16> {
    let png = tokio::runtime::Handle::current()
        .block_on(amtemu_server::redirect::kvm::screenshot(device))
        .expect("a screenshot");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a PNG");
    let mut data = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut data).expect("a frame");
    let step = info.color_type.samples();
    let scale = |c: u8, max: u32| (u32::from(c) * max + 127) / 255;
    data[..info.buffer_size()]
        .chunks(step)
        .map(|p| ((scale(p[0], 31) << 11) | (scale(p[1], 63) << 5) | scale(p[2], 31)) as u16)
        .collect()
}

/// Through the tunnel, the MPS's channels reach the same servers as the
/// LAN: WS-Man over TLS inside a 16993 channel answers as 16993 does (same
/// body, same TLS), DASH's 664 and 623 are the web server too, KVMR on a
/// 16994 channel shows the host's screen, and a 5900 channel is port 5900
/// with its RFB password (vncdotool, when installed, captures the screen
/// through it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_kvm_channels_are_served_as_the_lan_ports_are() {
    let ip = unique_address();
    let pki = pki(MPS_NAME);
    let mps = bind_mps(&pki).await;
    let emulator = start(&[ip]).await;
    let device = emulator.fleet().get(0).unwrap().device.clone();
    let dev = SocketAddr::new(IpAddr::V4(ip), 16992);
    tokio::task::spawn_blocking(move || enable_kvm(dev))
        .await
        .unwrap();
    configure(
        dev,
        mps.local_addr().unwrap(),
        pki.root.clone(),
        MPS_PASSWORD,
    )
    .await;
    let mut tunnel = accept_from(&mps, ip).await;

    // WS-Man over TLS: a 401 on a first connection, the answer on a second.
    let get_tls = |addr: SocketAddr| {
        let mut c = provisioner::TlsClient::new(addr, USER, PASSWORD, None);
        let r = c.get("AMT_GeneralSettings").expect("an answer over TLS");
        (r.status, r.text(), c.negotiated())
    };
    let (status, through, tls_through) = through_tunnel(&mut tunnel, 16993, 2, get_tls).await;
    assert_eq!(status, 200, "{through}");
    let lan = SocketAddr::new(IpAddr::V4(ip), 16993);
    let (_, direct, tls_direct) = tokio::task::spawn_blocking(move || get_tls(lan))
        .await
        .unwrap();
    assert_eq!(body_of(&through), body_of(&direct), "the same answer");
    assert!(tls_through.is_some());
    assert_eq!(tls_through, tls_direct, "the same TLS version and suite");

    // 664 is the TLS web server too, 623 the plain one.
    let (status, text, _) = through_tunnel(&mut tunnel, 664, 2, get_tls).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body_of(&text), body_of(&direct));
    let answer = get_through_port(&mut tunnel, dev, 623).await;
    assert_eq!(answer.status, 200);

    // KVMR: the screen through the tunnel is the host's screen.
    let host = device.clone();
    let same = through_tunnel(&mut tunnel, 16994, 1, move |addr| {
        let mut v = kvmr(addr);
        support::eventually(Duration::from_secs(20), || {
            v.update(false);
            v.screen == screen_of(&host)
        })
    })
    .await;
    assert!(same, "KVMR through the tunnel shows the host's screen");

    // 5900: VNC authentication with the RFB password, then RFB.
    let (result, same) = through_tunnel(&mut tunnel, 5900, 1, {
        let host = device.clone();
        move |addr| {
            let mut v = Viewer::connect(addr);
            assert_eq!(v.take(12), b"RFB 004.000\n");
            let result = v.vnc_auth(b"P@ssw0rd");
            v.init();
            let same = support::eventually(Duration::from_secs(20), || {
                v.update(false);
                v.screen == screen_of(&host)
            });
            (result, same)
        }
    })
    .await;
    assert_eq!(result, 0, "the RFB password opens 5900 through the tunnel");
    assert!(same, "5900 through the tunnel shows the host's screen");

    // vncdotool, a real VNC client, through the same kind of channel.
    let vncdo = support::clients_prefix().join("venv/bin/vncdo");
    if support::client_available(vncdo.exists(), "vncdotool") {
        let dir = std::env::temp_dir().join(format!("amtemu-cira-vncdo-{ip}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("capture.png");
        let capture = file.clone();
        let out = through_tunnel(&mut tunnel, 5900, 1, move |addr| {
            std::process::Command::new(&vncdo)
                .args(["-s", &format!("{}::{}", addr.ip(), addr.port())])
                .args(["-p", "P@ssw0rd", "capture"])
                .arg(&capture)
                .output()
                .expect("vncdo runs")
        })
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&file).expect("vncdotool wrote the capture"),
        ));
        let info = decoder.read_info().expect("a PNG");
        assert_eq!((info.info().width, info.info().height), (720, 400));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        tunnel.keepalives > 0 || emulator.fleet().get(0).unwrap().cira.snapshot().channels >= 8
    );
}

/// `get_through` on another plain WS-Man port.
async fn get_through_port(
    tunnel: &mut MpsTunnel,
    device: SocketAddr,
    port: u16,
) -> support::Response {
    let mut client = Client::new(device, USER, PASSWORD);
    let body = envelope_get("AMT_GeneralSettings", "1");
    let mut ch = tunnel.open_channel(port).await.expect("a channel");
    let challenge = exchange(tunnel, &mut ch, &client.request_bytes(&body, None)).await;
    assert_eq!(challenge.status, 401);
    let (_, closed) = tokio::time::timeout(TIMEOUT, tunnel.read(&mut ch, |_| false))
        .await
        .expect("closed in time")
        .expect("the channel closes");
    assert!(closed);
    let www = challenge.header("www-authenticate").unwrap().to_string();
    client.realm = support::challenge_param(&www, "realm");
    client.nonce = support::challenge_param(&www, "nonce");
    let mut ch = tunnel.open_channel(port).await.expect("a channel");
    let auth = client.authorization("POST", "/wsman");
    let answer = exchange(tunnel, &mut ch, &client.request_bytes(&body, Some(&auth))).await;
    tunnel.close(&ch).await.expect("closed cleanly");
    answer
}

/// The device's TLS toward the MPS is its firmware's (spec §1): an 11.8
/// device (before 12.0: TLS 1.0 and 1.1, static-RSA CBC suites) gets TLS
/// 1.1 from an MPS that accepts everything, as MeshCentral's does; a 16.1
/// device (TLS 1.2 only) gets TLS 1.2 with one of its row's suites. A 16.1
/// device also forwards the plain ports its LAN side no longer opens:
/// the MPSs talk plain WS-Man to 16992 inside the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tunnel_speaks_the_tls_of_the_firmware_row() {
    use amtemu_model::device::Firmware;
    let (old, new) = (unique_address(), unique_address());
    let pki = pki(MPS_NAME);
    let mps = bind_mps(&pki).await;
    let mut modern = spec("cira-16", IpAddr::V4(new));
    modern.config.firmware = Firmware::by_name("16.1").expect("a profile");
    let emulator = start_with(vec![spec("cira-11", IpAddr::V4(old)), modern], None).await;
    let mps_addr = mps.local_addr().unwrap();

    configure(
        SocketAddr::new(IpAddr::V4(old), 16992),
        mps_addr,
        pki.root.clone(),
        MPS_PASSWORD,
    )
    .await;
    let tunnel = accept_from(&mps, old).await;
    assert_eq!(tunnel.tls_version, "TLSv1.1", "the highest of 11.8's row");
    assert!(
        ["AES256-SHA", "AES128-SHA"].contains(&tunnel.cipher.as_str()),
        "a suite of 11.8's row: {}",
        tunnel.cipher
    );

    // 16.1 answers WS-Man on 16993 only: it is configured over TLS.
    let blob = base64::engine::general_purpose::STANDARD.encode(&pki.root);
    let device = SocketAddr::new(IpAddr::V4(new), 16993);
    let sap = support::class_uri("AMT_ManagementPresenceRemoteSAP");
    let (address, port) = (mps_addr.ip().to_string(), mps_addr.port());
    tokio::task::spawn_blocking(move || {
        let mut c = provisioner::TlsClient::new(device, USER, PASSWORD, None);
        let mut invoke = |class: &str, method: &str, args: &str| {
            let r = c.invoke(class, method, args).expect("an answer");
            assert_eq!(return_value(&r.text()).as_deref(), Some("0"), "{}", r.text());
        };
        invoke(
            "AMT_PublicKeyManagementService",
            "AddTrustedRootCertificate",
            &format!("<h:CertificateBlob>{blob}</h:CertificateBlob>"),
        );
        invoke(
            "AMT_RemoteAccessService",
            "AddMpServer",
            &format!(
                "<h:AccessInfo>{address}</h:AccessInfo><h:InfoFormat>3</h:InfoFormat><h:Port>{port}</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>{MPS_USER}</h:Username><h:Password>{MPS_PASSWORD}</h:Password><h:CN>{MPS_NAME}</h:CN>"
            ),
        );
        invoke(
            "AMT_RemoteAccessService",
            "AddRemoteAccessPolicyRule",
            &format!(
                r#"{PERIODIC}<h:MpServer><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{sap}</w:ResourceURI><w:SelectorSet><w:Selector Name="Name">Intel(r) AMT:Management Presence Server 0</w:Selector></w:SelectorSet></a:ReferenceParameters></h:MpServer>"#
            ),
        );
        const CLASS: &str = "AMT_EnvironmentDetectionSettingData";
        let current = c.get(CLASS).expect("an answer").text();
        let start = current.find(&format!("<g:{CLASS}>")).expect("the instance");
        let end = current.find("</a:Body>").expect("the body");
        let body = current[start..end]
            .replace("g:", "r:")
            .replace(
                &format!("<r:{CLASS}>"),
                &format!(r#"<r:{CLASS} xmlns:r="{}">"#, support::class_uri(CLASS)),
            )
            .replace(
                "<r:InstanceID>",
                "<r:DetectionStrings>a1b2c3d4e5f6.com</r:DetectionStrings><r:InstanceID>",
            );
        let id = c.digest.next_message_id();
        let r = c
            .post(&support::envelope(support::ACTION_PUT, CLASS, &id, "", &body))
            .expect("an answer");
        assert_eq!(r.status, 200, "{}", r.text());
    })
    .await
    .unwrap();
    let mut tunnel = accept_through(&mps, new, 16994).await;
    assert_eq!(tunnel.tls_version, "TLSv1.2", "16.1's row is TLS 1.2 only");
    assert_eq!(
        tunnel.ports,
        [16993, 16992, 664, 623, 16995, 16994],
        "the plain ports too, and no 5900 (gone in 16)"
    );
    let answer = get_through(
        &mut tunnel,
        SocketAddr::new(IpAddr::V4(new), 16992),
        "AMT_GeneralSettings",
    )
    .await;
    assert_eq!(answer.status, 200, "plain WS-Man inside the tunnel");
    drop(emulator);
}

/// Reads the control API's event stream on a thread of its own and sends
/// on each `cira_*` event's JSON.
fn cira_events(api: SocketAddr, device: &str) -> std::sync::mpsc::Receiver<serde_json::Value> {
    use std::io::{BufRead, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut s = std::net::TcpStream::connect(api).expect("control API");
    write!(
        s,
        "GET /api/v1/events?device={device} HTTP/1.1\r\nHost: {api}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(s).lines().map_while(Result::ok) {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                continue;
            };
            let kind = v["event"]["type"].as_str().unwrap_or_default();
            if kind.starts_with("cira_") && tx.send(v["event"].clone()).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next CIRA event of the stream.
async fn next_cira_event(rx: &std::sync::mpsc::Receiver<serde_json::Value>) -> serde_json::Value {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(v) = rx.try_recv() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "no CIRA event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tunnel's comings and goings are on the control API's event stream
/// (connecting, connected, disconnected with the reason), and the faults
/// a scenario or the API puts on a tunnel behave as on a network: a cut
/// drops the connection without a DISCONNECT and the device calls in
/// again; a silent path stops the keep-alives both ways until the
/// device's silence limit (three intervals, here of 1 s as the MPS asked)
/// gives the tunnel up, again without a word to the MPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_changes_are_events_and_cuts_and_silences_end_it_without_a_word() {
    let ip = unique_address();
    let pki = pki(MPS_NAME);
    let mps = bind_mps(&pki).await;
    let emulator = start_with(
        vec![spec("cira-ev", IpAddr::V4(ip))],
        Some(SocketAddr::new(IpAddr::V4(ip), 0)),
    )
    .await;
    let api = emulator.control_addr().expect("a control API");
    let events = cira_events(api, "cira-ev");
    let path = "/api/v1/devices/cira-ev/cira".to_string();
    let (status, _) = control(api, "POST", format!("{path}/cut")).await;
    assert_eq!(status, 409, "no tunnel to cut");

    let dev = SocketAddr::new(IpAddr::V4(ip), 16992);
    let mps_addr = mps.local_addr().unwrap();
    configure(dev, mps_addr, pki.root.clone(), MPS_PASSWORD).await;
    let mut tunnel = accept_from(&mps, ip).await;
    let connecting = next_cira_event(&events).await;
    assert_eq!(connecting["type"], "cira_connecting", "{connecting}");
    assert_eq!(connecting["mps"], mps_addr.to_string());
    assert_eq!(connecting["trigger"], "periodic");
    let connected = next_cira_event(&events).await;
    assert_eq!(connected["type"], "cira_connected", "{connected}");
    wait_for_phase(&emulator, 0, CiraPhase::Connected).await;

    // Cut: the MPS sees the connection end with no DISCONNECT.
    let (status, _) = control(api, "POST", format!("{path}/cut")).await;
    assert_eq!(status, 202);
    let reason = tunnel.disconnect_reason(TIMEOUT).await.unwrap();
    assert_eq!(reason, None, "no DISCONNECT before a cut");
    let gone = next_cira_event(&events).await;
    assert_eq!(gone["type"], "cira_disconnected", "{gone}");
    assert!(
        gone["reason"].as_str().is_some_and(|r| r.contains("cut")),
        "{gone}"
    );

    // Back after the backoff; the MPS sets a 1 s keep-alive interval.
    let mut tunnel = accept_from(&mps, ip).await;
    assert_eq!(next_cira_event(&events).await["type"], "cira_connecting");
    assert_eq!(next_cira_event(&events).await["type"], "cira_connected");
    tunnel
        .send(&Message::KeepaliveOptionsRequest {
            interval: 1,
            timeout: 0,
        })
        .await
        .unwrap();
    // Wait for the answer and a keep-alive or two at the new pace.
    // (The MPS answers keep-alives inside `next`, which returns only for
    // other messages: it is polled in short turns to watch the count.)
    let paced = tokio::time::timeout(TIMEOUT, async {
        while tunnel.keepalives < 2 {
            if let Ok(Err(e)) =
                tokio::time::timeout(Duration::from_millis(500), tunnel.next()).await
            {
                panic!("{e}");
            }
        }
    })
    .await;
    assert!(paced.is_ok(), "keep-alives every second");

    let (status, _) = control(api, "POST", format!("{path}/silence")).await;
    assert_eq!(status, 202);
    let before = tunnel.keepalives;
    let started = tokio::time::Instant::now();
    let reason = tunnel.disconnect_reason(TIMEOUT).await.unwrap();
    assert_eq!(reason, None, "no DISCONNECT over a dead path");
    assert!(
        // Three 1 s intervals from what the device last heard, which may
        // be up to an interval before the fault.
        started.elapsed() >= Duration::from_millis(1500),
        "given up after the silence limit, not at once: {:?}",
        started.elapsed()
    );
    assert!(
        tunnel.keepalives <= before + 1,
        "no keep-alives while the path is quiet"
    );
    let gone = next_cira_event(&events).await;
    assert_eq!(gone["type"], "cira_disconnected", "{gone}");
    assert!(
        gone["reason"].as_str().is_some_and(|r| r.contains("quiet")),
        "{gone}"
    );
    let mut tunnel = accept_from(&mps, ip).await;
    wait_for_phase(&emulator, 0, CiraPhase::Connected).await;
    assert_eq!(emulator.fleet().get(0).unwrap().cira.snapshot().connects, 3);

    // The cable pulled (a fault through the control API): the path goes
    // quiet as above, and no new tunnel is tried until the cable is back,
    // when the device calls at once rather than after its backoff.
    tunnel
        .send(&Message::KeepaliveOptionsRequest {
            interval: 1,
            timeout: 0,
        })
        .await
        .unwrap();
    let reply = tokio::time::timeout(TIMEOUT, tunnel.next()).await;
    assert!(
        matches!(reply, Ok(Ok(Message::KeepaliveOptionsReply { .. }))),
        "{reply:?}"
    );
    let (status, _) = put_json(
        api,
        "/api/v1/devices/cira-ev/faults",
        r#"{"offline": true}"#,
    )
    .await;
    assert_eq!(status, 200);
    let reason = tunnel.disconnect_reason(TIMEOUT).await.unwrap();
    assert_eq!(reason, None, "no DISCONNECT over a pulled cable");
    let retried = tokio::time::timeout(Duration::from_secs(3), mps.accept_raw()).await;
    assert!(retried.is_err(), "no tunnel while the cable is out");
    assert!(
        cira(&emulator)
            .last_error
            .is_some_and(|e| e.contains("cable")),
        "{:?}",
        cira(&emulator)
    );
    let (status, _) = control(api, "DELETE", "/api/v1/devices/cira-ev/faults".into()).await;
    assert_eq!(status, 200);
    let back = tokio::time::timeout(Duration::from_secs(2), mps.accept()).await;
    assert!(back.is_ok(), "called again as soon as the cable was back");
}

fn cira(emulator: &Emulator) -> amtemu_server::endpoint::cira::CiraSnapshot {
    emulator.fleet().get(0).unwrap().cira.snapshot()
}

/// A PUT of a JSON body to the control API: status and JSON answer.
async fn put_json(
    addr: SocketAddr,
    path: &'static str,
    body: &'static str,
) -> (u16, serde_json::Value) {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).expect("control API");
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let r = read_response(&mut std::io::BufReader::new(s)).expect("an answer");
        (r.status, serde_json::from_slice(&r.body).unwrap_or_default())
    })
    .await
    .unwrap()
}
