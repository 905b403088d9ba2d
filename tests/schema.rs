//! The JSON Schemas in `schema/` are the ones the report types derive: a change to a report type
//! that the files do not follow fails here. `UPDATE_SCHEMA=1 cargo test --test schema` rewrites
//! them (then review the diff: a renamed or removed field breaks readers).
//!
//! That real reports fit them is checked where they are made: each scenario test and the CLI's
//! `run --json` test call `support::schema`.

mod support;

use std::path::Path;

use redis_cluster_stress::check::{Counts, Verdict};
use redis_cluster_stress::metrics::Latency;
use redis_cluster_stress::report::schema;
use redis_cluster_stress::scenario::crash::CrashDetail;
use redis_cluster_stress::scenario::{Detail, RunEnd, ScenarioReport};

fn check(file: &str, generated: serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(file);
    let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "schema/{file} is not what the types derive; run UPDATE_SCHEMA=1 cargo test --test schema and review the diff"
    );
}

#[test]
fn run_schema_file_is_what_the_types_derive() {
    check("run.schema.json", schema::run());
}

#[test]
fn scenario_schema_file_is_what_the_types_derive() {
    check("scenario.schema.json", schema::scenario());
}

/// A consumer-crash report built by hand, as the scenario would fill it.
fn crash_report() -> ScenarioReport {
    ScenarioReport {
        scenario: "consumer-crash".into(),
        config: serde_json::json!({"messages": 10}),
        verdict: Verdict::Ok,
        elapsed_seconds: 1.0,
        throughput_msgs_per_sec: 10.0,
        counts: Counts::default(),
        pending_at_end_known: true,
        latency_us: Latency::default(),
        confirm_latency_us: Latency::default(),
        rate_msgs_per_sec: None,
        mixed_loops: false,
        shard_keys: vec!["s{0}".into()],
        outcome: None,
        expected: None,
        errors: Default::default(),
        series: Vec::new(),
        events: Vec::new(),
        findings: vec!["2 consumer crashes".into()],
        cost: None,
        facts: Default::default(),
        detail: Detail::Crash(CrashDetail {
            consumer_crashes: 2,
            stranded: 0,
            crashes_over_time: Vec::new(),
            delivery_latency_us: Latency::default(),
            first_errors: Default::default(),
            end: RunEnd {
                ended_by: "all acked".into(),
                redis_xlen: Some(10),
                disagreements: Vec::new(),
            },
        }),
    }
}

/// The schema is not a rubber stamp: the report above fits it, and the same report without its
/// verdict, with a count that is not a number, or without its scenario's own fields does not.
#[test]
fn the_scenario_schema_refuses_what_is_not_a_report() {
    let valid = support::schema::valid_scenario_json(&crash_report());
    let refuses = |v: serde_json::Value| {
        std::panic::catch_unwind(|| support::schema::assert_valid_scenario(&v)).is_err()
    };
    let mut no_verdict = valid.clone();
    no_verdict.as_object_mut().unwrap().remove("verdict");
    assert!(refuses(no_verdict));
    let mut bad_count = valid.clone();
    bad_count["counts"]["lost"] = "none".into();
    assert!(refuses(bad_count));
    let mut no_detail = valid.clone();
    no_detail
        .as_object_mut()
        .unwrap()
        .remove("consumer_crashes");
    assert!(
        refuses(no_detail),
        "a report must carry one scenario's fields"
    );
    assert!(refuses(serde_json::json!([])));
}
