//! The remote-access classes driven with the envelopes MeshCentral's amt
//! manager (amtmanager.js over amt-wsman.js) sends.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::remote_access::NoCira;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

/// amt-wsman.js's ExecMethod: null arguments left out, arrays repeated.
fn invoke(class: &str, method: &str, args: &str) -> String {
    request(
        &format!("{AMT}{class}/{method}"),
        class,
        "",
        &format!(r#"<r:{method}_INPUT xmlns:r="{AMT}{class}">{args}</r:{method}_INPUT>"#),
    )
}

fn selector(name: &str, value: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="{name}">{value}</w:Selector></w:SelectorSet>"#)
}

const MESH_USER: &str = "OM4lFgLLcBbR4kXX";

fn add_mesh_server(send: &dyn Fn(String) -> crate::Reply) -> crate::Reply {
    send(invoke(
        SERVICE,
        "AddMpServer",
        &format!(
            "<r:AccessInfo>mps.vpro.test</r:AccessInfo><r:InfoFormat>201</r:InfoFormat><r:Port>4433</r:Port><r:AuthMethod>2</r:AuthMethod><r:Username>{MESH_USER}</r:Username><r:Password>Aa1!aaaaaaaa</r:Password><r:CN>mps.vpro.test</r:CN>"
        ),
    ))
}

#[test]
fn meshcentral_configures_cira_over_the_wire() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = add_mesh_server(&send);
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(
        reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"),
        "{}",
        reply.xml
    );
    assert!(
        reply
            .xml
            .contains(r#"Name="Name">Intel(r) AMT:Management Presence Server 0<"#),
        "{}",
        reply.xml
    );

    // The periodic rule, its server reference as amtmanager.js writes it
    // (default namespaces, not prefixes), 10 s interval.
    let server = format!(
        r#"<Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">{AMT}{SAP}</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="Name">Intel(r) AMT:Management Presence Server 0</Selector></SelectorSet></ReferenceParameters>"#
    );
    let reply = send(invoke(
        SERVICE,
        "AddRemoteAccessPolicyRule",
        &format!(
            "<r:Trigger>2</r:Trigger><r:TunnelLifeTime>0</r:TunnelLifeTime><r:ExtendedData>AAAAAAAAAAo=</r:ExtendedData><r:MpServer>{server}</r:MpServer>"
        ),
    ));
    assert!(
        reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"),
        "{}",
        reply.xml
    );
    assert!(reply.xml.contains(">Periodic<"), "{}", reply.xml);

    let reply = send(invoke(
        USER_SERVICE,
        "RequestStateChange",
        "<r:RequestedState>32771</r:RequestedState>",
    ));
    assert!(
        reply.xml.contains("<g:ReturnValue>0</g:ReturnValue>"),
        "{}",
        reply.xml
    );

    let put = |strings: &str| {
        request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
            "AMT_EnvironmentDetectionSettingData",
            "",
            &format!(
                r#"<r:AMT_EnvironmentDetectionSettingData xmlns:r="{AMT}AMT_EnvironmentDetectionSettingData"><r:DetectionAlgorithm>0</r:DetectionAlgorithm><r:ElementName>{ENVIRONMENT_ID}</r:ElementName>{strings}<r:InstanceID>{ENVIRONMENT_ID}</r:InstanceID></r:AMT_EnvironmentDetectionSettingData>"#
            ),
        )
    };
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));
    let reply = send(put("<r:DetectionStrings>8f3a01c2d4e5</r:DetectionStrings>"));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    let plan = d.cira_plan(false).unwrap();
    assert_eq!(plan.server.address, "mps.vpro.test");
    assert_eq!(plan.retry_interval, 10);
    assert_eq!(
        plan.server.auth,
        MpsAuth::Password {
            username: MESH_USER.into(),
            password: "Aa1!aaaaaaaa".into()
        }
    );

    // What the amt manager reads back on its next pass.
    let enumerate = |class: &str| {
        let reply = send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
            class,
            "",
            r#"<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />"#,
        ));
        assert!(reply.fault.is_none(), "{class}: {}", reply.xml);
        let context = reply
            .xml
            .split("EnumerationContext>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_string();
        send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull",
            class,
            "",
            &format!(
                r#"<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>{context}</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>"#
            ),
        ))
        .xml
    };
    let applies = enumerate("AMT_RemoteAccessPolicyAppliesToMPS");
    assert!(applies.contains("<h:MpsType>0</h:MpsType>"), "{applies}");
    assert!(applies.contains(">Periodic</"), "{applies}");
    let saps = enumerate(SAP);
    assert!(
        saps.contains("<h:AccessInfo>mps.vpro.test</h:AccessInfo>"),
        "{saps}"
    );
    let users = enumerate("AMT_MPSUsernamePassword");
    assert!(
        users.contains(MESH_USER) && !users.contains("Aa1!"),
        "{users}"
    );
    assert!(!enumerate("AMT_RemoteAccessCredentialContext").contains("Fault"));
    let env = enumerate("AMT_EnvironmentDetectionSettingData");
    assert!(env.contains("8f3a01c2d4e5"), "{env}");

    // Clearing, as amtmanager.js does: the instance without the strings.
    send(put(""));
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));

    // Deletes by one selector, as amtmanager.js sends them.
    let delete = |class: &str, sel: String| {
        send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
            class,
            &sel,
            "",
        ))
    };
    let reply = delete(RULE, selector("PolicyRuleName", "Periodic"));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(d.remote_access().rules.is_empty());
    let reply = delete(
        SAP,
        selector("Name", "Intel(r) AMT:Management Presence Server 0"),
    );
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(d.remote_access().servers.is_empty());
    let reply = delete(
        SAP,
        selector("Name", "Intel(r) AMT:Management Presence Server 0"),
    );
    assert!(reply.fault.is_some(), "deleting twice: {}", reply.xml);
}

#[test]
fn refused_calls_answer_with_their_status() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    let code = |reply: crate::Reply| {
        reply
            .xml
            .split("<g:ReturnValue>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .map(str::to_string)
            .unwrap_or_else(|| reply.xml.clone())
    };
    let rv = |xml: String| code(send(xml));
    assert_eq!(
        rv(invoke(
            SERVICE,
            "AddMpServer",
            "<r:AccessInfo>10.0.0.300</r:AccessInfo><r:InfoFormat>3</r:InfoFormat><r:Port>4433</r:Port><r:AuthMethod>2</r:AuthMethod><r:Username>u</r:Username><r:Password>p</r:Password>",
        )),
        "36"
    );
    assert_eq!(
        rv(invoke(
            SERVICE,
            "AddMpServer",
            "<r:AccessInfo>mps.example</r:AccessInfo><r:InfoFormat>201</r:InfoFormat><r:Port>4433</r:Port><r:AuthMethod>2</r:AuthMethod>",
        )),
        "36",
        "password authentication without a user"
    );
    assert_eq!(code(add_mesh_server(&send)), "0");
    assert_eq!(code(add_mesh_server(&send)), "2058", "duplicate");
    assert_eq!(
        rv(invoke(
            SERVICE,
            "AddRemoteAccessPolicyRule",
            "<r:Trigger>7</r:Trigger><r:TunnelLifeTime>0</r:TunnelLifeTime>",
        )),
        "36"
    );
    assert_eq!(
        rv(invoke(
            USER_SERVICE,
            "RequestStateChange",
            "<r:RequestedState>2</r:RequestedState>",
        )),
        "5"
    );
    assert_eq!(d.remote_access().servers.len(), 1);
}

#[test]
fn firmware_without_remote_access_has_no_classes() {
    let old = amtemu_model::device::Firmware::by_name("3.2.1").unwrap();
    for class in CLASSES {
        assert!(crate::classes::lookup(class.name, old).is_none());
    }
}
