//! The distributed run on Docker Swarm, end to end: `deploy/swarm-run.sh` builds the worker image
//! from this test's rcstress binary, deploys 3 workers (`deploy/swarm-stack.yaml`, host network,
//! a bind-mounted results directory) against a local cluster, waits, merges, and removes the
//! stack. If the engine is in no swarm the script makes it a single-node one and leaves it
//! afterwards (removing `docker_gwbridge`); the tests' guard checks and repeats that cleanup,
//! also when the script fails, hangs or the test panics. A second test makes the workers fail.
//!
//! Where `docker info` fails the test prints `skipped: docker not available: <reason>` to stderr
//! and returns; set `RCS_REQUIRE_DOCKER=1` to fail instead.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: u64 = 300_000;
const WORKERS: usize = 3;
const LIMIT: Duration = Duration::from_secs(400);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a docker command with a bound; its stdout, or why it failed.
fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn swarm_state() -> String {
    docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]).unwrap_or_default()
}

/// Puts the engine back as the test found it: the stack removed, and a swarm the run created
/// left with its bridge network removed.
struct EngineGuard {
    swarm_before: String,
    stack: Option<String>,
}

impl Drop for EngineGuard {
    fn drop(&mut self) {
        if let Some(stack) = &self.stack {
            if docker(&["stack", "ls", "--format", "{{.Name}}"])
                .is_ok_and(|names| names.lines().any(|n| n == stack))
            {
                let _ = docker(&["stack", "rm", stack]);
                let filter = format!("label=com.docker.stack.namespace={stack}");
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until
                    && docker(&["ps", "-aq", "--filter", &filter]).is_ok_and(|s| !s.is_empty())
                {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        if self.swarm_before != "active" && swarm_state() == "active" {
            let _ = docker(&["swarm", "leave", "--force"]);
        }
        if self.swarm_before != "active"
            && docker(&["network", "inspect", "docker_gwbridge"]).is_ok()
        {
            let _ = docker(&["network", "rm", "docker_gwbridge"]);
        }
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tests share the engine's swarm state: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `None` (after printing why) when Docker is absent and not required.
async fn docker_or_skip() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if let Err(reason) = docker(&["info", "--format", "{{.ServerVersion}}"]) {
        if std::env::var("RCS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("docker not available and RCS_REQUIRE_DOCKER=1: {reason}");
        }
        let _ = writeln!(std::io::stderr(), "skipped: docker not available: {reason}");
        return None;
    }
    Some(SERIAL.lock().await)
}

/// What one `deploy/swarm-run.sh` did.
struct SwarmRun {
    status: std::process::ExitStatus,
    output: String,
    results: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Runs `deploy/swarm-run.sh` with 3 workers and `run_flags` against `cluster`, bounded by
/// LIMIT; then checks that it removed its stack and left the swarm as it found it.
fn swarm_run(cluster: &redis_cluster_stress::LocalCluster, run_flags: &[&str]) -> SwarmRun {
    let mut guard = EngineGuard {
        swarm_before: swarm_state(),
        stack: None,
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let results = tmp.path().join("results");
    let log_path = tmp.path().join("swarm-run.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("deploy/swarm-run.sh"))
        .args(["--workers", &WORKERS.to_string()])
        .args(["--nodes", &cluster.endpoint().nodes_display()])
        .args(["--bin", env!("CARGO_BIN_EXE_rcstress")])
        .args(["--results", results.to_str().unwrap()])
        .args(["--lead", "12", "--timeout", "240", "--init-swarm", "--"])
        .args(run_flags)
        .env("REDIS_PASSWORD", cluster.password())
        .env_remove("REDIS_CLUSTER_NODES")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut child = cmd.spawn().expect("spawn deploy/swarm-run.sh");
    guard.stack = Some(format!("rcstress-{}", child.id()));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for swarm-run.sh") {
            break Some(s);
        }
        if started.elapsed() >= LIMIT {
            // SIGTERM first, so that the script's own cleanup runs; the guard does the rest.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("swarm-run.sh did not finish in {LIMIT:?}\n{output}"));
    let _ = writeln!(
        std::io::stderr(),
        "swarm: {WORKERS} workers {run_flags:?}: image build + deploy + run + merge in {:.1} s, {status}",
        started.elapsed().as_secs_f64()
    );
    // The script cleaned up after itself: no stack left, and the swarm as it was.
    let stacks = docker(&["stack", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
    assert!(
        !stacks.lines().any(|n| Some(n) == guard.stack.as_deref()),
        "stack left behind: {stacks}\n{output}"
    );
    assert_eq!(
        swarm_state(),
        guard.swarm_before,
        "swarm state not restored\n{output}"
    );
    if guard.swarm_before != "active" {
        assert!(
            docker(&["network", "inspect", "docker_gwbridge"]).is_err(),
            "docker_gwbridge left behind\n{output}"
        );
    }
    SwarmRun {
        status,
        output,
        results,
        _tmp: tmp,
    }
}

/// 3 workers on Swarm, 300,000 messages in all: merged acked = 300,000, nothing lost, and the
/// merged histogram's count is the sum of the workers' histograms' counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_swarm_workers_merge_into_one_clean_run() {
    let Some(_serial) = docker_or_skip().await else {
        return;
    };
    let cluster = support::cluster(3, 0).await;
    let messages = MESSAGES.to_string();
    let run = swarm_run(
        &cluster,
        &[
            "--messages",
            &messages,
            "--producers",
            "3",
            "--consumers",
            "3",
        ],
    );
    let (output, results) = (&run.output, &run.results);
    assert!(
        run.status.success(),
        "swarm-run.sh: {}\n{output}",
        run.status
    );

    let merged = read_json(&results.join("merged.json"));
    let c = &merged["counts"];
    assert_eq!(c["acked"], MESSAGES, "{output}");
    assert_eq!(
        (c["lost"].as_u64(), c["unexpected"].as_u64()),
        (Some(0), Some(0)),
        "{output}"
    );
    assert_eq!(merged["verdict"], "ok");
    let mut histogram_counts = 0;
    for i in 0..WORKERS {
        let w = read_json(&results.join(format!("worker-{i}-of-{WORKERS}.json")));
        let h = redis_cluster_stress::distributed::decode_histogram(
            w["latency_histogram"].as_str().unwrap(),
            "worker file",
        )
        .unwrap();
        histogram_counts += h.len();
    }
    assert_eq!(
        merged["latency_us"]["count"].as_u64(),
        Some(histogram_counts)
    );
    assert_eq!(histogram_counts, MESSAGES);
    assert!(results.join("merged.html").is_file());
}

/// Workers that fail (here: a flag value rcstress refuses) end the script with exit 4 and their
/// error, and the stack and the swarm are cleaned up all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_swarm_workers_are_reported_and_cleaned_up() {
    let Some(_serial) = docker_or_skip().await else {
        return;
    };
    let cluster = support::cluster(3, 0).await;
    let run = swarm_run(&cluster, &["--messages", "1000", "--batch", "0"]);
    assert_eq!(run.status.code(), Some(4), "{}", run.output);
    assert!(run.output.contains("a worker failed"), "{}", run.output);
    assert!(
        run.output.contains("'--batch"),
        "the workers' error is shown\n{}",
        run.output
    );
    assert!(!run.results.join("merged.json").exists());
}
