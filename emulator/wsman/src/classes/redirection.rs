//! Redirection enablement: the SOL/IDER service and its listener, KVM, and
//! user consent. The sessions themselves live in the redirection protocol.

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, put_bool, put_uint, service};
use amtemu_model::device::users::realm;
use amtemu_model::device::{ControlMode, Device, Feature};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const REDIRECTION: &str = "Intel(r) AMT Redirection Service";
const KVM_SAP: &str = "KVM Redirection Service Access Point";
const KVM_SETTINGS: &str = "Intel(r) KVM Redirection Settings";
const OPT_IN: &str = "Intel(r) AMT OptIn Service";

/// OptInRequired meaning "consent for every redirection and boot option".
const CONSENT_ALL: u32 = 0xFFFF_FFFF;

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

fn redirection_service(device: &Device) -> Vec<Instance> {
    let r = device.with_state(|s| s.nvram.redirection.clone());
    vec![
        service("AMT_RedirectionService", REDIRECTION)
            .with("ElementName", REDIRECTION)
            .with("EnabledState", r.enabled_state())
            .with("ListenerEnabled", r.listener_enabled),
    ]
}

fn put_redirection_service(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    device.with_state(|s| {
        let mut r = s.nvram.redirection.clone();
        put_bool(input, "ListenerEnabled", &mut r.listener_enabled)?;
        // MeshCentral also sends EnabledState in the Put.
        if let Some(v) = input.get("EnabledState") {
            let state = v.as_int().ok_or(Fault::InvalidRepresentation)?;
            if !r.set_enabled_state(state) {
                return Err(Fault::InternalError(36));
            }
        }
        s.nvram.redirection = r;
        Ok(())
    })
}

fn redirection_state_change(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let ok = input
        .int("RequestedState")
        .is_some_and(|v| device.with_state(|s| s.nvram.redirection.set_enabled_state(v)));
    if ok {
        device.changed("AMT_RedirectionService");
    }
    // 0 success, 5 invalid parameter.
    Ok(output("RequestStateChange", if ok { 0 } else { 5 }))
}

fn kvm_sap(device: &Device) -> Vec<Instance> {
    let enabled = device.with_state(|s| s.nvram.redirection.kvm_enabled);
    let mut i = service("CIM_KVMRedirectionSAP", KVM_SAP)
        .with("ElementName", KVM_SAP)
        // 6: enabled but no session; 3: disabled.
        .with("EnabledState", if enabled { 6 } else { 3 })
        .with("KVMProtocol", 4)
        .with("RequestedState", if enabled { 2 } else { 3 });
    i.set("SystemName", "ManagedSystem");
    vec![i]
}

fn kvm_state_change(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let rv = match input.int("RequestedState") {
        Some(state @ (2 | 3)) => {
            device.with_state(|s| s.nvram.redirection.kvm_enabled = state == 2);
            device.changed("CIM_KVMRedirectionSAP");
            0
        }
        _ => 5,
    };
    Ok(output("RequestStateChange", rv))
}

fn kvm_settings(device: &Device) -> Vec<Instance> {
    let r = device.with_state(|s| s.nvram.redirection.clone());
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

/// An RFB password must be exactly 8 characters with upper and lower case,
/// a digit and a special character (VNC passwords are 8 bytes).
fn strong_rfb_password(p: &str) -> bool {
    p.chars().count() == 8
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_ascii_alphanumeric())
}

fn put_kvm_settings(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    device.with_state(|s| {
        let mut r = s.nvram.redirection.clone();
        put_bool(input, "Is5900PortEnabled", &mut r.kvm_port_5900_enabled)?;
        put_bool(input, "OptInPolicy", &mut r.kvm_opt_in_policy)?;
        put_uint(
            input,
            "OptInPolicyTimeout",
            &mut r.kvm_opt_in_policy_timeout,
        )?;
        put_uint(input, "SessionTimeout", &mut r.kvm_session_timeout)?;
        put_uint(input, "DefaultScreen", &mut r.kvm_default_screen)?;
        if let Some(p) = input.text("RFBPassword").filter(|p| !p.is_empty()) {
            if !strong_rfb_password(p) {
                return Err(Fault::InternalError(2054));
            }
            r.kvm_rfb_password_set = true;
        }
        s.nvram.redirection = r;
        Ok(())
    })
}

fn opt_in_service(device: &Device) -> Vec<Instance> {
    let (r, mode) = device.with_state(|s| (s.nvram.redirection.clone(), s.nvram.setup.mode));
    let ccm = mode == ControlMode::Client;
    vec![
        service("IPS_OptInService", OPT_IN)
            .with("CanModifyOptInPolicy", u8::from(!ccm))
            .with("ElementName", OPT_IN)
            .with("OptInCodeTimeout", r.opt_in_code_timeout)
            .with("OptInDisplayTimeout", r.opt_in_display_timeout)
            // Client control mode forces consent for everything.
            .with(
                "OptInRequired",
                if ccm { CONSENT_ALL } else { r.opt_in_required },
            )
            .with("OptInState", r.opt_in_state),
    ]
}

fn put_opt_in_service(device: &Device, _: &Instance, input: &Instance) -> Result<(), Fault> {
    device.with_state(|s| {
        let mut r = s.nvram.redirection.clone();
        put_uint(input, "OptInRequired", &mut r.opt_in_required)?;
        put_uint(input, "OptInDisplayTimeout", &mut r.opt_in_display_timeout)?;
        if !matches!(r.opt_in_required, 0 | 1 | CONSENT_ALL) {
            return Err(Fault::InternalError(36));
        }
        // In client control mode the policy is fixed.
        if s.nvram.setup.mode == ControlMode::Client
            && r.opt_in_required != s.nvram.redirection.opt_in_required
        {
            return Err(Fault::InternalError(16));
        }
        s.nvram.redirection = r;
        Ok(())
    })
}

/// Opt-in states: 0 not started, 1 requested, 2 displayed, 3 received.
fn start_opt_in(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let rv = device.with_state(|s| {
        if s.nvram.redirection.opt_in_state == 0 {
            // The code is shown on the host's screen at once.
            s.nvram.redirection.opt_in_state = 2;
            0
        } else {
            2
        }
    });
    Ok(output("StartOptIn", rv))
}

fn cancel_opt_in(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    device.with_state(|s| s.nvram.redirection.opt_in_state = 0);
    Ok(output("CancelOptIn", 0))
}

/// The code shown on the emulated screen is the first six digits of the
/// device's UUID as a number, so a test can compute it.
pub fn opt_in_code(device: &Device) -> u32 {
    let u = device.identity.uuid;
    u32::from_le_bytes([u[0], u[1], u[2], u[3]]) % 1_000_000
}

fn send_opt_in_code(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let expected = opt_in_code(device);
    let given = input.int("OptInCode");
    let rv = device.with_state(|s| {
        if s.nvram.redirection.opt_in_state != 2 {
            return 2; // invalid state
        }
        if given == Some(i64::from(expected)) {
            s.nvram.redirection.opt_in_state = 3;
            0
        } else {
            // A wrong code ends the attempt.
            s.nvram.redirection.opt_in_state = 0;
            4
        }
    });
    Ok(output("SendOptInCode", rv))
}

#[cfg(test)]
mod tests {
    use super::*;
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
            send_opt_in_code(&d, &none, &code(opt_in_code(&d) + 1))
                .unwrap()
                .int("ReturnValue"),
            Some(4)
        );
        start_opt_in(&d, &none, &none).unwrap();
        assert_eq!(
            send_opt_in_code(&d, &none, &code(opt_in_code(&d)))
                .unwrap()
                .int("ReturnValue"),
            Some(0)
        );
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        let svc = opt_in_service(&d).remove(0);
        assert_eq!(svc.int("OptInRequired"), Some(i64::from(CONSENT_ALL)));
        let mut put = svc.clone();
        put.set("OptInRequired", 0);
        d.with_state(|s| s.nvram.redirection.opt_in_required = CONSENT_ALL);
        assert_eq!(
            put_opt_in_service(&d, &svc, &put),
            Err(Fault::InternalError(16))
        );
    }

    #[test]
    fn weak_rfb_passwords_are_refused() {
        assert!(strong_rfb_password("P@ssw0rd"));
        assert!(!strong_rfb_password("password"));
        assert!(!strong_rfb_password("P@ssw0rd1"));
    }
}
