use std::collections::BTreeMap;

use super::*;
use crate::check::Verdict;
use crate::cost::Cost;
use crate::metrics::{Latency, SecondSample};
use crate::report::ScenarioDocument;
use crate::scenario::failover::{FailoverDetail, KillRecord};
use crate::scenario::memory::{KeyWatch, MasterMemory, MemoryDetail, MemorySample};
use crate::scenario::{Detail, RunEnd, ScenarioReport};

fn base(scenario: &str) -> ScenarioReport<()> {
    let mut r = ScenarioReport::blank(scenario);
    r.config = serde_json::json!({"maxmemory": "3mb <b>"});
    r.elapsed_seconds = 2.5;
    r.throughput_msgs_per_sec = 1000.0;
    r
}

fn end() -> RunEnd {
    RunEnd {
        ended_by: "quiet".into(),
        redis_xlen: Some(5),
        disagreements: Vec::new(),
    }
}

fn page<D: DetailPage>(r: &ScenarioReport<D>) -> String {
    scenario_page(&ScenarioDocument::new(r))
}

fn memory_report() -> ScenarioReport {
    let mut r = base("memory-pressure");
    r.verdict = Verdict::Failed {
        lost: 3,
        unexpected: 0,
    };
    r.counts.lost = 3;
    r.latency_us = Latency {
        p50: 100,
        p90: 200,
        p99: 900,
        p999: 5000,
        max: 20000,
        mean: 150.0,
        count: 5,
    };
    r.errors.insert("OOM".into(), 2);
    r.series = vec![SecondSample {
        t: 1.0,
        sent: 5,
        errors: 1,
        ..Default::default()
    }];
    let first_errors = BTreeMap::from([(
        "OOM".to_string(),
        crate::metrics::FirstError {
            attempted: 7,
            seconds: 1.2,
            message: "OOM <command not allowed>".into(),
        },
    )]);
    r.finding("first OOM after 7 sends")
        .event(1.2, "first OOM")
        .with_detail(MemoryDetail {
            first_errors,
            maxmemory_bytes: 3_145_728,
            peak_used_memory: 3_000_000,
            evicted_keys: 1,
            stream_evicted: true,
            group_evicted: true,
            client_survived: true,
            stream_keys: vec![KeyWatch {
                key: "s{0}".into(),
                first_missing_at: Some(1.5),
                ..Default::default()
            }],
            memory: vec![MasterMemory {
                node: "127.0.0.1:1".into(),
                maxmemory: 3_145_728,
                samples: vec![MemorySample {
                    t: 0.5,
                    used_memory: 2_000_000,
                    evicted_keys: 0,
                }],
            }],
            end: end(),
        })
}

#[test]
fn page_is_self_contained_and_escapes_what_it_shows() {
    let page = page(&memory_report());
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..40]);
    // Nothing is fetched at view time: no scripts, no sources, no links, no imports.
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(needle), "page contains {needle}");
    }
    assert!(page.contains("Data: 3 lost"));
    assert!(page.contains("OOM &lt;command not allowed&gt;"));
    assert!(!page.contains("<command not allowed>"));
    assert!(
        page.contains("3mb &lt;b&gt;"),
        "the configuration is escaped too"
    );
    assert!(page.contains("used_memory per master"));
    assert!(page.contains("Stream keys"));
    assert!(page.contains("first seen missing"));
    assert!(!page.contains("NaN"));
}

/// "Errors by kind" shows the first-error columns only when the scenario kept first errors, so
/// no column stays empty.
#[test]
fn errors_by_kind_has_no_empty_columns() {
    let page_with = page(&memory_report());
    assert!(page_with.contains("first after (sends attempted)"));
    let mut r = base("failover");
    r.errors.insert("CLUSTERDOWN".into(), 4);
    let page_without = page(&r);
    assert!(page_without.contains("Errors by kind"));
    assert!(
        !page_without.contains("first after"),
        "no first errors, no such columns"
    );
}

/// The run's cost is one line under the verdict, and a run whose replicas were not in sync
/// says so there.
#[test]
fn cost_is_one_line_and_says_when_replicas_were_not_in_sync() {
    let mut r = base("failover");
    r.cost = Some(Cost {
        client_cpu_us_per_msg: 3.104,
        server_cpu_us_per_msg: Some(9.5),
        server_master_cpu_us_per_msg: Some(6.1),
        server_replica_cpu_us_per_msg: Some(3.4),
        replicas_in_sync: false,
        ..Default::default()
    });
    r.cost.as_mut().unwrap().masters_measured = 3;
    r.cost.as_mut().unwrap().replicas_measured = 3;
    assert!(page(&r).contains(
        "CPU per message: client 3.10 µs/msg · server 9.50 µs/msg (masters 6.10, replicas 3.40, 3+3 nodes measured) · a replica was not in sync at the start"
    ));
    r.cost = Some(Cost {
        client_cpu_us_per_msg: 2.0,
        replicas_in_sync: true,
        ..Default::default()
    });
    assert!(page(&r).contains("CPU per message: client 2.00 µs/msg · server not measured</p>"));
    // No master measured (they did not answer INFO): n/a with the reason, never 0.00.
    r.cost = Some(Cost {
        server_cpu_us_per_msg: Some(79.58),
        server_master_cpu_us_per_msg: Some(0.0),
        server_replica_cpu_us_per_msg: Some(79.58),
        replicas_measured: 2,
        replicas_in_sync: true,
        notes: vec![":7000 did not answer INFO at the end".into()],
        ..Default::default()
    });
    let text = page(&r);
    assert!(text.contains("masters n/a, replicas 79.58, 0+2 nodes measured) (:7000 did not answer INFO at the end)"), "{text}");
    assert!(!text.contains("masters 0.00"));
}

/// The failover page: the kills in two narrow tables that scroll inside their cards, columns
/// in the order a fault unfolds under human headers with units, and errors as "KIND n" rather
/// than raw JSON.
#[test]
fn failover_tables_read_in_order_with_units() {
    let kill = KillRecord {
        step: 1,
        fault: "kill".into(),
        node: ":7000".into(),
        t: 2.0,
        marked_fail_after_s: Some(2.1),
        promoted: Some(":7004".into()),
        promoted_after_s: Some(2.9),
        outcome: "promoted".into(),
        cluster_state_fail_s: 0.8,
        shard_window_s: 3.0,
        other_shards_window_s: 0.7,
        errors: BTreeMap::from([("CLUSTERDOWN".to_string(), 12), ("MOVED".to_string(), 0)]),
        shard_p99_us: 3_100_000,
        shard_max_us: 3_500_000,
        other_shards_p99_us: 900,
        shards: vec![0],
        shard_acked: 40,
        restarted: None,
        ..Default::default()
    };
    let page = page(&base("failover").with_detail::<Detail>(FailoverDetail {
        kills: vec![kill],
        final_cluster_state: "ok".into(),
        node_timeout_ms: 2000,
        end: end(),
    }));
    let order = [
        "node (role, shard, port)",
        "at",
        "marked FAIL after",
        "taken over by",
        "outcome",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|h| page.find(&format!("<th>{h}</th>")).expect(h))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert!(
        page.contains("<td>CLUSTERDOWN 12</td>"),
        "zero kinds left out"
    );
    assert!(page.contains("3.10 s") && page.contains("2.10 s"));
    assert!(!page.contains("{&quot;"), "no raw JSON in a cell");
    assert!(
        !page.contains("_s</th>") && !page.contains("_us</th>"),
        "no snake_case headers"
    );
    assert!(page.contains("<div class=\"scroll\"><table>"));
    assert!(page.contains("<td>master of shard 0, :7000</td>"), "{page}");
}

/// A fault after which nothing of its shards was acked has no latency figure: "none acked",
/// never a p99 from intervals that measured nothing.
#[test]
fn a_fault_with_nothing_acked_has_no_latency_figure() {
    let kill = KillRecord {
        step: 4,
        fault: "kill".into(),
        node: ":7002".into(),
        shards: vec![2],
        shard_acked: 0,
        outcome: "cluster down".into(),
        ..Default::default()
    };
    let page = page(&base("failover").with_detail::<Detail>(FailoverDetail {
        kills: vec![kill],
        final_cluster_state: "fail".into(),
        node_timeout_ms: 2000,
        end: end(),
    }));
    assert!(page.contains("none acked"));
    assert!(!page.contains(">0 µs<"), "no 0 µs cell");
}

/// memory-pressure: when XPENDING failed, the pending card says n/a, not 0.
#[test]
fn pending_card_is_n_a_when_xpending_failed() {
    let mut r = memory_report();
    r.pending_at_end_known = false;
    let page = page(&r);
    assert!(page.contains("n/a (XPENDING failed)"));
}

#[test]
fn dates_are_civil() {
    let s = utc_now();
    assert_eq!(s.len(), 19);
    assert!(s.starts_with("20"));
}

/// The text a chart draws, without its markup: what a reader sees.
fn visible_text(page: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in page.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                out.push(' ');
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn interval(t: f64, acked: u64, p99_us: u64) -> SecondSample {
    SecondSample {
        t,
        sent: 10,
        acked,
        p50_us: p99_us / 2,
        p99_us,
        max_us: p99_us,
        ..Default::default()
    }
}

/// A closed-loop run says its send→ack is time in the system (queueing included) and points to
/// --rate; an open-loop one says it counts from the scheduled send time; the per-command round
/// trip stands beside it.
#[test]
fn latency_says_what_it_measures() {
    let mut r = base("run");
    r.latency_us = Latency {
        p50: 1000,
        count: 5,
        ..Default::default()
    };
    r.confirm_latency_us = Latency {
        p50: 300,
        p99: 900,
        count: 5,
        ..Default::default()
    };
    r.series = vec![interval(0.1, 5, 1000)];
    let closed = visible_text(&page(&r));
    assert!(
        closed.contains("closed loop: time in the system"),
        "{closed}"
    );
    assert!(closed.contains("use --rate"));
    assert!(!closed.contains("scheduled send time"));
    assert!(closed.contains("per-command round trip (send → XADD reply) p50 300 µs  p99 900 µs"));
    r.rate_msgs_per_sec = Some(2000.0);
    let open = visible_text(&page(&r));
    assert!(open.contains("open loop at 2,000 msg/s: from each message's scheduled send time"));
    assert!(!open.contains("closed loop: time in the system"));
}

/// An interval with nothing acked is a gap in the latency charts, not a point at 0 µs: the p99
/// line is two pieces (two "M" moves) and no latency point sits on the zero line.
#[test]
fn empty_intervals_are_gaps_not_zero_latency() {
    let mut r = base("failover");
    r.latency_us = Latency {
        p99: 4000,
        count: 10,
        ..Default::default()
    };
    r.series = vec![
        interval(0.1, 5, 4000),
        interval(0.2, 5, 4000),
        interval(0.3, 0, 0),
        interval(0.4, 5, 4000),
        interval(0.5, 5, 4000),
    ];
    let text = page(&r);
    let latency = &text[text.find("Send → ack latency per interval").unwrap()..];
    let p99 = latency
        .split("<path ")
        .find(|p| p.contains("<title>p99</title>"))
        .expect("a p99 line");
    let d = &p99[p99.find("d=\"").unwrap() + 3..];
    let d = &d[..d.find('"').unwrap()];
    assert_eq!(d.matches('M').count(), 2, "a gap splits the line: {d}");
    // The plot's bottom (0 µs) is at y = 300 - 44 = 256.
    assert!(!d.contains(",256.0"), "no point drawn at 0 µs: {d}");
    assert!(visible_text(&text).contains("a gap, not 0"));
}

/// A fault's outcome comes first: the cluster's fate before the checker's green verdict, and the
/// seed's expected outcome beside a red one.
#[test]
fn the_outcome_comes_before_the_verdict() {
    let r = base("failover").outcome(
        "down at the end: the 4th kill left a shard without a replica",
        false,
    );
    let text = visible_text(&page(&r));
    let outcome = text.find("Cluster: down at the end").expect(&text);
    let verdict = text.find("Data: no acknowledged write lost").expect(&text);
    assert!(outcome < verdict);
    assert!(page(&r).contains("verdict outcome bad"));
    let m = memory_report().expected("the seed saw the stream evicted");
    let text = visible_text(&page(&m));
    let expected = text.find("Expected:").expect(&text);
    assert!(text[expected..]
        .trim_start_matches("Expected:")
        .trim_start()
        .starts_with("the seed saw"));
    assert!(expected < text.find("Data: 3 lost").unwrap());
}

/// Every page has a glossary of its counts and error kinds, and the configuration as a table of
/// settings (internals such as block_ms and unset ones left to the JSON).
#[test]
fn glossary_and_configuration_table() {
    let mut r = base("failover");
    r.config = serde_json::json!({"workload": {"messages": 1200000, "producers": 3, "block_ms": 500, "worker": null, "rate": 3000.0}, "fault": "kill"});
    r.errors.insert("CLUSTERDOWN".into(), 4);
    let text = visible_text(&page(&r));
    for term in [
        "CLUSTERDOWN",
        "MOVED",
        "NOGROUP",
        "UNBLOCKED",
        "unverifiable",
        "indeterminate",
        "duplicate writes",
        "refused",
    ] {
        assert!(text.contains(&format!(" {term} ")), "glossary lacks {term}");
    }
    assert!(text.contains("workload › messages (at most)"));
    assert!(text.contains("1,200,000"));
    assert!(text.contains("workload › producers"));
    assert!(
        !text.contains("block_ms") && !text.contains("worker"),
        "{text}"
    );
    assert!(!page(&r).contains("<pre>"), "no raw JSON dump");
}

/// The page's charts share one x range (the header says it), and each moment's kind has its own
/// colour, keyed once in the table of moments rather than under every chart.
#[test]
fn charts_share_one_x_range_and_one_key() {
    let mut r = base("failover")
        .event(1.0, "kill master :7000")
        .event(1.5, "promoted :7003");
    r.series = vec![interval(0.5, 5, 900), interval(3.0, 5, 900)];
    r.errors.insert("CLUSTERDOWN".into(), 1);
    r.series[1].errors = 1;
    let text = page(&r);
    assert!(visible_text(&text).contains("charts run from 0 to 3.00 s"));
    assert_eq!(text.matches("<h2>Moments</h2>").count(), 1);
    assert!(!text.contains("class=\"mkey\""), "no key under each chart");
    assert!(text.contains("stroke=\"#7c3aed\"") && text.contains("stroke=\"#0f766e\""));
}
