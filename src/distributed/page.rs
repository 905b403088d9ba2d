//! The HTML page of `rcstress merge --html`: the merged run, then one row per worker.

use serde::Serialize;

use super::merge::{MergeCost, WorkerRow};
use crate::units::{human_bytes, human_us, thousands};

/// The distributed run's own part of its HTML page: one row per worker, and what merging cost.
#[derive(Serialize)]
pub struct MergePage<'a> {
    pub workers: &'a [WorkerRow],
    pub merge: &'a MergeCost,
    pub disagreements: &'a [String],
}

impl crate::report::html::DetailPage for MergePage<'_> {
    fn tables(&self) -> maud::Markup {
        let rows: Vec<Vec<String>> = self
            .workers
            .iter()
            .map(|w| {
                vec![
                    w.index.to_string(),
                    w.host.clone(),
                    format!("{} (from {})", w.producers, w.first_producer),
                    w.consumers.to_string(),
                    thousands(w.sent),
                    thousands(w.acked),
                    format!("{:.1} ms", w.start_offset_ms),
                    format!("{:.2} s", w.elapsed_seconds),
                    w.ended_by.clone(),
                    human_us(w.latency_p99_us),
                    human_bytes(w.file_bytes),
                ]
            })
            .collect();
        let m = self.merge;
        let note = format!(
            "Merging read {} file(s), {}, in {:.2} s; merged in {:.2} s; asked Redis in {:.2} s.",
            m.files,
            human_bytes(m.bytes),
            m.read_seconds,
            m.merge_seconds,
            m.redis_seconds
        );
        crate::report::html::table_section(
            "Workers",
            &note,
            &[
                "worker",
                "host",
                "producers",
                "consumers",
                "sent",
                "acked",
                "start offset",
                "elapsed",
                "ended by",
                "send → ack p99",
                "file",
            ],
            &rows,
        )
    }

    fn disagreements(&self) -> &[String] {
        self.disagreements
    }
}
