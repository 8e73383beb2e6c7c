//! Reading a scenario file: TOML → raw structures (serde, unknown keys
//! refused) → checked [`Scenario`]. Every error is mapped back to the line,
//! column and key path it is about, from the spans of the parsed document.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Action, Check, Event, Expectation, Group, PowerWant, Scenario, ScenarioError, Target};
use crate::faults::FaultPlan;
use crate::fleet::{DeviceSpec, Ports};
use amtemu_model::device::{
    ByName, ControlMode, DEFAULT_PASSWORD, DeviceConfig, Firmware, HostPower, MePowerPolicy,
    PowerTimings, ProvisioningState, SetupState,
};

// ---------------------------------------------------------------------------
// Raw structures: what serde reads. Values that need checking beyond their
// type are kept as plain strings and checked below, where the key path is
// known.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    #[serde(default)]
    fleet: RawFleet,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    timeline: Vec<RawEvent>,
    #[serde(default)]
    expect: Vec<RawExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    seed: Option<String>,
    first_address: Option<String>,
    port_step: Option<u16>,
    http_port: Option<u16>,
    https_port: Option<u16>,
    domain: Option<String>,
    duration: Option<String>,
    /// Multiplies the hello schedule (see `--hello-interval-scale`).
    hello_interval_scale: Option<f64>,
    /// The DNS server (IP or IP:PORT) devices ask for ProvisionServer.*.
    dns: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    count: u32,
    firmware: Option<toml::Value>,
    power: Option<ByName<HostPower>>,
    provisioning: Option<ProvisioningState>,
    mode: Option<ByName<ControlMode>>,
    user: Option<String>,
    password: Option<String>,
    domain: Option<String>,
    host_prefix: Option<String>,
    boot_ms: Option<u64>,
    shutdown_ms: Option<u64>,
    reset_ms: Option<u64>,
    power_policy: Option<ByName<MePowerPolicy>>,
    faults: Option<GroupFaults>,
    console: Option<toml::Value>,
    /// MEBx provisioning settings.
    provisioning_server: Option<String>,
    provisioning_port: Option<u16>,
    mebx_domain: Option<String>,
    dhcp_domain: Option<String>,
    pki_dns_suffix: Option<String>,
    pid: Option<String>,
    pps: Option<String>,
    /// Extra active trusted root hashes (hex SHA-1/256/384).
    trusted_hashes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: String,
    action: String,
    group: Option<String>,
    device: Option<String>,
    share: Option<f64>,
    count: Option<u32>,
    plan: Option<FaultPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    name: Option<String>,
    at: Option<String>,
    group: Option<String>,
    device: Option<String>,
    share: Option<f64>,
    power: Option<String>,
    provisioned: Option<bool>,
    responds: Option<bool>,
    #[serde(rename = "saw-power-on", alias = "saw_power_on")]
    saw_power_on: Option<bool>,
    hellos_delivered: Option<u32>,
}

/// A group's `faults` table: a [`FaultPlan`] and, beside its keys, an
/// optional `share` of the group it applies to. The plan's own keys are read
/// straight from the document, so their errors keep their spans.
#[derive(Debug)]
struct GroupFaults {
    plan: FaultPlan,
    share: Option<f64>,
}

impl<'de> Deserialize<'de> for GroupFaults {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = GroupFaults;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of faults")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<GroupFaults, M::Error> {
                let mut share = None;
                let plan =
                    FaultPlan::deserialize(de::value::MapAccessDeserializer::new(WithoutShare {
                        inner: map,
                        share: &mut share,
                    }))?;
                Ok(GroupFaults { plan, share })
            }
        }
        deserializer.deserialize_map(TableVisitor)
    }
}

/// A map that takes the `share` key out for itself.
struct WithoutShare<'a, M> {
    inner: M,
    share: &'a mut Option<f64>,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for WithoutShare<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        while let Some(key) = self.inner.next_key::<String>()? {
            if key == "share" {
                *self.share = Some(self.inner.next_value()?);
                continue;
            }
            let key: de::value::StringDeserializer<M::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}

// ---------------------------------------------------------------------------
// Key paths and spans.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn root() -> KeyPath {
        KeyPath(Vec::new())
    }
    fn k(&self, key: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }
    fn i(&self, index: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found while checking, about one key.
struct Problem {
    path: KeyPath,
    message: String,
    /// Where in the text, when known better than from the path (a key
    /// rather than its value).
    at: Option<usize>,
}

fn problem(path: &KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        path: path.clone(),
        message: message.into(),
        at: None,
    }
}

type Checked<T> = Result<T, Problem>;

/// Every key and array element of a document, with its path and spans.
struct Entry {
    path: KeyPath,
    key: Range<usize>,
    value: Range<usize>,
}

fn flatten_table(table: &DeTable<'_>, prefix: &KeyPath, out: &mut Vec<Entry>) {
    for (k, v) in table.iter() {
        let path = prefix.k(k.get_ref());
        out.push(Entry {
            path: path.clone(),
            key: k.span(),
            value: v.span(),
        });
        flatten_value(v, &path, out);
    }
}

fn flatten_value(value: &Spanned<DeValue<'_>>, path: &KeyPath, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(t) => flatten_table(t, path, out),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let p = path.i(i);
                out.push(Entry {
                    path: p.clone(),
                    key: item.span(),
                    value: item.span(),
                });
                flatten_value(item, &p, out);
            }
        }
        _ => {}
    }
}

fn contains(span: &Range<usize>, at: usize) -> bool {
    (span.start <= at && at < span.end) || span.start == at
}

/// The key an error at `at` is about: the deepest key whose name or value
/// holds it, else the last key before it.
fn path_at(entries: &[Entry], at: usize) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| contains(&e.key, at) || contains(&e.value, at))
        .max_by_key(|e| e.path.0.len())
        .or_else(|| {
            entries
                .iter()
                .filter(|e| e.key.start <= at)
                .max_by_key(|e| (e.key.start, e.path.0.len()))
        })
}

/// Where a key path is in the document: its value, or as near as the
/// document gets (the table it would be in).
fn locate(root: &DeTable<'_>, path: &KeyPath) -> Option<usize> {
    let mut best = None;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    for seg in &path.0 {
        let next = match (seg, current.map(|v| v.get_ref())) {
            (Seg::Key(key), None) => root
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v),
            (Seg::Key(key), Some(DeValue::Table(t))) => {
                t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
            }
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => {
                best = Some(v.span().start);
                current = Some(v);
            }
            None => break,
        }
    }
    best
}

/// Line and column (1-based, in characters) of a byte offset.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let mut at = at;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() + 1)
}

struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn error(&self, at: Option<usize>, key: Option<String>, message: String) -> ScenarioError {
        let (line, column) = match at {
            Some(at) => {
                let (l, c) = line_column(self.text, at);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            key,
            message,
        }
    }

    /// A TOML error (syntax or serde), with the key it is about.
    fn toml_error(&self, entries: &[Entry], e: &toml::de::Error) -> ScenarioError {
        let message = e.message().trim().to_string();
        let Some(span) = e.span() else {
            return self.error(None, None, message);
        };
        let mut at = span.start;
        let mut key = path_at(entries, at).map(|e| e.path.clone());
        // An unknown key reported on its table: point at the key itself.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            && let Some(found) = entries.iter().find(|e| {
                key.as_ref().is_none_or(|k| e.path.0.starts_with(&k.0))
                    && e.path.0.last() == Some(&Seg::Key(name.to_string()))
            })
        {
            at = found.key.start;
            key = Some(found.path.clone());
        }
        self.error(
            Some(at),
            key.filter(|k| !k.0.is_empty()).map(|k| k.to_string()),
            message,
        )
    }
}

// ---------------------------------------------------------------------------
// Things a scenario may name that the emulator does not model yet: refused
// with a clear message rather than ignored.

const UNSUPPORTED_GROUP_KEYS: &[(&str, &str)] = &[
    (
        "console_script",
        "the key is `console`: a console script file's path or an inline table",
    ),
    (
        "tls",
        "TLS settings in scenarios; devices start with the firmware's TLS defaults (configure TLS over WS-Man)",
    ),
    (
        "hellos",
        "hellos start with the timeline action `enter-setup-mode` or `provisioning = \"in\"`",
    ),
    (
        "hello",
        "hellos start with the timeline action `enter-setup-mode` or `provisioning = \"in\"`",
    ),
    (
        "certificates",
        "certificates in scenarios; devices start with an empty certificate store",
    ),
    (
        "ca_key_bits",
        "the largest CA key a device accepts follows its firmware (`amtemu firmware list`)",
    ),
];

const UNSUPPORTED_EXPECT_KEYS: &[(&str, &str)] = &[
    ("hellos", "the key is `hellos_delivered`"),
    ("saw-hello", "the key is `hellos_delivered`"),
    ("sent-hello", "the key is `hellos_delivered`"),
];

fn unsupported_action(action: &str) -> Option<&'static str> {
    let a = action.to_ascii_lowercase();
    if a.contains("hello") || a.contains("setup") {
        Some("the action is `enter-setup-mode`")
    } else if a.contains("cert") || a.contains("expire") {
        Some("the action is `cert-expire`")
    } else if a.contains("policy") {
        Some("the management engine's power policy is the group key `power_policy`")
    } else if a.contains("console") || a.contains("sol") {
        Some("a group's console script is the key `console`; SOL sessions come from clients")
    } else {
        None
    }
}

fn check_unsupported_keys(root: &DeTable<'_>) -> Checked<()> {
    let lists: [(&str, &[(&str, &str)]); 2] = [
        ("groups", UNSUPPORTED_GROUP_KEYS),
        ("expect", UNSUPPORTED_EXPECT_KEYS),
    ];
    for (section, keys) in lists {
        let Some((_, v)) = root.iter().find(|(k, _)| k.get_ref() == section) else {
            continue;
        };
        let DeValue::Array(items) = v.get_ref() else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(t) = item.get_ref() else {
                continue;
            };
            for (k, _) in t.iter() {
                if let Some((_, why)) = keys.iter().find(|(name, _)| *name == k.get_ref()) {
                    return Err(Problem {
                        at: Some(k.span().start),
                        ..problem(
                            &KeyPath::root().k(section).i(i).k(k.get_ref()),
                            format!("not supported yet: {why}"),
                        )
                    });
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------

/// Parses `30s`, `10m`, `500ms`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "bad duration {text:?}: expected a number and a unit (ms, s, m, h), e.g. \"30s\", \"10m\", \"1m30s\""
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// `1500ms` → "1.5s", `90s` → "1m30s".
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return if ms < 1000 {
            format!("{ms}ms")
        } else {
            format!("{}s", ms as f64 / 1000.0)
        };
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// FNV-1a: a stable hash, so a seed selects the same devices on every
/// platform and Rust version.
fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `amount` of `from`, chosen by a generator seeded with `seed` and `what`;
/// returned in fleet order.
fn seeded_pick(seed: &str, what: &str, from: &[usize], amount: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(stable_hash(&format!("{seed}/{what}")));
    let amount = amount.min(from.len());
    let mut picked: Vec<usize> = rand::seq::index::sample(&mut rng, from.len(), amount)
        .into_iter()
        .map(|i| from[i])
        .collect();
    picked.sort_unstable();
    picked
}

fn share_count(share: f64, of: usize) -> usize {
    ((share * of as f64).round() as usize).min(of)
}

fn check_share(path: &KeyPath, share: f64, allow_zero: bool) -> Checked<f64> {
    let ok = if allow_zero {
        (0.0..=1.0).contains(&share)
    } else {
        share > 0.0 && share <= 1.0
    };
    if ok {
        Ok(share)
    } else {
        let range = if allow_zero {
            "0 to 1"
        } else {
            "above 0, at most 1"
        };
        Err(problem(
            path,
            format!("share must be a fraction {range} (0.2 is 20%), not {share}"),
        ))
    }
}

fn check_plan(path: &KeyPath, plan: &FaultPlan) -> Checked<()> {
    if !(0.0..=1.0).contains(&plan.reset_probability) {
        return Err(problem(
            &path.k("reset_probability"),
            format!(
                "must be a probability from 0 to 1, not {}",
                plan.reset_probability
            ),
        ));
    }
    if let Some(status) = plan.http_error
        && !(100..=599).contains(&status)
    {
        return Err(problem(
            &path.k("http_error"),
            format!("{status} is not an HTTP status (100..=599)"),
        ));
    }
    Ok(())
}

fn firmware_named(path: &KeyPath, name: &str) -> Checked<&'static Firmware> {
    Firmware::by_name(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = Firmware::all().iter().map(|f| f.name).collect();
        problem(
            path,
            format!("unknown firmware {name:?} (known: {})", known.join(", ")),
        )
    })
}

fn valid_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Reads and checks a scenario.
pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
    let source = Source {
        text,
        file: file_name,
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let (partial, _) = DeTable::parse_recoverable(text);
            let mut entries = Vec::new();
            flatten_table(partial.get_ref(), &KeyPath::root(), &mut entries);
            return Err(source.toml_error(&entries, &e));
        }
    };
    let mut entries = Vec::new();
    flatten_table(root.get_ref(), &KeyPath::root(), &mut entries);
    let resolve = |p: Problem| {
        let at = p.at.or_else(|| locate(root.get_ref(), &p.path));
        let key = (!p.path.0.is_empty()).then(|| p.path.to_string());
        source.error(at, key, p.message)
    };
    check_unsupported_keys(root.get_ref()).map_err(resolve)?;
    let raw: RawScenario = toml::from_str(text).map_err(|e| source.toml_error(&entries, &e))?;
    build(raw, file_name).map_err(resolve)
}

/// A group's console script: a TOML file's path (relative to the
/// scenario's directory) or an inline table.
fn console_script(
    path: &KeyPath,
    value: &toml::Value,
    file_name: &str,
) -> Checked<amtemu_model::host::ConsoleScript> {
    use amtemu_model::host::ConsoleScript;
    let script = match value {
        toml::Value::String(file) => {
            let dir = std::path::Path::new(file_name)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            ConsoleScript::load(&dir.join(file))
        }
        toml::Value::Table(_) => value
            .clone()
            .try_into::<ConsoleScript>()
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a console script file's path or an inline table, found {}",
            other.type_str()
        )),
    };
    script.map_err(|message| problem(path, message))
}

fn build(raw: RawScenario, file_name: &str) -> Checked<Scenario> {
    let root = KeyPath::root();
    let fleet_path = root.k("fleet");
    let fleet = &raw.fleet;
    let seed = fleet.seed.clone().unwrap_or_else(|| "amtemu".into());
    if seed.is_empty() {
        return Err(problem(&fleet_path.k("seed"), "the seed must not be empty"));
    }
    let first_address: Ipv4Addr = match &fleet.first_address {
        None => Ipv4Addr::new(127, 1, 0, 1),
        Some(text) => text.parse().map_err(|_| {
            problem(
                &fleet_path.k("first_address"),
                format!("{text:?} is not an IPv4 address"),
            )
        })?,
    };
    if first_address.octets()[0] != 127 {
        return Err(problem(
            &fleet_path.k("first_address"),
            format!(
                "{first_address} is outside 127.0.0.0/8; fleet addresses must be loopback addresses"
            ),
        ));
    }
    if fleet.port_step == Some(0) {
        return Err(problem(
            &fleet_path.k("port_step"),
            "port_step must be at least 1",
        ));
    }
    let http_port = fleet.http_port.unwrap_or(16992);
    let https_port = fleet.https_port.unwrap_or(16993);
    if http_port == https_port {
        return Err(problem(
            &fleet_path.k("https_port"),
            format!("the HTTP and HTTPS ports are both {http_port}"),
        ));
    }
    let default_domain = fleet.domain.clone().unwrap_or_else(|| "vpro.test".into());
    let hello_interval_scale = fleet
        .hello_interval_scale
        .map(crate::provision::schedule::valid_scale)
        .transpose()
        .map_err(|m| problem(&fleet_path.k("hello_interval_scale"), m))?;
    let dns = fleet
        .dns
        .as_deref()
        .map(|text| crate::address::socket_address(text, 53))
        .transpose()
        .map_err(|m| problem(&fleet_path.k("dns"), m))?;
    let duration = match &fleet.duration {
        None => None,
        Some(text) => {
            Some(parse_duration(text).map_err(|m| problem(&fleet_path.k("duration"), m))?)
        }
    };

    if raw.groups.is_empty() {
        return Err(problem(
            &root,
            "a scenario needs at least one [[groups]] table",
        ));
    }

    // Groups and their devices.
    let mut groups: Vec<Group> = Vec::new();
    let mut specs: Vec<DeviceSpec> = Vec::new();
    let mut hosts: HashMap<String, usize> = HashMap::new();
    let mut device_group: Vec<usize> = Vec::new();
    let mut used_addresses: HashSet<std::net::SocketAddr> = HashSet::new();
    let mut names: HashSet<&str> = HashSet::new();
    for (gi, g) in raw.groups.iter().enumerate() {
        let path = root.k("groups").i(gi);
        if g.name.is_empty() {
            return Err(problem(&path.k("name"), "a group needs a name"));
        }
        if !names.insert(&g.name) {
            return Err(problem(
                &path.k("name"),
                format!("a second group named {:?}", g.name),
            ));
        }
        if g.count == 0 {
            return Err(problem(
                &path.k("count"),
                "a group needs at least one device",
            ));
        }
        let firmware: Vec<&'static Firmware> = match &g.firmware {
            None => vec![firmware_named(
                &path.k("firmware"),
                amtemu_model::device::firmware::DEFAULT_FIRMWARE,
            )?],
            Some(toml::Value::String(name)) => vec![firmware_named(&path.k("firmware"), name)?],
            Some(toml::Value::Array(list)) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    toml::Value::String(name) => firmware_named(&path.k("firmware").i(i), name),
                    other => Err(problem(
                        &path.k("firmware").i(i),
                        format!("expected a firmware name, found {}", other.type_str()),
                    )),
                })
                .collect::<Checked<_>>()?,
            Some(_) => {
                return Err(problem(
                    &path.k("firmware"),
                    "expected a firmware name (\"11.8\") or a non-empty list of them",
                ));
            }
        };
        let prefix = g.host_prefix.clone().unwrap_or_else(|| g.name.clone());
        if !valid_label(&prefix) {
            let key = if g.host_prefix.is_some() {
                "host_prefix"
            } else {
                "name"
            };
            return Err(problem(
                &path.k(key),
                format!(
                    "{prefix:?} cannot start a host name (letters, digits and inner hyphens only); set host_prefix"
                ),
            ));
        }
        let user = g.user.clone().unwrap_or_else(|| "admin".into());
        if user.is_empty() {
            return Err(problem(&path.k("user"), "the user name must not be empty"));
        }
        let password = g
            .password
            .clone()
            .unwrap_or_else(|| DEFAULT_PASSWORD.into());
        if password.is_empty() {
            return Err(problem(
                &path.k("password"),
                "the password must not be empty",
            ));
        }
        let domain = g.domain.clone().unwrap_or_else(|| default_domain.clone());
        let provisioning = group_provisioning(&path, g)?;
        let defaults = PowerTimings::default();
        // One script shared by the group's devices.
        let console = match &g.console {
            None => None,
            Some(value) => Some(std::sync::Arc::new(console_script(
                &path.k("console"),
                value,
                file_name,
            )?)),
        };
        let timings = PowerTimings {
            boot: g.boot_ms.map_or(defaults.boot, Duration::from_millis),
            shutdown: g
                .shutdown_ms
                .map_or(defaults.shutdown, Duration::from_millis),
            reset: g.reset_ms.map_or(defaults.reset, Duration::from_millis),
        };
        let power = g.power.map_or(HostPower::S0, |p| p.0);
        let power_policy = g.power_policy.map_or(MePowerPolicy::default(), |p| p.0);
        let setup = SetupState {
            state: g.provisioning.unwrap_or(ProvisioningState::Post),
            mode: g.mode.map_or(ControlMode::Admin, |m| m.0),
        };
        let width = g.count.to_string().len().max(5);
        let start = specs.len();
        for n in 0..g.count as usize {
            let index = specs.len();
            let host = format!("{prefix}-{:0width$}", n + 1);
            if hosts.insert(host.clone(), index).is_some() {
                return Err(problem(
                    &path.k(if g.host_prefix.is_some() {
                        "host_prefix"
                    } else {
                        "name"
                    }),
                    format!(
                        "host name {host} is used by another group too; give the groups different host_prefix values"
                    ),
                ));
            }
            let (address, ports) = crate::fleet::slot(
                first_address,
                fleet.port_step,
                Ports {
                    http: http_port,
                    https: https_port,
                    ..Ports::default()
                },
                index,
            )
            .map_err(|m| {
                let key = if fleet.port_step.is_some() {
                    "port_step"
                } else {
                    "first_address"
                };
                problem(&fleet_path.k(key), m)
            })?;
            for port in [ports.http, ports.https] {
                if !used_addresses.insert(std::net::SocketAddr::new(address, port)) {
                    return Err(problem(
                        &fleet_path.k("port_step"),
                        format!(
                            "device {host} would share {address}:{port} with another device; use a port_step larger than the gap between http_port and https_port"
                        ),
                    ));
                }
            }
            specs.push(DeviceSpec {
                config: DeviceConfig {
                    name: format!("{seed}/{host}"),
                    firmware: firmware[n % firmware.len()],
                    power,
                    timings,
                    setup,
                    admin_name: user.clone(),
                    admin_password: password.clone(),
                    host_name: host,
                    domain_name: domain.clone(),
                    ip_address: address.to_string(),
                    console: console.clone(),
                    provisioning: provisioning.clone(),
                    power_policy,
                },
                address,
                ports,
                tls_identity: None,
            });
            device_group.push(gi);
        }
        let members: Vec<usize> = (start..specs.len()).collect();
        let faults = match &g.faults {
            None => None,
            Some(f) => {
                let fpath = path.k("faults");
                check_plan(&fpath, &f.plan)?;
                let targets = match f.share {
                    None => members.clone(),
                    Some(share) => {
                        let share = check_share(&fpath.k("share"), share, true)?;
                        seeded_pick(
                            &seed,
                            &format!("groups/{}/faults", g.name),
                            &members,
                            share_count(share, members.len()),
                        )
                    }
                };
                Some((f.plan.clone(), targets))
            }
        };
        groups.push(Group {
            name: g.name.clone(),
            members,
            faults,
        });
    }
    let group_index: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.name.as_str(), i))
        .collect();

    let find_group = |path: &KeyPath, name: &str| -> Checked<usize> {
        group_index.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            problem(
                path,
                format!("no group named {name:?} (groups: {})", known.join(", ")),
            )
        })
    };
    let find_device = |path: &KeyPath, host: &str, group: Option<usize>| -> Checked<usize> {
        let index = *hosts.get(host).ok_or_else(|| {
            problem(
                path,
                format!(
                    "no device with host name {host:?} (host names are the group's host_prefix and a number, e.g. {:?})",
                    specs[0].config.host_name
                ),
            )
        })?;
        if let Some(g) = group
            && device_group[index] != g
        {
            return Err(problem(
                path,
                format!("device {host} is not in group {:?}", groups[g].name),
            ));
        }
        Ok(index)
    };
    let at_within = |path: &KeyPath, text: &str| -> Checked<Duration> {
        let at = parse_duration(text).map_err(|m| problem(path, m))?;
        if let Some(d) = duration
            && at > d
        {
            return Err(problem(
                path,
                format!(
                    "{text:?} is after the scenario ends (fleet.duration = {})",
                    format_duration(d)
                ),
            ));
        }
        Ok(at)
    };

    // Timeline.
    let mut timeline = Vec::new();
    for (ei, e) in raw.timeline.iter().enumerate() {
        let path = root.k("timeline").i(ei);
        let at = at_within(&path.k("at"), &e.at)?;
        let action = match Action::parse(&e.action) {
            Some(a) => a,
            None => {
                if let Some(why) = unsupported_action(&e.action) {
                    return Err(problem(
                        &path.k("action"),
                        format!("not supported yet: action {:?}: {why}", e.action),
                    ));
                }
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                return Err(problem(
                    &path.k("action"),
                    format!(
                        "unknown action {:?} (known: {})",
                        e.action,
                        known.join(", ")
                    ),
                ));
            }
        };
        let plan = match (action, &e.plan) {
            (Action::Fault, Some(plan)) => {
                check_plan(&path.k("plan"), plan)?;
                Some(plan.clone())
            }
            (Action::Fault, None) => {
                return Err(problem(
                    &path,
                    "action \"fault\" needs a plan table, e.g. plan = { latency_ms = [100, 400] }",
                ));
            }
            (_, Some(_)) => {
                return Err(problem(
                    &path.k("plan"),
                    format!(
                        "only action \"fault\" takes a plan (this is {:?})",
                        action.name()
                    ),
                ));
            }
            (_, None) => None,
        };
        let target = select(
            &path,
            &seed,
            &format!("timeline/{ei}"),
            e.group.as_deref(),
            e.device.as_deref(),
            e.share,
            e.count,
            &groups,
            specs.len(),
            &find_group,
            &find_device,
        )?;
        timeline.push(Event {
            index: ei,
            at,
            action,
            plan,
            target,
        });
    }

    // Expectations.
    let last_event = timeline.iter().map(|e| e.at).max();
    let mut expectations = Vec::new();
    for (xi, x) in raw.expect.iter().enumerate() {
        let path = root.k("expect").i(xi);
        let at = match &x.at {
            Some(text) => Some(at_within(&path.k("at"), text)?),
            None => None,
        };
        let mut kinds = Vec::new();
        if let Some(text) = &x.power {
            let want = PowerWant::parse(text).ok_or_else(|| {
                problem(
                    &path.k("power"),
                    format!("unknown power state {text:?} (on, off, s0, s3, s4, s5, g3)"),
                )
            })?;
            kinds.push(Check::Power(want));
        }
        if let Some(b) = x.provisioned {
            kinds.push(Check::Provisioned(b));
        }
        if let Some(b) = x.responds {
            kinds.push(Check::Responds(b));
        }
        if let Some(b) = x.saw_power_on {
            kinds.push(Check::SawPowerOn(b));
        }
        if let Some(n) = x.hellos_delivered {
            kinds.push(Check::HellosDelivered(n));
        }
        let check = match kinds.len() {
            1 => kinds.remove(0),
            0 => {
                return Err(problem(
                    &path,
                    "an expectation needs one of power, provisioned, responds, saw-power-on, hellos_delivered",
                ));
            }
            _ => {
                return Err(problem(
                    &path,
                    "an expectation checks one thing: use one of power, provisioned, responds, saw-power-on, hellos_delivered per [[expect]]",
                ));
            }
        };
        let share = match x.share {
            None => 1.0,
            Some(s) => check_share(&path.k("share"), s, true)?,
        };
        let (devices, scope) = match (&x.group, &x.device) {
            (_, Some(host)) => {
                let group = match &x.group {
                    Some(g) => Some(find_group(&path.k("group"), g)?),
                    None => None,
                };
                let d = find_device(&path.k("device"), host, group)?;
                (vec![d], format!("device {host}"))
            }
            (Some(g), None) => {
                let g = find_group(&path.k("group"), g)?;
                (
                    groups[g].members.clone(),
                    format!("group {}", groups[g].name),
                )
            }
            (None, None) => ((0..specs.len()).collect(), "the fleet".to_string()),
        };
        expectations.push(Expectation {
            index: xi,
            name: x.name.clone(),
            at,
            devices,
            scope,
            share,
            check,
        });
    }
    // Expectations without a time are checked at the end: when the
    // scenario's duration has passed, else after everything else.
    let end = duration.unwrap_or_else(|| {
        last_event
            .into_iter()
            .chain(expectations.iter().filter_map(|x| x.at))
            .max()
            .unwrap_or(Duration::ZERO)
    });

    Ok(Scenario {
        file_name: file_name.to_string(),
        description: raw.description,
        seed,
        duration,
        end,
        specs,
        device_group,
        groups,
        timeline,
        expectations,
        hello_interval_scale,
        dns,
    })
}

/// A group's MEBx provisioning settings.
fn group_provisioning(
    path: &KeyPath,
    g: &RawGroup,
) -> Checked<amtemu_model::device::ProvisioningSettings> {
    use amtemu_model::device::{HashAlgorithm, ProvisioningSettings};
    let mut settings = ProvisioningSettings {
        mebx_domain: g.mebx_domain.clone().unwrap_or_default(),
        dhcp_domain: g.dhcp_domain.clone().unwrap_or_default(),
        pki_dns_suffix: g.pki_dns_suffix.clone().unwrap_or_default(),
        pid: g.pid.clone(),
        pps: g.pps.clone(),
        ..ProvisioningSettings::default()
    };
    if let Some(port) = g.provisioning_port {
        settings.server_port = port;
    }
    if let Some(text) = &g.provisioning_server {
        settings.server = Some(
            crate::address::socket_address(
                text,
                amtemu_model::device::provisioning::DEFAULT_HELLO_PORT,
            )
            .map_err(|m| problem(&path.k("provisioning_server"), m))?,
        );
    }
    if g.pid.is_some() != g.pps.is_some() {
        return Err(problem(
            &path.k(if g.pid.is_some() { "pid" } else { "pps" }),
            "pid and pps go together",
        ));
    }
    if g.pid.is_some() && settings.psk_pid().is_none() {
        return Err(problem(
            &path.k("pid"),
            "a PID is 8 characters (a dash in the middle allowed)",
        ));
    }
    for (i, text) in g.trusted_hashes.iter().flatten().enumerate() {
        let hash = amtemu_model::device::provisioning::decode_hex(text.trim());
        let algorithm = match hash.as_ref().map(Vec::len) {
            Some(20) => HashAlgorithm::Sha1,
            Some(32) => HashAlgorithm::Sha256,
            Some(48) => HashAlgorithm::Sha384,
            _ => {
                return Err(problem(
                    &path.k("trusted_hashes").i(i),
                    "a trusted hash is a SHA-1, SHA-256 or SHA-384 in hex (40, 64 or 96 digits)",
                ));
            }
        };
        settings.add_trusted_hash(
            &format!("scenario hash {}", i + 1),
            algorithm,
            hash.unwrap_or_default(),
        );
    }
    Ok(settings)
}

type FindGroup<'a> = dyn Fn(&KeyPath, &str) -> Checked<usize> + 'a;
type FindDevice<'a> = dyn Fn(&KeyPath, &str, Option<usize>) -> Checked<usize> + 'a;

/// The devices a timeline event is for.
#[allow(clippy::too_many_arguments)]
fn select(
    path: &KeyPath,
    seed: &str,
    what: &str,
    group: Option<&str>,
    device: Option<&str>,
    share: Option<f64>,
    count: Option<u32>,
    groups: &[Group],
    fleet_size: usize,
    find_group: &FindGroup,
    find_device: &FindDevice,
) -> Checked<Target> {
    let given = [device.is_some(), share.is_some(), count.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(problem(
            path,
            "choose the devices with one of device, share or count",
        ));
    }
    let group_index = match group {
        Some(g) => Some(find_group(&path.k("group"), g)?),
        None => None,
    };
    let pool: Vec<usize> = match group_index {
        Some(g) => groups[g].members.clone(),
        None => (0..fleet_size).collect(),
    };
    let scope = match group_index {
        Some(g) => format!("group {}", groups[g].name),
        None => "the fleet".to_string(),
    };
    if let Some(host) = device {
        let d = find_device(&path.k("device"), host, group_index)?;
        return Ok(Target {
            description: format!("device {host}"),
            devices: vec![d],
        });
    }
    if let Some(share) = share {
        let share = check_share(&path.k("share"), share, false)?;
        let n = share_count(share, pool.len());
        return Ok(Target {
            description: format!("{n} of {scope} ({}%)", share * 100.0),
            devices: seeded_pick(seed, what, &pool, n),
        });
    }
    if let Some(count) = count {
        let n = count as usize;
        if n == 0 || n > pool.len() {
            return Err(problem(
                &path.k("count"),
                format!("count must be 1 to {} (the size of {scope})", pool.len()),
            ));
        }
        return Ok(Target {
            description: format!("{n} of {scope}"),
            devices: seeded_pick(seed, what, &pool, n),
        });
    }
    Ok(Target {
        description: format!("all of {scope}"),
        devices: pool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_scripts_inline_or_from_a_file() {
        let text = "[[groups]]\nname = \"a\"\ncount = 2\nconsole = { user = \"ops\", password = \"pw\" }\n";
        let scenario = parse(text, "t.toml").unwrap();
        let specs = scenario.device_specs().unwrap();
        let first = specs[0].config.console.clone().unwrap();
        assert_eq!(
            (first.user.as_str(), first.password.as_str()),
            ("ops", "pw")
        );
        assert!(std::sync::Arc::ptr_eq(
            &first,
            specs[1].config.console.as_ref().unwrap()
        ));
        let dir = std::env::temp_dir().join(format!("amtemu-console-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("c.toml"), "prompt = \"$ \"\n").unwrap();
        let file = dir.join("s.toml");
        let text = "[[groups]]\nname = \"a\"\ncount = 1\nconsole = \"c.toml\"\n";
        let scenario = parse(text, &file.display().to_string()).unwrap();
        let specs = scenario.device_specs().unwrap();
        assert_eq!(specs[0].config.console.as_ref().unwrap().prompt, "$ ");
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\nconsole = \"missing.toml\"\n");
        assert_eq!(e.key.as_deref(), Some("groups[0].console"));
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\nconsole = { usr = \"x\" }\n");
        assert!(e.message.contains("usr"), "{}", e.message);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn err(text: &str) -> ScenarioError {
        match parse(text, "t.toml") {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "5", "s", "5x", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
    }

    #[test]
    fn line_columns() {
        assert_eq!(line_column("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_column("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_column("a\nbc\nd", 5), (3, 1));
    }

    #[test]
    fn addresses_skip_0_and_255() {
        let first = Ipv4Addr::new(127, 1, 0, 254);
        let (a, _) = crate::fleet::slot(
            first,
            None,
            Ports {
                http: 16992,
                https: 16993,
                ..Ports::default()
            },
            1,
        )
        .unwrap();
        assert_eq!(a.to_string(), "127.1.1.1");
        assert!(
            crate::fleet::slot(
                Ipv4Addr::new(127, 255, 255, 250),
                None,
                Ports {
                    http: 1,
                    https: 2,
                    ..Ports::default()
                },
                10
            )
            .is_err()
        );
        let (a, p) = crate::fleet::slot(
            Ipv4Addr::new(127, 0, 0, 1),
            Some(10),
            Ports {
                http: 20000,
                https: 20001,
                ..Ports::default()
            },
            3,
        )
        .unwrap();
        assert_eq!(
            (a.to_string(), p.http, p.https),
            ("127.0.0.1".into(), 20030, 20031)
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let e = err("[fleet]\nseed = \"x\"\nsed = 1\n\n[[groups]]\nname = \"a\"\ncount = 1\n");
        assert_eq!(e.line, Some(3));
        assert_eq!(e.column, Some(1));
        assert_eq!(e.key.as_deref(), Some("fleet.sed"));
        assert!(
            e.to_string()
                .starts_with("t.toml:3:1: fleet.sed: unknown field `sed`")
        );

        let e = err(
            "[[groups]]\nname = \"a\"\ncount = 1\n\n[[groups]]\nname = \"b\"\ncount = 2\nfoo = 3\n",
        );
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("groups[1].foo")));

        // Inside a fault plan, inline or as its own table.
        let e =
            err("[[groups]]\nname = \"a\"\ncount = 1\nfaults = { ofline = true, share = 0.5 }\n");
        assert_eq!(e.key.as_deref(), Some("groups[0].faults.ofline"), "{e}");
        assert_eq!((e.line, e.column), (Some(4), Some(12)));
        let e = err(
            "[[groups]]\nname = \"a\"\ncount = 1\n[groups.faults]\nshare = 0.5\nhang = true\nlatency = 3\n",
        );
        assert_eq!(e.key.as_deref(), Some("groups[0].faults.latency"), "{e}");
        assert_eq!(e.line, Some(7));
        let e = err(
            "[[groups]]\nname = \"a\"\ncount = 1\n[[timeline]]\nat = \"1s\"\naction = \"fault\"\nplan = { offline = 3 }\n",
        );
        assert_eq!(e.key.as_deref(), Some("timeline[0].plan.offline"), "{e}");
    }

    #[test]
    fn values_are_checked_where_they_are() {
        let e = err(
            "[[groups]]\nname = \"a\"\ncount = 1\n\n[[groups]]\nname = \"b\"\ncount = 1\nfirmware = [\"4.0\", \"2.5\"]\n",
        );
        assert_eq!(e.key.as_deref(), Some("groups[1].firmware[1]"));
        assert_eq!((e.line, e.column), (Some(8), Some(20)));
        assert!(
            e.message
                .contains("unknown firmware \"2.5\" (known: 3.2.1, 4.0")
        );

        let e = err("[fleet]\nfirst_address = \"10.0.0.1\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
        assert_eq!(e.key.as_deref(), Some("fleet.first_address"));
        assert_eq!((e.line, e.column), (Some(2), Some(17)));
        assert!(e.message.contains("outside 127.0.0.0/8"));

        let e = err("[fleet]\nduration = \"ten seconds\"\n[[groups]]\nname = \"a\"\ncount = 1\n");
        assert_eq!(e.key.as_deref(), Some("fleet.duration"));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("bad duration"));

        let e = err("[[groups]]\nname = \"a\"\ncount = \"x\"\n");
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("groups[0].count"), Some(3))
        );

        let e = err("[[groups]]\nname = \"a\"\n");
        assert_eq!((e.key.as_deref(), e.line), (Some("groups[0]"), Some(1)));
        assert!(e.message.contains("missing field `count`"));

        let e = err("[[groups]]\nname = \"a\"\ncount = 1\npower = \"s7\"\n");
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("groups[0].power"), Some(4))
        );

        // Syntax errors still have a line.
        let e = err("[[groups]]\nname = \"a\"\ncount = \n");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn timeline_and_expectations_are_checked() {
        let base = "[fleet]\nduration = \"10s\"\n[[groups]]\nname = \"a\"\ncount = 4\n";
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"11s\"\naction = \"reset\"\n"
        ));
        assert_eq!(e.key.as_deref(), Some("timeline[0].at"));
        assert!(e.message.contains("after the scenario ends"));
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"jump\"\n"
        ));
        assert!(e.message.contains("unknown action \"jump\""), "{e}");
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"start-hellos\"\n"
        ));
        assert!(e.message.contains("enter-setup-mode"), "{e}");
        assert_eq!(e.key.as_deref(), Some("timeline[0].action"));
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"reset\"\ngroup = \"b\"\n"
        ));
        assert_eq!(e.key.as_deref(), Some("timeline[0].group"));
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"reset\"\ncount = 5\n"
        ));
        assert_eq!(e.key.as_deref(), Some("timeline[0].count"));
        let e = err(&format!(
            "{base}[[timeline]]\nat = \"1s\"\naction = \"fault\"\n"
        ));
        assert!(e.message.contains("needs a plan"));
        let e = err(&format!(
            "{base}[[expect]]\npower = \"on\"\nresponds = true\n"
        ));
        assert_eq!(e.key.as_deref(), Some("expect[0]"));
        let e = err(&format!("{base}[[expect]]\npower = \"on\"\nshare = 1.5\n"));
        assert_eq!(e.key.as_deref(), Some("expect[0].share"));
        let e = err(&format!("{base}[[expect]]\nhellos = 3\n"));
        assert!(e.message.contains("hellos_delivered"), "{e}");
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\ntrusted_hashes = [\"abc\"]\n");
        assert_eq!(e.key.as_deref(), Some("groups[0].trusted_hashes[0]"));
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\nprovisioning_server = \"nowhere\"\n");
        assert_eq!(e.key.as_deref(), Some("groups[0].provisioning_server"));
        let e = err("[fleet]\nhello_interval_scale = 0.0\n[[groups]]\nname = \"a\"\ncount = 1\n");
        assert_eq!(e.key.as_deref(), Some("fleet.hello_interval_scale"));
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\npower_policy = \"sometimes\"\n");
        assert_eq!(e.key.as_deref(), Some("groups[0].power_policy"));
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn groups_and_names() {
        let e = err("[[groups]]\nname = \"a\"\ncount = 1\n[[groups]]\nname = \"a\"\ncount = 1\n");
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("groups[1].name"), Some(5))
        );
        let e = err(
            "[[groups]]\nname = \"a\"\ncount = 1\n[[groups]]\nname = \"b\"\nhost_prefix = \"a\"\ncount = 1\n",
        );
        assert_eq!(e.key.as_deref(), Some("groups[1].host_prefix"));
        let e = err("[fleet]\nport_step = 1\n[[groups]]\nname = \"a\"\ncount = 2\n");
        assert_eq!(e.key.as_deref(), Some("fleet.port_step"));
        let s = parse(
            "[fleet]\nseed = \"s\"\n[[groups]]\nname = \"a\"\ncount = 3\nfirmware = [\"4.0\", \"12.0\"]\n",
            "t.toml",
        )
        .unwrap();
        let specs = s.device_specs().unwrap();
        assert_eq!(specs[0].config.name, "s/a-00001");
        assert_eq!(specs[2].config.host_name, "a-00003");
        assert_eq!(specs[1].config.firmware.name, "12.0");
        assert_eq!(specs[2].config.firmware.name, "4.0");
        assert_eq!(specs[2].address.to_string(), "127.1.0.3");
    }

    #[test]
    fn seeded_selection_repeats_and_varies() {
        let pool: Vec<usize> = (0..100).collect();
        let a = seeded_pick("x", "timeline/0", &pool, 10);
        assert_eq!(a, seeded_pick("x", "timeline/0", &pool, 10));
        assert_ne!(a, seeded_pick("x", "timeline/1", &pool, 10));
        assert_ne!(a, seeded_pick("y", "timeline/0", &pool, 10));
        assert_eq!(a.len(), 10);
    }
}
