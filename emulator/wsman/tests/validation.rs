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
    let body =
        format!(r#"<h:{class} xmlns:h="{uri}"><h:{name}>{xml_value}</h:{name}></h:{class}>"#);
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
    assert_eq!(
        put(&d, &s, "AMT_GeneralSettings", "HostName", "pc-42"),
        None
    );
    assert!(get(&d, &s, "AMT_GeneralSettings").contains(">pc-42<"));
}

#[test]
fn the_well_formedness_check_can_fail() {
    assert!(well_formed("<a>\u{1}</a>").is_err());
    assert!(well_formed("<a>&#27;</a>").is_err());
    assert!(well_formed("<a><b></a>").is_err());
    assert_eq!(
        property("<x:a><x:b>p&amp;q&#65;</x:b></x:a>", "b"),
        Ok(Some("p&qA".into()))
    );
}

/// How a property written reads back.
#[derive(Clone, Copy, Debug)]
enum Echo {
    /// As the very text sent.
    Text,
    /// As the same number.
    Int,
    /// As the same boolean.
    Bool,
    /// Not at all (write-only, or not kept by the device).
    Hidden,
}

/// A writable property of a class whose instance a Put without selectors
/// reaches, and the other properties the Put must carry for the device to
/// take it (a static address needs DHCP off and a netmask).
struct Writable {
    class: &'static str,
    name: &'static str,
    echo: Echo,
    with: &'static [(&'static str, &'static str)],
}

const fn w(class: &'static str, name: &'static str, echo: Echo) -> Writable {
    Writable {
        class,
        name,
        echo,
        with: &[],
    }
}

const STATIC: &[(&str, &str)] = &[
    ("DHCPEnabled", "false"),
    ("IpSyncEnabled", "false"),
    ("IPAddress", "192.168.10.20"),
    ("SubnetMask", "255.255.255.0"),
];

const fn static_ip(name: &'static str) -> Writable {
    Writable {
        class: "AMT_EthernetPortSettings",
        name,
        echo: Echo::Text,
        with: STATIC,
    }
}

const GENERAL: &str = "AMT_GeneralSettings";
const BOOT: &str = "AMT_BootSettingData";
const KVM: &str = "IPS_KVMRedirectionSettingData";
const KERBEROS: &str = "AMT_KerberosSettingData";
const WIRED_8021X: &str = "AMT_8021XProfile";
const IPV6: &str = "IPS_IPv6PortSettings";

/// Every writable property of the classes a Put reaches without selectors.
static WRITABLE: &[Writable] = &[
    w(GENERAL, "HostName", Echo::Text),
    w(GENERAL, "DomainName", Echo::Text),
    w(GENERAL, "HostOSFQDN", Echo::Text),
    w(GENERAL, "SharedFQDN", Echo::Bool),
    w(GENERAL, "NetworkInterfaceEnabled", Echo::Bool),
    w(GENERAL, "PingResponseEnabled", Echo::Bool),
    w(GENERAL, "RmcpPingResponseEnabled", Echo::Bool),
    w(GENERAL, "DDNSUpdateEnabled", Echo::Bool),
    w(GENERAL, "DDNSUpdateByDHCPServerEnabled", Echo::Bool),
    w(GENERAL, "WsmanOnlyMode", Echo::Bool),
    w(GENERAL, "DDNSTTL", Echo::Int),
    w(GENERAL, "DDNSPeriodicUpdateInterval", Echo::Int),
    w(GENERAL, "IdleWakeTimeout", Echo::Int),
    w(GENERAL, "PreferredAddressFamily", Echo::Int),
    w(GENERAL, "PrivacyLevel", Echo::Int),
    w(GENERAL, "PresenceNotificationInterval", Echo::Int),
    w(GENERAL, "DHCPv6ConfigurationTimeout", Echo::Int),
    w(GENERAL, "ThunderboltDockEnabled", Echo::Int),
    static_ip("IPAddress"),
    static_ip("SubnetMask"),
    static_ip("DefaultGateway"),
    static_ip("PrimaryDNS"),
    static_ip("SecondaryDNS"),
    w("AMT_EthernetPortSettings", "DHCPEnabled", Echo::Bool),
    w("AMT_EthernetPortSettings", "IpSyncEnabled", Echo::Bool),
    w("AMT_EthernetPortSettings", "SharedStaticIp", Echo::Bool),
    w("AMT_EthernetPortSettings", "LinkPolicy", Echo::Int),
    w(IPV6, "IPv6Address", Echo::Hidden),
    w(IPV6, "DefaultRouter", Echo::Hidden),
    w(IPV6, "PrimaryDNS", Echo::Hidden),
    w(IPV6, "SecondaryDNS", Echo::Hidden),
    w(IPV6, "InterfaceIDType", Echo::Hidden),
    w(IPV6, "ManualInterfaceID", Echo::Hidden),
    w(BOOT, "BIOSPause", Echo::Bool),
    w(BOOT, "BIOSSetup", Echo::Bool),
    w(BOOT, "BootMediaIndex", Echo::Int),
    w(BOOT, "ConfigurationDataReset", Echo::Bool),
    w(BOOT, "FirmwareVerbosity", Echo::Int),
    w(BOOT, "ForcedProgressEvents", Echo::Bool),
    w(BOOT, "IDERBootDevice", Echo::Int),
    w(BOOT, "LockKeyboard", Echo::Bool),
    w(BOOT, "UseSOL", Echo::Bool),
    w(BOOT, "EnforceSecureBoot", Echo::Bool),
    w(KVM, "Is5900PortEnabled", Echo::Bool),
    w(KVM, "OptInPolicy", Echo::Bool),
    w(KVM, "OptInPolicyTimeout", Echo::Int),
    w(KVM, "SessionTimeout", Echo::Int),
    w(KVM, "DefaultScreen", Echo::Int),
    w(KVM, "RFBPassword", Echo::Hidden),
    w("IPS_OptInService", "OptInRequired", Echo::Int),
    w("IPS_OptInService", "OptInDisplayTimeout", Echo::Int),
    w("AMT_RedirectionService", "ListenerEnabled", Echo::Bool),
    w(KERBEROS, "RealmName", Echo::Text),
    w(KERBEROS, "ServicePrincipalName", Echo::Text),
    w(KERBEROS, "KeyVersion", Echo::Int),
    w(KERBEROS, "MaximumClockTolerance", Echo::Int),
    w(KERBEROS, "IterationCount", Echo::Int),
    w(KERBEROS, "Passphrase", Echo::Hidden),
    w(KERBEROS, "Salt", Echo::Hidden),
    w(WIRED_8021X, "ActiveInS0", Echo::Bool),
    w(WIRED_8021X, "PxeTimeout", Echo::Int),
    w(WIRED_8021X, "RoamingIdentity", Echo::Text),
    w(WIRED_8021X, "ServerCertificateName", Echo::Text),
    w(WIRED_8021X, "Username", Echo::Text),
    w(WIRED_8021X, "Domain", Echo::Text),
    w(WIRED_8021X, "Password", Echo::Hidden),
    // Staged for CommitChanges, so not read back at once.
    w("AMT_TLSSettingData", "TrustedCN", Echo::Hidden),
    w("AMT_TLSSettingData", "MutualAuthentication", Echo::Hidden),
];

/// Text as a client would write it into the body: markup escaped, and
/// every character XML does not allow literally as a character reference
/// (which is how `&#1;` reaches the device).
fn xml_text(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if (c as u32) < 0x20 || c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn put_with(d: &Device, s: &WsmanState, p: &Writable, value: &str) -> amtemu_wsman::Reply {
    let uri = names::class_uri(p.class);
    let mut props = String::new();
    for (name, v) in p.with.iter().filter(|(n, _)| *n != p.name) {
        props.push_str(&format!("<h:{name}>{v}</h:{name}>"));
    }
    props.push_str(&format!("<h:{0}>{1}</h:{0}>", p.name, xml_text(value)));
    let body = format!(r#"<h:{0} xmlns:h="{uri}">{props}</h:{0}>"#, p.class);
    handle(
        d,
        s,
        &Caller::Admin,
        envelope(&format!("{TRANSFER}/Put"), &uri, &body).as_bytes(),
    )
}

/// A reply without its MessageID, which every reply changes.
fn without_message_id(xml: &str) -> String {
    match (xml.find("<b:MessageID>"), xml.find("</b:MessageID>")) {
        (Some(a), Some(b)) => format!("{}{}", &xml[..a], &xml[b..]),
        _ => xml.to_string(),
    }
}

/// The property's promise for one value: refused with a fault and nothing
/// changed, or accepted and read back, well-formed, as what was written.
fn check_write(firmware: &str, p: &Writable, value: &str) -> Result<(), String> {
    let d = device(firmware);
    let s = WsmanState::default();
    let before = without_message_id(&get(&d, &s, p.class));
    let stored = format!("{:?}", d.nvram());
    let reply = put_with(&d, &s, p, value);
    well_formed(&reply.xml).map_err(|e| format!("the Put's reply: {e}"))?;
    let after = get(&d, &s, p.class);
    well_formed(&after).map_err(|e| format!("the next Get: {e}\n{after}"))?;
    if reply.fault.is_some() {
        if without_message_id(&after) != before || format!("{:?}", d.nvram()) != stored {
            return Err(format!("refused ({:?}) but changed", reply.fault));
        }
        return Ok(());
    }
    let read = property(&after, p.name)?;
    let same = match p.echo {
        Echo::Hidden => true,
        Echo::Text => read.as_deref().unwrap_or("") == value,
        Echo::Int => read.and_then(|r| text_int(&r)) == text_int(value),
        Echo::Bool => read.and_then(|r| text_bool(&r)) == text_bool(value),
    };
    if same {
        Ok(())
    } else {
        Err(format!("accepted but read back otherwise:\n{after}"))
    }
}

fn text_int(s: &str) -> Option<i64> {
    amtemu_wire::wsman::value::Value::text(s).as_int()
}

fn text_bool(s: &str) -> Option<bool> {
    amtemu_wire::wsman::value::Value::text(s).as_bool()
}

/// A firmware before CSME 18 and one after: host names differ.
const FIRMWARE: [&str; 2] = ["11.8", "18.0"];

/// Values every property is tried with: what broke the device before,
/// and the edges of each kind of rule.
const NASTY: &[&str] = &[
    "",
    "pc-42",
    "vpro.test",
    "pc\u{1}42",
    "pc\u{1b}[2J",
    "a\tb",
    "a\r\nb",
    "\u{7f}",
    "\u{85}",
    "\u{fffe}",
    "<&>\"'",
    "é",
    "0",
    "1",
    "-1",
    "15",
    "19",
    "65536",
    "2147483648",
    "99999999999999999999",
    "true",
    "maybe",
    "10.0.0.1",
    "255.255.255.0",
    "2001:db8::1",
];

#[test]
fn every_writable_property_refuses_or_reads_back_each_nasty_value() {
    let mut failures = Vec::new();
    for firmware in FIRMWARE {
        for p in WRITABLE {
            for value in NASTY {
                if let Err(e) = check_write(firmware, p, value) {
                    failures.push(format!(
                        "{firmware} {}.{} = {value:?}: {e}",
                        p.class, p.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text with the characters that matter here far more often than
    /// random code points would bring them: controls, XML's forbidden
    /// non-characters, markup, dots, hyphens, non-ASCII.
    fn mixed_text() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
            (0x7Fu32..0xA0).prop_map(|c| char::from_u32(c).unwrap()),
            Just('\u{FFFE}'),
            Just('\u{FFFF}'),
            prop::sample::select(vec!['<', '>', '&', '"', '\'', '.', '-', ' ', 'é', '😀']),
            proptest::char::range('a', 'z'),
            proptest::char::range('0', '9'),
            any::<char>(),
        ];
        prop::collection::vec(c, 0..90).prop_map(|cs| cs.into_iter().collect())
    }

    fn values() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => mixed_text(),
            1 => any::<String>(),
            1 => "[ -~]{0,80}",
            1 => "[a-zA-Z0-9.-]{0,70}",
            1 => "[a-z0-9-]{1,70}(\\.[a-z0-9-]{1,70}){0,4}",
            1 => any::<i64>().prop_map(|i| i.to_string()),
            1 => (0i64..70_000).prop_map(|i| i.to_string()),
            1 => "(true|false|1|0)",
            1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_write_is_refused_unchanged_or_reads_back_well_formed(
            which in 0..WRITABLE.len(),
            value in values(),
            firmware in prop::sample::select(FIRMWARE.to_vec()),
        ) {
            let p = &WRITABLE[which];
            if let Err(e) = check_write(firmware, p, &value) {
                return Err(TestCaseError::fail(format!("{firmware} {}.{} = {value:?}: {e}", p.class, p.name)));
            }
        }

        #[test]
        fn any_method_argument_is_refused_unchanged_or_taken(
            which in 0..ARGUMENTS.len(),
            value in values(),
        ) {
            let a = &ARGUMENTS[which];
            if let Err(e) = check_call("11.8", a, &value) {
                return Err(TestCaseError::fail(format!("{}.{}({}={value:?}): {e}", a.class, a.method, a.name)));
            }
        }
    }
}

/// A write-only or staged property cannot show what it kept, so each text
/// property is also asked outright: a control character is refused.
#[test]
fn every_text_property_refuses_control_characters() {
    let mut accepted = Vec::new();
    for p in WRITABLE
        .iter()
        .filter(|p| matches!(p.echo, Echo::Text | Echo::Hidden))
    {
        for value in ["Pa$$w0rd\u{1}x", "a\u{1b}[2J", "a\u{fffe}"] {
            let d = device("11.8");
            let s = WsmanState::default();
            if put_with(&d, &s, p, value).fault.is_none() {
                accepted.push(format!("{}.{} = {value:?}", p.class, p.name));
            }
        }
    }
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
}

/// CSME 18 takes Unicode host names, sent as character references; older
/// firmware only DNS labels.
#[test]
fn unicode_host_names_are_taken_from_csme_18_only() {
    for (firmware, taken) in [("16.1", false), ("18.0", true)] {
        let d = device(firmware);
        let s = WsmanState::default();
        let fault = put(&d, &s, GENERAL, "HostName", "p&#xe9;-&#x3c;42&#x3e;");
        let xml = get(&d, &s, GENERAL);
        let read = property(&xml, "HostName").unwrap();
        if taken {
            assert_eq!(fault, None);
            assert_eq!(read.as_deref(), Some("pé-<42>"));
        } else {
            assert_eq!(fault, Some(Fault::InternalError(36)));
            assert_ne!(read.as_deref(), Some("pé-<42>"));
        }
    }
}

/// Text the device did not get through a checked value can still carry
/// control characters: here a trusted root whose subject has them. The
/// writer's fallback keeps every reply well-formed.
#[test]
fn a_certificate_subject_with_control_characters_still_reads_as_xml() {
    use base64::Engine;
    let d = device("11.8");
    let s = WsmanState::default();
    let (der, _key) = amtemu_model::pki::self_signed_ca("Evil\u{1}\u{1b}[2J CA").unwrap();
    let service = "AMT_PublicKeyManagementService";
    let uri = names::class_uri(service);
    let blob = base64::engine::general_purpose::STANDARD.encode(der);
    let body = format!(
        r#"<h:AddTrustedRootCertificate_INPUT xmlns:h="{uri}"><h:CertificateBlob>{blob}</h:CertificateBlob></h:AddTrustedRootCertificate_INPUT>"#
    );
    let reply = handle(
        &d,
        &s,
        &Caller::Admin,
        envelope(&format!("{uri}/AddTrustedRootCertificate"), &uri, &body).as_bytes(),
    );
    assert_eq!(reply.fault, None, "{}", reply.xml);
    assert_eq!(property(&reply.xml, "ReturnValue"), Ok(Some("0".into())));
    let xml = get(&d, &s, "AMT_PublicKeyCertificate");
    well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let subject = property(&xml, "Subject").unwrap().unwrap();
    assert!(
        subject.contains("CN=Evil\u{fffd}\u{fffd}[2J CA"),
        "{subject}"
    );
}

/// A method argument written with any value, the others fixed at values
/// the device takes.
struct Argument {
    class: &'static str,
    method: &'static str,
    name: &'static str,
    others: &'static [(&'static str, &'static str)],
}

/// Sixteen zero bytes in base64: a digest, a UUID.
const SIXTEEN: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

static ARGUMENTS: &[Argument] = &[
    Argument {
        class: "AMT_AuthorizationService",
        method: "AddUserAclEntryEx",
        name: "DigestUsername",
        others: &[
            ("DigestPassword", SIXTEEN),
            ("AccessPermission", "2"),
            ("Realms", "3"),
        ],
    },
    Argument {
        class: "AMT_AuthorizationService",
        method: "SetAdminAclEntryEx",
        name: "Username",
        others: &[("DigestPassword", SIXTEEN)],
    },
    Argument {
        class: "AMT_ThirdPartyDataStorageService",
        method: "RegisterApplication",
        name: "VendorName",
        others: &[
            ("CallerUUID", SIXTEEN),
            ("ApplicationName", "app"),
            ("EnterpriseName", "ent"),
        ],
    },
    Argument {
        class: "AMT_ThirdPartyDataStorageService",
        method: "RegisterApplication",
        name: "EnterpriseName",
        others: &[
            ("CallerUUID", SIXTEEN),
            ("ApplicationName", "app"),
            ("VendorName", "vendor"),
        ],
    },
    Argument {
        class: "AMT_ThirdPartyDataStorageAdministrationService",
        method: "AddStorageFpaclEntry",
        name: "ApplicationName",
        others: &[
            ("AttrType", "1"),
            ("VendorName", "vendor"),
            ("IsPartner", "true"),
            ("TotalAllocationSize", "1024"),
        ],
    },
    Argument {
        class: "AMT_SetupAndConfigurationService",
        method: "SetMEBxPassword",
        name: "Password",
        others: &[],
    },
    Argument {
        class: "AMT_EthernetPortSettings",
        method: "SetLinkPreference",
        name: "LinkPreference",
        others: &[("Timeout", "60")],
    },
    Argument {
        class: "AMT_PublicKeyManagementService",
        method: "AddTrustedRootCertificate",
        name: "CertificateBlob",
        others: &[],
    },
];

/// A method's promise for one argument value: the reply is well-formed,
/// and a refusal (a fault or a ReturnValue other than 0) changes nothing
/// the device keeps.
fn check_call(firmware: &str, a: &Argument, value: &str) -> Result<(), String> {
    let d = device(firmware);
    let s = WsmanState::default();
    let stored = format!("{:?}", d.nvram());
    let uri = names::class_uri(a.class);
    let mut args = String::new();
    for (name, v) in a.others {
        args.push_str(&format!("<h:{name}>{v}</h:{name}>"));
    }
    args.push_str(&format!("<h:{0}>{1}</h:{0}>", a.name, xml_text(value)));
    let body = format!(
        r#"<h:{0}_INPUT xmlns:h="{uri}">{args}</h:{0}_INPUT>"#,
        a.method
    );
    let reply = handle(
        &d,
        &s,
        &Caller::Admin,
        envelope(&format!("{uri}/{}", a.method), &uri, &body).as_bytes(),
    );
    well_formed(&reply.xml).map_err(|e| format!("the reply: {e}\n{}", reply.xml))?;
    let refused =
        reply.fault.is_some() || property(&reply.xml, "ReturnValue")?.as_deref() != Some("0");
    if refused && format!("{:?}", d.nvram()) != stored {
        return Err(format!("refused but changed:\n{}", reply.xml));
    }
    Ok(())
}

#[test]
fn method_arguments_are_refused_unchanged_or_taken_with_a_well_formed_reply() {
    let mut failures = Vec::new();
    for a in ARGUMENTS {
        for value in NASTY {
            if let Err(e) = check_call("11.8", a, value) {
                failures.push(format!(
                    "{}.{}({}={value:?}): {e}",
                    a.class, a.method, a.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn method_text_arguments_refuse_control_characters() {
    let mut accepted = Vec::new();
    for a in ARGUMENTS {
        let d = device("11.8");
        let s = WsmanState::default();
        let uri = names::class_uri(a.class);
        let mut args = String::new();
        for (name, v) in a.others {
            args.push_str(&format!("<h:{name}>{v}</h:{name}>"));
        }
        args.push_str(&format!("<h:{0}>Ab1$&#x1;x</h:{0}>", a.name));
        let body = format!(
            r#"<h:{0}_INPUT xmlns:h="{uri}">{args}</h:{0}_INPUT>"#,
            a.method
        );
        let reply = handle(
            &d,
            &s,
            &Caller::Admin,
            envelope(&format!("{uri}/{}", a.method), &uri, &body).as_bytes(),
        );
        let rv = property(&reply.xml, "ReturnValue").unwrap();
        if reply.fault.is_none() && rv.as_deref() == Some("0") {
            accepted.push(format!("{}.{}({})", a.class, a.method, a.name));
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}
