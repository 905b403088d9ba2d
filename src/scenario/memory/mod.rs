//! memory-pressure: the seed's first experiment. A producer and the claimer (no consumer) against
//! masters with a tiny `maxmemory`; the producer keeps going through every error up to a bound,
//! while a sampler records `used_memory` and `evicted_keys` per master and whether each stream key
//! and its consumer group still exist.
//!
//! What the seed saw with 3 MB and allkeys-lru: "AutoClaim errors around 8,000 messages, OOM
//! around 20,000, then the producer died". Here the same moments are numbers: sends attempted
//! before the first error of each kind, and when each eviction happened.

mod sampler;

/// What the seed's experiment saw, which this scenario repeats with its defaults: a red verdict
/// with messages lost is the finding, not a fault of the tool.
const SEED_SAW: &str = "with 3 MB per master and allkeys-lru, the seed saw claimer errors around 8,000 messages, OOM around 20,000, then its producer died; under allkeys-lru Redis evicts the stream key and its consumer group, so acknowledged writes are lost (a verdict of N lost is this experiment's finding, not a fault of the tool)";

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use super::{cross_check_findings, RunEnd, ScenarioReport};
use crate::metrics::FirstError;
use crate::stream::Shards;
use crate::units::{human_bytes, thousands};
use crate::workload::{ClaimerOptions, Live, RunResult, Workload};
use crate::{LocalClusterOptions, Result};

/// How the experiment runs. Defaults follow the seed: 3 MB per node, allkeys-lru, one stream key,
/// one producer sending one XADD per message.
#[derive(Clone, Debug)]
pub struct MemoryOptions {
    /// The cluster; `maxmemory` / `maxmemory_policy` default to 3mb / allkeys-lru when `None`.
    pub cluster: LocalClusterOptions,
    /// Bound on sends attempted.
    pub messages: u64,
    /// Stop once this many sends failed (the cluster refuses writes for good).
    pub max_failed: u64,
    /// Stop once sends fail and none succeeded for this long: after the first OOM under
    /// noeviction each refused send backs off, so a count alone would take minutes to reach.
    pub refused_for_ms: u64,
    pub producers: usize,
    pub batch: usize,
    /// Pipelines in flight per producer.
    pub inflight: usize,
    /// Stream keys (1: the seed's single stream).
    pub shards: usize,
    pub payload_bytes: usize,
    /// The claimer's XAUTOCLAIM idle threshold (the seed's was 300 s; it only has to run).
    pub autoclaim_idle_ms: u64,
    /// How often the sampler reads INFO and the keys.
    pub sample_ms: u64,
    /// Hard bound on the load.
    pub deadline_ms: u64,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            cluster: LocalClusterOptions::default(),
            messages: 200_000,
            max_failed: 2_000,
            refused_for_ms: 3_000,
            producers: 1,
            batch: 1,
            inflight: 1,
            shards: 1,
            payload_bytes: 64,
            autoclaim_idle_ms: 1_000,
            sample_ms: 200,
            deadline_ms: 120_000,
        }
    }
}

/// Default `maxmemory` (the seed's).
pub const DEFAULT_MAXMEMORY: &str = "3mb";
/// Default `maxmemory-policy` (the seed's).
pub const DEFAULT_POLICY: &str = "allkeys-lru";

/// One reading of one master.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MemorySample {
    /// Seconds since the load started.
    pub t: f64,
    pub used_memory: u64,
    /// Cumulative keys this master evicted.
    pub evicted_keys: u64,
}

/// One master's readings.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MasterMemory {
    pub node: String,
    pub maxmemory: u64,
    pub samples: Vec<MemorySample>,
}

/// One stream key over the run.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct KeyWatch {
    pub key: String,
    /// Seconds when the key was first seen missing (evicted and not yet re-created by XADD).
    pub first_missing_at: Option<f64>,
    /// Seconds when the consumer group was first seen missing.
    pub group_first_missing_at: Option<f64>,
    /// At the end: does the key exist, does it still have the group, how long is it.
    pub exists_at_end: bool,
    pub group_at_end: bool,
    pub xlen_at_end: u64,
}

/// memory-pressure's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MemoryDetail {
    /// When each error kind first appeared.
    pub first_errors: BTreeMap<String, FirstError>,
    pub maxmemory_bytes: u64,
    /// Highest `used_memory` of any master in any sample.
    pub peak_used_memory: u64,
    /// Keys evicted, summed over the masters.
    pub evicted_keys: u64,
    pub stream_evicted: bool,
    pub group_evicted: bool,
    pub client_survived: bool,
    pub stream_keys: Vec<KeyWatch>,
    /// `used_memory` per master over the run.
    pub memory: Vec<MasterMemory>,
    /// `ended_by` is why the producer stopped (a bound on refused sends, or the run's end).
    #[serde(flatten)]
    pub end: RunEnd,
}

/// The bounds on refused sends (a count, and a time with refusals and no success): a task that
/// stops the load when one is reached and says which.
fn refusal_guard(
    opts: &MemoryOptions,
    live: &Arc<Live>,
    done: &Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Option<String>>>) {
    let why: Arc<Mutex<Option<String>>> = Arc::default();
    let (live, done, reason_out) = (live.clone(), done.clone(), why.clone());
    let (max_failed, refused_for) = (opts.max_failed, Duration::from_millis(opts.refused_for_ms));
    let task = tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        while !done.load(Relaxed) {
            let produced = live.produced.load(Relaxed);
            let failed = live.attempted.load(Relaxed).saturating_sub(produced);
            if produced != last.1 {
                last = (Instant::now(), produced);
            }
            let reason = if failed >= max_failed {
                Some(format!(
                    "{} refused sends (--max-failed)",
                    thousands(max_failed)
                ))
            } else if failed > 0 && last.0.elapsed() >= refused_for {
                Some(format!(
                    "every send refused for {:.1} s",
                    refused_for.as_secs_f64()
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                *reason_out.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                live.stop.store(true, Relaxed);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (task, why)
}

/// The cluster options with the seed's memory limit and policy where none was given.
fn cluster_options(opts: &MemoryOptions) -> LocalClusterOptions {
    let mut c = opts.cluster.clone();
    c.maxmemory = Some(
        c.maxmemory
            .take()
            .unwrap_or_else(|| DEFAULT_MAXMEMORY.into()),
    );
    c.maxmemory_policy = Some(
        c.maxmemory_policy
            .take()
            .unwrap_or_else(|| DEFAULT_POLICY.into()),
    );
    c
}

/// One producer and the claimer, no consumer.
fn workload(opts: &MemoryOptions) -> Workload {
    Workload {
        messages: opts.messages,
        producers: opts.producers,
        consumers: 0,
        shards: opts.shards,
        batch: opts.batch,
        inflight: opts.inflight,
        payload_bytes: opts.payload_bytes,
        claimer: Some(ClaimerOptions {
            min_idle_ms: opts.autoclaim_idle_ms,
            interval_ms: (opts.autoclaim_idle_ms / 2).clamp(10, 1000),
        }),
        deadline_ms: opts.deadline_ms,
        quiet_ms: 1_000,
        ..Workload::default()
    }
}

/// Runs the experiment on a fresh embedded cluster and reports.
pub async fn run(opts: &MemoryOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    let cluster_opts = cluster_options(opts);
    let cluster = super::start_cluster(cluster_opts.clone(), &live).await?;
    let facts = crate::cluster::ClusterFacts::of_local(&cluster);
    let endpoint = cluster.endpoint().clone();
    let workload = workload(opts);
    let shards = Shards::plan(
        &endpoint,
        &workload.stream,
        &workload.group,
        opts.shards.max(1),
    )
    .await?;

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (ep, sh, live, done) = (endpoint.clone(), shards.clone(), live.clone(), done.clone());
        let (every, bound) = (
            Duration::from_millis(opts.sample_ms.max(20)),
            Duration::from_millis(opts.deadline_ms + 60_000),
        );
        tokio::spawn(async move { sampler::sample(&ep, &sh, &live, &done, every, bound).await })
    };
    let (guard, failed_stop) = refusal_guard(opts, &live, &done);
    let result = crate::workload::run(&endpoint, &workload, live.clone()).await;
    done.store(true, Relaxed);
    guard.abort();
    let watched = sampler.await.unwrap_or_default();
    let result = result?;
    let keys = sampler::final_key_state(&endpoint, &shards, watched.keys).await;
    drop(cluster);

    let stop_reason = match failed_stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(why) => why,
        None if result.counts.attempted >= opts.messages => {
            format!("all {} sends of --messages done", thousands(opts.messages))
        }
        None => result.ended_by.clone(),
    };
    let detail = MemoryDetail {
        first_errors: result.first_errors.clone(),
        maxmemory_bytes: watched.masters.first().map(|m| m.maxmemory).unwrap_or(0),
        peak_used_memory: watched
            .masters
            .iter()
            .flat_map(|m| m.samples.iter().map(|s| s.used_memory))
            .max()
            .unwrap_or(0),
        evicted_keys: watched
            .masters
            .iter()
            .map(|m| m.samples.last().map(|s| s.evicted_keys).unwrap_or(0))
            .sum(),
        stream_evicted: false,
        group_evicted: keys
            .iter()
            .any(|k| k.group_first_missing_at.is_some() || !k.group_at_end),
        client_survived: true,
        stream_keys: keys,
        memory: watched.masters,
        end: RunEnd {
            ended_by: stop_reason,
            ..RunEnd::of(&result)
        },
    };
    let detail = MemoryDetail {
        stream_evicted: detail.evicted_keys > 0,
        ..detail
    };
    let config = config(opts, &cluster_opts, result.shard_keys.len());
    let report = ScenarioReport::from_run("memory-pressure", config, &result)
        .with_facts(&facts)
        .expected(SEED_SAW);
    let policy = cluster_opts.maxmemory_policy.unwrap_or_default();
    Ok(with_findings(report, &detail, &result, &policy).with_detail(detail))
}

/// What the report's `config` says of the run.
fn config(opts: &MemoryOptions, c: &LocalClusterOptions, shards: usize) -> serde_json::Value {
    serde_json::json!({
        "maxmemory": c.maxmemory,
        "maxmemory_policy": c.maxmemory_policy.clone().unwrap_or_default(),
        "masters": c.masters,
        "replicas_per_master": c.replicas_per_master,
        "messages_bound": opts.messages,
        "max_failed": opts.max_failed,
        "refused_for_ms": opts.refused_for_ms,
        "producers": opts.producers,
        "consumers": 0,
        "batch": opts.batch,
        "inflight": opts.inflight,
        "shards": shards,
        "payload_bytes": opts.payload_bytes,
        "autoclaim_idle_ms": opts.autoclaim_idle_ms,
        "sample_ms": opts.sample_ms,
    })
}

/// The moments (first error of each kind, keys and group seen missing) and the sentences.
fn with_findings(
    mut report: ScenarioReport<()>,
    d: &MemoryDetail,
    result: &RunResult,
    policy: &str,
) -> ScenarioReport<()> {
    for (kind, first) in &result.first_errors {
        report = report
            .event(first.seconds, format!("first {kind}"))
            .finding(format!(
                "first {kind} after {} sends attempted ({:.1} s): {}",
                thousands(first.attempted),
                first.seconds,
                first.message
            ));
    }
    if result.first_errors.is_empty() {
        report = report.finding(format!(
            "no errors in {} sends: raise --messages or lower --maxmemory to reach the limit",
            thousands(result.counts.attempted)
        ));
    }
    for k in &d.stream_keys {
        if let Some(t) = k.first_missing_at {
            report = report.event(t, format!("stream {} seen missing", k.key));
        }
        if let Some(t) = k.group_first_missing_at {
            report = report.event(t, "consumer group gone");
        }
    }
    let c = &result.counts;
    report = report
        .finding(format!(
            "{policy}: {} key eviction(s); consumer group {}; peak used_memory {} of maxmemory {} per master",
            thousands(d.evicted_keys),
            if d.group_evicted { "evicted with its stream (NOGROUP)" } else { "kept" },
            human_bytes(d.peak_used_memory),
            human_bytes(d.maxmemory_bytes),
        ))
        .finding(format!(
            "the client never died: {} sends attempted, {} acknowledged by Redis, {} refused; it stopped after {}",
            thousands(c.attempted),
            thousands(c.produced),
            thousands(c.produce_failed + c.produce_indeterminate),
            d.end.ended_by,
        ));
    if c.lost > 0 {
        report = report.finding(format!(
            "{} messages Redis had acknowledged are gone: evicted, never delivered",
            thousands(c.lost)
        ));
    }
    cross_check_findings(report, &result.disagreements)
}
