//! Values clients write are checked as firmware checks them: a write is
//! either refused with a fault and changes nothing, or accepted, and then
//! every later read is well-formed XML that carries the value.

use amtemu_model::device::Device;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wsman::{WsmanState, handle};

const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";

fn envelope(action: &str, uri: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>1</a:MessageID></Header><Body>{body}</Body></Envelope>"#
    )
}

fn get(d: &Device, s: &WsmanState, class: &str) -> String {
    let uri = names::class_uri(class);
    let reply = handle(
        d,
        s,
        &Caller::Admin,
        envelope(&format!("{TRANSFER}/Get"), &uri, "").as_bytes(),
    );
    assert_eq!(reply.fault, None, "{}", reply.xml);
    reply.xml
}

/// Puts one property; `xml_value` is already XML text (escaped or with
/// character references).
fn put(d: &Device, s: &WsmanState, class: &str, name: &str, xml_value: &str) -> Option<Fault> {
    let uri = names::class_uri(class);
    let body = format!(r#"<h:{class} xmlns:h="{uri}"><h:{name}>{xml_value}</h:{name}></h:{class}>"#);
    handle(
        d,
        s,
        &Caller::Admin,
        envelope(&format!("{TRANSFER}/Put"), &uri, &body).as_bytes(),
    )
    .fault
}

/// Whether quick-xml reads the whole document, every character of it one
/// XML 1.0 allows.
fn well_formed(xml: &str) -> Result<(), String> {
    property(xml, "").map(|_| ())
}

/// Parses a whole document as quick-xml does, refusing characters XML 1.0
/// does not allow, and returns the text of the first element named `name`
/// (any prefix).
fn property(xml: &str, name: &str) -> Result<Option<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut found: Option<String> = None;
    let mut inside = false;
    loop {
        let text = match reader.read_event().map_err(|e| e.to_string())? {
            Event::Eof => return Ok(found),
            Event::Start(e) => {
                inside = found.is_none() && e.local_name().as_ref() == name.as_bytes();
                if inside {
                    found = Some(String::new());
                }
                continue;
            }
            Event::End(_) => {
                inside = false;
                continue;
            }
            Event::Text(t) => t.xml_content().map_err(|e| e.to_string())?.into_owned(),
            Event::GeneralRef(r) => match r.resolve_char_ref().map_err(|e| e.to_string())? {
                Some(c) => c.to_string(),
                None => match r.decode().map_err(|e| e.to_string())?.as_ref() {
                    "amp" => "&".into(),
                    "lt" => "<".into(),
                    "gt" => ">".into(),
                    "quot" => "\"".into(),
                    "apos" => "'".into(),
                    other => return Err(format!("unknown entity {other}")),
                },
            },
            _ => continue,
        };
        if let Some(c) = text.chars().find(|c| !xml_char(*c)) {
            return Err(format!("character {c:?} is not allowed in XML"));
        }
        if inside {
            found.get_or_insert_default().push_str(&text);
        }
    }
}

/// XML 1.0's Char production.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[test]
fn a_host_name_with_control_characters_is_refused_and_reads_stay_well_formed() {
    let d = device("11.8");
    let s = WsmanState::default();
    let before = d.general_settings();
    for value in ["pc&#1;42", "pc&#27;[2J", "pc\u{7f}", "pc&#x85;"] {
        assert_eq!(
            put(&d, &s, "AMT_GeneralSettings", "HostName", value),
            Some(Fault::InternalError(36)),
            "{value}"
        );
        assert_eq!(d.general_settings(), before, "{value}");
        let xml = get(&d, &s, "AMT_GeneralSettings");
        well_formed(&xml).unwrap_or_else(|e| panic!("{value}: {e}\n{xml}"));
    }
    assert_eq!(put(&d, &s, "AMT_GeneralSettings", "HostName", "pc-42"), None);
    assert!(get(&d, &s, "AMT_GeneralSettings").contains(">pc-42<"));
}
