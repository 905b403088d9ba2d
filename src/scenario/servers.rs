//! servers: the same cycle on each installed server (Redis 7.0, Valkey 8, Redis 8, ...), AOF off
//! and on, each run on a fresh cluster, interleaved (server inside AOF mode inside round) so a
//! machine that slows down biases no server. Per server and AOF mode: msg/s, send→ack p50/p99
//! and the producer's confirm p99, mean and spread over repeats.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

use super::{interleaved, mean_stddev, merge_facts, with_child_live, ScenarioReport};
use crate::check::Verdict;
use crate::cluster::server::{check_server, find_server, ServerInfo, KNOWN_SERVERS};
use crate::cluster::ClusterFacts;
use crate::metrics::Latency;
use crate::units::{human_us, thousands};
use crate::workload::{Live, RunResult, Workload};
use crate::{Aof, Error, LocalClusterOptions, Result};

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
#[derive(Clone, Debug, Serialize, JsonSchema)]
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
    pub verdict: Verdict,
}

/// One server and AOF mode over its repeats.
#[derive(Clone, Debug, Serialize, JsonSchema)]
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

/// servers' own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ServersDetail {
    pub server_cells: Vec<ServerCell>,
    pub server_runs: Vec<ServerRun>,
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
    let grid: Vec<(Aof, &(String, ServerInfo))> = opts
        .aof
        .iter()
        .flat_map(|aof| servers.iter().map(move |s| (*aof, s)))
        .collect();
    let facts = std::sync::Mutex::new(ClusterFacts::default());
    let runs = interleaved(
        "servers",
        &live,
        opts.repeat,
        &grid,
        |(aof, (name, _))| format!("{name}, AOF {aof}"),
        |round, (aof, server)| one_run(opts, &live, &facts, round, *aof, server),
    )
    .await?;
    let cells: Vec<ServerCell> = grid
        .iter()
        .filter_map(|(aof, (name, info))| cell(&runs, name, info, aof))
        .collect();
    let config = serde_json::json!({
        "servers": servers.iter().map(|(n, i)| serde_json::json!({"name": n, "server": i.label(), "path": i.path})).collect::<Vec<_>>(),
        "aof": opts.aof.iter().map(aof_name).collect::<Vec<_>>(),
        "repeat": opts.repeat,
        "masters": opts.cluster.masters,
        "replicas_per_master": opts.cluster.replicas_per_master,
        "workload": &opts.workload,
    });
    let results: Vec<&RunResult> = runs.iter().map(|(_, r)| r).collect();
    let mut facts = facts.into_inner().unwrap_or_else(|e| e.into_inner());
    // Each server is its own: no one of them stands for the comparison.
    facts.server = None;
    let mut report = ScenarioReport::combined("servers", config, &results).with_facts(&facts);
    for c in &cells {
        report = report.finding(format!(
            "{} ({}), AOF {}: {} ± {} msg/s, send→ack p50 {} p99 {}, {} run(s) of {} messages",
            c.server,
            c.version,
            c.aof,
            thousands(c.throughput_mean.round() as u64),
            thousands(c.throughput_stddev.round() as u64),
            human_us(c.p50_us as u64),
            human_us(c.p99_us as u64),
            c.runs,
            thousands(opts.workload.messages),
        ));
    }
    Ok(report.with_detail(ServersDetail {
        server_cells: cells,
        server_runs: runs.into_iter().map(|(r, _)| r).collect(),
    }))
}

/// One fresh cluster of `server` with `aof`, the load on it, and its record.
async fn one_run(
    opts: &ServersOptions,
    live: &Arc<Live>,
    facts: &std::sync::Mutex<ClusterFacts>,
    round: usize,
    aof: Aof,
    (name, info): &(String, ServerInfo),
) -> Result<(ServerRun, RunResult)> {
    let cluster = super::start_cluster(
        LocalClusterOptions {
            server: Some(info.path.display().to_string()),
            aof,
            ..opts.cluster.clone()
        },
        live,
    )
    .await?;
    merge_facts(
        &mut facts.lock().unwrap_or_else(|e| e.into_inner()),
        ClusterFacts::of_local(&cluster),
    );
    let r = with_child_live(live, |child| {
        crate::workload::run(cluster.endpoint(), &opts.workload, child)
    })
    .await?;
    drop(cluster);
    tracing::info!(
        "servers {name} aof {} run {round}: {:.0} msg/s",
        aof_name(&aof),
        r.throughput_msgs_per_sec
    );
    let record = ServerRun {
        server: name.clone(),
        version: info.label(),
        aof: aof_name(&aof),
        run: round,
        elapsed_seconds: r.elapsed_seconds,
        throughput_msgs_per_sec: r.throughput_msgs_per_sec,
        latency_us: r.latency_us.clone(),
        confirm_latency_us: r.confirm_latency_us.clone(),
        verdict: r.counts.verdict(),
    };
    Ok((record, r))
}

/// One server and AOF mode over its repeats; `None` when none of its runs happened.
fn cell(
    runs: &[(ServerRun, RunResult)],
    name: &str,
    info: &ServerInfo,
    aof: &Aof,
) -> Option<ServerCell> {
    let of: Vec<&ServerRun> = runs
        .iter()
        .map(|(r, _)| r)
        .filter(|r| r.server == name && r.aof == aof_name(aof))
        .collect();
    if of.is_empty() {
        return None;
    }
    let stat =
        |f: &dyn Fn(&ServerRun) -> f64| mean_stddev(&of.iter().map(|r| f(r)).collect::<Vec<_>>());
    let (t, t_sd) = stat(&|r| r.throughput_msgs_per_sec);
    let (p99, p99_sd) = stat(&|r| r.latency_us.p99 as f64);
    Some(ServerCell {
        server: name.to_string(),
        version: info.label(),
        aof: aof_name(aof),
        runs: of.len(),
        throughput_mean: t,
        throughput_stddev: t_sd,
        p50_us: stat(&|r| r.latency_us.p50 as f64).0,
        p99_us: p99,
        p99_stddev_us: p99_sd,
        confirm_p99_us: stat(&|r| r.confirm_latency_us.p99 as f64).0,
    })
}
