//! The command line of `rcstress`: clap types and value parsers.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Stress Redis Streams on a Redis Cluster: throughput of the produce → consume → ack cycle and a
/// verdict on every message.
#[derive(Debug, Parser)]
#[command(name = "rcstress", version, about, propagate_version = true)]
pub struct Opts {
    /// Read settings from this file instead of ./.env (REDIS_CLUSTER_NODES, REDIS_PASSWORD, ...).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cycle for a fixed number of messages (or a duration) and report.
    Run(RunArgs),
    /// Manage an embedded cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run one of the seed's experiments and report (memory-pressure, failover, consumer-crash,
    /// aof-compare), or the durability and servers comparisons.
    Scenario(ScenarioArgs),
    /// Compare the cycle (seed-style and batched) with the server's XADD-only ceiling measured
    /// by redis-benchmark on the same cluster.
    Ceiling(CeilingArgs),
    /// One of N workers of a distributed run: takes its share of the run's producers, consumers
    /// and rate, starts at the common time, writes its result file into --out DIR.
    Worker(WorkerArgs),
    /// One report (JSON, HTML) from the result files of a distributed run's workers.
    Merge(MergeArgs),
}

/// `rcstress worker`: the run's flags are the whole run's (`--messages`, `--producers`,
/// `--consumers`, `--rate` are totals over all workers).
#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// This worker's index, from 0 (else RCSTRESS_WORKER_INDEX, RCSTRESS_WORKER_SLOT from 1 as
    /// Swarm's {{.Task.Slot}} gives it, or Kubernetes' JOB_COMPLETION_INDEX).
    #[arg(long)]
    pub index: Option<usize>,
    /// How many workers the run has (else RCSTRESS_WORKERS).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub workers: Option<usize>,
    /// The common start, Unix seconds, the same for every worker (else RCSTRESS_START_AT).
    #[arg(long, value_name = "UNIX_SECS", value_parser = parse_secs_since_epoch, conflicts_with = "start_in")]
    pub start_at: Option<f64>,
    /// Start this many seconds from now (for workers launched together by one shell).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub start_in: Option<f64>,
    /// The directory every worker writes its result file into (else RCSTRESS_OUT).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// End once this worker's producers are done and it acked nothing for this many seconds (a
    /// worker cannot see when the others' messages are all acked).
    #[arg(long, default_value_t = 3.0, value_parser = parse_secs)]
    pub quiet: f64,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `rcstress merge DIR`.
#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// The directory holding the workers' result files (worker-I-of-N.json).
    pub dir: PathBuf,
    /// Write the merged result as JSON here (the fields of `rcstress run --json`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 1 when the verdict is not "ok".
    #[arg(long)]
    pub strict: bool,
    /// The cluster the workers ran against (XLEN / XPENDING and the final scan are asked once);
    /// without --nodes or REDIS_CLUSTER_NODES, the nodes the workers' files name.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `rcstress ceiling`.
#[derive(Debug, Args, Clone)]
pub struct CeilingArgs {
    /// Messages for the batched cycle.
    #[arg(long, default_value_t = 200_000, value_parser = parse_count)]
    pub messages: u64,
    /// Messages for the seed-style cycle (one command per message; slow).
    #[arg(long, default_value_t = 20_000, value_parser = parse_count)]
    pub seed_messages: u64,
    /// XADDs redis-benchmark sends.
    #[arg(long, default_value_t = 1_000_000, value_parser = parse_count)]
    pub requests: u64,
    /// redis-benchmark pipeline depth (-P).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub pipeline: u32,
    /// redis-benchmark connections (-c).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,
    /// Batch size of the batched cycle.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// Write the comparison as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start an embedded cluster, print its nodes, and keep it up until Ctrl-C.
    Up(ClusterArgs),
}

/// Where the cluster comes from and, for an embedded one, how it is built.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Use this cluster (host:port,...) instead of starting one. Also REDIS_CLUSTER_NODES.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub nodes: Option<String>,
    /// Embedded cluster: masters.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub masters: u16,
    /// Embedded cluster: replicas per master.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(0..=5))]
    pub replicas: u16,
    /// Embedded cluster: append-only file.
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    pub aof: OnOff,
    /// Embedded cluster: appendfsync when --aof on.
    #[arg(long, value_enum, default_value_t = FsyncArg::Everysec)]
    pub fsync: FsyncArg,
    /// Embedded cluster: maxmemory per node (e.g. 3mb).
    #[arg(long, value_name = "BYTES")]
    pub maxmemory: Option<String>,
    /// Embedded cluster: maxmemory-policy (e.g. allkeys-lru, noeviction).
    #[arg(long, value_name = "POLICY")]
    pub maxmemory_policy: Option<String>,
    /// Embedded cluster: cluster-node-timeout in ms (default 5000; scenario durability: 2000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub node_timeout: Option<u64>,
    /// Keep the embedded cluster's temp dir (configs, logs, data) after it stops.
    #[arg(long)]
    pub keep_dir: bool,
    /// ACL user to AUTH as, with REDIS_PASSWORD (also REDIS_USERNAME). Embedded cluster: the
    /// user is created on every node.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Talk TLS to the cluster. Embedded cluster: the nodes serve TLS only (client port, bus,
    /// replication), with a throwaway CA made in the temp dir.
    #[arg(long)]
    pub tls: bool,
    /// Trust this CA (PEM) for --tls instead of the system's roots (also REDIS_TLS_CA); implies --tls.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Embedded cluster: the server to run: a path, a name 'scripts/servers install' knows
    /// (redis7, valkey8, redis8, valkey9) or a command on PATH (also REDIS_SERVER).
    #[arg(long, value_name = "NAME|PATH")]
    pub server: Option<String>,
    /// Embedded cluster: put the nodes' data (AOF included) under this dir instead of the temp
    /// dir (also RCSTRESS_DATA_DIR). AOF figures mean something only on a disk, not tmpfs.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Embedded cluster: min-replicas-to-write on every master (writes refused with NOREPLICAS
    /// unless this many replicas are connected).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5))]
    pub min_replicas: Option<u32>,
    /// Seconds to wait for the cluster: an external one to say cluster_state:ok, an embedded one
    /// to start and form.
    #[arg(long, default_value_t = 30.0, value_parser = parse_secs, value_name = "SECS")]
    pub ready_timeout: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OnOff {
    #[default]
    Off,
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FsyncArg {
    Always,
    #[default]
    Everysec,
    No,
}

/// `rcstress run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Messages to send in all.
    #[arg(long, default_value_t = 10_000, value_parser = parse_count, allow_negative_numbers = true)]
    pub messages: u64,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub producers: u16,
    /// Consumers (0: produce only).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub consumers: u16,
    /// Stream shard keys spread over the masters (0: one per master).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub shards: u16,
    /// XADDs per pipeline and XREADGROUP COUNT (1: the seed's one command per message).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// Pipelines in flight per producer and shard (one lane each).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub inflight: u32,
    /// Let any free lane take a producer's next message, whatever its shard: more closed-loop
    /// throughput on an uneven cluster, but a slow or stalled shard's messages go to the others,
    /// so its stall is hidden instead of measured. Default: a message's shard is fixed by it.
    #[arg(long)]
    pub free_routing: bool,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub payload: u32,
    /// Open loop: send this many messages per second on a schedule (latency from scheduled time).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Run for this many seconds instead of a message count (needs --rate; sends duration × rate messages).
    #[arg(long, value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// XAUTOCLAIM entries idle at least this many ms (0: no claimer).
    #[arg(long, default_value_t = 0)]
    pub autoclaim_idle: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0, value_parser = parse_secs)]
    pub timeout: f64,
    /// Stream name (also STREAM_NAME).
    #[arg(long)]
    pub stream: Option<String>,
    /// Consumer group (also CONSUMER_GROUP or the seed's CUSTOMER_GROUPNAME).
    #[arg(long)]
    pub group: Option<String>,
    /// Write the result as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Exit 1 when the verdict is not "ok" (lost or unexpected messages).
    #[arg(long)]
    pub strict: bool,
    /// After each pipeline wait for replicas (WAIT) or AOF fsyncs (WAITAOF) before counting the
    /// messages as acknowledged; short replies count as unconfirmed:
    /// none | wait:N[:TIMEOUT_MS] | waitaof:LOCAL:REPLICAS[:TIMEOUT_MS].
    #[arg(long, default_value = "none", value_name = "MODE")]
    pub durability: crate::durability::Durability,
    /// Trim the streams while the run goes on: none | acked (behind the consumer group, never an
    /// unread or pending entry) | maxlen:N (XADD MAXLEN ~ N, as an application capping its
    /// stream; what is trimmed unread is counted as trimmed_unread). Default: acked with
    /// --duration, else none.
    #[arg(long, value_name = "MODE")]
    pub trim: Option<crate::trim::Trim>,
    /// Rewrite the --json report every this many seconds while the run goes on, so an interrupted
    /// run keeps its figures (0: only at the end). Default: 10 with --duration, else 0.
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_zero)]
    pub checkpoint: Option<f64>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The experiments `rcstress scenario` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// Producer and claimer, no consumer, tiny maxmemory: when do OOM and NOGROUP start, what is evicted.
    MemoryPressure,
    /// Kill (or pause, or fail over) masters under load: windows, promotions, what was lost.
    Failover,
    /// Consumers die between read and XACK: does XAUTOCLAIM recover their entries.
    ConsumerCrash,
    /// The same cycle with AOF off / everysec / always / no, repeated: overhead of each.
    AofCompare,
    /// WAIT / WAITAOF / min-replicas under a paused master and a killed shard: acknowledged
    /// writes lost, unconfirmed, and the cost of each mode.
    Durability,
    /// The same cycle on each installed server (Redis, Valkey), AOF off and on.
    Servers,
    /// Consumers stop while producers go on, then resume: backlog peak, drain rate, time to
    /// catch up (or never).
    Backlog,
}

/// `rcstress scenario NAME`. Flags a scenario does not use are ignored; unset ones take the
/// scenario's defaults (see README).
#[derive(Debug, Args, Clone)]
pub struct ScenarioArgs {
    #[arg(value_enum)]
    pub name: ScenarioName,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Messages to send (memory-pressure: the bound on sends attempted).
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub messages: Option<u64>,
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub producers: Option<u16>,
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub consumers: Option<u16>,
    /// XADDs per pipeline and XREADGROUP COUNT (1: the seed's one command per message).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: Option<u32>,
    /// Give up on a run after this many seconds.
    #[arg(long, value_parser = parse_secs)]
    pub timeout: Option<f64>,
    /// Exit 1 when the verdict is not "ok".
    #[arg(long)]
    pub strict: bool,
    /// memory-pressure: stop once this many sends were refused.
    #[arg(long, default_value_t = 2_000, value_parser = parse_count)]
    pub max_failed: u64,
    /// memory-pressure: stream keys (1: the seed's single stream).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub shards: u16,
    /// consumer-crash: chance that a consumer dies after reading a batch, before XACK.
    #[arg(long, default_value_t = 0.05, value_parser = parse_probability)]
    pub crash_probability: f64,
    /// consumer-crash: reclaim what crashed consumers left with XAUTOCLAIM.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub autoclaim: OnOff,
    /// consumer-crash, memory-pressure: XAUTOCLAIM min idle time in ms (the seed's was 300000).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub autoclaim_idle: u64,
    /// aof-compare: the AOF modes to compare (default off,everysec,always,no); servers: the AOF
    /// modes of each server (default off,everysec).
    #[arg(long, value_delimiter = ',', value_parser = parse_aof_mode)]
    pub modes: Vec<crate::scenario::aof::Mode>,
    /// aof-compare, durability, servers: runs of each case, each on a fresh cluster (default 3
    /// for aof-compare, 2 for the others).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: Option<u32>,
    /// durability: the modes to compare (none, wait:N[:MS], waitaof:L:R[:MS], min-replicas:N).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,wait:1,waitaof:1:0,waitaof:0:1,min-replicas:1"
    )]
    pub durability_modes: Vec<crate::scenario::durability::Mode>,
    /// durability: the faults (none: fault-free closed loop for the cost; pause; shard-kill).
    #[arg(long, value_delimiter = ',', default_value = "none,pause,shard-kill")]
    pub faults: Vec<crate::scenario::durability::Fault>,
    /// durability: open-loop rate of the fault runs; backlog: of the producers, msg/s.
    #[arg(long, default_value_t = 3000.0, value_parser = parse_rate)]
    pub rate: f64,
    /// durability: seconds of load in the fault runs (the fault starts after 2 s).
    #[arg(long, default_value_t = 8.0, value_parser = parse_secs)]
    pub duration: f64,
    /// durability: run although the data dir is on tmpfs/ramfs (where AOF measures nothing).
    #[arg(long)]
    pub allow_memory_fs: bool,
    /// servers: the servers to compare (names 'scripts/servers' installs, commands or paths;
    /// default: every installed one of redis7, valkey8, redis8, valkey9).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub servers: Vec<String>,
    /// failover: how many faults (default: until the cluster cannot recover).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub kills: Option<u32>,
    /// failover: restart each killed node once a replica took over.
    #[arg(long)]
    pub restart: bool,
    /// failover: pause (SIGSTOP) masters for this many ms instead of killing them; durability:
    /// how long the pause fault lasts (default 5000, must exceed --node-timeout); backlog: how
    /// long the consumers stop (default 10000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000), conflicts_with = "manual_failover")]
    pub pause_ms: Option<u64>,
    /// backlog: stop the consumers until this many messages wait (instead of --pause-ms).
    #[arg(long, value_parser = parse_count, conflicts_with = "pause_ms")]
    pub backlog_messages: Option<u64>,
    /// backlog: stop the consumers until a master's used_memory reaches this size (e.g. 50mb;
    /// redis.conf units: k = 1000, kb = 1024), for at most --pause-ms (default then 600000).
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size, conflicts_with = "backlog_messages")]
    pub backlog_memory: Option<u64>,
    /// backlog: rewrite the --json file every this many seconds while the scenario goes on
    /// (status "running" with the backlog figures and samples so far).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, requires = "json")]
    pub checkpoint: Option<f64>,
    /// backlog: after the resume, call it "never caught up" and stop after this many seconds.
    #[arg(long, default_value_t = 60.0, value_parser = parse_secs)]
    pub drain_budget: f64,
    /// failover: CLUSTER FAILOVER on a replica instead of killing the master.
    #[arg(long)]
    pub manual_failover: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A probability in [0, 1].
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a probability; write e.g. 0.05"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

fn parse_aof_mode(s: &str) -> Result<crate::scenario::aof::Mode, String> {
    s.parse()
}

/// A count ≥ 1 and ≤ 10^9 (`10000`, `10_000`, `10k`, `1m`).
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "").to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n.to_string(), 1_000),
        None => match t.strip_suffix('m') {
            Some(n) => (n.to_string(), 1_000_000),
            None => (t.clone(), 1),
        },
    };
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    if num.strip_prefix('-').is_some_and(digits) {
        return Err(format!("{s} is negative; must be at least 1"));
    }
    let n: u64 = num.parse().map_err(|_| {
        if digits(&num) {
            format!("'{s}' is too large: at most 1,000,000,000")
        } else {
            format!("'{s}' is not a whole number of messages")
        }
    })?;
    let n = n
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    match n {
        0 => Err("must be at least 1".into()),
        n if n > 1_000_000_000 => Err(format!(
            "{n} is more than the 1,000,000,000 a run can track"
        )),
        n => Ok(n),
    }
}

/// A memory size as redis.conf writes it (`50mb`, `2gb`, `500k`, `1048576`), from 1 byte to
/// 1 TB.
pub fn parse_memory_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match &t[digits.len()..] {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return Err(format!("'{s}' is not a size; write e.g. 50mb or 1gb")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size; write e.g. 50mb or 1gb"))?;
    match n.checked_mul(unit) {
        Some(b) if (1..=1u64 << 40).contains(&b) => Ok(b),
        _ => Err(format!("'{s}' must be between 1 byte and 1 TB")),
    }
}

fn parse_positive(s: &str, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of {what}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a positive number of {what}"))
    }
}

/// Seconds > 0, at most a week.
pub fn parse_secs(s: &str) -> Result<f64, String> {
    let v = parse_positive(s, "seconds")?;
    if v > 7.0 * 86400.0 {
        return Err("must be at most a week (604800 seconds)".into());
    }
    Ok(v)
}

/// Seconds, where 0 means "off".
pub fn parse_secs_or_zero(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        _ => parse_secs(s),
    }
}

/// A moment as Unix seconds (after 2001, so milliseconds and small numbers are caught).
pub fn parse_secs_since_epoch(s: &str) -> Result<f64, String> {
    let v = parse_positive(s, "seconds since 1970")?;
    if !(1e9..1e10).contains(&v) {
        return Err(format!(
            "{s} is not a Unix time in seconds (like $(date +%s), about 1.7e9)"
        ));
    }
    Ok(v)
}

/// Messages per second > 0.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    parse_positive(s, "messages per second")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accept_suffixes_and_reject_zero_negative_and_junk() {
        assert_eq!(parse_count("20000"), Ok(20_000));
        assert_eq!(parse_count("10_000"), Ok(10_000));
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("2M"), Ok(2_000_000));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(parse_count("-5").unwrap_err().contains("negative"));
        assert!(parse_count("ten")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(parse_count("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_count("5000m").unwrap_err().contains("more than"));
    }

    #[test]
    fn run_parses_the_design_contract() {
        let o = Opts::try_parse_from([
            "rcstress",
            "run",
            "--messages",
            "20000",
            "--producers",
            "2",
            "--consumers",
            "4",
            "--aof",
            "on",
            "--fsync",
            "always",
            "--nodes",
            "127.0.0.1:7000,127.0.0.1:7001",
            "--json",
            "r.json",
        ])
        .unwrap();
        let Command::Run(r) = o.command else {
            panic!("not run")
        };
        assert_eq!((r.messages, r.producers, r.consumers), (20_000, 2, 4));
        assert_eq!(
            (r.cluster.aof, r.cluster.fsync),
            (OnOff::On, FsyncArg::Always)
        );
        assert_eq!(r.json, Some(PathBuf::from("r.json")));
    }

    #[test]
    fn scenario_parses_names_shared_and_own_flags() {
        let o = Opts::try_parse_from([
            "rcstress",
            "scenario",
            "aof-compare",
            "--repeat",
            "2",
            "--modes",
            "off,always",
            "--messages",
            "5k",
            "--json",
            "a.json",
            "--html",
            "a.html",
            "--replicas",
            "0",
        ])
        .unwrap();
        let Command::Scenario(s) = o.command else {
            panic!("not scenario")
        };
        assert_eq!(s.name, ScenarioName::AofCompare);
        assert_eq!(
            (s.repeat, s.messages, s.cluster.replicas),
            (Some(2), Some(5_000), 0)
        );
        assert_eq!(s.modes.len(), 2);
        assert_eq!(s.html, Some(PathBuf::from("a.html")));
        for name in [
            "memory-pressure",
            "failover",
            "consumer-crash",
            "durability",
            "servers",
        ] {
            assert!(
                Opts::try_parse_from(["rcstress", "scenario", name]).is_ok(),
                "{name}"
            );
        }
        for bad in [
            vec!["rcstress", "scenario", "meltdown"],
            vec![
                "rcstress",
                "scenario",
                "consumer-crash",
                "--crash-probability",
                "1.5",
            ],
            vec![
                "rcstress",
                "scenario",
                "aof-compare",
                "--modes",
                "off,sometimes",
            ],
            vec![
                "rcstress",
                "scenario",
                "failover",
                "--pause-ms",
                "100",
                "--manual-failover",
            ],
        ] {
            assert!(Opts::try_parse_from(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn memory_sizes_read_as_redis_conf_writes_them() {
        assert_eq!(parse_memory_size("50mb"), Ok(50 << 20));
        assert_eq!(parse_memory_size("50m"), Ok(50_000_000));
        assert_eq!(parse_memory_size(" 2GB "), Ok(2 << 30));
        assert_eq!(parse_memory_size("1024"), Ok(1024));
        for bad in [
            "",
            "mb",
            "-5mb",
            "5 mb",
            "5tb",
            "2000gb",
            "99999999999999999999",
        ] {
            assert!(parse_memory_size(bad).is_err(), "{bad:?} was accepted");
        }
        let o = Opts::try_parse_from([
            "rcstress",
            "scenario",
            "backlog",
            "--backlog-memory",
            "50mb",
            "--pause-ms",
            "60000",
        ])
        .unwrap();
        let Command::Scenario(s) = o.command else {
            panic!("not a scenario")
        };
        assert_eq!(
            (s.backlog_memory, s.pause_ms),
            (Some(50 << 20), Some(60_000))
        );
    }

    #[test]
    fn bad_flags_are_rejected() {
        for args in [
            vec!["rcstress", "run", "--messages", "0"],
            vec!["rcstress", "run", "--messages", "abc"],
            vec!["rcstress", "run", "--bogus"],
            vec!["rcstress", "run", "--aof", "maybe"],
            vec!["rcstress", "run", "--rate", "-3"],
            vec!["rcstress", "run", "--masters", "0"],
            vec!["rcstress", "run", "--trim", "maxlen:0"],
            vec!["rcstress", "run", "--trim", "sometimes"],
            vec!["rcstress", "run", "--checkpoint", "-1"],
            vec![
                "rcstress",
                "scenario",
                "backlog",
                "--pause-ms",
                "5",
                "--backlog-messages",
                "9",
            ],
            vec![
                "rcstress",
                "scenario",
                "backlog",
                "--backlog-memory",
                "50 parsecs",
            ],
            vec!["rcstress", "scenario", "backlog", "--backlog-memory", "0mb"],
            vec![
                "rcstress",
                "scenario",
                "backlog",
                "--backlog-memory",
                "5mb",
                "--backlog-messages",
                "9",
            ],
            vec!["rcstress", "frobnicate"],
        ] {
            assert!(
                Opts::try_parse_from(&args).is_err(),
                "{args:?} was accepted"
            );
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// `--messages`: no input panics; what parses is within 1..=10^9.
            #[test]
            fn parse_count_never_panics(s in "\\PC*|-?[0-9_]{0,25}[kKmM]?") {
                if let Ok(n) = parse_count(&s) {
                    prop_assert!((1..=1_000_000_000).contains(&n));
                }
                let _ = parse_secs(&s);
                let _ = parse_rate(&s);
            }
        }
    }
}
