//! What a scenario run found: JSON for tools, JUnit XML for CI, one line
//! for people.

use serde::{Deserialize, Serialize};

/// The outcome of [`super::Scenario::run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario file, as it was named.
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub seed: String,
    /// Every expectation passed (true when there are none).
    pub passed: bool,
    /// Devices this run had: the shard's in a sharded run.
    pub devices: usize,
    /// Which slice of the fleet the run had (absent: all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardReport>,
    /// How many shard reports `amtemu scenario merge` joined into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<u32>,
    /// Scenario devices the fleet did not have (should be 0).
    pub missing_devices: usize,
    /// Devices that got their group's faults at start.
    pub faulted_at_start: usize,
    pub started_unix_ms: u64,
    pub elapsed_ms: u64,
    pub events: Vec<EventReport>,
    pub expectations: Vec<ExpectationReport>,
}

/// The slice of the fleet a sharded run had (`--shard K/N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    /// K.
    pub index: u32,
    /// N.
    pub count: u32,
    /// The whole fleet's indices of the shard's devices: first..end.
    pub first_device: usize,
    pub end_device: usize,
    pub fleet_devices: usize,
}

/// One timeline event, as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReport {
    /// Its place in the file's `[[timeline]]` (0-based).
    pub index: usize,
    pub at: String,
    pub at_ms: u64,
    /// When it actually ran, from the start.
    pub ran_at_ms: u64,
    pub action: String,
    pub target: String,
    /// Devices chosen.
    pub selected: usize,
    /// Devices it changed.
    pub applied: usize,
    /// Devices already there or busy (e.g. power-on of a running host).
    pub skipped: usize,
    /// Devices not in the fleet.
    pub missing: usize,
}

/// One expectation, as checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationReport {
    /// Its place in the file's `[[expect]]` (0-based).
    pub index: usize,
    pub description: String,
    /// The time it was due ("end" when the file gave none).
    pub at: String,
    pub at_ms: u64,
    pub checked_at_ms: u64,
    pub passed: bool,
    pub expected_share: f64,
    pub observed_share: f64,
    pub matching: usize,
    pub total: usize,
    pub message: String,
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

impl ExpectationReport {
    /// Sets the counts and what follows from them: the share observed
    /// (all of none is a pass), the verdict and the message. One rule for
    /// a run and for merged shards.
    pub fn with_counts(mut self, matching: usize, total: usize) -> ExpectationReport {
        let observed = if total == 0 {
            1.0
        } else {
            matching as f64 / total as f64
        };
        self.matching = matching;
        self.total = total;
        self.observed_share = observed;
        self.passed = observed + 1e-9 >= self.expected_share;
        self.message = format!(
            "{matching} of {total} ({:.1}%) matched; needed at least {}%",
            observed * 100.0,
            self.expected_share * 100.0
        );
        self
    }
}

impl Report {
    pub fn failures(&self) -> usize {
        self.expectations.iter().filter(|x| !x.passed).count()
    }

    /// The whole report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// JUnit XML: one testsuite "scenario FILE", one testcase per
    /// expectation, each failing one with a `<failure>`.
    pub fn to_junit(&self) -> String {
        let suite = format!("scenario {}", self.scenario);
        let class = format!(
            "scenario.{}",
            std::path::Path::new(&self.scenario)
                .file_stem()
                .map_or_else(
                    || self.scenario.clone(),
                    |s| s.to_string_lossy().into_owned()
                )
        );
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"amtemu\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">\n",
            self.expectations.len(),
            self.failures(),
            seconds(self.elapsed_ms)
        ));
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{}\">\n",
            xml_escape(&suite),
            self.expectations.len(),
            self.failures(),
            seconds(self.elapsed_ms)
        ));
        out.push_str("    <properties>\n");
        for (name, value) in [
            ("seed", self.seed.clone()),
            ("devices", self.devices.to_string()),
            ("events", self.events.len().to_string()),
        ]
        .into_iter()
        .chain(
            self.shard
                .as_ref()
                .map(|s| ("shard", format!("{}/{}", s.index, s.count))),
        )
        .chain(self.merged_shards.map(|n| ("shards", n.to_string())))
        {
            out.push_str(&format!(
                "      <property name=\"{name}\" value=\"{}\"/>\n",
                xml_escape(&value)
            ));
        }
        out.push_str("    </properties>\n");
        for x in &self.expectations {
            let open = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                xml_escape(&class),
                xml_escape(&x.description),
                seconds(x.checked_at_ms)
            );
            if x.passed {
                out.push_str(&open);
                out.push_str("/>\n");
            } else {
                out.push_str(&open);
                out.push_str(">\n");
                out.push_str(&format!(
                    "      <failure message=\"{}\" type=\"expectation\">{}: {}</failure>\n",
                    xml_escape(&x.message),
                    xml_escape(&x.description),
                    xml_escape(&x.message)
                ));
                out.push_str("    </testcase>\n");
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    /// One line: pass or fail, and why.
    pub fn summary(&self) -> String {
        let total = self.expectations.len();
        let failed: Vec<&ExpectationReport> =
            self.expectations.iter().filter(|x| !x.passed).collect();
        let applied: usize = self.events.iter().map(|e| e.applied).sum();
        let base = format!(
            "scenario {}: {} devices, {} events ({applied} device changes), {:.1}s",
            self.scenario,
            self.devices,
            self.events.len(),
            self.elapsed_ms as f64 / 1000.0
        );
        match failed.first() {
            None => format!("{base}: PASSED ({total} of {total} expectations met)"),
            Some(first) => format!(
                "{base}: FAILED ({} of {total} expectations failed; first: {} — {})",
                failed.len(),
                first.description,
                first.message
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_marks_failures() {
        let report = Report {
            scenario: "a&b.toml".into(),
            description: None,
            seed: "s".into(),
            passed: false,
            devices: 2,
            shard: None,
            merged_shards: None,
            missing_devices: 0,
            faulted_at_start: 0,
            started_unix_ms: 0,
            elapsed_ms: 1500,
            events: Vec::new(),
            expectations: vec![ExpectationReport {
                index: 0,
                description: "by 1s, <all> are on".into(),
                at: "1s".into(),
                at_ms: 1000,
                checked_at_ms: 1000,
                passed: false,
                expected_share: 1.0,
                observed_share: 0.5,
                matching: 1,
                total: 2,
                message: "1 of 2".into(),
            }],
        };
        let xml = report.to_junit();
        assert!(
            xml.contains("<testsuite name=\"scenario a&amp;b.toml\" tests=\"1\" failures=\"1\"")
        );
        assert!(xml.contains("name=\"by 1s, &lt;all&gt; are on\""));
        assert!(xml.contains("<failure message=\"1 of 2\""));
        assert!(report.summary().contains("FAILED"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["expectations"][0]["observed_share"], 0.5);
    }
}
