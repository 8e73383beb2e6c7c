//! System Defense over the wire: what MeshCommander writes, what comes
//! back, and every malformed or refused write leaving the tables as they
//! were.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::ControlMode;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/";

fn request(action: &str, class: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{AMT}{class}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

fn create(class: &str, props: &str) -> String {
    request(
        &format!("{TRANSFER}Create"),
        class,
        "",
        &format!(r#"<h:{class} xmlns:h="{AMT}{class}">{props}</h:{class}>"#),
    )
}

fn invoke(class: &str, method: &str, args: &str) -> String {
    request(
        &format!("{AMT}{class}/{method}"),
        class,
        "",
        &format!(r#"<h:{method}_INPUT xmlns:h="{AMT}{class}">{args}</h:{method}_INPUT>"#),
    )
}

fn get(class: &str, selectors: &str) -> String {
    request(&format!("{TRANSFER}Get"), class, selectors, "")
}

fn reference(class_uri: &str, selectors: &str) -> String {
    format!(
        r#"<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{class_uri}</w:ResourceURI><w:SelectorSet>{selectors}</w:SelectorSet></a:ReferenceParameters>"#
    )
}

fn port_ref(id: &str) -> String {
    reference(
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPort",
        &format!(r#"<w:Selector Name="DeviceID">{id}</w:Selector>"#),
    )
}

fn policy_ref(id: &str) -> String {
    reference(
        &format!("{AMT}{POLICY}"),
        &format!(r#"<w:Selector Name="InstanceID">{id}</w:Selector>"#),
    )
}

/// MeshCommander's AddDefenseFilterOk for "All ARP packets, drop".
const ARP_FILTER: &str = "<h:Name>arp</h:Name><h:CreationClassName>0</h:CreationClassName><h:SystemName>0</h:SystemName><h:SystemCreationClassName>0</h:SystemCreationClassName><h:HdrProtocolID8021>2054</h:HdrProtocolID8021><h:FilterProfile>4</h:FilterProfile><h:FilterDirection>1</h:FilterDirection><h:ActionEventOnMatch>1</h:ActionEventOnMatch>";

fn ip_filter(name: &str, extra: &str) -> String {
    format!(
        "<h:Name>{name}</h:Name><h:HdrIPVersion>4</h:HdrIPVersion><h:FilterProfile>0</h:FilterProfile><h:FilterDirection>0</h:FilterDirection><h:ActionEventOnMatch>false</h:ActionEventOnMatch>{extra}"
    )
}

fn policy(name: &str, handles: &[u32]) -> String {
    let handles: String = handles
        .iter()
        .map(|h| format!("<h:FilterCreationHandles>{h}</h:FilterCreationHandles>"))
        .collect();
    format!(
        "<h:PolicyName>{name}</h:PolicyName><h:PolicyPrecedence>1</h:PolicyPrecedence><h:TxDefaultCount>true</h:TxDefaultCount><h:TxDefaultDrop>false</h:TxDefaultDrop><h:TxDefaultMatchEvent>false</h:TxDefaultMatchEvent><h:RxDefaultCount>true</h:RxDefaultCount><h:RxDefaultDrop>true</h:RxDefaultDrop><h:RxDefaultMatchEvent>false</h:RxDefaultMatchEvent>{handles}"
    )
}

fn return_value(xml: &str) -> Option<u32> {
    let start = xml.find("ReturnValue>")? + "ReturnValue>".len();
    xml[start..].split('<').next()?.parse().ok()
}

#[test]
fn consoles_create_filters_and_policies_and_bind_a_policy() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(create(HDR8021, ARP_FILTER));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(reply.may_have_changed_state());
    let reply = send(create(
        IP_HEADERS,
        &ip_filter(
            "web",
            "<h:HdrProtocolID>6</h:HdrProtocolID><h:HdrDestAddress>0A000001</h:HdrDestAddress><h:HdrDestPortStart>80</h:HdrDestPortStart><h:HdrDestPortEnd>443</h:HdrDestPortEnd>",
        ),
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    let handles: Vec<u32> = d.defense().filters.iter().map(|f| f.handle).collect();
    assert_eq!(handles.len(), 2);

    let reply = send(create(POLICY, &policy("isolate", &handles)));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    let id = format!("{POLICY_ID}1");
    assert!(reply.xml.contains(&id), "{}", reply.xml);

    let reply = send(create(
        PORT_POLICY,
        &format!(
            "<h:Antecedent>{}</h:Antecedent><h:Dependent>{}</h:Dependent>",
            port_ref("Intel(r) AMT Ethernet Port 0"),
            policy_ref(&id)
        ),
    ));
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert_eq!(d.defense().active(0), Some(1));

    let got = send(get(
        POLICY,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#
        ),
    ));
    assert!(got.xml.contains("RxDefaultDrop>true<"), "{}", got.xml);
    assert!(got.xml.contains("FilterCreationHandles"), "{}", got.xml);
    let filters = send(get(
        IP_HEADERS,
        r#"<w:SelectorSet><w:Selector Name="Name">web</w:Selector></w:SelectorSet>"#,
    ));
    assert!(filters.xml.contains("0A000001"), "{}", filters.xml);

    // Put: the policy stops dropping what no filter matched.
    let put = request(
        &format!("{TRANSFER}Put"),
        POLICY,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#
        ),
        &format!(
            r#"<h:{POLICY} xmlns:h="{AMT}{POLICY}"><h:InstanceID>{id}</h:InstanceID><h:RxDefaultDrop>false</h:RxDefaultDrop></h:{POLICY}>"#
        ),
    );
    let reply = send(put);
    assert!(reply.fault.is_none(), "{}", reply.xml);
    assert!(!d.defense().policies[0].rx.drop);

    let reply = send(invoke(POLICY, "SetTimeout", "<h:Timeout>120</h:Timeout>"));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    let reply = send(invoke(POLICY, "GetTimeout", ""));
    assert!(reply.xml.contains(">120<"), "{}", reply.xml);
    let reply = send(invoke(
        POLICY,
        "UpdateStatistics",
        &format!(
            "<h:NetworkInterface>{}</h:NetworkInterface><h:ResetOnRead>true</h:ResetOnRead>",
            port_ref("Intel(r) AMT Ethernet Port 0")
        ),
    ));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);

    // The associations follow the tables: the policy in its service, and
    // each of its two filters in it, named by class and Name.
    let in_service = policies_in_service(&d);
    assert_eq!(in_service.len(), 1);
    let dependent = in_service[0].get("Dependent").and_then(|v| v.as_ref());
    assert_eq!(
        dependent.and_then(|r| r.selector_text("InstanceID")),
        Some(id.as_str())
    );
    let antecedent = in_service[0].get("Antecedent").and_then(|v| v.as_ref());
    assert_eq!(
        antecedent.and_then(|r| r.selector_text("Name")),
        Some(SERVICE_NAME)
    );
    let in_policy = filters_in_policies(&d);
    let names: Vec<_> = in_policy
        .iter()
        .filter_map(|i| i.get("Dependent")?.as_ref()?.selector_text("Name"))
        .collect();
    assert_eq!(names, ["arp", "web"]);
    let enumerated = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        FILTER_IN_POLICY,
        "",
        r#"<n:Enumerate xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements></n:Enumerate>"#,
    ));
    assert!(enumerated.fault.is_none(), "{}", enumerated.xml);
    assert!(enumerated.xml.contains(IP_HEADERS), "{}", enumerated.xml);

    // The bound policy cannot go; unbound, it can, and then its filters.
    let binding = bindings(&d).remove(0);
    assert!(delete_policy(&d, &policies(&d)[0]).is_err());
    delete_binding(&d, &binding).unwrap();
    delete_policy(&d, &policies(&d)[0]).unwrap();
    for f in all_filters(&d) {
        delete_filter(&d, &f).unwrap();
    }
    let left = d.defense();
    assert!(left.filters.is_empty() && left.policies.is_empty() && left.bound.is_empty());
    assert!(policies_in_service(&d).is_empty() && filters_in_policies(&d).is_empty());
}

#[test]
fn malformed_and_refused_writes_change_nothing() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    assert!(send(create(HDR8021, ARP_FILTER)).fault.is_none());
    assert!(
        send(create(POLICY, &policy("isolate", &[1])))
            .fault
            .is_none()
    );
    let before = d.defense();
    let invalid = Some(Fault::InvalidRepresentation);
    let param = Some(Fault::InternalError(PtStatus::InvalidParameter.into()));
    let cases = [
        // wrong types
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">2054<", ">arp<")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            invalid.clone(),
        ),
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">4</h:FilterProfile", ">drop</h:FilterProfile")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            invalid.clone(),
        ),
        (
            create(
                POLICY,
                &policy("p2", &[]).replace(">1</h:PolicyPrecedence", ">high</h:PolicyPrecedence"),
            ),
            invalid.clone(),
        ),
        (
            create(
                POLICY,
                &policy("p2", &[]).replace(">true</h:RxDefaultDrop", ">maybe</h:RxDefaultDrop"),
            ),
            invalid.clone(),
        ),
        // out of range
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">2054<", ">70000<")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            invalid.clone(),
        ),
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">4</h:FilterProfile", ">9</h:FilterProfile")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            invalid.clone(),
        ),
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">1</h:FilterDirection", ">7</h:FilterDirection")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            param.clone(),
        ),
        (
            create(
                HDR8021,
                &ARP_FILTER
                    .replace(">4</h:FilterProfile", ">2</h:FilterProfile")
                    .replace(">arp</h:Name", ">x</h:Name"),
            ),
            param.clone(),
        ),
        (
            create(
                IP_HEADERS,
                &ip_filter("x", "").replace(">4</h:HdrIPVersion", ">5</h:HdrIPVersion"),
            ),
            param.clone(),
        ),
        (
            create(
                IP_HEADERS,
                &ip_filter("x", "<h:HdrSrcAddress>0A0000</h:HdrSrcAddress>"),
            ),
            invalid.clone(),
        ),
        (
            create(
                IP_HEADERS,
                &ip_filter(
                    "x",
                    "<h:HdrSrcPortStart>90</h:HdrSrcPortStart><h:HdrSrcPortEnd>80</h:HdrSrcPortEnd>",
                ),
            ),
            param.clone(),
        ),
        (
            create(IP_HEADERS, &ip_filter(&"n".repeat(40), "")),
            param.clone(),
        ),
        (create(POLICY, &policy("p2", &[9])), param.clone()),
        (
            create(
                POLICY,
                &policy("p2", &[]).replace(
                    "<h:PolicyPrecedence>",
                    "<h:AntiSpoofingSupport>5</h:AntiSpoofingSupport><h:PolicyPrecedence>",
                ),
            ),
            param.clone(),
        ),
        // duplicates
        (create(HDR8021, ARP_FILTER), Some(Fault::AlreadyExists)),
        (
            create(POLICY, &policy("isolate", &[])),
            Some(Fault::AlreadyExists),
        ),
        // bindings to a port or policy that is not there
        (
            create(
                PORT_POLICY,
                &format!(
                    "<h:Antecedent>{}</h:Antecedent><h:Dependent>{}</h:Dependent>",
                    port_ref("Intel(r) AMT Ethernet Port 2"),
                    policy_ref(&format!("{POLICY_ID}1"))
                ),
            ),
            invalid.clone(),
        ),
        (
            create(
                PORT_POLICY,
                &format!(
                    "<h:Antecedent>{}</h:Antecedent><h:Dependent>{}</h:Dependent>",
                    port_ref("Intel(r) AMT Ethernet Port 0"),
                    policy_ref(&format!("{POLICY_ID}8"))
                ),
            ),
            param.clone(),
        ),
        (
            create(
                PORT_POLICY,
                "<h:Antecedent>port</h:Antecedent><h:Dependent>policy</h:Dependent>",
            ),
            invalid.clone(),
        ),
        // unknown selectors
        (
            get(
                POLICY,
                r#"<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT:SystemDefensePolicy 7</w:Selector></w:SelectorSet>"#,
            ),
            Some(Fault::InvalidSelectors),
        ),
        (
            get(
                POLICY,
                r#"<w:SelectorSet><w:Selector Name="PolicyName">isolate</w:Selector></w:SelectorSet>"#,
            ),
            Some(Fault::InvalidSelectors),
        ),
        (
            request(
                &format!("{TRANSFER}Delete"),
                HDR8021,
                r#"<w:SelectorSet><w:Selector Name="Name">nothing</w:Selector></w:SelectorSet>"#,
                "",
            ),
            Some(Fault::InvalidSelectors),
        ),
    ];
    for (xml, fault) in cases {
        let reply = send(xml.clone());
        assert_eq!(reply.fault, fault, "{xml}\n{}", reply.xml);
        assert_eq!(d.defense(), before, "{xml}");
    }
    for (method, args) in [
        ("SetTimeout", "<h:Timeout>soon</h:Timeout>"),
        ("SetTimeout", "<h:Timeout>-1</h:Timeout>"),
        ("UpdateStatistics", ""),
        (
            "UpdateStatistics",
            &format!(
                "<h:NetworkInterface>{}</h:NetworkInterface>",
                port_ref("Ethernet Port 5")
            ),
        ),
        (
            "UpdateStatistics",
            &format!(
                "<h:NetworkInterface>{}</h:NetworkInterface><h:ResetOnRead>perhaps</h:ResetOnRead>",
                port_ref("Intel(r) AMT Ethernet Port 0")
            ),
        ),
    ] {
        let reply = send(invoke(POLICY, method, args));
        assert_eq!(
            return_value(&reply.xml),
            Some(36),
            "{method} {args}: {}",
            reply.xml
        );
    }
    assert_eq!(d.defense(), before);
}

#[test]
fn client_control_mode_refuses_system_defense() {
    let d = device("11.8");
    d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
    let state = WsmanState::default();
    let reply = handle(
        &d,
        &state,
        &Caller::Admin,
        create(HDR8021, ARP_FILTER).as_bytes(),
    );
    assert_eq!(
        reply.fault,
        Some(Fault::InternalError(PtStatus::NotPermitted.into()))
    );
    assert!(d.defense().filters.is_empty());
}

#[test]
fn active_filter_statistics_follow_the_active_policy_and_count_reads() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    let read_counts = || -> Vec<i64> {
        active_filter_statistics(&d)
            .iter()
            .filter_map(|i| i.get("ReadCount")?.as_int())
            .collect()
    };
    let update = |reset: bool| {
        let reply = send(invoke(
            POLICY,
            "UpdateStatistics",
            &format!(
                "<h:NetworkInterface>{}</h:NetworkInterface><h:ResetOnRead>{reset}</h:ResetOnRead>",
                port_ref("Intel(r) AMT Ethernet Port 0")
            ),
        ));
        assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    };

    assert!(send(create(HDR8021, ARP_FILTER)).fault.is_none());
    assert!(
        send(create(IP_HEADERS, &ip_filter("any", "")))
            .fault
            .is_none()
    );
    let handles: Vec<u32> = d.defense().filters.iter().map(|f| f.handle).collect();
    assert!(
        send(create(POLICY, &policy("isolate", &handles)))
            .fault
            .is_none()
    );
    // No interface enforces it yet: no statistics.
    assert!(active_filter_statistics(&d).is_empty());
    update(false);
    assert!(d.defense().stats.is_empty());

    let id = format!("{POLICY_ID}1");
    let bind = format!(
        "<h:Antecedent>{}</h:Antecedent><h:Dependent>{}</h:Dependent>",
        port_ref("Intel(r) AMT Ethernet Port 0"),
        policy_ref(&id)
    );
    assert!(send(create(PORT_POLICY, &bind)).fault.is_none());
    let stats = active_filter_statistics(&d);
    assert_eq!(stats.len(), 2, "one per filter of the active policy");
    for s in &stats {
        assert_eq!(s.get("FilterMatched").and_then(Value::as_bool), Some(false));
        assert!(matches!(s.get("ActivationTime"), Some(Value::Datetime(_))));
        let placed = s.get("Dependent").and_then(Value::as_ref).unwrap();
        assert!(placed.resource_uri.ends_with(FILTER_IN_POLICY));
    }
    assert_eq!(read_counts(), [0, 0]);

    // Each update is a read; a reset-on-read publishes this read's count,
    // then starts again.
    update(false);
    update(false);
    assert_eq!(read_counts(), [2, 2]);
    update(true);
    assert_eq!(read_counts(), [3, 3]);
    update(false);
    assert_eq!(read_counts(), [1, 1]);

    // Over the wire: the enumeration carries the counters; a Get of an
    // instance that does not exist faults.
    let enumerated = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        ACTIVE_STATISTICS,
        "",
        r#"<n:Enumerate xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements></n:Enumerate>"#,
    ));
    assert!(enumerated.fault.is_none(), "{}", enumerated.xml);
    assert!(
        enumerated.xml.contains("ReadCount>1<"),
        "{}",
        enumerated.xml
    );
    let missing = send(get(
        ACTIVE_STATISTICS,
        &format!(
            r#"<w:SelectorSet><w:Selector Name="Antecedent"><a:EndpointReference>{}</a:EndpointReference></w:Selector></w:SelectorSet>"#,
            port_ref("Intel(r) AMT Ethernet Port 1")
        ),
    ));
    assert!(missing.fault.is_some(), "{}", missing.xml);

    // Unbound, the interface has no statistics left.
    delete_binding(&d, &bindings(&d)[0]).unwrap();
    assert!(active_filter_statistics(&d).is_empty());
    assert!(d.defense().stats.is_empty());
}
