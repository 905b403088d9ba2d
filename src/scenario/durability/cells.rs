//! The durability comparison's cells: one mode under one fault, over its repeats.

use schemars::JsonSchema;
use serde::Serialize;

use super::{DurabilityRun, Fault, Mode};
use crate::metrics::finite;
use crate::scenario::mean_stddev;
use crate::units::{human_us, mean_count, thousands};
use crate::workload::RunResult;

/// One mode under one fault, over its repeats.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Cell {
    pub mode: String,
    pub fault: Fault,
    pub runs: usize,
    pub acked_lost_mean: f64,
    pub acked_lost_min: u64,
    pub acked_lost_max: u64,
    /// Of the acknowledged lost, the ones no consumer got (the checker's `lost`).
    pub lost_undelivered_mean: f64,
    pub unconfirmed_mean: f64,
    /// Refused, plus timed out: what the client was told failed or never heard of.
    pub failed_mean: f64,
    /// Timed out or dropped alone (the client gave up), and of the sends not acknowledged the
    /// ones Redis kept (held) or did not (gone).
    pub timed_out_mean: f64,
    pub not_acknowledged_held_mean: f64,
    pub not_acknowledged_gone_mean: f64,
    /// The producers' response timeout of these runs, ms.
    pub client_timeout_ms: u64,
    /// Partition runs: how long the cut master took writes after the cut, × node-timeout, and
    /// the loss bound of the detection window (writes).
    pub window_x_node_timeout: Option<f64>,
    pub loss_bound_writes: Option<u64>,
    pub throughput_mean: f64,
    pub throughput_stddev: f64,
    /// Mean of the runs' confirm-latency percentiles, µs.
    pub confirm_p50_us: f64,
    pub confirm_p99_us: f64,
    pub confirm_p99_stddev_us: f64,
    /// Against `none` under the same fault (1.0 for `none`; 0 when there is no `none`).
    pub throughput_vs_none: f64,
    pub p99_vs_none: f64,
}

/// What one mode kept and cost under one fault, in one sentence.
pub(super) fn finding(c: &Cell) -> String {
    let client = match c.fault {
        Fault::None => String::new(),
        _ => format!(
            " (client timeout {:.1} s)",
            c.client_timeout_ms as f64 / 1000.0
        ),
    };
    let bound = match (c.loss_bound_writes, c.window_x_node_timeout) {
        (Some(b), Some(w)) => format!(
            " (bound {}; the cut master took writes for {w:.2}× node-timeout)",
            thousands(b)
        ),
        (Some(b), None) => format!(" (bound {})", thousands(b)),
        _ => String::new(),
    };
    format!(
        "mode {}, {}{client}: acknowledged lost {} (min {}, max {}){bound}, refused or timed out {}; \
         not acknowledged (unconfirmed {}, timed out {}): kept by Redis {}, gone {}; \
         {} msg/s ({:.2}× mode none), confirm p50 {} p99 {} ({:.2}× mode none), {} run(s)",
        c.mode,
        c.fault.label(),
        mean_count(c.acked_lost_mean),
        thousands(c.acked_lost_min),
        thousands(c.acked_lost_max),
        mean_count(c.failed_mean),
        mean_count(c.unconfirmed_mean),
        mean_count(c.timed_out_mean),
        mean_count(c.not_acknowledged_held_mean),
        mean_count(c.not_acknowledged_gone_mean),
        thousands(c.throughput_mean.round() as u64),
        c.throughput_vs_none,
        human_us(c.confirm_p50_us as u64),
        human_us(c.confirm_p99_us as u64),
        c.p99_vs_none,
        c.runs,
    )
}

/// Each mode under each fault over its repeats, with its ratios against `none`.
pub(super) fn summarize(
    faults: &[Fault],
    modes: &[Mode],
    runs: &[(DurabilityRun, RunResult)],
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for fault in faults {
        for mode in modes {
            let of: Vec<&DurabilityRun> = runs
                .iter()
                .map(|(r, _)| r)
                .filter(|r| r.mode == mode.spec && r.fault == *fault)
                .collect();
            if of.is_empty() {
                continue;
            }
            let mean = |f: &dyn Fn(&DurabilityRun) -> f64| {
                mean_stddev(&of.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let (tput, tput_sd) = mean(&|r| r.throughput_msgs_per_sec);
            let (p99, p99_sd) = mean(&|r| r.confirm_latency_us.p99 as f64);
            cells.push(Cell {
                mode: mode.spec.clone(),
                fault: *fault,
                runs: of.len(),
                acked_lost_mean: mean(&|r| r.acked_lost as f64).0,
                acked_lost_min: of.iter().map(|r| r.acked_lost).min().unwrap_or(0),
                acked_lost_max: of.iter().map(|r| r.acked_lost).max().unwrap_or(0),
                lost_undelivered_mean: mean(&|r| r.lost_undelivered as f64).0,
                unconfirmed_mean: mean(&|r| r.unconfirmed as f64).0,
                failed_mean: mean(&|r| (r.failed + r.indeterminate) as f64).0,
                timed_out_mean: mean(&|r| r.indeterminate as f64).0,
                not_acknowledged_held_mean: mean(&|r| r.not_acknowledged_held as f64).0,
                not_acknowledged_gone_mean: mean(&|r| r.not_acknowledged_gone as f64).0,
                client_timeout_ms: of.iter().map(|r| r.client_timeout_ms).max().unwrap_or(0),
                window_x_node_timeout: {
                    let w: Vec<f64> = of
                        .iter()
                        .filter_map(|r| r.partition.as_ref()?.window_vs_node_timeout())
                        .collect();
                    (!w.is_empty()).then(|| mean_stddev(&w).0)
                },
                loss_bound_writes: of
                    .iter()
                    .filter_map(|r| r.loss_bound.map(|b| b.detection_writes))
                    .max(),
                throughput_mean: tput,
                throughput_stddev: tput_sd,
                confirm_p50_us: mean(&|r| r.confirm_latency_us.p50 as f64).0,
                confirm_p99_us: p99,
                confirm_p99_stddev_us: p99_sd,
                throughput_vs_none: 0.0,
                p99_vs_none: 0.0,
            });
        }
    }
    let base: Vec<(Fault, f64, f64)> = cells
        .iter()
        .filter(|c| c.mode == "none")
        .map(|c| (c.fault, c.throughput_mean, c.confirm_p99_us))
        .collect();
    for c in &mut cells {
        if let Some((_, t, p)) = base.iter().find(|(f, _, _)| *f == c.fault) {
            c.throughput_vs_none = if *t > 0.0 {
                finite(c.throughput_mean / t)
            } else {
                0.0
            };
            c.p99_vs_none = if *p > 0.0 {
                finite(c.confirm_p99_us / p)
            } else {
                0.0
            };
        }
    }
    cells
}
