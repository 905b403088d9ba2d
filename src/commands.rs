//! What each `rcstress` command does, over the library. `main` only parses and reports errors.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{
    ClusterArgs, ClusterCommand, Command, OnOff, Opts, RunArgs, ScenarioArgs, ScenarioName,
};
use crate::cluster::ClusterFacts;
use crate::config::{resolve_cluster, resolve_run, ClusterSource, Env};
use crate::report::{
    facts_summary, scenario_summary, summary, HtmlSink, JsonSink, Progress, RunCheckpoint,
    RunReport, ScenarioDocument,
};
use crate::scenario::{aof, backlog, crash, durability, failover, memory, servers, ScenarioReport};
use crate::{run, Endpoint, Error, Live, LocalCluster, LocalClusterOptions, Result};

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

/// SIGINT, SIGTERM and SIGHUP received and not yet taken by a [`shutdown_signal`], per signal.
static PENDING_SIGNALS: [(i32, std::sync::atomic::AtomicU32); 3] = [
    (2, std::sync::atomic::AtomicU32::new(0)),
    (15, std::sync::atomic::AtomicU32::new(0)),
    (1, std::sync::atomic::AtomicU32::new(0)),
];

/// Installs, once per process, handlers that count SIGINT, SIGTERM and SIGHUP. From then on these
/// signals never kill us outright: each is kept until a [`shutdown_signal`] takes it, so one
/// that arrives between two waits (say, after the cluster started and before the run began) still
/// stops the command, and every guard gets to clean up.
pub fn install_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (sig, count) in &PENDING_SIGNALS {
            // SAFETY: the handler only increments an atomic, which is async-signal-safe.
            let r = unsafe {
                signal_hook_registry::register(*sig, move || {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            };
            if let Err(e) = r {
                tracing::warn!("cannot handle signal {sig}: {e}");
            }
        }
    });
}

fn take_pending_signal() -> Option<i32> {
    use std::sync::atomic::Ordering::SeqCst;
    PENDING_SIGNALS.iter().find_map(|(sig, count)| {
        count
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| *sig)
    })
}

/// Resolves when SIGINT, SIGTERM or SIGHUP arrives (or one arrived earlier that nobody took);
/// returns the signal number.
pub async fn shutdown_signal() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    install_signal_handlers();
    // Streams first, then the check: a signal after the check wakes a stream.
    let streams = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    );
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = streams else {
        // No tokio signal driver: poll the counters.
        loop {
            if let Some(sig) = take_pending_signal() {
                return sig;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    loop {
        if let Some(sig) = take_pending_signal() {
            return sig;
        }
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
}

/// Runs a parsed command line.
pub async fn execute(opts: Opts) -> Result<Outcome> {
    install_signal_handlers();
    let env = Env::load(opts.env_file.as_deref())?;
    match opts.command {
        Command::Run(args) => run_command(&args, &env).await,
        Command::Cluster(ClusterCommand::Up(args)) => cluster_up(&args, &env).await,
        Command::Scenario(args) => scenario_command(&args, &env).await,
        Command::Ceiling(args) => ceiling_command(&args, &env).await,
        Command::Worker(args) => crate::distributed::worker::command(&args, &env).await,
        Command::Merge(args) => crate::distributed::merge::command(&args, &env).await,
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
                ep.wait_ready(ep.ready_timeout).await?;
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

/// Server, data file systems and warnings of a ready cluster, for reports.
pub async fn cluster_facts(cluster: &ReadyCluster) -> ClusterFacts {
    match &cluster.local {
        Some(local) => ClusterFacts::of_local(local),
        None => ClusterFacts::of_external(&cluster.endpoint).await,
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
    let config = serde_json::json!({ "workload": &settings.workload, "cluster": settings.cluster.describe() });
    let ticker = tokio::spawn(progress_loop(
        live.clone(),
        bar.clone(),
        cluster.endpoint.clone(),
        settings.json.clone().zip(settings.checkpoint),
        config.clone(),
    ));
    let (result, interrupted) = match graceful(
        run(&cluster.endpoint, &settings.workload, live.clone()),
        &live,
    )
    .await
    {
        Ok(done) => done,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    ticker.abort();
    bar.finish_and_clear();
    let result = result?;
    let w = &settings.workload;
    let where_ = match &settings.cluster {
        ClusterSource::Embedded(o) => format!(
            "embedded cluster ({} masters, {} replica(s) each, AOF {})",
            o.masters, o.replicas_per_master, o.aof
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
    let facts = cluster_facts(&cluster).await;
    print!("{}{}", summary(&title, &result), facts_summary(&facts));
    if let Some(sink) = sink {
        let report = RunReport {
            tool: "rcstress",
            version: env!("CARGO_PKG_VERSION"),
            command: "run",
            status: match interrupted {
                Some(_) => "interrupted, partial report",
                None => "complete",
            },
            config,
            result: &result,
            facts: &facts,
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

/// The progress line (acked count every 100 ms; rate, backlog and server memory every second)
/// and, with `checkpoint = (path, every)`, the JSON checkpoint rewritten at that interval.
/// Runs until aborted.
async fn progress_loop(
    live: Arc<Live>,
    bar: ProgressBar,
    endpoint: Endpoint,
    checkpoint: Option<(std::path::PathBuf, Duration)>,
    config: serde_json::Value,
) {
    let mut progress = Progress::default();
    let (mut last_line, mut last_checkpoint) = (Instant::now(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(live.acked.load(Relaxed));
        let since = last_line.elapsed().as_secs_f64();
        if since >= 1.0 {
            last_line = Instant::now();
            let acked = live.acked.load(Relaxed);
            let produced = live.produced.load(Relaxed);
            progress = Progress {
                elapsed_seconds: live.secs(),
                attempted: live.attempted.load(Relaxed),
                produced,
                acked,
                backlog: produced.saturating_sub(acked),
                errors: live.errors.load(Relaxed),
                acked_per_sec: acked.saturating_sub(progress.acked) as f64 / since,
                server_used_memory_bytes: crate::trim::masters_used_memory(&endpoint)
                    .await
                    .map(|m| m.iter().map(|(_, b)| b).sum()),
                client_peak_rss_bytes: crate::workload::peak_rss_bytes(),
            };
            bar.set_message(progress.line());
        }
        if let Some((path, every)) = &checkpoint {
            if last_checkpoint.elapsed() >= *every {
                last_checkpoint = Instant::now();
                let doc = RunCheckpoint {
                    tool: "rcstress",
                    version: env!("CARGO_PKG_VERSION"),
                    command: "run",
                    status: "running",
                    config: config.clone(),
                    progress: progress.clone(),
                };
                if let Err(e) = JsonSink::checkpoint(path, &doc) {
                    tracing::warn!("checkpoint: {e}");
                }
            }
        }
    }
}

/// The embedded cluster's options, or an error saying why this scenario cannot use `--nodes`.
fn embedded_only(
    source: &ClusterSource,
    name: &str,
    why: &str,
) -> Result<crate::LocalClusterOptions> {
    match source {
        ClusterSource::Embedded(o) => Ok(o.clone()),
        ClusterSource::External(_) => Err(Error::Config(format!(
            "{name} starts its own clusters ({why}); drop --nodes / REDIS_CLUSTER_NODES"
        ))),
    }
}

/// `rcstress scenario NAME`: runs the experiment, prints its findings, writes JSON and HTML.
async fn scenario_command(args: &ScenarioArgs, env: &Env) -> Result<Outcome> {
    let source = resolve_cluster(&args.cluster, env)?;
    let json = args.json.as_deref().map(JsonSink::prepare).transpose()?;
    let html = args.html.as_deref().map(HtmlSink::prepare).transpose()?;
    let deadline_ms = args.timeout.map(|t| (t * 1000.0) as u64);
    let live = Arc::new(Live::default());
    // External clusters serve consumer-crash and backlog; they need the cluster before the load.
    let mut external = None;
    if matches!(
        args.name,
        ScenarioName::ConsumerCrash | ScenarioName::Backlog
    ) {
        match ready_cluster(&source).await? {
            Ok(c) => external = Some(c),
            Err(sig) => return Ok(Outcome::Interrupted(sig)),
        }
    }
    let work = async {
        match args.name {
            ScenarioName::MemoryPressure => {
                let d = memory::MemoryOptions::default();
                let opts = memory::MemoryOptions {
                    cluster: embedded_only(&source, "memory-pressure", "it sets maxmemory")?,
                    messages: args.messages.unwrap_or(d.messages),
                    max_failed: args.max_failed,
                    producers: args.producers.map_or(d.producers, usize::from),
                    batch: args.batch.map_or(d.batch, |b| b as usize),
                    shards: args.shards as usize,
                    autoclaim_idle_ms: args.autoclaim_idle,
                    deadline_ms: deadline_ms.unwrap_or(d.deadline_ms),
                    ..d
                };
                memory::run(&opts, live.clone()).await
            }
            ScenarioName::ConsumerCrash => {
                let d = crash::CrashOptions::default();
                let opts = crash::CrashOptions {
                    messages: args.messages.unwrap_or(d.messages),
                    producers: args.producers.map_or(d.producers, usize::from),
                    consumers: args.consumers.map_or(d.consumers, usize::from),
                    batch: args.batch.map_or(d.batch, |b| b as usize),
                    crash_probability: args.crash_probability,
                    autoclaim: args.autoclaim == OnOff::On,
                    autoclaim_idle_ms: args.autoclaim_idle,
                    deadline_ms: deadline_ms.unwrap_or(d.deadline_ms),
                };
                let endpoint = &external.as_ref().expect("cluster ready").endpoint;
                crash::run(endpoint, &opts, live.clone()).await
            }
            ScenarioName::Backlog => {
                let d = backlog::BacklogOptions::default();
                let opts = backlog::BacklogOptions {
                    rate: args.rate,
                    pause_ms: args
                        .pause_ms
                        .unwrap_or(args.backlog_memory.map_or(d.pause_ms, |_| 600_000)),
                    pause_messages: args.backlog_messages,
                    pause_memory: args.backlog_memory,
                    checkpoint: args
                        .json
                        .clone()
                        .zip(args.checkpoint.map(Duration::from_secs_f64)),
                    drain_budget_ms: (args.drain_budget * 1000.0) as u64,
                    workload: scenario_workload(args, &d.workload, None),
                    ..d
                };
                let endpoint = &external.as_ref().expect("cluster ready").endpoint;
                backlog::run(endpoint, &opts, live.clone()).await
            }
            ScenarioName::AofCompare => {
                let d = aof::AofOptions::default();
                let mut workload = scenario_workload(args, &d.workload, deadline_ms);
                workload.messages = args.messages.unwrap_or(workload.messages);
                let opts = aof::AofOptions {
                    cluster: embedded_only(&source, "aof-compare", "one per mode and run")?,
                    modes: if args.modes.is_empty() {
                        d.modes.clone()
                    } else {
                        args.modes.clone()
                    },
                    repeat: args.repeat.map_or(d.repeat, |r| r as usize),
                    workload,
                };
                aof::run(&opts, live.clone()).await
            }
            ScenarioName::Durability => {
                let cluster = embedded_only(&source, "durability", "it kills and pauses nodes")?;
                let d = durability::DurabilityOptions::default();
                let workload = scenario_workload(args, &d.workload, deadline_ms);
                let opts = durability::DurabilityOptions {
                    // Its own default node-timeout (2 s) unless one was given.
                    cluster: LocalClusterOptions {
                        node_timeout_ms: args
                            .cluster
                            .node_timeout
                            .unwrap_or(d.cluster.node_timeout_ms),
                        ..cluster
                    },
                    modes: args.durability_modes.clone(),
                    faults: args.faults.clone(),
                    repeat: args.repeat.map_or(d.repeat, |r| r as usize),
                    messages: args.messages.unwrap_or(d.messages),
                    rate: args.rate,
                    duration_s: args.duration,
                    pause_ms: args.pause_ms.unwrap_or(d.pause_ms),
                    allow_memory_fs: args.allow_memory_fs,
                    workload,
                    ..d
                };
                durability::run(&opts, live.clone()).await
            }
            ScenarioName::Servers => {
                let cluster = embedded_only(&source, "servers", "one per server and run")?;
                let d = servers::ServersOptions::default();
                let mut workload = scenario_workload(args, &d.workload, deadline_ms);
                workload.messages = args.messages.unwrap_or(d.workload.messages);
                let opts = servers::ServersOptions {
                    cluster,
                    servers: args.servers.clone(),
                    aof: if args.modes.is_empty() {
                        d.aof.clone()
                    } else {
                        args.modes.iter().map(|m| m.0).collect()
                    },
                    repeat: args.repeat.map_or(d.repeat, |r| r as usize),
                    workload,
                };
                servers::run(&opts, live.clone()).await
            }
            ScenarioName::Failover => {
                let cluster = embedded_only(&source, "failover", "it kills its nodes")?;
                let d = failover::FailoverOptions::default();
                let mut workload = scenario_workload(args, &d.workload, deadline_ms);
                workload.messages = args.messages.unwrap_or(workload.messages);
                let fault = match (args.pause_ms, args.manual_failover) {
                    (Some(ms), _) => failover::Fault::Pause { ms },
                    (None, true) => failover::Fault::ManualFailover,
                    (None, false) => failover::Fault::Kill,
                };
                let opts = failover::FailoverOptions {
                    masters: cluster.masters,
                    replicas_per_master: cluster.replicas_per_master,
                    node_timeout_ms: cluster.node_timeout_ms,
                    kills: args.kills.map(|k| k as usize),
                    fault,
                    restart: args.restart,
                    workload,
                    server: cluster.server.clone(),
                    data_dir: cluster.data_dir.clone(),
                    ..d
                };
                failover::run(&opts, live.clone()).await
            }
        }
    };
    let spinner = scenario_spinner(&live);
    let (result, interrupted): (Result<ScenarioReport>, _) = match graceful(work, &live).await {
        Ok(done) => done,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    spinner.abort();
    let report = result?;
    print!("{}", scenario_summary(&report));
    let document = ScenarioDocument::new(&report);
    if let Some(sink) = json {
        sink.commit(&document)?;
    }
    if let Some(sink) = html {
        sink.commit(&document)?;
    }
    drop(external);
    Ok(match interrupted {
        Some(sig) => Outcome::Interrupted(sig),
        None if args.strict && report.verdict != "ok" => Outcome::VerdictFailed,
        None => Outcome::Done,
    })
}

/// A scenario's workload: its defaults with the common flags applied.
fn scenario_workload(
    args: &ScenarioArgs,
    base: &crate::Workload,
    deadline_ms: Option<u64>,
) -> crate::Workload {
    let mut w = base.clone();
    if let Some(p) = args.producers {
        w.producers = p as usize;
    }
    if let Some(c) = args.consumers {
        w.consumers = c as usize;
    }
    if let Some(b) = args.batch {
        w.batch = b as usize;
    }
    w.deadline_ms = deadline_ms.unwrap_or(w.deadline_ms);
    w
}

/// A one-line progress display on stderr (only drawn on a terminal) from the live counters.
fn scenario_spinner(live: &Arc<Live>) -> tokio::task::JoinHandle<()> {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let live = live.clone();
    tokio::spawn(async move {
        // Ends when aborted by the caller; clears its line when it does.
        struct Clear(ProgressBar);
        impl Drop for Clear {
            fn drop(&mut self) {
                self.0.finish_and_clear();
            }
        }
        let bar = Clear(bar);
        loop {
            bar.0.set_message(format!(
                "sent {}  acked {}  errors {}  crashes {}",
                live.attempted.load(Relaxed),
                live.acked.load(Relaxed),
                live.errors.load(Relaxed),
                live.crashes.load(Relaxed)
            ));
            bar.0.tick();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
    let mut extra = String::new();
    if let Some(user) = &local.options().username {
        extra.push_str(&format!(" --user {user}"));
    }
    if let Some(ca) = local.tls_ca_file() {
        println!("tls: only; CA in {}", ca.display());
        extra.push_str(&format!(" --tls-ca {}", ca.display()));
    }
    println!(
        "use it: REDIS_PASSWORD=$(cat {}) rcstress run --nodes {nodes}{extra}",
        password_file.display()
    );
    println!("press Ctrl-C to stop and remove it");
    // A hook for the cleanup tests: a panic after start-up must still stop every node.
    if std::env::var_os("RCSTRESS_TEST_PANIC").is_some() {
        panic!("RCSTRESS_TEST_PANIC is set");
    }
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

async fn ceiling_command(args: &crate::cli::CeilingArgs, env: &Env) -> Result<Outcome> {
    let source = resolve_cluster(&args.cluster, env)?;
    let sink = args.json.as_deref().map(JsonSink::prepare).transpose()?;
    let cluster = match ready_cluster(&source).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let plan = crate::ceiling::ComparisonPlan {
        messages: args.messages,
        seed_messages: args.seed_messages,
        batch: args.batch as usize,
        ceiling: crate::ceiling::CeilingOptions {
            requests: args.requests,
            pipeline: args.pipeline,
            clients: args.clients,
            ..Default::default()
        },
    };
    let work = crate::ceiling::compare(&cluster.endpoint, &plan);
    let cmp = tokio::select! {
        r = work => r?,
        sig = shutdown_signal() => return Ok(Outcome::Interrupted(sig)),
    };
    print!("{}", cmp.table());
    if let Some(sink) = sink {
        let report = serde_json::json!({
            "tool": "rcstress",
            "version": env!("CARGO_PKG_VERSION"),
            "command": "ceiling",
            "config": { "cluster": source.describe(), "plan": plan },
            "comparison": cmp,
        });
        sink.commit(&report)?;
    }
    Ok(Outcome::Done)
}

/// Runs `work` to its end. The first SIGINT/SIGTERM sets `live.stop`, so the work ends early and
/// still reports what it has (the signal comes back with the result); a second one cuts it
/// short (`Err(signal)`).
pub(crate) async fn graceful<T>(
    work: impl std::future::Future<Output = Result<T>>,
    live: &Live,
) -> std::result::Result<(Result<T>, Option<i32>), i32> {
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => Ok((r, None)),
        sig = shutdown_signal() => {
            live.stop.store(true, Relaxed);
            tokio::select! {
                r = &mut work => Ok((r, Some(sig))),
                _ = shutdown_signal() => Err(sig),
            }
        }
    }
}
