//! The bad-input matrix of `rcstress`: every way a user can get it wrong ends with one clear
//! line on stderr, the documented exit code, no panic, and no partial JSON file.
//!
//! Exit codes: 2 bad input, 3 redis-server missing or too old, 4 cluster did not start,
//! 5 cluster unavailable, 6 authentication, 7 file system.

mod support;
use support::{cli, schema};

use std::time::{Duration, Instant};

use cli::{assert_fails, free_port, rcstress, run_in, script, PlainServer, QUICK};
use redis_cluster_stress::cluster::ClusterInfo;
use redis_cluster_stress::{LocalCluster, LocalClusterOptions};

/// Flags, subcommands and values clap or our parsers refuse: exit 2, one line naming the problem.
#[test]
fn bad_flags_and_values_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &[&str])] = &[
        (&["run", "--bogus"], &["--bogus"]),
        (&["frobnicate"], &["frobnicate"]),
        (
            &["scenario", "meltdown"],
            &[
                "one of: memory-pressure, failover",
                "'rcstress scenario --help'",
            ],
        ),
        (&["scenario", "memory"], &["memory-pressure"]),
        (
            &["run", "--aof", "yes"],
            &["[possible values: off, on]", "'rcstress run --help'"],
        ),
        (
            &["run", "--password", "x"],
            &[
                "--password",
                "set REDIS_PASSWORD in the environment or in .env",
            ],
        ),
        (
            &["scenario", "failover", "--crash-probability", "0.5"],
            &["--crash-probability", "'rcstress scenario failover --help'"],
        ),
        (&["scenario", "aof-compare", "--aof", "on"], &["--aof"]),
        (&["run", "--messages", "0"], &["at least 1"]),
        (&["run", "--messages", "-5"], &["negative"]),
        (
            &["scenario", "consumer-crash", "--messages", "-5"],
            &["negative"],
        ),
        (&["run", "--messages", "ten"], &["not a whole number"]),
        (
            &["run", "--messages", "99999999999999999999999"],
            &["too large"],
        ),
        (&["run", "--messages", "5000m"], &["1,000,000,000"]),
        (&["run", "--nodes", "127.0.0.1"], &["no port"]),
        (&["run", "--nodes", "127.0.0.1:0"], &["out of range"]),
        (&["run", "--nodes", "127.0.0.1:70000"], &["out of range"]),
        (
            &["run", "--nodes", "127.0.0.1:7000,,127.0.0.1:7001"],
            &["empty item"],
        ),
        (&["run", "--nodes", ""], &["empty item"]),
        (&["run", "--nodes", ":7000"], &["no host"]),
        (&["run", "--ready-timeout", "0"], &["positive"]),
        (&["run", "--maxmemory", "lots"], &["not a size"]),
        (&["run", "--duration", "5"], &["--rate"]),
        (&["run", "--user", "two words"], &["user name"]),
        (
            &["cluster", "up", "--nodes", "127.0.0.1:7000"],
            &["--nodes", "'rcstress cluster up --help'"],
        ),
        (&["run", "--tls-ca", "ca.pem"], &["--nodes"]),
        (
            &[
                "run",
                "--nodes",
                "127.0.0.1:7000",
                "--tls-ca",
                "missing.pem",
            ],
            &["cannot read the TLS CA file"],
        ),
    ];
    for (args, needles) in cases {
        let out = rcstress(d, args);
        assert_fails(&out, 2, needles);
        eprintln!("{} -> {} : {}", out.line, out.status, out.stderr.trim());
    }
}

/// `.env` problems name the file (and the key or line): a bad value, a bad line, a file that
/// is missing or cannot be read (a directory: we run as root in CI, so modes do not stop reads).
#[test]
fn dot_env_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".env"), "REDIS_CLUSTER_NODES=nonsense\n").unwrap();
    let out = rcstress(d, &["run", "--messages", "10"]);
    assert_fails(&out, 2, &["REDIS_CLUSTER_NODES (from .env)", "no port"]);
    std::fs::write(d.join(".env"), "GOOD=1\nthis is not a line\n").unwrap();
    let out = rcstress(d, &["run"]);
    assert_fails(&out, 2, &["cannot parse .env", "this is not a line"]);
    std::fs::remove_file(d.join(".env")).unwrap();
    let out = rcstress(d, &["--env-file", "missing.env", "run"]);
    assert_fails(&out, 2, &["cannot read missing.env", "No such file"]);
    std::fs::create_dir(d.join("adir")).unwrap();
    let out = rcstress(d, &["--env-file", "adir", "run"]);
    assert_fails(&out, 2, &["adir", "Is a directory"]);
}

/// `--json` that cannot be written is refused before anything starts (the cluster named here does
/// not exist: a check after the run would fail with exit 5 instead), and leaves no file.
#[test]
fn json_path_is_checked_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nodes = format!("127.0.0.1:{}", free_port());
    let out = rcstress(
        d,
        &["run", "--nodes", &nodes, "--json", "no-such-dir/r.json"],
    );
    assert_fails(
        &out,
        2,
        &["--json no-such-dir/r.json", "does not exist", "writable"],
    );
    let out = rcstress(d, &["run", "--nodes", &nodes, "--json", "."]);
    assert_fails(&out, 2, &["is a directory"]);
    // A run that fails after the check leaves neither the file nor its temp file.
    let out = rcstress(
        d,
        &[
            "run",
            "--nodes",
            &nodes,
            "--ready-timeout",
            "0.5",
            "--json",
            "r.json",
        ],
    );
    assert_fails(&out, 5, &["cannot reach"]);
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("json"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The redis-server binary: missing (REDIS_SERVER names nothing, or none on PATH), not
/// redis-server at all, or too old for XAUTOCLAIM: exit 3 with what to install or set.
#[test]
fn missing_or_old_redis_server_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = [
        "run",
        "--messages",
        "10",
        "--masters",
        "1",
        "--replicas",
        "0",
    ];
    let nope = d.join("nope").display().to_string();
    let out = run_in(d, &run, &[("REDIS_SERVER", &nope)], QUICK);
    assert_fails(
        &out,
        3,
        &["redis-server not found", "is not a file", "REDIS_SERVER"],
    );
    std::fs::create_dir(d.join("empty-bin")).unwrap();
    let empty = d.join("empty-bin").display().to_string();
    let out = run_in(d, &run, &[("PATH", &empty)], QUICK);
    assert_fails(&out, 3, &["not on PATH", "apt-get install redis-server"]);
    let old = d.join("redis-server-6");
    script(
        &old,
        "echo 'Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc-5.2.1 bits=64 build=1'",
    );
    let out = run_in(
        d,
        &run,
        &[("REDIS_SERVER", &old.display().to_string())],
        QUICK,
    );
    assert_fails(
        &out,
        3,
        &["6.0.16 is too old", "7.0 or newer", "XAUTOCLAIM"],
    );
    let junk = d.join("not-redis");
    script(&junk, "echo hello");
    let out = run_in(
        d,
        &run,
        &[("REDIS_SERVER", &junk.display().to_string())],
        QUICK,
    );
    assert_fails(&out, 3, &["printed no version"]);
}

/// No writable temp dir (TMPDIR names a file): exit 7, and the message says to set TMPDIR.
#[test]
fn unwritable_temp_dir_exits_7() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run_in(
        d,
        &[
            "run",
            "--messages",
            "10",
            "--masters",
            "1",
            "--replicas",
            "0",
        ],
        &[("TMPDIR", &file.display().to_string())],
        QUICK,
    );
    assert_fails(&out, 7, &["cannot create a temp dir", "TMPDIR"]);
    assert!(!out.stderr.contains(" at path "), "{out}");
}

/// Every node's port taken (a wrapper pins redis-server to a port we hold): start-up retries on
/// fresh ports, then fails with exit 4 and the node log's "Address already in use".
#[test]
fn port_in_use_exits_4_with_the_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let real = cli::redis_server();
    let wrapper = d.join("redis-server");
    script(
        &wrapper,
        &format!(
            "if [ \"$1\" = --version ]; then exec {real} --version; fi\nexec {real} \"$1\" --port {port}",
            real = real.display()
        ),
    );
    let out = run_in(
        d,
        &[
            "run",
            "--messages",
            "10",
            "--masters",
            "1",
            "--replicas",
            "0",
        ],
        &[("REDIS_SERVER", &wrapper.display().to_string())],
        Duration::from_secs(60),
    );
    assert_fails(
        &out,
        4,
        &["exited during start-up", "Address already in use"],
    );
    drop(holder);
}

/// Nothing listens (a mistyped port): exit 5 within seconds although --ready-timeout is 30 s by
/// default: when every seed node refuses the connection there is nothing to wait for.
#[test]
fn a_mistyped_port_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = format!("127.0.0.1:{}", free_port());
    let t0 = Instant::now();
    let out = rcstress(dir.path(), &["run", "--nodes", &nodes]);
    assert_fails(
        &out,
        5,
        &[
            "no seed node listens",
            "cannot reach",
            &nodes,
            "Connection refused",
        ],
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

/// Something that is not Redis on the port (an HTTP server): exit 5 at once, no waiting.
#[test]
fn a_port_that_is_not_redis_exits_5() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buf = [0u8; 256];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let nodes = format!("127.0.0.1:{port}");
    let out = rcstress(
        dir.path(),
        &["run", "--nodes", &nodes, "--ready-timeout", "5"],
    );
    assert_fails(&out, 5, &["does not answer in the Redis protocol"]);
    server.join().unwrap();
}

/// A plain redis-server (cluster-enabled no): exit 5 saying so, at once.
#[test]
fn a_node_not_in_cluster_mode_exits_5() {
    let server = PlainServer::start("");
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = rcstress(
        dir.path(),
        &["run", "--nodes", &server.addr(), "--ready-timeout", "10"],
    );
    assert_fails(&out, 5, &["not in cluster mode", &server.addr()]);
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "it waited: {:?}",
        t0.elapsed()
    );
}

/// A password the server does not have: exit 6 saying the server has none.
#[test]
fn a_password_for_a_server_without_one_exits_6() {
    let server = PlainServer::start("cluster-enabled yes");
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["run", "--nodes", &server.addr(), "--ready-timeout", "5"],
        &[("REDIS_PASSWORD", "not-needed-pw-4711")],
        QUICK,
    );
    assert_fails(&out, 6, &["a password was given but the server has none"]);
    assert!(!out.stderr.contains("not-needed-pw-4711"), "{out}");
}

/// Against a cluster with a password: none given, a wrong one, a wrong ACL user: exit 6 each,
/// and the right password never shows up anywhere, not even with RUST_LOG=trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_exit_6_and_the_password_never_shows() {
    let cluster = support::cluster(3, 0).await;
    let pw = cluster.password().to_string();
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
        "50",
    ];
    let out = run_in(d, &base, &[], QUICK);
    assert_fails(
        &out,
        6,
        &["needs a password and none was given", "REDIS_PASSWORD"],
    );
    let out = run_in(d, &base, &[("REDIS_PASSWORD", "wrong")], QUICK);
    assert_fails(&out, 6, &["wrong username or password"]);
    let out = run_in(
        d,
        &base,
        &[("REDIS_PASSWORD", &pw), ("REDIS_USERNAME", "nobody")],
        QUICK,
    );
    assert_fails(&out, 6, &["wrong username or password"]);
    assert!(!out.stderr.contains(&pw), "password in stderr");

    // The good run, with every log level on: the password is in no output and no report.
    let mut args = base.to_vec();
    args.extend(["--json", "r.json"]);
    let out = run_in(
        d,
        &args,
        &[("REDIS_PASSWORD", &pw), ("RUST_LOG", "trace")],
        Duration::from_secs(120),
    );
    let shown = cli::describe(&args, &[], None);
    assert_eq!(out.code(), Some(0), "{shown}\nstatus {}", out.status);
    assert!(
        out.stdout.contains("verdict     ok"),
        "{shown}: {}",
        out.stdout.replace(&pw, "<pw>")
    );
    assert!(
        out.stderr.len() > 1000,
        "RUST_LOG=trace logged next to nothing"
    );
    // The run's JSON fits schema/run.schema.json.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    schema::assert_valid_run(&json);
    for (what, text) in [
        ("stdout", out.stdout.clone()),
        ("stderr (trace logs)", out.stderr.clone()),
        (
            "JSON report",
            std::fs::read_to_string(d.join("r.json")).unwrap(),
        ),
    ] {
        assert!(!text.contains(&pw), "the password appears in the {what}");
    }
    drop(cluster);
}

/// A cluster that is down at start (a master killed, no replica): exit 5 within the bound,
/// with the cluster state in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_at_start_exits_5_within_the_bound() {
    let cluster = LocalCluster::start(LocalClusterOptions {
        masters: 3,
        replicas_per_master: 0,
        node_timeout_ms: 500,
        ..Default::default()
    })
    .await
    .expect("cluster starts");
    cluster.kill(0);
    let port = cluster.ports()[1];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
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
        if ClusterInfo::parse(&info).state == "fail" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cluster never said cluster_state:fail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let nodes = format!("127.0.0.1:{port}");
    let pw = cluster.password().to_string();
    let t0 = Instant::now();
    let out = run_in(
        dir.path(),
        &[
            "run",
            "--nodes",
            &nodes,
            "--ready-timeout",
            "2",
            "--messages",
            "10",
        ],
        &[("REDIS_PASSWORD", &pw)],
        QUICK,
    );
    assert_fails(
        &out,
        5,
        &["cluster not ready", "cluster_state:fail", "--ready-timeout"],
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    drop(cluster);
}
