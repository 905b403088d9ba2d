//! One producer's messages in bounded memory: a watermark of settled chunks and a window of
//! live ones.
//!
//! Sequence numbers are cut into chunks (65,536 messages by default). A chunk's bits (six sets,
//! seven in a worker's ledger) are allocated when the first of its messages is touched. When a
//! chunk is two chunks behind the producer and all but a few of its messages are *settled*
//! (attempted, produced, delivered, acked, nothing else), it is folded: its few other messages
//! (pending, failed, indeterminate, undelivered, recovered) move to a map of exceptions and the
//! chunk is freed. A folded message reads as settled unless it is an exception. So memory follows
//! the messages in flight and the exceptions, not the length of the run.
//!
//! Every chunk has a lock of its own ([`Mutex`]) that each access holds for one bit: taken
//! uncontended it costs what an epoch pin does (see `docs/measurements.md`), and it makes
//! folding exact without a protocol of ours. A fold reads the bits and frees them under the
//! chunk's lock, so an update lands either before the fold (and is folded) or after it (and
//! finds the chunk folded and goes to the exceptions). A folded chunk stays folded, which is
//! what lets an access drop the chunk's lock before it takes the exceptions' lock: the fold
//! takes the exceptions' lock first, then the chunk's, and no access ever holds the chunk's
//! while waiting for the other, so the two cannot deadlock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::words::Words;

pub use super::words::{
    ACKED, ATTEMPTED, CLAIMED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED, SETS,
};

/// A settled message's bits: what a folded message is unless it is an exception.
const SETTLED: u8 = 1 << ATTEMPTED | 1 << PRODUCED | 1 << DELIVERED | 1 << ACKED;

/// log2 of the messages per chunk in a run's ledger: 65,536 messages, 8 KB per set.
pub(super) const CHUNK_SHIFT: u32 = 16;

/// What a chunk of messages is now. Untouched → Live → Folded, never back.
enum Chunk {
    /// None of its messages touched yet: all its bits are clear.
    Untouched,
    /// Its bit sets, set `s` word `w` at `bits[s * words + w]`.
    Live(Box<[u64]>),
    /// Folded: its messages are settled but for the exceptions.
    Folded,
}

/// What folding left of the folded chunks: their messages that are not settled.
#[derive(Default)]
struct Folded {
    /// Sequence number → its sets, bit `s` for set `s`.
    exceptions: BTreeMap<u64, u8>,
    /// Chunks below this are all folded.
    watermark: usize,
}

pub(super) struct Book {
    /// Messages this producer may send: sequence numbers `0..len`.
    pub(super) len: u64,
    shift: u32,
    /// 6, or 7 with the claimed set.
    sets: usize,
    /// Whether chunks are folded. A worker's ledger is not: the merge reads every bit, and a
    /// worker cannot tell when a message it sent was delivered elsewhere.
    fold: bool,
    chunks: Box<[Mutex<Chunk>]>,
    folded: Mutex<Folded>,
    /// Chunks allocated and not yet freed, and the most there were at once.
    live: AtomicU64,
    peak: AtomicU64,
}

/// A lock whose holder panicked still guards consistent bits: every critical section here is a
/// single update that cannot be left half done.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Book {
    pub(super) fn new(len: u64, claims: bool, fold: bool, shift: u32) -> Self {
        let n = len.div_ceil(1 << shift) as usize;
        Book {
            len,
            shift,
            sets: if claims { SETS } else { SETS - 1 },
            fold,
            chunks: (0..n).map(|_| Mutex::new(Chunk::Untouched)).collect(),
            folded: Mutex::new(Folded::default()),
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    pub(super) fn has_claims(&self) -> bool {
        self.sets == SETS
    }

    fn words(&self) -> usize {
        1 << (self.shift - 6)
    }

    /// Sets `set` of message `seq`; returns whether it was already set. Out of range: `None`.
    pub(super) fn set(&self, set: usize, seq: u64) -> Option<bool> {
        self.access(set, seq, true)
    }

    /// Whether `set` of message `seq` is set (false out of range).
    pub(super) fn get(&self, set: usize, seq: u64) -> bool {
        self.access(set, seq, false) == Some(true)
    }

    /// Reads bit `set` of message `seq` and, if `write`, sets it; returns what it was. A write
    /// to an untouched chunk allocates its bits (once per chunk, under its lock).
    fn access(&self, set: usize, seq: u64, write: bool) -> Option<bool> {
        if seq >= self.len || set >= self.sets {
            return None;
        }
        let c = (seq >> self.shift) as usize;
        let mut chunk = lock(&self.chunks[c]);
        if write && matches!(*chunk, Chunk::Untouched) {
            *chunk = Chunk::Live(vec![0; self.sets * self.words()].into_boxed_slice());
            let live = self.live.fetch_add(1, Relaxed) + 1;
            self.peak.fetch_max(live, Relaxed);
        }
        match &mut *chunk {
            Chunk::Untouched => return Some(false),
            Chunk::Live(bits) => {
                let (w, mask) = self.bit(set, seq);
                let was = bits[w] & mask != 0;
                if write {
                    bits[w] |= mask;
                }
                return Some(was);
            }
            Chunk::Folded => {}
        }
        // Folded for good: the chunk's lock has nothing more to guard (see the module's doc).
        drop(chunk);
        let mut folded = lock(&self.folded);
        let bits = folded_bits(&folded, seq);
        let was = bits & 1 << set != 0;
        if write && !was {
            folded.exceptions.insert(seq, bits | 1 << set);
        }
        Some(was)
    }

    /// Word and mask of bit `set` of message `seq` in its chunk's bits.
    fn bit(&self, set: usize, seq: u64) -> (usize, u64) {
        let i = seq & ((1 << self.shift) - 1);
        (set * self.words() + (i / 64) as usize, 1 << (i % 64))
    }

    /// Message `seq` is being sent: the first of a chunk folds what it can behind it (once per
    /// chunk, so the cost per message stays one comparison).
    pub(super) fn sent(&self, seq: u64) {
        if seq & ((1 << self.shift) - 1) == 0 {
            self.fold_behind((seq >> self.shift) as usize);
        }
    }

    /// A producer started chunk `head`: fold the chunks two or more behind it that are (nearly)
    /// all settled. Skipped when the exceptions are busy (another fold, or a late event on a
    /// folded message): a later chunk start tries again.
    pub(super) fn fold_behind(&self, head: usize) {
        if !self.fold {
            return;
        }
        let mut folded = match self.folded.try_lock() {
            Ok(f) => f,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let mut watermark_moves = true;
        for c in folded.watermark..head.saturating_sub(1) {
            let mut chunk = lock(&self.chunks[c]);
            match &*chunk {
                Chunk::Folded if watermark_moves => folded.watermark = c + 1,
                Chunk::Folded => {}
                // Never touched (a producer stopped before it): it may be yet.
                Chunk::Untouched => watermark_moves = false,
                Chunk::Live(bits) => {
                    watermark_moves = false;
                    if self.unsettled(bits, c) <= self.max_exceptions() {
                        self.fold_chunk(&mut folded, c, bits);
                        *chunk = Chunk::Folded;
                        self.live.fetch_sub(1, Relaxed);
                    }
                }
            }
        }
    }

    /// A chunk keeps its bits while folding it would cost more than them: an exception takes a
    /// map entry (about 24 bytes) where a message takes 6 bits.
    fn max_exceptions(&self) -> u64 {
        1 << (self.shift - 6)
    }

    /// Messages of chunk `c` that are not settled.
    fn unsettled(&self, bits: &[u64], c: usize) -> u64 {
        let mut n = 0;
        self.chunk_words(bits, c, |_, w| {
            n += u64::from((w.valid & !w.settled()).count_ones())
        });
        n
    }

    /// Moves chunk `c`'s messages that are not settled to the exceptions.
    fn fold_chunk(&self, folded: &mut Folded, c: usize, bits: &[u64]) {
        self.chunk_words(bits, c, |base, w| {
            for i in super::settle::set_bits(w.valid & !w.settled()) {
                folded.exceptions.insert(base + i, w.message(i));
            }
        });
    }

    /// The messages of chunk `c` as [`Words`], with the sequence number of each word's bit 0.
    fn chunk_words(&self, bits: &[u64], c: usize, mut f: impl FnMut(u64, &Words)) {
        let words = self.words();
        let first = (c as u64) << self.shift;
        for w in 0..words {
            let base = first + 64 * w as u64;
            if base >= self.len {
                break;
            }
            let load = |s: usize| {
                if s < self.sets {
                    bits[s * words + w]
                } else {
                    0
                }
            };
            f(
                base,
                &Words::new(std::array::from_fn(load), valid(base, self.len)),
            );
        }
    }

    /// Every message of the book as [`Words`], word by word in sequence order (folded chunks are
    /// rebuilt from their exceptions; untouched ones are skipped: all their bits are clear).
    /// Each chunk is read whole under its lock; updates to other chunks may go on meanwhile.
    pub(super) fn for_each_word(&self, mut f: impl FnMut(u64, &Words)) {
        let folded = lock(&self.folded);
        for (c, slot) in self.chunks.iter().enumerate() {
            match &*lock(slot) {
                Chunk::Live(bits) => self.chunk_words(bits, c, &mut f),
                Chunk::Folded => self.folded_words(&folded, c, &mut f),
                Chunk::Untouched => {}
            }
        }
    }

    /// A folded chunk's words: settled but for its exceptions.
    fn folded_words(&self, folded: &Folded, c: usize, f: &mut impl FnMut(u64, &Words)) {
        let first = (c as u64) << self.shift;
        let end = (first + (1 << self.shift)).min(self.len);
        let mut exceptions = folded.exceptions.range(first..end).peekable();
        for base in (first..end).step_by(64) {
            let mut sets = [0u64; SETS];
            let valid = valid(base, self.len);
            for (s, word) in sets.iter_mut().enumerate() {
                if SETTLED & 1 << s != 0 {
                    *word = valid;
                }
            }
            while let Some((&seq, &bits)) = exceptions.next_if(|e| *e.0 < base + 64) {
                let mask = 1u64 << (seq - base);
                for (s, word) in sets.iter_mut().enumerate() {
                    *word = if bits & 1 << s != 0 {
                        *word | mask
                    } else {
                        *word & !mask
                    };
                }
            }
            f(base, &Words::new(sets, valid));
        }
    }

    /// Heap bytes at the most: the chunks alive at once at their peak, the slots (a lock and
    /// a state each) and the exceptions now.
    pub(super) fn peak_heap_bytes(&self) -> usize {
        let chunk = self.sets * self.words() * 8;
        let slots = self.chunks.len() * std::mem::size_of::<Mutex<Chunk>>();
        let exceptions = lock(&self.folded).exceptions.len();
        self.peak.load(Relaxed) as usize * chunk + slots + exceptions * 24
    }

    /// Chunks alive now (allocated and not freed).
    #[cfg(test)]
    pub(super) fn live_chunks(&self) -> u64 {
        self.live.load(Relaxed)
    }

    /// The most chunks alive at once.
    #[cfg(test)]
    pub(super) fn peak_chunks(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    #[cfg(test)]
    pub(super) fn exceptions(&self) -> usize {
        lock(&self.folded).exceptions.len()
    }
}

/// A folded message's bits.
fn folded_bits(folded: &Folded, seq: u64) -> u8 {
    folded.exceptions.get(&seq).copied().unwrap_or(SETTLED)
}

/// The bits of the word starting at `base` that are messages (`< len`).
fn valid(base: u64, len: u64) -> u64 {
    match len.saturating_sub(base) {
        n if n >= 64 => !0,
        n => (1u64 << n) - 1,
    }
}
