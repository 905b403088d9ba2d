//! Network partitions, for real: `rcstress` makes its own user + network namespace, puts each
//! node on its own loopback address and drops packets between them with nftables. An isolated
//! master keeps acknowledging writes until it notices, and loses them on heal; `wait:1` loses none;
//! no root is needed; and nothing (node, rule, namespace) outlives the run, however it ends.
//!
//! A test process runs threads, and the kernel makes a user namespace only for a single-threaded
//! one: so these tests drive the binary, which makes it before its runtime starts.

mod support;
use support::cli;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli::{assert_fails, command, redis_children, run_in, wait_bounded};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(240);

/// Runs `scenario durability --faults FAULTS --durability-modes MODES --repeat 1`, which must end
/// with status 0, and returns its `durability_runs` and the command's output (for messages).
fn durability_runs(faults: &str, modes: &str) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("d.json");
    let args = [
        "scenario",
        "durability",
        "--faults",
        faults,
        "--durability-modes",
        modes,
        "--repeat",
        "1",
        "--json",
        report.to_str().unwrap(),
    ];
    let out = run_in(dir.path(), &args, &[], LIMIT);
    assert_eq!(out.code(), Some(0), "{out}");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("no JSON ({e})\n{out}"));
    let report: Value = serde_json::from_str(&text).unwrap();
    let runs = report["durability_runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (runs, out.to_string())
}

/// The isolate-master partition, as the Redis Cluster specification describes it: without a wait
/// the cut master acknowledged writes after the cut and they were gone after the heal, no more
/// than the loss bound the report prints; with `wait:1` none was lost and the waits that could not
/// reach the replica came back unconfirmed. After the heal the cluster is healthy again (the
/// scenario waits for it) and the old master said it is a replica.
#[test]
fn an_isolated_master_loses_acknowledged_writes_without_wait_and_none_with_wait_1() {
    let (runs, out) = durability_runs("partition", "none,wait:1");
    let of = |mode: &str| {
        runs.iter()
            .find(|r| r["mode"] == mode)
            .unwrap_or_else(|| panic!("no {mode} run\n{out}"))
            .clone()
    };
    let none = of("none");
    let lost = none["acked_lost"].as_u64().unwrap();
    let bound = none["loss_bound"]["detection_writes"].as_u64().unwrap();
    assert!(lost > 0, "none lost no acknowledged write: {none:#}");
    assert!(lost <= bound, "lost {lost} > bound {bound}: {none:#}");
    let cut = &none["partition"];
    assert_eq!(cut["shape"], "isolate-master");
    assert!(cut["refusing_after_s"].as_f64().is_some(), "{cut:#}");
    assert!(
        cut["replica_promoted_after_s"].as_f64().is_some(),
        "{cut:#}"
    );
    assert!(
        cut["demoted_after_heal_s"].as_f64().is_some(),
        "old master not a replica after the heal: {cut:#}"
    );
    assert!(
        cut["writes_taken_after_cut"].as_u64().unwrap() >= lost,
        "{cut:#}"
    );
    let wait = of("wait:1");
    assert_eq!(wait["acked_lost"], 0, "{wait:#}");
    assert!(wait["unconfirmed"].as_u64().unwrap() > 0, "{wait:#}");
    for r in [&none, &wait] {
        assert!(r["recovered_after_s"].as_f64().unwrap() > 0.0, "{r:#}");
    }
}

/// A pause with a client that waits longer than the pause (the default now, as redis-py or
/// Lettuce would): the writes queued at the paused master are executed on resume, acknowledged,
/// then discarded when it learns it was replaced.
#[test]
fn a_paused_master_loses_acknowledged_writes_to_a_client_that_outwaits_the_pause() {
    let (runs, out) = durability_runs("pause", "none");
    let run = runs.first().unwrap_or_else(|| panic!("no run\n{out}"));
    assert!(
        run["client_timeout_ms"].as_u64().unwrap() > 5_000,
        "the client must outwait the 5 s pause: {run:#}"
    );
    assert!(run["acked_lost"].as_u64().unwrap() > 0, "{run:#}");
}

/// The same partition machinery in `scenario failover`, run as an unprivileged user (uid 65534
/// through `setpriv` when the tests run as root): no root is needed for the namespace, the
/// addresses or the rules. One partition of one master; a replica takes over.
#[test]
fn a_failover_partition_needs_no_root() {
    let dir = tempfile::tempdir().unwrap();
    // The binary and the run's files where the other user can read and write them.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = dir.path().join("rcstress");
    std::fs::copy(cli::bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let report = dir.path().join("f.json");
    let tool_args = [
        "scenario",
        "failover",
        "--partition",
        "isolate-master",
        "--kills",
        "1",
        "--json",
        report.to_str().unwrap(),
    ];
    let mut argv: Vec<String> = tool_args.iter().map(|s| s.to_string()).collect();
    let program = if nix::unistd::getuid().is_root() {
        let who = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];
        let bin = bin.display().to_string();
        argv.splice(0..0, who.iter().map(|s| s.to_string()).chain([bin]));
        "setpriv".to_string()
    } else {
        bin.display().to_string()
    };
    let tmp = dir.path().display().to_string();
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&argv)
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env_remove("REDIS_CLUSTER_NODES")
        .env_remove("REDIS_PASSWORD")
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .expect("run rcstress (setpriv is util-linux's)");
    let shown = format!(
        "{program} {}\nstatus {}\n{}\n{}",
        argv.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    let text = std::fs::read_to_string(&report).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    let kill = &report["kills"][0];
    assert!(kill["fault"]
        .as_str()
        .unwrap()
        .starts_with("partition:isolate-master"));
    assert!(
        kill["partition"]["demoted_after_heal_s"].as_f64().is_some(),
        "{kill:#}\n{shown}"
    );
    assert!(kill["promoted"].as_str().is_some(), "{kill:#}");
    let events: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["label"].as_str())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("partition isolate-master")),
        "{events:?}"
    );
    assert!(events.contains(&"heal"), "{events:?}");
}

/// The inode of a process's network namespace.
fn net_ns(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|p| p.display().to_string())
}

/// Pids of processes in the network namespace `ns`.
fn in_namespace(ns: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| net_ns(pid).as_deref() == Some(ns))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the partition's rules are in force in the tool's namespace. Root can look inside
/// it (nsenter); another user waits for the fault's time instead.
fn wait_for_the_cut(pid: u32) {
    if !nix::unistd::getuid().is_root() {
        std::thread::sleep(Duration::from_secs(6));
        return;
    }
    let ns = format!("--net=/proc/{pid}/ns/net");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::process::Command::new("nsenter")
            .args([ns.as_str(), "nft", "list", "tables"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("rcstress_partition") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the partition was never in force"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a partition run, waits until the cut is in force, sends `signal`, and checks that the
/// nodes, and with them the namespace and its rules, are gone.
fn signal_during_a_partition(signal: Signal) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let args = [
        "scenario",
        "durability",
        "--faults",
        "partition",
        "--durability-modes",
        "none",
        "--repeat",
        "1",
    ];
    let mut cmd = command(dir.path(), &args, &[("TMPDIR", tmp.to_str().unwrap())]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let own_ns = net_ns(std::process::id()).unwrap();
    // Our namespace differs from the test's once the tool made it; 6 nodes, then the fault (2 s
    // into the load) and a second of the cut.
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis_children(pid).len() < 6 {
        assert!(Instant::now() < deadline, "the cluster did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ns = net_ns(pid).unwrap();
    assert_ne!(ns, own_ns, "the tool runs in the test's network namespace");
    wait_for_the_cut(pid);
    let nodes = redis_children(pid);
    kill(Pid::from_raw(pid as i32), signal).unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60)).expect("the tool did not end");
    if signal == Signal::SIGINT {
        assert_eq!(status.code(), Some(130), "{status}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = in_namespace(&ns);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still in the run's namespace: {left:?} (nodes were {nodes:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in nodes {
        // A node killed with the tool may stay a zombie until init reaps it: that is not alive.
        assert!(!support::pid_alive(n), "node {n} outlived the run");
    }
    // The rules only ever lived in that namespace: the test's has none of ours.
    if let Ok(out) = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
    {
        let tables = String::from_utf8_lossy(&out.stdout);
        assert!(!tables.contains("rcstress"), "{tables}");
    }
}

/// SIGINT during a partition: the run stops cleanly (exit 130) and takes everything with it.
#[test]
fn sigint_during_a_partition_leaves_no_node_rule_or_namespace() {
    signal_during_a_partition(Signal::SIGINT);
}

/// SIGKILL during a partition: the nodes die with the tool (PR_SET_PDEATHSIG), and the namespace
/// and its rules with the last of them.
#[test]
fn sigkill_during_a_partition_leaves_no_node_rule_or_namespace() {
    signal_during_a_partition(Signal::SIGKILL);
}

/// A shape that does not exist, a partition too short to cause a failover, and a duration without
/// a partition: one line each, exit 2, before any node starts.
#[test]
fn bad_partition_values_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 4] = [
        (
            "durability --partition sideways",
            &["sideways", "isolate-master, halves, bridge or one-way"],
        ),
        ("failover --partition-ms 5000", &["--partition"]),
        (
            "failover --partition halves --partition-ms 1000",
            &["--partition-ms must exceed --node-timeout"],
        ),
        (
            "durability --faults partition --partition-ms 1500",
            &["must exceed --node-timeout"],
        ),
    ];
    for (line, needles) in cases {
        let mut args = vec!["scenario"];
        args.extend(line.split(' '));
        let out = run_in(dir.path(), &args, &[], cli::QUICK);
        assert_fails(&out, 2, needles);
    }
}
