//! What a run returns, and how it is put together once the tasks have stopped.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::live::Shared;
use super::reconcile::{
    audit_writes, cross_check, fanout_counts, settle_group, CrossCheck, WriteAudit,
};
use super::Workload;
use crate::check::{Counts, LedgerSnapshot};
use crate::cluster::ClusterConnection;
use crate::metrics::{finite, FirstError, Latency, SecondSample};
use crate::trim::Trim;
use crate::Result;

/// The outcome of a run; field names follow the JSON contract.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RunResult {
    /// First XADD to last XACK (to last XADD if nothing consumes).
    pub elapsed_seconds: f64,
    /// Acked (or, with no consumers, produced) messages per second of `elapsed_seconds`.
    pub throughput_msgs_per_sec: f64,
    /// The first (or only) consumer group's counts: with `--groups 1` the run's, as always. The
    /// other groups of a fan-out run are in `groups`; `verdict` covers them all.
    pub counts: Counts,
    /// The consumer groups after the first of a fan-out run (`--groups N`), each checked on its
    /// own; empty with one group.
    #[serde(default)]
    pub groups: Vec<GroupCounts>,
    /// Send (scheduled send in open-loop mode) to XACK done, µs.
    pub latency_us: Latency,
    /// Send to delivered by XREADGROUP, µs.
    pub delivery_latency_us: Latency,
    /// Send to the producer's acknowledgement, µs: the XADD reply, or with `--durability` the
    /// WAIT / WAITAOF reply that confirmed it (what a writer waits for; unconfirmed ones are
    /// not in it).
    pub confirm_latency_us: Latency,
    /// The open-loop rate the producers kept (messages/s over all producers); `None` for a
    /// closed-loop run, whose send→ack latency includes the time queued behind earlier messages.
    pub rate_msgs_per_sec: Option<f64>,
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
    pub verdict: crate::check::Verdict,
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
    /// Every write against the streams at the end (scenarios that fault the cluster ask for it:
    /// `Workload::audit_writes`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_audit: Option<WriteAudit>,
    /// Histograms and ledger bits of a worker's run (only kept when `Workload::worker` is set).
    #[serde(skip)]
    pub raw: Option<RawRun>,
}

/// One fan-out consumer group's counts, checked on their own: every message Redis holds should
/// reach every group.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct GroupCounts {
    /// The consumer group's name.
    pub group: String,
    /// Its ledger's counts, settled against the final scan of the streams like the first
    /// group's (`pending_at_end` is left 0: XPENDING is read for the first group only).
    pub counts: Counts,
    /// "ok" iff this group lost nothing and got nothing unexpected.
    pub verdict: crate::check::Verdict,
    /// Send to XACK done by this group, µs (each message once).
    pub latency_us: Latency,
    /// Send to delivered to this group, µs (each message once).
    pub delivery_latency_us: Latency,
    /// Heap bytes of this group's ledger.
    pub ledger_bytes: usize,
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

/// Puts the run's result together once its tasks have stopped: the ledger's counts checked
/// against Redis, latencies, series and notes.
pub(super) async fn finish(
    sh: &Shared,
    wl: &Workload,
    admin: &mut ClusterConnection,
    ended_by: String,
) -> Result<RunResult> {
    let mut counts = sh.ledger.counts(0);
    let (check, groups) = check_against_redis(sh, wl, admin, &mut counts).await;
    let write_audit = match wl.audit_writes && wl.worker.is_none() && wl.trim == Trim::None {
        true => Some(audit_writes(admin, &sh.shards, &sh.ledger, wl.free_routing).await),
        false => None,
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
    // The run fails when any group fails: the first group's reason, else the first other's.
    let verdict = std::iter::once(counts.verdict())
        .chain(groups.iter().map(|g| g.verdict))
        .find(|v| !v.is_ok())
        .unwrap_or(counts.verdict());
    let mut notes = notes(&counts, wl.consumers, &ended_by);
    if let Some(slow) = slowest_group((&wl.group, &counts, &h_ack), &groups) {
        notes.push(slow);
    }
    for g in &groups {
        let group_notes = self::notes(&g.counts, wl.consumers, &ended_by);
        notes.extend(
            group_notes
                .into_iter()
                .map(|n| format!("group {}: {n}", g.group)),
        );
    }
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
        groups,
        latency_us: h_ack,
        delivery_latency_us: h_del,
        confirm_latency_us: Latency::from_histogram(&confirm_hist),
        rate_msgs_per_sec: wl.rate,
        latency_histogram,
        errors: sh.errors.by_kind(),
        first_errors: sh.errors.first_errors(),
        series: sh.series.samples(end_s),
        verdict,
        notes,
        ended_by,
        consumer_crashes: sh.live.crashes.load(Relaxed),
        shard_keys: sh.shards.keys.clone(),
        redis_xlen: check.xlen,
        trimmed_entries: check.trimmed_entries,
        disagreements: check.disagreements,
        ledger_bytes: sh.ledgers().map(|l| l.heap_bytes()).sum(),
        client_peak_rss_bytes: peak_rss_bytes(),
        cost: Default::default(),
        write_audit,
        raw: wl.worker.as_ref().map(|_| raw_run(sh, &confirm_hist)),
    })
}

/// The ledger's counts checked against Redis (XLEN, XPENDING, what trimming removed), settling
/// `counts` (the first group's) and each fan-out group's on what the final scan found; nothing
/// to check for a worker.
async fn check_against_redis(
    sh: &Shared,
    wl: &Workload,
    admin: &mut ClusterConnection,
    counts: &mut Counts,
) -> (CrossCheck, Vec<GroupCounts>) {
    // A worker's ledger sees only its part: `rcstress merge` checks the union against Redis once.
    if wl.worker.is_some() {
        let check = CrossCheck {
            xlen: None,
            trimmed_entries: None,
            disagreements: Vec::new(),
        };
        return (check, Vec::new());
    }
    let check = cross_check(admin, &sh.shards, counts, wl.trim, |c, scans, removed| {
        settle_group(&sh.ledger, wl, c, scans, removed)
    })
    .await;
    (check, fanout_counts(admin, sh, wl).await)
}

/// The slowest consumer group of a fan-out run, as a sentence: the one furthest behind (most
/// produced messages it has not acked), then the highest send→ack p99. The first group's counts
/// and latency are `first`. `None` with one group.
fn slowest_group(first: (&str, &Counts, &Latency), groups: &[GroupCounts]) -> Option<String> {
    let behind = |c: &Counts| c.produced.saturating_sub(c.acked);
    let (name, c, l) = std::iter::once(first)
        .chain(
            groups
                .iter()
                .map(|g| (g.group.as_str(), &g.counts, &g.latency_us)),
        )
        .max_by_key(|&(_, c, l)| (behind(c), l.p99))
        .filter(|_| !groups.is_empty())?;
    Some(format!(
        "slowest group: {name} ({} message(s) not acked, send→ack p99 {} µs)",
        behind(c),
        l.p99
    ))
}

/// What a worker keeps beyond the JSON of its run, for `rcstress merge`.
fn raw_run(sh: &Shared, confirm: &Histogram<u64>) -> RawRun {
    let h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
    RawRun {
        start_us: sh.start_us,
        delivery: h.1.clone(),
        confirm: confirm.clone(),
        ledger: sh.ledger.snapshot(),
    }
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
