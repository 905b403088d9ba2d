//! durability: what each durability setting keeps, and what it costs. For every mode (none,
//! wait:1, waitaof:1:0, waitaof:0:1, min-replicas:1) and every fault, a fresh 3+3 cluster with
//! `appendfsync everysec` runs the load while the fault strikes shard 0:
//!
//! - `pause`: SIGSTOP of its master for longer than node-timeout, then SIGCONT. A replica takes
//!   over; the old master resumes, answers the writes queued on its sockets, then turns replica
//!   and drops them (the rollback case).
//! - `shard-kill`: SIGKILL of its master and all its replicas at once, then each restarts from
//!   its own AOF: what the last second of `everysec` held is gone unless it was waited for.
//! - `none`: no fault, closed loop: the throughput and latency cost of the mode alone.
//!
//! Per run: acknowledged writes lost (the checker's `lost`: confirmed by the mode, then gone),
//! `unconfirmed` (XADD ok, the wait fell short), msg/s and the producer's confirm latency; per
//! mode and fault the mean and spread over repeats, and the cost against `none`. Runs are
//! interleaved (mode inside fault inside round) so a machine that slows down biases none.

mod cells;
mod modes;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use super::{interleaved, merge_facts, with_child_live, ScenarioReport};
use crate::check::Verdict;
use crate::cluster::server::{check_server, find_server};
use crate::cluster::{ClusterFacts, NodeRole};
use crate::durability::Durability;
use crate::metrics::{finite, Latency};
use crate::workload::{Live, RunResult, Workload};
use crate::{Aof, Error, Fsync, LocalCluster, LocalClusterOptions, Result};

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
            faults: Fault::all(),
            repeat: 2,
            messages: 100_000,
            rate: 3_000.0,
            duration_s: 8.0,
            fault_at_s: 2.0,
            pause_ms: 5_000,
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
    /// Acknowledged, then gone: neither delivered nor in the stream at the end.
    pub acked_lost: u64,
    pub unconfirmed: u64,
    /// Refused (e.g. NOREPLICAS, CLUSTERDOWN) or timed out.
    pub failed: u64,
    pub indeterminate: u64,
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

/// Refuses a memory file system (unless allowed): AOF there measures nothing.
fn check_data_fs(opts: &DurabilityOptions) -> Result<Option<String>> {
    let base = opts
        .cluster
        .data_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let Some(fs) = crate::storage::fs_type(&base) else {
        return Ok(None);
    };
    if !fs.in_memory {
        return Ok(None);
    }
    let text = format!(
        "the nodes' data dir {} is on {}: fsync is free there, so AOF and WAITAOF measure nothing",
        base.display(),
        fs.name
    );
    if opts.allow_memory_fs {
        Ok(Some(text))
    } else {
        Err(Error::Config(format!(
            "{text}; put it on a disk with --data-dir DIR (or RCSTRESS_DATA_DIR), or pass \
             --allow-memory-fs to go on anyway"
        )))
    }
}

/// durability's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DurabilityDetail {
    /// Per fault and mode, over the repeats.
    pub cells: Vec<Cell>,
    pub durability_runs: Vec<DurabilityRun>,
}

/// Refuses what cannot make a comparison, before the first cluster starts; returns the warning
/// about a memory file system when it is allowed.
fn check(opts: &DurabilityOptions) -> Result<Option<String>> {
    if opts.modes.is_empty() || opts.faults.is_empty() || opts.repeat == 0 {
        return Err(Error::Config(
            "durability needs at least one mode, one fault and --repeat of at least 1".into(),
        ));
    }
    if opts.faults.contains(&Fault::Pause) && opts.pause_ms <= opts.cluster.node_timeout_ms {
        return Err(Error::Config(format!(
            "the pause ({} ms) must exceed --node-timeout ({} ms) to cause the failover it tests",
            opts.pause_ms, opts.cluster.node_timeout_ms
        )));
    }
    if opts.cluster.replicas_per_master == 0 {
        return Err(Error::Config(
            "durability needs replicas (--replicas 1 or more)".into(),
        ));
    }
    let memory_fs = check_data_fs(opts)?;
    // WAITAOF came with Redis 7.2 (Valkey has it): say so before the first cluster starts.
    let server = check_server(&find_server(opts.cluster.server.as_deref())?)?;
    let wants_waitaof = opts
        .modes
        .iter()
        .any(|m| matches!(m.durability, Durability::WaitAof { .. }));
    if wants_waitaof && server.name == "redis" && server.version_tuple() < (7, 2) {
        return Err(Error::ServerLacks(format!(
            "{} has no WAITAOF (it came with Redis 7.2): drop the waitaof modes, or run with --server valkey8 or --server redis8 (install with 'scripts/servers install valkey8')",
            server.label()
        )));
    }
    opts.workload.validate()?;
    Ok(memory_fs)
}

/// Runs every mode under every fault `repeat` times and compares.
pub async fn run(opts: &DurabilityOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    let memory_fs = check(opts)?;
    let grid: Vec<(Fault, &Mode)> = opts
        .faults
        .iter()
        .flat_map(|f| opts.modes.iter().map(move |m| (*f, m)))
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
                    "durability {} {fault} run {round}: {} lost, {} unconfirmed",
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
    let cells = cells::summarize(opts, &runs);
    let config = serde_json::json!({
        "modes": opts.modes.iter().map(|m| m.spec.clone()).collect::<Vec<_>>(),
        "faults": opts.faults,
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
    facts.warnings.splice(0..0, memory_fs);
    let mut report = ScenarioReport::combined("durability", config, &results).with_facts(&facts);
    for c in &cells {
        report = report.finding(cells::finding(c));
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
            ..opts.cluster.clone()
        },
        live,
    )
    .await?;
    let facts = ClusterFacts::of_local(&cluster);
    let mut wl = Workload {
        durability: mode.durability,
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
    let (result, recovered_after_s) = with_child_live(live, |child| {
        load_with_fault(&cluster, &wl, fault, opts, child)
    })
    .await?;
    drop(cluster);
    let c = &result.counts;
    let rec = DurabilityRun {
        mode: mode.spec.clone(),
        fault,
        run: 0,
        attempted: c.attempted,
        produced: c.produced,
        acked_lost: c.lost,
        unconfirmed: c.unconfirmed,
        failed: c.produce_failed,
        indeterminate: c.produce_indeterminate,
        elapsed_seconds: result.elapsed_seconds,
        throughput_msgs_per_sec: result.throughput_msgs_per_sec,
        confirm_latency_us: result.confirm_latency_us.clone(),
        latency_us: result.latency_us.clone(),
        verdict: result.counts.verdict(),
        recovered_after_s: finite(recovered_after_s),
    };
    Ok(((rec, result), facts))
}

/// Runs the load on `cluster`; unless `fault` is none, strikes `fault_at_s` after the load's
/// clock started while the load keeps running. Returns the run and the seconds the cluster took
/// to be healthy again.
async fn load_with_fault(
    cluster: &LocalCluster,
    wl: &Workload,
    fault: Fault,
    opts: &DurabilityOptions,
    child: Arc<Live>,
) -> Result<(RunResult, f64)> {
    let load = crate::workload::run(cluster.endpoint(), wl, child.clone());
    tokio::pin!(load);
    if fault == Fault::None {
        return load.await.map(|r| (r, 0.0));
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
        strike(cluster, fault, opts).await
    };
    tokio::select! {
        r = &mut load => r.map(|r| (r, 0.0)),
        f = fault_task => match f {
            Ok(secs) => load.await.map(|r| (r, secs)),
            Err(e) => {
                child.stop.store(true, Relaxed);
                let _ = load.await;
                Err(e)
            }
        },
    }
}

/// Applies `fault` to shard 0 (node 0 and its replicas) and waits until every node is healthy
/// again; returns the seconds that took from the fault's start.
async fn strike(cluster: &LocalCluster, fault: Fault, opts: &DurabilityOptions) -> Result<f64> {
    let began = Instant::now();
    match fault {
        Fault::None => return Ok(0.0),
        Fault::Pause => {
            cluster.pause(0, true)?;
            tokio::time::sleep(Duration::from_millis(opts.pause_ms)).await;
            cluster.pause(0, false)?;
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
    Ok(began.elapsed().as_secs_f64())
}
