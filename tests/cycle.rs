//! The produce → consume → ack cycle against a real local cluster.

mod support;

use std::sync::Arc;

use redis_cluster_stress::workload::ClaimerOptions;
use redis_cluster_stress::{run, Live, Workload};

/// 10,000 messages over 3 shards: every one produced, delivered once and acked; nothing lost,
/// nothing duplicated, nothing left pending, and the latency histogram saw every ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_all_acked_none_lost() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 10_000,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    let c = &r.counts;
    assert_eq!(
        (c.attempted, c.produced, c.delivered, c.acked),
        (10_000, 10_000, 10_000, 10_000),
        "{r:#?}"
    );
    assert_eq!(
        (c.lost, c.duplicated, c.unexpected, c.pending_at_end),
        (0, 0, 0, 0)
    );
    assert_eq!(r.verdict, "ok");
    assert_eq!(r.ended_by, "all acked");
    assert_eq!(r.latency_us.count, 10_000);
    assert_eq!(r.redis_xlen, Some(10_000));
    assert_eq!(r.shard_keys.len(), 3);
    assert!(r.elapsed_seconds > 0.0 && r.throughput_msgs_per_sec > 0.0);
}

/// The seed's one-command-per-message mode (batch 1, one producer, one consumer, one stream key)
/// gives the same accounting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_style_unbatched_cycle_is_complete() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 2_000,
        producers: 1,
        consumers: 1,
        shards: 1,
        batch: 1,
        inflight: 1,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert_eq!(
        (r.counts.acked, r.counts.lost, r.counts.duplicated),
        (2_000, 0, 0),
        "{r:#?}"
    );
    assert_eq!(r.shard_keys, vec!["rcstress".to_string()]);
}

/// A consumer that reads and dies before XACK leaves its batch pending; the claimer (XAUTOCLAIM
/// idle ≥ 200 ms) takes those entries over: recovered > 0, lost = 0, nothing pending at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimer_recovers_what_a_crashed_consumer_left_pending() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 3_000,
        batch: 50,
        crash_probability: 0.2,
        claimer: Some(ClaimerOptions {
            min_idle_ms: 200,
            interval_ms: 100,
        }),
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert!(r.consumer_crashes > 0, "{r:#?}");
    assert!(r.counts.recovered > 0, "{r:#?}");
    assert_eq!(
        (r.counts.acked, r.counts.lost, r.counts.pending_at_end),
        (3_000, 0, 0),
        "{r:#?}"
    );
    assert_eq!(r.verdict, "ok");
}

/// Without a claimer the same crashes strand entries: they stay pending at the end and the run
/// says so instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_claimer_crashed_reads_stay_pending() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 2_000,
        batch: 50,
        crash_probability: 0.2,
        quiet_ms: 1_000,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert!(r.consumer_crashes > 0);
    assert_eq!(r.counts.recovered, 0);
    assert!(r.counts.pending_at_end > 0, "{r:#?}");
    assert_eq!(r.counts.pending_at_end, r.counts.produced - r.counts.acked);
    assert_eq!(r.ended_by, "quiet");
    assert_eq!(r.verdict, "ok", "pending is a finding beside the verdict");
    support::assert_mentions(&r.notes, "not acked");
}
