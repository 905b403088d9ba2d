//! Shared helpers for the integration tests.
#![allow(dead_code)]

/// True if a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

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
