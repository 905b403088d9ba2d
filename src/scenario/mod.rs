//! The seed's four experiments as repeatable scenarios: each drives its faults itself, keeps the
//! load running through them, and returns a [`ScenarioReport`] (JSON + HTML).
//!
//! One file per experiment: `memory` (memory-pressure), `failover`, `crash` (consumer-crash),
//! `aof` (aof-compare).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::Counts;
use crate::metrics::{Latency, SecondSample};
use crate::workload::RunResult;

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
    /// A report whose common fields come from one run of the workload.
    pub fn from_run(scenario: &str, config: serde_json::Value, run: &RunResult) -> Self {
        ScenarioReport {
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
    }

    /// Adds a scenario-specific field (must serialize; NaN/inf must be avoided by the caller).
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.details.insert(key.to_string(), v);
        self
    }
}
