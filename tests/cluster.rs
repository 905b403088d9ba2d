//! The local cluster: forms, serves, and leaves nothing behind.

mod support;

use std::time::{Duration, Instant};

use redis_cluster_stress::cluster::{ClusterInfo, NodeRole};
use redis_cluster_stress::{Aof, Fsync, LocalCluster, LocalClusterOptions};

/// 3 masters + 3 replicas form a healthy cluster that serves reads and writes through the
/// cluster client, and dropping it kills every process (by pid) and removes the temp dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_forms_serves_and_stops_clean() {
    let t0 = Instant::now();
    let cluster = LocalCluster::start(LocalClusterOptions::default())
        .await
        .expect("cluster starts");
    let started = t0.elapsed();
    eprintln!("6-node cluster healthy in {started:?}");
    assert_eq!(cluster.ports().len(), 6);
    for port in cluster.ports() {
        let mut conn = cluster
            .endpoint()
            .node_connection("127.0.0.1", port)
            .await
            .unwrap();
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        let info = ClusterInfo::parse(&info);
        assert!(info.is_healthy(), "node {port}: {info:?}");
        assert_eq!((info.known_nodes, info.size), (6, 3));
    }
    let topo = cluster.endpoint().topology().await.unwrap();
    assert_eq!(topo.iter().filter(|n| n.is_master()).count(), 3);
    assert_eq!(topo.iter().filter(|n| n.master_id.is_some()).count(), 3);
    assert!(matches!(cluster.initial_role(4), NodeRole::Replica(1)));

    let mut conn = cluster
        .endpoint()
        .cluster_connection(Duration::from_secs(2))
        .await
        .unwrap();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let v: i64 = redis::cmd("GET")
        .arg("k42")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, 42);

    let pids = cluster.pids();
    let dir = cluster.dir().to_path_buf();
    assert_eq!(pids.len(), 6);
    assert!(dir.exists());
    drop(conn);
    drop(cluster);
    for pid in pids {
        assert!(
            !support::pid_alive(pid),
            "redis-server pid {pid} outlived its cluster"
        );
    }
    assert!(!dir.exists(), "temp dir {} left behind", dir.display());
}

/// The config file that holds the password is private (0600) and `ps` shows no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_stays_in_a_private_config_file() {
    use std::os::unix::fs::PermissionsExt;
    let opts = LocalClusterOptions {
        masters: 1,
        replicas_per_master: 0,
        ..Default::default()
    };
    let cluster = LocalCluster::start(opts).await.expect("cluster starts");
    let conf = cluster.node_dir(0).join("redis.conf");
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    for pid in cluster.pids() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !cmdline.contains(cluster.password()),
            "password on the command line of {pid}"
        );
    }
}

/// AOF on writes append-only files on every node; AOF off writes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aof_on_writes_append_only_files_and_off_does_not() {
    for (aof, expect) in [(Aof::On(Fsync::Everysec), true), (Aof::Off, false)] {
        let opts = LocalClusterOptions {
            masters: 3,
            replicas_per_master: 0,
            aof,
            ..Default::default()
        };
        let cluster = LocalCluster::start(opts).await.expect("cluster starts");
        let mut conn = cluster
            .endpoint()
            .cluster_connection(Duration::from_secs(2))
            .await
            .unwrap();
        for i in 0..30 {
            let _: String = redis::cmd("XADD")
                .arg(format!("s{i}"))
                .arg("*")
                .arg("f")
                .arg(i)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        for i in 0..3 {
            let aof_dir = cluster.node_dir(i).join("appendonlydir");
            let has = aof_dir.is_dir()
                && std::fs::read_dir(&aof_dir)
                    .unwrap()
                    .any(|e| e.unwrap().file_name().to_string_lossy().contains(".aof"));
            assert_eq!(
                has, expect,
                "aof {aof}: node {i} appendonlydir present = {has}"
            );
        }
    }
}
