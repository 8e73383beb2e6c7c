//! Classes added for class completeness, seen from outside over HTTP: an
//! alarm that wakes the simulated host at its time, and provisioning
//! hashes that are kept across a kill.

mod support;

use std::time::Duration;

use amtemu_wire::wsman::cim_time::format_datetime as datetime;
use support::*;

const ALARM: &str = "AMT_AlarmClockService";
const IPS_ALARM: &str = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_AlarmClockOccurrence";
const HASH: &str = "AMT_ProvisioningCertificateHash";

fn add_alarm(c: &mut Client, id: &str, start: u64) -> Response {
    c.invoke(
        ALARM,
        "AddAlarm",
        "",
        &format!(
            r#"<h:AlarmTemplate><s:InstanceID xmlns:s="{IPS_ALARM}">{id}</s:InstanceID><s:StartTime xmlns:s="{IPS_ALARM}"><p:Datetime xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/common">{}</p:Datetime></s:StartTime><s:DeleteOnCompletion xmlns:s="{IPS_ALARM}">true</s:DeleteOnCompletion></h:AlarmTemplate>"#,
            datetime(start)
        ),
    )
}

#[test]
fn an_alarm_wakes_the_host_at_its_time() {
    let emu = Emulator::start(&[
        "--firmware",
        "11.8",
        "--boot-ms",
        "200",
        "--shutdown-ms",
        "200",
    ]);
    let mut c = emu.client();
    assert_eq!(c.request_power(8).status, 200);
    assert!(
        eventually(Duration::from_secs(10), || c.power_state() == "8"),
        "the host did not go off"
    );
    // The alarm is set on the ME's clock, a few seconds ahead.
    let r = c.invoke(
        "AMT_TimeSynchronizationService",
        "GetLowAccuracyTimeSynch",
        "",
        "",
    );
    let me_now: u64 = element_text(&r.text(), "Ta0").unwrap().parse().unwrap();
    let r = add_alarm(&mut c, "wake", me_now + 3);
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    assert_eq!(c.power_state(), "8", "not before its time");
    assert!(
        eventually(Duration::from_secs(20), || c.power_state() == "2"),
        "the alarm did not wake the host"
    );
    // A one-shot alarm that deletes itself is gone.
    let pages = c.enumerate("IPS_AlarmClockOccurrence");
    assert!(!pages.concat().contains(">wake<"), "{pages:?}");
    // A malformed template changes nothing.
    let r = c.invoke(
        ALARM,
        "AddAlarm",
        "",
        "<h:AlarmTemplate>junk</h:AlarmTemplate>",
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("36")
    );
}

#[test]
fn provisioning_hashes_are_kept_across_a_kill() {
    let dir = std::env::temp_dir().join(format!("amtemu-hashes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.to_str().unwrap().to_string();
    let ip = unique_address().to_string();
    let args = ["--firmware", "15.0", "--state-dir", state.as_str()];
    let uri = class_uri(HASH);
    // SHA-256 of nothing in particular, base64.
    let hash = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
    let id;
    {
        let emu = Emulator::start_at(&ip, &args);
        let mut c = emu.client();
        let body = format!(
            r#"<h:{HASH} xmlns:h="{uri}"><h:Description>Lab root</h:Description><h:Enabled>false</h:Enabled><h:HashData>{hash}</h:HashData><h:HashType>2</h:HashType><h:IsDefault>false</h:IsDefault></h:{HASH}>"#
        );
        let msg = c.next_message_id();
        let r = c.post(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            HASH,
            &msg,
            "",
            &body,
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        id = element_text(&r.text(), "Selector").expect("the new instance's id");
        // A duplicate is refused as firmware refuses it.
        let msg = c.next_message_id();
        let r = c.post(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            HASH,
            &msg,
            "",
            &body,
        ));
        assert_eq!(r.status, 400);
        assert!(r.text().contains("AlreadyExists"), "{}", r.text());
        emu.kill_hard();
    }
    let emu = Emulator::start_at(&ip, &args);
    let mut c = emu.client();
    let pages = c.enumerate(HASH).concat();
    assert!(pages.contains(hash), "{pages}");
    assert!(pages.contains(&id), "{pages}");
    assert!(pages.contains("Lab root"));
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn switching_the_web_ui_off_takes_its_pages_away_but_not_wsman() {
    let emu = Emulator::start(&["--firmware", "15.0"]);
    let mut c = emu.client();
    let logon = || Client::raw(emu.addr, b"GET /logon.htm HTTP/1.1\r\nHost: amt\r\n\r\n").unwrap();
    assert_eq!(logon().status, 200);
    let change = |c: &mut Client, state: &str| {
        let r = c.invoke(
            "AMT_WebUIService",
            "RequestStateChange",
            "",
            &format!("<h:RequestedState>{state}</h:RequestedState>"),
        );
        element_text(&r.text(), "ReturnValue").unwrap()
    };
    assert_eq!(change(&mut c, "3"), "0");
    let off = logon();
    assert_eq!(off.status, 404);
    assert!(off.text().contains("disabled"), "{}", off.text());
    assert_eq!(c.get("AMT_GeneralSettings").status, 200);
    // An unknown state is refused and changes nothing.
    assert_eq!(change(&mut c, "7"), "5");
    assert_eq!(logon().status, 404);
    assert_eq!(change(&mut c, "2"), "0");
    assert_eq!(logon().status, 200);
}
