//! TLS for 16993, 16995 and setup mode: the server each device presents,
//! chosen from the connection's device like everything else, and served by
//! the backend its firmware row calls for ([`Backend`]): rustls where it can
//! serve the row exactly, else OpenSSL ([`openssl_acceptor`]).
//!
//! A device serves the certificate its TLS credential context names (set
//! over WS-Man), or else its own identity issued by the emulator's CA when
//! first needed. Mutual authentication, when the device's settings ask for
//! it, requires a client certificate chaining to a trusted root in the
//! device's store, and a common name in TrustedCN when that list is set.

pub mod ca;
mod openssl_acceptor;
pub mod setup;
mod stream;

pub use stream::{Negotiated, Stream};

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::{Ssl, SslContext};

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use amtemu_model::device::firmware::{Feature, TlsProfile};
use amtemu_model::device::{Device, ProvisioningState, TlsIdentity};
use amtemu_model::pki;
use ca::Ca;
use openssl_acceptor::ClientPolicy;
pub(crate) use openssl_acceptor::row_versions;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS is not enabled on this device")]
    Disabled,
    #[error("the device is not provisioned: 16993 is closed")]
    NotProvisioned,
    #[error("making the setup certificate: {0}")]
    SetupIdentity(#[from] rcgen::Error),
    #[error("issuing the device certificate: {0}")]
    Issue(#[from] ca::CaError),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("handshake: {0}")]
    Handshake(std::io::Error),
    #[error("handshake timed out")]
    Timeout,
    #[error("client certificate not in TrustedCN")]
    UntrustedCommonName,
    #[error("TLS configuration (OpenSSL): {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// Which implementation serves a firmware row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Rustls,
    OpenSsl,
}

impl Backend {
    /// rustls where it can serve the row's exact versions and suites;
    /// OpenSSL otherwise (TLS 1.0/1.1, static RSA, CBC, PSK).
    pub fn for_profile(profile: &TlsProfile) -> Backend {
        if profile.rustls_can_serve() {
            Backend::Rustls
        } else {
            Backend::OpenSsl
        }
    }
}

/// A server ready to run handshakes, of either backend (both are cheap to
/// clone: shared configurations).
#[derive(Clone)]
enum Acceptor {
    Rustls(Arc<ServerConfig>),
    OpenSsl(SslContext),
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Acceptor::Rustls(_) => "Acceptor::Rustls",
            Acceptor::OpenSsl(_) => "Acceptor::OpenSsl",
        })
    }
}

/// What the TLS layer shares across a fleet: the CA.
#[derive(Debug)]
pub struct TlsContext {
    pub ca: Ca,
}

/// The inputs a device's server configuration is built from; a new
/// configuration is built only when they change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ConfigInputs {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    mutual: bool,
    roots: Vec<Vec<u8>>,
}

/// Per-device TLS state: the last configuration built.
#[derive(Debug, Default)]
pub struct TlsState {
    cached: tokio::sync::Mutex<Option<(ConfigInputs, Acceptor)>>,
    /// The setup-mode configuration, made when first needed (its verifier
    /// reads the device's policy at each handshake).
    setup: tokio::sync::Mutex<Option<Acceptor>>,
}

impl TlsState {
    /// The setup-mode server configuration (see [`setup`]).
    async fn setup_config(&self, device: &Arc<Device>) -> Result<Acceptor, TlsError> {
        let mut cached = self.setup.lock().await;
        if let Some(config) = cached.as_ref() {
            return Ok(config.clone());
        }
        let fqdn =
            device.with_state(|s| fqdn(&s.nvram.general.host_name, &s.nvram.general.domain_name));
        let identity = tokio::task::spawn_blocking(move || setup::self_signed_identity(&fqdn))
            .await
            .map_err(|e| TlsError::Handshake(std::io::Error::other(e)))??;
        let profile = device.firmware.tls;
        let config = match Backend::for_profile(profile) {
            Backend::Rustls => Acceptor::Rustls(setup::server_config(device, &identity)?),
            Backend::OpenSsl => Acceptor::OpenSsl(openssl_acceptor::context(
                profile,
                &identity.chain,
                &identity.key_pkcs8,
                ClientPolicy::Provisioning,
                device
                    .firmware
                    .has(Feature::PskSetup)
                    .then(|| device.clone()),
            )?),
        };
        *cached = Some(config.clone());
        Ok(config)
    }

    /// The device's current server configuration, building (and, the first
    /// time, issuing the device's certificate) when needed.
    async fn config(
        &self,
        device: &Arc<Device>,
        ctx: &Arc<TlsContext>,
    ) -> Result<Acceptor, TlsError> {
        let mut cached = self.cached.lock().await;
        let mut candidates = config_inputs(device);
        if candidates.is_empty() {
            // Key generation takes tens of milliseconds: off the runtime.
            let (fqdn, address, validity) = device.with_state(|s| {
                (
                    fqdn(&s.nvram.general.host_name, &s.nvram.general.domain_name),
                    s.nvram.network.ip_address.clone(),
                    if s.tls_identity_expired {
                        pki::Validity::Expired
                    } else {
                        pki::Validity::Years(10)
                    },
                )
            });
            let ctx = ctx.clone();
            let name = device.name.clone();
            let identity =
                tokio::task::spawn_blocking(move || ctx.ca.issue(&name, &fqdn, &address, validity))
                    .await
                    .map_err(|e| TlsError::Handshake(std::io::Error::other(e)))??;
            device.with_state(|s| {
                s.nvram.tls_identity.get_or_insert(identity);
            });
            device.changed("TLS identity");
            candidates = config_inputs(device);
        }
        let mut last_error = TlsError::Disabled;
        for inputs in candidates {
            if let Some((_, config)) = cached.as_ref().filter(|(have, _)| *have == inputs) {
                return Ok(config.clone());
            }
            match build_acceptor(&inputs, device.firmware.tls) {
                Ok(config) => {
                    *cached = Some((inputs, config.clone()));
                    return Ok(config);
                }
                Err(e) => {
                    // A credential the backend cannot serve (an X.509 v1
                    // certificate for rustls, say) must not take TLS down: the device
                    // falls back to its own identity and says why.
                    tracing::error!(device = %device.name, error = %e, "the configured TLS certificate cannot be served; using the device's own");
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }
}

pub fn fqdn(host: &str, domain: &str) -> String {
    match (host.is_empty(), domain.is_empty()) {
        (true, _) => "amt".to_string(),
        (false, true) => host.to_string(),
        (false, false) => format!("{host}.{domain}"),
    }
}

/// The certificate, key and client policy the device's state calls for:
/// the configured TLS credential first, then the device's own identity.
/// Empty when the device has no identity yet.
fn config_inputs(device: &Device) -> Vec<ConfigInputs> {
    device.with_state(|s| {
        let policy = |(chain, key): (Vec<Vec<u8>>, Vec<u8>)| ConfigInputs {
            chain,
            key,
            mutual: s.nvram.tls.remote.mutual_authentication,
            roots: s
                .nvram
                .certs
                .trusted_roots()
                .map(|c| c.der.clone())
                .collect(),
        };
        let own = s
            .nvram
            .tls_identity
            .as_ref()
            .map(|id| (id.chain.clone(), id.key_pkcs8.clone()));
        configured_credential(s)
            .into_iter()
            .chain(own)
            .map(policy)
            .collect()
    })
}

/// The credential AMT_TLSCredentialContext names, with the key the device
/// holds for it.
fn configured_credential(s: &amtemu_model::device::DeviceState) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
    let cert = s.nvram.certs.tls_credential()?;
    let public = pki::parse_certificate(&cert.der).ok()?.public_key;
    let key = s.nvram.certs.key_for_public(&public)?;
    Some((vec![cert.der.clone()], key.pkcs8.clone()))
}

/// The suites offered: AES-GCM only, as AMT offers (no ChaCha20). RSA
/// certificates make the ECDSA ones moot. See docs/TLS.md.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::cipher_suite as suite;
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        ..rustls::crypto::aws_lc_rs::default_provider()
    }
}

fn build_acceptor(inputs: &ConfigInputs, profile: &TlsProfile) -> Result<Acceptor, TlsError> {
    Ok(match Backend::for_profile(profile) {
        Backend::Rustls => Acceptor::Rustls(build_config(inputs)?),
        Backend::OpenSsl => {
            let client = if inputs.mutual {
                ClientPolicy::Roots(&inputs.roots)
            } else {
                ClientPolicy::None
            };
            Acceptor::OpenSsl(openssl_acceptor::context(
                profile,
                &inputs.chain,
                &inputs.key,
                client,
                None,
            )?)
        }
    })
}

fn build_config(inputs: &ConfigInputs) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider());
    let verifier: Arc<dyn ClientCertVerifier> = if inputs.mutual {
        let mut roots = rustls::RootCertStore::empty();
        for der in &inputs.roots {
            // A root rustls cannot use simply does not anchor anything.
            let _ = roots.add(CertificateDer::from(der.clone()));
        }
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?
    } else {
        Arc::new(rustls::server::NoClientAuth)
    };
    server_config(provider, verifier, &inputs.chain, &inputs.key)
}

/// A device's TLS server as every mode has it: AMT's suites, TLS 1.2 and
/// 1.3, HTTP/1.1, this certificate chain and key, and this client
/// certificate policy.
fn server_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<dyn ClientCertVerifier>,
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    // rustls speaks TLS 1.2 and 1.3 only; see docs/TLS.md for where that
    // differs from each firmware generation.
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Runs the server side of a handshake for a device, applies the
/// device's TrustedCN rule, and logs (and counts) what was negotiated.
pub async fn accept<IO>(
    io: IO,
    device: &Arc<Device>,
    state: &TlsState,
    ctx: &Arc<TlsContext>,
) -> Result<Stream<IO>, TlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let (setup, enabled, mutual, trusted_cn) = device.with_state(|s| {
        let r = &s.nvram.tls.remote;
        (
            s.nvram.setup.state,
            r.enabled,
            r.mutual_authentication,
            r.trusted_cn.clone(),
        )
    });
    let acceptor = match setup {
        ProvisioningState::Pre => return Err(TlsError::NotProvisioned),
        ProvisioningState::In => state.setup_config(device).await?,
        ProvisioningState::Post if !enabled => return Err(TlsError::Disabled),
        ProvisioningState::Post => state.config(device, ctx).await?,
    };
    let mutual = mutual && setup == ProvisioningState::Post;
    let handshake = async {
        match acceptor {
            Acceptor::Rustls(config) => TlsAcceptor::from(config)
                .accept(io)
                .await
                .map(|s| Stream::Rustls(Box::new(s.into())))
                .map_err(TlsError::Handshake),
            Acceptor::OpenSsl(context) => {
                let ssl = if setup == ProvisioningState::In {
                    openssl_acceptor::provisioning_connection(&context, device.clone())?
                } else {
                    Ssl::new(&context)?
                };
                let mut stream = tokio_openssl::SslStream::new(ssl, io)?;
                Pin::new(&mut stream)
                    .accept()
                    .await
                    .map_err(|e| TlsError::Handshake(std::io::Error::other(e.to_string())))?;
                Ok(Stream::OpenSsl(Box::new(stream)))
            }
        }
    };
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| TlsError::Timeout)??;
    let negotiated = stream.negotiated();
    tracing::debug!(device = %device.name, version = negotiated.version, suite = negotiated.suite, "TLS handshake");
    crate::metrics::METRICS.tls_handshake(negotiated.version, negotiated.suite);
    if mutual && !trusted_cn.is_empty() {
        let cn = stream
            .peer_certificate()
            .and_then(|c| pki::parse_certificate(&c).ok()?.common_name);
        if !cn.is_some_and(|cn| trusted_cn.contains(&cn)) {
            return Err(TlsError::UntrustedCommonName);
        }
    }
    Ok(stream)
}

/// A bare OpenSSL server context for a firmware row (no device, no client
/// certificates): the yardstick `amtemu-load`'s OpenSSL baseline runs, so
/// that it differs from a device only in what emulation adds.
pub fn openssl_context(
    profile: &TlsProfile,
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
) -> Result<SslContext, TlsError> {
    Ok(openssl_acceptor::context(
        profile,
        chain,
        key_pkcs8,
        ClientPolicy::None,
        None,
    )?)
}

/// A user-supplied certificate chain and key, from PEM.
pub fn identity_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsIdentity, String> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(cert_pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("key PEM: {e}"))?;
    let PrivateKeyDer::Pkcs8(pkcs8) = key else {
        return Err("the key must be PKCS#8 (BEGIN PRIVATE KEY)".into());
    };
    let identity = TlsIdentity {
        chain,
        key_pkcs8: pkcs8.secret_pkcs8_der().to_vec(),
    };
    // Refuse a pair that does not belong together now rather than at the
    // first handshake.
    build_config(&ConfigInputs {
        chain: identity.chain.clone(),
        key: identity.key_pkcs8.clone(),
        mutual: false,
        roots: Vec::new(),
    })
    .map_err(|e| e.to_string())?;
    Ok(identity)
}
