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

use super::audit::EventId;
use super::{
    CertStore, ControlMode, DEFAULT_PASSWORD, Device, DeviceState, ProvisioningState, SetupState,
    TlsSettingData, TlsSettings, Users,
};

/// Why CommitChanges refused; nothing was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitRefusal {
    /// Remote TLS would be on without a TLS credential context.
    TlsWithoutCredential,
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
    pub fn commit_changes(&self) -> Result<(), CommitRefusal> {
        let committed = self.with_state(|s| {
            let completing = s.nvram.setup.state == ProvisioningState::In;
            if completing {
                let policy = s.nvram.pending_tls.as_ref().unwrap_or(&s.nvram.tls);
                if policy.remote.enabled && s.nvram.certs.tls_credential().is_none() {
                    return Err(CommitRefusal::TlsWithoutCredential);
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

    /// Host-based activation (Setup, AdminSetup): straight from
    /// Pre-provisioning to Post in the given mode, with a new admin HA1;
    /// audited as provisioning completed.
    pub fn activate(&self, mode: ControlMode, admin_ha1: [u8; 16]) {
        self.with_state(|s| {
            s.nvram.setup = SetupState {
                state: ProvisioningState::Post,
                mode,
            };
            s.nvram.users.admin_ha1 = admin_ha1;
            s.nvram.users.admin_is_default = false;
            if mode == ControlMode::Client {
                // CCM cannot do without the user's consent.
                s.nvram.redirection.opt_in_required = 0xFFFF_FFFF;
            }
        });
        tracing::info!(device = %self.name, ?mode, "activated by host-based setup");
        self.changed("IPS_HostBasedSetupService");
        self.audit(EventId::PROVISIONING_COMPLETED);
    }

    /// Unprovision / PartialUnprovision: back to Pre-provisioning.
    pub fn unprovision(&self, how: Unprovisioning) {
        let realm = self.identity.digest_realm.clone();
        self.with_state(|s| factory_reset(s, how, &realm));
        tracing::info!(device = %self.name, ?how, "unprovisioned");
        self.changed("AMT_SetupAndConfigurationService");
    }

    /// A configuration server's certificate chain was refused.
    pub fn provisioning_refused(&self, why: &str) {
        tracing::warn!(device = %self.name, reason = why, "remote configuration refused at the TLS handshake");
        self.with_state(|s| s.provisioning_refusals += 1);
    }
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
    s.nvram.general.host_name.clear();
    s.nvram.general.domain_name.clear();
    s.nvram.redirection = Default::default();
    // Profiles go with the certificates they name; the audit log, data
    // storage and the ME power package stay.
    s.nvram.ieee8021x = Default::default();
    s.nvram.provisioning.otp = None;
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

/// Host-based setup in progress (IPS_HostBasedSetupService); not saved,
/// as firmware starts over after a reset.
#[derive(Clone, Debug)]
pub struct HostSetupProgress {
    /// ConfigurationNonce: fresh for every AdminSetup attempt.
    pub nonce: [u8; 20],
    /// The provisioning chain received so far, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The root arrived and the chain passed the provisioning rules.
    pub complete: bool,
}

impl Default for HostSetupProgress {
    fn default() -> Self {
        HostSetupProgress {
            nonce: rand::random(),
            chain: Vec::new(),
            complete: false,
        }
    }
}

impl HostSetupProgress {
    /// CertChainStatus: 0 not started, 1 in progress, 2 complete.
    pub fn status(&self) -> u8 {
        match (self.chain.is_empty(), self.complete) {
            (true, _) => 0,
            (false, false) => 1,
            (false, true) => 2,
        }
    }

    /// An attempt was made (whatever its outcome): the next one needs a new
    /// nonce and a new chain.
    pub fn restart(&mut self) {
        *self = HostSetupProgress::default();
    }
}
