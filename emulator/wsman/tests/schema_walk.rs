//! Walks every class of every firmware profile through the WS-Man engine,
//! as a console would (Enumerate + Pull, then Get of each instance by its
//! keys), and checks each instance on the wire against the schema kept in
//! `tests/schema/classes.txt` (derived from the DMT message builder's
//! models and Intel's AMT SDK class reference; see the file's head). A
//! class the profile lacks must fault as firmware does
//! (DestinationUnreachable), and every class amtemu answers must be in the
//! schema, so a new class cannot skip it.

use std::collections::{BTreeMap, BTreeSet};

use amtemu_model::device::Firmware;
use amtemu_model::device::users::Caller;
use amtemu_model::testing::device;
use amtemu_wsman::{WsmanState, handle};
use quick_xml::Reader;
use quick_xml::events::Event;

// ---- the schema -------------------------------------------------------------

#[derive(Debug)]
struct ClassSchema {
    name: String,
    /// (major, minor) of the first profile with the class.
    since: (u32, u32),
    /// The first profile without it again, if any.
    until: Option<(u32, u32)>,
    props: BTreeMap<String, Type>,
    keys: Vec<String>,
    /// For a method's `_INPUT` or `_OUTPUT` entry: the class the method
    /// is invoked on.
    method_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Boolean,
    /// Any integer (the DMT models say `number`).
    Integer,
    /// A CIM unsigned integer.
    Uint,
    Datetime,
    Interval,
    Base64,
    Ref,
    /// An embedded instance.
    Object,
}

fn parse_type(text: &str) -> Type {
    match text {
        "string" => Type::String,
        "boolean" => Type::Boolean,
        "integer" => Type::Integer,
        "uint" => Type::Uint,
        "datetime" => Type::Datetime,
        "interval" => Type::Interval,
        "base64" => Type::Base64,
        "ref" => Type::Ref,
        "object" => Type::Object,
        other => panic!("schema: unknown type {other}"),
    }
}

fn parse_version(text: &str) -> (u32, u32) {
    let mut parts = text
        .split('.')
        .map(|p| p.parse::<u32>().expect("a version"));
    (parts.next().unwrap(), parts.next().unwrap_or(0))
}

fn schema() -> Vec<ClassSchema> {
    let text = include_str!("schema/classes.txt");
    let mut classes: Vec<ClassSchema> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_prefix('[') {
            let (name, attrs) = head.split_once(']').expect("[Class] attrs");
            let mut class = ClassSchema {
                name: name.to_string(),
                since: (3, 0),
                until: None,
                props: BTreeMap::new(),
                keys: Vec::new(),
                method_of: None,
            };
            for attr in attrs.split_whitespace() {
                match attr.split_once('=') {
                    Some(("since", v)) => class.since = parse_version(v),
                    Some(("method", v)) => class.method_of = Some(v.to_string()),
                    Some(("until", v)) => class.until = Some(parse_version(v)),
                    Some(("source", _)) => {}
                    _ => panic!("classes.txt:{}: unknown attribute {attr}", n + 1),
                }
            }
            classes.push(class);
            continue;
        }
        let class = classes.last_mut().expect("a property after a class");
        let mut words = line.split_whitespace();
        let (Some(name), Some(ty)) = (words.next(), words.next()) else {
            panic!("classes.txt:{}: `Name type [key]`", n + 1);
        };
        class.props.insert(name.to_string(), parse_type(ty));
        if words.next() == Some("key") {
            class.keys.push(name.to_string());
        }
    }
    classes
}

impl ClassSchema {
    fn on(&self, fw: &Firmware) -> bool {
        let v = (u32::from(fw.major), u32::from(fw.minor));
        self.since <= v && self.until.is_none_or(|u| v < u)
    }
}

// ---- a little XML tree of the replies ---------------------------------------

#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or("").to_string()
}

fn tree(xml: &str) -> Node {
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("the reply is XML") {
            Event::Start(e) => stack.push(Node {
                name: local(e.name().as_ref()),
                ..Node::default()
            }),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(Node {
                name: local(e.name().as_ref()),
                ..Node::default()
            }),
            Event::Text(t) => {
                let text = t.xml_content().expect("text").into_owned();
                stack.last_mut().unwrap().text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let text = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(|c| c.to_string())
                } else {
                    let name = r.decode().expect("an entity name");
                    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_string)
                };
                stack
                    .last_mut()
                    .unwrap()
                    .text
                    .push_str(&text.expect("a known entity"));
            }
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().unwrap()
}

// ---- requests ------------------------------------------------------------------

const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

fn uri(class: &str) -> String {
    amtemu_wire::wsman::names::class_uri(class)
}

fn envelope(action: &str, class: &str, headers: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="{ADDRESSING}" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><Header><a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{}</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>{ADDRESSING}/role/anonymous</a:Address></a:ReplyTo>{headers}</Header><Body>{body}</Body></Envelope>"#,
        uri(class)
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Walker {
    device: std::sync::Arc<amtemu_model::device::Device>,
    state: WsmanState,
}

impl Walker {
    fn send(&self, xml: &str) -> (Node, Option<String>) {
        let reply = handle(&self.device, &self.state, &Caller::Admin, xml.as_bytes());
        let fault = reply
            .fault
            .map(|f| f.subcode().unwrap_or(f.code()).to_string());
        (tree(&reply.xml), fault)
    }

    /// Enumerate + Pull: the instances, or the fault.
    fn enumerate(&self, class: &str) -> Result<Vec<Node>, String> {
        let (reply, fault) = self.send(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
            class,
            "",
            "<n:Enumerate/>",
        ));
        if let Some(f) = fault {
            return Err(f);
        }
        let context = reply
            .find("EnumerationContext")
            .expect("an enumeration context")
            .text
            .clone();
        let (reply, fault) = self.send(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull",
            class,
            "",
            &format!(
                "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>999</n:MaxElements></n:Pull>"
            ),
        ));
        if let Some(f) = fault {
            return Err(f);
        }
        let items = reply.find("Items").cloned().unwrap_or_default();
        Ok(items.children)
    }

    fn get(&self, class: &str, selectors: &[(String, String)]) -> Result<Node, String> {
        let set: String = selectors
            .iter()
            .map(|(k, v)| format!(r#"<w:Selector Name="{k}">{}</w:Selector>"#, xml_escape(v)))
            .collect();
        let headers = if set.is_empty() {
            String::new()
        } else {
            format!("<w:SelectorSet>{set}</w:SelectorSet>")
        };
        let (reply, fault) = self.send(&envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
            class,
            &headers,
            "",
        ));
        match fault {
            Some(f) => Err(f),
            None => Ok(reply
                .find("Body")
                .and_then(|b| b.children.first())
                .cloned()
                .expect("a Get reply carries the instance")),
        }
    }
}

// ---- checks ------------------------------------------------------------------

/// What is wrong with one property value, if anything.
fn type_error(node: &Node, ty: Type) -> Option<String> {
    let text = node.text.trim();
    let nested = !node.children.is_empty();
    let ok = match ty {
        Type::String => !nested,
        Type::Boolean => !nested && matches!(text, "true" | "false"),
        Type::Integer => !nested && text.parse::<i64>().is_ok(),
        Type::Uint => !nested && text.parse::<u64>().is_ok(),
        Type::Datetime => node.child("Datetime").is_some() || node.child("Date").is_some(),
        Type::Interval => node.child("Interval").is_some(),
        Type::Base64 => {
            !nested
                && text.len().is_multiple_of(4)
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        }
        Type::Ref => node.child("ReferenceParameters").is_some(),
        Type::Object => nested,
    };
    (!ok).then(|| format!("{} = {:?} is not {ty:?}", node.name, node))
}

fn check_instance(schema: &ClassSchema, instance: &Node, problems: &mut Vec<String>) {
    // An enumeration of a class may return subclass instances; they are
    // checked against the class's own schema only for what it declares.
    let mut seen = BTreeSet::new();
    for prop in &instance.children {
        seen.insert(prop.name.clone());
        match schema.props.get(&prop.name) {
            None => problems.push(format!(
                "{}: property {} is not in the schema",
                schema.name, prop.name
            )),
            Some(ty) => {
                if let Some(e) = type_error(prop, *ty) {
                    problems.push(format!("{}: {e}", schema.name));
                }
            }
        }
    }
    for key in &schema.keys {
        if !seen.contains(key) {
            problems.push(format!("{}: key {key} missing", schema.name));
        }
    }
}

fn selectors_of(schema: &ClassSchema, instance: &Node) -> Option<Vec<(String, String)>> {
    schema
        .keys
        .iter()
        .map(|k| {
            let v = instance.child(k)?;
            // A reference key is selected by its EPR, which this walk does
            // not build; such instances are checked by enumeration only.
            v.children.is_empty().then(|| (k.clone(), v.text.clone()))
        })
        .collect()
}

/// A schema entry as amtemu answers the class now, to start an entry
/// from (the types are guessed from the values; check them against a
/// source before committing).
fn draft_entry(walker: &Walker, class: &str) -> String {
    let mut props = BTreeMap::new();
    for instance in walker.enumerate(class).unwrap_or_default() {
        for p in &instance.children {
            let text = p.text.trim();
            let ty = if p.child("Datetime").is_some() {
                "datetime"
            } else if p.child("Interval").is_some() {
                "interval"
            } else if p.child("ReferenceParameters").is_some() {
                "ref"
            } else if !p.children.is_empty() {
                "object"
            } else if matches!(text, "true" | "false") {
                "boolean"
            } else if text.parse::<u64>().is_ok() {
                "uint"
            } else {
                "string"
            };
            props.insert(p.name.clone(), ty);
        }
    }
    let mut entry = format!("[{class}] source=observed\n");
    for (name, ty) in props {
        entry.push_str(&format!("{name} {ty}\n"));
    }
    entry
}

/// A certificate and its key for a posture signer, made once (RSA
/// generation is slow in debug builds).
static SIGNER: std::sync::LazyLock<(Vec<u8>, Vec<u8>)> = std::sync::LazyLock::new(|| {
    use amtemu_model::pki;
    let (ca, key) = pki::self_signed_ca("Walk CA").unwrap();
    let leaf =
        pki::issue_certificate(&ca, &key, "posture", &[], &key, pki::Validity::Years(1)).unwrap();
    (leaf, key)
});

/// Fills tables a fresh device leaves empty, so their instances are
/// walked too.
fn furnish(device: &amtemu_model::device::Device) {
    use amtemu_model::device::Feature;
    use amtemu_model::device::agent_presence::Watchdog;
    use amtemu_model::device::defense::{
        DefaultAction, Filter, FilterMatch, FilterProfile, IpMatch, Policy,
    };
    if device.firmware.has(Feature::EndpointAccessControl) {
        let (leaf, key) = &*SIGNER;
        let cert = device.add_certificate(leaf).expect("a certificate");
        device.add_key(key).expect("its key");
        device
            .create_posture_signer(cert)
            .expect("a posture signer");
    }
    if device.firmware.has(Feature::WsEventing) {
        use amtemu_model::device::eventing::{DeliveryMode, SubscribeRequest};
        device
            .add_subscription(SubscribeRequest {
                filter: "Intel(r) AMT:All".into(),
                notify_to: "http://127.0.0.1:9/".into(),
                mode: DeliveryMode::Push,
                reference_parameters: Vec::new(),
                expires_in: None,
                credentials: None,
            })
            .expect("a subscription");
    }
    if device.firmware.has(Feature::SystemDefense) {
        let filter = |name: &str, matches| Filter {
            handle: 0,
            name: name.into(),
            direction: 0,
            profile: FilterProfile::RateLimit,
            profile_data: Some(100),
            event_on_match: true,
            matches,
        };
        let arp = device
            .add_filter(filter("arp", FilterMatch::Ethernet { protocol: 0x0806 }))
            .unwrap();
        let ip = IpMatch {
            version: 4,
            protocol: Some(6),
            src_address: Some(vec![10, 0, 0, 1]),
            src_mask: Some(vec![255, 255, 255, 0]),
            src_address_end: Some(vec![10, 0, 0, 9]),
            dest_address: Some(vec![10, 0, 1, 1]),
            dest_mask: Some(vec![255, 255, 255, 0]),
            dest_address_end: Some(vec![10, 0, 1, 9]),
            src_ports: Some((1024, 2048)),
            dest_ports: Some((80, 443)),
            tcp_flags_on: Some(2),
            tcp_flags_off: Some(16),
        };
        let web = device
            .add_filter(filter("web", FilterMatch::Ip(ip)))
            .unwrap();
        let policy = device
            .add_policy(Policy {
                handle: 0,
                name: "isolate".into(),
                precedence: 1,
                anti_spoofing: 1,
                filters: vec![arp, web],
                tx: DefaultAction::default(),
                rx: DefaultAction::default(),
            })
            .unwrap();
        device.bind_policy(0, Some(policy)).unwrap();
        if device.firmware.has(Feature::AgentPresence) {
            let id = "AAECAwQFBgcICQoLDA0ODw==";
            device
                .create_watchdog(Watchdog::new(id, "antivirus", 60, 120))
                .unwrap();
            device
                .add_watchdog_action(id, 4, 8, true, Some(policy))
                .unwrap();
        }
    }
}

#[test]
fn every_class_of_every_profile_matches_the_schema() {
    let schema = schema();
    let names: BTreeSet<&str> = schema.iter().map(|c| c.name.as_str()).collect();
    let mut problems = Vec::new();
    let mut answered = 0;
    for fw in Firmware::all() {
        let walker = Walker {
            device: device(fw.name),
            state: WsmanState::default(),
        };
        furnish(&walker.device);
        // Every class this build answers is in the schema.
        for name in amtemu_wsman::classes::all_names() {
            if amtemu_wsman::classes::lookup(name, fw).is_some() && !names.contains(name) {
                problems.push(format!(
                    "{fw}: {name} is answered but not in the schema; as observed:\n{}",
                    draft_entry(&walker, name)
                ));
            }
        }
        for class in schema.iter().filter(|c| c.method_of.is_none()) {
            let listed = amtemu_wsman::classes::lookup(&class.name, fw).is_some();
            if !class.on(fw) {
                // Firmware without the class faults.
                for result in [
                    walker.enumerate(&class.name).map(|_| ()),
                    walker.get(&class.name, &[]).map(|_| ()),
                ] {
                    if result != Err("b:DestinationUnreachable".into()) {
                        problems.push(format!(
                            "{fw}: {} should be unknown, got {result:?}",
                            class.name
                        ));
                    }
                }
                continue;
            }
            if !listed {
                problems.push(format!("{fw}: {} is missing", class.name));
                continue;
            }
            let instances = match walker.enumerate(&class.name) {
                Ok(i) => i,
                Err(f) => {
                    problems.push(format!("{fw}: enumerating {} faults {f}", class.name));
                    continue;
                }
            };
            for instance in &instances {
                if instance.name != class.name {
                    continue;
                }
                check_instance(class, instance, &mut problems);
                let Some(selectors) = selectors_of(class, instance) else {
                    continue;
                };
                match walker.get(&class.name, &selectors) {
                    Ok(got) => {
                        let props = |n: &Node| {
                            n.children
                                .iter()
                                .map(|c| c.name.clone())
                                .collect::<Vec<_>>()
                        };
                        if props(&got) != props(instance) {
                            problems.push(format!(
                                "{fw}: {} Get and Pull differ: {:?} vs {:?}",
                                class.name,
                                props(&got),
                                props(instance)
                            ));
                        }
                    }
                    Err(f) => {
                        problems.push(format!("{fw}: Get {} {selectors:?} faults {f}", class.name))
                    }
                }
            }
            answered += 1;
        }
        // A class no firmware has.
        if walker.get("AMT_NoSuchClass", &[]) != Err("b:DestinationUnreachable".into()) {
            problems.push(format!("{fw}: an unknown class does not fault"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(answered > 0);
}

// ---- methods -------------------------------------------------------------------

/// A sample input for each method the schema describes: the body of a
/// call that succeeds on a fresh device.
fn sample_input(method: &str) -> String {
    match method {
        "CreateAccount" => {
            let account = uri("CIM_Account");
            let template: String = [
                ("CreationClassName", "CIM_Account"),
                ("ElementName", "Intel(r) AMT digest account"),
                ("EnabledState", "2"),
                ("Name", "operator"),
                ("OrganizationName", "None"),
                ("RequestedState", "2"),
                ("SystemCreationClassName", "CIM_ComputerSystem"),
                ("SystemName", "ManagedSystem"),
                ("UserID", "operator"),
                ("UserPassword", "00112233445566778899AABBCCDDEEFF"),
                ("UserPasswordEncryptionAlgorithm", "2"),
            ]
            .iter()
            .map(|(n, v)| format!(r#"<d:{n} xmlns:d="{account}">{v}</d:{n}>"#))
            .collect();
            format!(
                r#"<h:CreateAccount_INPUT xmlns:h="{}"><h:System><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet><w:Selector Name="CreationClassName">CIM_ComputerSystem</w:Selector><w:Selector Name="Name">Intel(r) AMT</w:Selector></w:SelectorSet></a:ReferenceParameters></h:System><h:AccountTemplate>{template}</h:AccountTemplate></h:CreateAccount_INPUT>"#,
                uri("CIM_AccountManagementService"),
                uri("CIM_ComputerSystem"),
            )
        }
        other => panic!("no sample input for {other}: add one to sample_input"),
    }
}

/// Each described method, on every profile: the sample input matches the
/// `_INPUT` entry; where the profile has the method, the call succeeds and
/// its answer matches the `_OUTPUT` entry; elsewhere it faults as a class
/// or action the firmware lacks.
#[test]
fn every_described_method_matches_the_schema() {
    let schema = schema();
    let entry = |name: &str| schema.iter().find(|c| c.name == name);
    let mut problems = Vec::new();
    let mut called = 0;
    for output in schema.iter().filter(|c| c.name.ends_with("_OUTPUT")) {
        let class = output
            .method_of
            .as_deref()
            .expect("an _OUTPUT entry names its class");
        let method = output.name.trim_end_matches("_OUTPUT");
        let body = sample_input(method);
        let input = entry(&format!("{method}_INPUT")).expect("an _INPUT entry for each _OUTPUT");
        let sent = tree(&body);
        check_instance(input, &sent.children[0], &mut problems);
        for fw in Firmware::all() {
            let walker = Walker {
                device: device(fw.name),
                state: WsmanState::default(),
            };
            let (reply, fault) = walker.send(&envelope(
                &format!("{}/{method}", uri(class)),
                class,
                "",
                &body,
            ));
            if !output.on(fw) {
                let absent = ["b:DestinationUnreachable", "b:ActionNotSupported"];
                if !fault.as_deref().is_some_and(|f| absent.contains(&f)) {
                    problems.push(format!(
                        "{fw}: {class}.{method} should be unknown, got {fault:?}"
                    ));
                }
                continue;
            }
            let Some(answer) = reply.find(&output.name) else {
                problems.push(format!(
                    "{fw}: {class}.{method} answers {fault:?}, no {}",
                    output.name
                ));
                continue;
            };
            if answer.child("ReturnValue").map(|r| r.text.as_str()) != Some("0") {
                problems.push(format!(
                    "{fw}: {class}.{method} refused the sample: {answer:?}"
                ));
            }
            check_instance(output, answer, &mut problems);
            called += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(called > 0);
}

#[test]
fn the_checks_catch_wrong_types_and_unknown_properties() {
    let class = ClassSchema {
        name: "X".into(),
        since: (3, 0),
        until: None,
        props: [
            ("On".to_string(), Type::Boolean),
            ("N".to_string(), Type::Uint),
            ("Id".to_string(), Type::String),
        ]
        .into(),
        keys: vec!["Id".into()],
        method_of: None,
    };
    let instance = tree("<X><On>yes</On><N>-1</N><Extra>1</Extra></X>");
    let mut problems = Vec::new();
    check_instance(&class, &instance.children[0], &mut problems);
    assert_eq!(problems.len(), 4, "{problems:?}");
}
