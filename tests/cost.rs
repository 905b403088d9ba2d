//! What a run costs (client and server CPU per message) and the replica-sync guard, against a
//! real local cluster with replicas.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_cluster_stress::cluster::NodeRole;
use redis_cluster_stress::report::summary;
use redis_cluster_stress::{run, Live, LocalCluster, Workload};

/// CONFIG SET on the node at `port`, through the cluster's own credentials.
async fn config_set(cluster: &LocalCluster, port: u16, key: &str, value: &str) {
    let mut conn = cluster
        .endpoint()
        .node_connection("127.0.0.1", port)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// A run on a 3+3 cluster in sync reports client CPU and server CPU per message, masters and
/// replicas apart (replicas did work: they applied every XADD and XACK), read from all 6 nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_client_and_server_cpu_per_message() {
    let cluster = support::cluster(3, 1).await;
    let wl = Workload {
        messages: 20_000,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert_eq!(r.verdict, "ok");
    let c = &r.cost;
    assert_eq!(c.messages, 20_000);
    assert!(c.client_cpu_seconds > 0.0, "{c:?}");
    let per_msg = c.client_cpu_seconds * 1e6 / 20_000.0;
    assert!((c.client_cpu_us_per_msg - per_msg).abs() < 1e-6, "{c:?}");
    assert_eq!((c.masters_measured, c.replicas_measured), (3, 3), "{c:?}");
    assert!(c.server_master_cpu_us_per_msg.unwrap() > 0.0, "{c:?}");
    assert!(c.server_replica_cpu_us_per_msg.unwrap() > 0.0, "{c:?}");
    let sum = c.server_master_cpu_us_per_msg.unwrap() + c.server_replica_cpu_us_per_msg.unwrap();
    assert!(
        (c.server_cpu_us_per_msg.unwrap() - sum).abs() < 1e-6,
        "{c:?}"
    );
    assert!(c.replicas_in_sync && c.notes.is_empty(), "{c:?}");
    let text = summary("run", &r);
    assert!(text.contains("cpu         client"), "{text}");
    assert!(!text.contains("warning"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json["cost"]["server_replica_cpu_us_per_msg"].is_number(),
        "{json}"
    );
}

/// A replica restarted with its master holding back the full sync (diskless delay) is not in
/// sync: a run started then says so (cost, note naming the node, warning in the summary), and
/// `wait_healthy` does not return until the replica is in sync again, after which a run is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_syncing_replica_says_so_and_wait_healthy_waits_for_it() {
    let cluster = support::cluster(3, 1).await;
    let replica = (0..cluster.ports().len())
        .find(|&i| matches!(cluster.initial_role(i), NodeRole::Replica(_)))
        .expect("a replica");
    let NodeRole::Replica(master) = cluster.initial_role(replica) else {
        unreachable!()
    };
    let (master_port, replica_port) = (cluster.ports()[master], cluster.ports()[replica]);
    config_set(&cluster, master_port, "repl-diskless-sync", "yes").await;
    config_set(&cluster, master_port, "repl-diskless-sync-delay", "4").await;
    // SIGKILL, and without the RDB its last sync left: the replica comes back with no replication
    // state and needs a full sync, which its master holds back for 4 s.
    cluster.kill(replica);
    let _ = std::fs::remove_file(cluster.node_dir(replica).join("dump.rdb"));
    cluster.restart(replica).await.unwrap();
    let wl = Workload {
        messages: 5_000,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert_eq!(r.verdict, "ok");
    assert!(!r.cost.replicas_in_sync, "{:?}", r.cost);
    let addr = format!("127.0.0.1:{replica_port}");
    assert!(
        r.cost
            .notes
            .iter()
            .any(|n| n.starts_with(&addr) && n.contains("not in sync")),
        "{:?}",
        r.cost.notes
    );
    assert!(summary("run", &r).contains("warning     a replica was not in sync"));

    let t = Instant::now();
    cluster
        .wait_healthy(Instant::now() + Duration::from_secs(60))
        .await
        .unwrap();
    eprintln!("replica in sync after {:?}", t.elapsed());
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert!(r.cost.replicas_in_sync, "{:?}", r.cost);
    assert!(r.cost.notes.is_empty(), "{:?}", r.cost.notes);
}
