//! Large messages against a real local 3+3 cluster: pipelines and reads are sized by bytes, so
//! the client's own batches cause no timeouts and its memory stays bounded.
//!
//! One test in this binary: it reads the process's peak RSS, which another test running beside
//! it would raise.

/// The allocator the `rcstress` binary ships with, so that this measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod support;

use std::sync::Arc;

use redis_cluster_stress::workload::Budget;
use redis_cluster_stress::{run, Live, Workload};

/// 200 messages of 1 MB with the default batch of 1000: every one acked, no timeout or other
/// error, Redis holds all 200, and the client's peak RSS stays under 300 MB (200 MB of payload
/// went through it, and with count-sized batches a single pipeline would have carried ~67 MB and
/// a read up to all 200 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_messages_are_all_acked_without_timeouts_in_bounded_memory() {
    let cluster = support::cluster(3, 1).await;
    let wl = Workload {
        messages: 200,
        payload_bytes: 1_000_000,
        deadline_ms: 120_000,
        ..Default::default()
    };
    let budget = Budget::new(&wl, 3);
    assert_eq!((budget.pipeline, budget.read), (1, 8), "{budget:?}");
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    let c = &r.counts;
    assert_eq!(r.ended_by, "all acked", "{r:?}");
    assert_eq!((c.produced, c.acked, c.delivered), (200, 200, 200), "{c:?}");
    assert_eq!((c.produce_indeterminate, c.produce_failed), (0, 0), "{c:?}");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.redis_xlen, Some(200));
    assert_eq!(r.verdict, "ok");
    let rss_mb = r.client_peak_rss_bytes as f64 / 1e6;
    assert!(
        r.client_peak_rss_bytes > 0 && rss_mb < 300.0,
        "peak RSS {rss_mb:.0} MB"
    );
    eprintln!(
        "1 MB messages: peak RSS {rss_mb:.0} MB, {:.1} msg/s",
        r.throughput_msgs_per_sec
    );
}
