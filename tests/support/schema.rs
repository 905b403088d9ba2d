//! The reports against their checked-in JSON Schemas (`schema/`): every test that makes a report
//! checks it here, so each scenario's real output is validated without runs of its own.

use redis_cluster_stress::report::ScenarioDocument;
use redis_cluster_stress::scenario::ScenarioReport;
use serde_json::Value;

const RUN: &str = include_str!("../../schema/run.schema.json");
const SCENARIO: &str = include_str!("../../schema/scenario.schema.json");

fn assert_valid(schema: &str, what: &str, v: &Value) {
    let schema: Value = serde_json::from_str(schema).expect("schema file is JSON");
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{what} schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the {what} does not fit schema/{what}.schema.json:\n{}",
        errors.join("\n")
    );
}

/// A `rcstress run --json` file.
pub fn assert_valid_run(v: &Value) {
    assert_valid(RUN, "run", v);
}

/// A `rcstress scenario NAME --json` file.
pub fn assert_valid_scenario(v: &Value) {
    assert_valid(SCENARIO, "scenario", v);
}

/// The JSON `rcstress scenario` would write for `r`, validated; returned for further checks.
pub fn valid_scenario_json(r: &ScenarioReport) -> Value {
    let v = serde_json::to_value(ScenarioDocument::new(r)).expect("report serializes");
    assert_valid_scenario(&v);
    v
}
