//! WS-Eventing from outside: a console subscribes over WS-Man (in
//! MeshCommander's request form), changes power over WS-Man, and the
//! device POSTs the events to a listener on loopback; Unsubscribe stops
//! them; a subscription with credentials is delivered with Digest; a
//! restart keeps subscriptions.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use support::*;

const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
const PUSH: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push";
const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
/// How long a test waits for an event before it fails (a bound, not a
/// measurement: events normally arrive within milliseconds).
const WAIT: Duration = Duration::from_secs(30);

/// One POST the listener received.
#[derive(Debug)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: String,
}

/// An HTTP listener on loopback that records every POST. With a
/// password it asks for Digest first and records only authenticated
/// requests.
fn listener(digest_password: Option<&'static str>) -> (SocketAddr, mpsc::Receiver<Received>) {
    let server = TcpListener::bind((unique_address(), 0)).unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in server.incoming() {
            let Ok(stream) = stream else { continue };
            let Some(request) = read_request(&stream) else {
                continue;
            };
            let mut out = &stream;
            if let Some(password) = digest_password
                && !digest_ok(&request, password)
            {
                let _ = out.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"listener\", nonce=\"n0nce\", qop=\"auth\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let _ =
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send(request).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_string());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        authorization,
        body: String::from_utf8(body).ok()?,
    })
}

/// Checks a Digest Authorization for user `listener` (RFC 2617, qop=auth).
fn digest_ok(request: &Received, password: &str) -> bool {
    let Some(header) = &request.authorization else {
        return false;
    };
    let Some(c) = amtemu_wire::digest::parse_authorization(header) else {
        return false;
    };
    let ha1 = md5_hex(&format!("{}:listener:{password}", c.username));
    let ha2 = md5_hex(&format!("POST:{}", c.uri));
    let expected = md5_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        c.nonce,
        c.nc.unwrap_or_default(),
        c.cnonce.unwrap_or_default()
    ));
    c.username == "listener" && c.nonce == "n0nce" && c.response == expected
}

/// MeshCommander's Subscribe (amt-wsman.js ExecSubscribe): the filter by
/// its InstanceID, the address, an opaque reference parameter, and with
/// credentials the IssuedTokens header and wsman:Auth.
fn subscribe(c: &mut Client, url: &str, tag: &str, credentials: Option<(&str, &str)>) -> Response {
    let id = c.next_message_id();
    let (token, auth) = match credentials {
        Some((user, pass)) => (
            format!(
                r#"<t:IssuedTokens xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:se="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><t:RequestSecurityTokenResponse><t:TokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#UsernameToken</t:TokenType><t:RequestedSecurityToken><se:UsernameToken><se:Username>{user}</se:Username><se:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PasswordText">{pass}</se:Password></se:UsernameToken></t:RequestedSecurityToken></t:RequestSecurityTokenResponse></t:IssuedTokens>"#
            ),
            r#"<w:Auth Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"/>"#,
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        r#"<e:Subscribe xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:m="http://x.com"><e:Delivery Mode="{PUSH}"><e:NotifyTo><a:Address>{url}</a:Address><a:ReferenceParameters><m:arg>{tag}</m:arg></a:ReferenceParameters></e:NotifyTo>{auth}</e:Delivery></e:Subscribe>"#
    );
    c.post(&envelope(
        SUBSCRIBE,
        "CIM_FilterCollection",
        &id,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT:All</w:Selector></w:SelectorSet>{token}"#
        ),
        &body,
    ))
}

/// MeshCommander's Unsubscribe (deleteSubscriptionButton): the
/// subscription by its Filter and Handler references.
fn unsubscribe(c: &mut Client, listener_name: &str) -> Response {
    let id = c.next_message_id();
    let selectors = format!(
        r#"<w:SelectorSet><w:Selector Name="Filter"><a:EndpointReference><a:Address>{ANONYMOUS}</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT:All</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector><w:Selector Name="Handler"><a:EndpointReference><a:Address>{ANONYMOUS}</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">CIM_ListenerDestinationWSMAN</w:Selector><w:Selector Name="Name">{listener_name}</w:Selector><w:Selector Name="SystemCreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="SystemName">Intel(r) AMT</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector></w:SelectorSet>"#,
        class_uri("CIM_FilterCollection"),
        class_uri("CIM_ListenerDestinationWSManagement"),
    );
    c.post(&envelope(
        UNSUBSCRIBE,
        "CIM_FilterCollectionSubscription",
        &id,
        &selectors,
        r#"<e:Unsubscribe xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing"/>"#,
    ))
}

/// The alert's MessageID (the header has a MessageID of its own).
fn alert_id(event: &Received) -> Option<String> {
    let alert = event.body.split("<a:Body>").nth(1)?;
    element_text(alert, "MessageID")
}

/// Waits until `path` has received events with all of `ids`, in any order
/// (each delivery is its own connection, so they may overtake each
/// other); returns them in the order of `ids`. Events for other paths go
/// to `others`.
fn events_with(
    rx: &mpsc::Receiver<Received>,
    path: &str,
    ids: &[&str],
    others: &mut Vec<Received>,
) -> Vec<Received> {
    let mut found: Vec<Option<Received>> = ids.iter().map(|_| None).collect();
    while found.iter().any(Option::is_none) {
        let got = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{path} did not receive all of {ids:?}"));
        if got.path != path {
            others.push(got);
            continue;
        }
        let id = alert_id(&got);
        if let Some(at) = ids.iter().position(|i| Some(*i) == id.as_deref())
            && found[at].is_none()
        {
            found[at] = Some(got);
        }
    }
    found.into_iter().flatten().collect()
}

fn event_with(
    rx: &mpsc::Receiver<Received>,
    path: &str,
    message_id: &str,
    others: &mut Vec<Received>,
) -> Received {
    events_with(rx, path, &[message_id], others).remove(0)
}

fn start() -> Emulator {
    Emulator::start(&[
        "--firmware",
        "11.8",
        "--boot-ms",
        "100",
        "--shutdown-ms",
        "100",
    ])
}

#[test]
fn power_events_reach_the_subscriber_until_it_unsubscribes() {
    let emu = start();
    let mut c = emu.client();
    let (addr, rx) = listener(None);
    let r = subscribe(&mut c, &format!("http://{addr}/a"), "console-a", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("SubscribeResponse"), "{}", r.text());
    let r = subscribe(&mut c, &format!("http://{addr}/b"), "console-b", None);
    assert_eq!(r.status, 200, "{}", r.text());
    // Shown as firmware shows subscribers.
    let listeners = c.enumerate("CIM_ListenerDestination").concat();
    assert!(
        listeners.contains(&format!("http://{addr}/a")),
        "{listeners}"
    );
    assert_eq!(
        element_texts(
            &c.enumerate("CIM_FilterCollectionSubscription").concat(),
            "Filter"
        )
        .len(),
        2
    );

    let mut others = Vec::new();
    assert_eq!(c.request_power(8).status, 200);
    let off = event_with(&rx, "/a", "PLAT0362", &mut others);
    let body = &off.body;
    assert_eq!(
        element_text(body, "Action").as_deref(),
        Some("http://schemas.dmtf.org/wbem/wsman/1/wsman/Event")
    );
    assert_eq!(element_text(body, "arg").as_deref(), Some("console-a"));
    assert_eq!(
        element_text(body, "IndicationFilterName").as_deref(),
        Some("Intel(r) AMT:All")
    );
    assert_eq!(element_text(body, "OwningEntity").as_deref(), Some("DMTF"));
    assert!(body.contains("<g:CIM_AlertIndication>"), "{body}");

    // Power on: the state entered and the boot that follows.
    assert_eq!(c.request_power(2).status, 200);
    events_with(&rx, "/a", &["PLAT0354", "PLAT0298"], &mut others);

    let r = unsubscribe(&mut c, "Intel(r) AMT:Listener 1");
    assert_eq!(r.status, 200, "{}", r.text());
    let listeners = c.enumerate("CIM_ListenerDestination").concat();
    assert!(
        !listeners.contains(&format!("http://{addr}/a")),
        "{listeners}"
    );
    // Unsubscribing again is refused.
    assert_eq!(unsubscribe(&mut c, "Intel(r) AMT:Listener 1").status, 400);

    // Everything /a was sent was sent before the Unsubscribe was answered;
    // drain what is in flight for /b, then count.
    others.retain(|r| r.path != "/b");
    while let Ok(got) = rx.try_recv() {
        if got.path != "/b" {
            others.push(got);
        }
    }
    let before = others.len();
    assert_eq!(c.request_power(8).status, 200);
    let b_off = event_with(&rx, "/b", "PLAT0362", &mut others);
    assert_eq!(
        element_text(&b_off.body, "arg").as_deref(),
        Some("console-b")
    );
    assert_eq!(c.request_power(2).status, 200);
    events_with(&rx, "/b", &["PLAT0354", "PLAT0298"], &mut others);
    assert_eq!(
        others.len(),
        before,
        "an unsubscribed listener still got events: {:?}",
        &others[before..]
    );
}

#[test]
fn a_subscription_with_credentials_is_delivered_with_digest() {
    let emu = start();
    let mut c = emu.client();
    let (addr, rx) = listener(Some("s3cret"));
    let r = subscribe(
        &mut c,
        &format!("http://{addr}/secure"),
        "t",
        Some(("listener", "s3cret")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.request_power(8).status, 200);
    let got = event_with(&rx, "/secure", "PLAT0362", &mut Vec::new());
    assert!(got.authorization.unwrap().starts_with("Digest "));
}

#[test]
fn bad_subscriptions_are_refused_and_subscriptions_survive_a_restart() {
    let ip = unique_address().to_string();
    let dir = std::env::temp_dir().join(format!("amtemu-eventing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.to_string_lossy().into_owned();
    let args = ["--firmware", "11.8", "--state-dir", state.as_str()];
    let emu = Emulator::start_at(&ip, &args);
    let mut c = emu.client();
    // Not an address firmware takes, and the same address twice.
    let r = subscribe(&mut c, "ftp://127.0.0.1/", "x", None);
    assert_eq!(r.status, 400);
    let (addr, _rx) = listener(None);
    let url = format!("http://{addr}/kept");
    assert_eq!(subscribe(&mut c, &url, "x", None).status, 200);
    assert_eq!(subscribe(&mut c, &url, "x", None).status, 400);
    emu.kill_hard();

    let emu = Emulator::start_at(&ip, &args);
    let mut c = emu.client();
    let listeners = c.enumerate("CIM_ListenerDestination").concat();
    assert_eq!(element_texts(&listeners, "Destination"), vec![url]);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs MeshCommander's own WS-Man stack (tests/clients/meshcommander.js).
fn meshcommander(emu: &Emulator, op: &[&str]) -> serde_json::Value {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(repo().join("tests/clients/meshcommander.js"))
        .arg(emu.addr.ip().to_string())
        .arg(emu.addr.port().to_string())
        .arg(USER)
        .arg(PASSWORD)
        .args(op)
        .env("AMT_CLIENTS_PREFIX", clients_prefix())
        .stdin(std::process::Stdio::null());
    run_driver(cmd)
}

#[test]
fn meshcommander_subscribes_receives_and_unsubscribes() {
    let installed = clients_prefix()
        .join("node/node_modules/meshcentral/amt/amt.js")
        .exists();
    if !client_available(installed, "MeshCommander's stack (npm meshcentral)") {
        return;
    }
    let emu = start();
    let (addr, rx) = listener(None);
    let url = format!("http://{addr}/mesh");
    let v = meshcommander(&emu, &["subscribe", &url, "PushWithAck"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["destinations"], serde_json::json!([url]));
    assert_eq!(v["delivery_modes"], serde_json::json!([3]));
    assert!(
        v["filters"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("All")),
        "{v:#}"
    );
    let mut c = emu.client();
    assert_eq!(c.request_power(8).status, 200);
    let got = event_with(&rx, "/mesh", "PLAT0362", &mut Vec::new());
    assert!(got.body.contains("AckRequested"), "{}", got.body);
    let v = meshcommander(&emu, &["unsubscribe", &url]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["destinations"], serde_json::json!([]));
}
