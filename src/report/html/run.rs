//! The sections every report has: the verdict and counts, the run's charts over time, latency
//! percentiles, errors by kind, the moments, and the ledger's disagreements with Redis.

use maud::{html, Markup};

use super::{markers, section, table, Cell, DetailPage};
use crate::cost::Cost;
use crate::metrics::SecondSample;
use crate::report::chart::{log_bars, Line, LineChart, PALETTE};
use crate::scenario::{Event, ScenarioReport};
use crate::units::{compact, micros, thousands};

/// Title, verdict banner, cost, warnings, findings and the count cards.
pub(super) fn top<D>(r: &ScenarioReport<D>) -> Markup {
    let c = &r.counts;
    let class = if r.verdict.is_ok() {
        "ok"
    } else if c.lost > 0 || c.unexpected > 0 {
        "bad"
    } else {
        "warn"
    };
    let pending = r.pending_at_end_text();
    html! {
        header {
            h1 { "rcstress scenario: " (r.scenario) }
            div class="sub" {
                (format!("{:.2}", r.elapsed_seconds)) " s of load · "
                (thousands(r.throughput_msgs_per_sec.round() as u64)) " msg/s"
            }
        }
        div class=(format!("verdict {class}")) {
            "Verdict: " (r.verdict)
            small {
                "Checker: lost " (thousands(c.lost)) " · unexpected " (thousands(c.unexpected))
                " (the verdict) · unverifiable " (thousands(c.unverifiable))
                " · duplicated " (thousands(c.duplicated))
                " · duplicate writes " (thousands(c.duplicate_writes))
                " · recovered " (thousands(c.recovered))
                " · pending at end " (pending)
            }
        }
        @if let Some(cost) = &r.cost {
            p class="cost" { (cost_line(cost)) }
        }
        @for w in &r.facts.warnings {
            div class="verdict warn" { "Warning: " (w) }
        }
        @if !r.findings.is_empty() {
            ul class="findings" { @for f in &r.findings { li { (f) } } }
        }
        (cards(r, &pending))
    }
}

fn cards<D>(r: &ScenarioReport<D>, pending: &str) -> Markup {
    let c = &r.counts;
    let cards: [(&str, u64, bool); 13] = [
        ("attempted", c.attempted, false),
        ("produced (XADD ok)", c.produced, false),
        ("refused", c.produce_failed, false),
        ("indeterminate", c.produce_indeterminate, false),
        ("unconfirmed (wait short)", c.unconfirmed, false),
        ("delivered", c.delivered, false),
        ("acked", c.acked, false),
        ("lost", c.lost, true),
        ("unverifiable", c.unverifiable, true),
        ("duplicated", c.duplicated, true),
        ("duplicate writes", c.duplicate_writes, true),
        ("recovered", c.recovered, false),
        ("unexpected", c.unexpected, true),
    ];
    html! {
        div class="cards" {
            @for (label, v, alert) in cards {
                div class=(if alert && v > 0 { "card alert" } else { "card" }) {
                    div class="k" { (label) }
                    div class="v" { (thousands(v)) }
                }
            }
            div class=(if r.pending_at_end_known && c.pending_at_end > 0 { "card alert" } else { "card" }) {
                div class="k" { "pending at end" }
                div class="v" { (pending) }
            }
        }
    }
}

/// "CPU per message: client 3.10 µs · server 9.52 µs (masters 6.10, replicas 3.42)".
pub(super) fn cost_line(c: &Cost) -> String {
    let mut line = format!("CPU per message: client {:.2} µs", c.client_cpu_us_per_msg);
    if let Some(all) = c.server_cpu_us_per_msg {
        line.push_str(&format!(
            " · server {all:.2} µs (masters {:.2}, replicas {:.2})",
            c.server_master_cpu_us_per_msg.unwrap_or(0.0),
            c.server_replica_cpu_us_per_msg.unwrap_or(0.0)
        ));
    }
    if !c.replicas_in_sync {
        line.push_str(" · a replica was not in sync at the start");
    }
    line
}

/// `field` per second: each interval's count divided by its length (intervals are 100 ms or
/// more, the last one partial).
pub(super) fn rate_points(
    series: &[SecondSample],
    field: fn(&SecondSample) -> u64,
) -> Vec<(f64, f64)> {
    let mut from = 0.0;
    series
        .iter()
        .map(|s| {
            let width = s.t - from;
            from = s.t;
            let v = field(s) as f64;
            (s.t, if width > 0.0 { v / width } else { v })
        })
        .collect()
}

/// A chart over the run's seconds, counts on the y axis: what most sections draw; sections set
/// `reference`, `y_format` or `y_unit` on top where they differ.
pub(super) fn over_time(
    title: &str,
    y_label: &str,
    lines: Vec<Line>,
    events: &[Event],
) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "seconds since the load started".into(),
        y_label: y_label.into(),
        lines,
        markers: markers(events),
        reference: None,
        y_format: compact,
        y_unit: 1.0,
    }
}

fn line(name: &str, color: usize, points: Vec<(f64, f64)>, steps: bool) -> Line {
    Line {
        name: name.into(),
        color: PALETTE[color % PALETTE.len()],
        points,
        steps,
    }
}

/// Throughput, errors, latency and latency per shard over time.
pub(super) fn time_charts<D>(r: &ScenarioReport<D>) -> Markup {
    let (s, ev) = (&r.series, &r.events);
    if s.is_empty() {
        return html! {};
    }
    let throughput = over_time(
        "Messages per second",
        "messages / s",
        vec![
            line("sent", 0, rate_points(s, |x| x.sent), true),
            line("acked", 1, rate_points(s, |x| x.acked), true),
        ],
        ev,
    );
    let errors = over_time(
        "Errors per second",
        "errors / s",
        vec![line("errors", 2, rate_points(s, |x| x.errors), true)],
        ev,
    );
    let pts = |f: fn(&SecondSample) -> u64| s.iter().map(|x| (x.t, f(x) as f64)).collect();
    let latency = LineChart {
        y_format: micros,
        ..over_time(
            "Send → ack latency per interval",
            "latency",
            vec![
                line("p50", 0, pts(|x| x.p50_us), false),
                line("p99", 3, pts(|x| x.p99_us), false),
                line("max", 4, pts(|x| x.max_us), false),
            ],
            ev,
        )
    };
    let shards = s.iter().map(|x| x.shards.len()).max().unwrap_or(0);
    let per_shard: Vec<Line> = (0..shards)
        .map(|i| {
            let points = s
                .iter()
                .map(|x| (x.t, x.shards.get(i).map_or(0.0, |sh| sh.p99_us as f64)))
                .collect();
            line(&format!("shard {i}"), i, points, false)
        })
        .collect();
    let shard_chart = LineChart {
        y_format: micros,
        ..over_time("Send → ack p99 per shard key", "latency", per_shard, ev)
    };
    html! {
        (section("Throughput over time", "Each point is one interval of the run (100 ms for runs under 24 s, coarser for longer ones) as a rate per second; dashed lines mark the scenario's numbered moments.", throughput.render()))
        @if s.iter().all(|x| x.errors == 0) {
            (section("Errors over time", "No client saw an error during the run.", html! {}))
        } @else {
            (section("Errors over time", "Every error any client saw (producers, consumers, claimer); by kind in the table below.", errors.render()))
        }
        @if s.iter().any(|x| x.p99_us > 0) {
            (section("Latency over time", "Of the messages acked in each interval, each counted once at its first ack, from its scheduled send time.", latency.render()))
            @if shards > 1 {
                (section("Latency per shard", "A message's shard is fixed by the message, so a stalled master shows here as its shard's latency while the others carry on (shard i is the i-th of shard_keys).", shard_chart.render()))
            }
        }
    }
}

/// Send → XACK percentiles on a log scale.
pub(super) fn latency<D: DetailPage>(r: &ScenarioReport<D>) -> Markup {
    let l = &r.latency_us;
    if l.count == 0 {
        return html! {};
    }
    let items: Vec<(String, f64)> = [
        ("p50", l.p50),
        ("p90", l.p90),
        ("p99", l.p99),
        ("p99.9", l.p999),
        ("max", l.max),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v as f64))
    .collect();
    let note = format!(
        "Send → XACK, {} messages (log scale).{}",
        thousands(l.count),
        if r.detail.across_runs() {
            " Of the baseline mode's runs, their histograms added."
        } else {
            ""
        }
    );
    section(
        "Latency percentiles",
        &note,
        log_bars("End-to-end latency", &items, micros),
    )
}

/// Errors by kind; when the scenario kept them, when each kind first appeared (columns only
/// then, so none stays empty).
pub(super) fn errors<D: DetailPage>(r: &ScenarioReport<D>) -> Markup {
    if r.errors.is_empty() {
        return html! {};
    }
    let first = r.detail.first_errors().filter(|f| !f.is_empty());
    let mut headers = vec!["kind", "count"];
    if first.is_some() {
        headers.extend(["first after (sends attempted)", "first at", "first message"]);
    }
    let rows: Vec<Vec<Cell>> = r
        .errors
        .iter()
        .map(|(kind, n)| {
            let mut row = vec![Cell::Text(kind.clone()), Cell::Num(thousands(*n))];
            if let Some(first) = first {
                match first.get(kind) {
                    Some(f) => row.extend([
                        Cell::Num(thousands(f.attempted)),
                        Cell::Num(format!("{:.2} s", f.seconds)),
                        Cell::Text(f.message.clone()),
                    ]),
                    None => row.extend([
                        Cell::Text("–".into()),
                        Cell::Text("–".into()),
                        Cell::Text("–".into()),
                    ]),
                }
            }
            row
        })
        .collect();
    section("Errors by kind", "", table(&headers, &rows))
}

/// The moments in time order, numbered as the charts' badges.
pub(super) fn moments(events: &[Event]) -> Markup {
    if events.is_empty() {
        return html! {};
    }
    let mut sorted: Vec<&Event> = events.iter().filter(|e| e.t.is_finite()).collect();
    sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
    let rows: Vec<Vec<Cell>> = sorted
        .iter()
        .enumerate()
        .map(|(i, e)| {
            vec![
                Cell::Num((i + 1).to_string()),
                Cell::Num(format!("{:.2} s", e.t)),
                Cell::Text(e.label.clone()),
            ]
        })
        .collect();
    section("Moments", "", table(&["#", "at", "what"], &rows))
}

pub(super) fn disagreements(list: &[String]) -> Markup {
    html! {
        @if !list.is_empty() {
            section {
                h2 { "Ledger vs Redis (XLEN, XPENDING)" }
                ul { @for d in list { li { (d) } } }
            }
        }
    }
}
