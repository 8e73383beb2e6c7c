//! The WS-Management engine: envelope parsing and writing, addressing,
//! selectors, enumeration contexts and faults. It knows no single AMT class;
//! it finds classes in the registry and asks them for instances.

pub mod classes;
pub mod enumeration;

pub use classes::events::{Indication, indication};

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use amtemu_model::device::Device;
use amtemu_model::device::users::Caller;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::request::{Body, EnumerateArgs, EnumerationMode, PullArgs, Request};
use amtemu_wire::wsman::value::{Instance, SelectorValue, Value};
use amtemu_wire::wsman::writer::{Header, Item};
use amtemu_wire::wsman::{names, request, writer};
use classes::{Class, Operation};
use enumeration::{Enumerations, Snapshot};

/// Per-device protocol state: the response counter and open enumerations.
#[derive(Debug, Default)]
pub struct WsmanState {
    message_counter: AtomicU64,
    enumerations: Mutex<Enumerations>,
}

impl WsmanState {
    /// The next MessageID of the device-wide counter (responses and the
    /// events the device sends share it, as on firmware).
    pub fn next_message_id(&self) -> u64 {
        self.message_counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Drops every open enumeration (as firmware does when it runs out of
    /// contexts or restarts its WS-Man service).
    pub fn forget_enumerations(&self) {
        self.enumerations().clear();
    }

    fn enumerations(&self) -> std::sync::MutexGuard<'_, Enumerations> {
        self.enumerations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The engine's answer: a SOAP envelope, and whether it is a fault (which
/// the HTTP layer sends as 400 with `Connection: close`).
#[derive(Debug)]
pub struct Reply {
    pub xml: String,
    pub fault: Option<Fault>,
    /// The class the request named (`AMT_GeneralSettings`), for metrics:
    /// "none" for Identify and unreadable requests, "unknown" for a class
    /// this firmware does not have. Always from a bounded set.
    pub class: &'static str,
    /// What the request did: Get, Put, Create, Delete, Enumerate, Pull,
    /// Release, Identify or the method's name; "unknown" otherwise.
    pub operation: &'static str,
}

impl Reply {
    /// Whether the request could have changed the device: a Put, Create,
    /// Delete or method call that was not refused before it reached the
    /// class (reads, enumerations and faults change nothing).
    pub fn may_have_changed_state(&self) -> bool {
        !matches!(
            self.operation,
            "Get" | "Enumerate" | "Pull" | "Release" | "Identify" | "unknown"
        ) && !matches!(
            self.fault,
            Some(Fault::AccessDenied | Fault::DestinationUnreachable | Fault::ActionNotSupported)
        )
    }
}

/// Handles one request body for one device, on behalf of a caller whose
/// realms decide what it may do (AccessDenied otherwise).
pub fn handle(device: &Device, state: &WsmanState, caller: &Caller, body: &[u8]) -> Reply {
    let request = match request::parse(body) {
        Ok(r) => r,
        Err(fault) => {
            tracing::info!(device = %device.name, %fault, "malformed WS-Man request");
            // The MessageID could not be read; AMT answers RelatesTo 0.
            return fault_reply(state, "0", fault);
        }
    };
    let (class, operation) = labels(device, &request);
    let relates_to = request.message_id.as_deref().unwrap_or("0");
    let reply = match respond(device, state, caller, &request) {
        Ok(xml) => match request.max_envelope_size {
            Some(max) if xml.len() as u64 > max => {
                fault_reply(state, relates_to, Fault::EncodingLimit)
            }
            _ => Reply {
                xml,
                fault: None,
                class: "none",
                operation: "unknown",
            },
        },
        Err(fault) => {
            tracing::info!(
                device = %device.name,
                action = request.action.as_deref().unwrap_or(""),
                resource = request.resource_uri.as_deref().unwrap_or(""),
                %fault,
                "WS-Man fault"
            );
            fault_reply(state, relates_to, fault)
        }
    };
    Reply {
        class,
        operation,
        ..reply
    }
}

pub fn fault_reply(state: &WsmanState, relates_to: &str, fault: Fault) -> Reply {
    Reply {
        xml: writer::fault_response(relates_to, state.next_message_id(), &fault),
        fault: Some(fault),
        class: "none",
        operation: "unknown",
    }
}

/// The class and operation a request names, as metrics label them. Only
/// names the firmware knows are used, so clients cannot grow the label set.
fn labels(device: &Device, req: &Request) -> (&'static str, &'static str) {
    if req.body == Body::Identify {
        return ("none", "Identify");
    }
    let uri = req.resource_uri.as_deref();
    let class = uri
        .and_then(names::class_of_uri)
        .and_then(|name| classes::lookup(name, device.firmware));
    let operation = match req.action.as_deref() {
        Some(names::ACTION_GET) => "Get",
        Some(names::ACTION_PUT) => "Put",
        Some(names::ACTION_CREATE) => "Create",
        Some(names::ACTION_DELETE) => "Delete",
        Some(names::ACTION_ENUMERATE) => "Enumerate",
        Some(names::ACTION_PULL) => "Pull",
        Some(names::ACTION_RELEASE) => "Release",
        Some(names::ACTION_SUBSCRIBE) => "Subscribe",
        Some(names::ACTION_RENEW) => "Renew",
        Some(names::ACTION_UNSUBSCRIBE) => "Unsubscribe",
        Some(action) => class
            .zip(uri)
            .and_then(|(class, uri)| {
                let name = action.strip_prefix(uri)?.strip_prefix('/')?;
                class.method(name, device.firmware)
            })
            .map_or("unknown", |m| m.name),
        None => "unknown",
    };
    (class.map_or("unknown", |c| c.name), operation)
}

fn respond(
    device: &Device,
    state: &WsmanState,
    caller: &Caller,
    req: &Request,
) -> Result<String, Fault> {
    if req.body == Body::Identify {
        return Ok(identify(device));
    }
    let action = req
        .action
        .as_deref()
        .ok_or(Fault::MessageInformationHeaderRequired)?;
    let uri = req
        .resource_uri
        .as_deref()
        .ok_or(Fault::DestinationUnreachable)?;
    let class = names::class_of_uri(uri)
        .and_then(|name| classes::lookup(name, device.firmware))
        .ok_or(Fault::DestinationUnreachable)?;
    let relates_to = req.message_id.as_deref().unwrap_or("0");
    let header = |response_action: &'static str| Header {
        relates_to,
        action: response_action,
        message_id: state.next_message_id(),
        resource_uri: Some(uri),
    };
    // The class's namespace is the resource URI the request named, unless
    // it named the class under another schema root: formatted only then.
    let class_ns: std::borrow::Cow<'_, str> = if names::is_class_uri(uri, class.name) {
        uri.into()
    } else {
        class.uri().into()
    };
    let read = || class.authorize(caller, Operation::Read);
    let write = || class.authorize(caller, Operation::Write);
    match action {
        names::ACTION_GET => {
            read()?;
            if let Some(write) = class.write_single
                && req.selectors.as_ref().is_none_or(Vec::is_empty)
            {
                return Ok(writer::single_instance_response(
                    &header("http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse"),
                    class.name,
                    &class_ns,
                    class.common,
                    |sink| write(device, sink),
                ));
            }
            let instance = select(device, class, req)?;
            // A Get on a base class answers with the subclass instance, in
            // the subclass's namespace.
            Ok(writer::instance_response(
                &header("http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse"),
                &instance,
                &names::class_uri(&instance.class),
                class.common,
            ))
        }
        names::ACTION_PUT => {
            let put = class.put.ok_or(Fault::ActionNotSupported)?;
            write()?;
            let current = select(device, class, req)?;
            let Body::Payload {
                instance: input, ..
            } = &req.body
            else {
                return Err(Fault::SchemaValidationError);
            };
            if input.class != class.name {
                return Err(Fault::SchemaValidationError);
            }
            put(device, &current, input)?;
            device.changed(class.name);
            // The response is the instance as it now stands.
            let updated = reselect(device, class, &current, input)?;
            Ok(writer::instance_response(
                &header("http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse"),
                &updated,
                &class_ns,
                class.common,
            ))
        }
        names::ACTION_CREATE => {
            let create = class.create.ok_or(Fault::ActionNotSupported)?;
            write()?;
            let Body::Payload {
                instance: input, ..
            } = &req.body
            else {
                return Err(Fault::SchemaValidationError);
            };
            let created = create(device, input)?;
            device.changed(class.name);
            Ok(writer::create_response(
                &header("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"),
                &created,
            ))
        }
        names::ACTION_DELETE => {
            let delete = class.delete.ok_or(Fault::ActionNotSupported)?;
            write()?;
            if req.selectors.as_ref().is_none_or(Vec::is_empty) {
                return Err(Fault::InvalidSelectors);
            }
            let target = select(device, class, req)?;
            delete(device, &target)?;
            device.changed(class.name);
            Ok(writer::empty_response(&header(
                "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
            )))
        }
        names::ACTION_ENUMERATE => {
            read()?;
            let Body::Enumerate(args) = &req.body else {
                return Err(Fault::SchemaValidationError);
            };
            enumerate(
                device,
                state,
                class,
                args,
                header("http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"),
            )
        }
        names::ACTION_PULL => {
            read()?;
            let Body::Pull(args) = &req.body else {
                return Err(Fault::SchemaValidationError);
            };
            pull(
                state,
                args,
                header("http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse"),
            )
        }
        names::ACTION_RELEASE => {
            read()?;
            let Body::Release { context } = &req.body else {
                return Err(Fault::SchemaValidationError);
            };
            let id = enumeration::parse_context(context).ok_or(Fault::InvalidEnumerationContext)?;
            if !state.enumerations().release(id) {
                return Err(Fault::InvalidEnumerationContext);
            }
            Ok(writer::empty_response(&header(
                "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse",
            )))
        }
        names::ACTION_SUBSCRIBE | names::ACTION_RENEW | names::ACTION_UNSUBSCRIBE => {
            eventing(device, caller, class, req, action, header)
        }
        _ => invoke(device, caller, class, req, action, uri, relates_to, state),
    }
}

/// WS-Eventing: Subscribe goes to the filter collection subscribed to;
/// Renew and Unsubscribe to the subscription, named by its selectors
/// (as MeshCommander does; a request without selectors would otherwise
/// reach the first subscription, so it is refused).
fn eventing<'a>(
    device: &Device,
    caller: &Caller,
    class: &Class,
    req: &Request,
    action: &str,
    header: impl Fn(&'static str) -> Header<'a>,
) -> Result<String, Fault> {
    use classes::events;
    let expected = if action == names::ACTION_SUBSCRIBE {
        "CIM_FilterCollection"
    } else {
        "CIM_FilterCollectionSubscription"
    };
    if class.name != expected {
        return Err(Fault::ActionNotSupported);
    }
    class.authorize(caller, Operation::Write)?;
    if req.selectors.as_ref().is_none_or(Vec::is_empty) {
        return Err(Fault::InvalidSelectors);
    }
    let target = select(device, class, req)?;
    let xml = match (action, &req.body) {
        (names::ACTION_SUBSCRIBE, Body::Subscribe(args)) => {
            let (manager, expires) =
                events::subscribe(device, &target, args, req.issued_token.as_ref())?;
            writer::subscribe_response(
                &header("http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse"),
                &manager,
                expires.as_deref(),
            )
        }
        (names::ACTION_RENEW, Body::Renew { expires }) => {
            let expires = events::renew(device, &target, expires.as_deref())?;
            writer::renew_response(
                &header("http://schemas.xmlsoap.org/ws/2004/08/eventing/RenewResponse"),
                expires.as_deref(),
            )
        }
        (names::ACTION_UNSUBSCRIBE, Body::Unsubscribe | Body::Empty) => {
            events::unsubscribe(device, &target)?;
            writer::empty_response(&header(
                "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse",
            ))
        }
        _ => return Err(Fault::SchemaValidationError),
    };
    device.changed(class.name);
    Ok(xml)
}

#[allow(clippy::too_many_arguments)]
fn invoke(
    device: &Device,
    caller: &Caller,
    class: &Class,
    req: &Request,
    action: &str,
    uri: &str,
    relates_to: &str,
    state: &WsmanState,
) -> Result<String, Fault> {
    let method_name = action
        .strip_prefix(uri)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or(Fault::ActionNotSupported)?;
    let method = class
        .method(method_name, device.firmware)
        .ok_or(Fault::ActionNotSupported)?;
    class.authorize(caller, Operation::Invoke(method.name))?;
    let input = match &req.body {
        Body::Payload { instance, .. } if instance.class == format!("{method_name}_INPUT") => {
            instance.clone()
        }
        Body::Payload { .. } => return Err(Fault::SchemaValidationError),
        // Some clients send methods without arguments with an empty body.
        Body::Empty => Instance::new(format!("{method_name}_INPUT")),
        _ => return Err(Fault::SchemaValidationError),
    };
    let target = select(device, class, req)?;
    let output = (method.call)(device, &target, &input)?;
    let response_action = format!("{action}Response");
    Ok(writer::method_response(
        &Header {
            relates_to,
            action: &response_action,
            message_id: state.next_message_id(),
            resource_uri: Some(uri),
        },
        &output,
        &class.uri(),
    ))
}

/// The instance a request's selectors name. Without selectors (or with an
/// empty set) it is the first instance, as AMT resolves singletons.
fn select(device: &Device, class: &Class, req: &Request) -> Result<Instance, Fault> {
    let instances = (class.instances)(device);
    let selectors = req.selectors.as_deref().unwrap_or_default();
    for (name, _) in selectors {
        if !class.keys.contains(&name.as_str()) {
            return Err(Fault::InvalidSelectors);
        }
    }
    instances
        .into_iter()
        .filter(|i| i.class == class.name || class.subclasses.contains(&i.class.as_str()))
        .find(|i| {
            selectors
                .iter()
                .all(|(name, want)| selector_matches(i.get(name), want))
        })
        .ok_or(Fault::InvalidSelectors)
}

/// The same instance re-read after a change, found by its keys.
/// The instance a Put produced: the one with the old keys, or — when the Put
/// changed a key (an association pointed elsewhere) — the one with the keys
/// the client sent, or the class's only instance.
fn reselect(
    device: &Device,
    class: &Class,
    before: &Instance,
    sent: &Instance,
) -> Result<Instance, Fault> {
    let instances = (class.instances)(device);
    let keyed_like = |model: &Instance| {
        instances
            .iter()
            .find(|i| class.keys.iter().all(|k| i.get(k) == model.get(k)))
            .cloned()
    };
    keyed_like(before)
        .or_else(|| keyed_like(sent))
        .or_else(|| match instances.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        })
        .ok_or(Fault::InternalError(1))
}

fn selector_matches(have: Option<&Value>, want: &SelectorValue) -> bool {
    match (have, want) {
        (Some(Value::Ref(have)), SelectorValue::Ref(want)) => have.matches(want),
        (Some(v), SelectorValue::Text(want)) => v.to_text().as_deref() == Some(want.as_str()),
        _ => false,
    }
}

fn snapshot(class: &Class, instances: Vec<Instance>) -> Vec<Snapshot> {
    instances
        .into_iter()
        .map(|instance| {
            let item_class = if instance.class == class.name {
                class
            } else {
                classes::lookup_any(&instance.class).unwrap_or(class)
            };
            Snapshot {
                namespace: names::class_uri(&instance.class),
                epr: item_class.epr_of(&instance),
                instance,
            }
        })
        .collect()
}

fn items(snapshots: &[Snapshot], mode: EnumerationMode) -> Vec<Item<'_>> {
    snapshots
        .iter()
        .map(|s| match mode {
            EnumerationMode::Objects => Item::Object(&s.instance, &s.namespace),
            EnumerationMode::Epr => Item::Epr(&s.epr),
            EnumerationMode::ObjectAndEpr => Item::ObjectAndEpr(&s.instance, &s.namespace, &s.epr),
        })
        .collect()
}

fn enumerate(
    device: &Device,
    state: &WsmanState,
    class: &Class,
    args: &EnumerateArgs,
    header: Header,
) -> Result<String, Fault> {
    let mut all = snapshot(class, (class.instances)(device));
    if !args.optimize {
        let id = state.enumerations().open(args.mode, class.common, all);
        let ctx = writer::enumeration_context(id);
        return Ok(writer::enumerate_response(&header, Some(&ctx), None, false));
    }
    // Optimized: the first MaxElements items come back at once. The context
    // stays valid even when nothing is left, so a client that pulls once more
    // gets an empty, final page rather than a fault.
    let first_n = args
        .max_elements
        .map_or(1, |m| m.max(1) as usize)
        .min(all.len());
    let rest = all.split_off(first_n);
    let end = rest.is_empty();
    let id = state.enumerations().open(args.mode, class.common, rest);
    let ctx = writer::enumeration_context(id);
    let first = items(&all, args.mode);
    Ok(writer::enumerate_response(
        &header,
        Some(&ctx),
        Some((&first, end)),
        class.common,
    ))
}

fn pull(state: &WsmanState, args: &PullArgs, header: Header) -> Result<String, Fault> {
    let id = enumeration::parse_context(&args.context).ok_or(Fault::InvalidEnumerationContext)?;
    // Without MaxElements everything is returned at once: DMT-based clients
    // pull exactly once, and the item counts involved always fit.
    let max = args.max_elements.map_or(usize::MAX, |m| m.max(1) as usize);
    let (snapshots, more, mode, common) = state
        .enumerations()
        .pull(id, max)
        .ok_or(Fault::InvalidEnumerationContext)?;
    let ctx = writer::enumeration_context(id);
    let list = items(&snapshots, mode);
    Ok(writer::pull_response(
        &header,
        more.then_some(ctx.as_str()),
        &list,
        common,
    ))
}

/// Identify: protocol and product version, and the security profiles.
/// The security profiles follow the device's settings: plain HTTP while it
/// serves it, TLS with or without client certificates.
fn identify(device: &Device) -> String {
    const PROFILES: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile";
    let (http, https, mutual) = device.with_state(|s| {
        let remote = &s.nvram.tls.remote;
        (
            device.firmware.opens(amtemu_model::device::Port::Http) && !remote.tls_only(),
            remote.enabled,
            remote.enabled && remote.mutual_authentication,
        )
    });
    let mut profiles = Vec::new();
    if http {
        profiles.push(format!("{PROFILES}/http/digest"));
    }
    if https {
        profiles.push(format!(
            "{PROFILES}/{}",
            if mutual {
                "https/mutual/digest"
            } else {
                "https/digest"
            }
        ));
    }
    let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
    writer::identify_response(&device.firmware.product_version(), "1.0.0", &profiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;
    use proptest::prelude::*;

    fn get(class: &str) -> String {
        format!(
            r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><w:ResourceURI>{}</w:ResourceURI><a:MessageID>7</a:MessageID></Header><Body/></Envelope>"#,
            names::class_uri(class)
        )
    }

    #[test]
    fn a_missing_action_or_resource_is_a_fault() {
        let d = device("11.8");
        let state = WsmanState::default();
        let no_action = get("AMT_GeneralSettings").replace(
            "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>",
            "",
        );
        assert_eq!(
            handle(&d, &state, &Caller::Admin, no_action.as_bytes()).fault,
            Some(Fault::MessageInformationHeaderRequired)
        );
        let twice = get("AMT_GeneralSettings").replace(
            "<a:MessageID>7</a:MessageID>",
            "<a:MessageID>7</a:MessageID><a:MessageID>8</a:MessageID>",
        );
        assert_eq!(
            handle(&d, &state, &Caller::Admin, twice.as_bytes()).fault,
            Some(Fault::InvalidMessageInformationHeader)
        );
        let reply = handle(
            &d,
            &state,
            &Caller::Admin,
            get("AMT_GeneralSettings").as_bytes(),
        );
        assert!(reply.fault.is_none());
        assert!(reply.xml.contains("<b:RelatesTo>7</b:RelatesTo>"));
    }

    #[test]
    fn a_caller_without_the_realm_is_denied_and_nothing_happens() {
        let d = device("11.8");
        let state = WsmanState::default();
        let hardware = Caller::User {
            name: "hw".into(),
            realms: vec![amtemu_model::device::users::realm::HARDWARE_ASSET],
        };
        assert!(
            handle(&d, &state, &hardware, get("CIM_Chassis").as_bytes())
                .fault
                .is_none()
        );
        let denied = handle(&d, &state, &hardware, get("AMT_GeneralSettings").as_bytes());
        assert_eq!(denied.fault, Some(Fault::AccessDenied));
        assert!(denied.xml.contains("e:AccessDenied"));
        let uri = names::class_uri("CIM_PowerManagementService");
        let off = format!(
            r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>{uri}/RequestPowerStateChange</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>9</a:MessageID></Header><Body><h:RequestPowerStateChange_INPUT xmlns:h="{uri}"><h:PowerState>8</h:PowerState></h:RequestPowerStateChange_INPUT></Body></Envelope>"#
        );
        let before = d.power_status();
        assert_eq!(
            handle(&d, &state, &hardware, off.as_bytes()).fault,
            Some(Fault::AccessDenied)
        );
        assert_eq!(d.power_status(), before);
        // An unknown method is still ActionNotSupported.
        let unknown = off.replace("RequestPowerStateChange</a:Action>", "Nope</a:Action>");
        assert_eq!(
            handle(&d, &state, &hardware, unknown.as_bytes()).fault,
            Some(Fault::ActionNotSupported)
        );
    }

    /// A Get without selectors of a class that writes its instance
    /// straight from device state answers, byte for byte, what the same Get
    /// naming the instance by its keys answers (built as an instance and
    /// written by the general writer): on every firmware row, before and
    /// after its settings change.
    #[test]
    fn instances_written_straight_from_state_match_the_built_ones() {
        use amtemu_model::device::firmware::Firmware;
        let uri = names::class_uri("AMT_GeneralSettings");
        let put = format!(
            r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Put</a:Action><w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>3</a:MessageID></Header><Body><g:AMT_GeneralSettings xmlns:g="{uri}"><g:HostName>box-7</g:HostName><g:DomainName>lab.example</g:DomainName><g:SharedFQDN>false</g:SharedFQDN><g:PingResponseEnabled>false</g:PingResponseEnabled><g:DDNSTTL>77</g:DDNSTTL></g:AMT_GeneralSettings></Body></Envelope>"#
        );
        let mut compared = 0;
        for firmware in Firmware::all() {
            let d = device(firmware.name);
            for name in classes::all_names() {
                let Some(class) = classes::lookup(name, d.firmware) else {
                    continue;
                };
                if class.write_single.is_none() {
                    continue;
                }
                let instance = (class.instances)(&d).remove(0);
                let selectors: String = class
                    .keys
                    .iter()
                    .map(|k| {
                        let value = instance.get(k).and_then(Value::to_text).unwrap_or_default();
                        format!(r#"<w:Selector Name="{k}">{value}</w:Selector>"#)
                    })
                    .collect();
                let plain = get(name);
                let keyed = plain.replace(
                    "</Header>",
                    &format!("<w:SelectorSet>{selectors}</w:SelectorSet></Header>"),
                );
                for round in 0..2 {
                    // Fresh engines, so both answers carry MessageID 1.
                    let direct =
                        handle(&d, &WsmanState::default(), &Caller::Admin, plain.as_bytes());
                    let built =
                        handle(&d, &WsmanState::default(), &Caller::Admin, keyed.as_bytes());
                    assert!(direct.fault.is_none(), "{name} on {}", firmware.name);
                    assert_eq!(direct.xml, built.xml, "{name} on {}", firmware.name);
                    compared += 1;
                    if round == 0 && name == "AMT_GeneralSettings" {
                        let changed =
                            handle(&d, &WsmanState::default(), &Caller::Admin, put.as_bytes());
                        assert!(changed.fault.is_none(), "{}", changed.xml);
                        assert!(changed.xml.contains("box-7"));
                    }
                }
            }
        }
        assert!(compared >= 2 * 10, "only {compared} answers compared");
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_get_a_fault_and_leave_the_device_alone(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            cut in 0usize..400,
        ) {
            let d = device("11.8");
            let state = WsmanState::default();
            let before = handle(&d, &state, &Caller::Admin, get("AMT_GeneralSettings").as_bytes()).xml;
            let reply = handle(&d, &state, &Caller::Admin, &bytes);
            prop_assert!(reply.fault.is_some());
            let valid = get("AMT_BootSettingData");
            let truncated = &valid.as_bytes()[..cut.min(valid.len() - 1)];
            prop_assert!(handle(&d, &state, &Caller::Admin, truncated).fault.is_some());
            let after = handle(&d, &state, &Caller::Admin, get("AMT_GeneralSettings").as_bytes()).xml;
            // Only the MessageID counter differs.
            let strip = |s: &str| s.split("<b:MessageID>").next().unwrap().to_string()
                + s.split("</b:MessageID>").nth(1).unwrap();
            prop_assert_eq!(strip(&before), strip(&after));
        }
    }
}
