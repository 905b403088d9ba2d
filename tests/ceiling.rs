//! The XADD-only ceiling: redis-benchmark against the same cluster, leaving nothing behind.

mod support;

use redis_cluster_stress::ceiling::{measure, CeilingOptions};

/// redis-benchmark measures a positive XADD rate through a throwaway ACL user; afterwards that
/// user is gone from every node and the benchmark's keys are deleted, and the command line we
/// report masks the throwaway password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceiling_measures_xadd_and_cleans_up() {
    let cluster = support::cluster(3, 0).await;
    let opts = CeilingOptions {
        requests: 20_000,
        clients: 6,
        ..Default::default()
    };
    let c = measure(cluster.endpoint(), &opts)
        .await
        .expect("ceiling measured");
    assert!(c.xadd_ops_per_sec > 0.0, "{c:?}");
    assert!(
        c.command.contains("<throwaway>") && c.command.contains("-P 16"),
        "{}",
        c.command
    );
    assert!(!c.command.contains(cluster.password()));
    for port in cluster.ports() {
        let mut conn = cluster
            .endpoint()
            .node_connection("127.0.0.1", port)
            .await
            .unwrap();
        let users: Vec<String> = redis::cmd("ACL")
            .arg("USERS")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            users.iter().all(|u| !u.starts_with("rcstress-ceiling")),
            "{users:?} on {port}"
        );
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("rcstress-ceiling:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(keys.is_empty(), "{keys:?} left on {port}");
    }
}
