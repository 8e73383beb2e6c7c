//! What a device knows about being set up remotely: where its provisioning
//! server is, which domains it belongs to, which certificate roots it trusts
//! for provisioning, its PSK secrets, and how far its hello window has got:
//! data shared by the hello sender and the setup classes, and what the
//! device reports of its setup.

use std::net::SocketAddr;

use amtemu_wire::hello::HelloBody;
use rustls::pki_types::UnixTime;
use serde::{Deserialize, Serialize};

use super::{Device, ProvisioningState, SetupState};
use crate::device::chain::{self, Accepted, ChainError};
use crate::device::provisioning_record::{ChainSeen, TlsSetup};

/// The port hellos go to unless MEBx says otherwise.
pub const DEFAULT_HELLO_PORT: u16 = 9971;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvisioningSettings {
    /// Configuration server address entered in MEBx; tried before DNS.
    pub server: Option<SocketAddr>,
    /// The port for servers found by name.
    pub server_port: u16,
    /// Domain entered in MEBx or the OEM default ("" = none).
    pub mebx_domain: String,
    /// DHCP option 15 domain ("" = a workgroup machine).
    pub dhcp_domain: String,
    /// TrustedDNSSuffix: the PKI DNS suffix set in MEBx.
    pub pki_dns_suffix: String,
    /// Roots a provisioning certificate chain may end in.
    pub trusted_hashes: Vec<TrustedRootHash>,
    /// PSK provisioning ID (8 characters) on firmware with PSK setup.
    pub pid: Option<String>,
    /// PSK pre-shared secret (32 characters).
    pub pps: Option<String>,
    /// ProvisioningServerOTP set by a local agent.
    pub otp: Option<String>,
    pub hello: HelloStatus,
}

impl Default for ProvisioningSettings {
    fn default() -> Self {
        ProvisioningSettings {
            server: None,
            server_port: DEFAULT_HELLO_PORT,
            mebx_domain: String::new(),
            dhcp_domain: String::new(),
            pki_dns_suffix: String::new(),
            trusted_hashes: default_trusted_hashes(),
            pid: None,
            pps: None,
            otp: None,
            hello: HelloStatus::default(),
        }
    }
}

impl ProvisioningSettings {
    /// The hashes a PKI hello carries and a provisioning chain is checked
    /// against.
    pub fn active_hashes(&self) -> impl Iterator<Item = &TrustedRootHash> {
        self.trusted_hashes.iter().filter(|h| h.active)
    }

    /// Adds a user hash (as an admin does in MEBx), active at once.
    pub fn add_trusted_hash(&mut self, name: &str, algorithm: HashAlgorithm, hash: Vec<u8>) {
        let handle = crate::device::cert_hashes::free_handle(&self.trusted_hashes);
        self.trusted_hashes.push(TrustedRootHash {
            name: name.to_string(),
            algorithm,
            hash,
            active: true,
            default: false,
            handle: Some(handle),
        });
    }

    /// Whether a PSK (v2) hello applies: firmware support is checked by the
    /// caller; this says whether MEBx holds a usable PID.
    pub fn psk_pid(&self) -> Option<[u8; 8]> {
        let pid = self.pid.as_deref()?;
        let compact: Vec<u8> = pid.bytes().filter(|b| *b != b'-').collect();
        compact.try_into().ok()
    }
}

/// What AMT_SetupAndConfigurationService reports of a device's setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupReport {
    pub setup: SetupState,
    /// ProvisioningServerOTP: readable only while a configuration server is
    /// at work (In-provisioning).
    pub otp: Option<String>,
    /// DHCP option 15 domain ("" = none).
    pub dhcp_domain: String,
    /// TrustedDNSSuffix ("" = none).
    pub pki_dns_suffix: String,
}

impl Device {
    /// The provisioning state and control mode.
    pub fn setup_state(&self) -> SetupState {
        self.with_state(|s| s.nvram.setup)
    }

    /// The setup service as it stands.
    pub fn setup_report(&self) -> SetupReport {
        self.with_state(|s| {
            let p = &s.nvram.provisioning;
            SetupReport {
                setup: s.nvram.setup,
                otp: p
                    .otp
                    .clone()
                    .filter(|_| s.nvram.setup.state == ProvisioningState::In),
                dhcp_domain: p.dhcp_domain.clone(),
                pki_dns_suffix: p.pki_dns_suffix.clone(),
            }
        })
    }

    /// Checks a configuration server's chain (leaf first) against the
    /// device's provisioning policy as it stands; a refusal is logged and
    /// counted.
    pub fn check_provisioning_chain(
        &self,
        chain: &[&[u8]],
        now: UnixTime,
    ) -> Result<Accepted, ChainError> {
        self.with_state(|s| {
            let policy = chain::Policy::of(&s.nvram.provisioning, self.firmware);
            let checked = chain::check(chain, &policy, now);
            match &checked {
                Ok(accepted) => {
                    // The session CommitChanges will record, should this
                    // server complete the setup.
                    let secure_dns = !s.nvram.provisioning.pki_dns_suffix.is_empty();
                    s.tls_setup = Some(Box::new(TlsSetup {
                        chain: Some(ChainSeen::of(accepted, secure_dns)),
                        started: super::unix_now(s.nvram.clock_offset),
                        host_initiated: s.setup_started_by_host,
                        server_address: None,
                    }));
                }
                Err(e) => {
                    tracing::warn!(device = %self.name, reason = %e, "remote configuration refused at the TLS handshake");
                    s.provisioning_refusals += 1;
                }
            }
            checked
        })
    }

    /// A configuration server proved the PID/PPS at a TLS-PSK handshake:
    /// the session CommitChanges records, as the chain is for PKI.
    pub fn psk_setup_session(&self) {
        self.with_state(|s| {
            s.tls_setup = Some(Box::new(TlsSetup {
                chain: None,
                started: super::unix_now(s.nvram.clock_offset),
                host_initiated: s.setup_started_by_host,
                server_address: None,
            }));
        });
    }
}

/// One entry of the firmware's provisioning root hash table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedRootHash {
    pub name: String,
    pub algorithm: HashAlgorithm,
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
    pub active: bool,
    /// Shipped with the firmware (not user-added; survives unprovisioning).
    pub default: bool,
    /// What clients address the entry by (see `cert_hashes`); absent in
    /// state files from before it was kept, and then given by position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u32>,
}

/// How far the device's hello window has got.
pub use amtemu_wire::hello::HashAlgorithm;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HelloStatus {
    /// When the window opened (ME clock, seconds since 1970); None when no
    /// window was ever opened.
    pub window_start: Option<u64>,
    /// Hello attempts made in this window (delivered or not).
    pub retries_sent: u32,
    /// Hellos a server accepted the connection for.
    pub delivered: u32,
    /// The window ran out without the device being configured.
    pub given_up: bool,
    /// Where the last hello went.
    pub last_server: Option<SocketAddr>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// Roots shipped in the table by default: SHA-256 of the DER certificates of
/// public CAs of the kinds Intel documents (VeriSign-era DigiCert, Go Daddy,
/// Starfield, Comodo, Entrust).
fn default_trusted_hashes() -> Vec<TrustedRootHash> {
    const ROOTS: &[(&str, &str)] = &[
        (
            "DigiCert Global Root CA",
            "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
        ),
        (
            "DigiCert High Assurance EV Root CA",
            "7431e5f4c3c1ce4690774f0b61e05440883ba9a01ed00ba6abd7806ed3b118cf",
        ),
        (
            "DigiCert Assured ID Root CA",
            "3e9099b5015e8f486c00bcea9d111ee721faba355a89bcf1df69561e3dc6325c",
        ),
        (
            "Go Daddy Class 2 CA",
            "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4",
        ),
        (
            "Go Daddy Root Certificate Authority - G2",
            "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda",
        ),
        (
            "Starfield Class 2 CA",
            "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658",
        ),
        (
            "Starfield Root Certificate Authority - G2",
            "2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5",
        ),
        (
            "Comodo AAA Services root",
            "d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4",
        ),
        (
            "Entrust Root Certification Authority",
            "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c",
        ),
        (
            "Entrust Root Certification Authority - G2",
            "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339",
        ),
    ];
    ROOTS
        .iter()
        .enumerate()
        .map(|(i, (name, hex))| TrustedRootHash {
            name: (*name).to_string(),
            algorithm: HashAlgorithm::Sha256,
            hash: hex_bytes::decode(hex).unwrap_or_default(),
            active: true,
            default: true,
            handle: Some(i as u32),
        })
        .collect()
}

/// Hashes are stored as hex strings so state files stay readable.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::device::identity::hex_lower(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).ok_or_else(|| D::Error::custom("hash is not hex"))
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect()
    }
}

pub use hex_bytes::decode as decode_hex;

/// The PKI body for a device's hash table: active entries only (see
/// the README on why).
pub fn pki_hello<'a>(table: impl IntoIterator<Item = &'a TrustedRootHash>) -> HelloBody {
    HelloBody::Pki {
        hashes: table
            .into_iter()
            .filter(|h| h.active)
            .map(|h| (h.algorithm, h.hash.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn inactive_hashes_are_not_sent() {
        let table = [
            TrustedRootHash {
                name: "on".into(),
                algorithm: HashAlgorithm::Sha256,
                hash: vec![1; 32],
                active: true,
                default: true,
                handle: None,
            },
            TrustedRootHash {
                name: "off".into(),
                algorithm: HashAlgorithm::Sha256,
                hash: vec![2; 32],
                active: false,
                default: true,
                handle: None,
            },
        ];
        assert_eq!(
            pki_hello(&table),
            HelloBody::Pki {
                hashes: vec![(HashAlgorithm::Sha256, vec![1; 32])]
            }
        );
    }

    use super::*;

    #[test]
    fn defaults_are_sha256_hashes_of_the_right_length_and_round_trip() {
        let settings = ProvisioningSettings::default();
        assert!(settings.trusted_hashes.len() >= 10);
        for h in settings.active_hashes() {
            assert_eq!(h.hash.len(), h.algorithm.digest_len(), "{}", h.name);
        }
        let json = serde_json::to_string(&settings).unwrap();
        let back: ProvisioningSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
        let old: ProvisioningSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(old.server_port, DEFAULT_HELLO_PORT);
    }

    #[test]
    fn pid_is_taken_without_the_display_dash() {
        let mut s = ProvisioningSettings {
            pid: Some("ABCD-EFGH".into()),
            ..ProvisioningSettings::default()
        };
        assert_eq!(s.psk_pid(), Some(*b"ABCDEFGH"));
        s.pid = Some("short".into());
        assert_eq!(s.psk_pid(), None);
    }
}
