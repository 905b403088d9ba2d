//! failover: the seed's second experiment, repeatable. The load runs while masters are SIGKILLed
//! one at a time (or paused, or failed over by hand), waiting for a replica's promotion between
//! faults. For each fault: which node, when, who took over, how long operations failed on that
//! master's shards and on the others, and the errors by kind. When a master with no replica left
//! is lost the cluster stays down (`cluster_state:fail`): the scenario sees it, stops the load and
//! says so, where the seed's client died and had to be restarted by hand.
//!
//! The checker's counts come with it, so writes Redis acknowledged and then lost to asynchronous
//! replication show up as `lost`, never assumed away.

mod driver;
mod fault;
mod observer;
mod windows;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use crate::cluster::LocalClusterOptions;
use crate::scenario::{RunEnd, ScenarioReport};
use crate::workload::{self, Live, RunResult, Workload};
use crate::{Error, Result};
use driver::Driver;
pub use fault::{Fault, DEFAULT_PARTITION_MS};
use observer::Observer;
pub use windows::node_label;
use windows::{fill_windows, findings};

/// The failover experiment: the cluster to start, the fault, how many, and the load.
#[derive(Clone, Debug, Serialize)]
pub struct FailoverOptions {
    pub masters: usize,
    pub replicas_per_master: usize,
    /// `cluster-node-timeout`: how long a silent node takes to be marked failing. Shorter than
    /// Redis's 15 s (and the seed's 5 s) so a run takes seconds.
    pub node_timeout_ms: u64,
    /// Faults to apply. `None`: with `kill` and no restart, like the seed, kill masters until the
    /// cluster cannot recover (a master with no replica left is lost) or no node is left; with
    /// any other fault or with `restart`, one per original master.
    pub kills: Option<usize>,
    pub fault: Fault,
    /// Bring each killed node back once a replica has taken over; it rejoins as a replica.
    pub restart: bool,
    /// Load before the first fault and after each recovery, so each window stands apart.
    pub settle_ms: u64,
    /// Must be open-loop (`rate`) so the load runs through every fault; `messages` is only a cap.
    pub workload: Workload,
    /// The server to run (`--server`) and where node data goes (`--data-dir`); `None`: defaults.
    pub server: Option<String>,
    pub data_dir: Option<std::path::PathBuf>,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        let rate = 2_000.0;
        let deadline_ms = 600_000;
        FailoverOptions {
            masters: 3,
            replicas_per_master: 1,
            node_timeout_ms: 2_000,
            kills: None,
            fault: Fault::Kill,
            restart: false,
            settle_ms: 2_000,
            server: None,
            data_dir: None,
            workload: Workload {
                messages: (rate * deadline_ms as f64 / 1000.0) as u64,
                producers: 3,
                consumers: 3,
                batch: 10,
                inflight: 2,
                rate: Some(rate),
                deadline_ms,
                quiet_ms: 3_000,
                stream: "rcstress-failover".into(),
                ..Workload::default()
            },
        }
    }
}

impl FailoverOptions {
    /// Checks the options make an experiment; the message says what to change.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.into()));
        if self.masters == 0 {
            return bad("failover needs at least 1 master (3 or more for a failover to be voted)");
        }
        if self.fault == Fault::ManualFailover && self.replicas_per_master == 0 {
            return bad("a manual failover needs replicas: set --replicas 1 or more");
        }
        if self.node_timeout_ms < 100 {
            return bad("--node-timeout must be at least 100 ms");
        }
        if let Fault::Partition { ms, .. } = self.fault {
            if ms <= self.node_timeout_ms {
                return bad("--partition-ms must exceed --node-timeout for the partition to cause a failover");
            }
            if !crate::cluster::netns::is_private() {
                return Err(Error::NoPrivateNetwork(
                    "the partition fault needs the run in its own network namespace (rcstress makes one for --partition; a library caller calls cluster::netns::enter first)".into(),
                ));
            }
        }
        if self.workload.rate.is_none() {
            return bad(
                "failover needs an open-loop --rate so that the load runs through every fault",
            );
        }
        self.workload.validate()
    }

    /// How many faults at most.
    fn max_steps(&self) -> usize {
        match (self.kills, self.fault, self.restart) {
            (Some(n), _, _) => n,
            // Every kill removes a node for good: the cluster is down before we run out.
            (None, Fault::Kill, false) => self.masters * (1 + self.replicas_per_master),
            (None, _, _) => self.masters,
        }
    }

    /// How long every surviving node must say `cluster_state:fail`, with no replica left to
    /// promote, before the cluster is called down for good.
    fn down_after(&self) -> Duration {
        Duration::from_millis((2 * self.node_timeout_ms).max(2_000))
    }

    /// Bound on one step: failure detection (node-timeout), an election that may be retried
    /// (Redis waits 2 × node-timeout between attempts), and the pause itself.
    fn step_timeout(&self) -> Duration {
        let pause = match self.fault {
            Fault::Pause { ms } | Fault::Partition { ms, .. } => ms,
            _ => 0,
        };
        Duration::from_millis(6 * self.node_timeout_ms + pause + 10_000)
    }
}

/// A node rejoining after `--restart`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Rejoin {
    /// Seconds since the load started.
    pub t: f64,
    /// Until it said it is a replica, with the cluster ok; `None` if not within the bound.
    pub rejoined_after_s: Option<f64>,
    /// e.g. "replica of :7004".
    pub role: String,
}

/// One fault and what followed; the elements of the report's `kills`.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct KillRecord {
    pub step: usize,
    pub fault: String,
    /// `:port` of the master hit.
    pub node: String,
    /// Seconds since the load started.
    pub t: f64,
    /// Until the survivors flagged it `fail` (server view).
    pub marked_fail_after_s: Option<f64>,
    /// `:port` of the node that serves its slots afterwards, if another one does.
    pub promoted: Option<String>,
    pub promoted_after_s: Option<f64>,
    /// "promoted", "no failover" (a short pause), "cluster down", "not recovered".
    pub outcome: String,
    /// How long the survivors said `cluster_state:fail` (server view).
    pub cluster_state_fail_s: f64,
    /// Time with failed operations on the shards this master served (client view: union of the
    /// spans from the first failed send to the next success).
    pub shard_window_s: f64,
    /// The same on the other masters' shards: the cluster-wide CLUSTERDOWN between FAIL and the
    /// promotion.
    pub other_shards_window_s: f64,
    /// Errors during this step's spans by kind (as the run's `errors`).
    pub errors: BTreeMap<String, u64>,
    /// Send→ack latency of the messages of the shards this master served, acked from the fault
    /// to the next one (or the end): the highest interval p99 and the maximum, µs. Messages wait
    /// for their shard, so its outage shows here.
    pub shard_p99_us: u64,
    pub shard_max_us: u64,
    /// The same on the other masters' shards.
    pub other_shards_p99_us: u64,
    /// The shards (indices into the report's `shard_keys`) whose keys this master served.
    pub shards: Vec<usize>,
    /// Messages of those shards acked from the fault to the next one: 0 means `shard_p99_us`
    /// and `shard_max_us` measured nothing (the shard did not come back before the end).
    pub shard_acked: u64,
    pub restarted: Option<Rejoin>,
    /// A partition's timeline: when the cut master last took a write, when it refused, when its
    /// replica took over, when it was demoted after the heal (partition faults only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::scenario::cut::CutTimeline>,
    /// The slot ranges it served (to find its shards' keys).
    #[serde(skip)]
    pub(crate) slots: Vec<(u16, u16)>,
}

/// failover's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FailoverDetail {
    /// One record per fault, in order.
    pub kills: Vec<KillRecord>,
    /// "ok" or "fail" as the surviving nodes say at the end.
    pub final_cluster_state: String,
    pub node_timeout_ms: u64,
    #[serde(flatten)]
    pub end: RunEnd,
}

/// What the seed's experiment saw, which this scenario repeats by default.
const SEED_SAW: &str = "the seed killed masters one after another: each kill cost a few seconds of CLUSTERDOWN until a replica took over, and once a shard's master had no replica left the cluster went down and stayed down (so a final \"down\" after the last kill is the expected end, not a fault of the tool)";

/// Error kinds every step reports, 0 included, so steps compare side by side (others are added
/// as they occur).
const NAMED_ERRORS: [&str; 5] = ["CLUSTERDOWN", "MOVED", "TRYAGAIN", "io", "timeout"];

/// How the series of faults ended.
enum Ending {
    /// Every step recovered (or the step count ran out).
    Recovered,
    /// The cluster stays down: `cluster_state:fail` on every survivor.
    Down(String),
    /// A step did not recover within its bound and the cluster is not down either.
    Stuck(String),
}

/// Runs the failover experiment on a fresh local cluster and reports every fault.
pub async fn run(opts: &FailoverOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    opts.validate()?;
    let mut opts = opts.clone();
    // A pause's client outwaits the pause unless told otherwise, as redis-py or Lettuce do; the
    // report's config shows the timeout the run used.
    if let (Fault::Pause { ms }, None) = (opts.fault, opts.workload.response_timeout_ms) {
        opts.workload.response_timeout_ms = Some(ms + 10_000);
    }
    opts.workload.audit_writes = true;
    let opts = &opts;
    let cluster = super::start_cluster(
        LocalClusterOptions {
            masters: opts.masters,
            replicas_per_master: opts.replicas_per_master,
            node_timeout_ms: opts.node_timeout_ms,
            server: opts.server.clone(),
            data_dir: opts.data_dir.clone(),
            own_addresses: matches!(opts.fault, Fault::Partition { .. }),
            ..LocalClusterOptions::default()
        },
        &live,
    )
    .await?;
    let facts = crate::cluster::ClusterFacts::of_local(&cluster);
    let load = {
        let (ep, wl, live) = (
            cluster.endpoint().clone(),
            opts.workload.clone(),
            live.clone(),
        );
        tokio::spawn(async move { workload::run(&ep, &wl, live).await })
    };
    let mut driver = Driver {
        cluster: &cluster,
        live: &live,
        opts,
        observer: Observer::new(&cluster),
        events: Vec::new(),
        steps: Vec::new(),
    };
    let ending = driver.drive(&load).await;
    // End the load: drain what was produced when the cluster serves, stop at once when it is down.
    match &ending {
        Ok(Ending::Recovered) => live.drain.store(true, Relaxed),
        _ => live.stop.store(true, Relaxed),
    }
    let run = finish_load(load, &opts.workload, &live).await;
    let Driver {
        mut observer,
        events,
        mut steps,
        ..
    } = driver;
    let ending = ending?;
    let run = run?;
    let final_state = observer.final_state().await;
    let key_slots = observer.key_slots(&run.shard_keys).await;
    fill_windows(&mut steps, &live.outages.spans(), &key_slots, &run);
    for t in steps.iter_mut().filter_map(|k| k.partition.as_mut()) {
        t.add_shard_latency(&run.series, &run.shard_keys);
    }
    // The verdict is the checker's (lost and unexpected); how the faults ended is the outcome,
    // which the page and the summary say first.
    let (ending_text, ok) = match &ending {
        Ending::Recovered => (
            format!(
                "recovered from every fault (final cluster_state {final_state}); {}",
                windows::data_outcome(&run)
            ),
            true,
        ),
        Ending::Down(why) => (
            format!(
                "down at the end (final cluster_state {final_state}): {why}; the load was stopped; {}",
                windows::data_outcome(&run)
            ),
            false,
        ),
        Ending::Stuck(why) => (format!("not recovered: {why}"), false),
    };
    let config = serde_json::to_value(opts).unwrap_or(serde_json::Value::Null);
    let mut report = ScenarioReport::from_run("failover", config, &run)
        .with_facts(&facts)
        .outcome(ending_text, ok)
        .expected(SEED_SAW);
    for f in findings(&steps, &run, opts.node_timeout_ms) {
        report = report.finding(f);
    }
    for k in &steps {
        if let Some(t) = &k.partition {
            report = report.finding(format!("fault {}: {}", k.step, t.sentence(None, None)));
        }
    }

    report.events = events;
    Ok(report.with_detail(FailoverDetail {
        kills: steps,
        final_cluster_state: final_state,
        node_timeout_ms: opts.node_timeout_ms,
        end: RunEnd::of(&run),
    }))
}

/// Waits for the load to end by itself (it was told to drain or stop), within a bound; past it the
/// load is stopped, then aborted.
async fn finish_load(
    mut load: tokio::task::JoinHandle<Result<RunResult>>,
    wl: &Workload,
    live: &Live,
) -> Result<RunResult> {
    let bound = Duration::from_millis(wl.quiet_ms + wl.block_ms + 60_000);
    match tokio::time::timeout(bound, &mut load).await {
        Ok(joined) => {
            return joined.map_err(|e| Error::Config(format!("the load task failed: {e}")))?
        }
        Err(_) => live.stop.store(true, Relaxed),
    }
    match tokio::time::timeout(Duration::from_secs(30), &mut load).await {
        Ok(joined) => joined.map_err(|e| Error::Config(format!("the load task failed: {e}")))?,
        Err(_) => {
            load.abort();
            Err(Error::Timeout {
                what: "the load to stop after the faults".into(),
                secs: bound.as_secs_f64() + 30.0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps_follow_the_seed_until_the_cluster_is_down() {
        let o = FailoverOptions::default();
        assert_eq!(o.max_steps(), 6, "3+3 nodes: at most every node");
        let manual = FailoverOptions {
            fault: Fault::ManualFailover,
            ..FailoverOptions::default()
        };
        assert_eq!(manual.max_steps(), 3);
        let restart = FailoverOptions {
            restart: true,
            ..FailoverOptions::default()
        };
        assert_eq!(restart.max_steps(), 3);
        assert!(FailoverOptions {
            workload: Workload::default(),
            ..FailoverOptions::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--rate"));
        assert!(o.validate().is_ok());
    }
}
