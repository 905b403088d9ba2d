//! What a run measures: latency histograms, errors by kind, and a per-second series.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A latency histogram in µs, 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// Percentiles of a histogram, as in the JSON contract (`latency_us`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    pub count: u64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: finite(h.mean()),
            count: h.len(),
        }
    }
}

/// JSON has no NaN or infinity: report 0 instead.
pub fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// The key an error is counted under: the error code Redis sent (`OOM`, `CLUSTERDOWN`, `NOGROUP`,
/// `MOVED`, `TRYAGAIN`, ...), or `timeout`, `io`, `auth`, `other` for client-side failures.
pub fn error_kind(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    if let Some(code) = e.code() {
        return code.to_string();
    }
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        return "io".into();
    }
    match e.kind() {
        redis::ErrorKind::AuthenticationFailed => "auth".into(),
        redis::ErrorKind::ClusterConnectionNotFound => "io".into(),
        _ => {
            // Some cluster-level failures reach us wrapped, with the code only in the text.
            let text = e.to_string();
            for code in [
                "CLUSTERDOWN",
                "TRYAGAIN",
                "MOVED",
                "ASK",
                "OOM",
                "NOGROUP",
                "MASTERDOWN",
                "READONLY",
                "LOADING",
            ] {
                if text.contains(code) {
                    return code.into();
                }
            }
            "other".into()
        }
    }
}

/// True for errors after which we cannot know whether the command took effect.
pub fn is_indeterminate(e: &redis::RedisError) -> bool {
    e.is_timeout()
        || e.is_io_error()
        || e.is_connection_dropped()
        || matches!(e.kind(), redis::ErrorKind::ClusterConnectionNotFound)
}

/// Errors by kind, plus how many sends had been attempted when each kind first appeared.
#[derive(Default)]
pub struct ErrorLog {
    inner: Mutex<ErrorLogInner>,
    total: AtomicU64,
}

#[derive(Default)]
struct ErrorLogInner {
    by_kind: BTreeMap<String, u64>,
    first_at_attempt: BTreeMap<String, u64>,
    first_at_secs: BTreeMap<String, f64>,
    samples: BTreeMap<String, String>,
}

impl ErrorLog {
    /// Counts one error of `kind`, seen when `attempted` sends had been tried, `secs` into the run.
    pub fn record(&self, kind: &str, attempted: u64, secs: f64, sample: impl FnOnce() -> String) {
        self.total.fetch_add(1, Relaxed);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.by_kind.entry(kind.to_string()).or_insert(0) += 1;
        if !g.first_at_attempt.contains_key(kind) {
            g.first_at_attempt.insert(kind.to_string(), attempted);
            g.first_at_secs.insert(kind.to_string(), finite(secs));
            g.samples.insert(kind.to_string(), sample());
        }
    }

    /// All errors so far (cheap, for the per-second series).
    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub fn by_kind(&self) -> BTreeMap<String, u64> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_kind
            .clone()
    }

    pub fn first_errors(&self) -> BTreeMap<String, FirstError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.first_at_attempt
            .iter()
            .map(|(k, &at)| {
                let fe = FirstError {
                    attempted: at,
                    seconds: g.first_at_secs.get(k).copied().unwrap_or(0.0),
                    message: g.samples.get(k).cloned().unwrap_or_default(),
                };
                (k.clone(), fe)
            })
            .collect()
    }
}

/// When an error kind first appeared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstError {
    /// Sends attempted before it.
    pub attempted: u64,
    /// Seconds into the run.
    pub seconds: f64,
    /// The error text (first line; never contains credentials).
    pub message: String,
}

/// One second of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondSample {
    /// Seconds since the run started (end of this interval).
    pub t: f64,
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    /// End-to-end latency percentiles of messages acked in this interval (µs).
    pub p50_us: u64,
    pub p99_us: u64,
}

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
