//! The stream a finished handshake hands on, whichever TLS implementation
//! ran it and whichever side the device was on (the server of 16993/16995,
//! the CIRA client toward an MPS), and what the handshake negotiated.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The protocol version and cipher suite a handshake settled on: the
/// version as OpenSSL prints it (`TLSv1`, `TLSv1.2`) and the suite's IANA
/// name, whichever backend served it, so that logs and metrics read the
/// same for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub version: &'static str,
    pub suite: &'static str,
}

/// A TLS stream of either backend, client or server side.
pub enum Stream<IO> {
    Rustls(Box<tokio_rustls::TlsStream<IO>>),
    OpenSsl(Box<tokio_openssl::SslStream<IO>>),
}

impl<IO> Stream<IO> {
    pub fn negotiated(&self) -> Negotiated {
        match self {
            Stream::Rustls(s) => {
                let conn = s.get_ref().1;
                Negotiated {
                    version: match conn.protocol_version() {
                        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                        _ => "unknown",
                    },
                    suite: conn
                        .negotiated_cipher_suite()
                        .and_then(|s| s.suite().as_str())
                        .unwrap_or("unknown"),
                }
            }
            Stream::OpenSsl(s) => Negotiated {
                version: s.ssl().version_str(),
                suite: s
                    .ssl()
                    .current_cipher()
                    .and_then(|c| c.standard_name())
                    .unwrap_or("unknown"),
            },
        }
    }

    /// The leaf certificate the peer presented (DER), if any.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self {
            Stream::Rustls(s) => s
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec()),
            Stream::OpenSsl(s) => s.ssl().peer_certificate().and_then(|c| c.to_der().ok()),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Rustls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::OpenSsl(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Rustls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::OpenSsl(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Rustls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::OpenSsl(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Rustls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::OpenSsl(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
