//! End-to-end time of the produce → consume → ack cycle for fixed message counts, on an AOF-off
//! and an AOF-on cluster, side by side in one criterion group.
//!
//! Each cluster starts once, outside the timing. Every iteration resets the streams (outside the
//! timing) and times first XADD → last XACK, as reported by the run itself (`iter_custom`).
//! Ids are stable (`aof-off/N`, `aof-on/N`) so `--save-baseline` / `--baseline` compare across
//! commits.
//!
//! Environment:
//! - `RCSTRESS_BENCH_COUNTS`: message counts, comma-separated (default `10000,100000`).
//! - `RCSTRESS_BENCH_SEED_COUNTS`: counts for the seed-style group (default `10000`; empty: skip).
//! - `RCSTRESS_BENCH_AOF_NODES` / `RCSTRESS_BENCH_NOAOF_NODES`: use these external clusters
//!   (host:port,...; password from `REDIS_PASSWORD`) instead of starting local ones.

use std::sync::Arc;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use redis_cluster_stress::cluster::{ClusterFacts, Credentials};
use redis_cluster_stress::config::parse_nodes;
use redis_cluster_stress::{
    run, Aof, Endpoint, Fsync, Live, LocalCluster, LocalClusterOptions, Workload,
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
/// by the returned guard until the bench ends).
fn cluster(rt: &tokio::runtime::Runtime, aof: Aof, var: &str) -> (Option<LocalCluster>, Endpoint) {
    if let Ok(nodes) = std::env::var(var) {
        let nodes = parse_nodes(&nodes).unwrap_or_else(|e| panic!("{var}: {e}"));
        let creds = Credentials {
            username: std::env::var("REDIS_USERNAME").ok(),
            password: std::env::var("REDIS_PASSWORD").ok(),
        };
        return (None, Endpoint::new(nodes, creds));
    }
    let opts = LocalClusterOptions {
        aof,
        ..Default::default()
    };
    let local = rt
        .block_on(LocalCluster::start(opts))
        .unwrap_or_else(|e| panic!("local cluster did not start: {e}"));
    let facts = ClusterFacts::of_local(&local);
    eprintln!("cluster for AOF {aof}: {}", facts.describe());
    for w in &facts.warnings {
        eprintln!("WARNING: {w}");
    }
    let ep = local.endpoint().clone();
    (Some(local), ep)
}

/// Times `iters` runs of `workload` (each a fresh stream), summing first XADD → last XACK.
async fn timed_runs(endpoint: Arc<Endpoint>, workload: Workload, iters: u64) -> Duration {
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
        total += Duration::from_secs_f64(r.elapsed_seconds);
    }
    total
}

fn bench_group(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    base: Workload,
    ns: &[u64],
    modes: &[(&str, Endpoint)],
) {
    if ns.is_empty() {
        return;
    }
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
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
                b.to_async(rt)
                    .iter_custom(|iters| timed_runs(endpoint.clone(), workload.clone(), iters));
            });
        }
    }
    group.finish();
}

fn stream_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (_off_guard, off) = cluster(&rt, Aof::Off, "RCSTRESS_BENCH_NOAOF_NODES");
    let (_on_guard, on) = cluster(&rt, Aof::On(Fsync::Everysec), "RCSTRESS_BENCH_AOF_NODES");
    let modes = [("aof-off", off), ("aof-on", on)];
    // The default, batched cycle: one shard per master, pipelines of 100.
    bench_group(
        c,
        &rt,
        "stream_throughput",
        Workload::default(),
        &counts("RCSTRESS_BENCH_COUNTS", "10000,100000"),
        &modes,
    );
    // The seed's client: one producer, one consumer, one stream key, one command per message.
    let seed = Workload::seed_style();
    bench_group(
        c,
        &rt,
        "stream_throughput_seed_style",
        seed,
        &counts("RCSTRESS_BENCH_SEED_COUNTS", "10000"),
        &modes,
    );
}

criterion_group!(benches, stream_throughput);
criterion_main!(benches);
