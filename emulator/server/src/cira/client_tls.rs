//! The device's TLS client toward the MPS, speaking its firmware row's TLS
//! (spec §1: before 12.0 TLS 1.0/1.1, from 12.0 TLS 1.2): the row's
//! versions and suites, by the backend that can offer exactly them —
//! rustls where the row is TLS 1.2+ with forward-secret suites only,
//! OpenSSL otherwise (TLS 1.0/1.1, static RSA, CBC), the same rule that
//! picks the device's server backend ([`crate::tls::Backend`]).
//!
//! Either way only the device's trusted roots count, and the name checked
//! is the configured one (FQDN, or the CN given for an IP address).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslSessionCacheMode, SslVerifyMode,
};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509CheckFlags;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use amtemu_model::device::firmware::TlsProfile;

use super::connect::ConnectError;
use crate::tls::Backend;
use crate::tls::Stream;

/// What the device proves and trusts: its trusted roots (DER) and, for
/// mutual TLS, its certificate and PKCS#8 key.
pub(crate) struct Credentials {
    pub roots: Vec<Vec<u8>>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

/// A TLS connection to the MPS, of either backend.
pub(crate) type MpsStream = Stream<TcpStream>;

/// Runs the handshake on `tcp` with `name` as the MPS's expected name.
pub(crate) async fn handshake(
    profile: &TlsProfile,
    credentials: Credentials,
    name: &str,
    tcp: TcpStream,
) -> Result<MpsStream, ConnectError> {
    match Backend::for_profile(profile) {
        Backend::Rustls => {
            let config = rustls_config(credentials)?;
            let server_name = ServerName::try_from(name.to_string())
                .map_err(|_| ConnectError::BadName(name.to_string()))?;
            let stream = TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await
                .map_err(ConnectError::Handshake)?;
            Ok(Stream::Rustls(Box::new(stream.into())))
        }
        Backend::OpenSsl => {
            let context = openssl_context(profile, credentials)?;
            let ssl = openssl_connection(&context, name)
                .map_err(|e| ConnectError::OpenSsl(e.to_string()))?;
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp)
                .map_err(|e| ConnectError::OpenSsl(e.to_string()))?;
            Pin::new(&mut stream).connect().await.map_err(|e| {
                let verify = stream.ssl().verify_result();
                ConnectError::Handshake(std::io::Error::other(format!(
                    "{e} (certificate check: {verify})"
                )))
            })?;
            Ok(Stream::OpenSsl(Box::new(stream)))
        }
    }
}

fn rustls_config(credentials: Credentials) -> Result<ClientConfig, ConnectError> {
    let mut store = RootCertStore::empty();
    for der in credentials.roots {
        // A root rustls cannot use is as good as absent.
        let _ = store.add(CertificateDer::from(der));
    }
    if store.is_empty() {
        return Err(ConnectError::NoTrustedRoot);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(store);
    Ok(match credentials.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder.with_client_auth_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )?,
    })
}

/// An OpenSSL client offering the row's versions (held as the server side
/// holds them, [`crate::tls::row_versions`]) and certificate suites in its
/// order.
///
/// A bare context, not `SslConnector`: that one loads the system's CA
/// bundle at every build (tens of milliseconds of a runtime thread per
/// connection, which held a fleet to 20 tunnels a second), and the
/// system's roots play no part in what the device trusts.
fn openssl_context(
    profile: &TlsProfile,
    credentials: Credentials,
) -> Result<SslContext, ConnectError> {
    let openssl = |e: openssl::error::ErrorStack| ConnectError::OpenSsl(e.to_string());
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(openssl)?;
    crate::tls::row_versions(&mut b, profile).map_err(openssl)?;
    let suites = profile
        .suites
        .iter()
        .map(|s| s.openssl())
        .collect::<Vec<_>>()
        .join(":");
    b.set_cipher_list(&format!("{suites}:@SECLEVEL=0"))
        .map_err(openssl)?;
    let mut store = X509StoreBuilder::new().map_err(openssl)?;
    let mut anchors = 0;
    for der in &credentials.roots {
        // A root OpenSSL cannot parse anchors nothing.
        if let Ok(root) = X509::from_der(der)
            && store.add_cert(root).is_ok()
        {
            anchors += 1;
        }
    }
    if anchors == 0 {
        return Err(ConnectError::NoTrustedRoot);
    }
    b.set_cert_store(store.build());
    b.set_verify(SslVerifyMode::PEER);
    if let Some((cert, key)) = credentials.client {
        let cert = X509::from_der(&cert).map_err(openssl)?;
        let key = PKey::private_key_from_pkcs8(&key).map_err(openssl)?;
        b.set_certificate(&cert).map_err(openssl)?;
        b.set_private_key(&key).map_err(openssl)?;
    }
    // A tunnel is idle most of its life: OpenSSL frees its record buffers
    // between records, which is most of a fleet's per-tunnel memory.
    b.set_mode(SslMode::RELEASE_BUFFERS);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    Ok(b.build())
}

/// A connection that checks the MPS certificate against `name`: as an IP
/// address when it is one, else as a host name, which is also sent as SNI.
fn openssl_connection(context: &SslContext, name: &str) -> Result<Ssl, ErrorStack> {
    let mut ssl = Ssl::new(context)?;
    let param = ssl.param_mut();
    param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
    match name.parse::<IpAddr>() {
        Ok(ip) => param.set_ip(ip)?,
        Err(_) => {
            param.set_host(name)?;
            ssl.set_hostname(name)?;
        }
    }
    Ok(ssl)
}
