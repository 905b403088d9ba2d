//! `rcstress merge DIR`: one report from the result files of a distributed run's workers (the
//! merge itself is [`crate::distributed::merge`]).

use std::time::Instant;

use serde::Serialize;

use super::{cluster_facts, ready_cluster, Outcome};
use crate::cli::{ClusterArgs, MergeArgs};
use crate::cluster::ClusterFacts;
use crate::config::{resolve_cluster, ClusterSource, Env};
use crate::distributed::merge::{
    check_against_redis, merge, read_dir, MergeCost, Merged, WorkerRow,
};
use crate::distributed::{MergePage, WorkerFile};
use crate::report::{facts_summary, summary, HtmlSink, JsonSink, RunReport, ScenarioDocument};
use crate::scenario::ScenarioReport;
use crate::shutdown::Shutdown;
use crate::{Error, Result};

/// The merged report's JSON: the fields of `rcstress run --json`, plus the workers and the cost.
#[derive(Serialize)]
struct MergeDocument<'a> {
    #[serde(flatten)]
    report: RunReport<'a>,
    workers: &'a [WorkerRow],
    merge: &'a MergeCost,
}

/// `rcstress merge DIR`.
pub async fn command(args: &MergeArgs, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    let out = &args.output;
    let json = out.json.as_deref().map(JsonSink::prepare).transpose()?;
    let html = out.html.as_deref().map(HtmlSink::prepare).transpose()?;
    let t0 = Instant::now();
    let files = read_dir(&args.dir)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let source = cluster_source(args, env, &files[0].0)?;
    let t1 = Instant::now();
    let mut merged = merge(&files)?;
    let merge_seconds = t1.elapsed().as_secs_f64();
    let cluster = match ready_cluster(&source, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let t2 = Instant::now();
    check_against_redis(&mut merged, &cluster.endpoint).await?;
    let cost = MergeCost {
        files: files.len(),
        bytes: files.iter().map(|(_, b)| b).sum(),
        read_seconds,
        merge_seconds,
        redis_seconds: t2.elapsed().as_secs_f64(),
    };
    // The workers' cluster is external to them (its data dirs may be on other machines): the
    // server as the cluster names it, asked once here.
    let facts = cluster_facts(&cluster).await;
    report(&merged, &cost, &facts, json, html)?;
    drop(cluster);
    Ok(if out.strict && !merged.result.verdict.is_ok() {
        Outcome::VerdictFailed
    } else {
        Outcome::Done
    })
}

/// The cluster to check against: `--nodes` (or the environment), else the nodes the workers
/// recorded (never their password).
fn cluster_source(args: &MergeArgs, env: &Env, first: &WorkerFile) -> Result<ClusterSource> {
    let source = resolve_cluster(&args.cluster, env)?;
    let ClusterSource::Embedded(_) = source else {
        return Ok(source);
    };
    let Some(nodes) = first.config["cluster"]["nodes"].as_str() else {
        return Err(Error::Config(
            "merge checks the streams once against Redis: give --nodes (or REDIS_CLUSTER_NODES) of the cluster the workers used".into(),
        ));
    };
    let cluster = ClusterArgs {
        nodes: Some(nodes.to_string()),
        ..args.cluster.clone()
    };
    resolve_cluster(&cluster, env)
}

/// The summary on stdout, and the JSON and HTML reports when asked for.
fn report(
    merged: &Merged,
    cost: &MergeCost,
    facts: &ClusterFacts,
    json: Option<JsonSink>,
    html: Option<HtmlSink>,
) -> Result<()> {
    let (result, plan) = (&merged.result, &merged.plan);
    let title = format!(
        "rcstress merge: {} workers, {} messages, {} producers, {} consumers, {} shards",
        merged.workers.len(),
        plan.messages,
        plan.producers,
        plan.consumers,
        result.shard_keys.len()
    );
    print!("{}{}", summary(&title, result), facts_summary(facts));
    println!(
        "  merge       {} files, {} bytes: read {:.3} s, merged {:.3} s, Redis check {:.3} s",
        cost.files, cost.bytes, cost.read_seconds, cost.merge_seconds, cost.redis_seconds
    );
    if let Some(sink) = json {
        sink.commit(&MergeDocument {
            report: RunReport {
                tool: "rcstress",
                version: env!("CARGO_PKG_VERSION"),
                command: "merge",
                status: "complete",
                config: merged.config.clone(),
                result,
                facts,
            },
            workers: &merged.workers,
            merge: cost,
        })?;
    }
    if let Some(sink) = html {
        let c = &result.counts;
        let report = ScenarioReport::from_run("distributed run", merged.config.clone(), result)
            .finding(format!(
                "{} workers, one consumer group: {} sent, {} acked, {} lost, {} duplicated (within or across workers), {} unexpected",
                merged.workers.len(),
                c.attempted,
                c.acked,
                c.lost,
                c.duplicated,
                c.unexpected
            ))
            .finding(format!(
                "latency from the workers' histograms added: p50 {} µs, p99 {} µs over {} messages",
                result.latency_us.p50, result.latency_us.p99, result.latency_us.count
            ))
            .with_facts(facts)
            .with_detail::<MergePage>(MergePage {
                workers: &merged.workers,
                merge: cost,
                disagreements: &result.disagreements,
            });
        sink.commit(&ScenarioDocument::new(&report))?;
    }
    Ok(())
}
