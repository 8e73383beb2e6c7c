//! 802.1X on the wired port and the wireless profiles (AMT 4.0+): what the
//! firmware keeps and the rules it checks before accepting a profile.
//! Certificates are referred to by their handle in the certificate store.

use serde::{Deserialize, Serialize};

use super::certs::CertStore;

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

/// Why a profile was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// A required field is missing or a value is out of range.
    Invalid,
    /// A certificate reference names nothing in the store.
    NoSuchCertificate,
    /// A profile with this name already exists.
    Duplicate,
    /// The store of profiles is full.
    Full,
}

impl ProfileError {
    /// The PT_STATUS a method answers with.
    pub fn status(self) -> u32 {
        match self {
            ProfileError::Invalid => 36,
            ProfileError::NoSuchCertificate => 2068,
            ProfileError::Duplicate => 2058,
            ProfileError::Full => 23,
        }
    }
}

/// The 802.1X credentials of a wired or wireless profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ieee8021xCredentials {
    pub method: Option<EapMethod>,
    pub roaming_identity: String,
    pub server_certificate_name: String,
    /// 1 full name, 2 domain suffix.
    pub server_certificate_name_comparison: u8,
    pub username: String,
    /// Write-only: never read back over WS-Man.
    pub password: String,
    pub domain: String,
    /// The client certificate's handle in the certificate store.
    pub client_certificate: Option<u32>,
    /// The trusted root that must have issued the server's certificate.
    pub server_certificate_issuer: Option<u32>,
}

impl Ieee8021xCredentials {
    /// The firmware's checks: a method; a client certificate for the
    /// certificate methods and a user name and password for the password
    /// methods; references that exist (the issuer a trusted root).
    pub fn validate(&self, certs: &CertStore) -> Result<(), ProfileError> {
        let method = self.method.ok_or(ProfileError::Invalid)?;
        if method.needs_client_certificate() && self.client_certificate.is_none() {
            return Err(ProfileError::Invalid);
        }
        if method.needs_password() && (self.username.is_empty() || self.password.is_empty()) {
            return Err(ProfileError::Invalid);
        }
        if self.username.len() > 128 || self.password.len() > 32 || self.domain.len() > 64 {
            return Err(ProfileError::Invalid);
        }
        if !matches!(self.server_certificate_name_comparison, 0..=2) {
            return Err(ProfileError::Invalid);
        }
        if let Some(h) = self.client_certificate
            && certs.certificate(h).is_none_or(|c| c.trusted_root)
        {
            return Err(ProfileError::NoSuchCertificate);
        }
        if let Some(h) = self.server_certificate_issuer
            && certs.certificate(h).is_none_or(|c| !c.trusted_root)
        {
            return Err(ProfileError::NoSuchCertificate);
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

impl WiredProfile {
    /// A disabled profile needs nothing; an enabled one valid credentials.
    pub fn validate(&self, certs: &CertStore) -> Result<(), ProfileError> {
        if self.pxe_timeout > 86_400 {
            return Err(ProfileError::Invalid);
        }
        if self.enabled {
            self.credentials.validate(certs)?;
        }
        Ok(())
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
    pub fn validate(&self, certs: &CertStore) -> Result<(), ProfileError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok || self.ssid.is_empty() || self.ssid.len() > 32 {
            return Err(ProfileError::Invalid);
        }
        if self.authentication.uses_psk() {
            // WPA passphrase: 8 to 63 printable ASCII characters.
            let len = self.passphrase.len();
            let printable = self.passphrase.chars().all(|c| (' '..='~').contains(&c));
            if !(8..=63).contains(&len) || !printable || self.ieee8021x.is_some() {
                return Err(ProfileError::Invalid);
            }
        } else {
            let creds = self.ieee8021x.as_ref().ok_or(ProfileError::Invalid)?;
            if !self.passphrase.is_empty() {
                return Err(ProfileError::Invalid);
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
    ) -> Result<(), ProfileError> {
        profile.validate(certs)?;
        if self.wifi.iter().any(|p| p.name == profile.name) {
            return Err(ProfileError::Duplicate);
        }
        if self.wifi.iter().any(|p| p.priority == profile.priority) {
            // Priorities order the profiles; two alike are refused.
            return Err(ProfileError::Duplicate);
        }
        if self.wifi.len() >= MAX_WIFI_PROFILES {
            return Err(ProfileError::Full);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (CertStore, u32, u32) {
        let mut certs = CertStore::default();
        let client = certs.add_certificate(vec![1, 2, 3], false);
        let root = certs.add_certificate(vec![4, 5, 6], true);
        (certs, client, root)
    }

    fn psk(name: &str, priority: u32, passphrase: &str) -> WifiProfile {
        WifiProfile {
            name: name.into(),
            ssid: "corp".into(),
            priority,
            authentication: WifiAuthentication::Wpa2Psk,
            encryption: WifiEncryption::Ccmp,
            passphrase: passphrase.into(),
            ieee8021x: None,
        }
    }

    #[test]
    fn eap_methods_need_their_credentials() {
        let (certs, client, root) = store();
        let mut c = Ieee8021xCredentials::default();
        assert_eq!(c.validate(&certs), Err(ProfileError::Invalid));
        c.method = Some(EapMethod::Tls);
        assert_eq!(
            c.validate(&certs),
            Err(ProfileError::Invalid),
            "no client cert"
        );
        c.client_certificate = Some(99);
        assert_eq!(c.validate(&certs), Err(ProfileError::NoSuchCertificate));
        c.client_certificate = Some(root);
        assert_eq!(c.validate(&certs), Err(ProfileError::NoSuchCertificate));
        c.client_certificate = Some(client);
        assert_eq!(c.validate(&certs), Ok(()));
        c.server_certificate_issuer = Some(client);
        assert_eq!(c.validate(&certs), Err(ProfileError::NoSuchCertificate));
        c.server_certificate_issuer = Some(root);
        assert_eq!(c.validate(&certs), Ok(()));
        let mut p = Ieee8021xCredentials {
            method: EapMethod::from_number(2),
            username: "u".into(),
            ..Default::default()
        };
        assert_eq!(
            p.validate(&certs),
            Err(ProfileError::Invalid),
            "no password"
        );
        p.password = "secret".into();
        assert_eq!(p.validate(&certs), Ok(()));
        assert_eq!(EapMethod::from_number(11), None);
        assert_eq!(EapMethod::from_number(-1), None);
        assert_eq!(EapMethod::PeapMschapv2.number(), 2);
    }

    #[test]
    fn wireless_profiles_are_checked_then_stored() {
        let (certs, client, _) = store();
        let mut s = Ieee8021xState::default();
        for bad in ["short", &"x".repeat(64), "tab\there!"] {
            assert_eq!(
                s.add_wifi(psk("p", 1, bad), &certs),
                Err(ProfileError::Invalid)
            );
        }
        assert_eq!(
            s.add_wifi(psk("bad name", 1, "password1"), &certs),
            Err(ProfileError::Invalid)
        );
        s.add_wifi(psk("home", 1, "password1"), &certs).unwrap();
        assert_eq!(
            s.add_wifi(psk("home", 2, "password1"), &certs),
            Err(ProfileError::Duplicate)
        );
        assert_eq!(
            s.add_wifi(psk("work", 1, "password1"), &certs),
            Err(ProfileError::Duplicate)
        );
        let mut eap = WifiProfile {
            authentication: WifiAuthentication::Wpa28021x,
            passphrase: String::new(),
            ..psk("eap", 2, "")
        };
        assert_eq!(s.add_wifi(eap.clone(), &certs), Err(ProfileError::Invalid));
        eap.ieee8021x = Some(Ieee8021xCredentials {
            method: Some(EapMethod::Tls),
            client_certificate: Some(client),
            ..Default::default()
        });
        s.add_wifi(eap, &certs).unwrap();
        assert!(s.uses_certificate(client));
        for i in 3..=MAX_WIFI_PROFILES as u32 {
            s.add_wifi(psk(&format!("p{i}"), i, "password1"), &certs)
                .unwrap();
        }
        assert_eq!(
            s.add_wifi(psk("last", 99, "password1"), &certs),
            Err(ProfileError::Full)
        );
        assert!(s.remove_wifi("home"));
        assert!(!s.remove_wifi("home"));
    }

    #[test]
    fn a_disabled_wired_profile_needs_nothing() {
        let (certs, ..) = store();
        let mut w = WiredProfile::default();
        assert_eq!(w.validate(&certs), Ok(()));
        w.enabled = true;
        assert_eq!(w.validate(&certs), Err(ProfileError::Invalid));
    }
}
