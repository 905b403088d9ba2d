//! `rcstress run`: one run of the cycle, its summary, its JSON and HTML.

use std::sync::Arc;

use super::{cluster_facts, graceful, ready_cluster, Outcome};
use crate::cli::RunCommand;
use crate::config::{resolve_run, ClusterSource, Env, RunSettings};
use crate::progress::{self, Checkpoint};
use crate::report::{
    facts_summary, run_memory_line, summary, trim_line, HtmlSink, JsonSink, RunReport,
    ScenarioDocument,
};
use crate::scenario::ScenarioReport;
use crate::shutdown::{signal_name, Shutdown};
use crate::{run, Live, Result, RunResult};

pub(super) async fn command(args: &RunCommand, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    let settings = resolve_run(&args.run, env)?;
    let json = settings
        .json
        .as_deref()
        .map(JsonSink::prepare)
        .transpose()?;
    let html = args.html.as_deref().map(HtmlSink::prepare).transpose()?;
    let cluster = match ready_cluster(&settings.cluster, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let live = Arc::new(Live::default());
    let config = serde_json::json!({ "workload": &settings.workload, "cluster": settings.cluster.describe() });
    let bar = progress::run_bar(
        settings.workload.messages,
        live.clone(),
        cluster.endpoint.clone(),
        settings
            .checkpoint
            .filter(|_| settings.json.is_some() || args.html.is_some())
            .map(|every| Checkpoint {
                json: settings.json.clone(),
                html: args.html.clone(),
                every,
                config: config.clone(),
            }),
    );
    let work = run(&cluster.endpoint, &settings.workload, live.clone());
    let (result, interrupted) = match graceful(work, &live, shutdown).await {
        Ok(done) => done,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    drop(bar);
    let mut result = result?;
    let facts = cluster_facts(&cluster).await;
    // The JSON keeps `ended_by: "stopped"` (a contract); the summary says what happened.
    let ended_by = result.ended_by.clone();
    if let Some(sig) = interrupted {
        result.ended_by = format!("interrupted ({}), partial report", signal_name(sig));
    }
    println!(
        "{}{}  set-up      cluster ready in {:.2} s (before the load; not in elapsed)",
        summary(&title(&settings, &result), &result),
        facts_summary(&facts),
        cluster.setup_seconds
    );
    result.ended_by = ended_by;
    if let Some(sink) = json {
        let path = settings.json.clone().unwrap_or_default();
        sink.commit(&RunReport {
            tool: "rcstress",
            version: env!("CARGO_PKG_VERSION"),
            command: "run",
            status: match interrupted {
                Some(_) => "interrupted, partial report",
                None => "complete",
            },
            config: config.clone(),
            result: &result,
            facts: &facts,
        })?;
        println!("wrote {}", path.display());
    }
    if let (Some(sink), Some(path)) = (html, args.html.as_ref()) {
        // The run's page is the scenario page of a report made from the run (as `merge` does),
        // with the lines of the summary that a scenario report has no field for.
        let report = ScenarioReport::from_run("run", config, &result)
            .with_facts(&facts)
            .finding(format!("client memory: {}", run_memory_line(&result)));
        let report = match trim_line(&result) {
            Some(t) => report.finding(format!("trim: {t}")),
            None => report,
        };
        sink.commit(&ScenarioDocument {
            command: "run",
            ..ScenarioDocument::new(&report)
        })?;
        println!("wrote {}", path.display());
    }
    drop(cluster);
    Ok(Outcome::of(
        interrupted,
        settings.strict,
        result.verdict.is_ok(),
    ))
}

/// "rcstress run: 20000 messages, 3 producers, ..., embedded cluster (3 masters, ...)".
fn title(settings: &RunSettings, result: &RunResult) -> String {
    let w = &settings.workload;
    let where_ = match &settings.cluster {
        ClusterSource::Embedded(o) => format!(
            "embedded cluster ({} masters, {} replica(s) each, AOF {})",
            o.masters, o.replicas_per_master, o.aof
        ),
        ClusterSource::External(ep) => format!("cluster at {}", ep.nodes_display()),
    };
    format!(
        "rcstress run: {} messages, {} producers, {} consumers, {} shards, batch {}, {where_}",
        w.messages,
        w.producers,
        w.consumers,
        result.shard_keys.len(),
        w.batch
    )
}
