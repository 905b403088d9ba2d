//! `rcstress run`'s settings: the cluster and the workload from its flags and the environment.

use std::path::PathBuf;
use std::time::Duration;

use super::{resolve_cluster, ClusterSource, Env};
use crate::cli::scenario::ClientTimeout;
use crate::cli::RunArgs;
use crate::trim::Trim;
use crate::workload::{ClaimerOptions, Workload};
use crate::{Error, Result};

/// Everything `rcstress run` needs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub cluster: ClusterSource,
    pub workload: Workload,
    pub json: Option<PathBuf>,
    pub strict: bool,
    /// Rewrite `json` this often during the run (`None`: only at the end).
    pub checkpoint: Option<Duration>,
}

/// The producers' response timeout in ms: `--response-timeout`, else RCSTRESS_RESPONSE_TIMEOUT
/// (seconds), else `None` (the 2 s default).
pub(crate) fn response_timeout_ms(t: &ClientTimeout, env: &Env) -> Result<Option<u64>> {
    let secs = match (t.response_timeout, env.get("RCSTRESS_RESPONSE_TIMEOUT")) {
        (Some(s), _) => s,
        (None, Some(text)) => crate::cli::parse_secs(text).map_err(|e| {
            Error::Config(format!(
                "{}: {e}",
                env.describe("RCSTRESS_RESPONSE_TIMEOUT")
            ))
        })?,
        (None, None) => return Ok(None),
    };
    Ok(Some((secs * 1000.0).ceil() as u64))
}

/// Resolves `rcstress run`'s flags against the environment.
pub fn resolve_run(args: &RunArgs, env: &Env) -> Result<RunSettings> {
    let cluster = resolve_cluster(&args.cluster, env)?;
    let stream = args
        .stream
        .clone()
        .or_else(|| env.get("STREAM_NAME").map(str::to_string))
        .unwrap_or_else(|| "rcstress".into());
    let group = args
        .group
        .clone()
        .or_else(|| env.get("CONSUMER_GROUP").map(str::to_string))
        .or_else(|| env.get("CUSTOMER_GROUPNAME").map(str::to_string))
        .unwrap_or_else(|| "rcstress-group".into());
    for (what, v) in [("stream name", &stream), ("consumer group", &group)] {
        if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config(format!(
                "the {what} '{v}' has spaces or control characters"
            )));
        }
    }
    let messages = match (args.duration, args.rate) {
        (Some(d), Some(r)) => ((d * r).ceil() as u64).max(1),
        (Some(_), None) => {
            return Err(Error::Config(
                "--duration needs --rate (messages per second)".into(),
            ))
        }
        _ => args.messages,
    };
    let timeout_ms = (args.timeout * 1000.0) as u64;
    let timeout_ms = match args.duration {
        Some(d) => timeout_ms.max((d * 1000.0) as u64 + 30_000),
        None => timeout_ms,
    };
    let workload = Workload {
        messages,
        producers: args.producers as usize,
        consumers: args.consumers as usize,
        groups: args.groups as usize,
        shards: args.shards as usize,
        batch: args.batch as usize,
        inflight: args.inflight as usize,
        free_routing: args.free_routing,
        payload_bytes: args.payload as usize,
        stream,
        group,
        rate: args.rate,
        claimer: (args.autoclaim_idle > 0).then(|| ClaimerOptions {
            min_idle_ms: args.autoclaim_idle,
            interval_ms: (args.autoclaim_idle / 2).clamp(10, 1000),
        }),
        deadline_ms: timeout_ms,
        quiet_ms: (args.autoclaim_idle * 3).max(5_000),
        durability: args.durability,
        response_timeout_ms: response_timeout_ms(&args.client_timeout, env)?,
        trim: args.trim.unwrap_or(match args.duration {
            Some(_) => Trim::Acked,
            None => Trim::None,
        }),
        ..Workload::default()
    };
    workload.validate()?;
    let checkpoint = args
        .checkpoint
        .unwrap_or(if args.duration.is_some() { 10.0 } else { 0.0 });
    Ok(RunSettings {
        cluster,
        workload,
        json: args.json.clone(),
        strict: args.strict,
        checkpoint: (checkpoint > 0.0).then(|| Duration::from_secs_f64(checkpoint)),
    })
}
