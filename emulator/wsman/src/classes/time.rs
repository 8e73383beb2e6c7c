//! AMT_TimeSynchronizationService: the ME clock, set NTP-style by consoles.

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, service};
use amtemu_model::device::Device;
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

pub static CLASSES: &[Class] = &[Class {
    name: "AMT_TimeSynchronizationService",
    keys: SERVICE_KEYS,
    instances: time_service,
    methods: &[
        Method {
            name: "GetLowAccuracyTimeSynch",
            requires: None,
            call: get_low_accuracy,
        },
        Method {
            name: "SetHighAccuracyTimeSynch",
            requires: None,
            call: set_high_accuracy,
        },
    ],
    read: Access::NETWORK_TIME,
    invoke: Access::NETWORK_TIME,
    ..CLASS
}];

const NAME: &str = "Intel(r) AMT Time Synchronization Service";

fn time_service(_: &Device) -> Vec<Instance> {
    vec![
        service("AMT_TimeSynchronizationService", NAME)
            .with("ElementName", NAME)
            .with("EnabledState", 5)
            .with("LocalTimeSyncEnabled", 0)
            .with("RequestedState", 12)
            .with("TimeSource", 0),
    ]
}

fn get_low_accuracy(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetLowAccuracyTimeSynch", PtStatus::Success.into()).with("Ta0", device.clock()))
}

/// Ta0 is the ME time the console read, Tm1 and Tm2 the console's time when
/// it sent and when it received; the ME sets its clock to the console's.
fn set_high_accuracy(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "SetHighAccuracyTimeSynch";
    let time = |name: &str| input.int(name).and_then(|t| u32::try_from(t).ok());
    let (Some(_ta0), Some(tm1), Some(tm2)) = (input.int("Ta0"), time("Tm1"), time("Tm2")) else {
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    };
    if tm2 < tm1 {
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    }
    device.set_clock(tm2);
    Ok(output(M, PtStatus::Success.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn setting_the_time_moves_the_clock() {
        let d = device("11.8");
        let target = 2_000_000_000i64;
        let input = Instance::new("SetHighAccuracyTimeSynch_INPUT")
            .with("Ta0", 1)
            .with("Tm1", target)
            .with("Tm2", target);
        assert_eq!(
            set_high_accuracy(&d, &Instance::default(), &input)
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        let ta0 = get_low_accuracy(&d, &Instance::default(), &Instance::default())
            .unwrap()
            .int("Ta0")
            .unwrap();
        assert!((ta0 - target).abs() <= 2, "{ta0}");
        let bad = Instance::new("SetHighAccuracyTimeSynch_INPUT").with("Ta0", "x");
        assert_eq!(
            set_high_accuracy(&d, &Instance::default(), &bad)
                .unwrap()
                .int("ReturnValue"),
            Some(36)
        );
    }
}
