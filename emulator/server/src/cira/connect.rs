//! Opening the TLS connection to the MPS: TCP from the device's own
//! address, then a handshake in the firmware's TLS (`client_tls`) that
//! checks the MPS certificate against the roots added with
//! AddTrustedRootCertificate and the configured name (spec §1). Only the
//! device's trusted roots count: the machine's own store plays no part, as
//! it plays none in firmware.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use amtemu_model::device::Device;
use amtemu_model::device::remote_access::{MpServer, MpsAddressFormat, MpsAuth};

use super::client_tls::{self, Credentials, MpsStream};

/// How long TCP and the handshake may each take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection to the MPS was not made; each is a CIRA "last error".
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A scenario pulled the device's cable.
    #[error("the network cable is out")]
    Offline,
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
    #[error("TLS configuration (OpenSSL): {0}")]
    OpenSsl(String),
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

/// The device's trusted roots, and its certificate when the server is set
/// up for mutual TLS.
fn credentials(device: &Device, server: &MpServer) -> Result<Credentials, ConnectError> {
    device.with_state(|s| {
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
                    .ok_or(ConnectError::ClientCertificate(certificate))?,
            ),
            MpsAuth::Password { .. } => None,
        };
        Ok(Credentials { roots, client })
    })
}

/// Connects to the MPS and completes the handshake in the firmware's TLS;
/// returns the stream and the MPS's address.
pub(crate) async fn connect(
    device: &Device,
    server: &MpServer,
    source: IpAddr,
) -> Result<(MpsStream, SocketAddr), ConnectError> {
    let credentials = credentials(device, server)?;
    if credentials.roots.is_empty() {
        return Err(ConnectError::NoTrustedRoot);
    }
    let name = server.certificate_name().to_string();
    let addr = resolve(server, source).await?;
    let stream = tcp(addr, source).await?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client_tls::handshake(device.firmware.tls, credentials, &name, stream),
    )
    .await
    .map_err(|_| ConnectError::HandshakeTimeout)??;
    Ok((tls, addr))
}
