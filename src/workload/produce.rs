//! Producer lanes: each pipelines its shard's messages (XADD, then the durability wait) and books
//! every reply in the ledger.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::cluster_routing::SingleNodeRoutingInfo;
use redis::Value;

use super::live::{mark, Shared};
use super::route::Route;
use super::Workload;
use crate::cluster::ClusterConnection;
use crate::durability::{Confirmation, Durability};
use crate::metrics::is_indeterminate;
use crate::stream::{self, now_us, MessageTag};

/// What a lane does next.
enum Claim {
    /// Send the route's messages `first..first + n`.
    Send { first: u64, n: u64 },
    /// Nothing due yet, or another lane took them: look again.
    Retry,
    /// The route is done.
    Done,
}

/// One producer lane: takes its route's next messages until none is left, pipelines them to its
/// shard, and books each reply. Errors are counted and followed by a short backoff, never fatal.
pub(super) async fn produce_lane(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    p: u32,
    shard: usize,
    route: Route,
    next: &AtomicU64,
) {
    let key = &sh.shards.keys[shard];
    let node = stream::master_of(key);
    let per_sec = wl.rate.map(|r| r / wl.producers as f64);
    let mut backoff = Duration::from_millis(5);
    loop {
        if sh.stopping() || sh.live.drain.load(Relaxed) {
            return;
        }
        let (first, n) = match claim(sh, &route, next, per_sec).await {
            Claim::Send { first, n } => (first, n),
            Claim::Retry => continue,
            Claim::Done => return,
        };
        // Closed loop: the whole pipeline goes now, so one clock reading serves every message.
        let now = now_us();
        let sent_us = |seq: u64| match per_sec {
            Some(rate) => sh.start_us + (seq as f64 / rate * 1e6) as u64,
            None => now,
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
            sh.ledgers().for_each(|l| l.attempted(p, t.seq));
        }
        sh.live.attempted.fetch_add(tags.len() as u64, Relaxed);
        sh.series.sent(shard, tags.len() as u64);
        let sent_at = sh.secs();
        let mut results = send(sh, wl, &mut conn, key, &node, &tags).await;
        let confirmed = confirm(sh, wl, key, sent_at, &mut results);
        let failed = book_replies(sh, p, key, sent_at, &tags, results, confirmed);
        if failed {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        } else {
            backoff = Duration::from_millis(5);
        }
    }
}

/// Claims the route's next messages: up to a pipeline's worth ([`super::Budget`]), and in open-loop mode only those already due,
/// so a message is sent at its own scheduled time and its latency clock starts there. A stalled
/// shard's due messages wait for it and are sent when it answers: the stall shows up as their
/// latency instead of being hidden (coordinated omission).
async fn claim(sh: &Shared, route: &Route, next: &AtomicU64, per_sec: Option<f64>) -> Claim {
    let first = next.load(Relaxed);
    if first >= route.len {
        return Claim::Done;
    }
    let mut n = (sh.budget.pipeline as u64).min(route.len - first);
    if let Some(rate) = per_sec {
        let due_at = sh.start + Duration::from_secs_f64(route.seq(first) as f64 / rate);
        let now = Instant::now();
        if due_at > now {
            tokio::time::sleep_until(due_at.into()).await;
            return Claim::Retry;
        }
        let due = route.due_by((now - sh.start).as_secs_f64(), rate);
        n = n.min(due.saturating_sub(first).max(1));
    }
    if next
        .compare_exchange(first, first + n, Relaxed, Relaxed)
        .is_err()
    {
        return Claim::Retry; // another lane of this route took them
    }
    Claim::Send { first, n }
}

/// Sends the XADDs of `tags` (and the durability wait, if any) as one pipeline to `node`; one
/// reply per command, in order.
async fn send(
    sh: &Shared,
    wl: &Workload,
    conn: &mut ClusterConnection,
    key: &str,
    node: &SingleNodeRoutingInfo,
    tags: &[MessageTag],
) -> Vec<redis::RedisResult<Value>> {
    let xadd = |t: &MessageTag| stream::xadd_capped_cmd(key, t, &sh.payload, wl.trim.maxlen());
    let wait = wl.durability.command();
    let expected = tags.len() + usize::from(wait.is_some());
    if expected == 1 {
        return vec![stream::send(conn, xadd(&tags[0]), node).await];
    }
    let mut pipe = redis::Pipeline::with_capacity(expected);
    for t in tags {
        pipe.add_command(xadd(t));
    }
    // Keyless: it goes with the XADDs to their node, on the same connection, after the writes it
    // must cover.
    if let Some(w) = wait {
        pipe.add_command(w);
    }
    match stream::send_pipeline(conn, pipe, node).await {
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
}

/// Books each XADD's reply in the ledger (produced, unconfirmed, failed or indeterminate) and the
/// confirm latency of those confirmed. Returns whether any failed.
fn book_replies(
    sh: &Shared,
    p: u32,
    key: &str,
    sent_at: f64,
    tags: &[MessageTag],
    results: Vec<redis::RedisResult<Value>>,
    confirmed: bool,
) -> bool {
    if confirmed {
        let now = now_us();
        let mut h = sh.confirm_hist.lock().unwrap_or_else(|e| e.into_inner());
        for (t, r) in tags.iter().zip(&results) {
            if r.is_ok() {
                let _ = h.record(now.saturating_sub(t.sent_us).max(1));
            }
        }
    }
    let (mut failed, mut any_ok, mut produced) = (false, false, 0);
    for (t, r) in tags.iter().zip(results) {
        match r {
            Ok(_) if !confirmed => {
                any_ok = true;
                sh.ledgers().for_each(|l| l.unconfirmed(p, t.seq));
            }
            Ok(_) => {
                any_ok = true;
                sh.ledgers().for_each(|l| l.produced(p, t.seq));
                produced += 1;
            }
            Err(e) => {
                failed = true;
                if is_indeterminate(&e) {
                    sh.ledgers().for_each(|l| l.indeterminate(p, t.seq));
                } else {
                    sh.ledgers().for_each(|l| l.produce_failed(p, t.seq));
                }
                sh.record_shard_error(key, sent_at, &e);
            }
        }
    }
    sh.live.produced.fetch_add(produced, Relaxed);
    if any_ok {
        sh.record_shard_ok(key);
    }
    // The pipeline's replies are booked: the one point after each pipeline.
    mark(&sh.last_produce_ns, sh.start);
    failed
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
