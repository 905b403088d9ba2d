//! The sections every report has: the verdict and counts, the run's charts over time, latency
//! percentiles, errors by kind, the moments, and the ledger's disagreements with Redis.

use maud::{html, Markup};

use super::{markers, section, table, Cell, DetailPage, Frame};
use crate::cost::Cost;
use crate::metrics::SecondSample;
use crate::report::chart::{
    badge, log_bars, numbered, wants_log, Line, LineChart, DASHES, PALETTE,
};
use crate::report::words::{latency_basis, round_trip};
use crate::scenario::{Event, ScenarioReport};
use crate::units::{compact, micros, thousands};

/// Title, what happened to the cluster (when the scenario has faults), the checker's verdict on
/// the data, cost, warnings, findings and the count cards.
pub(super) fn top<D>(r: &ScenarioReport<D>, title: &str, x_max: f64) -> Markup {
    let c = &r.counts;
    let class = if r.verdict.is_ok() {
        "ok"
    } else if c.lost > 0 || c.unexpected > 0 {
        "bad"
    } else {
        "warn"
    };
    let pending = r.pending_at_end_text();
    let verdict = if r.verdict.is_ok() {
        "no acknowledged write lost, nothing unexpected delivered".to_string()
    } else {
        r.verdict.to_string()
    };
    html! {
        header {
            h1 { (title) }
            div class="sub" {
                (format!("{:.2}", r.elapsed_seconds)) " s of load (first send to last ack) · "
                (thousands(r.throughput_msgs_per_sec.round() as u64)) " msg/s · charts run from 0 to "
                (format!("{x_max:.2}")) " s (set-up before 0 not shown)"
                @if r.facts.server.is_some() {
                    br; "Server: " (r.facts.describe())
                }
            }
        }
        @if let Some(o) = &r.outcome {
            div class=(format!("verdict outcome {}", if o.ok { "ok" } else { "bad" })) {
                "Cluster: " (o.text)
            }
        }
        @if let Some(e) = &r.expected {
            p class="expected" { b { "Expected: " } (e) }
        }
        div class=(format!("verdict {class}")) {
            "Data: " (verdict)
            small {
                "The verdict is ok iff lost = 0 and unexpected = 0 (verdict: " (r.verdict) "). Checker: lost " (thousands(c.lost)) " · unexpected " (thousands(c.unexpected))
                " · unverifiable " (thousands(c.unverifiable))
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

/// "CPU per message: client 3.10 µs/msg · server …", as the summary says it.
pub(super) fn cost_line(c: &Cost) -> String {
    let mut line = format!("CPU per message: {}", c.line());
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

/// A chart over the run's seconds, counts on the y axis, on the page's shared x range: what most
/// sections draw; sections set `reference`, `y_format` or `y_unit` on top where they differ.
pub(super) fn over_time(title: &str, y_label: &str, lines: Vec<Line>, frame: &Frame) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "seconds since the load started".into(),
        y_label: y_label.into(),
        lines,
        markers: markers(frame.events),
        reference: None,
        y_format: compact,
        y_unit: 1.0,
        x_max: Some(frame.x_max),
        log_y: false,
    }
}

/// A line in the `color`-th colour and dash of the palettes.
pub(super) fn line(name: &str, color: usize, points: Vec<(f64, f64)>, steps: bool) -> Line {
    Line {
        name: name.into(),
        color: PALETTE[color % PALETTE.len()],
        points,
        steps,
        dash: DASHES[color % DASHES.len()],
    }
}

/// Latency of an interval, or a gap (NaN) when nothing was acked in it: 0 µs would read as
/// instant.
fn when_acked(acked: u64, us: u64) -> f64 {
    if acked > 0 {
        us as f64
    } else {
        f64::NAN
    }
}

/// Throughput (sent and acked; a log axis when the rates differ by more than 50×), errors,
/// latency and latency per shard over time; intervals with nothing acked are gaps.
pub(super) fn time_charts<D: DetailPage>(r: &ScenarioReport<D>, frame: &Frame) -> Markup {
    let s = &r.series;
    if s.is_empty() {
        return html! {};
    }
    let lines = vec![
        line("sent", 0, rate_points(s, |x| x.sent), true),
        line("acked", 1, rate_points(s, |x| x.acked), true),
    ];
    let log_y = wants_log(&lines);
    let throughput = LineChart {
        log_y,
        ..over_time("Messages per second", "messages / s", lines, frame)
    };
    let errors = over_time(
        "Errors per second",
        "errors / s",
        vec![line("errors", 2, rate_points(s, |x| x.errors), true)],
        frame,
    );
    let pts =
        |f: fn(&SecondSample) -> u64| s.iter().map(|x| (x.t, when_acked(x.acked, f(x)))).collect();
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
            frame,
        )
    };
    let shards = s.iter().map(|x| x.shards.len()).max().unwrap_or(0);
    let per_shard: Vec<Line> = (0..shards)
        .map(|i| {
            let points = s
                .iter()
                .map(|x| {
                    let sh = x.shards.get(i);
                    (
                        x.t,
                        sh.map_or(f64::NAN, |sh| when_acked(sh.acked, sh.p99_us)),
                    )
                })
                .collect();
            let name = r
                .shard_keys
                .get(i)
                .map_or(format!("shard {i}"), |k| format!("shard {i} ({k})"));
            line(&name, i, points, false)
        })
        .collect();
    let shard_chart = LineChart {
        y_format: micros,
        ..over_time("Send → ack p99 per shard key", "latency", per_shard, frame)
    };
    let basis = latency_basis(r.rate_msgs_per_sec);
    let throughput_note = format!(
        "Each point is one interval of the run (100 ms for runs under 24 s, coarser for longer ones) as a rate per second; acked is dashed so that sent shows where they coincide; the numbered dashed lines are the moments listed below.{}",
        if log_y { " Log axis: the rates differ by more than 50×; an interval with none is a gap." } else { "" }
    );
    html! {
        (section("Throughput over time", &throughput_note, throughput.render()))
        @if s.iter().all(|x| x.errors == 0) {
            (section("Errors over time", "No client saw an error during the run.", html! {}))
        } @else {
            (section("Errors over time", "Every error any client saw (producers, consumers, claimer); by kind in the table below.", errors.render()))
        }
        @if r.detail.pooled_latency() && s.iter().any(|x| x.acked > 0) {
            (section("Latency over time", &format!("Of the messages acked in each interval, each counted once at its first ack; {basis}. An interval with nothing acked is a gap, not 0."), latency.render()))
            @if shards > 1 {
                (section("Latency per shard", "A message's shard is fixed by the message, so a stalled master shows here as its shard's latency while the others carry on (a gap: nothing acked on that shard in the interval).", shard_chart.render()))
            }
        }
    }
}

/// Send → XACK percentiles on a log scale, with what they measure and the per-command round trip
/// beside them.
pub(super) fn latency<D: DetailPage>(r: &ScenarioReport<D>) -> Markup {
    let l = &r.latency_us;
    if l.count == 0 || !r.detail.pooled_latency() {
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
        "Send → XACK, {} messages (log scale); {}.{}",
        thousands(l.count),
        latency_basis(r.rate_msgs_per_sec),
        if r.detail.across_runs() {
            " Of the baseline mode's runs, their histograms added."
        } else {
            ""
        }
    );
    let chart = html! {
        (log_bars("End-to-end latency (send → ack)", &items, micros))
        @if let Some(rt) = round_trip(&r.confirm_latency_us) {
            p class="note" { "Beside it, the " (rt) "." }
        }
    };
    section("Latency percentiles", &note, chart)
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

/// The moments in time order, numbered, coloured and shaped as the charts' badges: the page's one
/// key to them.
pub(super) fn moments(events: &[Event]) -> Markup {
    let list = markers(events);
    let numbered = numbered(&list);
    if numbered.is_empty() {
        return html! {};
    }
    html! {
        section {
            h2 { "Moments" }
            p class="note" { "The numbered dashed lines on every chart above; one colour and shape per kind." }
            div class="scroll" {
                table {
                    tr { th { "#" } th { "at" } th { "what" } }
                    @for (n, m, style) in &numbered {
                        tr {
                            td class="nowrap" {
                                svg class="mbadge-key" viewBox="0 0 22 22" width="22" height="22" {
                                    (badge(11.0, 11.0, *style))
                                    text x="11" y="14.5" text-anchor="middle" class="mbadge" fill=(style.color) { (n) }
                                }
                            }
                            td class="num nowrap" { (format!("{:.2} s", m.x)) }
                            td { (m.label) }
                        }
                    }
                }
            }
        }
    }
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
