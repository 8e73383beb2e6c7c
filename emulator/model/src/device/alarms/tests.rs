use std::time::Duration;

use super::*;
use crate::device::power_policy::MePowerPolicy;
use crate::testing::device;

fn alarm(id: &str, start: u64) -> Alarm {
    Alarm {
        id: id.into(),
        element_name: id.into(),
        start,
        interval_minutes: None,
        delete_on_completion: false,
        spent: false,
    }
}

async fn off(d: &Device) {
    assert!(d.os_shutdown());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S5);
}

fn now(d: &Device) -> u64 {
    u64::from(d.clock())
}

#[tokio::test(start_paused = true)]
async fn a_due_alarm_powers_the_host_on_and_repeats() {
    let d = device("11.8");
    off(&d).await;
    let t = now(&d) + 600;
    d.add_alarm(Alarm {
        interval_minutes: Some(60),
        ..alarm("daily", t)
    })
    .unwrap();
    // Not yet due: nothing happens.
    d.with_state(|_| ());
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S5);
    // The ME clock passes the alarm: the host comes up.
    d.set_clock((t + 1) as u32);
    d.with_state(|_| ());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S0);
    // It moved on by its interval.
    assert_eq!(d.alarms()[0].start, t + 3600);
}

#[tokio::test(start_paused = true)]
async fn one_shot_alarms_are_deleted_or_kept_spent() {
    let d = device("11.8");
    let t = now(&d) + 60;
    d.add_alarm(Alarm {
        delete_on_completion: true,
        ..alarm("gone", t)
    })
    .unwrap();
    d.add_alarm(alarm("kept", t)).unwrap();
    d.set_clock((t + 5) as u32);
    let alarms = d.alarms();
    assert_eq!(alarms.len(), 1);
    assert!(alarms[0].spent && alarms[0].id == "kept");
    // A running host stays as it is.
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S0);
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_me_misses_the_alarm() {
    let d = device("11.8");
    d.set_power_policy(MePowerPolicy::S0Only).unwrap();
    off(&d).await;
    let t = now(&d) + 60;
    d.add_alarm(alarm("a", t)).unwrap();
    d.set_clock((t + 5) as u32);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S5);
}

#[tokio::test(start_paused = true)]
async fn firmware_without_the_alarm_clock_never_rings() {
    let d = device("7.0");
    off(&d).await;
    let t = now(&d) + 60;
    d.add_alarm(alarm("a", t)).unwrap();
    d.set_clock((t + 5) as u32);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(d.with_state(|s| s.power.state()), HostPower::S5);
}

#[test]
fn refusals_change_nothing() {
    let d = device("11.8");
    for i in 0..MAX_ALARMS {
        d.add_alarm(alarm(&format!("a{i}"), 2_000_000_000)).unwrap();
    }
    let before = d.alarms();
    let cases = [
        (alarm("a6", 1), AlarmRefusal::TooMany),
        (alarm("a0", 1), AlarmRefusal::Duplicate),
        (alarm("", 1), AlarmRefusal::BadName),
        (alarm(&"x".repeat(33), 1), AlarmRefusal::BadName),
        (
            Alarm {
                interval_minutes: Some(0),
                ..alarm("z", 1)
            },
            AlarmRefusal::BadInterval,
        ),
    ];
    for (a, refusal) in cases {
        assert_eq!(d.add_alarm(a), Err(refusal));
    }
    assert_eq!(d.delete_alarm("nope"), Err(AlarmRefusal::NoSuchAlarm));
    assert_eq!(d.alarms(), before);
    d.delete_alarm("a0").unwrap();
    assert_eq!(d.alarms().len(), MAX_ALARMS - 1);
}
