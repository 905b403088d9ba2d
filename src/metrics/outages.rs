//! Per-shard outage spans: when operations on one shard key failed, and until when.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::finite;

/// A stretch of time in which operations on one shard key failed: from the send time of the first
/// failed operation to the completion of the next successful one (`to: None` while still failing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutageSpan {
    /// Seconds since the load started.
    pub from: f64,
    pub to: Option<f64>,
    /// Errors in the span by kind, counted as in the run's `errors` (one per failed message for
    /// XADD, one per call for XREADGROUP / XACK).
    pub errors: BTreeMap<String, u64>,
}

/// Per-shard failure spans of a run: what a failover scenario turns into unavailability windows.
///
/// Cheap on the hot path: a success costs one atomic load while no shard is failing.
#[derive(Default)]
pub struct ShardOutages {
    open: AtomicU64,
    spans: Mutex<BTreeMap<String, Vec<OutageSpan>>>,
}

impl ShardOutages {
    /// An operation on `key`, sent at `sent_at`, failed with an error of `kind`.
    pub fn failure(&self, key: &str, sent_at: f64, kind: &str) {
        let mut g = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        let spans = g.entry(key.to_string()).or_default();
        if spans.last().is_none_or(|s| s.to.is_some()) {
            self.open.fetch_add(1, Relaxed);
            spans.push(OutageSpan {
                from: finite(sent_at),
                ..OutageSpan::default()
            });
        }
        if let Some(span) = spans.last_mut() {
            span.from = span.from.min(finite(sent_at));
            *span.errors.entry(kind.to_string()).or_insert(0) += 1;
        }
    }

    /// An operation on `key` succeeded at `done_at`: closes the key's open span, if any.
    pub fn success(&self, key: &str, done_at: f64) {
        if self.open.load(Relaxed) == 0 {
            return;
        }
        let mut g = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(span) = g
            .get_mut(key)
            .and_then(|s| s.last_mut())
            .filter(|s| s.to.is_none())
        {
            span.to = Some(finite(done_at).max(span.from));
            self.open.fetch_sub(1, Relaxed);
        }
    }

    /// Every span so far, by shard key.
    pub fn spans(&self) -> BTreeMap<String, Vec<OutageSpan>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_spans_open_on_failure_and_close_on_the_next_success() {
        let o = ShardOutages::default();
        o.success("a", 0.5);
        o.failure("a", 1.0, "io");
        o.failure("a", 0.9, "io");
        o.failure("b", 1.2, "CLUSTERDOWN");
        o.failure("a", 1.5, "CLUSTERDOWN");
        o.success("a", 3.0);
        o.success("a", 3.5);
        let s = o.spans();
        assert_eq!(s["a"].len(), 1);
        assert_eq!((s["a"][0].from, s["a"][0].to), (0.9, Some(3.0)));
        assert_eq!(s["a"][0].errors["io"], 2);
        assert_eq!(s["a"][0].errors["CLUSTERDOWN"], 1);
        assert_eq!(s["b"][0].to, None, "b never succeeded again");
        o.success("b", 4.0);
        o.failure("b", 5.0, "timeout");
        assert_eq!(o.spans()["b"].len(), 2);
    }
}
