//! Reports: the JSON a script reads, the summary a person reads, and the HTML page with charts.
//!
//! - this module: the documents (`rcstress run`, its checkpoint, `rcstress scenario`); their
//!   JSON Schema is `schema/report.schema.json` ([`schema`]).
//! - `summary`: the text a person reads in the terminal.
//! - `sink`: output files written whole, or not at all.
//! - [`chart`]: inline SVG charts (lines over time with marked moments, bars, log bars).
//! - [`html`]: the self-contained page, rendered from the typed report.

pub mod chart;
pub mod html;
pub mod schema;
mod sink;
mod summary;
pub mod words;

use schemars::JsonSchema;
use serde::Serialize;

use crate::cluster::ClusterFacts;
use crate::scenario::{Detail, ScenarioReport};
use crate::units::{mib, thousands};
use crate::workload::RunResult;

pub use sink::{HtmlSink, JsonSink};
pub use summary::{facts_summary, run_memory_line, scenario_summary, summary, trim_line};

/// The JSON of `rcstress run` (field names are a public contract; see README).
#[derive(Serialize, JsonSchema)]
pub struct RunReport<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    /// "complete", or "interrupted, partial report" after Ctrl-C / SIGTERM.
    pub status: &'static str,
    pub config: serde_json::Value,
    #[serde(flatten)]
    pub result: &'a RunResult,
    /// `server`, `data_dirs`, `warnings`.
    #[serde(flatten)]
    pub facts: &'a ClusterFacts,
}

/// The JSON of `rcstress run` while it goes on (`--checkpoint`): the live counters, rewritten
/// atomically, replaced by the [`RunReport`] at the end. A run killed hard keeps this.
#[derive(Serialize)]
pub struct RunCheckpoint {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    /// "running".
    pub status: &'static str,
    pub config: serde_json::Value,
    pub progress: Progress,
}

/// Where a long run stands (the progress line and the checkpoint).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub elapsed_seconds: f64,
    pub attempted: u64,
    pub produced: u64,
    pub acked: u64,
    /// Produced and not yet acked.
    pub backlog: u64,
    pub errors: u64,
    /// Acked per second over the last progress interval.
    pub acked_per_sec: f64,
    /// `used_memory` summed over the masters; `None` when a master could not be asked.
    pub server_used_memory_bytes: Option<u64>,
    /// Peak resident memory of the client so far.
    pub client_peak_rss_bytes: u64,
}

impl Progress {
    /// The one-line form the progress display shows.
    pub fn line(&self) -> String {
        let mem = self.server_used_memory_bytes.map_or("?".into(), mib);
        format!(
            "{:.0} msg/s acked, backlog {}, server used_memory {mem}, client {}, {} errors",
            self.acked_per_sec,
            thousands(self.backlog),
            mib(self.client_peak_rss_bytes),
            self.errors
        )
    }
}

/// The JSON of `rcstress scenario NAME`: who wrote it, then the scenario's report.
#[derive(Serialize, JsonSchema)]
pub struct ScenarioDocument<'a, D = Detail> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    #[serde(flatten)]
    pub report: &'a ScenarioReport<D>,
}

impl<'a, D> ScenarioDocument<'a, D> {
    pub fn new(report: &'a ScenarioReport<D>) -> Self {
        ScenarioDocument {
            tool: "rcstress",
            version: env!("CARGO_PKG_VERSION"),
            command: "scenario",
            report,
        }
    }
}
