//! A run of the cycle: producers XADD, consumers XREADGROUP and XACK, a claimer XAUTOCLAIMs,
//! the ledger counts every message, and the run ends by itself (all acked, quiet, or deadline).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::Rng;
use redis::cluster_async::ClusterConnection;
use redis::Value;
use serde::Serialize;

use crate::check::{
    settle_undelivered, Counts, DeliveryKind, Entry, EntryId, Ledger, LedgerSnapshot, ShardScan,
    Via,
};
use crate::cluster::Endpoint;
use crate::distributed::worker::MAX_LATE;
use crate::durability::{Confirmation, Durability};
use crate::metrics::{
    error_kind, finite, is_indeterminate, new_histogram, ErrorLog, FirstError, Latency,
    SecondSample, Series,
};
use crate::stream::{
    self, now_us, parse_entries, parse_xautoclaim, parse_xreadgroup, Delivery, MessageTag, Shards,
};
use crate::trim::{self, Trim};
use crate::{Error, Result};

/// The claimer: XAUTOCLAIM of entries idle at least `min_idle`, every `interval`.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimerOptions {
    pub min_idle_ms: u64,
    pub interval_ms: u64,
}

/// What a run does. Defaults: 3 producers and 3 consumers over one shard per master, batches of
/// 1000 (XADDs per pipeline, XREADGROUP COUNT), a 64-byte payload.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    pub messages: u64,
    pub producers: usize,
    pub consumers: usize,
    /// Shard keys; 0 = one per master.
    pub shards: usize,
    /// XADDs per pipeline and XREADGROUP COUNT; 1 = the seed's one command per message.
    pub batch: usize,
    /// Pipelines in flight per producer and shard (one lane each, bound to its shard).
    pub inflight: usize,
    /// Lanes take the producer's next messages whatever their shard, so a fast shard takes the
    /// messages of a slow one: more closed-loop throughput on an uneven cluster, but a stalled
    /// shard's messages go elsewhere and the stall is hidden instead of measured. Off by default:
    /// a message's shard is fixed by the message (see [`shard_of`]).
    pub free_routing: bool,
    pub payload_bytes: usize,
    pub stream: String,
    pub group: String,
    /// XREADGROUP BLOCK (ms).
    pub block_ms: u64,
    /// Open-loop rate (messages/s over all producers); `None` = as fast as acks allow.
    pub rate: Option<f64>,
    pub claimer: Option<ClaimerOptions>,
    /// Chance that a consumer dies after reading a batch and before XACK (then a new consumer,
    /// under a new name, takes its place).
    pub crash_probability: f64,
    /// Hard bound on the whole run.
    pub deadline_ms: u64,
    /// End early once producers are done and nothing was acked for this long.
    pub quiet_ms: u64,
    /// Delete the shard keys before the run (a clean slate).
    pub reset: bool,
    /// This process's part of a distributed run (`rcstress worker`); `None` for a run on its own.
    pub worker: Option<WorkerPart>,
    /// What producers wait for after each pipeline (WAIT / WAITAOF) before a message counts as
    /// acknowledged.
    pub durability: Durability,
    /// How the streams are trimmed while the run goes on ([`Trim`]).
    pub trim: Trim,
}

/// One worker's part of a distributed run: which global producer and consumer ids are its own,
/// and when the load starts on every worker. Its `producers`, `consumers` and `rate` are already
/// its share; `messages` is the sum of its producers' messages.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerPart {
    /// Global id of this worker's first producer (ids are disjoint across workers).
    pub producer_offset: u32,
    /// Global index of this worker's first consumer (consumer names are disjoint across workers).
    pub consumer_offset: usize,
    /// Messages of every producer of the whole run, by global producer id.
    pub run_per_producer: Vec<u64>,
    /// Consumers of the whole run: shards are shared out over all of them.
    pub run_consumers: usize,
    /// The common start, µs since the epoch: no engine gives a start barrier, so every worker
    /// sets up, then waits for this moment.
    pub start_at_us: u64,
}

/// What a worker keeps beyond the JSON of a run, for `rcstress merge`.
#[derive(Clone, Debug)]
pub struct RawRun {
    /// When the load started, µs since the epoch (the zero of `series`).
    pub start_us: u64,
    /// Send to delivery, µs (behind `delivery_latency_us`).
    pub delivery: Histogram<u64>,
    /// Pipeline reply to WAIT / WAITAOF reply, µs (behind `confirm_latency_us`).
    pub confirm: Histogram<u64>,
    pub ledger: LedgerSnapshot,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            messages: 10_000,
            producers: 3,
            consumers: 3,
            shards: 0,
            batch: 1000,
            inflight: 2,
            free_routing: false,
            payload_bytes: 64,
            stream: "rcstress".into(),
            group: "rcstress-group".into(),
            block_ms: 100,
            rate: None,
            claimer: None,
            crash_probability: 0.0,
            deadline_ms: 300_000,
            quiet_ms: 5_000,
            reset: true,
            worker: None,
            durability: Durability::None,
            trim: Trim::None,
        }
    }
}

impl Workload {
    /// The seed's client: one producer, one consumer, one stream key, one command per message.
    pub fn seed_style() -> Workload {
        Workload {
            producers: 1,
            consumers: 1,
            shards: 1,
            batch: 1,
            inflight: 1,
            ..Workload::default()
        }
    }

    /// Messages producer `p` sends: an even split, the remainder to the first ones.
    pub fn per_producer(&self) -> Vec<u64> {
        let p = self.producers.max(1) as u64;
        (0..p)
            .map(|i| self.messages / p + u64::from(i < self.messages % p))
            .collect()
    }

    /// Messages of each of this process's producers (its share in a distributed run).
    pub fn own_per_producer(&self) -> Vec<u64> {
        match &self.worker {
            Some(w) => {
                let first = w.producer_offset as usize;
                w.run_per_producer[first..first + self.producers].to_vec()
            }
            None => self.per_producer(),
        }
    }

    /// Checks the numbers make sense; the message says which flag to fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.into()));
        if self.messages == 0 {
            return bad("--messages must be at least 1");
        }
        if self.producers == 0 {
            return bad("--producers must be at least 1");
        }
        if self.batch == 0 || self.inflight == 0 {
            return bad("--batch and --inflight must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.crash_probability) {
            return bad("--crash-probability must be between 0 and 1");
        }
        if self.free_routing && self.trim.maxlen().is_some() {
            // trimmed_unread is settled per shard, which needs each message's shard fixed.
            return bad("--trim maxlen:N needs keyed routing; drop --free-routing");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return bad("--rate must be a positive number of messages per second");
            }
        }
        if let Some(w) = &self.worker {
            if w.producer_offset as usize + self.producers > w.run_per_producer.len()
                || w.consumer_offset + self.consumers > w.run_consumers
            {
                return bad("a worker's producers or consumers lie outside the run's");
            }
        }
        Ok(())
    }
}

/// Counters a caller (progress bar, scenario) can watch while the run goes on.
#[derive(Default)]
pub struct Live {
    pub attempted: AtomicU64,
    pub produced: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub crashes: AtomicU64,
    /// Set by the caller to end the run early (Ctrl-C, a scenario that is done).
    pub stop: AtomicBool,
    /// When the load started (after set-up): the zero of `series` and of scenario events.
    pub started: std::sync::OnceLock<Instant>,
    /// Set by the caller to stop producing and let consumers drain what was produced; the run then
    /// ends by itself ("all acked" or "quiet"). A failover scenario's clean end.
    pub drain: AtomicBool,
    /// Per-shard failure spans: the client's view of unavailability during faults.
    pub outages: crate::metrics::ShardOutages,
    /// Set by the caller to hold every consumer (they stop reading, the backlog builds); cleared
    /// to let them go on. The backlog scenario's lever.
    pub pause_consumers: AtomicBool,
}

impl Live {
    /// Seconds since the load started (0 before it did).
    pub fn secs(&self) -> f64 {
        self.started
            .get()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// The shard key producer `producer`'s message `seq` goes to: fixed by the message, as a real
/// application's message belongs to its key and cannot move because a master is slow. A rotation
/// by producer id spreads each producer's consecutive messages over every shard.
pub fn shard_of(producer: u32, seq: u64, shards: usize) -> usize {
    ((seq + u64::from(producer)) % shards.max(1) as u64) as usize
}

/// The messages of one producer that go to one shard: seqs `offset`, `offset + stride`, ...
/// below `count` (the `j`-th is `offset + j * stride`). With free routing: all of them.
#[derive(Clone, Copy, Debug)]
struct Route {
    offset: u64,
    stride: u64,
    /// How many messages this route has.
    len: u64,
}

impl Route {
    fn keyed(producer: u32, shard: usize, shards: usize, count: u64) -> Route {
        let stride = shards.max(1) as u64;
        let offset = (shard as u64 + stride - u64::from(producer) % stride) % stride;
        Route {
            offset,
            stride,
            len: count.saturating_sub(offset).div_ceil(stride),
        }
    }
    fn all(count: u64) -> Route {
        Route {
            offset: 0,
            stride: 1,
            len: count,
        }
    }
    fn seq(&self, j: u64) -> u64 {
        self.offset + j * self.stride
    }
    /// How many of the route's messages are due by `secs` at `rate` per second (the producer's
    /// message `seq` is due at `seq / rate`).
    fn due_by(&self, secs: f64, rate: f64) -> u64 {
        let due_seqs = (secs * rate) as u64 + 1; // seqs 0..due_seqs are due
        due_seqs
            .saturating_sub(self.offset)
            .div_ceil(self.stride)
            .min(self.len)
    }
}

/// The outcome of a run; field names follow the JSON contract.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RunResult {
    /// First XADD to last XACK (to last XADD if nothing consumes).
    pub elapsed_seconds: f64,
    /// Acked (or, with no consumers, produced) messages per second of `elapsed_seconds`.
    pub throughput_msgs_per_sec: f64,
    pub counts: Counts,
    /// Send (scheduled send in open-loop mode) to XACK done, µs.
    pub latency_us: Latency,
    /// Send to delivered by XREADGROUP, µs.
    pub delivery_latency_us: Latency,
    /// Send to the producer's acknowledgement, µs: the XADD reply, or with `--durability` the
    /// WAIT / WAITAOF reply that confirmed it (what a writer waits for; unconfirmed ones are
    /// not in it).
    pub confirm_latency_us: Latency,
    /// The histogram behind `latency_us`, so that runs can be merged by adding histograms (the
    /// only sound way to combine percentiles) and counts above a bound can be read.
    #[serde(skip)]
    pub latency_histogram: Histogram<u64>,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub first_errors: std::collections::BTreeMap<String, FirstError>,
    /// Over the whole run, at a resolution that fits it (100 ms up to 24 s, then coarser); sums
    /// of `sent` and `acked` equal `counts.attempted` and `counts.acked`.
    pub series: Vec<SecondSample>,
    /// "ok" iff nothing lost and nothing unexpected ([`crate::check::Verdict`]), else the reason.
    pub verdict: String,
    /// Findings beside the verdict, each a sentence: messages not acked when the run ended,
    /// unverifiable messages, duplicates.
    pub notes: Vec<String>,
    /// Why the run ended: "all acked", "producers done" (no consumers), "quiet", "deadline", "stopped".
    pub ended_by: String,
    pub consumer_crashes: u64,
    pub shard_keys: Vec<String>,
    /// What Redis itself said at the end (XLEN / XPENDING over shards), to cross-check the ledger.
    pub redis_xlen: Option<u64>,
    /// Entries trimming removed from the shard streams, as Redis counts them (XINFO STREAM
    /// entries-added − length, summed); `None` without `--trim` or when a shard could not be read.
    pub trimmed_entries: Option<u64>,
    /// Disagreements between the ledger and Redis, each a sentence.
    pub disagreements: Vec<String>,
    pub ledger_bytes: usize,
    /// Peak resident memory of this process so far (VmHWM), bytes; 0 where /proc is missing.
    pub client_peak_rss_bytes: u64,
    /// Client and server CPU per message, and whether every replica was in sync.
    pub cost: crate::cost::Cost,
    /// Histograms and ledger bits of a worker's run (only kept when `Workload::worker` is set).
    #[serde(skip)]
    pub raw: Option<RawRun>,
}

/// Shared state of one run.
struct Shared {
    ledger: Ledger,
    live: Arc<Live>,
    errors: ErrorLog,
    start: Instant,
    /// `start` on the wall clock messages carry (µs since the epoch).
    start_us: u64,
    /// Nanoseconds since `start` of the latest XACK / XADD.
    last_ack_ns: AtomicU64,
    last_produce_ns: AtomicU64,
    producers_left: AtomicU64,
    stop: AtomicBool,
    /// Send→ack and send→delivery of each message once, at its first ack / delivery.
    hist: Mutex<(Histogram<u64>, Histogram<u64>)>,
    /// Send to acknowledged at the producer (XADD, or its durability wait).
    confirm_hist: Mutex<Histogram<u64>>,
    series: Series,
    shards: Shards,
    payload: Vec<u8>,
}

impl Shared {
    fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
    fn stopping(&self) -> bool {
        self.stop.load(Relaxed) || self.live.stop.load(Relaxed)
    }
    fn shard_index(&self, key: &str) -> Option<usize> {
        self.shards.keys.iter().position(|k| k == key)
    }
    fn record_error(&self, e: &redis::RedisError, shard: Option<usize>) {
        let kind = error_kind(e);
        self.series.error(shard);
        self.live.errors.fetch_add(1, Relaxed);
        self.errors.record(
            &kind,
            self.live.attempted.load(Relaxed),
            self.secs(),
            || crate::cluster::short(&e.to_string()),
        );
    }
    /// Counts `e` and books it in `key`'s outage spans (the operation was sent at `sent_at`).
    fn record_shard_error(&self, key: &str, sent_at: f64, e: &redis::RedisError) {
        self.record_error(e, self.shard_index(key));
        self.live.outages.failure(key, sent_at, &error_kind(e));
    }
    /// An operation on `key` succeeded: ends the key's outage span, if one is open.
    fn record_shard_ok(&self, key: &str) {
        self.live.outages.success(key, self.secs());
    }
}

/// Runs `workload` against the cluster at `endpoint`. Never hangs: it ends when every produced
/// message is acked, when nothing moved for `quiet_ms` after the producers finished, at the
/// deadline, or when `live.stop` is set.
pub async fn run(endpoint: &Endpoint, workload: &Workload, live: Arc<Live>) -> Result<RunResult> {
    workload.validate()?;
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
    let shards = Shards::plan(endpoint, &workload.stream, &workload.group, shard_count).await?;
    let mut admin = endpoint.cluster_connection(Duration::from_secs(5)).await?;
    if let Some(w) = workload.worker.as_ref().filter(|_| workload.reset) {
        // Deleting the keys once others may be writing would lose their messages.
        if now_us() >= w.start_at_us {
            return Err(Error::Config(
                "the common start time passed before this worker was set up, too late to reset the streams; start the workers with more lead time".into(),
            ));
        }
    }
    if workload.reset {
        shards.reset(&mut admin).await?;
    } else {
        shards.create_groups(&mut admin).await?;
    }
    let per_producer = workload.own_per_producer();
    // Connections first, so that connecting is not part of the measured time.
    let mut producer_conns = Vec::new();
    // A WAIT / WAITAOF blocks its connection for up to its timeout, and the lanes of a shard
    // queue behind each other there: the response timeout leaves room for all of them.
    let producer_timeout =
        Duration::from_secs(2) + workload.durability.timeout() * workload.inflight as u32;
    for _ in 0..workload.producers {
        producer_conns.push(endpoint.cluster_connection(producer_timeout).await?);
    }
    let read_timeout = Duration::from_millis(workload.block_ms + 2000);
    let mut consumer_conns = Vec::new();
    for _ in 0..workload.consumers {
        consumer_conns.push(endpoint.cluster_connection(read_timeout).await?);
    }
    let claimer_conn = match &workload.claimer {
        Some(_) => Some(endpoint.cluster_connection(Duration::from_secs(2)).await?),
        None => None,
    };

    if let Some(w) = &workload.worker {
        let wait = Duration::from_micros(w.start_at_us.saturating_sub(now_us()));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = until_stopped(&live) => return Err(Error::Config("stopped before the common start time".into())),
        }
    }
    let cost = crate::cost::CostProbe::start(endpoint).await?;
    // The clock starts here, after the connections: connecting is not part of the run.
    let start = Instant::now();
    let start_us = now_us();
    let shared = Arc::new(Shared {
        ledger: match &workload.worker {
            // Other workers may have started up to MAX_LATE before this one (`--start-in` gives
            // each its own start): their messages are of this run too.
            Some(w) => Ledger::for_worker(
                &w.run_per_producer,
                shards.keys.len(),
                w.start_at_us.saturating_sub(MAX_LATE.as_micros() as u64),
            ),
            None => Ledger::for_run(&per_producer, shards.keys.len(), start_us),
        },
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
    });
    let _ = live.started.set(shared.start);
    let mut tasks = tokio::task::JoinSet::new();
    let producer_offset = workload.worker.as_ref().map_or(0, |w| w.producer_offset);
    for (p, conn) in producer_conns.into_iter().enumerate() {
        let count = per_producer[p];
        // Each lane is bound to one shard (`inflight` lanes per shard) and sends only that
        // shard's messages, each when it is due: a shard whose master stalls holds back its own
        // messages, which wait and show the stall in their latency, while the other shards carry
        // on, as an application with a pipeline per node would. With free routing the lanes of a
        // producer share one sequence instead.
        let shard_count = shards.keys.len();
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
    // In a distributed run the shards are shared out over the consumers of all workers.
    let (consumer_offset, all_consumers) = workload
        .worker
        .as_ref()
        .map_or((0, workload.consumers), |w| {
            (w.consumer_offset, w.run_consumers)
        });
    for (c, conn) in consumer_conns.into_iter().enumerate() {
        let c = consumer_offset + c;
        let owned: Vec<String> = if all_consumers >= shards.keys.len() {
            vec![shards.keys[c % shards.keys.len()].clone()]
        } else {
            shards
                .keys
                .iter()
                .enumerate()
                .filter(|(j, _)| j % all_consumers == c)
                .map(|(_, k)| k.clone())
                .collect()
        };
        let (sh, wl, ep) = (shared.clone(), workload.clone(), endpoint.clone());
        tasks.spawn(async move { consumer_supervisor(&sh, &wl, &ep, conn, c, owned).await });
    }
    if let (Some(opts), Some(conn)) = (workload.claimer.clone(), claimer_conn) {
        let (sh, wl) = (shared.clone(), workload.clone());
        tasks.spawn(async move { claimer_loop(&sh, &wl, conn, &opts).await });
    }

    if workload.trim == Trim::Acked {
        let mut conn = endpoint.cluster_connection(Duration::from_secs(2)).await?;
        let sh = shared.clone();
        tasks.spawn(async move {
            while !sh.stopping() {
                for key in &sh.shards.keys {
                    trim::trim_acked(&mut conn, key, &sh.shards.group).await;
                }
                tokio::time::sleep(Trim::ACKED_EVERY).await;
            }
        });
    }
    let ended_by = watch(&shared, workload).await;
    shared.stop.store(true, Relaxed);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_millis(workload.block_ms + 5000), drain)
        .await
        .is_err()
    {
        tracing::warn!("some tasks did not stop in time; aborting them");
        tasks.abort_all();
    }
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

/// Polls progress every 10 ms and decides when the run is over.
async fn watch(sh: &Shared, wl: &Workload) -> String {
    let deadline = sh.start + Duration::from_millis(wl.deadline_ms);
    let mut last_progress = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = Instant::now();
        let acked = sh.ledger.acked_count();
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
            && acked >= sh.ledger.awaited_count()
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

fn mark(at: &AtomicU64, start: Instant) {
    at.fetch_max(start.elapsed().as_nanos() as u64, Relaxed);
}

/// One producer lane: takes its route's next messages until none is left, pipelines them to its
/// shard, and books each reply. Errors are counted and followed by a short backoff, never fatal.
async fn produce_lane(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    p: u32,
    shard: usize,
    route: Route,
    next: &AtomicU64,
) {
    let batch = wl.batch as u64;
    let key = &sh.shards.keys[shard];
    let per_sec = wl.rate.map(|r| r / wl.producers as f64);
    let mut backoff = Duration::from_millis(5);
    loop {
        if sh.stopping() || sh.live.drain.load(Relaxed) {
            return;
        }
        // Claim the route's next messages: up to `batch`, and in open-loop mode only those
        // already due, so a message is sent at its own scheduled time and its latency clock starts
        // there. A stalled shard's due messages wait for it and are sent when it answers: the
        // stall shows up as their latency instead of being hidden (coordinated omission).
        let first = next.load(Relaxed);
        if first >= route.len {
            return;
        }
        let mut n = batch.min(route.len - first);
        if let Some(rate) = per_sec {
            let due_at = sh.start + Duration::from_secs_f64(route.seq(first) as f64 / rate);
            let now = Instant::now();
            if due_at > now {
                tokio::time::sleep_until(due_at.into()).await;
                continue;
            }
            let due = route.due_by((now - sh.start).as_secs_f64(), rate);
            n = n.min(due.saturating_sub(first).max(1));
        }
        if next
            .compare_exchange(first, first + n, Relaxed, Relaxed)
            .is_err()
        {
            continue; // another lane of this route took them
        }
        let sent_us = |seq: u64| match per_sec {
            Some(rate) => sh.start_us + (seq as f64 / rate * 1e6) as u64,
            None => now_us(),
        };
        let tags: Vec<MessageTag> = (first..first + n)
            .map(|j| {
                let seq = route.seq(j);
                MessageTag {
                    producer: p,
                    seq,
                    sent_us: sent_us(seq),
                }
            })
            .collect();
        for t in &tags {
            sh.ledger.attempted(p, t.seq);
        }
        sh.live.attempted.fetch_add(tags.len() as u64, Relaxed);
        sh.series.sent(shard, tags.len() as u64);
        let sent_at = sh.secs();
        let wait = wl.durability.command();
        let expected = tags.len() + usize::from(wait.is_some());
        let mut results: Vec<redis::RedisResult<Value>> = if expected == 1 {
            vec![
                stream::xadd_capped_cmd(key, &tags[0], &sh.payload, wl.trim.maxlen())
                    .query_async(&mut conn)
                    .await,
            ]
        } else {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for t in &tags {
                pipe.add_command(stream::xadd_capped_cmd(
                    key,
                    t,
                    &sh.payload,
                    wl.trim.maxlen(),
                ));
            }
            // Keyless, so the pipeline still routes by the XADDs' slot: same node, same
            // connection, after the writes it must cover.
            if let Some(w) = wait {
                pipe.add_command(w);
            }
            match pipe
                .query_async::<Vec<redis::RedisResult<Value>>>(&mut conn)
                .await
            {
                Ok(r) if r.len() == expected => r,
                Ok(_) => (0..expected)
                    .map(|_| {
                        Err(redis::RedisError::from((
                            redis::ErrorKind::Parse,
                            "pipeline reply length",
                        )))
                    })
                    .collect(),
                Err(e) => (0..expected).map(|_| Err(e.clone())).collect(),
            }
        };
        let confirmed = confirm(sh, wl, key, sent_at, &mut results);
        if confirmed {
            let now = now_us();
            let mut h = sh.confirm_hist.lock().unwrap_or_else(|e| e.into_inner());
            for (t, r) in tags.iter().zip(&results) {
                if r.is_ok() {
                    let _ = h.record(now.saturating_sub(t.sent_us).max(1));
                }
            }
        }
        let (mut failed, mut any_ok) = (false, false);
        for (t, r) in tags.iter().zip(results) {
            match r {
                Ok(_) if !confirmed => {
                    any_ok = true;
                    sh.ledger.unconfirmed(p, t.seq);
                }
                Ok(_) => {
                    any_ok = true;
                    sh.ledger.produced(p, t.seq);
                    sh.live.produced.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    failed = true;
                    if is_indeterminate(&e) {
                        sh.ledger.indeterminate(p, t.seq);
                    } else {
                        sh.ledger.produce_failed(p, t.seq);
                    }
                    sh.record_shard_error(key, sent_at, &e);
                }
            }
        }
        if any_ok {
            sh.record_shard_ok(key);
        }
        // The pipeline's replies are booked: the one point after each pipeline.
        mark(&sh.last_produce_ns, sh.start);
        if failed {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        } else {
            backoff = Duration::from_millis(5);
        }
    }
}

/// Takes the durability wait's reply off the end of `results` (none without `--durability`) and
/// says whether the pipeline's writes count as acknowledged. A short or failed wait is counted
/// under `unconfirmed` (a failed one also as an error of its kind).
fn confirm(
    sh: &Shared,
    wl: &Workload,
    key: &str,
    sent_at: f64,
    results: &mut Vec<redis::RedisResult<Value>>,
) -> bool {
    if wl.durability == Durability::None {
        return true;
    }
    let reply = match results.pop() {
        Some(Ok(v)) => v,
        // The wait itself was refused while some XADDs went through: count why. (When the whole
        // pipeline failed, its XADDs carry the error and are booked by it.)
        Some(Err(e)) => {
            if results.iter().any(|r| r.is_ok()) {
                sh.record_shard_error(key, sent_at, &e);
            }
            return false;
        }
        None => return false,
    };
    match wl.durability.judge(&reply) {
        Ok(Confirmation::Confirmed) => true,
        Ok(Confirmation::Short(why)) => {
            tracing::debug!("{key}: {why}");
            false
        }
        Err(why) => {
            let e = redis::RedisError::from((redis::ErrorKind::Parse, "durability", why));
            sh.record_shard_error(key, sent_at, &e);
            false
        }
    }
}

/// Runs consumer `c` and, each time it crashes, a replacement under a new name on a new connection.
async fn consumer_supervisor(
    sh: &Shared,
    wl: &Workload,
    ep: &Endpoint,
    conn: ClusterConnection,
    c: usize,
    owned: Vec<String>,
) {
    let mut conn = Some(conn);
    for generation in 0u64.. {
        let name = format!("consumer-{c}-{generation}");
        let current = match conn.take() {
            Some(cn) => cn,
            None => match ep
                .cluster_connection(Duration::from_millis(wl.block_ms + 2000))
                .await
            {
                Ok(cn) => cn,
                Err(_) if sh.stopping() => return,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !consume(sh, wl, current, &name, &owned).await {
            return;
        }
        sh.live.crashes.fetch_add(1, Relaxed);
    }
}

/// Reads, books and acks until the run stops (returns false) or the consumer "crashes" between
/// read and ack (returns true; its connection is dropped with the batch unacked).
async fn consume(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    name: &str,
    owned: &[String],
) -> bool {
    let group = &sh.shards.group;
    let mut idle_round = true;
    let mut backoff = Duration::from_millis(5);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    while !sh.stopping() {
        if sh.live.pause_consumers.load(Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let mut got_any = false;
        for key in owned {
            // With one key, always block; with several, poll them and block only when all were empty.
            let block =
                (owned.len() == 1 || idle_round).then(|| (wl.block_ms / owned.len() as u64).max(1));
            let sent_at = sh.secs();
            let reply: redis::RedisResult<Value> =
                stream::xreadgroup_cmd(key, group, name, wl.batch, block)
                    .query_async(&mut conn)
                    .await;
            let deliveries = match reply {
                Ok(v) => {
                    sh.record_shard_ok(key);
                    parse_xreadgroup(&v)
                }
                Err(e) => {
                    sh.record_shard_error(key, sent_at, &e);
                    if e.code() == Some("NOGROUP") {
                        let _ = stream::create_group(&mut conn, key, group).await;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                    continue;
                }
            };
            backoff = Duration::from_millis(5);
            if deliveries.is_empty() {
                continue;
            }
            got_any = true;
            book_deliveries(sh, key, &deliveries, Via::New);
            if wl.crash_probability > 0.0 && rng.random_bool(wl.crash_probability) {
                return true;
            }
            ack(sh, &mut conn, key, &deliveries).await;
        }
        idle_round = !got_any;
    }
    false
}

/// Books what was read from `key`; the send→delivery latency of each message is recorded once,
/// at its first delivery (never for a redelivery, a duplicate write or a foreign entry).
fn book_deliveries(sh: &Shared, key: &str, deliveries: &[Delivery], via: Via) {
    let now = now_us();
    let shard = sh.shard_index(key);
    let mut h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
    for d in deliveries {
        let entry = shard
            .zip(EntryId::parse(&d.id))
            .map(|(shard, id)| Entry { shard, id });
        let kind = sh.ledger.delivered(d.tag.as_ref(), via, entry);
        if let (DeliveryKind::First, Some(t)) = (kind, &d.tag) {
            let _ = h.1.record(now.saturating_sub(t.sent_us).max(1));
        }
    }
}

/// XACK every delivered id in one call and book the acks and their latency.
async fn ack(sh: &Shared, conn: &mut ClusterConnection, key: &str, deliveries: &[Delivery]) {
    let sent_at = sh.secs();
    let r: redis::RedisResult<u64> = stream::xack_cmd(
        key,
        &sh.shards.group,
        deliveries.iter().map(|d| d.id.as_str()),
    )
    .query_async(conn)
    .await;
    match r {
        Ok(_) => {
            let now = now_us();
            mark(&sh.last_ack_ns, sh.start);
            // Each message's latency once, at its first ack; foreign entries and repeats are
            // acked in Redis but measured nowhere.
            let latencies: Vec<u64> = deliveries
                .iter()
                .filter_map(|d| d.tag.as_ref())
                .filter(|t| sh.ledger.acked(t))
                .map(|t| now.saturating_sub(t.sent_us).max(1))
                .collect();
            {
                let mut h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
                for &lat in &latencies {
                    let _ = h.0.record(lat);
                }
            }
            if let Some(shard) = sh.shard_index(key) {
                sh.series.acked(shard, &latencies);
            }
            sh.live.acked.store(sh.ledger.acked_count(), Relaxed);
            sh.record_shard_ok(key);
        }
        Err(e) => sh.record_shard_error(key, sent_at, &e),
    }
}

/// XAUTOCLAIM over every shard at each interval; what it claims is booked as recovered and acked.
async fn claimer_loop(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    opts: &ClaimerOptions,
) {
    let mut cursors: Vec<String> = sh.shards.keys.iter().map(|_| "0-0".to_string()).collect();
    while !sh.stopping() {
        for (i, key) in sh.shards.keys.iter().enumerate() {
            let cmd = stream::xautoclaim_cmd(
                key,
                &sh.shards.group,
                "claimer",
                opts.min_idle_ms,
                &cursors[i],
                wl.batch.max(100),
            );
            match cmd.query_async::<Value>(&mut conn).await {
                Ok(v) => {
                    let claim = parse_xautoclaim(&v);
                    cursors[i] = claim.next;
                    if !claim.claimed.is_empty() {
                        book_deliveries(sh, key, &claim.claimed, Via::Claim);
                        ack(sh, &mut conn, key, &claim.claimed).await;
                    }
                }
                Err(e) => sh.record_error(&e, Some(i)),
            }
        }
        tokio::time::sleep(Duration::from_millis(opts.interval_ms)).await;
    }
}

/// Sums XPENDING and XLEN over the shards.
async fn redis_totals(conn: &mut ClusterConnection, shards: &Shards) -> (Option<u64>, Option<u64>) {
    let (mut pending, mut xlen) = (Some(0u64), Some(0u64));
    for key in &shards.keys {
        let p: redis::RedisResult<Value> = redis::cmd("XPENDING")
            .arg(key)
            .arg(&shards.group)
            .query_async(conn)
            .await;
        pending = match (pending, p) {
            (Some(acc), Ok(Value::Array(parts))) => match parts.first() {
                Some(Value::Int(n)) => Some(acc + *n as u64),
                _ => Some(acc),
            },
            _ => None,
        };
        let l: redis::RedisResult<u64> = redis::cmd("XLEN").arg(key).query_async(conn).await;
        xlen = match (xlen, l) {
            (Some(acc), Ok(n)) => Some(acc + n),
            _ => None,
        };
    }
    (pending, xlen)
}

/// Every tag still stored in each shard (XRANGE in pages), to tell undelivered from lost; `None`
/// for a shard that could not be read (its messages are unverifiable).
async fn stored_tags(conn: &mut ClusterConnection, shards: &Shards) -> Vec<ShardScan> {
    let mut out = Vec::new();
    for key in &shards.keys {
        out.push(scan_shard(conn, key).await);
    }
    out
}

async fn scan_shard(conn: &mut ClusterConnection, key: &str) -> ShardScan {
    let mut out = Vec::new();
    let mut start = "-".to_string();
    for _ in 0..100_000 {
        let v: Value = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .ok()?;
        let entries = parse_entries(&v);
        let Some(last) = entries.last() else { break };
        start = format!("({}", last.id);
        out.extend(entries.iter().filter_map(|d| d.tag));
        if entries.len() < 1000 {
            break;
        }
    }
    Some(out)
}

/// Settles the lost candidates (`undelivered` calls its argument with each message acknowledged
/// by Redis and never delivered) against the final scans: with keyed routing a message is looked
/// for on its own shard (`shard_of`); with free routing it may be on any, so one unreadable shard
/// makes every undelivered message not found elsewhere unverifiable.
pub fn settle(
    counts: &mut Counts,
    scans: &[ShardScan],
    free_routing: bool,
    undelivered: impl FnOnce(&mut dyn FnMut(u32, u64)),
) {
    let shards = scans.len();
    if free_routing {
        let blind = scans.iter().position(Option::is_none).unwrap_or(0);
        settle_undelivered(counts, scans, |_, _| blind, undelivered);
    } else {
        settle_undelivered(
            counts,
            scans,
            |p, seq| shard_of(p, seq, shards),
            undelivered,
        );
    }
}

/// Checks a run's counts against what Redis holds at the end: XPENDING gives `pending_at_end`, a
/// scan of the streams (only when something looks lost) lets `settle` tell undelivered, lost and
/// unverifiable apart, and XLEN / XPENDING must agree with the ledger. Returns the XLEN total and
/// every disagreement as a sentence. A distributed run calls it once, from `rcstress merge`.
pub async fn cross_check(
    conn: &mut ClusterConnection,
    shards: &Shards,
    counts: &mut Counts,
    trim: Trim,
    settle: impl FnOnce(&mut Counts, &[ShardScan], &[Option<u64>]) -> Vec<String>,
) -> CrossCheck {
    let (pending, xlen) = redis_totals(conn, shards).await;
    counts.pending_at_end = pending.unwrap_or(0);
    let mut disagreements = Vec::new();
    let mut removed = Vec::new();
    if trim != Trim::None {
        for key in &shards.keys {
            removed.push(trim::removed_entries(conn, key).await);
        }
    }
    let trimmed_entries: Option<u64> = (trim != Trim::None)
        .then(|| removed.iter().copied().sum())
        .flatten();
    if counts.lost > 0 {
        let scans = stored_tags(conn, shards).await;
        let unreadable: Vec<&str> = shards
            .keys
            .iter()
            .zip(&scans)
            .filter(|(_, s)| s.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        disagreements.extend(settle(counts, &scans, &removed));
        if !unreadable.is_empty() {
            disagreements.push(format!(
                "could not read {} at the end: its {} undelivered message(s) are unverifiable, neither lost nor safe",
                unreadable.join(", "),
                counts.unverifiable
            ));
        }
    }
    if pending.is_none() {
        disagreements.push("XPENDING failed at the end (stream or group gone?)".into());
    }
    // What trimming removed was in the stream: XLEN plus it is what was written.
    let written = match (trim, xlen, trimmed_entries) {
        (Trim::None, x, _) => x,
        (_, Some(x), Some(t)) => Some(x + t),
        _ => None,
    };
    if let Some(x) = written {
        let plus = if trim == Trim::None { "" } else { " + trimmed" };
        let expected_min = counts.produced;
        // Sends that timed out may have landed: they may add to XLEN without being "produced".
        // So may unconfirmed ones (XADD ok, durability wait short).
        let expected_max = counts.produced + counts.produce_indeterminate + counts.unconfirmed;
        if x < expected_min {
            disagreements.push(format!("XLEN{plus} says {x} entries, the ledger {expected_min} produced: entries are missing from the stream (rolled back by a failover, deleted or evicted)"));
        } else if x > expected_max {
            disagreements.push(format!(
                "XLEN{plus} says {x} entries, the ledger at most {expected_max} sent: {} entries written by someone else",
                x - expected_max
            ));
        }
    }
    if let Some(p) = pending {
        // Redis's pending list is what consumers read and did not ack; ours must say the same.
        // Foreign entries read and not acked would count in Redis only: the unexpected count
        // bounds that part.
        let ours = counts.delivered.saturating_sub(counts.acked);
        if p < ours || p > ours + counts.unexpected {
            disagreements.push(format!(
                "XPENDING says {p} pending, the ledger {ours} delivered and not acked"
            ));
        }
    }
    CrossCheck {
        xlen,
        trimmed_entries,
        disagreements,
    }
}

/// What [`cross_check`] found.
pub struct CrossCheck {
    /// XLEN summed over the shards (`None` if a shard could not be read).
    pub xlen: Option<u64>,
    /// Entries trimming removed, summed over the shards (`None` without trimming, or unreadable).
    pub trimmed_entries: Option<u64>,
    /// Each disagreement between the ledger and Redis, as a sentence.
    pub disagreements: Vec<String>,
}

/// The settle step of a single run: lost candidates against the final scans, then (under
/// `--trim maxlen`) what trimming explains moved to `trimmed_unread`.
fn settle_run(
    sh: &Shared,
    wl: &Workload,
    counts: &mut Counts,
    scans: &[ShardScan],
    removed: &[Option<u64>],
) -> Vec<String> {
    settle(counts, scans, wl.free_routing, |f| {
        sh.ledger.for_each_undelivered(f)
    });
    match wl.trim.maxlen() {
        Some(_) => {
            let shards = scans.len();
            trim::settle_trimmed(&sh.ledger, counts, scans, removed, |p, seq| {
                shard_of(p, seq, shards)
            })
        }
        None => Vec::new(),
    }
}

async fn finish(
    sh: &Shared,
    wl: &Workload,
    admin: &mut ClusterConnection,
    ended_by: String,
) -> Result<RunResult> {
    let mut counts = sh.ledger.counts(0);
    // A worker's ledger sees only its part: `rcstress merge` checks the union against Redis once.
    let check = if wl.worker.is_some() {
        CrossCheck {
            xlen: None,
            trimmed_entries: None,
            disagreements: Vec::new(),
        }
    } else {
        cross_check(
            admin,
            &sh.shards,
            &mut counts,
            wl.trim,
            |c, scans, removed| settle_run(sh, wl, c, scans, removed),
        )
        .await
    };
    // With no consumer the claimer has nothing to ack: the run's time is the producers'.
    let end_ns = if wl.consumers > 0 {
        sh.last_ack_ns.load(Relaxed)
    } else {
        sh.last_produce_ns.load(Relaxed)
    };
    let elapsed = Duration::from_nanos(end_ns).as_secs_f64();
    let done = if wl.consumers > 0 {
        counts.acked
    } else {
        counts.produced
    };
    let (h_ack, h_del, latency_histogram) = {
        let h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
        (
            Latency::from_histogram(&h.0),
            Latency::from_histogram(&h.1),
            h.0.clone(),
        )
    };
    let verdict = counts.verdict();
    let notes = notes(&counts, wl.consumers, &ended_by);
    let end_s = Duration::from_nanos(end_ns.max(sh.last_produce_ns.load(Relaxed))).as_secs_f64();
    // One lock, taken and released here: a guard held in the literal below lives to its end.
    let confirm_hist = sh
        .confirm_hist
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(RunResult {
        elapsed_seconds: finite(elapsed),
        throughput_msgs_per_sec: if elapsed > 0.0 {
            finite(done as f64 / elapsed)
        } else {
            0.0
        },
        counts,
        latency_us: h_ack,
        delivery_latency_us: h_del,
        confirm_latency_us: Latency::from_histogram(&confirm_hist),
        latency_histogram,
        errors: sh.errors.by_kind(),
        first_errors: sh.errors.first_errors(),
        series: sh.series.samples(end_s),
        verdict: verdict.to_string(),
        notes,
        ended_by,
        consumer_crashes: sh.live.crashes.load(Relaxed),
        shard_keys: sh.shards.keys.clone(),
        redis_xlen: check.xlen,
        trimmed_entries: check.trimmed_entries,
        disagreements: check.disagreements,
        ledger_bytes: sh.ledger.heap_bytes(),
        client_peak_rss_bytes: peak_rss_bytes(),
        cost: Default::default(),
        raw: wl.worker.as_ref().map(|_| {
            let h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
            RawRun {
                start_us: sh.start_us,
                delivery: h.1.clone(),
                confirm: confirm_hist.clone(),
                ledger: sh.ledger.snapshot(),
            }
        }),
    })
}

/// The findings beside the verdict (see [`crate::check::Verdict`]): messages not acked when a run
/// with consumers ended, unverifiable messages, duplicates.
pub fn notes(counts: &Counts, consumers: usize, ended_by: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if consumers > 0 && counts.acked < counts.produced {
        notes.push(format!(
            "{} produced message(s) not acked when the run ended ({ended_by})",
            counts.produced - counts.acked
        ));
    }
    if counts.unverifiable > 0 {
        notes.push(format!(
            "{} message(s) unverifiable: acknowledged by Redis, never delivered, on a shard that could not be read at the end",
            counts.unverifiable
        ));
    }
    if counts.trimmed_unread > 0 {
        notes.push(format!(
            "{} message(s) trimmed unread: removed by --trim maxlen before a consumer read them (lost by configuration, not counted as lost)",
            counts.trimmed_unread
        ));
    }
    if counts.duplicated > 0 || counts.duplicate_writes > 0 {
        notes.push(format!(
            "{} duplicate deliveries (the same entry again), {} duplicate writes (a message in a second entry)",
            counts.duplicated, counts.duplicate_writes
        ));
    }
    notes
}

/// This process's peak resident set size (`VmHWM` in /proc/self/status), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_routes_cover_every_message_once_on_the_shard_it_belongs_to() {
        for (producer, shards, count) in [(0u32, 3usize, 10u64), (2, 3, 11), (1, 4, 3), (5, 1, 7)] {
            let mut seen = vec![0u32; count as usize];
            for shard in 0..shards {
                let r = Route::keyed(producer, shard, shards, count);
                for j in 0..r.len {
                    let seq = r.seq(j);
                    assert_eq!(shard_of(producer, seq, shards), shard);
                    seen[seq as usize] += 1;
                }
            }
            assert!(
                seen.iter().all(|&n| n == 1),
                "{producer} {shards} {count}: {seen:?}"
            );
        }
    }

    #[test]
    fn a_route_is_due_as_its_producers_schedule_says() {
        // 3 shards, producer 0, shard 1: seqs 1, 4, 7, ... at 10 msg/s, seq s due at s/10 s.
        let r = Route::keyed(0, 1, 3, 100);
        assert_eq!(
            r.due_by(0.0, 10.0),
            0,
            "seq 0 is due, but it is not this shard's"
        );
        assert_eq!(r.due_by(0.1, 10.0), 1);
        assert_eq!(r.due_by(0.39, 10.0), 1);
        assert_eq!(r.due_by(0.4, 10.0), 2);
        assert_eq!(r.due_by(1e6, 10.0), r.len);
        assert_eq!(Route::all(5).due_by(0.25, 10.0), 3);
    }
}
