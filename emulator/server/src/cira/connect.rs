//! Opening the TLS connection to the MPS: TCP from the device's own
//! address, then a handshake that checks the MPS certificate against the
//! roots added with AddTrustedRootCertificate and the configured name
//! (spec §1). Only the device's trusted roots count: the machine's own
//! store plays no part, as it plays none in firmware.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use amtemu_model::device::Device;
use amtemu_model::device::remote_access::{MpServer, MpsAddressFormat, MpsAuth};

/// How long TCP and the handshake may each take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection to the MPS was not made; each is a CIRA "last error".
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("TCP connect to {addr} failed: {source}")]
    Tcp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TCP connect to {0} timed out")]
    TcpTimeout(SocketAddr),
    #[error("the device trusts no root certificate for the MPS")]
    NoTrustedRoot,
    #[error("{0:?} is not a name a certificate can be checked against")]
    BadName(String),
    #[error("client certificate {0} or its key is missing")]
    ClientCertificate(u32),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("TLS handshake with the MPS failed: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake with the MPS timed out")]
    HandshakeTimeout,
}

/// Resolves the MPS address. Names go to the system resolver (tests use
/// `localhost`, answered from /etc/hosts, so nothing leaves the machine).
async fn resolve(server: &MpServer, source: IpAddr) -> Result<SocketAddr, ConnectError> {
    let unresolved = || ConnectError::Resolve(server.address.clone());
    if server.format != MpsAddressFormat::Fqdn {
        let ip: IpAddr = server.address.parse().map_err(|_| unresolved())?;
        return Ok(SocketAddr::new(ip, server.port));
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((server.address.as_str(), server.port))
        .await
        .map_err(|_| unresolved())?
        .collect();
    // Prefer the family the device's own address is in, so it can be the
    // source.
    found
        .iter()
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(unresolved)
}

/// TCP from `source` (when it is of the MPS's family), so the MPS sees
/// each device at its own address.
async fn tcp(addr: SocketAddr, source: IpAddr) -> Result<TcpStream, ConnectError> {
    let open = async {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if source.is_ipv4() == addr.is_ipv4() && !source.is_unspecified() {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        socket.connect(addr).await
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| ConnectError::TcpTimeout(addr))?
        .map_err(|source| ConnectError::Tcp { addr, source })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The client configuration: the device's roots, and its certificate when
/// the server is set up for mutual TLS.
fn client_config(device: &Device, server: &MpServer) -> Result<ClientConfig, ConnectError> {
    let (roots, client) = device.with_state(|s| {
        let certs = &s.nvram.certs;
        let roots: Vec<Vec<u8>> = certs.trusted_roots().map(|c| c.der.clone()).collect();
        let client = match server.auth {
            MpsAuth::MutualTls { certificate } => Some(
                certs
                    .certificate(certificate)
                    .and_then(|c| {
                        let key = certs.key(certs.key_for_certificate(certificate)?)?;
                        Some((c.der.clone(), key.pkcs8.clone()))
                    })
                    .ok_or(certificate),
            ),
            MpsAuth::Password { .. } => None,
        };
        (roots, client)
    });
    let mut store = RootCertStore::empty();
    for der in roots {
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
    Ok(match client {
        None => builder.with_no_client_auth(),
        Some(Err(handle)) => return Err(ConnectError::ClientCertificate(handle)),
        Some(Ok((cert, key))) => builder.with_client_auth_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )?,
    })
}

/// Connects to the MPS and completes the handshake; returns the stream and
/// the MPS's address.
pub(crate) async fn connect(
    device: &Device,
    server: &MpServer,
    source: IpAddr,
) -> Result<(TlsStream<TcpStream>, SocketAddr), ConnectError> {
    let config = client_config(device, server)?;
    let name = server.certificate_name().to_string();
    let server_name =
        ServerName::try_from(name.clone()).map_err(|_| ConnectError::BadName(name))?;
    let addr = resolve(server, source).await?;
    let stream = tcp(addr, source).await?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(Arc::new(config)).connect(server_name, stream),
    )
    .await
    .map_err(|_| ConnectError::HandshakeTimeout)?
    .map_err(ConnectError::Handshake)?;
    Ok((tls, addr))
}
