//! AMT_MessageLog: the event log, read with an iterator that clients
//! position and then advance in batches; and AMT_EventLogEntry, the same
//! records as instances (Intel's deprecated but kept view of the log).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, Method, output};
use amtemu_model::device::Device;
use amtemu_model::device::message_log::{MAX_RECORDS, MessageLogRefusal, RECORD_SIZE};
use amtemu_model::device::users::realm;
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const NAME: &str = "Intel(r) AMT:MessageLog 1";

/// Reading the event log: the Event Log Reader realm, or Event Manager,
/// which also clears and freezes it.
const EVENT_LOG_READ: Access = Access(&[realm::EVENT_LOG_READER, realm::EVENT_MANAGER]);

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_MessageLog",
        keys: &["CreationClassName", "Name"],
        instances: message_log,
        methods: &[
            Method {
                name: "PositionToFirstRecord",
                requires: None,
                call: position_to_first_record,
            },
            Method {
                name: "GetRecords",
                requires: None,
                call: get_records,
            },
            Method {
                name: "ClearLog",
                requires: None,
                call: clear_log,
            },
            Method {
                name: "FreezeLog",
                requires: None,
                call: freeze_log,
            },
        ],
        read: EVENT_LOG_READ,
        invoke: Access::EVENT_MANAGER,
        method_access: &[
            ("PositionToFirstRecord", EVENT_LOG_READ),
            ("GetRecords", EVENT_LOG_READ),
        ],
        ..CLASS
    },
    Class {
        name: "AMT_EventLogEntry",
        keys: &["InstanceID"],
        instances: event_log_entries,
        read: EVENT_LOG_READ,
        ..CLASS
    },
];

/// Each record of the log as an AMT_EventLogEntry, newest first as
/// GetRecords reads them, RecordID counting from 1 in that order. Intel's
/// reference lists the class from 3.0 (deprecated in favour of
/// AMT_MessageLog, gone in 6.0 only, which amtemu has no profile of) with
/// the record's PET fields; the InstanceID form and EventData as the
/// eight data bytes are inferred.
fn event_log_entries(device: &Device) -> Vec<Instance> {
    let Ok(all) = device.read_message_log(1, MAX_RECORDS) else {
        return Vec::new();
    };
    all.records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = i + 1;
            let at = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
            Instance::new("AMT_EventLogEntry")
                .with(
                    "CreationTimeStamp",
                    amtemu_wire::wsman::value::Value::Datetime(
                        amtemu_wire::wsman::cim_time::format_datetime(u64::from(at)),
                    ),
                )
                .with("DeviceAddress", i64::from(r[4]))
                .with("ElementName", "Event Log Entry")
                .with("Entity", i64::from(r[11]))
                .with("EntityInstance", i64::from(r[12]))
                .with_array("EventData", r[13..21].iter().map(|b| i64::from(*b)))
                .with("EventOffset", i64::from(r[7]))
                .with("EventSensorType", i64::from(r[5]))
                .with("EventSeverity", i64::from(r[9]))
                .with("EventSourceType", i64::from(r[8]))
                .with("EventType", i64::from(r[6]))
                .with("InstanceID", format!("Intel(r) AMT:EventLogEntry {id}"))
                .with("LogName", NAME)
                .with("RecordID", id.to_string())
                .with("SensorNumber", i64::from(r[10]))
        })
        .collect()
}

/// The PT_STATUS a refusal answers with.
fn status(refusal: MessageLogRefusal) -> PtStatus {
    match refusal {
        MessageLogRefusal::InvalidIndex => PtStatus::InvalidIndex,
    }
}

fn success(method: &str) -> Instance {
    output(method, PtStatus::Success.into())
}

fn message_log(device: &Device) -> Vec<Instance> {
    let (count, frozen) = device.message_log_status();
    vec![
        Instance::new("AMT_MessageLog")
            .with_array("Capabilities", [5u16, 6, 8, 7])
            .with("CharacterSet", 10)
            .with("CreationClassName", "AMT_MessageLog")
            .with("CurrentNumberOfRecords", count)
            .with("ElementName", NAME)
            .with("EnabledDefault", 2)
            .with("EnabledState", 2)
            .with("HealthState", 5)
            .with("IsFrozen", frozen)
            .with("LastChange", 0)
            .with("LogState", 4)
            .with("MaxLogSize", 0)
            .with("MaxNumberOfRecords", MAX_RECORDS)
            .with("MaxRecordSize", RECORD_SIZE)
            .with("Name", NAME)
            .with("OperationalStatus", 2)
            .with("OverwritePolicy", 2)
            .with("PercentageNearFull", count * 100 / MAX_RECORDS)
            .with("RequestedState", 12)
            .with("SizeOfHeader", 0)
            .with("SizeOfRecordHeader", 0)
            .with("Status", "OK"),
    ]
}

/// The iterator is the 1-based index of the next record to read; reading
/// at one past the end returns no records and NoMoreRecords.
fn position_to_first_record(_: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(success("PositionToFirstRecord").with("IterationIdentifier", 1))
}

/// Newest records first, as AMT returns them.
fn get_records(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "GetRecords";
    let (Some(start), max) = (
        input.int("IterationIdentifier"),
        input.int("MaxReadRecords"),
    ) else {
        return Ok(output(METHOD, PtStatus::InvalidParameter.into()));
    };
    let max = max
        .unwrap_or(MAX_RECORDS as i64)
        .clamp(1, MAX_RECORDS as i64) as usize;
    Ok(match device.read_message_log(start, max) {
        Err(r) => output(METHOD, status(r).into()),
        Ok(batch) => {
            let mut out = success(METHOD)
                .with("IterationIdentifier", batch.next)
                .with("NoMoreRecords", batch.no_more);
            if !batch.records.is_empty() {
                out = out.with_array(
                    "RecordArray",
                    batch.records.iter().map(|r| BASE64.encode(r)),
                );
            }
            out
        }
    })
}

fn clear_log(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    device.clear_message_log();
    Ok(success("ClearLog"))
}

fn freeze_log(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    Ok(match input.bool("Freeze") {
        Some(freeze) => {
            device.freeze_message_log(freeze);
            success("FreezeLog")
        }
        None => output("FreezeLog", PtStatus::InvalidParameter.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::message_log::LogEvent;
    use amtemu_model::testing::device;

    #[test]
    fn entries_show_the_log_newest_first() {
        let d = device("11.8");
        assert!(event_log_entries(&d).is_empty());
        let mut nvram = d.nvram();
        nvram.message_log.push(10, LogEvent::PowerDown);
        nvram.message_log.push(20, LogEvent::OsBoot);
        d.restore(nvram);
        let entries = event_log_entries(&d);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].text("RecordID"), Some("1"));
        // OS boot: firmware progress (0x0F), offset 2, data 0x40 0x13.
        assert_eq!(entries[0].int("EventSensorType"), Some(0x0F));
        assert_eq!(
            entries[0].get("EventData").unwrap().items()[1].as_int(),
            Some(0x13)
        );
        assert_eq!(entries[1].int("EventSensorType"), Some(0x09));
    }

    #[test]
    fn records_page_newest_first_until_no_more() {
        let d = device("11.8");
        let mut nvram = d.nvram();
        for t in 1..=5 {
            nvram.message_log.push(t, LogEvent::OsBoot);
        }
        d.restore(nvram);
        let none = Instance::default();
        let fresh = device("11.8");
        let empty = get_records(
            &fresh,
            &none,
            &Instance::new("GetRecords_INPUT").with("IterationIdentifier", 1),
        )
        .unwrap();
        assert!(empty.get("RecordArray").is_none());
        assert_eq!(empty.bool("NoMoreRecords"), Some(true));
        assert_eq!(empty.int("ReturnValue"), Some(0));
        let pos = position_to_first_record(&d, &none, &none).unwrap();
        assert_eq!(pos.int("IterationIdentifier"), Some(1));
        let read = |id: i64| {
            get_records(
                &d,
                &none,
                &Instance::new("GetRecords_INPUT")
                    .with("IterationIdentifier", id)
                    .with("MaxReadRecords", 3),
            )
            .unwrap()
        };
        let first = read(1);
        assert_eq!(first.get("RecordArray").unwrap().items().len(), 3);
        assert_eq!(first.bool("NoMoreRecords"), Some(false));
        let newest = BASE64
            .decode(
                first.get("RecordArray").unwrap().items()[0]
                    .as_text()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(newest[0], 5);
        let second = read(first.int("IterationIdentifier").unwrap());
        assert_eq!(second.get("RecordArray").unwrap().items().len(), 2);
        assert_eq!(second.bool("NoMoreRecords"), Some(true));
        assert_eq!(read(99).int("ReturnValue"), Some(35));
    }
}
