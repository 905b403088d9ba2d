//! The merge of a distributed run: one result from the workers' result files.
//!
//! Latencies are merged by adding the workers' HdrHistograms (never by averaging percentiles);
//! the checker runs over the union of the ledgers, so a message one worker sent and another
//! delivered is delivered, and a message two workers both received as new is duplicated; Redis
//! is asked once (XLEN, XPENDING, and a scan of the streams where something looks lost).

mod files;
mod series;
mod union;

use std::time::Duration;

pub use files::{merge, read_dir, MergeCost, Merged, WorkerRow};
pub use series::align_series;
pub use union::{union_counts, LedgerUnion, Union};

use crate::workload::{cross_check, notes};
use crate::{Endpoint, Result};

/// XLEN / XPENDING and the final scan against the union; fills the verdict and the notes.
pub async fn check_against_redis(merged: &mut Merged, endpoint: &Endpoint) -> Result<()> {
    let mut admin = endpoint.cluster_connection(Duration::from_secs(5)).await?;
    let r = &mut merged.result;
    let (union, free_routing) = (&merged.union, merged.free_routing);
    // The union has no per-shard trim accounting: under `--trim maxlen` what trimming removed
    // unread stays among the candidates for lost (the workers' notes say which trim ran).
    let check = cross_check(
        &mut admin,
        &merged.shards,
        &mut r.counts,
        merged.trim,
        |c, s, _| {
            union.settle(c, s, free_routing);
            Vec::new()
        },
    )
    .await;
    r.redis_xlen = check.xlen;
    r.trimmed_entries = check.trimmed_entries;
    r.disagreements = check.disagreements;
    r.verdict = r.counts.verdict();
    r.notes = notes(&r.counts, merged.plan.consumers, &r.ended_by);
    Ok(())
}
