//! Remote access (CIRA): the Management Presence Servers the device calls
//! home to, the policies that say when, user-initiated connections and
//! environment detection. Consoles configure it over WS-Man
//! (`AMT_RemoteAccessService` and its companions); the server's CIRA task
//! asks [`Device::cira_plan`] whether, where and why to connect.
//!
//! Limits the spec (`shared/spec/cira.md`) does not give are chosen here and
//! named as constants, each with its reason.

use serde::{Deserialize, Serialize};

use super::{Device, Feature, ProvisioningState};

mod codes;
pub use codes::{MpsType, Trigger, UserInitiated};

/// MPS entries a device keeps. Firmware's figure is not in the spec; the
/// consoles add one (MeshCentral, rps) or two (a policy names at most two),
/// so eight is generous while bounding NVRAM.
pub const MAX_MP_SERVERS: usize = 8;
/// MPSs one policy rule may name (MeshCentral's amt manager builds at most
/// two references).
pub const MAX_SERVERS_PER_RULE: usize = 2;
/// Longest MPS user name: MeshCentral's MPS needs exactly 16 characters,
/// which suggests firmware's field is 16 wide (spec §9 q7, inferred).
pub const MAX_USERNAME: usize = 16;
/// Longest MPS password and address; firmware's are not known.
pub const MAX_PASSWORD: usize = 32;
pub const MAX_ADDRESS: usize = 256;
/// Environment-detection domain suffixes kept, and the longest one.
pub const MAX_DETECTION_STRINGS: usize = 16;
pub const MAX_DETECTION_STRING: usize = 192;
/// Seconds between periodic connection attempts when a periodic rule
/// carries no interval.
pub const DEFAULT_PERIODIC_INTERVAL: u32 = 25;

/// How AddMpServer's AccessInfo is written (InfoFormat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MpsAddressFormat {
    Ipv4,
    Ipv6,
    Fqdn,
}

impl MpsAddressFormat {
    pub fn from_number(n: i64) -> Option<MpsAddressFormat> {
        match n {
            3 => Some(MpsAddressFormat::Ipv4),
            4 => Some(MpsAddressFormat::Ipv6),
            201 => Some(MpsAddressFormat::Fqdn),
            _ => None,
        }
    }

    pub fn number(self) -> u32 {
        match self {
            MpsAddressFormat::Ipv4 => 3,
            MpsAddressFormat::Ipv6 => 4,
            MpsAddressFormat::Fqdn => 201,
        }
    }
}

/// How the device proves itself to the MPS (AuthMethod).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MpsAuth {
    /// 1: mutual TLS with a client certificate the device holds.
    MutualTls { certificate: u32 },
    /// 2: APF USERAUTH with a user name and password.
    Password { username: String, password: String },
}

impl MpsAuth {
    pub fn number(&self) -> u32 {
        match self {
            MpsAuth::MutualTls { .. } => 1,
            MpsAuth::Password { .. } => 2,
        }
    }
}

/// One AMT_ManagementPresenceRemoteSAP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpServer {
    /// Numbers the instance name; never reused while the entry exists.
    pub id: u32,
    pub address: String,
    pub format: MpsAddressFormat,
    pub port: u16,
    pub auth: MpsAuth,
    /// The name the MPS certificate must carry when `address` is an IP
    /// address (spec §1).
    pub common_name: String,
}

impl MpServer {
    pub fn name(&self) -> String {
        format!("Intel(r) AMT:Management Presence Server {}", self.id)
    }

    /// The name the MPS certificate is checked against: the FQDN itself,
    /// or the common name given for an IP address.
    pub fn certificate_name(&self) -> &str {
        match self.format {
            MpsAddressFormat::Fqdn => &self.address,
            _ if self.common_name.is_empty() => &self.address,
            _ => &self.common_name,
        }
    }
}

/// One AMT_RemoteAccessPolicyRule and the servers it applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    pub trigger: Trigger,
    /// Seconds a tunnel this rule opened stays up; 0: until it drops.
    pub tunnel_lifetime: u32,
    pub extended_data: Vec<u8>,
    /// Server ids, in the order given, with where each is used.
    pub servers: Vec<(u32, MpsType)>,
}

impl PolicyRule {
    /// A periodic rule's interval: ExtendedData is two big-endian u32s,
    /// the timer type (0: interval, as rps and MeshCentral write it) and
    /// the seconds. Anything else falls back to the default.
    pub fn periodic_interval(&self) -> u32 {
        match self.extended_data.as_slice() {
            [0, 0, 0, 0, a, b, c, d] => match u32::from_be_bytes([*a, *b, *c, *d]) {
                0 => DEFAULT_PERIODIC_INTERVAL,
                s => s,
            },
            _ => DEFAULT_PERIODIC_INTERVAL,
        }
    }
}

/// The saved remote-access configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteAccess {
    pub servers: Vec<MpServer>,
    pub rules: Vec<PolicyRule>,
    pub user_initiated: UserInitiated,
    /// Domain suffixes that mean "inside the enterprise".
    pub detection_strings: Vec<String>,
}

impl RemoteAccess {
    pub fn server(&self, id: u32) -> Option<&MpServer> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn server_by_name(&self, name: &str) -> Option<&MpServer> {
        self.servers.iter().find(|s| s.name() == name)
    }

    pub fn rule(&self, trigger: Trigger) -> Option<&PolicyRule> {
        self.rules.iter().find(|r| r.trigger == trigger)
    }

    /// Whether a device in `domain` finds itself inside the enterprise.
    /// With no strings it always does: both consoles write a suffix that
    /// never matches (rps `<uuid>.com`, MeshCentral random hex) precisely
    /// so that the device connects, so an empty list keeps CIRA off.
    pub fn inside(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.detection_strings.is_empty()
            || self.detection_strings.iter().any(|s| {
                let s = s.trim_start_matches('.').to_ascii_lowercase();
                domain == s || domain.ends_with(&format!(".{s}"))
            })
    }
}

/// What AddMpServer asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMpServer {
    pub address: String,
    pub format: MpsAddressFormat,
    pub port: u16,
    pub auth: MpsAuth,
    pub common_name: String,
}

/// Why a remote-access change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteAccessRefusal {
    #[error("the firmware has no remote access")]
    Unsupported,
    #[error("an argument is malformed or out of range")]
    Invalid,
    #[error("no such server or rule")]
    NotFound,
    #[error("already configured")]
    Duplicate,
    #[error("no room for another entry")]
    Full,
}

/// Why the device opens no tunnel now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoCira {
    #[error("the firmware has no remote access")]
    Unsupported,
    #[error("the device is not provisioned")]
    NotProvisioned,
    #[error("no policy rule names a server")]
    NoPolicy,
    #[error("environment detection finds the device inside the enterprise")]
    Inside,
    #[error("user-initiated connections are disabled")]
    UserInitiatedDisabled,
}

/// A change in the device's CIRA tunnel, as the tunnel task reports it
/// ([`Device::cira_changed`]). The tunnel is the device's presence for an
/// MPS, so these are what the event stream shows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiraChange {
    /// A connection attempt to the MPS (`address:port`) began.
    Connecting { mps: String, trigger: Trigger },
    /// The APF handshake finished and the ports are forwarded.
    Connected { mps: String, trigger: Trigger },
    /// The tunnel ended, or the attempt failed, and why.
    Disconnected { reason: String },
}

impl Device {
    /// Announces a change of the CIRA tunnel to the device's listeners.
    pub fn cira_changed(&self, change: CiraChange) {
        self.announce(super::DeviceEvent::Cira(change));
    }
}

/// Where and why to connect now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiraPlan {
    pub server: MpServer,
    pub trigger: Trigger,
    /// Seconds the tunnel stays up; `None`: until it drops.
    pub lifetime: Option<u32>,
    /// Seconds between attempts after a failure (periodic rules).
    pub retry_interval: u32,
}

impl Device {
    /// A copy of the remote-access configuration.
    pub fn remote_access(&self) -> RemoteAccess {
        self.with_state(|s| s.nvram.remote_access.clone())
    }

    fn edit_remote_access<R>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut RemoteAccess) -> Result<R, RemoteAccessRefusal>,
    ) -> Result<R, RemoteAccessRefusal> {
        if !self.firmware.has(Feature::RemoteAccess) {
            return Err(RemoteAccessRefusal::Unsupported);
        }
        let result = self.with_state(|s| {
            // Work on a copy so a refusal half-way leaves nothing changed.
            let mut copy = s.nvram.remote_access.clone();
            let r = f(&mut copy)?;
            let changed = copy != s.nvram.remote_access;
            s.nvram.remote_access = copy;
            Ok((r, changed))
        });
        let (r, changed) = result?;
        if changed {
            self.changed(what);
        }
        Ok(r)
    }

    /// AddMpServer: a new MPS entry; returns its instance name.
    pub fn add_mp_server(&self, new: NewMpServer) -> Result<String, RemoteAccessRefusal> {
        use RemoteAccessRefusal::*;
        let address_ok = match new.format {
            MpsAddressFormat::Ipv4 => new.address.parse::<std::net::Ipv4Addr>().is_ok(),
            MpsAddressFormat::Ipv6 => new.address.parse::<std::net::Ipv6Addr>().is_ok(),
            MpsAddressFormat::Fqdn => valid_fqdn(&new.address),
        };
        if !address_ok || new.port == 0 || new.common_name.len() > MAX_ADDRESS {
            return Err(Invalid);
        }
        match &new.auth {
            MpsAuth::Password { username, password } => {
                if username.is_empty()
                    || username.len() > MAX_USERNAME
                    || password.is_empty()
                    || password.len() > MAX_PASSWORD
                {
                    return Err(Invalid);
                }
            }
            MpsAuth::MutualTls { certificate } => {
                let held = self.with_state(|s| s.nvram.certs.certificate(*certificate).is_some());
                if !held {
                    return Err(Invalid);
                }
            }
        }
        self.edit_remote_access("AMT_ManagementPresenceRemoteSAP", |ra| {
            let same =
                |s: &&MpServer| s.address.eq_ignore_ascii_case(&new.address) && s.port == new.port;
            if ra.servers.iter().any(|s| same(&s)) {
                return Err(Duplicate);
            }
            if ra.servers.len() >= MAX_MP_SERVERS {
                return Err(Full);
            }
            let id = (0..).find(|i| ra.server(*i).is_none()).unwrap_or(0);
            let server = MpServer {
                id,
                address: new.address,
                format: new.format,
                port: new.port,
                auth: new.auth,
                common_name: new.common_name,
            };
            let name = server.name();
            ra.servers.push(server);
            Ok(name)
        })
    }

    /// Deletes an MPS entry; rules lose it, and a rule left naming no
    /// server goes too (nothing could be connected to for it).
    pub fn delete_mp_server(&self, name: &str) -> Result<(), RemoteAccessRefusal> {
        self.edit_remote_access("AMT_ManagementPresenceRemoteSAP", |ra| {
            let id = ra
                .server_by_name(name)
                .ok_or(RemoteAccessRefusal::NotFound)?
                .id;
            ra.servers.retain(|s| s.id != id);
            for rule in &mut ra.rules {
                rule.servers.retain(|(s, _)| *s != id);
            }
            ra.rules.retain(|r| !r.servers.is_empty());
            Ok(())
        })
    }

    /// AddRemoteAccessPolicyRule: one rule per trigger, naming one or two
    /// existing servers by instance name.
    pub fn add_policy_rule(
        &self,
        trigger: Trigger,
        tunnel_lifetime: u32,
        extended_data: Vec<u8>,
        servers: &[String],
    ) -> Result<String, RemoteAccessRefusal> {
        use RemoteAccessRefusal::*;
        if servers.is_empty() || servers.len() > MAX_SERVERS_PER_RULE || extended_data.len() > 64 {
            return Err(Invalid);
        }
        self.edit_remote_access("AMT_RemoteAccessPolicyRule", |ra| {
            let mut ids = Vec::new();
            for name in servers {
                let id = ra.server_by_name(name).ok_or(Invalid)?.id;
                if ids.iter().any(|(i, _)| *i == id) {
                    return Err(Invalid);
                }
                ids.push((id, MpsType::default()));
            }
            if ra.rule(trigger).is_some() {
                return Err(Duplicate);
            }
            ra.rules.push(PolicyRule {
                trigger,
                tunnel_lifetime,
                extended_data,
                servers: ids,
            });
            Ok(trigger.rule_name().to_string())
        })
    }

    pub fn delete_policy_rule(&self, trigger: Trigger) -> Result<(), RemoteAccessRefusal> {
        self.edit_remote_access("AMT_RemoteAccessPolicyRule", |ra| {
            let before = ra.rules.len();
            ra.rules.retain(|r| r.trigger != trigger);
            if ra.rules.len() == before {
                return Err(RemoteAccessRefusal::NotFound);
            }
            Ok(())
        })
    }

    /// Sets where a rule's server is used (AppliesToMPS Put).
    pub fn set_mps_type(
        &self,
        trigger: Trigger,
        server: &str,
        mps_type: MpsType,
    ) -> Result<(), RemoteAccessRefusal> {
        self.edit_remote_access("AMT_RemoteAccessPolicyAppliesToMPS", |ra| {
            let id = ra
                .server_by_name(server)
                .ok_or(RemoteAccessRefusal::NotFound)?
                .id;
            let rule = ra
                .rules
                .iter_mut()
                .find(|r| r.trigger == trigger)
                .ok_or(RemoteAccessRefusal::NotFound)?;
            let entry = rule
                .servers
                .iter_mut()
                .find(|(s, _)| *s == id)
                .ok_or(RemoteAccessRefusal::NotFound)?;
            entry.1 = mps_type;
            Ok(())
        })
    }

    /// Changes a password-authenticated server's credentials
    /// (AMT_MPSUsernamePassword Put); absent parts keep their value.
    pub fn set_mps_credentials(
        &self,
        server: &str,
        username: Option<String>,
        password: Option<String>,
    ) -> Result<(), RemoteAccessRefusal> {
        use RemoteAccessRefusal::*;
        self.edit_remote_access("AMT_MPSUsernamePassword", |ra| {
            let id = ra.server_by_name(server).ok_or(NotFound)?.id;
            let entry = ra.servers.iter_mut().find(|s| s.id == id).ok_or(NotFound)?;
            let MpsAuth::Password {
                username: u,
                password: p,
            } = &mut entry.auth
            else {
                return Err(NotFound);
            };
            if let Some(name) = username {
                if name.is_empty() || name.len() > MAX_USERNAME {
                    return Err(Invalid);
                }
                *u = name;
            }
            if let Some(secret) = password {
                if secret.is_empty() || secret.len() > MAX_PASSWORD {
                    return Err(Invalid);
                }
                *p = secret;
            }
            Ok(())
        })
    }

    /// AMT_UserInitiatedConnectionService.RequestStateChange.
    pub fn set_user_initiated(&self, state: UserInitiated) -> Result<(), RemoteAccessRefusal> {
        self.edit_remote_access("AMT_UserInitiatedConnectionService", |ra| {
            ra.user_initiated = state;
            Ok(())
        })
    }

    /// AMT_EnvironmentDetectionSettingData.DetectionStrings.
    pub fn set_detection_strings(&self, strings: Vec<String>) -> Result<(), RemoteAccessRefusal> {
        let bad = |s: &String| s.is_empty() || s.len() > MAX_DETECTION_STRING;
        if strings.len() > MAX_DETECTION_STRINGS || strings.iter().any(bad) {
            return Err(RemoteAccessRefusal::Invalid);
        }
        self.edit_remote_access("AMT_EnvironmentDetectionSettingData", |ra| {
            ra.detection_strings = strings;
            Ok(())
        })
    }

    /// Whether the device should hold a tunnel now, and to where: the
    /// user-initiated rule when `user_requested` (host software or the BIOS
    /// asked), else the periodic rule; its first server used outside the
    /// enterprise. A device that finds itself inside opens none.
    pub fn cira_plan(&self, user_requested: bool) -> Result<CiraPlan, NoCira> {
        if !self.firmware.has(Feature::RemoteAccess) {
            return Err(NoCira::Unsupported);
        }
        self.with_state(|s| {
            if s.nvram.setup.state != ProvisioningState::Post {
                return Err(NoCira::NotProvisioned);
            }
            let ra = &s.nvram.remote_access;
            if ra.inside(&s.nvram.general.domain_name) {
                return Err(NoCira::Inside);
            }
            let trigger = if user_requested {
                if !ra.user_initiated.os_allowed() {
                    return Err(NoCira::UserInitiatedDisabled);
                }
                Trigger::UserInitiated
            } else {
                Trigger::Periodic
            };
            let rule = ra.rule(trigger).ok_or(NoCira::NoPolicy)?;
            let server = rule
                .servers
                .iter()
                .filter(|(_, t)| *t != MpsType::Internal)
                .find_map(|(id, _)| ra.server(*id))
                .ok_or(NoCira::NoPolicy)?;
            Ok(CiraPlan {
                server: server.clone(),
                trigger,
                lifetime: (rule.tunnel_lifetime != 0).then_some(rule.tunnel_lifetime),
                retry_interval: ra
                    .rule(Trigger::Periodic)
                    .map_or(DEFAULT_PERIODIC_INTERVAL, PolicyRule::periodic_interval),
            })
        })
    }
}

/// A host name as AddMpServer accepts it: dot-separated labels of letters,
/// digits and hyphens.
fn valid_fqdn(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ADDRESS
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests;
