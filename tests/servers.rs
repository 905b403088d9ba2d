//! The server matrix: the same cycle on Redis 7.0 and Valkey 8 (installed by
//! `scripts/servers install redis7 valkey8`, which `scripts/test` runs), and the errors for a
//! server that is not there.

mod support;

use std::process::Command;
use std::sync::Arc;

use redis_cluster_stress::scenario::servers::{self, ServersOptions};
use redis_cluster_stress::{Aof, Fsync, Live, Workload};

/// `scenario servers` on two servers, AOF off and on: four runs, each on its server (the report
/// names it and its version), every message acked and none lost, and the counts add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_scenario_runs_the_same_load_on_redis_and_valkey() {
    let opts = ServersOptions {
        servers: vec!["redis7".into(), "valkey8".into()],
        aof: vec![Aof::Off, Aof::On(Fsync::Everysec)],
        repeat: 1,
        workload: Workload {
            messages: 5_000,
            deadline_ms: 60_000,
            ..Workload::default()
        },
        ..ServersOptions::default()
    };
    let report = servers::run(&opts, Arc::new(Live::default()))
        .await
        .unwrap_or_else(|e| {
            panic!("servers scenario failed: {e} (run 'scripts/servers install redis7 valkey8')")
        });
    let json = support::schema::valid_scenario_json(&report);
    let runs = json["server_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "{runs:?}");
    for r in runs {
        assert_eq!(r["verdict"], "ok", "{r}");
        assert!(r["throughput_msgs_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    }
    let versions: Vec<&str> = runs
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert!(
        versions.iter().any(|v| v.starts_with("redis 7.")),
        "{versions:?}"
    );
    assert!(
        versions.iter().any(|v| v.starts_with("valkey 8.")),
        "{versions:?}"
    );
    assert_eq!(report.counts.attempted, 20_000);
    assert_eq!(report.counts.acked, 20_000);
    assert_eq!((report.counts.lost, report.counts.unexpected), (0, 0));
    assert_eq!(json["server_cells"].as_array().unwrap().len(), 4);
}

fn rcstress(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rcstress"))
        .args(args)
        .env_remove("REDIS_SERVER")
        .output()
        .expect("run rcstress");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A server that is not installed is one `Error:` line naming the command that installs it,
/// exit code 3; a path that is no file says so.
#[test]
fn a_missing_server_names_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = Command::new(env!("CARGO_BIN_EXE_rcstress"))
        .args(["run", "--server", "valkey9", "--messages", "10"])
        .env("RCSTRESS_SERVERS_DIR", dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                String::new(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("Error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("scripts/servers install valkey9"), "{err}");
    let (code, _, err) = rcstress(&[
        "run",
        "--server",
        "/nonexistent/valkey-server",
        "--messages",
        "10",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is not a file"), "{err}");
    let (code, _, err) = rcstress(&["run", "--server", "redis7", "--nodes", "127.0.0.1:7000"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--server is for the embedded cluster"),
        "{err}"
    );
}

/// The run's JSON names the server and version and the file system of every node's data dir.
#[test]
fn a_run_reports_its_server_and_data_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let (code, out, err) = rcstress(&[
        "run",
        "--server",
        "valkey8",
        "--messages",
        "2000",
        "--aof",
        "on",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("server      valkey 8."), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["server"]["name"], "valkey");
    let dirs = v["data_dirs"].as_array().unwrap();
    assert_eq!(dirs.len(), 6);
    let expected = redis_cluster_stress::storage::fs_type(dir.path()).unwrap();
    for d in dirs {
        assert_eq!(d["fs"]["name"], expected.name.as_str(), "{d}");
        assert!(
            d["dir"]
                .as_str()
                .unwrap()
                .starts_with(dir.path().to_str().unwrap()),
            "{d}"
        );
    }
    assert_eq!(
        v["warnings"].as_array().unwrap().is_empty(),
        !expected.in_memory,
        "{v}"
    );
}

/// AOF on a memory file system is a warning in the summary and the JSON.
#[test]
fn aof_on_tmpfs_is_a_warning() {
    let shm = tempfile::tempdir_in("/dev/shm").expect("/dev/shm");
    let json = shm.path().join("r.json");
    let (code, out, err) = rcstress(&[
        "run",
        "--messages",
        "1000",
        "--aof",
        "on",
        "--data-dir",
        shm.path().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("WARNING") && out.contains("tmpfs"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        v["warnings"][0].as_str().unwrap().contains("--data-dir"),
        "{v}"
    );
}
