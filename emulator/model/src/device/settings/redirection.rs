//! Redirection enablement and user consent: the settings behind
//! AMT_RedirectionService, the KVM classes and IPS_OptInService, and the
//! rules for changing them. The sessions themselves live in the
//! redirection protocol.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::consent::RedirectionKind;
use crate::device::{Device, Feature};

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
    /// Since when a received consent has had no session to serve (see
    /// `consent.rs`). Not saved, like the code: a restored consent has
    /// expired.
    #[serde(skip)]
    pub opt_in_idle_since: Option<Instant>,
    /// Redirection sessions open now, and how many of them needed consent
    /// (not saved: a restarted device has none).
    #[serde(skip)]
    pub open_sessions: OpenSessions,
}

/// The redirection sessions a device has open now, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenSessions {
    pub sol: u32,
    pub ider: u32,
    pub kvm: u32,
    /// Those among them that consent let in: while any is open the
    /// consent is "in session" and does not expire.
    pub consented: u32,
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
            opt_in_idle_since: None,
            open_sessions: OpenSessions::default(),
        }
    }
}

impl OpenSessions {
    pub fn of(&mut self, kind: RedirectionKind) -> &mut u32 {
        match kind {
            RedirectionKind::Sol => &mut self.sol,
            RedirectionKind::Ider => &mut self.ider,
            RedirectionKind::Kvm => &mut self.kvm,
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
    /// Port 5900 on firmware without it (CSME 16 removed it).
    #[error("the specified feature is not supported")]
    Port5900Unsupported,
    /// `Is5900PortEnabled` without an RFB password set now or before.
    #[error("port 5900 needs an RFB password")]
    Port5900NeedsPassword,
    /// `SessionTimeout` above [`MAX_KVM_SESSION_TIMEOUT`].
    #[error("a KVM session timeout is 0 to 255 minutes")]
    InvalidSessionTimeout,
}

/// The longest `SessionTimeout` firmware takes, in minutes (Intel's KVM
/// application guide: "the maximum timeout value is 255 minutes"; 0 is
/// no timeout). The guide's table says "seconds" in the same cell; consoles
/// (MeshCommander) show minutes, which amtemu follows.
pub const MAX_KVM_SESSION_TIMEOUT: u32 = 255;

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

/// An RFB password must be exactly 8 characters with upper and lower case,
/// a digit and a special character (VNC passwords are 8 bytes).
pub fn strong_rfb_password(p: &str) -> bool {
    p.chars().count() == 8
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_ascii_alphanumeric())
}

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
        if change
            .session_timeout
            .is_some_and(|t| t > MAX_KVM_SESSION_TIMEOUT)
        {
            return Err(RedirectionRefusal::InvalidSessionTimeout);
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

    /// How long a KVM session may go without the viewer's input before the
    /// device ends it; None when `SessionTimeout` is 0.
    pub fn kvm_session_timeout(&self) -> Option<Duration> {
        let minutes = self.with_state(|s| s.nvram.redirection.kvm_session_timeout);
        (minutes != 0).then(|| Duration::from_secs(u64::from(minutes) * 60))
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
    fn session_timeout_is_0_to_255_minutes() {
        let d = device("11.8");
        let timeout = |t| KvmSettingsChange {
            session_timeout: Some(t),
            opt_in_policy: Some(false),
            ..KvmSettingsChange::default()
        };
        assert_eq!(d.kvm_session_timeout(), None, "0: none");
        assert_eq!(
            d.update_kvm_settings(timeout(256)),
            Err(RedirectionRefusal::InvalidSessionTimeout)
        );
        let r = d.redirection_settings();
        assert_eq!(
            (r.kvm_session_timeout, r.kvm_opt_in_policy),
            (0, true),
            "nothing"
        );
        d.update_kvm_settings(timeout(255)).unwrap();
        assert_eq!(d.kvm_session_timeout(), Some(Duration::from_secs(255 * 60)));
        d.update_kvm_settings(timeout(0)).unwrap();
        assert_eq!(d.kvm_session_timeout(), None);
    }
}
