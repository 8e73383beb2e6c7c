use super::*;
use amtemu_model::device::commit::MAX_CHAIN;
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
    assert_eq!(d.host_setup_report().chain_status, 0, "starts over");
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
        s.host_setup.accepted = Some(some_chain());
    });
    let nonce = d.host_setup_report().nonce;
    args[2] = ("SigningAlgorithm", "1");
    assert_eq!(call(admin_setup, &d, &args), 3, "another algorithm");
    assert_ne!(
        d.host_setup_report().nonce,
        nonce,
        "a fresh nonce per attempt"
    );
    assert_eq!(d.host_setup_report().chain_status, 0);
    assert_eq!(d.setup_state().state, ProvisioningState::Pre);
    assert_eq!(call(upgrade_client_to_admin, &d, &args), 2, "not in CCM");
}

#[test]
fn admin_setup_refuses_malformed_nonces_signatures_and_leaves() {
    let d = pre("11.8");
    let attempt = |mc_nonce: &str, signature: &str| {
        d.with_state(|s| {
            s.host_setup.chain = vec![vec![0]];
            s.host_setup.accepted = Some(some_chain());
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
    assert_eq!(d.setup_state().state, ProvisioningState::Pre);
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
        d.setup_state().state,
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

/// A chain as if AddNextCertInChain had accepted it (its leaf unreadable).
fn some_chain() -> amtemu_model::device::provisioning_record::ChainSeen {
    amtemu_model::device::provisioning_record::ChainSeen {
        common_name: "prov.vpro.test".into(),
        hash_algorithm: amtemu_model::device::HashAlgorithm::Sha256,
        root_hash: vec![0; 32],
        root_is_default: false,
        ca_serials: Vec::new(),
        secure_dns: false,
    }
}
