//! The final scans against the ledger: which undelivered messages are lost, still stored, or
//! on a shard that could not be read.

use std::collections::HashSet;

use super::{Counts, Ledger};
use crate::stream::MessageTag;

/// What a final scan (XRANGE) of one shard found: the tags still stored, or `None` when the shard
/// could not be read.
pub type ShardScan = Option<Vec<MessageTag>>;

/// Every message (producer, seq) the final scans found stored, whatever the shard.
pub fn stored_messages(scans: &[ShardScan]) -> HashSet<(u32, u64)> {
    scans
        .iter()
        .flatten()
        .flatten()
        .map(|t| (t.producer, t.seq))
        .collect()
}

/// Applies the final scan of every shard to the lost candidates (acknowledged by Redis, never
/// delivered): still stored is only undelivered, on an unreadable shard `unverifiable`, and
/// only what is checked absent stays `lost`. `shard_of` says which shard a message was sent to
/// (fixed by the message, see `workload::shard_of`).
pub fn settle_lost(
    ledger: &Ledger,
    counts: &mut Counts,
    scans: &[ShardScan],
    shard_of: impl Fn(u32, u64) -> usize,
) {
    settle_undelivered(counts, scans, shard_of, |f| ledger.for_each_undelivered(f));
}

/// [`settle_lost`] over any source of the lost candidates: `undelivered` calls its argument with
/// `(producer, seq)` of each message acknowledged by Redis and never delivered.
pub fn settle_undelivered(
    counts: &mut Counts,
    scans: &[ShardScan],
    shard_of: impl Fn(u32, u64) -> usize,
    undelivered: impl FnOnce(&mut dyn FnMut(u32, u64)),
) {
    let stored = stored_messages(scans);
    let (mut lost, mut unverifiable) = (0, 0);
    undelivered(&mut |p, seq| {
        if scans.get(shard_of(p, seq)).is_none_or(|s| s.is_none()) {
            unverifiable += 1;
        } else if !stored.contains(&(p, seq)) {
            lost += 1;
        }
    });
    counts.lost = lost;
    counts.unverifiable = unverifiable;
}

/// Calls `f(producer, seq)` for every bit set in `produced` and clear in `delivered`, where
/// `word(set, w)` reads word `w` of a set (0: produced, 1: delivered).
pub fn for_each_produced_not_delivered(
    producer: u32,
    words: usize,
    word: impl Fn(usize) -> (u64, u64),
    f: &mut impl FnMut(u32, u64),
) {
    for w in 0..words {
        let (produced, delivered) = word(w);
        for i in set_bits(produced & !delivered) {
            f(producer, w as u64 * 64 + i);
        }
    }
}

/// The positions (0..64) of the bits set in `word`, lowest first.
pub(super) fn set_bits(mut word: u64) -> impl Iterator<Item = u64> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let i = word.trailing_zeros() as u64;
            word &= word - 1;
            i
        })
    })
}
