//! Writing responses in AMT's envelope layout: one line, AMT's prefix set and
//! header order, properties in name order, datetimes nested in the common
//! namespace.

use std::fmt::Write;

use super::fault::Fault;
use super::names;
use super::value::{Epr, Instance, PropertySink, SelectorValue, Value};

/// The response headers every envelope but Identify carries.
pub struct Header<'a> {
    /// The request's MessageID, echoed verbatim in RelatesTo.
    pub relates_to: &'a str,
    pub action: &'a str,
    /// The device-wide response counter.
    pub message_id: u64,
    pub resource_uri: Option<&'a str>,
}

/// The prefixes `a` to `f` of a normal (non-fault) response, as
/// [`ENVELOPE_START`] writes them out (a test holds the two together).
#[cfg(test)]
const FIXED: [(&str, &str); 6] = [
    ("a", names::SOAP),
    ("b", names::ADDRESSING),
    ("c", names::WSMAN),
    ("d", names::TRUST),
    ("e", names::WSSE),
    ("f", names::CIMBINDING),
];

/// Namespaces declared after the fixed ones, named `g`, `h`, `i`, … in order.
struct Prefixes {
    extra: Vec<String>,
}

impl Prefixes {
    fn new() -> Prefixes {
        Prefixes { extra: Vec::new() }
    }

    /// The prefix of a namespace, declaring it when new.
    fn of(&mut self, ns: &str) -> char {
        let index = match self.extra.iter().position(|n| n == ns) {
            Some(i) => i,
            None => {
                self.extra.push(ns.to_string());
                self.extra.len() - 1
            }
        };
        (b'g' + index as u8) as char
    }
}

/// The envelope's start up to its fixed declarations, written once.
const ENVELOPE_START: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope"#,
    r#" xmlns:a="http://www.w3.org/2003/05/soap-envelope""#,
    r#" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing""#,
    r#" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd""#,
    r#" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust""#,
    r#" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd""#,
    r#" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd""#,
);

fn start_envelope(out: &mut String, prefixes: &Prefixes) {
    out.push_str(ENVELOPE_START);
    for (i, ns) in prefixes.extra.iter().enumerate() {
        out.push_str(" xmlns:");
        out.push((b'g' + i as u8) as char);
        out.push_str("=\"");
        out.push_str(ns);
        out.push('"');
    }
    out.push_str(" xmlns:xsi=\"");
    out.push_str(names::XSI);
    out.push_str("\">");
}

fn write_header(out: &mut String, h: &Header) {
    out.push_str("<a:Header><b:To>");
    out.push_str(names::ANONYMOUS);
    out.push_str("</b:To><b:RelatesTo>");
    escape_into(out, h.relates_to);
    out.push_str(r#"</b:RelatesTo><b:Action a:mustUnderstand="true">"#);
    escape_into(out, h.action);
    out.push_str("</b:Action><b:MessageID>");
    write_message_id(out, h.message_id);
    out.push_str("</b:MessageID>");
    if let Some(uri) = h.resource_uri {
        out.push_str("<c:ResourceURI>");
        escape_into(out, uri);
        out.push_str("</c:ResourceURI>");
    }
    out.push_str("</a:Header>");
}

/// AMT's MessageID form: a fixed prefix and a 48-bit counter in upper-case hex.
pub fn write_message_id(out: &mut String, counter: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push_str("uuid:00000000-8086-8086-8086-");
    let counter = counter & 0xFFFF_FFFF_FFFF;
    for shift in (0..12).rev() {
        out.push(HEX[((counter >> (shift * 4)) & 0xF) as usize] as char);
    }
}

/// AMT's enumeration-context form: a 32-bit counter shown little-endian.
pub fn enumeration_context(counter: u32) -> String {
    format!("{:08X}-0000-0000-0000-000000000000", counter.swap_bytes())
}

/// Assembles an envelope whose body needs the extra namespaces in `ns`
/// (declared in order as `g`, `h`, …); `body` writes the Body content given
/// the prefix table.
fn envelope(h: &Header, ns: &[&str], body: impl FnOnce(&mut String, &mut Prefixes)) -> String {
    let mut prefixes = Prefixes::new();
    for n in ns {
        prefixes.of(n);
    }
    let mut content = String::with_capacity(1024);
    body(&mut content, &mut prefixes);
    let mut out = String::with_capacity(content.len() + 1024);
    start_envelope(&mut out, &prefixes);
    write_header(&mut out, h);
    out.push_str("<a:Body>");
    out.push_str(&content);
    out.push_str("</a:Body></a:Envelope>");
    out
}

/// A Get or Put response: the instance in its class namespace (`g`), with the
/// common namespace (`h`) where the class uses it.
pub fn instance_response(h: &Header, instance: &Instance, class_ns: &str, common: bool) -> String {
    let ns: Vec<&str> = if common || uses_common(instance) {
        vec![class_ns, names::COMMON]
    } else {
        vec![class_ns]
    };
    envelope(h, &ns, |out, p| write_instance(out, p, instance, class_ns))
}

/// A Get response for a class's instance written property by property
/// as `props` gives them (in name order), without building an
/// [`Instance`] first: byte for byte what [`instance_response`] writes for
/// the instance those calls would build.
pub fn single_instance_response(
    h: &Header,
    class: &str,
    class_ns: &str,
    common: bool,
    props: impl FnOnce(&mut dyn PropertySink),
) -> String {
    // The namespaces are known before the body is written (the class's as
    // `g`, the common one as `h`), so the envelope is written in one pass
    // into one buffer.
    let mut out = String::with_capacity(3072);
    out.push_str(ENVELOPE_START);
    out.push_str(" xmlns:g=\"");
    out.push_str(class_ns);
    if common {
        out.push_str("\" xmlns:h=\"");
        out.push_str(names::COMMON);
    }
    out.push_str("\" xmlns:xsi=\"");
    out.push_str(names::XSI);
    out.push_str("\">");
    write_header(&mut out, h);
    out.push_str("<a:Body>");
    open_tag(&mut out, 'g', class);
    let mut writer = PropertyWriter {
        out: &mut out,
        prefix: 'g',
        last: "",
    };
    props(&mut writer);
    close_tag(&mut out, 'g', class);
    out.push_str("</a:Body></a:Envelope>");
    out
}

/// Writes properties as elements in the class's prefix.
struct PropertyWriter<'a> {
    out: &'a mut String,
    prefix: char,
    /// The previous name, to hold callers to name order in debug builds.
    last: &'static str,
}

impl PropertyWriter<'_> {
    fn open(&mut self, name: &'static str) {
        debug_assert!(
            self.last < name,
            "properties out of order: {} before {name}",
            self.last
        );
        self.last = name;
        open_tag(self.out, self.prefix, name);
    }
}

impl PropertySink for PropertyWriter<'_> {
    fn text(&mut self, name: &'static str, value: &str) {
        self.open(name);
        escape_into(self.out, value);
        close_tag(self.out, self.prefix, name);
    }

    fn int(&mut self, name: &'static str, value: i64) {
        self.open(name);
        push_int(self.out, value);
        close_tag(self.out, self.prefix, name);
    }

    fn boolean(&mut self, name: &'static str, value: bool) {
        self.open(name);
        self.out.push_str(if value { "true" } else { "false" });
        close_tag(self.out, self.prefix, name);
    }
}

/// A method response: `<g:Method_OUTPUT>` with the output properties.
pub fn method_response(h: &Header, output: &Instance, class_ns: &str) -> String {
    let ns: Vec<&str> = if uses_common(output) {
        vec![class_ns, names::COMMON]
    } else {
        vec![class_ns]
    };
    // Output arguments come in schema order, which puts ReturnValue last.
    envelope(h, &ns, |out, p| {
        let prefix = p.of(class_ns);
        let _ = write!(out, "<{prefix}:{}>", output.class);
        for (name, value) in output.props.iter().filter(|(n, _)| *n != "ReturnValue") {
            write_value(out, p, prefix, name, value);
        }
        if let Some(rv) = output.get("ReturnValue") {
            write_value(out, p, prefix, "ReturnValue", rv);
        }
        let _ = write!(out, "</{prefix}:{}>", output.class);
    })
}

/// One enumerated item as the mode asks for it.
pub enum Item<'a> {
    Object(&'a Instance, &'a str),
    Epr(&'a Epr),
    ObjectAndEpr(&'a Instance, &'a str, &'a Epr),
}

/// An EnumerateResponse; with `optimized` it carries the first items.
pub fn enumerate_response(
    h: &Header,
    context: Option<&str>,
    optimized: Option<(&[Item], bool)>,
    common: bool,
) -> String {
    let mut ns = vec![names::ENUMERATION];
    if let Some((items, _)) = optimized {
        ns.extend(item_namespaces(items, common));
    }
    envelope(h, &ns, |out, p| {
        out.push_str("<g:EnumerateResponse>");
        if let Some(ctx) = context {
            out.push_str("<g:EnumerationContext>");
            escape_into(out, ctx);
            out.push_str("</g:EnumerationContext>");
        }
        if let Some((items, end)) = optimized {
            // Optimized enumeration puts Items and EndOfSequence in the
            // WS-Man namespace (DSP0226).
            out.push_str("<c:Items>");
            write_items(out, p, items);
            out.push_str("</c:Items>");
            if end {
                out.push_str("<c:EndOfSequence></c:EndOfSequence>");
            }
        }
        out.push_str("</g:EnumerateResponse>");
    })
}

/// A PullResponse: the context only while more items remain.
pub fn pull_response(h: &Header, context: Option<&str>, items: &[Item], common: bool) -> String {
    let mut ns = vec![names::ENUMERATION];
    ns.extend(item_namespaces(items, common));
    envelope(h, &ns, |out, p| {
        out.push_str("<g:PullResponse>");
        if let Some(ctx) = context {
            out.push_str("<g:EnumerationContext>");
            escape_into(out, ctx);
            out.push_str("</g:EnumerationContext>");
        }
        out.push_str("<g:Items>");
        write_items(out, p, items);
        out.push_str("</g:Items>");
        if context.is_none() {
            out.push_str("<g:EndOfSequence></g:EndOfSequence>");
        }
        out.push_str("</g:PullResponse>");
    })
}

/// A Create response: the new instance's EPR in the transfer namespace.
pub fn create_response(h: &Header, created: &Epr) -> String {
    envelope(h, &[names::TRANSFER], |out, _| {
        out.push_str("<g:ResourceCreated>");
        write_epr_content(out, created);
        out.push_str("</g:ResourceCreated>");
    })
}

/// A WS-Eventing SubscribeResponse: the subscription's manager (the
/// CIM_FilterCollectionSubscription instance, which Renew and Unsubscribe
/// name by its selectors) and its expiry, if it has one.
pub fn subscribe_response(h: &Header, manager: &Epr, expires: Option<&str>) -> String {
    envelope(h, &[names::EVENTING], |out, _| {
        out.push_str("<g:SubscribeResponse><g:SubscriptionManager>");
        write_epr_content(out, manager);
        out.push_str("</g:SubscriptionManager>");
        write_expires(out, expires);
        out.push_str("</g:SubscribeResponse>");
    })
}

/// A WS-Eventing RenewResponse with the new expiry, if there is one.
pub fn renew_response(h: &Header, expires: Option<&str>) -> String {
    envelope(h, &[names::EVENTING], |out, _| {
        out.push_str("<g:RenewResponse>");
        write_expires(out, expires);
        out.push_str("</g:RenewResponse>");
    })
}

fn write_expires(out: &mut String, expires: Option<&str>) {
    if let Some(expires) = expires {
        out.push_str("<g:Expires>");
        escape_into(out, expires);
        out.push_str("</g:Expires>");
    }
}

/// A reference parameter a subscriber gave, echoed as an event header.
pub struct EchoedParameter<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub text: &'a str,
}

/// An event as the device POSTs it to a subscriber, laid out as Intel's
/// WS-Eventing event example: the fixed prefixes, the indication's class
/// namespace as `g` and the common namespace as `h`; To and ReplyTo
/// anonymous, AckRequested for push-with-ack, the Event action, the
/// subscriber's reference parameters after the ResourceURI, and the
/// CIM_AlertIndication as the body.
pub fn event_message(
    message_id: u64,
    ack_requested: bool,
    echoed: &[EchoedParameter],
    indication: &Instance,
) -> String {
    let class_ns = names::class_uri(&indication.class);
    let mut prefixes = Prefixes::new();
    prefixes.of(&class_ns);
    prefixes.of(names::COMMON);
    let mut out = String::with_capacity(2048);
    start_envelope(&mut out, &prefixes);
    out.push_str("<a:Header><b:To>");
    out.push_str(names::ANONYMOUS);
    out.push_str("</b:To><b:ReplyTo><b:Address>");
    out.push_str(names::ANONYMOUS);
    out.push_str("</b:Address></b:ReplyTo>");
    if ack_requested {
        out.push_str("<c:AckRequested></c:AckRequested>");
    }
    out.push_str(r#"<b:Action a:mustUnderstand="true">"#);
    out.push_str(names::ACTION_EVENT);
    out.push_str("</b:Action><b:MessageID>");
    write_message_id(&mut out, message_id);
    out.push_str("</b:MessageID><c:ResourceURI>");
    escape_into(&mut out, &class_ns);
    out.push_str("</c:ResourceURI>");
    for p in echoed {
        // Names were read as XML names, so they need no escaping; a
        // parameter without a namespace is written without a prefix.
        match p.namespace {
            Some(ns) => {
                let _ = write!(out, r#"<m:{} xmlns:m=""#, p.name);
                escape_into(&mut out, ns);
                out.push_str(r#"">"#);
                escape_into(&mut out, p.text);
                let _ = write!(out, "</m:{}>", p.name);
            }
            None => {
                let _ = write!(out, "<{}>", p.name);
                escape_into(&mut out, p.text);
                let _ = write!(out, "</{}>", p.name);
            }
        }
    }
    out.push_str("</a:Header><a:Body>");
    write_instance(&mut out, &mut prefixes, indication, &class_ns);
    out.push_str("</a:Body></a:Envelope>");
    out
}

/// A response with an empty body (Delete, Release).
pub fn empty_response(h: &Header) -> String {
    envelope(h, &[], |_, _| {})
}

/// The Identify response. It has no addressing headers.
pub fn identify_response(product_version: &str, dash_version: &str, profiles: &[&str]) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="{}" xmlns:b="{}" xmlns:c="{}"><a:Header></a:Header><a:Body><b:IdentifyResponse><b:ProtocolVersion>{}</b:ProtocolVersion><b:ProductVendor>Intel(r)</b:ProductVendor><b:ProductVersion>"#,
        names::SOAP,
        names::IDENTITY,
        names::DASH,
        names::WSMAN
    );
    escape_into(&mut out, product_version);
    out.push_str("</b:ProductVersion><c:DASHVersion>");
    escape_into(&mut out, dash_version);
    out.push_str("</c:DASHVersion><b:SecurityProfiles>");
    for p in profiles {
        out.push_str("<b:SecurityProfileName>");
        escape_into(&mut out, p);
        out.push_str("</b:SecurityProfileName>");
    }
    out.push_str("</b:SecurityProfiles></b:IdentifyResponse></a:Body></a:Envelope>");
    out
}

/// A fault envelope. AMT declares a different, reversed prefix set here
/// (`e` is WS-Man, `c` enumeration), has no ResourceURI, and answers
/// addressing faults with the addressing fault Action.
pub fn fault_response(relates_to: &str, message_id: u64, fault: &Fault) -> String {
    let mut out = String::with_capacity(1400);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:g="{}" xmlns:f="{}" xmlns:e="{}" xmlns:d="{}" xmlns:c="{}" xmlns:b="{}" xmlns:a="{}" xmlns:h="{}" xmlns:i="{}" xmlns:xsi="{}"><a:Header><b:To>{}</b:To><b:RelatesTo>"#,
        names::CIMBINDING,
        names::EVENTING,
        names::WSMAN,
        names::TRANSFER,
        names::ENUMERATION,
        names::ADDRESSING,
        names::SOAP,
        names::TRUST,
        names::WSSE,
        names::XSI,
        names::ANONYMOUS,
    );
    escape_into(&mut out, relates_to);
    let _ = write!(
        out,
        r#"</b:RelatesTo><b:Action a:mustUnderstand="true">{}</b:Action><b:MessageID>"#,
        fault.action()
    );
    write_message_id(&mut out, message_id);
    let _ = write!(
        out,
        "</b:MessageID></a:Header><a:Body><a:Fault><a:Code><a:Value>{}</a:Value>",
        fault.code()
    );
    if let Some(sub) = fault.subcode() {
        let _ = write!(out, "<a:Subcode><a:Value>{sub}</a:Value></a:Subcode>");
    }
    let _ = write!(
        out,
        r#"</a:Code><a:Reason><a:Text xml:lang="en-US">{}</a:Text></a:Reason><a:Detail>"#,
        fault.reason()
    );
    if let Some(detail) = fault.detail() {
        escape_into(&mut out, &detail);
    }
    out.push_str("</a:Detail></a:Fault></a:Body></a:Envelope>");
    out
}

/// The namespaces items need, in order of first appearance: each class,
/// then the common namespace.
fn item_namespaces<'a>(items: &'a [Item], common: bool) -> Vec<&'a str> {
    let mut ns: Vec<&str> = Vec::new();
    let mut needs_common = common;
    for item in items {
        if let Item::Object(i, class_ns) | Item::ObjectAndEpr(i, class_ns, _) = item {
            if !ns.contains(class_ns) {
                ns.push(class_ns);
            }
            needs_common |= uses_common(i);
        }
    }
    if needs_common && !items.is_empty() {
        ns.push(names::COMMON);
    }
    ns
}

fn write_items(out: &mut String, p: &mut Prefixes, items: &[Item]) {
    for item in items {
        match item {
            Item::Object(i, ns) => write_instance(out, p, i, ns),
            Item::Epr(epr) => write_epr_element(out, epr),
            Item::ObjectAndEpr(i, ns, epr) => {
                out.push_str("<c:Item>");
                write_instance(out, p, i, ns);
                write_epr_element(out, epr);
                out.push_str("</c:Item>");
            }
        }
    }
}

fn uses_common(instance: &Instance) -> bool {
    fn value_uses(v: &Value) -> bool {
        match v {
            Value::Datetime(_) | Value::Interval(_) => true,
            Value::Array(items) => items.iter().any(value_uses),
            Value::Object(i) => uses_common(i),
            _ => false,
        }
    }
    instance.props.values().any(value_uses)
}

fn write_instance(out: &mut String, p: &mut Prefixes, instance: &Instance, class_ns: &str) {
    let prefix = p.of(class_ns);
    open_tag(out, prefix, &instance.class);
    write_props(out, p, instance, prefix);
    close_tag(out, prefix, &instance.class);
}

fn write_props(out: &mut String, p: &mut Prefixes, instance: &Instance, prefix: char) {
    for (name, value) in &instance.props {
        write_value(out, p, prefix, name, value);
    }
}

fn write_value(out: &mut String, p: &mut Prefixes, prefix: char, name: &str, value: &Value) {
    if let Value::Array(items) = value {
        for item in items {
            write_value(out, p, prefix, name, item);
        }
        return;
    }
    open_tag(out, prefix, name);
    match value {
        Value::Text(s) => escape_into(out, s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => push_int(out, *i),
        Value::Datetime(s) | Value::Interval(s) => {
            let tag = if matches!(value, Value::Datetime(_)) {
                "Datetime"
            } else {
                "Interval"
            };
            let c = p.of(names::COMMON);
            let _ = write!(out, "<{c}:{tag}>");
            escape_into(out, s);
            let _ = write!(out, "</{c}:{tag}>");
        }
        Value::Ref(epr) => write_epr_content(out, epr),
        Value::Object(inner) => write_props(out, p, inner, prefix),
        Value::Array(_) => {}
    }
    close_tag(out, prefix, name);
}

/// An integer in decimal, without going through `fmt`.
pub fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(d as char);
    }
}

// Every property is written through these; plain pushes instead of
// `write!` took a tenth of a Get's time off in profiles.
fn open_tag(out: &mut String, prefix: char, name: &str) {
    out.push('<');
    out.push(prefix);
    out.push(':');
    out.push_str(name);
    out.push('>');
}

fn close_tag(out: &mut String, prefix: char, name: &str) {
    out.push_str("</");
    out.push(prefix);
    out.push(':');
    out.push_str(name);
    out.push('>');
}

fn write_epr_element(out: &mut String, epr: &Epr) {
    out.push_str("<b:EndpointReference>");
    write_epr_content(out, epr);
    out.push_str("</b:EndpointReference>");
}

fn write_epr_content(out: &mut String, epr: &Epr) {
    out.push_str("<b:Address>");
    out.push_str(names::ANONYMOUS);
    out.push_str("</b:Address><b:ReferenceParameters><c:ResourceURI>");
    escape_into(out, &epr.resource_uri);
    out.push_str("</c:ResourceURI><c:SelectorSet>");
    for (name, value) in &epr.selectors {
        out.push_str(r#"<c:Selector Name=""#);
        escape_into(out, name);
        out.push_str(r#"">"#);
        match value {
            SelectorValue::Text(t) => escape_into(out, t),
            SelectorValue::Ref(inner) => write_epr_element(out, inner),
        }
        out.push_str("</c:Selector>");
    }
    out.push_str("</c:SelectorSet></b:ReferenceParameters>");
}

/// XML-escapes text content and attribute values. The device refuses
/// strings XML cannot carry before it stores them; should one get here
/// anyway (a certificate's subject, a value of some future class), each
/// character XML 1.0 does not allow becomes U+FFFD, so no reply is ever a
/// document a parser rejects. A carriage return is written as a reference,
/// which a parser keeps (a literal one it would turn into a line feed).
pub fn escape_into(out: &mut String, s: &str) {
    // Most text (URIs, names, settings) needs nothing: copy it whole. A
    // byte 0xEF may start U+FFFE or U+FFFF, so text with one takes the
    // careful path.
    // As a table: every byte of every value written passes this test.
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0x20;
        while b < 256 {
            table[b] = !matches!(b as u8, b'&' | b'<' | b'>' | b'"' | 0xEF);
            b += 1;
        }
        table
    };
    if s.bytes().all(|b| PLAIN[usize::from(b)]) {
        out.push_str(s);
    } else {
        escape_chars(out, s);
    }
}

/// The escaping rule, a character at a time.
fn escape_chars(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The whole-string copy is only a shortcut: every string comes out
        /// as escaping it a character at a time would write it.
        #[test]
        fn escaping_matches_the_character_rule(s in "(?s).{0,40}|[a-z\u{fffe}\u{ffff}\u{fffd}<&\r\n]{0,10}") {
            let mut slow = String::new();
            escape_chars(&mut slow, &s);
            let mut fast = String::new();
            escape_into(&mut fast, &s);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn the_written_out_envelope_start_declares_the_fixed_prefixes() {
        let mut formatted = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope"#);
        for (p, ns) in FIXED {
            formatted.push_str(&format!(r#" xmlns:{p}="{ns}""#));
        }
        assert_eq!(ENVELOPE_START, formatted);
        for n in [0i64, 5, -5, 10, 4294967295, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        let mut id = String::new();
        write_message_id(&mut id, 0x1_0000_0000_002A);
        assert_eq!(id, "uuid:00000000-8086-8086-8086-00000000002A");
    }

    #[test]
    fn text_xml_cannot_carry_never_reaches_the_output() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{1}b\u{1b}c\u{fffe}d\te\nf\rg<&>\"");
        assert_eq!(
            out,
            "a\u{fffd}b\u{fffd}c\u{fffd}d\te\nf&#13;g&lt;&amp;&gt;&quot;"
        );
    }

    #[test]
    fn an_event_echoes_reference_parameters_and_asks_for_an_ack() {
        let indication = Instance::new("CIM_AlertIndication")
            .with("MessageID", "PLAT0354")
            .with(
                "IndicationTime",
                Value::Datetime("2026-01-01T00:00:00Z".into()),
            );
        let echoed = [EchoedParameter {
            name: "arg",
            namespace: Some("http://x.com"),
            text: "a<b",
        }];
        let xml = event_message(0x13, true, &echoed, &indication);
        assert!(xml.contains("<c:AckRequested></c:AckRequested>"));
        assert!(xml.contains(r#"<m:arg xmlns:m="http://x.com">a&lt;b</m:arg></a:Header>"#));
        assert!(xml.contains("uuid:00000000-8086-8086-8086-000000000013"));
        assert!(xml.contains(
            "<g:CIM_AlertIndication><g:IndicationTime><h:Datetime>2026-01-01T00:00:00Z</h:Datetime></g:IndicationTime><g:MessageID>PLAT0354</g:MessageID></g:CIM_AlertIndication>"
        ));
        // The event parses as a request would, so a listener can read it.
        let parsed = crate::wsman::request::parse(xml.as_bytes()).unwrap();
        assert_eq!(parsed.action.as_deref(), Some(names::ACTION_EVENT));
        assert!(!event_message(1, false, &[], &indication).contains("AckRequested"));
    }

    #[test]
    fn counters_take_amts_forms() {
        let mut s = String::new();
        write_message_id(&mut s, 0x23EEF);
        assert_eq!(s, "uuid:00000000-8086-8086-8086-000000023EEF");
        assert_eq!(
            enumeration_context(0x14),
            "14000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            enumeration_context(0x551D0),
            "D0510500-0000-0000-0000-000000000000"
        );
    }

    /// The fault captured from an AMT 15 device, byte for byte.
    const REAL_ALREADY_EXISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:g="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:f="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:e="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:c="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:h="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:i="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>31</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000023EEF</b:MessageID></a:Header><a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>e:AlreadyExists</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">The sender attempted to create a resource which already exists.</a:Text></a:Reason><a:Detail></a:Detail></a:Fault></a:Body></a:Envelope>"#;

    /// The DestinationUnreachable fault captured from real AMT.
    const REAL_DESTINATION_UNREACHABLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:g="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:f="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:e="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:c="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:h="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:i="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>0</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000000061</b:MessageID></a:Header><a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">No route can be determined to reach the destination role defined by the WSAddressing To.</a:Text></a:Reason><a:Detail></a:Detail></a:Fault></a:Body></a:Envelope>"#;

    #[test]
    fn faults_match_real_captures_byte_for_byte() {
        assert_eq!(
            fault_response("31", 0x23EEF, &Fault::AlreadyExists),
            REAL_ALREADY_EXISTS
        );
        assert_eq!(
            fault_response("0", 0x61, &Fault::DestinationUnreachable),
            REAL_DESTINATION_UNREACHABLE
        );
    }

    #[test]
    fn get_response_has_amts_layout() {
        let instance = Instance::new("AMT_GeneralSettings")
            .with("WsmanOnlyMode", false)
            .with("DDNSTTL", 900)
            .with("DomainName", "");
        let ns = names::class_uri("AMT_GeneralSettings");
        let xml = instance_response(
            &Header {
                relates_to: "0",
                action: "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
                message_id: 1,
                resource_uri: Some(&ns),
            },
            &instance,
            &ns,
            false,
        );
        let expected_head = r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>0</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000000001</b:MessageID><c:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</c:ResourceURI></a:Header>"#;
        assert!(xml.starts_with(expected_head), "{xml}");
        assert!(xml.ends_with(
            "<a:Body><g:AMT_GeneralSettings><g:DDNSTTL>900</g:DDNSTTL><g:DomainName></g:DomainName><g:WsmanOnlyMode>false</g:WsmanOnlyMode></g:AMT_GeneralSettings></a:Body></a:Envelope>"
        ));
        assert!(!xml.contains('\n'));
    }

    #[test]
    fn polymorphic_pull_declares_the_item_class_and_common() {
        let item = Instance::new("CIM_AssociatedPowerManagementService")
            .with("PowerState", 2)
            .with(
                "UserOfService",
                Epr::new(names::class_uri("CIM_ComputerSystem")).with("Name", "ManagedSystem"),
            );
        let ns = names::class_uri("CIM_AssociatedPowerManagementService");
        let xml = pull_response(
            &Header {
                relates_to: "1",
                action: "x",
                message_id: 2,
                resource_uri: Some("r"),
            },
            None,
            &[Item::Object(&item, &ns)],
            true,
        );
        assert!(xml.contains(&format!(
            r#"xmlns:g="{}" xmlns:h="{ns}" xmlns:i="{}""#,
            names::ENUMERATION,
            names::COMMON
        )));
        assert!(xml.contains("<g:Items><h:CIM_AssociatedPowerManagementService><h:PowerState>2</h:PowerState><h:UserOfService><b:Address>"));
        assert!(xml.contains(r#"<c:Selector Name="Name">ManagedSystem</c:Selector>"#));
        assert!(xml.contains("</g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>"));
    }
}
