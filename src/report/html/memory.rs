//! The sections of the scenarios that watch something grow over one run: memory-pressure
//! (`used_memory` per master, the stream keys), consumer-crash (crashes over time) and backlog
//! (produced − acked).

use maud::{html, Markup};

use super::run::{line, over_time};
use super::{section, table, Cell, Frame};
use crate::report::chart::LineChart;
use crate::scenario::backlog::BacklogDetail;
use crate::scenario::crash::CrashDetail;
use crate::scenario::memory::{MasterMemory, MemoryDetail};
use crate::units::{bytes, human_bytes, human_us, thousands};

/// The times of every master's memory samples (the page's x range reaches the last).
pub(super) fn sample_times(masters: &[MasterMemory]) -> impl Iterator<Item = f64> + '_ {
    masters.iter().flat_map(|m| m.samples.iter().map(|s| s.t))
}

/// `used_memory` of every master over time, maxmemory dashed; each master in its own colour and
/// dash, so that masters whose lines coincide all stay visible.
fn memory_chart(masters: &[MasterMemory], frame: &Frame) -> Markup {
    if masters.is_empty() {
        return html! {};
    }
    let lines = masters
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let points = m
                .samples
                .iter()
                .map(|s| (s.t, s.used_memory as f64))
                .collect();
            line(&format!("master {}", m.node), i, points, false)
        })
        .collect();
    let maxmemory = masters[0].maxmemory as f64;
    let chart = LineChart {
        reference: (maxmemory > 0.0)
            .then(|| (maxmemory, format!("maxmemory {}", bytes(maxmemory)))),
        y_format: bytes,
        y_unit: 1_048_576.0,
        ..over_time("used_memory per master", "bytes", lines, frame)
    };
    section(
        "Memory over time",
        "INFO memory of every master, sampled during the run (MiB = 1,048,576 bytes, as Redis counts maxmemory); the black dashed line is maxmemory (none: no limit); masters' lines differ in dash so that those that coincide stay visible.",
        chart.render(),
    )
}

/// One line of a count over time.
fn count_chart(title: &str, name: &str, points: Vec<(f64, f64)>, frame: &Frame) -> Markup {
    if points.is_empty() {
        return html! {};
    }
    let line = line(name, 4, points, false);
    section(
        title,
        "",
        over_time(title, name, vec![line], frame).render(),
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

/// A rate that may be negative, rounded, with separators: "-1,234".
fn signed_thousands(v: f64) -> String {
    let sign = if v < -0.5 { "-" } else { "" };
    format!("{sign}{}", thousands(v.abs().round() as u64))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn at(t: Option<f64>) -> String {
    t.map_or("–".into(), |t| format!("{t:.2} s"))
}

pub(super) fn memory_charts(d: &MemoryDetail, frame: &Frame) -> Markup {
    memory_chart(&d.memory, frame)
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

pub(super) fn crash_charts(d: &CrashDetail, frame: &Frame) -> Markup {
    let points = d
        .crashes_over_time
        .iter()
        .map(|s| (s.t, s.crashes as f64))
        .collect();
    count_chart("Consumer crashes so far", "crashes", points, frame)
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

pub(super) fn backlog_charts(d: &BacklogDetail, frame: &Frame) -> Markup {
    let points = d
        .backlog_samples
        .iter()
        .map(|s| (s.t, s.backlog as f64))
        .collect();
    html! {
        (count_chart("Backlog (produced − acked)", "backlog", points, frame))
        (memory_chart(&d.memory, frame))
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
            format!(
                "{} msg/s",
                thousands(f.consume_rate_msgs_per_sec.round() as u64)
            ),
        ),
        (
            "drain ratio (consume / produce)",
            format!("{:.2}", f.drain_ratio),
        ),
        (
            "net drain",
            format!("{} msg/s", signed_thousands(f.net_drain_msgs_per_sec)),
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
