//! AMT_AlarmClockService and IPS_AlarmClockOccurrence: alarms that wake
//! the host. A thin adapter over `amtemu_model::device::alarms`, which
//! owns the table and the waking.

use super::{CLASS, Class, output, service};
use amtemu_model::device::alarms::{Alarm, AlarmRefusal};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::cim_time;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance, Value};

const SERVICE: &str = "AMT_AlarmClockService";
const SERVICE_NAME: &str = "Intel(r) AMT Alarm Clock Service";
const OCCURRENCE: &str = "IPS_AlarmClockOccurrence";

pub static CLASSES: &[Class] = &[
    Class {
        name: SERVICE,
        requires: Some(Feature::AlarmClock),
        common: true,
        keys: super::SERVICE_KEYS,
        instances: alarm_service,
        methods: &[super::Method {
            name: "AddAlarm",
            requires: Some(Feature::AlarmOccurrences),
            call: add_alarm,
        }],
        ..CLASS
    },
    Class {
        name: OCCURRENCE,
        requires: Some(Feature::AlarmOccurrences),
        common: true,
        keys: &["InstanceID"],
        instances: occurrences,
        delete: Some(delete_occurrence),
        ..CLASS
    },
];

/// As the AMT 11+ capture shows it (SystemName `ManagedSystem`), plus the
/// next alarm time when one is set.
fn alarm_service(device: &Device) -> Vec<Instance> {
    let next = device
        .alarms()
        .iter()
        .filter(|a| !a.spent)
        .map(|a| a.start)
        .min();
    let mut i = service(SERVICE, SERVICE_NAME)
        .with("ElementName", SERVICE_NAME)
        .with("SystemName", "ManagedSystem");
    if let Some(next) = next {
        i.set(
            "NextAMTAlarmTime",
            Value::Datetime(cim_time::format_datetime(next)),
        );
    }
    vec![i]
}

fn occurrences(device: &Device) -> Vec<Instance> {
    device
        .alarms()
        .into_iter()
        .map(|a| {
            let mut i = Instance::new(OCCURRENCE)
                .with("DeleteOnCompletion", a.delete_on_completion)
                .with("ElementName", a.element_name.as_str())
                .with("InstanceID", a.id.as_str());
            i.set(
                "StartTime",
                Value::Datetime(cim_time::format_datetime(a.start)),
            );
            if let Some(minutes) = a.interval_minutes {
                i.set(
                    "Interval",
                    Value::Interval(cim_time::format_interval(u64::from(minutes) * 60)),
                );
            }
            i
        })
        .collect()
}

fn occurrence_epr(id: &str) -> Epr {
    Epr::new(names::class_uri(OCCURRENCE)).with("InstanceID", id)
}

fn status(refusal: AlarmRefusal) -> u32 {
    match refusal {
        AlarmRefusal::TooMany => PtStatus::MaxLimitReached,
        AlarmRefusal::Duplicate => PtStatus::Duplicate,
        AlarmRefusal::BadName | AlarmRefusal::BadInterval | AlarmRefusal::NoSuchAlarm => {
            PtStatus::InvalidParameter
        }
    }
    .into()
}

/// The text of a CIM time argument: `<StartTime><Datetime>…</Datetime>`
/// as every client sends it.
fn cim_text<'a>(value: Option<&'a Value>, inner: &str) -> Option<&'a str> {
    match value? {
        Value::Object(o) => o.text(inner),
        Value::Datetime(s) | Value::Interval(s) => Some(s),
        _ => None,
    }
}

/// The alarm an AlarmTemplate describes, or None when any part of it is
/// missing or malformed.
fn template(input: &Instance) -> Option<Alarm> {
    let Some(Value::Object(t)) = input.get("AlarmTemplate") else {
        return None;
    };
    let id = t.text("InstanceID")?.to_string();
    let element_name = match t.get("ElementName") {
        None => id.clone(),
        Some(v) => v.as_text()?.to_string(),
    };
    let start = cim_time::parse_datetime(cim_text(t.get("StartTime"), "Datetime")?)?;
    let interval_minutes = match t.get("Interval") {
        None => None,
        Some(v) => {
            let secs = cim_time::parse_interval(cim_text(Some(v), "Interval")?)?;
            // Firmware counts alarm intervals in minutes.
            if secs % 60 != 0 {
                return None;
            }
            Some(u32::try_from(secs / 60).ok()?)
        }
    };
    let delete_on_completion = match t.get("DeleteOnCompletion") {
        None => false,
        Some(v) => v.as_bool()?,
    };
    Some(Alarm {
        id,
        element_name,
        start,
        interval_minutes,
        delete_on_completion,
        spent: false,
    })
}

fn add_alarm(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "AddAlarm";
    let Some(alarm) = template(input) else {
        tracing::info!(device = %device.name, "AddAlarm: malformed alarm template");
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    let id = alarm.id.clone();
    Ok(match device.add_alarm(alarm) {
        Ok(()) => output(M, PtStatus::Success.into()).with("AlarmClock", occurrence_epr(&id)),
        Err(refusal) => {
            tracing::info!(device = %device.name, %refusal, "AddAlarm refused");
            output(M, status(refusal))
        }
    })
}

fn delete_occurrence(device: &Device, target: &Instance) -> Result<(), Fault> {
    let id = target.text("InstanceID").ok_or(Fault::InvalidSelectors)?;
    device.delete_alarm(id).map_err(|_| Fault::InvalidSelectors)
}

#[cfg(test)]
mod tests;
