//! Redirection enablement: the SOL/IDER service and its listener, KVM, and
//! user consent. The sessions themselves live in the redirection protocol.

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_uint, service};
use amtemu_model::device::users::realm;
use amtemu_model::device::{Device, Feature, KvmSettingsChange, RedirectionRefusal};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const REDIRECTION: &str = "Intel(r) AMT Redirection Service";
const KVM_SAP: &str = "KVM Redirection Service Access Point";
const KVM_SETTINGS: &str = "Intel(r) KVM Redirection Settings";
const OPT_IN: &str = "Intel(r) AMT OptIn Service";

/// User consent serves redirection and remote control sessions alike.
const CONSENT: Access = Access(&[realm::REDIRECTION, realm::REMOTE_CONTROL]);

pub static CLASSES: &[Class] = &[
    Class {
        name: "AMT_RedirectionService",
        common: true,
        keys: SERVICE_KEYS,
        instances: redirection_service,
        put: Some(put_redirection_service),
        methods: &[Method {
            name: "RequestStateChange",
            requires: None,
            call: redirection_state_change,
        }],
        read: Access::REDIRECTION,
        write: Access::REDIRECTION,
        invoke: Access::REDIRECTION,
        ..CLASS
    },
    Class {
        name: "CIM_KVMRedirectionSAP",
        requires: Some(Feature::Kvm),
        keys: SERVICE_KEYS,
        instances: kvm_sap,
        methods: &[Method {
            name: "RequestStateChange",
            requires: None,
            call: kvm_state_change,
        }],
        read: Access::REDIRECTION,
        invoke: Access::REDIRECTION,
        ..CLASS
    },
    Class {
        name: "IPS_KVMRedirectionSettingData",
        requires: Some(Feature::Kvm),
        keys: &["InstanceID"],
        instances: kvm_settings,
        put: Some(put_kvm_settings),
        read: Access::REDIRECTION,
        write: Access::ADMIN,
        ..CLASS
    },
    Class {
        name: "IPS_OptInService",
        requires: Some(Feature::UserConsent),
        keys: SERVICE_KEYS,
        instances: opt_in_service,
        put: Some(put_opt_in_service),
        methods: &[
            Method {
                name: "StartOptIn",
                requires: None,
                call: start_opt_in,
            },
            Method {
                name: "CancelOptIn",
                requires: None,
                call: cancel_opt_in,
            },
            Method {
                name: "SendOptInCode",
                requires: None,
                call: send_opt_in_code,
            },
        ],
        read: CONSENT,
        write: Access::ADMIN,
        invoke: CONSENT,
        ..CLASS
    },
];

/// The PT_STATUS a refused Put is answered with (as an InternalError fault).
fn status(r: RedirectionRefusal) -> PtStatus {
    match r {
        RedirectionRefusal::InvalidEnabledState | RedirectionRefusal::InvalidOptInPolicy => {
            PtStatus::InvalidParameter
        }
        RedirectionRefusal::OptInPolicyFixed => PtStatus::NotPermitted,
        RedirectionRefusal::WeakRfbPassword => PtStatus::InvalidPassword,
        // "The specified feature is not supported" (CSME 16 dropped 5900).
        RedirectionRefusal::Port5900Unsupported => PtStatus::Unsupported,
        RedirectionRefusal::Port5900NeedsPassword | RedirectionRefusal::InvalidSessionTimeout => {
            PtStatus::InvalidParameter
        }
        // The opt-in methods answer these with their own values (`opt_in`);
        // no Put meets them.
        RedirectionRefusal::InvalidOptInState | RedirectionRefusal::WrongOptInCode => {
            PtStatus::InvalidParameter
        }
    }
}

fn fault(r: RedirectionRefusal) -> Fault {
    Fault::InternalError(status(r).into())
}

/// CIM ReturnValues of RequestStateChange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateChange {
    Completed = 0,
    InvalidParameter = 5,
}

impl From<StateChange> for u32 {
    fn from(rv: StateChange) -> u32 {
        rv as u32
    }
}

/// IPS_OptInService method ReturnValues (not PT_STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptIn {
    Success = 0,
    InvalidState = 2,
    Failed = 4,
}

impl From<OptIn> for u32 {
    fn from(rv: OptIn) -> u32 {
        rv as u32
    }
}

/// The ReturnValue of an opt-in method.
fn opt_in(result: Result<(), RedirectionRefusal>) -> OptIn {
    match result {
        Ok(()) => OptIn::Success,
        Err(RedirectionRefusal::WrongOptInCode) => OptIn::Failed,
        Err(_) => OptIn::InvalidState,
    }
}

/// An optional boolean of a Put: absent, or well-formed.
fn given_bool(input: &Instance, name: &str) -> Result<Option<bool>, Fault> {
    let mut value = false;
    put_bool(input, name, &mut value)?;
    Ok(input.get(name).map(|_| value))
}

/// An optional unsigned property of a Put: absent, or well-formed.
fn given_uint<T: TryFrom<i64> + Default>(input: &Instance, name: &str) -> Result<Option<T>, Fault> {
    let mut value = T::default();
    put_uint(input, name, &mut value)?;
    Ok(input.get(name).map(|_| value))
}

fn redirection_service(device: &Device) -> Vec<Instance> {
    let r = device.redirection_settings();
    vec![
        service("AMT_RedirectionService", REDIRECTION)
            .with("ElementName", REDIRECTION)
            .with("EnabledState", r.enabled_state())
            .with("ListenerEnabled", r.listener_enabled),
    ]
}

fn put_redirection_service(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let listener = given_bool(input, "ListenerEnabled")?;
    // MeshCentral also sends EnabledState in the Put.
    let state = match input.get("EnabledState") {
        None => None,
        Some(v) => Some(v.as_int().ok_or(Fault::InvalidRepresentation)?),
    };
    device
        .set_redirection_service(listener, state)
        .map_err(fault)
}

fn redirection_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let ok = input
        .int("RequestedState")
        .is_some_and(|v| device.set_redirection_state(v).is_ok());
    if ok {
        device.changed("AMT_RedirectionService");
    }
    let rv = if ok {
        StateChange::Completed
    } else {
        StateChange::InvalidParameter
    };
    Ok(output("RequestStateChange", rv.into()))
}

fn kvm_sap(device: &Device) -> Vec<Instance> {
    let enabled = device.redirection_settings().kvm_enabled;
    // DSP1076 (KVM Redirection Profile), which Intel's reference follows:
    // 2 enabled with a session active, 6 enabled but offline (no
    // session), 3 disabled. A session opened before KVM was disabled goes
    // on, so it still reads 2 (inferred).
    let state = match (enabled, device.kvm_session_open()) {
        (_, true) => 2,
        (true, false) => 6,
        (false, false) => 3,
    };
    let mut i = service("CIM_KVMRedirectionSAP", KVM_SAP)
        .with("ElementName", KVM_SAP)
        .with("EnabledState", state)
        .with("KVMProtocol", 4)
        .with("RequestedState", if enabled { 2 } else { 3 });
    i.set("SystemName", "ManagedSystem");
    vec![i]
}

fn kvm_state_change(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let rv = match input.int("RequestedState") {
        Some(state @ (2 | 3)) => {
            device.set_kvm_enabled(state == 2);
            device.changed("CIM_KVMRedirectionSAP");
            StateChange::Completed
        }
        _ => StateChange::InvalidParameter,
    };
    Ok(output("RequestStateChange", rv.into()))
}

fn kvm_settings(device: &Device) -> Vec<Instance> {
    let r = device.redirection_settings();
    vec![
        Instance::new("IPS_KVMRedirectionSettingData")
            .with("BackToBackFbMode", false)
            .with("DefaultScreen", r.kvm_default_screen)
            .with("ElementName", KVM_SETTINGS)
            .with("EnabledByMEBx", true)
            .with("InstanceID", KVM_SETTINGS)
            .with("Is5900PortEnabled", r.kvm_port_5900_enabled)
            .with("OptInPolicy", r.kvm_opt_in_policy)
            .with("OptInPolicyTimeout", r.kvm_opt_in_policy_timeout)
            // Write-only: always read back empty.
            .with("RFBPassword", "")
            .with("SessionTimeout", r.kvm_session_timeout),
    ]
}

fn put_kvm_settings(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let change = KvmSettingsChange {
        port_5900_enabled: given_bool(input, "Is5900PortEnabled")?,
        opt_in_policy: given_bool(input, "OptInPolicy")?,
        opt_in_policy_timeout: given_uint(input, "OptInPolicyTimeout")?,
        // uint16 in the schema; firmware takes 0 to 255 minutes of it.
        session_timeout: given_uint::<u16>(input, "SessionTimeout")?.map(u32::from),
        default_screen: given_uint(input, "DefaultScreen")?,
        rfb_password: input
            .text("RFBPassword")
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    };
    device.update_kvm_settings(change).map_err(fault)
}

fn opt_in_service(device: &Device) -> Vec<Instance> {
    let c = device.consent();
    vec![
        service("IPS_OptInService", OPT_IN)
            .with("CanModifyOptInPolicy", u8::from(c.policy_changeable))
            .with("ElementName", OPT_IN)
            .with("OptInCodeTimeout", c.code_timeout)
            .with("OptInDisplayTimeout", c.display_timeout)
            // Client control mode forces consent for everything.
            .with("OptInRequired", c.required)
            .with("OptInState", c.state),
    ]
}

fn put_opt_in_service(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    let required = given_uint(input, "OptInRequired")?;
    let display_timeout = given_uint(input, "OptInDisplayTimeout")?;
    device
        .set_opt_in_policy(required, display_timeout)
        .map_err(fault)
}

/// Opt-in states: 0 not started, 1 requested, 2 displayed, 3 received.
fn start_opt_in(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("StartOptIn", opt_in(device.start_opt_in()).into()))
}

fn cancel_opt_in(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    device.cancel_opt_in();
    Ok(output("CancelOptIn", OptIn::Success.into()))
}

fn send_opt_in_code(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = device.send_opt_in_code(input.int("OptInCode"));
    Ok(output("SendOptInCode", opt_in(result).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::device::{CONSENT_ALL, ControlMode};
    use amtemu_model::testing::device;

    #[test]
    fn state_change_and_put_agree() {
        let d = device("11.8");
        let input = Instance::new("RequestStateChange_INPUT").with("RequestedState", 32770);
        assert_eq!(
            redirection_state_change(&d, &Instance::default(), &input)
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        assert_eq!(redirection_service(&d)[0].int("EnabledState"), Some(32770));
        let bad = Instance::new("RequestStateChange_INPUT").with("RequestedState", 7);
        assert_eq!(
            redirection_state_change(&d, &Instance::default(), &bad)
                .unwrap()
                .int("ReturnValue"),
            Some(5)
        );
        let before = redirection_service(&d).remove(0);
        let mut put = before.clone();
        put.set("ListenerEnabled", "false");
        put_redirection_service(&d, &before, &put).unwrap();
        assert_eq!(
            redirection_service(&d)[0].bool("ListenerEnabled"),
            Some(false)
        );
    }

    #[test]
    fn consent_flow_and_ccm_policy() {
        let d = device("11.8");
        let none = Instance::default();
        let code = |c: u32| Instance::new("SendOptInCode_INPUT").with("OptInCode", c);
        assert_eq!(
            send_opt_in_code(&d, &none, &code(1))
                .unwrap()
                .int("ReturnValue"),
            Some(2)
        );
        start_opt_in(&d, &none, &none).unwrap();
        assert_eq!(
            send_opt_in_code(&d, &none, &code(d.opt_in_code() + 1))
                .unwrap()
                .int("ReturnValue"),
            Some(4)
        );
        start_opt_in(&d, &none, &none).unwrap();
        assert_eq!(
            send_opt_in_code(&d, &none, &code(d.opt_in_code()))
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        d.set_opt_in_policy(Some(CONSENT_ALL), None).unwrap();
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        let svc = opt_in_service(&d).remove(0);
        assert_eq!(svc.int("OptInRequired"), Some(i64::from(CONSENT_ALL)));
        let mut put = svc.clone();
        put.set("OptInRequired", 0);
        assert_eq!(
            put_opt_in_service(&d, &svc, &put),
            Err(Fault::InternalError(16))
        );
    }

    #[test]
    fn session_timeout_puts_outside_the_range_change_nothing() {
        let d = device("11.8");
        let before = kvm_settings(&d).remove(0);
        for (bad, fault) in [
            ("256", Fault::InternalError(36)),
            ("65535", Fault::InternalError(36)),
            ("65536", Fault::InvalidRepresentation),
            ("-1", Fault::InvalidRepresentation),
            ("ten", Fault::InvalidRepresentation),
        ] {
            let mut put = before.clone();
            put.set("SessionTimeout", bad);
            put.set("OptInPolicy", "false");
            assert_eq!(put_kvm_settings(&d, &before, &put), Err(fault), "{bad}");
            assert_eq!(kvm_settings(&d)[0], before, "{bad}: nothing changed");
        }
        let mut put = before.clone();
        put.set("SessionTimeout", "15");
        put_kvm_settings(&d, &before, &put).unwrap();
        assert_eq!(kvm_settings(&d)[0].int("SessionTimeout"), Some(15));
    }

    #[test]
    fn kvm_sap_reads_2_while_a_session_is_open() {
        use amtemu_model::device::RedirectionKind;
        let d = device("11.8");
        d.set_opt_in_policy(Some(0), None).unwrap();
        assert_eq!(kvm_sap(&d)[0].int("EnabledState"), Some(6));
        let session = d.redirection_session_opened(RedirectionKind::Kvm).unwrap();
        assert_eq!(kvm_sap(&d)[0].int("EnabledState"), Some(2));
        d.redirection_session_closed(session);
        assert_eq!(kvm_sap(&d)[0].int("EnabledState"), Some(6));
        d.set_kvm_enabled(false);
        assert_eq!(kvm_sap(&d)[0].int("EnabledState"), Some(3));
    }

    #[test]
    fn opt_in_state_reads_4_in_session_and_3_after() {
        use amtemu_model::device::RedirectionKind;
        let d = device("11.8");
        let none = Instance::default();
        start_opt_in(&d, &none, &none).unwrap();
        assert_eq!(opt_in_service(&d)[0].int("OptInState"), Some(2));
        let code = Instance::new("SendOptInCode_INPUT").with("OptInCode", d.opt_in_code());
        send_opt_in_code(&d, &none, &code).unwrap();
        assert_eq!(opt_in_service(&d)[0].int("OptInState"), Some(3));
        let session = d.redirection_session_opened(RedirectionKind::Kvm).unwrap();
        assert_eq!(opt_in_service(&d)[0].int("OptInState"), Some(4));
        d.redirection_session_closed(session);
        assert_eq!(opt_in_service(&d)[0].int("OptInState"), Some(3));
    }
}
