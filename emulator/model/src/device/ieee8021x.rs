//! 802.1X on the wired port and the wireless profiles (AMT 4.0+): what the
//! firmware keeps and the rules it checks before accepting a profile.
//! Certificates are referred to by their handle in the certificate store.

use serde::{Deserialize, Serialize};

use super::audit::EventId;
use super::certs::CertStore;
use super::{Device, Feature, unix_now};
use crate::values::{BoundedString, check_text};

/// AuthenticationProtocol of an 802.1X profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EapMethod {
    Tls,
    TtlsMschapv2,
    PeapMschapv2,
    PeapGtc,
    FastMschapv2,
    FastGtc,
    Md5,
    Psk,
    Sim,
    Aka,
    FastTls,
}

const EAP_METHODS: [EapMethod; 11] = [
    EapMethod::Tls,
    EapMethod::TtlsMschapv2,
    EapMethod::PeapMschapv2,
    EapMethod::PeapGtc,
    EapMethod::FastMschapv2,
    EapMethod::FastGtc,
    EapMethod::Md5,
    EapMethod::Psk,
    EapMethod::Sim,
    EapMethod::Aka,
    EapMethod::FastTls,
];

impl EapMethod {
    pub fn number(self) -> u8 {
        EAP_METHODS.iter().position(|m| *m == self).unwrap_or(0) as u8
    }

    pub fn from_number(n: i64) -> Option<EapMethod> {
        usize::try_from(n)
            .ok()
            .and_then(|i| EAP_METHODS.get(i).copied())
    }

    /// Whether the method proves the client with a certificate.
    pub fn needs_client_certificate(self) -> bool {
        matches!(self, EapMethod::Tls | EapMethod::FastTls)
    }

    /// Whether the method proves the client with a user name and password.
    pub fn needs_password(self) -> bool {
        matches!(
            self,
            EapMethod::TtlsMschapv2
                | EapMethod::PeapMschapv2
                | EapMethod::PeapGtc
                | EapMethod::FastMschapv2
                | EapMethod::FastGtc
                | EapMethod::Md5
        )
    }
}

/// Why a profile (or a change to one) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ieee8021xRefusal {
    /// A required field is missing or a value is out of range.
    #[error("a field is missing or out of range")]
    Invalid,
    /// A certificate reference names nothing in the store.
    #[error("no such certificate")]
    NoSuchCertificate,
    /// A profile with this name or priority already exists.
    #[error("a profile with this name or priority exists")]
    Duplicate,
    /// The store of profiles is full.
    #[error("the profile store is full")]
    Full,
    /// No profile has this name.
    #[error("no such profile")]
    NoSuchProfile,
    /// The audit log cannot take the event and its policy calls it
    /// critical: the change must not happen.
    #[error("the audit log refuses the event")]
    AuditBlocked,
}

/// The 802.1X credentials of a wired or wireless profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ieee8021xCredentials {
    pub method: Option<EapMethod>,
    // Lengths are the class reference's MaxLen (CIM_IEEE8021xSettings).
    pub roaming_identity: BoundedString<80>,
    pub server_certificate_name: BoundedString<80>,
    /// 1 full name, 2 domain suffix.
    pub server_certificate_name_comparison: u8,
    pub username: BoundedString<128>,
    /// Write-only: never read back over WS-Man.
    pub password: BoundedString<32>,
    pub domain: BoundedString<64>,
    /// The client certificate's handle in the certificate store.
    pub client_certificate: Option<u32>,
    /// The trusted root that must have issued the server's certificate.
    pub server_certificate_issuer: Option<u32>,
}

impl Ieee8021xCredentials {
    /// The firmware's checks: a method; a client certificate for the
    /// certificate methods and a user name and password for the password
    /// methods; references that exist (the issuer a trusted root).
    pub fn validate(&self, certs: &CertStore) -> Result<(), Ieee8021xRefusal> {
        self.validate_before_certificates(certs)?;
        if self.method.is_some_and(|m| m.needs_client_certificate())
            && self.client_certificate.is_none()
        {
            return Err(Ieee8021xRefusal::Invalid);
        }
        Ok(())
    }

    /// The checks that hold before the certificates are bound: all of
    /// [`Self::validate`]'s but the client certificate's presence.
    pub fn validate_before_certificates(&self, certs: &CertStore) -> Result<(), Ieee8021xRefusal> {
        let method = self.method.ok_or(Ieee8021xRefusal::Invalid)?;
        if method.needs_password() && (self.username.is_empty() || self.password.is_empty()) {
            return Err(Ieee8021xRefusal::Invalid);
        }
        if !matches!(self.server_certificate_name_comparison, 0..=2) {
            return Err(Ieee8021xRefusal::Invalid);
        }
        self.check_certificates(certs)
    }

    /// The certificate references name certificates of the store: the
    /// client certificate a leaf, the issuer a trusted root.
    pub fn check_certificates(&self, certs: &CertStore) -> Result<(), Ieee8021xRefusal> {
        if let Some(h) = self.client_certificate
            && certs.certificate(h).is_none_or(|c| c.trusted_root)
        {
            return Err(Ieee8021xRefusal::NoSuchCertificate);
        }
        if let Some(h) = self.server_certificate_issuer
            && certs.certificate(h).is_none_or(|c| !c.trusted_root)
        {
            return Err(Ieee8021xRefusal::NoSuchCertificate);
        }
        Ok(())
    }
}

/// The wired port's profile (AMT_8021XProfile).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WiredProfile {
    pub enabled: bool,
    pub active_in_s0: bool,
    pub pxe_timeout: u32,
    pub credentials: Ieee8021xCredentials,
}

/// Where a wired edit comes from, which decides whether an enabled
/// certificate method must already name its client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WiredEdit {
    /// AMT_8021XProfile's Put and IPS SetCertificates: the certificates
    /// travel with the settings, so the result must be complete.
    Complete,
    /// IPS_IEEE8021xSettings' Put: the certificates are bound by a
    /// SetCertificates of their own, which consoles send after the Put that
    /// enables EAP-TLS (rps's wired configuration: Put with Enabled 2, then
    /// SetCertificates) and not at all for the password methods.
    CertificatesFollow,
}

impl WiredProfile {
    /// A disabled profile needs nothing; an enabled one valid credentials.
    pub fn validate(&self, certs: &CertStore, edit: WiredEdit) -> Result<(), Ieee8021xRefusal> {
        if self.pxe_timeout > 86_400 {
            return Err(Ieee8021xRefusal::Invalid);
        }
        match (self.enabled, edit) {
            (false, _) => {}
            (true, WiredEdit::Complete) => self.credentials.validate(certs)?,
            (true, WiredEdit::CertificatesFollow) => {
                self.credentials.validate_before_certificates(certs)?
            }
        }
        // A disabled profile may wait for the rest of its settings, but
        // the certificates it names must exist (SetCertificates may come
        // before the Put that enables it).
        self.credentials.check_certificates(certs)
    }
}

/// CIM_WiFiEndpointSettings.AuthenticationMethod values AMT accepts for
/// profiles a console adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WifiAuthentication {
    WpaPsk,
    Wpa8021x,
    Wpa2Psk,
    Wpa28021x,
}

impl WifiAuthentication {
    pub fn number(self) -> u8 {
        match self {
            WifiAuthentication::WpaPsk => 4,
            WifiAuthentication::Wpa8021x => 5,
            WifiAuthentication::Wpa2Psk => 6,
            WifiAuthentication::Wpa28021x => 7,
        }
    }

    pub fn from_number(n: i64) -> Option<WifiAuthentication> {
        match n {
            4 => Some(WifiAuthentication::WpaPsk),
            5 => Some(WifiAuthentication::Wpa8021x),
            6 => Some(WifiAuthentication::Wpa2Psk),
            7 => Some(WifiAuthentication::Wpa28021x),
            _ => None,
        }
    }

    pub fn uses_psk(self) -> bool {
        matches!(
            self,
            WifiAuthentication::WpaPsk | WifiAuthentication::Wpa2Psk
        )
    }
}

/// EncryptionMethod: TKIP or CCMP (AES); WEP and none are not accepted
/// with WPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WifiEncryption {
    Tkip,
    Ccmp,
}

impl WifiEncryption {
    pub fn number(self) -> u8 {
        match self {
            WifiEncryption::Tkip => 3,
            WifiEncryption::Ccmp => 4,
        }
    }

    pub fn from_number(n: i64) -> Option<WifiEncryption> {
        match n {
            3 => Some(WifiEncryption::Tkip),
            4 => Some(WifiEncryption::Ccmp),
            _ => None,
        }
    }
}

/// The most profiles the firmware keeps.
pub const MAX_WIFI_PROFILES: usize = 16;

/// One wireless profile (CIM_WiFiEndpointSettings, with its
/// CIM_IEEE8021xSettings when it uses 802.1X).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WifiProfile {
    /// ElementName, which the InstanceID is made from.
    pub name: String,
    pub ssid: String,
    pub priority: u32,
    pub authentication: WifiAuthentication,
    pub encryption: WifiEncryption,
    /// Write-only.
    pub passphrase: String,
    pub ieee8021x: Option<Ieee8021xCredentials>,
}

impl WifiProfile {
    pub fn validate(&self, certs: &CertStore) -> Result<(), Ieee8021xRefusal> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        // The SSID is shown in CIM_WiFiEndpointSettings: 1 to 32 bytes of text.
        if !name_ok || self.ssid.is_empty() || check_text(&self.ssid, 32).is_err() {
            return Err(Ieee8021xRefusal::Invalid);
        }
        if self.authentication.uses_psk() {
            // WPA passphrase: 8 to 63 printable ASCII characters.
            let len = self.passphrase.len();
            let printable = self.passphrase.chars().all(|c| (' '..='~').contains(&c));
            if !(8..=63).contains(&len) || !printable || self.ieee8021x.is_some() {
                return Err(Ieee8021xRefusal::Invalid);
            }
        } else {
            let creds = self.ieee8021x.as_ref().ok_or(Ieee8021xRefusal::Invalid)?;
            if !self.passphrase.is_empty() {
                return Err(Ieee8021xRefusal::Invalid);
            }
            creds.validate(certs)?;
        }
        Ok(())
    }
}

/// CIM_WiFiPort.EnabledState: whether the ME uses the wireless port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WifiPortState {
    #[default]
    Disabled,
    /// Enabled while the host runs.
    S0,
    /// Enabled in S0 and in sleep states on AC (what rpc-go and MeshCentral
    /// set).
    S0AndSxAc,
}

impl WifiPortState {
    pub const ALL: [WifiPortState; 3] = [
        WifiPortState::Disabled,
        WifiPortState::S0,
        WifiPortState::S0AndSxAc,
    ];

    pub fn number(self) -> u16 {
        match self {
            WifiPortState::Disabled => 3,
            WifiPortState::S0 => 32768,
            WifiPortState::S0AndSxAc => 32769,
        }
    }

    pub fn from_number(n: i64) -> Option<WifiPortState> {
        match n {
            3 => Some(WifiPortState::Disabled),
            32768 => Some(WifiPortState::S0),
            32769 => Some(WifiPortState::S0AndSxAc),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ieee8021xState {
    pub wired: WiredProfile,
    pub wifi: Vec<WifiProfile>,
    #[serde(default)]
    pub wifi_port: WifiPortState,
}

impl Ieee8021xState {
    /// Adds a wireless profile after every check; nothing changes on error.
    pub fn add_wifi(
        &mut self,
        profile: WifiProfile,
        certs: &CertStore,
    ) -> Result<(), Ieee8021xRefusal> {
        profile.validate(certs)?;
        if self.wifi.iter().any(|p| p.name == profile.name) {
            return Err(Ieee8021xRefusal::Duplicate);
        }
        if self.wifi.iter().any(|p| p.priority == profile.priority) {
            // Priorities order the profiles; two alike are refused.
            return Err(Ieee8021xRefusal::Duplicate);
        }
        if self.wifi.len() >= MAX_WIFI_PROFILES {
            return Err(Ieee8021xRefusal::Full);
        }
        self.wifi.push(profile);
        Ok(())
    }

    pub fn remove_wifi(&mut self, name: &str) -> bool {
        let before = self.wifi.len();
        self.wifi.retain(|p| p.name != name);
        self.wifi.len() != before
    }

    /// Whether a certificate is in use by a profile (it cannot be deleted
    /// while it is; the PKI class may ask).
    pub fn uses_certificate(&self, handle: u32) -> bool {
        let uses = |c: &Ieee8021xCredentials| {
            c.client_certificate == Some(handle) || c.server_certificate_issuer == Some(handle)
        };
        uses(&self.wired.credentials)
            || self
                .wifi
                .iter()
                .filter_map(|p| p.ieee8021x.as_ref())
                .any(uses)
    }
}

impl Device {
    /// The wired port's 802.1X profile.
    pub fn wired_profile(&self) -> WiredProfile {
        self.with_state(|s| s.nvram.ieee8021x.wired.clone())
    }

    /// The wireless profiles, in the order they were added.
    pub fn wifi_profiles(&self) -> Vec<WifiProfile> {
        self.with_state(|s| s.nvram.ieee8021x.wifi.clone())
    }

    /// In which states the ME uses the wireless port.
    pub fn wifi_port_state(&self) -> WifiPortState {
        self.with_state(|s| s.nvram.ieee8021x.wifi_port)
    }

    /// Sets when the ME uses the wireless port (CIM_WiFiPort
    /// RequestStateChange).
    pub fn set_wifi_port_state(&self, state: WifiPortState) {
        self.with_state(|s| s.nvram.ieee8021x.wifi_port = state);
        self.changed("CIM_WiFiPort");
    }

    /// Changes the wired profile: `edit` changes a copy, which is kept only
    /// if it passes the firmware's checks for that `kind` of edit. Nothing
    /// changes on error.
    pub fn edit_wired_profile(
        &self,
        kind: WiredEdit,
        edit: impl FnOnce(&mut WiredProfile) -> Result<(), Ieee8021xRefusal>,
    ) -> Result<(), Ieee8021xRefusal> {
        self.with_state(|s| {
            let mut wired = s.nvram.ieee8021x.wired.clone();
            edit(&mut wired)?;
            wired.validate(&s.nvram.certs, kind)?;
            s.nvram.ieee8021x.wired = wired;
            Ok(())
        })
    }

    /// Adds a wireless profile (AddWiFiSettings) and audits it; returns its
    /// name. An audit log that must refuse the event refuses before the
    /// profile is built from the request; then the profile is checked.
    /// Nothing changes on error.
    pub fn add_wifi_profile(
        &self,
        profile: impl FnOnce() -> Result<WifiProfile, Ieee8021xRefusal>,
    ) -> Result<String, Ieee8021xRefusal> {
        let audited = self.firmware.has(Feature::AuditLog);
        let name = self.with_state(|s| {
            let now = unix_now(s.nvram.clock_offset);
            if audited
                && s.nvram
                    .audit_log
                    .blocks(EventId::WIRELESS_PROFILE_ADDED, now)
            {
                return Err(Ieee8021xRefusal::AuditBlocked);
            }
            let profile = profile()?;
            let name = profile.name.clone();
            s.nvram.ieee8021x.add_wifi(profile, &s.nvram.certs)?;
            Ok(name)
        })?;
        self.changed("CIM_WiFiEndpointSettings");
        self.audit(EventId::WIRELESS_PROFILE_ADDED);
        Ok(name)
    }

    /// Removes the wireless profile named `name` and audits it.
    pub fn remove_wifi_profile(&self, name: &str) -> Result<(), Ieee8021xRefusal> {
        if !self.with_state(|s| s.nvram.ieee8021x.remove_wifi(name)) {
            return Err(Ieee8021xRefusal::NoSuchProfile);
        }
        self.audit(EventId::WIRELESS_PROFILE_REMOVED);
        Ok(())
    }

    /// Removes every wireless profile (DeleteAllITProfiles), auditing each;
    /// returns how many there were.
    pub fn remove_all_wifi_profiles(&self) -> usize {
        let removed = self.with_state(|s| std::mem::take(&mut s.nvram.ieee8021x.wifi).len());
        for _ in 0..removed {
            self.audit(EventId::WIRELESS_PROFILE_REMOVED);
        }
        self.changed("CIM_WiFiEndpointSettings");
        removed
    }
}

#[cfg(test)]
mod tests;
