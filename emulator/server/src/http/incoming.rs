//! Requests as clients frame them: the head (request line and headers)
//! and a body sent with a `Content-Length` or chunked (RPS chunks its
//! requests). Pure functions over the bytes received so far, so a partial
//! read is only ever "need more", never half a request.

use std::ops::Range;

use bytes::{Buf, BytesMut};

/// The most headers a request may carry; real clients send fewer than 10.
const MAX_HEADERS: usize = 64;

/// A request's line and headers, in the order they came. The head's
/// parts are written one after the other into one string, checked as
/// UTF-8 once, and named by where they lie in it: a string of their own
/// for the method, target and each header name and value was a dozen
/// allocations per request on the Get path, and keeping the received bytes
/// instead would check a value's UTF-8 again at every look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    text: String,
    method: Range<usize>,
    target: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Name and value of each header.
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl Head {
    /// The method (`POST`).
    pub fn method(&self) -> &str {
        self.text(&self.method)
    }

    /// The request target as sent (`/wsman`, `/index.htm?x`).
    pub fn target(&self) -> &str {
        self.text(&self.target)
    }

    /// The headers, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (self.text(name), self.text(value)))
    }

    /// The first header of that name (names compare without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every header of that name, in order.
    fn all<'h, 'n>(&'h self, name: &'n str) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| self.text(n).eq_ignore_ascii_case(name))
            .map(|(_, value)| self.text(value))
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("")
    }

    /// Whether the client wants the connection closed after the answer:
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    pub fn wants_close(&self) -> bool {
        let has = |token: &str| {
            self.header("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        has("close") || (self.minor_version == 0 && !has("keep-alive"))
    }

    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    /// Spans lie on character boundaries by construction; an empty
    /// string would stand in if one did not.
    fn text(&self, span: &Range<usize>) -> &str {
        self.text.get(span.clone()).unwrap_or_default()
    }
}

/// Why a request's head or framing cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Not HTTP/1.x, or a header line that does not parse.
    Syntax,
    /// A `Content-Length` that is not one number, or a transfer coding
    /// other than chunked.
    Framing,
}

/// Parses a head from the start of `buf`: `Ok(None)` while it is
/// incomplete, else the head, split off `buf` (which keeps what follows).
pub fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(used)) => used,
        Err(_) => return Err(Malformed::Syntax),
    };
    let minor_version = req.version.unwrap_or(1);
    // A head is nearly always ASCII: then it is checked once and kept
    // whole, its parts named by where httparse found them in it.
    if let Ok(whole) = std::str::from_utf8(&buf[..used]) {
        let base = whole.as_ptr() as usize;
        // Every part httparse gives lies inside the head; an empty range
        // stands in for one that somehow did not.
        let span = |part: &[u8]| {
            let start = (part.as_ptr() as usize).wrapping_sub(base);
            if start <= used && part.len() <= used - start {
                start..start + part.len()
            } else {
                0..0
            }
        };
        let method = span(req.method.unwrap_or_default().as_bytes());
        let target = span(req.path.unwrap_or_default().as_bytes());
        let headers = req
            .headers
            .iter()
            .map(|h| (span(h.name.as_bytes()), span(h.value)))
            .collect();
        let text = whole.to_owned();
        buf.advance(used);
        return Ok(Some(Head {
            text,
            method,
            target,
            minor_version,
            headers,
        }));
    }
    let mut text = String::with_capacity(used);
    let mut push = |part: &[u8]| {
        let start = text.len();
        // Parts are nearly always ASCII: checking that is cheaper than the
        // lossy conversion (invalid bytes become U+FFFD), which is only
        // needed when the check fails.
        match std::str::from_utf8(part) {
            Ok(part) => text.push_str(part),
            Err(_) => text.push_str(&String::from_utf8_lossy(part)),
        }
        start..text.len()
    };
    let method = push(req.method.unwrap_or_default().as_bytes());
    let target = push(req.path.unwrap_or_default().as_bytes());
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = push(h.name.as_bytes());
        headers.push((name, push(h.value)));
    }
    buf.advance(used);
    Ok(Some(Head {
        text,
        method,
        target,
        minor_version,
        headers,
    }))
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    Length(u64),
    Chunked,
}

/// The body's framing per RFC 9112 §6: chunked wins over a length; no
/// framing header means no body.
pub fn body_framing(head: &Head) -> Result<BodyFraming, Malformed> {
    let mut codings = head
        .all("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(first) = codings.next() {
        return if codings.next().is_none() && first.eq_ignore_ascii_case("chunked") {
            Ok(BodyFraming::Chunked)
        } else {
            Err(Malformed::Framing)
        };
    }
    let mut lengths = head.all("content-length").map(str::trim);
    match lengths.next() {
        None => Ok(BodyFraming::Length(0)),
        Some(first) => {
            let n = first
                .parse::<u64>()
                .ok()
                .filter(|_| first.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(Malformed::Framing)?;
            // Repeated lengths must agree (a smuggling guard).
            if lengths.all(|v| v == first) {
                Ok(BodyFraming::Length(n))
            } else {
                Err(Malformed::Framing)
            }
        }
    }
}

/// The result of trying to decode a chunked body from what has arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunked {
    /// More bytes are needed.
    Partial,
    /// The body, and how many bytes of the buffer it took (trailers included).
    Complete(Vec<u8>, usize),
    /// The decoded body would pass the limit.
    TooLarge,
    Malformed,
}

/// Decodes a chunked body at the start of `buf`, refusing one whose data
/// would pass `limit` bytes before it is all there.
pub fn decode_chunked(buf: &[u8], limit: usize) -> Chunked {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else {
            // A size line longer than any sane one is not worth waiting for.
            return if buf.len() - at > 1024 {
                Chunked::Malformed
            } else {
                Chunked::Partial
            };
        };
        let line = &buf[at..at + line_end];
        // Chunk extensions (`;name=value`) are allowed and ignored.
        let size_text = line.split(|&b| b == b';').next().unwrap_or(b"");
        let size_text = std::str::from_utf8(size_text).unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Chunked::Malformed;
        };
        if size_text.is_empty() || size_text.starts_with('+') {
            return Chunked::Malformed;
        }
        at += line_end + 2;
        if size == 0 {
            // Trailer fields until an empty line.
            loop {
                let Some(end) = find_crlf(&buf[at..]) else {
                    return if buf.len() - at > 8 * 1024 {
                        Chunked::Malformed
                    } else {
                        Chunked::Partial
                    };
                };
                at += end + 2;
                if end == 0 {
                    return Chunked::Complete(body, at);
                }
            }
        }
        if body.len().saturating_add(size) > limit {
            return Chunked::TooLarge;
        }
        let Some(data_end) = at.checked_add(size) else {
            return Chunked::Malformed;
        };
        if buf.len() < data_end + 2 {
            return Chunked::Partial;
        }
        if &buf[data_end..data_end + 2] != b"\r\n" {
            return Chunked::Malformed;
        }
        body.extend_from_slice(&buf[at..data_end]);
        at = data_end + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Head {
        parse_head(&mut BytesMut::from(text)).unwrap().unwrap()
    }

    #[test]
    fn heads_and_their_framing() {
        let h = head("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nbody");
        assert_eq!(h.method(), "POST");
        assert_eq!(h.path(), "/wsman");
        assert_eq!(body_framing(&h), Ok(BodyFraming::Length(12)));
        assert!(!h.wants_close());
        let h = head(
            "POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(body_framing(&h), Ok(BodyFraming::Chunked));
        assert!(h.wants_close());
        let h = head("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(body_framing(&h), Ok(BodyFraming::Length(0)));
        assert!(h.wants_close());
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert_eq!(body_framing(&head(bad)), Err(Malformed::Framing), "{bad}");
        }
        assert_eq!(
            parse_head(&mut BytesMut::from(&b"POST /wsman HTTP/1.1\r\nHost"[..])),
            Ok(None)
        );
        assert_eq!(
            parse_head(&mut BytesMut::from(&b"\x16\x03\x01garbage\r\n\r\n"[..])),
            Err(Malformed::Syntax)
        );
    }

    #[test]
    fn chunked_bodies() {
        let rps = b"18\r\n<Envelope>0123456789ABCD\r\n0\r\n\r\nnext";
        assert_eq!(
            decode_chunked(rps, 100),
            Chunked::Complete(b"<Envelope>0123456789ABCD".to_vec(), rps.len() - 4)
        );
        assert_eq!(
            decode_chunked(b"5;ext=1\r\nabcde\r\n0\r\nX-T: 1\r\n\r\n", 100),
            Chunked::Complete(b"abcde".to_vec(), 29)
        );
        assert_eq!(decode_chunked(b"5\r\nab", 100), Chunked::Partial);
        assert_eq!(decode_chunked(b"5\r\nabcde\r\n", 100), Chunked::Partial);
        assert_eq!(decode_chunked(b"zz\r\n", 100), Chunked::Malformed);
        assert_eq!(decode_chunked(b"5\r\nabcdeXX", 100), Chunked::Malformed);
        assert_eq!(decode_chunked(b"FFFF\r\n", 100), Chunked::TooLarge);
        assert_eq!(
            decode_chunked(b"FFFFFFFFFFFFFFFFFF\r\n", usize::MAX),
            Chunked::Malformed
        );
    }

    proptest! {
        #[test]
        fn any_split_of_a_chunked_body_decodes_to_the_same_data(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..20),
        ) {
            let mut wire = Vec::new();
            let mut rest = &data[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                wire.extend_from_slice(format!("{n:X}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            prop_assert_eq!(decode_chunked(&wire, 4096), Chunked::Complete(data.clone(), wire.len()));
            for cut in 0..wire.len() {
                prop_assert_eq!(decode_chunked(&wire[..cut], 4096), Chunked::Partial);
            }
        }

        /// However a head is kept, its parts read back as httparse found
        /// them (bytes that are not UTF-8 as U+FFFD).
        #[test]
        fn parts_read_back_as_sent(
            method in "[A-Z]{1,7}",
            target in "/[!-~]{0,20}",
            headers in proptest::collection::vec(
                ("[A-Za-z][A-Za-z0-9-]{0,12}", proptest::collection::vec(
                    prop_oneof![Just(b'a'), Just(b' '), Just(b':'), Just(0xC3), Just(0xA9), Just(0xFF), 0x21u8..0x7F],
                    0..24,
                )),
                0..6,
            ),
        ) {
            let mut wire = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
            for (name, value) in &headers {
                wire.extend_from_slice(name.as_bytes());
                wire.extend_from_slice(b": ");
                wire.extend_from_slice(value);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let h = parse_head(&mut BytesMut::from(&wire[..])).unwrap().unwrap();
            prop_assert_eq!(h.method(), method.as_str());
            prop_assert_eq!(h.target(), target.as_str());
            let got: Vec<(String, String)> =
                h.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
            let sent: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v.trim_ascii()).into_owned()))
                .collect();
            prop_assert_eq!(got, sent);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_chunked(&bytes, 100);
            if let Ok(Some(h)) = parse_head(&mut BytesMut::from(&bytes[..])) {
                let _ = body_framing(&h);
                let _ = h.wants_close();
            }
        }
    }
}
