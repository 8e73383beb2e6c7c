//! The heuristics classes over the wire: only on the firmware that has
//! them, the settings' Put with every malformed or out-of-range value
//! refused and changing nothing, and the interface policy's
//! Create/Delete.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;
use amtemu_wire::status::PtStatus;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";

fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

fn settings_selector() -> String {
    format!(
        r#"<w:SelectorSet><w:Selector Name="InstanceID">{SETTINGS_ID}</w:Selector></w:SelectorSet>"#
    )
}

fn put_settings_xml(props: &str) -> String {
    request(
        &format!("{TRANSFER}Put"),
        SETTINGS,
        &settings_selector(),
        &format!(
            r#"<h:{SETTINGS} xmlns:h="{AMT}{SETTINGS}"><h:InstanceID>{SETTINGS_ID}</h:InstanceID>{props}</h:{SETTINGS}>"#
        ),
    )
}

fn reference(class_uri: &str, selectors: &str) -> String {
    format!(
        r#"<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{class_uri}</w:ResourceURI><w:SelectorSet>{selectors}</w:SelectorSet></a:ReferenceParameters>"#
    )
}

fn create_interface_policy_xml(port: &str, policy: &str) -> String {
    let port = reference(
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPort",
        &format!(r#"<w:Selector Name="DeviceID">{port}</w:Selector>"#),
    );
    let policy = reference(
        &format!("{AMT}AMT_SystemDefensePolicy"),
        &format!(r#"<w:Selector Name="InstanceID">{policy}</w:Selector>"#),
    );
    request(
        &format!("{TRANSFER}Create"),
        INTERFACE_POLICY,
        "",
        &format!(
            r#"<h:{INTERFACE_POLICY} xmlns:h="{AMT}{INTERFACE_POLICY}"><h:Antecedent>{port}</h:Antecedent><h:Dependent>{policy}</h:Dependent><h:Enabled>true</h:Enabled></h:{INTERFACE_POLICY}>"#
        ),
    )
}

fn a_policy(d: &Device) -> u32 {
    use amtemu_model::device::defense::{DefaultAction, Policy};
    d.add_policy(Policy {
        handle: 0,
        name: "quarantine".into(),
        precedence: 0,
        anti_spoofing: 0,
        filters: Vec::new(),
        tx: DefaultAction::default(),
        rx: DefaultAction::default(),
    })
    .unwrap()
}

#[test]
fn only_the_firmware_with_heuristics_answers_them() {
    let get = |firmware: &str, class: &str| {
        let d = device(firmware);
        let reply = handle(
            &d,
            &WsmanState::default(),
            &Caller::Admin,
            request(&format!("{TRANSFER}Get"), class, "", "").as_bytes(),
        );
        reply.fault
    };
    for class in [SETTINGS, STATISTICS] {
        assert_eq!(get("3.2.1", class), None, "{class}");
        assert_eq!(
            get("11.8", class),
            Some(Fault::DestinationUnreachable),
            "{class}"
        );
    }
    // Settings left the reference after 8.x; the statistics stayed to 9.5.
    assert_eq!(get("9.5", STATISTICS), None);
    assert_eq!(get("9.5", SETTINGS), Some(Fault::DestinationUnreachable));
    assert_eq!(get("10.0", STATISTICS), Some(Fault::DestinationUnreachable));
}

#[test]
fn settings_put_stores_and_bad_values_change_nothing() {
    let d = device("3.2.1");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(put_settings_xml(
        "<h:Enabled>true</h:Enabled><h:FastConnectionRateThreshold>40</h:FastConnectionRateThreshold><h:FastConnectionRateClearTime>100</h:FastConnectionRateClearTime><h:SlowConnectionRateClearTime>5000</h:SlowConnectionRateClearTime><h:BlockAll>true</h:BlockAll><h:EncounterTimeout>60</h:EncounterTimeout>",
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    let stored = d.defense().heuristics.unwrap();
    assert!(stored.enabled && stored.block_all);
    assert_eq!(stored.fast_threshold, Some(40));
    assert_eq!(stored.encounter_timeout, 60);
    let got = send(request(
        &format!("{TRANSFER}Get"),
        SETTINGS,
        &settings_selector(),
        "",
    ));
    assert!(
        got.xml.contains("FastConnectionRateClearTime>100<"),
        "{}",
        got.xml
    );

    let before = d.defense();
    let invalid = Some(Fault::InternalError(PtStatus::InvalidParameter.into()));
    for (props, fault) in [
        (
            "<h:Enabled>maybe</h:Enabled>",
            Some(Fault::InvalidRepresentation),
        ),
        (
            "<h:EncounterTimeout>70000</h:EncounterTimeout>",
            Some(Fault::InvalidRepresentation),
        ),
        (
            "<h:FastConnectionRateThreshold>-1</h:FastConnectionRateThreshold>",
            Some(Fault::InvalidRepresentation),
        ),
        (
            "<h:FastConnectionRateClearTime>9</h:FastConnectionRateClearTime>",
            invalid.clone(),
        ),
        (
            "<h:FastConnectionRateClearTime>1001</h:FastConnectionRateClearTime>",
            invalid.clone(),
        ),
        (
            "<h:SlowConnectionRateClearTime>999</h:SlowConnectionRateClearTime>",
            invalid.clone(),
        ),
        (
            "<h:SlowConnectionRateClearTime>50001</h:SlowConnectionRateClearTime>",
            invalid.clone(),
        ),
    ] {
        let reply = send(put_settings_xml(props));
        assert_eq!(reply.fault, fault, "{props}\n{}", reply.xml);
        assert_eq!(d.defense(), before, "{props}");
    }
    // An unknown instance is not there to change.
    let reply = send(request(
        &format!("{TRANSFER}Put"),
        SETTINGS,
        r#"<w:SelectorSet><w:Selector Name="InstanceID">other</w:Selector></w:SelectorSet>"#,
        &format!(
            r#"<h:{SETTINGS} xmlns:h="{AMT}{SETTINGS}"><h:Enabled>false</h:Enabled></h:{SETTINGS}>"#
        ),
    ));
    assert_eq!(reply.fault, Some(Fault::InvalidSelectors), "{}", reply.xml);
    assert_eq!(d.defense(), before);
}

#[test]
fn statistics_stay_in_the_running_state() {
    let d = device("3.2.1");
    let s = statistics(&d).remove(0);
    assert_eq!(s.get("State").and_then(Value::as_int), Some(0));
    assert_eq!(s.get("BlockedAll").and_then(Value::as_bool), Some(false));
    assert!(s.get("TimeStamp").is_none());
}

#[test]
fn an_interface_policy_names_a_policy_that_then_cannot_go() {
    let d = device("3.2.1");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    let handle_ = a_policy(&d);
    let id = format!("Intel(r) AMT:SystemDefensePolicy {handle_}");

    let before = d.defense();
    for (port, policy, fault) in [
        (
            "Intel(r) AMT Ethernet Port 7",
            id.as_str(),
            Fault::InvalidRepresentation,
        ),
        (
            "Intel(r) AMT Ethernet Port 0",
            "Intel(r) AMT:SystemDefensePolicy 99",
            Fault::InternalError(PtStatus::InvalidParameter.into()),
        ),
        (
            "Intel(r) AMT Ethernet Port 0",
            "nonsense",
            Fault::InvalidRepresentation,
        ),
    ] {
        let reply = send(create_interface_policy_xml(port, policy));
        assert_eq!(reply.fault, Some(fault), "{port} {policy}\n{}", reply.xml);
        assert_eq!(d.defense(), before);
    }

    let reply = send(create_interface_policy_xml(
        "Intel(r) AMT Ethernet Port 0",
        &id,
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert_eq!(d.defense().heuristic_policies(), &[(0, handle_)]);
    let listed = interface_policies(&d);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].get("Enabled").and_then(Value::as_bool),
        Some(false)
    );
    assert_eq!(
        d.delete_policy(handle_),
        Err(DefenseRefusal::InUse),
        "a policy a detection would switch on stays"
    );

    delete_interface_policy(&d, &listed[0]).unwrap();
    assert!(d.defense().heuristic_policies().is_empty());
    assert_eq!(
        delete_interface_policy(&d, &listed[0]),
        Err(Fault::InvalidSelectors)
    );
    d.delete_policy(handle_).unwrap();
}
