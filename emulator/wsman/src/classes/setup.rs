//! Setup state: AMT_SetupAndConfigurationService and
//! IPS_HostBasedSetupService. Both report the one provisioning state
//! machine; the first ends remote configuration (CommitChanges) and undoes
//! it (Unprovision), the second activates a device from its host.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Access, CLASS, Class, Method, SERVICE_KEYS, output, service};
use amtemu_model::chain;
use amtemu_model::device::{
    CommitRefusal, ControlMode, Device, Feature, ProvisioningState, SetupState, Unprovisioning,
};
use amtemu_wire::wsman::fault::Fault;
use amtemu_wire::wsman::value::Instance;

const SETUP_SERVICE: &str = "Intel(r) AMT Setup and Configuration Service";
const HBS_SERVICE: &str = "Intel(r) AMT Host Based Setup Service";

/// AMT_SetupAndConfigurationService return values.
mod status {
    pub const SUCCESS: u32 = 0;
    pub const NOT_PERMITTED: u32 = 16;
    pub const INVALID_PARAMETER: u32 = 36;
    pub const INVALID_PASSWORD: u32 = 2054;
}

/// IPS_HostBasedSetupService Setup / AdminSetup / UpgradeClientToAdmin
/// return values.
mod setup_status {
    pub const SUCCESS: u32 = 0;
    pub const INVALID_STATE: u32 = 2;
    pub const INVALID_PARAMETER: u32 = 3;
    pub const AUTH_FAILED: u32 = 5;
}

/// AddNextCertInChain return values.
mod chain_status {
    pub const SUCCESS: u32 = 0;
    pub const INVALID_PARAMETER: u32 = 1;
    pub const INVALID_STATE: u32 = 3;
    pub const VERIFY_FAILED: u32 = 4;
    pub const CHAIN_TOO_LONG: u32 = 5;
}

/// The longest provisioning chain AddNextCertInChain takes (leaf,
/// intermediates, root); firmware's limit is not documented.
const MAX_CHAIN: usize = 4;

/// NetAdminPassEncryptionType 2: the password is HTTP digest MD5(A1).
const DIGEST_MD5_A1: i64 = 2;
/// SigningAlgorithm 2: RSA with SHA-256.
const RSA_SHA256: i64 = 2;

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
    let (setup, otp, dhcp, trusted) = device.with_state(|s| {
        (
            s.nvram.setup,
            s.nvram.provisioning.otp.clone(),
            s.nvram.provisioning.dhcp_domain.clone(),
            s.nvram.provisioning.pki_dns_suffix.clone(),
        )
    });
    // The OTP is readable only while a configuration server is at work.
    let otp = otp
        .filter(|_| setup.state == ProvisioningState::In)
        .map(|otp| BASE64.encode(otp));
    vec![
        service("AMT_SetupAndConfigurationService", SETUP_SERVICE)
            .with_opt("DhcpDNSSuffix", (!dhcp.is_empty()).then_some(dhcp))
            .with("ElementName", SETUP_SERVICE)
            .with("EnabledState", 5)
            .with("PasswordModel", 1)
            .with("ProvisioningMode", provisioning_mode(device, setup))
            .with_opt("ProvisioningServerOTP", otp)
            .with("ProvisioningState", setup.state.cim())
            .with("RequestedState", 12)
            .with_opt("TrustedDNSSuffix", (!trusted.is_empty()).then_some(trusted))
            .with(
                "ZeroTouchConfigurationEnabled",
                device.firmware.has(Feature::RemoteConfiguration),
            ),
    ]
}

fn host_based_setup_service(device: &Device) -> Vec<Instance> {
    let (setup, nonce, chain_status) =
        device.with_state(|s| (s.nvram.setup, s.host_setup.nonce, s.host_setup.status()));
    let current = match (setup.state, setup.mode) {
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
            .with("CertChainStatus", chain_status)
            .with("ConfigurationNonce", BASE64.encode(nonce))
            .with("CurrentControlMode", current)
            .with("ElementName", HBS_SERVICE),
    ]
}

fn get_uuid(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output("GetUuid", 0).with("UUID", BASE64.encode(device.identity.uuid)))
}

/// Ends remote configuration (In → Post) or applies staged TLS settings;
/// refused as a whole when remote TLS would be on without a credential.
fn commit_changes(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    let rv = match device.commit_changes() {
        Ok(()) => status::SUCCESS,
        Err(CommitRefusal::TlsWithoutCredential) => status::INVALID_PARAMETER,
    };
    Ok(output("CommitChanges", rv))
}

fn unprovision(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "Unprovision";
    // ProvisioningMode names the mode being left; 1 (admin/enterprise), 2
    // (small business) and 4 (client) are the ones firmware reports.
    if !matches!(input.int("ProvisioningMode"), None | Some(1 | 2 | 4)) {
        return Ok(output(M, status::INVALID_PARAMETER));
    }
    Ok(output(M, undo(device, Unprovisioning::Full)))
}

fn partial_unprovision(device: &Device, _: &Instance, _: &Instance) -> Result<Instance, Fault> {
    Ok(output(
        "PartialUnprovision",
        undo(device, Unprovisioning::Partial),
    ))
}

fn undo(device: &Device, how: Unprovisioning) -> u32 {
    if device.with_state(|s| s.nvram.setup.state) == ProvisioningState::Pre {
        return status::NOT_PERMITTED;
    }
    device.audit(amtemu_model::device::audit::AuditEvent::unprovisioning());
    device.unprovision(how);
    status::SUCCESS
}

/// SetMEBxPassword: admin control mode only (a CCM device keeps its MEBx
/// password). The password must meet AMT's strength rules; the MEBx itself
/// is not modelled, so it is checked and not kept.
fn set_mebx_password(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "SetMEBxPassword";
    if device.with_state(|s| s.nvram.setup.mode) == ControlMode::Client {
        return Ok(output(M, status::NOT_PERMITTED));
    }
    let strong = input.text("Password").is_some_and(strong_password);
    Ok(output(
        M,
        if strong {
            status::SUCCESS
        } else {
            status::INVALID_PASSWORD
        },
    ))
}

/// AMT's password rules: 8 to 32 characters with a lower and an upper case
/// letter, a digit and a symbol.
fn strong_password(password: &str) -> bool {
    (8..=32).contains(&password.chars().count())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_ascii_alphanumeric())
}

/// ExtendProvisioningPeriod(Duration hours): only meaningful while a
/// configuration is under way. The hello schedule is the hello sender's;
/// the extension is acknowledged and logged.
fn extend_provisioning_period(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "ExtendProvisioningPeriod";
    if device.with_state(|s| s.nvram.setup.state) != ProvisioningState::In {
        return Ok(output(M, status::NOT_PERMITTED));
    }
    match input.int("Duration") {
        Some(hours) if hours > 0 => {
            tracing::info!(device = %device.name, hours, "provisioning period extended");
            Ok(output(M, status::SUCCESS))
        }
        _ => Ok(output(M, status::INVALID_PARAMETER)),
    }
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

/// Setup: Pre-provisioning → client control mode.
fn setup(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "Setup";
    if device.with_state(|s| s.nvram.setup.state) != ProvisioningState::Pre {
        return Ok(output(M, setup_status::INVALID_STATE));
    }
    let Some(ha1) = admin_password(input) else {
        return Ok(output(M, setup_status::INVALID_PARAMETER));
    };
    device.activate(ControlMode::Client, ha1);
    Ok(output(M, setup_status::SUCCESS))
}

/// AddNextCertInChain: the provisioning chain, leaf first; the root ends it
/// and the whole chain is checked against the provisioning rules then.
fn add_next_cert_in_chain(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "AddNextCertInChain";
    let may_add = device.with_state(|s| {
        s.nvram.setup.state == ProvisioningState::Pre
            || (s.nvram.setup.state == ProvisioningState::Post
                && s.nvram.setup.mode == ControlMode::Client)
    });
    if !may_add {
        return Ok(output(M, chain_status::INVALID_STATE));
    }
    let Some(der) = input
        .text("NextCertificate")
        .and_then(|b64| BASE64.decode(b64.trim()).ok())
        .filter(|der| amtemu_model::pki::parse_certificate(der).is_ok())
    else {
        return Ok(output(M, chain_status::INVALID_PARAMETER));
    };
    let is_leaf = input.bool("IsLeafCertificate").unwrap_or(false);
    let is_root = input.bool("IsRootCertificate").unwrap_or(false);
    let added = device.with_state(|s| {
        let progress = &mut s.host_setup;
        if is_leaf {
            progress.chain.clear();
            progress.complete = false;
        } else if progress.chain.is_empty() || progress.complete {
            return Err(chain_status::INVALID_STATE);
        }
        if progress.chain.len() == MAX_CHAIN {
            progress.restart();
            return Err(chain_status::CHAIN_TOO_LONG);
        }
        progress.chain.push(der);
        Ok(progress.chain.clone())
    });
    let chain = match added {
        Ok(chain) => chain,
        Err(rv) => return Ok(output(M, rv)),
    };
    if !is_root {
        return Ok(output(M, chain_status::SUCCESS));
    }
    let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let policy = chain::Policy::for_device(device);
    match chain::check(&refs, &policy, rustls::pki_types::UnixTime::now()) {
        Ok(accepted) => {
            tracing::info!(device = %device.name, cn = %accepted.common_name, "host-based setup chain accepted");
            device.with_state(|s| s.host_setup.complete = true);
            Ok(output(M, chain_status::SUCCESS))
        }
        Err(e) => {
            device.provisioning_refused(&e.to_string());
            device.with_state(|s| s.host_setup.restart());
            Ok(output(M, chain_status::VERIFY_FAILED))
        }
    }
}

/// Checks McNonce and DigitalSignature against the chain host-based setup
/// received: an RSA PKCS#1 v1.5 SHA-256 signature over
/// ConfigurationNonce ‖ McNonce by the leaf's key. Every attempt, good or
/// bad, uses up the nonce and the chain.
fn signed_by_provisioning_key(device: &Device, input: &Instance) -> Result<(), u32> {
    let progress = device.with_state(|s| {
        let progress = s.host_setup.clone();
        s.host_setup.restart();
        progress
    });
    if !progress.complete {
        return Err(setup_status::INVALID_STATE);
    }
    if input.int("SigningAlgorithm") != Some(RSA_SHA256) {
        return Err(setup_status::INVALID_PARAMETER);
    }
    let decode = |name: &str| {
        input
            .text(name)
            .and_then(|b64| BASE64.decode(b64.trim()).ok())
    };
    let mc_nonce = decode("McNonce")
        .filter(|n| n.len() == 20)
        .ok_or(setup_status::INVALID_PARAMETER)?;
    let signature = decode("DigitalSignature").ok_or(setup_status::INVALID_PARAMETER)?;
    let leaf = chain::leaf_public_key(&progress.chain[0]).ok_or(setup_status::AUTH_FAILED)?;
    let message = [progress.nonce.as_slice(), &mc_nonce].concat();
    if chain::verify_rsa_sha256(&leaf, &message, &signature) {
        Ok(())
    } else {
        tracing::warn!(device = %device.name, "host-based setup signature does not verify");
        Err(setup_status::AUTH_FAILED)
    }
}

/// AdminSetup: Pre-provisioning → admin control mode, proven by the
/// provisioning certificate's key.
fn admin_setup(device: &Device, _: &Instance, input: &Instance) -> Result<Instance, Fault> {
    const M: &str = "AdminSetup";
    if device.with_state(|s| s.nvram.setup.state) != ProvisioningState::Pre {
        return Ok(output(M, setup_status::INVALID_STATE));
    }
    let Some(ha1) = admin_password(input) else {
        return Ok(output(M, setup_status::INVALID_PARAMETER));
    };
    if let Err(rv) = signed_by_provisioning_key(device, input) {
        return Ok(output(M, rv));
    }
    device.activate(ControlMode::Admin, ha1);
    Ok(output(M, setup_status::SUCCESS))
}

/// UpgradeClientToAdmin: client control mode → admin control mode.
fn upgrade_client_to_admin(
    device: &Device,
    _: &Instance,
    input: &Instance,
) -> Result<Instance, Fault> {
    const M: &str = "UpgradeClientToAdmin";
    let ccm = device.with_state(|s| {
        s.nvram.setup
            == SetupState {
                state: ProvisioningState::Post,
                mode: ControlMode::Client,
            }
    });
    if !ccm {
        return Ok(output(M, setup_status::INVALID_STATE));
    }
    if let Err(rv) = signed_by_provisioning_key(device, input) {
        return Ok(output(M, rv));
    }
    device.with_state(|s| s.nvram.setup.mode = ControlMode::Admin);
    device.changed("IPS_HostBasedSetupService");
    Ok(output(M, setup_status::SUCCESS))
}
#[cfg(test)]
mod tests {
    use super::*;
    use amtemu_model::testing::device;

    #[test]
    fn both_services_report_the_same_state() {
        let d = device("11.8");
        assert_eq!(setup_service(&d)[0].int("ProvisioningMode"), Some(1));
        assert_eq!(setup_service(&d)[0].int("ProvisioningState"), Some(2));
        assert_eq!(
            host_based_setup_service(&d)[0].int("CurrentControlMode"),
            Some(2)
        );
        d.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        assert_eq!(setup_service(&d)[0].int("ProvisioningMode"), Some(4));
        assert_eq!(
            host_based_setup_service(&d)[0].int("CurrentControlMode"),
            Some(1)
        );
        let legacy = device("3.2.1");
        legacy.with_state(|s| s.nvram.setup.mode = ControlMode::Client);
        assert_eq!(setup_service(&legacy)[0].int("ProvisioningMode"), Some(2));
    }

    fn input(pairs: &[(&str, &str)]) -> Instance {
        pairs
            .iter()
            .fold(Instance::new("INPUT"), |i, (k, v)| i.with(k, *v))
    }

    fn call(
        f: fn(&Device, &Instance, &Instance) -> Result<Instance, Fault>,
        d: &Device,
        args: &[(&str, &str)],
    ) -> i64 {
        let target = Instance::new("target");
        f(d, &target, &input(args))
            .unwrap()
            .int("ReturnValue")
            .unwrap()
    }

    fn pre(firmware: &str) -> std::sync::Arc<Device> {
        let d = device(firmware);
        d.unprovision(Unprovisioning::Full);
        d
    }

    const HEX_HA1: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn setup_takes_only_a_digest_ha1_and_only_before_provisioning() {
        let d = pre("11.8");
        assert_eq!(
            call(
                setup,
                &d,
                &[
                    ("NetAdminPassEncryptionType", "1"),
                    ("NetworkAdminPassword", HEX_HA1)
                ]
            ),
            3,
            "another encryption type"
        );
        assert_eq!(
            call(
                setup,
                &d,
                &[
                    ("NetAdminPassEncryptionType", "2"),
                    ("NetworkAdminPassword", "zz")
                ]
            ),
            3,
            "not hex"
        );
        let ok = [
            ("NetAdminPassEncryptionType", "2"),
            ("NetworkAdminPassword", HEX_HA1),
        ];
        assert_eq!(call(setup, &d, &ok), 0);
        d.with_state(|s| {
            assert_eq!(s.nvram.setup.state, ProvisioningState::Post);
            assert_eq!(s.nvram.setup.mode, ControlMode::Client);
            assert_eq!(s.nvram.redirection.opt_in_required, 0xFFFF_FFFF);
            assert_eq!(
                amtemu_model::device::identity::hex_lower(&s.nvram.users.admin_ha1),
                HEX_HA1
            );
        });
        assert_eq!(call(setup, &d, &ok), 2, "already provisioned");
        // CCM cannot change the MEBx password.
        assert_eq!(
            call(set_mebx_password, &d, &[("Password", "Str0ng!Pass")]),
            16
        );
    }

    #[test]
    fn the_certificate_chain_must_start_with_a_leaf_and_be_readable() {
        let d = pre("11.8");
        assert_eq!(
            call(
                add_next_cert_in_chain,
                &d,
                &[("NextCertificate", "%%%"), ("IsLeafCertificate", "true")]
            ),
            1
        );
        let (ca, _) = amtemu_model::pki::self_signed_ca("some CA").unwrap();
        let der = BASE64.encode(&ca);
        assert_eq!(
            call(
                add_next_cert_in_chain,
                &d,
                &[
                    ("NextCertificate", &der),
                    ("IsLeafCertificate", "false"),
                    ("IsRootCertificate", "false")
                ]
            ),
            3,
            "no leaf yet"
        );
        let leaf = [
            ("NextCertificate", der.as_str()),
            ("IsLeafCertificate", "true"),
            ("IsRootCertificate", "false"),
        ];
        let middle = [
            ("NextCertificate", der.as_str()),
            ("IsLeafCertificate", "false"),
            ("IsRootCertificate", "false"),
        ];
        assert_eq!(call(add_next_cert_in_chain, &d, &leaf), 0);
        for _ in 1..MAX_CHAIN {
            assert_eq!(call(add_next_cert_in_chain, &d, &middle), 0);
        }
        assert_eq!(call(add_next_cert_in_chain, &d, &middle), 5, "too long");
        assert_eq!(d.with_state(|s| s.host_setup.status()), 0, "starts over");
        // A root that is not trusted ends the chain with a verify failure.
        let root = [
            ("NextCertificate", der.as_str()),
            ("IsLeafCertificate", "false"),
            ("IsRootCertificate", "true"),
        ];
        assert_eq!(call(add_next_cert_in_chain, &d, &leaf), 0);
        assert_eq!(call(add_next_cert_in_chain, &d, &root), 4);
        // A provisioned ACM device takes no chain.
        let acm = device("11.8");
        assert_eq!(call(add_next_cert_in_chain, &acm, &leaf), 3);
    }

    #[test]
    fn admin_setup_needs_a_complete_chain_and_well_formed_nonces() {
        let d = pre("11.8");
        let mut args = vec![
            ("NetAdminPassEncryptionType", "2"),
            ("NetworkAdminPassword", HEX_HA1),
            ("SigningAlgorithm", "2"),
            ("McNonce", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ("DigitalSignature", "AAAA"),
        ];
        assert_eq!(call(admin_setup, &d, &args), 2, "no chain");
        d.with_state(|s| {
            s.host_setup.chain = vec![vec![0]];
            s.host_setup.complete = true;
        });
        let nonce = d.with_state(|s| s.host_setup.nonce);
        args[2] = ("SigningAlgorithm", "1");
        assert_eq!(call(admin_setup, &d, &args), 3, "another algorithm");
        assert_ne!(
            d.with_state(|s| s.host_setup.nonce),
            nonce,
            "a fresh nonce per attempt"
        );
        assert_eq!(d.with_state(|s| s.host_setup.status()), 0);
        assert_eq!(
            d.with_state(|s| s.nvram.setup.state),
            ProvisioningState::Pre
        );
        assert_eq!(call(upgrade_client_to_admin, &d, &args), 2, "not in CCM");
    }

    #[test]
    fn admin_setup_refuses_malformed_nonces_signatures_and_leaves() {
        let d = pre("11.8");
        let attempt = |mc_nonce: &str, signature: &str| {
            d.with_state(|s| {
                s.host_setup.chain = vec![vec![0]];
                s.host_setup.complete = true;
            });
            call(
                admin_setup,
                &d,
                &[
                    ("NetAdminPassEncryptionType", "2"),
                    ("NetworkAdminPassword", HEX_HA1),
                    ("SigningAlgorithm", "2"),
                    ("McNonce", mc_nonce),
                    ("DigitalSignature", signature),
                ],
            )
        };
        let twenty = BASE64.encode([0u8; 20]);
        assert_eq!(attempt(&BASE64.encode([0u8; 19]), "AAAA"), 3, "19 bytes");
        assert_eq!(attempt(&BASE64.encode([0u8; 21]), "AAAA"), 3, "21 bytes");
        assert_eq!(attempt("not base64!", "AAAA"), 3, "McNonce not base64");
        assert_eq!(attempt(&twenty, "not base64!"), 3, "signature not base64");
        assert_eq!(attempt(&twenty, "AAAA"), 5, "a leaf that is not X.509");
        assert_eq!(
            d.with_state(|s| s.nvram.setup.state),
            ProvisioningState::Pre
        );
    }

    #[test]
    fn unprovision_returns_to_pre_and_clears_what_firmware_clears() {
        let d = device("11.8");
        d.with_state(|s| {
            s.nvram.provisioning.add_trusted_hash(
                "user",
                amtemu_model::device::HashAlgorithm::Sha256,
                vec![1; 32],
            );
            s.nvram.certs.add_certificate(vec![1, 2, 3], true);
            s.nvram.users.admin_is_default = false;
        });
        let defaults = d.with_state(|s| s.nvram.provisioning.trusted_hashes.len()) - 1;
        assert_eq!(call(unprovision, &d, &[("ProvisioningMode", "3")]), 36);
        assert_eq!(call(unprovision, &d, &[("ProvisioningMode", "1")]), 0);
        d.with_state(|s| {
            assert_eq!(s.nvram.setup.state, ProvisioningState::Pre);
            assert_eq!(s.nvram.provisioning.trusted_hashes.len(), defaults);
            assert!(s.nvram.certs.certificates.is_empty());
            assert!(s.nvram.users.admin_is_default);
            assert!(s.nvram.general.host_name.is_empty());
            assert!(!s.nvram.tls.remote.enabled);
        });
        assert_eq!(
            call(unprovision, &d, &[("ProvisioningMode", "1")]),
            16,
            "nothing to undo"
        );
        assert_eq!(call(commit_changes, &d, &[]), 0);
        assert_eq!(
            d.with_state(|s| s.nvram.setup.state),
            ProvisioningState::Pre,
            "commit does not provision"
        );
    }

    #[test]
    fn a_commit_from_setup_applies_everything_or_nothing() {
        let d = device("11.8");
        d.with_state(|s| s.nvram.setup.state = ProvisioningState::In);
        let mut tls = amtemu_model::device::commit::factory_tls();
        tls.remote.enabled = true;
        d.with_state(|s| s.nvram.pending_tls = Some(tls.clone()));
        assert_eq!(call(commit_changes, &d, &[]), 36);
        d.with_state(|s| {
            assert_eq!(s.nvram.setup.state, ProvisioningState::In);
            assert_eq!(s.nvram.pending_tls.as_ref(), Some(&tls), "still staged");
        });
        tls.remote.enabled = false;
        d.with_state(|s| s.nvram.pending_tls = Some(tls.clone()));
        assert_eq!(call(commit_changes, &d, &[]), 0);
        d.with_state(|s| {
            assert_eq!(s.nvram.setup.state, ProvisioningState::Post);
            assert_eq!(s.nvram.tls, tls);
        });
    }

    #[test]
    fn completing_provisioning_is_audited_and_nothing_else_is() {
        use amtemu_model::device::audit::{EventId, PolicyType};
        let completed = |d: &Device| {
            d.with_state(|s| {
                s.nvram
                    .audit_log
                    .records()
                    .iter()
                    .filter(|r| {
                        let id = EventId::PROVISIONING_COMPLETED;
                        (r.app, r.event) == (id.app, id.event)
                    })
                    .count()
            })
        };
        let audited = |d: &Device| {
            d.with_state(|s| {
                s.nvram
                    .audit_log
                    .set_policy(EventId::PROVISIONING_COMPLETED, Some(PolicyType::Alert))
            })
            .unwrap();
        };
        let d = device("11.8");
        audited(&d);
        assert_eq!(call(commit_changes, &d, &[]), 0);
        assert_eq!(completed(&d), 0, "a commit on a provisioned device");
        d.with_state(|s| s.nvram.setup.state = ProvisioningState::In);
        let mut tls = amtemu_model::device::commit::factory_tls();
        tls.remote.enabled = true;
        d.with_state(|s| s.nvram.pending_tls = Some(tls));
        assert_eq!(call(commit_changes, &d, &[]), 36);
        assert_eq!(completed(&d), 0, "a refused commit");
        let off = amtemu_model::device::commit::factory_tls();
        d.with_state(|s| s.nvram.pending_tls = Some(off));
        assert_eq!(call(commit_changes, &d, &[]), 0);
        assert_eq!(completed(&d), 1, "the commit that ends setup");

        let d = pre("11.8");
        audited(&d);
        let ha1 = [
            ("NetAdminPassEncryptionType", "2"),
            ("NetworkAdminPassword", HEX_HA1),
        ];
        assert_eq!(call(setup, &d, &ha1), 0);
        assert_eq!(completed(&d), 1, "host-based setup");
        assert_eq!(call(setup, &d, &ha1), 2);
        assert_eq!(completed(&d), 1, "a refused setup");
    }

    #[test]
    fn the_setup_service_methods_check_their_state_and_arguments() {
        let d = device("11.8");
        assert_eq!(
            call(extend_provisioning_period, &d, &[("Duration", "6")]),
            16
        );
        d.with_state(|s| s.nvram.setup.state = ProvisioningState::In);
        assert_eq!(
            call(extend_provisioning_period, &d, &[("Duration", "0")]),
            36
        );
        assert_eq!(
            call(extend_provisioning_period, &d, &[("Duration", "6")]),
            0
        );
        assert_eq!(call(set_mebx_password, &d, &[("Password", "weak")]), 2054);
        assert_eq!(
            call(set_mebx_password, &d, &[("Password", "Str0ng!Pass")]),
            0
        );
        // The OTP shows only while In.
        d.with_state(|s| s.nvram.provisioning.otp = Some("one-time-pass".into()));
        assert!(setup_service(&d)[0].get("ProvisioningServerOTP").is_some());
        d.with_state(|s| s.nvram.setup.state = ProvisioningState::Post);
        assert!(setup_service(&d)[0].get("ProvisioningServerOTP").is_none());
        // PartialUnprovision exists on legacy firmware only, and keeps the
        // administrator.
        assert!(
            CLASSES[0]
                .method("PartialUnprovision", d.firmware)
                .is_none()
        );
        let legacy = device("5.2");
        let admin = legacy.with_state(|s| s.nvram.users.admin_ha1);
        assert_eq!(call(partial_unprovision, &legacy, &[]), 0);
        legacy.with_state(|s| {
            assert_eq!(s.nvram.setup.state, ProvisioningState::Pre);
            assert_eq!(s.nvram.users.admin_ha1, admin);
        });
    }
}
