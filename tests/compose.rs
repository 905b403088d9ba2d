//! The compose clusters end to end: build the local Redis image, bring
//! `docker-compose.aof.yaml` and `docker-compose.noaof.yaml` up on free ports, wait
//! until every node is healthy, push 10,000 messages through `rcstress run` and
//! check that nothing was lost, check that AOF files exist only in the AOF cluster,
//! and take everything down with `down -v` (in a `Drop` guard, so also on panic).
//! A third test starts `rcstress run` while the cluster is still forming: the tool
//! waits for it ("cluster not ready" only past its bound) and then loses nothing.
//!
//! Works with both Compose front ends: `docker compose` (v2, `up --wait`) and the
//! Python `docker-compose` 1.29 (no `--wait`: the test polls the healthchecks
//! itself). Set `RCS_COMPOSE` to `docker-compose` or `docker compose` to pick one.
//!
//! Where `docker info` fails the tests print `skipped: docker not available:
//! <reason>` to stderr and return; set `RCS_REQUIRE_DOCKER=1` (CI, whose machine has
//! Docker) to fail instead. `RCS_TEST_REDIS_IMAGE` uses an existing image (e.g. the
//! official `redis:7.2`) instead of building one with `redis/build-image.sh`.
//!
//! The Redis password is random per run, reaches compose through the environment
//! and an env file in the test's temp dir, and is never printed: commands are shown
//! by program and arguments only (a `Command`'s `Debug` would show its environment).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rand::distr::Alphanumeric;
use rand::Rng;

/// The tests share Docker, the image and the host's ports: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
/// The image tag, built once per test binary.
static IMAGE: OnceLock<String> = OnceLock::new();

const MESSAGES: u64 = 10_000;
const BUILD_LIMIT: Duration = Duration::from_secs(600);
const UP_LIMIT: Duration = Duration::from_secs(240);
const HEALTHY_LIMIT: Duration = Duration::from_secs(180);
const RUN_LIMIT: Duration = Duration::from_secs(300);
const DOWN_LIMIT: Duration = Duration::from_secs(120);
/// Variables the compose files read that a developer's shell might export; the
/// test removes them so that it always gets the files' defaults.
const FOREIGN_VARS: &[&str] = &[
    "RCS_BIND",
    "RCS_APPENDFSYNC",
    "RCS_MAXMEMORY",
    "RCS_MAXMEMORY_POLICY",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
];

/// The AOF cluster takes writes, logs them to `appendonlydir/` on every node, and
/// loses none of 10,000 messages.
#[test]
fn aof_cluster_runs_a_cycle_and_keeps_aof_files() {
    compose_cycle(Flavour::Aof);
}

/// The no-AOF cluster takes the same cycle and writes no AOF files at all.
#[test]
fn noaof_cluster_runs_a_cycle_without_aof_files() {
    compose_cycle(Flavour::NoAof);
}

/// `rcstress run` started while the compose cluster is still forming (nodes up, the
/// cluster-init job not yet run) waits for `cluster_state:ok` instead of failing,
/// then runs its cycle with nothing lost.
#[test]
fn rcstress_waits_for_a_compose_cluster_that_is_still_forming() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(setup) = Setup::new(Flavour::NoAof) else {
        return;
    };
    let nodes: Vec<String> = (0..6).map(|i| format!("noaof-node{i}")).collect();
    let mut args = vec!["up", "-d"];
    args.extend(nodes.iter().map(String::as_str));
    let cluster = setup.compose.start(Flavour::NoAof, &args);

    let mut rcstress = setup.rcstress(1_000);
    let run =
        thread::spawn(move || run_bounded(&mut rcstress, RUN_LIMIT).map(|out| (rcstress, out)));
    // Give the tool time to find the nodes up but the cluster not formed.
    thread::sleep(Duration::from_secs(3));
    if run.is_finished() {
        let what = match run.join().expect("rcstress thread") {
            Ok((cmd, out)) => describe(&cmd, &out),
            Err(e) => e,
        };
        panic!("rcstress finished before the cluster was formed\n{what}");
    }
    let (cmd, out) = setup.compose.run(setup.compose.up_args(), UP_LIMIT);
    assert!(
        out.status.success(),
        "{}\n{}",
        describe(&cmd, &out),
        cluster.logs()
    );
    cluster.wait_healthy();

    let (rcstress, out) = run
        .join()
        .expect("rcstress thread")
        .unwrap_or_else(|e| panic!("{e}"));
    setup.check_report(&rcstress, &out, 1_000, &cluster);
    drop(cluster);
}

/// The compose instructions agree on the two things a first user trips over. Each file is
/// its own project: every command line that names a compose file (README, the files'
/// headers, .env.example) also names its project, `-p rcs-aof` or `-p rcs-noaof`, so that one
/// file's `up` never calls the other's nodes "orphan containers" (the files cannot say it
/// themselves: docker-compose 1.29 refuses a top-level `name:`). And REDIS_IMAGE has one home,
/// `.env`: .env.example sets it, uncommented, to the files' own default, and no instruction
/// says to export it in a shell.
#[test]
fn compose_instructions_name_each_project_and_take_the_image_from_env() {
    let read = |name: &str| {
        std::fs::read_to_string(repo_root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let example = read(".env.example");
    let image_lines: Vec<&str> = example
        .lines()
        .filter(|l| l.trim_start().starts_with("REDIS_IMAGE="))
        .collect();
    assert_eq!(
        image_lines.len(),
        1,
        ".env.example must set REDIS_IMAGE exactly once, uncommented: {image_lines:?}"
    );
    let image = image_lines[0].trim().trim_start_matches("REDIS_IMAGE=");
    assert!(!image.is_empty(), ".env.example leaves REDIS_IMAGE empty");

    let docs = [
        "README.md",
        ".env.example",
        "redis/build-image.sh",
        "docker-compose.aof.yaml",
        "docker-compose.noaof.yaml",
    ];
    for doc in docs {
        let text = read(doc);
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains("export REDIS_IMAGE"),
                "{doc}:{}: REDIS_IMAGE belongs in .env, not in a shell's exports: {line}",
                n + 1
            );
            for flavour in [Flavour::Aof, Flavour::NoAof] {
                let file = format!("-f docker-compose.{}.yaml", flavour.name());
                let project = format!("-p rcs-{} ", flavour.name());
                if line.contains(&file) {
                    assert!(
                        line.contains(&project),
                        "{doc}:{}: a command naming {file} must also say `{}`: {line}",
                        n + 1,
                        project.trim_end()
                    );
                }
            }
        }
    }
    for flavour in [Flavour::Aof, Flavour::NoAof] {
        let name = format!("docker-compose.{}.yaml", flavour.name());
        let compose = read(&name);
        let images: Vec<&str> = compose
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image:"))
            .map(str::trim)
            .collect();
        assert!(!images.is_empty(), "{name}: no image lines");
        let expected = format!("${{REDIS_IMAGE:-{image}}}");
        for found in images {
            assert_eq!(
                found, expected,
                "{name}: every service takes REDIS_IMAGE, defaulting to .env.example's value"
            );
        }
        assert!(
            !compose.lines().any(|l| l.starts_with("name:")),
            "{name}: docker-compose 1.29 refuses a top-level `name:`; use -p"
        );
    }
}

#[derive(Clone, Copy, Debug)]
enum Flavour {
    Aof,
    NoAof,
}

impl Flavour {
    /// Prefix of the service and volume names in the compose file.
    fn name(self) -> &'static str {
        match self {
            Flavour::Aof => "aof",
            Flavour::NoAof => "noaof",
        }
    }

    fn file(self) -> PathBuf {
        repo_root().join(format!("docker-compose.{}.yaml", self.name()))
    }

    /// The variable that sets node `i`'s port in this flavour's file.
    fn port_var(self, i: usize) -> String {
        format!("RCS_{}_PORT_{i}", self.name().to_uppercase())
    }
}

fn compose_cycle(flavour: Flavour) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(setup) = Setup::new(flavour) else {
        return;
    };
    let started = Instant::now();
    let cluster = setup.compose.up(flavour);
    let healthy_after = started.elapsed();

    // The cycle through the tool, as a user would run it against this cluster.
    let mut rcstress = setup.rcstress(MESSAGES);
    let cycle_started = Instant::now();
    let out = run_bounded(&mut rcstress, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let cycle = cycle_started.elapsed();
    let report = setup.check_report(&rcstress, &out, MESSAGES, &cluster);

    // AOF files: on every node of the AOF cluster, on none of the other.
    for i in 0..6 {
        let listing = cluster.exec_ls(i, "/data");
        match flavour {
            Flavour::Aof => assert!(
                listing.iter().any(|f| f == "appendonlydir"),
                "node {i} of the AOF cluster has no appendonlydir in /data: {listing:?}"
            ),
            Flavour::NoAof => assert!(
                !listing.iter().any(|f| f.starts_with("appendonly")),
                "node {i} of the no-AOF cluster has AOF files in /data: {listing:?}"
            ),
        }
    }
    if matches!(flavour, Flavour::Aof) {
        let aof_files = cluster.exec_ls(0, "/data/appendonlydir");
        assert!(
            aof_files.iter().any(|f| f.ends_with(".aof")),
            "node 0's appendonlydir holds no .aof file: {aof_files:?}"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "compose {}: healthy after {:.1}s, {MESSAGES} messages in {:.1}s ({:.0} msg/s), via {}",
        flavour.name(),
        healthy_after.as_secs_f64(),
        cycle.as_secs_f64(),
        report["throughput_msgs_per_sec"]
            .as_f64()
            .unwrap_or(f64::NAN),
        setup.compose.frontend.display(),
    );
    drop(cluster);
}

/// What one test needs around a compose project: a temp dir, free ports, a random
/// password, and the compose command line for the flavour's file.
struct Setup {
    tmp: tempfile::TempDir,
    ports: Vec<u16>,
    password: String,
    compose: Compose,
}

impl Setup {
    /// `None` (after printing why) when Docker is absent; panics when Docker is
    /// there but compose or the image build is not.
    fn new(flavour: Flavour) -> Option<Setup> {
        if let Err(reason) = docker_available() {
            if std::env::var("RCS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
                panic!("docker not available and RCS_REQUIRE_DOCKER=1: {reason}");
            }
            // Straight to stderr, past the harness's capture of println!/eprintln!,
            // so the skip shows in a passing run's output.
            let _ = writeln!(std::io::stderr(), "skipped: docker not available: {reason}");
            return None;
        }
        let frontend = Frontend::detect().unwrap_or_else(|e| panic!("{e}"));
        let image = IMAGE.get_or_init(build_image).clone();

        let tmp = tempfile::Builder::new()
            .prefix(&format!("rcs-compose-{}-", flavour.name()))
            .tempdir()
            .expect("temp dir");
        let ports = free_cluster_ports(6);
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let mut vars = BTreeMap::new();
        vars.insert("REDIS_PASSWORD".to_string(), password.clone());
        vars.insert("REDIS_IMAGE".to_string(), image);
        vars.insert("ip".to_string(), "127.0.0.1".to_string());
        for (i, port) in ports.iter().enumerate() {
            vars.insert(flavour.port_var(i), port.to_string());
        }
        let env_file = tmp.path().join("compose.env");
        let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, text).expect("write env file");
        let project = format!("rcs-test-{}-{}", std::process::id(), flavour.name());
        let compose = Compose {
            frontend,
            file: flavour.file(),
            project,
            env_file,
            vars,
        };
        Some(Setup {
            tmp,
            ports,
            password,
            compose,
        })
    }

    fn json_path(&self) -> PathBuf {
        self.tmp.path().join("run.json")
    }

    /// `rcstress run --messages N --nodes <the six> --json <tmp>/run.json`, with
    /// the password in the environment.
    fn rcstress(&self, messages: u64) -> Command {
        let nodes = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcstress"));
        cmd.args([
            "run",
            "--messages",
            &messages.to_string(),
            "--nodes",
            &nodes,
            "--json",
        ])
        .arg(self.json_path())
        .env("REDIS_PASSWORD", &self.password)
        .env_remove("REDIS_CLUSTER_NODES")
        // Away from the repository's .env, which may point somewhere else.
        .current_dir(self.tmp.path());
        cmd
    }

    /// Checks the run's exit status and JSON report: all `messages` acked, none
    /// lost, verdict "ok". Returns the report.
    fn check_report(
        &self,
        cmd: &Command,
        out: &Output,
        messages: u64,
        cluster: &Running<'_>,
    ) -> serde_json::Value {
        if !out.status.success() {
            panic!("{}\n{}", describe(cmd, out), cluster.logs());
        }
        let path = self.json_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("no JSON at {}: {e}\n{}", path.display(), describe(cmd, out))
        });
        let report: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bad JSON from rcstress: {e}\n{text}"));
        let counts = &report["counts"];
        assert_eq!(
            counts["acked"].as_u64(),
            Some(messages),
            "counts.acked in\n{text}"
        );
        assert_eq!(counts["lost"].as_u64(), Some(0), "counts.lost in\n{text}");
        assert_eq!(report["verdict"].as_str(), Some("ok"), "verdict in\n{text}");
        report
    }
}

/// `Ok` when the Docker daemon answers, else why not.
fn docker_available() -> Result<(), String> {
    let mut cmd = Command::new("docker");
    cmd.args(["info", "--format", "{{.ServerVersion}}"]);
    match run_bounded(&mut cmd, Duration::from_secs(60)) {
        Err(e) => Err(e),
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let reason = stderr
                .lines()
                .chain(stdout.lines())
                .find(|l| !l.trim().is_empty());
            Err(format!(
                "`docker info` failed ({}): {}",
                out.status,
                reason.unwrap_or("no output")
            ))
        }
    }
}

/// Builds the local image with `redis/build-image.sh` (which prints its tag last),
/// or takes `RCS_TEST_REDIS_IMAGE`.
fn build_image() -> String {
    if let Ok(image) = std::env::var("RCS_TEST_REDIS_IMAGE") {
        if !image.is_empty() {
            return image;
        }
    }
    let mut cmd = Command::new("sh");
    cmd.arg(repo_root().join("redis/build-image.sh"));
    let started = Instant::now();
    let out = run_bounded(&mut cmd, BUILD_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "building the Redis image failed\n{}",
        describe(&cmd, &out)
    );
    let tag = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    assert!(
        !tag.is_empty(),
        "redis/build-image.sh printed no tag\n{}",
        describe(&cmd, &out)
    );
    let _ = writeln!(
        std::io::stderr(),
        "compose: built {tag} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    tag
}

/// Which Compose command line drives the files.
#[derive(Clone, Debug)]
enum Frontend {
    /// `docker compose`, the Go plugin; `wait` tells whether it has `up --wait`.
    Plugin { wait: bool },
    /// `docker-compose`, the Python 1.x tool (or a v2 standalone binary).
    Standalone { wait: bool },
}

impl Frontend {
    /// `docker compose` when it answers, else `docker-compose`; `RCS_COMPOSE`
    /// chooses explicitly.
    fn detect() -> Result<Frontend, String> {
        let choice = std::env::var("RCS_COMPOSE").unwrap_or_default();
        let candidates: Vec<Frontend> = match choice.as_str() {
            "" => vec![
                Frontend::Plugin { wait: false },
                Frontend::Standalone { wait: false },
            ],
            "docker compose" => vec![Frontend::Plugin { wait: false }],
            "docker-compose" => vec![Frontend::Standalone { wait: false }],
            other => {
                return Err(format!(
                    "RCS_COMPOSE={other:?}: use \"docker compose\" or \"docker-compose\""
                ))
            }
        };
        for candidate in candidates {
            let mut version = candidate.command();
            version.arg("version");
            let answers = run_bounded(&mut version, Duration::from_secs(60))
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !answers {
                continue;
            }
            let mut help = candidate.command();
            help.args(["up", "--help"]);
            let wait = run_bounded(&mut help, Duration::from_secs(60))
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("--wait"))
                .unwrap_or(false);
            return Ok(match candidate {
                Frontend::Plugin { .. } => Frontend::Plugin { wait },
                Frontend::Standalone { .. } => Frontend::Standalone { wait },
            });
        }
        Err(
            "docker works but neither `docker compose` nor `docker-compose` does; \
             install one (e.g. `apt-get install docker-compose`)"
                .to_string(),
        )
    }

    fn command(&self) -> Command {
        match self {
            Frontend::Plugin { .. } => {
                let mut cmd = Command::new("docker");
                cmd.arg("compose");
                cmd
            }
            Frontend::Standalone { .. } => Command::new("docker-compose"),
        }
    }

    fn has_wait(&self) -> bool {
        match self {
            Frontend::Plugin { wait } | Frontend::Standalone { wait } => *wait,
        }
    }

    fn display(&self) -> &'static str {
        match self {
            Frontend::Plugin { .. } => "docker compose",
            Frontend::Standalone { .. } => "docker-compose",
        }
    }
}

/// One compose file brought up as its own project.
struct Compose {
    frontend: Frontend,
    file: PathBuf,
    project: String,
    env_file: PathBuf,
    vars: BTreeMap<String, String>,
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.frontend.command();
        cmd.arg("--env-file")
            .arg(&self.env_file)
            .args(["-p", &self.project, "-f"])
            .arg(&self.file)
            .args(args)
            .current_dir(repo_root())
            .envs(&self.vars);
        for var in FOREIGN_VARS {
            cmd.env_remove(var);
        }
        cmd
    }

    fn run(&self, args: &[&str], limit: Duration) -> (Command, Output) {
        let mut cmd = self.command(args);
        let out = run_bounded(&mut cmd, limit).unwrap_or_else(|e| panic!("{e}"));
        (cmd, out)
    }

    /// `up` of the whole project. Compose v2 waits for the healthchecks itself
    /// (`--wait`); docker-compose 1.29 has none, but its `up -d` blocks on the ready
    /// service's depends_on conditions. Callers check the health states either way.
    fn up_args(&self) -> &'static [&'static str] {
        if self.frontend.has_wait() {
            &["up", "-d", "--wait"]
        } else {
            &["up", "-d"]
        }
    }

    /// Runs `args` (an `up` of some or all services) and returns the guard that
    /// takes the project down, without waiting for health.
    fn start(&self, flavour: Flavour, args: &[&str]) -> Running<'_> {
        let running = Running {
            compose: self,
            flavour,
        };
        let (cmd, out) = self.run(args, UP_LIMIT);
        if !out.status.success() {
            panic!("{}\n{}", describe(&cmd, &out), running.logs());
        }
        running
    }

    /// Brings the project up and returns once every node is healthy and the
    /// cluster-forming job has exited 0. The returned guard takes it down.
    fn up(&self, flavour: Flavour) -> Running<'_> {
        let running = self.start(flavour, self.up_args());
        running.wait_healthy();
        running
    }
}

/// A project that is up; dropping it runs `down -v`, also when the test panics.
struct Running<'a> {
    compose: &'a Compose,
    flavour: Flavour,
}

impl Running<'_> {
    fn service(&self, what: &str) -> String {
        format!("{}-{what}", self.flavour.name())
    }

    /// The container id of a service, if it has one.
    fn container(&self, service: &str) -> Option<String> {
        let (_, out) = self
            .compose
            .run(&["ps", "-a", "-q", service], Duration::from_secs(60));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!id.is_empty()).then_some(id)
    }

    /// Polls `docker inspect` until the six nodes are running and healthy and the
    /// cluster-init job exited 0.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + HEALTHY_LIMIT;
        loop {
            let mut states = Vec::new();
            let mut ready = true;
            for i in 0..6 {
                let service = self.service(&format!("node{i}"));
                let state = self.inspect(
                    &service,
                    "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                );
                ready &= state == "running healthy";
                states.push(format!("{service}: {state}"));
            }
            let init = self.service("cluster-init");
            let state = self.inspect(&init, "{{.State.Status}} {{.State.ExitCode}}");
            if state.starts_with("exited") && state != "exited 0" {
                panic!("{init} failed: {state}\n{}", self.logs());
            }
            ready &= state == "exited 0";
            states.push(format!("{init}: {state}"));
            if ready {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "cluster not healthy after {}s: {}\n{}",
                    HEALTHY_LIMIT.as_secs(),
                    states.join(", "),
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    fn inspect(&self, service: &str, format: &str) -> String {
        let Some(id) = self.container(service) else {
            return "no container".to_string();
        };
        let mut cmd = Command::new("docker");
        cmd.args(["inspect", "--format", format, &id]);
        match run_bounded(&mut cmd, Duration::from_secs(60)) {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            Ok(out) => format!(
                "inspect failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => e,
        }
    }

    /// Names in directory `dir` of node `i`'s container (`/data` is its volume).
    fn exec_ls(&self, i: usize, dir: &str) -> Vec<String> {
        let service = self.service(&format!("node{i}"));
        let (cmd, out) = self.compose.run(
            &["exec", "-T", &service, "ls", "-A", dir],
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "listing {dir} of {service}\n{}",
            describe(&cmd, &out)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The tail of every service's log, for failure messages.
    fn logs(&self) -> String {
        let mut cmd = self
            .compose
            .command(&["logs", "--no-color", "--tail", "40"]);
        match run_bounded(&mut cmd, Duration::from_secs(60)) {
            Ok(out) => format!(
                "--- compose logs ---\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("(no logs: {e})"),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut cmd = self
            .compose
            .command(&["down", "-v", "--remove-orphans", "-t", "5"]);
        match run_bounded(&mut cmd, DOWN_LIMIT) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cleanup failed; remove the project by hand\n{}",
                describe(&cmd, &out)
            ),
            Err(e) => eprintln!("cleanup failed; remove the project by hand: {e}"),
        }
    }
}

/// `n` loopback ports `p` such that `p` and its cluster bus port `p + 10000` are
/// both free now. Both stay below Linux's ephemeral range (32768 and up), as the
/// embedded launcher's do: there, any outgoing connection of another process could
/// take a port between this check and the nodes' bind (seen: a bus port at 45606).
/// Another listener may still take one first: a race we accept, since a node that
/// cannot bind fails the start-up with a clear log.
fn free_cluster_ports(n: usize) -> Vec<u16> {
    let mut rng = rand::rng();
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..10_000 {
        if ports.len() == n {
            break;
        }
        let port: u16 = rng.random_range(12_000..22_768);
        if ports.contains(&port) {
            continue;
        }
        // Hold the listeners until all are chosen so no port is picked twice.
        if let (Ok(a), Ok(b)) = (
            TcpListener::bind(("127.0.0.1", port)),
            TcpListener::bind(("127.0.0.1", port + 10_000)),
        ) {
            held.push((a, b));
            ports.push(port);
        }
    }
    assert_eq!(ports.len(), n, "found only {} free port pairs", ports.len());
    ports
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command to completion within `limit`, reading its output as it goes;
/// past the limit the child is killed (by its own handle) and waited for.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let shown = show(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out_reader.join().unwrap_or_default();
                let stderr = err_reader.join().unwrap_or_default();
                return Err(format!(
                    "`{shown}` did not finish within {}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    limit.as_secs(),
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                ));
            }
            Err(e) => return Err(format!("waiting for `{shown}`: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// Program and arguments only: never the environment, which holds the password.
fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        show(cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
