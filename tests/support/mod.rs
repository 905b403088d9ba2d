//! Shared helpers for the integration tests, included one way by every test file (`mod support;`),
//! with the binary-running helpers in [`cli`] (`use support::cli;`).
#![allow(dead_code)]

pub mod cli;
pub mod schema;

/// True if a process with this pid exists and is not a zombie (the library's own check).
#[allow(unused_imports)] // not every test binary checks pids
pub use redis_cluster_stress::files::pid_alive;

use redis_cluster_stress::{LocalCluster, LocalClusterOptions};

/// A local cluster of `masters` × (1 + `replicas`) nodes with default options.
pub async fn cluster(masters: usize, replicas: usize) -> LocalCluster {
    let opts = LocalClusterOptions {
        masters,
        replicas_per_master: replicas,
        ..Default::default()
    };
    LocalCluster::start(opts)
        .await
        .unwrap_or_else(|e| panic!("local cluster did not start: {e}"))
}

/// Waits (bounded) until `cond` holds; panics with `what` if it does not within `secs`.
pub async fn wait_for(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Asserts that one of `lines` (notes, findings, disagreements) contains `needle`.
pub fn assert_mentions(lines: &[String], needle: &str) {
    assert!(
        lines.iter().any(|l| l.contains(needle)),
        "no line mentions {needle:?}: {lines:?}"
    );
}

/// Starts `wl` on `cluster` in a task, so a test can act behind its back while it runs.
pub fn spawn_run(
    cluster: &LocalCluster,
    wl: &redis_cluster_stress::Workload,
) -> (
    std::sync::Arc<redis_cluster_stress::Live>,
    tokio::task::JoinHandle<redis_cluster_stress::Result<redis_cluster_stress::RunResult>>,
) {
    let live = std::sync::Arc::new(redis_cluster_stress::Live::default());
    let (ep, wl, l) = (cluster.endpoint().clone(), wl.clone(), live.clone());
    (
        live,
        tokio::spawn(async move { redis_cluster_stress::run(&ep, &wl, l).await }),
    )
}

/// A cluster connection of the test's own, to act behind the workload's back.
pub async fn connection(
    cluster: &LocalCluster,
) -> redis_cluster_stress::cluster::ClusterConnection {
    cluster
        .endpoint()
        .cluster_connection(std::time::Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("test connection: {e}"))
}
