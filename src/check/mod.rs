//! The ledger of every message and the delivery checker.
//!
//! In the spirit of Jepsen's total-queue check: a run is valid iff nothing Redis acknowledged
//! (XADD answered with an id) is lost and nothing unexpected was delivered ([`Verdict`]). The
//! ledger's memory follows the messages in flight, not the length of the run: per producer, a
//! window of chunks of bits (six bits per message, a lock per chunk) behind which settled
//! chunks are folded away, keeping only their exceptions (`book`). Safe Rust only: every figure
//! the tool reports is counted here.
//!
//! - [`ledger`]: the [`Ledger`] the workload books every send, delivery and ack in.
//! - `book`: one producer's chunks, their folding and the exceptions.
//! - [`counts`]: [`Counts`], the [`Verdict`] rule, and the tally from bits to counts.
//! - [`settle`]: the final scans against the undelivered messages (lost or still stored).
//! - [`snapshot`]: a ledger's bits for `rcstress merge`.
//! - `tests`: the ledger's tests (pure logic), folding included, and folding under concurrency.
//!
//! No block here may bypass the borrow checker: the crate denies it (`[lints.rust]` in
//! Cargo.toml), and only the spawner's `pre_exec` in `cluster::process` is allowed one.

mod book;
pub mod counts;
pub mod ledger;
pub mod settle;
pub mod snapshot;
mod words;

/// Entry ids are the stream's; the checker orders and compares them.
pub use crate::stream::EntryId;
pub use counts::{Counts, EventCounts, Verdict};
pub use ledger::Ledger;
pub use settle::{
    for_each_produced_not_delivered, settle_lost, settle_undelivered, stored_messages, ShardScan,
};
pub use snapshot::{BookSnapshot, LedgerSnapshot};
pub use words::Words;
pub use words::{ACKED, ATTEMPTED, CLAIMED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED, SETS};

/// How a message reached a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// XREADGROUP `>`: a new delivery.
    New,
    /// XAUTOCLAIM: taken over from a consumer that did not ack it.
    Claim,
}

/// What a delivery was, as the ledger saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    /// First time we see this message: the one delivery its latency is measured at.
    First,
    /// A claimed message that was delivered before but never acked: recovered.
    Recovered,
    /// The same entry seen (and for claims: acked) before: processed twice.
    Duplicate,
    /// A second entry carrying a message already delivered under another entry id: the message
    /// was written twice (a forged or replayed XADD), not delivered twice.
    DuplicateWrite,
    /// Not a message of this run.
    Unexpected,
}

/// Where a delivery came from: the shard key's index and the entry id, so that a second entry
/// carrying the same message can be told from the same entry delivered again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub shard: usize,
    pub id: EntryId,
}

#[cfg(test)]
pub(crate) mod tests;
