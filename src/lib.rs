//! redis-cluster-stress: how fast the produce → consume → ack cycle of Redis Streams runs on a
//! Redis Cluster, and what happens to every message under memory pressure, failover, consumer
//! crashes and AOF.
//!
//! # Layout
//! - [`cluster`]: start a local cluster ([`LocalCluster`]) or reach any cluster ([`Endpoint`]).
//! - [`stream`]: the wire level of the cycle (XADD, XREADGROUP, XACK, XAUTOCLAIM) and sharding.
//! - [`workload`]: a run of the cycle ([`Workload`] → [`RunResult`]).
//! - [`check`]: the ledger of every message and the delivery checker.
//! - [`metrics`]: latency histograms, errors by kind, a series over time (per interval and per shard).
//! - [`cost`]: client and server CPU per message, and whether the replicas were in sync.
//! - [`ceiling`]: the server's XADD-only ceiling (redis-benchmark) beside the cycle.
//! - [`config`]: settings from flags, environment and `.env`, resolved in one place per command.
//! - [`cli`] and [`commands`]: the `rcstress` command line (one subcommand per scenario) and what
//!   each command does.
//! - [`shutdown`]: SIGINT / SIGTERM / SIGHUP as a cancellation token passed down.
//! - [`progress`]: the spinner and progress bars on stderr (terminals only).
//! - [`files`]: files written with their mode, and what a SIGKILLed run left behind.
//! - [`scenario`]: the seed's four experiments (memory-pressure, failover, consumer-crash,
//!   aof-compare), and durability, servers and backlog.
//! - [`report`]: JSON, human summaries, and the self-contained HTML page with SVG charts.
//! - [`distributed`]: one run over many processes (`rcstress worker` × N, `rcstress merge DIR`).
//! - [`storage`]: the file system under a node's data (AOF on tmpfs measures nothing).
//! - [`trim`]: `--trim acked | maxlen:N`, bounded streams for long runs, and what trimming removed.
//! - [`durability`]: WAIT / WAITAOF after each producer pipeline, and what they confirmed.
//! - [`units`]: numbers as people read them (a leaf: imports nothing of ours).
//! - [`resp`]: replies read in place from the bytes a node sent (a leaf).
//! - [`error`]: the one [`Error`] type.

pub mod ceiling;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod cost;
pub mod distributed;
pub mod durability;
pub mod error;
pub mod files;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod resp;
pub mod scenario;
pub mod shutdown;
pub mod storage;
pub mod stream;
pub mod trim;
pub mod units;
pub mod workload;

pub use cluster::{Aof, Endpoint, Fsync, LocalCluster, LocalClusterOptions};
pub use error::{Error, Result};
pub use workload::{run, Live, RunResult, Workload};
