use super::*;

const MESHCOMMANDER_GET: &str = r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body /></Envelope>"#;

#[test]
fn parses_a_default_namespace_get_without_selectors() {
    let r = parse(MESHCOMMANDER_GET.as_bytes()).unwrap();
    assert_eq!(r.action.as_deref(), Some(names::ACTION_GET));
    assert_eq!(r.to.as_deref(), Some("/wsman"));
    assert_eq!(r.message_id.as_deref(), Some("1"));
    assert_eq!(r.selectors, None);
    assert_eq!(r.body, Body::Empty);
}

const AMTCTRL_INVOKE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:n1="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService">
<s:Header>
<wsa:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService/RequestPowerStateChange</wsa:Action>
<wsa:To s:mustUnderstand="true">http://127.0.0.1:16992/wsman</wsa:To>
<wsman:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService</wsman:ResourceURI>
<wsa:MessageID s:mustUnderstand="true">uuid:c80a3841-a93a-436d-88b2-5dd613e7dee9</wsa:MessageID>
<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
<wsman:SelectorSet>
   <wsman:Selector Name="Name">Intel(r) AMT Power Management Service</wsman:Selector>
</wsman:SelectorSet>
</s:Header>
<s:Body>
  <n1:RequestPowerStateChange_INPUT>
    <n1:PowerState>5</n1:PowerState>
    <n1:ManagedElement>
      <wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address>
      <wsa:ReferenceParameters>
         <wsman:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</wsman:ResourceURI>
         <wsman:SelectorSet>
            <wsman:Selector wsman:Name="Name">ManagedSystem</wsman:Selector>
         </wsman:SelectorSet>
       </wsa:ReferenceParameters>
     </n1:ManagedElement>
   </n1:RequestPowerStateChange_INPUT>
  </s:Body></s:Envelope>"#;

#[test]
fn parses_a_pretty_printed_invoke_with_an_epr_argument() {
    let r = parse(AMTCTRL_INVOKE.as_bytes()).unwrap();
    assert_eq!(
        r.selectors.unwrap(),
        vec![(
            "Name".to_string(),
            SelectorValue::Text("Intel(r) AMT Power Management Service".into())
        )]
    );
    let Body::Payload {
        namespace,
        instance,
    } = r.body
    else {
        panic!("expected a payload");
    };
    assert_eq!(
        namespace.as_deref(),
        Some("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService")
    );
    assert_eq!(instance.class, "RequestPowerStateChange_INPUT");
    assert_eq!(instance.int("PowerState"), Some(5));
    let epr = instance.get("ManagedElement").unwrap().as_ref().unwrap();
    assert_eq!(epr.selector_text("Name"), Some("ManagedSystem"));
    assert!(epr.resource_uri.ends_with("CIM_ComputerSystem"));
}

#[test]
fn a_mandatory_header_nobody_understands_is_refused() {
    let xml = MESHCOMMANDER_GET.replace(
        "<Header>",
        r#"<Header><w:OptionSet xmlns:s="http://www.w3.org/2003/05/soap-envelope" s:mustUnderstand="true"><w:Option Name="x">1</w:Option></w:OptionSet>"#,
    );
    assert_eq!(
        parse(xml.as_bytes()),
        Err(Fault::MustUnderstand("OptionSet".into()))
    );
    let optional = MESHCOMMANDER_GET.replace(
        "<Header>",
        r#"<Header><w:OptionSet><w:Option Name="x">1</w:Option></w:OptionSet>"#,
    );
    assert!(parse(optional.as_bytes()).is_ok());
}

#[test]
fn repeated_properties_become_arrays_and_entities_are_decoded() {
    let xml = MESHCOMMANDER_GET.replace(
        "<Body />",
        r#"<Body><r:X xmlns:r="urn:x"><r:A>1</r:A><r:A>2</r:A><r:B>a &amp; b&#33;</r:B></r:X></Body>"#,
    );
    let Body::Payload { instance, .. } = parse(xml.as_bytes()).unwrap().body else {
        panic!()
    };
    assert_eq!(
        instance.get("A"),
        Some(&Value::Array(vec![Value::text("1"), Value::text("2")]))
    );
    assert_eq!(instance.text("B"), Some("a & b!"));
}

#[test]
fn soap_1_1_is_a_version_mismatch_and_garbage_a_schema_error() {
    let xml = MESHCOMMANDER_GET.replace(
        "http://www.w3.org/2003/05/soap-envelope",
        "http://schemas.xmlsoap.org/soap/envelope/",
    );
    assert_eq!(parse(xml.as_bytes()), Err(Fault::VersionMismatch));
    assert_eq!(parse(b"not xml"), Err(Fault::SchemaValidationError));
    assert_eq!(
        parse(&MESHCOMMANDER_GET.as_bytes()[..200]),
        Err(Fault::SchemaValidationError)
    );
    assert_eq!(parse(&[0xff, 0xfe]), Err(Fault::SchemaValidationError));
}

#[test]
fn deep_nesting_is_refused_not_recursed() {
    let open = "<r:X>".repeat(10_000);
    let xml = MESHCOMMANDER_GET.replace(
        "<Body />",
        &format!(r#"<Body><r:P xmlns:r="urn:x">{open}</r:P></Body>"#),
    );
    assert_eq!(parse(xml.as_bytes()), Err(Fault::SchemaValidationError));
}

mod properties {
    use super::super::*;
    use crate::wsman::writer::escape_into;
    use proptest::prelude::*;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        escape_into(&mut out, s);
        out
    }

    /// Printable text without leading/trailing whitespace (header values
    /// are trimmed) and without characters XML 1.0 cannot carry.
    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z0-9:/._&<>\"'() -]{1,40}"
            .prop_map(|s| s.trim().to_string())
            .prop_filter("empty", |s| !s.is_empty())
    }

    /// Prefixes clients use for each namespace (each set distinct from
    /// the others, so declarations never clash).
    fn prefix() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "s|soap|env|S".prop_map(Some)]
    }

    fn qualified(prefix: &Option<String>, local: &str) -> String {
        match prefix {
            Some(p) => format!("{p}:{local}"),
            None => local.to_string(),
        }
    }

    fn xmlns(prefix: &Option<String>, ns: &str) -> String {
        match prefix {
            Some(p) => format!(r#" xmlns:{p}="{ns}""#),
            None => format!(r#" xmlns="{ns}""#),
        }
    }

    /// A second prefix for the SOAP namespace, carrying mustUnderstand.
    const SOAP_ALIAS: &str = r#" xmlns:soapns="http://www.w3.org/2003/05/soap-envelope""#;

    prop_compose! {
        fn request_parts()(
            action in text(),
            resource in text(),
            message_id in text(),
            to in text(),
            selectors in proptest::collection::vec(("[A-Za-z]{1,12}", text()), 0..4),
            props in proptest::collection::btree_map("[A-Z][A-Za-z]{0,10}", text(), 0..6),
            order in Just(()).prop_perturb(|_, mut rng| {
                let mut v: Vec<usize> = (0..5).collect();
                for i in (1..v.len()).rev() {
                    let j = (rng.next_u32() as usize) % (i + 1);
                    v.swap(i, j);
                }
                v
            }),
            soap_p in prefix(), addr_p in "a|wsa|addr", wsman_p in "w|wsman|man", must in any::<bool>(),
        ) -> (String, Request<'static>) {
            let s = |l: &str| qualified(&soap_p, l);
            let mu = if must { format!(r#" {}="true""#, qualified(&Some("soapns".into()), "mustUnderstand")) } else { String::new() };
            let headers = [
                format!("<{addr_p}:Action{mu}>{}</{addr_p}:Action>", esc(&action)),
                format!("<{addr_p}:To{mu}>{}</{addr_p}:To>", esc(&to)),
                format!("<{wsman_p}:ResourceURI{mu}>{}</{wsman_p}:ResourceURI>", esc(&resource)),
                format!("<{addr_p}:MessageID{mu}>{}</{addr_p}:MessageID>", esc(&message_id)),
                format!(
                    "<{wsman_p}:SelectorSet>{}</{wsman_p}:SelectorSet>",
                    selectors.iter().map(|(n, v)| format!(r#"<{wsman_p}:Selector Name="{}">{}</{wsman_p}:Selector>"#, esc(n), esc(v))).collect::<String>()
                ),
            ];
            let header: String = order.iter().map(|&i| headers[i].clone()).collect();
            let body: String = props.iter().map(|(k, v)| format!("<p:{k}>{}</p:{k}>", esc(v))).collect();
            let xml = format!(
                r#"<?xml version="1.0"?><{env}{soapns}{sns} xmlns:{addr_p}="{}" xmlns:{wsman_p}="{}"><{h}>{header}</{h}><{b}><p:Thing_INPUT xmlns:p="urn:class">{body}</p:Thing_INPUT></{b}></{env}>"#,
                names::ADDRESSING,
                names::WSMAN,
                env = s("Envelope"),
                soapns = xmlns(&soap_p, names::SOAP),
                sns = SOAP_ALIAS,
                h = s("Header"),
                b = s("Body"),
            );
            let mut instance = Instance::new("Thing_INPUT");
            for (k, v) in &props {
                instance.set(k, v.as_str());
            }
            let request = Request {
                action: Some(action.into()),
                to: Some(to.into()),
                resource_uri: Some(resource.into()),
                message_id: Some(message_id.into()),
                selectors: Some(selectors.into_iter().map(|(n, v)| (n, SelectorValue::Text(v))).collect()),
                max_envelope_size: None,
                operation_timeout: None,
                identifier: None,
                issued_token: None,
                body: Body::Payload { namespace: Some("urn:class".into()), instance },
            };
            (xml, request)
        }
    }

    proptest! {
        #[test]
        fn any_prefixes_and_header_order_parse_to_the_same_request((xml, expected) in request_parts()) {
            prop_assert_eq!(parse(xml.as_bytes()), Ok(expected));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_envelopes_never_panic((xml, _) in request_parts(), cut in any::<prop::sample::Index>(), junk in "[<>/&;=\"a-z:]{0,8}") {
            let at = cut.index(xml.len() + 1);
            let at = (0..=at).rev().find(|i| xml.is_char_boundary(*i)).unwrap_or(0);
            let mutated = format!("{}{}{}", &xml[..at], junk, &xml[at..]);
            let _ = parse(mutated.as_bytes());
            let _ = parse(&xml.as_bytes()[..at]);
        }
    }
}

/// A Subscribe as MeshCommander's amt-wsman.js lays it out: default SOAP
/// namespace, the delivery credentials in a WS-Trust IssuedTokens header,
/// an opaque reference parameter and wsman:Auth in the Delivery.
const MESHCOMMANDER_SUBSCRIBE: &str = r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:m="http://x.com"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_FilterCollection</w:ResourceURI><a:MessageID>7</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT:All</w:Selector></w:SelectorSet><t:IssuedTokens xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:se="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><t:RequestSecurityTokenResponse><t:RequestedSecurityToken><se:UsernameToken><se:Username>listener</se:Username><se:Password Type="x">s3cret</se:Password></se:UsernameToken></t:RequestedSecurityToken></t:RequestSecurityTokenResponse></t:IssuedTokens></Header><Body><e:Subscribe><e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck"><e:NotifyTo><a:Address>http://127.0.0.1:9000/events</a:Address><a:ReferenceParameters><m:arg>console-7</m:arg></a:ReferenceParameters></e:NotifyTo><w:Auth Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"/></e:Delivery><e:Expires>PT10M</e:Expires></e:Subscribe></Body></Envelope>"#;

#[test]
fn parses_a_subscribe_with_delivery_credentials_and_reference_parameters() {
    let r = parse(MESHCOMMANDER_SUBSCRIBE.as_bytes()).unwrap();
    assert_eq!(r.action.as_deref(), Some(names::ACTION_SUBSCRIBE));
    assert_eq!(
        r.issued_token,
        Some(("listener".to_string(), "s3cret".to_string()))
    );
    let Body::Subscribe(args) = r.body else {
        panic!("expected a Subscribe body");
    };
    assert_eq!(args.mode.as_deref(), Some(names::DELIVERY_PUSH_WITH_ACK));
    assert_eq!(
        args.notify_to.as_deref(),
        Some("http://127.0.0.1:9000/events")
    );
    assert_eq!(
        args.reference_parameters,
        vec![(
            "arg".to_string(),
            Some("http://x.com".to_string()),
            "console-7".to_string()
        )]
    );
    assert_eq!(args.expires.as_deref(), Some("PT10M"));
    assert!(args.auth_profile.unwrap().ends_with("/digest"));
}

#[test]
fn parses_renew_and_unsubscribe_with_their_identifier() {
    let envelope = |body: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing"><s:Header><e:Identifier>uuid:1</e:Identifier></s:Header><s:Body>{body}</s:Body></s:Envelope>"#
        )
    };
    let renew = envelope("<e:Renew><e:Expires>PT1H</e:Expires></e:Renew>");
    let r = parse(renew.as_bytes()).unwrap();
    assert_eq!(r.identifier.as_deref(), Some("uuid:1"));
    assert_eq!(
        r.body,
        Body::Renew {
            expires: Some("PT1H".into())
        }
    );
    let unsubscribe = envelope("<e:Unsubscribe/>");
    let r = parse(unsubscribe.as_bytes()).unwrap();
    assert_eq!(r.body, Body::Unsubscribe);
}

proptest::proptest! {
    #[test]
    fn mutated_subscriptions_never_panic(cut in proptest::prelude::any::<proptest::sample::Index>(), junk in "[<>/&;=\"a-z:]{0,8}") {
        let xml = MESHCOMMANDER_SUBSCRIBE;
        let at = cut.index(xml.len() + 1);
        let at = (0..=at).rev().find(|i| xml.is_char_boundary(*i)).unwrap_or(0);
        let mutated = format!("{}{}{}", &xml[..at], junk, &xml[at..]);
        let _ = parse(mutated.as_bytes());
        let _ = parse(&xml.as_bytes()[..at]);
    }
}
