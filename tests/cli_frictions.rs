//! The first hour of a new user, with the real binary: what the help shows, what a terminal shows
//! while a cluster starts or is waited for, where a refused password came from, and the files a
//! run writes.

mod support;
use support::cli;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cli::{assert_fails, free_port, rcstress, run_in, QUICK};

/// `rcstress scenario` with no name shows the scenarios (exit 2), and each scenario's help lists
/// its own flags and not another's.
#[test]
fn scenario_without_a_name_lists_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = rcstress(dir.path(), &["scenario"]);
    assert_eq!(out.code(), Some(2), "{out}");
    for name in [
        "memory-pressure",
        "failover",
        "consumer-crash",
        "aof-compare",
        "durability",
        "servers",
        "backlog",
    ] {
        assert!(out.stderr.contains(name), "{name} not listed\n{out}");
    }
    assert!(
        !out.stderr.contains("required arguments were not provided"),
        "{out}"
    );
    let help = rcstress(dir.path(), &["scenario", "failover", "--help"]);
    assert_eq!(help.code(), Some(0), "{help}");
    for flag in [
        "--kills",
        "--node-timeout",
        "--json",
        "--html",
        "--producers",
    ] {
        assert!(help.stdout.contains(flag), "{flag} missing\n{help}");
    }
    for flag in ["--crash-probability", "--modes", "--aof", "--nodes"] {
        assert!(!help.stdout.contains(flag), "{flag} listed\n{help}");
    }
}

/// `cluster up --help` does not list `--nodes` (it starts a cluster); `run --help` says what
/// `--producers` and `--consumers` are.
#[test]
fn help_lists_what_each_command_takes() {
    let dir = tempfile::tempdir().unwrap();
    let up = rcstress(dir.path(), &["cluster", "up", "--help"]);
    assert_eq!(up.code(), Some(0), "{up}");
    assert!(up.stdout.contains("--masters"), "{up}");
    assert!(!up.stdout.contains("--nodes"), "{up}");
    assert!(!up.stdout.contains("--tls-ca"), "{up}");
    let run = rcstress(dir.path(), &["run", "--help"]);
    assert!(run.stdout.contains("Producer tasks"), "{run}");
    assert!(run.stdout.contains("Consumer tasks"), "{run}");
    assert!(run.stdout.contains("--html"), "{run}");
    // REDIS_CLUSTER_NODES set where a command starts its own cluster: said at once, exit 2.
    let env = [("REDIS_CLUSTER_NODES", "127.0.0.1:7000")];
    let out = run_in(dir.path(), &["cluster", "up"], &env, QUICK);
    assert_fails(
        &out,
        2,
        &[
            "'cluster up' starts an embedded cluster",
            "unset REDIS_CLUSTER_NODES",
        ],
    );
    let out = run_in(dir.path(), &["scenario", "failover"], &env, QUICK);
    assert_fails(
        &out,
        2,
        &[
            "failover starts its own clusters",
            "unset REDIS_CLUSTER_NODES",
        ],
    );
}

/// Runs `rcstress args` under `script`, so its stderr is a terminal; returns all it drew.
fn on_a_terminal(dir: &Path, args: &[&str]) -> String {
    let line = std::iter::once(cli::bin())
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("REDIS_CLUSTER_NODES")
        .env_remove("REDIS_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// On a terminal, the embedded cluster's start-up and the wait for an external cluster are
/// announced at once (a spinner on stderr), instead of a blank screen.
#[test]
fn a_terminal_sees_what_is_being_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let shown = on_a_terminal(
        dir.path(),
        &[
            "run",
            "--messages",
            "200",
            "--masters",
            "1",
            "--replicas",
            "0",
        ],
    );
    assert!(
        shown.contains("starting embedded cluster (1 masters + 0 replicas)"),
        "{shown}"
    );
    assert!(shown.contains("verdict     ok"), "{shown}");
    let nodes = format!("127.0.0.1:{}", free_port());
    let shown = on_a_terminal(dir.path(), &["run", "--nodes", &nodes]);
    assert!(
        shown.contains(&format!("waiting for the cluster at {nodes}")),
        "{shown}"
    );
    assert!(shown.contains("no seed node listens"), "{shown}");
}

/// A password from ./.env that the cluster refuses: the error names the file it came from. A
/// good run's JSON and HTML are written with normal permissions (0644 under umask 022): nothing
/// secret is in them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_env_password_is_named_and_reports_are_readable() {
    let cluster = support::cluster(3, 0).await;
    let nodes = cluster.endpoint().nodes_display();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".env"), "REDIS_PASSWORD=not-the-clusters\n").unwrap();
    let out = rcstress(d, &["run", "--nodes", &nodes, "--messages", "50"]);
    assert_fails(
        &out,
        6,
        &["wrong username or password", "REDIS_PASSWORD (from .env)"],
    );
    std::fs::remove_file(d.join(".env")).unwrap();
    let pw = cluster.password().to_string();
    let args = [
        "run",
        "--nodes",
        &nodes,
        "--messages",
        "500",
        "--json",
        "r.json",
        "--html",
        "r.html",
    ];
    let out = run_in(
        d,
        &args,
        &[("REDIS_PASSWORD", &pw)],
        Duration::from_secs(120),
    );
    assert_eq!(out.code(), Some(0), "{}", cli::describe(&args, &[], None));
    let page = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(
        page.contains("<svg") && page.contains("(verdict: ok)"),
        "{page}"
    );
    assert!(!page.contains(&pw));
    use std::os::unix::fs::PermissionsExt;
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(umask);
    for file in ["r.json", "r.html"] {
        let mode = std::fs::metadata(d.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o666 & !umask.bits(), "{file}: {mode:o}");
    }
    drop(cluster);
}
