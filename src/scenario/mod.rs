//! The seed's four experiments as repeatable scenarios: each drives its faults itself, keeps the
//! load running through them, and returns a [`ScenarioReport`]: the checker's verdict and counts,
//! findings, and the scenario's own fields as a typed [`Detail`] (`report.rs`), which the JSON,
//! the summary and the HTML page all read.
//!
//! One file per experiment: `memory` (memory-pressure), `failover`, `crash` (consumer-crash),
//! `aof` (aof-compare), `durability` (WAIT / WAITAOF / min-replicas under faults), `servers`
//! (the same load on each installed server), `backlog` (consumers stop, then drain while
//! producers go on).

pub mod aof;
pub mod backlog;
pub mod crash;
pub mod cut;
pub mod durability;
pub mod failover;
pub mod memory;
pub mod servers;

mod report;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::check::Counts;
use crate::cluster::ClusterFacts;
use crate::workload::Live;

pub use report::{Detail, Event, Outcome, RunEnd, ScenarioReport};

/// Runs `work` with a fresh [`Live`] of its own (each run needs its own start instant) while
/// mirroring its counters into `outer` for progress and passing `outer.stop` on to it: how a
/// scenario made of several runs stays stoppable by one Ctrl-C.
pub async fn with_child_live<F, Fut, T>(outer: &Arc<Live>, work: F) -> T
where
    F: FnOnce(Arc<Live>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let inner = Arc::new(Live::default());
    // The counters a scenario's progress shows: the outer one is the base plus the inner run's.
    fn counters(l: &Live) -> [&AtomicU64; 5] {
        [&l.attempted, &l.produced, &l.acked, &l.errors, &l.crashes]
    }
    let base = counters(outer).map(|c| c.load(Relaxed));
    let mirror = {
        let (outer, inner) = (outer.clone(), inner.clone());
        tokio::spawn(async move {
            // Ends when aborted below; each turn is a few atomic loads.
            loop {
                if outer.stop.load(Relaxed) {
                    inner.stop.store(true, Relaxed);
                }
                for ((o, i), b) in counters(&outer).iter().zip(counters(&inner)).zip(base) {
                    o.store(b + i.load(Relaxed), Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let out = work(inner).await;
    mirror.abort();
    out
}

/// One finding per disagreement between the ledger and Redis, prefixed "cross-check:".
pub(crate) fn cross_check_findings<D>(
    report: ScenarioReport<D>,
    disagreements: &[String],
) -> ScenarioReport<D> {
    disagreements
        .iter()
        .fold(report, |r, d| r.finding(format!("cross-check: {d}")))
}

/// Starts an embedded cluster for a scenario, saying so on its progress line with the words
/// `run` and `backlog` use ([`crate::progress::starting_line`]).
pub(crate) async fn start_cluster(
    opts: crate::cluster::LocalClusterOptions,
    live: &Live,
) -> crate::Result<crate::LocalCluster> {
    let before = live.phase();
    live.set_phase(crate::progress::starting_line(&opts));
    let cluster = crate::LocalCluster::start(opts).await;
    live.set_phase(before);
    cluster
}

/// Runs `one(round, item)` for every round of `repeat` and every item of `grid`, interleaved
/// (all items of round 1, then of round 2, ...) so that a machine that slows down over time
/// biases no item; stops between runs once `live.stop` is set. Errors if not even one ran. The
/// progress line says "run k of n: " and the item as `describe` names it.
pub(crate) async fn interleaved<'g, T, R, F, Fut>(
    scenario: &str,
    live: &Live,
    repeat: usize,
    grid: &'g [T],
    describe: impl Fn(&T) -> String,
    mut one: F,
) -> crate::Result<Vec<R>>
where
    F: FnMut(usize, &'g T) -> Fut,
    Fut: std::future::Future<Output = crate::Result<R>>,
{
    let mut out = Vec::new();
    let total = repeat * grid.len();
    'rounds: for round in 1..=repeat {
        for item in grid {
            if live.stop.load(Relaxed) {
                break 'rounds;
            }
            live.set_phase(format!(
                "run {} of {total}: {}",
                out.len() + 1,
                describe(item)
            ));
            out.push(one(round, item).await?);
        }
    }
    if out.is_empty() {
        return Err(crate::Error::Config(format!(
            "{scenario} stopped before its first run finished"
        )));
    }
    Ok(out)
}

/// Folds the facts of one more cluster of a scenario into those of the first: its server and
/// data dirs stand for all, every distinct warning is kept.
pub(crate) fn merge_facts(seen: &mut ClusterFacts, facts: ClusterFacts) {
    if seen.data_dirs.is_empty() {
        seen.data_dirs = facts.data_dirs;
        seen.server = facts.server;
    }
    for w in facts.warnings {
        if !seen.warnings.contains(&w) {
            seen.warnings.push(w);
        }
    }
}

/// Adds one run's counts to a scenario's total (every count is a sum over runs).
pub(crate) fn add_counts(total: &mut Counts, c: &Counts) {
    total.attempted += c.attempted;
    total.produced += c.produced;
    total.produce_failed += c.produce_failed;
    total.produce_indeterminate += c.produce_indeterminate;
    total.unconfirmed += c.unconfirmed;
    total.delivered += c.delivered;
    total.acked += c.acked;
    total.lost += c.lost;
    total.unverifiable += c.unverifiable;
    total.trimmed_unread += c.trimmed_unread;
    total.duplicated += c.duplicated;
    total.duplicate_writes += c.duplicate_writes;
    total.redelivered += c.redelivered;
    total.recovered += c.recovered;
    total.unexpected += c.unexpected;
    total.pending_at_end += c.pending_at_end;
    total.indeterminate_delivered += c.indeterminate_delivered;
    total.never_delivered += c.never_delivered;
}

/// Mean and sample standard deviation (0 for fewer than two values); never NaN.
pub fn mean_stddev(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (crate::metrics::finite(mean), 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (
        crate::metrics::finite(mean),
        crate::metrics::finite(var.sqrt()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_stddev() {
        assert_eq!(mean_stddev(&[]), (0.0, 0.0));
        assert_eq!(mean_stddev(&[4.0]), (4.0, 0.0));
        let (m, s) = mean_stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m - 5.0).abs() < 1e-12);
        assert!((s - 2.138_089_935).abs() < 1e-6, "{s}");
    }
}
