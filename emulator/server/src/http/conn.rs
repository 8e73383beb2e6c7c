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
    // One timer for the connection's head deadlines, moved forward after
    // each answer: arming a fresh one per request put an entry into the
    // timer wheel and took it out again for every keep-alive request,
    // while moving a pending deadline later only updates the entry.
    let mut head_deadline = std::pin::pin!(tokio::time::sleep(HEAD_DEADLINE));
    loop {
        let read = tokio::select! {
            // The head first, as `timeout` did: a pipelined head already
            // buffered is served without looking at the clock.
            biased;
            head = read_head(&mut io, &mut buf) => Ok(head),
            () = &mut head_deadline => Err(()),
        };
        let head = match read {
            Err(()) => {
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
        head_deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + HEAD_DEADLINE);
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
                Ok(Some(head)) => return Ok(Some(head)),
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

#[cfg(test)]
mod tests {
    //! The head deadline on the clock tokio pauses: the times below are
    //! exact, not measured.
    use super::*;
    use crate::http::answer::Framing;
    use tokio::io::DuplexStream;
    use tokio::time::Instant;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: d\r\n\r\n";

    /// A server connection answering every request `200 ok`, and the
    /// client's end of it.
    fn serve() -> (DuplexStream, tokio::task::JoinHandle<std::io::Result<()>>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(run(
            server,
            1024,
            Duration::from_secs(5),
            || Answer::new(400, Framing::Plain, ""),
            |_, _| async { Answer::new(200, Framing::Plain, "ok") },
        ));
        (client, task)
    }

    async fn ask(client: &mut DuplexStream) {
        client.write_all(GET).await.unwrap();
        let want = b"HTTP/1.1 200 OK\r\n\r\nok";
        let mut got = vec![0; want.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    /// Reads until the server closes; returns when that was.
    async fn closed_at(client: &mut DuplexStream) -> Instant {
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "no answer to a connection cut for time");
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_at_the_head_deadline() {
        let start = Instant::now();
        let (mut client, task) = serve();
        assert_eq!(closed_at(&mut client).await - start, HEAD_DEADLINE);
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_gets_a_full_deadline_after_each_answer() {
        let (mut client, task) = serve();
        // Two requests 20 s apart: the second answer moves the deadline
        // to 30 s after it, past the first answer's deadline.
        ask(&mut client).await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        ask(&mut client).await;
        let answered = Instant::now();
        assert_eq!(closed_at(&mut client).await - answered, HEAD_DEADLINE);
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_sent_a_byte_at_a_time_is_cut_at_the_deadline() {
        let (mut client, task) = serve();
        ask(&mut client).await;
        let answered = Instant::now();
        let (mut reading, mut writing) = tokio::io::split(client);
        tokio::spawn(async move {
            // Each byte inside the deadline, the whole head far past it.
            for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if writing.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut rest = Vec::new();
        reading.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "no answer to a connection cut for time");
        assert_eq!(Instant::now() - answered, HEAD_DEADLINE);
        task.await.unwrap().unwrap();
    }
}
