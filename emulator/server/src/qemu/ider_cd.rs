//! The console's CD as an NBD export: the size is the drive's READ
//! CAPACITY, and each read becomes READ(10) commands of whole 2048-byte
//! blocks sent over the IDE-R session, cut to the bytes asked for. With
//! no session (or one that ends under a read) there is no medium, or the
//! read fails: the VM sees an empty drive or an I/O error, never a hang on
//! a console that left, nor on one that stays and does not answer (each
//! command has [`ANSWER_DEADLINE`](super::ider_link::ANSWER_DEADLINE)).

use std::sync::Arc;

use amtemu_model::host::atapi::{self, op};
use amtemu_model::host::media::CD_BLOCK;
use amtemu_model::host::{IderDrive, IderReply};

use super::console::QemuConsole;
use super::nbd::{Export, errno};

/// Blocks per READ(10): 32 KiB, four of the console's 8 KiB data chunks.
const BLOCKS_PER_COMMAND: u32 = 16;

/// UNIT ATTENTION answers (the medium was just inserted, the bus was
/// reset) tolerated before the drive counts as not ready, as a BIOS does.
const ATTENTION_RETRIES: u8 = 4;

/// The name QEMU's NBD client asks for.
pub const EXPORT_NAME: &str = "ider-cd";

pub struct IderCd {
    pub console: Arc<QemuConsole>,
}

impl IderCd {
    async fn command(&self, cdb: [u8; 12], transfer_len: u32) -> Option<IderReply> {
        self.console
            .ider_command(IderDrive::Cd, cdb, transfer_len)
            .await
            .ok()
    }

    /// Blocks on the medium, or None when the drive has none or cannot
    /// say.
    async fn blocks(&self) -> Option<u64> {
        let mut attentions = 0;
        loop {
            let ready = self.command([op::TEST_UNIT_READY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0);
            let reply = ready.await?;
            match reply.sense.0 {
                0 => break,
                0x06 if attentions < ATTENTION_RETRIES => attentions += 1,
                _ => return None,
            }
        }
        let mut cdb = [0u8; 12];
        cdb[0] = op::READ_CAPACITY_10;
        let reply = self.command(cdb, 8).await?;
        let data = reply.data.get(0..8)?;
        if reply.sense != atapi::GOOD {
            return None;
        }
        let last_lba = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let block = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        (block as usize == CD_BLOCK).then(|| u64::from(last_lba) + 1)
    }
}

/// The READ(10) for `count` blocks from `lba`.
fn read_10(lba: u32, count: u16) -> [u8; 12] {
    let mut cdb = [0u8; 12];
    cdb[0] = op::READ_10;
    cdb[2..6].copy_from_slice(&lba.to_be_bytes());
    cdb[7..9].copy_from_slice(&count.to_be_bytes());
    cdb
}

impl Export for IderCd {
    async fn size(&self) -> Option<u64> {
        Some(self.blocks().await? * CD_BLOCK as u64)
    }

    async fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, u32> {
        let block = CD_BLOCK as u64;
        let end = offset + u64::from(len);
        let first = offset / block;
        let last = end.div_ceil(block);
        let mut out = Vec::with_capacity(len as usize);
        let mut lba = first;
        while lba < last {
            let count = (last - lba).min(BLOCKS_PER_COMMAND.into());
            let start = u32::try_from(lba).map_err(|_| errno::EINVAL)?;
            let bytes = count * block;
            let reply = self
                .command(read_10(start, count as u16), bytes as u32)
                .await
                .ok_or(errno::EIO)?;
            if reply.sense != atapi::GOOD || reply.data.len() as u64 != bytes {
                return Err(errno::EIO);
            }
            // The part of these blocks inside [offset, end).
            let from = offset.saturating_sub(lba * block) as usize;
            let to = (end.min((lba + count) * block) - lba * block) as usize;
            out.extend_from_slice(reply.data.get(from..to).ok_or(errno::EIO)?);
            lba += count;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::host_port::HostPort;
    use amtemu_model::device::firmware::Firmware;
    use amtemu_model::device::{Device, DeviceConfig};

    fn console() -> Arc<QemuConsole> {
        let config = DeviceConfig::new("ider-cd", Firmware::by_name("11.8").unwrap());
        Arc::new(QemuConsole::new(Device::new(config)))
    }

    /// A console serving `image` as its CD through the HostPort calls a
    /// session makes, until `answers` commands (then it stops answering
    /// and ends its session, as a console that leaves mid-read).
    /// Returns the commands it saw.
    fn serve(
        console: Arc<QemuConsole>,
        image: Vec<u8>,
        answers: usize,
    ) -> Arc<Mutex<Vec<[u8; 12]>>> {
        serve_then(console, image, answers, true)
    }

    /// As [`serve`]; `leave` false keeps the session after the last
    /// answer, silent (a console that hangs).
    fn serve_then(
        console: Arc<QemuConsole>,
        image: Vec<u8>,
        answers: usize,
        leave: bool,
    ) -> Arc<Mutex<Vec<[u8; 12]>>> {
        console.ider_session(true);
        let mut woke = console.host_watch();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                while let Some(request) = console.ider_next_request() {
                    let count = {
                        let mut log = log.lock().unwrap();
                        log.push(request.cdb);
                        log.len()
                    };
                    if count > answers {
                        if leave {
                            console.ider_session(false);
                            return;
                        }
                        continue;
                    }
                    let cdb = request.cdb;
                    let (data, sense) = match cdb[0] {
                        // The first command sees the medium just inserted.
                        _ if first => (vec![], atapi::MEDIUM_CHANGED),
                        op::TEST_UNIT_READY => (vec![], atapi::GOOD),
                        op::READ_CAPACITY_10 => {
                            let last = (image.len() / CD_BLOCK - 1) as u32;
                            (
                                [last.to_be_bytes(), 2048u32.to_be_bytes()].concat(),
                                atapi::GOOD,
                            )
                        }
                        op::READ_10 => {
                            let lba = u32::from_be_bytes([cdb[2], cdb[3], cdb[4], cdb[5]]) as usize;
                            let n = u16::from_be_bytes([cdb[7], cdb[8]]) as usize;
                            match image.get(lba * CD_BLOCK..(lba + n) * CD_BLOCK) {
                                Some(d) => (d.to_vec(), atapi::GOOD),
                                None => (vec![], atapi::LBA_OUT_OF_RANGE),
                            }
                        }
                        _ => (vec![], atapi::INVALID_COMMAND),
                    };
                    first = false;
                    console.ider_complete(IderReply {
                        id: request.id,
                        data,
                        sense,
                    });
                }
                if woke.changed().await.is_err() {
                    return;
                }
            }
        });
        seen
    }

    fn image(blocks: usize) -> Vec<u8> {
        (0..blocks * CD_BLOCK).map(|i| (i / 7) as u8).collect()
    }

    #[tokio::test]
    async fn size_and_reads_go_over_the_session_as_whole_blocks() {
        let console = console();
        let cd = IderCd {
            console: console.clone(),
        };
        assert_eq!(cd.size().await, None, "no session: no medium");
        let bytes = image(40);
        let seen = serve(console.clone(), bytes.clone(), usize::MAX);
        assert_eq!(cd.size().await, Some(40 * 2048));
        // Unaligned, across more than one READ(10).
        let read = cd.read(1000, 2048 * 20).await.unwrap();
        assert_eq!(read, bytes[1000..1000 + 2048 * 20]);
        console.ider_session(false);
        let reads: Vec<(u32, u16)> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c[0] == op::READ_10)
            .map(|c| {
                (
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                    u16::from_be_bytes([c[7], c[8]]),
                )
            })
            .collect();
        assert_eq!(reads, vec![(0, 16), (16, 5)]);
        assert_eq!(
            cd.read(0, 10).await,
            Err(errno::EIO),
            "the session has gone"
        );
    }

    #[tokio::test]
    async fn a_session_ending_mid_read_is_an_io_error() {
        let console = console();
        let cd = IderCd {
            console: console.clone(),
        };
        // Attention, ready, capacity, one READ(10); the second is not
        // answered: the console ends its session.
        serve(console.clone(), image(64), 4);
        assert_eq!(cd.size().await, Some(64 * 2048));
        assert_eq!(cd.read(0, 2048 * 32).await, Err(errno::EIO));
        // A new session serves again.
        serve(console.clone(), image(64), usize::MAX);
        assert_eq!(cd.size().await, Some(64 * 2048));
        assert_eq!(cd.read(2048, 4).await.unwrap().len(), 4);
    }

    /// A console that keeps its drives but stops answering: the read fails
    /// with EIO at the answer deadline (it used to wait for as long as the
    /// session lasted), and the next read is asked again.
    #[tokio::test(start_paused = true)]
    async fn a_console_that_stops_answering_fails_the_read_at_the_deadline() {
        let console = console();
        let cd = IderCd {
            console: console.clone(),
        };
        let seen = serve_then(console.clone(), image(64), 3, false);
        assert_eq!(cd.size().await, Some(64 * 2048));
        let started = tokio::time::Instant::now();
        assert_eq!(cd.read(0, 2048).await, Err(errno::EIO));
        let waited = started.elapsed();
        assert_eq!(waited, super::super::ider_link::ANSWER_DEADLINE);
        assert_eq!(cd.read(2048, 2048).await, Err(errno::EIO));
        let reads = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c[0] == op::READ_10)
            .count();
        assert_eq!(reads, 2, "each read reached the console once");
        assert!(console.ider.is_active(), "the session itself goes on");
    }
}
