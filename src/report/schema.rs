//! The JSON Schemas of the reports, derived from their types (schemars), so that the checked-in
//! files in `schema/` are what the code writes: a test fails when a type changes and the file
//! does not (`UPDATE_SCHEMA=1 cargo test --test schema` rewrites them).

use super::{RunReport, ScenarioDocument};

/// The schema of `rcstress run --json` (and `rcstress merge --json`'s run part).
pub fn run() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunReport<'static>)).unwrap_or_default()
}

/// The schema of `rcstress scenario NAME --json`, every scenario's own fields included.
pub fn scenario() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioDocument<'static>)).unwrap_or_default()
}
