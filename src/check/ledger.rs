//! The [`Ledger`]: every message of a run, by producer id and sequence number, and what
//! happened to it. Booking is lock-free and allocates nothing per message (see [`super::book`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crossbeam_epoch::{self as epoch, Guard};

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
    fn ours(&self, tag: &MessageTag, g: &Guard) -> Option<&Book> {
        self.books.get(tag.producer as usize).filter(|b| {
            let sent = (self.defer_foreign && tag.seq < b.len) || b.get(ATTEMPTED, tag.seq, g);
            sent && tag.sent_us >= self.since_us
        })
    }

    /// Sets `set` of a message; whether it was already set (`None`: out of range).
    fn set(&self, producer: u32, set: usize, seq: u64) -> Option<bool> {
        let b = self.books.get(producer as usize)?;
        b.set(set, seq, &epoch::pin())
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
    /// chunks behind it (see [`Book::sent`]).
    pub fn attempted(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            b.set(ATTEMPTED, seq, &epoch::pin());
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
        let g = &epoch::pin();
        let Some((tag, book)) = tag.and_then(|t| Some((t, self.ours(t, g)?))) else {
            self.unexpected.fetch_add(1, Relaxed);
            return DeliveryKind::Unexpected;
        };
        if via == Via::Claim && book.has_claims() {
            book.set(CLAIMED, tag.seq, g);
        }
        let seen = book.set(DELIVERED, tag.seq, g) == Some(true);
        let kind = match (via, seen) {
            (_, false) => DeliveryKind::First,
            (Via::New, true) if new_entry => DeliveryKind::DuplicateWrite,
            (Via::Claim, true) if !book.get(ACKED, tag.seq, g) => DeliveryKind::Recovered,
            _ => DeliveryKind::Duplicate,
        };
        match kind {
            DeliveryKind::Recovered => {
                book.set(RECOVERED, tag.seq, g);
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
        let g = &epoch::pin();
        let first = self
            .ours(tag, g)
            .is_some_and(|book| book.set(ACKED, tag.seq, g) == Some(false));
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

    /// Heap bytes of the ledger at its peak (for the memory figure): the chunks alive at once
    /// at their most, plus the chunk slots and the exceptions.
    pub fn heap_bytes(&self) -> usize {
        self.books.iter().map(Book::peak_heap_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::tag;
    use crate::check::{settle_lost, Verdict};

    fn produce(l: &Ledger, p: u32, s: u64) {
        l.attempted(p, s);
        l.produced(p, s);
    }

    /// Entry `ms-0` of shard 0.
    fn at(ms: u64) -> Option<Entry> {
        Some(Entry {
            shard: 0,
            id: EntryId(ms, 0),
        })
    }

    #[test]
    fn a_clean_run_is_ok() {
        let l = Ledger::new(&[100, 50]);
        for (p, n) in [(0u32, 100u64), (1, 50)] {
            for s in 0..n {
                produce(&l, p, s);
                assert_eq!(
                    l.delivered(Some(&tag(p, s)), Via::New, at(s + 1)),
                    DeliveryKind::First
                );
                assert!(l.acked(&tag(p, s)));
                assert!(!l.acked(&tag(p, s)), "a second ack is not a first ack");
            }
        }
        let c = l.counts(0);
        assert_eq!(
            (c.attempted, c.produced, c.delivered, c.acked, c.lost),
            (150, 150, 150, 150, 0)
        );
        assert_eq!(c.verdict(), Verdict::Ok);
        assert_eq!(c.verdict().to_string(), "ok");
        assert_eq!(l.acked_count(), 150);
    }

    #[test]
    fn counts_lost_duplicated_unexpected_recovered_exactly() {
        let l = Ledger::new(&[10]);
        for s in 0..10 {
            produce(&l, 0, s);
        }
        for s in 0..7 {
            l.delivered(Some(&tag(0, s)), Via::New, at(10 + s));
        }
        // 3 produced, never delivered: lost unless still stored.
        assert_eq!(
            l.delivered(Some(&tag(0, 1)), Via::New, at(11)),
            DeliveryKind::Duplicate,
            "the same entry again (the group's position went back)"
        );
        assert_eq!(
            l.delivered(Some(&tag(0, 2)), Via::Claim, at(12)),
            DeliveryKind::Recovered
        );
        l.acked(&tag(0, 3));
        assert_eq!(
            l.delivered(Some(&tag(0, 3)), Via::Claim, at(13)),
            DeliveryKind::Duplicate
        );
        assert_eq!(
            l.delivered(Some(&tag(9, 0)), Via::New, at(30)),
            DeliveryKind::Unexpected
        );
        assert_eq!(
            l.delivered(Some(&tag(0, 99)), Via::New, at(31)),
            DeliveryKind::Unexpected
        );
        assert_eq!(
            l.delivered(None, Via::New, at(32)),
            DeliveryKind::Unexpected
        );
        let mut c = l.counts(4);
        assert_eq!(
            (
                c.lost,
                c.duplicated,
                c.redelivered,
                c.unexpected,
                c.recovered,
                c.pending_at_end
            ),
            (3, 2, 3, 3, 1, 4)
        );
        assert_eq!(c.verdict().to_string(), "3 lost, 3 unexpected");
        settle_lost(&l, &mut c, &[Some(vec![tag(0, 8), tag(0, 1)])], |_, _| 0);
        assert_eq!(
            (c.lost, c.unverifiable),
            (2, 0),
            "one of the three is still in the stream: undelivered, not lost"
        );
    }

    #[test]
    fn a_second_entry_with_a_delivered_tag_is_a_duplicate_write() {
        let l = Ledger::new(&[3]);
        for s in 0..3 {
            produce(&l, 0, s);
            l.delivered(Some(&tag(0, s)), Via::New, at(10 + s));
        }
        // A copy of message 1 written later gets a higher id than anything delivered so far.
        assert_eq!(
            l.delivered(Some(&tag(0, 1)), Via::New, at(50)),
            DeliveryKind::DuplicateWrite
        );
        let c = l.counts(0);
        assert_eq!((c.duplicate_writes, c.duplicated, c.redelivered), (1, 0, 0));
        assert!(
            c.verdict().is_ok(),
            "a duplicate is a finding, not a failure"
        );
    }

    #[test]
    fn a_worker_ledger_books_other_workers_messages_but_not_ones_from_before_the_run() {
        let l = Ledger::for_worker(&[4, 4], 1, 1_000);
        produce(&l, 0, 0);
        let foreign = MessageTag {
            producer: 1,
            seq: 2,
            sent_us: 1_000,
        };
        assert_eq!(
            l.delivered(Some(&foreign), Via::New, at(1)),
            DeliveryKind::First
        );
        assert!(
            l.acked(&foreign),
            "another worker's message: its ack is booked"
        );
        let old = MessageTag {
            seq: 3,
            sent_us: 999,
            ..foreign
        };
        let beyond = MessageTag { seq: 4, ..foreign };
        for t in [old, beyond] {
            assert_eq!(
                l.delivered(Some(&t), Via::New, at(2 + t.seq)),
                DeliveryKind::Unexpected
            );
            assert!(!l.acked(&t));
        }
        let c = l.counts(0);
        assert_eq!((c.delivered, c.acked, c.unexpected), (1, 1, 2));
        let own = Ledger::for_run(&[4, 4], 1, 1_000);
        assert_eq!(
            own.delivered(Some(&foreign), Via::New, at(1)),
            DeliveryKind::Unexpected,
            "a run on its own sent nothing it did not attempt"
        );
    }

    #[test]
    fn a_tag_claiming_a_send_before_the_run_is_unexpected_and_never_acked() {
        let l = Ledger::for_run(&[2], 1, 1_000);
        produce(&l, 0, 0);
        let old = MessageTag {
            producer: 0,
            seq: 0,
            sent_us: 999,
        };
        assert_eq!(
            l.delivered(Some(&old), Via::New, at(1)),
            DeliveryKind::Unexpected
        );
        assert!(!l.acked(&old), "its ack must not count (nor its latency)");
        let c = l.counts(0);
        assert_eq!((c.unexpected, c.acked, c.delivered), (1, 0, 0));
        assert_eq!(
            c.verdict(),
            Verdict::Failed {
                lost: 1,
                unexpected: 1
            }
        );
    }

    #[test]
    fn undelivered_messages_on_an_unreadable_shard_are_unverifiable_not_lost() {
        let l = Ledger::new(&[6]);
        for s in 0..6 {
            produce(&l, 0, s);
        }
        l.delivered(Some(&tag(0, 0)), Via::New, at(1));
        let mut c = l.counts(0);
        assert_eq!(c.lost, 5);
        // Shard = seq % 2; shard 1 (seqs 1, 3, 5) could not be read; seq 4 is still stored.
        settle_lost(&l, &mut c, &[Some(vec![tag(0, 4)]), None], |_, s| {
            (s % 2) as usize
        });
        assert_eq!((c.lost, c.unverifiable), (1, 3));
        assert_eq!(c.verdict().to_string(), "1 lost");
        settle_lost(
            &l,
            &mut c,
            &[Some(vec![tag(0, 2), tag(0, 4)]), None],
            |_, s| (s % 2) as usize,
        );
        assert_eq!((c.lost, c.unverifiable), (0, 3));
        assert!(
            c.verdict().is_ok(),
            "unverifiable is a finding beside the verdict"
        );
    }

    #[test]
    fn verdict_reads_lost_and_unexpected_only() {
        let c = |lost, unexpected, pending, dup| Counts {
            lost,
            unexpected,
            pending_at_end: pending,
            duplicated: dup,
            produced: 10,
            acked: 3,
            ..Counts::default()
        };
        assert_eq!(c(0, 0, 5, 2).verdict().to_string(), "ok");
        assert_eq!(c(2, 0, 0, 0).verdict().to_string(), "2 lost");
        assert_eq!(c(0, 1, 0, 0).verdict().to_string(), "1 unexpected");
        assert_eq!(c(2, 1, 0, 0).verdict().to_string(), "2 lost, 1 unexpected");
    }

    #[test]
    fn entry_ids_parse_and_order_as_redis_orders_them() {
        assert_eq!(EntryId::parse("17-3"), Some(EntryId(17, 3)));
        assert!(EntryId::parse("17-10") > EntryId::parse("17-9"));
        assert!(EntryId::parse("18-0") > EntryId::parse("17-99"));
        assert_eq!(EntryId::parse("x"), None);
    }

    #[test]
    fn indeterminate_sends_are_counted_apart() {
        let l = Ledger::new(&[4]);
        for s in 0..4 {
            l.attempted(0, s);
        }
        l.produced(0, 0);
        l.produce_failed(0, 1);
        l.indeterminate(0, 2);
        l.indeterminate(0, 3);
        l.delivered(Some(&tag(0, 0)), Via::New, at(1));
        l.delivered(Some(&tag(0, 3)), Via::New, at(2));
        let c = l.counts(0);
        assert_eq!(
            (
                c.attempted,
                c.produced,
                c.produce_failed,
                c.produce_indeterminate
            ),
            (4, 1, 1, 2)
        );
        assert_eq!((c.indeterminate_delivered, c.lost, c.unexpected), (1, 0, 0));
    }

    /// A ledger of `n` messages from one producer, 128 per chunk (at most 2 exceptions each).
    fn small_chunks(n: u64) -> Ledger {
        Ledger::with_books(&[n], 1, 0, false, 7)
    }

    /// Folds what can be folded behind `head`, letting the epoch advance in between (the seal
    /// takes effect once earlier accesses have ended). Bounded.
    fn fold_all(l: &Ledger, head: usize) {
        for _ in 0..10_000 {
            epoch::pin().flush();
            l.books[0].fold_behind(head);
        }
    }

    /// What the ledger says at the end: counts, undelivered and produced messages.
    type Everything = (Counts, Vec<(u32, u64)>, Vec<(u32, u64, bool)>);

    fn everything(l: &Ledger) -> Everything {
        let (mut undelivered, mut produced) = (Vec::new(), Vec::new());
        l.for_each_undelivered(|p, s| undelivered.push((p, s)));
        l.for_each_produced(|p, s, d| produced.push((p, s, d)));
        (l.counts(0), undelivered, produced)
    }

    /// Settled chunks are freed; what is not settled stays, as exceptions in a folded chunk or
    /// as a chunk too unsettled to fold; late events on folded messages, on both sides of chunk
    /// borders, count as they would without folding.
    #[test]
    fn settled_chunks_fold_and_exceptions_across_chunk_borders_count_exactly() {
        let (l, whole) = (
            small_chunks(1000),
            Ledger::with_books(&[1000], 1, 0, false, 20),
        );
        for x in [&l, &whole] {
            for s in 0..1000 {
                x.attempted(0, s);
                match s {
                    130 => x.produce_failed(0, s),
                    127 => x.indeterminate(0, s),
                    _ => x.produced(0, s),
                }
                // 255 | 256: the last of chunk 1 pending, the first of chunk 2 undelivered;
                // 384..=390: chunk 3 too unsettled to fold.
                if s == 256 || s == 130 || s == 127 {
                    continue;
                }
                x.delivered(Some(&tag(0, s)), Via::New, at(s + 1));
                if s != 255 && !(384..=390).contains(&s) {
                    assert!(x.acked(&tag(0, s)));
                }
            }
        }
        fold_all(&l, 999 >> 7);
        let book = &l.books[0];
        assert_eq!(book.live_chunks(), 3, "chunks 3, 6 and 7 stay");
        assert_eq!(book.exceptions(), 4, "127, 130, 255, 256");
        assert_eq!(everything(&l), everything(&whole));
        assert!(l.heap_bytes() < whole.heap_bytes());
        for x in [&l, &whole] {
            assert!(x.acked(&tag(0, 255)), "a pending exception's first ack");
            assert!(!x.acked(&tag(0, 255)));
            assert!(!x.acked(&tag(0, 10)), "a settled message was acked");
            let late = [
                (256, Via::New, at(2000), DeliveryKind::First),
                (127, Via::New, at(2001), DeliveryKind::First),
                (10, Via::New, at(5), DeliveryKind::Duplicate),
                (128, Via::Claim, None, DeliveryKind::Duplicate),
                (384, Via::Claim, None, DeliveryKind::Recovered),
                (11, Via::New, at(3000), DeliveryKind::DuplicateWrite),
            ];
            for (seq, via, entry, kind) in late {
                assert_eq!(x.delivered(Some(&tag(0, seq)), via, entry), kind, "{seq}");
            }
        }
        assert_eq!(everything(&l), everything(&whole));
        assert_eq!(l.snapshot(), whole.snapshot());
        let c = l.counts(0);
        assert_eq!(
            (
                c.produce_failed,
                c.produce_indeterminate,
                c.indeterminate_delivered
            ),
            (1, 1, 1)
        );
        assert_eq!(
            (c.duplicated, c.duplicate_writes, c.recovered, c.lost),
            (2, 1, 1, 0)
        );
    }

    /// Random sends, most delivered and acked at once, some failed, indeterminate, left pending
    /// or undelivered, and random late deliveries, claims and acks of any earlier message,
    /// folded as they go: every answer and the end state equal those of a ledger that never
    /// folds.
    #[test]
    fn folding_never_changes_an_answer() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let n = 6000;
        let (l, whole) = (small_chunks(n), Ledger::with_books(&[n], 1, 0, false, 20));
        let both = [&l, &whole];
        let mut entry = 0;
        let mut next_entry = || {
            entry += 1;
            at(entry)
        };
        for s in 0..n {
            let outcome = rng.random_range(0..1000);
            for x in both {
                x.attempted(0, s);
                match outcome {
                    0..2 => x.produce_failed(0, s),
                    2..4 => x.indeterminate(0, s),
                    _ => x.produced(0, s),
                }
            }
            if outcome >= 10 {
                let e = next_entry();
                let kinds = both.map(|x| x.delivered(Some(&tag(0, s)), Via::New, e));
                assert_eq!(kinds[0], kinds[1], "first delivery of {s}");
                if outcome >= 12 {
                    assert_eq!(both.map(|x| x.acked(&tag(0, s))), [true, true]);
                }
            }
            if rng.random_bool(0.05) {
                // A late event on any earlier message, folded or not.
                let old = rng.random_range(0..=s);
                let (via, e) = match rng.random_range(0..3) {
                    0 => (Via::Claim, None),
                    1 => (Via::New, next_entry()),
                    _ => (Via::New, at(1)),
                };
                if rng.random_bool(0.5) {
                    let kinds = both.map(|x| x.delivered(Some(&tag(0, old)), via, e));
                    assert_eq!(kinds[0], kinds[1], "late delivery of {old} at {s}");
                } else {
                    let firsts = both.map(|x| x.acked(&tag(0, old)));
                    assert_eq!(firsts[0], firsts[1], "late ack of {old} at {s}");
                }
            }
        }
        fold_all(&l, (n >> 7) as usize);
        let book = &l.books[0];
        assert!(book.exceptions() > 0, "some folded chunks have exceptions");
        assert!(
            book.live_chunks() < 47 / 2,
            "{} of 47 chunks alive",
            book.live_chunks()
        );
        assert_eq!(everything(&l), everything(&whole));
        assert_eq!(l.snapshot(), whole.snapshot());
    }

    /// Client memory follows the messages in flight, not the run's length: 1,000 chunks sent,
    /// delivered and acked as they go leave a handful of chunks alive.
    #[test]
    fn memory_stays_flat_over_a_long_run() {
        let n = 1000 << 7;
        let l = small_chunks(n);
        for s in 0..n {
            produce(&l, 0, s);
            l.delivered(Some(&tag(0, s)), Via::New, at(s + 1));
            l.acked(&tag(0, s));
        }
        let book = &l.books[0];
        // How far behind folding runs depends on when the epoch advances, which every thread
        // of the process that pins it (other tests here, preempted on a busy machine) can
        // delay: chunks were freed during the run, but how many stayed at once is no fixed
        // figure. The release measurements give the real one.
        assert!(book.peak_chunks() < 900, "peak {}", book.peak_chunks());
        fold_all(&l, 1000);
        assert_eq!(book.live_chunks(), 1, "all but the last chunk folded");
        assert_eq!(book.exceptions(), 0);
        let c = l.counts(0);
        assert_eq!((c.attempted, c.acked, c.lost, c.delivered), (n, n, 0, n));
    }
}
