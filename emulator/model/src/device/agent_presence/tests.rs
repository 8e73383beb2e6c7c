//! Watchdogs fed by the simulated host's agent, expiring when it stops,
//! with the clock paused so nothing here waits in real time.

use std::time::Duration;

use super::*;
use crate::device::defense::{DefaultAction, Policy};
use crate::testing::device;

const ID: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn isolate(d: &Device) -> u32 {
    d.add_policy(Policy {
        handle: 0,
        name: "isolate".into(),
        precedence: 1,
        anti_spoofing: 0,
        filters: Vec::new(),
        tx: DefaultAction {
            drop: true,
            ..DefaultAction::default()
        },
        rx: DefaultAction {
            drop: true,
            ..DefaultAction::default()
        },
    })
    .unwrap()
}

fn state(d: &Device) -> WatchdogState {
    d.watchdogs()[0].state
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_expires_after_the_agent_stops_and_its_action_happens() {
    let d = device("11.8");
    let policy = isolate(&d);
    d.create_watchdog(Watchdog::new(ID, "antivirus", 10, 60))
        .unwrap();
    let running_to_expired = WatchdogState::Running.code();
    let expired = WatchdogState::Expired.code();
    d.add_watchdog_action(ID, running_to_expired, expired, true, Some(policy))
        .unwrap();
    let logged = d.message_log_status().0;

    assert!(d.set_host_agent(true));
    assert_eq!(state(&d), WatchdogState::Running);
    // A running agent keeps it fed however long it runs, with no timer.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(state(&d), WatchdogState::Running);
    assert_eq!(d.with_state(|s| s.agent.timer), None);

    let mut events = d.subscribe();
    assert!(d.set_host_agent(false));
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(state(&d), WatchdogState::Running);
    // Nobody touches the device now: the timer alone expires it.
    let mut heard = false;
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        heard |= e == DeviceEvent::SettingsChanged("agent presence");
    }
    assert!(heard, "no change announced when the watchdog expired");
    assert_eq!(state(&d), WatchdogState::Expired);
    assert_eq!(d.message_log_status().0, logged + 1);
    let defense = d.defense();
    assert_eq!(defense.active(0), Some(policy));
    assert_eq!(defense.active(1), Some(policy));
    // Switched on, it has statistics on both interfaces from now on.
    assert_eq!(defense.statistics(0).map(|s| s.policy), Some(policy));
    assert_eq!(defense.statistics(1).map(|s| s.policy), Some(policy));

    // The agent comes back: running again, the policy goes off.
    d.set_host_agent(true);
    assert_eq!(state(&d), WatchdogState::Running);
    assert_eq!(d.defense().active(0), None);
    assert!(d.defense().stats.is_empty());
}

#[tokio::test(start_paused = true)]
async fn timers_stand_still_outside_s0_and_a_boot_gives_the_agent_its_startup_time() {
    let d = device("11.8");
    d.create_watchdog(Watchdog::new(ID, "", 10, 30)).unwrap();
    d.register_agent(ID).unwrap();
    assert!(d.os_shutdown());
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(state(&d), WatchdogState::Running, "expired while off");

    d.request_power(crate::device::PowerRequest::On).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(state(&d), WatchdogState::NotStarted);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(state(&d), WatchdogState::Expired);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_count_up_and_a_shutdown_stops_the_count() {
    let d = device("11.8");
    d.create_watchdog(Watchdog::new(ID, "", 10, 0)).unwrap();
    assert_eq!(
        d.assert_presence(ID, 1),
        Err(WatchdogRefusal::NotRegistered)
    );
    assert_eq!(d.register_agent(ID), Ok(0));
    for n in 1..=5 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        d.assert_presence(ID, n).unwrap();
    }
    assert_eq!(d.assert_presence(ID, 5), Err(WatchdogRefusal::BadSequence));
    assert_eq!(
        d.assert_presence("nobody", 6),
        Err(WatchdogRefusal::NoSuchWatchdog)
    );
    assert_eq!(state(&d), WatchdogState::Running);
    d.assert_shutdown(ID, 6).unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(state(&d), WatchdogState::Stopped);
}

#[test]
fn bad_watchdogs_and_actions_are_refused_and_change_nothing() {
    let d = device("11.8");
    d.create_watchdog(Watchdog::new(ID, "", 10, 0)).unwrap();
    let before = d.watchdogs();
    for (w, refusal) in [
        (Watchdog::new(ID, "", 10, 0), WatchdogRefusal::Duplicate),
        (Watchdog::new("", "", 10, 0), WatchdogRefusal::BadId),
        (Watchdog::new("x", "", 0, 0), WatchdogRefusal::BadInterval),
        (
            Watchdog::new(&"x".repeat(MAX_DEVICE_ID + 1), "", 10, 0),
            WatchdogRefusal::BadId,
        ),
    ] {
        assert_eq!(d.create_watchdog(w), Err(refusal));
    }
    for (old, new, policy, refusal) in [
        (0, 8, None, WatchdogRefusal::BadStates),
        (4, 0x20, None, WatchdogRefusal::BadStates),
        (4, 8, Some(7), WatchdogRefusal::NoSuchPolicy),
    ] {
        assert_eq!(
            d.add_watchdog_action(ID, old, new, false, policy),
            Err(refusal)
        );
    }
    assert_eq!(
        d.add_watchdog_action("nobody", 4, 8, false, None),
        Err(WatchdogRefusal::NoSuchWatchdog)
    );
    assert_eq!(d.watchdogs(), before);
}

#[test]
fn a_device_without_watchdogs_arms_nothing() {
    let d = device("11.8");
    d.set_host_agent(true);
    d.set_host_agent(false);
    assert_eq!(d.with_state(|s| s.agent.timer), None);
    assert!(!d.firmware.has(Feature::AgentPresence) || d.watchdogs().is_empty());
}

#[test]
fn a_policy_named_by_an_action_cannot_be_deleted() {
    let d = device("11.8");
    let policy = isolate(&d);
    d.create_watchdog(Watchdog::new(ID, "", 10, 0)).unwrap();
    d.add_watchdog_action(ID, 4, 8, false, Some(policy))
        .unwrap();
    assert_eq!(
        d.delete_policy(policy),
        Err(crate::device::defense::DefenseRefusal::InUse)
    );
    d.delete_watchdog_actions(ID).unwrap();
    d.delete_policy(policy).unwrap();
}
