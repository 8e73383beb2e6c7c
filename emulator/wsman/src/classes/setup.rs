//! Setup state: AMT_SetupAndConfigurationService and
//! IPS_HostBasedSetupService. Both report the one provisioning state
//! machine; the first ends remote configuration (CommitChanges) and undoes
//! it (Unprovision), the second activates a device from its host.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, service};
use amtemu_model::device::{
    ControlMode, Device, Feature, HostSetupRefusal, ProvisioningState, SetupProof, SetupRefusal,
    SetupState, Unprovisioning,
};
use amtemu_wire::status::PtStatus;
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const SETUP_SERVICE: &str = "Intel(r) AMT Setup and Configuration Service";
const HBS_SERVICE: &str = "Intel(r) AMT Host Based Setup Service";

/// NetAdminPassEncryptionType 2: the password is HTTP digest MD5(A1).
const DIGEST_MD5_A1: i64 = 2;
/// SigningAlgorithm 2: RSA with SHA-256.
const RSA_SHA256: i64 = 2;

/// The PT_STATUS an AMT_SetupAndConfigurationService refusal answers with.
fn status(refusal: SetupRefusal) -> PtStatus {
    match refusal {
        SetupRefusal::TlsWithoutCredential | SetupRefusal::InvalidArgument => {
            PtStatus::InvalidParameter
        }
        SetupRefusal::NotProvisioned
        | SetupRefusal::ClientControlMode
        | SetupRefusal::NotInSetup => PtStatus::NotPermitted,
        SetupRefusal::WeakPassword => PtStatus::InvalidPassword,
    }
}

/// IPS_HostBasedSetupService Setup / AdminSetup / UpgradeClientToAdmin
/// ReturnValue (not PT_STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetupReturn {
    Success,
    InvalidState,
    InvalidParameter,
    AuthFailed,
}

impl From<SetupReturn> for u32 {
    fn from(r: SetupReturn) -> u32 {
        match r {
            SetupReturn::Success => 0,
            SetupReturn::InvalidState => 2,
            SetupReturn::InvalidParameter => 3,
            SetupReturn::AuthFailed => 5,
        }
    }
}

impl From<Result<(), HostSetupRefusal>> for SetupReturn {
    fn from(result: Result<(), HostSetupRefusal>) -> SetupReturn {
        match result {
            Ok(()) => SetupReturn::Success,
            Err(
                HostSetupRefusal::WrongState
                | HostSetupRefusal::ChainIncomplete
                | HostSetupRefusal::OutOfSequence
                | HostSetupRefusal::ChainTooLong,
            ) => SetupReturn::InvalidState,
            Err(HostSetupRefusal::InvalidArgument) => SetupReturn::InvalidParameter,
            Err(HostSetupRefusal::BadSignature | HostSetupRefusal::ChainRefused) => {
                SetupReturn::AuthFailed
            }
        }
    }
}

/// AddNextCertInChain ReturnValue (not PT_STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChainReturn {
    Success,
    InvalidParameter,
    InvalidState,
    VerifyFailed,
    ChainTooLong,
}

impl From<ChainReturn> for u32 {
    fn from(r: ChainReturn) -> u32 {
        match r {
            ChainReturn::Success => 0,
            ChainReturn::InvalidParameter => 1,
            ChainReturn::InvalidState => 3,
            ChainReturn::VerifyFailed => 4,
            ChainReturn::ChainTooLong => 5,
        }
    }
}

impl From<Result<(), HostSetupRefusal>> for ChainReturn {
    fn from(result: Result<(), HostSetupRefusal>) -> ChainReturn {
        match result {
            Ok(()) => ChainReturn::Success,
            Err(HostSetupRefusal::InvalidArgument) => ChainReturn::InvalidParameter,
            Err(
                HostSetupRefusal::WrongState
                | HostSetupRefusal::OutOfSequence
                | HostSetupRefusal::ChainIncomplete,
            ) => ChainReturn::InvalidState,
            Err(HostSetupRefusal::ChainRefused | HostSetupRefusal::BadSignature) => {
                ChainReturn::VerifyFailed
            }
            Err(HostSetupRefusal::ChainTooLong) => ChainReturn::ChainTooLong,
        }
    }
}

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
            Method {
                name: "Unprovision",
                requires: None,
                call: unprovision,
            },
            Method {
                name: "PartialUnprovision",
                requires: Some(Feature::LegacyProvisioningModes),
                call: partial_unprovision,
            },
            Method {
                name: "SetMEBxPassword",
                requires: None,
                call: set_mebx_password,
            },
            Method {
                name: "ExtendProvisioningPeriod",
                requires: None,
                call: extend_provisioning_period,
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
        methods: &[
            Method {
                name: "Setup",
                requires: Some(Feature::ClientControlMode),
                call: setup,
            },
            Method {
                name: "AddNextCertInChain",
                requires: None,
                call: add_next_cert_in_chain,
            },
            Method {
                name: "AdminSetup",
                requires: None,
                call: admin_setup,
            },
            Method {
                name: "UpgradeClientToAdmin",
                requires: Some(Feature::ClientControlMode),
                call: upgrade_client_to_admin,
            },
        ],
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
    let report = device.setup_report();
    let present = |s: String| (!s.is_empty()).then_some(s);
    vec![
        service("AMT_SetupAndConfigurationService", SETUP_SERVICE)
            .with_opt("DhcpDNSSuffix", present(report.dhcp_domain))
            .with("ElementName", SETUP_SERVICE)
            .with("EnabledState", 5)
            .with("PasswordModel", 1)
            .with("ProvisioningMode", provisioning_mode(device, report.setup))
            .with_opt(
                "ProvisioningServerOTP",
                report.otp.map(|otp| BASE64.encode(otp)),
            )
            .with("ProvisioningState", report.setup.state.cim())
            .with("RequestedState", 12)
            .with_opt("TrustedDNSSuffix", present(report.pki_dns_suffix))
            .with(
                "ZeroTouchConfigurationEnabled",
                device.firmware.has(Feature::RemoteConfiguration),
            ),
    ]
}

fn host_based_setup_service(device: &Device) -> Vec<Instance> {
    let report = device.host_setup_report();
    let current = match (report.setup.state, report.setup.mode) {
        (ProvisioningState::Post, ControlMode::Admin) => 2,
        (ProvisioningState::Post, ControlMode::Client) => 1,
        _ => 0,
    };
    let allowed: &[u8] = if device.firmware.has(Feature::ClientControlMode) {
        &[2, 1]
    } else {
        &[2]
    };
    vec![
        service("IPS_HostBasedSetupService", HBS_SERVICE)
            .with_array("AllowedControlModes", allowed.iter().copied())
            .with("CertChainStatus", report.chain_status)
            .with("ConfigurationNonce", BASE64.encode(report.nonce))
            .with("CurrentControlMode", current)
            .with("ElementName", HBS_SERVICE),
    ]
}

fn get_uuid(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetUuid", PtStatus::Success.into())
        .with("UUID", BASE64.encode(device.identity.uuid)))
}

/// The output of a method of AMT_SetupAndConfigurationService.
fn answer(method: &str, result: Result<(), SetupRefusal>) -> Instance {
    output(
        method,
        result.map_or_else(status, |()| PtStatus::Success).into(),
    )
}

/// Ends remote configuration (In → Post) or applies staged TLS settings;
/// refused as a whole when remote TLS would be on without a credential.
fn commit_changes(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(answer("CommitChanges", device.commit_changes()))
}

fn unprovision(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "Unprovision";
    // ProvisioningMode names the mode being left; 1 (admin/enterprise), 2
    // (small business) and 4 (client) are the ones firmware reports.
    if !matches!(input.int("ProvisioningMode"), None | Some(1 | 2 | 4)) {
        return Ok(output(M, PtStatus::InvalidParameter.into()));
    }
    Ok(answer(M, device.unprovision_remotely(Unprovisioning::Full)))
}

fn partial_unprovision(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(answer(
        "PartialUnprovision",
        device.unprovision_remotely(Unprovisioning::Partial),
    ))
}

/// SetMEBxPassword: admin control mode only (a CCM device keeps its MEBx
/// password), and a password that meets AMT's strength rules.
fn set_mebx_password(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    Ok(answer(
        "SetMEBxPassword",
        device.set_mebx_password(input.text("Password")),
    ))
}

/// ExtendProvisioningPeriod(Duration hours): only meaningful while a
/// configuration is under way.
fn extend_provisioning_period(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    Ok(answer(
        "ExtendProvisioningPeriod",
        device.extend_provisioning_period(input.int("Duration")),
    ))
}

/// The admin HA1 an activation sets: NetworkAdminPassword is the hex
/// MD5("admin:" realm ":" password), NetAdminPassEncryptionType 2.
fn admin_password(input: &Instance) -> Option<[u8; 16]> {
    if input.int("NetAdminPassEncryptionType") != Some(DIGEST_MD5_A1) {
        return None;
    }
    let hex = input.text("NetworkAdminPassword")?.trim();
    let bytes = amtemu_model::device::provisioning::decode_hex(hex)?;
    bytes.try_into().ok()
}

/// AdminSetup's and UpgradeClientToAdmin's proof: SigningAlgorithm RSA
/// SHA-256, a 20-byte McNonce and a DigitalSignature, both base64.
fn setup_proof(input: &Instance) -> Option<SetupProof> {
    if input.int("SigningAlgorithm") != Some(RSA_SHA256) {
        return None;
    }
    let decode = |name: &str| {
        input
            .text(name)
            .and_then(|b64| BASE64.decode(b64.trim()).ok())
    };
    Some(SetupProof {
        mc_nonce: decode("McNonce")?.try_into().ok()?,
        signature: decode("DigitalSignature")?,
    })
}

/// Setup: Pre-provisioning → client control mode.
fn setup(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let result = device.setup_client_control(admin_password(input));
    Ok(output("Setup", SetupReturn::from(result).into()))
}

/// AddNextCertInChain: the provisioning chain, leaf first; the root ends it
/// and the whole chain is checked against the provisioning rules then.
fn add_next_cert_in_chain(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let der = input
        .text("NextCertificate")
        .and_then(|b64| BASE64.decode(b64.trim()).ok());
    let result = device.add_setup_certificate(
        der,
        input.bool("IsLeafCertificate").unwrap_or(false),
        input.bool("IsRootCertificate").unwrap_or(false),
    );
    Ok(output(
        "AddNextCertInChain",
        ChainReturn::from(result).into(),
    ))
}

/// AdminSetup: Pre-provisioning → admin control mode, proven by the
/// provisioning certificate's key.
fn admin_setup(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    let proof = setup_proof(input);
    let result = device.admin_setup(admin_password(input), proof.as_ref());
    Ok(output("AdminSetup", SetupReturn::from(result).into()))
}

/// UpgradeClientToAdmin: client control mode → admin control mode.
fn upgrade_client_to_admin(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    let proof = setup_proof(input);
    let result = device.upgrade_client_to_admin(proof.as_ref());
    Ok(output(
        "UpgradeClientToAdmin",
        SetupReturn::from(result).into(),
    ))
}

#[cfg(test)]
mod tests;
