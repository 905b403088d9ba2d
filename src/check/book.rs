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
//! The hot path stays lock-free: a chunk is reached through an epoch-protected pointer
//! (crossbeam-epoch), and its bits are atomics. Folding is exact in two steps: the chunk is first
//! *sealed* (a pointer tag: from then on every access takes the book's mutex), and folded only
//! once every access that began before the seal has ended (an epoch-deferred flag), so no update
//! can slip between the fold's reading of the bits and the chunk's release.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};

use super::words::Words;

pub use super::words::{
    ACKED, ATTEMPTED, CLAIMED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED, SETS,
};

/// A settled message's bits: what a folded message is unless it is an exception.
const SETTLED: u8 = 1 << ATTEMPTED | 1 << PRODUCED | 1 << DELIVERED | 1 << ACKED;

/// Pointer tags of a chunk slot. A null LIVE slot was never touched (all its bits are clear).
const LIVE: usize = 0;
const SEALED: usize = 1;
const FOLDED: usize = 2;

/// log2 of the messages per chunk in a run's ledger: 65,536 messages, 8 KB per set.
pub(super) const CHUNK_SHIFT: u32 = 16;

/// One chunk's bit sets, set `s` word `w` at `bits[s * words + w]`.
struct Chunk {
    bits: Box<[AtomicU64]>,
    /// Set once every access that began before the chunk was sealed has ended.
    quiet: Arc<AtomicBool>,
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
    /// Whether chunks are folded. A worker's ledger is not: the merge needs every bit, and a
    /// worker cannot tell when a message it sent was delivered elsewhere.
    fold: bool,
    chunks: Box<[Atomic<Chunk>]>,
    folded: Mutex<Folded>,
    /// Chunks allocated and not yet freed, and the most there were at once.
    live: AtomicU64,
    peak: AtomicU64,
}

impl Book {
    pub(super) fn new(len: u64, claims: bool, fold: bool, shift: u32) -> Self {
        let n = len.div_ceil(1 << shift) as usize;
        Book {
            len,
            shift,
            sets: if claims { SETS } else { SETS - 1 },
            fold,
            chunks: (0..n).map(|_| Atomic::null()).collect(),
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

    fn lock(&self) -> MutexGuard<'_, Folded> {
        self.folded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `set` of message `seq`; returns whether it was already set. Out of range: `None`.
    pub(super) fn set(&self, set: usize, seq: u64, g: &Guard) -> Option<bool> {
        if seq >= self.len || set >= self.sets {
            return None;
        }
        let slot = &self.chunks[(seq >> self.shift) as usize];
        loop {
            let p = slot.load(Ordering::Acquire, g);
            match (p.tag(), unsafe { p.as_ref() }) {
                (LIVE, Some(chunk)) => return Some(self.chunk_set(chunk, set, seq)),
                (LIVE, None) => self.allocate(slot, p, g),
                _ => return Some(self.set_locked(slot, set, seq, g)),
            }
        }
    }

    /// Whether `set` of message `seq` is set (false out of range).
    pub(super) fn get(&self, set: usize, seq: u64, g: &Guard) -> bool {
        if seq >= self.len || set >= self.sets {
            return false;
        }
        let slot = &self.chunks[(seq >> self.shift) as usize];
        let p = slot.load(Ordering::Acquire, g);
        match (p.tag(), unsafe { p.as_ref() }) {
            (LIVE, Some(chunk)) => self.chunk_get(chunk, set, seq),
            (LIVE, None) => false,
            _ => {
                let folded = self.lock();
                // Re-read under the lock: the chunk may have been folded meanwhile.
                let p = slot.load(Ordering::Acquire, g);
                match unsafe { p.as_ref() } {
                    Some(chunk) => self.chunk_get(chunk, set, seq),
                    None => folded_bits(&folded, seq) & 1 << set != 0,
                }
            }
        }
    }

    fn bit(&self, set: usize, seq: u64) -> (usize, u64) {
        let i = seq & ((1 << self.shift) - 1);
        (set * self.words() + (i / 64) as usize, 1 << (i % 64))
    }

    fn chunk_set(&self, chunk: &Chunk, set: usize, seq: u64) -> bool {
        let (w, mask) = self.bit(set, seq);
        chunk.bits[w].fetch_or(mask, Ordering::Relaxed) & mask != 0
    }

    fn chunk_get(&self, chunk: &Chunk, set: usize, seq: u64) -> bool {
        let (w, mask) = self.bit(set, seq);
        chunk.bits[w].load(Ordering::Relaxed) & mask != 0
    }

    /// Installs a new chunk in an untouched slot (another task may win the race: then its chunk
    /// is used and ours dropped).
    fn allocate(&self, slot: &Atomic<Chunk>, current: Shared<'_, Chunk>, g: &Guard) {
        let chunk = Chunk {
            bits: (0..self.sets * self.words())
                .map(|_| AtomicU64::new(0))
                .collect(),
            quiet: Arc::new(AtomicBool::new(false)),
        };
        let new = Owned::new(chunk);
        if slot
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire, g)
            .is_ok()
        {
            let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak.fetch_max(live, Ordering::Relaxed);
        }
    }

    /// [`Book::set`] on a sealed or folded chunk: under the book's lock, as folding is.
    fn set_locked(&self, slot: &Atomic<Chunk>, set: usize, seq: u64, g: &Guard) -> bool {
        let mut folded = self.lock();
        let p = slot.load(Ordering::Acquire, g);
        if let Some(chunk) = unsafe { p.as_ref() } {
            return self.chunk_set(chunk, set, seq);
        }
        let bits = folded_bits(&folded, seq);
        let was = bits & 1 << set != 0;
        if !was {
            folded.exceptions.insert(seq, bits | 1 << set);
        }
        was
    }

    /// Message `seq` is being sent: the first of a chunk folds what it can behind it (once per
    /// chunk, so the cost per message stays a few loads).
    pub(super) fn sent(&self, seq: u64) {
        if seq & ((1 << self.shift) - 1) == 0 {
            self.fold_behind((seq >> self.shift) as usize);
        }
    }

    /// A producer started chunk `head`: seal the chunks two or more behind it that are (nearly)
    /// all settled, and fold the sealed ones whose earlier accesses have all ended. Skipped when
    /// another task is at it (a later chunk start tries again).
    pub(super) fn fold_behind(&self, head: usize) {
        if !self.fold {
            return;
        }
        let Ok(mut folded) = self.folded.try_lock() else {
            return;
        };
        let g = &epoch::pin();
        let mut watermark_moves = true;
        for c in folded.watermark..head.saturating_sub(1) {
            let slot = &self.chunks[c];
            let p = slot.load(Ordering::Acquire, g);
            let Some(chunk) = (unsafe { p.as_ref() }) else {
                // Folded, or never touched (a producer stopped before it).
                if p.tag() != FOLDED {
                    watermark_moves = false;
                } else if watermark_moves {
                    folded.watermark = c + 1;
                }
                continue;
            };
            watermark_moves = false;
            match p.tag() {
                LIVE if self.unsettled(chunk, c) <= self.max_exceptions()
                    && slot
                        .compare_exchange(p, p.with_tag(SEALED), AcqRel, Acquire, g)
                        .is_ok() =>
                {
                    let quiet = chunk.quiet.clone();
                    g.defer(move || quiet.store(true, Ordering::Release));
                    g.flush();
                }
                SEALED if chunk.quiet.load(Ordering::Acquire) => {
                    self.fold_chunk(&mut folded, c, chunk);
                    slot.store(Shared::null().with_tag(FOLDED), Ordering::Release);
                    // No new access can reach it now; earlier ones end before it is freed.
                    unsafe { g.defer_destroy(p.with_tag(LIVE)) };
                    self.live.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }

    /// A chunk keeps its bits while folding it would cost more than them: an exception takes a
    /// map entry (about 24 bytes) where a message takes 6 bits.
    fn max_exceptions(&self) -> u64 {
        1 << (self.shift - 6)
    }

    /// Messages of chunk `c` that are not settled.
    fn unsettled(&self, chunk: &Chunk, c: usize) -> u64 {
        let mut n = 0;
        self.chunk_words(chunk, c, |_, w| {
            n += u64::from((w.valid & !w.settled()).count_ones())
        });
        n
    }

    /// Moves chunk `c`'s messages that are not settled to the exceptions.
    fn fold_chunk(&self, folded: &mut Folded, c: usize, chunk: &Chunk) {
        self.chunk_words(chunk, c, |base, w| {
            for i in super::settle::set_bits(w.valid & !w.settled()) {
                folded.exceptions.insert(base + i, w.message(i));
            }
        });
    }

    /// The messages of chunk `c` as [`Words`], with the sequence number of each word's bit 0.
    fn chunk_words(&self, chunk: &Chunk, c: usize, mut f: impl FnMut(u64, &Words)) {
        let words = self.words();
        let first = (c as u64) << self.shift;
        for w in 0..words {
            let base = first + 64 * w as u64;
            if base >= self.len {
                break;
            }
            let load = |s: usize| {
                if s < self.sets {
                    chunk.bits[s * words + w].load(Ordering::Relaxed)
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
    pub(super) fn for_each_word(&self, mut f: impl FnMut(u64, &Words)) {
        let g = &epoch::pin();
        let folded = self.lock();
        for (c, slot) in self.chunks.iter().enumerate() {
            let p = slot.load(Ordering::Acquire, g);
            match (p.tag(), unsafe { p.as_ref() }) {
                (_, Some(chunk)) => self.chunk_words(chunk, c, &mut f),
                (FOLDED, None) => self.folded_words(&folded, c, &mut f),
                _ => {}
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

    /// Heap bytes at the most: the chunks alive at once at their peak, the slots and the
    /// exceptions now.
    pub(super) fn peak_heap_bytes(&self) -> usize {
        let chunk = self.sets * self.words() * 8;
        let exceptions = self.lock().exceptions.len();
        self.peak.load(Ordering::Relaxed) as usize * chunk + self.chunks.len() * 8 + exceptions * 24
    }

    /// Chunks alive now (allocated and not freed).
    #[cfg(test)]
    pub(super) fn live_chunks(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// The most chunks alive at once.
    #[cfg(test)]
    pub(super) fn peak_chunks(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn exceptions(&self) -> usize {
        self.lock().exceptions.len()
    }
}

impl Drop for Book {
    fn drop(&mut self) {
        // `&mut self`: nobody else can reach the chunks any more.
        let g = unsafe { epoch::unprotected() };
        for slot in self.chunks.iter() {
            let p = slot.load(Ordering::Relaxed, g);
            if !p.is_null() {
                drop(unsafe { p.with_tag(LIVE).into_owned() });
            }
        }
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
