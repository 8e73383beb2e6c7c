//! Host-based setup (IPS_HostBasedSetupService): a local agent activates a
//! pre-provisioned device from its host. Client control mode needs only a
//! new admin password (Setup); admin control mode also needs the
//! provisioning certificate chain (AddNextCertInChain) and a signature by
//! its leaf's key over the device's nonce and the agent's (AdminSetup,
//! UpgradeClientToAdmin).
//!
//! Each operation checks the provisioning state, its arguments and the
//! chain received, and changes the device, under one lock.

use rustls::pki_types::UnixTime;

use super::super::audit::EventId;
use super::super::{ControlMode, Device, DeviceState, ProvisioningState, SetupState};
use crate::device::chain;
use crate::device::provisioning_record::{Activation, ChainSeen, ProvisioningRecord};

/// The longest provisioning chain AddNextCertInChain takes (leaf,
/// intermediates, root); firmware's limit is not documented.
pub const MAX_CHAIN: usize = 4;

/// Why a host-based setup method refused. Nothing changed, except that an
/// attempt that got as far as its proof used up the nonce and the chain,
/// and a chain that became too long or broke a rule was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostSetupRefusal {
    /// Not in a provisioning state (or control mode) that allows this.
    #[error("the device's provisioning state does not allow this")]
    WrongState,
    /// An argument is missing or malformed.
    #[error("an argument is missing or malformed")]
    InvalidArgument,
    /// A certificate that is not a leaf came first, or after the root.
    #[error("the certificate does not continue a chain under way")]
    OutOfSequence,
    /// An admin activation without a complete, accepted chain.
    #[error("no accepted provisioning chain")]
    ChainIncomplete,
    #[error("the chain is longer than {MAX_CHAIN} certificates")]
    ChainTooLong,
    /// The chain ended in its root and breaks a provisioning rule.
    #[error("the chain breaks the provisioning certificate rules")]
    ChainRefused,
    /// The signature does not verify with the leaf's key (or the leaf has
    /// no readable key).
    #[error("the signature does not verify with the leaf's key")]
    BadSignature,
}

/// How AdminSetup and UpgradeClientToAdmin prove they hold the
/// provisioning certificate's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupProof {
    /// McNonce: the agent's nonce.
    pub mc_nonce: [u8; 20],
    /// RSA PKCS#1 v1.5 SHA-256 over ConfigurationNonce ‖ McNonce.
    pub signature: Vec<u8>,
}

/// Host-based setup in progress (IPS_HostBasedSetupService); not saved,
/// as firmware starts over after a reset.
#[derive(Clone, Debug)]
pub struct HostSetupProgress {
    /// ConfigurationNonce: fresh for every AdminSetup attempt.
    pub nonce: [u8; 20],
    /// The provisioning chain received so far, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// Set when the root arrived and the chain passed the provisioning
    /// rules (the chain is complete): what it showed, for the provisioning
    /// record.
    pub accepted: Option<ChainSeen>,
}

impl Default for HostSetupProgress {
    fn default() -> Self {
        HostSetupProgress {
            nonce: rand::random(),
            chain: Vec::new(),
            accepted: None,
        }
    }
}

impl HostSetupProgress {
    /// CertChainStatus: 0 not started, 1 in progress, 2 complete.
    pub fn status(&self) -> u8 {
        match (self.chain.is_empty(), self.accepted.is_some()) {
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

/// What IPS_HostBasedSetupService reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSetupReport {
    pub setup: SetupState,
    /// ConfigurationNonce.
    pub nonce: [u8; 20],
    /// CertChainStatus ([`HostSetupProgress::status`]).
    pub chain_status: u8,
}

impl Device {
    /// The host-based setup service as it stands.
    pub fn host_setup_report(&self) -> HostSetupReport {
        self.with_state(|s| HostSetupReport {
            setup: s.nvram.setup,
            nonce: s.host_setup.nonce,
            chain_status: s.host_setup.status(),
        })
    }

    /// Setup: Pre-provisioning → client control mode, with a new admin HA1
    /// (None: the password argument was malformed). Audited as
    /// provisioning completed.
    pub fn setup_client_control(
        &self,
        admin_ha1: Option<[u8; 16]>,
    ) -> Result<(), HostSetupRefusal> {
        self.with_state(|s| {
            if s.nvram.setup.state != ProvisioningState::Pre {
                return Err(HostSetupRefusal::WrongState);
            }
            let ha1 = admin_ha1.ok_or(HostSetupRefusal::InvalidArgument)?;
            activate(s, ControlMode::Client, ha1, Activation::Client);
            Ok(())
        })?;
        self.activated(ControlMode::Client);
        Ok(())
    }

    /// AdminSetup: Pre-provisioning → admin control mode, with a new admin
    /// HA1 (None: malformed), proven by the provisioning certificate's key
    /// (None: the proof's arguments were malformed). Every attempt that
    /// gets as far as the proof uses up the nonce and the chain.
    pub fn admin_setup(
        &self,
        admin_ha1: Option<[u8; 16]>,
        proof: Option<&SetupProof>,
    ) -> Result<(), HostSetupRefusal> {
        self.with_state(|s| {
            if s.nvram.setup.state != ProvisioningState::Pre {
                return Err(HostSetupRefusal::WrongState);
            }
            let ha1 = admin_ha1.ok_or(HostSetupRefusal::InvalidArgument)?;
            let chain = self.prove(s, proof)?;
            activate(s, ControlMode::Admin, ha1, Activation::Admin(chain));
            Ok(())
        })?;
        self.activated(ControlMode::Admin);
        Ok(())
    }

    /// UpgradeClientToAdmin: client control mode → admin control mode,
    /// proven as for [`Device::admin_setup`].
    pub fn upgrade_client_to_admin(
        &self,
        proof: Option<&SetupProof>,
    ) -> Result<(), HostSetupRefusal> {
        let ccm = SetupState {
            state: ProvisioningState::Post,
            mode: ControlMode::Client,
        };
        self.with_state(|s| {
            if s.nvram.setup != ccm {
                return Err(HostSetupRefusal::WrongState);
            }
            let chain = self.prove(s, proof)?;
            s.nvram.setup.mode = ControlMode::Admin;
            // The upgrade is an admin activation: it replaces the client
            // record (one slot).
            record(s, Activation::Admin(chain));
            Ok(())
        })?;
        tracing::info!(device = %self.name, "upgraded to admin control mode");
        self.changed("IPS_HostBasedSetupService");
        Ok(())
    }

    /// AddNextCertInChain: the provisioning chain, leaf first, taken while
    /// the device is pre-provisioned or in client control mode. `der` is
    /// None when the argument was missing or not base64. The root ends the
    /// chain, which is then checked against the provisioning rules; a
    /// refused chain is dropped and counted as a provisioning refusal.
    pub fn add_setup_certificate(
        &self,
        der: Option<Vec<u8>>,
        is_leaf: bool,
        is_root: bool,
    ) -> Result<(), HostSetupRefusal> {
        self.with_state(|s| {
            let setup = s.nvram.setup;
            let may_add = setup.state == ProvisioningState::Pre
                || (setup.state == ProvisioningState::Post && setup.mode == ControlMode::Client);
            if !may_add {
                return Err(HostSetupRefusal::WrongState);
            }
            let der = der
                .filter(|der| crate::pki::parse_certificate(der).is_ok())
                .ok_or(HostSetupRefusal::InvalidArgument)?;
            let progress = &mut s.host_setup;
            if is_leaf {
                progress.chain.clear();
                progress.accepted = None;
            } else if progress.chain.is_empty() || progress.accepted.is_some() {
                return Err(HostSetupRefusal::OutOfSequence);
            }
            if progress.chain.len() == MAX_CHAIN {
                progress.restart();
                return Err(HostSetupRefusal::ChainTooLong);
            }
            progress.chain.push(der);
            if !is_root {
                return Ok(());
            }
            let refs: Vec<&[u8]> = progress.chain.iter().map(Vec::as_slice).collect();
            let policy = chain::Policy::of(&s.nvram.provisioning, self.firmware);
            match chain::check(&refs, &policy, UnixTime::now()) {
                Ok(accepted) => {
                    tracing::info!(device = %self.name, cn = %accepted.common_name, "host-based setup chain accepted");
                    let secure_dns = !s.nvram.provisioning.pki_dns_suffix.is_empty();
                    s.host_setup.accepted = Some(ChainSeen::of(&accepted, secure_dns));
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!(device = %self.name, reason = %e, "host-based setup chain refused");
                    s.host_setup.restart();
                    s.provisioning_refusals += 1;
                    Err(HostSetupRefusal::ChainRefused)
                }
            }
        })
    }

    /// Checks the proof against the chain received: an RSA PKCS#1 v1.5
    /// SHA-256 signature over ConfigurationNonce ‖ McNonce by the leaf's
    /// key. Uses up the nonce and the chain, whatever the outcome. Gives
    /// what the chain showed, for the provisioning record.
    fn prove(
        &self,
        s: &mut DeviceState,
        proof: Option<&SetupProof>,
    ) -> Result<ChainSeen, HostSetupRefusal> {
        let progress = std::mem::take(&mut s.host_setup);
        let Some(seen) = progress.accepted else {
            return Err(HostSetupRefusal::ChainIncomplete);
        };
        let proof = proof.ok_or(HostSetupRefusal::InvalidArgument)?;
        let leaf =
            chain::leaf_public_key(&progress.chain[0]).ok_or(HostSetupRefusal::BadSignature)?;
        let message = [progress.nonce.as_slice(), &proof.mc_nonce].concat();
        if chain::verify_rsa_sha256(&leaf, &message, &proof.signature) {
            Ok(seen)
        } else {
            tracing::warn!(device = %self.name, "host-based setup signature does not verify");
            Err(HostSetupRefusal::BadSignature)
        }
    }

    /// What follows an activation, once the lock is let go.
    fn activated(&self, mode: ControlMode) {
        tracing::info!(device = %self.name, ?mode, "activated by host-based setup");
        self.changed("IPS_HostBasedSetupService");
        self.audit(EventId::PROVISIONING_COMPLETED);
    }
}

/// Activation: straight to Post-provisioning in `mode`, with a new admin
/// HA1. Client control mode cannot do without the user's consent.
fn activate(s: &mut DeviceState, mode: ControlMode, admin_ha1: [u8; 16], how: Activation) {
    s.nvram.setup = SetupState {
        state: ProvisioningState::Post,
        mode,
    };
    record(s, how);
    s.nvram.users.admin_ha1 = admin_ha1;
    s.nvram.users.admin_is_default = false;
    if mode == ControlMode::Client {
        s.nvram.redirection.opt_in_required = 0xFFFF_FFFF;
    }
}

/// Writes the provisioning record under the activation's lock, so it is
/// saved with it.
fn record(s: &mut DeviceState, how: Activation) {
    let now = super::super::unix_now(s.nvram.clock_offset);
    s.nvram.provisioning_record = Some(Box::new(ProvisioningRecord::new(now, how)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::device;

    fn pre() -> std::sync::Arc<Device> {
        let d = device("11.8");
        d.unprovision(super::super::Unprovisioning::Full);
        d
    }

    fn ca() -> Vec<u8> {
        crate::pki::self_signed_ca("some CA").unwrap().0
    }

    #[test]
    fn a_chain_is_taken_in_order_and_only_while_it_may_be() {
        let acm = device("11.8");
        assert_eq!(
            acm.add_setup_certificate(Some(ca()), true, false),
            Err(HostSetupRefusal::WrongState),
            "a provisioned ACM device"
        );
        assert_eq!(
            acm.add_setup_certificate(None, true, false),
            Err(HostSetupRefusal::WrongState),
            "the state is checked before the argument"
        );
        let d = pre();
        assert_eq!(
            d.add_setup_certificate(Some(vec![1, 2, 3]), true, false),
            Err(HostSetupRefusal::InvalidArgument)
        );
        assert_eq!(
            d.add_setup_certificate(Some(ca()), false, false),
            Err(HostSetupRefusal::OutOfSequence)
        );
        d.add_setup_certificate(Some(ca()), true, false).unwrap();
        assert_eq!(d.host_setup_report().chain_status, 1);
        assert_eq!(
            d.add_setup_certificate(Some(ca()), false, true),
            Err(HostSetupRefusal::ChainRefused),
            "a root the device does not trust"
        );
        assert_eq!(d.host_setup_report().chain_status, 0);
        assert_eq!(d.with_state(|s| s.provisioning_refusals), 1);
    }

    #[test]
    fn activation_needs_the_right_state_a_password_and_a_chain() {
        let d = device("11.8");
        assert_eq!(
            d.setup_client_control(None),
            Err(HostSetupRefusal::WrongState)
        );
        assert_eq!(
            d.upgrade_client_to_admin(None),
            Err(HostSetupRefusal::WrongState),
            "not in client control mode"
        );
        let d = pre();
        assert_eq!(
            d.setup_client_control(None),
            Err(HostSetupRefusal::InvalidArgument)
        );
        let nonce = d.host_setup_report().nonce;
        assert_eq!(
            d.admin_setup(None, None),
            Err(HostSetupRefusal::InvalidArgument)
        );
        assert_eq!(
            d.host_setup_report().nonce,
            nonce,
            "a bad password does not use up the nonce"
        );
        assert_eq!(
            d.admin_setup(Some([0; 16]), None),
            Err(HostSetupRefusal::ChainIncomplete)
        );
        assert_ne!(d.host_setup_report().nonce, nonce, "an attempt does");
        d.setup_client_control(Some([7; 16])).unwrap();
        let report = d.host_setup_report();
        assert_eq!(
            report.setup,
            SetupState {
                state: ProvisioningState::Post,
                mode: ControlMode::Client
            }
        );
        assert_eq!(
            d.upgrade_client_to_admin(None),
            Err(HostSetupRefusal::ChainIncomplete)
        );
    }

    #[test]
    fn host_based_activation_writes_the_record_of_its_mode() {
        use crate::device::provisioning_record::Activation;
        let d = pre();
        let seeded = d.with_state(|s| s.nvram.provisioning_record.clone());
        assert_eq!(
            seeded.as_ref().map(|r| &r.how),
            Some(&Activation::Manual),
            "the ACM device's seeded record outlives unprovisioning"
        );
        assert_eq!(
            d.setup_client_control(None),
            Err(HostSetupRefusal::InvalidArgument)
        );
        assert_eq!(
            d.with_state(|s| s.nvram.provisioning_record.clone()),
            seeded,
            "a refused Setup records nothing"
        );
        d.setup_client_control(Some([7; 16])).unwrap();
        let record = d.with_state(|s| s.nvram.provisioning_record.clone());
        assert_eq!(record.map(|r| r.how), Some(Activation::Client));
    }
}
