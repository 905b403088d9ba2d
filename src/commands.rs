//! What each `rcstress` command does, over the library. `main` only parses and reports errors.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ClusterArgs, ClusterCommand, Command, Opts, RunArgs};
use crate::config::{resolve_cluster, resolve_run, ClusterSource, Env, READY_WAIT};
use crate::report::{summary, JsonSink, RunReport};
use crate::{run, Endpoint, Error, Live, LocalCluster, Result};

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
}

/// Resolves when SIGINT or SIGTERM arrives; returns the signal number.
pub async fn shutdown_signal() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers we cannot be interrupted cleanly; never resolve.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}

/// Runs a parsed command line.
pub async fn execute(opts: Opts) -> Result<Outcome> {
    let env = Env::load(opts.env_file.as_deref())?;
    match opts.command {
        Command::Run(args) => run_command(&args, &env).await,
        Command::Cluster(ClusterCommand::Up(args)) => cluster_up(&args, &env).await,
    }
}

/// A cluster ready for use: the one we started (kept alive by holding it) or an external one.
pub struct ReadyCluster {
    pub local: Option<LocalCluster>,
    pub endpoint: Endpoint,
}

/// Starts the embedded cluster or checks that the external one is ready (waiting up to a bound
/// for one that is still forming). Ctrl-C during start-up stops and cleans up.
pub async fn ready_cluster(
    source: &ClusterSource,
) -> Result<std::result::Result<ReadyCluster, i32>> {
    let work = async {
        match source {
            ClusterSource::Embedded(opts) => {
                let local = LocalCluster::start(opts.clone()).await?;
                let endpoint = local.endpoint().clone();
                Ok(ReadyCluster {
                    local: Some(local),
                    endpoint,
                })
            }
            ClusterSource::External(ep) => {
                ep.wait_ready(READY_WAIT).await?;
                Ok(ReadyCluster {
                    local: None,
                    endpoint: ep.clone(),
                })
            }
        }
    };
    tokio::select! {
        r = work => r.map(Ok),
        sig = shutdown_signal() => Ok(Err(sig)),
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} acked {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

async fn run_command(args: &RunArgs, env: &Env) -> Result<Outcome> {
    let settings = resolve_run(args, env)?;
    let sink = settings
        .json
        .as_deref()
        .map(JsonSink::prepare)
        .transpose()?;
    let cluster = match ready_cluster(&settings.cluster).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let live = Arc::new(Live::default());
    let bar = progress_bar(settings.workload.messages);
    let ticker = {
        let (live, bar) = (live.clone(), bar.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(live.acked.load(Relaxed));
                let errors = live.errors.load(Relaxed);
                if errors > 0 {
                    bar.set_message(format!("({errors} errors)"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut interrupted = None;
    let result = {
        let fut = run(&cluster.endpoint, &settings.workload, live.clone());
        tokio::pin!(fut);
        tokio::select! {
            r = &mut fut => r,
            sig = shutdown_signal() => {
                // Stop the run and let it report what it has; a second signal cuts it short.
                interrupted = Some(sig);
                live.stop.store(true, Relaxed);
                tokio::select! {
                    r = &mut fut => r,
                    _ = shutdown_signal() => return Ok(Outcome::Interrupted(sig)),
                }
            }
        }
    };
    ticker.abort();
    bar.finish_and_clear();
    let result = result?;
    let w = &settings.workload;
    let where_ = match &settings.cluster {
        ClusterSource::Embedded(o) => format!(
            "embedded {}+{}x{} AOF {}",
            o.masters, o.masters, o.replicas_per_master, o.aof
        ),
        ClusterSource::External(ep) => format!("cluster at {}", ep.nodes_display()),
    };
    let title = format!(
        "rcstress run: {} messages, {} producers, {} consumers, {} shards, batch {}, {where_}",
        w.messages,
        w.producers,
        w.consumers,
        result.shard_keys.len(),
        w.batch
    );
    print!("{}", summary(&title, &result));
    if let Some(sink) = sink {
        let report = RunReport {
            tool: "rcstress",
            version: env!("CARGO_PKG_VERSION"),
            command: "run",
            config: serde_json::json!({ "workload": w, "cluster": settings.cluster.describe() }),
            result: &result,
        };
        sink.commit(&report)?;
    }
    drop(cluster);
    Ok(match interrupted {
        Some(sig) => Outcome::Interrupted(sig),
        None if settings.strict && result.verdict != "ok" => Outcome::VerdictFailed,
        None => Outcome::Done,
    })
}

async fn cluster_up(args: &ClusterArgs, env: &Env) -> Result<Outcome> {
    let source = resolve_cluster(args, env)?;
    let ClusterSource::Embedded(_) = &source else {
        return Err(Error::Config(
            "'cluster up' starts an embedded cluster; drop --nodes / REDIS_CLUSTER_NODES".into(),
        ));
    };
    let cluster = match ready_cluster(&source).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let local = cluster.local.as_ref().expect("embedded cluster");
    let password_file = local.dir().join("password");
    write_private(&password_file, local.password())?;
    let nodes = cluster.endpoint.nodes_display();
    println!(
        "cluster up: {} nodes ({} masters) on 127.0.0.1",
        local.ports().len(),
        local.options().masters
    );
    println!("nodes: {nodes}");
    println!("password: in {} (mode 0600)", password_file.display());
    println!(
        "use it: REDIS_PASSWORD=$(cat {}) rcstress run --nodes {nodes}",
        password_file.display()
    );
    println!("press Ctrl-C to stop and remove it");
    let sig = shutdown_signal().await;
    drop(cluster);
    println!("cluster stopped");
    Ok(Outcome::Interrupted(sig))
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io(format!("write {}", path.display()), e))
}
