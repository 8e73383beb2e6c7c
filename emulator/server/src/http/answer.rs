//! Responses written byte for byte as AMT writes them. Firmware's header
//! names are mixed case (`WWW-Authenticate`, `X-Frame-Options`), its header
//! order differs per kind of answer, and its chunk sizes are four upper-case
//! hex digits (`02FA`); a general HTTP library normalises all three, and
//! clients that parse HTTP themselves notice (see `docs/ARCHITECTURE.md`).
//! So an [`Answer`] lists its headers exactly as they go out.

use std::borrow::Cow;

use bytes::Bytes;

/// Real firmware writes chunks of at most 0x2FA bytes.
pub const CHUNK: usize = 0x2FA;

/// How the body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked` (SOAP answers): the header is the
    /// caller's to place; the body is cut into firmware-sized chunks.
    Chunked,
    /// The body as it is; a `Content-Length` header is the caller's to place.
    Plain,
}

/// One response: status, headers in wire order and spelling, body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Values the server writes the same every time (`DENY`, the content
    /// type) are borrowed, not copied per answer.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Bytes,
    pub framing: Framing,
}

impl Answer {
    pub fn new(status: u16, framing: Framing, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            headers: Vec::with_capacity(6),
            body: body.into(),
            framing,
        }
    }

    /// Adds a header after those already there.
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// Whether the connection ends after this answer (firmware says so
    /// with `Connection: close` and then closes).
    pub fn closes(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the bytes on the wire to `out` (a connection reuses one
    /// buffer for all its answers and sends each with one write).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len() + self.body.len() / CHUNK * 8);
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, self.status.into());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            // A value never ends the header early, whatever it was made of.
            let value = value.as_bytes();
            if memchr::memchr2(b'\r', b'\n', value).is_some() {
                out.extend(value.iter().filter(|b| **b != b'\r' && **b != b'\n'));
            } else {
                out.extend_from_slice(value);
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        match self.framing {
            Framing::Plain => out.extend_from_slice(&self.body),
            Framing::Chunked => {
                for chunk in self.body.chunks(CHUNK) {
                    push_chunk_size(out, chunk.len());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
    }
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A chunk size line as firmware writes it: at least four upper-case hex
/// digits (`02FA`).
fn push_chunk_size(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    while n > 0 || digits.len() - at < 4 {
        at -= 1;
        digits[at] = HEX[n & 0xF];
        n >>= 4;
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase firmware writes for a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_pad_sizes_to_four_upper_case_digits() {
        let body = "x".repeat(CHUNK + 0x3C);
        let a =
            Answer::new(200, Framing::Chunked, body.clone()).header("Transfer-Encoding", "chunked");
        let wire = String::from_utf8(a.encode()).unwrap();
        let expected = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n02FA\r\n{}\r\n003C\r\n{}\r\n0\r\n\r\n",
            &body[..CHUNK],
            &body[CHUNK..]
        );
        assert_eq!(wire, expected);
        assert!(!a.closes());
    }

    #[test]
    fn status_lines_and_chunk_sizes_match_formatting_them() {
        for len in [
            0, 1, 0xF, 0x10, 0x2FA, 0xFFF, 0x1000, 0xFFFF, 0x10000, 0x123456,
        ] {
            let mut out = Vec::new();
            push_chunk_size(&mut out, len);
            assert_eq!(out, format!("{len:04X}\r\n").into_bytes());
        }
        for n in [0u64, 7, 10, 200, 401, 65535, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        let mut out = b"kept".to_vec();
        Answer::new(404, Framing::Plain, "x").encode_into(&mut out);
        assert_eq!(out, b"keptHTTP/1.1 404 Not Found\r\n\r\nx");
    }

    #[test]
    fn header_names_keep_their_case_and_values_cannot_break_lines() {
        let a = Answer::new(401, Framing::Plain, "page")
            .header("WWW-Authenticate", "Digest x\r\nEvil: 1")
            .header("Connection", "close");
        assert_eq!(
            String::from_utf8(a.encode()).unwrap(),
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest xEvil: 1\r\nConnection: close\r\n\r\npage"
        );
        assert!(a.closes());
    }
}
