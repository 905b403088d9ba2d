//! The sections of the scenarios that watch something grow over one run: memory-pressure
//! (`used_memory` per master, the stream keys), consumer-crash (crashes over time) and backlog
//! (produced − acked).

use maud::{html, Markup};

use super::run::over_time;
use super::{section, table, Cell};
use crate::report::chart::{Line, LineChart, PALETTE};
use crate::scenario::backlog::BacklogDetail;
use crate::scenario::crash::CrashDetail;
use crate::scenario::memory::{MasterMemory, MemoryDetail};
use crate::scenario::Event;
use crate::units::{bytes, human_bytes, human_us, thousands};

/// `used_memory` of every master over time, maxmemory dashed.
fn memory_chart(masters: &[MasterMemory], events: &[Event]) -> Markup {
    if masters.is_empty() {
        return html! {};
    }
    let lines: Vec<Line> = masters
        .iter()
        .enumerate()
        .map(|(i, m)| Line {
            name: m.node.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: m
                .samples
                .iter()
                .map(|s| (s.t, s.used_memory as f64))
                .collect(),
            steps: false,
        })
        .collect();
    let maxmemory = masters[0].maxmemory as f64;
    let chart = LineChart {
        reference: (maxmemory > 0.0)
            .then(|| (maxmemory, format!("maxmemory {}", bytes(maxmemory)))),
        y_format: bytes,
        y_unit: 1_048_576.0,
        ..over_time("used_memory per master", "bytes", lines, events)
    };
    section(
        "Memory over time",
        "INFO memory of every master, sampled during the run; the dashed line is maxmemory (none: no limit).",
        chart.render(),
    )
}

/// One line of a count over time.
fn count_chart(title: &str, name: &str, points: Vec<(f64, f64)>, events: &[Event]) -> Markup {
    if points.is_empty() {
        return html! {};
    }
    let line = Line {
        name: name.into(),
        color: PALETTE[4],
        points,
        steps: false,
    };
    section(
        title,
        "",
        over_time(title, name, vec![line], events).render(),
    )
}

/// Figures as a two-column table: a human name and its value with its unit.
fn figures(rows: &[(&str, String)]) -> Markup {
    let rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|(k, v)| vec![Cell::Text(k.to_string()), Cell::Text(v.clone())])
        .collect();
    section("Scenario figures", "", table(&["figure", "value"], &rows))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn at(t: Option<f64>) -> String {
    t.map_or("–".into(), |t| format!("{t:.2} s"))
}

pub(super) fn memory_charts(d: &MemoryDetail, events: &[Event]) -> Markup {
    memory_chart(&d.memory, events)
}

pub(super) fn memory_tables(d: &MemoryDetail) -> Markup {
    let keys: Vec<Vec<Cell>> = d
        .stream_keys
        .iter()
        .map(|k| {
            vec![
                Cell::Text(k.key.clone()),
                Cell::Num(at(k.first_missing_at)),
                Cell::Num(at(k.group_first_missing_at)),
                Cell::Text(yes_no(k.exists_at_end)),
                Cell::Text(yes_no(k.group_at_end)),
                Cell::Num(thousands(k.xlen_at_end)),
            ]
        })
        .collect();
    html! {
        (figures(&[
            ("stopped after", d.end.ended_by.clone()),
            ("maxmemory per master", human_bytes(d.maxmemory_bytes)),
            ("peak used_memory (any master)", human_bytes(d.peak_used_memory)),
            ("keys evicted", thousands(d.evicted_keys)),
            ("stream evicted", yes_no(d.stream_evicted)),
            ("consumer group evicted", yes_no(d.group_evicted)),
            ("client survived", yes_no(d.client_survived)),
            ("XLEN at the end", d.end.redis_xlen.map_or("?".into(), thousands)),
        ]))
        (section("Stream keys", "", table(
            &["key", "first seen missing", "group first missing", "exists at end", "group at end", "XLEN at end"],
            &keys,
        )))
    }
}

pub(super) fn crash_charts(d: &CrashDetail, events: &[Event]) -> Markup {
    let points = d
        .crashes_over_time
        .iter()
        .map(|s| (s.t, s.crashes as f64))
        .collect();
    count_chart("Consumer crashes so far", "crashes", points, events)
}

pub(super) fn crash_tables(d: &CrashDetail) -> Markup {
    let l = &d.delivery_latency_us;
    figures(&[
        ("consumer crashes", thousands(d.consumer_crashes)),
        ("stranded (pending at the end)", thousands(d.stranded)),
        (
            "delivery latency (send → XREADGROUP)",
            if l.count == 0 {
                "n/a (nothing delivered)".into()
            } else {
                format!(
                    "p50 {} · p99 {} · max {}",
                    human_us(l.p50),
                    human_us(l.p99),
                    human_us(l.max)
                )
            },
        ),
        ("ended by", d.end.ended_by.clone()),
        (
            "XLEN at the end",
            d.end.redis_xlen.map_or("?".into(), thousands),
        ),
    ])
}

pub(super) fn backlog_charts(d: &BacklogDetail, events: &[Event]) -> Markup {
    let points = d
        .backlog_samples
        .iter()
        .map(|s| (s.t, s.backlog as f64))
        .collect();
    html! {
        (count_chart("Backlog (produced − acked)", "backlog", points, events))
        (memory_chart(&d.memory, events))
    }
}

pub(super) fn backlog_tables(d: &BacklogDetail) -> Markup {
    let f = &d.backlog;
    figures(&[
        ("consumers stopped at", format!("{:.2} s", f.stopped_at)),
        ("consumers resumed at", format!("{:.2} s", f.resumed_at)),
        (
            "caught up after the resume",
            f.catch_up_seconds
                .map_or("never".into(), |c| format!("{c:.2} s")),
        ),
        (
            "steady backlog before the stop",
            thousands(f.steady_backlog),
        ),
        (
            "peak backlog",
            format!("{} messages", thousands(f.peak_messages)),
        ),
        ("peak backlog payload", human_bytes(f.peak_payload_bytes)),
        (
            "consume rate during the drain",
            format!("{:.0} msg/s", f.consume_rate_msgs_per_sec),
        ),
        (
            "drain ratio (consume / produce)",
            format!("{:.2}", f.drain_ratio),
        ),
        (
            "net drain",
            format!("{:.0} msg/s", f.net_drain_msgs_per_sec),
        ),
        (
            "backlogged messages' latency",
            format!(
                "p99 {} · max {}",
                human_us(f.drain_p99_us),
                human_us(f.drain_max_us)
            ),
        ),
        ("ended by", d.end.ended_by.clone()),
    ])
}
