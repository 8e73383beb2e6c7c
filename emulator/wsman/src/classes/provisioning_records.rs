//! IPS_ProvisioningRecordLog: the log of the last activation, as the AMT
//! capture in go-wsman-messages shows it (one record slot, wrapping). The
//! record classes themselves (IPS_AdminProvisioningRecord and the others)
//! are not modelled yet; the log counts the activation the device has.

use super::{CLASS, Class};
use amtemu_model::device::{Device, Feature, ProvisioningState};
use amtemu_wire::wsman::value::Instance;

const NAME: &str = "Intel(r) AMT Provisioning Record Log";

pub static CLASSES: &[Class] = &[Class {
    name: "IPS_ProvisioningRecordLog",
    requires: Some(Feature::HostBasedSetup),
    keys: &["InstanceID"],
    instances: record_log,
    ..CLASS
}];

fn record_log(device: &Device) -> Vec<Instance> {
    let records = u32::from(device.setup_state().state == ProvisioningState::Post);
    vec![
        Instance::new("IPS_ProvisioningRecordLog")
            .with("CurrentNumberOfRecords", records)
            .with("ElementName", NAME)
            .with("EnabledState", 2)
            .with("HealthState", 0)
            .with("InstanceID", "Intel(r) AMT: RecordLog 1")
            // 4: not applicable (the log is written by activation only).
            .with("LogState", 4)
            .with("MaxNumberOfRecords", 1)
            .with("Name", NAME)
            // 2: wraps when full.
            .with("OverwritePolicy", 2)
            .with("RequestedState", 12),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn an_activated_device_has_its_record() {
        let d = device("11.8");
        let provisioned = d.setup_state().state == ProvisioningState::Post;
        assert_eq!(
            record_log(&d)[0].int("CurrentNumberOfRecords"),
            Some(i64::from(provisioned))
        );
    }
}
