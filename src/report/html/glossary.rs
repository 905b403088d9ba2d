//! The end of every page: the configuration as a table of what was set (internals left to the
//! JSON), and the glossary of the counts and error kinds the page shows.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{section, table, Cell};
use crate::report::words::{CLIENT_ERRORS, GLOSSARY};
use crate::units::thousands;

/// Settings the tool uses internally or that no flag sets; the JSON keeps them.
const INTERNAL: [&str; 6] = [
    "block_ms",
    "worker",
    "reset",
    "free_routing",
    "deadline_ms",
    "quiet_ms",
];

/// A setting's value as a person reads it: integers with separators, yes / no, lists joined.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        serde_json::Value::Number(n) => n.as_u64().map_or_else(|| n.to_string(), thousands),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The settings as (name, value) rows: nested objects as "workload › producers", null values
/// (not set) and [`INTERNAL`] ones left out.
pub(super) fn settings(config: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if INTERNAL.contains(&k.as_str()) || v.is_null() {
                        continue;
                    }
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix} › {k}")
                    };
                    walk(&name, v, out);
                }
            }
            v if !prefix.is_empty() => {
                let name = match prefix.rsplit(" › ").next() {
                    // A cap, not a count: a scenario that stops on its own sends fewer.
                    Some("messages") => format!("{prefix} (at most)"),
                    _ => prefix.to_string(),
                };
                out.push((name, value_text(v)));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", config, &mut out);
    out
}

pub(super) fn configuration(config: &serde_json::Value) -> Markup {
    let rows: Vec<Vec<Cell>> = settings(config)
        .into_iter()
        .map(|(k, v)| vec![Cell::Key(k), Cell::Text(v)])
        .collect();
    section(
        "Configuration",
        "What this run was set to; the JSON report has every setting, internal ones included.",
        table(&["setting", "value"], &rows),
    )
}

/// Every count the page shows, the latency terms and every error kind, then any other kind
/// this report saw (named as Redis sent it).
pub(super) fn glossary(errors: &BTreeMap<String, u64>) -> Markup {
    let mut terms: Vec<(&str, &str)> = GLOSSARY.iter().chain(&CLIENT_ERRORS).copied().collect();
    for kind in errors.keys() {
        if !terms.iter().any(|(t, _)| t == kind) {
            terms.push((kind, "an error kind as the server or the client named it."));
        }
    }
    html! {
        section class="glossary" {
            h2 { "Glossary" }
            dl {
                @for (term, meaning) in &terms {
                    dt { (term) } dd { (meaning) }
                }
            }
        }
    }
}
