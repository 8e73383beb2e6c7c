//! What each firmware generation's TLS server speaks: protocol versions,
//! cipher suites in the firmware's preference order, key sizes, and the
//! renegotiation and extension behaviour. The server's TLS layer builds its
//! acceptor from these rows and nothing else (docs/TLS.md has the table
//! and the test that verifies each row).
//!
//! Sources, and what is inference:
//! - Versions: Intel AMT Implementation and Reference Guide, "Detailed
//!   Description" of the TLS section (End of Support of TLS 1.0 and TLS
//!   1.1): "In Intel AMT Release 12.0, support was added for TLS version 1.2
//!   and support was removed for TLS version 1.0"; "Starting from Intel
//!   CSME 15.0 firmware for desktops, and Intel CSME 16.0 firmware for all
//!   platforms, Intel has removed support for TLS 1.1". So up to 11.x: TLS
//!   1.0 and 1.1; 12.0 – 14.x: 1.1 and 1.2; 15.0 (desktop) on: 1.2 only. No
//!   profile here speaks TLS 1.3.
//! - Static-RSA suites on every generation: MeshCommander/MeshCentral's AMT
//!   transport (`amt-wsman-comm.js`) offers only `RSA+AES` (RSA key
//!   exchange) for TLS ≤ 1.2 and is used against every generation up to
//!   CSME 18; the Device Management Toolkit's AMT 22 ADR lists removing
//!   `TLS_RSA_WITH_AES_128_GCM_SHA256` from what the device offers as a
//!   change of AMT 22, so earlier firmware offered it.
//! - The CBC suites before 12.0 (AES only: AMT never offered RC4 or 3DES
//!   to consoles that we know of), the ECDHE-RSA GCM suites from 12.0 (the
//!   generation that added TLS 1.2 and ECDHE to CSME's TLS library) and the
//!   preference order (ECDHE before static RSA, AES-256 before AES-128) are
//!   inferences from the clients above, not quotes.
//! - PSK setup (AMT 2.0 – 10.x): the suite is not documented
//!   (/shared/spec provisioning.md, open question 3); the plain-PSK AES-CBC
//!   suites of RFC 4279 are assumed.
//! - Renegotiation: not documented; amtemu refuses client-initiated
//!   renegotiation on every profile (a `no_renegotiation` warning), as
//!   firmware that never needed it most plausibly does. Session tickets and
//!   ALPN are not offered (neither appears in any capture of AMT).

use std::fmt;

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// The name OpenSSL and its tools print (`TLSv1.2`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLSv1",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    /// The flag `openssl s_client` takes to speak only this version.
    pub fn s_client_flag(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "-tls1",
            TlsVersion::Tls11 => "-tls1_1",
            TlsVersion::Tls12 => "-tls1_2",
            TlsVersion::Tls13 => "-tls1_3",
        }
    }

    pub const ALL: [TlsVersion; 4] = [
        TlsVersion::Tls10,
        TlsVersion::Tls11,
        TlsVersion::Tls12,
        TlsVersion::Tls13,
    ];
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A TLS 1.0 – 1.2 cipher suite firmware offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    EcdheRsaAes256GcmSha384,
    EcdheRsaAes128GcmSha256,
    RsaAes256GcmSha384,
    RsaAes128GcmSha256,
    RsaAes256CbcSha256,
    RsaAes128CbcSha256,
    RsaAes256CbcSha,
    RsaAes128CbcSha,
    PskAes256CbcSha,
    PskAes128CbcSha,
}

impl CipherSuite {
    /// The IANA name.
    pub fn iana(self) -> &'static str {
        match self {
            CipherSuite::EcdheRsaAes256GcmSha384 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            CipherSuite::EcdheRsaAes128GcmSha256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::RsaAes256GcmSha384 => "TLS_RSA_WITH_AES_256_GCM_SHA384",
            CipherSuite::RsaAes128GcmSha256 => "TLS_RSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::RsaAes256CbcSha256 => "TLS_RSA_WITH_AES_256_CBC_SHA256",
            CipherSuite::RsaAes128CbcSha256 => "TLS_RSA_WITH_AES_128_CBC_SHA256",
            CipherSuite::RsaAes256CbcSha => "TLS_RSA_WITH_AES_256_CBC_SHA",
            CipherSuite::RsaAes128CbcSha => "TLS_RSA_WITH_AES_128_CBC_SHA",
            CipherSuite::PskAes256CbcSha => "TLS_PSK_WITH_AES_256_CBC_SHA",
            CipherSuite::PskAes128CbcSha => "TLS_PSK_WITH_AES_128_CBC_SHA",
        }
    }

    /// OpenSSL's name for it (cipher lists, `s_client -cipher`).
    pub fn openssl(self) -> &'static str {
        match self {
            CipherSuite::EcdheRsaAes256GcmSha384 => "ECDHE-RSA-AES256-GCM-SHA384",
            CipherSuite::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
            CipherSuite::RsaAes256GcmSha384 => "AES256-GCM-SHA384",
            CipherSuite::RsaAes128GcmSha256 => "AES128-GCM-SHA256",
            CipherSuite::RsaAes256CbcSha256 => "AES256-SHA256",
            CipherSuite::RsaAes128CbcSha256 => "AES128-SHA256",
            CipherSuite::RsaAes256CbcSha => "AES256-SHA",
            CipherSuite::RsaAes128CbcSha => "AES128-SHA",
            CipherSuite::PskAes256CbcSha => "PSK-AES256-CBC-SHA",
            CipherSuite::PskAes128CbcSha => "PSK-AES128-CBC-SHA",
        }
    }

    /// Whether the key exchange is ephemeral (forward secret).
    pub fn ecdhe(self) -> bool {
        matches!(
            self,
            CipherSuite::EcdheRsaAes256GcmSha384 | CipherSuite::EcdheRsaAes128GcmSha256
        )
    }

    /// Whether it needs TLS 1.2 (SHA-256/384 MACs or AEAD).
    pub fn tls12_only(self) -> bool {
        !matches!(
            self,
            CipherSuite::RsaAes256CbcSha
                | CipherSuite::RsaAes128CbcSha
                | CipherSuite::PskAes256CbcSha
                | CipherSuite::PskAes128CbcSha
        )
    }

    /// Looks a suite up by its OpenSSL name (as a handshake reports it).
    pub fn by_openssl_name(name: &str) -> Option<CipherSuite> {
        Self::ALL.iter().copied().find(|s| s.openssl() == name)
    }

    /// Every suite some row offers.
    pub const ALL: &[CipherSuite] = ALL_SUITES;

    /// Whether it is a TLS-PSK suite (no certificates).
    pub fn psk(self) -> bool {
        matches!(
            self,
            CipherSuite::PskAes256CbcSha | CipherSuite::PskAes128CbcSha
        )
    }
}

const ALL_SUITES: &[CipherSuite] = &[
    CipherSuite::EcdheRsaAes256GcmSha384,
    CipherSuite::EcdheRsaAes128GcmSha256,
    CipherSuite::RsaAes256GcmSha384,
    CipherSuite::RsaAes128GcmSha256,
    CipherSuite::RsaAes256CbcSha256,
    CipherSuite::RsaAes128CbcSha256,
    CipherSuite::RsaAes256CbcSha,
    CipherSuite::RsaAes128CbcSha,
    CipherSuite::PskAes256CbcSha,
    CipherSuite::PskAes128CbcSha,
];

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.iana())
    }
}

/// One generation's TLS server.
#[derive(Debug)]
pub struct TlsProfile {
    /// The protocol versions offered, lowest first.
    pub versions: &'static [TlsVersion],
    /// The certificate suites, in the firmware's preference order (the
    /// server's order decides).
    pub suites: &'static [CipherSuite],
    /// The suites of PID/PPS (TLS-PSK) setup; empty where PSK setup does
    /// not exist.
    pub psk_suites: &'static [CipherSuite],
    /// The RSA key size of the certificates the device makes itself (its
    /// default and setup-mode identities).
    pub server_key_bits: u32,
    /// Whether a client may renegotiate (see the module comment).
    pub client_renegotiation: bool,
}

impl TlsProfile {
    pub fn offers(&self, version: TlsVersion) -> bool {
        self.versions.contains(&version)
    }

    /// The suites a client of this version can get.
    pub fn suites_for(&self, version: TlsVersion) -> impl Iterator<Item = CipherSuite> + '_ {
        self.suites
            .iter()
            .copied()
            .filter(move |s| version >= TlsVersion::Tls12 || !s.tls12_only())
    }

    /// Whether rustls can serve exactly this row: TLS 1.2/1.3 with
    /// forward-secret AES-GCM suites only (rustls has no static RSA, no
    /// CBC, no PSK and no TLS 1.0/1.1).
    pub fn rustls_can_serve(&self) -> bool {
        self.versions.iter().all(|v| *v >= TlsVersion::Tls12)
            && self.suites.iter().all(|s| s.ecdhe())
            && self.psk_suites.is_empty()
    }
}

/// AMT 2.0 – 11.x: TLS 1.0 and 1.1, static-RSA AES-CBC with SHA-1.
pub static TLS_1_0: TlsProfile = TlsProfile {
    versions: &[TlsVersion::Tls10, TlsVersion::Tls11],
    suites: &[CipherSuite::RsaAes256CbcSha, CipherSuite::RsaAes128CbcSha],
    psk_suites: &[],
    server_key_bits: 2048,
    client_renegotiation: false,
};

/// AMT 2.0 – 10.x: as [`TLS_1_0`], with the PSK suites of PID/PPS setup.
pub static TLS_1_0_PSK: TlsProfile = TlsProfile {
    psk_suites: &[CipherSuite::PskAes256CbcSha, CipherSuite::PskAes128CbcSha],
    ..TLS_1_0
};

/// AMT 12.0 – 14.x: TLS 1.1 and 1.2; ECDHE-RSA GCM first, then static RSA.
pub static TLS_1_1: TlsProfile = TlsProfile {
    versions: &[TlsVersion::Tls11, TlsVersion::Tls12],
    suites: &[
        CipherSuite::EcdheRsaAes256GcmSha384,
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::RsaAes256GcmSha384,
        CipherSuite::RsaAes128GcmSha256,
        CipherSuite::RsaAes256CbcSha256,
        CipherSuite::RsaAes128CbcSha256,
        CipherSuite::RsaAes256CbcSha,
        CipherSuite::RsaAes128CbcSha,
    ],
    psk_suites: &[],
    server_key_bits: 2048,
    client_renegotiation: false,
};

/// CSME 15.0 (desktop) – 18.x: TLS 1.2 only, GCM suites.
pub static TLS_1_2: TlsProfile = TlsProfile {
    versions: &[TlsVersion::Tls12],
    suites: &[
        CipherSuite::EcdheRsaAes256GcmSha384,
        CipherSuite::EcdheRsaAes128GcmSha256,
        CipherSuite::RsaAes256GcmSha384,
        CipherSuite::RsaAes128GcmSha256,
    ],
    psk_suites: &[],
    server_key_bits: 2048,
    client_renegotiation: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_a_version_cannot_carry_are_not_offered_with_it() {
        let names: Vec<_> = TLS_1_1.suites_for(TlsVersion::Tls11).collect();
        assert_eq!(
            names,
            [CipherSuite::RsaAes256CbcSha, CipherSuite::RsaAes128CbcSha]
        );
        assert_eq!(TLS_1_1.suites_for(TlsVersion::Tls12).count(), 8);
    }

    #[test]
    fn rustls_serves_only_forward_secret_tls_1_2_and_up() {
        assert!(!TLS_1_0.rustls_can_serve());
        assert!(!TLS_1_2.rustls_can_serve());
        let modern = TlsProfile {
            suites: &[CipherSuite::EcdheRsaAes128GcmSha256],
            ..TLS_1_2
        };
        assert!(modern.rustls_can_serve());
    }

    #[test]
    fn openssl_names_round_trip() {
        for s in ALL_SUITES {
            assert_eq!(CipherSuite::by_openssl_name(s.openssl()), Some(*s));
        }
    }
}
