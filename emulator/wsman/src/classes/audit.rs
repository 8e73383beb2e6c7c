//! AMT_AuditLog and AMT_AuditPolicyRule (AMT 4.0+): the security audit log
//! an auditor reads page by page, locks, clears and configures, and the
//! policy that says which operations it records.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, method, output};
use amtemu_model::device::audit::{AuditRefusal, CAPACITY, EventId, PolicyType, StoragePolicy};
use amtemu_model::device::users::realm;
use amtemu_model::device::{Device, Feature};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::cim_time::format_datetime;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::{Instance, Value};

const LOG_NAME: &str = "Intel(r) AMT:Audit Log";
const RULE_NAME: &str = "Intel(r) AMT:Audit Policy Rule";

/// The auditor's realm.
const AUDITOR: Access = Access(&[realm::AUDIT_LOG]);

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_AuditLog",
        requires: Some(Feature::AuditLog),
        common: true,
        // Name alone: firmware's instance has no CreationClassName (AMT 11+
        // capture in go-wsman-messages, and Intel's class reference).
        keys: &["Name"],
        instances: audit_log,
        methods: &[
            method("ReadRecords", read_records),
            method("ClearLog", clear_log),
            method("RequestStateChange", request_state_change),
            method("SetAuditLock", set_audit_lock),
            method("SetStoragePolicy", set_storage_policy),
        ],
        read: AUDITOR,
        invoke: AUDITOR,
        ..CLASS
    },
    Class {
        name: "AMT_AuditPolicyRule",
        requires: Some(Feature::AuditLog),
        keys: &[
            "CreationClassName",
            "PolicyRuleName",
            "SystemCreationClassName",
            "SystemName",
        ],
        instances: policy_rule,
        methods: &[
            method("SetAuditPolicy", set_audit_policy),
            method("SetAuditPolicyBulk", set_audit_policy_bulk),
        ],
        read: AUDITOR,
        invoke: AUDITOR,
        ..CLASS
    },
];

/// The PT_STATUS a refusal answers with.
fn status(refusal: AuditRefusal) -> PtStatus {
    match refusal {
        AuditRefusal::NotPermitted => PtStatus::NotPermitted,
        AuditRefusal::InvalidIndex => PtStatus::InvalidIndex,
        AuditRefusal::InvalidParameter => PtStatus::InvalidParameter,
        AuditRefusal::InvalidHandle => PtStatus::InvalidHandle,
        AuditRefusal::CannotRecord => PtStatus::AuditFail,
    }
}

/// A method's output for a change that answers only its ReturnValue.
fn answer(method: &str, result: Result<(), AuditRefusal>) -> Instance {
    output(
        method,
        result.map_or_else(status, |()| PtStatus::Success).into(),
    )
}

/// RequestStateChange answers with CIM_EnabledLogicalElement's codes, not
/// PT_STATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateChange {
    Completed,
    InvalidParameter,
}

impl From<StateChange> for u32 {
    fn from(rv: StateChange) -> u32 {
        match rv {
            StateChange::Completed => 0,
            StateChange::InvalidParameter => 5,
        }
    }
}

fn audit_log(device: &Device) -> Vec<Instance> {
    let log = device.audit_log_status();
    let state = if log.enabled { 2 } else { 3 };
    let mut instance = Instance::new("AMT_AuditLog")
        .with("AuditState", log.state_bits)
        .with("CurrentNumberOfRecords", log.records)
        .with("ElementName", "Intel(r) AMT Audit Log")
        .with("EnabledState", state)
        .with("MaxAllowedAuditors", 1)
        .with("MaxNumberOfRecords", CAPACITY as u32)
        .with("MinDaysToKeep", log.min_days_to_keep)
        .with("Name", LOG_NAME)
        .with("OverwritePolicy", log.storage_policy.overwrite_policy())
        .with("PercentageFree", log.percentage_free)
        .with("RequestedState", state)
        .with("StoragePolicy", log.storage_policy.number());
    if let Some(t) = log.last_record {
        instance.set(
            "TimeOfLastRecord",
            Value::Datetime(format_datetime(u64::from(t))),
        );
    }
    vec![instance]
}

fn read_records(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "ReadRecords";
    let result = input
        .int("StartIndex")
        .ok_or(AuditRefusal::InvalidParameter)
        .and_then(|start| device.read_audit_log(start));
    Ok(match result {
        Err(r) => output(METHOD, status(r).into()),
        Ok((total, page)) => {
            let mut out = output(METHOD, PtStatus::Success.into())
                .with("TotalRecordCount", total)
                .with("RecordsReturned", page.len());
            if !page.is_empty() {
                out = out.with_array("EventRecords", page.iter().map(|r| BASE64.encode(r)));
            }
            out
        }
    })
}

fn clear_log(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(answer("ClearLog", device.clear_audit_log()))
}

/// 2 enables the log, 3 disables it.
fn request_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "RequestStateChange";
    let enable = match input.int("RequestedState") {
        Some(2) => true,
        Some(3) => false,
        _ => return Ok(output(METHOD, StateChange::InvalidParameter.into())),
    };
    device.set_audit_log_enabled(enable);
    Ok(output(METHOD, StateChange::Completed.into()))
}

/// Flag 0 locks for LockTimeoutInSeconds and returns the handle; 1 unlocks
/// with the handle. Unprovisioning locks (2) are not modelled.
fn set_audit_lock(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "SetAuditLock";
    let invalid = AuditRefusal::InvalidParameter;
    let result = match input.int("Flag") {
        // The device checks the timeout's range.
        Some(0) => match input.int("LockTimeoutInSeconds").map(u32::try_from) {
            Some(Ok(t)) => device.lock_audit_log(t),
            _ => Err(invalid),
        },
        Some(1) => match input.int("Handle").and_then(|h| u32::try_from(h).ok()) {
            Some(handle) => device.unlock_audit_log(handle).map(|()| handle),
            None => Err(invalid),
        },
        _ => Err(invalid),
    };
    Ok(match result {
        Ok(handle) => output(METHOD, PtStatus::Success.into()).with("Handle", handle),
        Err(r) => output(METHOD, status(r).into()),
    })
}

fn set_storage_policy(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = storage_policy(input)
        .and_then(|(policy, days)| device.set_audit_storage_policy(policy, days));
    Ok(answer("SetStoragePolicy", result))
}

/// SetStoragePolicy's arguments: the policy and, if given, the days to keep.
fn storage_policy(input: &Instance) -> Result<(StoragePolicy, Option<u16>), AuditRefusal> {
    let invalid = AuditRefusal::InvalidParameter;
    let policy = input
        .int("StoragePolicy")
        .and_then(StoragePolicy::from_number)
        .ok_or(invalid)?;
    let days = input
        .int("DaysToKeep")
        .map(|d| u16::try_from(d).map_err(|_| invalid))
        .transpose()?;
    Ok((policy, days))
}

fn policy_rule(device: &Device) -> Vec<Instance> {
    let rules = device.audit_policy_rules();
    let mut rule = super::service("AMT_AuditPolicyRule", RULE_NAME);
    // A policy rule's key is PolicyRuleName, not Name.
    rule.props.remove("Name");
    let mut rule = rule
        .with("PolicyRuleName", RULE_NAME)
        .with("ElementName", RULE_NAME)
        .with("Enabled", 1);
    if !rules.is_empty() {
        rule = rule
            .with_array(
                "AuditApplicationEventID",
                rules.iter().map(|(id, _)| id.packed()),
            )
            .with_array("PolicyType", rules.iter().map(|(_, t)| t.number()));
    }
    vec![rule]
}

/// One policy change as the methods carry it (the device checks that the
/// event is one the policy can name).
fn policy_change(
    enable: &Value,
    app: &Value,
    event: &Value,
    kind: Option<&Value>,
) -> Result<(EventId, Option<PolicyType>), AuditRefusal> {
    let invalid = AuditRefusal::InvalidParameter;
    let enable = enable.as_bool().ok_or(invalid)?;
    let number = |v: &Value| {
        v.as_int()
            .and_then(|i| u16::try_from(i).ok())
            .ok_or(invalid)
    };
    let id = EventId {
        app: number(app)?,
        event: number(event)?,
    };
    let kind = match kind {
        None => PolicyType::Alert,
        Some(v) => v
            .as_int()
            .and_then(PolicyType::from_number)
            .ok_or(invalid)?,
    };
    Ok((id, enable.then_some(kind)))
}

/// The inputs both forms of SetAuditPolicy require (single values or
/// parallel arrays).
fn policy_inputs(input: &Instance) -> Result<(&Value, &Value, &Value), AuditRefusal> {
    let get = |name| input.get(name).ok_or(AuditRefusal::InvalidParameter);
    Ok((get("Enable")?, get("AuditedAppID")?, get("EventID")?))
}

fn set_audit_policy(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = policy_inputs(input)
        .and_then(|(enable, app, event)| policy_change(enable, app, event, input.get("PolicyType")))
        .and_then(|change| device.set_audit_policy(&[change]));
    Ok(answer("SetAuditPolicy", result))
}

/// Parallel arrays, one change per index; their lengths must agree.
fn set_audit_policy_bulk(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let result = bulk_changes(input).and_then(|changes| device.set_audit_policy(&changes));
    Ok(answer("SetAuditPolicyBulk", result))
}

fn bulk_changes(input: &Instance) -> Result<Vec<(EventId, Option<PolicyType>)>, AuditRefusal> {
    let (enable, app, event) = policy_inputs(input)?;
    let (enable, app, event) = (enable.items(), app.items(), event.items());
    let kinds = input.get("PolicyType").map(Value::items);
    let n = enable.len();
    if n == 0 || app.len() != n || event.len() != n || kinds.is_some_and(|k| k.len() != n) {
        return Err(AuditRefusal::InvalidParameter);
    }
    (0..n)
        .map(|i| policy_change(&enable[i], &app[i], &event[i], kinds.map(|k| &k[i])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::audit::AuditEvent;
    use amtemu_model::testing::device;

    fn acl_added(name: &str) -> AuditEvent {
        AuditEvent::acl_entry(EventId::ACL_ENTRY_ADDED, name)
    }

    fn call(d: &Device, f: super::super::MethodFn, input: Instance) -> Instance {
        f(d, &Instance::default(), &input).unwrap()
    }

    fn rv(out: &Instance) -> i64 {
        out.int("ReturnValue").unwrap()
    }

    fn policy(enable: bool, app: u16, event: u16) -> Instance {
        Instance::new("SetAuditPolicy_INPUT")
            .with("Enable", enable)
            .with("AuditedAppID", app)
            .with("EventID", event)
            .with("PolicyType", 0)
    }

    #[test]
    fn policy_changes_are_validated_and_all_or_nothing() {
        let d = device("4.0");
        assert_eq!(rv(&call(&d, set_audit_policy, policy(true, 17, 0))), 0);
        assert_eq!(rv(&call(&d, set_audit_policy, policy(true, 17, 99))), 36);
        assert_eq!(rv(&call(&d, set_audit_policy, policy(true, 99, 0))), 36);
        assert_eq!(
            rv(&call(
                &d,
                set_audit_policy,
                policy(true, 17, 1).with("PolicyType", 9)
            )),
            36
        );
        let bulk = Instance::new("SetAuditPolicyBulk_INPUT")
            .with_array("Enable", [true, true])
            .with_array("AuditedAppID", [16u16, 16])
            .with_array("EventID", [2u16, 77]);
        assert_eq!(rv(&call(&d, set_audit_policy_bulk, bulk)), 36);
        let short = Instance::new("SetAuditPolicyBulk_INPUT")
            .with_array("Enable", [true, true])
            .with_array("AuditedAppID", [16u16])
            .with_array("EventID", [2u16, 4]);
        assert_eq!(rv(&call(&d, set_audit_policy_bulk, short)), 36);
        let rules = || d.audit_policy_rules();
        assert_eq!(rules().len(), 1, "nothing of the refused bulk applied");
        let good = Instance::new("SetAuditPolicyBulk_INPUT")
            .with_array("Enable", [true, true])
            .with_array("AuditedAppID", [16u16, 16])
            .with_array("EventID", [2u16, 4])
            .with_array("PolicyType", [1u8, 0]);
        assert_eq!(rv(&call(&d, set_audit_policy_bulk, good)), 0);
        assert_eq!(rules().len(), 3);
        let rule = &policy_rule(&d)[0];
        assert_eq!(
            rule.get("AuditApplicationEventID").unwrap().items().len(),
            3
        );
    }

    #[test]
    fn a_lock_timeout_out_of_range_or_missing_is_an_invalid_parameter() {
        let d = device("11.8");
        let lock = |timeout: Option<i64>| {
            let input = Instance::new("SetAuditLock_INPUT").with("Flag", 0);
            rv(&call(
                &d,
                set_audit_lock,
                match timeout {
                    Some(t) => input.with("LockTimeoutInSeconds", t),
                    None => input,
                },
            ))
        };
        let max = i64::from(amtemu_model::device::audit::MAX_LOCK_SECONDS);
        for bad in [
            Some(0),
            Some(-1),
            Some(max + 1),
            Some(1 << 32),
            Some(i64::MIN),
            None,
        ] {
            assert_eq!(lock(bad), 36, "{bad:?}");
        }
        assert_eq!(audit_log(&d)[0].int("AuditState").unwrap() & 2, 0);
        assert_eq!(lock(Some(max)), 0);
        assert_eq!(
            rv(&call(
                &d,
                set_audit_lock,
                Instance::new("SetAuditLock_INPUT").with("Flag", 2)
            )),
            36
        );
    }

    #[test]
    fn records_page_and_the_log_can_be_cleared_locked_and_disabled() {
        let d = device("11.8");
        call(&d, set_audit_policy, policy(true, 16, 2));
        for i in 0..12 {
            d.audit(acl_added(&format!("user{i}")));
        }
        let read = |start: i64| {
            call(
                &d,
                read_records,
                Instance::new("ReadRecords_INPUT").with("StartIndex", start),
            )
        };
        let first = read(1);
        // Policy modified (20/1) plus 12 ACL records.
        assert_eq!(first.int("TotalRecordCount"), Some(13));
        assert_eq!(first.int("RecordsReturned"), Some(10));
        let second = read(11);
        assert_eq!(second.int("RecordsReturned"), Some(3));
        let last = BASE64
            .decode(
                second.get("EventRecords").unwrap().items()[2]
                    .as_text()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(&last[..5], &[0, 16, 0, 2, 2], "ACL added, local initiator");
        assert_eq!(rv(&read(99)), 35);
        assert!(audit_log(&d)[0].get("TimeOfLastRecord").is_some());

        let lock = call(
            &d,
            set_audit_lock,
            Instance::new("SetAuditLock_INPUT")
                .with("Flag", 0)
                .with("LockTimeoutInSeconds", 60),
        );
        assert_eq!(rv(&lock), 0);
        assert_eq!(audit_log(&d)[0].int("AuditState").unwrap() & 2, 2);
        assert_eq!(rv(&call(&d, clear_log, Instance::default())), 16);
        let unlock = |h: i64| {
            call(
                &d,
                set_audit_lock,
                Instance::new("SetAuditLock_INPUT")
                    .with("Flag", 1)
                    .with("Handle", h),
            )
        };
        let handle = lock.int("Handle").unwrap();
        assert_eq!(rv(&unlock(handle + 1)), 2053);
        assert_eq!(rv(&unlock(handle)), 0);
        assert_eq!(rv(&call(&d, clear_log, Instance::default())), 0);
        assert_eq!(
            read(1).int("TotalRecordCount"),
            Some(1),
            "the clearing itself"
        );

        let state = |n: i64| {
            call(
                &d,
                request_state_change,
                Instance::new("RequestStateChange_INPUT").with("RequestedState", n),
            )
        };
        assert_eq!(rv(&state(7)), 5);
        assert_eq!(rv(&state(3)), 0);
        d.audit(acl_added("ignored"));
        assert_eq!(audit_log(&d)[0].int("EnabledState"), Some(3));
        assert_eq!(audit_log(&d)[0].int("AuditState").unwrap() & 1, 1);
        assert_eq!(
            read(1).int("TotalRecordCount"),
            Some(2),
            "cleared, disabled"
        );
        assert_eq!(rv(&state(2)), 0);
        assert_eq!(read(1).int("TotalRecordCount"), Some(3), "enabled");
    }

    #[test]
    fn the_storage_policy_is_set_with_its_days() {
        let d = device("11.8");
        let set = |p: i64, days: Option<i64>| {
            let mut input = Instance::new("SetStoragePolicy_INPUT").with("StoragePolicy", p);
            if let Some(days) = days {
                input.set("DaysToKeep", days);
            }
            rv(&call(&d, set_storage_policy, input))
        };
        assert_eq!(set(5, None), 36);
        assert_eq!(set(2, None), 36);
        assert_eq!(set(2, Some(-1)), 36);
        assert_eq!(set(2, Some(7)), 0);
        let log = &audit_log(&d)[0];
        assert_eq!(log.int("StoragePolicy"), Some(2));
        assert_eq!(log.int("MinDaysToKeep"), Some(7));
        assert_eq!(log.int("OverwritePolicy"), Some(32768));
        assert_eq!(set(0, None), 0);
        assert_eq!(audit_log(&d)[0].int("OverwritePolicy"), Some(7));
    }
}
