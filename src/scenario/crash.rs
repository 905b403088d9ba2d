//! consumer-crash: the seed's third experiment. Consumers die with probability p after reading a
//! batch and before XACK (their connection drops with the batch unacked) and come back under a new
//! name. With XAUTOCLAIM on, the claimer takes over what they left: recovered > 0, lost = 0. With
//! it off, those entries stay in the group's pending list for good, and a finding says so (the verdict reads only lost and unexpected).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use super::{cross_check_findings, RunEnd, ScenarioReport};
use crate::metrics::{finite, FirstError, Latency};
use crate::units::thousands;
use crate::workload::{ClaimerOptions, Live, RunResult, Workload};
use crate::{Endpoint, Result};

/// How the experiment runs. The idle threshold is far below the seed's 300 s so a run takes
/// seconds; the mechanism is the same.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    pub messages: u64,
    pub producers: usize,
    pub consumers: usize,
    pub batch: usize,
    /// Chance a consumer dies after reading a batch, before XACK.
    pub crash_probability: f64,
    pub autoclaim: bool,
    /// XAUTOCLAIM min-idle-time.
    pub autoclaim_idle_ms: u64,
    pub deadline_ms: u64,
}

impl Default for CrashOptions {
    fn default() -> Self {
        CrashOptions {
            messages: 20_000,
            producers: 3,
            consumers: 3,
            batch: 50,
            crash_probability: 0.05,
            autoclaim: true,
            autoclaim_idle_ms: 1_000,
            deadline_ms: 120_000,
        }
    }
}

/// Crashes so far, sampled over the run.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CrashSample {
    pub t: f64,
    pub crashes: u64,
}

/// consumer-crash's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CrashDetail {
    pub consumer_crashes: u64,
    /// Read by crashed consumers, never acked, still pending at the end.
    pub stranded: u64,
    pub crashes_over_time: Vec<CrashSample>,
    /// Send to delivered by XREADGROUP, µs.
    pub delivery_latency_us: Latency,
    pub first_errors: BTreeMap<String, FirstError>,
    #[serde(flatten)]
    pub end: RunEnd,
}

/// The load: consumers that crash, and the claimer when XAUTOCLAIM is on.
fn workload(opts: &CrashOptions) -> Workload {
    let idle = opts.autoclaim_idle_ms.max(1);
    Workload {
        messages: opts.messages,
        producers: opts.producers,
        consumers: opts.consumers.max(1),
        batch: opts.batch,
        crash_probability: opts.crash_probability,
        claimer: opts.autoclaim.then(|| ClaimerOptions {
            min_idle_ms: idle,
            interval_ms: (idle / 4).clamp(10, 1000),
        }),
        // With the claimer on, stranded entries come back after `idle`: wait well past it before
        // calling the run quiet. With it off nothing will come back; a short wait shows that.
        quiet_ms: if opts.autoclaim {
            (idle * 3).max(2_000)
        } else {
            1_500
        },
        deadline_ms: opts.deadline_ms,
        ..Workload::default()
    }
}

/// Samples the crash count every 100 ms until `done` (bounded by the deadline).
fn crash_sampler(
    opts: &CrashOptions,
    live: &Arc<Live>,
    done: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<CrashSample>> {
    let (live, done) = (live.clone(), done.clone());
    let bound = opts.deadline_ms / 100 + 600;
    tokio::spawn(async move {
        let mut out = vec![CrashSample { t: 0.0, crashes: 0 }];
        for _ in 0..bound {
            if done.load(Relaxed) {
                break;
            }
            if live.started.get().is_some() {
                let crashes = live.crashes.load(Relaxed);
                if out.last().map(|s| s.crashes) != Some(crashes) {
                    out.push(CrashSample {
                        t: finite(live.secs()),
                        crashes,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out
    })
}

/// Runs the experiment against `endpoint` (embedded or external) and reports.
pub async fn run(
    endpoint: &Endpoint,
    opts: &CrashOptions,
    live: Arc<Live>,
) -> Result<ScenarioReport> {
    let workload = workload(opts);
    workload.validate()?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = crash_sampler(opts, &live, &done);
    let result = crate::workload::run(endpoint, &workload, live.clone()).await;
    done.store(true, Relaxed);
    let mut crashes_over_time = sampler.await.unwrap_or_default();
    crashes_over_time.push(CrashSample {
        t: finite(live.secs()),
        crashes: live.crashes.load(Relaxed),
    });
    let r = result?;
    let config = serde_json::json!({
        "messages": opts.messages,
        "producers": opts.producers,
        "consumers": workload.consumers,
        "batch": opts.batch,
        "crash_probability": opts.crash_probability,
        "autoclaim": opts.autoclaim,
        "autoclaim_idle_ms": opts.autoclaim_idle_ms.max(1),
        "shards": r.shard_keys.len(),
    });
    let facts = crate::cluster::ClusterFacts::of_external(endpoint).await;
    let mut report = ScenarioReport::from_run("consumer-crash", config, &r)
        .with_facts(&facts)
        .expected("the seed's consumers died between read and XACK and their entries stayed pending; here the claimer (XAUTOCLAIM) takes them over, so the expected result is nothing lost, with duplicated and recovered counts above 0 (at-least-once delivery)");
    if let Some(first) = crashes_over_time.iter().find(|s| s.crashes > 0) {
        report = report.event(first.t, "first crash");
    }
    let detail = CrashDetail {
        consumer_crashes: r.consumer_crashes,
        stranded: r.counts.pending_at_end,
        crashes_over_time,
        delivery_latency_us: r.delivery_latency_us.clone(),
        first_errors: r.first_errors.clone(),
        end: RunEnd::of(&r),
    };
    Ok(with_findings(report, opts, &r).with_detail(detail))
}

/// The crashes, what the claimer recovered (or, without it, what stays pending), and what was
/// stranded: the last beside the verdict, which reads only lost and unexpected.
fn with_findings(
    report: ScenarioReport<()>,
    opts: &CrashOptions,
    r: &RunResult,
) -> ScenarioReport<()> {
    let c = &r.counts;
    let stranded = c.pending_at_end;
    let report = report.finding(format!(
        "{} consumer crashes (p = {}) between XREADGROUP and XACK",
        thousands(r.consumer_crashes),
        opts.crash_probability
    ));
    let mut report = if opts.autoclaim {
        report.finding(format!(
            "XAUTOCLAIM (idle ≥ {} ms) recovered {} entries; {} lost, {} still pending at the end",
            opts.autoclaim_idle_ms.max(1),
            thousands(c.recovered),
            thousands(c.lost),
            thousands(stranded)
        ))
    } else {
        report.finding(format!(
            "without XAUTOCLAIM {} entries stay pending for good (XPENDING at the end), {} of {} produced were acked",
            thousands(stranded),
            thousands(c.acked),
            thousands(c.produced)
        ))
    };
    if stranded > 0 {
        let why = if opts.autoclaim {
            format!("not reclaimed before the run ended ({})", r.ended_by)
        } else {
            "never reclaimed: XAUTOCLAIM off".to_string()
        };
        report = report.finding(format!(
            "{} stranded: read by crashed consumers, never acked, still pending, {why}",
            thousands(stranded)
        ));
    }
    cross_check_findings(report, &r.disagreements)
}
