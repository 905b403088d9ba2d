//! What a fault run did to the writes the client sent (durability), and each partition's
//! timeline (durability and failover): when the cut master last took a write, when it refused,
//! when its replica took over, when it was demoted after the heal, against the loss bound.

use maud::{html, Markup};

use super::{section, table, Cell};
use crate::scenario::cut::{CutTimeline, LossBound};
use crate::scenario::durability::{DurabilityRun, Fault};
use crate::units::{human_us, thousands};

fn secs(s: Option<f64>) -> Cell {
    Cell::Num(s.map_or_else(|| "not seen".into(), |s| format!("{s:.2} s")))
}

/// One row per partition: `who` names the run or the step.
fn timeline_row(
    who: String,
    t: &CutTimeline,
    lost: Option<u64>,
    bound: Option<&LossBound>,
) -> Vec<Cell> {
    vec![
        Cell::Text(who),
        Cell::Text(format!("{} around {}", t.shape, t.master)),
        Cell::Num(format!("{:.2} s – {:.2} s", t.cut_at_s, t.healed_at_s)),
        secs(t.last_write_accepted_after_s),
        Cell::Num(
            t.window_vs_node_timeout()
                .map_or_else(|| "–".into(), |w| format!("{w:.2}×")),
        ),
        secs(t.refusing_after_s),
        secs(t.replica_promoted_after_s),
        secs(t.demoted_after_heal_s),
        Cell::Num(thousands(t.writes_taken_after_cut)),
        Cell::Num(lost.map_or_else(|| "–".into(), thousands)),
        Cell::Num(bound.map_or_else(
            || "–".into(),
            |b| {
                format!(
                    "{} / {}",
                    thousands(b.spec_writes),
                    thousands(b.detection_writes)
                )
            },
        )),
        Cell::Text(
            t.shard_p99_during_cut_us
                .iter()
                .map(|(k, us)| format!("{k} {}", human_us(*us)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

const TIMELINE_HEADERS: [&str; 12] = [
    "run",
    "cut",
    "cut – heal (since load start)",
    "last write taken (after cut)",
    "× node-timeout",
    "refusing (CLUSTERDOWN) from",
    "replica promoted at",
    "old master a replica (after heal)",
    "writes it took after the cut",
    "acknowledged lost",
    "bound: rate × node-timeout / × detection window",
    "send → ack p99 per shard, cut to heal",
];

const TIMELINE_NOTE: &str = "Seconds after the cut unless said otherwise, polled every 50 ms from the client's side (which still reaches the cut master). The cut master acknowledges writes until it notices it lost the majority of masters; every write it took after the cut is discarded when, after the heal, it learns its replica was promoted. The bound is the shard's rate over node-timeout (the specification's statement) and over 1.5 × node-timeout + 0.1 s (a peer is marked failing once a ping sent up to half a node-timeout after its last answer goes unanswered for node-timeout).";

/// The partitions of a failover run, one row per step that cut a master.
pub(super) fn failover_partitions(steps: &[(usize, &CutTimeline)]) -> Markup {
    if steps.is_empty() {
        return html! {};
    }
    let rows: Vec<Vec<Cell>> = steps
        .iter()
        .map(|(step, t)| timeline_row(format!("fault {step}"), t, None, None))
        .collect();
    section("Partitions", TIMELINE_NOTE, table(&TIMELINE_HEADERS, &rows))
}

/// Every fault run of the durability scenario: what became of the writes, and the partitions.
pub(super) fn durability_runs(runs: &[DurabilityRun]) -> Markup {
    let faulted: Vec<&DurabilityRun> = runs.iter().filter(|r| r.fault != Fault::None).collect();
    let rows: Vec<Vec<Cell>> = faulted
        .iter()
        .map(|r| {
            vec![
                Cell::Text(format!("{} {} #{}", r.fault, r.mode, r.run)),
                Cell::Num(format!("{:.1} s", r.client_timeout_ms as f64 / 1000.0)),
                Cell::Num(thousands(r.produced)),
                Cell::Num(format!(
                    "{} ({} never delivered)",
                    thousands(r.acked_lost),
                    thousands(r.lost_undelivered)
                )),
                Cell::Num(thousands(r.unconfirmed)),
                Cell::Num(thousands(r.failed)),
                Cell::Num(thousands(r.indeterminate)),
                Cell::Num(format!(
                    "{} / {}",
                    thousands(r.not_acknowledged_held),
                    thousands(r.not_acknowledged_gone)
                )),
            ]
        })
        .collect();
    let cuts: Vec<Vec<Cell>> = faulted
        .iter()
        .filter_map(|r| {
            let t = r.partition.as_ref()?;
            Some(timeline_row(
                format!("{} #{}", r.mode, r.run),
                t,
                Some(r.acked_lost),
                r.loss_bound.as_ref(),
            ))
        })
        .collect();
    html! {
        @if !rows.is_empty() {
            (section(
                "Fault runs: what became of the writes",
                "Acknowledged lost: confirmed by the mode, then gone from the stream at the end, whether a consumer had read it or not (every write is checked against a final scan). Not acknowledged: the client gave up (timed out, dropped) or the wait fell short; held means Redis kept it after all, gone that it did not. The client timeout decides which of the two a write lands in: a client that waits past a pause sees the paused master's late replies as acknowledgements.",
                table(&["run", "client timeout", "acknowledged", "acknowledged lost", "unconfirmed", "refused", "timed out", "not acknowledged: held / gone"], &rows),
            ))
        }
        @if !cuts.is_empty() {
            (section("Partitions", TIMELINE_NOTE, table(&TIMELINE_HEADERS, &cuts)))
        }
    }
}
