//! User consent (IPS_OptInService) as firmware keeps it, and the
//! redirection sessions it lets in.
//!
//! `OptInState`, from Intel's AMT SDK reference ("Get User Consent
//! Status", "Send Consent Code"):
//! 0 not started → 1 requested (a code exists but is not on the screen
//! yet) → 2 displayed → 3 received (the console sent the right code) →
//! 4 in session (a KVM or storage redirection session is open). A received
//! consent lets new sessions in until `OptInCodeTimeout` passes with no
//! session open; then it is back to 0. Several wrong codes also end it
//! (amtemu: one wrong code ends the attempt).
//!
//! Inferred, where the reference says nothing:
//! - "requested" is a code asked for while the host is off: there is no
//!   screen to draw it on; it is displayed from when the host is on, and
//!   expires like a displayed code, counted from the request.
//! - A session "needs consent" when the policy asks consent for its kind
//!   (KVM under policy KVM or all; SOL and IDE-R under all); only those
//!   move the state to 4, and the state goes back to 3 when the last of
//!   them ends, which starts the inactivity period.
//! - The state is saved with the settings but its instants are not, so a
//!   restarted device has no consent (as if the period had passed).

use std::time::Duration;

use tokio::time::Instant;

use super::redirection::{CONSENT_ALL, RedirectionRefusal, RedirectionSettings};
use crate::device::{ControlMode, Device, DeviceEvent, DeviceState, Feature};

/// Opt-in states.
pub const OPT_IN_NOT_STARTED: u8 = 0;
pub const OPT_IN_REQUESTED: u8 = 1;
pub const OPT_IN_DISPLAYED: u8 = 2;
pub const OPT_IN_RECEIVED: u8 = 3;
pub const OPT_IN_IN_SESSION: u8 = 4;

/// The settings-changed event of consent state changes.
const OPT_IN_CHANGED: &str = "IPS_OptInService";

/// User consent as IPS_OptInService reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The policy in force: client control mode forces consent for all.
    pub required: u32,
    /// Whether the policy may be changed (not in client control mode).
    pub policy_changeable: bool,
    /// `OptInState`, 0 to 4 (see the module's notes).
    pub state: u8,
    pub code_timeout: u32,
    pub display_timeout: u32,
}

/// A kind of redirection session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectionKind {
    Sol,
    Ider,
    Kvm,
}

impl RedirectionKind {
    /// The name events and logs use.
    pub fn name(self) -> &'static str {
        match self {
            RedirectionKind::Sol => "sol",
            RedirectionKind::Ider => "ider",
            RedirectionKind::Kvm => "kvm",
        }
    }
}

/// A session the device counts as open; hand it back to
/// [`Device::redirection_session_closed`] when it ends.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a session counted open must be closed"]
pub struct OpenSession {
    pub kind: RedirectionKind,
    /// Whether consent let it in (so its end may start the consent's
    /// inactivity period).
    consented: bool,
}

impl RedirectionSettings {
    /// Brings the consent state up to `now`: a requested code goes on a
    /// screen that is on, a displayed code lasts `OptInCodeTimeout` seconds
    /// (0: for ever), and a received consent lasts as long after the last
    /// session that used it ended.
    fn consent_tick(&mut self, host_on: bool, now: Instant) {
        let timeout = Duration::from_secs(self.opt_in_code_timeout.into());
        let past = |since: Option<Instant>| {
            since.is_none_or(|at| self.opt_in_code_timeout != 0 && now >= at + timeout)
        };
        match self.opt_in_state {
            OPT_IN_REQUESTED if host_on && !past(self.opt_in_shown_at) => {
                self.opt_in_state = OPT_IN_DISPLAYED;
                self.opt_in_shown_at = Some(now);
            }
            OPT_IN_REQUESTED | OPT_IN_DISPLAYED if past(self.opt_in_shown_at) => {
                self.opt_in_state = OPT_IN_NOT_STARTED;
                self.opt_in_shown_at = None;
            }
            OPT_IN_RECEIVED if past(self.opt_in_idle_since) => {
                self.opt_in_state = OPT_IN_NOT_STARTED;
                self.opt_in_idle_since = None;
            }
            // Restored from a state file: no session is open any more.
            OPT_IN_IN_SESSION if self.open_sessions.consented == 0 => {
                self.opt_in_state = OPT_IN_NOT_STARTED;
            }
            _ => {}
        }
    }
}

/// The redirection settings with consent brought up to `now`.
fn ticked(s: &mut DeviceState, now: Instant) -> &mut RedirectionSettings {
    let host_on = s.power.state().is_on();
    let r = &mut s.nvram.redirection;
    r.consent_tick(host_on, now);
    r
}

/// The user-consent API on [`Device`].
impl Device {
    pub fn consent(&self) -> Consent {
        self.locked(|s, now, _| {
            let ccm = s.nvram.setup.mode == ControlMode::Client;
            let r = ticked(s, now);
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

    /// Starts consent: the code goes on the host's screen at once, or, with
    /// the host off, when it is on.
    pub fn start_opt_in(&self) -> Result<(), RedirectionRefusal> {
        self.locked(|s, now, _| {
            let host_on = s.power.state().is_on();
            let r = ticked(s, now);
            if r.opt_in_state != OPT_IN_NOT_STARTED {
                return Err(RedirectionRefusal::InvalidOptInState);
            }
            r.opt_in_state = if host_on {
                OPT_IN_DISPLAYED
            } else {
                OPT_IN_REQUESTED
            };
            r.opt_in_shown_at = Some(now);
            Ok(())
        })?;
        // A screen being watched draws the code now.
        self.changed(OPT_IN_CHANGED);
        Ok(())
    }

    /// Ends consent, whatever its state; open sessions go on (firmware's
    /// behaviour there is not documented).
    pub fn cancel_opt_in(&self) {
        self.with_state(|s| {
            let r = &mut s.nvram.redirection;
            r.opt_in_state = OPT_IN_NOT_STARTED;
            r.opt_in_shown_at = None;
            r.opt_in_idle_since = None;
        });
        self.changed(OPT_IN_CHANGED);
    }

    /// The code shown on the emulated screen: the first four bytes of the
    /// device's UUID as a number, six digits, so a test can compute it.
    pub fn opt_in_code(&self) -> u32 {
        let u = self.identity.uuid;
        u32::from_le_bytes([u[0], u[1], u[2], u[3]]) % 1_000_000
    }

    /// The user tells the console the code displayed. A wrong code ends
    /// the attempt (the refusal does change the state). The right one
    /// starts the inactivity period: a session must open before it ends.
    pub fn send_opt_in_code(&self, code: Option<i64>) -> Result<(), RedirectionRefusal> {
        let expected = i64::from(self.opt_in_code());
        let result = self.locked(|s, now, _| {
            let r = ticked(s, now);
            if r.opt_in_state != OPT_IN_DISPLAYED {
                return Err(RedirectionRefusal::InvalidOptInState);
            }
            r.opt_in_shown_at = None;
            if code == Some(expected) {
                r.opt_in_state = OPT_IN_RECEIVED;
                r.opt_in_idle_since = Some(now);
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
        let shown = self.locked(|s, now, _| ticked(s, now).opt_in_state == OPT_IN_DISPLAYED);
        shown.then(|| self.opt_in_code())
    }

    /// Whether the policy asks consent for a session of `kind`: KVM needs
    /// it under policy "KVM" or "all", SOL and IDE-R only under "all";
    /// client control mode asks for it for everything; firmware before
    /// user consent (6.2) never asks.
    fn consent_needed(&self, s: &DeviceState, kind: RedirectionKind) -> bool {
        if !self.firmware.has(Feature::UserConsent) {
            return false;
        }
        let r = &s.nvram.redirection;
        s.nvram.setup.mode == ControlMode::Client
            || r.opt_in_required == CONSENT_ALL
            || (kind == RedirectionKind::Kvm && r.opt_in_required != 0)
    }

    /// Whether the consent policy lets a redirection session start now
    /// (`kvm`: a KVM session, else SOL or IDE-R).
    pub fn redirection_consented(&self, kvm: bool) -> bool {
        let kind = if kvm {
            RedirectionKind::Kvm
        } else {
            RedirectionKind::Sol
        };
        self.locked(|s, now, _| {
            let state = ticked(s, now).opt_in_state;
            !self.consent_needed(s, kind) || state >= OPT_IN_RECEIVED
        })
    }

    /// A redirection session opens: counted (KVM's EnabledState, events),
    /// and if consent let it in, consent is "in session" until it ends.
    /// None, changing nothing, when the consent it needs is missing now.
    pub fn redirection_session_opened(&self, kind: RedirectionKind) -> Option<OpenSession> {
        self.locked(|s, now, events| {
            ticked(s, now);
            let consented = self.consent_needed(s, kind);
            let r = &mut s.nvram.redirection;
            if consented && r.opt_in_state < OPT_IN_RECEIVED {
                return None;
            }
            *r.open_sessions.of(kind) += 1;
            if consented {
                r.open_sessions.consented += 1;
                r.opt_in_state = OPT_IN_IN_SESSION;
                r.opt_in_idle_since = None;
            }
            events.push(DeviceEvent::RedirectionSession { kind, open: true });
            Some(OpenSession { kind, consented })
        })
    }

    /// A redirection session ended. The last that consent let in takes
    /// consent back to "received", from when its inactivity period runs.
    pub fn redirection_session_closed(&self, session: OpenSession) {
        self.locked(|s, now, events| {
            let r = &mut s.nvram.redirection;
            let count = r.open_sessions.of(session.kind);
            *count = count.saturating_sub(1);
            if session.consented {
                let open = &mut r.open_sessions.consented;
                *open = open.saturating_sub(1);
                if *open == 0 && r.opt_in_state == OPT_IN_IN_SESSION {
                    r.opt_in_state = OPT_IN_RECEIVED;
                    r.opt_in_idle_since = Some(now);
                }
            }
            events.push(DeviceEvent::RedirectionSession {
                kind: session.kind,
                open: false,
            });
        });
    }

    /// Whether a KVM session is open now (CIM_KVMRedirectionSAP's
    /// EnabledState).
    pub fn kvm_session_open(&self) -> bool {
        self.with_state(|s| s.nvram.redirection.open_sessions.kvm > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::KvmRefusal;
    use crate::testing::device;

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

    #[tokio::test(start_paused = true)]
    async fn consent_goes_in_session_and_expires_after_the_last_session() {
        let d = device("11.8");
        assert_eq!(d.redirection_session_opened(RedirectionKind::Kvm), None);
        assert!(!d.kvm_session_open(), "a refused session is not counted");
        d.start_opt_in().unwrap();
        assert_eq!(d.consent().state, OPT_IN_DISPLAYED);
        d.send_opt_in_code(Some(d.opt_in_code().into())).unwrap();
        assert_eq!(d.consent().state, OPT_IN_RECEIVED);
        let mut events = d.subscribe();
        let kvm = d.redirection_session_opened(RedirectionKind::Kvm).unwrap();
        assert_eq!(d.consent().state, OPT_IN_IN_SESSION);
        assert!(d.kvm_session_open());
        assert_eq!(
            events.try_recv(),
            Ok(DeviceEvent::RedirectionSession {
                kind: RedirectionKind::Kvm,
                open: true
            })
        );
        // SOL needs no consent under policy KVM: it does not hold it.
        let sol = d.redirection_session_opened(RedirectionKind::Sol).unwrap();
        // In session, consent does not expire however long it lasts.
        let timeout = Duration::from_secs(d.consent().code_timeout.into());
        tokio::time::advance(timeout * 3).await;
        assert_eq!(d.consent().state, OPT_IN_IN_SESSION);
        d.redirection_session_closed(kvm);
        assert!(!d.kvm_session_open());
        assert_eq!(d.consent().state, OPT_IN_RECEIVED, "consent outlives it");
        d.redirection_session_closed(sol);
        // A new session may start within the code timeout without a code.
        tokio::time::advance(timeout - Duration::from_secs(1)).await;
        let again = d.redirection_session_opened(RedirectionKind::Kvm).unwrap();
        d.redirection_session_closed(again);
        tokio::time::advance(timeout - Duration::from_secs(1)).await;
        assert_eq!(d.consent().state, OPT_IN_RECEIVED, "counted from the end");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(d.consent().state, OPT_IN_NOT_STARTED);
        assert_eq!(d.kvm_access(false), Err(KvmRefusal::NoConsent));
    }

    #[tokio::test(start_paused = true)]
    async fn a_code_requested_while_the_host_is_off_shows_when_it_is_on() {
        let d = device("11.8");
        d.with_state(|s| {
            s.power = crate::device::PowerMachine::new(
                crate::device::HostPower::S5,
                crate::device::PowerTimings::default(),
            )
        });
        d.start_opt_in().unwrap();
        assert_eq!(d.consent().state, OPT_IN_REQUESTED);
        assert_eq!(d.opt_in_code_displayed(), None, "no screen to show it on");
        assert_eq!(
            d.send_opt_in_code(Some(d.opt_in_code().into())),
            Err(RedirectionRefusal::InvalidOptInState)
        );
        assert_eq!(d.consent().state, OPT_IN_REQUESTED, "nothing changed");
        d.request_power(crate::device::PowerRequest::On).unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(d.opt_in_code_displayed(), Some(d.opt_in_code()));
    }

    #[test]
    fn a_restored_consent_has_expired() {
        let d = device("11.8");
        for state in [OPT_IN_DISPLAYED, OPT_IN_RECEIVED, OPT_IN_IN_SESSION] {
            d.with_state(|s| s.nvram.redirection.opt_in_state = state);
            assert_eq!(d.consent().state, OPT_IN_NOT_STARTED, "state {state}");
        }
    }
}
