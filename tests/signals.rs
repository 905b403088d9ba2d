//! Cleanup under every ending: SIGINT, SIGTERM and SIGKILL sent to a running `rcstress cluster up`
//! and `rcstress run`, and a panic. Our redis-servers are found by pid (children of the tool,
//! from /proc) and checked by pid afterwards; the temp dir must be gone (after SIGKILL: gone once
//! the next run has started).

mod support;
use support::cli;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cli::{command, redis_children, wait_bounded};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::pid_alive;

/// The tool, started with stdout and stderr in files of a temp dir, and a TMPDIR of its own:
/// every run removes the stale dirs of dead runs it finds in its TMPDIR, so a shared one would let
/// another test's run remove the dir a test is about to look for.
struct Tool {
    child: Child,
    dir: tempfile::TempDir,
    password: String,
}

impl Tool {
    fn start(args: &[&str]) -> Tool {
        let dir = tempfile::tempdir().unwrap();
        // A password of ours, so that we can look for it in argv, environments and output.
        let password = format!("sig-test-pw-{}", std::process::id());
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let tmp = tmp.display().to_string();
        let mut cmd = command(
            dir.path(),
            args,
            &[("REDIS_PASSWORD", &password), ("TMPDIR", &tmp)],
        );
        cmd.stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn rcstress");
        Tool {
            child,
            dir,
            password,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The TMPDIR the tool was given.
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// The tool's temp dirs (`rcstress-<pid>-*` in its TMPDIR).
    fn temp_dirs(&self) -> Vec<PathBuf> {
        let prefix = format!("rcstress-{}-", self.pid());
        std::fs::read_dir(self.tmp())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn show(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
        .replace(&self.password, "<password>")
    }

    /// Waits (bounded) until `ok` holds, failing with the tool's output.
    fn wait_for(&mut self, what: &str, limit: Duration, mut ok: impl FnMut(&Tool) -> bool) {
        let deadline = Instant::now() + limit;
        while !ok(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rcstress exited ({status}) before {what}\n{}", self.show());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("timed out waiting for {what}\n{}", self.show());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Our nodes, once `n` are running.
    fn nodes(&mut self, n: usize) -> Vec<u32> {
        let pid = self.pid();
        self.wait_for(
            &format!("{n} redis-server children"),
            Duration::from_secs(60),
            |_| redis_children(pid).len() == n,
        );
        redis_children(pid)
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    fn finish(&mut self, limit: Duration) -> (std::process::ExitStatus, String, String) {
        let status = wait_bounded(&mut self.child, limit)
            .unwrap_or_else(|| panic!("rcstress did not exit in {limit:?}\n{}", self.show()));
        (status, self.stdout(), self.stderr())
    }
}

impl Drop for Tool {
    /// A failed assertion must not leave the tool (and so its nodes) running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asserts every pid is gone (a zombie waiting for its new parent counts as gone), within a bound.
fn assert_dead(pids: &[u32], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Reap those that were reparented to us (see `a_panic_still_cleans_up`); others: ECHILD.
        for &p in pids {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(p as i32),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
        if !pids.iter().any(|&p| pid_alive(p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: redis-server {:?} still running",
            pids.iter().filter(|&&p| pid_alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Neither the argv nor the environment of a node shows the password (what `ps` and `ps e` print).
/// A limit we admit: redis-server 7 rewrites its process title over the environ area, so the
/// environ half would pass even if we leaked REDIS_PASSWORD into the nodes' environment (we do
/// not: `spawn_node` removes it); the argv half is the one that can catch a regression.
fn assert_no_secret_in_ps(pids: &[u32], password: &str) {
    for pid in pids {
        for file in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(password),
                "the password is in /proc/{pid}/{file} of a node"
            );
        }
    }
}

fn password_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("password: in "))
        .expect("cluster up prints the password file");
    let path = line
        .trim_start_matches("password: in ")
        .split(" (mode")
        .next()
        .unwrap();
    Path::new(path).parent().unwrap().to_path_buf()
}

/// `cluster up`, then `sig`: exit 128+sig, every node gone, the temp dir gone.
fn cluster_up_stops_clean_on(sig: Signal) {
    let mut tool = Tool::start(&["cluster", "up", "--masters", "3", "--replicas", "0"]);
    tool.wait_for("'press Ctrl-C'", Duration::from_secs(60), |t| {
        t.stdout().contains("press Ctrl-C")
    });
    let nodes = tool.nodes(3);
    let dir = password_dir(&tool.stdout());
    let file = std::fs::read_to_string(dir.join("password")).unwrap();
    assert_eq!(file, tool.password, "cluster up uses REDIS_PASSWORD");
    assert!(dir.exists());
    assert_no_secret_in_ps(&nodes, &tool.password);
    let password = tool.password.clone();
    tool.signal(sig);
    let (status, stdout, stderr) = tool.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(128 + sig as i32), "{stdout}\n{stderr}");
    assert!(stdout.contains("cluster stopped"), "{stdout}");
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
    assert_dead(&nodes, &format!("cluster up + {sig}"));
    assert!(!dir.exists(), "{} left behind after {sig}", dir.display());
}

#[test]
fn cluster_up_stops_clean_on_sigint() {
    cluster_up_stops_clean_on(Signal::SIGINT);
}

#[test]
fn cluster_up_stops_clean_on_sigterm() {
    cluster_up_stops_clean_on(Signal::SIGTERM);
}

#[test]
fn cluster_up_stops_clean_on_sighup() {
    cluster_up_stops_clean_on(Signal::SIGHUP);
}

/// A run long enough to be interrupted: rate-limited so it cannot finish during the test.
const LONG_RUN: &[&str] = &[
    "run",
    "--masters",
    "3",
    "--replicas",
    "0",
    "--messages",
    "1m",
    "--rate",
    "2000",
    "--json",
    "r.json",
];

/// Waits until messages are flowing (the nodes hold keys), so the signal lands mid-run.
fn wait_until_running(tool: &mut Tool, nodes: &[u32]) {
    let read_ports = || -> Vec<u16> {
        nodes
            .iter()
            .filter_map(|p| {
                let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
                let text = String::from_utf8_lossy(&cmdline).into_owned();
                text.split_whitespace()
                    .find_map(|w| w.strip_prefix("127.0.0.1:"))
                    .and_then(|p| p.parse().ok())
            })
            .collect()
    };
    // A node names its address in its title only once it has set it up: on a loaded machine
    // the last one spawned may not have yet.
    tool.wait_for(
        "every node's address in its title",
        Duration::from_secs(30),
        |_| read_ports().len() == nodes.len(),
    );
    let ports = read_ports();
    let password = tool.password.clone();
    tool.wait_for(
        "messages in the streams",
        Duration::from_secs(60),
        move |_| {
            ports.iter().any(|port| {
                let url = format!("redis://:{password}@127.0.0.1:{port}/");
                redis::Client::open(url)
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                    .and_then(|mut c| redis::cmd("DBSIZE").query::<u64>(&mut c))
                    .is_ok_and(|n| n > 0)
            })
        },
    );
}

/// `run` on an embedded cluster, then SIGINT or SIGTERM mid-run: the run stops, reports, writes
/// a whole JSON file, exits 128+sig; nodes and temp dir gone.
fn run_stops_clean_on(sig: Signal) {
    let mut tool = Tool::start(LONG_RUN);
    let nodes = tool.nodes(3);
    assert_no_secret_in_ps(&nodes, &tool.password);
    wait_until_running(&mut tool, &nodes);
    let dirs = tool.temp_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let json = tool.dir.path().join("r.json");
    tool.signal(sig);
    let (status, stdout, stderr) = tool.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(128 + sig as i32), "{stdout}\n{stderr}");
    // The summary says what happened; the JSON keeps its contract value and says it is partial.
    let said = format!("ended: interrupted ({sig}), partial report");
    assert!(stdout.contains(&said), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["ended_by"], "stopped");
    assert_eq!(report["status"], "interrupted, partial report");
    assert_dead(&nodes, &format!("run + {sig}"));
    assert!(tool.temp_dirs().is_empty(), "temp dir left after {sig}");
}

#[test]
fn run_stops_clean_on_sigint() {
    run_stops_clean_on(Signal::SIGINT);
}

#[test]
fn run_stops_clean_on_sigterm() {
    run_stops_clean_on(Signal::SIGTERM);
}

/// SIGKILL cannot be caught: the nodes die with the tool (PR_SET_PDEATHSIG), the temp dir stays
/// until the next run, which removes it before it starts its own cluster.
fn sigkill_leaves_only_a_dir_that_the_next_run_removes(args: &[&str]) {
    let mut tool = Tool::start(args);
    let nodes = tool.nodes(3);
    if args[0] == "run" {
        wait_until_running(&mut tool, &nodes);
    } else {
        tool.wait_for("'press Ctrl-C'", Duration::from_secs(60), |t| {
            t.stdout().contains("press Ctrl-C")
        });
    }
    tool.signal(Signal::SIGKILL);
    let (status, _, _) = tool.finish(Duration::from_secs(10));
    assert_eq!(status.code(), None, "killed by a signal");
    assert_dead(&nodes, "SIGKILL");
    let stale = tool.temp_dirs();
    assert_eq!(stale.len(), 1, "the killed run's dir: {stale:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = cli::run_in(
        dir.path(),
        &[
            "run",
            "--masters",
            "1",
            "--replicas",
            "0",
            "--messages",
            "10",
        ],
        &[("TMPDIR", &tool.tmp().display().to_string())],
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        !stale[0].exists(),
        "stale {} not removed",
        stale[0].display()
    );
}

#[test]
fn sigkill_of_cluster_up_is_cleaned_by_the_next_run() {
    sigkill_leaves_only_a_dir_that_the_next_run_removes(&[
        "cluster",
        "up",
        "--masters",
        "3",
        "--replicas",
        "0",
    ]);
}

#[test]
fn sigkill_of_run_is_cleaned_by_the_next_run() {
    sigkill_leaves_only_a_dir_that_the_next_run_removes(LONG_RUN);
}

/// A panic after start-up (forced with RCSTRESS_TEST_PANIC) is one line on stderr, exit 101, and
/// the unwinding still stops every node and removes the temp dir.
#[test]
fn a_panic_still_cleans_up() {
    // Orphans of the tool would be reparented to us: then they are ours to find by pid below.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A TMPDIR of its own, so that no other test's run removes the dir in its place.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut cmd = command(
        dir.path(),
        &["cluster", "up", "--masters", "3", "--replicas", "0"],
        &[
            ("RCSTRESS_TEST_PANIC", "1"),
            ("TMPDIR", &tmp.display().to_string()),
        ],
    );
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stdout}\n{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("Error: internal error"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    let dir_of_run = password_dir(&stdout);
    assert!(
        !dir_of_run.exists(),
        "{} left after a panic",
        dir_of_run.display()
    );
    // The nodes' ports, printed before the panic, no longer answer.
    let nodes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("nodes: "))
        .unwrap();
    for addr in nodes.split(',') {
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still answers after the panic"
        );
    }
    let orphans: Vec<u32> = redis_children(std::process::id())
        .into_iter()
        .filter(|&p| pid_alive(p))
        .collect();
    assert!(
        orphans.is_empty(),
        "redis-server {orphans:?} outlived the panic"
    );
}
