//! A run of the cycle: producers XADD, consumers XREADGROUP and XACK, a claimer XAUTOCLAIMs,
//! the ledger counts every message, and the run ends by itself (all acked, quiet, or deadline).
//!
//! # Layout
//! - this file: what a run does ([`Workload`]) and the public paths of the module.
//! - `live`: the counters a caller watches ([`Live`]) and the state the run's tasks share.
//! - `budget`: messages per pipeline and per read, sized from the payload; response timeouts.
//! - `route`: which shard a message belongs to ([`shard_of`]) and each producer lane's share.
//! - `run`: set-up, the tasks, and when the run is over ([`run`]).
//! - `produce`: producer lanes (XADD pipelines and their durability wait).
//! - `consume`: consumers (XREADGROUP, XACK) and the claimer (XAUTOCLAIM).
//! - `reconcile`: the ledger against what Redis holds at the end ([`cross_check`], [`settle`]).
//! - `result`: what a run returns ([`RunResult`]) and its notes.

use serde::Serialize;

use crate::durability::Durability;
use crate::trim::Trim;
use crate::{Error, Result};

mod budget;
mod consume;
mod live;
mod produce;
mod reconcile;
mod result;
mod route;
mod run;

pub use budget::Budget;
pub use live::Live;
pub use reconcile::{cross_check, settle, CrossCheck, WriteAudit};
pub use result::{notes, peak_rss_bytes, RawRun, RunResult};
pub use route::shard_of;
pub use run::run;

/// The claimer: XAUTOCLAIM of entries idle at least `min_idle`, every `interval`.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimerOptions {
    pub min_idle_ms: u64,
    pub interval_ms: u64,
}

/// What a run does. Defaults: 3 producers and 3 consumers over one shard per master, batches of
/// 1000 (XADDs per pipeline, XREADGROUP COUNT), a 64-byte payload.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    pub messages: u64,
    pub producers: usize,
    pub consumers: usize,
    /// Shard keys; 0 = one per master.
    pub shards: usize,
    /// XADDs per pipeline and XREADGROUP COUNT; 1 = the seed's one command per message.
    pub batch: usize,
    /// Pipelines in flight per producer and shard (one lane each, bound to its shard).
    pub inflight: usize,
    /// Lanes take the producer's next messages whatever their shard, so a fast shard takes the
    /// messages of a slow one: more closed-loop throughput on an uneven cluster, but a stalled
    /// shard's messages go elsewhere and the stall is hidden instead of measured. Off by default:
    /// a message's shard is fixed by the message (see [`shard_of`]).
    pub free_routing: bool,
    pub payload_bytes: usize,
    pub stream: String,
    pub group: String,
    /// Consumer groups reading the stream, each every message with `consumers` consumers; the
    /// first is `group` (see [`Workload::group_names`]).
    pub groups: usize,
    /// XREADGROUP BLOCK (ms).
    pub block_ms: u64,
    /// Open-loop rate (messages/s over all producers); `None` = as fast as acks allow.
    pub rate: Option<f64>,
    pub claimer: Option<ClaimerOptions>,
    /// Chance that a consumer dies after reading a batch and before XACK (then a new consumer,
    /// under a new name, takes its place).
    pub crash_probability: f64,
    /// Hard bound on the whole run.
    pub deadline_ms: u64,
    /// End early once producers are done and nothing was acked for this long.
    pub quiet_ms: u64,
    /// Delete the shard keys before the run (a clean slate).
    pub reset: bool,
    /// This process's part of a distributed run (`rcstress worker`); `None` for a run on its own.
    pub worker: Option<WorkerPart>,
    /// What producers wait for after each pipeline (WAIT / WAITAOF) before a message counts as
    /// acknowledged.
    pub durability: Durability,
    /// How the streams are trimmed while the run goes on ([`Trim`]).
    pub trim: Trim,
    /// The producers' response timeout floor, ms (`--response-timeout`); `None`: 2 s. A client
    /// that gives up sooner than a stalled master resumes never sees the writes that master
    /// then acknowledges and discards: this setting decides which client a figure stands for.
    /// Reports show the floor in force (2000 when unset).
    #[serde(serialize_with = "floor_ms")]
    pub response_timeout_ms: Option<u64>,
    /// Scan every shard at the end and audit every write against it ([`WriteAudit`]), delivered
    /// or not: what the fault scenarios need to see writes rolled back after a consumer read them.
    pub audit_writes: bool,
}

/// A response timeout as reports show it: the floor in force.
fn floor_ms<S: serde::Serializer>(v: &Option<u64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(v.unwrap_or(Budget::DEFAULT_TIMEOUT.as_millis() as u64))
}

/// How late a worker may still join a distributed run's common start, which is also how much
/// earlier than this worker's start another worker's messages may have been sent (`--start-in`
/// gives each worker its own start).
pub const MAX_LATE: std::time::Duration = std::time::Duration::from_secs(60);

/// One worker's part of a distributed run: which global producer and consumer ids are its own,
/// and when the load starts on every worker. Its `producers`, `consumers` and `rate` are already
/// its share; `messages` is the sum of its producers' messages.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerPart {
    /// Global id of this worker's first producer (ids are disjoint across workers).
    pub producer_offset: u32,
    /// Global index of this worker's first consumer (consumer names are disjoint across workers).
    pub consumer_offset: usize,
    /// Messages of every producer of the whole run, by global producer id.
    pub run_per_producer: Vec<u64>,
    /// Consumers of the whole run: shards are shared out over all of them.
    pub run_consumers: usize,
    /// The common start, µs since the epoch: no engine gives a start barrier, so every worker
    /// sets up, then waits for this moment.
    pub start_at_us: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            messages: 10_000,
            producers: 3,
            consumers: 3,
            shards: 0,
            batch: 1000,
            inflight: 2,
            free_routing: false,
            payload_bytes: 64,
            stream: "rcstress".into(),
            group: "rcstress-group".into(),
            groups: 1,
            block_ms: 100,
            rate: None,
            claimer: None,
            crash_probability: 0.0,
            deadline_ms: 300_000,
            quiet_ms: 5_000,
            reset: true,
            worker: None,
            durability: Durability::None,
            trim: Trim::None,
            response_timeout_ms: None,
            audit_writes: false,
        }
    }
}

impl Workload {
    /// The seed's client: one producer, one consumer, one stream key, one command per message.
    pub fn seed_style() -> Workload {
        Workload {
            producers: 1,
            consumers: 1,
            shards: 1,
            batch: 1,
            inflight: 1,
            ..Workload::default()
        }
    }

    /// Messages producer `p` sends: an even split, the remainder to the first ones.
    pub fn per_producer(&self) -> Vec<u64> {
        let p = self.producers.max(1) as u64;
        (0..p)
            .map(|i| self.messages / p + u64::from(i < self.messages % p))
            .collect()
    }

    /// Messages of each of this process's producers (its share in a distributed run).
    pub fn own_per_producer(&self) -> Vec<u64> {
        match &self.worker {
            Some(w) => {
                let first = w.producer_offset as usize;
                w.run_per_producer[first..first + self.producers].to_vec()
            }
            None => self.per_producer(),
        }
    }

    /// The consumer groups' names: `group`, then `group-2`, `group-3`, ... (the first keeps its
    /// name so that a one-group run is exactly the run it always was).
    pub fn group_names(&self) -> Vec<String> {
        (1..=self.groups.max(1))
            .map(|i| match i {
                1 => self.group.clone(),
                i => format!("{}-{i}", self.group),
            })
            .collect()
    }

    /// Checks the numbers make sense; the message says which flag to fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.into()));
        if self.messages == 0 {
            return bad("--messages must be at least 1");
        }
        if !(1..=64).contains(&self.groups) {
            return bad("--groups must be between 1 and 64");
        }
        if self.producers == 0 {
            return bad("--producers must be at least 1");
        }
        if self.batch == 0 || self.inflight == 0 {
            return bad("--batch and --inflight must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.crash_probability) {
            return bad("--crash-probability must be between 0 and 1");
        }
        if self.free_routing && self.trim.maxlen().is_some() {
            // trimmed_unread is settled per shard, which needs each message's shard fixed.
            return bad("--trim maxlen:N needs keyed routing; drop --free-routing");
        }
        if self.response_timeout_ms == Some(0) {
            return bad("--response-timeout must be above 0");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return bad("--rate must be a positive number of messages per second");
            }
        }
        if let Some(w) = &self.worker {
            if w.producer_offset as usize + self.producers > w.run_per_producer.len()
                || w.consumer_offset + self.consumers > w.run_consumers
            {
                return bad("a worker's producers or consumers lie outside the run's");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Workload;

    #[test]
    fn the_first_group_keeps_its_name_and_the_others_are_numbered() {
        let wl = Workload {
            group: "billing".into(),
            groups: 3,
            ..Default::default()
        };
        assert_eq!(wl.group_names(), ["billing", "billing-2", "billing-3"]);
        assert_eq!(Workload::default().group_names(), ["rcstress-group"]);
    }

    #[test]
    fn groups_outside_1_to_64_are_refused_with_the_flag_named() {
        for (groups, ok) in [(0, false), (1, true), (64, true), (65, false)] {
            let wl = Workload {
                groups,
                ..Default::default()
            };
            match wl.validate() {
                Ok(()) => assert!(ok, "{groups} accepted"),
                Err(e) => {
                    assert!(!ok, "{groups} refused: {e}");
                    assert!(e.to_string().contains("--groups"), "{e}");
                }
            }
        }
    }
}
