//! The command line of `rcstress`: clap types, with the value parsers in [`parse`], the cluster
//! flags in [`cluster`] and one subcommand per experiment in [`scenario`]. Tests and other
//! programs call `Opts::try_parse_from`.

pub mod cluster;
pub mod parse;
mod refusal;
pub mod scenario;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use cluster::{ClusterArgs, FsyncArg, LocalArgs, OnOff};
pub use parse::{
    parse_count, parse_probability, parse_rate, parse_secs, parse_secs_or_zero,
    parse_secs_since_epoch,
};
pub use refusal::error_line;
pub use scenario::ScenarioCommand;

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

impl Opts {
    /// True when the command cuts the network (a partition fault): then the whole process must
    /// run in a private network namespace, made before any thread starts.
    pub fn needs_private_network(&self) -> bool {
        match &self.command {
            Command::Scenario(ScenarioCommand::Durability(a)) => a
                .faults
                .contains(&crate::scenario::durability::Fault::Partition),
            Command::Scenario(ScenarioCommand::Failover(a)) => a.partition.is_some(),
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cycle for a fixed number of messages (or a duration) and report.
    Run(RunCommand),
    /// Manage an embedded cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run one experiment and report: the four of the seed (the original client whose findings
    /// this tool re-checks; see the README): memory-pressure, failover, consumer-crash,
    /// aof-compare; then durability, servers, backlog.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
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
    /// `--json` (the fields of `rcstress run --json`), `--html`, `--strict`.
    #[command(flatten)]
    pub output: scenario::Output,
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
    Up(LocalArgs),
}

/// `rcstress run`: a run's flags and the HTML page (a worker writes no page; `merge` does).
#[derive(Debug, Args, Clone)]
pub struct RunCommand {
    #[command(flatten)]
    pub run: RunArgs,
    /// Write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// A run's flags (`rcstress run`, and the whole run's in `rcstress worker`).
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Messages to send in all.
    #[arg(long, default_value_t = 10_000, value_parser = parse_count, allow_negative_numbers = true)]
    pub messages: u64,
    /// Producer tasks; each sends its share of --messages over its own connection.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub producers: u16,
    /// Consumer tasks in one consumer group, each with its own connection (0: produce only).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub consumers: u16,
    /// Consumer groups on the stream (fan-out), each reading every message with its own
    /// --consumers; the first is --group, the others --group-2, --group-3, ...
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub groups: u16,
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
    #[command(flatten)]
    pub client_timeout: scenario::ClientTimeout,
    /// Trim the streams while the run goes on: none | acked (behind the consumer group, never an
    /// unread or pending entry) | maxlen:N (XADD MAXLEN ~ N, as an application capping its
    /// stream; what is trimmed unread is counted as trimmed_unread). Default: acked with
    /// --duration, else none.
    #[arg(long, value_name = "MODE")]
    pub trim: Option<crate::trim::Trim>,
    /// Rewrite the --json report (and the --html page, with the progress so far) every this many
    /// seconds while the run goes on, so an interrupted run keeps its figures (0: only at the
    /// end). Default: 10 with --duration, else 0.
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_zero)]
    pub checkpoint: Option<f64>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Command::Run(RunCommand { run: r, html }) = o.command else {
            panic!("not run")
        };
        assert_eq!(html, None);
        assert_eq!((r.messages, r.producers, r.consumers), (20_000, 2, 4));
        let aof = &r.cluster.local.aof;
        assert_eq!((aof.aof, aof.fsync), (OnOff::On, FsyncArg::Always));
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
        let Command::Scenario(ScenarioCommand::AofCompare(s)) = o.command else {
            panic!("not aof-compare")
        };
        assert_eq!(
            (
                s.cases.nodes.repeat,
                s.cases.common.messages.messages,
                s.cases.nodes.shape.replicas
            ),
            (Some(2), Some(5_000), 0)
        );
        assert_eq!(s.cases.modes.len(), 2);
        assert_eq!(
            s.cases.common.clients.output.html,
            Some(PathBuf::from("a.html"))
        );
        for name in [
            "memory-pressure",
            "failover",
            "consumer-crash",
            "durability",
            "servers",
            "backlog",
        ] {
            assert!(
                Opts::try_parse_from(["rcstress", "scenario", name]).is_ok(),
                "{name}"
            );
        }
    }

    /// Bad values, conflicting flags, and flags that do not belong to the (sub)command.
    #[test]
    fn scenario_flags_that_do_not_belong_are_refused() {
        refused(&[
            "scenario meltdown",
            "scenario consumer-crash --crash-probability 1.5",
            "scenario aof-compare --modes off,sometimes",
            "scenario failover --pause-ms 100 --manual-failover",
            // A flag of another scenario, or one this scenario would ignore, is refused.
            "scenario failover --crash-probability 0.5",
            "scenario failover --modes off",
            "scenario failover --aof on",
            "scenario aof-compare --aof on",
            "scenario servers --server valkey8",
            "scenario memory-pressure --consumers 2",
            "scenario backlog --messages 10",
            "scenario durability --min-replicas 1",
            "cluster up --nodes 127.0.0.1:7000",
            "worker --html w.html",
        ]);
    }

    /// Asserts that clap refuses each command line (`rcstress` and words split at spaces).
    fn refused(lines: &[&str]) {
        for line in lines {
            let args = std::iter::once("rcstress").chain(line.split_whitespace());
            assert!(Opts::try_parse_from(args).is_err(), "'{line}' was accepted");
        }
    }

    #[test]
    fn bad_flags_are_rejected() {
        refused(&[
            "run --messages 0",
            "run --messages abc",
            "run --bogus",
            "run --aof maybe",
            "run --rate -3",
            "run --masters 0",
            "run --trim maxlen:0",
            "run --trim sometimes",
            "run --checkpoint -1",
            "scenario backlog --pause-ms 5 --backlog-messages 9",
            "frobnicate",
        ]);
    }
}
