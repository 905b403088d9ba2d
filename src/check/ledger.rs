//! The [`Ledger`]: every message of a run, by producer id and sequence number, and what
//! happened to it. Booking takes one chunk's lock per bit and allocates nothing per message
//! (see the `book` module).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::book::{
    Book, ACKED, ATTEMPTED, CHUNK_SHIFT, CLAIMED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED,
};
use super::settle::set_bits;
use super::{Counts, DeliveryKind, Entry, EntryId, EventCounts, Via};
use crate::stream::MessageTag;

/// Every message of a run, by producer id and sequence number.
pub struct Ledger {
    pub(super) books: Vec<Book>,
    /// Send times before this (µs since the epoch) are not of this run: a foreign entry that
    /// copies our `m` format with an old time must not count as ours (nor enter the latency).
    since_us: u64,
    /// Per shard, the highest entry id delivered by XREADGROUP `>`. Redis hands new entries in id
    /// order, so a delivery of an already delivered message above this mark is a new entry (a
    /// duplicate write); at or below it, the same entry again (the group's read position went
    /// back, e.g. rolled back by a failover). With several consumers on one shard, batches booked
    /// out of order can blur the two: a race we accept (by default each shard has one consumer).
    newest: Vec<Mutex<EntryId>>,
    produced_ok: AtomicU64,
    acked_unique: AtomicU64,
    duplicated: AtomicU64,
    duplicate_writes: AtomicU64,
    redelivered: AtomicU64,
    unexpected: AtomicU64,
    produce_failed: AtomicU64,
    unconfirmed: AtomicU64,
    /// A worker's ledger: deliveries of messages other workers sent are booked, not judged
    /// (only the union of all workers' ledgers knows what was sent).
    defer_foreign: bool,
}

impl Ledger {
    /// A ledger for `per_producer[p]` messages from producer p, over one shard, accepting any
    /// send time.
    pub fn new(per_producer: &[u64]) -> Self {
        Ledger::for_run(per_producer, 1, 0)
    }

    /// A ledger for a run over `shards` shard keys that started at `since_us` (µs since the
    /// epoch): tags claiming an earlier send time are unexpected.
    pub fn for_run(per_producer: &[u64], shards: usize, since_us: u64) -> Self {
        Ledger::with_books(per_producer, shards, since_us, false, CHUNK_SHIFT)
    }

    /// The ledger of one worker of a distributed run: sized for every producer of the whole run
    /// (`per_producer` by global producer id). A delivery of a message this worker did not send
    /// is booked as delivered instead of unexpected; `rcstress merge` judges it. `since_us` is
    /// the common start: no worker sends before it (by its own clock). Its chunks are never
    /// folded: the merge reads every bit.
    pub fn for_worker(per_producer: &[u64], shards: usize, since_us: u64) -> Self {
        Ledger::with_books(per_producer, shards, since_us, true, CHUNK_SHIFT)
    }

    /// `shift`: log2 of the messages per chunk (6 or more).
    pub(super) fn with_books(
        per_producer: &[u64],
        shards: usize,
        since_us: u64,
        worker: bool,
        shift: u32,
    ) -> Self {
        Ledger {
            books: per_producer
                .iter()
                .map(|&n| Book::new(n, worker, !worker, shift))
                .collect(),
            since_us,
            newest: (0..shards.max(1))
                .map(|_| Mutex::new(EntryId::default()))
                .collect(),
            produced_ok: AtomicU64::new(0),
            acked_unique: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            duplicate_writes: AtomicU64::new(0),
            redelivered: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            produce_failed: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            defer_foreign: worker,
        }
    }

    /// The book of a message this run sent (attempted, and not claiming an earlier send time).
    /// A worker's ledger also takes any in-range message of another worker: only the union of
    /// the ledgers knows whether it was sent.
    fn ours(&self, tag: &MessageTag) -> Option<&Book> {
        self.books.get(tag.producer as usize).filter(|b| {
            let sent = (self.defer_foreign && tag.seq < b.len) || b.get(ATTEMPTED, tag.seq);
            sent && tag.sent_us >= self.since_us
        })
    }

    /// Sets `set` of a message; whether it was already set (`None`: out of range).
    fn set(&self, producer: u32, set: usize, seq: u64) -> Option<bool> {
        let b = self.books.get(producer as usize)?;
        b.set(set, seq)
    }

    /// Raises shard's newest delivered id to `id`; returns whether `id` was above it.
    fn raise_newest(&self, entry: Entry) -> bool {
        let Some(m) = self.newest.get(entry.shard) else {
            return false;
        };
        let mut newest = m.lock().unwrap_or_else(|e| e.into_inner());
        let above = entry.id > *newest;
        if above {
            *newest = entry.id;
        }
        above
    }

    /// A send is about to be tried. The first send of a chunk also folds the producer's settled
    /// chunks behind it (see `Book::sent`).
    pub fn attempted(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            b.set(ATTEMPTED, seq);
            b.sent(seq);
        }
    }

    /// XADD answered with an id: Redis acknowledged the message.
    pub fn produced(&self, producer: u32, seq: u64) {
        if self.set(producer, PRODUCED, seq) == Some(false) {
            self.produced_ok.fetch_add(1, Relaxed);
        }
    }

    /// XADD failed with a definite error: the message is not in Redis.
    pub fn produce_failed(&self, _producer: u32, _seq: u64) {
        self.produce_failed.fetch_add(1, Relaxed);
    }

    /// XADD timed out or its connection dropped: it may or may not be in Redis.
    pub fn indeterminate(&self, producer: u32, seq: u64) {
        self.set(producer, INDETERMINATE, seq);
    }

    /// XADD answered with an id but the durability wait after it (WAIT / WAITAOF) fell short:
    /// in Redis, maybe not where it was asked to be. Booked like an indeterminate send (a later
    /// loss is not `lost`) and counted apart as `unconfirmed`.
    pub fn unconfirmed(&self, producer: u32, seq: u64) {
        if self.set(producer, INDETERMINATE, seq) == Some(false) {
            self.unconfirmed.fetch_add(1, Relaxed);
        }
    }

    /// Messages whose delivery the run waits for: acknowledged plus unconfirmed (both are in
    /// Redis as far as the XADD reply says).
    pub fn awaited_count(&self) -> u64 {
        self.produced_ok.load(Relaxed) + self.unconfirmed.load(Relaxed)
    }

    /// A consumer received the message from `entry` (`None` when the id is unknown).
    pub fn delivered(
        &self,
        tag: Option<&MessageTag>,
        via: Via,
        entry: Option<Entry>,
    ) -> DeliveryKind {
        // Only new deliveries move the shard's mark: a claim hands back an older entry.
        let new_entry = via == Via::New && entry.is_some_and(|e| self.raise_newest(e));
        let Some((tag, book)) = tag.and_then(|t| Some((t, self.ours(t)?))) else {
            self.unexpected.fetch_add(1, Relaxed);
            return DeliveryKind::Unexpected;
        };
        if via == Via::Claim && book.has_claims() {
            book.set(CLAIMED, tag.seq);
        }
        let seen = book.set(DELIVERED, tag.seq) == Some(true);
        let kind = match (via, seen) {
            (_, false) => DeliveryKind::First,
            (Via::New, true) if new_entry => DeliveryKind::DuplicateWrite,
            (Via::Claim, true) if !book.get(ACKED, tag.seq) => DeliveryKind::Recovered,
            _ => DeliveryKind::Duplicate,
        };
        match kind {
            DeliveryKind::Recovered => {
                book.set(RECOVERED, tag.seq);
                self.redelivered.fetch_add(1, Relaxed);
            }
            DeliveryKind::Duplicate => {
                self.duplicated.fetch_add(1, Relaxed);
                self.redelivered.fetch_add(1, Relaxed);
            }
            DeliveryKind::DuplicateWrite => {
                self.duplicate_writes.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        kind
    }

    /// XACK succeeded for this message. Returns true for its first ack, the one its send→ack
    /// latency is measured at; false for a repeat and for anything this run did not send.
    pub fn acked(&self, tag: &MessageTag) -> bool {
        let first = self
            .ours(tag)
            .is_some_and(|book| book.set(ACKED, tag.seq) == Some(false));
        if first {
            self.acked_unique.fetch_add(1, Relaxed);
        }
        first
    }

    /// Messages Redis acknowledged so far.
    pub fn produced_count(&self) -> u64 {
        self.produced_ok.load(Relaxed)
    }

    /// Distinct messages acked so far.
    pub fn acked_count(&self) -> u64 {
        self.acked_unique.load(Relaxed)
    }

    /// The counters kept beside the bits.
    pub(super) fn events(&self) -> EventCounts {
        EventCounts {
            duplicated: self.duplicated.load(Relaxed),
            duplicate_writes: self.duplicate_writes.load(Relaxed),
            redelivered: self.redelivered.load(Relaxed),
            unexpected: self.unexpected.load(Relaxed),
            produce_failed: self.produce_failed.load(Relaxed),
            unconfirmed: self.unconfirmed.load(Relaxed),
        }
    }

    /// The final tally. `pending_at_end` comes from XPENDING, which the ledger cannot see.
    pub fn counts(&self, pending_at_end: u64) -> Counts {
        let mut c = Counts {
            pending_at_end,
            ..Counts::default()
        };
        for b in &self.books {
            b.for_each_word(|_, w| c.add_words(w));
        }
        c.close(&self.events());
        c
    }

    /// Calls `f(producer, seq)` for every message Redis acknowledged that was never delivered:
    /// the candidates for `lost`.
    pub fn for_each_undelivered(&self, mut f: impl FnMut(u32, u64)) {
        for (p, b) in self.books.iter().enumerate() {
            b.for_each_word(|base, w| {
                for i in set_bits(w.sets[PRODUCED] & !w.sets[DELIVERED]) {
                    f(p as u32, base + i);
                }
            });
        }
    }

    /// Calls `f(producer, seq, delivered)` for every message Redis acknowledged.
    pub fn for_each_produced(&self, mut f: impl FnMut(u32, u64, bool)) {
        for (p, b) in self.books.iter().enumerate() {
            b.for_each_word(|base, w| {
                for i in set_bits(w.sets[PRODUCED]) {
                    f(p as u32, base + i, w.sets[DELIVERED] & (1 << i) != 0);
                }
            });
        }
    }

    /// Calls `f(producer, seq, sets)` for every message that was attempted, with bit `s` of
    /// `sets` set for each set `s` it is in (folded messages read as settled unless they are
    /// exceptions).
    pub fn for_each_attempted(&self, mut f: impl FnMut(u32, u64, u8)) {
        for (p, b) in self.books.iter().enumerate() {
            b.for_each_word(|base, w| {
                for i in set_bits(w.sets[ATTEMPTED]) {
                    f(p as u32, base + i, w.message(i));
                }
            });
        }
    }

    /// Heap bytes of the ledger at its peak (for the memory figure): the chunks alive at once
    /// at their most, plus the chunk slots and the exceptions.
    pub fn heap_bytes(&self) -> usize {
        self.books.iter().map(Book::peak_heap_bytes).sum()
    }
}
