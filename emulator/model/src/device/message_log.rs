//! AMT_MessageLog: the platform event log, in the 21-byte PET record form
//! clients decode. [`Device`]'s event-log methods below are what the
//! class calls; a read past the end is refused with a [`MessageLogRefusal`].

use super::Device;

/// Sensor types, entities and offsets used for the events the emulator logs.
const SENSOR_FIRMWARE_PROGRESS: u8 = 0x0F;
const SENSOR_POWER_UNIT: u8 = 0x09;
/// Watchdog 2 (IPMI sensor type 0x23). Inferred: no capture of an agent
/// presence record was found; the event data carry the old and new state.
const SENSOR_WATCHDOG: u8 = 0x23;
const EVENT_TYPE_SENSOR_SPECIFIC: u8 = 0x6F;
const ENTITY_BIOS: u8 = 34;
const ENTITY_SYSTEM_BOARD: u8 = 7;
const SOURCE_ASF: u8 = 0x68;
const SEVERITY_INFORMATION: u8 = 0x02;

/// What happened, as far as the log is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// Firmware progress: memory initialisation.
    MemoryInit,
    /// Firmware progress: video initialisation.
    VideoInit,
    /// Firmware progress: starting the OS boot process.
    OsBoot,
    /// Power unit: the system was powered down.
    PowerDown,
    /// An agent presence watchdog changed state (the CurrentState codes).
    AgentPresence { from: u8, to: u8 },
}

/// The log: records oldest first, bounded like the firmware's (390 records).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MessageLog {
    records: Vec<[u8; 21]>,
    pub frozen: bool,
}

pub const MAX_RECORDS: usize = 390;
pub const RECORD_SIZE: usize = 21;

impl MessageLog {
    pub fn push(&mut self, at_unix: u32, event: LogEvent) {
        if self.frozen {
            return;
        }
        if self.records.len() == MAX_RECORDS {
            // OverwritePolicy 2: wrap when full.
            self.records.remove(0);
        }
        self.records.push(record(at_unix, event));
    }

    pub fn records(&self) -> &[[u8; 21]] {
        &self.records
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}

/// Why the event log refuses a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageLogRefusal {
    /// The iterator points past one after the oldest record.
    #[error("no record at this index")]
    InvalidIndex,
}

/// A batch of records, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    pub records: Vec<[u8; RECORD_SIZE]>,
    /// The 1-based index of the next record to read.
    pub next: usize,
    /// Whether the batch reached the oldest record.
    pub no_more: bool,
}

impl MessageLog {
    /// Up to `max` records from the 1-based `start`, newest first, as AMT
    /// returns them. Reading at one past the end returns none; further on
    /// is refused.
    pub fn read_newest_first(
        &self,
        start: i64,
        max: usize,
    ) -> Result<RecordBatch, MessageLogRefusal> {
        let total = self.records.len();
        if start < 1 || start as u64 > total as u64 + 1 {
            return Err(MessageLogRefusal::InvalidIndex);
        }
        let from = start as usize - 1;
        let to = (from + max).min(total);
        Ok(RecordBatch {
            records: self
                .records
                .iter()
                .rev()
                .skip(from)
                .take(to - from)
                .copied()
                .collect(),
            next: to + 1,
            no_more: to == total,
        })
    }
}

/// The event log's operations.
impl Device {
    /// How many records the log holds, and whether it is frozen.
    pub fn message_log_status(&self) -> (usize, bool) {
        self.with_state(|s| {
            let log = &s.nvram.message_log;
            (log.records().len(), log.frozen)
        })
    }

    /// GetRecords ([`MessageLog::read_newest_first`]).
    pub fn read_message_log(
        &self,
        start: i64,
        max: usize,
    ) -> Result<RecordBatch, MessageLogRefusal> {
        self.with_state(|s| s.nvram.message_log.read_newest_first(start, max))
    }

    /// ClearLog.
    pub fn clear_message_log(&self) {
        self.with_state(|s| s.nvram.message_log.clear());
        self.changed("AMT_MessageLog");
    }

    /// FreezeLog: a frozen log takes no new records.
    pub fn freeze_message_log(&self, freeze: bool) {
        self.with_state(|s| s.nvram.message_log.frozen = freeze);
    }
}

fn record(at_unix: u32, event: LogEvent) -> [u8; 21] {
    let (sensor, offset, entity, data0, data1) = match event {
        LogEvent::MemoryInit => (SENSOR_FIRMWARE_PROGRESS, 2, ENTITY_BIOS, 0x40, 0x01),
        LogEvent::VideoInit => (SENSOR_FIRMWARE_PROGRESS, 2, ENTITY_BIOS, 0x40, 0x03),
        LogEvent::OsBoot => (SENSOR_FIRMWARE_PROGRESS, 2, ENTITY_BIOS, 0x40, 0x13),
        LogEvent::PowerDown => (SENSOR_POWER_UNIT, 0, ENTITY_SYSTEM_BOARD, 0x00, 0x00),
        LogEvent::AgentPresence { from, to } => (SENSOR_WATCHDOG, 0, ENTITY_SYSTEM_BOARD, from, to),
    };
    let mut r = [0u8; 21];
    r[0..4].copy_from_slice(&at_unix.to_le_bytes());
    r[4] = 0x20; // device address: the BMC/ME
    r[5] = sensor;
    r[6] = EVENT_TYPE_SENSOR_SPECIFIC;
    r[7] = offset;
    r[8] = SOURCE_ASF;
    r[9] = SEVERITY_INFORMATION;
    r[10] = 0xFF; // sensor number: unspecified
    r[11] = entity;
    r[12] = 0; // entity instance
    r[13] = data0;
    r[14] = data1;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_21_bytes_with_a_little_endian_timestamp() {
        let mut log = MessageLog::default();
        log.push(0x6590_0000, LogEvent::OsBoot);
        let r = log.records()[0];
        assert_eq!(r.len(), RECORD_SIZE);
        assert_eq!(u32::from_le_bytes([r[0], r[1], r[2], r[3]]), 0x6590_0000);
        assert_eq!(r[5], SENSOR_FIRMWARE_PROGRESS);
        assert_eq!(r[14], 0x13);
    }

    #[test]
    fn the_log_wraps_and_freezes() {
        let mut log = MessageLog::default();
        for i in 0..(MAX_RECORDS as u32 + 5) {
            log.push(i, LogEvent::PowerDown);
        }
        assert_eq!(log.records().len(), MAX_RECORDS);
        assert_eq!(log.records()[0][0], 5);
        log.frozen = true;
        log.push(1, LogEvent::OsBoot);
        assert_eq!(log.records().len(), MAX_RECORDS);
    }

    #[test]
    fn reads_go_newest_first_and_refuse_past_the_end() {
        let mut log = MessageLog::default();
        for t in 1..=5 {
            log.push(t, LogEvent::OsBoot);
        }
        let first = log.read_newest_first(1, 3).unwrap();
        assert_eq!(first.records.len(), 3);
        assert_eq!(first.records[0][0], 5);
        assert_eq!((first.next, first.no_more), (4, false));
        let rest = log.read_newest_first(4, 3).unwrap();
        assert_eq!(rest.records.len(), 2);
        assert_eq!(rest.records[1][0], 1);
        assert_eq!((rest.next, rest.no_more), (6, true));
        let end = log.read_newest_first(6, 3).unwrap();
        assert!(end.records.is_empty() && end.no_more);
        for bad in [0, -1, 7, i64::MAX] {
            assert_eq!(
                log.read_newest_first(bad, 3),
                Err(MessageLogRefusal::InvalidIndex),
                "{bad}"
            );
        }
    }
}
