//! `rcstress scenario NAME`: resolves the scenario's options, runs it, prints its findings,
//! writes its JSON and HTML.

use std::sync::Arc;

use super::{graceful, ready_cluster, Outcome, ReadyCluster};
use crate::cli::ScenarioCommand;
use crate::config::scenario::{resolve, ScenarioPlan};
use crate::config::Env;
use crate::progress;
use crate::report::{scenario_summary, HtmlSink, JsonSink, ScenarioDocument};
use crate::scenario::{aof, backlog, crash, durability, failover, memory, servers, ScenarioReport};
use crate::shutdown::Shutdown;
use crate::{Live, Result};

pub(super) async fn command(
    args: &ScenarioCommand,
    env: &Env,
    shutdown: &Shutdown,
) -> Result<Outcome> {
    let plan = resolve(args, env)?;
    let out = args.output();
    let json = out.json.as_deref().map(JsonSink::prepare).transpose()?;
    let html = out.html.as_deref().map(HtmlSink::prepare).transpose()?;
    // consumer-crash and backlog can use any cluster: it must be ready before the load.
    let cluster = match &plan {
        ScenarioPlan::Crash(_, source) | ScenarioPlan::Backlog(_, source) => {
            match ready_cluster(source, shutdown).await? {
                Ok(c) => Some(c),
                Err(sig) => return Ok(Outcome::Interrupted(sig)),
            }
        }
        _ => None,
    };
    let live = Arc::new(Live::default());
    let counters = progress::Counters {
        crashes: matches!(plan, ScenarioPlan::Crash(..)),
    };
    let shown = progress::scenario_line(live.clone(), counters);
    let work = run(&plan, cluster.as_ref(), live.clone());
    let (result, interrupted) = match graceful(work, &live, shutdown).await {
        Ok(done) => done,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    drop(shown);
    let report = result?;
    print!("{}", scenario_summary(&report));
    let document = ScenarioDocument::new(&report);
    if let (Some(sink), Some(path)) = (json, out.json.as_ref()) {
        sink.commit(&document)?;
        println!("wrote {}", path.display());
    }
    if let (Some(sink), Some(path)) = (html, out.html.as_ref()) {
        sink.commit(&document)?;
        println!("wrote {}", path.display());
    }
    drop(cluster);
    Ok(Outcome::of(interrupted, out.strict, report.verdict.is_ok()))
}

/// Runs the planned scenario; `cluster` is the ready one of those that take any cluster.
async fn run(
    plan: &ScenarioPlan,
    cluster: Option<&ReadyCluster>,
    live: Arc<Live>,
) -> Result<ScenarioReport> {
    let endpoint = || {
        let ready = cluster.expect("consumer-crash and backlog get their cluster first");
        &ready.endpoint
    };
    match plan {
        ScenarioPlan::Memory(o) => memory::run(o, live).await,
        ScenarioPlan::Failover(o) => failover::run(o, live).await,
        ScenarioPlan::Crash(o, _) => crash::run(endpoint(), o, live).await,
        ScenarioPlan::Aof(o) => aof::run(o, live).await,
        ScenarioPlan::Durability(o) => durability::run(o, live).await,
        ScenarioPlan::Servers(o) => servers::run(o, live).await,
        ScenarioPlan::Backlog(o, _) => backlog::run(endpoint(), o, live).await,
    }
}
