//! Consumers (XREADGROUP, book, XACK), their replacements after a crash, and the claimer
//! (XAUTOCLAIM of idle entries).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use rand::Rng;
use redis::cluster_routing::SingleNodeRoutingInfo;

use super::budget::{Budget, MESSAGE_OVERHEAD};
use super::live::{mark, Shared};
use super::{ClaimerOptions, Workload};
use crate::check::{DeliveryKind, Entry, Via};
use crate::cluster::{ClusterConnection, Endpoint};
use crate::stream::{self, now_us, Delivery};

/// Runs consumer `c` of group `g` and, each time it crashes, a replacement under a new name on a new connection.
pub(super) async fn consumer_supervisor(
    sh: &Shared,
    wl: &Workload,
    ep: &Endpoint,
    conn: ClusterConnection,
    g: usize,
    c: usize,
    owned: Vec<String>,
) {
    let mut conn = Some(conn);
    for generation in 0u64.. {
        let name = format!("consumer-{c}-{generation}");
        let reader = Reader { g, name: &name };
        let current = match conn.take() {
            Some(cn) => cn,
            None => match ep
                .cluster_connection(Budget::read_timeout(wl.block_ms))
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
        if !consume(sh, wl, current, &reader, &owned).await {
            return;
        }
        sh.live.crashes.fetch_add(1, Relaxed);
    }
}

/// Who reads: consumer `name` of group `g` (0: the first group, whose deliveries and acks are
/// the run's latency and series).
pub(super) struct Reader<'a> {
    pub(super) g: usize,
    pub(super) name: &'a str,
}

/// Reads, books and acks until the run stops (returns false) or the consumer "crashes" between
/// read and ack (returns true; its connection is dropped with the batch unacked).
async fn consume(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    reader: &Reader<'_>,
    owned: &[String],
) -> bool {
    let (group, name) = (sh.group(reader.g).name, reader.name);
    let nodes: Vec<_> = owned.iter().map(|k| stream::master_of(k)).collect();
    let mut idle_round = true;
    let mut backoff = Duration::from_millis(5);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    while !sh.stopping() {
        let held = sh.live.pause_groups.load(Relaxed) & (1u64 << reader.g) != 0;
        if held || sh.live.pause_consumers.load(Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let mut got_any = false;
        for (key, node) in owned.iter().zip(&nodes) {
            // With one key, always block; with several, poll them and block only when all were empty.
            let block =
                (owned.len() == 1 || idle_round).then(|| (wl.block_ms / owned.len() as u64).max(1));
            let sent_at = sh.secs();
            let cmd = stream::xreadgroup_cmd(key, group, name, sh.budget.read, block);
            let deliveries = match stream::send(&mut conn, cmd, node).await {
                Ok(v) => {
                    sh.record_shard_ok(key);
                    stream::xreadgroup_entries(v)
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
            book_deliveries(sh, reader.g, key, &deliveries, Via::New);
            if wl.crash_probability > 0.0 && rng.random_bool(wl.crash_probability) {
                return true;
            }
            ack(sh, reader.g, &mut conn, key, node, &deliveries).await;
        }
        idle_round = !got_any;
    }
    false
}

/// Books what group `g` read from `key`; the send→delivery latency of each message is recorded once,
/// at its first delivery (never for a redelivery, a duplicate write or a foreign entry).
fn book_deliveries(sh: &Shared, g: usize, key: &str, deliveries: &[Delivery], via: Via) {
    let group = sh.group(g);
    let now = now_us();
    let shard = sh.shard_index(key);
    let mut h = group.hist.lock().unwrap_or_else(|e| e.into_inner());
    for d in deliveries {
        let entry = shard.map(|shard| Entry { shard, id: d.id });
        let kind = group.ledger.delivered(d.tag.as_ref(), via, entry);
        if let (DeliveryKind::First, Some(t)) = (kind, &d.tag) {
            let _ = h.1.record(now.saturating_sub(t.sent_us).max(1));
        }
    }
}

/// XACK every delivered id in one call and book the acks and their latency.
async fn ack(
    sh: &Shared,
    g: usize,
    conn: &mut ClusterConnection,
    key: &str,
    node: &SingleNodeRoutingInfo,
    deliveries: &[Delivery],
) {
    let sent_at = sh.secs();
    let ids = deliveries.iter().map(|d| d.id);
    let group = sh.group(g);
    match stream::send(conn, stream::xack_cmd(key, group.name, ids), node).await {
        Ok(_) => {
            let now = now_us();
            mark(&sh.last_ack_ns, sh.start);
            // Each message's latency once, at its first ack; foreign entries and repeats are
            // acked in Redis but measured nowhere.
            let latencies: Vec<u64> = deliveries
                .iter()
                .filter_map(|d| d.tag.as_ref())
                .filter(|t| group.ledger.acked(t))
                .map(|t| now.saturating_sub(t.sent_us).max(1))
                .collect();
            {
                let mut h = group.hist.lock().unwrap_or_else(|e| e.into_inner());
                for &lat in &latencies {
                    let _ = h.0.record(lat);
                }
            }
            // The run's series and live count are the first group's (as its `counts`).
            if g == 0 {
                if let Some(shard) = sh.shard_index(key) {
                    sh.series.acked(shard, &latencies);
                }
                sh.live.acked.store(sh.ledger.acked_count(), Relaxed);
            }
            sh.record_shard_ok(key);
        }
        Err(e) => sh.record_shard_error(key, sent_at, &e),
    }
}

/// XAUTOCLAIM over every shard at each interval; what it claims is booked as recovered and acked.
pub(super) async fn claimer_loop(
    sh: &Shared,
    wl: &Workload,
    mut conn: ClusterConnection,
    opts: &ClaimerOptions,
) {
    let mut cursors: Vec<String> = sh.shards.keys.iter().map(|_| "0-0".to_string()).collect();
    let nodes: Vec<_> = sh
        .shards
        .keys
        .iter()
        .map(|k| stream::master_of(k))
        .collect();
    // At least 100 a round even with small batches, within the read budget.
    let count = Budget::count_for(wl.batch.max(100), wl.payload_bytes + MESSAGE_OVERHEAD);
    while !sh.stopping() {
        for ((i, key), node) in sh.shards.keys.iter().enumerate().zip(&nodes) {
            let cmd = stream::xautoclaim_cmd(
                key,
                &sh.shards.group,
                "claimer",
                opts.min_idle_ms,
                &cursors[i],
                count,
            );
            match stream::send(&mut conn, cmd, node).await {
                Ok(v) => {
                    let claim = stream::xautoclaim_parts(v);
                    cursors[i] = claim.next;
                    if !claim.claimed.is_empty() {
                        book_deliveries(sh, 0, key, &claim.claimed, Via::Claim);
                        ack(sh, 0, &mut conn, key, node, &claim.claimed).await;
                    }
                }
                Err(e) => sh.record_error(&e, Some(i)),
            }
        }
        tokio::time::sleep(Duration::from_millis(opts.interval_ms)).await;
    }
}
