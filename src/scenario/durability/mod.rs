//! durability: what each durability setting keeps, and what it costs. For every mode (none,
//! wait:1, waitaof:1:0, waitaof:0:1, waitaof:1:1, min-replicas:1 with the default and a short
//! max-lag) and every fault, a fresh 3+3 cluster with `appendfsync everysec` runs the load while
//! the fault strikes shard 0:
//!
//! - `pause`: SIGSTOP of its master for longer than node-timeout, then SIGCONT. A replica takes
//!   over; the old master resumes, answers the writes queued on its sockets, then turns replica
//!   and drops them (the rollback case). The client waits longer than the pause, as redis-py (no
//!   timeout) or Lettuce (60 s) do, so it sees those writes acknowledged.
//! - `pause-short`: the same with a client that gives up after 2 s: the writes time out instead
//!   of being acknowledged, so none is counted lost (and some are gone all the same).
//! - `partition`: the master cut off the network (`--partition`, isolate-master by default)
//!   while its clients still reach it: it acknowledges writes until it notices it lost the
//!   majority, and every one is discarded when the partition heals ([`cut`](super::cut)).
//! - `shard-kill`: SIGKILL of its master and all its replicas at once, then each restarts from
//!   its own AOF: what the last second of `everysec` held is gone unless it was waited for.
//! - `none`: no fault, closed loop: the throughput and latency cost of the mode alone.
//!
//! Per run: acknowledged writes lost (confirmed by the mode, then gone from the stream at the end,
//! whether a consumer had read them or not: every write is audited against a final scan),
//! `unconfirmed` (XADD ok, the wait fell short), timed-out sends and whether Redis kept them, msg/s
//! and the producer's confirm latency; per
//! mode and fault the mean and spread over repeats, and the cost against `none`. Runs are
//! interleaved (mode inside fault inside round) so a machine that slows down biases none.

mod cells;
mod modes;
mod plan;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use super::cut::{partition_and_watch, CutTimeline, LossBound};
use super::{interleaved, merge_facts, with_child_live, ScenarioReport};
use crate::check::Verdict;
use crate::cluster::partition::Shape;
use crate::cluster::{ClusterFacts, NodeRole};
use crate::durability::Durability;
use crate::metrics::{finite, Latency};
use crate::workload::{Live, RunResult, Workload};
use crate::{Aof, Fsync, LocalCluster, LocalClusterOptions, Result};
use plan::{check, client_timeout_ms};

pub use cells::Cell;
pub use modes::{Fault, Mode};

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct DurabilityOptions {
    /// The cluster; `aof` is forced to `everysec` and `min_replicas_to_write` set per mode.
    pub cluster: LocalClusterOptions,
    pub modes: Vec<Mode>,
    pub faults: Vec<Fault>,
    pub repeat: usize,
    /// The fault-free, closed-loop run (`fault none`): messages.
    pub messages: u64,
    /// Fault runs: open-loop rate (msg/s) and duration (s); the fault starts at `fault_at_s`.
    pub rate: f64,
    pub duration_s: f64,
    pub fault_at_s: f64,
    /// `pause`: how long the master stays stopped (must exceed node-timeout to cause a failover).
    pub pause_ms: u64,
    /// `partition`: the shape, and how long it lasts before it heals.
    pub partition: Shape,
    pub partition_ms: u64,
    /// The modes were left to their default: drop those the server lacks (with a note) instead
    /// of refusing the run.
    pub default_modes: bool,
    /// `shard-kill`: how long the shard stays dead before its nodes restart.
    pub down_ms: u64,
    /// Go on although the data dir is on tmpfs/ramfs (where fsync, and so AOF, is free).
    pub allow_memory_fs: bool,
    /// Producers, consumers, batch, payload: the rest of the load.
    pub workload: Workload,
}

impl Default for DurabilityOptions {
    fn default() -> Self {
        DurabilityOptions {
            cluster: LocalClusterOptions {
                node_timeout_ms: 2_000,
                ..LocalClusterOptions::default()
            },
            modes: Mode::all(),
            faults: vec![
                Fault::None,
                Fault::Pause,
                Fault::Partition,
                Fault::ShardKill,
            ],
            repeat: 2,
            messages: 100_000,
            rate: 3_000.0,
            duration_s: 10.0,
            fault_at_s: 2.0,
            pause_ms: 5_000,
            partition: Shape::IsolateMaster,
            partition_ms: 6_000,
            default_modes: false,
            down_ms: 1_000,
            allow_memory_fs: false,
            workload: Workload {
                quiet_ms: 3_000,
                deadline_ms: 120_000,
                ..Workload::default()
            },
        }
    }
}

/// One run of one mode under one fault.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DurabilityRun {
    pub mode: String,
    pub fault: Fault,
    /// 1-based.
    pub run: usize,
    pub attempted: u64,
    /// Acknowledged: confirmed by the mode's wait (or by XADD for `none` / min-replicas).
    pub produced: u64,
    /// Acknowledged, then gone from the stream at the end, whether a consumer had read it first
    /// or not (the final scan audits every write).
    pub acked_lost: u64,
    /// Of `acked_lost`, the ones no consumer ever got: the checker's `lost`, which the verdict
    /// counts (the rest were read, then rolled back).
    pub lost_undelivered: u64,
    pub unconfirmed: u64,
    /// Refused by Redis (e.g. NOREPLICAS, CLUSTERDOWN).
    pub failed: u64,
    /// Timed out or dropped: the client gave up on them (see `client_timeout_ms`).
    pub indeterminate: u64,
    /// Sends not acknowledged (timed out, dropped or unconfirmed) that Redis held at the end, or
    /// that a consumer got: the client gave up on writes Redis kept.
    pub not_acknowledged_held: u64,
    /// ... and those that are gone.
    pub not_acknowledged_gone: u64,
    /// The producers' response timeout (ms): how long this run's client waited for a reply.
    pub client_timeout_ms: u64,
    /// The partition's timeline (partition runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<CutTimeline>,
    /// What a partition may lose: the cut shard's rate over node-timeout and over the detection
    /// window (partition runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_bound: Option<LossBound>,
    pub elapsed_seconds: f64,
    pub throughput_msgs_per_sec: f64,
    /// Send → acknowledged at the producer.
    pub confirm_latency_us: Latency,
    /// Send → XACK.
    pub latency_us: Latency,
    pub verdict: Verdict,
    /// Seconds from the fault's start until every node was healthy again (none: 0).
    pub recovered_after_s: f64,
}

/// durability's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DurabilityDetail {
    /// Per fault and mode, over the repeats.
    pub cells: Vec<Cell>,
    pub durability_runs: Vec<DurabilityRun>,
}

/// Runs every mode under every fault `repeat` times and compares.
pub async fn run(opts: &DurabilityOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    let (modes, notes) = check(opts)?;
    let grid: Vec<(Fault, &Mode)> = opts
        .faults
        .iter()
        .flat_map(|f| modes.iter().map(move |m| (*f, m)))
        .collect();
    let facts = std::sync::Mutex::new(ClusterFacts::default());
    let runs = interleaved(
        "durability",
        &live,
        opts.repeat,
        &grid,
        |(fault, mode)| format!("mode {}, {}", mode.spec, fault.label()),
        |round, (fault, mode)| {
            let (facts, live) = (&facts, &live);
            async move {
                let ((mut rec, result), cluster_facts) = one_run(opts, mode, *fault, live).await?;
                tracing::info!(
                    "durability {} {fault} run {round}: {} acknowledged lost, {} unconfirmed",
                    mode.spec,
                    rec.acked_lost,
                    rec.unconfirmed
                );
                merge_facts(
                    &mut facts.lock().unwrap_or_else(|e| e.into_inner()),
                    cluster_facts,
                );
                rec.run = round;
                Ok((rec, result))
            }
        },
    )
    .await?;
    let cells = cells::summarize(&opts.faults, &modes, &runs);
    let config = serde_json::json!({
        "modes": modes.iter().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "faults": opts.faults,
        "partition": opts.partition,
        "partition_ms": opts.partition_ms,
        "response_timeout_ms": match opts.workload.response_timeout_ms {
            Some(ms) => serde_json::json!(ms),
            None => serde_json::json!("per run: pause_ms + 10000 under pause, 2000 otherwise"),
        },
        "repeat": opts.repeat,
        "messages": opts.messages,
        "rate": opts.rate,
        "duration_s": opts.duration_s,
        "fault_at_s": opts.fault_at_s,
        "pause_ms": opts.pause_ms,
        "down_ms": opts.down_ms,
        "node_timeout_ms": opts.cluster.node_timeout_ms,
        "masters": opts.cluster.masters,
        "replicas_per_master": opts.cluster.replicas_per_master,
        "appendfsync": "everysec",
        "workload": &opts.workload,
    });
    let results: Vec<&RunResult> = runs.iter().map(|(_, r)| r).collect();
    let mut facts = facts.into_inner().unwrap_or_else(|e| e.into_inner());
    facts.warnings.splice(0..0, notes);
    let mut report = ScenarioReport::combined("durability", config, &results).with_facts(&facts);
    for c in &cells {
        report = report.finding(cells::finding(c));
    }
    for (r, _) in &runs {
        if let Some(t) = &r.partition {
            report = report.finding(format!(
                "{} run {}: {}",
                r.mode,
                r.run,
                t.sentence(Some(r.acked_lost), r.loss_bound.as_ref())
            ));
        }
    }
    Ok(report.with_detail(DurabilityDetail {
        cells,
        durability_runs: runs.into_iter().map(|(r, _)| r).collect(),
    }))
}

/// One fresh cluster, one mode, one fault.
async fn one_run(
    opts: &DurabilityOptions,
    mode: &Mode,
    fault: Fault,
    live: &Arc<Live>,
) -> Result<((DurabilityRun, RunResult), ClusterFacts)> {
    let cluster = super::start_cluster(
        LocalClusterOptions {
            aof: Aof::On(Fsync::Everysec),
            min_replicas_to_write: mode.min_replicas,
            min_replicas_max_lag_s: mode.max_lag_s,
            own_addresses: fault == Fault::Partition,
            ..opts.cluster.clone()
        },
        live,
    )
    .await?;
    let facts = ClusterFacts::of_local(&cluster);
    let mut wl = Workload {
        durability: mode.durability,
        response_timeout_ms: client_timeout_ms(opts, fault),
        audit_writes: true,
        ..opts.workload.clone()
    };
    match fault {
        Fault::None => {
            wl.messages = opts.messages;
            wl.rate = None;
        }
        _ => {
            wl.rate = Some(opts.rate);
            wl.messages = ((opts.rate * opts.duration_s).ceil() as u64).max(1);
        }
    }
    let (result, mut struck) = with_child_live(live, |child| {
        load_with_fault(&cluster, &wl, fault, opts, child)
    })
    .await?;
    if let Some(t) = struck.cut.as_mut() {
        t.add_shard_latency(&result.series, &result.shard_keys);
    }
    drop(cluster);
    let c = &result.counts;
    let audit = result.write_audit.clone().unwrap_or_default();
    let shard_rate = opts.rate / opts.cluster.masters.max(1) as f64;
    let rec = DurabilityRun {
        mode: mode.spec.clone(),
        fault,
        run: 0,
        attempted: c.attempted,
        produced: c.produced,
        // The audit sees what the checker's `lost` sees, and the writes read before they vanished.
        acked_lost: audit.discarded.max(c.lost),
        lost_undelivered: c.lost,
        unconfirmed: c.unconfirmed,
        failed: c.produce_failed,
        indeterminate: c.produce_indeterminate,
        not_acknowledged_held: audit.not_acknowledged_held,
        not_acknowledged_gone: audit.not_acknowledged_gone,
        client_timeout_ms: crate::workload::Budget::new(&wl, opts.cluster.masters)
            .producer_timeout(&Workload {
                durability: Durability::None,
                ..wl.clone()
            })
            .as_millis() as u64,
        loss_bound: struck
            .cut
            .as_ref()
            .map(|_| LossBound::new(shard_rate, opts.cluster.node_timeout_ms)),
        partition: struck.cut,
        elapsed_seconds: result.elapsed_seconds,
        throughput_msgs_per_sec: result.throughput_msgs_per_sec,
        confirm_latency_us: result.confirm_latency_us.clone(),
        latency_us: result.latency_us.clone(),
        verdict: result.counts.verdict(),
        recovered_after_s: finite(struck.recovered_after_s),
    };
    Ok(((rec, result), facts))
}

/// What a fault did: the seconds the cluster took to be healthy again, and a partition's timeline.
#[derive(Default)]
struct Struck {
    recovered_after_s: f64,
    cut: Option<CutTimeline>,
}

/// Runs the load on `cluster`; unless `fault` is none, strikes `fault_at_s` after the load's
/// clock started while the load keeps running.
async fn load_with_fault(
    cluster: &LocalCluster,
    wl: &Workload,
    fault: Fault,
    opts: &DurabilityOptions,
    child: Arc<Live>,
) -> Result<(RunResult, Struck)> {
    let load = crate::workload::run(cluster.endpoint(), wl, child.clone());
    if fault == Fault::None {
        return load.await.map(|r| (r, Struck::default()));
    }
    let fault_task = async {
        loop {
            if let Some(start) = child.started.get() {
                let at = *start + Duration::from_secs_f64(opts.fault_at_s);
                tokio::time::sleep_until(at.into()).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        strike(cluster, fault, opts, &child).await
    };
    // Both to the end: a fault is always healed and watched to its end (its timeline kept),
    // even when the load ends first; a fault that fails stops the load.
    let fault_task = async {
        let f = fault_task.await;
        if f.is_err() {
            child.stop.store(true, Relaxed);
        }
        f
    };
    let (r, f) = tokio::join!(load, fault_task);
    let struck = f?;
    Ok((r?, struck))
}

/// Applies `fault` to shard 0 (node 0 and its replicas) and waits until every node is healthy
/// again.
async fn strike(
    cluster: &LocalCluster,
    fault: Fault,
    opts: &DurabilityOptions,
    live: &Live,
) -> Result<Struck> {
    let began = Instant::now();
    let mut struck = Struck::default();
    match fault {
        Fault::None => return Ok(struck),
        Fault::Pause | Fault::PauseShort => {
            cluster.pause(0, true)?;
            tokio::time::sleep(Duration::from_millis(opts.pause_ms)).await;
            cluster.pause(0, false)?;
        }
        Fault::Partition => {
            let start = live.started.get().copied().unwrap_or(began);
            let since_load = |i: Instant| finite(i.saturating_duration_since(start).as_secs_f64());
            let hold = Duration::from_millis(opts.partition_ms);
            struck.cut =
                Some(partition_and_watch(cluster, opts.partition, 0, hold, since_load).await?);
        }
        Fault::ShardKill => {
            let shard: Vec<usize> = (0..cluster.ports().len())
                .filter(|&i| i == 0 || cluster.initial_role(i) == NodeRole::Replica(0))
                .collect();
            for &i in &shard {
                cluster.kill(i);
            }
            tokio::time::sleep(Duration::from_millis(opts.down_ms)).await;
            // The master first: its replicas then sync from what its AOF kept.
            for &i in &shard {
                cluster.restart(i).await?;
            }
        }
    }
    cluster
        .wait_healthy(Instant::now() + Duration::from_secs(60))
        .await?;
    struck.recovered_after_s = began.elapsed().as_secs_f64();
    Ok(struck)
}
