//! memory-pressure: the seed's first experiment. A producer and the claimer (no consumer) against
//! masters with a tiny `maxmemory`; the producer keeps going through every error up to a bound,
//! while a sampler records `used_memory` and `evicted_keys` per master and whether each stream key
//! and its consumer group still exist.
//!
//! What the seed saw with 3 MB and allkeys-lru: "AutoClaim errors around 8,000 messages, OOM
//! around 20,000, then the producer died". Here the same moments are numbers: sends attempted
//! before the first error of each kind, and when each eviction happened.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use serde::Serialize;

use super::ScenarioReport;
use crate::cluster::topology::parse_info_fields;
use crate::metrics::finite;
use crate::report::thousands;
use crate::stream::Shards;
use crate::workload::{ClaimerOptions, Live, Workload};
use crate::{Endpoint, LocalCluster, LocalClusterOptions, Result};

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
#[derive(Clone, Debug, Serialize)]
pub struct MemorySample {
    /// Seconds since the load started.
    pub t: f64,
    pub used_memory: u64,
    /// Cumulative keys this master evicted.
    pub evicted_keys: u64,
}

/// One master's readings.
#[derive(Clone, Debug, Serialize)]
pub struct MasterMemory {
    pub node: String,
    pub maxmemory: u64,
    pub samples: Vec<MemorySample>,
}

/// One stream key over the run.
#[derive(Clone, Debug, Default, Serialize)]
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

/// Runs the experiment on a fresh embedded cluster and reports.
pub async fn run(opts: &MemoryOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    let mut cluster_opts = opts.cluster.clone();
    cluster_opts.maxmemory = Some(
        cluster_opts
            .maxmemory
            .take()
            .unwrap_or_else(|| DEFAULT_MAXMEMORY.into()),
    );
    cluster_opts.maxmemory_policy = Some(
        cluster_opts
            .maxmemory_policy
            .take()
            .unwrap_or_else(|| DEFAULT_POLICY.into()),
    );
    let cluster = LocalCluster::start(cluster_opts.clone()).await?;
    let facts = crate::cluster::ClusterFacts::of_local(&cluster);
    let endpoint = cluster.endpoint().clone();
    let workload = Workload {
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
    };
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
        tokio::spawn(async move { sample(&ep, &sh, &live, &done, every, bound).await })
    };
    // The bounds on refused sends: a count, and a time with refusals and no success.
    let failed_stop: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let guard = {
        let (live, done, why) = (live.clone(), done.clone(), failed_stop.clone());
        let (max_failed, refused_for) =
            (opts.max_failed, Duration::from_millis(opts.refused_for_ms));
        tokio::spawn(async move {
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
                    *why.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                    live.stop.store(true, Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let result = crate::workload::run(&endpoint, &workload, live.clone()).await;
    done.store(true, Relaxed);
    guard.abort();
    let watched = sampler.await.unwrap_or_default();
    let result = result?;
    let keys = final_key_state(&endpoint, &shards, watched.keys).await;
    drop(cluster);

    let maxmemory_bytes = watched.masters.first().map(|m| m.maxmemory).unwrap_or(0);
    let evicted: u64 = watched
        .masters
        .iter()
        .map(|m| m.samples.last().map(|s| s.evicted_keys).unwrap_or(0))
        .sum();
    let group_gone = keys
        .iter()
        .any(|k| k.group_first_missing_at.is_some() || !k.group_at_end);
    let peak: u64 = watched
        .masters
        .iter()
        .flat_map(|m| m.samples.iter().map(|s| s.used_memory))
        .max()
        .unwrap_or(0);
    let stop_reason = match failed_stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(why) => why,
        None if result.counts.attempted >= opts.messages => {
            format!("all {} sends of --messages done", thousands(opts.messages))
        }
        None => result.ended_by.clone(),
    };
    let policy = cluster_opts.maxmemory_policy.clone().unwrap_or_default();
    let config = serde_json::json!({
        "maxmemory": cluster_opts.maxmemory,
        "maxmemory_policy": policy,
        "masters": cluster_opts.masters,
        "replicas_per_master": cluster_opts.replicas_per_master,
        "messages_bound": opts.messages,
        "max_failed": opts.max_failed,
        "refused_for_ms": opts.refused_for_ms,
        "producers": opts.producers,
        "consumers": 0,
        "batch": opts.batch,
        "inflight": opts.inflight,
        "shards": result.shard_keys.len(),
        "payload_bytes": opts.payload_bytes,
        "autoclaim_idle_ms": opts.autoclaim_idle_ms,
        "sample_ms": opts.sample_ms,
    });

    let mut report =
        ScenarioReport::from_run("memory-pressure", config, &result).with_facts(&facts);
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
    for k in &keys {
        if let Some(t) = k.first_missing_at {
            report = report.event(t, format!("stream {} seen missing", k.key));
        }
        if let Some(t) = k.group_first_missing_at {
            report = report.event(t, "consumer group gone");
        }
    }
    report = report.finding(format!(
        "{policy}: {} key eviction(s); consumer group {}; peak used_memory {} of maxmemory {} per master",
        thousands(evicted),
        if group_gone { "evicted with its stream (NOGROUP)" } else { "kept" },
        human_bytes(peak),
        human_bytes(maxmemory_bytes),
    ));
    report = report.finding(format!(
        "the client never died: {} sends attempted, {} acknowledged by Redis, {} refused; it stopped after {stop_reason}",
        thousands(result.counts.attempted),
        thousands(result.counts.produced),
        thousands(result.counts.produce_failed + result.counts.produce_indeterminate),
    ));
    if result.counts.lost > 0 {
        report = report.finding(format!(
            "{} messages Redis had acknowledged are gone: evicted, never delivered",
            thousands(result.counts.lost)
        ));
    }
    for d in &result.disagreements {
        report = report.finding(format!("cross-check: {d}"));
    }
    report.events.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(report
        .detail("first_errors", &result.first_errors)
        .detail("ended_by", &stop_reason)
        .detail("maxmemory_bytes", maxmemory_bytes)
        .detail("peak_used_memory", peak)
        .detail("evicted_keys", evicted)
        .detail("stream_evicted", evicted > 0)
        .detail("group_evicted", group_gone)
        .detail("client_survived", true)
        .detail("stream_keys", &keys)
        .detail("memory", &watched.masters)
        .detail("redis_xlen", result.redis_xlen)
        .detail("disagreements", &result.disagreements))
}

/// `3145728` → `3.00 MB`.
pub fn human_bytes(b: u64) -> String {
    match b {
        0..=1023 => format!("{b} B"),
        1024..=1_048_575 => format!("{:.1} KB", b as f64 / 1024.0),
        _ => format!("{:.2} MB", b as f64 / 1_048_576.0),
    }
}

#[derive(Default)]
struct Watched {
    masters: Vec<MasterMemory>,
    keys: Vec<KeyWatch>,
}

/// Reads INFO memory/stats of every master and the state of every key each `every`, from the
/// load's start until `done` (or `bound`, whichever first). Readings that fail are skipped: a
/// sampler must never stop the experiment.
async fn sample(
    ep: &Endpoint,
    shards: &Shards,
    live: &Live,
    done: &AtomicBool,
    every: Duration,
    bound: Duration,
) -> Watched {
    let until = Instant::now() + bound;
    let mut w = Watched {
        keys: shards
            .keys
            .iter()
            .map(|k| KeyWatch {
                key: k.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut conns: Vec<(String, MultiplexedConnection)> = Vec::new();
    if let Ok(topo) = ep.topology().await {
        for n in topo.iter().filter(|n| n.is_master() && !n.slots.is_empty()) {
            let Some(port) = n.port() else { continue };
            let host = n
                .addr
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or("127.0.0.1");
            if let Ok(c) = ep.node_connection(host, port).await {
                let maxmemory = config_bytes(&mut c.clone(), "maxmemory").await;
                w.masters.push(MasterMemory {
                    node: format!("{host}:{port}"),
                    maxmemory,
                    samples: Vec::new(),
                });
                conns.push((format!("{host}:{port}"), c));
            }
        }
    }
    let mut cluster = ep.cluster_connection(Duration::from_secs(2)).await.ok();
    // Wait (bounded) for the load to start: samples are timed from its start.
    while live.started.get().is_none() && !done.load(Relaxed) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        let t = finite(live.secs());
        for (i, (_, conn)) in conns.iter_mut().enumerate() {
            let text: redis::RedisResult<String> = redis::cmd("INFO")
                .arg("memory")
                .arg("stats")
                .query_async(conn)
                .await;
            if let Ok(text) = text {
                let f = parse_info_fields(&text);
                let num = |k: &str| f.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                w.masters[i].samples.push(MemorySample {
                    t,
                    used_memory: num("used_memory"),
                    evicted_keys: num("evicted_keys"),
                });
            }
        }
        if let Some(c) = cluster.as_mut() {
            for k in w.keys.iter_mut() {
                if let Some((exists, group, _)) = key_state(c, &k.key, &shards.group).await {
                    if !exists && k.first_missing_at.is_none() {
                        k.first_missing_at = Some(t);
                    }
                    if !group && k.group_first_missing_at.is_none() {
                        k.group_first_missing_at = Some(t);
                    }
                }
            }
        }
        if done.load(Relaxed) || Instant::now() >= until {
            return w;
        }
        tokio::time::sleep(every).await;
    }
}

/// (exists, has our group, XLEN) of one key; `None` if Redis did not answer.
async fn key_state(c: &mut ClusterConnection, key: &str, group: &str) -> Option<(bool, bool, u64)> {
    let exists: bool = redis::cmd("EXISTS").arg(key).query_async(c).await.ok()?;
    if !exists {
        return Some((false, false, 0));
    }
    let groups: redis::RedisResult<Vec<BTreeMap<String, redis::Value>>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query_async(c)
        .await;
    let has_group = groups.ok()?.iter().any(
        |g| matches!(g.get("name"), Some(redis::Value::BulkString(b)) if b == group.as_bytes()),
    );
    let len: u64 = redis::cmd("XLEN").arg(key).query_async(c).await.ok()?;
    Some((true, has_group, len))
}

async fn final_key_state(ep: &Endpoint, shards: &Shards, mut keys: Vec<KeyWatch>) -> Vec<KeyWatch> {
    if keys.is_empty() {
        keys = shards
            .keys
            .iter()
            .map(|k| KeyWatch {
                key: k.clone(),
                ..Default::default()
            })
            .collect();
    }
    if let Ok(mut c) = ep.cluster_connection(Duration::from_secs(2)).await {
        for k in keys.iter_mut() {
            if let Some((exists, group, len)) = key_state(&mut c, &k.key, &shards.group).await {
                k.exists_at_end = exists;
                k.group_at_end = group;
                k.xlen_at_end = len;
            }
        }
    }
    keys
}

/// `CONFIG GET name` as bytes (0 if unknown).
async fn config_bytes(conn: &mut MultiplexedConnection, name: &str) -> u64 {
    let v: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await;
    v.ok()
        .and_then(|kv| kv.get(1).and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.00 MB");
    }
}
