//! Subscriptions as MeshCommander makes and removes them, PET filters, and
//! every malformed request refused with nothing changed.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::users::{Caller, realm};
use amtemu_model::testing::device;

const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

fn request(action: &str, uri: &str, headers: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:m="http://x.com"><Header><a:Action>{action}</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>1</a:MessageID>{headers}</Header><Body>{body}</Body></Envelope>"#
    )
}

fn filter_selector(filter: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="InstanceID">{filter}</w:Selector></w:SelectorSet>"#)
}

/// MeshCommander's Subscribe (amt-wsman.js ExecSubscribe) in push mode.
fn subscribe_with(filter: &str, mode: &str, address: &str, extra: &str) -> String {
    request(
        names::ACTION_SUBSCRIBE,
        &format!("{CIM}CIM_FilterCollection"),
        &filter_selector(filter),
        &format!(
            r#"<e:Subscribe><e:Delivery Mode="{mode}"><e:NotifyTo><a:Address>{address}</a:Address><a:ReferenceParameters><m:arg>tag-1</m:arg></a:ReferenceParameters></e:NotifyTo></e:Delivery>{extra}</e:Subscribe>"#
        ),
    )
}

fn subscribe(address: &str) -> String {
    subscribe_with("Intel(r) AMT:All", names::DELIVERY_PUSH, address, "")
}

/// MeshCommander's Unsubscribe: the subscription named by its Filter and
/// Handler EPRs.
fn on_subscription(action: &str, filter: &str, handler: &str, body: &str) -> String {
    let selectors = format!(
        r#"<w:SelectorSet><w:Selector Name="Filter"><a:EndpointReference><a:Address>{anon}</a:Address><a:ReferenceParameters><w:ResourceURI>{CIM}CIM_FilterCollection</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">{filter}</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector><w:Selector Name="Handler"><a:EndpointReference><a:Address>{anon}</a:Address><a:ReferenceParameters><w:ResourceURI>{CIM}CIM_ListenerDestinationWSManagement</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">CIM_ListenerDestinationWSMAN</w:Selector><w:Selector Name="Name">{handler}</w:Selector><w:Selector Name="SystemCreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="SystemName">Intel(r) AMT</w:Selector></w:SelectorSet></a:ReferenceParameters></a:EndpointReference></w:Selector></w:SelectorSet>"#,
        anon = names::ANONYMOUS
    );
    request(
        action,
        &format!("{CIM}CIM_FilterCollectionSubscription"),
        &selectors,
        body,
    )
}

fn send(d: &Device, xml: &str) -> crate::Reply {
    handle(d, &WsmanState::default(), &Caller::Admin, xml.as_bytes())
}

#[test]
fn subscribe_lists_the_subscription_and_unsubscribe_removes_it() {
    let d = device("11.8");
    let reply = send(&d, &subscribe("http://127.0.0.1:9000/events"));
    assert_eq!(reply.fault, None, "{}", reply.xml);
    assert_eq!(reply.operation, "Subscribe");
    assert!(reply.may_have_changed_state());
    assert!(
        reply
            .xml
            .contains("<g:SubscribeResponse><g:SubscriptionManager>")
    );
    assert!(reply.xml.contains("Intel(r) AMT:Listener 1"));
    let subs = d.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].mode, DeliveryMode::Push);
    assert_eq!(subs[0].reference_parameters[0].text, "tag-1");
    assert_eq!(subs[0].expires, None);
    // Shown as firmware shows subscriptions: a listener and the association.
    let listener = &listeners(&d)[0];
    assert_eq!(
        listener.text("Destination"),
        Some("http://127.0.0.1:9000/events")
    );
    assert_eq!(listener.int("DeliveryMode"), Some(2));
    assert_eq!(subscriptions(&d).len(), 1);
    // The base class enumerates the WS-Man listener too (MeshCommander
    // reads CIM_ListenerDestination).
    let base = lookup_listener_base();
    assert_eq!((base.instances)(&d).len(), 1);

    let reply = send(
        &d,
        &on_subscription(
            names::ACTION_UNSUBSCRIBE,
            "Intel(r) AMT:All",
            "Intel(r) AMT:Listener 1",
            "<e:Unsubscribe/>",
        ),
    );
    assert_eq!(reply.fault, None, "{}", reply.xml);
    assert!(d.subscriptions().is_empty());
    // Again: it is gone.
    let reply = send(
        &d,
        &on_subscription(
            names::ACTION_UNSUBSCRIBE,
            "Intel(r) AMT:All",
            "Intel(r) AMT:Listener 1",
            "<e:Unsubscribe/>",
        ),
    );
    assert_eq!(reply.fault, Some(Fault::InvalidSelectors));
}

fn lookup_listener_base() -> &'static Class {
    crate::classes::lookup_any(LISTENER).unwrap()
}

#[test]
fn push_with_ack_expiry_credentials_and_renew() {
    let d = device("16.1");
    let token = r#"<t:IssuedTokens xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:se="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><t:RequestSecurityTokenResponse><t:RequestedSecurityToken><se:UsernameToken><se:Username>u</se:Username><se:Password>p</se:Password></se:UsernameToken></t:RequestedSecurityToken></t:RequestSecurityTokenResponse></t:IssuedTokens>"#;
    let xml = subscribe_with(
        "Intel(r) AMT:All",
        names::DELIVERY_PUSH_WITH_ACK,
        "http://127.0.0.1:9000/",
        "<e:Expires>PT10M</e:Expires>",
    )
    .replace(
        "</e:NotifyTo>",
        r#"</e:NotifyTo><w:Auth Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"/>"#,
    )
    .replace("</Header>", &format!("{token}</Header>"));
    let reply = send(&d, &xml);
    assert_eq!(reply.fault, None, "{}", reply.xml);
    assert!(
        reply.xml.contains("<g:Expires>P0DT0H10M</g:Expires>"),
        "{}",
        reply.xml
    );
    let sub = d.subscriptions().remove(0);
    assert_eq!(sub.mode, DeliveryMode::PushWithAck);
    assert_eq!(sub.credentials, Some(("u".into(), "p".into())));
    let reply = send(
        &d,
        &on_subscription(
            names::ACTION_RENEW,
            "Intel(r) AMT:All",
            "Intel(r) AMT:Listener 1",
            "<e:Renew><e:Expires>PT1H</e:Expires></e:Renew>",
        ),
    );
    assert_eq!(reply.fault, None, "{}", reply.xml);
    assert!(reply.xml.contains("<g:RenewResponse><g:Expires>P0DT1H"));
    assert!(d.subscriptions()[0].expires > sub.expires);
}

#[test]
fn malformed_subscriptions_are_refused_and_change_nothing() {
    let d = device("11.8");
    send(&d, &subscribe("http://127.0.0.1:9000/"));
    let before = d.subscriptions();
    let cim = format!("{CIM}CIM_FilterCollection");
    let cases: Vec<(String, Fault)> = vec![
        // Unknown filter, no selectors.
        (
            subscribe_with("Intel(r) AMT:None", names::DELIVERY_PUSH, "http://127.0.0.1:1/", ""),
            Fault::InvalidSelectors,
        ),
        (
            subscribe("http://127.0.0.1:2/").replace(&filter_selector("Intel(r) AMT:All"), ""),
            Fault::InvalidSelectors,
        ),
        (
            subscribe("http://127.0.0.1:2/").replace(
                r#"Name="InstanceID""#,
                r#"Name="Bogus""#,
            ),
            Fault::InvalidSelectors,
        ),
        // Pull mode, no mode, a bad address, none at all.
        (
            subscribe_with(
                "Intel(r) AMT:All",
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull",
                "http://127.0.0.1:3/",
                "",
            ),
            Fault::UnsupportedFeature,
        ),
        (
            subscribe("http://127.0.0.1:3/").replace(
                &format!(r#" Mode="{}""#, names::DELIVERY_PUSH),
                "",
            ),
            Fault::UnsupportedFeature,
        ),
        (subscribe("gopher://127.0.0.1/"), Fault::InvalidParameter),
        (
            subscribe(&format!("http://h/{}", "x".repeat(300))),
            Fault::InvalidParameter,
        ),
        (
            subscribe("http://127.0.0.1:4/").replace("<a:Address>http://127.0.0.1:4/</a:Address>", ""),
            Fault::InvalidParameter,
        ),
        // Expiry: malformed, zero, in the past.
        (
            subscribe_with(
                "Intel(r) AMT:All",
                names::DELIVERY_PUSH,
                "http://127.0.0.1:5/",
                "<e:Expires>soon</e:Expires>",
            ),
            Fault::InvalidParameter,
        ),
        (
            subscribe_with(
                "Intel(r) AMT:All",
                names::DELIVERY_PUSH,
                "http://127.0.0.1:5/",
                "<e:Expires>PT0S</e:Expires>",
            ),
            Fault::InvalidParameter,
        ),
        (
            subscribe_with(
                "Intel(r) AMT:All",
                names::DELIVERY_PUSH,
                "http://127.0.0.1:5/",
                "<e:Expires>2001-01-01T00:00:00Z</e:Expires>",
            ),
            Fault::InvalidParameter,
        ),
        // Authentication asked for without credentials.
        (
            subscribe("http://127.0.0.1:6/").replace(
                "</e:NotifyTo>",
                r#"</e:NotifyTo><w:Auth Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"/>"#,
            ),
            Fault::InvalidParameter,
        ),
        // A reference parameter XML could not carry back.
        (
            subscribe("http://127.0.0.1:7/").replace("<m:arg>tag-1</m:arg>", &format!("<m:arg>{}</m:arg>", "y".repeat(300))),
            Fault::InvalidParameter,
        ),
        // The same address on the same filter again.
        (subscribe("http://127.0.0.1:9000/"), Fault::AlreadyExists),
        // Subscribe elsewhere than a filter collection, a wrong body.
        (
            subscribe("http://127.0.0.1:8/").replace(&cim, &format!("{AMT}AMT_EventManagerService")),
            Fault::ActionNotSupported,
        ),
        (
            request(names::ACTION_SUBSCRIBE, &cim, &filter_selector("Intel(r) AMT:All"), "<e:Renew/>"),
            Fault::SchemaValidationError,
        ),
    ];
    for (xml, fault) in cases {
        let reply = send(&d, &xml);
        assert_eq!(reply.fault, Some(fault), "{xml}\n{}", reply.xml);
        assert_eq!(d.subscriptions(), before, "{xml}");
    }
}

#[test]
fn the_table_is_as_large_as_firmwares_and_no_larger() {
    let d = device("5.2");
    for port in 0..6 {
        let reply = send(
            &d,
            &subscribe(&format!("http://127.0.0.1:{}/", 9000 + port)),
        );
        assert_eq!(reply.fault, None);
    }
    let reply = send(&d, &subscribe("http://127.0.0.1:9999/"));
    assert_eq!(
        reply.fault,
        Some(Fault::InternalError(PtStatus::MaxLimitReached.into()))
    );
    assert_eq!(d.subscriptions().len(), 6);
}

#[test]
fn renew_and_unsubscribe_need_a_known_subscription_and_good_input() {
    let d = device("11.8");
    send(&d, &subscribe("http://127.0.0.1:9000/"));
    let before = d.subscriptions();
    let cases = [
        (
            on_subscription(
                names::ACTION_RENEW,
                "Intel(r) AMT:All",
                "Intel(r) AMT:Listener 9",
                "<e:Renew/>",
            ),
            Fault::InvalidSelectors,
        ),
        (
            on_subscription(
                names::ACTION_UNSUBSCRIBE,
                "Intel(r) AMT:Platform",
                "Intel(r) AMT:Listener 1",
                "<e:Unsubscribe/>",
            ),
            Fault::InvalidSelectors,
        ),
        (
            on_subscription(
                names::ACTION_RENEW,
                "Intel(r) AMT:All",
                "Intel(r) AMT:Listener 1",
                "<e:Renew><e:Expires>-PT1H</e:Expires></e:Renew>",
            ),
            Fault::InvalidParameter,
        ),
        // Without selectors it would reach the first subscription.
        (
            request(
                names::ACTION_UNSUBSCRIBE,
                &format!("{CIM}CIM_FilterCollectionSubscription"),
                "",
                "<e:Unsubscribe/>",
            ),
            Fault::InvalidSelectors,
        ),
        // Unsubscribe sent to the filter collection.
        (
            request(
                names::ACTION_UNSUBSCRIBE,
                &format!("{CIM}CIM_FilterCollection"),
                &filter_selector("Intel(r) AMT:All"),
                "<e:Unsubscribe/>",
            ),
            Fault::ActionNotSupported,
        ),
    ];
    for (xml, fault) in cases {
        let reply = send(&d, &xml);
        assert_eq!(reply.fault, Some(fault), "{xml}\n{}", reply.xml);
        assert_eq!(d.subscriptions(), before);
    }
}

#[test]
fn eventing_needs_the_event_manager_realm_and_a_firmware_with_it() {
    let d = device("11.8");
    let remote = Caller::User {
        name: "rc".into(),
        realms: vec![realm::REMOTE_CONTROL],
    };
    let reply = handle(
        &d,
        &WsmanState::default(),
        &remote,
        subscribe("http://127.0.0.1:9000/").as_bytes(),
    );
    assert_eq!(reply.fault, Some(Fault::AccessDenied));
    let manager = Caller::User {
        name: "em".into(),
        realms: vec![realm::EVENT_MANAGER],
    };
    let reply = handle(
        &d,
        &WsmanState::default(),
        &manager,
        subscribe("http://127.0.0.1:9000/").as_bytes(),
    );
    assert_eq!(reply.fault, None);
    // 3.2 has WS-Eventing, 18.0 has no PET filters.
    assert!(crate::classes::lookup(FILTER_COLLECTION, device("3.2.1").firmware).is_some());
    assert!(crate::classes::lookup(PET_FILTER, device("18.0").firmware).is_none());
    assert!(crate::classes::lookup(PET_FILTER, device("16.1").firmware).is_some());
}

#[test]
fn pet_filters_change_only_what_they_do() {
    let d = device("11.8");
    let current = pet_filters(&d).remove(1);
    let id = current.text("InstanceID").unwrap().to_string();
    let put = |input: Instance| put_pet_filter(&d, &current, &input);
    put(Instance::new(PET_FILTER)
        .with("InstanceID", id.as_str())
        .with("LogOnEvent", "false")
        .with("SendAlert", "true"))
    .unwrap();
    let now = pet_filters(&d).remove(1);
    assert_eq!(now.bool("LogOnEvent"), Some(false));
    assert_eq!(now.bool("SendAlert"), Some(true));
    let before = pet_filters(&d);
    for (input, fault) in [
        (
            Instance::new(PET_FILTER).with("LogOnEvent", "maybe"),
            Fault::InvalidRepresentation,
        ),
        (
            Instance::new(PET_FILTER).with("SendAlert", "2"),
            Fault::InvalidRepresentation,
        ),
        (
            Instance::new(PET_FILTER)
                .with("InstanceID", "Intel(r) AMT:PET Filter 77")
                .with("LogOnEvent", "true"),
            Fault::InvalidSelectors,
        ),
    ] {
        assert_eq!(put(input), Err(fault));
        assert_eq!(pet_filters(&d), before);
    }
    // Through the engine: an unknown InstanceID selector.
    let xml = request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
        &format!("{AMT}{PET_FILTER}"),
        r#"<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT:PET Filter 77</w:Selector></w:SelectorSet>"#,
        &format!(
            r#"<h:{PET_FILTER} xmlns:h="{AMT}{PET_FILTER}"><h:LogOnEvent>true</h:LogOnEvent></h:{PET_FILTER}>"#
        ),
    );
    assert_eq!(send(&d, &xml).fault, Some(Fault::InvalidSelectors));
    assert_eq!(pet_filters(&d), before);
}

#[test]
fn power_and_boot_events_become_platform_indications() {
    use amtemu_model::device::{BootTarget, DeviceEvent, HostPower};
    let d = device("11.8");
    let off = indication(
        &d,
        &DeviceEvent::PowerChanged {
            from: HostPower::S0,
            to: HostPower::S5,
        },
    )
    .unwrap();
    assert_eq!(off.instance.text("MessageID"), Some("PLAT0362"));
    assert!(off.filters.contains(&"Intel(r) AMT:All"));
    let boot = indication(&d, &DeviceEvent::Booted(BootTarget::Pxe)).unwrap();
    assert_eq!(boot.instance.text("MessageID"), Some("PLAT0300"));
    assert_eq!(indication(&d, &DeviceEvent::SettingsChanged("x")), None);
}

#[test]
fn the_indication_service_comes_with_ws_eventing() {
    for fw in ["3.2.1", "11.8", "15.0"] {
        let d = device(fw);
        assert!(
            crate::classes::lookup(INDICATION_SERVICE, d.firmware).is_some(),
            "{fw}"
        );
        let i = &indication_service(&d)[0];
        assert_eq!(i.int("DeliveryRetryAttempts"), Some(0));
        assert_eq!(i.bool("FilterCreationEnabled"), Some(false));
    }
}
