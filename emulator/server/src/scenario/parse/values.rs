//! Values checked beyond their type: durations and times, seeded picks and
//! shares, fault plans, firmware names, host-name labels, console scripts.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::source::{Checked, KeyPath, problem};
use crate::faults::FaultPlan;
use amtemu_model::device::Firmware;

/// Parses `30s`, `10m`, `500ms`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "bad duration {text:?}: expected a number and a unit (ms, s, m, h), e.g. \"30s\", \"10m\", \"1m30s\""
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// `1500ms` → "1.5s", `90s` → "1m30s".
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return if ms < 1000 {
            format!("{ms}ms")
        } else {
            format!("{}s", ms as f64 / 1000.0)
        };
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// FNV-1a: a stable hash, so a seed selects the same devices on every
/// platform and Rust version.
fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `amount` of `from`, chosen by a generator seeded with `seed` and `what`;
/// returned in fleet order.
pub(super) fn seeded_pick(seed: &str, what: &str, from: &[usize], amount: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(stable_hash(&format!("{seed}/{what}")));
    let amount = amount.min(from.len());
    let mut picked: Vec<usize> = rand::seq::index::sample(&mut rng, from.len(), amount)
        .into_iter()
        .map(|i| from[i])
        .collect();
    picked.sort_unstable();
    picked
}

pub(super) fn share_count(share: f64, of: usize) -> usize {
    ((share * of as f64).round() as usize).min(of)
}

pub(super) fn check_share(path: &KeyPath, share: f64, allow_zero: bool) -> Checked<f64> {
    let ok = if allow_zero {
        (0.0..=1.0).contains(&share)
    } else {
        share > 0.0 && share <= 1.0
    };
    if ok {
        Ok(share)
    } else {
        let range = if allow_zero {
            "0 to 1"
        } else {
            "above 0, at most 1"
        };
        Err(problem(
            path,
            format!("share must be a fraction {range} (0.2 is 20%), not {share}"),
        ))
    }
}

pub(super) fn check_plan(path: &KeyPath, plan: &FaultPlan) -> Checked<()> {
    if !(0.0..=1.0).contains(&plan.reset_probability) {
        return Err(problem(
            &path.k("reset_probability"),
            format!(
                "must be a probability from 0 to 1, not {}",
                plan.reset_probability
            ),
        ));
    }
    if let Some(status) = plan.http_error
        && !(100..=599).contains(&status)
    {
        return Err(problem(
            &path.k("http_error"),
            format!("{status} is not an HTTP status (100..=599)"),
        ));
    }
    Ok(())
}

pub(super) fn firmware_named(path: &KeyPath, name: &str) -> Checked<&'static Firmware> {
    Firmware::by_name(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = Firmware::all().iter().map(|f| f.name).collect();
        problem(
            path,
            format!("unknown firmware {name:?} (known: {})", known.join(", ")),
        )
    })
}

pub(super) fn valid_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// A group's console script: a TOML file's path (relative to the
/// scenario's directory) or an inline table.
pub(super) fn console_script(
    path: &KeyPath,
    value: &toml::Value,
    file_name: &str,
) -> Checked<amtemu_model::host::ConsoleScript> {
    use amtemu_model::host::ConsoleScript;
    let script = match value {
        toml::Value::String(file) => {
            let dir = std::path::Path::new(file_name)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            ConsoleScript::load(&dir.join(file))
        }
        toml::Value::Table(_) => value
            .clone()
            .try_into::<ConsoleScript>()
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a console script file's path or an inline table, found {}",
            other.type_str()
        )),
    };
    script.map_err(|message| problem(path, message))
}

/// A time of the timeline: a duration, no later than the scenario's end.
pub(super) fn at_within(
    path: &KeyPath,
    text: &str,
    duration: Option<Duration>,
) -> Checked<Duration> {
    let at = parse_duration(text).map_err(|m| problem(path, m))?;
    if let Some(d) = duration
        && at > d
    {
        return Err(problem(
            path,
            format!(
                "{text:?} is after the scenario ends (fleet.duration = {})",
                format_duration(d)
            ),
        ));
    }
    Ok(at)
}
