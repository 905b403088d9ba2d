//! `rcstress merge DIR`: one report from the result files of a distributed run's workers.
//!
//! Latencies are merged by adding the workers' HdrHistograms (never by averaging percentiles);
//! the checker runs over the union of the ledgers, so a message one worker sent and another
//! delivered is delivered, and a message two workers both received as new is duplicated; Redis
//! is asked once (XLEN, XPENDING, and a scan of the streams where something looks lost).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::page::MergePage;
use super::{decode_histogram, RunPlan, WorkerFile, FORMAT};
use crate::check::{for_each_produced_not_delivered, Counts, LedgerSnapshot, ShardScan};
use crate::cli::MergeArgs;
use crate::commands::{ready_cluster, Outcome};
use crate::config::{resolve_cluster, ClusterSource, Env};
use crate::metrics::{finite, new_histogram, FirstError, Latency, SecondSample, ShardSample};
use crate::report::{facts_summary, summary, HtmlSink, JsonSink, RunReport, ScenarioDocument};
use crate::scenario::ScenarioReport;
use crate::shutdown::Shutdown;
use crate::stream::Shards;
use crate::workload::{cross_check, notes, settle, RunResult};
use crate::{Error, Result};

/// The most result files a merge reads, and the largest one.
const MAX_FILES: usize = 10_000;
const MAX_FILE_BYTES: u64 = 1 << 30;

/// One worker in the merged report.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerRow {
    pub index: usize,
    pub host: String,
    /// Global producer ids `[first, first + producers)`.
    pub first_producer: u32,
    pub producers: usize,
    pub consumers: usize,
    pub messages: u64,
    /// What this worker's producers tried to send, and what its consumers acked (of any worker).
    pub sent: u64,
    pub acked: u64,
    /// This worker's start minus the common start (ms): how well the start lined up.
    pub start_offset_ms: f64,
    pub elapsed_seconds: f64,
    pub ended_by: String,
    pub latency_p99_us: u64,
    pub file_bytes: u64,
}

/// What merging cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MergeCost {
    pub files: usize,
    pub bytes: u64,
    /// Reading and parsing the files.
    pub read_seconds: f64,
    /// Decoding and adding histograms, the union of the ledgers, the series.
    pub merge_seconds: f64,
    /// XLEN / XPENDING and the final scan.
    pub redis_seconds: f64,
}

/// The workers' results merged, before Redis is asked.
pub struct Merged {
    pub result: RunResult,
    pub union: Union,
    pub shards: Shards,
    pub plan: RunPlan,
    /// The workers ran with `--free-routing`: any message may be on any shard.
    pub free_routing: bool,
    /// How the workers trimmed their streams (XLEN + trimmed is what was written).
    pub trim: crate::trim::Trim,
    pub workers: Vec<WorkerRow>,
    pub config: serde_json::Value,
}

/// The union of the workers' ledgers: enough to list the messages produced and never delivered.
pub struct Union {
    produced: Vec<Vec<u64>>,
    delivered: Vec<Vec<u64>>,
}

impl Union {
    /// Calls `f(producer, seq)` for every message produced and never delivered by any worker.
    pub fn for_each_undelivered(&self, mut f: impl FnMut(u32, u64)) {
        for (p, (prod, del)) in self.produced.iter().zip(&self.delivered).enumerate() {
            let word = |w: usize| (prod[w], del.get(w).copied().unwrap_or(0));
            for_each_produced_not_delivered(p as u32, prod.len(), word, &mut f);
        }
    }

    /// Applies the final scans (as the one-process run does, see [`crate::workload::settle`]):
    /// a candidate still stored is only undelivered, one on an unreadable shard `unverifiable`,
    /// one checked absent `lost`.
    pub fn settle(&self, counts: &mut Counts, scans: &[ShardScan], free_routing: bool) {
        settle(counts, scans, free_routing, |f| {
            self.for_each_undelivered(f)
        });
    }
}

/// The checker over the union of the workers' ledgers (all sized for the same run).
///
/// Union of the bit sets, plus what only the union shows: a message that two workers both got as
/// a new delivery (XREADGROUP `>`) is duplicated; one a worker took over by XAUTOCLAIM after
/// another worker got it is recovered; one delivered that no worker sent is unexpected.
/// `pending_at_end` is left 0 (Redis's XPENDING fills it).
pub fn union_counts(ledgers: &[LedgerSnapshot]) -> Result<(Counts, Union)> {
    let mut union = LedgerUnion::default();
    for l in ledgers {
        union.add(l)?;
    }
    union.finish()
}

/// The union of workers' ledgers, built one ledger at a time so that a merge holds about one
/// ledger's worth of bits however many workers there are (see [`union_counts`]).
#[derive(Default)]
pub struct LedgerUnion {
    /// Messages per producer, set by the first ledger added.
    shape: Option<Vec<u64>>,
    books: Vec<UnionBook>,
    /// New (not claimed) deliveries, summed over the ledgers added.
    new_deliveries: u64,
    duplicated: u64,
    duplicate_writes: u64,
    redelivered: u64,
    unexpected: u64,
    produce_failed: u64,
    unconfirmed: u64,
}

/// One producer's accumulated sets.
#[derive(Default)]
struct UnionBook {
    attempted: Vec<u64>,
    produced: Vec<u64>,
    indeterminate: Vec<u64>,
    delivered: Vec<u64>,
    recovered: Vec<u64>,
    acked: Vec<u64>,
    claimed: Vec<u64>,
    /// Delivered by two workers or more.
    twice: Vec<u64>,
    /// Delivered as new by at least one worker.
    new: Vec<u64>,
}

impl LedgerUnion {
    /// Adds one worker's ledger; it must be sized for the same run as the others.
    pub fn add(&mut self, l: &LedgerSnapshot) -> Result<()> {
        let shape: Vec<u64> = l.producers.iter().map(|b| b.messages).collect();
        match &self.shape {
            None => {
                self.books = shape
                    .iter()
                    .map(|&n| {
                        let words = vec![0u64; n.div_ceil(64) as usize];
                        UnionBook {
                            attempted: words.clone(),
                            produced: words.clone(),
                            indeterminate: words.clone(),
                            delivered: words.clone(),
                            recovered: words.clone(),
                            acked: words.clone(),
                            claimed: words.clone(),
                            twice: words.clone(),
                            new: words,
                        }
                    })
                    .collect();
                self.shape = Some(shape);
            }
            Some(s) if *s != shape => {
                return Err(Error::Config(
                    "the workers' ledgers are sized for different runs (did they get the same --messages and --producers?)".into(),
                ))
            }
            Some(_) => {}
        }
        for (u, b) in self.books.iter_mut().zip(&l.producers) {
            for w in 0..u.attempted.len() {
                let get = |set: &[u64]| set.get(w).copied().unwrap_or(0);
                let (d, c) = (get(&b.delivered), get(&b.claimed));
                u.attempted[w] |= get(&b.attempted);
                u.produced[w] |= get(&b.produced);
                u.indeterminate[w] |= get(&b.indeterminate);
                u.recovered[w] |= get(&b.recovered);
                u.acked[w] |= get(&b.acked);
                u.claimed[w] |= c;
                u.twice[w] |= u.delivered[w] & d;
                u.delivered[w] |= d;
                let new = d & !c;
                self.new_deliveries += u64::from(new.count_ones());
                u.new[w] |= new;
            }
        }
        self.duplicated += l.duplicated;
        self.duplicate_writes += l.duplicate_writes;
        self.redelivered += l.redelivered;
        self.unexpected += l.unexpected;
        self.produce_failed += l.produce_failed;
        // Producer ids are disjoint across workers: each unconfirmed send is in one ledger.
        self.unconfirmed += l.unconfirmed;
        Ok(())
    }

    /// The counts over every ledger added, and what [`Union::settle`] needs.
    pub fn finish(self) -> Result<(Counts, Union)> {
        if self.shape.is_none() {
            return Err(Error::Config("no worker ledgers to merge".into()));
        }
        let pop = |w: u64| u64::from(w.count_ones());
        let mut c = Counts {
            duplicated: self.duplicated,
            duplicate_writes: self.duplicate_writes,
            redelivered: self.redelivered,
            unexpected: self.unexpected,
            produce_failed: self.produce_failed,
            unconfirmed: self.unconfirmed,
            ..Counts::default()
        };
        // Each message got as new by k workers adds k - 1 duplicates.
        let mut new_distinct = 0;
        let mut union = Union {
            produced: Vec::with_capacity(self.books.len()),
            delivered: Vec::with_capacity(self.books.len()),
        };
        for u in self.books {
            for w in 0..u.attempted.len() {
                let (att, prod, ind, del) = (
                    u.attempted[w],
                    u.produced[w],
                    u.indeterminate[w],
                    u.delivered[w],
                );
                c.attempted += pop(att);
                c.produced += pop(prod);
                c.produce_indeterminate += pop(ind & !prod);
                c.delivered += pop(del);
                c.recovered += pop(u.recovered[w] | (u.claimed[w] & u.twice[w]));
                // A take-over across workers is a redelivery no single ledger counted.
                c.redelivered += pop(u.claimed[w] & u.twice[w] & !u.recovered[w]);
                c.acked += pop(u.acked[w]);
                c.lost += pop(prod & !del);
                c.indeterminate_delivered += pop(ind & !prod & del);
                c.unexpected += pop(del & !att);
                new_distinct += pop(u.new[w]);
            }
            union.produced.push(u.produced);
            union.delivered.push(u.delivered);
        }
        // A message two workers both got as new: a duplicate delivery and a redelivery (across
        // workers the union cannot tell it from a duplicate write: it has no entry ids).
        // Unconfirmed sends are booked as indeterminate but counted apart (as a run counts them).
        c.produce_indeterminate = c.produce_indeterminate.saturating_sub(c.unconfirmed);
        c.duplicated += self.new_deliveries - new_distinct;
        c.redelivered += self.new_deliveries - new_distinct;
        c.never_delivered = c.produced - (c.delivered - c.indeterminate_delivered).min(c.produced);
        Ok((c, union))
    }
}

/// The workers' series on one wall clock. A worker's series has its own resolution (100 ms,
/// doubled as the run grows): each sample covers from the previous sample's end to its own `t`.
/// The merged series takes the coarsest width of any worker (all are 100 ms times a power of
/// two, so each finer interval fits in one coarser one), counted from the earliest worker start,
/// and puts each sample where its interval's middle falls. Counts add up, per shard too; an
/// interval's max is the workers' max, and its p50 / p99 the highest of the workers' (an upper
/// bound of the merged percentile: the workers' per-interval histograms are not kept).
pub fn align_series(workers: &[(u64, &[SecondSample])]) -> Vec<SecondSample> {
    let zero = workers.iter().map(|(s, _)| *s).min().unwrap_or(0);
    /// Each sample with the start of its interval (the previous sample's end).
    fn intervals(series: &[SecondSample]) -> impl Iterator<Item = (f64, &SecondSample)> {
        let starts = std::iter::once(0.0).chain(series.iter().map(|s| s.t));
        starts.zip(series.iter())
    }
    let width = workers
        .iter()
        .flat_map(|(_, series)| intervals(series))
        .map(|(from, s)| s.t - from)
        .fold(0.0f64, f64::max);
    if width <= 0.0 {
        return Vec::new();
    }
    let mut end = 0.0f64;
    let mut out: BTreeMap<u64, SecondSample> = BTreeMap::new();
    for (start_us, series) in workers {
        let offset = (start_us - zero) as f64 / 1e6;
        for (from, s) in intervals(series) {
            end = end.max(offset + s.t);
            let i = ((offset + (from + s.t) / 2.0) / width).floor().max(0.0) as u64;
            let m = out.entry(i).or_insert_with(|| SecondSample {
                t: (i + 1) as f64 * width,
                ..SecondSample::default()
            });
            m.sent += s.sent;
            m.acked += s.acked;
            m.errors += s.errors;
            m.p50_us = m.p50_us.max(s.p50_us);
            m.p99_us = m.p99_us.max(s.p99_us);
            m.max_us = m.max_us.max(s.max_us);
            if m.shards.len() < s.shards.len() {
                m.shards.resize(s.shards.len(), ShardSample::default());
            }
            for (ms, ss) in m.shards.iter_mut().zip(&s.shards) {
                ms.sent += ss.sent;
                ms.acked += ss.acked;
                ms.errors += ss.errors;
                ms.p99_us = ms.p99_us.max(ss.p99_us);
                ms.max_us = ms.max_us.max(ss.max_us);
            }
        }
    }
    let mut merged: Vec<SecondSample> = out.into_values().collect();
    // The last interval ends with the run, as a one-process series does.
    if let Some(last) = merged.last_mut() {
        last.t = finite(last.t.min(end).max(last.t - width));
    }
    merged
}

/// The result files in `dir` (`worker-*.json`), sorted by index, checked to be one complete run.
pub fn read_dir(dir: &Path) -> Result<Vec<(WorkerFile, u64)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Config(format!(
            "cannot read the results directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("worker-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Config(format!(
            "{} holds no worker result files (worker-I-of-N.json); run 'rcstress worker --out {}' first",
            dir.display(),
            dir.display()
        )));
    }
    if paths.len() > MAX_FILES {
        return Err(Error::Config(format!(
            "{} holds {} worker files; a merge reads at most {MAX_FILES}",
            dir.display(),
            paths.len()
        )));
    }
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if bytes > MAX_FILE_BYTES {
            return Err(Error::Config(format!(
                "{} is {bytes} bytes, more than a worker writes",
                p.display()
            )));
        }
        let text = std::fs::read_to_string(p)
            .map_err(|e| Error::io(format!("read {}", p.display()), e))?;
        let file: WorkerFile = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!("{} is not a worker result file: {e}", p.display()))
        })?;
        if file.format != FORMAT {
            return Err(Error::Config(format!(
                "{} has format '{}'; this rcstress reads '{FORMAT}'",
                p.display(),
                file.format
            )));
        }
        files.push((file, bytes));
    }
    files.sort_by_key(|(f, _)| f.index);
    let first = &files[0].0;
    for (f, _) in &files {
        if f.workers != first.workers
            || f.run != first.run
            || f.stream != first.stream
            || f.group != first.group
            || f.shard_keys != first.shard_keys
        {
            return Err(Error::Config(format!(
                "{}: worker {} and worker {} were not part of the same run (workers, --messages, --producers, --consumers, --rate, stream, group or shard keys differ); keep one run per directory",
                dir.display(),
                first.index,
                f.index
            )));
        }
    }
    let have: BTreeSet<usize> = files.iter().map(|(f, _)| f.index).collect();
    let missing: Vec<String> = (0..first.workers)
        .filter(|i| !have.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() || have.len() != files.len() || files.len() != first.workers {
        return Err(Error::Config(format!(
            "{} holds {} file(s) for a run of {} workers; missing worker(s): {} (did one fail? see its log), or a worker wrote twice",
            dir.display(),
            files.len(),
            first.workers,
            if missing.is_empty() { "none".to_string() } else { missing.join(", ") }
        )));
    }
    Ok(files)
}

/// Merges complete, consistent worker files (see [`read_dir`]) into one run's result; the
/// Redis cross-check is still to be done ([`Merged::union`], [`Merged::shards`]).
pub fn merge(files: &[(WorkerFile, u64)]) -> Result<Merged> {
    let first = &files[0].0;
    let (mut ack, mut delivery, mut confirm) = (new_histogram(), new_histogram(), new_histogram());
    let mut union = LedgerUnion::default();
    let mut ledger_bytes = 0;
    let mut rows = Vec::with_capacity(files.len());
    for (f, bytes) in files {
        let what = format!("worker {}", f.index);
        let a: Histogram<u64> = decode_histogram(&f.latency_histogram, &what)?;
        let d = decode_histogram(&f.delivery_histogram, &what)?;
        if !f.confirm_histogram.is_empty() {
            confirm
                .add(&decode_histogram(&f.confirm_histogram, &what)?)
                .map_err(|e| Error::Config(format!("{what}: histogram out of range: {e:?}")))?;
        }
        ack.add(&a)
            .map_err(|e| Error::Config(format!("{what}: histogram out of range: {e:?}")))?;
        delivery
            .add(&d)
            .map_err(|e| Error::Config(format!("{what}: histogram out of range: {e:?}")))?;
        let ledger = f.ledger.decode()?;
        ledger_bytes += ledger
            .producers
            .iter()
            .map(|b| b.sets().iter().map(|s| 8 * s.len()).sum::<usize>())
            .sum::<usize>();
        union.add(&ledger)?;
        rows.push(WorkerRow {
            index: f.index,
            host: f.host.clone(),
            first_producer: f.share.producer_offset,
            producers: f.share.producers,
            consumers: f.share.consumers,
            messages: f.share.messages,
            sent: f.counts.attempted,
            acked: f.counts.acked,
            start_offset_ms: finite((f.start_us as f64 - f.start_at_us as f64) / 1e3),
            elapsed_seconds: f.elapsed_seconds,
            ended_by: f.ended_by.clone(),
            latency_p99_us: if a.is_empty() {
                0
            } else {
                a.value_at_quantile(0.99)
            },
            file_bytes: *bytes,
        });
    }
    let (counts, union) = union.finish()?;
    let zero = files.iter().map(|(f, _)| f.start_us).min().unwrap_or(0);
    let end_us = files
        .iter()
        .map(|(f, _)| f.start_us + (f.elapsed_seconds * 1e6) as u64)
        .max()
        .unwrap_or(zero);
    let elapsed = (end_us - zero) as f64 / 1e6;
    let series = align_series(
        &files
            .iter()
            .map(|(f, _)| (f.start_us, f.series.as_slice()))
            .collect::<Vec<_>>(),
    );
    let mut errors = BTreeMap::new();
    let mut first_errors: BTreeMap<String, FirstError> = BTreeMap::new();
    for (f, _) in files {
        for (k, v) in &f.errors {
            *errors.entry(k.clone()).or_insert(0) += v;
        }
        let offset = (f.start_us - zero) as f64 / 1e6;
        for (k, e) in &f.first_errors {
            let e = FirstError {
                seconds: finite(e.seconds + offset),
                ..e.clone()
            };
            if first_errors
                .get(k)
                .is_none_or(|old| e.seconds < old.seconds)
            {
                first_errors.insert(k.clone(), e);
            }
        }
    }
    let mut ended: BTreeMap<&str, usize> = BTreeMap::new();
    for (f, _) in files {
        *ended.entry(f.ended_by.as_str()).or_insert(0) += 1;
    }
    let ended_by = ended
        .iter()
        .map(|(k, n)| format!("{k} ({n} worker{})", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ");
    let done = if first.run.consumers > 0 {
        counts.acked
    } else {
        counts.produced
    };
    let result = RunResult {
        elapsed_seconds: finite(elapsed),
        throughput_msgs_per_sec: if elapsed > 0.0 {
            finite(done as f64 / elapsed)
        } else {
            0.0
        },
        verdict: String::new(),
        notes: Vec::new(),
        counts,
        latency_us: Latency::from_histogram(&ack),
        latency_histogram: ack,
        delivery_latency_us: Latency::from_histogram(&delivery),
        confirm_latency_us: Latency::from_histogram(&confirm),
        errors,
        first_errors,
        series,
        ended_by,
        consumer_crashes: files.iter().map(|(f, _)| f.consumer_crashes).sum(),
        shard_keys: first.shard_keys.clone(),
        redis_xlen: None,
        trimmed_entries: None,
        disagreements: Vec::new(),
        ledger_bytes,
        client_peak_rss_bytes: files
            .iter()
            .map(|(f, _)| f.client_peak_rss_bytes)
            .max()
            .unwrap_or(0),
        cost: crate::cost::Cost::concurrent(
            &files.iter().map(|(f, _)| &f.cost).collect::<Vec<_>>(),
        ),
        raw: None,
    };
    Ok(Merged {
        result,
        union,
        shards: Shards {
            keys: first.shard_keys.clone(),
            group: first.group.clone(),
        },
        plan: first.run.clone(),
        free_routing: first.config["workload"]["free_routing"]
            .as_bool()
            .unwrap_or(false),
        trim: first.config["workload"]["trim"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
        workers: rows,
        config: serde_json::json!({
            "workers": files.len(),
            "run": first.run,
            "worker": first.config,
        }),
    })
}

/// The merged report's JSON: the fields of `rcstress run --json`, plus the workers and the cost.
#[derive(Serialize)]
struct MergeDocument<'a> {
    #[serde(flatten)]
    report: RunReport<'a>,
    workers: &'a [WorkerRow],
    merge: &'a MergeCost,
}

/// `rcstress merge DIR`.
pub async fn command(args: &MergeArgs, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    let json = args
        .output
        .json
        .as_deref()
        .map(JsonSink::prepare)
        .transpose()?;
    let html = args
        .output
        .html
        .as_deref()
        .map(HtmlSink::prepare)
        .transpose()?;
    let t0 = Instant::now();
    let files = read_dir(&args.dir)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let mut source = resolve_cluster(&args.cluster, env)?;
    if let ClusterSource::Embedded(_) = source {
        // No --nodes: the cluster the workers recorded (its nodes, never its password).
        let recorded = files[0].0.config["cluster"]["nodes"].as_str();
        let Some(nodes) = recorded else {
            return Err(Error::Config(
                "merge checks the streams once against Redis: give --nodes (or REDIS_CLUSTER_NODES) of the cluster the workers used".into(),
            ));
        };
        let cluster = crate::cli::ClusterArgs {
            nodes: Some(nodes.to_string()),
            ..args.cluster.clone()
        };
        source = resolve_cluster(&cluster, env)?;
    }
    let t1 = Instant::now();
    let mut merged = merge(&files)?;
    let merge_seconds = t1.elapsed().as_secs_f64();
    let cluster = match ready_cluster(&source, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let t2 = Instant::now();
    let mut admin = cluster
        .endpoint
        .cluster_connection(Duration::from_secs(5))
        .await?;
    let r = &mut merged.result;
    let (union, free_routing) = (&merged.union, merged.free_routing);
    // The union has no per-shard trim accounting: under `--trim maxlen` what trimming removed
    // unread stays among the candidates for lost (the workers' notes say which trim ran).
    let check = cross_check(
        &mut admin,
        &merged.shards,
        &mut r.counts,
        merged.trim,
        |c, s, _| {
            union.settle(c, s, free_routing);
            Vec::new()
        },
    )
    .await;
    r.redis_xlen = check.xlen;
    r.trimmed_entries = check.trimmed_entries;
    r.disagreements = check.disagreements;
    r.verdict = r.counts.verdict().to_string();
    r.notes = notes(&r.counts, merged.plan.consumers, &r.ended_by);
    let cost = MergeCost {
        files: files.len(),
        bytes: files.iter().map(|(_, b)| b).sum(),
        read_seconds,
        merge_seconds,
        redis_seconds: t2.elapsed().as_secs_f64(),
    };
    let result = &merged.result;
    let plan = &merged.plan;
    let title = format!(
        "rcstress merge: {} workers, {} messages, {} producers, {} consumers, {} shards",
        files.len(),
        plan.messages,
        plan.producers,
        plan.consumers,
        result.shard_keys.len()
    );
    // The workers' cluster is external to them (its data dirs may be on other machines): the
    // server as the cluster names it, asked once here.
    let facts = crate::commands::cluster_facts(&cluster).await;
    print!("{}{}", summary(&title, result), facts_summary(&facts));
    println!(
        "  merge       {} files, {} bytes: read {:.3} s, merged {:.3} s, Redis check {:.3} s",
        cost.files, cost.bytes, cost.read_seconds, cost.merge_seconds, cost.redis_seconds
    );
    if let Some(sink) = json {
        sink.commit(&MergeDocument {
            report: RunReport {
                tool: "rcstress",
                version: env!("CARGO_PKG_VERSION"),
                command: "merge",
                status: "complete",
                config: merged.config.clone(),
                result,
                facts: &facts,
            },
            workers: &merged.workers,
            merge: &cost,
        })?;
    }
    if let Some(sink) = html {
        let c = &result.counts;
        let report = ScenarioReport::from_run("distributed run", merged.config.clone(), result)
            .finding(format!(
                "{} workers, one consumer group: {} sent, {} acked, {} lost, {} duplicated (within or across workers), {} unexpected",
                files.len(),
                c.attempted,
                c.acked,
                c.lost,
                c.duplicated,
                c.unexpected
            ))
            .finding(format!(
                "latency from the workers' histograms added: p50 {} µs, p99 {} µs over {} messages",
                result.latency_us.p50, result.latency_us.p99, result.latency_us.count
            ))
            .with_facts(&facts)
            .with_detail::<MergePage>(MergePage {
                workers: &merged.workers,
                merge: &cost,
                disagreements: &result.disagreements,
            });
        sink.commit(&ScenarioDocument::new(&report))?;
    }
    drop(cluster);
    Ok(if args.output.strict && result.verdict != "ok" {
        Outcome::VerdictFailed
    } else {
        Outcome::Done
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::tag;
    use crate::check::{Ledger, Via};
    use crate::distributed::EncodedLedger;

    /// Two workers, producers 0 and 1, 100 messages each; each worker consumes the other's.
    fn two_workers() -> (Ledger, Ledger) {
        let (a, b) = (
            Ledger::for_worker(&[100, 100], 1, 0),
            Ledger::for_worker(&[100, 100], 1, 0),
        );
        for (own, other, p) in [(&a, &b, 0u32), (&b, &a, 1)] {
            for s in 0..100 {
                own.attempted(p, s);
                own.produced(p, s);
                other.delivered(Some(&tag(p, s)), Via::New, None);
                other.acked(&tag(p, s));
            }
        }
        (a, b)
    }

    #[test]
    fn messages_sent_by_one_worker_and_acked_by_another_are_neither_lost_nor_unexpected() {
        let (a, b) = two_workers();
        assert!(
            a.counts(0).lost > 0,
            "alone, a worker's ledger cannot judge"
        );
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!(
            (c.attempted, c.produced, c.delivered, c.acked),
            (200, 200, 200, 200)
        );
        assert_eq!((c.lost, c.duplicated, c.unexpected), (0, 0, 0));
        assert!(c.verdict().is_ok());
    }

    /// The duplicate only the union can see: worker b also got message (0, 5) as new, while
    /// worker a got it first. Each ledger alone is clean.
    #[test]
    fn a_duplicate_across_two_workers_ledgers_is_found() {
        let (a, b) = two_workers();
        a.delivered(Some(&tag(0, 5)), Via::New, None);
        assert_eq!(a.snapshot().duplicated, 0);
        assert_eq!(b.snapshot().duplicated, 0);
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!(
            (c.duplicated, c.lost, c.unexpected, c.recovered),
            (1, 0, 0, 0)
        );
        // A take-over by XAUTOCLAIM in the other worker is a recovery, not a duplicate.
        let (a, b) = two_workers();
        a.delivered(Some(&tag(0, 6)), Via::Claim, None);
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!((c.duplicated, c.recovered), (0, 1));
    }

    /// Sends whose WAIT / WAITAOF fell short (`--durability`): the union counts them as one
    /// ledger of the whole run does (unconfirmed, not indeterminate, a missing one not lost),
    /// also after the round trip through a worker file's encoding.
    #[test]
    fn unconfirmed_sends_of_two_workers_add_up_as_in_one_ledger() {
        let (a, b, whole) = (
            Ledger::for_worker(&[10, 10], 1, 0),
            Ledger::for_worker(&[10, 10], 1, 0),
            Ledger::new(&[10, 10]),
        );
        for l in [&a, &whole] {
            l.attempted(0, 3);
            l.unconfirmed(0, 3);
            l.attempted(0, 4);
            l.indeterminate(0, 4);
        }
        for l in [&b, &whole] {
            l.attempted(1, 7);
            l.unconfirmed(1, 7);
        }
        let round_trip = |l: &Ledger| EncodedLedger::encode(&l.snapshot()).decode().unwrap();
        assert_eq!(round_trip(&a).unconfirmed, 1);
        let (c, _) = union_counts(&[round_trip(&a), round_trip(&b)]).unwrap();
        let one = whole.counts(0);
        assert_eq!((c.unconfirmed, c.produce_indeterminate), (2, 1));
        assert_eq!(
            (c.unconfirmed, c.produce_indeterminate),
            (one.unconfirmed, one.produce_indeterminate)
        );
        assert_eq!(c.lost, 0, "an unconfirmed send not delivered is not lost");
    }

    #[test]
    fn a_message_nobody_sent_is_unexpected_and_an_undelivered_one_lost() {
        let (a, b) = (
            Ledger::for_worker(&[10], 1, 0),
            Ledger::for_worker(&[10], 1, 0),
        );
        for s in 0..9 {
            a.attempted(0, s);
            a.produced(0, s);
        }
        for s in 0..8 {
            b.delivered(Some(&tag(0, s)), Via::New, None);
        }
        b.delivered(Some(&tag(0, 9)), Via::New, None); // never attempted by anyone
        let (mut c, union) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!((c.lost, c.unexpected), (1, 1));
        union.settle(&mut c, &[Some(vec![tag(0, 8)])], false);
        assert_eq!(
            (c.lost, c.unverifiable),
            (0, 0),
            "(0, 8) is still in the stream: undelivered, not lost"
        );
        union.settle(&mut c, &[Some(Vec::new())], false);
        assert_eq!((c.lost, c.unverifiable), (1, 0), "checked absent: lost");
        union.settle(&mut c, &[None], false);
        assert_eq!(
            (c.lost, c.unverifiable),
            (0, 1),
            "on a shard that could not be read: unverifiable, never lost"
        );
        let other = Ledger::for_worker(&[11], 1, 0);
        assert!(union_counts(&[a.snapshot(), other.snapshot()]).is_err());
    }

    /// Percentiles of the added histograms equal those of one histogram of all the values, and
    /// differ from averaging the workers' percentiles (the mistake merging must not make).
    #[test]
    fn merged_percentiles_equal_one_histogram_of_the_same_values() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let mut all = new_histogram();
        let mut parts = vec![new_histogram(), new_histogram(), new_histogram()];
        for (i, part) in parts.iter_mut().enumerate() {
            for _ in 0..20_000 {
                // Worker 2 is slow: its latencies are ten times the others'.
                let scale = if i == 2 { 10_000 } else { 1_000 };
                let v = rand::Rng::random_range(&mut rng, 1..scale) + 50;
                part.record(v).unwrap();
                all.record(v).unwrap();
            }
        }
        let mut merged = new_histogram();
        for p in &parts {
            let back = decode_histogram(&super::super::encode_histogram(p).unwrap(), "t").unwrap();
            merged.add(&back).unwrap();
        }
        assert_eq!(
            Latency::from_histogram(&merged),
            Latency::from_histogram(&all)
        );
        let averaged_p99 =
            parts.iter().map(|p| p.value_at_quantile(0.99)).sum::<u64>() / parts.len() as u64;
        assert!(
            averaged_p99 < merged.value_at_quantile(0.99) / 2,
            "averaging p99s ({averaged_p99}) hides the slow worker ({})",
            merged.value_at_quantile(0.99)
        );
    }

    #[test]
    fn series_align_on_the_wall_clock_and_add_up() {
        // A sample ending at `t` with `shard0` + `shard1` messages sent and acked.
        let s = |t: f64, shard0: u64, shard1: u64, p99: u64| SecondSample {
            t,
            sent: shard0 + shard1,
            acked: shard0 + shard1,
            errors: 0,
            p50_us: p99 / 2,
            p99_us: p99,
            max_us: p99 * 2,
            shards: [shard0, shard1]
                .map(|n| ShardSample {
                    sent: n,
                    acked: n,
                    errors: 0,
                    p99_us: p99,
                    max_us: p99 * 2,
                })
                .to_vec(),
        };
        // Worker a: 400 ms intervals, its run ended at 1.1 s (a shorter last interval).
        let a = vec![s(0.4, 6, 4, 100), s(0.8, 10, 10, 300), s(1.1, 5, 0, 50)];
        // Worker b started 50 ms later, at 200 ms intervals: two of its intervals fit in one of
        // a's, by where their middles fall on the common clock.
        let b = vec![
            s(0.2, 1, 0, 200),
            s(0.4, 2, 0, 100),
            s(0.6, 3, 0, 100),
            s(0.8, 4, 0, 100),
            s(0.9, 5, 0, 400),
        ];
        let m = align_series(&[(1_000_000, &a), (1_050_000, &b)]);
        let got: Vec<(f64, u64, u64, u64, u64)> = m
            .iter()
            .map(|x| {
                let t = (x.t * 1e3).round() / 1e3;
                (t, x.sent, x.shards[0].sent, x.p99_us, x.max_us)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0.4, 13, 9, 200, 400),
                (0.8, 27, 17, 300, 600),
                (1.1, 10, 10, 400, 800)
            ]
        );
        assert_eq!(m.iter().map(|x| x.acked).sum::<u64>(), 35 + 15);
        assert_eq!(m.iter().map(|x| x.shards[1].sent).sum::<u64>(), 14);
    }
}
