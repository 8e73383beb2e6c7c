//! The borrowing reader answers only what the general parser answers: on
//! the shapes consoles send it must read them (or it saves nothing), and on
//! anything else, mangled input included, it must either agree or step
//! aside.

use super::super::{Body, EnumerationMode, parse_borrowed, parse_general};
use crate::wsman::names;
use crate::wsman::value::SelectorValue;
use proptest::prelude::*;

/// Whatever the borrowing reader returns, the general parser returns too.
fn agrees(xml: &str) -> bool {
    match parse_borrowed(xml.as_bytes()) {
        Some(r) => parse_general(xml.as_bytes()) == Ok(r),
        None => true,
    }
}

fn read(xml: &str) -> super::Request<'_> {
    let r = parse_borrowed(xml.as_bytes()).expect("a shape the borrowing reader takes");
    assert_eq!(parse_general(xml.as_bytes()), Ok(r.clone()), "{xml}");
    r
}

const MESHCOMMANDER_GET: &str = r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body /></Envelope>"#;

const WSL_ENUMERATE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" xmlns:wsen=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">
  <s:Header>
    <wsa:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</wsa:Action>
    <wsa:To s:mustUnderstand=\"true\">http://127.0.0.1:16992/wsman</wsa:To>
    <wsman:ResourceURI s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_SoftwareIdentity</wsman:ResourceURI>
    <wsa:MessageID s:mustUnderstand=\"true\">uuid:1</wsa:MessageID>
    <wsman:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>
    <wsman:MaxEnvelopeSize s:mustUnderstand=\"true\"> 153600 </wsman:MaxEnvelopeSize>
    <wsman:SelectorSet/>
  </s:Header>
  <s:Body>
    <wsen:Enumerate>
      <wsman:OptimizeEnumeration/>
      <wsman:MaxElements>32000</wsman:MaxElements>
      <wsman:EnumerationMode>EnumerateObjectAndEPR</wsman:EnumerationMode>
    </wsen:Enumerate>
  </s:Body>
</s:Envelope>
";

fn get_with(selectors: &str, body: &str) -> String {
    format!(
        r#"<e:Envelope xmlns:e="{}" xmlns:a="{}" xmlns:w="{}"><e:Header><a:Action>{}</a:Action><w:ResourceURI>uri</w:ResourceURI><a:MessageID>7</a:MessageID>{selectors}</e:Header><e:Body>{body}</e:Body></e:Envelope>"#,
        names::SOAP,
        names::ADDRESSING,
        names::WSMAN,
        names::ACTION_GET
    )
}

#[test]
fn reads_the_gets_and_enumerations_consoles_send() {
    let r = read(MESHCOMMANDER_GET);
    assert_eq!(r.action.as_deref(), Some(names::ACTION_GET));
    assert_eq!(r.body, Body::Empty);
    let get = crate::wsman::client::get_general_settings(42);
    let r = read(&get);
    assert_eq!(r.message_id.as_deref(), Some("42"));
    let r = read(WSL_ENUMERATE);
    assert_eq!(r.max_envelope_size, Some(153600));
    assert_eq!(r.selectors, Some(vec![]));
    let Body::Enumerate(args) = r.body else {
        panic!("an Enumerate")
    };
    assert!(args.optimize);
    assert_eq!(args.max_elements, Some(32000));
    assert_eq!(args.mode, EnumerationMode::ObjectAndEpr);
    let selected = get_with(
        r#"<w:SelectorSet><w:Selector Name="InstanceID"> Intel(r) AMT </w:Selector><w:Selector w:Name="Other">b<!-- no -->c</w:Selector></w:SelectorSet>"#
            .replace("<!-- no -->", "<w:x>skipped</w:x>")
            .as_str(),
        "",
    );
    let r = read(&selected);
    assert_eq!(
        r.selectors,
        Some(vec![
            (
                "InstanceID".into(),
                SelectorValue::Text("Intel(r) AMT".into())
            ),
            ("Other".into(), SelectorValue::Text("bc".into())),
        ])
    );
    let pull = format!(
        r#"<n:Pull xmlns:n="{}"><n:EnumerationContext>01000000-0000-0000-0000-000000000000</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>"#,
        names::ENUMERATION
    );
    let pull = get_with("", &pull);
    let r = read(&pull);
    assert!(matches!(r.body, Body::Pull(ref p) if p.max_elements == Some(5)));
    let identify = format!(r#"<i:Identify xmlns:i="{}"/>"#, names::IDENTITY);
    assert_eq!(read(&get_with("", &identify)).body, Body::Identify);
}

#[test]
fn leaves_everything_unusual_to_the_general_parser() {
    let valid = crate::wsman::client::get_general_settings(1);
    let refused = [
        valid.replace("><", ">\r\n<"),
        valid.replace("PT60S", "PT&#54;0S"),
        valid.replace("<Body/>", "<Body><!-- c --></Body>"),
        valid.replace("<Body/>", "<Body><![CDATA[x]]></Body>"),
        crate::wsman::client::put_general_settings_host_name(1, "h"),
        valid.replace("<a:To>", "<a:To>x</a:To><a:To>"),
        valid.replace("<a:To>", "<q:To>").replace("</a:To>", "</q:To>"),
        valid.replace("</a:To>", "</a:To ><a:To>"),
        valid.replace(
            "<Body/>",
            r#"<Body/><w:Unknown xmlns:s="http://www.w3.org/2003/05/soap-envelope" s:mustUnderstand="true"/>"#,
        ),
        get_with(
            r#"<w:Option xmlns:s="http://www.w3.org/2003/05/soap-envelope" s:mustUnderstand="1"/>"#,
            "",
        ),
        get_with(
            r#"<w:SelectorSet><w:Selector Name="x"><a:EndpointReference/></w:Selector></w:SelectorSet>"#,
            "",
        ),
        valid.replace("<a:Action>", "<a:Action x = \"1\">"),
        valid.replace("xmlns:w=", "xmlns:w=\"\" xmlns:v="),
        valid[..valid.len() - 3].to_string(),
    ];
    for xml in refused {
        assert!(parse_borrowed(xml.as_bytes()).is_none(), "{xml}");
    }
}

/// Envelopes built from the pieces clients vary: prefixes (or a default
/// namespace), whitespace between elements, header order, attributes,
/// selectors and bodies.
fn envelope() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![Just(""), Just("s"), Just("a"), Just("wsman"), Just("x1")];
    let space = prop_oneof![Just(""), Just(" "), Just("\n  "), Just("\t")];
    let must = prop_oneof![
        Just(""),
        Just(r#" s:mustUnderstand="true""#),
        Just(r#" s:mustUnderstand="false""#),
        Just(r#" mustUnderstand="true""#),
    ];
    let headers = proptest::sample::subsequence(
        vec![
            "<A:Action{m}>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</A:Action>",
            "<A:To{m}> /wsman </A:To>",
            "<W:ResourceURI{m}>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</W:ResourceURI>",
            "<A:MessageID{m}>uuid:9</A:MessageID>",
            "<A:ReplyTo><A:Address>x</A:Address></A:ReplyTo>",
            "<W:OperationTimeout>PT60S</W:OperationTimeout>",
            "<W:MaxEnvelopeSize{m}>51200</W:MaxEnvelopeSize>",
            "<W:SelectorSet><W:Selector Name=\"InstanceID\">Intel(r) AMT: General Settings</W:Selector></W:SelectorSet>",
            "<W:Locale xml:lang=\"en-US\"{m}/>",
            "<W:OptionSet{m}><W:Option Name=\"x\">1</W:Option></W:OptionSet>",
        ],
        0..=10,
    )
    .prop_shuffle();
    let body = prop_oneof![
        Just(String::new()),
        Just("<N:Enumerate/>".to_string()),
        Just("<N:Enumerate><W:OptimizeEnumeration/><W:MaxElements>3</W:MaxElements><W:EnumerationMode>EnumerateEPR</W:EnumerationMode></N:Enumerate>".to_string()),
        Just("<N:Pull><N:EnumerationContext>ctx</N:EnumerationContext></N:Pull>".to_string()),
        Just("<N:Release><N:EnumerationContext>ctx</N:EnumerationContext></N:Release>".to_string()),
        Just("<N:Pull><N:MaxElements>1</N:MaxElements></N:Pull>".to_string()),
    ];
    (
        prefix.clone(),
        prefix,
        space,
        headers,
        body,
        must,
        any::<bool>(),
    )
        .prop_map(|(soap, wsman, sp, headers, body, m, decl)| {
            let p = |prefix: &str| {
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}:")
                }
            };
            let xmlns = |prefix: &str, ns: &str| {
                if prefix.is_empty() {
                    format!(r#" xmlns="{ns}""#)
                } else {
                    format!(r#" xmlns:{prefix}="{ns}""#)
                }
            };
            // `s` is the SOAP prefix the mustUnderstand attributes use.
            let mut out = String::new();
            if decl {
                out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
            }
            let (e, w) = (p(soap), p(wsman));
            out.push_str(&format!(
                "<{e}Envelope{}{}{}{}{}>{sp}<{e}Header>",
                xmlns(soap, names::SOAP),
                if soap == "s" {
                    String::new()
                } else {
                    xmlns("s", names::SOAP)
                },
                if wsman == soap {
                    String::new()
                } else {
                    xmlns(wsman, names::WSMAN)
                },
                xmlns("A", names::ADDRESSING),
                xmlns("N", names::ENUMERATION),
            ));
            for h in headers {
                out.push_str(sp);
                out.push_str(&h.replace("{m}", m).replace("W:", &w));
            }
            out.push_str(&format!(
                "{sp}</{e}Header>{sp}<{e}Body>{}</{e}Body>{sp}</{e}Envelope>{sp}",
                body.replace("W:", &w)
            ));
            out
        })
}

proptest! {
    #[test]
    fn agrees_with_the_general_parser_on_what_it_reads(xml in envelope()) {
        prop_assert!(agrees(&xml), "{}", xml);
        // Non-vacuous: a well-formed envelope the general parser accepts is
        // read, unless it holds a header that must be understood and is not.
        let general = parse_general(xml.as_bytes());
        if general.is_ok() && !xml.contains("OptionSet") {
            prop_assert!(parse_borrowed(xml.as_bytes()).is_some(), "{}", xml);
        }
    }

    #[test]
    fn agrees_on_mangled_envelopes(
        xml in envelope(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = xml.into_bytes();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            // Bytes that matter to XML, more often than chance would pick them.
            let b = b"<>/=\"': xmlns&\n"[byte as usize % 15];
            match kind {
                0 => bytes.insert(i, b),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = b,
                _ => {}
            }
        }
        if let Ok(xml) = std::str::from_utf8(&bytes) {
            prop_assert!(agrees(xml), "{}", xml);
        }
    }
}
