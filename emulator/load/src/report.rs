//! What a run measured: completed operations, failures, elapsed time and a
//! latency histogram (HDR, microseconds), printed as one line per run plus
//! a ratio line when a baseline ran beside it.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, with three
/// significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

/// Records one latency, clamped into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = (latency.as_micros() as u64).clamp(1, histogram.high());
    histogram.saturating_record(micros);
}

/// One run's figures.
#[derive(Clone, Debug)]
pub struct Stats {
    /// What ran against what: `amtemu wsman-get http`, `baseline hyper`.
    pub label: String,
    pub ok: u64,
    pub errors: u64,
    /// Requests a rate-driven run could not start on time (no idle
    /// connection): the server fell behind the asked-for rate.
    pub behind: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    /// The first error seen, to say why a run failed.
    pub first_error: Option<String>,
}

impl Stats {
    pub fn new(label: impl Into<String>) -> Stats {
        Stats {
            label: label.into(),
            ok: 0,
            errors: 0,
            behind: 0,
            elapsed: Duration::ZERO,
            latency: new_histogram(),
            first_error: None,
        }
    }

    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// A latency percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.latency.value_at_quantile(p / 100.0) as f64 / 1000.0
    }

    /// Folds another worker's figures into these.
    pub fn merge(&mut self, other: &Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.behind += other.behind;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    pub fn failed(&mut self, error: impl fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// The figures as one JSON object (for scripts and the smoke test).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label,
            "ok": self.ok,
            "errors": self.errors,
            "behind": self.behind,
            "seconds": self.elapsed.as_secs_f64(),
            "per_second": self.per_second(),
            "p50_ms": self.percentile_ms(50.0),
            "p90_ms": self.percentile_ms(90.0),
            "p99_ms": self.percentile_ms(99.0),
            "p999_ms": self.percentile_ms(99.9),
            "max_ms": self.latency.max() as f64 / 1000.0,
            "first_error": self.first_error,
        })
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<34} {:>8} ok {:>5} err in {:>6.2} s = {:>9.1}/s  latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
            self.label,
            self.ok,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.percentile_ms(50.0),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(99.9),
            self.latency.max() as f64 / 1000.0,
        )?;
        if self.behind > 0 {
            write!(f, "  behind {}", self.behind)?;
        }
        if let Some(e) = &self.first_error {
            write!(f, "  first error: {e}")?;
        }
        Ok(())
    }
}

/// Our throughput against the baseline's, with the target.
pub fn ratio_line(ours: &Stats, baseline: &Stats, target: f64) -> String {
    let ratio = ratio(ours, baseline);
    format!(
        "ratio {} / {} = {:.2} (target >= {:.2}: {})",
        ours.label,
        baseline.label,
        ratio,
        target,
        if ratio >= target { "met" } else { "missed" }
    )
}

pub fn ratio(ours: &Stats, baseline: &Stats) -> f64 {
    let base = baseline.per_second();
    if base > 0.0 {
        ours.per_second() / base
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_rates_merge_and_ratio() {
        let mut a = Stats::new("ours");
        for ms in 1..=100u64 {
            record(&mut a.latency, Duration::from_millis(ms));
        }
        a.ok = 100;
        a.elapsed = Duration::from_secs(2);
        let mut b = Stats::new("base");
        b.ok = 100;
        b.elapsed = Duration::from_secs(1);
        b.failed("refused");
        assert_eq!(a.per_second(), 50.0);
        assert!((a.percentile_ms(99.0) - 99.0).abs() < 0.1);
        assert_eq!(ratio(&a, &b), 0.5);
        assert!(ratio_line(&a, &b, 0.5).ends_with("met)"));
        assert!(ratio_line(&a, &b, 0.8).ends_with("missed)"));
        a.merge(&b);
        assert_eq!((a.ok, a.errors), (200, 1));
        assert_eq!(a.first_error.as_deref(), Some("refused"));
        assert_eq!(a.json()["ok"], 200);
        // Out-of-range latencies are clamped, not lost.
        record(&mut b.latency, Duration::from_secs(3600));
        assert_eq!(b.latency.len(), 1);
    }
}
