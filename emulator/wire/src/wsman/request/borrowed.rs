//! A borrowing reader for the envelopes consoles send most: Get, Delete,
//! Enumerate, Pull, Release and Identify with plain-text headers and
//! selectors. It slices names, namespaces and text straight out of the
//! request, where the general parser (quick-xml's namespace reader) copies
//! each element's name and text and keeps a namespace buffer: that reader
//! was the largest single cost of an authenticated Get.
//!
//! It reads a deliberately small subset of XML and gives up (`None`) on
//! anything outside it or anything that would be a fault: entity or
//! character references, CDATA, comments, processing instructions after
//! the declaration, carriage returns (XML normalises them), unusual
//! attribute syntax, unknown prefixes, payload bodies (Put, Create,
//! methods, Subscribe). The general parser then reads the request, so
//! every fault and every unusual form keeps exactly one owner; this
//! module only ever answers what that parser would answer (a property
//! test and the fuzz target compare the two).

use std::borrow::Cow;

use super::{Body, EnumerateArgs, EnumerationMode, PullArgs, Request};
use crate::wsman::names;
use crate::wsman::value::SelectorValue;

/// Deeper than any envelope this reader takes; deeper ones go to the
/// general parser, which has its own bound.
const MAX_DEPTH: usize = 16;

/// Reads `text` when it is one of the common shapes; `None` hands it to
/// the general parser.
pub fn parse(text: &str) -> Option<Request<'_>> {
    Reader::new(text)?.envelope()
}

/// The namespaces the envelope's rules name, told apart once when a
/// prefix is declared rather than by comparing URIs at every element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ns {
    /// No namespace (an unprefixed name with no default declared).
    None,
    Soap,
    Addressing,
    Wsman,
    Eventing,
    Trust,
    Identity,
    Enumeration,
    /// Any other URI.
    Other,
}

impl Ns {
    fn of(uri: &str) -> Ns {
        match uri {
            names::SOAP => Ns::Soap,
            names::ADDRESSING => Ns::Addressing,
            names::WSMAN => Ns::Wsman,
            names::EVENTING => Ns::Eventing,
            names::TRUST => Ns::Trust,
            names::IDENTITY => Ns::Identity,
            names::ENUMERATION => Ns::Enumeration,
            _ => Ns::Other,
        }
    }
}

/// One element start: its namespace and local name, borrowed.
#[derive(Clone, Copy)]
struct Start<'a> {
    ns: Ns,
    local: &'a str,
    must_understand: bool,
    name_attr: Option<&'a str>,
}

enum Event<'a> {
    Start(Start<'a>),
    End,
    Text(&'a str),
    Eof,
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
    /// Names of the open elements, as written (prefix included), for
    /// matching end tags.
    open: Vec<&'a str>,
    /// Namespace bindings in scope: (prefix, "" for the default; URI), and
    /// for each open element how many bindings it declared.
    bindings: Vec<(&'a str, Ns)>,
    declared: Vec<usize>,
    /// An element written `<x/>` still owes its end.
    pending_end: bool,
}

/// Whitespace as XML has it (a carriage return makes the reader step
/// aside, so it is not among them).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// The bytes a name is made of here (the colon splits prefix and local),
/// as a table: names are most of what the reader scans.
fn is_name(b: u8) -> bool {
    const NAME: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':');
            b += 1;
        }
        table
    };
    NAME[usize::from(b)]
}

/// The most attributes one element may carry here.
const MAX_ATTRIBUTES: usize = 12;

/// A name as this reader takes it ([`is_name`] bytes, at most one colon,
/// not at either end): its prefix ("" for none) and local part.
fn split_name(name: &str) -> Option<(&str, &str)> {
    // Names are a few bytes long: one plain pass, no searcher set-up.
    let mut colon = None;
    for (at, &b) in name.as_bytes().iter().enumerate() {
        if b == b':' {
            if colon.is_some() {
                return None;
            }
            colon = Some(at);
        }
    }
    match colon {
        Some(at) if at > 0 && at + 1 < name.len() => Some((&name[..at], &name[at + 1..])),
        Some(_) => None,
        None if !name.is_empty() => Some(("", name)),
        None => None,
    }
}

/// A start tag's attributes, in order.
struct Attributes<'a> {
    list: [(&'a str, &'a str); MAX_ATTRIBUTES],
    len: usize,
}

impl<'a> Attributes<'a> {
    fn iter(&self) -> impl Iterator<Item = &(&'a str, &'a str)> {
        self.list[..self.len].iter()
    }
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Option<Reader<'a>> {
        let mut at = 0;
        if let Some(rest) = text.strip_prefix("<?xml") {
            if !rest.bytes().next().is_some_and(is_space) {
                return None;
            }
            // The declaration ends at its first `>`, which must follow `?`;
            // anything else in it is the general parser's to judge.
            let end = memchr::memchr(b'>', rest.as_bytes())?;
            let inside = rest[..end].strip_suffix('?')?.as_bytes();
            if memchr::memchr3(b'<', b'&', b'\r', inside).is_some() {
                return None;
            }
            at = "<?xml".len() + end + 1;
        }
        Some(Reader {
            text,
            at,
            open: Vec::with_capacity(8),
            bindings: Vec::with_capacity(8),
            declared: Vec::with_capacity(8),
            pending_end: false,
        })
    }

    fn resolve(&self, prefix: &str) -> Option<Ns> {
        self.bindings
            .iter()
            .rev()
            // Prefixes are a letter or two: compared in line, not by memcmp.
            .find(|(p, _)| p.bytes().eq(prefix.bytes()))
            .map(|(_, uri)| *uri)
    }

    /// The namespace of an element name's prefix in the current scope.
    fn element_ns(&self, prefix: &str) -> Option<Ns> {
        match prefix {
            "" => Some(self.resolve("").unwrap_or(Ns::None)),
            "xml" | "xmlns" => None,
            p => self.resolve(p),
        }
    }

    fn next(&mut self) -> Option<Event<'a>> {
        if self.pending_end {
            self.pending_end = false;
            return Some(self.close());
        }
        let bytes = self.text.as_bytes();
        let start = self.at;
        if start == bytes.len() {
            return if self.open.is_empty() {
                Some(Event::Eof)
            } else {
                None
            };
        }
        if bytes[start] != b'<' {
            // Text up to the next tag. Carriage returns and references
            // change text as XML reads it: those are the general parser's.
            // One pass finds whichever of the three comes first.
            let len =
                memchr::memchr3(b'<', b'&', b'\r', &bytes[start..]).unwrap_or(bytes.len() - start);
            if bytes.get(start + len).is_some_and(|&b| b != b'<') {
                return None;
            }
            self.at = start + len;
            return Some(Event::Text(&self.text[start..start + len]));
        }
        let mut i = start + 1;
        if bytes.get(i) == Some(&b'/') {
            // An end tag is the innermost open name and `>`, compared
            // whole rather than scanned.
            let name = self.open.last()?.as_bytes();
            let end = i + 1 + name.len();
            if bytes.get(i + 1..end) != Some(name) || bytes.get(end) != Some(&b'>') {
                return None;
            }
            self.at = end + 1;
            return Some(self.close());
        }
        while i < bytes.len() && is_name(bytes[i]) {
            i += 1;
        }
        let name = &self.text[start + 1..i];
        let (prefix, local) = split_name(name)?;
        // Most elements carry no attributes: nothing to collect or declare.
        if bytes.get(i) == Some(&b'>') {
            if self.open.len() >= MAX_DEPTH {
                return None;
            }
            self.at = i + 1;
            self.declared.push(0);
            self.open.push(name);
            return Some(Event::Start(Start {
                ns: self.element_ns(prefix)?,
                local,
                must_understand: false,
                name_attr: None,
            }));
        }
        let mut attrs = Attributes {
            list: [("", ""); MAX_ATTRIBUTES],
            len: 0,
        };
        let empty = loop {
            let spaced = i < bytes.len() && is_space(bytes[i]);
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            match bytes.get(i)? {
                b'>' => {
                    i += 1;
                    break false;
                }
                b'/' if bytes.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break true;
                }
                // Attributes are separated by whitespace.
                _ if !spaced => return None,
                _ => {}
            }
            let key_start = i;
            while i < bytes.len() && is_name(bytes[i]) {
                i += 1;
            }
            let key = &self.text[key_start..i];
            split_name(key)?;
            if bytes.get(i) != Some(&b'=') {
                return None;
            }
            let quote = *bytes.get(i + 1)?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            let value_start = i + 2;
            let rest = bytes.get(value_start..)?;
            let len = memchr::memchr3(quote, b'<', b'&', rest)?;
            i = value_start + len;
            let value = &bytes[value_start..i];
            if bytes[i] != quote
                || memchr::memchr(b'\r', value).is_some()
                || attrs.len == MAX_ATTRIBUTES
                || attrs.iter().any(|(k, _)| *k == key)
            {
                return None;
            }
            attrs.list[attrs.len] = (key, &self.text[value_start..i]);
            attrs.len += 1;
            i += 1;
        };
        self.at = i;
        if self.open.len() >= MAX_DEPTH {
            return None;
        }
        // Declarations first: they apply to the element's own name and
        // attributes.
        let before = self.bindings.len();
        for &(key, value) in attrs.iter() {
            if key == "xmlns" {
                if value.is_empty() {
                    return None;
                }
                self.bindings.push(("", Ns::of(value)));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                // A bound name that the attribute match below would also
                // see as `Name`/`mustUnderstand` is left to the general parser.
                if value.is_empty()
                    || matches!(
                        p,
                        "xml" | "xmlns" | "Name" | "Mode" | "Profile" | "mustUnderstand"
                    )
                {
                    return None;
                }
                self.bindings.push((p, Ns::of(value)));
            }
        }
        self.declared.push(self.bindings.len() - before);
        self.open.push(name);
        let mut start = Start {
            ns: self.element_ns(prefix)?,
            local,
            must_understand: false,
            name_attr: None,
        };
        for &(key, value) in attrs.iter() {
            if key == "xmlns" || key.starts_with("xmlns:") {
                continue;
            }
            let (prefix, local) = split_name(key)?;
            let attr_ns = match prefix {
                "" => None,
                // `xml:lang` on a Locale header: the reserved prefix.
                "xml" => Some(Ns::Other),
                "xmlns" => return None,
                p => Some(self.resolve(p)?),
            };
            match local {
                "mustUnderstand" if attr_ns == Some(Ns::Soap) => {
                    start.must_understand = matches!(value.trim(), "true" | "1");
                }
                "Name" => start.name_attr = Some(value),
                _ => {}
            }
        }
        self.pending_end = empty;
        Some(Event::Start(start))
    }

    /// Ends the innermost element and drops its namespace declarations.
    fn close(&mut self) -> Event<'a> {
        self.open.pop();
        let declared = self.declared.pop().unwrap_or(0);
        self.bindings.truncate(self.bindings.len() - declared);
        Event::End
    }

    /// Skips the rest of the element whose start was just read.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                Event::Start(_) => depth += 1,
                Event::End => depth -= 1,
                Event::Text(_) => {}
                Event::Eof => return None,
            }
        }
        Some(())
    }

    /// The text of a leaf (child elements skipped), trimmed. One text node
    /// is borrowed (and stays borrowed in the request); several are joined.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let mut first: Option<&'a str> = None;
        let mut joined: Option<String> = None;
        loop {
            match self.next()? {
                Event::Text(t) => match (&mut joined, first) {
                    (Some(j), _) => j.push_str(t),
                    (None, Some(f)) => joined = Some(format!("{f}{t}")),
                    (None, None) => first = Some(t),
                },
                Event::Start(_) => self.skip()?,
                Event::End => break,
                Event::Eof => return None,
            }
        }
        Some(match joined {
            Some(j) => Cow::Owned(j.trim().to_string()),
            None => Cow::Borrowed(first.unwrap_or("").trim()),
        })
    }

    fn envelope(mut self) -> Option<Request<'a>> {
        let root = loop {
            match self.next()? {
                Event::Start(s) => break s,
                Event::Text(t) if t.trim().is_empty() => {}
                _ => return None,
            }
        };
        if root.local != "Envelope" || root.ns != Ns::Soap {
            return None;
        }
        let mut request = Request::default();
        let (mut saw_header, mut saw_body) = (false, false);
        loop {
            match self.next()? {
                Event::Start(s) if s.ns == Ns::Soap && s.local == "Header" => {
                    if saw_header {
                        return None;
                    }
                    saw_header = true;
                    self.header(&mut request)?;
                }
                Event::Start(s) if s.ns == Ns::Soap && s.local == "Body" => {
                    if saw_body {
                        return None;
                    }
                    saw_body = true;
                    request.body = self.body()?;
                }
                Event::Start(_) | Event::Eof => return None,
                Event::Text(_) => {}
                Event::End => break,
            }
        }
        loop {
            match self.next()? {
                Event::Eof => break,
                Event::Text(t) if t.trim().is_empty() => {}
                _ => return None,
            }
        }
        saw_body.then_some(request)
    }

    fn header(&mut self, request: &mut Request<'a>) -> Option<()> {
        loop {
            let h = match self.next()? {
                Event::Start(s) => s,
                Event::Text(_) => continue,
                Event::End => return Some(()),
                Event::Eof => return None,
            };
            let slot = match (h.ns, h.local) {
                (Ns::Addressing, "Action") => Some(&mut request.action),
                (Ns::Addressing, "To") => Some(&mut request.to),
                (Ns::Addressing, "MessageID") => Some(&mut request.message_id),
                (Ns::Wsman, "ResourceURI") => Some(&mut request.resource_uri),
                (Ns::Wsman, "OperationTimeout") => Some(&mut request.operation_timeout),
                (Ns::Eventing, "Identifier") => Some(&mut request.identifier),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return None;
                }
                *slot = Some(self.text()?);
                continue;
            }
            match (h.ns, h.local) {
                (Ns::Wsman, "SelectorSet") => {
                    if request.selectors.is_some() {
                        return None;
                    }
                    request.selectors = Some(self.selector_set()?);
                }
                (Ns::Wsman, "MaxEnvelopeSize") => {
                    request.max_envelope_size = Some(self.text()?.parse().ok()?);
                }
                (Ns::Addressing, "ReplyTo" | "FaultTo" | "From")
                | (Ns::Wsman, "Locale" | "DataLocale") => self.skip()?,
                (Ns::Trust, "IssuedTokens") => return None,
                _ if h.must_understand => return None,
                _ => self.skip()?,
            }
        }
    }

    /// Selectors with text values; an EPR value is the general parser's.
    fn selector_set(&mut self) -> Option<Vec<(String, SelectorValue)>> {
        let mut selectors = Vec::new();
        loop {
            match self.next()? {
                Event::Start(s) if s.local == "Selector" => {
                    let name = s.name_attr?.to_string();
                    let mut value = String::new();
                    loop {
                        match self.next()? {
                            Event::Text(t) => value.push_str(t),
                            Event::Start(s) if s.local == "EndpointReference" => return None,
                            Event::Start(_) => self.skip()?,
                            Event::End => break,
                            Event::Eof => return None,
                        }
                    }
                    selectors.push((name, SelectorValue::Text(value.trim().to_string())));
                }
                Event::Start(_) => self.skip()?,
                Event::Text(_) => {}
                Event::End => return Some(selectors),
                Event::Eof => return None,
            }
        }
    }

    fn body(&mut self) -> Option<Body<'a>> {
        let mut body = Body::Empty;
        loop {
            let s = match self.next()? {
                Event::Start(s) => s,
                Event::Text(_) => continue,
                Event::End => return Some(body),
                Event::Eof => return None,
            };
            if !matches!(body, Body::Empty) {
                return None;
            }
            body = match (s.ns, s.local) {
                (Ns::Identity, "Identify") => {
                    self.skip()?;
                    Body::Identify
                }
                (Ns::Enumeration, "Enumerate") => Body::Enumerate(self.enumerate()?),
                (Ns::Enumeration, "Pull") => Body::Pull(self.pull()?),
                (Ns::Enumeration, "Release") => Body::Release {
                    context: self.pull()?.context,
                },
                _ => return None,
            };
        }
    }

    fn enumerate(&mut self) -> Option<EnumerateArgs> {
        let mut args = EnumerateArgs::default();
        loop {
            match self.next()? {
                Event::Start(s) => match s.local {
                    "OptimizeEnumeration" => {
                        args.optimize = true;
                        self.skip()?
                    }
                    "MaxElements" => args.max_elements = Some(self.text()?.parse().ok()?),
                    "EnumerationMode" => {
                        args.mode = match &*self.text()? {
                            names::ENUM_MODE_EPR => EnumerationMode::Epr,
                            names::ENUM_MODE_OBJECT_AND_EPR => EnumerationMode::ObjectAndEpr,
                            _ => return None,
                        }
                    }
                    "Filter" if s.ns == Ns::Wsman => return None,
                    _ => self.skip()?,
                },
                Event::Text(_) => {}
                Event::End => return Some(args),
                Event::Eof => return None,
            }
        }
    }

    fn pull(&mut self) -> Option<PullArgs<'a>> {
        let mut args = PullArgs::default();
        let mut saw_context = false;
        loop {
            match self.next()? {
                Event::Start(s) => match s.local {
                    "EnumerationContext" => {
                        args.context = self.text()?;
                        saw_context = true;
                    }
                    "MaxElements" => args.max_elements = Some(self.text()?.parse().ok()?),
                    _ => self.skip()?,
                },
                Event::Text(_) => {}
                Event::End if saw_context => return Some(args),
                Event::End | Event::Eof => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
