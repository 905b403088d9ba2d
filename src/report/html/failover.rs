//! The failover scenario's sections: per fault, what happened (who took over, when) and what it
//! cost the clients (windows of failed operations, latency, errors by kind). Two tables of a few
//! columns each, in the order a fault unfolds, rather than one that overflows its card.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{section, table, Cell};
use crate::scenario::failover::{node_label, FailoverDetail, KillRecord};
use crate::units::{human_us, thousands};

fn secs(s: Option<f64>) -> String {
    s.map_or("–".into(), |s| format!("{s:.2} s"))
}

/// "CLUSTERDOWN 12 · MOVED 3", the kinds seen (every step lists the usual kinds, 0 included).
pub(super) fn error_counts(errors: &BTreeMap<String, u64>) -> String {
    let seen: Vec<String> = errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {}", thousands(*n)))
        .collect();
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(" · ")
    }
}

fn what_happened(k: &KillRecord) -> Vec<Cell> {
    let rejoin = k
        .restarted
        .as_ref()
        .map_or("–".into(), |r| match r.rejoined_after_s {
            Some(s) => format!("{} after {s:.2} s", r.role),
            None => format!("not within the bound ({})", r.role),
        });
    vec![
        Cell::Num(k.step.to_string()),
        Cell::Key(k.fault.clone()),
        Cell::Text(node_label(k)),
        Cell::Num(format!("{:.2} s", k.t)),
        Cell::Num(secs(k.marked_fail_after_s)),
        Cell::Text(k.promoted.clone().unwrap_or_else(|| "–".into())),
        Cell::Num(secs(k.promoted_after_s)),
        Cell::Text(k.outcome.clone()),
        Cell::Text(rejoin),
    ]
}

fn what_it_cost(k: &KillRecord) -> Vec<Cell> {
    // No ack on its shards after the fault: no latency figure, rather than 0 µs.
    let (p99, max) = if k.shard_acked == 0 {
        ("none acked".to_string(), "none acked".to_string())
    } else {
        (human_us(k.shard_p99_us), human_us(k.shard_max_us))
    };
    vec![
        Cell::Num(k.step.to_string()),
        Cell::Num(format!("{:.2} s", k.cluster_state_fail_s)),
        Cell::Num(format!("{:.2} s", k.shard_window_s)),
        Cell::Num(format!("{:.2} s", k.other_shards_window_s)),
        Cell::Num(p99),
        Cell::Num(max),
        // 0 is no reading (a recorded latency is at least 1 µs): nothing acked there.
        Cell::Num(if k.other_shards_p99_us == 0 {
            "none acked".into()
        } else {
            human_us(k.other_shards_p99_us)
        }),
        Cell::Text(error_counts(&k.errors)),
    ]
}

pub(super) fn tables(d: &FailoverDetail) -> Markup {
    let happened: Vec<Vec<Cell>> = d.kills.iter().map(what_happened).collect();
    let cost: Vec<Vec<Cell>> = d.kills.iter().map(what_it_cost).collect();
    html! {
        (section(
            "Faults",
            &format!(
                "Times are seconds since the load started, and after the fault for the rest; node-timeout {} ms; the cluster at the end: {}.",
                d.node_timeout_ms, d.final_cluster_state
            ),
            table(
                &["step", "fault", "node (role, shard, port)", "at", "marked FAIL after", "taken over by", "after", "outcome", "restarted"],
                &happened,
            ),
        ))
        (section(
            "What each fault cost the clients",
            "Windows: time with failed operations on the faulted master's shards and on the others (client view); cluster down: time the survivors said cluster_state:fail (server view). Latency: send → ack of the messages acked from this fault to the next, from the intervals with acks only (\"none acked\": nothing of its shards came back).",
            table(
                &["step", "cluster down", "window, its shards", "window, other shards", "p99, its shards", "max, its shards", "p99, other shards", "errors"],
                &cost,
            ),
        ))
    }
}
