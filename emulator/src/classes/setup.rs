//! Setup state: AMT_SetupAndConfigurationService and the read side of
//! IPS_HostBasedSetupService. Both report the one provisioning state machine.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, service};
use crate::device::{ControlMode, Device, Feature, ProvisioningState, SetupState};
use crate::wsman::fault::Fault;
use crate::wsman::value::Instance;

const SETUP_SERVICE: &str = "Intel(r) AMT Setup and Configuration Service";
const HBS_SERVICE: &str = "Intel(r) AMT Host Based Setup Service";

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_SetupAndConfigurationService",
        common: true,
        keys: SERVICE_KEYS,
        instances: setup_service,
        methods: &[
            Method {
                name: "GetUuid",
                requires: None,
                call: get_uuid,
            },
            Method {
                name: "CommitChanges",
                requires: None,
                call: commit_changes,
            },
        ],
        read: Access::GENERAL_INFO,
        invoke: Access::ADMIN,
        method_access: &[("GetUuid", Access::GENERAL_INFO)],
        ..CLASS
    },
    Class {
        name: "IPS_HostBasedSetupService",
        requires: Some(Feature::HostBasedSetup),
        keys: SERVICE_KEYS,
        instances: host_based_setup_service,
        read: Access::GENERAL_INFO,
        write: Access::ADMIN,
        invoke: Access::ADMIN,
        ..CLASS
    },
];

/// ProvisioningMode as the firmware reports it: 1 admin control (Enterprise
/// before 6.0), 4 client control, 2 Small Business before 6.0.
fn provisioning_mode(device: &Device, setup: SetupState) -> u8 {
    match (
        setup.mode,
        device.firmware.has(Feature::LegacyProvisioningModes),
    ) {
        (ControlMode::Admin, _) => 1,
        (ControlMode::Client, true) => 2,
        (ControlMode::Client, false) => 4,
    }
}

fn setup_service(device: &Device) -> Vec<Instance> {
    let setup = device.with_state(|s| s.setup);
    vec![
        service("AMT_SetupAndConfigurationService", SETUP_SERVICE)
            .with("ElementName", SETUP_SERVICE)
            .with("EnabledState", 5)
            .with("PasswordModel", 1)
            .with("ProvisioningMode", provisioning_mode(device, setup))
            .with("ProvisioningServerOTP", BASE64.encode([0u8; 32]))
            .with("ProvisioningState", setup.state.cim())
            .with("RequestedState", 12)
            .with("ZeroTouchConfigurationEnabled", true),
    ]
}

fn host_based_setup_service(device: &Device) -> Vec<Instance> {
    let setup = device.with_state(|s| s.setup);
    let current = match (setup.state, setup.mode) {
        (ProvisioningState::Post, ControlMode::Admin) => 2,
        (ProvisioningState::Post, ControlMode::Client) => 1,
        _ => 0,
    };
    // The nonce is fresh per read on real firmware; a stable per-device value
    // keeps reads consistent until host-based setup consumes it.
    let nonce = &device.identity.uuid;
    let allowed: &[u8] = if device.firmware.has(Feature::ClientControlMode) {
        &[2, 1]
    } else {
        &[2]
    };
    vec![
        service("IPS_HostBasedSetupService", HBS_SERVICE)
            .with_array("AllowedControlModes", allowed.iter().copied())
            .with("CertChainStatus", 0)
            .with(
                "ConfigurationNonce",
                BASE64.encode([&nonce[..], &nonce[..4]].concat()),
            )
            .with("CurrentControlMode", current)
            .with("ElementName", HBS_SERVICE),
    ]
}

fn get_uuid(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetUuid", 0).with("UUID", BASE64.encode(device.identity.uuid)))
}

/// Applies what Put staged: the AMT_TLSSettingData written since the last
/// commit become the TLS policy in force.
fn commit_changes(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let applied = device.with_state(|s| match s.pending_tls.take() {
        Some(tls) => {
            s.tls = tls;
            true
        }
        None => false,
    });
    if applied {
        device.changed("AMT_SetupAndConfigurationService");
    }
    Ok(output("CommitChanges", 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::testing::device;

    #[test]
    fn both_services_report_the_same_state() {
        let d = device("11.8");
        assert_eq!(setup_service(&d)[0].int("ProvisioningMode"), Some(1));
        assert_eq!(setup_service(&d)[0].int("ProvisioningState"), Some(2));
        assert_eq!(
            host_based_setup_service(&d)[0].int("CurrentControlMode"),
            Some(2)
        );
        d.with_state(|s| s.setup.mode = ControlMode::Client);
        assert_eq!(setup_service(&d)[0].int("ProvisioningMode"), Some(4));
        assert_eq!(
            host_based_setup_service(&d)[0].int("CurrentControlMode"),
            Some(1)
        );
        let legacy = device("3.2.1");
        legacy.with_state(|s| s.setup.mode = ControlMode::Client);
        assert_eq!(setup_service(&legacy)[0].int("ProvisioningMode"), Some(2));
    }
}
