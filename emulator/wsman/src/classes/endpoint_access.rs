//! AMT_EndpointAccessControlService: endpoint access control, the ME's
//! side of network admission control (it signs the platform's posture for
//! a NAC server). 3.0 until CSME 18.0 dropped it.
//!
//! Only the service is answered, read-only. Intel's class reference says
//! the service is active only once a posture signer is set (an
//! AMT_EACCredentialContext instance); amtemu models no signer, so the
//! service reports itself disabled (CIM EnabledState 3; inferred, not
//! captured) and AMT_EACCredentialContext keeps its fault.

use super::{CLASS, Class, SERVICE_KEYS, service};
use amtemu_model::device::{Device, Feature};
use amtemu_wire::wsman::value::Instance;

const CLASS_NAME: &str = "AMT_EndpointAccessControlService";
const NAME: &str = "Intel(r) AMT Endpoint Access Control Service";

pub static CLASSES: &[Class] = &[Class {
    name: CLASS_NAME,
    requires: Some(Feature::EndpointAccessControl),
    keys: SERVICE_KEYS,
    instances: endpoint_access_service,
    ..CLASS
}];

/// CIM's EnabledState for a disabled element.
const DISABLED: i64 = 3;

fn endpoint_access_service(_: &Device) -> Vec<Instance> {
    vec![
        service(CLASS_NAME, NAME)
            .with("ElementName", NAME)
            .with("EnabledState", DISABLED),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn the_service_is_there_until_18_and_disabled_without_a_signer() {
        for fw in ["3.2.1", "11.8", "15.0"] {
            let class = super::super::lookup(CLASS_NAME, device(fw).firmware);
            assert!(class.is_some(), "{fw}");
        }
        let d = device("15.0");
        assert_eq!(endpoint_access_service(&d)[0].int("EnabledState"), Some(3));
    }
}
