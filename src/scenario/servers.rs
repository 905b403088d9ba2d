//! servers: the same cycle on each installed server (Redis 7.0, Valkey 8, Redis 8, ...), AOF off
//! and on, each run on a fresh cluster, interleaved (server inside AOF mode inside round) so a
//! machine that slows down biases no server. Per server and AOF mode: msg/s, send→ack p50/p99
//! and the producer's confirm p99, mean and spread over repeats.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde::Serialize;

use super::{mean_stddev, with_child_live, ScenarioReport};
use crate::cluster::server::{check_server, find_server, ServerInfo, KNOWN_SERVERS};
use crate::cluster::ClusterFacts;
use crate::metrics::Latency;
use crate::report::thousands;
use crate::storage::DataDir;
use crate::workload::{Live, RunResult, Workload};
use crate::{Aof, Error, LocalCluster, LocalClusterOptions, Result};

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct ServersOptions {
    /// The cluster; `server` and `aof` are set per run.
    pub cluster: LocalClusterOptions,
    /// Names or paths as `--server` takes them; empty: every known name that is installed.
    pub servers: Vec<String>,
    pub aof: Vec<Aof>,
    pub repeat: usize,
    pub workload: Workload,
}

impl Default for ServersOptions {
    fn default() -> Self {
        ServersOptions {
            cluster: LocalClusterOptions::default(),
            servers: Vec::new(),
            aof: vec![Aof::Off, Aof::On(crate::Fsync::Everysec)],
            repeat: 2,
            workload: Workload {
                messages: 100_000,
                ..Workload::default()
            },
        }
    }
}

/// One run on one server with one AOF mode.
#[derive(Clone, Debug, Serialize)]
pub struct ServerRun {
    /// As asked (`valkey8`).
    pub server: String,
    /// `valkey 8.0.1`.
    pub version: String,
    pub aof: String,
    pub run: usize,
    pub elapsed_seconds: f64,
    pub throughput_msgs_per_sec: f64,
    pub latency_us: Latency,
    pub confirm_latency_us: Latency,
    pub verdict: String,
}

/// One server and AOF mode over its repeats.
#[derive(Clone, Debug, Serialize)]
pub struct ServerCell {
    pub server: String,
    pub version: String,
    pub aof: String,
    pub runs: usize,
    pub throughput_mean: f64,
    pub throughput_stddev: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_stddev_us: f64,
    pub confirm_p99_us: f64,
}

fn aof_name(a: &Aof) -> String {
    match a {
        Aof::Off => "off".into(),
        Aof::On(f) => f.to_string(),
    }
}

/// The servers to compare: as asked, or every known name that is installed; each checked.
fn resolve(names: &[String]) -> Result<Vec<(String, ServerInfo)>> {
    let names: Vec<String> = if names.is_empty() {
        KNOWN_SERVERS
            .iter()
            .filter(|n| find_server(Some(n)).is_ok())
            .map(|n| n.to_string())
            .collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        return Err(Error::ServerNotInstalled(format!(
            "no server of {} is installed; install some with 'scripts/servers install redis7 valkey8'",
            KNOWN_SERVERS.join(", ")
        )));
    }
    names
        .into_iter()
        .map(|n| {
            let info = check_server(&find_server(Some(&n))?)?;
            Ok((n, info))
        })
        .collect()
}

/// Runs the workload on every server × AOF mode, `repeat` times, and compares.
pub async fn run(opts: &ServersOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    if opts.aof.is_empty() || opts.repeat == 0 {
        return Err(Error::Config(
            "servers needs at least one AOF mode and --repeat of at least 1".into(),
        ));
    }
    let servers = resolve(&opts.servers)?;
    opts.workload.validate()?;
    let mut runs: Vec<(ServerRun, RunResult)> = Vec::new();
    let mut data_dirs: Vec<DataDir> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    'outer: for round in 1..=opts.repeat {
        for aof in &opts.aof {
            for (name, info) in &servers {
                if live.stop.load(Relaxed) {
                    break 'outer;
                }
                let cluster = LocalCluster::start(LocalClusterOptions {
                    server: Some(info.path.display().to_string()),
                    aof: *aof,
                    ..opts.cluster.clone()
                })
                .await?;
                let facts = ClusterFacts::of_local(&cluster);
                if data_dirs.is_empty() {
                    data_dirs = facts.data_dirs.clone();
                }
                for w in facts.warnings {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                let r = with_child_live(&live, |child| {
                    crate::workload::run(cluster.endpoint(), &opts.workload, child)
                })
                .await?;
                drop(cluster);
                tracing::info!(
                    "servers {name} aof {} run {round}: {:.0} msg/s",
                    aof_name(aof),
                    r.throughput_msgs_per_sec
                );
                runs.push((
                    ServerRun {
                        server: name.clone(),
                        version: info.label(),
                        aof: aof_name(aof),
                        run: round,
                        elapsed_seconds: r.elapsed_seconds,
                        throughput_msgs_per_sec: r.throughput_msgs_per_sec,
                        latency_us: r.latency_us.clone(),
                        confirm_latency_us: r.confirm_latency_us.clone(),
                        verdict: r.verdict.clone(),
                    },
                    r,
                ));
            }
        }
    }
    if runs.is_empty() {
        return Err(Error::Config(
            "servers stopped before its first run finished".into(),
        ));
    }
    let mut cells = Vec::new();
    for aof in &opts.aof {
        for (name, info) in &servers {
            let of: Vec<&ServerRun> = runs
                .iter()
                .map(|(r, _)| r)
                .filter(|r| &r.server == name && r.aof == aof_name(aof))
                .collect();
            if of.is_empty() {
                continue;
            }
            let stat = |f: &dyn Fn(&ServerRun) -> f64| {
                mean_stddev(&of.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let (t, t_sd) = stat(&|r| r.throughput_msgs_per_sec);
            let (p99, p99_sd) = stat(&|r| r.latency_us.p99 as f64);
            cells.push(ServerCell {
                server: name.clone(),
                version: info.label(),
                aof: aof_name(aof),
                runs: of.len(),
                throughput_mean: t,
                throughput_stddev: t_sd,
                p50_us: stat(&|r| r.latency_us.p50 as f64).0,
                p99_us: p99,
                p99_stddev_us: p99_sd,
                confirm_p99_us: stat(&|r| r.confirm_latency_us.p99 as f64).0,
            });
        }
    }
    let config = serde_json::json!({
        "servers": servers.iter().map(|(n, i)| serde_json::json!({"name": n, "server": i.label(), "path": i.path})).collect::<Vec<_>>(),
        "aof": opts.aof.iter().map(aof_name).collect::<Vec<_>>(),
        "repeat": opts.repeat,
        "masters": opts.cluster.masters,
        "replicas_per_master": opts.cluster.replicas_per_master,
        "workload": &opts.workload,
    });
    let results: Vec<&RunResult> = runs.iter().map(|(_, r)| r).collect();
    let mut report = ScenarioReport::combined("servers", config, &results);
    for c in &cells {
        report = report.finding(format!(
            "{} ({}), AOF {}: {} ± {} msg/s, send→ack p50 {} p99 {}, {} run(s) of {} messages",
            c.server,
            c.version,
            c.aof,
            thousands(c.throughput_mean.round() as u64),
            thousands(c.throughput_stddev.round() as u64),
            crate::report::human_us(c.p50_us as u64),
            crate::report::human_us(c.p99_us as u64),
            c.runs,
            thousands(opts.workload.messages),
        ));
    }
    let run_list: Vec<ServerRun> = runs.into_iter().map(|(r, _)| r).collect();
    Ok(report
        .detail("data_dirs", &data_dirs)
        .detail("warnings", &warnings)
        .detail("server_cells", &cells)
        .detail("server_runs", &run_list))
}
