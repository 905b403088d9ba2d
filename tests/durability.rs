//! Durability modes against real servers: a WAIT that cannot reach its replica leaves messages
//! `unconfirmed`, never acknowledged; WAITAOF on a server without it is a clear error.

mod support;

use std::sync::Arc;

use redis_cluster_stress::durability::Durability;
use redis_cluster_stress::{run, Error, Live, LocalCluster, LocalClusterOptions, Workload};

/// 1 master + 1 replica, node-timeout long enough that a paused replica is never failed over.
async fn pair() -> LocalCluster {
    LocalCluster::start(LocalClusterOptions {
        masters: 1,
        replicas_per_master: 1,
        node_timeout_ms: 60_000,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("local cluster did not start: {e}"))
}

fn workload(durability: &str) -> Workload {
    Workload {
        messages: 2_000,
        producers: 1,
        consumers: 1,
        batch: 200,
        inflight: 1,
        durability: durability.parse().unwrap(),
        deadline_ms: 60_000,
        ..Workload::default()
    }
}

/// SIGCONTs the replica when the test ends, also on panic (the cluster then kills it).
struct Resume<'a>(&'a LocalCluster, usize);
impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = self.0.pause(self.1, false);
    }
}

/// WAIT 1 with the only replica paused (SIGSTOP): every XADD is answered with an id, yet none
/// counts as acknowledged: all are `unconfirmed`, delivered all the same, and nothing is lost.
/// The same run with the replica running confirms every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_with_its_replica_paused_gives_unconfirmed_not_acknowledged() {
    let cluster = pair().await;
    let ep = cluster.endpoint();

    let live = run(ep, &workload("wait:1:100"), Arc::new(Live::default()))
        .await
        .unwrap();
    let c = &live.counts;
    assert_eq!((c.produced, c.unconfirmed), (2_000, 0), "replica up: {c:?}");
    assert_eq!(live.verdict, "ok");
    assert_eq!(live.confirm_latency_us.count, 2_000);

    let replica = 1;
    cluster.pause(replica, true).unwrap();
    let _resume = Resume(&cluster, replica);
    let paused = run(ep, &workload("wait:1:100"), Arc::new(Live::default()))
        .await
        .unwrap();
    let c = &paused.counts;
    assert_eq!(c.attempted, 2_000, "{c:?}");
    assert_eq!(c.produced, 0, "nothing may count as acknowledged: {c:?}");
    assert_eq!(c.unconfirmed, 2_000, "{c:?}");
    assert_eq!(
        c.acked, 2_000,
        "unconfirmed messages are still in the stream: {c:?}"
    );
    assert_eq!((c.lost, c.unexpected), (0, 0), "{c:?}");
    assert!(
        paused.disagreements.is_empty(),
        "XLEN must match produced + unconfirmed: {:?}",
        paused.disagreements
    );
    assert_eq!(paused.confirm_latency_us.count, 0, "nothing was confirmed");
    // One lane, 10 pipelines in a row: the last XADD follows 9 WAITs of 100 ms each that never
    // reached the replica.
    assert!(paused.elapsed_seconds >= 0.9, "{}", paused.elapsed_seconds);
}

/// WAITAOF on a server that lacks it (Debian 12's Redis 7.0) is refused before the run with a
/// message naming the command and what to do; on one that has it, LOCAL 1 without AOF is too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waitaof_where_the_server_cannot_serve_it_is_a_clear_error() {
    let cluster = pair().await;
    let server = cluster.server().clone();
    let mode: Durability = "waitaof:1:0".parse().unwrap();
    let err = run(
        cluster.endpoint(),
        &Workload {
            durability: mode,
            ..workload("none")
        },
        Arc::new(Live::default()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ServerLacks(_)), "{err}");
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    if server.name == "redis" && server.version_tuple() < (7, 2) {
        assert!(
            text.contains("no WAITAOF") && text.contains("scripts/servers install"),
            "{text}"
        );
    } else {
        assert!(text.contains("--aof on"), "{text}");
    }
}
