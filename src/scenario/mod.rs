//! The seed's four experiments as repeatable scenarios: each drives its faults itself, keeps the
//! load running through them, and returns a [`ScenarioReport`] (JSON + HTML).
//!
//! One file per experiment: `memory` (memory-pressure), `failover`, `crash` (consumer-crash),
//! `aof` (aof-compare), `durability` (WAIT / WAITAOF / min-replicas under faults), `servers`
//! (the same load on each installed server).

pub mod aof;
pub mod crash;
pub mod durability;
pub mod failover;
pub mod memory;
pub mod servers;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::check::Counts;
use crate::metrics::{Latency, SecondSample};
use crate::workload::{Live, RunResult};

/// A moment worth marking on the charts (a kill, a promotion, the first OOM ...).
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Seconds since the load started.
    pub t: f64,
    pub label: String,
}

/// What every scenario reports. Field names follow the run JSON; `details` holds the scenario's
/// own fields (per-kill records, per-mode runs, first-error positions, memory series) and is
/// flattened into the top level of the JSON.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub config: serde_json::Value,
    pub verdict: String,
    pub elapsed_seconds: f64,
    pub throughput_msgs_per_sec: f64,
    pub counts: Counts,
    pub latency_us: Latency,
    pub errors: BTreeMap<String, u64>,
    pub series: Vec<SecondSample>,
    pub events: Vec<Event>,
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ScenarioReport {
    /// A report whose common fields come from one run of the workload, with that run's `cost`
    /// (and, when a replica was not in sync as it started, a finding that says so).
    pub fn from_run(scenario: &str, config: serde_json::Value, run: &RunResult) -> Self {
        let report = ScenarioReport {
            scenario: scenario.to_string(),
            config,
            verdict: run.verdict.clone(),
            elapsed_seconds: run.elapsed_seconds,
            throughput_msgs_per_sec: run.throughput_msgs_per_sec,
            counts: run.counts.clone(),
            latency_us: run.latency_us.clone(),
            errors: run.errors.clone(),
            series: run.series.clone(),
            events: Vec::new(),
            details: serde_json::Map::new(),
        }
        .detail("cost", &run.cost);
        let report = match run.cost.sync_warning() {
            Some(w) => report.finding(w),
            None => report,
        };
        run.notes.iter().fold(report, |r, n| r.finding(n.clone()))
    }

    /// A report over several runs: counts, errors and elapsed time summed over them, latency from
    /// their histograms added together, no series, the checker's verdict on the summed counts,
    /// and `cost` pooled over the runs ([`crate::cost::Cost::pooled`]).
    pub fn combined(scenario: &str, config: serde_json::Value, runs: &[&RunResult]) -> Self {
        let mut report = Self::from_run(scenario, config, runs[0]);
        let mut counts = Counts::default();
        let mut errors = BTreeMap::new();
        let mut histogram = crate::metrics::new_histogram();
        let mut elapsed = 0.0;
        for r in runs {
            add_counts(&mut counts, &r.counts);
            for (k, v) in &r.errors {
                *errors.entry(k.clone()).or_insert(0) += v;
            }
            // Adding histograms is the one sound way to pool percentiles of several runs.
            let _ = histogram.add(&r.latency_histogram);
            elapsed += r.elapsed_seconds;
        }
        report.verdict = counts.verdict().to_string();
        report.throughput_msgs_per_sec = if elapsed > 0.0 {
            crate::metrics::finite(counts.acked as f64 / elapsed)
        } else {
            0.0
        };
        report.counts = counts;
        report.errors = errors;
        report.latency_us = Latency::from_histogram(&histogram);
        report.elapsed_seconds = crate::metrics::finite(elapsed);
        report.series = Vec::new();
        // CPU adds up like counts do: the runs' CPU over the runs' messages (a weighted mean).
        let costs: Vec<&crate::cost::Cost> = runs.iter().map(|r| &r.cost).collect();
        let cost = crate::cost::Cost::pooled(&costs);
        // `from_run` warned about the first run only.
        let report = match cost.sync_warning() {
            Some(w) if runs[0].cost.replicas_in_sync => report.finding(w),
            _ => report,
        };
        report.detail("cost", cost)
    }

    /// Adds the measured cluster's server, data dirs and warnings (`server`, `data_dirs`,
    /// `warnings`, as in a run's JSON).
    pub fn with_facts(self, facts: &crate::cluster::ClusterFacts) -> Self {
        self.detail("server", &facts.server)
            .detail("data_dirs", &facts.data_dirs)
            .detail("warnings", &facts.warnings)
    }

    /// Adds a scenario-specific field (must serialize; NaN/inf must be avoided by the caller).
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.details.insert(key.to_string(), v);
        self
    }

    /// Adds one sentence a person reads first (in the summary, at the top of the HTML page, and
    /// as `findings` in the JSON): what the scenario showed, as numbers.
    pub fn finding(mut self, text: impl Into<String>) -> Self {
        let entry = self
            .details
            .entry("findings")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(list) = entry {
            list.push(serde_json::Value::String(text.into()));
        }
        self
    }

    /// The sentences added with [`ScenarioReport::finding`].
    pub fn findings(&self) -> Vec<String> {
        match self.details.get("findings") {
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Marks a moment on the charts.
    pub fn event(mut self, t: f64, label: impl Into<String>) -> Self {
        self.events.push(Event {
            t: crate::metrics::finite(t),
            label: label.into(),
        });
        self
    }
}

/// Runs `work` with a fresh [`Live`] of its own (each run needs its own start instant) while
/// mirroring its counters into `outer` for progress and passing `outer.stop` on to it: how a
/// scenario made of several runs stays stoppable by one Ctrl-C.
pub async fn with_child_live<F, Fut, T>(outer: &Arc<Live>, work: F) -> T
where
    F: FnOnce(Arc<Live>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let inner = Arc::new(Live::default());
    let base = (
        outer.attempted.load(Relaxed),
        outer.produced.load(Relaxed),
        outer.acked.load(Relaxed),
        outer.errors.load(Relaxed),
        outer.crashes.load(Relaxed),
    );
    let mirror = {
        let (outer, inner) = (outer.clone(), inner.clone());
        tokio::spawn(async move {
            // Ends when aborted below; each turn is a few atomic loads.
            loop {
                if outer.stop.load(Relaxed) {
                    inner.stop.store(true, Relaxed);
                }
                outer
                    .attempted
                    .store(base.0 + inner.attempted.load(Relaxed), Relaxed);
                outer
                    .produced
                    .store(base.1 + inner.produced.load(Relaxed), Relaxed);
                outer
                    .acked
                    .store(base.2 + inner.acked.load(Relaxed), Relaxed);
                outer
                    .errors
                    .store(base.3 + inner.errors.load(Relaxed), Relaxed);
                outer
                    .crashes
                    .store(base.4 + inner.crashes.load(Relaxed), Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let out = work(inner).await;
    mirror.abort();
    out
}

/// Adds one run's counts to a scenario's total (every count is a sum over runs).
pub(crate) fn add_counts(total: &mut Counts, c: &Counts) {
    total.attempted += c.attempted;
    total.produced += c.produced;
    total.produce_failed += c.produce_failed;
    total.produce_indeterminate += c.produce_indeterminate;
    total.unconfirmed += c.unconfirmed;
    total.delivered += c.delivered;
    total.acked += c.acked;
    total.lost += c.lost;
    total.unverifiable += c.unverifiable;
    total.duplicated += c.duplicated;
    total.duplicate_writes += c.duplicate_writes;
    total.redelivered += c.redelivered;
    total.recovered += c.recovered;
    total.unexpected += c.unexpected;
    total.pending_at_end += c.pending_at_end;
    total.indeterminate_delivered += c.indeterminate_delivered;
    total.never_delivered += c.never_delivered;
}

/// Mean and sample standard deviation (0 for fewer than two values); never NaN.
pub fn mean_stddev(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (crate::metrics::finite(mean), 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (
        crate::metrics::finite(mean),
        crate::metrics::finite(var.sqrt()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_stddev() {
        assert_eq!(mean_stddev(&[]), (0.0, 0.0));
        assert_eq!(mean_stddev(&[4.0]), (4.0, 0.0));
        let (m, s) = mean_stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m - 5.0).abs() < 1e-12);
        assert!((s - 2.138_089_935).abs() < 1e-6, "{s}");
    }

    #[test]
    fn findings_and_events_land_in_the_json() {
        let run_json = serde_json::json!({});
        let r = ScenarioReport {
            scenario: "x".into(),
            config: run_json,
            verdict: "ok".into(),
            elapsed_seconds: 1.0,
            throughput_msgs_per_sec: 1.0,
            counts: Counts::default(),
            latency_us: Latency::default(),
            errors: BTreeMap::new(),
            series: Vec::new(),
            events: Vec::new(),
            details: serde_json::Map::new(),
        }
        .finding("first OOM after 10 sends")
        .finding("stream evicted")
        .event(f64::NAN, "kill");
        assert_eq!(r.findings().len(), 2);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["findings"][1], "stream evicted");
        assert_eq!(v["events"][0]["t"], 0.0);
    }
}
