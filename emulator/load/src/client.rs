//! A deliberately small HTTP/1.1 client for load: keep-alive, Digest, plain
//! or TLS, reading just enough of each response (status, the headers that
//! steer the next request, and the body's length) to go on.

use std::net::SocketAddr;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslSessionCacheMode, SslVerifyMode, SslVersion};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::digest::DigestSession;
use amtemu_wire::wsman::client::{get_general_settings, put_general_settings_host_name};

/// How long any one step (connect, handshake, response) may take before the
/// request counts as failed.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream a connection runs over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("authentication refused")]
    Unauthorized,
}

/// What was read of one response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub close: bool,
    pub body_len: usize,
}

/// Where to connect, and whether to speak TLS there.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<SslConnector>,
}

impl Target {
    /// Opens a connection, completing the TLS handshake when asked.
    pub async fn connect(&self) -> Result<BufReader<Box<dyn Io>>, ClientError> {
        let tcp = timed(async { Ok(TcpStream::connect(self.addr).await?) }).await?;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                // Devices are reached by address; the name is not checked.
                let ssl = connector
                    .configure()
                    .and_then(|c| {
                        c.verify_hostname(false)
                            .use_server_name_indication(false)
                            .into_ssl("device")
                    })
                    .map_err(std::io::Error::other)?;
                let mut tls =
                    tokio_openssl::SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
                timed(async {
                    std::pin::Pin::new(&mut tls)
                        .connect()
                        .await
                        .map_err(|e| ClientError::Io(std::io::Error::other(e)))
                })
                .await?;
                Box::new(tls)
            }
        };
        Ok(BufReader::with_capacity(16 * 1024, io))
    }
}

async fn timed<T>(f: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// Sends one request and reads its response.
pub async fn exchange(
    conn: &mut BufReader<Box<dyn Io>>,
    request: &[u8],
) -> Result<Response, ClientError> {
    timed(async {
        conn.get_mut().write_all(request).await?;
        conn.get_mut().flush().await?;
        read_response(conn).await
    })
    .await
}

async fn read_response<R: AsyncRead + Unpin>(
    conn: &mut BufReader<R>,
) -> Result<Response, ClientError> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(ClientError::Malformed(
            "connection closed before a response",
        ));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(ClientError::Malformed("status line"))?;
    let mut response = Response {
        status,
        www_authenticate: None,
        close: false,
        body_len: 0,
    };
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Err(ClientError::Malformed("headers cut short"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(ClientError::Malformed("header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| ClientError::Malformed("content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            response.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("www-authenticate") {
            response.www_authenticate = Some(value.to_string());
        }
    }
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim_end(), 16)
                .map_err(|_| ClientError::Malformed("chunk size"))?;
            skip(conn, size).await?;
            line.clear();
            conn.read_line(&mut line).await?;
            if size == 0 {
                break;
            }
            response.body_len += size;
        }
    } else if let Some(n) = length {
        skip(conn, n).await?;
        response.body_len = n;
    }
    Ok(response)
}

/// Drops `n` bytes of body from the connection's own buffer. (It used
/// `tokio::io::copy` into a sink, which allocates and zeroes an 8 KiB buffer
/// per call: once per body against hyper's one-piece answer but once per
/// chunk against amtemu's chunked ones, so the generator itself spent three
/// times the instructions on each amtemu Get.)
async fn skip<R: AsyncRead + Unpin>(
    conn: &mut BufReader<R>,
    mut n: usize,
) -> Result<(), ClientError> {
    while n > 0 {
        let available = conn.fill_buf().await?.len();
        if available == 0 {
            return Err(ClientError::Malformed("body cut short"));
        }
        let take = available.min(n);
        conn.consume(take);
        n -= take;
    }
    Ok(())
}

/// A keep-alive WS-Man client for one device: it answers 401s by taking the
/// new nonce and reconnecting (AMT closes after a 401), and reuses the
/// nonce with increasing counts afterwards.
pub struct WsmanClient {
    target: Target,
    session: DigestSession,
    conn: Option<BufReader<Box<dyn Io>>>,
    message_id: u64,
    /// Open a new connection for every request (to measure handshakes).
    pub fresh_connections: bool,
    /// What each request does.
    pub operation: Operation,
}

/// The request a [`WsmanClient`] repeats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Operation {
    /// Get `AMT_GeneralSettings`: a read.
    #[default]
    Get,
    /// Put a new `AMT_GeneralSettings.HostName` each time: a write the
    /// device must make durable before it answers.
    PutHostName,
}

impl WsmanClient {
    pub fn new(target: Target, session: DigestSession) -> WsmanClient {
        WsmanClient {
            target,
            session,
            conn: None,
            message_id: 0,
            fresh_connections: false,
            operation: Operation::Get,
        }
    }

    /// One authenticated request (a Get unless [`Operation`] says
    /// otherwise); returns the response body's length.
    pub async fn get(&mut self) -> Result<usize, ClientError> {
        match self.operation {
            Operation::Get => self.post(get_general_settings).await,
            Operation::PutHostName => {
                self.post(|id| put_general_settings_host_name(id, &format!("load-{id}")))
                    .await
            }
        }
    }

    /// One authenticated request with the body `body` makes for a message
    /// id; returns the response body's length.
    pub async fn post(&mut self, body: impl Fn(u64) -> String) -> Result<usize, ClientError> {
        // A stale or first nonce costs one extra round trip; two in a row
        // means the password is wrong.
        for _ in 0..3 {
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => self.target.connect().await?,
            };
            self.message_id += 1;
            let body = body(self.message_id);
            let mut request = format!(
                "POST /wsman HTTP/1.1\r\nHost: {}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n",
                self.target.addr,
                body.len()
            );
            if let Some(auth) = self.session.authorization("POST", "/wsman") {
                request.push_str("Authorization: ");
                request.push_str(&auth);
                request.push_str("\r\n");
            }
            request.push_str("\r\n");
            request.push_str(&body);
            let response = exchange(&mut conn, request.as_bytes()).await?;
            if !response.close && !self.fresh_connections {
                self.conn = Some(conn);
            }
            match response.status {
                200 => return Ok(response.body_len),
                401 => {
                    let fresh = response
                        .www_authenticate
                        .as_deref()
                        .is_some_and(|h| self.session.challenged(h));
                    if !fresh {
                        return Err(ClientError::Unauthorized);
                    }
                    self.conn = None;
                }
                other => return Err(ClientError::Status(other)),
            }
        }
        Err(ClientError::Unauthorized)
    }
}

/// A client that reaches every firmware row (OpenSSL at security level 0,
/// TLS 1.0 – 1.3, every suite) and takes any server certificate (devices
/// carry certificates for names the generator does not know; consoles do
/// not check them either). OpenSSL still checks the handshake signatures,
/// so the cryptographic work is the real one. No session cache: every
/// connection is a full handshake.
pub fn tls_client_config() -> SslConnector {
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("an OpenSSL client");
    b.set_security_level(0);
    b.set_min_proto_version(Some(SslVersion::TLS1))
        .expect("TLS 1.0 is known");
    b.set_cipher_list("ALL:@SECLEVEL=0")
        .expect("OpenSSL has these suites");
    b.set_verify(SslVerifyMode::NONE);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.build()
}
