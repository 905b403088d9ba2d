//! What the client saw per fault: the run's per-shard failure spans turned into each step's
//! windows and errors, and the sentences a person reads first.

use std::collections::{BTreeMap, HashMap};

use super::KillRecord;
use crate::metrics::{finite, OutageSpan};
use crate::units::{human_us, thousands};
use crate::workload::RunResult;

/// "no acknowledged write lost" or "3 acknowledged writes lost": what the faults did to the data.
/// What happened to the data, in a few words: acknowledged writes lost, counting (where the run
/// audited every write) those a consumer read before a failover rolled them back.
pub(super) fn data_outcome(run: &RunResult) -> String {
    let c = &run.counts;
    let lost = run
        .write_audit
        .as_ref()
        .map_or(c.lost, |a| a.discarded.max(c.lost));
    let read_first = lost - c.lost;
    let words = match lost {
        0 => "no acknowledged write lost".into(),
        1 => "1 acknowledged write lost".into(),
        n => format!("{} acknowledged writes lost", thousands(n)),
    };
    match read_first {
        0 => words,
        n => format!(
            "{words} ({} of them read by a consumer before the failover rolled them back)",
            thousands(n)
        ),
    }
}

/// "master of shard 0, :13571" (or "master of shards 0, 2, :13571"; "master :13571" when it
/// served none of the run's shards).
pub fn node_label(k: &KillRecord) -> String {
    match k.shards.as_slice() {
        [] => format!("master {}", k.node),
        [one] => format!("master of shard {one}, {}", k.node),
        many => format!(
            "master of shards {}, {}",
            many.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            k.node
        ),
    }
}

/// The latency of a fault's shards, or what stands in for it when nothing of theirs was acked.
fn shard_latency(k: &KillRecord) -> String {
    if k.shard_acked == 0 {
        "nothing of its shards acked after it".into()
    } else {
        format!(
            "the {} messages of its shards acked after it: p99 up to {} (max {})",
            thousands(k.shard_acked),
            human_us(k.shard_p99_us),
            human_us(k.shard_max_us)
        )
    }
}

/// One sentence per fault and one for the checker's counts: what a person reads first.
pub(super) fn findings(steps: &[KillRecord], run: &RunResult, node_timeout_ms: u64) -> Vec<String> {
    let mut out: Vec<String> = steps
        .iter()
        .map(|k| {
            let errors: Vec<String> = k
                .errors
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(kind, n)| format!("{kind} {}", thousands(*n)))
                .collect();
            let errors = if errors.is_empty() {
                "no errors".to_string()
            } else {
                errors.join(", ")
            };
            let fail = k
                .marked_fail_after_s
                .map(|s| format!("FAIL after {s:.1} s, "))
                .unwrap_or_default();
            let took = match (&k.promoted, k.promoted_after_s) {
                (Some(p), Some(s)) => format!("{p} took over after {s:.1} s"),
                _ => k.outcome.clone(),
            };
            format!(
                "{} {} at {:.1} s: {took} ({fail}node-timeout {node_timeout_ms} ms); operations failed for {:.1} s on its shards and {:.1} s on the others; {}, {} on the others; {errors}",
                k.fault,
                node_label(k),
                k.t,
                k.shard_window_s,
                k.other_shards_window_s,
                shard_latency(k),
                human_us(k.other_shards_p99_us)
            )
        })
        .collect();
    let c = &run.counts;
    // With the audit, "lost" is every acknowledged write gone from the stream, read first or not.
    let lost = match &run.write_audit {
        Some(a) => format!(
            "{} of {} acknowledged writes lost ({} of them read by a consumer before they were rolled back); of the {} sends not acknowledged (timed out or unconfirmed), Redis kept {} and {} are gone",
            thousands(a.discarded.max(c.lost)),
            thousands(c.produced),
            thousands(a.discarded_after_delivery),
            thousands(a.not_acknowledged),
            thousands(a.not_acknowledged_held),
            thousands(a.not_acknowledged_gone)
        ),
        None => format!(
            "{} of {} acknowledged writes lost",
            thousands(c.lost),
            thousands(c.produced)
        ),
    };
    out.push(format!(
        "{lost}, {} unverifiable (on a shard that could not be read at the end), {} duplicate deliveries, {} duplicate writes; {} sends refused and {} indeterminate during the faults",
        thousands(c.unverifiable),
        thousands(c.duplicated),
        thousands(c.duplicate_writes),
        thousands(c.produce_failed),
        thousands(c.produce_indeterminate)
    ));
    out
}

/// Turns the run's per-shard failure spans into each step's windows and errors. A span belongs to
/// the last step that began before it ended (an operation sent just before a kill that failed
/// because of it counts for that kill); spans that ended before the first fault belong to none.
pub(super) fn fill_windows(
    steps: &mut [KillRecord],
    spans: &BTreeMap<String, Vec<OutageSpan>>,
    key_slots: &HashMap<String, u16>,
    run: &RunResult,
) {
    let end = run
        .series
        .last()
        .map_or(run.elapsed_seconds, |s| s.t.max(run.elapsed_seconds));
    let starts: Vec<f64> = steps.iter().map(|s| s.t).collect();
    let mut own: Vec<Vec<(f64, f64)>> = vec![Vec::new(); steps.len()];
    let mut other: Vec<Vec<(f64, f64)>> = vec![Vec::new(); steps.len()];
    for (key, list) in spans {
        let slot = key_slots.get(key).copied();
        for span in list {
            let to = span.to.unwrap_or(end.max(span.from));
            let Some(k) = starts.iter().rposition(|&t| t <= to) else {
                continue;
            };
            let owned = slot.is_some_and(|s| steps[k].slots.iter().any(|&(a, b)| a <= s && s <= b));
            if owned {
                own[k].push((span.from, to));
            } else {
                other[k].push((span.from, to));
            }
            for (kind, n) in &span.errors {
                *steps[k].errors.entry(kind.clone()).or_insert(0) += n;
            }
        }
    }
    for (k, step) in steps.iter_mut().enumerate() {
        step.shard_window_s = finite(union_len(&mut own[k]));
        step.other_shards_window_s = finite(union_len(&mut other[k]));
    }
    fill_latency(steps, key_slots, run, end);
}

/// Each step's latency on its own shards and on the others, from the run's per-shard series:
/// the intervals that end after the fault and up to the next fault (or the end of the run).
fn fill_latency(
    steps: &mut [KillRecord],
    key_slots: &HashMap<String, u16>,
    run: &RunResult,
    end: f64,
) {
    let starts: Vec<f64> = steps.iter().map(|s| s.t).collect();
    for (k, step) in steps.iter_mut().enumerate() {
        let until = starts
            .get(k + 1)
            .copied()
            .unwrap_or(f64::INFINITY)
            .min(end + 1.0);
        let owned: Vec<bool> = run
            .shard_keys
            .iter()
            .map(|key| {
                key_slots
                    .get(key)
                    .is_some_and(|&s| step.slots.iter().any(|&(a, b)| a <= s && s <= b))
            })
            .collect();
        step.shards = (0..owned.len()).filter(|&i| owned[i]).collect();
        // Only intervals where the shard acked something measure its latency (an empty one
        // says 0, which is no reading).
        for interval in run.series.iter().filter(|i| i.t > step.t && i.t <= until) {
            for (shard, own) in interval.shards.iter().zip(&owned) {
                if shard.acked == 0 {
                    continue;
                }
                if *own {
                    step.shard_acked += shard.acked;
                    step.shard_p99_us = step.shard_p99_us.max(shard.p99_us);
                    step.shard_max_us = step.shard_max_us.max(shard.max_us);
                } else {
                    step.other_shards_p99_us = step.other_shards_p99_us.max(shard.p99_us);
                }
            }
        }
    }
}

/// Total length covered by a set of intervals.
fn union_len(intervals: &mut [(f64, f64)]) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(a, b) in intervals.iter() {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + current.map_or(0.0, |(a, b)| b - a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_overlapping_spans_counts_each_second_once() {
        assert_eq!(union_len(&mut []), 0.0);
        let mut v = vec![(3.0, 4.0), (1.0, 2.0), (1.5, 2.5)];
        assert!((union_len(&mut v) - 2.5).abs() < 1e-9);
    }
}
