//! Strings a client can write, as types that cannot hold what firmware
//! refuses. Each rule lives here once; the device's areas keep their
//! settings in these types, so whatever is stored can be written back into
//! XML, and the classes only map a [`ValueRefusal`] to their fault.
//!
//! Limits are bytes of UTF-8, as the SDK's class reference counts them
//! (HostName: "maximum length is 63 bytes when encoded in UTF-8").

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueRefusal {
    #[error("longer than {max} bytes")]
    TooLong { max: usize },
    #[error("has a control character or one XML cannot carry")]
    NotPrintable,
    #[error("is not a DNS name (RFC 1123 labels of letters, digits and hyphens)")]
    NotDnsName,
}

/// Whether a stored string may hold `c`: nothing XML 1.0 cannot carry
/// (C0 controls, U+FFFE, U+FFFF) and no other control character either
/// (tab, line feeds, DEL, C1), which no AMT text property takes and which
/// would reach terminals and logs.
pub fn printable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// The check a [`Checked`] string passes. Every rule takes the empty
/// string: it is how an unset name reads.
pub trait Rule {
    /// What the value is, for logs.
    const WHAT: &'static str;
    fn check(s: &str) -> Result<(), ValueRefusal>;
}

/// A string that passed rule `R`. Built only by [`Checked::new`] (or
/// `parse`), and read back from storage only through the same check.
pub struct Checked<R> {
    value: String,
    rule: PhantomData<fn() -> R>,
}

impl<R: Rule> Checked<R> {
    pub fn new(value: impl Into<String>) -> Result<Self, ValueRefusal> {
        let value = value.into();
        R::check(&value)?;
        Ok(Checked {
            value,
            rule: PhantomData,
        })
    }

    /// `value` if it passes the rule; otherwise the empty value, with a
    /// warning. For values that come from configuration or from state an
    /// earlier version stored without this check: a name firmware would
    /// refuse is dropped rather than making every read of it unreadable.
    pub fn or_empty(value: String, source: &str) -> Self {
        Self::new(value.as_str()).unwrap_or_else(|refusal| {
            tracing::warn!(
                what = R::WHAT,
                value = ?value,
                %refusal,
                source,
                "a value firmware would refuse was replaced by the empty value"
            );
            Self::default()
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<R> Default for Checked<R> {
    fn default() -> Self {
        Checked {
            value: String::new(),
            rule: PhantomData,
        }
    }
}

// By hand rather than derived: a derive would ask the rule, a marker type,
// to be Clone and Eq too.
impl<R> Clone for Checked<R> {
    fn clone(&self) -> Self {
        Checked {
            value: self.value.clone(),
            rule: PhantomData,
        }
    }
}

impl<R> PartialEq for Checked<R> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<R> Eq for Checked<R> {}

impl<R> PartialEq<str> for Checked<R> {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl<R> PartialEq<&str> for Checked<R> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

impl<R> PartialEq<String> for Checked<R> {
    fn eq(&self, other: &String) -> bool {
        &self.value == other
    }
}

impl<R> fmt::Debug for Checked<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

impl<R> fmt::Display for Checked<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<R> Deref for Checked<R> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}

impl<R> AsRef<str> for Checked<R> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<R: Rule> FromStr for Checked<R> {
    type Err = ValueRefusal;
    fn from_str(s: &str) -> Result<Self, ValueRefusal> {
        Self::new(s)
    }
}

impl<R> Serialize for Checked<R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

/// Stored state is read through the rule too. A value that fails it was
/// written by a version that did not check; it is replaced by the empty
/// value with a warning, and the rest of the device's state is kept
/// (refusing the whole record would lose passwords and certificates over
/// one unreadable name).
impl<'de, R: Rule> Deserialize<'de> for Checked<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::or_empty(String::deserialize(d)?, "stored state"))
    }
}

/// AMT_GeneralSettings.HostName: one DNS label of at most 63 bytes.
pub type HostName = Checked<HostNameRule>;
/// AMT_GeneralSettings.DomainName: dotted DNS labels, at most 191 bytes.
pub type DomainName = Checked<DomainNameRule>;
/// A whole DNS name (AMT_GeneralSettings.HostOSFQDN): at most 255 bytes.
pub type Fqdn = Checked<FqdnRule>;
/// Free text of at most `MAX` bytes with no control characters.
pub type BoundedString<const MAX: usize> = Checked<Printable<MAX>>;

pub struct HostNameRule;
pub struct DomainNameRule;
pub struct FqdnRule;
pub struct Printable<const MAX: usize>;

/// What every firmware's host name is: at most 63 bytes of text, and one
/// name, so no dot and no white space. Before CSME 18 it must also be a
/// DNS label ([`HostName::is_dns_label`]); from 18 "the hostname can
/// contain Unicode characters" (class reference), which is the form the
/// stored value must allow.
impl Rule for HostNameRule {
    const WHAT: &'static str = "host name";
    fn check(s: &str) -> Result<(), ValueRefusal> {
        within(s, 63)?;
        if !s.chars().all(printable) {
            Err(ValueRefusal::NotPrintable)
        } else if s.contains(|c: char| c == '.' || c.is_whitespace()) {
            Err(ValueRefusal::NotDnsName)
        } else {
            Ok(())
        }
    }
}

impl Checked<HostNameRule> {
    /// Whether the name is empty or an RFC 1123 label (letters, digits
    /// and inner hyphens), all firmware before CSME 18 takes.
    pub fn is_dns_label(&self) -> bool {
        self.is_empty() || label(self)
    }
}

impl Rule for DomainNameRule {
    const WHAT: &'static str = "domain name";
    fn check(s: &str) -> Result<(), ValueRefusal> {
        dns_name(s, 191)
    }
}

impl Rule for FqdnRule {
    const WHAT: &'static str = "fully qualified domain name";
    fn check(s: &str) -> Result<(), ValueRefusal> {
        dns_name(s, 255)
    }
}

impl<const MAX: usize> Rule for Printable<MAX> {
    const WHAT: &'static str = "text";
    fn check(s: &str) -> Result<(), ValueRefusal> {
        within(s, MAX)?;
        if s.chars().all(printable) {
            Ok(())
        } else {
            Err(ValueRefusal::NotPrintable)
        }
    }
}

/// The check of [`BoundedString`], for values kept in plain strings
/// (write-only secrets the device never echoes, say) that must still meet it.
pub fn check_text(s: &str, max: usize) -> Result<(), ValueRefusal> {
    within(s, max)?;
    if s.chars().all(printable) {
        Ok(())
    } else {
        Err(ValueRefusal::NotPrintable)
    }
}

fn within(s: &str, max: usize) -> Result<(), ValueRefusal> {
    if s.len() > max {
        Err(ValueRefusal::TooLong { max })
    } else {
        Ok(())
    }
}

/// Empty, or labels joined by dots (no empty label, no trailing dot).
fn dns_name(s: &str, max: usize) -> Result<(), ValueRefusal> {
    within(s, max)?;
    if s.is_empty() || s.split('.').all(label) {
        Ok(())
    } else {
        Err(refusal_of(s))
    }
}

/// RFC 1123 label: 1 to 63 letters, digits and hyphens, neither first nor
/// last a hyphen.
fn label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The more telling refusal for a name that is not one.
fn refusal_of(s: &str) -> ValueRefusal {
    if s.chars().all(printable) {
        ValueRefusal::NotDnsName
    } else {
        ValueRefusal::NotPrintable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn host_names_are_one_name_and_before_csme_18_one_label() {
        for (ok, label) in [
            ("", true),
            ("pc-42", true),
            ("A", true),
            ("0abc", true),
            (&"h".repeat(63), true),
            ("-pc", false),
            ("pc-", false),
            ("pc_42", false),
            ("pé", false),
            ("<pc>", false),
        ] {
            let name: HostName = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(name.is_dns_label(), label, "{ok}");
        }
        for (bad, why) in [
            ("pc\u{1}42", ValueRefusal::NotPrintable),
            ("pc\u{1b}[2J", ValueRefusal::NotPrintable),
            ("pc\u{fffe}", ValueRefusal::NotPrintable),
            ("pc.example", ValueRefusal::NotDnsName),
            ("pc 42", ValueRefusal::NotDnsName),
            ("pc\u{a0}42", ValueRefusal::NotDnsName),
            (&"h".repeat(64), ValueRefusal::TooLong { max: 63 }),
            (&"é".repeat(32), ValueRefusal::TooLong { max: 63 }),
        ] {
            assert_eq!(bad.parse::<HostName>(), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn domain_names_are_dotted_labels_within_their_length() {
        for ok in [
            "",
            "vpro.test",
            "a.b-c.d0",
            &format!("{}.x", "d".repeat(63)),
        ] {
            assert!(ok.parse::<DomainName>().is_ok(), "{ok}");
        }
        for bad in ["a..b", ".a", "a.", "a.-b", "a\u{0}b", &"d.".repeat(96)] {
            assert!(bad.parse::<DomainName>().is_err(), "{bad:?}");
        }
        let long = ["d"; 96].join(".");
        assert_eq!(long.len(), 191);
        assert!(long.parse::<DomainName>().is_ok());
        assert!(format!("{long}.x").parse::<Fqdn>().is_ok());
        assert_eq!(
            format!("{long}.x").parse::<DomainName>(),
            Err(ValueRefusal::TooLong { max: 191 })
        );
    }

    #[test]
    fn bounded_strings_refuse_controls_and_length() {
        type Name = BoundedString<8>;
        assert!("héllo!".parse::<Name>().is_ok());
        assert_eq!(
            "123456789".parse::<Name>(),
            Err(ValueRefusal::TooLong { max: 8 })
        );
        for bad in ["a\tb", "a\nb", "a\u{7f}", "a\u{85}", "a\u{fffe}"] {
            assert_eq!(bad.parse::<Name>(), Err(ValueRefusal::NotPrintable));
        }
    }

    #[test]
    fn stored_values_that_fail_the_rule_read_back_empty() {
        let good: HostName = serde_json::from_str(r#""pc-42""#).unwrap();
        assert_eq!(good, "pc-42");
        let bad: HostName = serde_json::from_str(r#""pc\u0001""#).unwrap();
        assert_eq!(bad, "");
        assert_eq!(serde_json::to_string(&good).unwrap(), r#""pc-42""#);
    }

    proptest! {
        #[test]
        fn whatever_a_rule_accepts_is_printable_and_within_its_length(s in any::<String>()) {
            if let Ok(v) = s.parse::<HostName>() {
                prop_assert!(v.len() <= 63 && v.chars().all(printable));
            }
            if let Ok(v) = s.parse::<DomainName>() {
                prop_assert!(v.len() <= 191 && v.chars().all(printable));
            }
            if let Ok(v) = s.parse::<BoundedString<32>>() {
                prop_assert!(v.len() <= 32 && v.chars().all(printable));
                prop_assert_eq!(v.as_str(), s.as_str());
            }
        }
    }
}
