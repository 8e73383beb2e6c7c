//! Power: the association that reports the host's power state, the service
//! that changes it and the OS power-saving state (the ME's power packages are in
//! `power_policy`).

use super::{
    Access, CLASS, Class, Method, SERVICE_KEYS, managed_system_epr, output, service, service_epr,
};
use amtemu_model::device::audit::EventId;
use amtemu_model::device::power::OsPowerSaving;
use amtemu_model::device::{Device, Feature, PowerRefusal, PowerRequest};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const SERVICE_NAME: &str = "Intel(r) AMT Power Management Service";

pub static CLASSES: &[Class] = &[
    Class {
        name: "CIM_AssociatedPowerManagementService",
        common: true,
        keys: &["ServiceProvided", "UserOfService"],
        instances: associated_power,
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_ServiceAvailableToElement",
        common: true,
        keys: &["ServiceProvided", "UserOfService"],
        instances: associated_power,
        subclasses: &["CIM_AssociatedPowerManagementService"],
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_PowerManagementService",
        keys: SERVICE_KEYS,
        instances: power_service,
        methods: &[Method {
            name: "RequestPowerStateChange",
            requires: None,
            call: request_power_state_change,
        }],
        read: Access::REMOTE_CONTROL,
        invoke: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "IPS_PowerManagementService",
        requires: Some(Feature::OsPowerSavingState),
        keys: SERVICE_KEYS,
        instances: ips_power_service,
        methods: &[Method {
            name: "RequestOSPowerSavingStateChange",
            requires: None,
            call: request_os_power_saving_state_change,
        }],
        read: Access::REMOTE_CONTROL,
        invoke: Access::REMOTE_CONTROL,
        ..CLASS
    },
    Class {
        name: "CIM_PowerManagementCapabilities",
        keys: &["InstanceID"],
        instances: power_capabilities,
        read: Access::REMOTE_CONTROL,
        ..CLASS
    },
];

fn associated_power(device: &Device) -> Vec<Instance> {
    let power = device.power_status();
    vec![
        Instance::new("CIM_AssociatedPowerManagementService")
            .with_array("AvailableRequestedPowerStates", power.available)
            .with("PowerState", power.state.cim())
            .with(
                "ServiceProvided",
                service_epr("CIM_PowerManagementService", SERVICE_NAME),
            )
            .with("UserOfService", managed_system_epr()),
    ]
}

fn power_service(_: &Device) -> Vec<Instance> {
    vec![
        service("CIM_PowerManagementService", SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 5)
            .with("RequestedState", 12),
    ]
}

/// CIM ReturnValues of RequestPowerStateChange (and of IPS
/// RequestOSPowerSavingStateChange, which uses the same values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PowerChange {
    Completed = 0,
    NotSupported = 1,
    UnknownError = 2,
    InvalidParameter = 5,
    InUse = 6,
}

impl From<PowerChange> for u32 {
    fn from(rv: PowerChange) -> u32 {
        rv as u32
    }
}

/// The ReturnValue a power refusal is answered with.
fn refused(r: PowerRefusal) -> PowerChange {
    match r {
        PowerRefusal::NotSupported => PowerChange::NotSupported,
        PowerRefusal::NotAvailableNow => PowerChange::UnknownError,
        PowerRefusal::Busy => PowerChange::InUse,
    }
}

fn request_power_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "RequestPowerStateChange";
    let Some(requested) = input.int("PowerState") else {
        return Ok(output(METHOD, PowerChange::InvalidParameter.into()));
    };
    // The managed element, when given, must be the host.
    if let Some(element) = input.get("ManagedElement") {
        let is_host = element
            .as_ref()
            .and_then(|epr| epr.selector_text("Name"))
            .is_some_and(|name| name == "ManagedSystem");
        if !is_host {
            return Ok(output(METHOD, PowerChange::InvalidParameter.into()));
        }
    }
    let return_value = match PowerRequest::from_cim(requested) {
        // A DSP1027 state AMT does not implement as a request.
        None if (1..=17).contains(&requested) => PowerChange::NotSupported,
        None => PowerChange::InvalidParameter,
        Some(request) => match device.request_power(request) {
            Ok(()) => {
                tracing::info!(device = %device.name, requested, "power state change accepted");
                if let Some(id) = EventId::for_power_request(request) {
                    device.audit(id);
                }
                PowerChange::Completed
            }
            Err(r) => refused(r),
        },
    };
    Ok(output(METHOD, return_value.into()))
}

fn ips_power_service(device: &Device) -> Vec<Instance> {
    let saving = device.os_power_saving();
    vec![
        service("IPS_PowerManagementService", SERVICE_NAME)
            .with("ElementName", SERVICE_NAME)
            .with("EnabledState", 5)
            // 0 unknown while the host is not running an OS.
            .with("OSPowerSavingState", saving.map_or(0, OsPowerSaving::cim))
            .with("RequestedState", 12),
    ]
}

fn request_os_power_saving_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const METHOD: &str = "RequestOSPowerSavingStateChange";
    let rv = match input
        .int("OSPowerSavingState")
        .and_then(OsPowerSaving::from_cim)
    {
        Some(to) => match device.set_os_power_saving(to) {
            Ok(()) => PowerChange::Completed,
            Err(r) => refused(r),
        },
        None => PowerChange::InvalidParameter,
    };
    Ok(output(METHOD, rv.into()))
}

fn power_capabilities(device: &Device) -> Vec<Instance> {
    let extended = device.firmware.has(Feature::ExtendedPowerStates);
    let supported: &[u16] = if extended {
        &[2, 4, 5, 7, 8, 10, 11, 12, 14]
    } else {
        &[2, 5, 8, 10]
    };
    vec![
        Instance::new("CIM_PowerManagementCapabilities")
            .with("ElementName", "Power Management Capabilities")
            .with("InstanceID", "Intel(r) AMT:PowerManagementCapabilities")
            .with_array("PowerChangeCapabilities", [3u16, 4, 8])
            .with_array("PowerStatesSupported", supported.iter().copied()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;
    use amtemu_wire::wsman::value::{Epr, Value};

    fn request(state: i64) -> Instance {
        Instance::new("RequestPowerStateChange_INPUT")
            .with("PowerState", state)
            .with("ManagedElement", managed_system_epr())
    }

    fn rv(device: &Device, input: &Instance) -> i64 {
        request_power_state_change(device, &Instance::default(), input)
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn power_requests_and_refusals() {
        let d = device("11.8");
        assert_eq!(rv(&d, &request(2)), 2, "already on");
        assert_eq!(rv(&d, &request(3)), 1, "light sleep is not an AMT request");
        assert_eq!(rv(&d, &request(99)), 5);
        let wrong = Instance::new("RequestPowerStateChange_INPUT")
            .with("PowerState", 8)
            .with(
                "ManagedElement",
                Value::Ref(Epr::new("x").with("Name", "Other")),
            );
        assert_eq!(rv(&d, &wrong), 5);
        assert_eq!(rv(&d, &request(8)), 0);
        assert_eq!(rv(&d, &request(10)), 6, "busy while turning off");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(associated_power(&d)[0].int("PowerState"), Some(8));
        assert_eq!(
            associated_power(&d)[0].get("AvailableRequestedPowerStates"),
            Some(&Value::Array(vec![Value::Int(2)]))
        );
        let old = device("8.1");
        assert_eq!(rv(&old, &request(7)), 1, "hibernate needs 9.0");
    }
}
