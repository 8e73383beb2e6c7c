//! Parsing a WS-Management request envelope: bytes in, a typed [`Request`] out.
//!
//! The parser streams over quick-xml events and builds only the typed result;
//! it accepts every form real clients send: any prefixes (or none), any
//! header order, `mustUnderstand` on any header, `Name` or `wsman:Name`
//! selector attributes, EPRs as selector values and method arguments.
//! It is a pure function, so it can be property-tested without a socket.

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::fault::Fault;
use super::names;
use super::value::{Epr, Instance, SelectorValue, Value};

/// Deeper nesting than this is never sent by a real client; refusing it
/// bounds the parser's recursion.
const MAX_DEPTH: usize = 24;

/// A parsed request. Its header texts borrow from the request's bytes
/// where they can be read as they lie (the borrowing reader's shapes);
/// the general parser's are owned. Copying each of them was a handful of
/// allocations per request on the Get path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request<'a> {
    pub action: Option<Cow<'a, str>>,
    pub to: Option<Cow<'a, str>>,
    pub resource_uri: Option<Cow<'a, str>>,
    pub message_id: Option<Cow<'a, str>>,
    /// `None` when the request has no SelectorSet at all; an empty SelectorSet
    /// (as wsl sends) is `Some(vec![])`. Both mean "the single instance".
    pub selectors: Option<Vec<(String, SelectorValue)>>,
    pub max_envelope_size: Option<u64>,
    pub operation_timeout: Option<Cow<'a, str>>,
    /// WS-Eventing's Identifier header (Renew, Unsubscribe).
    pub identifier: Option<Cow<'a, str>>,
    /// A user name and password token in the WS-Trust IssuedTokens header
    /// (MeshCommander's Subscribe carries delivery credentials there).
    pub issued_token: Option<(String, String)>,
    pub body: Body<'a>,
}

/// What the Body holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Body<'a> {
    #[default]
    Empty,
    Identify,
    Enumerate(EnumerateArgs),
    Pull(PullArgs<'a>),
    Release {
        context: Cow<'a, str>,
    },
    Subscribe(SubscribeArgs),
    Renew {
        expires: Option<String>,
    },
    Unsubscribe,
    /// Any other payload: a Put/Create instance or a method's `_INPUT`.
    /// `namespace` is the element's namespace URI.
    Payload {
        namespace: Option<String>,
        instance: Instance,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnumerationMode {
    #[default]
    Objects,
    Epr,
    ObjectAndEpr,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnumerateArgs {
    pub mode: EnumerationMode,
    pub optimize: bool,
    pub max_elements: Option<u32>,
}

/// A WS-Eventing Subscribe body, as read; the engine decides what it takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeArgs {
    /// The Delivery element's Mode attribute.
    pub mode: Option<String>,
    /// NotifyTo's Address.
    pub notify_to: Option<String>,
    /// NotifyTo's reference parameters: (element name, namespace, text),
    /// echoed as headers of each event.
    pub reference_parameters: Vec<(String, Option<String>, String)>,
    pub expires: Option<String>,
    /// The Delivery's wsman:Auth Profile attribute.
    pub auth_profile: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullArgs<'a> {
    pub context: Cow<'a, str>,
    pub max_elements: Option<u32>,
}

impl Request<'_> {
    /// The selectors as an EPR on the request's resource, for matching.
    pub fn selector_epr(&self) -> Epr {
        Epr {
            resource_uri: self.resource_uri.as_deref().unwrap_or_default().to_string(),
            selectors: self.selectors.clone().unwrap_or_default(),
        }
    }
}

/// Parses one request envelope: the common shapes by the borrowing
/// reader, everything else (and every fault) by the general parser.
pub fn parse(xml: &[u8]) -> Result<Request<'_>, Fault> {
    let text = std::str::from_utf8(xml).map_err(|_| Fault::SchemaValidationError)?;
    if let Some(request) = borrowed::parse(text) {
        return Ok(request);
    }
    Parser::new(text).envelope()
}

/// Parses one request envelope with the general parser only (what
/// [`parse`] falls back to), so tests and the fuzz target can hold the
/// borrowing reader to its answers.
pub fn parse_general(xml: &[u8]) -> Result<Request<'_>, Fault> {
    let text = std::str::from_utf8(xml).map_err(|_| Fault::SchemaValidationError)?;
    Parser::new(text).envelope()
}

/// What the borrowing reader makes of an envelope (`None`: not one of the
/// shapes it reads), for the same comparisons.
pub fn parse_borrowed(xml: &[u8]) -> Option<Request<'_>> {
    borrowed::parse(std::str::from_utf8(xml).ok()?)
}

/// Namespace URI of a resolved name. The envelope's own namespaces come
/// back as the constants, without a copy per element (copies showed in
/// profiles of the Get path); others are copied.
fn ns_of(resolved: &ResolveResult) -> Option<Cow<'static, str>> {
    const ENVELOPE: [&str; 3] = [names::SOAP, names::ADDRESSING, names::WSMAN];
    match resolved {
        ResolveResult::Bound(Namespace(ns)) => Some(
            match ENVELOPE.iter().find(|known| known.as_bytes() == *ns) {
                Some(known) => Cow::Borrowed(*known),
                None => Cow::Owned(String::from_utf8_lossy(ns).into_owned()),
            },
        ),
        _ => None,
    }
}

/// An element start as the parser needs it: namespace, local name, and
/// whether it was marked `mustUnderstand="true"`.
struct Start {
    ns: Option<Cow<'static, str>>,
    local: String,
    must_understand: bool,
    name_attr: Option<String>,
    /// A `Mode` (WS-Eventing Delivery) or `Profile` (wsman:Auth) attribute.
    mode_attr: Option<String>,
}

struct Parser<'a> {
    reader: NsReader<&'a [u8]>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = NsReader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        Parser { reader }
    }

    fn start_of(&self, e: &BytesStart, ns: Option<Cow<'static, str>>) -> Result<Start, Fault> {
        let local = std::str::from_utf8(e.local_name().as_ref())
            .map_err(|_| Fault::SchemaValidationError)?
            .to_string();
        let mut must_understand = false;
        let mut name_attr = None;
        let mut mode_attr = None;
        for attr in e.attributes() {
            let attr = attr.map_err(|_| Fault::SchemaValidationError)?;
            let (attr_ns, attr_local) = self.reader.resolve_attribute(attr.key);
            let value = attr
                .unescape_value()
                .map_err(|_| Fault::SchemaValidationError)?;
            match attr_local.as_ref() {
                b"mustUnderstand" if ns_of(&attr_ns).as_deref() == Some(names::SOAP) => {
                    must_understand = matches!(value.trim(), "true" | "1");
                }
                b"Name" => name_attr = Some(value.into_owned()),
                b"Mode" | b"Profile" => mode_attr = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(Start {
            ns,
            local,
            must_understand,
            name_attr,
            mode_attr,
        })
    }

    /// The next structural event: a start, an end, text, or end of input.
    fn next(&mut self) -> Result<Next, Fault> {
        loop {
            let (resolved, event) = self
                .reader
                .read_resolved_event()
                .map_err(|_| Fault::SchemaValidationError)?;
            let ns = ns_of(&resolved);
            return Ok(match event {
                Event::Start(e) => Next::Start(self.start_of(&e, ns)?),
                Event::End(_) => Next::End,
                Event::Text(t) => Next::Text(
                    t.xml_content()
                        .map_err(|_| Fault::SchemaValidationError)?
                        .into_owned(),
                ),
                Event::CData(c) => Next::Text(
                    c.decode()
                        .map_err(|_| Fault::SchemaValidationError)?
                        .into_owned(),
                ),
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref().ok().flatten().map(|c| c.to_string())
                    } else {
                        let name = r.decode().map_err(|_| Fault::SchemaValidationError)?;
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_string)
                    };
                    Next::Text(resolved.ok_or(Fault::SchemaValidationError)?)
                }
                Event::Eof => Next::Eof,
                // Never yielded: expand_empty_elements turns `<x/>` into a
                // start and an end.
                Event::Empty(_) => return Err(Fault::SchemaValidationError),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => continue,
            });
        }
    }

    /// Skips the rest of the current element (its start was just read).
    fn skip(&mut self) -> Result<(), Fault> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                Next::Start(_) => depth += 1,
                Next::End => depth -= 1,
                Next::Text(_) => {}
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
        Ok(())
    }

    /// Reads the text content of a leaf element (its start was just read).
    /// Child elements are not expected; they are skipped.
    fn text(&mut self) -> Result<String, Fault> {
        let mut out = String::new();
        loop {
            match self.next()? {
                Next::Text(t) => out.push_str(&t),
                Next::Start(_) => self.skip()?,
                Next::End => return Ok(out),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn envelope(&mut self) -> Result<Request<'static>, Fault> {
        let root = loop {
            match self.next()? {
                Next::Start(s) => break s,
                Next::Text(t) if t.trim().is_empty() => continue,
                _ => return Err(Fault::SchemaValidationError),
            }
        };
        if root.local != "Envelope" {
            return Err(Fault::SchemaValidationError);
        }
        if root.ns.as_deref() != Some(names::SOAP) {
            return Err(Fault::VersionMismatch);
        }
        let mut request = Request::default();
        let mut saw_body = false;
        loop {
            match self.next()? {
                Next::Start(s) if s.ns.as_deref() == Some(names::SOAP) && s.local == "Header" => {
                    self.header(&mut request)?
                }
                Next::Start(s) if s.ns.as_deref() == Some(names::SOAP) && s.local == "Body" => {
                    request.body = self.body()?;
                    saw_body = true;
                }
                Next::Start(_) => return Err(Fault::SchemaValidationError),
                Next::Text(_) => {}
                Next::End => break,
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
        // Nothing but whitespace may follow the envelope.
        loop {
            match self.next()? {
                Next::Eof => break,
                Next::Text(t) if t.trim().is_empty() => {}
                _ => return Err(Fault::SchemaValidationError),
            }
        }
        if !saw_body {
            return Err(Fault::SchemaValidationError);
        }
        Ok(request)
    }

    fn header(&mut self, request: &mut Request<'static>) -> Result<(), Fault> {
        loop {
            let h = match self.next()? {
                Next::Start(s) => s,
                Next::Text(_) => continue,
                Next::End => return Ok(()),
                Next::Eof => return Err(Fault::SchemaValidationError),
            };
            let slot = match (h.ns.as_deref(), h.local.as_str()) {
                (Some(names::ADDRESSING), "Action") => Some(&mut request.action),
                (Some(names::ADDRESSING), "To") => Some(&mut request.to),
                (Some(names::ADDRESSING), "MessageID") => Some(&mut request.message_id),
                (Some(names::WSMAN), "ResourceURI") => Some(&mut request.resource_uri),
                (Some(names::WSMAN), "OperationTimeout") => Some(&mut request.operation_timeout),
                (Some(names::EVENTING), "Identifier") => Some(&mut request.identifier),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return Err(Fault::InvalidMessageInformationHeader);
                }
                *slot = Some(Cow::Owned(self.text()?.trim().to_string()));
                continue;
            }
            match (h.ns.as_deref(), h.local.as_str()) {
                (Some(names::WSMAN), "SelectorSet") => {
                    if request.selectors.is_some() {
                        return Err(Fault::InvalidMessageInformationHeader);
                    }
                    request.selectors = Some(self.selector_set(1)?);
                }
                (Some(names::WSMAN), "MaxEnvelopeSize") => {
                    let size = self.text()?;
                    request.max_envelope_size = Some(
                        size.trim()
                            .parse()
                            .map_err(|_| Fault::SchemaValidationError)?,
                    );
                }
                (Some(names::TRUST), "IssuedTokens") => {
                    request.issued_token = self.issued_tokens()?;
                }
                (Some(names::ADDRESSING), "ReplyTo" | "FaultTo" | "From")
                | (Some(names::WSMAN), "Locale" | "DataLocale") => self.skip()?,
                // AMT understands no options; a mandatory OptionSet (like any
                // other header the service must understand but does not) is a
                // MustUnderstand fault, an optional one is ignored.
                _ if h.must_understand => return Err(Fault::MustUnderstand(h.local)),
                _ => self.skip()?,
            }
        }
    }

    fn selector_set(&mut self, depth: usize) -> Result<Vec<(String, SelectorValue)>, Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::SchemaValidationError);
        }
        let mut selectors = Vec::new();
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "Selector" => {
                    let name = s.name_attr.ok_or(Fault::InvalidSelectors)?;
                    let value = self.selector_value(depth)?;
                    selectors.push((name, value));
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(selectors),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    /// A selector holds text or an `EndpointReference`.
    fn selector_value(&mut self, depth: usize) -> Result<SelectorValue, Fault> {
        let mut text = String::new();
        let mut epr = None;
        loop {
            match self.next()? {
                Next::Text(t) => text.push_str(&t),
                Next::Start(s) if s.local == "EndpointReference" => {
                    epr = Some(self.epr_content(depth + 1)?);
                }
                Next::Start(_) => self.skip()?,
                Next::End => break,
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
        Ok(match epr {
            Some(epr) => SelectorValue::Ref(Box::new(epr)),
            None => SelectorValue::Text(text.trim().to_string()),
        })
    }

    /// The content of an EPR element (Address, ReferenceParameters).
    fn epr_content(&mut self, depth: usize) -> Result<Epr, Fault> {
        let mut epr = Epr::default();
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "ReferenceParameters" => {
                    self.reference_parameters(&mut epr, depth + 1)?
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(epr),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn reference_parameters(&mut self, epr: &mut Epr, depth: usize) -> Result<(), Fault> {
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "ResourceURI" => {
                    epr.resource_uri = self.text()?.trim().to_string()
                }
                Next::Start(s) if s.local == "SelectorSet" => {
                    epr.selectors = self.selector_set(depth + 1)?
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(()),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn body(&mut self) -> Result<Body<'static>, Fault> {
        let mut body = Body::Empty;
        loop {
            let s = match self.next()? {
                Next::Start(s) => s,
                Next::Text(_) => continue,
                Next::End => return Ok(body),
                Next::Eof => return Err(Fault::SchemaValidationError),
            };
            if !matches!(body, Body::Empty) {
                // One payload element only.
                return Err(Fault::SchemaValidationError);
            }
            body = match (s.ns.as_deref(), s.local.as_str()) {
                (Some(names::IDENTITY), "Identify") => {
                    self.skip()?;
                    Body::Identify
                }
                (Some(names::ENUMERATION), "Enumerate") => Body::Enumerate(self.enumerate()?),
                (Some(names::ENUMERATION), "Pull") => Body::Pull(self.pull()?),
                (Some(names::ENUMERATION), "Release") => Body::Release {
                    context: self.pull()?.context,
                },
                (Some(names::EVENTING), "Subscribe") => Body::Subscribe(self.subscribe()?),
                (Some(names::EVENTING), "Renew") => Body::Renew {
                    expires: self.renew()?,
                },
                (Some(names::EVENTING), "Unsubscribe") => {
                    self.skip()?;
                    Body::Unsubscribe
                }
                _ => {
                    let class = s.local.clone();
                    let mut instance = self.object(1)?;
                    instance.class = class;
                    Body::Payload {
                        namespace: s.ns.map(Cow::into_owned),
                        instance,
                    }
                }
            };
        }
    }

    fn enumerate(&mut self) -> Result<EnumerateArgs, Fault> {
        let mut args = EnumerateArgs::default();
        loop {
            match self.next()? {
                Next::Start(s) => match s.local.as_str() {
                    "OptimizeEnumeration" => {
                        args.optimize = true;
                        self.skip()?
                    }
                    "MaxElements" => args.max_elements = Some(parse_count(&self.text()?)?),
                    "EnumerationMode" => {
                        args.mode = match self.text()?.trim() {
                            names::ENUM_MODE_EPR => EnumerationMode::Epr,
                            names::ENUM_MODE_OBJECT_AND_EPR => EnumerationMode::ObjectAndEpr,
                            _ => return Err(Fault::InvalidParameter),
                        }
                    }
                    // Filters (selector or association dialect) are not
                    // something AMT clients send; refuse rather than ignore,
                    // so a caller is never handed an unfiltered result.
                    "Filter" if s.ns.as_deref() == Some(names::WSMAN) => {
                        return Err(Fault::UnsupportedFeature);
                    }
                    _ => self.skip()?,
                },
                Next::Text(_) => {}
                Next::End => return Ok(args),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn subscribe(&mut self) -> Result<SubscribeArgs, Fault> {
        let mut args = SubscribeArgs::default();
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "Delivery" => {
                    args.mode = s.mode_attr;
                    self.delivery(&mut args)?;
                }
                Next::Start(s) if s.local == "Expires" => {
                    args.expires = Some(self.text()?.trim().to_string())
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(args),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn delivery(&mut self, args: &mut SubscribeArgs) -> Result<(), Fault> {
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "NotifyTo" => self.notify_to(args)?,
                Next::Start(s) if s.local == "Auth" => {
                    args.auth_profile = s.mode_attr;
                    self.skip()?;
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(()),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn notify_to(&mut self, args: &mut SubscribeArgs) -> Result<(), Fault> {
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "Address" => {
                    args.notify_to = Some(self.text()?.trim().to_string())
                }
                Next::Start(s) if s.local == "ReferenceParameters" => loop {
                    match self.next()? {
                        Next::Start(p) => {
                            let text = self.text()?;
                            args.reference_parameters.push((
                                p.local,
                                p.ns.map(Cow::into_owned),
                                text.trim().to_string(),
                            ));
                        }
                        Next::Text(_) => {}
                        Next::End => break,
                        Next::Eof => return Err(Fault::SchemaValidationError),
                    }
                },
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(()),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    fn renew(&mut self) -> Result<Option<String>, Fault> {
        let mut expires = None;
        loop {
            match self.next()? {
                Next::Start(s) if s.local == "Expires" => {
                    expires = Some(self.text()?.trim().to_string())
                }
                Next::Start(_) => self.skip()?,
                Next::Text(_) => {}
                Next::End => return Ok(expires),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    /// The first UsernameToken's user name and password, anywhere inside
    /// the IssuedTokens header.
    fn issued_tokens(&mut self) -> Result<Option<(String, String)>, Fault> {
        let mut depth = 1usize;
        let (mut user, mut password) = (None, None);
        while depth > 0 {
            match self.next()? {
                Next::Start(s) if s.local == "Username" && user.is_none() => {
                    user = Some(self.text()?.trim().to_string())
                }
                Next::Start(s) if s.local == "Password" && password.is_none() => {
                    password = Some(self.text()?)
                }
                Next::Start(_) => depth += 1,
                Next::End => depth -= 1,
                Next::Text(_) => {}
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
        Ok(user.zip(password))
    }

    fn pull(&mut self) -> Result<PullArgs<'static>, Fault> {
        let mut args = PullArgs::default();
        let mut saw_context = false;
        loop {
            match self.next()? {
                Next::Start(s) => match s.local.as_str() {
                    "EnumerationContext" => {
                        args.context = Cow::Owned(self.text()?.trim().to_string());
                        saw_context = true;
                    }
                    "MaxElements" => args.max_elements = Some(parse_count(&self.text()?)?),
                    _ => self.skip()?,
                },
                Next::Text(_) => {}
                Next::End if saw_context => return Ok(args),
                Next::End => return Err(Fault::InvalidEnumerationContext),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    /// Reads an element's children as properties of an instance. Repeated
    /// names become arrays; EPRs and nested objects are recognised by their
    /// content.
    fn object(&mut self, depth: usize) -> Result<Instance, Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::SchemaValidationError);
        }
        let mut instance = Instance::default();
        loop {
            match self.next()? {
                Next::Start(s) => {
                    let value = self.value(depth + 1)?;
                    match instance.props.remove(&s.local) {
                        None => {
                            instance.props.insert(s.local, value);
                        }
                        Some(Value::Array(mut items)) => {
                            items.push(value);
                            instance.props.insert(s.local, Value::Array(items));
                        }
                        Some(first) => {
                            instance
                                .props
                                .insert(s.local, Value::Array(vec![first, value]));
                        }
                    }
                }
                Next::Text(_) => {}
                Next::End => return Ok(instance),
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
    }

    /// One property's value: text, an EPR (it has ReferenceParameters), or a
    /// nested object (it has other children).
    fn value(&mut self, depth: usize) -> Result<Value, Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::SchemaValidationError);
        }
        let mut text = String::new();
        let mut epr: Option<Epr> = None;
        let mut children = Instance::default();
        loop {
            match self.next()? {
                Next::Text(t) => text.push_str(&t),
                Next::Start(s) if s.local == "ReferenceParameters" => {
                    let epr = epr.get_or_insert_with(Epr::default);
                    self.reference_parameters(epr, depth + 1)?;
                }
                Next::Start(s)
                    if s.local == "Address" && s.ns.as_deref() == Some(names::ADDRESSING) =>
                {
                    epr.get_or_insert_with(Epr::default);
                    self.skip()?;
                }
                Next::Start(s) => {
                    // A nested element: parse it as a one-property object and
                    // merge, so repeated names still become arrays.
                    let v = self.value(depth + 1)?;
                    match children.props.remove(&s.local) {
                        None => {
                            children.props.insert(s.local, v);
                        }
                        Some(Value::Array(mut items)) => {
                            items.push(v);
                            children.props.insert(s.local, Value::Array(items));
                        }
                        Some(first) => {
                            children.props.insert(s.local, Value::Array(vec![first, v]));
                        }
                    }
                }
                Next::End => break,
                Next::Eof => return Err(Fault::SchemaValidationError),
            }
        }
        Ok(if let Some(epr) = epr {
            Value::Ref(epr)
        } else if !children.props.is_empty() {
            Value::Object(children)
        } else {
            Value::Text(text)
        })
    }
}

enum Next {
    Start(Start),
    End,
    Text(String),
    Eof,
}

fn parse_count(text: &str) -> Result<u32, Fault> {
    text.trim().parse().map_err(|_| Fault::InvalidParameter)
}

mod borrowed;

#[cfg(test)]
mod tests;
