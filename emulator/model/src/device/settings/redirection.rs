//! Redirection enablement and user consent: the settings behind
//! AMT_RedirectionService, the KVM classes and IPS_OptInService, and the
//! rules for changing them. The sessions themselves live in the
//! redirection protocol.

use serde::{Deserialize, Serialize};

use crate::device::{ControlMode, Device};

/// OptInRequired meaning "consent for every redirection and boot option".
pub const CONSENT_ALL: u32 = 0xFFFF_FFFF;

/// Redirection enablement (AMT_RedirectionService, KVM, user consent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectionSettings {
    pub listener_enabled: bool,
    pub sol_enabled: bool,
    pub ider_enabled: bool,
    pub kvm_enabled: bool,
    pub kvm_port_5900_enabled: bool,
    pub kvm_opt_in_policy: bool,
    pub kvm_opt_in_policy_timeout: u32,
    pub kvm_session_timeout: u32,
    pub kvm_default_screen: u8,
    pub kvm_rfb_password_set: bool,
    /// IPS_OptInService.OptInRequired: 0 none, 1 KVM, 0xFFFFFFFF all.
    pub opt_in_required: u32,
    pub opt_in_state: u8,
    pub opt_in_code_timeout: u32,
    pub opt_in_display_timeout: u32,
}

impl Default for RedirectionSettings {
    fn default() -> Self {
        RedirectionSettings {
            listener_enabled: true,
            sol_enabled: true,
            ider_enabled: true,
            kvm_enabled: true,
            kvm_port_5900_enabled: false,
            kvm_opt_in_policy: true,
            kvm_opt_in_policy_timeout: 0,
            kvm_session_timeout: 0,
            kvm_default_screen: 0,
            kvm_rfb_password_set: false,
            // MEBx ships with "User Opt-in: KVM"; client control mode
            // raises it to all (see device/commit.rs).
            opt_in_required: 1,
            opt_in_state: 0,
            opt_in_code_timeout: 120,
            opt_in_display_timeout: 300,
        }
    }
}

impl RedirectionSettings {
    /// AMT_RedirectionService.EnabledState: 32768 + IDER bit 0 + SOL bit 1.
    pub fn enabled_state(&self) -> u16 {
        32768 + u16::from(self.ider_enabled) + 2 * u16::from(self.sol_enabled)
    }

    pub fn set_enabled_state(&mut self, value: i64) -> bool {
        if !(32768..=32771).contains(&value) {
            return false;
        }
        self.ider_enabled = value & 1 != 0;
        self.sol_enabled = value & 2 != 0;
        true
    }
}

/// Why a redirection or consent change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedirectionRefusal {
    /// EnabledState outside 32768..=32771.
    #[error("not a redirection enabled state")]
    InvalidEnabledState,
    /// OptInRequired other than none, KVM or all.
    #[error("not a consent policy")]
    InvalidOptInPolicy,
    /// Client control mode fixes the consent policy.
    #[error("the consent policy is fixed in client control mode")]
    OptInPolicyFixed,
    #[error("an RFB password needs 8 characters: upper, lower, digit and symbol")]
    WeakRfbPassword,
    /// StartOptIn while consent is under way, or SendOptInCode before the
    /// code is displayed.
    #[error("consent is not in a state that allows this")]
    InvalidOptInState,
    /// The code sent is not the one displayed; the attempt ends.
    #[error("wrong consent code")]
    WrongOptInCode,
}

/// What a Put of IPS_KVMRedirectionSettingData changes; None leaves a
/// setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvmSettingsChange {
    pub port_5900_enabled: Option<bool>,
    pub opt_in_policy: Option<bool>,
    pub opt_in_policy_timeout: Option<u32>,
    pub session_timeout: Option<u32>,
    pub default_screen: Option<u8>,
    /// A new RFB password (not kept, only noted as set).
    pub rfb_password: Option<String>,
}

/// User consent as IPS_OptInService reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The policy in force: client control mode forces consent for all.
    pub required: u32,
    /// Whether the policy may be changed (not in client control mode).
    pub policy_changeable: bool,
    /// 0 not started, 1 requested, 2 displayed, 3 received.
    pub state: u8,
    pub code_timeout: u32,
    pub display_timeout: u32,
}

/// An RFB password must be exactly 8 characters with upper and lower case,
/// a digit and a special character (VNC passwords are 8 bytes).
pub fn strong_rfb_password(p: &str) -> bool {
    p.chars().count() == 8
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_ascii_alphanumeric())
}

/// Opt-in states.
const OPT_IN_NOT_STARTED: u8 = 0;
const OPT_IN_DISPLAYED: u8 = 2;
const OPT_IN_RECEIVED: u8 = 3;

/// The redirection area's API on [`Device`]: each change is checked and
/// made under one hold of the device's lock.
impl Device {
    /// A copy of the redirection settings.
    pub fn redirection_settings(&self) -> RedirectionSettings {
        self.with_state(|s| s.nvram.redirection.clone())
    }

    /// AMT_RedirectionService.RequestStateChange: SOL and IDE-R on or off.
    pub fn set_redirection_state(&self, value: i64) -> Result<(), RedirectionRefusal> {
        self.set_redirection_service(None, Some(value))
    }

    /// A Put of AMT_RedirectionService: the listener and, as MeshCentral
    /// sends it, the enabled state. All or nothing.
    pub fn set_redirection_service(
        &self,
        listener_enabled: Option<bool>,
        enabled_state: Option<i64>,
    ) -> Result<(), RedirectionRefusal> {
        self.with_state(|s| {
            let mut r = s.nvram.redirection.clone();
            if let Some(on) = listener_enabled {
                r.listener_enabled = on;
            }
            if let Some(value) = enabled_state
                && !r.set_enabled_state(value)
            {
                return Err(RedirectionRefusal::InvalidEnabledState);
            }
            s.nvram.redirection = r;
            Ok(())
        })
    }

    pub fn set_kvm_enabled(&self, enabled: bool) {
        self.with_state(|s| s.nvram.redirection.kvm_enabled = enabled);
    }

    /// A Put of IPS_KVMRedirectionSettingData. All or nothing.
    pub fn update_kvm_settings(&self, change: KvmSettingsChange) -> Result<(), RedirectionRefusal> {
        if change
            .rfb_password
            .as_deref()
            .is_some_and(|p| !strong_rfb_password(p))
        {
            return Err(RedirectionRefusal::WeakRfbPassword);
        }
        self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            let KvmSettingsChange {
                port_5900_enabled,
                opt_in_policy,
                opt_in_policy_timeout,
                session_timeout,
                default_screen,
                rfb_password,
            } = change;
            r.kvm_port_5900_enabled = port_5900_enabled.unwrap_or(r.kvm_port_5900_enabled);
            r.kvm_opt_in_policy = opt_in_policy.unwrap_or(r.kvm_opt_in_policy);
            r.kvm_opt_in_policy_timeout =
                opt_in_policy_timeout.unwrap_or(r.kvm_opt_in_policy_timeout);
            r.kvm_session_timeout = session_timeout.unwrap_or(r.kvm_session_timeout);
            r.kvm_default_screen = default_screen.unwrap_or(r.kvm_default_screen);
            if rfb_password.is_some() {
                r.kvm_rfb_password_set = true;
            }
        });
        Ok(())
    }

    pub fn consent(&self) -> Consent {
        self.with_state(|s| {
            let r = &s.nvram.redirection;
            let ccm = s.nvram.setup.mode == ControlMode::Client;
            Consent {
                required: if ccm { CONSENT_ALL } else { r.opt_in_required },
                policy_changeable: !ccm,
                state: r.opt_in_state,
                code_timeout: r.opt_in_code_timeout,
                display_timeout: r.opt_in_display_timeout,
            }
        })
    }

    /// A Put of IPS_OptInService: the consent policy and how long the code
    /// is displayed. In client control mode the policy cannot change.
    pub fn set_opt_in_policy(
        &self,
        required: Option<u32>,
        display_timeout: Option<u32>,
    ) -> Result<(), RedirectionRefusal> {
        self.with_state(|s| {
            let current = s.nvram.redirection.opt_in_required;
            let required = required.unwrap_or(current);
            if !matches!(required, 0 | 1 | CONSENT_ALL) {
                return Err(RedirectionRefusal::InvalidOptInPolicy);
            }
            if s.nvram.setup.mode == ControlMode::Client && required != current {
                return Err(RedirectionRefusal::OptInPolicyFixed);
            }
            let r = &mut s.nvram.redirection;
            r.opt_in_required = required;
            r.opt_in_display_timeout = display_timeout.unwrap_or(r.opt_in_display_timeout);
            Ok(())
        })
    }

    /// Starts consent: the code is shown on the host's screen at once.
    pub fn start_opt_in(&self) -> Result<(), RedirectionRefusal> {
        self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            if r.opt_in_state != OPT_IN_NOT_STARTED {
                return Err(RedirectionRefusal::InvalidOptInState);
            }
            r.opt_in_state = OPT_IN_DISPLAYED;
            Ok(())
        })
    }

    pub fn cancel_opt_in(&self) {
        self.with_state(|s| s.nvram.redirection.opt_in_state = OPT_IN_NOT_STARTED);
    }

    /// The code shown on the emulated screen: the first four bytes of the
    /// device's UUID as a number, six digits, so a test can compute it.
    pub fn opt_in_code(&self) -> u32 {
        let u = self.identity.uuid;
        u32::from_le_bytes([u[0], u[1], u[2], u[3]]) % 1_000_000
    }

    /// The user tells the console the code displayed. A wrong code ends
    /// the attempt (the refusal does change the state).
    pub fn send_opt_in_code(&self, code: Option<i64>) -> Result<(), RedirectionRefusal> {
        let expected = i64::from(self.opt_in_code());
        self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            if r.opt_in_state != OPT_IN_DISPLAYED {
                return Err(RedirectionRefusal::InvalidOptInState);
            }
            if code == Some(expected) {
                r.opt_in_state = OPT_IN_RECEIVED;
                Ok(())
            } else {
                r.opt_in_state = OPT_IN_NOT_STARTED;
                Err(RedirectionRefusal::WrongOptInCode)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn weak_rfb_passwords_are_refused() {
        assert!(strong_rfb_password("P@ssw0rd"));
        assert!(!strong_rfb_password("password"));
        assert!(!strong_rfb_password("P@ssw0rd1"));
        let d = device("11.8");
        let weak = KvmSettingsChange {
            session_timeout: Some(9),
            rfb_password: Some("password".into()),
            ..KvmSettingsChange::default()
        };
        assert_eq!(
            d.update_kvm_settings(weak),
            Err(RedirectionRefusal::WeakRfbPassword)
        );
        assert_eq!(d.redirection_settings().kvm_session_timeout, 0, "nothing");
    }

    #[test]
    fn enabled_state_changes_are_all_or_nothing() {
        let d = device("11.8");
        assert_eq!(
            d.set_redirection_service(Some(false), Some(7)),
            Err(RedirectionRefusal::InvalidEnabledState)
        );
        assert!(d.redirection_settings().listener_enabled, "nothing changed");
        d.set_redirection_service(Some(false), Some(32769)).unwrap();
        let r = d.redirection_settings();
        assert!(!r.listener_enabled && r.ider_enabled && !r.sol_enabled);
    }

    #[test]
    fn consent_policy_rules() {
        let d = device("11.8");
        assert_eq!(
            d.set_opt_in_policy(Some(2), None),
            Err(RedirectionRefusal::InvalidOptInPolicy)
        );
        d.set_opt_in_policy(Some(0), Some(60)).unwrap();
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        let c = d.consent();
        assert_eq!((c.required, c.policy_changeable), (CONSENT_ALL, false));
        assert_eq!(c.display_timeout, 60);
        assert_eq!(
            d.set_opt_in_policy(Some(1), None),
            Err(RedirectionRefusal::OptInPolicyFixed)
        );
        d.set_opt_in_policy(None, Some(30)).unwrap();
        assert_eq!(d.consent().display_timeout, 30);
        assert_eq!(d.start_opt_in(), Ok(()));
        assert_eq!(d.start_opt_in(), Err(RedirectionRefusal::InvalidOptInState));
        d.cancel_opt_in();
        assert_eq!(d.consent().state, 0);
    }
}
