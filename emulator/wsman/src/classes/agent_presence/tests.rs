//! Agent presence over the wire: a console creates a watchdog and its
//! actions as MeshCommander does, an agent registers and feeds it, and
//! every malformed request is refused with nothing changed.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::agent_presence::WatchdogState;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";
const ID: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
    let uri = names::class_uri(class);
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

/// MeshCommander's AddWatchdogOk body.
fn create(id: &str, timeout: &str, startup: &str) -> String {
    request(
        &format!("{TRANSFER}Create"),
        WATCHDOG,
        "",
        &format!(
            r#"<h:{WATCHDOG} xmlns:h="{AMT}{WATCHDOG}"><h:CreationClassName>0</h:CreationClassName><h:DeviceID>{id}</h:DeviceID><h:StartupInterval>{startup}</h:StartupInterval><h:SystemCreationClassName>0</h:SystemCreationClassName><h:SystemName>0</h:SystemName><h:TimeoutInterval>{timeout}</h:TimeoutInterval><h:MonitoredEntityDescription>antivirus</h:MonitoredEntityDescription></h:{WATCHDOG}>"#
        ),
    )
}

fn selector(id: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="DeviceID">{id}</w:Selector></w:SelectorSet>"#)
}

fn invoke(id: &str, method: &str, args: &str) -> String {
    request(
        &format!("{AMT}{WATCHDOG}/{method}"),
        WATCHDOG,
        &selector(id),
        &format!(r#"<h:{method}_INPUT xmlns:h="{AMT}{WATCHDOG}">{args}</h:{method}_INPUT>"#),
    )
}

fn return_value(xml: &str) -> Option<u32> {
    let start = xml.find("ReturnValue>")? + "ReturnValue>".len();
    xml[start..].split('<').next()?.parse().ok()
}

#[test]
fn a_console_creates_a_watchdog_and_an_agent_feeds_it() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(create(ID, "60", "3600"));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.xml.contains(ID), "{}", reply.xml);
    // MeshCommander's AddAction: Running -> Expired, with an event.
    let reply = send(invoke(
        ID,
        "AddAction",
        "<h:OldState>4</h:OldState><h:NewState>8</h:NewState><h:EventOnTransition>true</h:EventOnTransition><h:ActionSd></h:ActionSd><h:ActionEac></h:ActionEac>",
    ));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    assert_eq!(actions(&d).len(), 1);
    assert_eq!(conditions(&d)[0].int("OldState"), Some(4));
    // MeshCommander follows CIM_ConcreteDependency from the watchdog to
    // the condition and on to the action.
    let links = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        "CIM_ConcreteDependency",
        "",
        r#"<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></Enumerate>"#,
    ));
    assert!(links.xml.contains("PolicyConditionName"), "{}", links.xml);
    assert!(links.xml.contains("PolicyActionName"), "{}", links.xml);
    assert_eq!(dependencies(&d).len(), 2);

    let reply = send(invoke(ID, "RegisterAgent", ""));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    assert!(reply.xml.contains("SessionSequenceNumber"), "{}", reply.xml);
    for n in 1..=3 {
        let reply = send(invoke(
            ID,
            "AssertPresence",
            &format!("<h:SequenceNumber>{n}</h:SequenceNumber>"),
        ));
        assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    }
    let got = send(request(
        &format!("{TRANSFER}Get"),
        WATCHDOG,
        &selector(ID),
        "",
    ));
    assert!(got.xml.contains("CurrentState>4<"), "{}", got.xml);
    let reply = send(invoke(
        ID,
        "AssertShutdown",
        "<h:SequenceNumber>4</h:SequenceNumber>",
    ));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    assert_eq!(d.watchdogs()[0].state, WatchdogState::Stopped);

    let reply = send(invoke(ID, "DeleteAllActions", ""));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    assert!(actions(&d).is_empty());
    let reply = send(request(
        &format!("{TRANSFER}Delete"),
        WATCHDOG,
        &selector(ID),
        "",
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(d.watchdogs().is_empty());
}

#[test]
fn malformed_requests_are_refused_and_change_nothing() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    assert!(send(create(ID, "60", "0")).fault.is_none());
    let before = d.watchdogs();
    let faults = [
        // wrong types, out of range, not a GUID
        (
            create("not base64!", "60", "0"),
            Fault::InvalidRepresentation,
        ),
        (create("AAEC", "60", "0"), Fault::InvalidRepresentation),
        (
            create("AQECAwQFBgcICQoLDA0ODw==", "soon", "0"),
            Fault::InvalidRepresentation,
        ),
        (
            create("AQECAwQFBgcICQoLDA0ODw==", "70000", "0"),
            Fault::InvalidRepresentation,
        ),
        (
            create("AQECAwQFBgcICQoLDA0ODw==", "60", "-1"),
            Fault::InvalidRepresentation,
        ),
        (
            create("AQECAwQFBgcICQoLDA0ODw==", "0", "0"),
            Fault::InternalError(PtStatus::InvalidParameter.into()),
        ),
        (create(ID, "60", "0"), Fault::AlreadyExists),
        // unknown selectors
        (
            invoke("AQECAwQFBgcICQoLDA0ODw==", "RegisterAgent", ""),
            Fault::InvalidSelectors,
        ),
        (
            request(
                &format!("{TRANSFER}Get"),
                WATCHDOG,
                r#"<w:SelectorSet><w:Selector Name="Name">x</w:Selector></w:SelectorSet>"#,
                "",
            ),
            Fault::InvalidSelectors,
        ),
        (
            request(
                &format!("{TRANSFER}Delete"),
                WATCHDOG,
                &selector("nobody"),
                "",
            ),
            Fault::InvalidSelectors,
        ),
    ];
    for (xml, fault) in faults {
        let reply = send(xml.clone());
        assert_eq!(reply.fault, Some(fault), "{xml}\n{}", reply.xml);
        assert_eq!(d.watchdogs(), before, "{xml}");
    }
    let codes = [
        // a heartbeat before registering, then malformed ones
        (
            "AssertPresence",
            "<h:SequenceNumber>1</h:SequenceNumber>",
            16,
        ),
        (
            "AssertShutdown",
            "<h:SequenceNumber>1</h:SequenceNumber>",
            16,
        ),
        (
            "AssertPresence",
            "<h:SequenceNumber>one</h:SequenceNumber>",
            36,
        ),
        ("AssertPresence", "", 36),
        ("AddAction", "<h:OldState>4</h:OldState>", 36),
        (
            "AddAction",
            "<h:OldState>four</h:OldState><h:NewState>8</h:NewState>",
            36,
        ),
        (
            "AddAction",
            "<h:OldState>0</h:OldState><h:NewState>8</h:NewState>",
            36,
        ),
        (
            "AddAction",
            "<h:OldState>4</h:OldState><h:NewState>64</h:NewState>",
            36,
        ),
        (
            "AddAction",
            "<h:OldState>4</h:OldState><h:NewState>300</h:NewState>",
            36,
        ),
        (
            "AddAction",
            "<h:OldState>4</h:OldState><h:NewState>8</h:NewState><h:EventOnTransition>perhaps</h:EventOnTransition>",
            36,
        ),
        (
            "AddAction",
            "<h:OldState>4</h:OldState><h:NewState>8</h:NewState><h:ActionSd>Intel(r) AMT:SystemDefensePolicy 3</h:ActionSd>",
            36,
        ),
    ];
    for (method, args, code) in codes {
        let reply = send(invoke(ID, method, args));
        assert_eq!(
            return_value(&reply.xml),
            Some(code),
            "{method} {args}: {}",
            reply.xml
        );
        assert_eq!(d.watchdogs(), before, "{method} {args}");
    }
    // Registered, a sequence number that does not count up is refused.
    assert_eq!(
        return_value(&send(invoke(ID, "RegisterAgent", "")).xml),
        Some(0)
    );
    let fed = send(invoke(
        ID,
        "AssertPresence",
        "<h:SequenceNumber>5</h:SequenceNumber>",
    ));
    assert_eq!(return_value(&fed.xml), Some(0));
    let stale = send(invoke(
        ID,
        "AssertPresence",
        "<h:SequenceNumber>5</h:SequenceNumber>",
    ));
    assert_eq!(return_value(&stale.xml), Some(36));
    assert_eq!(d.watchdogs()[0].sequence, 5);
}

#[test]
fn only_the_agent_presence_realms_reach_the_watchdogs() {
    let local = Caller::User {
        name: "agent".into(),
        realms: vec![realm::AGENT_PRESENCE_LOCAL],
    };
    let class = CLASSES.iter().find(|c| c.name == WATCHDOG).unwrap();
    assert!(
        class
            .authorize(&local, super::super::Operation::Invoke("AssertPresence"))
            .is_ok()
    );
    assert!(
        class
            .authorize(&local, super::super::Operation::Invoke("AddAction"))
            .is_err()
    );
    assert!(
        class
            .authorize(&local, super::super::Operation::Write)
            .is_err()
    );
}
