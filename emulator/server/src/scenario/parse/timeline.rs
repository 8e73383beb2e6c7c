//! The timeline: each event's time, action, fault plan and the devices it
//! is for.

use super::fleet::FleetSettings;
use super::groups::Devices;
use super::raw::RawEvent;
use super::source::{Checked, KeyPath, problem};
use super::unsupported::unsupported_action;
use super::values::{at_within, check_plan, check_share, seeded_pick, share_count};
use crate::faults::FaultPlan;
use crate::scenario::{Action, Event, Target};

pub(super) fn timeline(
    raw: &[RawEvent],
    fleet: &FleetSettings,
    devices: &Devices,
) -> Checked<Vec<Event>> {
    let mut timeline = Vec::new();
    for (ei, e) in raw.iter().enumerate() {
        let path = KeyPath::root().k("timeline").i(ei);
        let at = at_within(&path.k("at"), &e.at, fleet.duration)?;
        let action = action(&path, &e.action)?;
        let plan = plan(&path, action, e.plan.as_ref())?;
        let target = select(&path, &fleet.seed, &format!("timeline/{ei}"), e, devices)?;
        timeline.push(Event {
            index: ei,
            at,
            action,
            plan,
            target,
        });
    }
    Ok(timeline)
}

fn action(path: &KeyPath, text: &str) -> Checked<Action> {
    match Action::parse(text) {
        Some(a) => Ok(a),
        None => {
            if let Some(why) = unsupported_action(text) {
                return Err(problem(
                    &path.k("action"),
                    format!("not supported yet: action {text:?}: {why}"),
                ));
            }
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
            Err(problem(
                &path.k("action"),
                format!("unknown action {text:?} (known: {})", known.join(", ")),
            ))
        }
    }
}

/// The fault plan an event puts on: given with action "fault", and only
/// with it.
fn plan(path: &KeyPath, action: Action, plan: Option<&FaultPlan>) -> Checked<Option<FaultPlan>> {
    match (action, plan) {
        (Action::Fault, Some(plan)) => {
            check_plan(&path.k("plan"), plan)?;
            Ok(Some(plan.clone()))
        }
        (Action::Fault, None) => Err(problem(
            path,
            "action \"fault\" needs a plan table, e.g. plan = { latency_ms = [100, 400] }",
        )),
        (_, Some(_)) => Err(problem(
            &path.k("plan"),
            format!(
                "only action \"fault\" takes a plan (this is {:?})",
                action.name()
            ),
        )),
        (_, None) => Ok(None),
    }
}

/// The devices a timeline event is for.
fn select(
    path: &KeyPath,
    seed: &str,
    what: &str,
    e: &RawEvent,
    devices: &Devices,
) -> Checked<Target> {
    let given = [e.device.is_some(), e.share.is_some(), e.count.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(problem(
            path,
            "choose the devices with one of device, share or count",
        ));
    }
    let group_index = match &e.group {
        Some(g) => Some(devices.group(&path.k("group"), g)?),
        None => None,
    };
    let pool: Vec<usize> = match group_index {
        Some(g) => devices.groups[g].members.clone(),
        None => (0..devices.specs.len()).collect(),
    };
    let scope = match group_index {
        Some(g) => format!("group {}", devices.groups[g].name),
        None => "the fleet".to_string(),
    };
    if let Some(host) = &e.device {
        let d = devices.device(&path.k("device"), host, group_index)?;
        return Ok(Target {
            description: format!("device {host}"),
            devices: vec![d],
        });
    }
    if let Some(share) = e.share {
        let share = check_share(&path.k("share"), share, false)?;
        let n = share_count(share, pool.len());
        return Ok(Target {
            description: format!("{n} of {scope} ({}%)", share * 100.0),
            devices: seeded_pick(seed, what, &pool, n),
        });
    }
    if let Some(count) = e.count {
        let n = count as usize;
        if n == 0 || n > pool.len() {
            return Err(problem(
                &path.k("count"),
                format!("count must be 1 to {} (the size of {scope})", pool.len()),
            ));
        }
        return Ok(Target {
            description: format!("{n} of {scope}"),
            devices: seeded_pick(seed, what, &pool, n),
        });
    }
    Ok(Target {
        description: format!("all of {scope}"),
        devices: pool,
    })
}
