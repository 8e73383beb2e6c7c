//! A read-only NBD server, as much of the protocol as QEMU's NBD client
//! needs to read one export: the fixed-newstyle handshake
//! (`NBD_OPT_EXPORT_NAME`, `NBD_OPT_INFO`/`NBD_OPT_GO` with the export and
//! block-size information), then `NBD_CMD_READ` and `NBD_CMD_DISC` with
//! simple replies. Everything else is refused with the protocol's own
//! answer (`NBD_REP_ERR_UNSUP`, `EINVAL`, `EPERM` for writes); bytes that
//! break the framing end the connection.
//!
//! Written here rather than taken from crates.io: the NBD crates there are
//! clients, or servers over a synchronous `Read + Seek` image, while this
//! export's bytes come asynchronously from a console, and the server side
//! of the subset is small.
//!
//! The peer is QEMU, but its bytes are read as untrusted: every length is
//! bounded before anything is allocated for it.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Handshake flags (server) and client flags: the same two bits.
const FIXED_NEWSTYLE: u16 = 1;
const NO_ZEROES: u16 = 2;

/// Transmission flags: the flags field is meaningful; the export is
/// read-only.
const HAS_FLAGS: u16 = 1;
const READ_ONLY: u16 = 2;
const TRANSMISSION_FLAGS: u16 = HAS_FLAGS | READ_ONLY;

mod opt {
    pub const EXPORT_NAME: u32 = 1;
    pub const ABORT: u32 = 2;
    pub const INFO: u32 = 6;
    pub const GO: u32 = 7;
}

mod rep {
    pub const ACK: u32 = 1;
    pub const INFO: u32 = 3;
    pub const ERR_UNSUP: u32 = 0x8000_0001;
    pub const ERR_INVALID: u32 = 0x8000_0003;
    pub const ERR_UNKNOWN: u32 = 0x8000_0006;
}

mod info {
    pub const EXPORT: u16 = 0;
    pub const BLOCK_SIZE: u16 = 3;
}

mod cmd {
    pub const READ: u16 = 0;
    pub const WRITE: u16 = 1;
    pub const DISC: u16 = 2;
}

/// The errno values NBD replies carry (fixed by the protocol, not the OS).
pub mod errno {
    pub const EPERM: u32 = 1;
    pub const EIO: u32 = 5;
    pub const EINVAL: u32 = 22;
}

/// The longest option data read (an export name and a few info requests).
const MAX_OPTION: u32 = 4096;

/// The longest read served in one request, advertised as the maximum
/// block size (QEMU splits longer reads).
pub const MAX_READ: u32 = 1 << 20;

/// What is served: a size learnt at each handshake, and reads inside it.
pub trait Export: Send + Sync {
    /// The export's size in bytes now; None when there is nothing to
    /// serve (no medium), which refuses the client.
    fn size(&self) -> impl Future<Output = Option<u64>> + Send;
    /// `len` bytes from `offset`, inside the size; Err is the errno sent.
    fn read(&self, offset: u64, len: u32) -> impl Future<Output = Result<Vec<u8>, u32>> + Send;
}

/// One transmission-phase request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub kind: u16,
    pub handle: u64,
    pub offset: u64,
    pub len: u32,
}

impl Request {
    /// None when the magic is wrong (the stream has lost its framing).
    pub fn parse(head: &[u8; 28]) -> Option<Request> {
        let u32_at =
            |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        (u32_at(0) == REQUEST_MAGIC).then(|| Request {
            kind: u16::from_be_bytes([head[6], head[7]]),
            handle: u64_at(8),
            offset: u64_at(16),
            len: u32_at(24),
        })
    }
}

/// `NBD_OPT_INFO`/`NBD_OPT_GO` data: the export name and the information
/// types asked for; None when the lengths inside do not add up.
pub fn parse_info_request(data: &[u8]) -> Option<(&[u8], Vec<u16>)> {
    let name_len = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let name = data.get(4..4usize.checked_add(name_len)?)?;
    let rest = data.get(4 + name_len..)?;
    let count = usize::from(u16::from_be_bytes(rest.get(0..2)?.try_into().ok()?));
    let list = rest.get(2..)?;
    if list.len() != count * 2 {
        return None;
    }
    let infos = list
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some((name, infos))
}

fn option_reply(option: u32, kind: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + data.len());
    out.extend(OPTION_REPLY_MAGIC.to_be_bytes());
    out.extend(option.to_be_bytes());
    out.extend(kind.to_be_bytes());
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(data);
    out
}

fn simple_reply(error: u32, handle: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend(SIMPLE_REPLY_MAGIC.to_be_bytes());
    out.extend(error.to_be_bytes());
    out.extend(handle.to_be_bytes());
    out
}

/// The errno a read request gets before the export is asked, if any.
fn check_read(request: &Request, size: u64) -> Option<u32> {
    let end = request.offset.checked_add(request.len.into());
    match end {
        _ if request.len > MAX_READ => Some(errno::EINVAL),
        Some(end) if end <= size => None,
        _ => Some(errno::EINVAL),
    }
}

/// Serves one client until it disconnects; Ok says why it ended (a
/// client that breaks the protocol is an ending, not an error).
pub async fn serve<S, E>(stream: S, export: &E, name: &str) -> std::io::Result<&'static str>
where
    S: AsyncRead + AsyncWrite + Unpin,
    E: Export + ?Sized,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let mut hello = Vec::with_capacity(18);
    hello.extend(NBDMAGIC.to_be_bytes());
    hello.extend(IHAVEOPT.to_be_bytes());
    hello.extend((FIXED_NEWSTYLE | NO_ZEROES).to_be_bytes());
    w.write_all(&hello).await?;
    let client_flags = r.read_u32().await?;
    if client_flags & !u32::from(FIXED_NEWSTYLE | NO_ZEROES) != 0 {
        return Ok("unknown client flags");
    }
    let no_zeroes = client_flags & u32::from(NO_ZEROES) != 0;
    // An empty name is the default export, which is this one.
    let ours = |asked: &[u8]| asked.is_empty() || asked == name.as_bytes();

    let size = loop {
        if r.read_u64().await? != IHAVEOPT {
            return Ok("bad option magic");
        }
        let option = r.read_u32().await?;
        let len = r.read_u32().await?;
        if len > MAX_OPTION {
            return Ok("option data too long");
        }
        let mut data = vec![0; len as usize];
        r.read_exact(&mut data).await?;
        match option {
            opt::EXPORT_NAME => {
                // This option has no error reply: refusing is closing.
                if !ours(&data) {
                    return Ok("unknown export");
                }
                let Some(size) = export.size().await else {
                    return Ok("nothing to export");
                };
                let mut reply = Vec::with_capacity(134);
                reply.extend(size.to_be_bytes());
                reply.extend(TRANSMISSION_FLAGS.to_be_bytes());
                if !no_zeroes {
                    reply.extend([0u8; 124]);
                }
                w.write_all(&reply).await?;
                break size;
            }
            opt::ABORT => {
                w.write_all(&option_reply(option, rep::ACK, &[])).await?;
                return Ok("client aborted");
            }
            opt::INFO | opt::GO => {
                let Some((asked, infos)) = parse_info_request(&data) else {
                    w.write_all(&option_reply(option, rep::ERR_INVALID, &[]))
                        .await?;
                    continue;
                };
                if !ours(asked) {
                    w.write_all(&option_reply(option, rep::ERR_UNKNOWN, b"no such export"))
                        .await?;
                    continue;
                }
                let Some(size) = export.size().await else {
                    w.write_all(&option_reply(option, rep::ERR_UNKNOWN, b"no medium"))
                        .await?;
                    continue;
                };
                let mut export_info = Vec::with_capacity(12);
                export_info.extend(info::EXPORT.to_be_bytes());
                export_info.extend(size.to_be_bytes());
                export_info.extend(TRANSMISSION_FLAGS.to_be_bytes());
                let mut out = option_reply(option, rep::INFO, &export_info);
                if infos.contains(&info::BLOCK_SIZE) {
                    // Any offset and length is served, 2048 (a CD block)
                    // is what the console reads in.
                    let mut sizes = Vec::with_capacity(14);
                    sizes.extend(info::BLOCK_SIZE.to_be_bytes());
                    for n in [1u32, 2048, MAX_READ] {
                        sizes.extend(n.to_be_bytes());
                    }
                    out.extend(option_reply(option, rep::INFO, &sizes));
                }
                out.extend(option_reply(option, rep::ACK, &[]));
                w.write_all(&out).await?;
                if option == opt::GO {
                    break size;
                }
            }
            // Structured replies, metadata contexts, TLS, listing: not
            // offered; the client goes on without them.
            _ => {
                w.write_all(&option_reply(option, rep::ERR_UNSUP, &[]))
                    .await?;
            }
        }
    };

    loop {
        let mut head = [0u8; 28];
        match r.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok("client closed");
            }
            Err(e) => return Err(e),
        }
        let Some(request) = Request::parse(&head) else {
            return Ok("bad request magic");
        };
        match request.kind {
            cmd::READ => {
                let result = match check_read(&request, size) {
                    Some(error) => Err(error),
                    None => match export.read(request.offset, request.len).await {
                        Ok(data) if data.len() == request.len as usize => Ok(data),
                        Ok(_) => Err(errno::EIO),
                        Err(error) => Err(error),
                    },
                };
                match result {
                    Ok(data) => {
                        let mut out = simple_reply(0, request.handle);
                        out.extend(data);
                        w.write_all(&out).await?;
                    }
                    Err(error) => w.write_all(&simple_reply(error, request.handle)).await?,
                }
            }
            cmd::WRITE => {
                // The payload follows the header; skip it to stay in step,
                // if it is not absurd, and refuse the write.
                if request.len > MAX_READ {
                    return Ok("write too long");
                }
                let mut sink = tokio::io::sink();
                let copied =
                    tokio::io::copy(&mut (&mut r).take(request.len.into()), &mut sink).await?;
                if copied != u64::from(request.len) {
                    return Ok("client closed");
                }
                w.write_all(&simple_reply(errno::EPERM, request.handle))
                    .await?;
            }
            cmd::DISC => return Ok("client disconnected"),
            _ => {
                w.write_all(&simple_reply(errno::EINVAL, request.handle))
                    .await?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An image in memory; `fail_from` makes reads at or past it fail.
    struct Image {
        bytes: Vec<u8>,
        fail_from: Option<u64>,
        present: bool,
        reads: Mutex<Vec<(u64, u32)>>,
    }

    impl Image {
        fn new(len: usize) -> Image {
            Image {
                bytes: (0..len).map(|i| (i % 251) as u8).collect(),
                fail_from: None,
                present: true,
                reads: Mutex::new(Vec::new()),
            }
        }
    }

    impl Export for Image {
        async fn size(&self) -> Option<u64> {
            self.present.then_some(self.bytes.len() as u64)
        }
        async fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, u32> {
            self.reads.lock().unwrap().push((offset, len));
            if self.fail_from.is_some_and(|f| offset + u64::from(len) > f) {
                return Err(errno::EIO);
            }
            let start = offset as usize;
            Ok(self.bytes[start..start + len as usize].to_vec())
        }
    }

    /// The client's side, written by hand from the protocol document.
    struct Client {
        s: tokio::io::DuplexStream,
    }

    impl Client {
        async fn hello(
            export: std::sync::Arc<Image>,
        ) -> (Client, tokio::task::JoinHandle<&'static str>) {
            let (ours, theirs) = tokio::io::duplex(1 << 22);
            let task = tokio::spawn(async move { serve(theirs, &*export, "cd").await.unwrap() });
            let mut c = Client { s: ours };
            assert_eq!(c.s.read_u64().await.unwrap(), NBDMAGIC);
            assert_eq!(c.s.read_u64().await.unwrap(), IHAVEOPT);
            assert_eq!(c.s.read_u16().await.unwrap(), FIXED_NEWSTYLE | NO_ZEROES);
            (c, task)
        }

        async fn option(&mut self, option: u32, data: &[u8]) {
            let mut out = IHAVEOPT.to_be_bytes().to_vec();
            out.extend(option.to_be_bytes());
            out.extend((data.len() as u32).to_be_bytes());
            out.extend(data);
            self.s.write_all(&out).await.unwrap();
        }

        /// (reply type, data) of one option reply.
        async fn option_reply(&mut self, option: u32) -> (u32, Vec<u8>) {
            assert_eq!(self.s.read_u64().await.unwrap(), OPTION_REPLY_MAGIC);
            assert_eq!(self.s.read_u32().await.unwrap(), option);
            let kind = self.s.read_u32().await.unwrap();
            let len = self.s.read_u32().await.unwrap();
            let mut data = vec![0; len as usize];
            self.s.read_exact(&mut data).await.unwrap();
            (kind, data)
        }

        async fn go(&mut self, name: &str) -> Vec<(u32, Vec<u8>)> {
            let mut data = (name.len() as u32).to_be_bytes().to_vec();
            data.extend(name.as_bytes());
            data.extend(1u16.to_be_bytes());
            data.extend(info::BLOCK_SIZE.to_be_bytes());
            self.option(opt::GO, &data).await;
            let mut replies = Vec::new();
            loop {
                let reply = self.option_reply(opt::GO).await;
                let done = reply.0 != rep::INFO;
                replies.push(reply);
                if done {
                    return replies;
                }
            }
        }

        async fn request(&mut self, kind: u16, handle: u64, offset: u64, len: u32) {
            let mut out = REQUEST_MAGIC.to_be_bytes().to_vec();
            out.extend(0u16.to_be_bytes());
            out.extend(kind.to_be_bytes());
            out.extend(handle.to_be_bytes());
            out.extend(offset.to_be_bytes());
            out.extend(len.to_be_bytes());
            self.s.write_all(&out).await.unwrap();
        }

        /// (error, handle) of a simple reply.
        async fn reply(&mut self) -> (u32, u64) {
            assert_eq!(self.s.read_u32().await.unwrap(), SIMPLE_REPLY_MAGIC);
            (
                self.s.read_u32().await.unwrap(),
                self.s.read_u64().await.unwrap(),
            )
        }
    }

    #[tokio::test]
    async fn go_then_reads_inside_the_export_and_refusals_outside() {
        let image = std::sync::Arc::new(Image {
            fail_from: Some(8192),
            ..Image::new(10_000)
        });
        let (mut c, task) = Client::hello(image.clone()).await;
        c.s.write_u32(u32::from(FIXED_NEWSTYLE | NO_ZEROES))
            .await
            .unwrap();
        // Structured replies are not offered; the client goes on.
        c.option(8, &[]).await;
        assert_eq!(c.option_reply(8).await.0, rep::ERR_UNSUP);
        // Another export name is unknown, and the option may be retried.
        let replies = c.go("other").await;
        assert_eq!(replies[0].0, rep::ERR_UNKNOWN);
        let replies = c.go("cd").await;
        assert_eq!(replies.len(), 3, "{replies:?}");
        let mut export = info::EXPORT.to_be_bytes().to_vec();
        export.extend(10_000u64.to_be_bytes());
        export.extend(TRANSMISSION_FLAGS.to_be_bytes());
        assert_eq!(replies[0], (rep::INFO, export));
        assert_eq!(replies[1].1[0..2], info::BLOCK_SIZE.to_be_bytes());
        assert_eq!(replies[2], (rep::ACK, vec![]));

        // An unaligned read inside the export.
        c.request(cmd::READ, 7, 100, 3000).await;
        assert_eq!(c.reply().await, (0, 7));
        let mut data = vec![0; 3000];
        c.s.read_exact(&mut data).await.unwrap();
        assert_eq!(data, image.bytes[100..3100]);
        // Past the end, overflowing, too long: EINVAL, the export is not
        // asked.
        let asked = image.reads.lock().unwrap().len();
        for (handle, offset, len) in [(8, 9_000, 2_000), (9, u64::MAX, 2), (10, 0, MAX_READ + 1)] {
            c.request(cmd::READ, handle, offset, len).await;
            assert_eq!(c.reply().await, (errno::EINVAL, handle));
        }
        assert_eq!(image.reads.lock().unwrap().len(), asked);
        // The export's own failure is the reply's error, with no data.
        c.request(cmd::READ, 11, 8000, 1000).await;
        assert_eq!(c.reply().await, (errno::EIO, 11));
        // A write is refused and its payload skipped; an unknown command
        // is EINVAL; the stream stays in step.
        c.request(cmd::WRITE, 12, 0, 4).await;
        c.s.write_all(b"abcd").await.unwrap();
        assert_eq!(c.reply().await, (errno::EPERM, 12));
        c.request(99, 13, 0, 0).await;
        assert_eq!(c.reply().await, (errno::EINVAL, 13));
        c.request(cmd::READ, 14, 0, 4).await;
        assert_eq!(c.reply().await, (0, 14));
        let mut data = [0u8; 4];
        c.s.read_exact(&mut data).await.unwrap();
        c.request(cmd::DISC, 15, 0, 0).await;
        assert_eq!(task.await.unwrap(), "client disconnected");
    }

    #[tokio::test]
    async fn export_name_without_zeroes_and_no_medium_refuses_go() {
        let absent = std::sync::Arc::new(Image {
            present: false,
            ..Image::new(4096)
        });
        let (mut c, _task) = Client::hello(absent).await;
        c.s.write_u32(u32::from(FIXED_NEWSTYLE)).await.unwrap();
        let replies = c.go("").await;
        assert_eq!(replies, vec![(rep::ERR_UNKNOWN, b"no medium".to_vec())]);

        let image = std::sync::Arc::new(Image::new(4096));
        let (mut c, _task) = Client::hello(image).await;
        c.s.write_u32(u32::from(FIXED_NEWSTYLE)).await.unwrap();
        c.option(opt::EXPORT_NAME, b"cd").await;
        assert_eq!(c.s.read_u64().await.unwrap(), 4096);
        assert_eq!(c.s.read_u16().await.unwrap(), TRANSMISSION_FLAGS);
        let mut zeroes = [1u8; 124];
        c.s.read_exact(&mut zeroes).await.unwrap();
        assert_eq!(zeroes, [0u8; 124], "zeroes unless NO_ZEROES was agreed");
    }

    /// Bytes that break the framing end the connection with a reason, and
    /// nothing is allocated for a length the client claims.
    #[tokio::test]
    async fn malformed_input_ends_the_connection() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (0xFFu32.to_be_bytes().to_vec(), "unknown client flags"),
            (
                [1u32.to_be_bytes(), [0; 4]]
                    .concat()
                    .into_iter()
                    .chain([0; 12])
                    .collect(),
                "bad option magic",
            ),
            (
                [
                    1u32.to_be_bytes().to_vec(),
                    IHAVEOPT.to_be_bytes().to_vec(),
                    opt::GO.to_be_bytes().to_vec(),
                    u32::MAX.to_be_bytes().to_vec(),
                ]
                .concat(),
                "option data too long",
            ),
            (
                [
                    1u32.to_be_bytes().to_vec(),
                    IHAVEOPT.to_be_bytes().to_vec(),
                    opt::EXPORT_NAME.to_be_bytes().to_vec(),
                    3u32.to_be_bytes().to_vec(),
                    b"dvd".to_vec(),
                ]
                .concat(),
                "unknown export",
            ),
        ];
        for (bytes, why) in cases {
            let (mut c, task) = Client::hello(std::sync::Arc::new(Image::new(4096))).await;
            c.s.write_all(&bytes).await.unwrap();
            assert_eq!(task.await.unwrap(), why);
        }
        // In transmission: a bad request magic, and a huge write.
        for (head, why) in [
            ([0xAAu8; 28].to_vec(), "bad request magic"),
            (
                {
                    let mut h = REQUEST_MAGIC.to_be_bytes().to_vec();
                    h.extend(0u16.to_be_bytes());
                    h.extend(cmd::WRITE.to_be_bytes());
                    h.extend([0u8; 16]);
                    h.extend(u32::MAX.to_be_bytes());
                    h
                },
                "write too long",
            ),
        ] {
            let (mut c, task) = Client::hello(std::sync::Arc::new(Image::new(4096))).await;
            c.s.write_u32(1).await.unwrap();
            c.option(opt::EXPORT_NAME, b"").await;
            let mut reply = [0u8; 134];
            c.s.read_exact(&mut reply).await.unwrap();
            c.s.write_all(&head).await.unwrap();
            assert_eq!(task.await.unwrap(), why);
        }
    }

    #[test]
    fn info_requests_whose_lengths_do_not_add_up_are_refused() {
        let mut good = 2u32.to_be_bytes().to_vec();
        good.extend(b"cd");
        good.extend(1u16.to_be_bytes());
        good.extend(3u16.to_be_bytes());
        assert_eq!(parse_info_request(&good), Some((&b"cd"[..], vec![3])));
        for bad in [
            &good[..3],
            &good[..good.len() - 1],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0][..],
            &[0, 0, 0, 0, 0, 2, 0, 3][..],
        ] {
            assert_eq!(parse_info_request(bad), None, "{bad:?}");
        }
    }
}
