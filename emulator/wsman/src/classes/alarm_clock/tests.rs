//! Alarms as DMT and MeshCommander set them, and every malformed request
//! refused with nothing changed.

use super::*;
use crate::{WsmanState, handle};
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;

const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
const IPS: &str = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_AlarmClockOccurrence";

fn request(action: &str, uri: &str, selectors: &str, body: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{action}</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body></Envelope>"#
    )
}

/// DMT's AddAlarm body (wsman-messages `AlarmClockService.AddAlarm`).
fn dmt_add(id: &str, start: &str, interval: Option<&str>, delete: &str) -> String {
    let interval = interval.map_or(String::new(), |i| format!(r#"<s:Interval xmlns:s="{IPS}"><p:Interval xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/common">{i}</p:Interval></s:Interval>"#));
    request(
        &format!("{AMT}{SERVICE}/AddAlarm"),
        &format!("{AMT}{SERVICE}"),
        "",
        &format!(
            r#"<p:AddAlarm_INPUT xmlns:p="{AMT}{SERVICE}"><p:AlarmTemplate><s:InstanceID xmlns:s="{IPS}">{id}</s:InstanceID><s:StartTime xmlns:s="{IPS}"><p:Datetime xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/common">{start}</p:Datetime></s:StartTime>{interval}<s:DeleteOnCompletion xmlns:s="{IPS}">{delete}</s:DeleteOnCompletion></p:AlarmTemplate></p:AddAlarm_INPUT>"#
        ),
    )
}

/// MeshCommander's body (amt.js `AMT_AlarmClockService_AddAlarm`).
fn mesh_add(id: &str, start: &str) -> String {
    request(
        &format!("{AMT}{SERVICE}/AddAlarm"),
        &format!("{AMT}{SERVICE}"),
        "",
        &format!(
            r#"<r:AddAlarm_INPUT xmlns:r="{AMT}{SERVICE}"><d:AlarmTemplate xmlns:d="{AMT}{SERVICE}" xmlns:s="{IPS}"><s:InstanceID>{id}</s:InstanceID><s:ElementName>{id}</s:ElementName><s:StartTime><p:Datetime xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/common">{start}</p:Datetime></s:StartTime><s:DeleteOnCompletion>true</s:DeleteOnCompletion></d:AlarmTemplate></r:AddAlarm_INPUT>"#
        ),
    )
}

fn return_value(xml: &str) -> Option<u32> {
    let start = xml.find("ReturnValue>")? + "ReturnValue>".len();
    xml[start..].split('<').next()?.parse().ok()
}

#[test]
fn clients_add_list_and_delete_alarms() {
    let d = device("11.8");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());

    let reply = send(dmt_add(
        "Daily",
        "2030-01-01T06:00:00Z",
        Some("P1DT0H0M"),
        "false",
    ));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);
    assert!(
        reply.xml.contains("IPS_AlarmClockOccurrence"),
        "{}",
        reply.xml
    );
    assert!(reply.xml.contains(">Daily<"));
    assert!(reply.may_have_changed_state());
    let reply = send(mesh_add("Once", "2031-05-06T07:08:09Z"));
    assert_eq!(return_value(&reply.xml), Some(0), "{}", reply.xml);

    let alarms = d.alarms();
    assert_eq!(alarms.len(), 2);
    assert_eq!(alarms[0].interval_minutes, Some(1440));
    assert!(alarms[1].delete_on_completion);

    let get = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
        IPS,
        r#"<w:SelectorSet><w:Selector Name="InstanceID">Daily</w:Selector></w:SelectorSet>"#,
        "",
    ));
    assert!(get.xml.contains("2030-01-01T06:00:00Z"), "{}", get.xml);
    assert!(get.xml.contains("P1DT0H0M"), "{}", get.xml);
    let service = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
        &format!("{AMT}{SERVICE}"),
        "",
        "",
    ));
    assert!(service.xml.contains("NextAMTAlarmTime"), "{}", service.xml);

    let delete = |id: &str| {
        send(request(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
            IPS,
            &format!(
                r#"<w:SelectorSet><w:Selector Name="InstanceID">{id}</w:Selector></w:SelectorSet>"#
            ),
            "",
        ))
    };
    assert!(delete("Daily").fault.is_none());
    assert_eq!(delete("Daily").fault, Some(Fault::InvalidSelectors));
    assert_eq!(d.alarms().len(), 1);
}

#[test]
fn bad_alarms_are_refused_and_change_nothing() {
    let d = device("15.0");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    const START: &str = "2030-01-01T06:00:00Z";
    for i in 0..4 {
        let reply = send(dmt_add(&format!("a{i}"), START, None, "false"));
        assert_eq!(return_value(&reply.xml), Some(0));
    }
    let before = d.alarms();
    let cases = [
        // wrong types
        (dmt_add("b", "tomorrow", None, "false"), 36),
        (dmt_add("b", START, Some("a day"), "false"), 36),
        (dmt_add("b", START, None, "maybe"), 36),
        // out of range
        (dmt_add("b", "2030-02-30T06:00:00Z", None, "false"), 36),
        (dmt_add("b", START, Some("PT0M"), "false"), 36),
        (dmt_add("b", START, Some("PT90S"), "false"), 36),
        (dmt_add("", START, None, "false"), 36),
        (dmt_add(&"n".repeat(33), START, None, "false"), 36),
        (dmt_add("a0", START, None, "false"), 0x80A),
        // no template at all
        (
            request(
                &format!("{AMT}{SERVICE}/AddAlarm"),
                &format!("{AMT}{SERVICE}"),
                "",
                &format!(r#"<p:AddAlarm_INPUT xmlns:p="{AMT}{SERVICE}"/>"#),
            ),
            36,
        ),
    ];
    for (xml, expected) in cases {
        let reply = send(xml);
        assert_eq!(return_value(&reply.xml), Some(expected), "{}", reply.xml);
    }
    assert_eq!(d.alarms(), before);
    // The fifth fits, a sixth does not.
    assert_eq!(
        return_value(&send(dmt_add("e", START, None, "false")).xml),
        Some(0)
    );
    assert_eq!(
        return_value(&send(dmt_add("f", START, None, "false")).xml),
        Some(PtStatus::MaxLimitReached.into())
    );
    // Unknown selectors.
    let get = send(request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
        IPS,
        r#"<w:SelectorSet><w:Selector Name="InstanceID">nope</w:Selector></w:SelectorSet>"#,
        "",
    ));
    assert_eq!(get.fault, Some(Fault::InvalidSelectors));
    assert_eq!(d.alarms().len(), 5);
}

#[test]
fn older_firmware_has_the_service_but_not_add_alarm() {
    let d = device("9.5");
    let state = WsmanState::default();
    let send = |xml: String| handle(&d, &state, &Caller::Admin, xml.as_bytes());
    assert_eq!(
        send(dmt_add("a", "2030-01-01T06:00:00Z", None, "false")).fault,
        Some(Fault::ActionNotSupported)
    );
    let enumerate = request(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        IPS,
        "",
        r#"<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"/>"#,
    );
    assert_eq!(send(enumerate).fault, Some(Fault::DestinationUnreachable));
    assert!(d.alarms().is_empty());
    // 7.0 has no alarm clock at all.
    let d = device("7.0");
    let reply = handle(
        &d,
        &state,
        &Caller::Admin,
        dmt_add("a", "2030-01-01T06:00:00Z", None, "false").as_bytes(),
    );
    assert_eq!(reply.fault, Some(Fault::DestinationUnreachable));
}
