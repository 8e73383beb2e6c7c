//! The redirection protocol on TCP 16994 (plain) and 16995 (TLS): the
//! session manager (0x10-0x14), Serial-over-LAN and IDE-R.
//!
//! `codec` turns bytes into typed messages; `session` is the handshake's
//! state machine; `sol` and `ider` run an open channel against the
//! simulated host through `host_port`; `wire` is the socket plumbing.
//!
//! Decisions where firmware behaviour is not documented (see
//! `/work/shared/spec/redirection.md` §9):
//! - With `ListenerEnabled` false, or before the device is provisioned, the
//!   port accepts and closes at once (the listener is shared with other
//!   devices, so it cannot stop accepting for one of them).
//! - Missing user consent answers 0x11 status 3 ("unsupported").
//! - One SOL and one IDE-R session per device; a second gets status 2.
//!   The slot is taken when the console has logged in (so a connection
//!   that never logs in keeps nobody out) and freed when the connection
//!   ends. A StartRedirectionSession while the slot is held gets status 2
//!   at once; a console that logs in after another took the slot gets an
//!   authentication failure.
//! - Until it logs in, a connection has `LOGIN_DEADLINE` and is one of at
//!   most `MAX_PENDING_LOGINS` per device; beyond that it is closed at once.
//! - A wrong password answers 0x14 status 1 with no data and closes.
//! - KVM (`kvm`) is one session per device over KVMR or port 5900 alike;
//!   a disabled KVM or missing consent answers 0x11 status 3 as for SOL.

pub mod console;
/// Moved below `endpoint` so a device's endpoint can hold another host.
pub use crate::host_port;
pub mod ider;
pub mod kvm;
pub mod session;
pub mod sol;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::endpoint::limits::MAX_PENDING_LOGINS;
use amtemu_model::device::settings::ProvisioningState;
use amtemu_model::device::users::realm;
use amtemu_model::device::{OpenSession, RedirectionKind};
use amtemu_wire::redirection::SessionKind;
use session::{Channel, Gate, LoginError, Refusal, Session, State, Step};
use wire::{Inbox, WireError};

/// How long a console may take from connecting to logging in. Consoles
/// log in within a round trip or two of connecting; a connection that
/// has not is either lost or hostile, and firmware closes it.
const LOGIN_DEADLINE: Duration = Duration::from_secs(10);

/// How long a console may take from connecting to opening its channel.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A claimed session slot; dropping it frees the slot and ends the
/// session in the device's count (consent, KVM's EnabledState, events).
struct Slot {
    endpoint: Arc<Endpoint>,
    kind: SessionKind,
    session: Option<OpenSession>,
}

impl Slot {
    /// Claims the device's one slot of `kind` and counts the session open.
    /// Busy when another holds the slot; NoConsent when the consent the
    /// session needs ran out since it was checked (nothing is held then).
    fn claim(endpoint: &Arc<Endpoint>, kind: SessionKind) -> Result<Slot, Refusal> {
        let redirection = match kind {
            SessionKind::Sol => RedirectionKind::Sol,
            SessionKind::Ider => RedirectionKind::Ider,
            SessionKind::Kvm => RedirectionKind::Kvm,
            SessionKind::Other(_) => return Err(Refusal::Disabled),
        };
        let flag = endpoint.redirect.flag(kind).ok_or(Refusal::Disabled)?;
        if flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Refusal::Busy);
        }
        let mut slot = Slot {
            endpoint: endpoint.clone(),
            kind,
            session: None,
        };
        slot.session = Some(
            endpoint
                .device
                .redirection_session_opened(redirection)
                .ok_or(Refusal::NoConsent)?,
        );
        Ok(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.endpoint.device.redirection_session_closed(session);
        }
        if let Some(flag) = self.endpoint.redirect.flag(self.kind) {
            flag.store(false, Ordering::Release);
        }
    }
}

/// The real device behind a session.
struct DeviceGate {
    endpoint: Arc<Endpoint>,
    slot: Option<Slot>,
}

impl Gate for DeviceGate {
    fn admit(&self, kind: SessionKind) -> Result<(), Refusal> {
        let device = &self.endpoint.device;
        if kind == SessionKind::Kvm {
            kvm::access(device)?;
        } else {
            let enabled = device.with_state(|s| match kind {
                SessionKind::Sol => s.nvram.redirection.sol_enabled,
                SessionKind::Ider => s.nvram.redirection.ider_enabled,
                _ => false,
            });
            if !enabled {
                return Err(Refusal::Disabled);
            }
            if !device.redirection_consented(false) {
                return Err(Refusal::NoConsent);
            }
        }
        if self.endpoint.redirect.busy(kind) {
            return Err(Refusal::Busy);
        }
        Ok(())
    }

    fn claim(&mut self, kind: SessionKind) -> Result<(), Refusal> {
        // Settings may have changed while the console logged in.
        self.admit(kind)?;
        self.slot = Some(Slot::claim(&self.endpoint, kind)?);
        Ok(())
    }

    fn realm(&self) -> String {
        self.endpoint.device.identity.digest_realm.clone()
    }

    fn plain_auth(&self) -> bool {
        self.endpoint.redirect.plain_auth()
    }

    fn login(&mut self, user: &str, proves: &dyn Fn(&str) -> bool) -> Result<(), LoginError> {
        let device = &self.endpoint.device;
        let now = Instant::now();
        let account = device
            .network_login(user, now)
            .ok_or(LoginError::NoSuchUser)?;
        let right = proves(&amtemu_model::device::identity::hex_lower(&account.ha1));
        if !right {
            // Wrong guesses count even while locked, as on the HTTP side.
            device.login_failed(account.key, now);
            crate::metrics::METRICS.auth_failure();
            return Err(LoginError::WrongPassword);
        }
        if account.locked {
            return Err(LoginError::Locked);
        }
        device.login_succeeded(account.key);
        if !account.caller.has_realm(realm::REDIRECTION) {
            return Err(LoginError::NoRedirectionRealm);
        }
        Ok(())
    }

    fn kerberos_enabled(&self) -> bool {
        self.endpoint.device.kerberos_enabled()
    }

    fn kerberos_login(&mut self, token: &[u8]) -> Result<(), LoginError> {
        let Some((caller, _reply)) =
            crate::kerberos::login(&self.endpoint.device, &self.endpoint.kerberos, token)
        else {
            crate::metrics::METRICS.auth_failure();
            return Err(LoginError::KerberosRefused);
        };
        if !caller.has_realm(realm::REDIRECTION) {
            return Err(LoginError::NoRedirectionRealm);
        }
        Ok(())
    }
}

/// Serves one connection on a redirection port until it ends.
pub async fn serve<IO>(io: IO, endpoint: Arc<Endpoint>, peer: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let device = endpoint.device.clone();
    let name = device.name.clone();
    // The listener cannot stop accepting for one device of many.
    let (listening, provisioned) = device.with_state(|s| {
        (
            s.nvram.redirection.listener_enabled,
            s.nvram.setup.state == ProvisioningState::Post,
        )
    });
    if !listening {
        tracing::info!(device = %name, %peer, "redirection refused: listener disabled");
        return;
    }
    // Before provisioning there are no network users to log in as.
    if !provisioned {
        tracing::info!(device = %name, %peer, "redirection refused: not provisioned");
        return;
    }
    // Until it logs in, a connection counts against the device's few
    // pending places and has LOGIN_DEADLINE to do it.
    let Some(pending) = endpoint
        .redirect
        .pending_logins()
        .try_acquire(MAX_PENDING_LOGINS)
    else {
        tracing::info!(device = %name, %peer, "redirection refused: too many connections waiting to log in");
        return;
    };
    let mut pending = Some(pending);
    let opened = Instant::now();
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut inbox = Inbox::default();
    let mut session = Session::new(DeviceGate {
        endpoint: endpoint.clone(),
        slot: None,
    });
    let handshake = async {
        loop {
            let deadline = match pending {
                Some(_) => opened + LOGIN_DEADLINE,
                None => opened + HANDSHAKE_TIMEOUT,
            };
            let msg = match tokio::time::timeout_at(deadline, inbox.next(&mut reader)).await {
                Ok(msg) => msg?,
                Err(_) if pending.is_some() => return Ok(Err("no login within the deadline")),
                Err(_) => return Ok(Err("no channel opened within the deadline")),
            };
            let step = session.handle(msg);
            if matches!(session.state, State::Authenticated { .. } | State::Ready(_)) {
                pending = None;
            }
            match step {
                Step::Reply(replies) => {
                    for reply in &replies {
                        wire::send_alone(&mut writer, reply).await?;
                    }
                }
                Step::Close(reply, why) => {
                    if let Some(reply) = reply {
                        wire::send_alone(&mut writer, &reply).await?;
                    }
                    return Ok::<_, WireError>(Err(why));
                }
                Step::Open(channel) => return Ok(Ok(channel)),
                Step::ReplyThenOpen(replies, channel) => {
                    for reply in &replies {
                        wire::send_alone(&mut writer, reply).await?;
                    }
                    return Ok(Ok(channel));
                }
            }
        }
    };
    let channel = match handshake.await {
        Ok(Ok(channel)) => channel,
        Ok(Err(why)) => {
            tracing::info!(device = %name, %peer, "redirection session refused: {why}");
            return;
        }
        Err(e) => {
            tracing::info!(device = %name, %peer, error = %e, "redirection handshake ended");
            return;
        }
    };
    // The gate holds the slot while the session runs.
    let gate = session.into_gate();
    let kind = match channel {
        Channel::Sol(_) => "SOL",
        Channel::Ider(_) => "IDE-R",
        Channel::Kvm => "KVM",
    };
    tracing::info!(device = %name, %peer, kind, "redirection session started");
    let started = Instant::now();
    let ended = match channel {
        Channel::Sol(s) => sol::run(&mut reader, &mut writer, inbox, endpoint.host_port(), s).await,
        Channel::Ider(s) => {
            ider::run(&mut reader, &mut writer, inbox, endpoint.host_port(), s).await
        }
        Channel::Kvm => kvm::run_kvmr(&mut reader, &mut writer, inbox, endpoint.host_port()).await,
    };
    // The slot is free before the socket closes: a console that sees the
    // close and opens a new session at once must not find it busy.
    drop(gate);
    drop((reader, writer));
    let seconds = started.elapsed().as_secs_f64();
    match ended {
        Ok(why) => {
            tracing::info!(device = %name, %peer, kind, seconds, "redirection session ended: {why}")
        }
        Err(e) => {
            tracing::info!(device = %name, %peer, kind, seconds, error = %e, "redirection session ended")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::settings::ControlMode;
    use amtemu_model::device::users::{AclEntryRequest, ha1};
    use amtemu_model::device::{CONSENT_ALL, Device, DeviceConfig, Firmware};

    fn endpoint(firmware: &str) -> Arc<Endpoint> {
        let device = Device::new(DeviceConfig::new(
            "gate",
            Firmware::by_name(firmware).unwrap(),
        ));
        Endpoint::new(device, None)
    }

    fn gate(e: &Arc<Endpoint>) -> DeviceGate {
        DeviceGate {
            endpoint: e.clone(),
            slot: None,
        }
    }

    #[test]
    fn consent_follows_mode_policy_and_state() {
        let e = endpoint("11.8");
        let set = |mode, required, state| {
            e.device.with_state(|s| {
                s.nvram.setup.mode = mode;
                s.nvram.redirection.opt_in_required = required;
                s.nvram.redirection.opt_in_state = state;
                // A consent received just now.
                s.nvram.redirection.opt_in_idle_since = Some(Instant::now());
            })
        };
        set(ControlMode::Admin, CONSENT_ALL, 0);
        assert_eq!(gate(&e).claim(SessionKind::Sol), Err(Refusal::NoConsent));
        set(ControlMode::Admin, 1, 0);
        assert_eq!(gate(&e).claim(SessionKind::Sol), Ok(()), "KVM-only consent");
        set(ControlMode::Client, 0, 0);
        assert_eq!(gate(&e).claim(SessionKind::Ider), Err(Refusal::NoConsent));
        set(ControlMode::Client, 0, 3);
        assert_eq!(
            gate(&e).claim(SessionKind::Ider),
            Ok(()),
            "consent received"
        );
        // Before user consent existed (6.2) nothing is asked.
        let old = endpoint("5.2");
        old.device
            .with_state(|s| s.nvram.redirection.opt_in_required = CONSENT_ALL);
        assert_eq!(gate(&old).claim(SessionKind::Sol), Ok(()));
    }

    #[test]
    fn a_slot_is_held_by_one_gate_and_freed_when_it_drops() {
        let e = endpoint("5.2");
        let mut first = gate(&e);
        assert_eq!(first.claim(SessionKind::Sol), Ok(()));
        assert!(e.redirect.busy(SessionKind::Sol));
        assert_eq!(gate(&e).claim(SessionKind::Sol), Err(Refusal::Busy));
        assert_eq!(
            gate(&e).claim(SessionKind::Ider),
            Ok(()),
            "IDE-R is separate"
        );
        assert!(!e.redirect.busy(SessionKind::Ider), "that gate dropped");
        drop(first);
        assert!(!e.redirect.busy(SessionKind::Sol));
        e.device
            .with_state(|s| s.nvram.redirection.sol_enabled = false);
        assert_eq!(gate(&e).claim(SessionKind::Sol), Err(Refusal::Disabled));
    }

    #[test]
    fn logins_need_the_right_password_and_the_redirection_realm() {
        let e = endpoint("11.8");
        let realm = e.device.identity.digest_realm.clone();
        let check = |user: &str, password: &str| {
            let candidate = amtemu_model::device::identity::hex_lower(&ha1(user, &realm, password));
            gate(&e).login(user, &|h| h == candidate)
        };
        assert_eq!(check("admin", "P@ssw0rd"), Ok(()));
        assert_eq!(check("admin", "nope"), Err(LoginError::WrongPassword));
        assert_eq!(check("nobody", "x"), Err(LoginError::NoSuchUser));
        for (name, realms) in [("hw", vec![4]), ("redir", vec![2])] {
            let req = AclEntryRequest {
                name: Some(name.into()),
                ha1: Some(ha1(name, &realm, "Passw0rd!")),
                access: Some(2),
                realms: Some(realms),
                ..AclEntryRequest::default()
            };
            e.device.add_user(&req).unwrap();
        }
        assert_eq!(
            check("hw", "Passw0rd!"),
            Err(LoginError::NoRedirectionRealm)
        );
        assert_eq!(check("redir", "Passw0rd!"), Ok(()));
    }
}
