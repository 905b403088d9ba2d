//! The JSON Schemas in `schema/` are the ones the report types derive: a change to a report type
//! that the files do not follow fails here. `UPDATE_SCHEMA=1 cargo test --test schema` rewrites
//! them (then review the diff: a renamed or removed field breaks readers).
//!
//! That real reports fit them is checked where they are made: each scenario test and the CLI's
//! `run --json` test call `support::schema`.

mod support;

use std::path::Path;

use redis_cluster_stress::report::schema;

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

/// The schema is not a rubber stamp: a report without its verdict, or with a count that is not
/// a number, is refused.
#[test]
fn the_scenario_schema_refuses_what_is_not_a_report() {
    let refuses = |v: serde_json::Value| {
        std::panic::catch_unwind(|| support::schema::assert_valid_scenario(&v)).is_err()
    };
    assert!(refuses(serde_json::json!({"scenario": "x"})));
    assert!(refuses(serde_json::json!([])));
}
