//! The provisioning record: how and when the device was last activated, as
//! the firmware writes it at activation (IPS_ProvisioningRecordLog holds
//! one record, AMT 6.2+) and consoles read it back.
//!
//! One owner: the activation paths (CommitChanges ending remote
//! configuration, host-based Setup/AdminSetup/UpgradeClientToAdmin) call
//! [`ProvisioningRecord::new`] under the same lock as the state change, so
//! the record is saved in the same commit as the activation it describes
//! and the reply acknowledging the activation follows both.
//!
//! Unprovisioning keeps the record: the log is written by activation only
//! (LogState 4, "not applicable") and holds the *last* activation, which a
//! console may still ask about after a reset, as the audit log is kept from
//! 8.0 on (inferred; Intel's reference does not say that unprovisioning
//! clears it). The next activation overwrites it (one slot, wrapping).

use serde::{Deserialize, Serialize};

use super::chain::Accepted;
use super::provisioning::hex_bytes;
use super::{ControlMode, Feature, Firmware, HashAlgorithm, ProvisioningState, SetupState};

/// The last activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRecord {
    /// When activation completed, on the ME clock (seconds since 1970).
    pub time: u32,
    pub how: Activation,
}

/// How the device was activated: which record class describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// Remote configuration over the setup TLS session, completed by
    /// CommitChanges (IPS_TLSProvisioningRecord).
    Tls(TlsSetup),
    /// Host-based setup in admin control mode (AdminSetup, or
    /// UpgradeClientToAdmin), proven with a provisioning chain
    /// (IPS_AdminProvisioningRecord).
    Admin(ChainSeen),
    /// Host-based setup in client control mode (IPS_ClientProvisioningRecord):
    /// the caller did not sign it, so no certificate hash is recorded.
    Client,
    /// Setup completed with no TLS setup session behind it, as when an
    /// administrator configures the device locally
    /// (IPS_ManualProvisioningRecord).
    Manual,
}

/// What a TLS setup session showed the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSetup {
    /// The configuration server's chain (PKI); None for a PSK session,
    /// which shows no certificate.
    pub chain: Option<ChainSeen>,
    /// When the accepted handshake took place, on the ME clock.
    pub started: u32,
    /// Remote configuration was started by a host agent (the setup-mode
    /// request of the control API) rather than at power-up.
    pub host_initiated: bool,
    /// The address of the configuration server that completed the setup
    /// (the client whose CommitChanges ended it); absent in records saved
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_address: Option<std::net::IpAddr>,
}

/// The provisioning certificate chain an activation was accepted with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSeen {
    /// The leaf's CN: the configuration server's FQDN.
    pub common_name: String,
    /// The trusted root hash the chain ended in.
    pub hash_algorithm: HashAlgorithm,
    #[serde(with = "hex_bytes")]
    pub root_hash: Vec<u8>,
    /// That hash is one shipped with the firmware.
    pub root_is_default: bool,
    /// Serial numbers of the chain's CA certificates, leaf's issuer first.
    #[serde(with = "hex_list")]
    pub ca_serials: Vec<Vec<u8>>,
    /// The domain the CN was checked against was the PKI DNS suffix set in
    /// MEBx (true) rather than DHCP option 15.
    pub secure_dns: bool,
}

/// The most CA serial numbers a record lists (Intel's `string[5]`); more
/// are flagged by AdditionalCaSerialNums.
pub const MAX_CA_SERIALS: usize = 5;

impl ChainSeen {
    /// The record of an accepted chain, checked with the PKI DNS suffix
    /// set (`secure_dns`) or not.
    pub fn of(accepted: &Accepted, secure_dns: bool) -> ChainSeen {
        ChainSeen {
            common_name: accepted.common_name.clone(),
            hash_algorithm: accepted.root_entry.algorithm,
            root_hash: accepted.root_entry.hash.clone(),
            root_is_default: accepted.root_entry.default,
            ca_serials: accepted.ca_serials.clone(),
            secure_dns,
        }
    }

    /// The serials a record lists, and whether there were more.
    pub fn listed_serials(&self) -> (&[Vec<u8>], bool) {
        let n = self.ca_serials.len().min(MAX_CA_SERIALS);
        (
            &self.ca_serials[..n],
            self.ca_serials.len() > MAX_CA_SERIALS,
        )
    }
}

/// The record of a device that starts provisioned: it stands for an
/// activation before the emulator saw it, as a real provisioned device has
/// one (the AMT 11 capture's log counts 1). Admin control mode without a
/// setup session is MEBx (manual) setup; client control mode is only ever
/// reached by host-based Setup. Firmware without the log (before 6.2) has
/// none.
pub fn seeded(firmware: &Firmware, setup: SetupState) -> Option<Box<ProvisioningRecord>> {
    if setup.state != ProvisioningState::Post || !firmware.has(Feature::HostBasedSetup) {
        return None;
    }
    let how = match setup.mode {
        ControlMode::Admin => Activation::Manual,
        ControlMode::Client => Activation::Client,
    };
    Some(Box::new(ProvisioningRecord::new(super::unix_now(0), how)))
}

impl ProvisioningRecord {
    pub fn new(time: u32, how: Activation) -> ProvisioningRecord {
        ProvisioningRecord { time, how }
    }

    /// The record class that describes this activation.
    pub fn class_name(&self) -> &'static str {
        match self.how {
            Activation::Tls(_) => "IPS_TLSProvisioningRecord",
            Activation::Admin(_) => "IPS_AdminProvisioningRecord",
            Activation::Client => "IPS_ClientProvisioningRecord",
            Activation::Manual => "IPS_ManualProvisioningRecord",
        }
    }
}

/// Serial numbers are stored as hex strings, as the root hashes are.
mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&crate::device::identity::hex_lower(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| crate::device::provisioning::decode_hex(t))
            .collect::<Option<_>>()
            .ok_or_else(|| D::Error::custom("serial is not hex"))
    }
}
