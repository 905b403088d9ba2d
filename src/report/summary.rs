//! The summaries a person reads in the terminal: a run's, a scenario's, and the cluster's facts.

use super::words::{latency_basis, percentiles, round_trip};
use crate::cluster::ClusterFacts;
use crate::metrics::Latency;
use crate::scenario::ScenarioReport;
use crate::units::{mib, thousands};
use crate::workload::RunResult;

/// "OOM 12  MOVED 3", or "none".
fn errors_text(errors: &std::collections::BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "none".to_string();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The durability line: writes whose XADD succeeded and whose WAIT / WAITAOF fell short.
fn unconfirmed_line(unconfirmed: u64) -> String {
    if unconfirmed == 0 {
        return String::new();
    }
    format!(
        "  durability  unconfirmed {} (XADD ok, the WAIT/WAITAOF after it fell short)\n",
        thousands(unconfirmed)
    )
}

/// The human summary of a scenario: its findings, the checker's counts and the verdict.
pub fn scenario_summary<D>(r: &ScenarioReport<D>) -> String {
    let c = &r.counts;
    let l = &r.latency_us;
    let mut s = format!("rcstress scenario {}\n", r.scenario);
    if let Some(o) = &r.outcome {
        s.push_str(&format!("  outcome     {}\n", o.text));
    }
    if let Some(e) = &r.expected {
        s.push_str(&format!("  expected    {e}\n"));
    }
    for f in &r.findings {
        s.push_str(&format!("  - {f}\n"));
    }
    let pending = r.pending_at_end_text();
    s.push_str(&format!(
        "  counts      attempted {}  produced {}  delivered {}  acked {}\n              \
         lost {}  duplicated {}  recovered {}  unexpected {}  pending at end {pending}  refused {}  indeterminate {}\n\
         {}  \
         errors      {}\n  \
         verdict     {}\n",
        thousands(c.attempted),
        thousands(c.produced),
        thousands(c.delivered),
        thousands(c.acked),
        thousands(c.lost),
        thousands(c.duplicated),
        thousands(c.recovered),
        thousands(c.unexpected),
        thousands(c.produce_failed),
        thousands(c.produce_indeterminate),
        if r.mixed_loops {
            "  latency     per run kind only (above): closed- and open-loop runs measure different things\n".into()
        } else {
            latency_lines(
                l,
                &r.confirm_latency_us,
                r.rate_msgs_per_sec,
                &[("p50", l.p50), ("p99", l.p99), ("max", l.max)],
            )
        },
        errors_text(&r.errors),
        r.verdict
    ));
    s.push_str(&unconfirmed_line(c.unconfirmed));
    if let Some(cost) = &r.cost {
        s.push_str(&format!("  cpu         {}\n", cost.line()));
    }
    for w in &r.facts.warnings {
        s.push_str(&format!("  WARNING     {w}\n"));
    }
    s
}

/// The latency lines: send→ack with what it measures, then the per-command round trip; "n/a"
/// when nothing was acked (a run with no consumers, such as memory-pressure): 0 µs there would
/// read as instant.
fn latency_lines(
    l: &Latency,
    confirm: &Latency,
    rate: Option<f64>,
    quantiles: &[(&str, u64)],
) -> String {
    let Some(p) = percentiles(l, quantiles) else {
        return "  latency     send→ack n/a (nothing acked)\n".into();
    };
    let mut s = format!(
        "  latency     send→ack {p}\n              ({})\n",
        latency_basis(rate)
    );
    if let Some(rt) = round_trip(confirm) {
        s.push_str(&format!("              {rt}\n"));
    }
    s
}

/// The human summary of a run, several lines.
pub fn summary(title: &str, r: &RunResult) -> String {
    let c = &r.counts;
    let l = &r.latency_us;
    let errors = errors_text(&r.errors);
    let mut s = format!(
        "{title}\n  elapsed     {:.3} s   throughput {} msg/s   (ended: {})\n  \
         counts      attempted {}  produced {}  delivered {}  acked {}\n              \
         lost {}  duplicated {}  recovered {}  unexpected {}  pending at end {}  refused {}  indeterminate {}\n\
         {}  \
         errors      {errors}\n",
        r.elapsed_seconds,
        thousands(r.throughput_msgs_per_sec.round() as u64),
        r.ended_by,
        thousands(c.attempted),
        thousands(c.produced),
        thousands(c.delivered),
        thousands(c.acked),
        thousands(c.lost),
        thousands(c.duplicated),
        thousands(c.recovered),
        thousands(c.unexpected),
        thousands(c.pending_at_end),
        thousands(c.produce_failed),
        thousands(c.produce_indeterminate),
        latency_lines(
            l,
            &r.confirm_latency_us,
            r.rate_msgs_per_sec,
            &[
                ("p50", l.p50),
                ("p90", l.p90),
                ("p99", l.p99),
                ("p99.9", l.p999),
                ("max", l.max),
            ]
        ),
    );
    s.push_str(&format!("  memory      {}\n", run_memory_line(r)));
    s.push_str(&format!("  cpu         {}\n", r.cost.line()));
    if let Some(w) = r.cost.sync_warning() {
        s.push_str(&format!("  warning     {w}\n"));
    }
    if let Some(t) = trim_line(r) {
        s.push_str(&format!("  trim        {t}\n"));
    }
    s.push_str(&unconfirmed_line(c.unconfirmed));
    for d in r.notes.iter().chain(&r.disagreements) {
        s.push_str(&format!("  note        {d}\n"));
    }
    s.push_str(&format!("  verdict     {}\n", r.verdict));
    s
}

/// "ledger 1.2 MiB, client peak RSS 30.1 MiB": the client's memory (summary and run page).
pub fn run_memory_line(r: &RunResult) -> String {
    format!(
        "ledger {}, client peak RSS {}",
        mib(r.ledger_bytes as u64),
        mib(r.client_peak_rss_bytes)
    )
}

/// What trimming removed, with `--trim` (summary and run page).
pub fn trim_line(r: &RunResult) -> Option<String> {
    r.trimmed_entries.map(|t| {
        format!(
            "{} entries trimmed, {} of them unread; XLEN at the end {}",
            thousands(t),
            thousands(r.counts.trimmed_unread),
            r.redis_xlen.map_or("?".into(), thousands)
        )
    })
}

/// The lines a summary adds about the cluster: server and data file system, then each warning.
pub fn facts_summary(facts: &ClusterFacts) -> String {
    let mut s = format!("  server      {}\n", facts.describe());
    for w in &facts.warnings {
        s.push_str(&format!("  WARNING     {w}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::RunEnd;

    fn report() -> ScenarioReport<()> {
        ScenarioReport::blank("x")
    }

    /// A scenario's text summary shows its cost, as a run's does.
    #[test]
    fn scenario_summary_has_the_cpu_line() {
        let cost = crate::cost::Cost {
            messages: 1000,
            client_cpu_seconds: 0.003,
            client_cpu_us_per_msg: 3.0,
            replicas_in_sync: true,
            ..Default::default()
        };
        let r = report();
        assert!(!scenario_summary(&r).contains("  cpu "));
        assert!(
            scenario_summary(&r).contains("send→ack n/a (nothing acked)"),
            "no ack, no latency figure"
        );
        let with_cost = ScenarioReport {
            cost: Some(cost.clone()),
            ..report()
        };
        let text = scenario_summary(&with_cost);
        let line = text.lines().find(|l| l.starts_with("  cpu")).expect(&text);
        assert!(line.contains(&cost.line()), "{text}");
    }

    /// When XPENDING failed (memory-pressure evicted the stream and its group), the pending
    /// count is not a reading: the summary says n/a rather than 0.
    #[test]
    fn pending_is_n_a_when_xpending_failed() {
        let r = report();
        assert!(scenario_summary(&r).contains("pending at end 0 "));
        let unknown = ScenarioReport {
            pending_at_end_known: false,
            ..report()
        }
        .with_detail::<RunEnd>(RunEnd {
            ended_by: "quiet".into(),
            redis_xlen: None,
            disagreements: vec!["XPENDING failed at the end (stream or group gone?)".into()],
        });
        let text = scenario_summary(&unknown);
        assert!(
            text.contains("pending at end n/a (XPENDING failed)"),
            "{text}"
        );
        assert!(!text.contains("pending at end 0"), "{text}");
    }

    /// A report that pools closed- and open-loop runs (durability) gives no pooled latency
    /// figure, whose meaning would be neither.
    #[test]
    fn pooled_closed_and_open_loop_latency_is_not_shown() {
        let mut r = report();
        r.latency_us.count = 10;
        r.latency_us.p50 = 5000;
        assert!(scenario_summary(&r).contains("send→ack p50 5.00 ms"));
        r.mixed_loops = true;
        let text = scenario_summary(&r);
        assert!(!text.contains("send→ack p50"), "{text}");
        assert!(text.contains("closed- and open-loop runs measure different things"));
    }
}
