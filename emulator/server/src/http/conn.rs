//! One HTTP/1.1 connection: read a request (head, then body), hand it to
//! the router, write the [`Answer`] as it is, and go on while both sides
//! keep the connection. Requests are served in order, so pipelined ones
//! are answered in order.

use std::future::Future;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::answer::Answer;
use super::incoming::{self, BodyFraming, Chunked, Head, Malformed};

/// How long a request's head may take, counted from the end of the last
/// answer (so an idle kept-alive connection ends after it too).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(30);

/// The largest head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// What the router is given: the head and the body, or why there is no body.
pub enum Body {
    Complete(bytes::Bytes),
    /// Larger than the limit; nothing more of it is read.
    TooLarge,
}

/// Serves requests on `io` until either side ends the connection.
/// `route` answers one request; `body_limit` and `body_deadline` bound
/// what a body may cost.
pub async fn run<IO, R, F>(
    mut io: IO,
    body_limit: usize,
    body_deadline: Duration,
    bad_request: impl Fn() -> Answer,
    mut route: R,
) -> std::io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    R: FnMut(Head, Body) -> F,
    F: Future<Output = Answer>,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Each answer is encoded here and sent with one write; the buffer
    // lives as long as the connection.
    let mut out = Vec::with_capacity(4 * 1024);
    loop {
        let head = match tokio::time::timeout(HEAD_DEADLINE, read_head(&mut io, &mut buf)).await {
            Err(_) => {
                tracing::debug!("no request head within {HEAD_DEADLINE:?}: connection closed");
                return Ok(());
            }
            Ok(Ok(Some(head))) => head,
            // The client closed between requests.
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(HeadError::Io(e))) => return Err(e),
            Ok(Err(HeadError::Malformed(why))) => {
                tracing::info!(?why, "malformed HTTP request: answered 400 and closed");
                io.write_all(&bad_request().encode()).await?;
                return io.shutdown().await;
            }
        };
        let framing = match incoming::body_framing(&head) {
            Ok(f) => f,
            Err(why) => {
                tracing::info!(?why, "unframed HTTP request body: answered 400 and closed");
                io.write_all(&bad_request().encode()).await?;
                return io.shutdown().await;
            }
        };
        let needs_body = framing != BodyFraming::Length(0);
        if needs_body && head.expects_continue() {
            io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        // A body that came with its head (the usual case) is taken without
        // arming the deadline's timer: reading it cannot wait.
        let arrived = matches!(framing, BodyFraming::Length(n) if buf.len() as u64 >= n);
        let read = read_body(&mut io, &mut buf, framing, body_limit);
        let read = async {
            if arrived {
                Ok(read.await)
            } else {
                tokio::time::timeout(body_deadline, read).await
            }
        };
        let body = match read.await {
            Ok(Ok(body)) => body,
            Ok(Err(BodyError::Io(e))) => return Err(e),
            Ok(Err(BodyError::Malformed)) => {
                tracing::info!("malformed chunked request body: answered 400 and closed");
                io.write_all(&bad_request().encode()).await?;
                return io.shutdown().await;
            }
            Ok(Err(BodyError::Closed)) => {
                tracing::debug!("the client closed before its body was complete");
                return Ok(());
            }
            Err(_) => {
                // A stalled body holds no task or buffer past the deadline;
                // firmware drops such a socket without an answer.
                tracing::info!("request body too slow: connection closed");
                return Ok(());
            }
        };
        let too_large = matches!(body, Body::TooLarge);
        let client_closes = head.wants_close();
        let answer = route(head, body).await;
        out.clear();
        answer.encode_into(&mut out);
        io.write_all(&out).await?;
        io.flush().await?;
        // After a body too large to read, the rest of it is still on the
        // wire: the connection cannot go on.
        if answer.closes() || client_closes || too_large {
            return io.shutdown().await;
        }
    }
}

enum HeadError {
    Io(std::io::Error),
    Malformed(Malformed),
}

async fn read_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
) -> Result<Option<Head>, HeadError> {
    loop {
        // Blank lines before a request are tolerated (RFC 9112 §2.2).
        while buf.starts_with(b"\r\n") {
            buf.advance(2);
        }
        if !buf.is_empty() {
            match incoming::parse_head(buf) {
                Ok(Some((head, used))) => {
                    buf.advance(used);
                    return Ok(Some(head));
                }
                Ok(None) if buf.len() >= MAX_HEAD => {
                    return Err(HeadError::Malformed(Malformed::Syntax));
                }
                Ok(None) => {}
                Err(why) => return Err(HeadError::Malformed(why)),
            }
        }
        reserve(buf);
        match io.read_buf(buf).await {
            // The client closed, between requests or in the middle of a head.
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

enum BodyError {
    Io(std::io::Error),
    Malformed,
    Closed,
}

async fn read_body<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    framing: BodyFraming,
    limit: usize,
) -> Result<Body, BodyError> {
    match framing {
        BodyFraming::Length(n) => {
            if n > limit as u64 {
                return Ok(Body::TooLarge);
            }
            let n = n as usize;
            while buf.len() < n {
                fill(io, buf).await?;
            }
            Ok(Body::Complete(buf.split_to(n).freeze()))
        }
        BodyFraming::Chunked => loop {
            match incoming::decode_chunked(buf, limit) {
                Chunked::Complete(body, used) => {
                    buf.advance(used);
                    return Ok(Body::Complete(body.into()));
                }
                Chunked::TooLarge => return Ok(Body::TooLarge),
                Chunked::Malformed => return Err(BodyError::Malformed),
                Chunked::Partial => fill(io, buf).await?,
            }
        },
    }
}

async fn fill<IO: AsyncRead + Unpin>(io: &mut IO, buf: &mut BytesMut) -> Result<(), BodyError> {
    reserve(buf);
    match io.read_buf(buf).await {
        Ok(0) => Err(BodyError::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(BodyError::Io(e)),
    }
}

/// Room for the next read, so a large body arrives in few reads.
fn reserve(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
}
