use super::*;
use crate::testing::device;

fn mps(address: &str) -> NewMpServer {
    NewMpServer {
        address: address.into(),
        format: MpsAddressFormat::Fqdn,
        port: 4433,
        auth: MpsAuth::Password {
            username: "0123456789abcdef".into(),
            password: "Secret-1".into(),
        },
        common_name: address.into(),
    }
}

fn periodic(seconds: u32) -> Vec<u8> {
    let mut data = 0u32.to_be_bytes().to_vec();
    data.extend(seconds.to_be_bytes());
    data
}

#[test]
fn a_configured_device_outside_the_enterprise_plans_a_periodic_tunnel() {
    let d = device("11.8");
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));
    let name = d.add_mp_server(mps("mps.example")).unwrap();
    assert_eq!(name, "Intel(r) AMT:Management Presence Server 0");
    d.add_policy_rule(
        Trigger::Periodic,
        0,
        periodic(10),
        std::slice::from_ref(&name),
    )
    .unwrap();
    // No detection strings: the device counts itself inside.
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));
    d.set_detection_strings(vec!["a1b2c3".into()]).unwrap();
    let plan = d.cira_plan(false).unwrap();
    assert_eq!(plan.server.address, "mps.example");
    assert_eq!(plan.trigger, Trigger::Periodic);
    assert_eq!(plan.lifetime, None);
    assert_eq!(plan.retry_interval, 10);
    // Its own DHCP domain (vpro.test) listed: inside again.
    d.set_detection_strings(vec!["vpro.test".into()]).unwrap();
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));
    d.set_detection_strings(vec!["test".into()]).unwrap();
    assert_eq!(d.cira_plan(false), Err(NoCira::Inside));
}

#[test]
fn user_initiated_needs_the_service_enabled_and_its_rule() {
    let d = device("11.8");
    let name = d.add_mp_server(mps("mps.example")).unwrap();
    d.set_detection_strings(vec!["elsewhere.example".into()])
        .unwrap();
    assert_eq!(d.cira_plan(true), Err(NoCira::UserInitiatedDisabled));
    d.set_user_initiated(UserInitiated::BiosAndOs).unwrap();
    assert_eq!(d.cira_plan(true), Err(NoCira::NoPolicy));
    d.add_policy_rule(Trigger::UserInitiated, 300, vec![], &[name])
        .unwrap();
    let plan = d.cira_plan(true).unwrap();
    assert_eq!(plan.trigger, Trigger::UserInitiated);
    assert_eq!(plan.lifetime, Some(300));
    assert_eq!(d.cira_plan(false), Err(NoCira::NoPolicy));
}

#[test]
fn bad_servers_and_rules_are_refused_and_change_nothing() {
    let d = device("11.8");
    let before = d.remote_access();
    let mut bad = mps("not an fqdn");
    assert_eq!(
        d.add_mp_server(bad.clone()),
        Err(RemoteAccessRefusal::Invalid)
    );
    bad = mps("mps.example");
    bad.format = MpsAddressFormat::Ipv4;
    assert_eq!(d.add_mp_server(bad), Err(RemoteAccessRefusal::Invalid));
    let mut long_user = mps("mps.example");
    long_user.auth = MpsAuth::Password {
        username: "x".repeat(17),
        password: "p".into(),
    };
    assert_eq!(
        d.add_mp_server(long_user),
        Err(RemoteAccessRefusal::Invalid)
    );
    let mut no_cert = mps("mps.example");
    no_cert.auth = MpsAuth::MutualTls { certificate: 9 };
    assert_eq!(d.add_mp_server(no_cert), Err(RemoteAccessRefusal::Invalid));
    assert_eq!(
        d.add_policy_rule(Trigger::Periodic, 0, vec![], &["nope".into()]),
        Err(RemoteAccessRefusal::Invalid)
    );
    assert_eq!(d.remote_access(), before);

    let name = d.add_mp_server(mps("mps.example")).unwrap();
    assert_eq!(
        d.add_mp_server(mps("MPS.example")),
        Err(RemoteAccessRefusal::Duplicate)
    );
    d.add_policy_rule(Trigger::Periodic, 0, vec![], std::slice::from_ref(&name))
        .unwrap();
    assert_eq!(
        d.add_policy_rule(Trigger::Periodic, 0, vec![], std::slice::from_ref(&name)),
        Err(RemoteAccessRefusal::Duplicate)
    );
    for i in 1..MAX_MP_SERVERS {
        d.add_mp_server(mps(&format!("mps{i}.example"))).unwrap();
    }
    assert_eq!(
        d.add_mp_server(mps("one-more.example")),
        Err(RemoteAccessRefusal::Full)
    );
}

#[test]
fn deleting_a_server_takes_the_rules_left_without_one() {
    let d = device("11.8");
    let a = d.add_mp_server(mps("a.example")).unwrap();
    let b = d.add_mp_server(mps("b.example")).unwrap();
    d.add_policy_rule(Trigger::Periodic, 0, vec![], &[a.clone(), b.clone()])
        .unwrap();
    d.add_policy_rule(Trigger::Alert, 0, vec![], std::slice::from_ref(&a))
        .unwrap();
    d.delete_mp_server(&a).unwrap();
    let ra = d.remote_access();
    assert_eq!(ra.rules.len(), 1);
    assert_eq!(ra.rules[0].servers, vec![(1, MpsType::External)]);
    assert_eq!(d.delete_mp_server(&a), Err(RemoteAccessRefusal::NotFound));
    // The freed number is used again.
    assert_eq!(d.add_mp_server(mps("c.example")).unwrap(), a);
    d.delete_policy_rule(Trigger::Periodic).unwrap();
    assert_eq!(
        d.delete_policy_rule(Trigger::Periodic),
        Err(RemoteAccessRefusal::NotFound)
    );
}

#[test]
fn credentials_and_mps_type_change_in_place() {
    let d = device("11.8");
    let a = d.add_mp_server(mps("a.example")).unwrap();
    d.add_policy_rule(Trigger::Periodic, 0, vec![], std::slice::from_ref(&a))
        .unwrap();
    d.set_mps_credentials(&a, Some("user".into()), Some("pass".into()))
        .unwrap();
    assert_eq!(
        d.remote_access().servers[0].auth,
        MpsAuth::Password {
            username: "user".into(),
            password: "pass".into()
        }
    );
    assert_eq!(
        d.set_mps_credentials(&a, Some(String::new()), None),
        Err(RemoteAccessRefusal::Invalid)
    );
    d.set_detection_strings(vec!["x.example".into()]).unwrap();
    d.set_mps_type(Trigger::Periodic, &a, MpsType::Internal)
        .unwrap();
    assert_eq!(d.cira_plan(false), Err(NoCira::NoPolicy));
}

#[test]
fn old_firmware_has_no_remote_access() {
    let d = device("3.2.1");
    assert_eq!(
        d.add_mp_server(mps("a.example")),
        Err(RemoteAccessRefusal::Unsupported)
    );
    assert_eq!(d.cira_plan(false), Err(NoCira::Unsupported));
}

#[test]
fn the_configuration_survives_a_save() {
    let d = device("11.8");
    let a = d.add_mp_server(mps("a.example")).unwrap();
    d.add_policy_rule(Trigger::Periodic, 0, periodic(30), &[a])
        .unwrap();
    let json = serde_json::to_string(&d.nvram()).unwrap();
    let back: crate::device::Nvram = serde_json::from_str(&json).unwrap();
    assert_eq!(back.remote_access, d.remote_access());
}
