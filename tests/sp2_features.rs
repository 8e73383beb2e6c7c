//! The Configuration Manager SP2 features against the real binary over
//! WS-Man: the security audit log and its policy, third-party data storage,
//! the ME power policy (a device whose ME sleeps with the host stops
//! answering), and 802.1X wired and wireless profiles — on firmware that has
//! them, and their absence on 3.2.1. MeshCommander's stack reads the audit
//! log where it is installed.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use support::*;

fn rv(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    element_text(&r.text(), "ReturnValue").expect("a ReturnValue")
}

/// A fault's subcode without its prefix (`b:DestinationUnreachable`).
fn fault_of(r: &Response) -> String {
    assert_eq!(r.status, 400, "{}", r.text());
    let values = element_texts(&r.text(), "Value");
    let subcode = values.get(1).cloned().unwrap_or_default();
    subcode.rsplit(':').next().unwrap_or_default().to_string()
}

fn selector(name: &str, value: &str) -> String {
    format!(r#"<w:SelectorSet><w:Selector Name="{name}">{value}</w:Selector></w:SelectorSet>"#)
}

fn reference(class: &str, key: &str, value: &str) -> String {
    format!(
        r#"<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="{key}">{value}</w:Selector></w:SelectorSet></a:ReferenceParameters>"#,
        class_uri(class)
    )
}

/// The records of one ReadRecords page, decoded: (app, event, initiator).
fn decode(records: &[String]) -> Vec<(u16, u16, String)> {
    records
        .iter()
        .map(|r| {
            let b = BASE64.decode(r.trim()).expect("base64 record");
            let app = u16::from_be_bytes([b[0], b[1]]);
            let event = u16::from_be_bytes([b[2], b[3]]);
            let initiator = match b[4] {
                0 => String::from_utf8_lossy(&b[6..6 + b[5] as usize]).into_owned(),
                2 => "local".into(),
                other => format!("type {other}"),
            };
            (app, event, initiator)
        })
        .collect()
}

/// Where a digest user's record says the call came from: the location
/// type and the address.
fn origin(record: &str) -> (u8, String) {
    let b = BASE64.decode(record.trim()).expect("base64 record");
    assert_eq!(b[4], 0, "a digest initiator");
    let at = 6 + b[5] as usize + 4;
    let len = b[at + 1] as usize;
    (
        b[at],
        String::from_utf8_lossy(&b[at + 2..at + 2 + len]).into_owned(),
    )
}

fn read_all_records(c: &mut Client) -> Vec<(u16, u16, String)> {
    let mut all = Vec::new();
    loop {
        let r = c.invoke(
            "AMT_AuditLog",
            "ReadRecords",
            "",
            &format!("<h:StartIndex>{}</h:StartIndex>", all.len() + 1),
        );
        assert_eq!(rv(&r), "0");
        let text = r.text();
        let total: usize = element_text(&text, "TotalRecordCount")
            .unwrap()
            .parse()
            .unwrap();
        let returned: usize = element_text(&text, "RecordsReturned")
            .unwrap()
            .parse()
            .unwrap();
        assert!(returned <= 10, "pages of at most 10");
        all.extend(decode(&element_texts(&text, "EventRecords")));
        if all.len() >= total || returned == 0 {
            assert_eq!(all.len(), total);
            return all;
        }
    }
}

#[test]
fn the_audit_log_records_what_its_policy_audits_and_pages_it() {
    let emu = Emulator::start(&["--firmware", "11.8", "--shutdown-ms", "100"]);
    let mut c = emu.client();
    let log = c.get("AMT_AuditLog").text();
    assert_eq!(
        element_text(&log, "CurrentNumberOfRecords").as_deref(),
        Some("0")
    );
    assert_eq!(element_text(&log, "AuditState").as_deref(), Some("16"));

    // Unknown application or event ids are refused, and nothing changes.
    let policy = |app: u32, event: u32| {
        format!(
            "<h:Enable>true</h:Enable><h:AuditedAppID>{app}</h:AuditedAppID><h:EventID>{event}</h:EventID><h:PolicyType>0</h:PolicyType>"
        )
    };
    assert_eq!(
        rv(&c.invoke("AMT_AuditPolicyRule", "SetAuditPolicy", "", &policy(99, 0))),
        "36"
    );
    assert_eq!(
        rv(&c.invoke("AMT_AuditPolicyRule", "SetAuditPolicy", "", &policy(16, 77))),
        "36"
    );
    let bad_bulk = "<h:Enable>true</h:Enable><h:Enable>true</h:Enable><h:AuditedAppID>16</h:AuditedAppID><h:EventID>2</h:EventID><h:EventID>4</h:EventID>";
    assert_eq!(
        rv(&c.invoke("AMT_AuditPolicyRule", "SetAuditPolicyBulk", "", bad_bulk)),
        "36"
    );
    let rule = c.get("AMT_AuditPolicyRule").text();
    assert!(
        element_text(&rule, "AuditApplicationEventID").is_none(),
        "{rule}"
    );

    // Audit ACL additions and removals and remote power-downs.
    let bulk: String = [(16, 2), (16, 4), (17, 1)]
        .iter()
        .map(|(a, e)| format!("<h:Enable>true</h:Enable><h:AuditedAppID>{a}</h:AuditedAppID><h:EventID>{e}</h:EventID><h:PolicyType>0</h:PolicyType>"))
        .collect();
    assert_eq!(
        rv(&c.invoke("AMT_AuditPolicyRule", "SetAuditPolicyBulk", "", &bulk)),
        "0"
    );
    let rule = c.get("AMT_AuditPolicyRule").text();
    assert_eq!(element_texts(&rule, "AuditApplicationEventID").len(), 3);

    // The firmware keeps seven digest users: add them all, remove three and
    // add one more, which makes more than a page of records.
    let add = |c: &mut Client, name: &str| {
        let ha1 = md5_hex(&format!("{name}:{}:Passw0rd!", realm(c)));
        let raw: Vec<u8> = (0..16)
            .map(|k| u8::from_str_radix(&ha1[2 * k..2 * k + 2], 16).unwrap())
            .collect();
        let r = c.invoke(
            "AMT_AuthorizationService",
            "AddUserAclEntryEx",
            "",
            &format!(
                "<h:DigestUsername>{name}</h:DigestUsername><h:DigestPassword>{}</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>",
                BASE64.encode(raw)
            ),
        );
        assert_eq!(rv(&r), "0", "{}", r.text());
        element_text(&r.text(), "Handle").unwrap()
    };
    let handles: Vec<String> = (0..7)
        .map(|i| add(&mut c, &format!("auditee{i}")))
        .collect();
    for handle in &handles[..3] {
        let r = c.invoke(
            "AMT_AuthorizationService",
            "RemoveUserAclEntry",
            "",
            &format!("<h:Handle>{handle}</h:Handle>"),
        );
        assert_eq!(rv(&r), "0");
    }
    add(&mut c, "auditee7");
    assert_eq!(rv(&c.request_power(8)), "0");

    let records = read_all_records(&mut c);
    let of = |app: u16, event: u16| {
        records
            .iter()
            .filter(|r| r.0 == app && r.1 == event)
            .count()
    };
    assert_eq!(of(16, 2), 8, "{records:?}");
    assert_eq!(of(16, 4), 3);
    assert_eq!(of(17, 1), 1);
    assert_eq!(of(20, 1), 1, "the policy change itself");
    assert!(records.iter().all(|r| r.2 == "admin"), "{records:?}");
    let first = c.invoke(
        "AMT_AuditLog",
        "ReadRecords",
        "",
        "<h:StartIndex>1</h:StartIndex>",
    );
    let first = element_texts(&first.text(), "EventRecords");
    assert_eq!(
        origin(&first[0]),
        (0, "127.0.0.1".to_string()),
        "IPv4, the client's (loopback) source address"
    );
    let past = c.invoke(
        "AMT_AuditLog",
        "ReadRecords",
        "",
        "<h:StartIndex>99</h:StartIndex>",
    );
    assert_eq!(rv(&past), "35");

    // A locked log cannot be cleared; unlocked it can.
    let lock = c.invoke(
        "AMT_AuditLog",
        "SetAuditLock",
        "",
        "<h:LockTimeoutInSeconds>60</h:LockTimeoutInSeconds><h:Flag>0</h:Flag><h:Handle>0</h:Handle>",
    );
    assert_eq!(rv(&lock), "0");
    let handle = element_text(&lock.text(), "Handle").unwrap();
    assert_eq!(rv(&c.invoke("AMT_AuditLog", "ClearLog", "", "")), "16");
    let unlock = format!(
        "<h:LockTimeoutInSeconds>0</h:LockTimeoutInSeconds><h:Flag>1</h:Flag><h:Handle>{handle}</h:Handle>"
    );
    assert_eq!(
        rv(&c.invoke("AMT_AuditLog", "SetAuditLock", "", &unlock)),
        "0"
    );
    assert_eq!(rv(&c.invoke("AMT_AuditLog", "ClearLog", "", "")), "0");
    assert_eq!(read_all_records(&mut c), vec![(20, 0, "admin".to_string())]);
}

/// The device's digest realm, from a challenge.
fn realm(c: &mut Client) -> String {
    let r = c.challenge();
    challenge_param(r.header("www-authenticate").unwrap(), "realm").unwrap()
}

#[test]
fn storage_blocks_refuse_bad_writes_whole() {
    let emu = Emulator::start(&["--firmware", "4.0"]);
    let mut c = emu.client();
    let mtu = c.invoke("AMT_ThirdPartyDataStorageService", "GetMTU", "", "");
    assert_eq!(rv(&mtu), "0");
    let mtu: usize = element_text(&mtu.text(), "Mtu").unwrap().parse().unwrap();

    let register = format!(
        "<h:CallerUUID>{}</h:CallerUUID><h:VendorName>Contoso</h:VendorName><h:ApplicationName>inventory</h:ApplicationName><h:EnterpriseName>Corp</h:EnterpriseName>",
        BASE64.encode([7u8; 16])
    );
    let r = c.invoke(
        "AMT_ThirdPartyDataStorageService",
        "RegisterApplication",
        "",
        &register,
    );
    assert_eq!(rv(&r), "0");
    let session = element_text(&r.text(), "SessionHandle").unwrap();
    let r = c.invoke(
        "AMT_ThirdPartyDataStorageService",
        "AllocateBlock",
        "",
        &format!("<h:SessionHandle>{session}</h:SessionHandle><h:BytesRequested>256</h:BytesRequested><h:BlockHidden>false</h:BlockHidden><h:BlockName>asset-tag</h:BlockName>"),
    );
    assert_eq!(rv(&r), "0");
    let block = element_text(&r.text(), "BlockHandle").unwrap();
    let write = |c: &mut Client, s: &str, b: &str, offset: i64, data: &[u8]| {
        rv(&c.invoke(
            "AMT_ThirdPartyDataStorageService",
            "WriteBlock",
            "",
            &format!(
                "<h:SessionHandle>{s}</h:SessionHandle><h:BlockHandle>{b}</h:BlockHandle><h:ByteOffset>{offset}</h:ByteOffset><h:Data>{}</h:Data>",
                BASE64.encode(data)
            ),
        ))
    };
    assert_eq!(write(&mut c, &session, &block, 16, b"AT-000123"), "0");
    assert_eq!(
        write(&mut c, &session, &block, 300, b"x"),
        "14",
        "offset past the end"
    );
    assert_eq!(
        write(&mut c, &session, &block, 250, b"0123456789"),
        "15",
        "runs past the end"
    );
    assert_eq!(
        write(&mut c, &session, &block, 0, &vec![0x55; mtu + 1]),
        "15",
        "larger than the MTU"
    );
    assert_eq!(
        write(&mut c, &session, "424242", 0, b"x"),
        "13",
        "unknown block"
    );
    assert_eq!(
        write(&mut c, "777", &block, 0, b"x"),
        "8",
        "unknown session"
    );
    let garbage = c.invoke(
        "AMT_ThirdPartyDataStorageService",
        "WriteBlock",
        "",
        &format!("<h:SessionHandle>{session}</h:SessionHandle><h:BlockHandle>{block}</h:BlockHandle><h:ByteOffset>0</h:ByteOffset><h:Data>%%not base64%%</h:Data>"),
    );
    assert_eq!(rv(&garbage), "36");
    let r = c.invoke(
        "AMT_ThirdPartyDataStorageService",
        "ReadBlock",
        "",
        &format!("<h:SessionHandle>{session}</h:SessionHandle><h:BlockHandle>{block}</h:BlockHandle><h:ByteOffset>0</h:ByteOffset><h:ByteCount>256</h:ByteCount>"),
    );
    assert_eq!(rv(&r), "0");
    let data = BASE64
        .decode(element_text(&r.text(), "Data").unwrap())
        .unwrap();
    assert_eq!(&data[16..25], b"AT-000123");
    assert!(data[250..].iter().all(|b| *b == 0), "no partial write");
    assert!(data[..16].iter().all(|b| *b == 0));

    let attributes = c.invoke(
        "AMT_ThirdPartyDataStorageAdministrationService",
        "GetStorageAttributes",
        "",
        "",
    );
    assert_eq!(rv(&attributes), "0");
    assert_eq!(
        element_text(&attributes.text(), "TotalAllocatedStorage").as_deref(),
        Some("256")
    );
    let too_big = c.invoke(
        "AMT_ThirdPartyDataStorageService",
        "AllocateBlock",
        "",
        &format!("<h:SessionHandle>{session}</h:SessionHandle><h:BytesRequested>1000000</h:BytesRequested><h:BlockHidden>false</h:BlockHidden><h:BlockName>huge</h:BlockName>"),
    );
    assert_eq!(rv(&too_big), "15");
}

fn wifi_args(name: &str, priority: u32, auth: u32, passphrase: &str, extra: &str) -> String {
    format!(
        r#"<h:WiFiEndpoint>{}</h:WiFiEndpoint><h:WiFiEndpointSettingsInput xmlns:q="{}"><q:ElementName>{name}</q:ElementName><q:InstanceID>Intel(r) AMT:WiFi Endpoint Settings {name}</q:InstanceID><q:AuthenticationMethod>{auth}</q:AuthenticationMethod><q:EncryptionMethod>4</q:EncryptionMethod><q:SSID>corp-net</q:SSID><q:Priority>{priority}</q:Priority><q:PSKPassPhrase>{passphrase}</q:PSKPassPhrase></h:WiFiEndpointSettingsInput>{extra}"#,
        reference("CIM_WiFiEndpoint", "Name", "WiFi Endpoint 0"),
        class_uri("CIM_WiFiEndpointSettings"),
    )
}

#[test]
fn wireless_and_wired_8021x_profiles_are_validated_before_they_are_kept() {
    let emu = Emulator::start(&["--firmware", "11.8"]);
    let mut c = emu.client();
    let add = |c: &mut Client, args: &str| {
        rv(&c.invoke(
            "AMT_WiFiPortConfigurationService",
            "AddWiFiSettings",
            "",
            args,
        ))
    };
    assert_eq!(
        add(&mut c, &wifi_args("home", 1, 6, "short", "")),
        "36",
        "PSK too short"
    );
    assert_eq!(
        add(&mut c, &wifi_args("home", 1, 3, "password1", "")),
        "36",
        "shared key"
    );
    assert_eq!(add(&mut c, &wifi_args("home", 1, 6, "password1", "")), "0");
    assert_eq!(
        add(&mut c, &wifi_args("home", 2, 6, "password1", "")),
        "2058"
    );
    // WPA2-802.1X with EAP-TLS needs a client certificate that exists.
    let eap = format!(
        r#"<h:IEEE8021xSettingsInput xmlns:q="{}"><q:ElementName>eap</q:ElementName><q:InstanceID>x</q:InstanceID><q:AuthenticationProtocol>0</q:AuthenticationProtocol></h:IEEE8021xSettingsInput>"#,
        class_uri("CIM_IEEE8021xSettings")
    );
    assert_eq!(add(&mut c, &wifi_args("eap", 2, 7, "", &eap)), "36");
    let missing_cert = format!(
        "{eap}<h:ClientCredential>{}</h:ClientCredential>",
        reference(
            "AMT_PublicKeyCertificate",
            "InstanceID",
            "Intel(r) AMT Certificate: Handle: 9"
        )
    );
    assert_eq!(
        add(&mut c, &wifi_args("eap", 2, 7, "", &missing_cert)),
        "2068"
    );

    let pages = c.enumerate("CIM_WiFiEndpointSettings").concat();
    assert_eq!(element_texts(&pages, "SSID"), vec!["corp-net".to_string()]);
    assert!(!pages.contains("password1"), "the passphrase is write-only");

    // The wired profile: an enabled PEAP profile without a password is
    // refused and leaves the profile as it was.
    let r = c.put_edited(
        "AMT_8021XProfile",
        "<r:Enabled>false</r:Enabled>",
        "<r:Enabled>true</r:Enabled><r:AuthenticationProtocol>2</r:AuthenticationProtocol><r:Username>alice</r:Username>",
    );
    assert!(r.status == 400, "{}", r.text());
    assert_eq!(
        element_text(&c.get("AMT_8021XProfile").text(), "Enabled").as_deref(),
        Some("false")
    );
    let r = c.put_edited(
        "AMT_8021XProfile",
        "<r:Enabled>false</r:Enabled>",
        "<r:Enabled>true</r:Enabled><r:AuthenticationProtocol>2</r:AuthenticationProtocol><r:Username>alice</r:Username><r:Password>s3cret!</r:Password>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let wired = c.get("AMT_8021XProfile").text();
    assert_eq!(element_text(&wired, "Username").as_deref(), Some("alice"));
    assert!(element_text(&wired, "Password").is_none());

    // Delete removes the wireless profile.
    let id = c.next_message_id();
    let r = c.post(&envelope(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
        "CIM_WiFiEndpointSettings",
        &id,
        &selector("InstanceID", "Intel(r) AMT:WiFi Endpoint Settings home"),
        "",
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let pages = c.enumerate("CIM_WiFiEndpointSettings").concat();
    assert!(element_texts(&pages, "SSID").is_empty());
}

#[test]
fn firmware_3_2_1_has_no_audit_log_or_8021x() {
    let emu = Emulator::start(&["--firmware", "3.2.1"]);
    let mut c = emu.client();
    for class in [
        "AMT_AuditLog",
        "AMT_AuditPolicyRule",
        "AMT_8021XProfile",
        "AMT_WiFiPortConfigurationService",
        "CIM_WiFiEndpointSettings",
    ] {
        assert_eq!(fault_of(&c.get(class)), "DestinationUnreachable", "{class}");
    }
    let r = c.invoke(
        "AMT_AuditLog",
        "ReadRecords",
        "",
        "<h:StartIndex>1</h:StartIndex>",
    );
    assert_eq!(fault_of(&r), "DestinationUnreachable");
    let r = c.invoke(
        "AMT_WiFiPortConfigurationService",
        "AddWiFiSettings",
        "",
        &wifi_args("x", 1, 6, "password1", ""),
    );
    assert_eq!(fault_of(&r), "DestinationUnreachable");
    // Power packages and data storage predate 4.0.
    assert_eq!(c.enumerate("AMT_SystemPowerScheme").len(), 1);
    assert_eq!(
        rv(&c.invoke("AMT_ThirdPartyDataStorageService", "GetMTU", "", "")),
        "0"
    );
}

/// Whether the device answers an HTTP request on this connection.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.write_all(b"GET /index.htm HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n > 0)
}

#[test]
fn an_me_on_in_s0_only_stops_answering_while_the_host_sleeps() {
    let ip = unique_address();
    let control = SocketAddr::from((ip, 17000));
    let emu = Emulator::start_at(
        &ip.to_string(),
        &[
            "--firmware",
            "11.8",
            "--boot-ms",
            "200",
            "--shutdown-ms",
            "200",
            "--control",
            &control.to_string(),
        ],
    );
    let mut c = emu.client();
    let schemes = c.enumerate("AMT_SystemPowerScheme").concat();
    let ids = element_texts(&schemes, "InstanceID");
    let descriptions = element_texts(&schemes, "Description");
    let s0 = ids[descriptions
        .iter()
        .position(|d| d.ends_with("ON in S0"))
        .expect("an S0-only package")]
    .clone();
    let bogus = c.invoke(
        "AMT_SystemPowerScheme",
        "SetPowerScheme",
        &selector("InstanceID", "nope"),
        "",
    );
    assert_eq!(bogus.status, 400, "no such instance");
    let r = c.invoke(
        "AMT_SystemPowerScheme",
        "SetPowerScheme",
        &selector("InstanceID", &s0),
        "",
    );
    assert_eq!(rv(&r), "0");
    assert!(answers(emu.addr), "the host is still on");
    // The package in force is the current setting of the ME.
    let guids = element_texts(&schemes, "SchemeGUID");
    let s0_guid = &guids[ids.iter().position(|i| *i == s0).unwrap()];
    let settings = c.enumerate("CIM_ElementSettingData").concat();
    assert!(
        settings.contains(&format!(
            r#"<c:Selector Name="SchemeGUID">{s0_guid}</c:Selector>"#
        )),
        "{settings}"
    );

    // The console puts the host to sleep: the ME goes with it.
    assert_eq!(rv(&c.request_power(4)), "0");
    assert!(eventually(Duration::from_secs(10), || !answers(emu.addr)));
    assert!(
        !answers(SocketAddr::new(emu.addr.ip(), 16993)),
        "no port answers"
    );

    // The host wakes by itself (here through the control API): the device is back.
    let name = {
        let r = Client::raw(
            control,
            format!("GET /api/v1/devices HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
        let list = v
            .as_array()
            .cloned()
            .or_else(|| v["devices"].as_array().cloned())
            .unwrap();
        list[0]["name"].as_str().unwrap().to_string()
    };
    let body = r#"{"action":"on"}"#;
    let r = Client::raw(
        control,
        format!(
            "POST /api/v1/devices/{}/power HTTP/1.1\r\nHost: {control}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            name.replace('/', "%2F"),
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(r.status < 300, "{}", r.text());
    assert!(eventually(Duration::from_secs(10), || answers(emu.addr)));
    let mut c = emu.client();
    assert_eq!(c.get("AMT_GeneralSettings").status, 200);
}

#[test]
fn a_device_started_asleep_answers_only_if_its_me_stays_on_in_s3() {
    let dark = Emulator::start(&["--power", "s3", "--power-policy", "s0-only"]);
    assert!(!answers(dark.addr));
    let dozing = Emulator::start(&["--power", "s3", "--power-policy", "s0-s3"]);
    assert!(answers(dozing.addr));
    let mut c = dozing.client();
    let state = c.get("CIM_AssociatedPowerManagementService").text();
    assert_eq!(element_text(&state, "PowerState").as_deref(), Some("4"));
}

/// Whether the node clients are installed.
fn node_clients_ready(prefix: &std::path::Path) -> bool {
    let present = prefix
        .join("node/node_modules/meshcentral/amt/amt.js")
        .exists()
        && prefix
            .join("node/node_modules/@device-management-toolkit/wsman-messages")
            .exists();
    client_available(
        present,
        "the node clients (npm meshcentral, DMT wsman-messages)",
    )
}

/// Runs a node driver against a device and returns its JSON verdict.
fn run_driver(
    prefix: &std::path::Path,
    emu: &Emulator,
    script: &str,
    op: &[&str],
) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/clients")
        .join(script);
    let out = Command::new("node")
        .arg(script)
        .args([&emu.addr.ip().to_string(), "16992", USER, PASSWORD])
        .args(op)
        .env("AMT_CLIENTS_PREFIX", prefix)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "no verdict: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn meshcommander_reads_the_audit_log() {
    let prefix = clients_prefix();
    if !node_clients_ready(&prefix) {
        return;
    }
    let emu = Emulator::start(&["--firmware", "4.0", "--shutdown-ms", "100"]);
    let mut c = emu.client();
    let enable = "<h:Enable>true</h:Enable><h:AuditedAppID>17</h:AuditedAppID><h:EventID>1</h:EventID><h:PolicyType>0</h:PolicyType>";
    assert_eq!(
        rv(&c.invoke("AMT_AuditPolicyRule", "SetAuditPolicy", "", enable)),
        "0"
    );
    assert_eq!(rv(&c.request_power(8)), "0");
    let v = run_driver(&prefix, &emu, "meshcommander_auditlog.js", &["auditlog"]);
    assert_eq!(v["ok"], true, "{v:#}");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{v:#}");
    assert_eq!(records[0]["event"], "Security Audit Policy Modified");
    assert_eq!(records[1]["event"], "Performed Power Down");
    assert_eq!(records[1]["app"], "RCO");
    assert!(records.iter().all(|r| r["initiator"] == "admin"), "{v:#}");
}

#[test]
fn dmt_messages_configure_wireless() {
    let prefix = clients_prefix();
    if !node_clients_ready(&prefix) {
        return;
    }
    let emu = Emulator::start(&["--firmware", "11.8"]);
    // A passphrase with XML specials, which the builder escapes.
    let v = run_driver(
        &prefix,
        &emu,
        "dmt-wireless.js",
        &["wifi", "office", "corp-net", "Pa$$w0rd&<x>", "1"],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["port"], 0);
    assert_eq!(v["add"], 0);
    assert_eq!(v["again"], 2058, "a duplicate profile");
    assert_eq!(v["ssids"], serde_json::json!(["corp-net"]));
    assert_eq!(v["passphrase_returned"], false);
    let v = run_driver(
        &prefix,
        &emu,
        "dmt-wireless.js",
        &["wifi", "bad", "corp-net", "short", "2"],
    );
    assert_eq!(v["add"], 36, "a PSK under 8 characters");
    let mut c = emu.client();
    let port = c.get("CIM_WiFiPort").text();
    assert_eq!(
        element_text(&port, "EnabledState").as_deref(),
        Some("32769")
    );
}
