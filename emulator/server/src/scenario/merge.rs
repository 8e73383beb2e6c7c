//! Joining the reports of a sharded run (`amtemu scenario merge`): the
//! shards of one scenario, each exactly once, become the report the whole
//! fleet would have given. Expectations are decided again on the summed
//! counts, since a share can hold over the fleet and not in one shard.

use super::report::{Report, ShardReport};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("no reports to merge")]
    Empty,
    #[error("report {0} is of another run: {1}")]
    Mismatch(usize, String),
    #[error("shards {0} and {1} overlap (devices {2}..{3})")]
    Overlap(String, String, usize, usize),
    #[error("devices {0}..{1} of {2} are in no report (shard missing?)")]
    Missing(usize, usize, usize),
}

/// The shard a report had; an unsharded report is shard 0 of 1.
fn shard_of(report: &Report) -> ShardReport {
    report.shard.clone().unwrap_or(ShardReport {
        index: 0,
        count: 1,
        first_device: 0,
        end_device: report.devices,
        fleet_devices: report.devices,
    })
}

impl Report {
    /// Joins shard reports of one scenario run into one; fails when they
    /// are of different scenarios, seeds or shard counts, when two cover
    /// the same devices, or when devices of the fleet are in none.
    pub fn merge(mut reports: Vec<Report>) -> Result<Report, MergeError> {
        reports.sort_by_key(|r| shard_of(r).first_device);
        let first = reports.first().ok_or(MergeError::Empty)?.clone();
        let whole = shard_of(&first);
        let mut next = 0;
        let mut previous: Option<ShardReport> = None;
        for (i, r) in reports.iter().enumerate() {
            let shard = shard_of(r);
            let differs = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
                Err(MergeError::Mismatch(i, format!("{what} {a}, not {b}")))
            };
            if r.scenario != first.scenario {
                return differs("scenario", &r.scenario, &first.scenario);
            }
            if r.seed != first.seed {
                return differs("seed", &r.seed, &first.seed);
            }
            if shard.fleet_devices != whole.fleet_devices {
                return differs("fleet of", &shard.fleet_devices, &whole.fleet_devices);
            }
            if r.events.len() != first.events.len()
                || r.expectations.len() != first.expectations.len()
            {
                return Err(MergeError::Mismatch(
                    i,
                    "another timeline or other expectations".into(),
                ));
            }
            if shard.first_device < next {
                let other = previous.as_ref().map_or_else(String::new, name);
                return Err(MergeError::Overlap(
                    other,
                    name(&shard),
                    shard.first_device,
                    next.min(shard.end_device),
                ));
            }
            if shard.first_device > next {
                return Err(MergeError::Missing(
                    next,
                    shard.first_device,
                    whole.fleet_devices,
                ));
            }
            next = shard.end_device;
            previous = Some(shard);
        }
        if next < whole.fleet_devices {
            return Err(MergeError::Missing(
                next,
                whole.fleet_devices,
                whole.fleet_devices,
            ));
        }

        let mut merged = first;
        merged.shard = None;
        merged.merged_shards = Some(reports.len() as u32);
        merged.devices = reports.iter().map(|r| r.devices).sum();
        merged.missing_devices = reports.iter().map(|r| r.missing_devices).sum();
        merged.faulted_at_start = reports.iter().map(|r| r.faulted_at_start).sum();
        merged.started_unix_ms = reports.iter().map(|r| r.started_unix_ms).min().unwrap_or(0);
        merged.elapsed_ms = reports.iter().map(|r| r.elapsed_ms).max().unwrap_or(0);
        for (i, event) in merged.events.iter_mut().enumerate() {
            let all = reports.iter().map(|r| &r.events[i]);
            for (k, e) in all.clone().enumerate() {
                if (e.index, &e.action, &e.target) != (event.index, &event.action, &event.target) {
                    return Err(MergeError::Mismatch(
                        k,
                        format!("timeline event {i} differs"),
                    ));
                }
            }
            event.selected = all.clone().map(|e| e.selected).sum();
            event.applied = all.clone().map(|e| e.applied).sum();
            event.skipped = all.clone().map(|e| e.skipped).sum();
            event.missing = all.clone().map(|e| e.missing).sum();
            event.ran_at_ms = all.map(|e| e.ran_at_ms).max().unwrap_or(0);
        }
        for (i, x) in merged.expectations.iter_mut().enumerate() {
            let all = reports.iter().map(|r| &r.expectations[i]);
            for (k, y) in all.clone().enumerate() {
                if (y.index, &y.description) != (x.index, &x.description) {
                    return Err(MergeError::Mismatch(k, format!("expectation {i} differs")));
                }
            }
            let matching = all.clone().map(|y| y.matching).sum();
            let total = all.clone().map(|y| y.total).sum();
            x.checked_at_ms = all.map(|y| y.checked_at_ms).max().unwrap_or(0);
            *x = x.clone().with_counts(matching, total);
        }
        merged.passed = merged.expectations.iter().all(|x| x.passed);
        Ok(merged)
    }
}

fn name(shard: &ShardReport) -> String {
    format!("{}/{}", shard.index, shard.count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::report::{EventReport, ExpectationReport};

    fn shard_report(index: u32, count: u32, range: (usize, usize), matching: usize) -> Report {
        let total = range.1 - range.0;
        Report {
            scenario: "s.toml".into(),
            description: None,
            seed: "seed".into(),
            passed: true,
            devices: total,
            shard: Some(ShardReport {
                index,
                count,
                first_device: range.0,
                end_device: range.1,
                fleet_devices: 10,
            }),
            merged_shards: None,
            missing_devices: 0,
            faulted_at_start: 1,
            started_unix_ms: 100 + u64::from(index),
            elapsed_ms: 1000 + u64::from(index),
            events: vec![EventReport {
                index: 0,
                at: "1s".into(),
                at_ms: 1000,
                ran_at_ms: 1000,
                action: "power-off".into(),
                target: "group a".into(),
                selected: total,
                applied: total,
                skipped: 0,
                missing: 0,
            }],
            expectations: vec![
                ExpectationReport {
                    index: 0,
                    description: "half are off".into(),
                    at: "end".into(),
                    at_ms: 2000,
                    checked_at_ms: 2000,
                    passed: false,
                    expected_share: 0.5,
                    observed_share: 0.0,
                    matching: 0,
                    total: 0,
                    message: String::new(),
                }
                .with_counts(matching, total),
            ],
        }
    }

    #[test]
    fn shares_are_decided_on_the_whole_fleet() {
        // Shard 0 has 1 of 5 (fails alone), shard 1 has 4 of 5: 5 of 10.
        let a = shard_report(0, 2, (0, 5), 1);
        let b = shard_report(1, 2, (5, 10), 4);
        assert!(!a.expectations[0].passed);
        let merged = Report::merge(vec![b, a]).unwrap();
        assert!(merged.passed, "{}", merged.summary());
        assert_eq!(merged.devices, 10);
        assert_eq!(merged.merged_shards, Some(2));
        assert_eq!(merged.shard, None);
        assert_eq!(merged.events[0].applied, 10);
        assert_eq!(merged.faulted_at_start, 2);
        assert_eq!(merged.started_unix_ms, 100);
        assert_eq!(merged.elapsed_ms, 1001);
        let x = &merged.expectations[0];
        assert_eq!((x.matching, x.total), (5, 10));
        assert!(x.message.starts_with("5 of 10 (50.0%)"));
        assert!(
            merged
                .to_junit()
                .contains("<property name=\"shards\" value=\"2\"/>")
        );
    }

    #[test]
    fn overlapping_missing_or_foreign_shards_are_refused() {
        let a = || shard_report(0, 2, (0, 5), 5);
        let b = || shard_report(1, 2, (5, 10), 5);
        assert_eq!(Report::merge(vec![]), Err(MergeError::Empty));
        assert_eq!(
            Report::merge(vec![a()]),
            Err(MergeError::Missing(5, 10, 10))
        );
        assert_eq!(Report::merge(vec![b()]), Err(MergeError::Missing(0, 5, 10)));
        assert!(matches!(
            Report::merge(vec![a(), a(), b()]),
            Err(MergeError::Overlap(..))
        ));
        // Shards of a 3-way split mixed with a 2-way one overlap.
        assert!(matches!(
            Report::merge(vec![a(), shard_report(1, 3, (3, 6), 3), b()]),
            Err(MergeError::Overlap(..))
        ));
        let mut other = b();
        other.seed = "other".into();
        assert!(matches!(
            Report::merge(vec![a(), other]),
            Err(MergeError::Mismatch(1, _))
        ));
        let mut other = b();
        other.expectations[0].description = "something else".into();
        assert!(matches!(
            Report::merge(vec![a(), other]),
            Err(MergeError::Mismatch(..))
        ));
    }
}
