//! Classes added for class completeness, seen from outside over HTTP: an
//! alarm that wakes the simulated host at its time, provisioning hashes
//! that are kept across a kill, accounts that are the ACL, and the IPS
//! view of the wired 802.1X profile.

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

/// One control API request on a fresh connection: status and JSON body.
fn control(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = Client::raw(addr, req.as_bytes()).expect("the control API answers");
    let v = serde_json::from_str(&r.text()).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

const WATCHDOG: &str = "AMT_AgentPresenceWatchdog";
const AGENT_ID: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn watchdog_state(c: &mut Client) -> Option<String> {
    let selectors = format!(
        r#"<w:SelectorSet><w:Selector Name="DeviceID">{AGENT_ID}</w:Selector></w:SelectorSet>"#
    );
    let id = c.next_message_id();
    let r = c.post(&envelope(ACTION_GET, WATCHDOG, &id, &selectors, ""));
    element_text(&r.text(), "CurrentState")
}

#[test]
fn a_watchdog_expires_when_the_hosts_agent_stops_and_its_policy_goes_on() {
    let dir = std::env::temp_dir().join(format!("amtemu-watchdog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ip = unique_address();
    let control_addr = std::net::SocketAddr::from((ip, 17000));
    let control_arg = control_addr.to_string();
    let args = [
        "--firmware",
        "11.8",
        "--control",
        control_arg.as_str(),
        "--state-dir",
        dir.to_str().unwrap(),
    ];
    let emu = Emulator::start_at(&ip.to_string(), &args);
    let mut c = emu.client();
    let create = |c: &mut Client, class: &str, props: &str| {
        let id = c.next_message_id();
        let uri = class_uri(class);
        c.post(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            class,
            &id,
            "",
            &format!(r#"<h:{class} xmlns:h="{uri}">{props}</h:{class}>"#),
        ))
    };
    // A console sets up a policy that drops everything, a watchdog with a
    // one-second timeout, and the action: Running -> Expired switches the
    // policy on and logs an event.
    let r = create(
        &mut c,
        "AMT_SystemDefensePolicy",
        "<h:PolicyName>isolate</h:PolicyName><h:PolicyPrecedence>1</h:PolicyPrecedence><h:RxDefaultDrop>true</h:RxDefaultDrop><h:TxDefaultDrop>true</h:TxDefaultDrop>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let policy_id = element_text(&r.text(), "Selector").expect("the policy's InstanceID");
    let r = create(
        &mut c,
        WATCHDOG,
        &format!(
            "<h:DeviceID>{AGENT_ID}</h:DeviceID><h:TimeoutInterval>1</h:TimeoutInterval><h:StartupInterval>0</h:StartupInterval>"
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.invoke(
        WATCHDOG,
        "AddAction",
        &format!(r#"<w:SelectorSet><w:Selector Name="DeviceID">{AGENT_ID}</w:Selector></w:SelectorSet>"#),
        &format!("<h:OldState>4</h:OldState><h:NewState>8</h:NewState><h:EventOnTransition>true</h:EventOnTransition><h:ActionSd>{policy_id}</h:ActionSd>"),
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    assert_eq!(
        watchdog_state(&mut c).as_deref(),
        Some("1"),
        "not started yet"
    );

    let (status, list) = control(control_addr, "GET", "/api/v1/devices", "");
    assert_eq!(status, 200);
    let name = list["devices"][0]["name"]
        .as_str()
        .expect("a device")
        .replace('/', "%2F");
    let agent = format!("/api/v1/devices/{name}/agent");

    // The host's agent starts: it registers and keeps the watchdog fed,
    // past many timeouts.
    let (status, v) = control(control_addr, "POST", &agent, r#"{"action":"start"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["running"], true);
    assert_eq!(watchdog_state(&mut c).as_deref(), Some("4"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        watchdog_state(&mut c).as_deref(),
        Some("4"),
        "expired while fed"
    );

    // It stops: the watchdog expires on its own and the policy goes on.
    let (status, v) = control(control_addr, "POST", &agent, r#"{"action":"stop"}"#);
    assert_eq!(status, 200, "{v}");
    assert!(
        eventually(Duration::from_secs(20), || {
            control(control_addr, "GET", &agent, "").1["watchdogs"][0]["state"] == 8
        }),
        "the watchdog did not expire"
    );
    let (_, v) = control(control_addr, "GET", &agent, "");
    assert_eq!(v["active_policies"][0], 1, "{v}");
    assert_eq!(watchdog_state(&mut c).as_deref(), Some("8"));

    // Bad input over the wire: an unknown action, a heartbeat that is not
    // registered, an unknown watchdog.
    let (status, _) = control(control_addr, "POST", &agent, r#"{"action":"crash"}"#);
    assert_eq!(status, 400);
    let r = c.invoke(
        WATCHDOG,
        "AssertPresence",
        &format!(
            r#"<w:SelectorSet><w:Selector Name="DeviceID">{AGENT_ID}</w:Selector></w:SelectorSet>"#
        ),
        "<h:SequenceNumber>1</h:SequenceNumber>",
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("16"),
        "{}",
        r.text()
    );
    let r = c.invoke(
        WATCHDOG,
        "RegisterAgent",
        r#"<w:SelectorSet><w:Selector Name="DeviceID">AQECAwQFBgcICQoLDA0ODw==</w:Selector></w:SelectorSet>"#,
        "",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(watchdog_state(&mut c).as_deref(), Some("8"));

    // The replies above went out after the state was on disk: a kill
    // keeps the expired watchdog and the policy it switched on; the
    // agent, software on the host, is not saved.
    emu.kill_hard();
    let emu = Emulator::start_at(&ip.to_string(), &args);
    let mut c = emu.client();
    assert_eq!(watchdog_state(&mut c).as_deref(), Some("8"));
    let (_, v) = control(control_addr, "GET", &agent, "");
    assert_eq!(v["active_policies"][0], 1, "{v}");
    assert_eq!(v["enabled"], false, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn selector(name: &str, value: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="{name}">{value}</w:Selector></w:SelectorSet>"#)
}

fn delete(c: &mut Client, class: &str, selectors: &str) -> Response {
    let msg = c.next_message_id();
    c.post(&envelope(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
        class,
        &msg,
        selectors,
        "",
    ))
}

/// The DASH account classes are the ACL seen another way: an entry added
/// with AddUserAclEntryEx is a CIM_Account (and identity, role, privilege);
/// deleting the account removes the entry; the administrator, an unknown
/// name or a selector that is no key change nothing. 15.0 has no such
/// classes.
#[test]
fn accounts_are_the_acl_and_deleting_one_removes_its_entry() {
    let emu = Emulator::start(&["--firmware", "11.8"]);
    let mut c = emu.client();
    let r = c.invoke(
        "AMT_AuthorizationService",
        "AddUserAclEntryEx",
        "",
        "<h:DigestUsername>operator</h:DigestUsername><h:DigestPassword>AAAAAAAAAAAAAAAAAAAAAA==</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>5</h:Realms>",
    );
    let handle = element_text(&r.text(), "Handle").expect("a handle");
    let accounts = c.enumerate("CIM_Account").concat();
    assert!(accounts.contains(">operator<"), "{accounts}");
    assert!(accounts.contains(">admin<"), "{accounts}");
    for class in ["CIM_Identity", "CIM_Role", "CIM_Privilege"] {
        let pages = c.enumerate(class).concat();
        assert!(pages.contains(">operator<"), "{class}: {pages}");
    }

    let entry = |c: &mut Client| {
        let r = c.invoke(
            "AMT_AuthorizationService",
            "GetUserAclEntryEx",
            "",
            &format!("<h:Handle>{handle}</h:Handle>"),
        );
        element_text(&r.text(), "ReturnValue")
    };
    // Bad deletes: the administrator, nobody, a selector that is no key.
    let r = delete(&mut c, "CIM_Account", &selector("Name", "admin"));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = delete(&mut c, "CIM_Account", &selector("Name", "nobody"));
    assert!(r.text().contains("InvalidSelectors"), "{}", r.text());
    let r = delete(&mut c, "CIM_Account", &selector("UserName", "operator"));
    assert!(r.text().contains("InvalidSelectors"), "{}", r.text());
    assert_eq!(
        entry(&mut c).as_deref(),
        Some("0"),
        "the entry is still there"
    );
    assert!(c.enumerate("CIM_Account").concat().contains(">admin<"));

    let r = delete(&mut c, "CIM_Account", &selector("Name", "operator"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(entry(&mut c).as_deref(), Some("0"), "the entry is gone");
    assert!(!c.enumerate("CIM_Identity").concat().contains("operator"));
    drop(emu);

    let emu = Emulator::start(&["--firmware", "15.0"]);
    let r = emu.client().get("CIM_Account");
    assert!(r.text().contains("DestinationUnreachable"), "{}", r.text());
}

/// A CIM_Account Put changes the account's password (the digest HA1 in
/// hex, UserPasswordEncryptionAlgorithm 2): the new one logs in, and the
/// reply went out after the change was on disk
/// (a kill keeps it). A Put naming no account, or with a password in
/// another encoding, changes nothing.
#[test]
fn an_account_put_changes_the_password_durably() {
    let dir = std::env::temp_dir().join(format!("amtemu-account-put-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.display().to_string();
    let ip = unique_address().to_string();
    let args = ["--firmware", "11.8", "--state-dir", state.as_str()];
    let emu = Emulator::start_at(&ip, &args);
    let mut c = emu.client();
    let r = c.invoke(
        "AMT_AuthorizationService",
        "AddUserAclEntryEx",
        "",
        "<h:DigestUsername>operator</h:DigestUsername><h:DigestPassword>AAAAAAAAAAAAAAAAAAAAAA==</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>",
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    let realm = c.realm.clone().expect("the realm");
    let ha1 = md5_hex(&format!("operator:{realm}:N3w-pass!"));
    let uri = class_uri("CIM_Account");
    let put = |c: &mut Client, name: &str, algorithm: u32| {
        let body = format!(
            r#"<r:CIM_Account xmlns:r="{uri}"><r:CreationClassName>CIM_Account</r:CreationClassName><r:ElementName>Intel(r) AMT digest account</r:ElementName><r:EnabledState>2</r:EnabledState><r:Name>operator</r:Name><r:RequestedState>2</r:RequestedState><r:SystemCreationClassName>CIM_ComputerSystem</r:SystemCreationClassName><r:SystemName>ManagedSystem</r:SystemName><r:UserID>operator</r:UserID><r:UserPassword>{ha1}</r:UserPassword><r:UserPasswordEncryptionAlgorithm>{algorithm}</r:UserPasswordEncryptionAlgorithm></r:CIM_Account>"#
        );
        let id = c.next_message_id();
        c.post(&envelope(
            ACTION_PUT,
            "CIM_Account",
            &id,
            &selector("Name", name),
            &body,
        ))
    };
    let r = put(&mut c, "nobody", 2);
    assert!(r.text().contains("InvalidSelectors"), "{}", r.text());
    let r = put(&mut c, "operator", 0);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(&mut c, "operator", 2);
    assert_eq!(r.status, 200, "{}", r.text());

    // Over the wire: the status of an unauthenticated-or-not request.
    let login = |password: &str| {
        let mut o = Client::new(emu.addr, "operator", password);
        o.challenge();
        let auth = o.authorization("POST", "/wsman");
        let bytes = o.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), Some(&auth));
        Client::raw(emu.addr, &bytes).unwrap().status
    };
    assert_ne!(login("N3w-pass!"), 401, "the new password logs in");
    emu.kill_hard();
    let emu = Emulator::start_at(&ip, &args);
    let mut o = Client::new(emu.addr, "operator", "N3w-pass!");
    o.challenge();
    let auth = o.authorization("POST", "/wsman");
    let bytes = o.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), Some(&auth));
    assert_ne!(
        Client::raw(emu.addr, &bytes).unwrap().status,
        401,
        "kept across a kill"
    );
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The HTTP status of one Get of AMT_GeneralSettings sent with Digest as
/// `user`: 401 when the login is refused.
fn login_status(addr: std::net::SocketAddr, user: &str, password: &str) -> (u16, String) {
    let mut o = Client::new(addr, user, password);
    o.challenge();
    let auth = o.authorization("POST", "/wsman");
    let bytes = o.request_bytes(&envelope_get("AMT_GeneralSettings", "1"), Some(&auth));
    let r = Client::raw(addr, &bytes).unwrap();
    (r.status, r.text())
}

/// CreateAccount's arguments as Intel's "Create a Digest User" flow writes
/// them: the system's reference and an embedded CIM_Account.
fn create_account_args(system: &str, user: &str, ha1: &str) -> String {
    let account = class_uri("CIM_Account");
    let template: String = [
        ("CreationClassName", "CIM_Account"),
        ("ElementName", "Intel(r) AMT digest account"),
        ("EnabledState", "2"),
        ("Name", user),
        ("OrganizationName", "None"),
        ("RequestedState", "2"),
        ("SystemCreationClassName", "CIM_ComputerSystem"),
        ("SystemName", "ManagedSystem"),
        ("UserID", user),
        ("UserPassword", ha1),
        ("UserPasswordEncryptionAlgorithm", "2"),
    ]
    .iter()
    .map(|(n, v)| format!(r#"<d:{n} xmlns:d="{account}">{v}</d:{n}>"#))
    .collect();
    format!(
        r#"<h:System><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="Name">{system}</w:Selector></w:SelectorSet></a:ReferenceParameters></h:System><h:AccountTemplate>{template}</h:AccountTemplate>"#,
        class_uri("CIM_ComputerSystem")
    )
}

/// CIM_AccountManagementService.CreateAccount adds a digest user that logs
/// in with its password, holding no realm (every class refuses it) until
/// UpdateUserAclEntryEx grants one; the reply went out after the user was
/// on disk (a kill keeps it). A duplicate, a malformed HA1 and a System
/// naming no computer system get their PT_STATUS and change nothing.
#[test]
fn create_account_adds_a_digest_user_durably() {
    let dir = std::env::temp_dir().join(format!("amtemu-create-account-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.display().to_string();
    let ip = unique_address().to_string();
    let args = ["--firmware", "11.8", "--state-dir", state.as_str()];
    let emu = Emulator::start_at(&ip, &args);
    let mut c = emu.client();
    assert_eq!(c.get("AMT_GeneralSettings").status, 200);
    let realm = c.realm.clone().expect("the realm");
    let ha1 = md5_hex(&format!("operator:{realm}:Passw0rd!"));
    let service = "CIM_AccountManagementService";
    let create = |c: &mut Client, system: &str, user: &str, ha1: &str| {
        let r = c.invoke(
            service,
            "CreateAccount",
            "",
            &create_account_args(system, user, ha1),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    let reply = create(&mut c, "Intel(r) AMT", "operator", &ha1);
    assert_eq!(
        element_text(&reply, "ReturnValue").as_deref(),
        Some("0"),
        "{reply}"
    );
    assert!(
        reply.contains(">operator</"),
        "the new account's reference: {reply}"
    );

    // Refusals: a taken name (PT_STATUS_DUPLICATE), an HA1 that is not 32
    // hex digits (PT_STATUS_INVALID_PASSWORD), another system
    // (PT_STATUS_INVALID_PARAMETER).
    for (system, user, ha1, status) in [
        ("Intel(r) AMT", "operator", ha1.as_str(), "2058"),
        ("Intel(r) AMT", "other", "0123", "2054"),
        ("SomeOtherSystem", "other", ha1.as_str(), "36"),
    ] {
        let reply = create(&mut c, system, user, ha1);
        assert_eq!(
            element_text(&reply, "ReturnValue").as_deref(),
            Some(status),
            "{system} {user} {ha1}: {reply}"
        );
    }
    let accounts = c.enumerate("CIM_Account").concat();
    // Two accounts (the administrator and operator), each with one UserID
    // element (an opening and a closing tag).
    assert_eq!(accounts.matches("UserID>").count(), 4, "{accounts}");
    assert!(!accounts.contains(">other<"), "{accounts}");

    // It logs in, but holds no realm yet.
    let (status, body) = login_status(emu.addr, "operator", "Passw0rd!");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
    assert_eq!(login_status(emu.addr, "operator", "wrong").0, 401);
    emu.kill_hard();

    let emu = Emulator::start_at(&ip, &args);
    assert_eq!(
        login_status(emu.addr, "operator", "Passw0rd!").0,
        400,
        "kept across a kill"
    );
    // The ACL path grants it General Info, which AMT_GeneralSettings needs.
    let mut c = emu.client();
    let r = c.invoke(
        "AMT_AuthorizationService",
        "UpdateUserAclEntryEx",
        "",
        "<h:Handle>1</h:Handle><h:DigestUsername>operator</h:DigestUsername><h:AccessPermission>2</h:AccessPermission><h:Realms>13</h:Realms>",
    );
    assert_eq!(
        element_text(&r.text(), "ReturnValue").as_deref(),
        Some("0"),
        "{}",
        r.text()
    );
    let (status, body) = login_status(emu.addr, "operator", "Passw0rd!");
    assert_eq!(status, 200, "{body}");
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// IPS_IEEE8021xSettings is the wired 802.1X profile AMT_8021XProfile
/// shows: a Put here is read there; a bad Put or a SetCertificates that
/// names no certificate changes neither.
#[test]
fn the_ips_8021x_settings_are_the_wired_profile() {
    let emu = Emulator::start(&["--firmware", "11.8"]);
    let mut c = emu.client();
    let r = c.put_edited(
        "IPS_IEEE8021xSettings",
        "<r:PxeTimeout>0</r:PxeTimeout>",
        "<r:PxeTimeout>120</r:PxeTimeout>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let profile = c.get("AMT_8021XProfile").text();
    assert_eq!(element_text(&profile, "PxeTimeout").as_deref(), Some("120"));

    for (from, to) in [
        ("<r:Enabled>3</r:Enabled>", "<r:Enabled>4</r:Enabled>"),
        (
            "<r:PxeTimeout>120</r:PxeTimeout>",
            "<r:PxeTimeout>-5</r:PxeTimeout>",
        ),
        (
            "<r:AvailableInS0>false</r:AvailableInS0>",
            "<r:AvailableInS0>perhaps</r:AvailableInS0>",
        ),
    ] {
        let r = c.put_edited("IPS_IEEE8021xSettings", from, to);
        assert_eq!(r.status, 400, "{to}: {}", r.text());
    }
    let cert = |c: &mut Client, selectors: &str| {
        let r = c.invoke(
            "IPS_IEEE8021xSettings",
            "SetCertificates",
            "",
            &format!(
                r#"<h:ClientCertificate><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI>{selectors}</a:ReferenceParameters></h:ClientCertificate>"#,
                class_uri("AMT_PublicKeyCertificate")
            ),
        );
        element_text(&r.text(), "ReturnValue")
    };
    let missing = selector("InstanceID", "Intel(r) AMT Certificate: Handle: 9");
    assert_eq!(cert(&mut c, &missing).as_deref(), Some("2068"));
    let after = c.get("IPS_IEEE8021xSettings").text();
    assert_eq!(element_text(&after, "Enabled").as_deref(), Some("3"));
    assert_eq!(element_text(&after, "PxeTimeout").as_deref(), Some("120"));
    let contexts = c.enumerate("IPS_8021xCredentialContext").concat();
    assert!(!contexts.contains("ElementInContext"), "{contexts}");
}
