//! The expectations: what each `[[expect]]` checks, when, and on which
//! devices.

use std::time::Duration;

use super::groups::Devices;
use super::raw::RawExpect;
use super::source::{Checked, KeyPath, problem};
use super::values::{at_within, check_share};
use crate::scenario::{Check, Expectation, PowerWant};

pub(super) fn expectations(
    raw: &[RawExpect],
    duration: Option<Duration>,
    devices: &Devices,
) -> Checked<Vec<Expectation>> {
    let mut expectations = Vec::new();
    for (xi, x) in raw.iter().enumerate() {
        let path = KeyPath::root().k("expect").i(xi);
        let at = match &x.at {
            Some(text) => Some(at_within(&path.k("at"), text, duration)?),
            None => None,
        };
        let check = check(&path, x)?;
        let share = match x.share {
            None => 1.0,
            Some(s) => check_share(&path.k("share"), s, true)?,
        };
        let (devices, scope) = scope(&path, x, devices)?;
        expectations.push(Expectation {
            index: xi,
            name: x.name.clone(),
            at,
            devices,
            scope,
            share,
            check,
        });
    }
    Ok(expectations)
}

/// The one thing an expectation checks.
fn check(path: &KeyPath, x: &RawExpect) -> Checked<Check> {
    let mut kinds = Vec::new();
    if let Some(text) = &x.power {
        let want = PowerWant::parse(text).ok_or_else(|| {
            problem(
                &path.k("power"),
                format!("unknown power state {text:?} (on, off, s0, s3, s4, s5, g3)"),
            )
        })?;
        kinds.push(Check::Power(want));
    }
    if let Some(b) = x.provisioned {
        kinds.push(Check::Provisioned(b));
    }
    if let Some(b) = x.responds {
        kinds.push(Check::Responds(b));
    }
    if let Some(b) = x.saw_power_on {
        kinds.push(Check::SawPowerOn(b));
    }
    if let Some(n) = x.hellos_delivered {
        kinds.push(Check::HellosDelivered(n));
    }
    match kinds.len() {
        1 => Ok(kinds.remove(0)),
        0 => Err(problem(
            path,
            "an expectation needs one of power, provisioned, responds, saw-power-on, hellos_delivered",
        )),
        _ => Err(problem(
            path,
            "an expectation checks one thing: use one of power, provisioned, responds, saw-power-on, hellos_delivered per [[expect]]",
        )),
    }
}

/// The devices an expectation is about, and how the report names them.
fn scope(path: &KeyPath, x: &RawExpect, devices: &Devices) -> Checked<(Vec<usize>, String)> {
    Ok(match (&x.group, &x.device) {
        (_, Some(host)) => {
            let group = match &x.group {
                Some(g) => Some(devices.group(&path.k("group"), g)?),
                None => None,
            };
            let d = devices.device(&path.k("device"), host, group)?;
            (vec![d], format!("device {host}"))
        }
        (Some(g), None) => {
            let g = devices.group(&path.k("group"), g)?;
            (
                devices.groups[g].members.clone(),
                format!("group {}", devices.groups[g].name),
            )
        }
        (None, None) => ((0..devices.specs.len()).collect(), "the fleet".to_string()),
    })
}
