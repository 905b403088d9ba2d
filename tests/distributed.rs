//! A distributed run without an engine: three `rcstress worker` processes against one local
//! cluster, then `rcstress merge` of their result files. (The same on Docker Swarm: swarm.rs.)

mod support;
use support::cli;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use cli::{assert_fails, command, run_in, wait_bounded};

const LIMIT: Duration = Duration::from_secs(180);

/// Worker processes, killed and reaped (by pid) if the test ends before they do.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_workers(dir: &Path, out: &Path, args: &[&str], env: &[(&str, &str)], n: usize) -> Workers {
    let mut workers = Workers(Vec::new());
    for i in 0..n {
        let index = i.to_string();
        let count = n.to_string();
        let mut all = vec!["worker", "--index", &index, "--workers", &count];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let log = std::fs::File::create(dir.join(format!("worker-{i}.log"))).unwrap();
        let child = command(dir, &all, env)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn rcstress worker");
        workers.0.push(child);
    }
    workers
}

/// Runs `n` workers to their end: each must succeed and say which of the `n` it was.
fn run_workers(dir: &Path, out: &Path, args: &[&str], env: &[(&str, &str)], n: usize) {
    let mut workers = spawn_workers(dir, out, args, env, n);
    for (i, c) in workers.0.iter_mut().enumerate() {
        let status = wait_bounded(c, LIMIT).expect("worker finished in time");
        let log = std::fs::read_to_string(dir.join(format!("worker-{i}.log"))).unwrap();
        assert!(status.success(), "worker {i}: {status}\n{log}");
        assert!(
            log.contains(&format!("rcstress worker {i} of {n}")),
            "{log}"
        );
    }
}

/// A 3-master cluster (with `replicas` each), a temporary directory with an empty `results` directory in it (the
/// workers' `--out`), and the cluster's `--nodes`.
async fn setup(
    replicas: usize,
) -> (
    redis_cluster_stress::LocalCluster,
    tempfile::TempDir,
    PathBuf,
    String,
) {
    let cluster = support::cluster(3, replicas).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    std::fs::create_dir(&out).unwrap();
    let nodes = cluster.endpoint().nodes_display();
    (cluster, dir, out, nodes)
}

/// 3 workers × 1 producer and 1 consumer each, 90,000 messages in all: every message one worker
/// sent was acked (by whichever worker's consumer got it), nothing lost, duplicated or
/// unexpected; the merged histogram holds every worker's count; XLEN agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_merge_into_one_clean_run() {
    let (cluster, dir, out, nodes) = setup(0).await;
    let env = [("REDIS_PASSWORD", cluster.password())];
    let args = [
        "--messages",
        "90000",
        "--producers",
        "3",
        "--consumers",
        "3",
        "--start-in",
        "4",
        "--nodes",
        &nodes,
        "--quiet",
        "2",
    ];
    run_workers(dir.path(), &out, &args, &env, 3);

    let json = dir.path().join("merged.json");
    let html = dir.path().join("merged.html");
    // No --nodes: the merge asks the cluster the workers' files name.
    let merged = run_in(
        dir.path(),
        &[
            "merge",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--strict",
        ],
        &env,
        LIMIT,
    );
    assert!(merged.status.success(), "{merged}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &v["counts"];
    for (k, want) in [
        ("attempted", 90_000),
        ("produced", 90_000),
        ("delivered", 90_000),
        ("acked", 90_000),
        ("lost", 0),
        ("duplicated", 0),
        ("unexpected", 0),
        ("pending_at_end", 0),
    ] {
        assert_eq!(c[k], want, "{k}\n{merged}");
    }
    assert_eq!(v["verdict"], "ok", "{merged}");
    assert_eq!(v["command"], "merge");
    assert_eq!(v["redis_xlen"], 90_000);
    // The cost covers every worker's messages: client CPU added up, the servers read once.
    assert_eq!(v["cost"]["messages"], 90_000, "{v}");
    assert!(
        v["cost"]["client_cpu_seconds"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert!(
        v["cost"]["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert_eq!(v["disagreements"].as_array().unwrap().len(), 0, "{v}");
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    let sent: u64 = workers.iter().map(|w| w["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, 90_000);
    // Every worker's consumer acked: the group spans the processes.
    assert!(
        workers.iter().all(|w| w["acked"].as_u64().unwrap() > 0),
        "{v}"
    );
    // The merged histogram is the sum of the workers' (one count per acked message).
    let files: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            let p = out.join(format!("worker-{i}-of-3.json"));
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        })
        .collect();
    let acked_by_workers: u64 = files
        .iter()
        .map(|f| f["counts"]["acked"].as_u64().unwrap())
        .sum();
    assert_eq!(v["latency_us"]["count"].as_u64(), Some(acked_by_workers));
    assert_eq!(acked_by_workers, 90_000);
    // The series, aligned on the wall clock, adds up to the totals.
    let series = v["series"].as_array().unwrap();
    let acked_in_series: u64 = series.iter().map(|s| s["acked"].as_u64().unwrap()).sum();
    let sent_in_series: u64 = series.iter().map(|s| s["sent"].as_u64().unwrap()).sum();
    assert!(
        acked_in_series <= 90_000 && sent_in_series <= 90_000,
        "{series:?}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("distributed run") && page.contains("(verdict: ok)"),
        "{page:.300}"
    );

    // A directory with one worker's file missing is refused with a clear line.
    std::fs::remove_file(out.join("worker-1-of-3.json")).unwrap();
    let partial = run_in(
        dir.path(),
        &["merge", out.to_str().unwrap(), "--nodes", &nodes],
        &env,
        LIMIT,
    );
    assert_fails(&partial, 2, &["missing worker(s): 1"]);
}

/// A worker told nothing about who it is, or pointed at no cluster, says what to give.
#[test]
fn a_worker_without_identity_or_cluster_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let cluster = "--nodes=127.0.0.1:1";
    let cases = [
        (
            "--workers=3 --start-in=5",
            cluster,
            None,
            "which worker is this?",
        ),
        (
            "--start-in=5",
            cluster,
            Some(("RCSTRESS_WORKER_SLOT", "1")),
            "how many workers?",
        ),
        (
            "--index=0 --workers=2 --start-in=5",
            "",
            None,
            "give --nodes",
        ),
        ("--index=0 --workers=2", cluster, None, "--start-at"),
        (
            "--index=0 --workers=2 --start-at=1700000000",
            cluster,
            None,
            "s ago",
        ),
    ];
    for (flags, nodes, env, says) in cases {
        let mut args = vec!["worker", "--out", d];
        args.extend(flags.split(' ').chain([nodes]).filter(|a| !a.is_empty()));
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let out = run_in(dir.path(), &args, &env, Duration::from_secs(30));
        assert_fails(&out, 2, &[says]);
    }
    let out = run_in(
        dir.path(),
        &["merge", d, cluster],
        &[],
        Duration::from_secs(30),
    );
    assert_fails(&out, 2, &["no worker result files"]);
}

/// SIGTERM while a worker waits for the common start (what `docker stack rm` sends): it stops at
/// once with 128 + 15, writes no result file, and leaves nothing running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_before_the_start_writes_nothing() {
    let (cluster, dir, out, nodes) = setup(0).await;
    let env = [("REDIS_PASSWORD", cluster.password())];
    let args = ["--start-in", "60", "--nodes", &nodes];
    let mut workers = spawn_workers(dir.path(), &out, &args, &env, 1);
    // Long enough to be set up and waiting; far from the start.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pid = nix::unistd::Pid::from_raw(workers.0[0].id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_bounded(&mut workers.0[0], Duration::from_secs(20)).expect("it stopped");
    let log = std::fs::read_to_string(dir.path().join("worker-0.log")).unwrap();
    assert_eq!(status.code(), Some(143), "{log}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{log}");
}

/// Two workers with `--durability wait:1` against masters with a replica each: every worker
/// waits for its replica after each pipeline as `run` does, its file carries the confirm
/// histogram and its unconfirmed count, and the merge adds both; the merged report names the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_honour_durability_and_the_merge_adds_their_confirmations() {
    let (cluster, dir, out, nodes) = setup(1).await;
    let env = [("REDIS_PASSWORD", cluster.password())];
    let args = [
        "--messages",
        "20000",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--durability",
        "wait:1:2000",
        "--start-in",
        "4",
        "--nodes",
        &nodes,
        "--quiet",
        "2",
    ];
    run_workers(dir.path(), &out, &args, &env, 2);
    let json = dir.path().join("merged.json");
    let merged = run_in(
        dir.path(),
        &[
            "merge",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &env,
        LIMIT,
    );
    assert!(merged.status.success(), "{merged}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (mut confirms, mut unconfirmed) = (0, 0);
    for i in 0..2 {
        let p = out.join(format!("worker-{i}-of-2.json"));
        let f: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(
            f["config"]["workload"]["durability"], "wait:1:2000",
            "{f:.300}"
        );
        let h = redis_cluster_stress::distributed::decode_histogram(
            f["confirm_histogram"].as_str().unwrap(),
            "test",
        )
        .unwrap();
        assert!(!h.is_empty(), "worker {i} waited for no replica");
        confirms += h.len();
        unconfirmed += f["counts"]["unconfirmed"].as_u64().unwrap();
        assert_eq!(f["ledger"]["unconfirmed"], f["counts"]["unconfirmed"]);
    }
    assert_eq!(
        v["confirm_latency_us"]["count"].as_u64(),
        Some(confirms),
        "{merged}"
    );
    assert_eq!(
        v["counts"]["unconfirmed"].as_u64(),
        Some(unconfirmed),
        "{merged}"
    );
    let c = &v["counts"];
    assert_eq!(
        c["produced"].as_u64().unwrap() + c["unconfirmed"].as_u64().unwrap(),
        20_000
            - c["produce_failed"].as_u64().unwrap()
            - c["produce_indeterminate"].as_u64().unwrap(),
        "{merged}"
    );
    assert_eq!(v["server"]["name"], "redis", "{merged}");
}
