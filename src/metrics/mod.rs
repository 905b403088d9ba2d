//! What a run measures: latency histograms, errors by kind, and a series over time.

mod errors;
mod latency;
mod outages;
mod series;

pub use errors::{error_kind, is_indeterminate, ErrorLog, FirstError};
pub use latency::{new_histogram, Latency};
pub use outages::{OutageSpan, ShardOutages};
pub use series::{SecondSample, Series, ShardSample};

/// JSON has no NaN or infinity: report 0 instead.
pub fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}
