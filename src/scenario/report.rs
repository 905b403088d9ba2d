//! What a scenario hands the report: a typed value from the verdict to each scenario's own
//! fields, so that the JSON, the summary and the HTML page all read the same types (no key looked
//! up by string in another module).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{aof, backlog, crash, durability, failover, memory, servers};
use crate::check::{Counts, Verdict};
use crate::cluster::ClusterFacts;
use crate::cost::Cost;
use crate::metrics::{Latency, SecondSample};
use crate::workload::RunResult;

/// A moment worth marking on the charts (a kill, a promotion, the first OOM ...).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Event {
    /// Seconds since the load started.
    pub t: f64,
    pub label: String,
}

/// What a fault did to the cluster, said before the checker's verdict on the data ("cluster
/// down at the end: …"): a green verdict must not be the first thing a person reads when the
/// cluster did not come back.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Outcome {
    pub text: String,
    /// False when the cluster ended down or a fault was not recovered from.
    pub ok: bool,
}

/// What every scenario reports, then its own fields (`detail`, flattened into the top level of
/// the JSON). Field names follow the run JSON. `D` is [`Detail`] for the scenarios of this
/// module; `rcstress merge` brings its own.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScenarioReport<D = Detail> {
    pub scenario: String,
    pub config: serde_json::Value,
    /// "ok" iff nothing acknowledged was lost and nothing unexpected was delivered, else the reason.
    pub verdict: Verdict,
    pub elapsed_seconds: f64,
    pub throughput_msgs_per_sec: f64,
    pub counts: Counts,
    /// False when XPENDING failed at the end (the stream or its group was gone): then
    /// `counts.pending_at_end` is not a reading, and summaries say n/a.
    pub pending_at_end_known: bool,
    pub latency_us: Latency,
    /// Send to the producer's acknowledgement (the XADD reply, or the WAIT / WAITAOF reply):
    /// the per-command round trip beside `latency_us`; count 0 when the runs were pooled.
    pub confirm_latency_us: Latency,
    /// The open-loop rate (messages/s); `None` for a closed-loop run, whose send→ack latency is
    /// time in the system, queueing behind earlier messages included.
    pub rate_msgs_per_sec: Option<f64>,
    /// True when the report pools closed- and open-loop runs: its `latency_us` then mixes two
    /// measures, and the summary and the page show each group's latency only.
    #[serde(skip)]
    pub mixed_loops: bool,
    /// The stream keys the messages were sharded over: shard i of `series[].shards` is the i-th.
    pub shard_keys: Vec<String>,
    /// What the faults did to the cluster, when the scenario has faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// What the seed's own experiment saw, when this scenario repeats one: a red verdict that
    /// matches it is the expected result, and the page and summary say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub errors: BTreeMap<String, u64>,
    pub series: Vec<SecondSample>,
    pub events: Vec<Event>,
    /// The sentences a person reads first: what the scenario showed, as numbers.
    pub findings: Vec<String>,
    /// Client and server CPU per message (absent for aof-compare, whose modes are not pooled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// `server`, `data_dirs`, `warnings`, as in a run's JSON.
    #[serde(flatten)]
    pub facts: ClusterFacts,
    #[serde(flatten)]
    pub detail: D,
}

/// [`Detail`], one variant per scenario, and `From` each scenario's detail into it.
macro_rules! details {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Each scenario's own fields (serialized untagged: the scenario's fields themselves).
        #[derive(Clone, Debug, Serialize, JsonSchema)]
        #[serde(untagged)]
        pub enum Detail {
            $($variant($ty)),*
        }

        $(impl From<$ty> for Detail {
            fn from(d: $ty) -> Detail {
                Detail::$variant(d)
            }
        })*
    };
}

details!(
    Memory(memory::MemoryDetail),
    Failover(failover::FailoverDetail),
    Crash(crash::CrashDetail),
    Aof(aof::AofDetail),
    Durability(durability::DurabilityDetail),
    Servers(servers::ServersDetail),
    Backlog(backlog::BacklogDetail),
);

/// The end of a run as Redis saw it, shared by the scenarios made of one run.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RunEnd {
    /// Why the load ended ("all acked", "quiet", "deadline", "stopped", or the scenario's reason).
    pub ended_by: String,
    /// XLEN summed over the shards at the end; `None` when a shard could not be read.
    pub redis_xlen: Option<u64>,
    /// Disagreements between the ledger and Redis (XLEN, XPENDING), each a sentence.
    pub disagreements: Vec<String>,
}

impl RunEnd {
    pub fn of(run: &RunResult) -> RunEnd {
        RunEnd {
            ended_by: run.ended_by.clone(),
            redis_xlen: run.redis_xlen,
            disagreements: run.disagreements.clone(),
        }
    }
}

impl ScenarioReport<()> {
    /// A report whose common fields come from one run of the workload, with that run's `cost`
    /// (and, when a replica was not in sync as it started, a finding that says so).
    pub fn from_run(scenario: &str, config: serde_json::Value, run: &RunResult) -> Self {
        let report = ScenarioReport {
            scenario: scenario.to_string(),
            config,
            verdict: run.counts.verdict(),
            elapsed_seconds: run.elapsed_seconds,
            throughput_msgs_per_sec: run.throughput_msgs_per_sec,
            counts: run.counts.clone(),
            // The one place that reads the text: the workload says so only in a disagreement.
            pending_at_end_known: !run
                .disagreements
                .iter()
                .any(|d| d.starts_with("XPENDING failed")),
            latency_us: run.latency_us.clone(),
            confirm_latency_us: run.confirm_latency_us.clone(),
            rate_msgs_per_sec: run.rate_msgs_per_sec,
            mixed_loops: false,
            shard_keys: run.shard_keys.clone(),
            outcome: None,
            expected: None,
            errors: run.errors.clone(),
            series: run.series.clone(),
            events: Vec::new(),
            findings: Vec::new(),
            cost: Some(run.cost.clone()),
            facts: ClusterFacts::default(),
            detail: (),
        };
        let report = match run.cost.sync_warning() {
            Some(w) => report.finding(w),
            None => report,
        };
        run.notes.iter().fold(report, |r, n| r.finding(n.clone()))
    }

    /// A report over several runs: counts, errors and elapsed time summed over them, latency from
    /// their histograms added together, no series, the checker's verdict on the summed counts,
    /// and `cost` pooled over the runs ([`Cost::pooled`]).
    pub fn combined(scenario: &str, config: serde_json::Value, runs: &[&RunResult]) -> Self {
        let mut report = Self::from_run(scenario, config, runs[0]);
        let mut counts = Counts::default();
        let mut errors = BTreeMap::new();
        let mut histogram = crate::metrics::new_histogram();
        let mut elapsed = 0.0;
        for r in runs {
            super::add_counts(&mut counts, &r.counts);
            for (k, v) in &r.errors {
                *errors.entry(k.clone()).or_insert(0) += v;
            }
            // Adding histograms is the one sound way to pool percentiles of several runs.
            let _ = histogram.add(&r.latency_histogram);
            elapsed += r.elapsed_seconds;
        }
        report.verdict = counts.verdict();
        report.throughput_msgs_per_sec = if elapsed > 0.0 {
            crate::metrics::finite(counts.acked as f64 / elapsed)
        } else {
            0.0
        };
        report.counts = counts;
        report.errors = errors;
        report.latency_us = Latency::from_histogram(&histogram);
        // The runs' confirm histograms are not kept: no pooled figure rather than the first's.
        report.confirm_latency_us = Latency::default();
        if runs
            .iter()
            .any(|r| r.rate_msgs_per_sec != runs[0].rate_msgs_per_sec)
        {
            report.rate_msgs_per_sec = None;
            report.mixed_loops = runs
                .iter()
                .any(|r| r.rate_msgs_per_sec.is_some() != runs[0].rate_msgs_per_sec.is_some());
        }
        report.elapsed_seconds = crate::metrics::finite(elapsed);
        report.series = Vec::new();
        // CPU adds up like counts do: the runs' CPU over the runs' messages (a weighted mean).
        let costs: Vec<&Cost> = runs.iter().map(|r| &r.cost).collect();
        let cost = Cost::pooled(&costs);
        // `from_run` warned about the first run only.
        let mut report = match cost.sync_warning() {
            Some(w) if runs[0].cost.replicas_in_sync => report.finding(w),
            _ => report,
        };
        report.cost = Some(cost);
        report
    }
}

#[cfg(test)]
impl ScenarioReport<()> {
    /// A report of nothing, for tests of what is built on reports.
    pub(crate) fn blank(scenario: &str) -> Self {
        ScenarioReport {
            scenario: scenario.into(),
            config: serde_json::json!({}),
            verdict: Verdict::Ok,
            elapsed_seconds: 1.0,
            throughput_msgs_per_sec: 1.0,
            counts: Counts::default(),
            pending_at_end_known: true,
            latency_us: Latency::default(),
            confirm_latency_us: Latency::default(),
            rate_msgs_per_sec: None,
            mixed_loops: false,
            shard_keys: Vec::new(),
            outcome: None,
            expected: None,
            errors: BTreeMap::new(),
            series: Vec::new(),
            events: Vec::new(),
            findings: Vec::new(),
            cost: None,
            facts: ClusterFacts::default(),
            detail: (),
        }
    }
}

impl<D> ScenarioReport<D> {
    /// Adds the measured cluster's server, data dirs and warnings.
    pub fn with_facts(mut self, facts: &ClusterFacts) -> Self {
        self.facts = facts.clone();
        self
    }

    /// Adds one sentence a person reads first (in the summary, at the top of the HTML page, and
    /// as `findings` in the JSON): what the scenario showed, as numbers.
    pub fn finding(mut self, text: impl Into<String>) -> Self {
        self.findings.push(text.into());
        self
    }

    /// `pending_at_end` as people read it, or "n/a" when XPENDING failed and the count is not
    /// a reading.
    pub fn pending_at_end_text(&self) -> String {
        if self.pending_at_end_known {
            crate::units::thousands(self.counts.pending_at_end)
        } else {
            "n/a (XPENDING failed)".into()
        }
    }

    /// The sentences added with [`ScenarioReport::finding`].
    pub fn findings(&self) -> &[String] {
        &self.findings
    }

    /// Says what the faults did to the cluster, before the verdict.
    pub fn outcome(mut self, text: impl Into<String>, ok: bool) -> Self {
        self.outcome = Some(Outcome {
            text: text.into(),
            ok,
        });
        self
    }

    /// Says what the seed's own experiment saw (see [`ScenarioReport::expected`]).
    pub fn expected(mut self, text: impl Into<String>) -> Self {
        self.expected = Some(text.into());
        self
    }

    /// Marks a moment on the charts.
    pub fn event(mut self, t: f64, label: impl Into<String>) -> Self {
        self.events.push(Event {
            t: crate::metrics::finite(t),
            label: label.into(),
        });
        self
    }

    /// The same report with the scenario's own fields; events end up in time order.
    pub fn with_detail<E>(self, detail: impl Into<E>) -> ScenarioReport<E> {
        let mut events = self.events;
        events.sort_by(|a, b| a.t.total_cmp(&b.t));
        ScenarioReport {
            scenario: self.scenario,
            config: self.config,
            verdict: self.verdict,
            elapsed_seconds: self.elapsed_seconds,
            throughput_msgs_per_sec: self.throughput_msgs_per_sec,
            counts: self.counts,
            pending_at_end_known: self.pending_at_end_known,
            latency_us: self.latency_us,
            confirm_latency_us: self.confirm_latency_us,
            rate_msgs_per_sec: self.rate_msgs_per_sec,
            mixed_loops: self.mixed_loops,
            shard_keys: self.shard_keys,
            outcome: self.outcome,
            expected: self.expected,
            errors: self.errors,
            series: self.series,
            events,
            findings: self.findings,
            cost: self.cost,
            facts: self.facts,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_and_events_land_in_the_json() {
        let r = ScenarioReport::blank("x")
            .finding("first OOM after 10 sends")
            .finding("stream evicted")
            .event(2.0, "later")
            .event(f64::NAN, "kill")
            .with_detail::<()>(());
        assert_eq!(r.findings().len(), 2);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["findings"][1], "stream evicted");
        assert_eq!(v["verdict"], "ok");
        assert_eq!(v["events"][0]["t"], 0.0, "sorted, NaN as 0");
        assert_eq!(v["events"][0]["label"], "kill");
    }
}
