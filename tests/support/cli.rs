//! Running the `rcstress` binary in tests: a clean temp working dir (no `.env` picked up, no
//! REDIS_* inherited), a bound on every wait, and failures that show command, status, stdout and
//! stderr. Also a plain `redis-server` we own, for "not a cluster" cases.
#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Variables a developer's shell may carry that would change what the tool does.
const SCRUBBED: &[&str] = &[
    "REDIS_CLUSTER_NODES",
    "REDIS_PASSWORD",
    "REDIS_USERNAME",
    "REDIS_TLS_CA",
    "REDIS_SERVER",
    "STREAM_NAME",
    "CONSUMER_GROUP",
    "CUSTOMER_GROUPNAME",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "RCSTRESS_TEST_PANIC",
];

/// The `rcstress` binary built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rcstress")
}

/// A command line for `rcstress`, run in `dir`.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for k in SCRUBBED {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// What a finished run printed.
pub struct Output {
    pub line: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.line, self.status, self.stdout, self.stderr
        )
    }
}

/// Describes the command for failure messages, with `secret` (if any) masked.
pub fn describe(args: &[&str], env: &[(&str, &str)], secret: Option<&str>) -> String {
    let mut line: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    line.push("rcstress".into());
    line.extend(args.iter().map(|a| a.to_string()));
    let line = line.join(" ");
    match secret {
        Some(s) if !s.is_empty() => line.replace(s, "<secret>"),
        _ => line,
    }
}

/// Runs `rcstress args` in `dir` with `env`, killing it (by its pid) after `limit`.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let out_path = dir.join(format!(".stdout-{}", unique()));
    let err_path = dir.join(format!(".stderr-{}", unique()));
    let mut cmd = command(dir, args, env);
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().expect("spawn rcstress");
    let status = wait_bounded(&mut child, limit);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let line = describe(args, env, None);
    match status {
        Some(status) => Output {
            line,
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "rcstress did not finish within {limit:?}; killed it\ncommand: {line}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

/// The bound on a command that should end in seconds (bad input, a refusal, a tiny run).
pub const QUICK: Duration = Duration::from_secs(30);

/// Runs `rcstress args` in `dir` with no extra environment, bounded by [`QUICK`].
pub fn rcstress(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args, &[], QUICK)
}

/// Waits for `child` up to `limit`; on timeout kills it (by pid), reaps it, returns `None`.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Asserts the run failed the way users are promised: exit `code`, exactly one line on stderr
/// that starts with `Error: ` and contains every one of `needles`, no panic, nothing on stdout.
pub fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let err = out.stderr.trim_end();
    assert_eq!(out.code(), Some(code), "wrong exit code\n{out}");
    assert_eq!(err.lines().count(), 1, "not one line on stderr\n{out}");
    assert!(err.starts_with("Error: "), "no 'Error: ' prefix\n{out}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}\n{out}");
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!err.contains(bad), "stderr shows {bad:?}\n{out}");
    }
    assert!(out.stdout.trim().is_empty(), "stdout not empty\n{out}");
}

/// A free port on 127.0.0.1 (nothing listens on it once this returns; a race we accept in tests).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Pids whose parent is `ppid` and whose command is `redis-server` (our tool's nodes).
pub fn redis_children(ppid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let parent = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(ppid) && comm.starts_with("redis-server") {
            pids.push(pid);
        }
    }
    pids
}

/// A plain `redis-server` on a free loopback port that we own: config file (0600) in a temp dir,
/// killed by pid and reaped on drop.
pub struct PlainServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PlainServer {
    /// `extra` is added to the config (e.g. `cluster-enabled yes`, `requirepass ...`).
    pub fn start(extra: &str) -> PlainServer {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.path().join(format!("redis-{port}.conf"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&conf)
                .unwrap();
            write!(
                f,
                "port {port}\nbind 127.0.0.1\nprotected-mode yes\ndaemonize no\ndir \"{}\"\nsave \"\"\nappendonly no\ncluster-config-file nodes-{port}.conf\n{extra}\n",
                dir.path().display()
            )
            .unwrap();
            drop(f);
            let mut child = Command::new(redis_server())
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found; install it with 'apt-get install redis-server'");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: port taken, try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return PlainServer {
                        port,
                        child,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a plain redis-server on a free port");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PlainServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The redis-server binary the tests start (REDIS_SERVER or PATH, found as the tool finds it),
/// with the install hint.
pub fn redis_server() -> PathBuf {
    redis_cluster_stress::cluster::server::find_server(None).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Reads all of a child's piped stream that is there now (used after the child exited).
pub fn drain(r: &mut Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(r) = r.as_mut() {
        let _ = r.read_to_string(&mut s);
    }
    s
}
