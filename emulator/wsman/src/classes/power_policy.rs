//! AMT_SystemPowerScheme: the ME's power packages. Each instance is one
//! package; SetPowerScheme on an instance makes it the device's policy,
//! which decides in which host states the device answers at all.

use super::{Access, CLASS, Class, Method, output};
use amtemu_model::device::audit::EventId;
use amtemu_model::device::power_policy::{MePowerPolicy, PowerPolicyRefusal, SCHEMES};
use amtemu_model::device::{Device, Named};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::names;
use amtemu_wire::wsman::value::{Epr, Instance};

pub static CLASSES: &[Class] = &[Class {
    name: "AMT_SystemPowerScheme",
    // MeshCommander finds the active package by the second selector of the
    // reference CIM_ElementSettingData holds, compared with SchemeGUID.
    keys: &["InstanceID", "SchemeGUID"],
    instances: power_schemes,
    methods: &[Method {
        name: "SetPowerScheme",
        requires: None,
        call: set_power_scheme,
    }],
    read: Access::GENERAL_INFO,
    invoke: Access::ADMIN,
    ..CLASS
}];

/// The CIM_ElementSettingData instance that marks the active package as
/// the ME's current setting (consoles read the policy in force from it).
pub(crate) fn active_scheme_setting(device: &Device, managed_element: Epr) -> Instance {
    let scheme = device.power_policy().scheme();
    Instance::new("CIM_ElementSettingData")
        .with("IsCurrent", 1)
        .with("ManagedElement", managed_element)
        .with(
            "SettingData",
            Epr::new(names::class_uri("AMT_SystemPowerScheme"))
                .with("InstanceID", scheme.instance_id)
                .with("SchemeGUID", scheme.guid),
        )
}

fn power_schemes(_: &Device) -> Vec<Instance> {
    SCHEMES
        .iter()
        .map(|scheme| {
            Instance::new("AMT_SystemPowerScheme")
                .with("Description", scheme.description)
                .with("ElementName", scheme.description)
                .with("InstanceID", scheme.instance_id)
                .with("SchemeGUID", scheme.guid)
                .with("IsDefault", scheme.policy == MePowerPolicy::default())
        })
        .collect()
}

/// Makes the target instance the active package. The change takes effect
/// at once: with the host asleep, a package that powers the ME only in S0
/// takes the device off the network after this answer.
fn set_power_scheme(device: &Device, target: &Instance, _: &Instance) -> Result<Instance, Fault> {
    const METHOD: &str = "SetPowerScheme";
    let Some(policy) = target
        .text("InstanceID")
        .and_then(MePowerPolicy::by_instance_id)
    else {
        return Ok(output(METHOD, PtStatus::InvalidParameter.into()));
    };
    let reachable = match device.set_power_policy(policy) {
        Ok(reachable) => reachable,
        Err(r) => return Ok(output(METHOD, status(r).into())),
    };
    tracing::info!(
        device = %device.name,
        policy = policy.name(),
        reachable,
        "ME power package set"
    );
    device.changed("AMT_SystemPowerScheme");
    device.audit(EventId::POWER_PACKAGE_MODIFIED);
    Ok(output(METHOD, PtStatus::Success.into()))
}

/// The PT_STATUS a refused policy change is answered with.
fn status(r: PowerPolicyRefusal) -> PtStatus {
    match r {
        PowerPolicyRefusal::AuditFail => PtStatus::AuditFail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::HostPower;
    use amtemu_model::testing::device;

    #[test]
    fn setting_a_scheme_changes_the_policy() {
        let d = device("3.2.1");
        let schemes = power_schemes(&d);
        assert_eq!(schemes.len(), SCHEMES.len());
        assert_eq!(d.power_policy(), MePowerPolicy::AlwaysOn);
        let s0 = schemes
            .iter()
            .find(|s| s.text("InstanceID") == Some(MePowerPolicy::S0Only.scheme().instance_id))
            .unwrap();
        let out = set_power_scheme(&d, s0, &Instance::default()).unwrap();
        assert_eq!(out.int("ReturnValue"), Some(0));
        assert_eq!(d.power_policy(), MePowerPolicy::S0Only);
        let current = active_scheme_setting(&d, Epr::default());
        let setting = current.get("SettingData").and_then(|v| v.as_ref()).unwrap();
        assert_eq!(
            setting.selector_text("SchemeGUID"),
            Some(MePowerPolicy::S0Only.scheme().guid)
        );
        assert!(d.me_reachable());
        d.force_power(HostPower::S3);
        assert!(!d.me_reachable());
        let bogus = Instance::new("AMT_SystemPowerScheme").with("InstanceID", "nope");
        let out = set_power_scheme(&d, &bogus, &Instance::default()).unwrap();
        assert_eq!(out.int("ReturnValue"), Some(36));
        assert_eq!(d.power_policy(), MePowerPolicy::S0Only);
    }
}
