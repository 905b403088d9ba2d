//! End-to-end time and client CPU of the produce → consume → ack cycle for fixed message counts,
//! on an AOF-off and an AOF-on cluster, side by side in one criterion group each.
//!
//! Each cluster starts once, outside the timing, and nothing is measured before every replica is
//! in sync (a syncing cluster replicates nothing and is another cluster). Every iteration resets
//! the streams (outside the timing) and reports first XADD → last XACK as measured by the run
//! itself (`iter_custom`).
//!
//! Groups (ids are stable, `aof-off/N` and `aof-on/N`, so `--save-baseline` / `--baseline` and
//! `scripts/regress` compare across commits):
//! - `stream_throughput`: wall time of the batched cycle (the design card's end-to-end time).
//! - `stream_throughput_seed_style`: wall time of the seed's one-command-per-message client.
//! - `stream_cpu`: client CPU (user + system of this process) from the run's clock start until
//!   its tasks stopped (the run's `cost`), measured by [`ClientCpu`], a criterion `Measurement`.
//!   On a shared 2-core machine wall time swings by tens of percent between identical runs;
//!   client CPU per message far less, so this is the group that sees a 10 % regression.
//!
//! Environment:
//! - `RCSTRESS_BENCH_COUNTS`: message counts, comma-separated (default `10000,100000`).
//! - `RCSTRESS_BENCH_SEED_COUNTS`: counts for the seed-style group (default `10000`; empty: skip).
//! - `RCSTRESS_BENCH_CPU_COUNTS`: counts for the CPU group (default `100000`; empty: skip).
//! - `RCSTRESS_BENCH_SECS`: measurement time per id in seconds (default 8).
//! - `RCSTRESS_BENCH_AOF_NODES` / `RCSTRESS_BENCH_NOAOF_NODES`: use these external clusters
//!   (host:port,...; password from `REDIS_PASSWORD`) instead of starting local ones.

/// The allocator the `rcstress` binary ships with, so that this measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use redis_cluster_stress::cluster::{ClusterFacts, Credentials};
use redis_cluster_stress::config::parse_nodes;
use redis_cluster_stress::cost::{client_cpu, wait_replicas_in_sync};
use redis_cluster_stress::{
    run, Aof, Endpoint, Error, Fsync, Live, LocalCluster, LocalClusterOptions, RunResult, Workload,
};

fn counts(var: &str, default: &str) -> Vec<u64> {
    let text = std::env::var(var).unwrap_or_else(|_| default.to_string());
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{var}: '{s}' is not a message count"))
        })
        .collect()
}

/// A cluster for one mode: external if its env var names one, else started here (and kept alive
/// by the returned guard until the bench ends). Either way every replica is in sync on return:
/// the local launcher waits for it, and an external cluster is waited for here.
fn cluster(
    rt: &tokio::runtime::Runtime,
    aof: Aof,
    var: &str,
) -> Result<(Option<LocalCluster>, Endpoint), String> {
    if let Ok(nodes) = std::env::var(var) {
        let nodes = parse_nodes(&nodes).map_err(|e| format!("{var}: {e}"))?;
        let creds = Credentials {
            username: std::env::var("REDIS_USERNAME").ok(),
            password: std::env::var("REDIS_PASSWORD").ok(),
        };
        let ep = Endpoint::new(nodes, creds);
        rt.block_on(wait_replicas_in_sync(&ep, Duration::from_secs(120)))
            .map_err(|e| format!("{var}: {e}"))?;
        return Ok((None, ep));
    }
    let opts = LocalClusterOptions {
        aof,
        ..Default::default()
    };
    let local = rt
        .block_on(LocalCluster::start(opts))
        .map_err(|e| match e {
            // A fresh machine's usual case: say exactly what to run, not the CLI's `--server` hint.
            Error::RedisServerMissing(why) => format!(
                "redis-server not found ({why}); run 'scripts/servers install redis7' (Debian's \
                 redis-server, no system service started; scripts/test runs it too) or set \
                 REDIS_SERVER to a redis-server 7.0 or newer, then run the bench again"
            ),
            e => format!("the AOF {aof} cluster did not start: {e}"),
        })?;
    let facts = ClusterFacts::of_local(&local);
    eprintln!("cluster for AOF {aof}: {}", facts.describe());
    for w in &facts.warnings {
        eprintln!("WARNING: {w}");
    }
    let ep = local.endpoint().clone();
    Ok((Some(local), ep))
}

/// Client CPU time (user + system of this process, all threads), as criterion measures it.
/// With `iter_custom` the routine reports the run's own figure (the CPU spent between the run's
/// clock start and its last XACK); `start`/`end` serve criterion's other entry points.
struct ClientCpu;

impl Measurement for ClientCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        client_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        client_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds of CPU shown as `ms cpu`, and throughput as messages per CPU-second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns cpu"),
            t if t < 1e6 => (1e-3, "µs cpu"),
            t if t < 1e9 => (1e-6, "ms cpu"),
            _ => (1e-9, "s cpu"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => *n,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n,
            Throughput::Bits(n) => *n,
        } as f64;
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        "elem/cpu-s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns cpu"
    }
}

/// What a group measures of each run, and the change criterion should call noise for it.
#[derive(Clone, Copy)]
struct Figure {
    of: fn(&RunResult) -> Duration,
    /// From the A/A check (README, "Regression tracking"): between two bench processes of the
    /// same commit, client CPU per message differed by 2–3 % in the median pair and by 7–8 % at
    /// the 90th percentile; wall time by tens of percent. A `--baseline` comparison is one
    /// process against one, so smaller changes are not reported as changes.
    noise_threshold: f64,
}

/// Wall time of a run: first XADD → last XACK.
const WALL: Figure = Figure {
    of: |r| Duration::from_secs_f64(r.elapsed_seconds),
    noise_threshold: 0.10,
};

/// Client CPU of a run: from its clock start (after connecting) until its tasks stopped.
const CPU: Figure = Figure {
    of: |r| Duration::from_secs_f64(r.cost.client_cpu_seconds),
    noise_threshold: 0.05,
};

/// Runs `workload` `iters` times (each a fresh stream) and sums `figure` of each run.
async fn measured_runs(
    endpoint: Arc<Endpoint>,
    workload: Workload,
    iters: u64,
    figure: Figure,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let r = run(&endpoint, &workload, Arc::new(Live::default()))
            .await
            .unwrap_or_else(|e| panic!("run failed: {e}"));
        // A bench that counted a broken run would report a number that means nothing.
        assert_eq!(
            r.counts.acked, workload.messages,
            "not every message was acked: {}",
            r.verdict
        );
        assert_eq!(r.counts.lost, 0, "messages lost: {}", r.verdict);
        assert!(
            r.cost.replicas_in_sync,
            "a replica fell out of sync during the bench: {:?}",
            r.cost.notes
        );
        total += (figure.of)(&r);
    }
    total
}

/// Settings of every group, chosen from the A/A check in the README ("Regression tracking"):
/// 10 samples of whole runs (flat sampling: each sample the same number of runs) and criterion's
/// 5 % significance level. Within one bench process the samples agree within a few percent;
/// between processes the figure moves more, so more samples per process would narrow an
/// interval that does not hold across processes (`scripts/regress` runs many processes instead).
struct GroupSettings {
    measurement: Duration,
}

impl GroupSettings {
    fn from_env() -> Self {
        let secs = std::env::var("RCSTRESS_BENCH_SECS")
            .ok()
            .map(|s| {
                s.parse::<u64>().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                    panic!("RCSTRESS_BENCH_SECS: '{s}' is not a positive number of seconds")
                })
            })
            .unwrap_or(8);
        GroupSettings {
            measurement: Duration::from_secs(secs),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn bench_group<M: Measurement<Value = Duration>>(
    c: &mut Criterion<M>,
    rt: &tokio::runtime::Runtime,
    settings: &GroupSettings,
    name: &str,
    base: Workload,
    ns: &[u64],
    modes: &[(&str, Endpoint)],
    figure: Figure,
) {
    if ns.is_empty() {
        return;
    }
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(settings.measurement)
        .noise_threshold(figure.noise_threshold)
        .significance_level(0.05);
    for &n in ns {
        group.throughput(Throughput::Elements(n));
        for (mode, endpoint) in modes {
            let endpoint = Arc::new(endpoint.clone());
            let workload = Workload {
                messages: n,
                deadline_ms: 120_000,
                ..base.clone()
            };
            group.bench_with_input(BenchmarkId::new(*mode, n), &n, |b, _| {
                b.to_async(rt).iter_custom(|iters| {
                    measured_runs(endpoint.clone(), workload.clone(), iters, figure)
                });
            });
        }
    }
    group.finish();
}

/// Not `criterion_main!`: the clusters start once and serve two `Criterion`s, one measuring wall
/// time and one measuring client CPU, each configured from the same command line (`--test`,
/// filters, `--save-baseline`, `--baseline`). A cluster that cannot be had is one line on stderr
/// and exit status 1, after the other cluster (if started) is stopped: on a fresh machine
/// without redis-server that line names the command that installs it.
fn main() {
    if let Err(e) = bench() {
        eprintln!("stream_throughput: {e}");
        std::process::exit(1);
    }
}

fn bench() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let settings = GroupSettings::from_env();
    let (_off_guard, off) = cluster(&rt, Aof::Off, "RCSTRESS_BENCH_NOAOF_NODES")?;
    let (_on_guard, on) = cluster(&rt, Aof::On(Fsync::Everysec), "RCSTRESS_BENCH_AOF_NODES")?;
    let modes = [("aof-off", off), ("aof-on", on)];

    let mut wall = Criterion::default().configure_from_args();
    // The default, batched cycle: one shard per master, 2 lanes per producer and shard, each with
    // one pipeline of up to 1000 XADDs in flight (`--batch`, `--inflight`); XREADGROUP COUNT 1000.
    bench_group(
        &mut wall,
        &rt,
        &settings,
        "stream_throughput",
        Workload::default(),
        &counts("RCSTRESS_BENCH_COUNTS", "10000,100000"),
        &modes,
        WALL,
    );
    // The seed's client: one producer, one consumer, one stream key, one command per message.
    bench_group(
        &mut wall,
        &rt,
        &settings,
        "stream_throughput_seed_style",
        Workload::seed_style(),
        &counts("RCSTRESS_BENCH_SEED_COUNTS", "10000"),
        &modes,
        WALL,
    );
    let mut cpu = Criterion::default()
        .with_measurement(ClientCpu)
        .configure_from_args();
    bench_group(
        &mut cpu,
        &rt,
        &settings,
        "stream_cpu",
        Workload::default(),
        &counts("RCSTRESS_BENCH_CPU_COUNTS", "100000"),
        &modes,
        CPU,
    );
    wall.final_summary();
    Ok(())
}
