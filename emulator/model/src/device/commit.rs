//! Ending setup and going back to the factory: what CommitChanges,
//! host-based activation and Unprovision do to a device's state.
//!
//! During PKI remote configuration the server's calls change the device's
//! state as they arrive, but none of it is *live*: the remote ports serve
//! only the setup TLS (a client certificate required), so the new
//! password, certificate and TLS policy answer nobody until CommitChanges
//! moves the device to Post-provisioning. TLS settings are staged apart
//! (`pending_tls`) and applied by the commit, atomically with the state
//! change, or not at all.

mod host_based;

pub use host_based::{HostSetupProgress, HostSetupRefusal, HostSetupReport, MAX_CHAIN, SetupProof};

use super::audit::{AuditEvent, EventId};
use super::provisioning_record::{Activation, ProvisioningRecord};
use super::{
    CertStore, ControlMode, DEFAULT_PASSWORD, Device, DeviceState, ProvisioningState, SetupState,
    TlsSettingData, TlsSettings, Users,
};

/// Why a method of AMT_SetupAndConfigurationService refused; nothing was
/// applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupRefusal {
    /// CommitChanges: remote TLS would be on without a TLS credential
    /// context.
    #[error("remote TLS would be on without a TLS credential")]
    TlsWithoutCredential,
    /// Unprovision on a device that is not provisioned.
    #[error("the device is not provisioned")]
    NotProvisioned,
    /// SetMEBxPassword in client control mode, which keeps the MEBx
    /// password.
    #[error("client control mode cannot change the MEBx password")]
    ClientControlMode,
    /// The password breaks AMT's strength rules ([`strong_password`]).
    #[error("the password is not strong enough")]
    WeakPassword,
    /// ExtendProvisioningPeriod while no configuration is under way.
    #[error("no remote configuration is under way")]
    NotInSetup,
    /// An argument is missing or out of range.
    #[error("an argument is missing or out of range")]
    InvalidArgument,
}

/// What Unprovision clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unprovisioning {
    /// Everything configured, as a full unprovision (or MEBx) does.
    Full,
    /// PartialUnprovision on legacy firmware: the configuration goes, but
    /// what was entered in MEBx (the admin password, the provisioning
    /// settings and hashes) stays. Which parts real firmware keeps is not
    /// documented; this split is inferred from where each is entered.
    Partial,
}

impl Device {
    /// CommitChanges. From In-provisioning it completes setup (and audits
    /// that): the staged TLS policy and the state change to
    /// Post-provisioning apply together, refused as a whole when they do not
    /// fit together. On a provisioned device it applies staged TLS settings
    /// as before.
    pub fn commit_changes(&self) -> Result<(), SetupRefusal> {
        let committed = self.with_state(|s| {
            let completing = s.nvram.setup.state == ProvisioningState::In;
            if completing {
                let policy = s.nvram.pending_tls.as_ref().unwrap_or(&s.nvram.tls);
                if policy.remote.enabled && s.nvram.certs.tls_credential().is_none() {
                    return Err(SetupRefusal::TlsWithoutCredential);
                }
            }
            let tls_changed = match s.nvram.pending_tls.take() {
                Some(tls) => {
                    s.nvram.tls = tls;
                    true
                }
                None => false,
            };
            if completing {
                s.nvram.setup.state = ProvisioningState::Post;
                // Recorded with the state change, so saved in one commit.
                let how = match s.tls_setup.take() {
                    Some(mut session) => {
                        session.server_address =
                            super::audit::current_actor().and_then(|a| a.address);
                        Activation::Tls(*session)
                    }
                    None => Activation::Manual,
                };
                let now = super::unix_now(s.nvram.clock_offset);
                s.nvram.provisioning_record = Some(Box::new(ProvisioningRecord::new(now, how)));
                s.setup_started_by_host = false;
            }
            Ok((completing, tls_changed))
        });
        match committed {
            Ok((completing, tls_changed)) => {
                if completing || tls_changed {
                    tracing::info!(device = %self.name, "configuration committed");
                    self.changed("AMT_SetupAndConfigurationService");
                }
                if completing {
                    self.audit(EventId::PROVISIONING_COMPLETED);
                }
                Ok(())
            }
            Err(refusal) => {
                tracing::warn!(device = %self.name, ?refusal, "CommitChanges refused; nothing applied");
                Err(refusal)
            }
        }
    }

    /// Unprovision / PartialUnprovision as a console asks for it: refused
    /// on a device that is not provisioned, audited, and then
    /// [`Device::unprovision`].
    ///
    /// The audit record goes first, as it names the administrator the
    /// reset replaces; [`Device::audit`] writes it under its own lock, so
    /// the state is checked again, with the reset, under the next one.
    pub fn unprovision_remotely(&self, how: Unprovisioning) -> Result<(), SetupRefusal> {
        let realm = self.identity.digest_realm.clone();
        let audited = self.with_state(|s| {
            if s.nvram.setup.state == ProvisioningState::Pre {
                return Err(SetupRefusal::NotProvisioned);
            }
            // Recorded before the reset, as the actor who started it.
            let audited = self.record_audit(s, AuditEvent::unprovisioning());
            factory_reset(s, how, &realm);
            Ok(audited)
        })?;
        if audited {
            self.changed("AMT_AuditLog");
        }
        tracing::info!(device = %self.name, ?how, "unprovisioned");
        self.changed("AMT_SetupAndConfigurationService");
        Ok(())
    }

    /// Back to Pre-provisioning whatever the state, as MEBx does; not
    /// audited.
    pub fn unprovision(&self, how: Unprovisioning) {
        let realm = self.identity.digest_realm.clone();
        self.with_state(|s| factory_reset(s, how, &realm));
        tracing::info!(device = %self.name, ?how, "unprovisioned");
        self.changed("AMT_SetupAndConfigurationService");
    }

    /// SetMEBxPassword (None: no password given): admin control mode only,
    /// and the password must meet AMT's strength rules. The MEBx itself is
    /// not modelled, so the password is checked and not kept.
    pub fn set_mebx_password(&self, password: Option<&str>) -> Result<(), SetupRefusal> {
        if self.with_state(|s| s.nvram.setup.mode) == ControlMode::Client {
            return Err(SetupRefusal::ClientControlMode);
        }
        if password.is_some_and(strong_password) {
            Ok(())
        } else {
            Err(SetupRefusal::WeakPassword)
        }
    }

    /// ExtendProvisioningPeriod by `hours` (None: missing or not a number):
    /// only while a configuration is under way. The hello schedule is the
    /// hello sender's; the extension is acknowledged and logged.
    pub fn extend_provisioning_period(&self, hours: Option<i64>) -> Result<(), SetupRefusal> {
        if self.with_state(|s| s.nvram.setup.state) != ProvisioningState::In {
            return Err(SetupRefusal::NotInSetup);
        }
        let hours = hours
            .filter(|h| *h > 0)
            .ok_or(SetupRefusal::InvalidArgument)?;
        tracing::info!(device = %self.name, hours, "provisioning period extended");
        Ok(())
    }
}

/// AMT's password rules: 8 to 32 characters with a lower and an upper case
/// letter, a digit and a symbol.
pub fn strong_password(password: &str) -> bool {
    (8..=32).contains(&password.chars().count())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_ascii_alphanumeric())
}

/// The TLS policy of a device nobody configured: remote TLS off.
pub fn factory_tls() -> TlsSettings {
    let off = TlsSettingData {
        enabled: false,
        accept_non_secure: true,
        mutual_authentication: false,
        trusted_cn: Vec::new(),
    };
    TlsSettings {
        remote: off.clone(),
        local: off,
    }
}

fn factory_reset(s: &mut DeviceState, how: Unprovisioning, realm: &str) {
    s.nvram.setup = SetupState {
        state: ProvisioningState::Pre,
        mode: ControlMode::Admin,
    };
    s.nvram.certs = CertStore::default();
    s.nvram.tls = factory_tls();
    s.nvram.pending_tls = None;
    // The default certificate names the host; a new one is made when next
    // needed.
    s.nvram.tls_identity = None;
    s.nvram.general.host_name = Default::default();
    s.nvram.general.domain_name = Default::default();
    s.nvram.redirection = Default::default();
    // Profiles go with the certificates they name; the audit log, data
    // storage and the ME power package stay.
    s.nvram.ieee8021x = Default::default();
    // Unconfiguration deletes proxies (the DMT deactivation sequence).
    s.nvram.http_proxies.clear();
    // Subscribers and PET filters are configuration of the provisioned
    // device: an unprovisioned one tells nobody (inferred; an
    // unconfigured device has no Event Manager users to subscribe).
    s.nvram.eventing = Default::default();
    // System Defense and agent presence are configuration a console set
    // up; unconfiguration returns them to the factory's empty tables
    // (inferred: Intel's reference says unprovisioning restores factory
    // settings, and lists no exception for them).
    s.nvram.defense = None;
    s.nvram.watchdogs.clear();
    s.nvram.provisioning.otp = None;
    // The provisioning record stays (see provisioning_record); a setup
    // session under way ends.
    s.tls_setup = None;
    s.setup_started_by_host = false;
    match how {
        Unprovisioning::Full => {
            s.nvram.users = Users::new("admin", DEFAULT_PASSWORD, realm);
            s.nvram.provisioning.trusted_hashes.retain(|h| h.default);
            s.nvram.provisioning.pki_dns_suffix.clear();
        }
        Unprovisioning::Partial => {
            let admin = (s.nvram.users.admin_name.clone(), s.nvram.users.admin_ha1);
            s.nvram.users = Users::new("admin", DEFAULT_PASSWORD, realm);
            (s.nvram.users.admin_name, s.nvram.users.admin_ha1) = admin;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    #[test]
    fn unprovisioning_a_device_that_is_not_provisioned_is_refused() {
        let d = device("11.8");
        d.unprovision_remotely(Unprovisioning::Full).unwrap();
        assert_eq!(d.setup_state().state, ProvisioningState::Pre);
        assert_eq!(
            d.unprovision_remotely(Unprovisioning::Partial),
            Err(SetupRefusal::NotProvisioned)
        );
    }

    #[test]
    fn the_mebx_password_is_checked_in_admin_control_mode_only() {
        let d = device("11.8");
        assert_eq!(d.set_mebx_password(Some("Str0ng!Pass")), Ok(()));
        assert_eq!(
            d.set_mebx_password(Some("weak")),
            Err(SetupRefusal::WeakPassword)
        );
        assert_eq!(d.set_mebx_password(None), Err(SetupRefusal::WeakPassword));
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        assert_eq!(
            d.set_mebx_password(Some("Str0ng!Pass")),
            Err(SetupRefusal::ClientControlMode)
        );
    }

    #[test]
    fn the_provisioning_period_extends_only_during_setup() {
        let d = device("11.8");
        assert_eq!(
            d.extend_provisioning_period(None),
            Err(SetupRefusal::NotInSetup),
            "the state is checked before the argument"
        );
        d.with_state(|s| s.nvram.setup.state = ProvisioningState::In);
        assert_eq!(
            d.extend_provisioning_period(Some(0)),
            Err(SetupRefusal::InvalidArgument)
        );
        assert_eq!(d.extend_provisioning_period(Some(6)), Ok(()));
    }

    #[test]
    fn a_commit_ending_setup_needs_a_credential_for_remote_tls() {
        let d = device("11.8");
        d.with_state(|s| {
            s.nvram.setup.state = ProvisioningState::In;
            s.nvram.tls.remote.enabled = true;
        });
        assert_eq!(d.commit_changes(), Err(SetupRefusal::TlsWithoutCredential));
        assert_eq!(d.setup_state().state, ProvisioningState::In);
    }
}
