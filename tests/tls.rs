//! TLS and ACL users: a whole cycle over TLS (embedded `--tls` cluster, throwaway CA), a cycle
//! as an ACL user (`--user`), and the refusals around them.

mod support;
use support::cli;

use std::time::Duration;

use cli::{assert_fails, run_in};
use redis_cluster_stress::{LocalCluster, LocalClusterOptions};

const LIMIT: Duration = Duration::from_secs(120);

/// `rcstress run --tls` on an embedded cluster: every node serves TLS only (client port, bus,
/// replication), and a full cycle runs over it with nothing lost.
#[test]
fn a_cycle_runs_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "run",
            "--tls",
            "--masters",
            "3",
            "--replicas",
            "1",
            "--messages",
            "3000",
            "--json",
            "r.json",
            "--strict",
        ],
        &[],
        LIMIT,
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "ok", "{report}");
    assert_eq!(report["counts"]["acked"], 3000);
    assert_eq!(report["config"]["cluster"]["tls"], true);
}

/// A TLS cluster from the library: the plaintext port is closed (a plain client gets no Redis
/// reply), a client without the CA is refused with a message about --tls-ca, and one with the
/// CA file (what `cluster up --tls` prints) runs the cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_refuses_plaintext_and_unknown_cas() {
    let cluster = LocalCluster::start(LocalClusterOptions {
        masters: 3,
        replicas_per_master: 0,
        tls: true,
        ..Default::default()
    })
    .await
    .expect("TLS cluster starts");
    let ca = cluster.tls_ca_file().expect("a CA file").to_path_buf();
    let nodes = cluster.endpoint().nodes_display();
    let pw = cluster.password().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "run",
        "--nodes",
        &nodes,
        "--ready-timeout",
        "2",
        "--messages",
        "500",
    ];
    let env = [("REDIS_PASSWORD", pw.as_str())];

    let out = run_in(d, &base, &env, LIMIT);
    assert_fails(&out, 5, &["if the nodes speak TLS, add --tls"]);
    let mut with_tls = base.to_vec();
    with_tls.push("--tls");
    let out = run_in(d, &with_tls, &env, LIMIT);
    assert_fails(&out, 5, &["TLS to", "--tls-ca"]);

    let ca_arg = ca.display().to_string();
    let mut with_ca = base.to_vec();
    with_ca.extend(["--tls-ca", &ca_arg, "--strict"]);
    let out = run_in(d, &with_ca, &env, LIMIT);
    assert_eq!(
        out.code(),
        Some(0),
        "{}",
        out.to_string().replace(&pw, "<pw>")
    );
    assert!(out.stdout.contains("verdict     ok"), "{}", out.stdout);
    // REDIS_TLS_CA does the same as --tls-ca.
    let ca_env = [
        ("REDIS_PASSWORD", pw.as_str()),
        ("REDIS_TLS_CA", ca_arg.as_str()),
    ];
    let out = run_in(d, &base, &ca_env, LIMIT);
    assert_eq!(
        out.code(),
        Some(0),
        "{}",
        out.to_string().replace(&pw, "<pw>")
    );
    drop(cluster);
}

/// An ACL user with its own password (not the default user's): `--user` (and REDIS_USERNAME)
/// runs the cycle as that user; without it the same password is refused. So the user is really
/// sent, not ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_runs_as_an_acl_user() {
    let cluster = support::cluster(3, 0).await;
    let app_pw = format!("app-pw-{}", std::process::id());
    for port in cluster.ports() {
        let mut conn = cluster
            .endpoint()
            .node_connection("127.0.0.1", port)
            .await
            .unwrap();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("app")
            .arg("on")
            .arg(format!(">{app_pw}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let nodes = cluster.endpoint().nodes_display();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "run",
        "--nodes",
        &nodes,
        "--ready-timeout",
        "5",
        "--messages",
        "1000",
        "--strict",
    ];
    let env = [("REDIS_PASSWORD", app_pw.as_str())];

    let out = run_in(d, &base, &env, LIMIT);
    assert_fails(&out, 6, &["wrong username or password"]);
    let mut as_app = base.to_vec();
    as_app.extend(["--user", "app"]);
    let out = run_in(d, &as_app, &env, LIMIT);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.contains("verdict     ok"), "{out}");
    let env_user = [
        ("REDIS_PASSWORD", app_pw.as_str()),
        ("REDIS_USERNAME", "app"),
    ];
    let out = run_in(d, &base, &env_user, LIMIT);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(!out.stdout.contains(&app_pw) && !out.stderr.contains(&app_pw));
    drop(cluster);
}

/// An embedded cluster with `username`: clients AUTH as that user (ACL WHOAMI says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_cluster_creates_its_acl_user() {
    let cluster = LocalCluster::start(LocalClusterOptions {
        masters: 1,
        replicas_per_master: 0,
        username: Some("stress".into()),
        password: Some("pw with spaces and \"quotes\"\nand a newline".into()),
        ..Default::default()
    })
    .await
    .expect("cluster starts with a user and an awkward password");
    let mut conn = cluster
        .endpoint()
        .cluster_connection(Duration::from_secs(2))
        .await
        .unwrap();
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(who, "stress");
}
