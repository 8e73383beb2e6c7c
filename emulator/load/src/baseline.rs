//! The yardsticks: servers that do nothing but answer, so a figure for
//! amtemu can be read against what the same machine, the same generator and
//! the same libraries manage without any emulation.
//!
//! - a bare hyper HTTP/1.1 server answering every request with a fixed body
//!   of the size amtemu's answer has, in the same shape (the same headers,
//!   chunked in firmware-sized pieces), so the generator reads the same
//!   lines and chunks from both and spends the same work on each;
//! - the same behind rustls, with an RSA 2048 key as devices have;
//! - the same behind OpenSSL, serving a firmware row's versions and suites
//!   exactly as a device of that row does (amtemu's OpenSSL backend).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use amtemu_model::device::firmware::Firmware;
use amtemu_server::http::answer::CHUNK;

/// Which baseline to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Http,
    /// rustls, TLS 1.2/1.3.
    Tls,
    /// OpenSSL, as the given firmware row.
    Openssl,
}

impl Kind {
    /// The server the baseline is, as reports name it.
    pub fn server(self) -> &'static str {
        match self {
            Kind::Http => "hyper",
            Kind::Tls => "rustls",
            Kind::Openssl => "openssl",
        }
    }
}

/// Accepts on `listener` until the task is dropped, answering every request
/// with `body_len` bytes.
/// `firmware` names the row the OpenSSL baseline serves.
pub async fn serve(
    listener: TcpListener,
    kind: Kind,
    body_len: usize,
    firmware: &'static Firmware,
) -> anyhow::Result<()> {
    let body = Bytes::from(vec![b'x'; body_len]);
    // The Server header a device of this row sends (one string for the
    // life of the baseline process).
    let server: &'static str = Box::leak(firmware.server_banner().into_boxed_str());
    let tls = match kind {
        Kind::Http => None,
        Kind::Tls => Some(Acceptor::Rustls(TlsAcceptor::from(rsa_server_config()?))),
        Kind::Openssl => {
            let (cert, key) = amtemu_model::pki::self_signed_ca("amtemu-load baseline")?;
            Some(Acceptor::OpenSsl(amtemu_server::tls::openssl_context(
                firmware.tls,
                &[cert],
                &key,
            )?))
        }
    };
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "baseline accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => answer(stream, body, server).await,
                Some(Acceptor::Rustls(acceptor)) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        answer(stream, body, server).await;
                    }
                }
                Some(Acceptor::OpenSsl(context)) => {
                    let Ok(ssl) = openssl::ssl::Ssl::new(&context) else {
                        return;
                    };
                    let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, stream) else {
                        return;
                    };
                    if std::pin::Pin::new(&mut stream).accept().await.is_ok() {
                        answer(stream, body, server).await;
                    }
                }
            }
        });
    }
}

#[derive(Clone)]
enum Acceptor {
    Rustls(TlsAcceptor),
    OpenSsl(openssl::ssl::SslContext),
}

async fn answer<IO>(io: IO, body: Bytes, server: &'static str)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
        let pieces = Pieces::of(&body);
        async move {
            // amtemu's SOAP headers (hyper adds Date and, for a body of
            // unannounced length, Transfer-Encoding: chunked).
            let response = Response::builder()
                .header("Server", server)
                .header("X-Frame-Options", "DENY")
                .header("Content-Type", "application/soap+xml; charset=UTF-8")
                .body(pieces)
                .unwrap_or_else(|_| Response::new(Pieces(Vec::new())));
            Ok::<_, Infallible>(response)
        }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A body in the pieces firmware writes (0x2FA bytes) with no length
/// announced, so hyper sends it chunked as amtemu does.
struct Pieces(Vec<Bytes>);

impl Pieces {
    fn of(body: &Bytes) -> Pieces {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let end = (at + CHUNK).min(body.len());
            pieces.push(body.slice(at..end));
            at = end;
        }
        // Handed out from the end.
        pieces.reverse();
        Pieces(pieces)
    }
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(
            self.0
                .pop()
                .map(|piece| Ok(hyper::body::Frame::data(piece))),
        )
    }
}

/// A server configuration with a fresh self-signed RSA 2048 certificate:
/// the key type devices present, so handshakes cost the same signatures.
fn rsa_server_config() -> anyhow::Result<Arc<ServerConfig>> {
    let (cert, key) = amtemu_model::pki::self_signed_ca("amtemu-load baseline")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )?;
    Ok(Arc::new(config))
}
