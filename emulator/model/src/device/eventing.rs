//! The event manager's stored configuration: WS-Eventing subscriptions
//! (who is told of power and boot events, and how), PET filters
//! (AMT_PETFilterSetting) and the SNMP subscribers their traps go to
//! (AMT_SNMPEventSubscriber; no trap is sent). Delivery itself is the server's; the model only
//! keeps who wants what, under the firmware's limits.

use serde::{Deserialize, Serialize};

use super::{Device, Feature, Firmware, unix_now};

/// The event filters a console subscribes to (CIM_FilterCollection
/// InstanceIDs). Intel documents six collections before 6.0 and seven from
/// 6.0, with "Intel(r) AMT:All" as the example; the other names are
/// inferred (the reference's table of names was not available).
pub const FILTERS: &[Filter] = &[
    Filter {
        id: "Intel(r) AMT:All",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:Platform",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:FW ProgressEvents",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:Security Administration",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:Redirection",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:Agent Presence",
        since_6: false,
    },
    Filter {
        id: "Intel(r) AMT:ME Presence",
        since_6: true,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    pub id: &'static str,
    /// Only firmware 6.0 and later has it.
    since_6: bool,
}

/// The filters this firmware offers.
pub fn filters(firmware: &Firmware) -> impl Iterator<Item = &'static Filter> + '_ {
    FILTERS
        .iter()
        .filter(move |f| !f.since_6 || firmware.major >= 6)
}

/// How many WS-Eventing subscribers firmware keeps: 6 from 3.2 to 5.x, 9
/// from 6.0 (Intel's WS-Eventing description; 6.0+ also keeps a local
/// subscription of its own, which amtemu does not model).
pub fn max_subscriptions(firmware: &Firmware) -> usize {
    if firmware.major >= 6 { 9 } else { 6 }
}

/// The longest NotifyTo address firmware takes (Intel: "limited to 253
/// characters").
pub const MAX_ADDRESS: usize = 253;
/// The longest user name and password for delivery authentication
/// (MeshCommander's form limit; firmware's own is not documented).
pub const MAX_CREDENTIAL: usize = 32;
/// Reference parameters echoed on each event: a bound on what a client may
/// make the device store and send.
pub const MAX_REFERENCE_PARAMETERS: usize = 8;
pub const MAX_REFERENCE_TEXT: usize = 256;

/// CIM_ListenerDestination.DeliveryMode codes (MeshCommander shows 2 as
/// Push and 3 as Push with ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryMode {
    Push,
    PushWithAck,
}

impl DeliveryMode {
    pub fn code(self) -> u16 {
        match self {
            DeliveryMode::Push => 2,
            DeliveryMode::PushWithAck => 3,
        }
    }
}

/// A reference parameter the subscriber asked to have echoed as a header
/// of every event: its element name, namespace and text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceParameter {
    pub name: String,
    pub namespace: Option<String>,
    pub text: String,
}

/// One subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Numbers the listener instance ("Intel(r) AMT:Listener N").
    pub handle: u32,
    /// The CIM_FilterCollection InstanceID subscribed to.
    pub filter: String,
    /// Where events are POSTed.
    pub notify_to: String,
    pub mode: DeliveryMode,
    pub reference_parameters: Vec<ReferenceParameter>,
    /// When the subscription ends, on the device's clock (unix seconds);
    /// None: it lasts until Unsubscribe.
    pub expires: Option<u64>,
    /// User name and password for HTTP authentication on delivery.
    pub credentials: Option<(String, String)>,
}

/// A PET filter: which platform events are logged and alerted on. The
/// fields are the ASF match fields of Intel's default-filter table; 0xFF
/// means "any".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PetFilter {
    pub policy_id: u8,
    pub event_sensor_type: u8,
    pub event_severity: u8,
    pub log_on_event: bool,
    pub send_alert: bool,
}

/// What the event manager keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eventing {
    pub subscriptions: Vec<Subscription>,
    pub pet_filters: Vec<PetFilter>,
    /// SNMP trap subscribers (AMT_SNMPEventSubscriber); absent in older
    /// state files.
    #[serde(default)]
    pub snmp_subscribers: Vec<SnmpSubscriber>,
}

impl Default for Eventing {
    fn default() -> Eventing {
        Eventing {
            subscriptions: Vec::new(),
            pet_filters: default_pet_filters(),
            snmp_subscribers: Vec::new(),
        }
    }
}

/// How many SNMP subscribers firmware keeps: Intel's Event Filter
/// Subscribers page gives 14 SNMP subscribers from release 2.5 on (and
/// 14 subscribers in all from 6.0), so every WS-Man profile has 14.
pub const MAX_SNMP_SUBSCRIBERS: usize = 14;
/// The longest community string taken. Firmware's own bound was not
/// found in the sources checked; 16 is amtemu's choice.
pub const MAX_COMMUNITY: usize = 16;

/// How an SNMP subscriber's address is written, as
/// CIM_RemoteServiceAccessPoint.InfoFormat codes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressFormat {
    HostName,
    Ipv4,
    Ipv6,
}

impl AddressFormat {
    pub fn code(self) -> u16 {
        match self {
            AddressFormat::HostName => 2,
            AddressFormat::Ipv4 => 3,
            AddressFormat::Ipv6 => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<AddressFormat> {
        match code {
            2 => Some(AddressFormat::HostName),
            3 => Some(AddressFormat::Ipv4),
            4 => Some(AddressFormat::Ipv6),
            _ => None,
        }
    }

    /// The format an address is written in, if it is one of them: a
    /// dotted IPv4 address, an IPv6 address, or a DNS name.
    fn of(address: &str) -> Option<AddressFormat> {
        if address.parse::<std::net::Ipv4Addr>().is_ok() {
            Some(AddressFormat::Ipv4)
        } else if address.parse::<std::net::Ipv6Addr>().is_ok() {
            Some(AddressFormat::Ipv6)
        } else if !address.is_empty() && address.parse::<crate::values::Fqdn>().is_ok() {
            Some(AddressFormat::HostName)
        } else {
            None
        }
    }
}

/// One SNMP trap subscriber: where the PETs of one PET filter go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnmpSubscriber {
    /// Numbers the instance's Name.
    pub handle: u32,
    /// The trap destination (AccessInfo).
    pub address: String,
    pub format: AddressFormat,
    /// The PET filter whose events it is sent.
    pub policy_id: u8,
    /// None: the event manager's default community is used.
    pub community: Option<String>,
}

/// A Create of an SNMP subscriber as the class hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnmpSubscriberRequest {
    pub address: String,
    /// None: taken from how the address is written.
    pub format: Option<AddressFormat>,
    pub policy_id: u8,
    pub community: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnmpRefusal {
    /// Not an address, not in the format stated, or IPv6 before 6.0.
    BadAddress,
    /// No PET filter has the PolicyID.
    UnknownPolicy,
    BadCommunity,
    TooMany,
    NoSuchSubscriber,
}

/// The first rows of Intel's table of default event filters (temperature,
/// voltage, fan, each with severity 0x0F); the rest of that table was not
/// available, so amtemu has these three.
fn default_pet_filters() -> Vec<PetFilter> {
    [(1, 0x01), (2, 0x02), (3, 0x04)]
        .into_iter()
        .map(|(policy_id, sensor)| PetFilter {
            policy_id,
            event_sensor_type: sensor,
            event_severity: 0x0F,
            log_on_event: true,
            send_alert: false,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub filter: String,
    pub notify_to: String,
    pub mode: DeliveryMode,
    pub reference_parameters: Vec<ReferenceParameter>,
    /// Seconds from now; None for no expiry.
    pub expires_in: Option<u64>,
    pub credentials: Option<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventingRefusal {
    NotSupported,
    UnknownFilter,
    /// Not an http(s) URL, or too long.
    BadAddress,
    BadCredentials,
    /// Too many reference parameters, too long, or a name XML cannot
    /// carry back.
    BadReferenceParameters,
    /// This address already subscribes to this filter.
    Duplicate,
    TooMany,
    NoSuchSubscription,
    NoSuchFilter,
}

/// Whether a reference parameter's element name can be written back as
/// an XML element name as it is.
fn xml_name(name: &str) -> bool {
    name.len() <= MAX_REFERENCE_TEXT
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether an address is one firmware takes: http or https (https from
/// 11.0), a host, at most [`MAX_ADDRESS`] characters, no spaces.
fn valid_address(address: &str, firmware: &Firmware) -> bool {
    let rest = if let Some(rest) = address.strip_prefix("http://") {
        rest
    } else if let Some(rest) = address.strip_prefix("https://") {
        if firmware.major < 11 {
            return false;
        }
        rest
    } else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    address.len() <= MAX_ADDRESS
        && !host.is_empty()
        && !host.starts_with(':')
        && address.bytes().all(|b| b.is_ascii_graphic())
}

impl Device {
    /// The subscriptions still in force (expired ones are not shown and
    /// get no events; the next Subscribe drops them).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.with_state(|s| {
            let now = u64::from(unix_now(s.nvram.clock_offset));
            s.nvram
                .eventing
                .subscriptions
                .iter()
                .filter(|sub| sub.expires.is_none_or(|at| at > now))
                .cloned()
                .collect()
        })
    }

    pub fn add_subscription(
        &self,
        request: SubscribeRequest,
    ) -> Result<Subscription, EventingRefusal> {
        if !self.firmware.has(Feature::WsEventing) {
            return Err(EventingRefusal::NotSupported);
        }
        if !filters(self.firmware).any(|f| f.id == request.filter) {
            return Err(EventingRefusal::UnknownFilter);
        }
        if !valid_address(&request.notify_to, self.firmware) {
            return Err(EventingRefusal::BadAddress);
        }
        if let Some((user, password)) = &request.credentials
            && (user.is_empty()
                || password.is_empty()
                || user.len() > MAX_CREDENTIAL
                || password.len() > MAX_CREDENTIAL)
        {
            return Err(EventingRefusal::BadCredentials);
        }
        if request.reference_parameters.len() > MAX_REFERENCE_PARAMETERS
            || request
                .reference_parameters
                .iter()
                .any(|p| p.text.len() > MAX_REFERENCE_TEXT || !xml_name(&p.name))
        {
            return Err(EventingRefusal::BadReferenceParameters);
        }
        let max = max_subscriptions(self.firmware);
        self.with_state(|s| {
            let now = u64::from(unix_now(s.nvram.clock_offset));
            let table = &mut s.nvram.eventing.subscriptions;
            if table.iter().any(|sub| {
                sub.expires.is_none_or(|at| at > now)
                    && sub.filter == request.filter
                    && sub.notify_to == request.notify_to
            }) {
                return Err(EventingRefusal::Duplicate);
            }
            let live = table
                .iter()
                .filter(|sub| sub.expires.is_none_or(|at| at > now))
                .count();
            if live >= max {
                return Err(EventingRefusal::TooMany);
            }
            table.retain(|sub| sub.expires.is_none_or(|at| at > now));
            let handle = (1..)
                .find(|n| table.iter().all(|sub| sub.handle != *n))
                .unwrap_or(0);
            let subscription = Subscription {
                handle,
                filter: request.filter,
                notify_to: request.notify_to,
                mode: request.mode,
                reference_parameters: request.reference_parameters,
                expires: request.expires_in.map(|secs| now.saturating_add(secs)),
                credentials: request.credentials,
            };
            table.push(subscription.clone());
            Ok(subscription)
        })
    }

    pub fn remove_subscription(&self, handle: u32) -> Result<(), EventingRefusal> {
        self.with_state(|s| {
            let now = u64::from(unix_now(s.nvram.clock_offset));
            let table = &mut s.nvram.eventing.subscriptions;
            let at = table
                .iter()
                .position(|sub| sub.handle == handle && sub.expires.is_none_or(|at| at > now))
                .ok_or(EventingRefusal::NoSuchSubscription)?;
            table.remove(at);
            Ok(())
        })
    }

    /// Gives a subscription a new expiry, `expires_in` seconds from now
    /// (None: never); returns the new expiry.
    pub fn renew_subscription(
        &self,
        handle: u32,
        expires_in: Option<u64>,
    ) -> Result<Option<u64>, EventingRefusal> {
        self.with_state(|s| {
            let now = u64::from(unix_now(s.nvram.clock_offset));
            let sub = s
                .nvram
                .eventing
                .subscriptions
                .iter_mut()
                .find(|sub| sub.handle == handle && sub.expires.is_none_or(|at| at > now))
                .ok_or(EventingRefusal::NoSuchSubscription)?;
            sub.expires = expires_in.map(|secs| now.saturating_add(secs));
            Ok(sub.expires)
        })
    }

    pub fn pet_filters(&self) -> Vec<PetFilter> {
        self.with_state(|s| s.nvram.eventing.pet_filters.clone())
    }

    /// Changes what a PET filter does with the events it catches.
    pub fn set_pet_filter(
        &self,
        policy_id: u8,
        log_on_event: bool,
        send_alert: bool,
    ) -> Result<(), EventingRefusal> {
        self.with_state(|s| {
            let filter = s
                .nvram
                .eventing
                .pet_filters
                .iter_mut()
                .find(|f| f.policy_id == policy_id)
                .ok_or(EventingRefusal::NoSuchFilter)?;
            filter.log_on_event = log_on_event;
            filter.send_alert = send_alert;
            Ok(())
        })
    }
}

impl Device {
    pub fn snmp_subscribers(&self) -> Vec<SnmpSubscriber> {
        self.with_state(|s| s.nvram.eventing.snmp_subscribers.clone())
    }

    /// Adds a trap subscriber to an existing PET filter; returns it.
    pub fn add_snmp_subscriber(
        &self,
        request: SnmpSubscriberRequest,
    ) -> Result<SnmpSubscriber, SnmpRefusal> {
        let format = AddressFormat::of(&request.address).ok_or(SnmpRefusal::BadAddress)?;
        if request.format.is_some_and(|stated| stated != format)
            || (format == AddressFormat::Ipv6 && !self.firmware.has(Feature::Ipv6))
        {
            return Err(SnmpRefusal::BadAddress);
        }
        if let Some(community) = &request.community
            && crate::values::check_text(community, MAX_COMMUNITY).is_err()
        {
            return Err(SnmpRefusal::BadCommunity);
        }
        self.with_state(|s| {
            let eventing = &mut s.nvram.eventing;
            if !eventing
                .pet_filters
                .iter()
                .any(|f| f.policy_id == request.policy_id)
            {
                return Err(SnmpRefusal::UnknownPolicy);
            }
            let table = &mut eventing.snmp_subscribers;
            if table.len() >= MAX_SNMP_SUBSCRIBERS {
                return Err(SnmpRefusal::TooMany);
            }
            let handle = (1..)
                .find(|n| table.iter().all(|sub| sub.handle != *n))
                .unwrap_or(0);
            let subscriber = SnmpSubscriber {
                handle,
                address: request.address,
                format,
                policy_id: request.policy_id,
                community: request.community,
            };
            table.push(subscriber.clone());
            Ok(subscriber)
        })
    }

    pub fn remove_snmp_subscriber(&self, handle: u32) -> Result<(), SnmpRefusal> {
        self.with_state(|s| {
            let table = &mut s.nvram.eventing.snmp_subscribers;
            let at = table
                .iter()
                .position(|sub| sub.handle == handle)
                .ok_or(SnmpRefusal::NoSuchSubscriber)?;
            table.remove(at);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    fn trap(address: &str) -> SnmpSubscriberRequest {
        SnmpSubscriberRequest {
            address: address.into(),
            format: None,
            policy_id: 1,
            community: None,
        }
    }

    #[test]
    fn snmp_subscribers_are_checked_limited_and_removed() {
        let d = device("11.8");
        let first = d.add_snmp_subscriber(trap("192.168.0.10")).unwrap();
        assert_eq!((first.handle, first.format), (1, AddressFormat::Ipv4));
        assert_eq!(
            d.add_snmp_subscriber(trap("console.example.com"))
                .unwrap()
                .format,
            AddressFormat::HostName
        );
        assert_eq!(
            d.add_snmp_subscriber(trap("fd00::1")).unwrap().format,
            AddressFormat::Ipv6
        );
        let before = d.snmp_subscribers();
        let refused = [
            (trap(""), SnmpRefusal::BadAddress),
            (trap("not an address"), SnmpRefusal::BadAddress),
            (
                SnmpSubscriberRequest {
                    format: Some(AddressFormat::Ipv6),
                    ..trap("10.0.0.1")
                },
                SnmpRefusal::BadAddress,
            ),
            (
                SnmpSubscriberRequest {
                    policy_id: 99,
                    ..trap("10.0.0.1")
                },
                SnmpRefusal::UnknownPolicy,
            ),
            (
                SnmpSubscriberRequest {
                    community: Some("c".repeat(MAX_COMMUNITY + 1)),
                    ..trap("10.0.0.1")
                },
                SnmpRefusal::BadCommunity,
            ),
        ];
        for (request, refusal) in refused {
            assert_eq!(
                d.add_snmp_subscriber(request.clone()),
                Err(refusal),
                "{request:?}"
            );
        }
        assert_eq!(d.snmp_subscribers(), before);
        for i in before.len()..MAX_SNMP_SUBSCRIBERS {
            d.add_snmp_subscriber(trap(&format!("10.0.0.{i}"))).unwrap();
        }
        assert_eq!(
            d.add_snmp_subscriber(trap("10.0.1.1")),
            Err(SnmpRefusal::TooMany)
        );
        d.remove_snmp_subscriber(first.handle).unwrap();
        assert_eq!(
            d.remove_snmp_subscriber(first.handle),
            Err(SnmpRefusal::NoSuchSubscriber)
        );
        // The freed number is reused.
        assert_eq!(
            d.add_snmp_subscriber(trap("10.0.1.1")).unwrap().handle,
            first.handle
        );
    }

    #[test]
    fn ipv6_trap_destinations_need_ipv6_firmware() {
        assert_eq!(
            device("5.2").add_snmp_subscriber(trap("fd00::1")),
            Err(SnmpRefusal::BadAddress)
        );
    }

    #[test]
    fn saved_state_keeps_snmp_subscribers_and_older_files_load() {
        let d = device("11.8");
        d.add_snmp_subscriber(SnmpSubscriberRequest {
            community: Some("public".into()),
            ..trap("10.0.0.1")
        })
        .unwrap();
        let eventing = d.with_state(|s| s.nvram.eventing.clone());
        let text = serde_json::to_string(&eventing).unwrap();
        let back: Eventing = serde_json::from_str(&text).unwrap();
        assert_eq!(back, eventing);
        // A file written before SNMP subscribers existed.
        let old: Eventing =
            serde_json::from_str(r#"{"subscriptions":[],"pet_filters":[]}"#).unwrap();
        assert!(old.snmp_subscribers.is_empty());
    }

    fn request(address: &str) -> SubscribeRequest {
        SubscribeRequest {
            filter: "Intel(r) AMT:All".into(),
            notify_to: address.into(),
            mode: DeliveryMode::Push,
            reference_parameters: Vec::new(),
            expires_in: None,
            credentials: None,
        }
    }

    #[test]
    fn subscriptions_are_checked_limited_and_removed() {
        let d = device("11.8");
        let first = d
            .add_subscription(request("http://127.0.0.1:9000/events"))
            .unwrap();
        assert_eq!(first.handle, 1);
        let refused = [
            (
                request("http://127.0.0.1:9000/events"),
                EventingRefusal::Duplicate,
            ),
            (request("ftp://127.0.0.1/"), EventingRefusal::BadAddress),
            (request("http://"), EventingRefusal::BadAddress),
            (
                request(&format!("http://h/{}", "a".repeat(MAX_ADDRESS))),
                EventingRefusal::BadAddress,
            ),
            (
                SubscribeRequest {
                    filter: "Intel(r) AMT:Nothing".into(),
                    ..request("http://127.0.0.1:9001/")
                },
                EventingRefusal::UnknownFilter,
            ),
            (
                SubscribeRequest {
                    credentials: Some(("".into(), "x".into())),
                    ..request("http://127.0.0.1:9001/")
                },
                EventingRefusal::BadCredentials,
            ),
        ];
        for (req, refusal) in refused {
            assert_eq!(d.add_subscription(req.clone()), Err(refusal), "{req:?}");
        }
        assert_eq!(d.subscriptions(), vec![first.clone()]);
        for i in 1..max_subscriptions(d.firmware) {
            d.add_subscription(request(&format!("http://127.0.0.1:{}/", 9100 + i)))
                .unwrap();
        }
        assert_eq!(
            d.add_subscription(request("http://127.0.0.1:9999/")),
            Err(EventingRefusal::TooMany)
        );
        d.remove_subscription(first.handle).unwrap();
        assert_eq!(
            d.remove_subscription(first.handle),
            Err(EventingRefusal::NoSuchSubscription)
        );
        assert_eq!(d.subscriptions().len(), max_subscriptions(d.firmware) - 1);
    }

    #[test]
    fn limits_and_filters_follow_the_firmware() {
        assert_eq!(max_subscriptions(device("5.2").firmware), 6);
        assert_eq!(max_subscriptions(device("16.1").firmware), 9);
        assert_eq!(filters(device("5.2").firmware).count(), 6);
        assert_eq!(filters(device("6.2").firmware).count(), 7);
        // https arrived with 11.0.
        assert_eq!(
            device("9.5").add_subscription(request("https://console.example/")),
            Err(EventingRefusal::BadAddress)
        );
        assert!(
            device("11.8")
                .add_subscription(request("https://console.example/"))
                .is_ok()
        );
    }

    #[test]
    fn expiry_hides_a_subscription_and_renew_moves_it() {
        let d = device("11.8");
        let sub = d
            .add_subscription(SubscribeRequest {
                expires_in: Some(0),
                ..request("http://127.0.0.1:9000/")
            })
            .unwrap();
        // Expires "now": already gone.
        assert!(d.subscriptions().is_empty());
        assert_eq!(
            d.renew_subscription(sub.handle, Some(60)),
            Err(EventingRefusal::NoSuchSubscription)
        );
        let sub = d
            .add_subscription(request("http://127.0.0.1:9000/"))
            .unwrap();
        assert!(
            d.renew_subscription(sub.handle, Some(3600))
                .unwrap()
                .is_some()
        );
        assert!(d.subscriptions()[0].expires.is_some());
        assert_eq!(d.renew_subscription(sub.handle, None), Ok(None));
    }

    #[test]
    fn unprovisioning_forgets_subscribers() {
        let d = device("11.8");
        d.add_subscription(request("http://127.0.0.1:9000/"))
            .unwrap();
        d.add_snmp_subscriber(trap("10.0.0.1")).unwrap();
        d.unprovision(super::super::Unprovisioning::Full);
        assert!(d.subscriptions().is_empty());
        assert!(d.snmp_subscribers().is_empty());
    }

    #[test]
    fn pet_filters_change_and_unknown_ones_are_refused() {
        let d = device("11.8");
        d.set_pet_filter(2, false, true).unwrap();
        let f = d
            .pet_filters()
            .into_iter()
            .find(|f| f.policy_id == 2)
            .unwrap();
        assert!(!f.log_on_event && f.send_alert);
        let before = d.pet_filters();
        assert_eq!(
            d.set_pet_filter(99, true, true),
            Err(EventingRefusal::NoSuchFilter)
        );
        assert_eq!(d.pet_filters(), before);
    }
}
