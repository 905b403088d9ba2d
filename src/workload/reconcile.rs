//! The end of a run: the ledger against what Redis holds (XLEN, XPENDING, a scan of the streams
//! when something looks lost), shared with `rcstress merge`.

use redis::Value;
use serde::Serialize;

use super::budget::Budget;
use super::live::Shared;
use super::result::GroupCounts;
use super::route::shard_of;
use super::Workload;
use crate::check::{settle_undelivered, Counts, ShardScan, DELIVERED, INDETERMINATE, PRODUCED};
use crate::cluster::ClusterConnection;
use crate::metrics::Latency;
use crate::stream::{entries, reply_bytes, Shards};
use crate::trim::{self, Trim};

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

/// Every tag in `key`, read in pages sized from the entries seen so far (a first small page
/// measures them), so that a page stays within the read budget whatever the payload.
async fn scan_shard(conn: &mut ClusterConnection, key: &str) -> ShardScan {
    let mut out = Vec::new();
    let mut start = "-".to_string();
    let mut count = 10;
    for _ in 0..1_000_000 {
        let v: Value = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(conn)
            .await
            .ok()?;
        let bytes = reply_bytes(&v);
        let entries = entries(v);
        let Some(last) = entries.last() else { break };
        start = format!("({}", last.id);
        out.extend(entries.iter().filter_map(|d| d.tag));
        if entries.len() < count {
            break;
        }
        count = Budget::count_for(1000, bytes / entries.len());
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

/// The settle step of one consumer group's `ledger` in a single run: lost candidates against the
/// final scans, then (under `--trim maxlen`) what trimming explains moved to `trimmed_unread`.
pub(super) fn settle_group(
    ledger: &crate::check::Ledger,
    wl: &Workload,
    counts: &mut Counts,
    scans: &[ShardScan],
    removed: &[Option<u64>],
) -> Vec<String> {
    settle(counts, scans, wl.free_routing, |f| {
        ledger.for_each_undelivered(f)
    });
    match wl.trim.maxlen() {
        Some(_) => {
            let shards = scans.len();
            trim::settle_trimmed(ledger, counts, scans, removed, |p, seq| {
                shard_of(p, seq, shards)
            })
        }
        None => Vec::new(),
    }
}

/// Each fan-out group's counts (the groups after the first), settled like the first group's:
/// the streams are scanned once, and only when some group has lost candidates (produced, never
/// delivered to it). Trimming is settled for the first group only.
pub(super) async fn fanout_counts(
    conn: &mut ClusterConnection,
    sh: &Shared,
    wl: &Workload,
) -> Vec<GroupCounts> {
    let mut counts: Vec<Counts> = sh.fanout.iter().map(|g| g.ledger.counts(0)).collect();
    if counts.iter().any(|c| c.lost > 0) {
        let scans = stored_tags(conn, &sh.shards).await;
        for (g, c) in sh.fanout.iter().zip(&mut counts) {
            settle(c, &scans, wl.free_routing, |f| {
                g.ledger.for_each_undelivered(f)
            });
        }
    }
    sh.fanout
        .iter()
        .zip(counts)
        .map(|(g, c)| {
            let h = g.hist.lock().unwrap_or_else(|e| e.into_inner());
            GroupCounts {
                group: g.name.clone(),
                verdict: c.verdict(),
                counts: c,
                latency_us: Latency::from_histogram(&h.0),
                delivery_latency_us: Latency::from_histogram(&h.1),
                ledger_bytes: g.ledger.heap_bytes(),
            }
        })
        .collect()
}

/// Every write of a run against what its streams hold at the end, delivered or not: what a
/// failover or a partition rolled back after Redis acknowledged it. Taken only when the run asks
/// (`Workload::audit_writes`) and nothing trims the streams, since it scans every shard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WriteAudit {
    /// Acknowledged (produced) and absent from their stream at the end, delivered or not.
    pub discarded: u64,
    /// Of `discarded`, the ones a consumer had read before they vanished (not `lost` for the
    /// checker, which counts only what no consumer got, but gone from the stream all the same).
    pub discarded_after_delivery: u64,
    /// Sends not acknowledged: timed out, dropped connection, or a durability wait that fell short.
    pub not_acknowledged: u64,
    /// Of those, in the stream at the end or delivered: Redis kept them after all.
    pub not_acknowledged_held: u64,
    /// Of those, neither in the stream at the end nor delivered.
    pub not_acknowledged_gone: u64,
    /// Shards that could not be read at the end (their messages are left out of every count).
    pub unreadable_shards: u64,
}

/// Audits every attempted write of the run in `ledger` against the streams in `shards`.
pub(super) async fn audit_writes(
    conn: &mut ClusterConnection,
    shards: &Shards,
    ledger: &crate::check::Ledger,
    free_routing: bool,
) -> WriteAudit {
    let scans = stored_tags(conn, shards).await;
    let stored = crate::check::stored_messages(&scans);
    let n = scans.len();
    let readable = |p: u32, seq: u64| {
        if free_routing {
            scans.iter().all(Option::is_some)
        } else {
            scans.get(shard_of(p, seq, n)).is_some_and(Option::is_some)
        }
    };
    let mut a = WriteAudit {
        unreadable_shards: scans.iter().filter(|s| s.is_none()).count() as u64,
        ..WriteAudit::default()
    };
    let bit = |sets: u8, s: usize| sets & (1 << s) != 0;
    ledger.for_each_attempted(|p, seq, sets| {
        if !readable(p, seq) {
            return;
        }
        let held = stored.contains(&(p, seq));
        let delivered = bit(sets, DELIVERED);
        if bit(sets, PRODUCED) {
            if !held {
                a.discarded += 1;
                a.discarded_after_delivery += u64::from(delivered);
            }
        } else if bit(sets, INDETERMINATE) {
            a.not_acknowledged += 1;
            if held || delivered {
                a.not_acknowledged_held += 1;
            } else {
                a.not_acknowledged_gone += 1;
            }
        }
    });
    a
}
