//! Black-box tests of one device over HTTP on loopback: the wire layout real
//! AMT uses, digest authentication, every class of bad input, and the power
//! state machine as clients see it.

mod support;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use support::*;

const REALM_PATTERN_LEN: usize = "Digest:".len() + 32;

fn fault_subcode(xml: &str) -> Option<String> {
    support::element_texts(xml, "Value").get(1).cloned()
}

#[test]
fn the_401_challenge_has_amts_exact_layout_and_closes() {
    let emu = Emulator::start(&[]);
    let client = emu.client();
    let mut s = Client::connect(emu.addr);
    s.write_all(&client.request_bytes(&envelope_get("AMT_GeneralSettings", "0"), None))
        .unwrap();
    let mut reader = BufReader::new(s);
    let r = read_response(&mut reader).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header_names(),
        [
            "www-authenticate",
            "content-type",
            "server",
            "content-length",
            "connection"
        ]
    );
    let www = r.header("www-authenticate").unwrap();
    let realm = challenge_param(www, "realm").unwrap();
    let nonce = challenge_param(www, "nonce").unwrap();
    assert_eq!(
        www,
        format!(r#"Digest realm="{realm}", nonce="{nonce}",stale="false",qop="auth""#)
    );
    assert_eq!(realm.len(), REALM_PATTERN_LEN);
    assert!(
        realm[7..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    );
    assert_eq!(nonce.len(), 32);
    assert!(!nonce.contains('='));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.header("server"),
        Some("Intel(R) Active Management Technology 11.8.50.3425")
    );
    assert!(r.text().contains("Log on failed"));
    // The device closes the socket after a 401.
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn a_get_is_answered_chunked_in_amts_envelope_layout() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    let r = c.post(&envelope_get("AMT_GeneralSettings", "31"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header_names(),
        [
            "date",
            "server",
            "x-frame-options",
            "content-type",
            "transfer-encoding"
        ]
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/soap+xml; charset=UTF-8")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.chunk_sizes.len() >= 2, "{:?}", r.chunk_sizes);
    for size in &r.chunk_sizes {
        assert!(usize::from_str_radix(size, 16).unwrap() <= 0x2FA);
    }
    let xml = r.text();
    assert!(!xml.contains('\n'));
    assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>31</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-"#), "{xml}");
    let message_id = element_text(&xml, "MessageID").unwrap();
    assert_eq!(message_id.len(), "uuid:00000000-8086-8086-8086-".len() + 12);
    // The realm in the challenge is the realm the device reports.
    assert_eq!(element_text(&xml, "DigestRealm"), c.realm);
    assert_eq!(element_text(&xml, "HostName").as_deref(), Some("amt-0001"));
}

#[test]
fn one_nonce_serves_a_kept_alive_session_and_message_ids_grow() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = c.get("CIM_SoftwareIdentity");
        assert_eq!(r.status, 200);
        ids.push(element_text(&r.text(), "MessageID").unwrap());
    }
    assert_eq!(c.nc, 5, "no new challenge was needed");
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "MessageIDs increase");
}

#[test]
fn wrong_credentials_replays_and_unknown_nonces() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    c.challenge();
    let realm = c.realm.clone().unwrap();
    let nonce = c.nonce.clone().unwrap();
    let body = envelope_get("AMT_GeneralSettings", "1");

    let wrong = c.authorization_with("POST", "/wsman", &realm, &nonce, 1, "wrong");
    let r = Client::raw(emu.addr, &c.request_bytes(&body, Some(&wrong))).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"stale="false""#)
    );

    let good = c.authorization_with("POST", "/wsman", &realm, &nonce, 1, PASSWORD);
    let r = Client::raw(emu.addr, &c.request_bytes(&body, Some(&good))).unwrap();
    assert_eq!(r.status, 200);
    // The same nonce count again is a replay.
    let r = Client::raw(emu.addr, &c.request_bytes(&body, Some(&good))).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"stale="false""#)
    );

    // The right password with a nonce the device never issued (or has
    // retired): stale, so the client retries without asking its user.
    let old = c.authorization_with(
        "POST",
        "/wsman",
        &realm,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        1,
        PASSWORD,
    );
    let r = Client::raw(emu.addr, &c.request_bytes(&body, Some(&old))).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"stale="true""#)
    );

    // Wrong realm, wrong user, Basic: all refused.
    let other_realm = c.authorization_with(
        "POST",
        "/wsman",
        "Digest:00000000000000000000000000000000",
        &nonce,
        7,
        PASSWORD,
    );
    assert_eq!(
        Client::raw(emu.addr, &c.request_bytes(&body, Some(&other_realm)))
            .unwrap()
            .status,
        401
    );
    let mut stranger = Client::new(emu.addr, "mallory", PASSWORD);
    stranger.realm = Some(realm.clone());
    stranger.nonce = Some(nonce.clone());
    let auth = stranger.authorization("POST", "/wsman");
    assert_eq!(
        Client::raw(emu.addr, &c.request_bytes(&body, Some(&auth)))
            .unwrap()
            .status,
        401
    );
    assert_eq!(
        Client::raw(
            emu.addr,
            &c.request_bytes(&body, Some("Basic YWRtaW46UEBzc3cwcmQ="))
        )
        .unwrap()
        .status,
        401
    );
    assert_eq!(
        Client::raw(emu.addr, &c.request_bytes(&body, Some("Digest garbage")))
            .unwrap()
            .status,
        401
    );
    // None of that disturbed the device.
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

fn assert_fault(r: &Response, subcode: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let xml = r.text();
    assert_eq!(fault_subcode(&xml).as_deref(), Some(subcode), "{xml}");
    assert!(
        xml.contains("<a:Envelope xmlns:g=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\"")
    );
}

#[test]
fn unknown_and_absent_classes_are_destination_unreachable() {
    let emu = Emulator::start(&["--firmware", "3.2.1"]);
    let mut c = emu.client();
    let r = c.get("AMT_NoSuchClass");
    assert_fault(&r, "b:DestinationUnreachable");
    assert!(
        r.text()
            .contains("http://schemas.xmlsoap.org/ws/2004/08/addressing/fault")
    );
    // KVM came with AMT 6: a 3.2.1 device answers as for any unknown class.
    assert_fault(&c.get("CIM_KVMRedirectionSAP"), "b:DestinationUnreachable");
    assert_fault(&c.get("IPS_OptInService"), "b:DestinationUnreachable");
    // A resource URI outside the AMT schemas.
    let body = envelope_get("AMT_GeneralSettings", "5").replace(
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings",
        "http://example.com/wbem/Thing",
    );
    assert_fault(&c.post(&body), "b:DestinationUnreachable");
    // The device still serves what 3.2.1 has.
    let r = c.get("CIM_SoftwareIdentity");
    assert_eq!(r.status, 200);
}

#[test]
fn bad_actions_selectors_and_contexts() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    assert_fault(
        &c.invoke("CIM_PowerManagementService", "Explode", "", ""),
        "b:ActionNotSupported",
    );
    // Put on a read-only class.
    let put = envelope(
        ACTION_PUT,
        "CIM_Chassis",
        "9",
        "",
        "<h:CIM_Chassis xmlns:h=\"x\"/>",
    );
    assert_fault(&c.post(&put), "b:ActionNotSupported");
    let selectors =
        r#"<w:SelectorSet><w:Selector Name="InstanceID">nope</w:Selector></w:SelectorSet>"#;
    assert_fault(
        &c.post(&envelope(
            ACTION_GET,
            "CIM_SoftwareIdentity",
            "10",
            selectors,
            "",
        )),
        "e:InvalidSelectors",
    );
    let unknown_key = r#"<w:SelectorSet><w:Selector Name="Color">red</w:Selector></w:SelectorSet>"#;
    assert_fault(
        &c.post(&envelope(
            ACTION_GET,
            "CIM_SoftwareIdentity",
            "11",
            unknown_key,
            "",
        )),
        "e:InvalidSelectors",
    );
    let amt = r#"<w:SelectorSet><w:Selector Name="InstanceID">AMT</w:Selector></w:SelectorSet>"#;
    let r = c.post(&envelope(ACTION_GET, "CIM_SoftwareIdentity", "12", amt, ""));
    assert_eq!(
        element_text(&r.text(), "VersionString").as_deref(),
        Some("11.8.50")
    );
    let pull = |ctx: &str| {
        envelope(
            ACTION_PULL,
            "CIM_SoftwareIdentity",
            "13",
            "",
            &format!(
                r#"<Pull xmlns="{ENUMERATION}"><EnumerationContext>{ctx}</EnumerationContext></Pull>"#
            ),
        )
    };
    let r = c.post(&pull("99000000-0000-0000-0000-000000000000"));
    assert_fault(&r, "c:InvalidEnumerationContext");
    assert!(r.text().contains("<a:Value>a:Receiver</a:Value>"));
    assert_fault(&c.post(&pull("garbage")), "c:InvalidEnumerationContext");
}

#[test]
fn malformed_envelopes_are_faults_and_change_nothing() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    let before = c.get("AMT_GeneralSettings").text();
    let good = envelope_get("AMT_GeneralSettings", "1");
    for bad in [
        "not xml at all".to_string(),
        good[..good.len() / 2].to_string(),
        good.replace("</Header>", "</Heder>"),
        "<Envelope xmlns=\"http://example.com/not-soap\"><Body/></Envelope>".to_string(),
        good.replace("<Body>", "<Body><x:Bad xmlns:x=\"u\">&undefined;</x:Bad>"),
    ] {
        let r = c.post(&bad);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.header("connection"), Some("close"));
        let sub = fault_subcode(&r.text());
        assert!(
            matches!(sub.as_deref(), Some("e:SchemaValidationError"))
                || r.text().contains("a:VersionMismatch"),
            "{bad} -> {}",
            r.text()
        );
    }
    // A byte-order mark and a bare declaration: no envelope.
    let r = c.post("\u{feff}<?xml version=\"1.0\"?>");
    assert_eq!(r.status, 400);
    let soap11 = good.replace(
        "http://www.w3.org/2003/05/soap-envelope",
        "http://schemas.xmlsoap.org/soap/envelope/",
    );
    assert!(c.post(&soap11).text().contains("a:VersionMismatch"));
    let mandatory = good.replace(
        "<w:OperationTimeout>",
        r#"<w:OptionSet s:mustUnderstand="true" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><w:Option Name="x">y</w:Option></w:OptionSet><w:OperationTimeout>"#,
    );
    assert!(
        c.post(&mandatory)
            .text()
            .contains("<a:Value>a:MustUnderstand</a:Value>")
    );
    assert_eq!(
        c.get("AMT_GeneralSettings")
            .text()
            .replace(|c: char| c.is_ascii_hexdigit(), ""),
        before.replace(|c: char| c.is_ascii_hexdigit(), "")
    );
}

#[test]
fn envelope_size_limits() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    let small = envelope(
        ACTION_GET,
        "AMT_GeneralSettings",
        "3",
        "<w:MaxEnvelopeSize>200</w:MaxEnvelopeSize>",
        "",
    );
    assert_fault(&c.post(&small), "e:EncodingLimit");
    let big = envelope(
        ACTION_GET,
        "AMT_GeneralSettings",
        "4",
        "",
        &"<x/>".repeat(80_000),
    );
    assert_fault(&c.post(&big), "e:EncodingLimit");
    assert_eq!(c.get("AMT_GeneralSettings").status, 200);
}

#[test]
fn garbage_on_the_port_closes_that_connection_only() {
    let emu = Emulator::start(&[]);
    let mut s = Client::connect(emu.addr);
    s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
    // A client that connects and says nothing, and one that sends half a
    // request and vanishes, do not stop the device.
    let _idle = Client::connect(emu.addr);
    {
        let mut half = Client::connect(emu.addr);
        half.write_all(b"POST /wsman HTTP/1.1\r\nContent-Length: 500\r\n\r\n<Env")
            .unwrap();
    }
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

/// A device serves only so many sockets at once; more are closed at the
/// door, and a place frees up when a connection ends. Neighbours are not
/// affected.
#[test]
fn a_device_serves_only_so_many_connections_at_once() {
    let emu = Emulator::start(&["--max-connections-per-device", "2"]);
    let held: Vec<_> = (0..2).map(|_| Client::connect(emu.addr)).collect();
    // Let the device accept both before the third knocks.
    std::thread::sleep(Duration::from_millis(200));
    let mut third = Client::connect(emu.addr);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let ended = third.read_to_end(&mut answer);
    assert!(
        ended.is_ok() && answer.is_empty(),
        "the third connection was served: {ended:?} {answer:?}"
    );
    let other = Emulator::start(&[]);
    assert_eq!(other.client().get("AMT_GeneralSettings").status, 200);
    drop(held);
    let unauthenticated = b"POST /wsman HTTP/1.1\r\nHost: amt\r\nContent-Length: 0\r\n\r\n";
    assert!(eventually(Duration::from_secs(10), || {
        Client::raw(emu.addr, unauthenticated).is_ok_and(|r| r.status == 401)
    }));
}

/// Bodies that never finish arriving: a declared length larger than what
/// is sent, a chunked body without its last chunk, a chunk size beyond the
/// data, and `Expect: 100-continue` with no body. Without credentials, each
/// connection is closed with no answer once the body deadline passes
/// (10 s), while the device keeps answering everyone else.
#[test]
fn stalled_request_bodies_are_cut_off() {
    let emu = Emulator::start(&[]);
    let head = "POST /wsman HTTP/1.1\r\nHost: amt\r\nContent-Type: application/soap+xml\r\n";
    let stalls = [
        format!("{head}Content-Length: 100\r\n\r\n<Envelope>"),
        format!("{head}Transfer-Encoding: chunked\r\n\r\n5\r\n<Env>\r\n"),
        format!("{head}Transfer-Encoding: chunked\r\n\r\n100\r\n<Env"),
        format!("{head}Expect: 100-continue\r\nContent-Length: 50\r\n\r\n"),
    ];
    let addr = emu.addr;
    let stalled: Vec<_> = stalls
        .into_iter()
        .map(|request| {
            std::thread::spawn(move || {
                let mut s = Client::connect(addr);
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                s.write_all(request.as_bytes()).unwrap();
                let mut answer = Vec::new();
                let ended = s.read_to_end(&mut answer);
                (
                    request,
                    ended.is_ok(),
                    String::from_utf8_lossy(&answer).to_string(),
                )
            })
        })
        .collect();
    // Meanwhile the device serves others.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
    for thread in stalled {
        let (request, closed, answer) = thread.join().unwrap();
        assert!(closed, "{request:?}: the connection was not closed");
        // Only the interim 100 Continue may have been written.
        let final_answer = answer.replace("HTTP/1.1 100 Continue\r\n\r\n", "");
        assert!(final_answer.is_empty(), "{request:?} got {answer:?}");
    }
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
}

#[test]
fn identify_answers_without_credentials() {
    let emu = Emulator::start(&["--firmware", "15.0"]);
    let body = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"#;
    let c = emu.client();
    let r = Client::raw(emu.addr, &c.request_bytes(body, None)).unwrap();
    assert_eq!(r.status, 200);
    let xml = r.text();
    assert_eq!(
        element_text(&xml, "ProductVersion").as_deref(),
        Some("AMT 15.0")
    );
    assert_eq!(
        element_text(&xml, "ProductVendor").as_deref(),
        Some("Intel(r)")
    );
    assert!(xml.contains("secprofile/http/digest"));
}

#[test]
fn the_web_ui_redirects_and_asks_for_credentials() {
    let emu = Emulator::start(&[]);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = Client::raw(emu.addr, get("/").as_bytes()).unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/logon.htm"));
    assert!(
        r.header("server")
            .unwrap()
            .starts_with("Intel(R) Active Management Technology 11.8.")
    );
    let r = Client::raw(emu.addr, get("/logon.htm").as_bytes()).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Intel&reg; Active Management Technology"));
    let r = Client::raw(emu.addr, get("/index.htm").as_bytes()).unwrap();
    assert_eq!(r.status, 401);
    let mut c = emu.client();
    c.challenge();
    let auth = c.authorization("GET", "/index.htm");
    let req = format!("GET /index.htm HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
    let r = Client::raw(emu.addr, req.as_bytes()).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("System Status"));
    assert_eq!(
        Client::raw(emu.addr, get("/nothing").as_bytes())
            .unwrap()
            .status,
        404
    );
}

#[test]
fn firmware_16_1_does_not_open_plain_http() {
    let emu = Emulator::start(&["--firmware", "16.1"]);
    assert!(std::net::TcpStream::connect_timeout(&emu.addr, Duration::from_secs(2)).is_err());
}

#[test]
fn enumeration_forms() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    // Plain Enumerate returns only a context in AMT's form.
    let r = c.post(&envelope(
        ACTION_ENUMERATE,
        "CIM_SoftwareIdentity",
        "1",
        "",
        &format!(r#"<Enumerate xmlns="{ENUMERATION}"/>"#),
    ));
    let ctx = element_text(&r.text(), "EnumerationContext").unwrap();
    assert!(
        ctx.ends_with("-0000-0000-0000-000000000000") && ctx.len() == 36,
        "{ctx}"
    );
    // Pull with MaxElements pages, with the context only while items remain.
    let pull = |ctx: &str, id: &str| {
        envelope(
            ACTION_PULL,
            "CIM_SoftwareIdentity",
            id,
            "",
            &format!(
                r#"<Pull xmlns="{ENUMERATION}"><EnumerationContext>{ctx}</EnumerationContext><MaxElements>4</MaxElements></Pull>"#
            ),
        )
    };
    let mut ids = Vec::new();
    let mut ctx = Some(ctx);
    let mut pages = 0;
    while let Some(current) = ctx {
        let text = c.post(&pull(&current, "2")).text();
        ids.extend(element_texts(&text, "InstanceID"));
        ctx = element_text(&text, "EnumerationContext");
        assert_eq!(ctx.is_none(), text.contains("EndOfSequence"));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 11);
    assert_eq!(ids[3], "AMT");
    // Optimized enumeration (openwsman, wsl) puts the first items in the
    // EnumerateResponse, in the WS-Man namespace.
    let body = format!(
        r#"<Enumerate xmlns="{ENUMERATION}"><w:OptimizeEnumeration/><w:MaxElements>512</w:MaxElements></Enumerate>"#
    );
    let text = c
        .post(&envelope(
            ACTION_ENUMERATE,
            "CIM_SoftwareIdentity",
            "3",
            "",
            &body,
        ))
        .text();
    assert!(text.contains("<c:Items><h:CIM_SoftwareIdentity>"), "{text}");
    assert!(text.contains("<c:EndOfSequence></c:EndOfSequence>"));
    assert_eq!(element_texts(&text, "InstanceID").len(), 11);
    // A client that pulls once more anyway gets an empty, final page.
    let ctx = element_text(&text, "EnumerationContext").unwrap();
    let last = c.post(&pull(&ctx, "4")).text();
    assert!(
        last.contains("<g:Items></g:Items><g:EndOfSequence></g:EndOfSequence>"),
        "{last}"
    );
    // EPR mode: references instead of objects.
    let body = format!(
        r#"<Enumerate xmlns="{ENUMERATION}"><w:OptimizeEnumeration/><w:MaxElements>5</w:MaxElements><w:EnumerationMode>EnumerateEPR</w:EnumerationMode></Enumerate>"#
    );
    let text = c
        .post(&envelope(
            ACTION_ENUMERATE,
            "CIM_SoftwareIdentity",
            "5",
            "",
            &body,
        ))
        .text();
    assert_eq!(element_texts(&text, "EndpointReference").len(), 5, "{text}");
    assert!(text.contains(r#"<c:Selector Name="InstanceID">Flash</c:Selector>"#));
    // Polymorphic enumeration names items after the subclass.
    let pages = c.enumerate("CIM_ServiceAvailableToElement");
    assert!(
        pages[0]
            .contains("<h:CIM_AssociatedPowerManagementService><h:AvailableRequestedPowerStates>")
    );
}

#[test]
fn put_changes_what_every_later_read_returns() {
    let emu = Emulator::start(&[]);
    let mut c = emu.client();
    let instance = c.instance_for_put("AMT_GeneralSettings").replace(
        "<r:HostName>amt-0001</r:HostName>",
        "<r:HostName>renamed</r:HostName>",
    );
    let r = c.post(&envelope(
        ACTION_PUT,
        "AMT_GeneralSettings",
        "7",
        "",
        &instance,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse")
    );
    assert_eq!(
        element_text(&r.text(), "HostName").as_deref(),
        Some("renamed")
    );
    // A different client on another connection sees it.
    assert_eq!(
        element_text(&emu.client().get("AMT_GeneralSettings").text(), "HostName").as_deref(),
        Some("renamed")
    );
    // A malformed value is refused and changes nothing.
    let bad = instance
        .replace("<r:DDNSTTL>900</r:DDNSTTL>", "<r:DDNSTTL>lots</r:DDNSTTL>")
        .replace("renamed", "again");
    let r = c.post(&envelope(ACTION_PUT, "AMT_GeneralSettings", "8", "", &bad));
    assert_eq!(r.status, 400);
    assert_eq!(
        element_text(&emu.client().get("AMT_GeneralSettings").text(), "HostName").as_deref(),
        Some("renamed")
    );
}

/// Issue 12: a host name with control characters was stored, and every
/// later Get of the class was XML no parser accepts, across restarts too.
/// Now it is refused as firmware refuses a bad parameter (InternalError,
/// AMT-STATUS 36) and nothing is stored, so a restarted device still
/// answers with its name.
#[test]
fn a_host_name_with_control_characters_is_refused_and_survives_no_restart() {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/hostname-state"));
    let _ = std::fs::remove_dir_all(&dir);
    let ip = unique_address().to_string();
    let state = ["--state-dir", dir.to_str().unwrap()];
    let emu = Emulator::start_at(&ip, &state);
    let mut c = emu.client();
    for bad in ["pc&#1;42", "pc&#27;[2J"] {
        let r = c.put_edited(
            "AMT_GeneralSettings",
            "<r:HostName>amt-0001</r:HostName>",
            &format!("<r:HostName>{bad}</r:HostName>"),
        );
        assert_fault(&r, "e:InternalError");
        assert!(r.text().contains("AMT-STATUS 36"), "{}", r.text());
    }
    emu.kill_hard();
    let emu = Emulator::start_at(&ip, &state);
    let xml = emu.client().get("AMT_GeneralSettings").text();
    assert!(!xml.chars().any(|c| c.is_control()), "{xml}");
    assert_eq!(element_text(&xml, "HostName").as_deref(), Some("amt-0001"));
    emu.kill_hard();
    let _ = std::fs::remove_dir_all(&dir);
}

fn request_power(c: &mut Client, state: u32) -> String {
    let r = c.request_power(state);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("RequestPowerStateChangeResponse</b:Action>")
    );
    element_text(&r.text(), "ReturnValue").unwrap()
}

#[test]
fn power_changes_land_after_the_configured_delay_and_clear_boot_options() {
    let emu = Emulator::start(&["--shutdown-ms", "1500", "--boot-ms", "1500"]);
    let mut c = emu.client();
    assert_eq!(c.power_state(), "2");
    assert_eq!(request_power(&mut c, 2), "2", "already on");
    assert_eq!(request_power(&mut c, 8), "0");
    assert_eq!(request_power(&mut c, 10), "6", "a change is in progress");
    // Still on right after the request; off once the delay has passed.
    assert_eq!(c.power_state(), "2");
    assert!(eventually(Duration::from_secs(10), || c.power_state() == "8"));
    let r = c.get("CIM_AssociatedPowerManagementService").text();
    assert_eq!(element_texts(&r, "AvailableRequestedPowerStates"), ["2"]);
    assert_eq!(request_power(&mut c, 10), "2", "no reset while off");
    // Boot to PXE next: the setting holds until the boot, then clears.
    let selector = r#"<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT: Boot Configuration 0</w:Selector></w:SelectorSet>"#;
    let source = r#"<h:Source><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_BootSourceSetting</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT: Force PXE Boot</w:Selector></w:SelectorSet></a:ReferenceParameters></h:Source>"#;
    let r = c.invoke("CIM_BootConfigSetting", "ChangeBootOrder", selector, source);
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));
    let put_setup = |c: &mut Client, value: &str| {
        c.put_edited(
            "AMT_BootSettingData",
            "<r:BIOSSetup>false</r:BIOSSetup>",
            &format!("<r:BIOSSetup>{value}</r:BIOSSetup>"),
        )
    };
    assert_eq!(put_setup(&mut c, "false").status, 200);
    let r = c.get("AMT_BootSettingData").text();
    assert_eq!(element_text(&r, "OptionsCleared").as_deref(), Some("false"));
    assert_eq!(request_power(&mut c, 2), "0");
    assert!(eventually(Duration::from_secs(10), || c.power_state() == "2"));
    let r = c.get("AMT_BootSettingData").text();
    assert_eq!(element_text(&r, "OptionsCleared").as_deref(), Some("true"));
    // The event log recorded the power-down and the boot.
    let pos = c.invoke("AMT_MessageLog", "PositionToFirstRecord", "", "");
    assert_eq!(
        element_text(&pos.text(), "IterationIdentifier").as_deref(),
        Some("1")
    );
    let records = c.invoke(
        "AMT_MessageLog",
        "GetRecords",
        "",
        "<h:IterationIdentifier>1</h:IterationIdentifier><h:MaxReadRecords>390</h:MaxReadRecords>",
    );
    assert_eq!(
        element_texts(&records.text(), "RecordArray").len(),
        4,
        "{}",
        records.text()
    );
}

// ---- users, realms and lockout ---------------------------------------------

/// One request as `user` on a fresh connection after a challenge of its
/// own, so a 401 comes back as it is (the support client retries instead).
fn once_as(emu: &Emulator, user: &str, password: &str, body: &str) -> Response {
    let mut c = Client::new(emu.addr, user, password);
    c.challenge();
    let auth = c.authorization("POST", "/wsman");
    Client::raw(emu.addr, &c.request_bytes(body, Some(&auth))).unwrap()
}

/// AddUserAclEntryEx as the admin; returns the ReturnValue and the handle.
fn add_acl_user(
    admin: &mut Client,
    name: &str,
    password: &str,
    access: u8,
    realms: &[u8],
) -> (String, Option<String>) {
    use base64::Engine;
    use md5::{Digest, Md5};
    if admin.realm.is_none() {
        admin.challenge();
    }
    let realm = admin.realm.clone().unwrap();
    let ha1 = Md5::digest(format!("{name}:{realm}:{password}").as_bytes());
    let blob = base64::engine::general_purpose::STANDARD.encode(ha1);
    let realms: String = realms
        .iter()
        .map(|r| format!("<h:Realms>{r}</h:Realms>"))
        .collect();
    let r = admin.invoke(
        "AMT_AuthorizationService",
        "AddUserAclEntryEx",
        "",
        &format!(
            "<h:DigestUsername>{name}</h:DigestUsername><h:DigestPassword>{blob}</h:DigestPassword><h:AccessPermission>{access}</h:AccessPermission>{realms}"
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    (
        element_text(&xml, "ReturnValue").unwrap(),
        element_text(&xml, "Handle"),
    )
}

#[test]
fn a_hardware_asset_user_reads_inventory_but_cannot_power_or_administer() {
    let emu = Emulator::start(&[]);
    let mut admin = emu.client();
    let (rv, handle) = add_acl_user(&mut admin, "hwonly", "Hw-Passw0rd", 2, &[4]);
    assert_eq!(rv, "0");
    let handle = handle.expect("a handle");
    // The admin sees the entry, without its password.
    let listed = admin.invoke(
        "AMT_AuthorizationService",
        "EnumerateUserAclEntries",
        "",
        "<h:StartIndex>1</h:StartIndex>",
    );
    assert_eq!(element_texts(&listed.text(), "Handles"), [handle.as_str()]);
    let entry = admin
        .invoke(
            "AMT_AuthorizationService",
            "GetUserAclEntryEx",
            "",
            &format!("<h:Handle>{handle}</h:Handle>"),
        )
        .text();
    assert_eq!(
        element_text(&entry, "DigestUsername").as_deref(),
        Some("hwonly")
    );
    assert_eq!(element_texts(&entry, "Realms"), ["4"]);
    assert!(element_text(&entry, "DigestPassword").is_none());

    let mut user = Client::new(emu.addr, "hwonly", "Hw-Passw0rd");
    let chassis = user.get("CIM_Chassis");
    assert_eq!(chassis.status, 200, "{}", chassis.text());
    assert!(chassis.text().contains("<g:CIM_Chassis>"));
    let r = user.request_power(8);
    assert_fault(&r, "e:AccessDenied");
    assert_fault(&user.get("AMT_GeneralSettings"), "e:AccessDenied");
    // No user management without PT Administration either.
    let r = user.invoke(
        "AMT_AuthorizationService",
        "RemoveUserAclEntry",
        "",
        &format!("<h:Handle>{handle}</h:Handle>"),
    );
    assert_fault(&r, "e:AccessDenied");
    // The power request did nothing.
    assert_eq!(admin.power_state(), "2");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.power_state(), "2");

    // Removed, the user no longer logs in.
    let r = admin.invoke(
        "AMT_AuthorizationService",
        "RemoveUserAclEntry",
        "",
        &format!("<h:Handle>{handle}</h:Handle>"),
    );
    assert_eq!(element_text(&r.text(), "ReturnValue").as_deref(), Some("0"));
    let r = once_as(
        &emu,
        "hwonly",
        "Hw-Passw0rd",
        &envelope_get("CIM_Chassis", "1"),
    );
    assert_eq!(r.status, 401);

    // A local-only account cannot log in over the network.
    let (rv, _) = add_acl_user(&mut admin, "local", "L0cal-only", 0, &[4]);
    assert_eq!(rv, "0");
    let r = once_as(
        &emu,
        "local",
        "L0cal-only",
        &envelope_get("CIM_Chassis", "1"),
    );
    assert_eq!(r.status, 401);
    // Bad entries get AMT's return values.
    assert_eq!(
        add_acl_user(&mut admin, "local", "x", 2, &[4]).0,
        "2058",
        "duplicate"
    );
    assert_eq!(add_acl_user(&mut admin, "$$x", "x", 2, &[4]).0, "12");
    assert_eq!(add_acl_user(&mut admin, "other", "x", 2, &[1]).0, "2055");
}

/// The failure count starts again after a login with the right password:
/// nine wrong guesses (one short of the lock) twice, a right one between
/// them, and the account is still open.
#[test]
fn a_right_password_forgets_the_wrong_guesses_before_it() {
    let emu = Emulator::start(&[]);
    let mut admin = emu.client();
    assert_eq!(
        add_acl_user(&mut admin, "guess", "Gu3ss-pass", 2, &[4]).0,
        "0"
    );
    let body = envelope_get("CIM_Chassis", "1");
    for round in 0..2 {
        for _ in 0..9 {
            assert_eq!(once_as(&emu, "guess", "wrong", &body).status, 401);
        }
        let r = once_as(&emu, "guess", "Gu3ss-pass", &body);
        assert_eq!(r.status, 200, "round {round}");
    }
}

#[test]
fn repeated_wrong_passwords_lock_only_that_account_for_a_while() {
    let emu = Emulator::start(&[]);
    let mut admin = emu.client();
    assert_eq!(
        add_acl_user(&mut admin, "locky", "L0cky-pass", 2, &[4]).0,
        "0"
    );
    assert_eq!(
        add_acl_user(&mut admin, "other", "0ther-pass", 2, &[4]).0,
        "0"
    );
    let body = envelope_get("CIM_Chassis", "1");
    assert_eq!(once_as(&emu, "locky", "L0cky-pass", &body).status, 200);
    for _ in 0..10 {
        assert_eq!(once_as(&emu, "locky", "wrong", &body).status, 401);
    }
    // Locked: the right password gets the same 401 page.
    let r = once_as(&emu, "locky", "L0cky-pass", &body);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Log on failed"));
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"stale="false""#)
    );
    // Other accounts are unaffected.
    assert_eq!(emu.client().get("AMT_GeneralSettings").status, 200);
    assert_eq!(once_as(&emu, "other", "0ther-pass", &body).status, 200);
    // Unknown names are refused without consequence.
    assert_eq!(once_as(&emu, "nobody", "L0cky-pass", &body).status, 401);
    // The first lock is short; the right password works once it is over.
    assert!(eventually(Duration::from_secs(15), || {
        once_as(&emu, "locky", "L0cky-pass", &body).status == 200
    }));
}
