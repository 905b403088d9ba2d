//! The page of a run while it goes on (`run --checkpoint SECS --html F`): the checkpoint's
//! counters, the progress samples seen so far as charts and a table, and the configuration.
//! The final page replaces it when the run ends.

use maud::{html, Markup};

use super::run::{line, over_time};
use super::{page, section, table, Cell, Frame};
use crate::report::chart::LineChart;
use crate::report::{Progress, RunCheckpoint};
use crate::units::{bytes, human_bytes, thousands};

/// Rows of the samples table: the most recent ones (the charts show the whole history).
const TABLE_ROWS: usize = 20;

/// The page of `doc` with `history`, the progress samples oldest first.
pub fn checkpoint_page(doc: &RunCheckpoint, history: &[Progress]) -> String {
    let p = &doc.progress;
    let body = html! {
        header {
            h1 { "rcstress " (doc.command) }
            div class="sub" {
                (format!("{:.1}", p.elapsed_seconds)) " s of load so far · "
                (thousands(p.acked_per_sec.round() as u64)) " msg/s acked"
            }
        }
        div class="verdict warn" {
            "Status: " (doc.status) " — partial"
            small {
                "The run goes on: this page is rewritten at every checkpoint and replaced by the "
                "full report when the run ends. No verdict yet: the checker runs at the end."
            }
        }
        (cards(p))
        (charts(history))
        (samples(history))
        section {
            h2 { "Configuration" }
            pre { (serde_json::to_string_pretty(&doc.config).unwrap_or_default()) }
        }
    };
    page(
        &format!("rcstress {} (running)", doc.command),
        doc.version,
        body,
    )
}

/// The live counters as cards; errors and an unknown server memory stand out.
fn cards(p: &Progress) -> Markup {
    let server = p.server_used_memory_bytes.map_or("?".into(), human_bytes);
    let cards: [(&str, String, bool); 8] = [
        ("attempted", thousands(p.attempted), false),
        ("produced (XADD ok)", thousands(p.produced), false),
        ("acked", thousands(p.acked), false),
        ("backlog", thousands(p.backlog), false),
        ("errors", thousands(p.errors), p.errors > 0),
        (
            "acked msg/s",
            thousands(p.acked_per_sec.round() as u64),
            false,
        ),
        (
            "server used_memory",
            server,
            p.server_used_memory_bytes.is_none(),
        ),
        (
            "client peak RSS",
            human_bytes(p.client_peak_rss_bytes),
            false,
        ),
    ];
    html! {
        div class="cards" {
            @for (label, v, alert) in cards {
                div class=(if alert { "card alert" } else { "card" }) {
                    div class="k" { (label) }
                    div class="v" { (v) }
                }
            }
        }
    }
}

/// Acked rate and backlog on one chart, server and client memory on another.
fn charts(history: &[Progress]) -> Markup {
    if history.is_empty() {
        return html! {};
    }
    let series = |f: fn(&Progress) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|p| f(p).map(|v| (p.elapsed_seconds, v)))
            .collect()
    };
    let frame = Frame {
        events: &[],
        x_max: history.last().map_or(0.0, |p| p.elapsed_seconds),
    };
    let counts = vec![
        line("acked msg/s", 0, series(|p| Some(p.acked_per_sec)), true),
        line("backlog", 3, series(|p| Some(p.backlog as f64)), false),
    ];
    let memory = vec![
        line(
            "server used_memory (masters)",
            2,
            series(|p| p.server_used_memory_bytes.map(|b| b as f64)),
            false,
        ),
        line(
            "client peak RSS",
            1,
            series(|p| Some(p.client_peak_rss_bytes as f64)),
            false,
        ),
    ];
    let memory = LineChart {
        y_format: bytes,
        y_unit: 1_048_576.0,
        ..over_time("Memory so far", "bytes", memory, &frame)
    };
    html! {
        (section(
            "Rate and backlog so far",
            "Sampled every second; the backlog is produced and not yet acked.",
            over_time("Rate and backlog so far", "messages", counts, &frame).render(),
        ))
        (section(
            "Memory so far",
            "used_memory summed over the masters (INFO memory), and the client's peak resident memory.",
            memory.render(),
        ))
    }
}

/// The last samples, newest first.
fn samples(history: &[Progress]) -> Markup {
    let rows: Vec<Vec<Cell>> = history
        .iter()
        .rev()
        .take(TABLE_ROWS)
        .map(|p| {
            vec![
                Cell::Num(format!("{:.1}", p.elapsed_seconds)),
                Cell::Num(thousands(p.acked)),
                Cell::Num(thousands(p.acked_per_sec.round() as u64)),
                Cell::Num(thousands(p.backlog)),
                Cell::Num(thousands(p.errors)),
                Cell::Num(p.server_used_memory_bytes.map_or("?".into(), human_bytes)),
                Cell::Num(human_bytes(p.client_peak_rss_bytes)),
            ]
        })
        .collect();
    let headers = [
        "s",
        "acked",
        "msg/s",
        "backlog",
        "errors",
        "server memory",
        "client RSS",
    ];
    section(
        "Latest samples",
        "The most recent progress samples, newest first.",
        table(&headers, &rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(progress: Progress) -> RunCheckpoint {
        RunCheckpoint {
            tool: "rcstress",
            version: "0",
            command: "run",
            status: "running",
            config: serde_json::json!({"cluster": "at <127.0.0.1:7000>"}),
            progress,
        }
    }

    #[test]
    fn a_page_before_any_sample_is_whole_and_says_running() {
        let page = checkpoint_page(&doc(Progress::default()), &[]);
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert!(page.contains("running — partial"), "{page}");
        assert!(!page.contains("<svg"), "no chart without samples");
    }

    #[test]
    fn samples_become_charts_and_rows_and_text_is_escaped() {
        let history: Vec<Progress> = (1..=30)
            .map(|i| Progress {
                elapsed_seconds: i as f64,
                acked: 1000 * i,
                acked_per_sec: 500.0,
                backlog: 7,
                server_used_memory_bytes: (i != 3).then_some(2_000_000 + i),
                client_peak_rss_bytes: 9_000_000,
                ..Progress::default()
            })
            .collect();
        let page = checkpoint_page(&doc(history[29].clone()), &history);
        assert_eq!(page.matches("<svg").count(), 2, "{page}");
        assert!(!page.contains("NaN"));
        // The newest row is there; the oldest is beyond the table's rows.
        assert!(
            page.contains("30,000") && !page.contains(">1,000<"),
            "{page}"
        );
        assert!(page.contains("&lt;127.0.0.1:7000&gt;") && !page.contains("<127.0.0.1"));
    }
}
