//! A run from set-up to result: connections, the tasks, and when the run is over.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::budget::Budget;
use super::consume::{claimer_loop, consumer_supervisor};
use super::live::{FanoutGroup, Live, Shared};
use super::produce::produce_lane;
use super::result::{finish, RunResult};
use super::route::Route;
use super::Workload;
use super::MAX_LATE;
use crate::check::Ledger;
use crate::cluster::{ClusterConnection, Endpoint};
use crate::metrics::{new_histogram, ErrorLog, Series};
use crate::stream::{self, now_us, Shards};
use crate::trim::{self, Trim};
use crate::{Error, Result};

/// Runs `workload` against the cluster at `endpoint`. Never hangs: it ends when every produced
/// message is acked, when nothing moved for `quiet_ms` after the producers finished, at the
/// deadline, or when `live.stop` is set.
pub async fn run(endpoint: &Endpoint, workload: &Workload, live: Arc<Live>) -> Result<RunResult> {
    workload.validate()?;
    let shards = plan_shards(endpoint, workload).await?;
    let mut admin = endpoint.cluster_connection(Duration::from_secs(5)).await?;
    prepare_streams(workload, &shards, &mut admin).await?;
    // Connections first, so that connecting is not part of the measured time.
    let budget = Budget::new(workload, shards.keys.len());
    let conns = Connections::open(endpoint, workload, &budget).await?;
    wait_for_common_start(workload, &live).await?;
    let cost = crate::cost::CostProbe::start(endpoint).await?;
    // The clock starts here, after the connections: connecting is not part of the run.
    let shared = Arc::new(shared_state(workload, &live, &shards, budget));
    let _ = live.started.set(shared.start);
    let mut tasks = JoinSet::new();
    spawn_producers(&mut tasks, &shared, workload, conns.producers);
    spawn_consumers(&mut tasks, &shared, workload, endpoint, conns.consumers);
    if let (Some(opts), Some(conn)) = (workload.claimer.clone(), conns.claimer) {
        let (sh, wl) = (shared.clone(), workload.clone());
        tasks.spawn(async move { claimer_loop(&sh, &wl, conn, &opts).await });
    }
    if workload.trim == Trim::Acked {
        let mut conn = endpoint.cluster_connection(Duration::from_secs(2)).await?;
        let (sh, groups) = (shared.clone(), workload.group_names());
        tasks.spawn(async move {
            while !sh.stopping() {
                for key in &sh.shards.keys {
                    trim::trim_acked(&mut conn, key, &groups).await;
                }
                tokio::time::sleep(Trim::ACKED_EVERY).await;
            }
        });
    }
    let ended_by = watch(&shared, workload).await;
    shared.stop.store(true, Relaxed);
    stop_tasks(tasks, workload).await;
    let cost = cost.stop().await;
    let mut result = finish(&shared, workload, &mut admin, ended_by).await?;
    let done = if workload.consumers > 0 {
        result.counts.acked
    } else {
        result.counts.produced
    };
    result.cost = cost.per_message(done);
    Ok(result)
}

/// The shard keys: one per master serving slots unless `workload.shards` says how many.
async fn plan_shards(endpoint: &Endpoint, workload: &Workload) -> Result<Shards> {
    let masters = endpoint
        .topology()
        .await?
        .iter()
        .filter(|n| n.is_master() && !n.slots.is_empty())
        .count();
    let shard_count = if workload.shards == 0 {
        masters.max(1)
    } else {
        workload.shards
    };
    workload.durability.check_supported(endpoint).await?;
    Shards::plan(endpoint, &workload.stream, &workload.group, shard_count).await
}

/// A clean slate (`reset`) or the groups created on the streams as they are.
async fn prepare_streams(
    workload: &Workload,
    shards: &Shards,
    admin: &mut ClusterConnection,
) -> Result<()> {
    if let Some(w) = workload.worker.as_ref().filter(|_| workload.reset) {
        // Deleting the keys once others may be writing would lose their messages.
        if now_us() >= w.start_at_us {
            return Err(Error::Config(
                "the common start time passed before this worker was set up, too late to reset the streams; start the workers with more lead time".into(),
            ));
        }
    }
    if workload.reset {
        shards.reset(admin).await?;
    } else {
        shards.create_groups(admin).await?;
    }
    // The fan-out groups, created like the first: reading from the start of each shard.
    for group in workload.group_names().iter().skip(1) {
        for key in &shards.keys {
            stream::create_group(admin, key, group).await?;
        }
    }
    Ok(())
}

/// The run's connections, one per producer, consumer and claimer.
struct Connections {
    producers: Vec<ClusterConnection>,
    consumers: Vec<ClusterConnection>,
    claimer: Option<ClusterConnection>,
}

impl Connections {
    async fn open(
        endpoint: &Endpoint,
        workload: &Workload,
        budget: &Budget,
    ) -> Result<Connections> {
        let producer_timeout = budget.producer_timeout(workload);
        let mut producers = Vec::new();
        for _ in 0..workload.producers {
            producers.push(endpoint.cluster_connection(producer_timeout).await?);
        }
        let read_timeout = Budget::read_timeout(workload.block_ms);
        let mut consumers = Vec::new();
        for _ in 0..workload.consumers * workload.groups.max(1) {
            consumers.push(endpoint.cluster_connection(read_timeout).await?);
        }
        let claimer = match &workload.claimer {
            Some(_) => Some(endpoint.cluster_connection(Budget::read_timeout(0)).await?),
            None => None,
        };
        Ok(Connections {
            producers,
            consumers,
            claimer,
        })
    }
}

/// In a distributed run, waits for the common start (or fails if the caller stops first).
async fn wait_for_common_start(workload: &Workload, live: &Live) -> Result<()> {
    if let Some(w) = &workload.worker {
        let wait = Duration::from_micros(w.start_at_us.saturating_sub(now_us()));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = until_stopped(live) => return Err(Error::Config("stopped before the common start time".into())),
        }
    }
    Ok(())
}

/// The state every task of the run shares; its clock starts now.
fn shared_state(workload: &Workload, live: &Arc<Live>, shards: &Shards, budget: Budget) -> Shared {
    let start = Instant::now();
    let start_us = now_us();
    Shared {
        ledger: run_ledger(workload, shards, start_us),
        fanout: (workload.group_names().into_iter().skip(1))
            .map(|name| FanoutGroup {
                name,
                ledger: run_ledger(workload, shards, start_us),
                hist: Mutex::new((new_histogram(), new_histogram())),
            })
            .collect(),
        live: live.clone(),
        errors: ErrorLog::default(),
        start,
        start_us,
        last_ack_ns: AtomicU64::new(0),
        last_produce_ns: AtomicU64::new(0),
        producers_left: AtomicU64::new(workload.producers as u64),
        stop: AtomicBool::new(false),
        hist: Mutex::new((new_histogram(), new_histogram())),
        confirm_hist: Mutex::new(new_histogram()),
        series: Series::new(start, shards.keys.len()),
        shards: shards.clone(),
        payload: vec![b'x'; workload.payload_bytes],
        budget,
    }
}

/// One consumer group's ledger for this run (or this worker's part of it).
fn run_ledger(workload: &Workload, shards: &Shards, start_us: u64) -> Ledger {
    match &workload.worker {
        // Other workers may have started up to MAX_LATE before this one (`--start-in` gives
        // each its own start): their messages are of this run too.
        Some(w) => Ledger::for_worker(
            &w.run_per_producer,
            shards.keys.len(),
            w.start_at_us.saturating_sub(MAX_LATE.as_micros() as u64),
        ),
        None => Ledger::for_run(&workload.own_per_producer(), shards.keys.len(), start_us),
    }
}

/// One task per producer lane. Each lane is bound to one shard (`inflight` lanes per shard) and
/// sends only that shard's messages, each when it is due: a shard whose master stalls holds back
/// its own messages, which wait and show the stall in their latency, while the other shards carry
/// on, as an application with a pipeline per node would. With free routing the lanes of a
/// producer share one sequence instead.
fn spawn_producers(
    tasks: &mut JoinSet<()>,
    shared: &Arc<Shared>,
    workload: &Workload,
    conns: Vec<ClusterConnection>,
) {
    let per_producer = workload.own_per_producer();
    let producer_offset = workload.worker.as_ref().map_or(0, |w| w.producer_offset);
    let shard_count = shared.shards.keys.len();
    for (p, conn) in conns.into_iter().enumerate() {
        let count = per_producer[p];
        // Where each route stands: one per shard, shared by that shard's lanes (one for all with
        // free routing).
        let positions: Vec<Arc<AtomicU64>> = (0..shard_count)
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let lanes = workload.inflight * shard_count;
        let lanes_left = Arc::new(AtomicU64::new(lanes as u64));
        // The global producer id: routes, tags and the ledger all use it, so that `shard_of`
        // and the final scan (here or in `rcstress merge`) agree.
        let global = producer_offset + p as u32;
        for lane in 0..lanes {
            let shard = (p + lane) % shard_count;
            let (route, next) = if workload.free_routing {
                (Route::all(count), positions[0].clone())
            } else {
                let route = Route::keyed(global, shard, shard_count, count);
                (route, positions[shard].clone())
            };
            let (sh, wl, conn, ll) = (
                shared.clone(),
                workload.clone(),
                conn.clone(),
                lanes_left.clone(),
            );
            tasks.spawn(async move {
                produce_lane(&sh, &wl, conn, global, shard, route, &next).await;
                if ll.fetch_sub(1, Relaxed) == 1 {
                    sh.producers_left.fetch_sub(1, Relaxed);
                }
            });
        }
    }
}

/// One task per consumer. In a distributed run the shards are shared out over the consumers of
/// all workers.
fn spawn_consumers(
    tasks: &mut JoinSet<()>,
    shared: &Arc<Shared>,
    workload: &Workload,
    endpoint: &Endpoint,
    conns: Vec<ClusterConnection>,
) {
    let (consumer_offset, all_consumers) = workload
        .worker
        .as_ref()
        .map_or((0, workload.consumers), |w| {
            (w.consumer_offset, w.run_consumers)
        });
    let keys = &shared.shards.keys;
    let per_group = conns.len() / workload.groups.max(1);
    for (i, conn) in conns.into_iter().enumerate() {
        // Each group has its own consumers, sharing the shards out as one group does.
        let (g, c) = (i / per_group.max(1), consumer_offset + i % per_group.max(1));
        let owned: Vec<String> = if all_consumers >= keys.len() {
            vec![keys[c % keys.len()].clone()]
        } else {
            keys.iter()
                .enumerate()
                .filter(|(j, _)| j % all_consumers == c)
                .map(|(_, k)| k.clone())
                .collect()
        };
        let (sh, wl, ep) = (shared.clone(), workload.clone(), endpoint.clone());
        tasks.spawn(async move { consumer_supervisor(&sh, &wl, &ep, conn, g, c, owned).await });
    }
}

/// Lets the tasks see the stop and end; those that do not within a bound are aborted.
async fn stop_tasks(mut tasks: JoinSet<()>, workload: &Workload) {
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_millis(workload.block_ms + 5000), drain)
        .await
        .is_err()
    {
        tracing::warn!("some tasks did not stop in time; aborting them");
        tasks.abort_all();
    }
}

/// Polls progress every 10 ms and decides when the run is over.
async fn watch(sh: &Shared, wl: &Workload) -> String {
    let deadline = sh.start + Duration::from_millis(wl.deadline_ms);
    let mut last_progress = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = Instant::now();
        // Over every group: one group's progress is progress.
        let acked: u64 = sh.ledgers().map(|l| l.acked_count()).sum();
        if acked != last_progress.1 {
            last_progress = (now, acked);
        }
        let producers_done = sh.producers_left.load(Relaxed) == 0;
        if sh.live.stop.load(Relaxed) {
            return "stopped".into();
        }
        // A worker acks other workers' messages too, and cannot see when theirs are done: it
        // ends on "quiet" (or the deadline) instead.
        if producers_done
            && wl.consumers > 0
            && wl.worker.is_none()
            && sh.ledgers().all(|l| l.acked_count() >= l.awaited_count())
        {
            return "all acked".into();
        }
        if producers_done && wl.consumers == 0 && wl.claimer.is_none() {
            return "producers done".into();
        }
        if producers_done
            && now.duration_since(last_progress.0.max(sh.start))
                >= Duration::from_millis(wl.quiet_ms)
        {
            return "quiet".into();
        }
        if now >= deadline {
            return "deadline".into();
        }
    }
}

/// Resolves once `live.stop` is set (checked every 50 ms).
async fn until_stopped(live: &Live) {
    while !live.stop.load(Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
