//! The OpenSSL backend: serves what rustls cannot (TLS 1.0/1.1, static-RSA
//! and CBC suites, TLS-PSK) exactly as a firmware row lists it, against
//! Debian's libssl.
//!
//! OpenSSL 3 refuses TLS 1.0/1.1 and SHA-1 at its default security level,
//! so every context here runs at level 0: what is offered is decided by the
//! row's version range and cipher list alone.

use std::sync::{Arc, OnceLock};

use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslSessionCacheMode, SslVerifyMode,
    SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContextRef, X509VerifyResult};
use rustls::pki_types::UnixTime;

use amtemu_model::device::Device;
use amtemu_model::device::chain::ChainError;
use amtemu_model::device::firmware::{TlsProfile, TlsVersion};

/// Who must present a client certificate, and how it is checked.
pub enum ClientPolicy<'a> {
    /// No certificate requested.
    None,
    /// Mutual authentication: a chain to one of these roots (DER).
    Roots(&'a [Vec<u8>]),
    /// Setup mode: the provisioning chain rules, checked per connection by
    /// [`provisioning_verifier`].
    Provisioning,
}

fn ssl_version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::Tls10 => SslVersion::TLS1,
        TlsVersion::Tls11 => SslVersion::TLS1_1,
        TlsVersion::Tls12 => SslVersion::TLS1_2,
        TlsVersion::Tls13 => SslVersion::TLS1_3,
    }
}

/// A context (server's or the CIRA client's) held to the row's versions.
/// Security level 0: OpenSSL 3 would otherwise refuse TLS 1.0/1.1 and
/// SHA-1, which is what older rows speak.
pub(crate) fn row_versions(
    b: &mut SslContextBuilder,
    profile: &TlsProfile,
) -> Result<(), ErrorStack> {
    b.set_security_level(0);
    let lowest = profile
        .versions
        .first()
        .copied()
        .unwrap_or(TlsVersion::Tls12);
    let highest = profile
        .versions
        .last()
        .copied()
        .unwrap_or(TlsVersion::Tls12);
    b.set_min_proto_version(Some(ssl_version(lowest)))?;
    b.set_max_proto_version(Some(ssl_version(highest)))
}

/// A server context for this row, certificate chain, key and client policy.
/// `psk` adds the row's PSK suites, keyed by this device's PID/PPS (setup
/// mode of firmware with PSK setup).
pub fn context(
    profile: &TlsProfile,
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
    client: ClientPolicy<'_>,
    psk: Option<Arc<Device>>,
) -> Result<SslContext, ErrorStack> {
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    row_versions(&mut b, profile)?;
    let suites = profile
        .suites
        .iter()
        .chain(if psk.is_some() {
            profile.psk_suites
        } else {
            &[]
        })
        .map(|s| s.openssl())
        .collect::<Vec<_>>()
        .join(":");
    b.set_cipher_list(&suites)?;
    // The firmware's order decides; no tickets, no renegotiation by the
    // client, no compression (see the firmware TLS table's notes).
    let mut options =
        SslOptions::CIPHER_SERVER_PREFERENCE | SslOptions::NO_TICKET | SslOptions::NO_COMPRESSION;
    if !profile.client_renegotiation {
        options |= SslOptions::NO_RENEGOTIATION;
    }
    b.set_options(options);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    let key = PKey::private_key_from_pkcs8(key_pkcs8)?;
    let mut certs = chain.iter();
    if let Some(leaf) = certs.next() {
        let leaf = X509::from_der(leaf)?;
        b.set_certificate(&leaf)?;
    }
    for der in certs {
        b.add_extra_chain_cert(X509::from_der(der)?)?;
    }
    b.set_private_key(&key)?;
    b.check_private_key()?;
    match client {
        ClientPolicy::None => b.set_verify(SslVerifyMode::NONE),
        ClientPolicy::Roots(roots) => {
            let mut store = X509StoreBuilder::new()?;
            for der in roots {
                // A root OpenSSL cannot parse simply anchors nothing.
                if let Ok(root) = X509::from_der(der) {
                    let _ = store.add_cert(root);
                }
            }
            b.set_cert_store(store.build());
            b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        // Set on each connection (it keeps per-connection state).
        ClientPolicy::Provisioning => {}
    }
    if let Some(device) = psk {
        accept_psk(&mut b, device);
    }
    Ok(b.build())
}

/// A connection of a setup-mode context: requires the configuration
/// server's certificate chain (unless a PSK suite is negotiated, where no
/// certificate is requested) and checks it by the provisioning rules.
pub fn provisioning_connection(ctx: &SslContext, device: Arc<Device>) -> Result<Ssl, ErrorStack> {
    let mut ssl = Ssl::new(ctx)?;
    // OpenSSL calls the callback once per certificate and per error; the
    // rules run once per connection, on the chain OpenSSL built from what
    // the client sent (leaf first), and the verdict is kept.
    let verdict = OnceLock::<Option<ChainError>>::new();
    ssl.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        move |_, x509| {
            let refused = verdict.get_or_init(|| {
                let chain: Vec<Vec<u8>> = x509
                    .chain()
                    .map(|c| c.iter().filter_map(|c| c.to_der().ok()).collect())
                    .unwrap_or_default();
                let chain: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
                match device.check_provisioning_chain(&chain, UnixTime::now()) {
                    Ok(accepted) => {
                        tracing::info!(device = %device.name, cn = %accepted.common_name, root = %accepted.root, "provisioning certificate accepted");
                        None
                    }
                    Err(e) => Some(e),
                }
            });
            refuse(x509, refused.as_ref())
        },
    );
    Ok(ssl)
}

fn refuse(x509: &mut X509StoreContextRef, refused: Option<&ChainError>) -> bool {
    let Some(e) = refused else {
        return true;
    };
    // SAFETY: the codes come from OpenSSL's own headers (openssl-sys).
    x509.set_error(unsafe { X509VerifyResult::from_raw(verify_error(e)) });
    false
}

/// The X.509 verification error whose alert (OpenSSL's table in
/// ssl/ssl_cert.c) is the one docs/TLS.md lists for each refusal.
fn verify_error(e: &ChainError) -> std::ffi::c_int {
    use openssl_sys as ffi;
    match e {
        // unknown_ca
        ChainError::UntrustedRoot => ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
        // unsupported_certificate
        ChainError::NotServerAuth | ChainError::NotSetupCertificate => {
            ffi::X509_V_ERR_INVALID_PURPOSE
        }
        // certificate_expired
        ChainError::Expired => ffi::X509_V_ERR_CERT_HAS_EXPIRED,
        // decrypt_error
        ChainError::BadSignature(_) => ffi::X509_V_ERR_CERT_SIGNATURE_FAILURE,
        // bad_certificate
        ChainError::Empty
        | ChainError::Malformed(_)
        | ChainError::NoDomain
        | ChainError::DomainMismatch { .. }
        | ChainError::CaKeyTooLarge { .. } => ffi::X509_V_ERR_CERT_REJECTED,
    }
}

/// Adds TLS-PSK to a setup-mode context: the device's PID is the identity
/// and its PPS the key (both as the ASCII characters, dashes removed; the
/// exact encoding firmware uses is not documented). An unknown identity
/// gets OpenSSL's `unknown_psk_identity` alert.
fn accept_psk(b: &mut SslContextBuilder, device: Arc<Device>) {
    b.set_psk_server_callback(move |_, identity, out| {
        let (pid, pps) = device.with_state(|s| {
            let p = &s.nvram.provisioning;
            (p.pid.clone(), p.pps.clone())
        });
        let strip = |s: &str| s.replace('-', "");
        let matches = match (identity, &pid) {
            (Some(id), Some(pid)) => id == strip(pid).as_bytes(),
            _ => false,
        };
        match pps.filter(|_| matches) {
            Some(pps) => {
                let key = strip(&pps);
                let n = key.len().min(out.len());
                out[..n].copy_from_slice(&key.as_bytes()[..n]);
                tracing::info!(device = %device.name, "PSK identity accepted");
                // Only a client holding this PPS completes the handshake,
                // so only such a server reaches CommitChanges.
                device.psk_setup_session();
                Ok(n)
            }
            None => {
                tracing::warn!(device = %device.name, identity = %String::from_utf8_lossy(identity.unwrap_or_default()), "PSK setup refused: unknown identity");
                Ok(0)
            }
        }
    });
}
