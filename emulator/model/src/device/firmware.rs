//! Firmware profiles: the one table that says what each AMT version is.
//!
//! Everything version-dependent asks the profile — by [`Feature`] — instead
//! of comparing version numbers. Adding a version is adding a row.

use std::fmt;

pub mod timing;
pub mod tls;
use timing::{CSME_12_PLUS, ME_6_TO_10, ME_11, ME_LEGACY};
pub use timing::{TimingMode, TimingProfile};
pub use tls::{CipherSuite, TlsProfile, TlsVersion};
use tls::{TLS_1_0, TLS_1_0_PSK, TLS_1_1, TLS_1_2};

/// Capabilities that appear (or disappear) between firmware generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// System Defense (filters, policies; "circuit breaker"), 2.5+.
    SystemDefense,
    /// Heuristic packet filtering (AMT_HeuristicPacketFilterStatistics and
    /// AMT_HeuristicPacketFilterInterfacePolicy), 3.0 until 10.0: Intel's
    /// class reference lists the statistics for releases 3.0 to 9.5, and
    /// the IRG's System Defense pages deprecate heuristics in 10.0.
    Heuristics,
    /// AMT_HeuristicPacketFilterSettings, 3.0 until 9.0 (Intel's class
    /// reference lists it for releases 3.0 to 8.0 only).
    HeuristicSettings,
    /// Agent presence watchdogs, 2.5+ (the VA variant of 5.0/5.1 is not
    /// modelled).
    AgentPresence,
    /// AMT_AuditLog and audit policy (Access Monitor), 4.0+.
    AuditLog,
    /// Wireless management, 802.1X profiles, 4.0+.
    Wireless,
    /// Remote access (CIRA), environment detection, 4.0+.
    RemoteAccess,
    /// KVM redirection classes, 6.0+.
    Kvm,
    /// KVM as plain VNC on TCP 5900 (`Is5900PortEnabled`), 6.0 until CSME
    /// 16 removed it.
    KvmPort5900,
    /// IPv6 settings, 6.0+.
    Ipv6,
    /// IPS_HostIPSettings, where the host reports the addresses it uses,
    /// 6.0+ (inferred: the class belongs to the IPS schema, which began
    /// with 6.0).
    HostIpSettings,
    /// IPS_OptInService (user consent), 6.2+.
    UserConsent,
    /// IPS_HostBasedSetupService, 6.2+ (host-based setup proper from 7.0).
    HostBasedSetup,
    /// Client control mode (host-based CCM activation), 7.0+.
    ClientControlMode,
    /// AMT_AlarmClockService, 8.0+.
    AlarmClock,
    /// IPS_ScreenSettingData, 8.0+.
    ScreenSettings,
    /// Sleep, hibernate, NMI and graceful power requests, 9.0+.
    ExtendedPowerStates,
    /// IPS_PowerManagementService (OS power saving state), 10.0+.
    OsPowerSavingState,
    /// IPS_ScreenConfigurationService, 10.0+.
    ScreenConfiguration,
    /// IPS_AlarmClockOccurrence (several alarms), 11.0+.
    AlarmOccurrences,
    /// AMT_WebUIService: the web UI can be switched off, 11.0+ (inferred:
    /// the class is not in Intel's reference before 11).
    WebUiControl,
    /// IPS_HTTPProxyService and access points, 12.0+.
    HttpProxy,
    /// IPS_IEEE8021xSettings and IPS_8021xCredentialContext, the wired
    /// port's 802.1X settings in the IPS schema, 11.0+ (inferred: Intel's
    /// reference lists AMT_8021XProfile for releases up to 11.0, and the
    /// DMT tools, which target 11 and later, configure wired 802.1X only
    /// through the IPS class).
    IpsWired8021x,
    /// The DASH "Simple Identity" and "Role Based Authorization" classes
    /// (CIM_Account, CIM_Identity, CIM_Role and their associations), 3.2
    /// until 12.0 (Intel's class reference lists them for releases 3.2 to
    /// 11.0).
    DashAccounts,
    /// AMT_GeneralSettings.AMTAuthenticate, 15.0+.
    AmtAuthenticate,
    /// One-click recovery (OCR) boot options, 16.0+.
    OneClickRecovery,
    /// Provisioning modes named Enterprise / Small Business (before 6.0).
    LegacyProvisioningModes,
    /// PSK (PID/PPS) setup and the v2 hello, 2.0 until 11.0 removed it.
    PskSetup,
    /// PKI remote configuration (v3 hello with root hashes), 2.2+.
    RemoteConfiguration,
    /// A provisioning certificate from a parent `.com`/`.net` domain of the
    /// device's is accepted when the last two labels match, 2.6+.
    ProvisioningSuffixRelaxation,
    /// AMT_GeneralSettings.HostName may hold Unicode characters (sent as
    /// character references), not only a DNS label: CSME 18.0+ (class
    /// reference).
    UnicodeHostName,
    /// WS-Eventing subscriptions (CIM_FilterCollection.Subscribe) and the
    /// event manager's classes, 3.2+ (Intel's WS-Eventing feature page:
    /// subscribers "from Release 3.2").
    WsEventing,
    /// Endpoint access control (AMT_EndpointAccessControlService, network
    /// admission posture), 3.0 until CSME 18.0 dropped it (Intel's class
    /// reference: releases 3.0 to 11.0 listed, "no longer supported ...
    /// starting with release 18.0").
    EndpointAccessControl,
    /// SNMP PET alerts and their filters (AMT_PETFilterSetting), until
    /// CSME 18.0 removed them (Intel's Event Filters page).
    PetAlerts,
}

/// The TCP ports a firmware opens to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// 16992, WS-Man over plain HTTP.
    Http,
    /// 16993, WS-Man over TLS.
    Https,
    /// 16994, redirection without TLS.
    Redirection,
    /// 16995, redirection over TLS.
    RedirectionTls,
    /// 5900, KVM as standard VNC (see [`Feature::KvmPort5900`]).
    Vnc,
    /// The local interface, amtemu's stand-in for LMS on the host (26992 by
    /// default: the HTTP port + 10000); see [`super::local_account`].
    Local,
}

impl Port {
    pub fn standard_number(self) -> u16 {
        match self {
            Port::Http => 16992,
            Port::Https => 16993,
            Port::Redirection => 16994,
            Port::RedirectionTls => 16995,
            Port::Vnc => 5900,
            Port::Local => 26992,
        }
    }
}

/// One firmware version's row.
#[derive(Debug)]
pub struct Firmware {
    /// The name users pick it by: `11.8`.
    pub name: &'static str,
    pub major: u8,
    pub minor: u8,
    /// The `AMT` software identity VersionString: `11.8.50`.
    pub version: &'static str,
    /// The `Build Number` software identity: `3425`.
    pub build: &'static str,
    /// The `Sku` software identity (a decimal feature mask).
    pub sku: &'static str,
    /// The `Recovery Version` software identity.
    pub recovery_version: &'static str,
    pub ports: &'static [Port],
    /// The largest RSA key of a CA certificate the firmware accepts.
    pub max_ca_key_bits: u32,
    /// What its TLS server (16993, 16995, setup mode) speaks.
    pub tls: &'static TlsProfile,
    /// How fast it answers and how many connections it takes, served with
    /// `--timing firmware`.
    pub timing: &'static TimingProfile,
}

impl Firmware {
    pub fn has(&self, feature: Feature) -> bool {
        let version = (self.major, self.minor);
        FEATURE_VERSIONS.iter().any(|(f, since, until)| {
            *f == feature && *since <= version && until.is_none_or(|u| version < u)
        })
    }

    /// The features this firmware has, in the order they arrived.
    pub fn features(&self) -> impl Iterator<Item = Feature> + '_ {
        FEATURE_VERSIONS
            .iter()
            .map(|(f, ..)| *f)
            .filter(|f| self.has(*f))
    }

    pub fn opens(&self, port: Port) -> bool {
        match port {
            // Host-based setup is what software on the host reaches LMS for.
            Port::Local => self.has(Feature::HostBasedSetup),
            // Listened on whenever the firmware has it; a device with the
            // port switched off accepts and closes (the listener may be
            // shared by several devices).
            Port::Vnc => self.has(Feature::KvmPort5900),
            _ => self.ports.contains(&port),
        }
    }

    /// The HTTP Server banner.
    pub fn server_banner(&self) -> String {
        format!(
            "Intel(R) Active Management Technology {}.{}",
            self.version, self.build
        )
    }

    /// Identify's ProductVersion: `AMT major.minor`.
    pub fn product_version(&self) -> String {
        format!("AMT {}.{}", self.major, self.minor)
    }

    /// Looks a profile up by name (`11.8`), also accepting a full version
    /// that starts with one (`11.8.50`).
    pub fn by_name(name: &str) -> Option<&'static Firmware> {
        PROFILES.iter().find(|f| f.name == name).or_else(|| {
            PROFILES
                .iter()
                .find(|f| name.starts_with(f.version) || name.starts_with(&format!("{}.", f.name)))
        })
    }

    pub fn all() -> &'static [Firmware] {
        PROFILES
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A (major, minor) firmware version.
type Version = (u8, u8);

/// When each feature arrived (and, for the one that went away, when it
/// went), as (major, minor) versions. This table is the only place that ties
/// features to versions.
const FEATURE_VERSIONS: &[(Feature, Version, Option<Version>)] = &[
    (Feature::LegacyProvisioningModes, (0, 0), Some((6, 0))),
    (Feature::PskSetup, (2, 0), Some((11, 0))),
    (Feature::RemoteConfiguration, (2, 2), None),
    (Feature::ProvisioningSuffixRelaxation, (2, 6), None),
    (Feature::SystemDefense, (2, 5), None),
    (Feature::Heuristics, (3, 0), Some((10, 0))),
    (Feature::HeuristicSettings, (3, 0), Some((9, 0))),
    (Feature::AgentPresence, (2, 5), None),
    (Feature::AuditLog, (4, 0), None),
    (Feature::Wireless, (4, 0), None),
    (Feature::RemoteAccess, (4, 0), None),
    (Feature::Kvm, (6, 0), None),
    (Feature::KvmPort5900, (6, 0), Some((16, 0))),
    (Feature::Ipv6, (6, 0), None),
    (Feature::HostIpSettings, (6, 0), None),
    (Feature::UserConsent, (6, 2), None),
    (Feature::HostBasedSetup, (6, 2), None),
    (Feature::ClientControlMode, (7, 0), None),
    (Feature::AlarmClock, (8, 0), None),
    (Feature::ScreenSettings, (8, 0), None),
    (Feature::ExtendedPowerStates, (9, 0), None),
    (Feature::OsPowerSavingState, (10, 0), None),
    (Feature::ScreenConfiguration, (10, 0), None),
    (Feature::AlarmOccurrences, (11, 0), None),
    (Feature::WebUiControl, (11, 0), None),
    (Feature::HttpProxy, (12, 0), None),
    (Feature::IpsWired8021x, (11, 0), None),
    (Feature::DashAccounts, (3, 2), Some((12, 0))),
    (Feature::AmtAuthenticate, (15, 0), None),
    (Feature::OneClickRecovery, (16, 0), None),
    (Feature::UnicodeHostName, (18, 0), None),
    (Feature::WsEventing, (3, 2), None),
    (Feature::PetAlerts, (0, 0), Some((18, 0))),
    (Feature::EndpointAccessControl, (3, 0), Some((18, 0))),
];

const ALL_PORTS: &[Port] = &[
    Port::Http,
    Port::Https,
    Port::Redirection,
    Port::RedirectionTls,
];
/// From 16.1 the firmware no longer serves plain HTTP or plain redirection
/// to the network.
const TLS_ONLY: &[Port] = &[Port::Https, Port::RedirectionTls];

static PROFILES: &[Firmware] = &[
    Firmware {
        name: "3.2.1",
        major: 3,
        minor: 2,
        version: "3.2.1",
        build: "1026",
        sku: "8",
        recovery_version: "3.2.1",
        ports: ALL_PORTS,
        max_ca_key_bits: 2048,
        tls: &TLS_1_0_PSK,
        timing: &ME_LEGACY,
    },
    Firmware {
        name: "4.0",
        major: 4,
        minor: 0,
        version: "4.0.4",
        build: "1165",
        sku: "8",
        recovery_version: "4.0.4",
        ports: ALL_PORTS,
        max_ca_key_bits: 2048,
        tls: &TLS_1_0_PSK,
        timing: &ME_LEGACY,
    },
    Firmware {
        name: "5.2",
        major: 5,
        minor: 2,
        version: "5.2.10",
        build: "1023",
        sku: "8",
        recovery_version: "5.2.10",
        ports: ALL_PORTS,
        max_ca_key_bits: 2048,
        tls: &TLS_1_0_PSK,
        timing: &ME_LEGACY,
    },
    Firmware {
        name: "6.2",
        major: 6,
        minor: 2,
        version: "6.2.10",
        build: "1030",
        sku: "24584",
        recovery_version: "6.2.10",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0_PSK,
        timing: &ME_6_TO_10,
    },
    Firmware {
        name: "7.0",
        major: 7,
        minor: 0,
        version: "7.0.2",
        build: "1164",
        sku: "24584",
        recovery_version: "7.0.2",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0_PSK,
        timing: &ME_6_TO_10,
    },
    Firmware {
        name: "8.1",
        major: 8,
        minor: 1,
        version: "8.1.40",
        build: "1416",
        sku: "24584",
        recovery_version: "8.1.40",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0_PSK,
        timing: &ME_6_TO_10,
    },
    Firmware {
        name: "9.5",
        major: 9,
        minor: 5,
        version: "9.5.30",
        build: "1952",
        sku: "24584",
        recovery_version: "9.5.30",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0_PSK,
        timing: &ME_6_TO_10,
    },
    Firmware {
        name: "10.0",
        major: 10,
        minor: 0,
        version: "10.0.47",
        build: "1000",
        sku: "16392",
        recovery_version: "10.0.47",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0_PSK,
        timing: &ME_6_TO_10,
    },
    Firmware {
        name: "11.8",
        major: 11,
        minor: 8,
        version: "11.8.50",
        build: "3425",
        sku: "16392",
        recovery_version: "11.8.50",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_0,
        timing: &ME_11,
    },
    Firmware {
        name: "12.0",
        major: 12,
        minor: 0,
        version: "12.0.67",
        build: "1579",
        sku: "16392",
        recovery_version: "12.0.67",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_1,
        timing: &CSME_12_PLUS,
    },
    Firmware {
        name: "14.1",
        major: 14,
        minor: 1,
        version: "14.1.70",
        build: "2199",
        sku: "16392",
        recovery_version: "14.1.70",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_1,
        timing: &CSME_12_PLUS,
    },
    Firmware {
        name: "15.0",
        major: 15,
        minor: 0,
        version: "15.0.23",
        build: "1706",
        sku: "16392",
        recovery_version: "15.0.23",
        ports: ALL_PORTS,
        max_ca_key_bits: 4096,
        tls: &TLS_1_2,
        timing: &CSME_12_PLUS,
    },
    Firmware {
        name: "16.1",
        major: 16,
        minor: 1,
        version: "16.1.25",
        build: "2049",
        sku: "16392",
        recovery_version: "16.1.25",
        ports: TLS_ONLY,
        max_ca_key_bits: 4096,
        tls: &TLS_1_2,
        timing: &CSME_12_PLUS,
    },
    Firmware {
        name: "18.0",
        major: 18,
        minor: 0,
        version: "18.0.5",
        build: "2075",
        sku: "16392",
        recovery_version: "18.0.5",
        ports: TLS_ONLY,
        max_ca_key_bits: 4096,
        tls: &TLS_1_2,
        timing: &CSME_12_PLUS,
    },
];

/// The profile `amtemu serve` uses unless told otherwise.
pub const DEFAULT_FIRMWARE: &str = "11.8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_required_version_once() {
        let required = [
            "3.2.1", "4.0", "5.2", "6.2", "7.0", "8.1", "9.5", "10.0", "11.8", "12.0", "14.1",
            "15.0", "16.1", "18.0",
        ];
        for name in required {
            let fw = Firmware::by_name(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(fw.name, name);
            assert!(
                fw.version
                    .starts_with(&format!("{}.{}", fw.major, fw.minor))
            );
        }
        assert_eq!(Firmware::all().len(), required.len());
    }

    #[test]
    fn banners_and_versions_have_the_forms_clients_parse() {
        let fw = Firmware::by_name("11.8").unwrap();
        assert_eq!(
            fw.server_banner(),
            "Intel(R) Active Management Technology 11.8.50.3425"
        );
        assert_eq!(fw.product_version(), "AMT 11.8");
        assert_eq!(Firmware::by_name("11.8.50").unwrap().name, "11.8");
        assert!(Firmware::by_name("2.0").is_none());
    }

    #[test]
    fn tls_rows_follow_intels_version_history() {
        // PSK setup and its suites go together.
        for fw in Firmware::all() {
            assert_eq!(
                fw.has(Feature::PskSetup),
                !fw.tls.psk_suites.is_empty(),
                "{fw}"
            );
        }
        let v = |name: &str| Firmware::by_name(name).unwrap().tls.versions;
        assert_eq!(v("6.2"), [TlsVersion::Tls10, TlsVersion::Tls11]);
        assert_eq!(v("11.8"), [TlsVersion::Tls10, TlsVersion::Tls11]);
        assert_eq!(v("12.0"), [TlsVersion::Tls11, TlsVersion::Tls12]);
        assert_eq!(v("16.1"), [TlsVersion::Tls12]);
        assert!(
            Firmware::all()
                .iter()
                .all(|f| !f.tls.offers(TlsVersion::Tls13))
        );
    }

    #[test]
    fn features_follow_generations() {
        let old = Firmware::by_name("3.2.1").unwrap();
        let new = Firmware::by_name("16.1").unwrap();
        assert!(!old.has(Feature::AuditLog));
        assert!(Firmware::by_name("4.0").unwrap().has(Feature::AuditLog));
        assert!(new.has(Feature::OneClickRecovery));
        assert!(!new.opens(Port::Http));
        assert!(Firmware::by_name("15.0").unwrap().opens(Port::Http));
    }
}
