//! SNMP subscribers over the wire: Create answers the new reference,
//! Get and Delete find it by its keys, and every refusal leaves the table
//! as it was.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::eventing::MAX_SNMP_SUBSCRIBERS;
use amtemu_model::device::users::{Caller, realm};
use amtemu_model::testing::device;

const URI: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SNMPEventSubscriber";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";

fn request(action: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{TRANSFER}{action}</a:Action><w:ResourceURI>{URI}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

/// The four keys of subscriber `name`.
fn selectors(name: &str) -> String {
    format!(
        r#"<w:SelectorSet><w:Selector Name="CreationClassName">AMT_SNMPEventSubscriber</w:Selector><w:Selector Name="Name">{name}</w:Selector><w:Selector Name="SystemCreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="SystemName">Intel(r) AMT</w:Selector></w:SelectorSet>"#
    )
}

fn create_body(props: &str) -> String {
    format!(r#"<h:AMT_SNMPEventSubscriber xmlns:h="{URI}">{props}</h:AMT_SNMPEventSubscriber>"#)
}

fn subscriber(address: &str, policy: &str) -> String {
    create_body(&format!(
        "<h:AccessInfo>{address}</h:AccessInfo><h:PolicyID>{policy}</h:PolicyID>"
    ))
}

#[test]
fn create_get_and_delete_a_subscriber() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(request(
        "Create",
        "",
        &create_body(
            "<h:AccessInfo>192.168.1.20</h:AccessInfo><h:CommunityString>public</h:CommunityString><h:InfoFormat>3</h:InfoFormat><h:PolicyID>2</h:PolicyID>",
        ),
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.may_have_changed_state());
    let name = instance_name(1);
    assert!(reply.xml.contains(&name), "{}", reply.xml);
    assert_eq!(d.snmp_subscribers().len(), 1);

    let reply = send(request("Get", &selectors(&name), ""));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    for part in [
        "AccessInfo>192.168.1.20</",
        "CommunityString>public</",
        "InfoFormat>3</",
        "PolicyID>2</",
    ] {
        assert!(reply.xml.contains(part), "{part}: {}", reply.xml);
    }

    // Without CommunityString the instance has none (the event manager's
    // default applies).
    let reply = send(request(
        "Create",
        "",
        &subscriber("console.example.com", "1"),
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    let reply = send(request("Get", &selectors(&instance_name(2)), ""));
    assert!(!reply.xml.contains("CommunityString"), "{}", reply.xml);
    assert!(reply.xml.contains("InfoFormat>2</"), "{}", reply.xml);

    let reply = send(request("Delete", &selectors(&name), ""));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.may_have_changed_state());
    assert_eq!(d.snmp_subscribers().len(), 1);
    let reply = send(request("Get", &selectors(&name), ""));
    assert_eq!(reply.fault, Some(Fault::InvalidSelectors));
}

#[test]
fn bad_creates_get_firmware_faults_and_change_nothing() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    send(request("Create", "", &subscriber("10.0.0.1", "1")));
    let before = d.snmp_subscribers();
    let invalid = || Fault::InternalError(PtStatus::InvalidParameter.into());
    let cases = [
        // Wrong types.
        (subscriber("10.0.0.2", "one"), Fault::InvalidRepresentation),
        (subscriber("10.0.0.2", "300"), Fault::InvalidRepresentation),
        (subscriber("10.0.0.2", "-1"), Fault::InvalidRepresentation),
        (
            create_body(
                "<h:AccessInfo>10.0.0.2</h:AccessInfo><h:InfoFormat>ipv4</h:InfoFormat><h:PolicyID>1</h:PolicyID>",
            ),
            Fault::InvalidRepresentation,
        ),
        // Missing required properties.
        (
            create_body("<h:PolicyID>1</h:PolicyID>"),
            Fault::InvalidRepresentation,
        ),
        (
            create_body("<h:AccessInfo>10.0.0.2</h:AccessInfo>"),
            Fault::InvalidRepresentation,
        ),
        // Values firmware refuses.
        (subscriber("", "1"), invalid()),
        (subscriber("not an address", "1"), invalid()),
        (subscriber("10.0.0.2", "99"), invalid()),
        (
            create_body(
                "<h:AccessInfo>10.0.0.2</h:AccessInfo><h:InfoFormat>4</h:InfoFormat><h:PolicyID>1</h:PolicyID>",
            ),
            invalid(),
        ),
        (
            create_body(
                "<h:AccessInfo>10.0.0.2</h:AccessInfo><h:InfoFormat>9</h:InfoFormat><h:PolicyID>1</h:PolicyID>",
            ),
            invalid(),
        ),
        (
            create_body(&format!(
                "<h:AccessInfo>10.0.0.2</h:AccessInfo><h:CommunityString>{}</h:CommunityString><h:PolicyID>1</h:PolicyID>",
                "c".repeat(64)
            )),
            invalid(),
        ),
    ];
    for (body, fault) in cases {
        let reply = send(request("Create", "", &body));
        assert_eq!(reply.fault, Some(fault), "{body}");
        assert_eq!(d.snmp_subscribers(), before, "{body}");
    }
}

#[test]
fn a_full_table_refuses_the_next_subscriber() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    for i in 0..MAX_SNMP_SUBSCRIBERS {
        let reply = send(request(
            "Create",
            "",
            &subscriber(&format!("10.0.0.{i}"), "1"),
        ));
        assert!(reply.fault.is_none(), "{}", reply.xml);
    }
    let before = d.snmp_subscribers();
    let reply = send(request("Create", "", &subscriber("10.0.1.1", "1")));
    assert_eq!(
        reply.fault,
        Some(Fault::InternalError(PtStatus::MaxLimitReached.into()))
    );
    assert_eq!(d.snmp_subscribers(), before);
}

#[test]
fn unknown_selectors_are_refused_on_get_and_delete() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    send(request("Create", "", &subscriber("10.0.0.1", "1")));
    let before = d.snmp_subscribers();
    let unknown = [
        selectors("Intel(r) AMT:SNMP Subscriber 7"),
        selectors("someone else"),
        r#"<w:SelectorSet><w:Selector Name="PolicyID">1</w:Selector></w:SelectorSet>"#.into(),
    ];
    for sel in unknown {
        for action in ["Get", "Delete"] {
            let reply = send(request(action, &sel, ""));
            assert_eq!(reply.fault, Some(Fault::InvalidSelectors), "{action} {sel}");
        }
    }
    // Delete must name its target.
    let reply = send(request("Delete", "", ""));
    assert_eq!(reply.fault, Some(Fault::InvalidSelectors));
    assert_eq!(d.snmp_subscribers(), before);
}

#[test]
fn event_manager_users_may_subscribe_and_18_has_no_class() {
    let d = device("11.8");
    let state = WsmanState::default();
    let events = Caller::User {
        name: "events".into(),
        realms: vec![realm::EVENT_MANAGER],
    };
    let other = Caller::User {
        name: "hw".into(),
        realms: vec![realm::HARDWARE_ASSET],
    };
    let body = request("Create", "", &subscriber("10.0.0.1", "1"));
    let reply = handle(&d, &state, &other, body.as_bytes());
    assert_eq!(reply.fault, Some(Fault::AccessDenied));
    let reply = handle(&d, &state, &events, body.as_bytes());
    assert!(reply.fault.is_none(), "{}", reply.xml);

    // CSME 18.0 dropped PET alerts and their subscribers.
    let d = device("18.0");
    let reply = handle(&d, &state, &Caller::Admin, body.as_bytes());
    assert_eq!(reply.fault, Some(Fault::DestinationUnreachable));
    assert!(d.snmp_subscribers().is_empty());
}
