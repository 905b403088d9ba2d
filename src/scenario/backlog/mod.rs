//! backlog: producers at a fixed rate; after a steady lead the consumers stop (for a time, until
//! a number of messages wait, or until a master's `used_memory` reaches a level), then resume
//! while the producers go on. How big did the
//! backlog get (messages, payload bytes, `used_memory` per master), how fast does it drain, and
//! how long until the consumers caught up, or never: when the drain cannot keep up the scenario
//! ends by itself and says so. OpenMessaging Benchmark's backlog test, on Redis Streams; with
//! `--maxmemory` it is the seed's "remove the consumer" experiment with consumers coming back.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

mod phases;

use super::memory::{MasterMemory, MemorySample};
use super::{cross_check_findings, RunEnd, ScenarioReport};
use crate::metrics::finite;
use crate::trim::{masters_used_memory, Trim};
use crate::units::{human_us, mib, thousands};
use crate::workload::{Live, Workload};
use crate::{Endpoint, Result};
use phases::{Next, Phase, Phases};

/// How the experiment runs.
#[derive(Clone, Debug)]
pub struct BacklogOptions {
    /// Open-loop rate of the producers, msg/s, the whole time.
    pub rate: f64,
    /// Steady load before the consumers stop.
    pub lead_ms: u64,
    /// How long the consumers stay stopped ...
    pub pause_ms: u64,
    /// ... or, when set, until this many messages wait (bounded by ten times what `rate` needs).
    pub pause_messages: Option<u64>,
    /// ... or, when set, until a master's `used_memory` reaches this many bytes (bounded by
    /// `pause_ms`).
    pub pause_memory: Option<u64>,
    /// After the resume, give up ("never caught up") after this long.
    pub drain_budget_ms: u64,
    /// Load after catching up, to show the steady state again.
    pub tail_ms: u64,
    /// Rewrite this JSON file at this interval while the scenario goes on (the figures and
    /// samples so far, status "running"), so an interrupted soak keeps them.
    pub checkpoint: Option<(PathBuf, Duration)>,
    /// The producers, consumers, batch and payload (rate, messages, trim and deadline are set
    /// from the fields above).
    pub workload: Workload,
}

impl Default for BacklogOptions {
    fn default() -> Self {
        BacklogOptions {
            rate: 3_000.0,
            lead_ms: 3_000,
            pause_ms: 10_000,
            pause_messages: None,
            pause_memory: None,
            drain_budget_ms: 60_000,
            tail_ms: 2_000,
            checkpoint: None,
            workload: Workload::default(),
        }
    }
}

/// One reading of the whole backlog.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct BacklogSample {
    /// Seconds since the load started.
    pub t: f64,
    pub produced: u64,
    pub acked: u64,
    /// Produced and not yet acked.
    pub backlog: u64,
}

/// The figures of the experiment (the `backlog` field of the JSON).
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct BacklogFigures {
    pub stopped_at: f64,
    pub resumed_at: f64,
    /// What ended the pause: "time", "messages" (`pause_messages` waiting) or "memory" (a
    /// master reached `pause_memory`).
    pub resumed_by: String,
    /// Seconds from the resume until the backlog was back to its steady level; `None`: never.
    pub catch_up_seconds: Option<f64>,
    pub peak_messages: u64,
    /// Payload bytes of the peak backlog (messages × payload size; Redis's own cost per entry
    /// is in `used_memory`).
    pub peak_payload_bytes: u64,
    /// Per master: used_memory when the consumers stopped and its highest reading after.
    pub used_memory_at_stop: Vec<(String, u64)>,
    pub used_memory_peak: Vec<(String, u64)>,
    /// Acks per second from the resume to the catch-up (to the end when never): what the
    /// consumers manage while the producers go on.
    pub consume_rate_msgs_per_sec: f64,
    /// consume rate / produce rate (OMB's drain ratio): above 1 the backlog shrinks.
    pub drain_ratio: f64,
    /// Backlog messages removed per second of drain (consume rate − produce rate).
    pub net_drain_msgs_per_sec: f64,
    /// Send→ack latency of the messages acked during the drain (the backlogged ones): highest
    /// per-interval p99 and highest maximum, µs.
    pub drain_p99_us: u64,
    pub drain_max_us: u64,
    /// Steady backlog before the stop (highest reading): the level "caught up" returns to.
    pub steady_backlog: u64,
}

/// The JSON file while the scenario goes on (`checkpoint`): the figures and samples so far.
#[derive(Serialize)]
struct BacklogCheckpoint<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    status: &'static str,
    elapsed_seconds: f64,
    backlog: &'a BacklogFigures,
    backlog_samples: &'a [BacklogSample],
    memory: &'a [MasterMemory],
}

/// backlog's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct BacklogDetail {
    pub backlog: BacklogFigures,
    pub backlog_samples: Vec<BacklogSample>,
    /// `used_memory` per master over the run.
    pub memory: Vec<MasterMemory>,
    #[serde(flatten)]
    pub end: RunEnd,
}

/// Runs the experiment against `endpoint` and reports.
pub async fn run(
    endpoint: &Endpoint,
    opts: &BacklogOptions,
    live: Arc<Live>,
) -> Result<ScenarioReport> {
    let rate = opts.rate;
    let pause_bound_ms = match opts.pause_messages {
        Some(n) => ((n as f64 / rate * 1000.0) as u64)
            .saturating_mul(10)
            .max(10_000),
        None => opts.pause_ms,
    };
    let total_ms = opts.lead_ms + pause_bound_ms + opts.drain_budget_ms + opts.tail_ms;
    let workload = Workload {
        rate: Some(rate),
        messages: ((rate * total_ms as f64 / 1000.0).ceil() as u64).max(1),
        consumers: opts.workload.consumers.max(1),
        // Acked entries go as soon as they are acked: memory above the steady level is the backlog.
        trim: Trim::Acked,
        deadline_ms: total_ms + 30_000,
        claimer: None,
        ..opts.workload.clone()
    };
    workload.validate()?;
    let control = {
        let (live, ep, o) = (live.clone(), endpoint.clone(), opts.clone());
        tokio::spawn(async move { control(&ep, &o, &live, pause_bound_ms).await })
    };
    let result = crate::workload::run(endpoint, &workload, live.clone()).await;
    live.stop.store(true, Relaxed); // ends the control task if the run ended first
    let (mut fig, samples, memory) = control.await.unwrap_or_default();
    let r = result?;
    fig.peak_payload_bytes = fig.peak_messages * workload.payload_bytes as u64;
    // The backlogged messages are those acked between the resume and the catch-up.
    let drain_end = fig
        .catch_up_seconds
        .map_or(f64::INFINITY, |c| fig.resumed_at + c);
    for s in r
        .series
        .iter()
        .filter(|s| s.t > fig.resumed_at && s.t <= drain_end + 1.0)
    {
        fig.drain_p99_us = fig.drain_p99_us.max(s.p99_us);
        fig.drain_max_us = fig.drain_max_us.max(s.max_us);
    }

    let config = serde_json::json!({
        "rate": rate,
        "lead_ms": opts.lead_ms,
        "pause_ms": opts.pause_messages.is_none().then_some(opts.pause_ms),
        "pause_messages": opts.pause_messages,
        "pause_memory_bytes": opts.pause_memory,
        "drain_budget_ms": opts.drain_budget_ms,
        "producers": workload.producers,
        "consumers": workload.consumers,
        "batch": workload.batch,
        "payload_bytes": workload.payload_bytes,
        "trim": workload.trim,
        "shards": r.shard_keys.len(),
    });
    let facts = crate::cluster::ClusterFacts::of_external(endpoint).await;
    let report = ScenarioReport::from_run("backlog", config, &r).with_facts(&facts);
    let report = with_findings(report, &fig, opts, rate);
    Ok(
        cross_check_findings(report, &r.disagreements).with_detail(BacklogDetail {
            backlog: fig,
            backlog_samples: samples,
            memory,
            end: RunEnd::of(&r),
        }),
    )
}

/// The moments (stop, resume, caught up) and the sentences: how big the backlog got, and how
/// the drain went.
fn with_findings(
    report: ScenarioReport<()>,
    fig: &BacklogFigures,
    opts: &BacklogOptions,
    rate: f64,
) -> ScenarioReport<()> {
    let report = report
        .event(fig.stopped_at, "consumers stop")
        .event(fig.resumed_at, "consumers resume");
    let at_stop: u64 = fig.used_memory_at_stop.iter().map(|(_, b)| b).sum();
    let peak: u64 = fig.used_memory_peak.iter().map(|(_, b)| b).sum();
    let why = match (fig.resumed_by.as_str(), opts.pause_memory) {
        ("memory", Some(level)) => format!(" (a master reached {})", mib(level)),
        ("messages", _) => " (enough messages waited)".to_string(),
        _ => String::new(),
    };
    let report = report.finding(format!(
        "backlog peak {} messages ({} of payload) after {:.1} s without consumers{why}; used_memory over the masters {} → {}",
        thousands(fig.peak_messages),
        mib(fig.peak_payload_bytes),
        fig.resumed_at - fig.stopped_at,
        mib(at_stop),
        mib(peak)
    ));
    match fig.catch_up_seconds {
        Some(c) => report.event(fig.resumed_at + c, "caught up").finding(format!(
            "caught up {c:.1} s after the resume: consumers acked {:.0} msg/s against {rate:.0} produced (drain ratio {:.2}, net drain {:.0} msg/s); backlogged messages' p99 up to {}",
            fig.consume_rate_msgs_per_sec,
            fig.drain_ratio,
            fig.net_drain_msgs_per_sec,
            human_us(fig.drain_p99_us)
        )),
        None => report.finding(format!(
            "never caught up: {:.0} s after the resume the consumers acked {:.0} msg/s against {rate:.0} produced (drain ratio {:.2}); the scenario stopped itself",
            opts.drain_budget_ms as f64 / 1000.0,
            fig.consume_rate_msgs_per_sec,
            fig.drain_ratio
        )),
    }
}

/// Drives the phases (lead, stop, resume, drain, tail) while sampling the backlog and each
/// master's memory every 250 ms (50 ms while draining); ends the run (drain when caught up, stop when never).
async fn control(
    ep: &Endpoint,
    o: &BacklogOptions,
    live: &Live,
    pause_bound_ms: u64,
) -> (BacklogFigures, Vec<BacklogSample>, Vec<MasterMemory>) {
    let mut samples = Vec::new();
    let mut memory: Vec<MasterMemory> = Vec::new();
    let every = Duration::from_millis(250);
    // While draining, 50 ms: a fast drain takes well under a second.
    let drain_every = Duration::from_millis(50);
    // Bounded: the run's own deadline is shorter than this many turns.
    let turns = (o.lead_ms + pause_bound_ms + o.drain_budget_ms + o.tail_ms + 60_000) / 50;
    for _ in 0..40 {
        if live.started.get().is_some() || live.stop.load(Relaxed) {
            break;
        }
        tokio::time::sleep(every / 5).await;
    }
    let mut phases = Phases {
        o,
        pause_bound_ms,
        phase: Phase::Lead,
        fig: BacklogFigures::default(),
        acked_at_resume: 0,
    };
    let mut last_checkpoint = Instant::now();
    for _ in 0..turns {
        if live.stop.load(Relaxed) {
            break;
        }
        let t = finite(live.secs());
        let (produced, acked) = (live.produced.load(Relaxed), live.acked.load(Relaxed));
        let backlog = produced.saturating_sub(acked);
        samples.push(BacklogSample {
            t,
            produced,
            acked,
            backlog,
        });
        let used = masters_used_memory(ep).await.unwrap_or_default();
        record_memory(&mut memory, t, &used);
        if phases.step(live, t, backlog, acked, &used) == Next::Stop {
            live.stop.store(true, Relaxed);
            break;
        }
        if let Some((path, every)) = &o.checkpoint {
            if last_checkpoint.elapsed() >= *every {
                last_checkpoint = Instant::now();
                checkpoint(path, t, &phases.fig, &samples, &memory);
            }
        }
        phases.record_peak(backlog, &used);
        tokio::time::sleep(match phases.phase {
            Phase::Draining => drain_every,
            _ => every,
        })
        .await;
    }
    live.pause_consumers.store(false, Relaxed);
    (phases.fig, samples, memory)
}

/// Adds one reading of each master's used_memory at `t` to its series.
fn record_memory(memory: &mut Vec<MasterMemory>, t: f64, used: &[(String, u64)]) {
    for (node, bytes) in used {
        let i = match memory.iter().position(|m| &m.node == node) {
            Some(i) => i,
            None => {
                memory.push(MasterMemory {
                    node: node.clone(),
                    maxmemory: 0,
                    samples: Vec::new(),
                });
                memory.len() - 1
            }
        };
        memory[i].samples.push(MemorySample {
            t,
            used_memory: *bytes,
            evicted_keys: 0,
        });
    }
}

/// Rewrites the checkpoint file with the figures and samples so far (a failure is logged: the
/// scenario goes on).
fn checkpoint(
    path: &Path,
    t: f64,
    fig: &BacklogFigures,
    samples: &[BacklogSample],
    memory: &[MasterMemory],
) {
    let doc = BacklogCheckpoint {
        tool: "rcstress",
        version: env!("CARGO_PKG_VERSION"),
        command: "scenario backlog",
        status: "running",
        elapsed_seconds: t,
        backlog: fig,
        backlog_samples: samples,
        memory,
    };
    let written = serde_json::to_vec_pretty(&doc)
        .map_err(|e| crate::Error::io("serialize JSON", std::io::Error::other(e)))
        .and_then(|bytes| crate::files::replace(path, "json", &bytes));
    if let Err(e) = written {
        tracing::warn!("checkpoint: {e}");
    }
}
