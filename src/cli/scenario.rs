//! `rcstress scenario NAME`: one subcommand per experiment, each with the flags it uses and no
//! other. Shared groups are flattened; a flag left unset takes the scenario's own default (its
//! `Options::default()`), applied in one place: `config::scenario`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::cluster::{
    Access, ClusterArgs, LocalArgs, MaxmemoryArgs, MinReplicasArg, ServerArg, Shape,
};
use super::parse::{parse_count, parse_memory_size, parse_probability, parse_rate, parse_secs};
use super::OnOff;
use crate::scenario::{aof, durability};

/// The experiments.
#[derive(Debug, Subcommand, Clone)]
pub enum ScenarioCommand {
    /// Producer and claimer, no consumer, tiny maxmemory: when do OOM and NOGROUP start, what is evicted.
    MemoryPressure(MemoryArgs),
    /// Kill (or pause, cut off the network, or fail over) masters under load: windows,
    /// promotions, what was lost.
    Failover(FailoverArgs),
    /// Consumers die between read and XACK: does XAUTOCLAIM recover their entries.
    ConsumerCrash(CrashArgs),
    /// The same cycle with AOF off / everysec / always / no, repeated: overhead of each.
    AofCompare(AofCompareArgs),
    /// WAIT / WAITAOF / min-replicas under a paused master, a network partition and a killed
    /// shard: acknowledged writes lost, unconfirmed, and the cost of each mode.
    Durability(DurabilityArgs),
    /// The same cycle on each installed server (Redis, Valkey), AOF off and on.
    Servers(ServersArgs),
    /// Consumers stop while producers go on, then resume: backlog peak, drain rate, time to
    /// catch up (or never).
    Backlog(BacklogArgs),
}

impl ScenarioCommand {
    /// Where the report goes and whether a bad verdict fails the command.
    pub fn output(&self) -> &Output {
        match self {
            ScenarioCommand::MemoryPressure(a) => &a.output,
            ScenarioCommand::Failover(a) => &a.common.clients.output,
            ScenarioCommand::ConsumerCrash(a) => &a.common.clients.output,
            ScenarioCommand::AofCompare(a) => &a.cases.common.clients.output,
            ScenarioCommand::Durability(a) => &a.common.clients.output,
            ScenarioCommand::Servers(a) => &a.cases.common.clients.output,
            ScenarioCommand::Backlog(a) => &a.clients.output,
        }
    }
}

/// Every scenario's report files and `--strict`.
#[derive(Debug, Args, Clone)]
pub struct Output {
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 1 when the verdict is not "ok".
    #[arg(long)]
    pub strict: bool,
}

/// The load and the report of a scenario that produces and consumes a number of messages.
#[derive(Debug, Args, Clone)]
pub struct Common {
    #[command(flatten)]
    pub messages: Messages,
    #[command(flatten)]
    pub clients: Clients,
}

/// Who produces and consumes, and where the report goes.
#[derive(Debug, Args, Clone)]
pub struct Clients {
    #[command(flatten)]
    pub producers: Producers,
    #[command(flatten)]
    pub consumers: Consumers,
    #[command(flatten)]
    pub output: Output,
}

/// The embedded clusters of a scenario that starts a fresh one for each run of each case (it sets
/// some of their settings itself), and how many runs.
#[derive(Debug, Args, Clone)]
pub struct Nodes {
    /// Runs of each case, each on a fresh cluster (default: 3 for aof-compare, 2 for durability
    /// and servers).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: Option<u32>,
    #[command(flatten)]
    pub shape: Shape,
    #[command(flatten)]
    pub access: Access,
    #[command(flatten)]
    pub memory: MaxmemoryArgs,
}

/// How much load and for how long at most.
#[derive(Debug, Args, Clone)]
pub struct Messages {
    /// Messages to send (memory-pressure: the bound on sends attempted).
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub messages: Option<u64>,
    /// Give up on a run after this many seconds.
    #[arg(long, value_parser = parse_secs)]
    pub timeout: Option<f64>,
}

/// The sending side.
#[derive(Debug, Args, Clone)]
pub struct Producers {
    /// Producer tasks.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub producers: Option<u16>,
    /// XADDs per pipeline and XREADGROUP COUNT (1: the seed's one command per message).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: Option<u32>,
}

/// The reading side.
#[derive(Debug, Args, Clone)]
pub struct Consumers {
    /// Consumer tasks, each with its own connection, in one consumer group.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub consumers: Option<u16>,
}

/// How long a producer waits for a node's reply.
#[derive(Debug, Args, Clone, Default)]
pub struct ClientTimeout {
    /// Seconds a producer waits for a node's reply before it counts the send as timed out
    /// (indeterminate), also RCSTRESS_RESPONSE_TIMEOUT. Default 2; a pause fault's runs default
    /// to longer than the pause, as redis-py (no timeout) or Lettuce (60 s) would wait.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub response_timeout: Option<f64>,
}

/// The claimer's threshold.
#[derive(Debug, Args, Clone)]
pub struct Claim {
    /// XAUTOCLAIM min idle time in ms (default 1000; the seed's was 300000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub autoclaim_idle: Option<u64>,
}

/// `scenario memory-pressure`: the seed's "remove the consumer, let memory exceed maxmemory".
#[derive(Debug, Args, Clone)]
pub struct MemoryArgs {
    /// Stop once this many sends were refused (default 2000).
    #[arg(long, value_parser = parse_count)]
    pub max_failed: Option<u64>,
    /// Stream keys (default 1: the seed's single stream).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub shards: Option<u16>,
    #[command(flatten)]
    pub claim: Claim,
    #[command(flatten)]
    pub messages: Messages,
    #[command(flatten)]
    pub producers: Producers,
    #[command(flatten)]
    pub output: Output,
    #[command(flatten)]
    pub cluster: LocalArgs,
}

/// `scenario failover`.
#[derive(Debug, Args, Clone)]
pub struct FailoverArgs {
    /// How many faults (default: until the cluster cannot recover).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub kills: Option<u32>,
    /// Restart each killed node once a replica took over.
    #[arg(long)]
    pub restart: bool,
    /// Pause (SIGSTOP) masters for this many ms instead of killing them.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000), conflicts_with = "manual_failover")]
    pub pause_ms: Option<u64>,
    /// CLUSTER FAILOVER on a replica instead of killing the master.
    #[arg(long, conflicts_with = "partition")]
    pub manual_failover: bool,
    /// Cut each master off the network instead of killing it, in this shape: isolate-master
    /// (from every other node; the client still reaches it), halves, bridge or one-way. Runs the
    /// whole scenario in a private network namespace (no root needed).
    #[arg(long, value_name = "SHAPE", conflicts_with = "pause_ms")]
    pub partition: Option<crate::cluster::partition::Shape>,
    /// How long each partition lasts before it heals, ms (default 6000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000), requires = "partition")]
    pub partition_ms: Option<u64>,
    #[command(flatten)]
    pub client_timeout: ClientTimeout,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub shape: Shape,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `scenario consumer-crash`: on an embedded cluster or any cluster (`--nodes`).
#[derive(Debug, Args, Clone)]
pub struct CrashArgs {
    /// Chance that a consumer dies after reading a batch, before XACK (default 0.05).
    #[arg(long, value_parser = parse_probability)]
    pub crash_probability: Option<f64>,
    /// Reclaim what crashed consumers left with XAUTOCLAIM (default on).
    #[arg(long, value_enum)]
    pub autoclaim: Option<OnOff>,
    #[command(flatten)]
    pub claim: Claim,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `scenario aof-compare`: each mode on a cluster of its own (so no --aof / --fsync).
#[derive(Debug, Args, Clone)]
pub struct AofCompareArgs {
    #[command(flatten)]
    pub cases: AofCases,
    #[command(flatten)]
    pub server: ServerArg,
}

/// The same cycle over AOF modes (and, for `servers`, servers), a fresh cluster for each run.
#[derive(Debug, Args, Clone)]
pub struct AofCases {
    /// The AOF modes (aof-compare: to compare, default off,everysec,always,no; servers: of each
    /// server, default off,everysec).
    #[arg(long, value_delimiter = ',')]
    pub modes: Vec<aof::Mode>,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub nodes: Nodes,
    #[command(flatten)]
    pub min_replicas: MinReplicasArg,
}

/// `scenario durability`: AOF everysec and min-replicas are set per mode.
#[derive(Debug, Args, Clone)]
pub struct DurabilityArgs {
    /// The modes to compare (none, wait:N[:MS], waitaof:L:R[:MS], min-replicas:N[:MAXLAG_S]);
    /// default none,wait:1,waitaof:1:0,waitaof:0:1,waitaof:1:1,min-replicas:1,min-replicas:1:1,
    /// less the modes the server lacks (WAITAOF before Redis 7.2), with a note.
    #[arg(long, value_delimiter = ',', value_name = "MODE,...")]
    pub durability_modes: Vec<durability::Mode>,
    /// The faults: none (fault-free closed loop, the cost), pause (a client that waits longer
    /// than the pause), pause-short (a client that gives up after 2 s), partition (--partition's
    /// shape), shard-kill.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,pause,partition,shard-kill"
    )]
    pub faults: Vec<durability::Fault>,
    /// The partition fault's shape: isolate-master, halves, bridge or one-way.
    #[arg(long, value_name = "SHAPE", default_value = "isolate-master")]
    pub partition: crate::cluster::partition::Shape,
    /// How long the partition fault lasts, ms (default 6000; must exceed --node-timeout).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub partition_ms: Option<u64>,
    #[command(flatten)]
    pub client_timeout: ClientTimeout,
    /// Open-loop rate of the fault runs, msg/s (default 3000).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Seconds of load in the fault runs; the fault starts after 2 s and must be over 2 s before
    /// the load ends (default 10).
    #[arg(long, value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// How long the pause fault lasts, ms (default 5000; must exceed --node-timeout).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub pause_ms: Option<u64>,
    /// Run although the data dir is on tmpfs/ramfs (where AOF measures nothing).
    #[arg(long)]
    pub allow_memory_fs: bool,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub nodes: Nodes,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `scenario servers`: the server and AOF mode are set per run (so no --server / --aof).
#[derive(Debug, Args, Clone)]
pub struct ServersArgs {
    /// The servers to compare (names 'scripts/servers' installs, commands or paths; default:
    /// every installed one of redis7, valkey8, redis8, valkey9).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub servers: Vec<String>,
    #[command(flatten)]
    pub cases: AofCases,
}

/// `scenario backlog`: on an embedded cluster or any cluster (`--nodes`).
#[derive(Debug, Args, Clone)]
pub struct BacklogArgs {
    /// Open-loop rate of the producers, msg/s, the whole time (default 3000).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// How long the consumers stop, ms (default 10000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub pause_ms: Option<u64>,
    /// Stop the consumers until this many messages wait (instead of --pause-ms).
    #[arg(long, value_parser = parse_count, conflicts_with = "pause_ms")]
    pub backlog_messages: Option<u64>,
    /// Stop the consumers until a master's used_memory reaches this size (e.g. 50mb; redis.conf
    /// units: k = 1000, kb = 1024), for at most --pause-ms (default then 600000).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size, conflicts_with = "backlog_messages")]
    pub backlog_memory: Option<u64>,
    /// Rewrite the --json file every this many seconds while the scenario goes on (status
    /// "running" with the backlog figures and samples so far).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, requires = "json")]
    pub checkpoint: Option<f64>,
    /// After the resume, call it "never caught up" and stop after this many seconds (default 60).
    #[arg(long, value_parser = parse_secs)]
    pub drain_budget: Option<f64>,
    #[command(flatten)]
    pub clients: Clients,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}
