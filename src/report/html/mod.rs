//! The HTML report: one self-contained page (inline CSS and SVG, nothing fetched at view time)
//! rendered with maud from the typed report, so every text a server or a scenario wrote is
//! escaped by construction.
//!
//! - `run`: what every report has: verdict, counts, findings, charts over time, latency,
//!   errors, moments, configuration.
//! - `checkpoint`: the page of a run while it goes on (`run --checkpoint --html`).
//! - `failover`, `memory` (memory-pressure, consumer-crash, backlog), `compare`
//!   (aof-compare, durability, servers): each scenario's own sections; `partition`: what the
//!   fault runs did to the writes, and each partition's timeline.

mod checkpoint;
mod compare;
mod failover;
mod glossary;
mod memory;
mod partition;
mod run;

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped, DOCTYPE};

pub use checkpoint::checkpoint_page;

use super::chart::Marker;
use super::ScenarioDocument;
use crate::metrics::FirstError;
use crate::scenario::{Detail, Event};

const CSS: &str = include_str!("page.css");

/// What a scenario's own fields add to the page. Every method has a default (nothing), so a
/// report with no detail of its own (`()`) is a page too.
pub trait DetailPage {
    /// Charts of what the scenario measured, after the run's own charts over time.
    fn charts(&self, _frame: &Frame) -> Markup {
        html! {}
    }
    /// The last time (seconds since the load started) its charts over time reach.
    fn t_max(&self) -> f64 {
        0.0
    }
    /// False when the report's pooled latency mixes runs of different kinds (closed and open
    /// loop, faults and none): the page then shows each group's latency in its own table only.
    fn pooled_latency(&self) -> bool {
        true
    }
    /// Tables of the scenario's own records, after the errors and the moments.
    fn tables(&self) -> Markup {
        html! {}
    }
    /// When each error kind first appeared, when the scenario keeps it.
    fn first_errors(&self) -> Option<&BTreeMap<String, FirstError>> {
        None
    }
    /// Disagreements between the ledger and Redis.
    fn disagreements(&self) -> &[String] {
        &[]
    }
    /// True when the report's latency is the worst of several runs per percentile.
    fn across_runs(&self) -> bool {
        false
    }
}

impl DetailPage for () {}

impl DetailPage for Detail {
    fn charts(&self, frame: &Frame) -> Markup {
        match self {
            Detail::Memory(d) => memory::memory_charts(d, frame),
            Detail::Crash(d) => memory::crash_charts(d, frame),
            Detail::Backlog(d) => memory::backlog_charts(d, frame),
            Detail::Aof(d) => compare::aof_charts(d),
            Detail::Durability(d) => compare::durability_charts(d),
            Detail::Servers(d) => compare::server_charts(d),
            Detail::Failover(_) => html! {},
        }
    }

    fn t_max(&self) -> f64 {
        let last = |ts: &mut dyn Iterator<Item = f64>| ts.fold(0.0, f64::max);
        match self {
            Detail::Memory(d) => last(&mut memory::sample_times(&d.memory)),
            Detail::Crash(d) => last(&mut d.crashes_over_time.iter().map(|s| s.t)),
            Detail::Backlog(d) => last(
                &mut d
                    .backlog_samples
                    .iter()
                    .map(|s| s.t)
                    .chain(memory::sample_times(&d.memory)),
            ),
            _ => 0.0,
        }
    }

    fn pooled_latency(&self) -> bool {
        !matches!(self, Detail::Durability(_) | Detail::Servers(_))
    }

    fn tables(&self) -> Markup {
        match self {
            Detail::Memory(d) => memory::memory_tables(d),
            Detail::Crash(d) => memory::crash_tables(d),
            Detail::Backlog(d) => memory::backlog_tables(d),
            Detail::Failover(d) => html! {
                (failover::tables(d))
                (partition::failover_partitions(&d.kills.iter().filter_map(|k| Some((k.step, k.partition.as_ref()?))).collect::<Vec<_>>()))
            },
            Detail::Aof(d) => compare::aof_tables(d),
            Detail::Durability(d) => html! {
                (compare::durability_tables(d))
                (partition::durability_runs(&d.durability_runs))
            },
            Detail::Servers(d) => compare::server_tables(d),
        }
    }

    fn first_errors(&self) -> Option<&BTreeMap<String, FirstError>> {
        match self {
            Detail::Memory(d) => Some(&d.first_errors),
            Detail::Crash(d) => Some(&d.first_errors),
            _ => None,
        }
    }

    fn disagreements(&self) -> &[String] {
        match self {
            Detail::Memory(d) => &d.end.disagreements,
            Detail::Crash(d) => &d.end.disagreements,
            Detail::Backlog(d) => &d.end.disagreements,
            Detail::Failover(d) => &d.end.disagreements,
            _ => &[],
        }
    }

    fn across_runs(&self) -> bool {
        matches!(self, Detail::Aof(_))
    }
}

/// What every chart over time on one page shares: the moments it marks and the x range, so that
/// a moment sits at the same place on every chart.
pub struct Frame<'a> {
    pub events: &'a [Event],
    /// Seconds since the load started that every chart's x axis runs to.
    pub x_max: f64,
}

/// The page of one scenario report (or of a run: `doc.command` "run").
pub fn scenario_page<D: DetailPage>(doc: &ScenarioDocument<'_, D>) -> String {
    let r = doc.report;
    let title = if doc.command == "scenario" {
        format!("rcstress scenario: {}", r.scenario)
    } else {
        format!("rcstress {}", doc.command)
    };
    let x_max = r
        .series
        .iter()
        .map(|s| s.t)
        .chain(r.events.iter().map(|e| e.t))
        .chain([r.elapsed_seconds, r.detail.t_max()])
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let frame = Frame {
        events: &r.events,
        x_max,
    };
    let body = html! {
        (run::top(r, &title, x_max))
        (run::time_charts(r, &frame))
        (r.detail.charts(&frame))
        (run::moments(&r.events))
        (run::latency(r))
        (run::errors(r))
        (r.detail.tables())
        (run::disagreements(r.detail.disagreements()))
        (glossary::configuration(&r.config))
        (glossary::glossary(&r.errors))
    };
    page(&title, doc.version, body)
}

/// A whole self-contained page: `body`, then the footer naming the version and the time.
fn page(title: &str, version: &str, body: Markup) -> String {
    let footer = format!(
        "Generated by rcstress {version} at {} UTC. Self-contained: no scripts, no network.",
        utc_now()
    );
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (body)
                    footer { (footer) }
                }
            }
        }
    }
    .into_string()
}

/// A card with a title, an optional note, and its content.
fn section(title: &str, note: &str, content: Markup) -> Markup {
    html! {
        section {
            h2 { (title) }
            @if !note.is_empty() {
                p class="note" { (note) }
            }
            (content)
        }
    }
}

/// The report's events as chart markers (their labels are keyed once, in the table of moments).
fn markers(events: &[Event]) -> Vec<Marker> {
    events
        .iter()
        .map(|e| Marker {
            x: e.t,
            label: e.label.clone(),
        })
        .collect()
}

/// A table with human headers; numbers right-aligned; wide tables scroll inside their card.
fn table(headers: &[&str], rows: &[Vec<Cell>]) -> Markup {
    html! {
        div class="scroll" {
            table {
                tr { @for h in headers { th { (h) } } }
                @for row in rows.iter().take(500) {
                    tr {
                        @for c in row {
                            @match c {
                                Cell::Num(t) => td class="num nowrap" { (t) },
                                Cell::Key(t) => td class="nowrap" { (t) },
                                Cell::Text(t) => td { (t) },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A card with a table of text cells: for reports outside this module (`rcstress merge`).
pub fn table_section(title: &str, note: &str, headers: &[&str], rows: &[Vec<String>]) -> Markup {
    let rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| r.iter().map(|c| Cell::Text(c.clone())).collect())
        .collect();
    section(title, note, table(headers, &rows))
}

/// One cell of a [`table`].
enum Cell {
    /// A figure: right-aligned, never broken.
    Num(String),
    /// A short name (a mode, a fault, a node): left-aligned, never broken ("shard-kill", not
    /// "shard-/kill").
    Key(String),
    Text(String),
}

/// "2025-01-31 14:05:09" from the system clock, without a date library.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
