//! Reading the workers' result files and merging them into one run's result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{align_series, LedgerUnion, Union};
use crate::check::Counts;
use crate::distributed::{decode_histogram, RunPlan, WorkerFile, FORMAT};
use crate::metrics::{finite, new_histogram, FirstError, Latency};
use crate::stream::Shards;
use crate::workload::RunResult;
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

/// The result files in `dir` (`worker-*.json`), sorted by index, checked to be one complete run.
pub fn read_dir(dir: &Path) -> Result<Vec<(WorkerFile, u64)>> {
    let mut files = worker_paths(dir)?
        .iter()
        .map(|p| read_worker_file(p))
        .collect::<Result<Vec<_>>>()?;
    files.sort_by_key(|(f, _)| f.index);
    check_one_run(dir, &files)?;
    Ok(files)
}

/// The paths of `dir`'s worker result files, sorted; an error when there are none or too many.
fn worker_paths(dir: &Path) -> Result<Vec<PathBuf>> {
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
    Ok(paths)
}

/// One worker result file and its size, checked to be one (and of our format).
fn read_worker_file(p: &Path) -> Result<(WorkerFile, u64)> {
    let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if bytes > MAX_FILE_BYTES {
        return Err(Error::Config(format!(
            "{} is {bytes} bytes, more than a worker writes",
            p.display()
        )));
    }
    let text =
        std::fs::read_to_string(p).map_err(|e| Error::io(format!("read {}", p.display()), e))?;
    let file: WorkerFile = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{} is not a worker result file: {e}", p.display())))?;
    if file.format != FORMAT {
        return Err(Error::Config(format!(
            "{} has format '{}'; this rcstress reads '{FORMAT}'",
            p.display(),
            file.format
        )));
    }
    Ok((file, bytes))
}

/// The files (sorted by index) are all of the same run, and every worker of it is there once.
fn check_one_run(dir: &Path, files: &[(WorkerFile, u64)]) -> Result<()> {
    let first = &files[0].0;
    for (f, _) in files {
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
    Ok(())
}

/// The workers' histograms added up, their ledgers' union, and one row per worker.
struct Added {
    ack: Histogram<u64>,
    delivery: Histogram<u64>,
    confirm: Histogram<u64>,
    union: LedgerUnion,
    ledger_bytes: usize,
    rows: Vec<WorkerRow>,
}

/// Adds every worker's histograms and ledger (decoding them), and makes its row.
fn add_workers(files: &[(WorkerFile, u64)]) -> Result<Added> {
    let mut added = Added {
        ack: new_histogram(),
        delivery: new_histogram(),
        confirm: new_histogram(),
        union: LedgerUnion::default(),
        ledger_bytes: 0,
        rows: Vec::with_capacity(files.len()),
    };
    for (f, bytes) in files {
        let what = format!("worker {}", f.index);
        let a = add_histogram(&mut added.ack, &f.latency_histogram, &what)?;
        add_histogram(&mut added.delivery, &f.delivery_histogram, &what)?;
        if !f.confirm_histogram.is_empty() {
            add_histogram(&mut added.confirm, &f.confirm_histogram, &what)?;
        }
        let ledger = f.ledger.decode()?;
        added.ledger_bytes += ledger
            .producers
            .iter()
            .map(|b| b.sets().iter().map(|s| 8 * s.len()).sum::<usize>())
            .sum::<usize>();
        added.union.add(&ledger)?;
        added.rows.push(WorkerRow::of(f, *bytes, &a));
    }
    Ok(added)
}

/// The common clock: the earliest start (µs since the epoch) and seconds to the latest end.
fn common_span(files: &[(WorkerFile, u64)]) -> (u64, f64) {
    let zero = files.iter().map(|(f, _)| f.start_us).min().unwrap_or(0);
    let end_us = files
        .iter()
        .map(|(f, _)| f.start_us + (f.elapsed_seconds * 1e6) as u64)
        .max()
        .unwrap_or(zero);
    (zero, (end_us - zero) as f64 / 1e6)
}

/// How the workers ended, counted: `messages (3 workers), deadline (1 worker)`.
fn ended_by(files: &[(WorkerFile, u64)]) -> String {
    let mut ended: BTreeMap<&str, usize> = BTreeMap::new();
    for (f, _) in files {
        *ended.entry(f.ended_by.as_str()).or_insert(0) += 1;
    }
    ended
        .iter()
        .map(|(k, n)| format!("{k} ({n} worker{})", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The merged run's result from the workers' files, their ledgers' counts and their histograms
/// added up (Redis's figures still to fill in).
fn run_result(
    files: &[(WorkerFile, u64)],
    counts: Counts,
    ack: Histogram<u64>,
    delivery: &Histogram<u64>,
    confirm: &Histogram<u64>,
    ledger_bytes: usize,
) -> RunResult {
    let first = &files[0].0;
    let (zero, elapsed) = common_span(files);
    let series = align_series(
        &files
            .iter()
            .map(|(f, _)| (f.start_us, f.series.as_slice()))
            .collect::<Vec<_>>(),
    );
    let (errors, first_errors) = merge_errors(files, zero);
    let done = if first.run.consumers > 0 {
        counts.acked
    } else {
        counts.produced
    };
    RunResult {
        elapsed_seconds: finite(elapsed),
        throughput_msgs_per_sec: if elapsed > 0.0 {
            finite(done as f64 / elapsed)
        } else {
            0.0
        },
        // Set once the union has been checked against Redis.
        verdict: crate::check::Verdict::Ok,
        notes: Vec::new(),
        counts,
        // Workers keep the first group's ledger only: a merge checks that group.
        groups: Vec::new(),
        latency_us: Latency::from_histogram(&ack),
        latency_histogram: ack,
        delivery_latency_us: Latency::from_histogram(delivery),
        confirm_latency_us: Latency::from_histogram(confirm),
        rate_msgs_per_sec: first.run.rate,
        errors,
        first_errors,
        series,
        ended_by: ended_by(files),
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
        write_audit: None,
        raw: None,
    }
}

/// Merges complete, consistent worker files (see [`read_dir`]) into one run's result; the
/// Redis cross-check is still to be done ([`Merged::union`], [`Merged::shards`]).
pub fn merge(files: &[(WorkerFile, u64)]) -> Result<Merged> {
    let first = &files[0].0;
    let Added {
        ack,
        delivery,
        confirm,
        union,
        ledger_bytes,
        rows,
    } = add_workers(files)?;
    let (counts, union) = union.finish()?;
    let result = run_result(files, counts, ack, &delivery, &confirm, ledger_bytes);
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

/// Decodes a worker's histogram and adds it to `into`; returns it (for the worker's own row).
fn add_histogram(into: &mut Histogram<u64>, text: &str, what: &str) -> Result<Histogram<u64>> {
    let h = decode_histogram(text, what)?;
    into.add(&h)
        .map_err(|e| Error::Config(format!("{what}: histogram out of range: {e:?}")))?;
    Ok(h)
}

/// The workers' errors added up by kind, and the first of each kind on the common clock (from
/// `zero`, the earliest start, µs since the epoch).
fn merge_errors(
    files: &[(WorkerFile, u64)],
    zero: u64,
) -> (BTreeMap<String, u64>, BTreeMap<String, FirstError>) {
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
    (errors, first_errors)
}

impl WorkerRow {
    /// Worker `f`'s row; `ack` is its send→ack histogram.
    fn of(f: &WorkerFile, file_bytes: u64, ack: &Histogram<u64>) -> Self {
        WorkerRow {
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
            latency_p99_us: if ack.is_empty() {
                0
            } else {
                ack.value_at_quantile(0.99)
            },
            file_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let back =
                decode_histogram(&crate::distributed::encode_histogram(p).unwrap(), "t").unwrap();
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
}
