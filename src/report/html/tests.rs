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
    assert!(page.contains("Verdict: 3 lost"));
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
    assert!(page(&r).contains(
        "CPU per message: client 3.10 µs · server 9.50 µs (masters 6.10, replicas 3.40) · a replica was not in sync at the start"
    ));
    r.cost = Some(Cost {
        client_cpu_us_per_msg: 2.0,
        replicas_in_sync: true,
        ..Default::default()
    });
    assert!(page(&r).contains("CPU per message: client 2.00 µs</p>"));
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
        "node",
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
