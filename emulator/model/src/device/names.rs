//! The names people type for the model's states (`s0`, `post`, `acm`,
//! `s0-s3`): defined once here and used by the command line, scenario
//! files, the control API and metrics. State files keep their own serde
//! spelling, which older files were written with.

use std::fmt;
use std::marker::PhantomData;

use super::firmware::TimingMode;
use super::{ControlMode, HostPower, MePowerPolicy, ProvisioningState};

/// A state with one user-facing name per value.
pub trait Named: Copy + 'static {
    /// Every value, in the order help texts list them.
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    fn from_name(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == text)
    }

    /// The names, for messages that list what is accepted.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.name()).collect()
    }
}

impl Named for HostPower {
    const ALL: &'static [Self] = &[
        HostPower::S0,
        HostPower::S3,
        HostPower::S4,
        HostPower::S5,
        HostPower::Off,
    ];

    fn name(self) -> &'static str {
        match self {
            HostPower::S0 => "s0",
            HostPower::S3 => "s3",
            HostPower::S4 => "s4",
            HostPower::S5 => "s5",
            HostPower::Off => "off",
        }
    }
}

impl Named for MePowerPolicy {
    const ALL: &'static [Self] = &[
        MePowerPolicy::S0Only,
        MePowerPolicy::S0AndSleep,
        MePowerPolicy::AlwaysOn,
    ];

    fn name(self) -> &'static str {
        match self {
            MePowerPolicy::S0Only => "s0-only",
            MePowerPolicy::S0AndSleep => "s0-s3",
            MePowerPolicy::AlwaysOn => "always-on",
        }
    }
}

impl Named for ProvisioningState {
    const ALL: &'static [Self] = &[
        ProvisioningState::Pre,
        ProvisioningState::In,
        ProvisioningState::Post,
    ];

    fn name(self) -> &'static str {
        match self {
            ProvisioningState::Pre => "pre",
            ProvisioningState::In => "in",
            ProvisioningState::Post => "post",
        }
    }
}

impl Named for ControlMode {
    const ALL: &'static [Self] = &[ControlMode::Admin, ControlMode::Client];

    /// The names MEBx and Intel's tools use; state files and the control
    /// API's JSON say `admin` / `client` (serde).
    fn name(self) -> &'static str {
        match self {
            ControlMode::Admin => "acm",
            ControlMode::Client => "ccm",
        }
    }
}

impl Named for TimingMode {
    const ALL: &'static [Self] = &[TimingMode::Fast, TimingMode::Firmware];

    fn name(self) -> &'static str {
        match self {
            TimingMode::Fast => "fast",
            TimingMode::Firmware => "firmware",
        }
    }
}

/// Deserializes a [`Named`] value from its name, listing the accepted
/// names when it is not one (for scenario files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByName<T>(pub T);

impl<'de, T: Named> serde::Deserialize<'de> for ByName<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<T: Named> serde::de::Visitor<'_> for Visit<T> {
            type Value = ByName<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "one of {}", T::names().join(", "))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByName<T>, E> {
                T::from_name(text).map(ByName).ok_or_else(|| {
                    let names: Vec<String> = T::names().iter().map(|n| format!("`{n}`")).collect();
                    E::custom(format!(
                        "unknown variant `{text}`, expected one of {}",
                        names.join(", ")
                    ))
                })
            }
        }
        d.deserialize_str(Visit(PhantomData))
    }
}

/// The command line parses these by name too (`--power s5`).
#[cfg(feature = "clap")]
macro_rules! value_enum {
    ($($t:ty),*) => {$(
        impl clap::ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                <$t as Named>::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(Named::name(*self)))
            }
        }
    )*};
}

#[cfg(feature = "clap")]
value_enum!(
    HostPower,
    MePowerPolicy,
    ProvisioningState,
    ControlMode,
    TimingMode
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for p in HostPower::ALL {
            assert_eq!(HostPower::from_name(p.name()), Some(*p));
        }
        assert_eq!(
            MePowerPolicy::from_name("s0-s3"),
            Some(MePowerPolicy::S0AndSleep)
        );
        assert_eq!(ControlMode::from_name("ccm"), Some(ControlMode::Client));
        assert_eq!(
            TimingMode::from_name("firmware"),
            Some(TimingMode::Firmware)
        );
        assert_eq!(TimingMode::default().name(), "fast");
        let err = serde_json::from_str::<ByName<ProvisioningState>>("\"later\"").unwrap_err();
        assert!(err.to_string().contains("`pre`, `in`, `post`"), "{err}");
        let ok: ByName<ProvisioningState> = serde_json::from_str("\"in\"").unwrap();
        assert_eq!(ok.0, ProvisioningState::In);
    }
}
