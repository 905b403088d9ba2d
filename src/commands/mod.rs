//! What each `rcstress` command does, over the library: one file per command group. `main` only
//! parses and reports errors; the signals become a [`Shutdown`] here, once, and are passed down.

mod ceiling;
mod cluster;
mod merge;
mod run;
mod scenario;
mod worker;

use std::sync::atomic::Ordering::Relaxed;

use crate::cli::{ClusterCommand, Command, Opts};
use crate::cluster::ClusterFacts;
use crate::config::{ClusterSource, Env, Origin};
use crate::progress::Activity;
use crate::shutdown::Shutdown;
use crate::{Endpoint, Error, Live, LocalCluster, Result};

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Did what it was asked.
    Done,
    /// Ran, but `--strict` and the verdict is not "ok".
    VerdictFailed,
    /// Stopped by SIGINT / SIGTERM (the signal number); everything was cleaned up.
    Interrupted(i32),
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done => 0,
            Outcome::VerdictFailed => 1,
            Outcome::Interrupted(sig) => 128 + sig,
        }
    }

    /// `Interrupted` if a signal stopped the work, else what `strict` and the verdict say.
    fn of(interrupted: Option<i32>, strict: bool, verdict_ok: bool) -> Outcome {
        match interrupted {
            Some(sig) => Outcome::Interrupted(sig),
            None if strict && !verdict_ok => Outcome::VerdictFailed,
            None => Outcome::Done,
        }
    }
}

/// Runs a parsed command line. SIGINT, SIGTERM and SIGHUP are handled from here on.
pub async fn execute(opts: Opts) -> Result<Outcome> {
    let shutdown = Shutdown::from_signals()?;
    let env = Env::load(opts.env_file.as_deref())?;
    let s = &shutdown;
    let result = match opts.command {
        Command::Run(args) => run::command(&args, &env, s).await,
        Command::Cluster(ClusterCommand::Up(args)) => cluster::up(&args, &env, s).await,
        Command::Scenario(args) => scenario::command(&args, &env, s).await,
        Command::Ceiling(args) => ceiling::command(&args, &env, s).await,
        Command::Worker(args) => worker::command(&args, &env, s).await,
        Command::Merge(args) => merge::command(&args, &env, s).await,
    };
    result.map_err(|e| name_password_file(e, &env))
}

/// A refused password that came from a file says so: "check REDIS_PASSWORD (from .env)".
fn name_password_file(e: Error, env: &Env) -> Error {
    match e {
        Error::Auth { node, detail }
            if matches!(env.origin("REDIS_PASSWORD"), Some(Origin::EnvFile(_))) =>
        {
            Error::Auth {
                detail: detail.replace("REDIS_PASSWORD", &env.describe("REDIS_PASSWORD")),
                node,
            }
        }
        e => e,
    }
}

/// A cluster ready for use: the one we started (kept alive by holding it) or an external one.
pub struct ReadyCluster {
    pub local: Option<LocalCluster>,
    pub endpoint: Endpoint,
    /// Seconds it took to start (or to wait for) the cluster: wall time outside the run's
    /// `elapsed`, which the summary names.
    pub setup_seconds: f64,
}

/// Starts the embedded cluster or checks that the external one is ready (waiting up to a bound
/// for one that is still forming), saying on a terminal what it waits for. A signal during
/// start-up stops and cleans up (`Err(signal)`).
pub async fn ready_cluster(
    source: &ClusterSource,
    shutdown: &Shutdown,
) -> Result<std::result::Result<ReadyCluster, i32>> {
    let began = std::time::Instant::now();
    let work = async {
        match source {
            ClusterSource::Embedded(opts) => {
                let _shown = Activity::start(crate::progress::starting_line(opts));
                let local = LocalCluster::start(opts.clone()).await?;
                let endpoint = local.endpoint().clone();
                Ok(ReadyCluster {
                    local: Some(local),
                    endpoint,
                    setup_seconds: began.elapsed().as_secs_f64(),
                })
            }
            ClusterSource::External(ep) => {
                let _shown = Activity::start(format!(
                    "waiting for the cluster at {} to say cluster_state:ok (up to {} s)…",
                    ep.nodes_display(),
                    ep.ready_timeout.as_secs_f64()
                ));
                ep.wait_ready(ep.ready_timeout).await?;
                Ok(ReadyCluster {
                    local: None,
                    endpoint: ep.clone(),
                    setup_seconds: began.elapsed().as_secs_f64(),
                })
            }
        }
    };
    tokio::select! {
        r = work => r.map(Ok),
        sig = shutdown.requested() => Ok(Err(sig)),
    }
}

/// Server, data file systems and warnings of a ready cluster, for reports.
pub async fn cluster_facts(cluster: &ReadyCluster) -> ClusterFacts {
    match &cluster.local {
        Some(local) => ClusterFacts::of_local(local),
        None => ClusterFacts::of_external(&cluster.endpoint).await,
    }
}

/// Runs `work` to its end. A stop request (the first signal) sets `live.stop`, so the work ends
/// early and still reports what it has (the signal comes back with the result); a second signal
/// cuts it short (`Err(signal)`).
pub(crate) async fn graceful<T>(
    work: impl std::future::Future<Output = Result<T>>,
    live: &Live,
    shutdown: &Shutdown,
) -> std::result::Result<(Result<T>, Option<i32>), i32> {
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => Ok((r, None)),
        sig = shutdown.requested() => {
            live.stop.store(true, Relaxed);
            tokio::select! {
                r = &mut work => Ok((r, Some(sig))),
                _ = shutdown.aborted() => Err(sig),
            }
        }
    }
}
