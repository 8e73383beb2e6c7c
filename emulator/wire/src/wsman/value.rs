//! The data model of WS-Man payloads: instances made of named properties.
//!
//! Classes build [`Instance`]s from device state; the writer turns them into
//! AMT's XML; the request parser turns Put, Create and method bodies back into
//! instances. Properties are kept sorted by name because AMT writes them in
//! that order.

use std::collections::BTreeMap;

/// One property value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Bool(bool),
    Int(i64),
    /// A CIM datetime, written nested in the common namespace.
    Datetime(String),
    /// A CIM interval, written nested in the common namespace.
    Interval(String),
    /// A reference to another instance.
    Ref(Epr),
    /// An embedded instance (method arguments such as an alarm template).
    Object(Instance),
    /// Repeated elements of one name.
    Array(Vec<Value>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// The scalar text of a value, as a selector or a number would be read.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Datetime(s) | Value::Interval(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Text(s) | Value::Datetime(s) | Value::Interval(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// Reads an integer the way a request carries it: plain decimal text.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Reads a boolean from `true`/`false` (and `1`/`0`, which some clients send).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Text(s) => match s.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_ref(&self) -> Option<&Epr> {
        match self {
            Value::Ref(epr) => Some(epr),
            _ => None,
        }
    }

    /// The elements of an array, or the value itself as a one-element list.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self {
                Value::Int(i as i64)
            }
        }
    )*};
}
int_value!(u8, u16, u32, i32, i64, u64, usize);
impl From<Epr> for Value {
    fn from(e: Epr) -> Self {
        Value::Ref(e)
    }
}

/// A selector value: text, or a nested reference (association keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorValue {
    Text(String),
    Ref(Box<Epr>),
}

/// An endpoint reference: a resource URI and its selectors. The Address is
/// always the anonymous role on AMT and is ignored on input.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Epr {
    pub resource_uri: String,
    pub selectors: Vec<(String, SelectorValue)>,
}

impl Epr {
    pub fn new(resource_uri: impl Into<String>) -> Epr {
        Epr {
            resource_uri: resource_uri.into(),
            selectors: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Epr {
        self.selectors
            .push((name.to_string(), SelectorValue::Text(value.into())));
        self
    }

    pub fn with_ref(mut self, name: &str, value: Epr) -> Epr {
        self.selectors
            .push((name.to_string(), SelectorValue::Ref(Box::new(value))));
        self
    }

    pub fn selector(&self, name: &str) -> Option<&SelectorValue> {
        self.selectors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn selector_text(&self, name: &str) -> Option<&str> {
        match self.selector(name)? {
            SelectorValue::Text(t) => Some(t),
            SelectorValue::Ref(_) => None,
        }
    }

    /// Whether every selector `other` names is present here with an equal
    /// value (order does not matter; nested references compare the same way).
    pub fn matches(&self, other: &Epr) -> bool {
        other.selectors.iter().all(|(name, want)| {
            self.selector(name).is_some_and(|have| match (have, want) {
                (SelectorValue::Text(a), SelectorValue::Text(b)) => a == b,
                (SelectorValue::Ref(a), SelectorValue::Ref(b)) => a.matches(b),
                _ => false,
            })
        })
    }
}

/// One instance of a class: its class name and its properties by name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Instance {
    pub class: String,
    pub props: BTreeMap<String, Value>,
}

/// Where a class's scalar properties go, one call each: into an
/// [`Instance`], or straight into the response being written
/// ([`crate::wsman::writer::single_instance_response`]), so a class that
/// gives its properties this way has one description for both.
/// Properties must come in name order (the order AMT writes them in and
/// an instance keeps them in).
pub trait PropertySink {
    fn text(&mut self, name: &'static str, value: &str);
    fn int(&mut self, name: &'static str, value: i64);
    fn boolean(&mut self, name: &'static str, value: bool);
}

impl PropertySink for Instance {
    fn text(&mut self, name: &'static str, value: &str) {
        self.set(name, value);
    }

    fn int(&mut self, name: &'static str, value: i64) {
        self.set(name, value);
    }

    fn boolean(&mut self, name: &'static str, value: bool) {
        self.set(name, value);
    }
}

impl Instance {
    pub fn new(class: impl Into<String>) -> Instance {
        Instance {
            class: class.into(),
            props: BTreeMap::new(),
        }
    }

    /// Adds a property (builder style).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Instance {
        self.set(name, value);
        self
    }

    /// Adds a property only when there is a value: AMT leaves out properties
    /// that have none.
    pub fn with_opt<V: Into<Value>>(mut self, name: &str, value: Option<V>) -> Instance {
        if let Some(v) = value {
            self.set(name, v);
        }
        self
    }

    pub fn with_array<V: Into<Value>>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Instance {
        self.props.insert(
            name.to_string(),
            Value::Array(values.into_iter().map(Into::into).collect()),
        );
        self
    }

    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.props.insert(name.to_string(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props.get(name)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_text)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_int)
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// The text of a key property, for selector matching.
    pub fn key_text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::to_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epr_matching_ignores_order_and_extra_selectors() {
        let full = Epr::new("u")
            .with("CreationClassName", "CIM_ComputerSystem")
            .with("Name", "ManagedSystem");
        let partial = Epr::new("u").with("Name", "ManagedSystem");
        assert!(full.matches(&partial));
        assert!(!partial.matches(&full));
        assert!(!full.matches(&Epr::new("u").with("Name", "Other")));
    }

    #[test]
    fn request_text_reads_as_numbers_and_booleans() {
        assert_eq!(Value::text(" 8 ").as_int(), Some(8));
        assert_eq!(Value::text("true").as_bool(), Some(true));
        assert_eq!(Value::text("x").as_int(), None);
    }
}
