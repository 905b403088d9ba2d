//! What a caller watches while a run goes on, and the state the run's tasks share.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;

use super::budget::Budget;
use crate::check::Ledger;
use crate::metrics::{error_kind, ErrorLog, Series};
use crate::stream::Shards;

/// Counters a caller (progress bar, scenario) can watch while the run goes on.
#[derive(Default)]
pub struct Live {
    pub attempted: AtomicU64,
    pub produced: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub crashes: AtomicU64,
    /// Set by the caller to end the run early (Ctrl-C, a scenario that is done).
    pub stop: AtomicBool,
    /// When the load started (after set-up): the zero of `series` and of scenario events.
    pub started: std::sync::OnceLock<Instant>,
    /// Set by the caller to stop producing and let consumers drain what was produced; the run then
    /// ends by itself ("all acked" or "quiet"). A failover scenario's clean end.
    pub drain: AtomicBool,
    /// Per-shard failure spans: the client's view of unavailability during faults.
    pub outages: crate::metrics::ShardOutages,
    /// Set by the caller to hold every consumer (they stop reading, the backlog builds); cleared
    /// to let them go on. The backlog scenario's lever.
    pub pause_consumers: AtomicBool,
    /// What a scenario is doing now ("starting embedded cluster …", "run 2 of 6: …", "kill
    /// master :7000"), for its progress line; empty when there is nothing to say.
    pub phase: std::sync::Mutex<String>,
    /// One bit per consumer group (bit g: group g, 0 the first): set to hold that group's
    /// consumers alone, so one group falls behind while the others keep up.
    pub pause_groups: AtomicU64,
}

impl Live {
    /// Says what the scenario does now (its progress line shows it).
    pub fn set_phase(&self, phase: impl Into<String>) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase.into();
    }

    /// What [`Live::set_phase`] said last.
    pub fn phase(&self) -> String {
        self.phase.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Seconds since the load started (0 before it did).
    pub fn secs(&self) -> f64 {
        self.started
            .get()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// Shared state of one run.
pub(super) struct Shared {
    /// The first consumer group's ledger (the run's `counts`, latency and series).
    pub(super) ledger: Ledger,
    /// The other consumer groups of a fan-out run (`--groups`), each with its own ledger.
    pub(super) fanout: Vec<FanoutGroup>,
    pub(super) live: Arc<Live>,
    pub(super) errors: ErrorLog,
    pub(super) start: Instant,
    /// `start` on the wall clock messages carry (µs since the epoch).
    pub(super) start_us: u64,
    /// Nanoseconds since `start` of the latest XACK / XADD.
    pub(super) last_ack_ns: AtomicU64,
    pub(super) last_produce_ns: AtomicU64,
    pub(super) producers_left: AtomicU64,
    pub(super) stop: AtomicBool,
    /// Send→ack and send→delivery of each message once, at its first ack / delivery.
    pub(super) hist: Mutex<(Histogram<u64>, Histogram<u64>)>,
    /// Send to acknowledged at the producer (XADD, or its durability wait).
    pub(super) confirm_hist: Mutex<Histogram<u64>>,
    pub(super) series: Series,
    pub(super) shards: Shards,
    pub(super) payload: Vec<u8>,
    /// Messages per pipeline and per read.
    pub(super) budget: Budget,
}

/// A consumer group beyond the first: its name and its own ledger. A ledger per group keeps
/// each group's bits in the folding chunks of its own books, so memory grows by one ledger's
/// bytes per group and stays bounded as the first group's does.
pub(super) struct FanoutGroup {
    pub(super) name: String,
    pub(super) ledger: Ledger,
    /// Send→ack and send→delivery of each message once, as `Shared::hist` for the first group.
    pub(super) hist: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

/// One consumer group as its consumers see it: its name, ledger and latency histograms.
pub(super) struct GroupView<'a> {
    pub(super) name: &'a str,
    pub(super) ledger: &'a Ledger,
    pub(super) hist: &'a Mutex<(Histogram<u64>, Histogram<u64>)>,
}

impl Shared {
    /// Every group's ledger, the first group's first: what producers book into.
    pub(super) fn ledgers(&self) -> impl Iterator<Item = &Ledger> {
        std::iter::once(&self.ledger).chain(self.fanout.iter().map(|g| &g.ledger))
    }
    /// Group `g` (0: the first group).
    pub(super) fn group(&self, g: usize) -> GroupView<'_> {
        match g {
            0 => GroupView {
                name: &self.shards.group,
                ledger: &self.ledger,
                hist: &self.hist,
            },
            g => {
                let f = &self.fanout[g - 1];
                GroupView {
                    name: &f.name,
                    ledger: &f.ledger,
                    hist: &f.hist,
                }
            }
        }
    }
    pub(super) fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Relaxed) || self.live.stop.load(Relaxed)
    }
    pub(super) fn shard_index(&self, key: &str) -> Option<usize> {
        self.shards.keys.iter().position(|k| k == key)
    }
    pub(super) fn record_error(&self, e: &redis::RedisError, shard: Option<usize>) {
        let kind = error_kind(e);
        self.series.error(shard);
        self.live.errors.fetch_add(1, Relaxed);
        self.errors.record(
            &kind,
            self.live.attempted.load(Relaxed),
            self.secs(),
            || crate::cluster::short(&e.to_string()),
        );
    }
    /// Counts `e` and books it in `key`'s outage spans (the operation was sent at `sent_at`).
    pub(super) fn record_shard_error(&self, key: &str, sent_at: f64, e: &redis::RedisError) {
        self.record_error(e, self.shard_index(key));
        self.live.outages.failure(key, sent_at, &error_kind(e));
    }
    /// An operation on `key` succeeded: ends the key's outage span, if one is open.
    pub(super) fn record_shard_ok(&self, key: &str) {
        self.live.outages.success(key, self.secs());
    }
}

/// Moves `at` (ns since `start`) forward to now.
pub(super) fn mark(at: &AtomicU64, start: Instant) {
    at.fetch_max(start.elapsed().as_nanos() as u64, Relaxed);
}
