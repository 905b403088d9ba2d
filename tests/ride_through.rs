//! Riding through faults: a run against a cluster whose master hangs (SIGSTOP) for longer than
//! node-timeout, or is restarted, still ends by itself with a verdict and counts. It never hangs
//! (the test bounds it) and never gives up on a CLUSTERDOWN, EOF, TRYAGAIN or MOVED.

mod support;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_cluster_stress::{run, Live, LocalCluster, LocalClusterOptions, RunResult, Workload};

const NODE_TIMEOUT_MS: u64 = 1000;

async fn cluster() -> LocalCluster {
    LocalCluster::start(LocalClusterOptions {
        masters: 3,
        replicas_per_master: 1,
        node_timeout_ms: NODE_TIMEOUT_MS,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("local cluster did not start: {e}"))
}

/// About 6 s of open-loop load: long enough for a fault in the middle and a recovery after it.
fn workload() -> Workload {
    Workload {
        messages: 6_000,
        producers: 2,
        consumers: 3,
        batch: 10,
        rate: Some(1_000.0),
        deadline_ms: 60_000,
        quiet_ms: 4_000,
        ..Workload::default()
    }
}

/// Starts the run, waits until messages are acked, applies `fault`, and returns the result; the
/// whole run is bounded well under the test's patience.
async fn run_with_fault<F, Fut>(cluster: &LocalCluster, fault: F) -> RunResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let live = Arc::new(Live::default());
    let handle = {
        let (ep, wl, live) = (cluster.endpoint().clone(), workload(), live.clone());
        tokio::spawn(async move { run(&ep, &wl, live).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while live.acked.load(Relaxed) < 500 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fault().await;
    let result = tokio::time::timeout(Duration::from_secs(90), handle)
        .await
        .expect("the run hung: no result within 90 s")
        .expect("the run task panicked")
        .expect("the run gave up instead of riding through");
    eprintln!(
        "verdict {:?}, ended by {}, counts {:?}, errors {:?}",
        result.verdict, result.ended_by, result.counts, result.errors
    );
    result
}

fn assert_rode_through(r: &RunResult) {
    assert!(!r.verdict.to_string().is_empty());
    assert_ne!(
        r.ended_by, "deadline",
        "it should end on its own, not at the deadline"
    );
    assert_eq!(r.counts.attempted, 6_000, "every message was tried");
    assert!(r.counts.produced > 5_000, "{:?}", r.counts);
    assert!(r.counts.acked > 5_000, "{:?}", r.counts);
    assert!(
        !r.errors.is_empty(),
        "the fault must have been seen: {:?}",
        r.errors
    );
}

/// A master hangs (SIGSTOP) for 3 × node-timeout: its replica takes over, the run counts the
/// errors of the window and carries on to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_paused_longer_than_node_timeout() {
    let cluster = cluster().await;
    let r = run_with_fault(&cluster, || async {
        cluster.pause(0, true).unwrap();
        tokio::time::sleep(Duration::from_millis(3 * NODE_TIMEOUT_MS)).await;
        cluster.pause(0, false).unwrap();
    })
    .await;
    assert_rode_through(&r);
    assert_eq!(r.counts.unexpected, 0);
    let pids = cluster.pids();
    drop(cluster);
    for pid in pids {
        assert!(
            !support::pid_alive(pid),
            "redis-server {pid} outlived its cluster"
        );
    }
}

/// A master is killed and started again from its own dir (no AOF, so what it held is gone):
/// the run ends by itself with a verdict that counts what was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_restarted() {
    let cluster = cluster().await;
    let r = run_with_fault(&cluster, || async {
        cluster.kill(1);
        tokio::time::sleep(Duration::from_millis(2 * NODE_TIMEOUT_MS)).await;
        cluster.restart(1).await.expect("the node restarts");
    })
    .await;
    assert_rode_through(&r);
    assert!(cluster.is_running(1));
}
