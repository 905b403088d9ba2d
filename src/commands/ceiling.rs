//! `rcstress ceiling`: the cycle beside the server's XADD-only ceiling on the same cluster.

use super::{ready_cluster, Outcome};
use crate::ceiling::{compare, CeilingOptions, ComparisonPlan};
use crate::cli::CeilingArgs;
use crate::config::{resolve_cluster, Env};
use crate::report::JsonSink;
use crate::shutdown::Shutdown;
use crate::Result;

pub(super) async fn command(args: &CeilingArgs, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    let source = resolve_cluster(&args.cluster, env)?;
    let sink = args.json.as_deref().map(JsonSink::prepare).transpose()?;
    let cluster = match ready_cluster(&source, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let plan = ComparisonPlan {
        messages: args.messages,
        seed_messages: args.seed_messages,
        batch: args.batch as usize,
        ceiling: CeilingOptions {
            requests: args.requests,
            pipeline: args.pipeline,
            clients: args.clients,
            ..Default::default()
        },
    };
    let cmp = tokio::select! {
        r = compare(&cluster.endpoint, &plan) => r?,
        sig = shutdown.requested() => return Ok(Outcome::Interrupted(sig)),
    };
    print!("{}", cmp.table());
    if let Some(sink) = sink {
        sink.commit(&serde_json::json!({
            "tool": "rcstress",
            "version": env!("CARGO_PKG_VERSION"),
            "command": "ceiling",
            "config": { "cluster": source.describe(), "plan": plan },
            "comparison": cmp,
        }))?;
    }
    Ok(Outcome::Done)
}
