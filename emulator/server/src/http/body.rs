//! Response bodies framed the way AMT frames them: SOAP answers chunked,
//! HTML pages with a Content-Length.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Real firmware writes chunks of at most 0x2FA bytes.
const CHUNK: usize = 0x2FA;

#[derive(Debug, Default)]
pub struct AmtBody {
    chunks: VecDeque<Bytes>,
    /// Set for fixed-length bodies; `None` makes hyper use chunked encoding.
    length: Option<u64>,
}

impl AmtBody {
    /// A body sent with Transfer-Encoding: chunked, split as firmware does.
    pub fn chunked(data: impl Into<Bytes>) -> AmtBody {
        let data: Bytes = data.into();
        let mut chunks = VecDeque::with_capacity(data.len() / CHUNK + 1);
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(CHUNK);
            chunks.push_back(rest.split_to(n));
        }
        AmtBody {
            chunks,
            length: None,
        }
    }

    /// A body sent with a Content-Length.
    pub fn fixed(data: impl Into<Bytes>) -> AmtBody {
        let data: Bytes = data.into();
        let length = Some(data.len() as u64);
        let mut chunks = VecDeque::new();
        if !data.is_empty() {
            chunks.push_back(data);
        }
        AmtBody { chunks, length }
    }

    pub fn empty() -> AmtBody {
        AmtBody::fixed(Bytes::new())
    }
}

impl Body for AmtBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .chunks
                .pop_front()
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.length.is_some()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
