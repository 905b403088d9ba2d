//! Errors as a run counts them: the kind each is booked under, and the first of each kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::finite;

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

    /// All errors so far (cheap: a counter).
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FirstError {
    /// Sends attempted before it.
    pub attempted: u64,
    /// Seconds into the run.
    pub seconds: f64,
    /// The error text (first line; never contains credentials).
    pub message: String,
}
