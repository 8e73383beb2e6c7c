//! IPS_ScreenConfigurationService (10.0+): screen blanking. A thin adapter
//! over `device::screen_blanking`, which owns the rules.
//!
//! Properties follow Intel's class reference (Version=10.0.0: the four
//! service keys, ElementName, CurrentState, EnabledState,
//! RemainingConsecutiveRebootsNum). EnabledState here is the class's own
//! 0 (disabled) / 1 (enabled), not CIM's 2/3: MeshCommander reads it with
//! `EnabledState & 1` and Puts the 0/1 of its "Screen Blanking" choice.
//! Inferred, not captured: the Name, CurrentState 1 for an open session,
//! and the SetSessionState codes (PT_STATUS, as AMT's own methods).

use super::{CLASS, Class, SERVICE_KEYS, method, optional, output, service};
use amtemu_model::device::screen_blanking::BlankingRefusal;
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const CLASS_NAME: &str = "IPS_ScreenConfigurationService";
const NAME: &str = "Intel(r) AMT Screen Configuration Service";

pub static CLASSES: &[Class] = &[Class {
    name: CLASS_NAME,
    requires: Some(Feature::ScreenConfiguration),
    keys: SERVICE_KEYS,
    instances: screen_configuration,
    put: Some(put),
    methods: &[method("SetSessionState", set_session_state)],
    // Read as the other screen class (IPS_ScreenSettingData); changing
    // it stays with administrators (inferred: blanking hides the host's
    // screen from its user, and no source names a realm).
    read: super::Access::REDIRECTION,
    ..CLASS
}];

fn screen_configuration(device: &Device) -> Vec<Instance> {
    let b = device.screen_blanking();
    vec![
        service(CLASS_NAME, NAME)
            .with("ElementName", NAME)
            .with("CurrentState", i64::from(b.session.is_some()))
            .with("EnabledState", i64::from(b.enabled))
            .with("RemainingConsecutiveRebootsNum", b.session.unwrap_or(0)),
    ]
}

/// A Put changes EnabledState only; the session's properties are the
/// firmware's to keep. A value other than 0 or 1 is a bad parameter.
fn put(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let Some(state) = optional(input, "EnabledState", |v| v.as_int())? else {
        return Ok(());
    };
    let enabled = match state {
        0 => false,
        1 => true,
        other => {
            tracing::info!(device = %device.name, state = other, "{CLASS_NAME}: refused EnabledState");
            return Err(Fault::InternalError(PtStatus::InvalidParameter.into()));
        }
    };
    device
        .set_screen_blanking_enabled(enabled)
        .map_err(|_| Fault::InternalError(PtStatus::NotPermitted.into()))
}

/// SessionState 1 opens a session lasting ConsecutiveRebootsNum host
/// boots (uint16), 0 closes it. Opening while blanking is disabled is
/// refused with PT_STATUS_NOT_PERMITTED; a value out of range or not a
/// number with PT_STATUS_INVALID_PARAMETER; nothing changes then.
fn set_session_state(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "SetSessionState";
    let open = match input.int("SessionState") {
        Some(0) => false,
        Some(1) => true,
        other => {
            tracing::info!(device = %device.name, state = ?other, "{CLASS_NAME}: refused session state");
            return Ok(output(M, PtStatus::InvalidParameter.into()));
        }
    };
    let reboots = match input.get("ConsecutiveRebootsNum") {
        None => 0,
        Some(v) => match v.as_int().and_then(|n| u16::try_from(n).ok()) {
            Some(n) => n,
            None => return Ok(output(M, PtStatus::InvalidParameter.into())),
        },
    };
    Ok(match device.set_blanking_session(open, reboots) {
        Ok(()) => output(M, PtStatus::Success.into()),
        Err(BlankingRefusal::NotEnabled | BlankingRefusal::NotSupported) => {
            output(M, PtStatus::NotPermitted.into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    fn session(d: &Device, state: &str, reboots: Option<&str>) -> i64 {
        let mut input = Instance::new("SetSessionState_INPUT").with("SessionState", state);
        if let Some(r) = reboots {
            input = input.with("ConsecutiveRebootsNum", r);
        }
        set_session_state(d, &Instance::default(), &input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    fn put_state(d: &Device, value: &str) -> Result<(), Fault> {
        let input = Instance::new(CLASS_NAME).with("EnabledState", value);
        put(d, &screen_configuration(d)[0], &input)
    }

    #[test]
    fn put_enables_blanking_and_a_session_shows_in_the_instance() {
        let d = device("11.8");
        assert_eq!(screen_configuration(&d)[0].int("EnabledState"), Some(0));
        // Not enabled yet: the session is refused and nothing opens.
        assert_eq!(session(&d, "1", Some("3")), 16);
        assert_eq!(screen_configuration(&d)[0].int("CurrentState"), Some(0));
        put_state(&d, "1").unwrap();
        assert_eq!(session(&d, "1", Some("3")), 0);
        let i = &screen_configuration(&d)[0];
        assert_eq!(i.int("EnabledState"), Some(1));
        assert_eq!(i.int("CurrentState"), Some(1));
        assert_eq!(i.int("RemainingConsecutiveRebootsNum"), Some(3));
        assert_eq!(session(&d, "0", None), 0);
        assert_eq!(screen_configuration(&d)[0].int("CurrentState"), Some(0));
    }

    #[test]
    fn bad_values_change_nothing() {
        let d = device("15.0");
        for bad in ["2", "-1", "on", ""] {
            assert!(put_state(&d, bad).is_err(), "{bad}");
            assert!(!d.screen_blanking().enabled);
        }
        put_state(&d, "1").unwrap();
        for (state, reboots) in [
            ("2", Some("1")),
            ("x", None),
            ("1", Some("65536")),
            ("1", Some("-1")),
        ] {
            assert_eq!(session(&d, state, reboots), 36, "{state} {reboots:?}");
            assert_eq!(d.screen_blanking().session, None);
        }
    }
}
