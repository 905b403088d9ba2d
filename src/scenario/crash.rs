//! consumer-crash: the seed's third experiment. Consumers die with probability p after reading a
//! batch and before XACK (their connection drops with the batch unacked) and come back under a new
//! name. With XAUTOCLAIM on, the claimer takes over what they left: recovered > 0, lost = 0. With
//! it off, those entries stay in the group's pending list for good, and a finding says so (the verdict reads only lost and unexpected).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::ScenarioReport;
use crate::metrics::finite;
use crate::report::thousands;
use crate::workload::{ClaimerOptions, Live, Workload};
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
#[derive(Clone, Debug, Serialize)]
pub struct CrashSample {
    pub t: f64,
    pub crashes: u64,
}

/// Runs the experiment against `endpoint` (embedded or external) and reports.
pub async fn run(
    endpoint: &Endpoint,
    opts: &CrashOptions,
    live: Arc<Live>,
) -> Result<ScenarioReport> {
    let idle = opts.autoclaim_idle_ms.max(1);
    let workload = Workload {
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
    };
    workload.validate()?;

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
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
    };
    let result = crate::workload::run(endpoint, &workload, live.clone()).await;
    done.store(true, Relaxed);
    let mut crashes_over_time = sampler.await.unwrap_or_default();
    crashes_over_time.push(CrashSample {
        t: finite(live.secs()),
        crashes: live.crashes.load(Relaxed),
    });
    let r = result?;
    let c = &r.counts;

    let stranded = c.pending_at_end;
    // Stranded entries are a finding beside the verdict, which reads only lost and unexpected.
    let stranded_text = (stranded > 0).then(|| {
        let why = if opts.autoclaim {
            format!("not reclaimed before the run ended ({})", r.ended_by)
        } else {
            "never reclaimed: XAUTOCLAIM off".to_string()
        };
        format!(
            "{} stranded: read by crashed consumers, never acked, still pending, {why}",
            thousands(stranded)
        )
    });
    let config = serde_json::json!({
        "messages": opts.messages,
        "producers": opts.producers,
        "consumers": workload.consumers,
        "batch": opts.batch,
        "crash_probability": opts.crash_probability,
        "autoclaim": opts.autoclaim,
        "autoclaim_idle_ms": idle,
        "shards": r.shard_keys.len(),
    });
    let facts = crate::cluster::ClusterFacts::of_external(endpoint).await;
    let mut report = ScenarioReport::from_run("consumer-crash", config, &r).with_facts(&facts);
    if let Some(first) = crashes_over_time.iter().find(|s| s.crashes > 0) {
        report = report.event(first.t, "first crash");
    }
    report = report.finding(format!(
        "{} consumer crashes (p = {}) between XREADGROUP and XACK",
        thousands(r.consumer_crashes),
        opts.crash_probability
    ));
    report = if opts.autoclaim {
        report.finding(format!(
            "XAUTOCLAIM (idle ≥ {idle} ms) recovered {} entries; {} lost, {} still pending at the end",
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
    if let Some(text) = stranded_text {
        report = report.finding(text);
    }
    for d in &r.disagreements {
        report = report.finding(format!("cross-check: {d}"));
    }
    Ok(report
        .detail("consumer_crashes", r.consumer_crashes)
        .detail("stranded", stranded)
        .detail("ended_by", &r.ended_by)
        .detail("crashes_over_time", &crashes_over_time)
        .detail("delivery_latency_us", &r.delivery_latency_us)
        .detail("first_errors", &r.first_errors)
        .detail("redis_xlen", r.redis_xlen)
        .detail("disagreements", &r.disagreements))
}
