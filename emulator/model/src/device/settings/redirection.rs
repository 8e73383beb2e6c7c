//! Redirection enablement and user consent: the settings behind
//! AMT_RedirectionService, the KVM classes and IPS_OptInService, and the
//! rules for changing them. The sessions themselves live in the
//! redirection protocol.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::device::{ControlMode, Device, Feature};

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
    /// The RFB password port 5900's VNC authentication checks (write-only
    /// over WS-Man); absent in state files written before port 5900.
    #[serde(default)]
    pub kvm_rfb_password: Option<String>,
    /// IPS_OptInService.OptInRequired: 0 none, 1 KVM, 0xFFFFFFFF all.
    pub opt_in_required: u32,
    pub opt_in_state: u8,
    pub opt_in_code_timeout: u32,
    pub opt_in_display_timeout: u32,
    /// When the consent code went on the screen. Not saved: a restarted
    /// device shows no code, so a displayed state it restores has expired.
    #[serde(skip)]
    pub opt_in_shown_at: Option<Instant>,
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
            kvm_rfb_password: None,
            // MEBx ships with "User Opt-in: KVM"; client control mode
            // raises it to all (see device/commit.rs).
            opt_in_required: 1,
            opt_in_state: 0,
            opt_in_code_timeout: 120,
            opt_in_display_timeout: 300,
            opt_in_shown_at: None,
        }
    }
}

impl RedirectionSettings {
    /// A displayed code lasts `OptInCodeTimeout` seconds (0: for ever);
    /// after that consent must be started anew, as on firmware.
    fn expire_opt_in(&mut self, now: Instant) {
        let expired = self.opt_in_shown_at.is_none_or(|at| {
            self.opt_in_code_timeout != 0
                && now >= at + Duration::from_secs(self.opt_in_code_timeout.into())
        });
        if self.opt_in_state == OPT_IN_DISPLAYED && expired {
            self.opt_in_state = OPT_IN_NOT_STARTED;
            self.opt_in_shown_at = None;
        }
    }

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
    /// Port 5900 on firmware without it (CSME 16 removed it).
    #[error("the specified feature is not supported")]
    Port5900Unsupported,
    /// `Is5900PortEnabled` without an RFB password set now or before.
    #[error("port 5900 needs an RFB password")]
    Port5900NeedsPassword,
}

/// Why a KVM session may not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvmRefusal {
    /// The firmware has no KVM, or no port 5900.
    #[error("KVM (on this port) is not supported by this firmware")]
    Unsupported,
    /// CIM_KVMRedirectionSAP is disabled.
    #[error("KVM is disabled")]
    Disabled,
    /// Port 5900 is switched off (`Is5900PortEnabled`) or has no password.
    #[error("port 5900 is not enabled")]
    Port5900Off,
    /// The consent policy asks for consent that was not given.
    #[error("user consent not given")]
    NoConsent,
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
    /// A new RFB password (kept for port 5900's VNC authentication).
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

/// The settings-changed event of consent state changes.
const OPT_IN_CHANGED: &str = "IPS_OptInService";

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
        if change.port_5900_enabled == Some(true) && !self.firmware.has(Feature::KvmPort5900) {
            return Err(RedirectionRefusal::Port5900Unsupported);
        }
        self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            if change.port_5900_enabled == Some(true)
                && change.rfb_password.is_none()
                && r.kvm_rfb_password.is_none()
            {
                return Err(RedirectionRefusal::Port5900NeedsPassword);
            }
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
                r.kvm_rfb_password = rfb_password;
            }
            Ok(())
        })
    }

    pub fn consent(&self) -> Consent {
        self.with_state(|s| {
            s.nvram.redirection.expire_opt_in(Instant::now());
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
            let now = Instant::now();
            r.expire_opt_in(now);
            if r.opt_in_state != OPT_IN_NOT_STARTED {
                return Err(RedirectionRefusal::InvalidOptInState);
            }
            r.opt_in_state = OPT_IN_DISPLAYED;
            r.opt_in_shown_at = Some(now);
            Ok(())
        })?;
        // A screen being watched draws the code now.
        self.changed(OPT_IN_CHANGED);
        Ok(())
    }

    pub fn cancel_opt_in(&self) {
        self.with_state(|s| s.nvram.redirection.opt_in_state = OPT_IN_NOT_STARTED);
        self.changed(OPT_IN_CHANGED);
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
        let result = self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            r.expire_opt_in(Instant::now());
            r.opt_in_shown_at = None;
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
        });
        if result != Err(RedirectionRefusal::InvalidOptInState) {
            // The code leaves the screen either way.
            self.changed(OPT_IN_CHANGED);
        }
        result
    }

    /// Whether the consent code is on the host's screen now, and which.
    pub fn opt_in_code_displayed(&self) -> Option<u32> {
        let shown = self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            r.expire_opt_in(Instant::now());
            r.opt_in_state == OPT_IN_DISPLAYED
        });
        shown.then(|| self.opt_in_code())
    }

    /// Whether a KVM session may start now, over the redirection port or,
    /// with `port_5900`, as VNC; for 5900 the RFB password its
    /// authentication checks.
    pub fn kvm_access(&self, port_5900: bool) -> Result<Option<String>, KvmRefusal> {
        let feature = if port_5900 {
            Feature::KvmPort5900
        } else {
            Feature::Kvm
        };
        if !self.firmware.has(feature) {
            return Err(KvmRefusal::Unsupported);
        }
        let r = self.redirection_settings();
        if !r.kvm_enabled {
            return Err(KvmRefusal::Disabled);
        }
        let password = match (port_5900, r.kvm_rfb_password) {
            (false, _) => None,
            (true, Some(p)) if r.kvm_port_5900_enabled => Some(p),
            (true, _) => return Err(KvmRefusal::Port5900Off),
        };
        if !self.redirection_consented(true) {
            return Err(KvmRefusal::NoConsent);
        }
        Ok(password)
    }

    /// Whether the consent policy lets a redirection session start now:
    /// KVM needs consent under policy "KVM" or "all", SOL and IDE-R only
    /// under "all"; client control mode asks for it for everything;
    /// firmware before user consent (6.2) never asks.
    pub fn redirection_consented(&self, kvm: bool) -> bool {
        if !self.firmware.has(Feature::UserConsent) {
            return true;
        }
        self.with_state(|s| {
            let r = &s.nvram.redirection;
            let required = s.nvram.setup.mode == ControlMode::Client
                || r.opt_in_required == CONSENT_ALL
                || (kvm && r.opt_in_required != 0);
            !required || r.opt_in_state >= OPT_IN_RECEIVED
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
    fn port_5900_needs_the_feature_a_password_and_the_switch() {
        let on = |password: Option<&str>| KvmSettingsChange {
            port_5900_enabled: Some(true),
            rfb_password: password.map(str::to_string),
            ..KvmSettingsChange::default()
        };
        let new = device("16.1");
        new.set_opt_in_policy(Some(0), None).unwrap();
        assert_eq!(
            new.update_kvm_settings(on(Some("P@ssw0rd"))),
            Err(RedirectionRefusal::Port5900Unsupported)
        );
        assert_eq!(new.kvm_access(true), Err(KvmRefusal::Unsupported));
        assert_eq!(new.kvm_access(false), Ok(None), "KVMR stays");
        let d = device("11.8");
        d.set_opt_in_policy(Some(0), None).unwrap();
        assert_eq!(d.kvm_access(true), Err(KvmRefusal::Port5900Off));
        assert_eq!(
            d.update_kvm_settings(on(None)),
            Err(RedirectionRefusal::Port5900NeedsPassword)
        );
        d.update_kvm_settings(on(Some("P@ssw0rd"))).unwrap();
        assert_eq!(d.kvm_access(true), Ok(Some("P@ssw0rd".into())));
        d.update_kvm_settings(on(None)).unwrap();
        d.set_kvm_enabled(false);
        assert_eq!(d.kvm_access(true), Err(KvmRefusal::Disabled));
    }

    #[test]
    fn kvm_consent_follows_the_policy_and_the_code() {
        let d = device("11.8");
        // MEBx default: consent for KVM only.
        assert_eq!(d.kvm_access(false), Err(KvmRefusal::NoConsent));
        assert!(d.redirection_consented(false), "SOL needs none");
        assert_eq!(d.opt_in_code_displayed(), None);
        d.start_opt_in().unwrap();
        assert_eq!(d.opt_in_code_displayed(), Some(d.opt_in_code()));
        d.send_opt_in_code(Some(d.opt_in_code().into())).unwrap();
        assert_eq!(d.opt_in_code_displayed(), None);
        assert_eq!(d.kvm_access(false), Ok(None));
        d.cancel_opt_in();
        d.set_opt_in_policy(Some(0), None).unwrap();
        assert_eq!(d.kvm_access(false), Ok(None), "no consent asked");
        d.set_opt_in_policy(Some(CONSENT_ALL), None).unwrap();
        assert!(!d.redirection_consented(false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_displayed_code_expires_after_the_code_timeout() {
        let d = device("11.8");
        d.start_opt_in().unwrap();
        let timeout = Duration::from_secs(d.consent().code_timeout.into());
        tokio::time::advance(timeout - Duration::from_secs(1)).await;
        assert_eq!(d.opt_in_code_displayed(), Some(d.opt_in_code()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(d.opt_in_code_displayed(), None);
        assert_eq!(d.consent().state, OPT_IN_NOT_STARTED);
        assert_eq!(
            d.send_opt_in_code(Some(d.opt_in_code().into())),
            Err(RedirectionRefusal::InvalidOptInState),
            "too late"
        );
        // Started anew, it counts from then.
        d.start_opt_in().unwrap();
        d.send_opt_in_code(Some(d.opt_in_code().into())).unwrap();
        assert!(d.redirection_consented(true));
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
