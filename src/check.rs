//! The ledger of every message and the delivery checker.
//!
//! In the spirit of Jepsen's total-queue check: a run is valid iff nothing Redis acknowledged
//! (XADD answered with an id) is lost and nothing unexpected was delivered. The ledger is compact
//! (three bits per message, lock-free), so ten million messages cost a few MB.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::stream::MessageTag;

/// A fixed-size bitset whose bits can be set from many tasks at once.
struct AtomicBits {
    words: Box<[AtomicU64]>,
    len: u64,
}

impl AtomicBits {
    fn new(len: u64) -> Self {
        let words = (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        AtomicBits { words, len }
    }
    /// Sets bit `i`; returns whether it was already set. Out of range: `None`.
    fn set(&self, i: u64) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        let mask = 1u64 << (i % 64);
        Some(self.words[(i / 64) as usize].fetch_or(mask, Relaxed) & mask != 0)
    }
    fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize].load(Relaxed) & (1u64 << (i % 64)) != 0
    }
}

/// One producer's messages: what happened to each sequence number.
struct ProducerBook {
    attempted: AtomicBits,
    produced: AtomicBits,
    indeterminate: AtomicBits,
    delivered: AtomicBits,
    recovered: AtomicBits,
    acked: AtomicBits,
    /// Delivered through XAUTOCLAIM at least once (so a merge of workers' ledgers can tell a
    /// take-over from a second new delivery). Empty outside a worker's ledger.
    claimed: AtomicBits,
}

impl ProducerBook {
    fn new(n: u64, claims: bool) -> Self {
        ProducerBook {
            attempted: AtomicBits::new(n),
            produced: AtomicBits::new(n),
            indeterminate: AtomicBits::new(n),
            delivered: AtomicBits::new(n),
            recovered: AtomicBits::new(n),
            acked: AtomicBits::new(n),
            claimed: AtomicBits::new(if claims { n } else { 0 }),
        }
    }
}

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
    /// First time we see this message.
    First,
    /// A claimed message that was delivered before but never acked: recovered.
    Recovered,
    /// Seen (and for claims: acked) before: processed twice.
    Duplicate,
    /// Not a message of this run.
    Unexpected,
}

/// Every message of a run, by producer id and sequence number.
pub struct Ledger {
    books: Vec<ProducerBook>,
    produced_ok: AtomicU64,
    acked_unique: AtomicU64,
    duplicated: AtomicU64,
    unexpected: AtomicU64,
    produce_failed: AtomicU64,
    /// A worker's ledger: deliveries of messages other workers sent are booked, not judged
    /// (only the union of all workers' ledgers knows what was sent).
    defer_foreign: bool,
}

impl Ledger {
    /// A ledger for `per_producer[p]` messages from producer p.
    pub fn new(per_producer: &[u64]) -> Self {
        Ledger::with_books(per_producer, false)
    }

    fn with_books(per_producer: &[u64], worker: bool) -> Self {
        Ledger {
            books: per_producer
                .iter()
                .map(|&n| ProducerBook::new(n, worker))
                .collect(),
            produced_ok: AtomicU64::new(0),
            acked_unique: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            produce_failed: AtomicU64::new(0),
            defer_foreign: worker,
        }
    }

    /// The ledger of one worker of a distributed run: sized for every producer of the whole run
    /// (`per_producer` by global producer id). A delivery of a message this worker did not send
    /// is booked as delivered instead of unexpected; `rcstress merge` judges it.
    pub fn for_worker(per_producer: &[u64]) -> Self {
        Ledger::with_books(per_producer, true)
    }

    fn book(&self, tag: &MessageTag) -> Option<&ProducerBook> {
        self.books.get(tag.producer as usize)
    }

    /// A send is about to be tried.
    pub fn attempted(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            b.attempted.set(seq);
        }
    }

    /// XADD answered with an id: Redis acknowledged the message.
    pub fn produced(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            if b.produced.set(seq) == Some(false) {
                self.produced_ok.fetch_add(1, Relaxed);
            }
        }
    }

    /// XADD failed with a definite error: the message is not in Redis.
    pub fn produce_failed(&self, _producer: u32, _seq: u64) {
        self.produce_failed.fetch_add(1, Relaxed);
    }

    /// XADD timed out or its connection dropped: it may or may not be in Redis.
    pub fn indeterminate(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            b.indeterminate.set(seq);
        }
    }

    /// A consumer received the message.
    pub fn delivered(&self, tag: Option<&MessageTag>, via: Via) -> DeliveryKind {
        let Some(tag) = tag else {
            self.unexpected.fetch_add(1, Relaxed);
            return DeliveryKind::Unexpected;
        };
        let Some(book) = self.book(tag).filter(|b| {
            b.attempted.get(tag.seq) || (self.defer_foreign && tag.seq < b.attempted.len)
        }) else {
            self.unexpected.fetch_add(1, Relaxed);
            return DeliveryKind::Unexpected;
        };
        if via == Via::Claim {
            book.claimed.set(tag.seq);
        }
        let seen = book.delivered.set(tag.seq) == Some(true);
        let kind = match (via, seen) {
            (_, false) => DeliveryKind::First,
            (Via::Claim, true) if !book.acked.get(tag.seq) => DeliveryKind::Recovered,
            _ => DeliveryKind::Duplicate,
        };
        match kind {
            DeliveryKind::Recovered => {
                book.recovered.set(tag.seq);
            }
            DeliveryKind::Duplicate => {
                self.duplicated.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        kind
    }

    /// XACK succeeded for this message.
    pub fn acked(&self, tag: &MessageTag) {
        if let Some(book) = self.book(tag) {
            if book.acked.set(tag.seq) == Some(false) {
                self.acked_unique.fetch_add(1, Relaxed);
            }
        }
    }

    /// Messages Redis acknowledged so far.
    pub fn produced_count(&self) -> u64 {
        self.produced_ok.load(Relaxed)
    }

    /// Distinct messages acked so far.
    pub fn acked_count(&self) -> u64 {
        self.acked_unique.load(Relaxed)
    }

    /// The final tally. `pending_at_end` comes from XPENDING, which the ledger cannot see.
    pub fn counts(&self, pending_at_end: u64) -> Counts {
        let mut c = Counts {
            pending_at_end,
            ..Counts::default()
        };
        for b in &self.books {
            for w in 0..b.attempted.words.len() {
                let word = |bits: &AtomicBits| bits.words[w].load(Relaxed);
                let (att, prod, ind, del, rec, ack) = (
                    word(&b.attempted),
                    word(&b.produced),
                    word(&b.indeterminate),
                    word(&b.delivered),
                    word(&b.recovered),
                    word(&b.acked),
                );
                c.attempted += u64::from(att.count_ones());
                c.produced += u64::from(prod.count_ones());
                c.produce_indeterminate += u64::from((ind & !prod).count_ones());
                c.delivered += u64::from(del.count_ones());
                c.recovered += u64::from(rec.count_ones());
                c.acked += u64::from(ack.count_ones());
                c.lost += u64::from((prod & !del).count_ones());
                c.indeterminate_delivered += u64::from((ind & !prod & del).count_ones());
            }
        }
        c.produce_failed = self.produce_failed.load(Relaxed);
        c.duplicated = self.duplicated.load(Relaxed);
        c.unexpected = self.unexpected.load(Relaxed);
        c.never_delivered = c.produced - (c.delivered - c.indeterminate_delivered).min(c.produced);
        c
    }

    /// Approximate heap bytes of the ledger (for the memory figure).
    pub fn heap_bytes(&self) -> usize {
        self.books
            .iter()
            .map(|b| (6 * b.attempted.words.len() + b.claimed.words.len()) * 8)
            .sum()
    }

    /// Every bit of the ledger, for a worker's result file (see [`LedgerSnapshot`]).
    pub fn snapshot(&self) -> LedgerSnapshot {
        let words = |bits: &AtomicBits| bits.words.iter().map(|w| w.load(Relaxed)).collect();
        LedgerSnapshot {
            producers: self
                .books
                .iter()
                .map(|b| {
                    let sets = [
                        &b.attempted,
                        &b.produced,
                        &b.indeterminate,
                        &b.delivered,
                        &b.recovered,
                        &b.acked,
                        &b.claimed,
                    ];
                    BookSnapshot::from_sets(b.attempted.len, sets.map(words))
                })
                .collect(),
            duplicated: self.duplicated.load(Relaxed),
            unexpected: self.unexpected.load(Relaxed),
            produce_failed: self.produce_failed.load(Relaxed),
        }
    }
}

/// A ledger's bits at the end of a run, by producer id: what a worker hands to `rcstress merge`.
/// Word `w` bit `b` of a set is the message with sequence number `64 w + b`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub producers: Vec<BookSnapshot>,
    /// Duplicates this ledger saw by itself (a second delivery within one worker).
    pub duplicated: u64,
    /// Deliveries this ledger could not place at all (no tag, producer or sequence out of range).
    pub unexpected: u64,
    pub produce_failed: u64,
}

/// One producer's bit sets in a [`LedgerSnapshot`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookSnapshot {
    pub messages: u64,
    pub attempted: Vec<u64>,
    pub produced: Vec<u64>,
    pub indeterminate: Vec<u64>,
    pub delivered: Vec<u64>,
    pub recovered: Vec<u64>,
    pub acked: Vec<u64>,
    pub claimed: Vec<u64>,
}

impl BookSnapshot {
    /// The sets' names, in the order of [`BookSnapshot::sets`] and [`BookSnapshot::from_sets`].
    pub const NAMES: [&'static str; 7] = [
        "attempted",
        "produced",
        "indeterminate",
        "delivered",
        "recovered",
        "acked",
        "claimed",
    ];

    /// Every set, in the order of [`BookSnapshot::NAMES`].
    pub fn sets(&self) -> [&Vec<u64>; 7] {
        [
            &self.attempted,
            &self.produced,
            &self.indeterminate,
            &self.delivered,
            &self.recovered,
            &self.acked,
            &self.claimed,
        ]
    }

    /// A book from its sets, in the order of [`BookSnapshot::NAMES`].
    pub fn from_sets(messages: u64, sets: [Vec<u64>; 7]) -> Self {
        let [attempted, produced, indeterminate, delivered, recovered, acked, claimed] = sets;
        BookSnapshot {
            messages,
            attempted,
            produced,
            indeterminate,
            delivered,
            recovered,
            acked,
            claimed,
        }
    }
}

/// The checker's counts, field names as in the JSON contract.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Sends tried.
    pub attempted: u64,
    /// XADD answered with an id.
    pub produced: u64,
    /// XADD answered with an error: not in Redis.
    pub produce_failed: u64,
    /// XADD timed out / connection dropped: maybe in Redis (and not later seen as produced).
    pub produce_indeterminate: u64,
    /// Distinct messages delivered at least once.
    pub delivered: u64,
    /// Distinct messages acked by us (XACK succeeded).
    pub acked: u64,
    /// Acknowledged by Redis at XADD, never delivered, and not in the stream at the end.
    pub lost: u64,
    /// Delivered more than once where it must not be (a second new delivery, or a claim of an
    /// already-acked message).
    pub duplicated: u64,
    /// Taken over by XAUTOCLAIM after a consumer read it and died before XACK.
    pub recovered: u64,
    /// Delivered but never sent by this run.
    pub unexpected: u64,
    /// XPENDING total at the end: read but never acked.
    pub pending_at_end: u64,
    /// Indeterminate sends that did show up in a delivery.
    pub indeterminate_delivered: u64,
    /// Produced but never delivered (includes entries still in the stream; `lost` excludes them).
    pub never_delivered: u64,
}

impl Counts {
    /// "ok" iff nothing lost and nothing unexpected; otherwise a short reason.
    pub fn verdict(&self) -> String {
        let mut reasons = Vec::new();
        if self.lost > 0 {
            reasons.push(format!("{} lost", self.lost));
        }
        if self.unexpected > 0 {
            reasons.push(format!("{} unexpected", self.unexpected));
        }
        if reasons.is_empty() {
            "ok".into()
        } else {
            reasons.join(", ")
        }
    }
}

/// Applies what is still in the streams at the end: produced messages that were never delivered
/// but are still stored are not lost, only undelivered. `still_stored` lists the tags found by a
/// final scan (XRANGE) of every shard.
pub fn settle_lost(ledger: &Ledger, counts: &mut Counts, still_stored: &[MessageTag]) {
    let mut stored_undelivered = 0u64;
    for tag in still_stored {
        if let Some(b) = ledger.book(tag) {
            if b.produced.get(tag.seq) && !b.delivered.get(tag.seq) {
                stored_undelivered += 1;
            }
        }
    }
    counts.lost = counts.lost.saturating_sub(stored_undelivered);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tag(p: u32, s: u64) -> MessageTag {
        MessageTag {
            producer: p,
            seq: s,
            sent_us: 0,
        }
    }

    fn produce(l: &Ledger, p: u32, s: u64) {
        l.attempted(p, s);
        l.produced(p, s);
    }

    #[test]
    fn a_clean_run_is_ok() {
        let l = Ledger::new(&[100, 50]);
        for (p, n) in [(0u32, 100u64), (1, 50)] {
            for s in 0..n {
                produce(&l, p, s);
                assert_eq!(l.delivered(Some(&tag(p, s)), Via::New), DeliveryKind::First);
                l.acked(&tag(p, s));
            }
        }
        let c = l.counts(0);
        assert_eq!(
            (c.attempted, c.produced, c.delivered, c.acked, c.lost),
            (150, 150, 150, 150, 0)
        );
        assert_eq!(c.verdict(), "ok");
        assert_eq!(l.acked_count(), 150);
    }

    #[test]
    fn counts_lost_duplicated_unexpected_recovered_exactly() {
        let l = Ledger::new(&[10]);
        for s in 0..10 {
            produce(&l, 0, s);
        }
        for s in 0..7 {
            l.delivered(Some(&tag(0, s)), Via::New);
        }
        // 3 produced, never delivered: lost unless still stored.
        assert_eq!(
            l.delivered(Some(&tag(0, 1)), Via::New),
            DeliveryKind::Duplicate
        );
        assert_eq!(
            l.delivered(Some(&tag(0, 2)), Via::Claim),
            DeliveryKind::Recovered
        );
        l.acked(&tag(0, 3));
        assert_eq!(
            l.delivered(Some(&tag(0, 3)), Via::Claim),
            DeliveryKind::Duplicate
        );
        assert_eq!(
            l.delivered(Some(&tag(9, 0)), Via::New),
            DeliveryKind::Unexpected
        );
        assert_eq!(
            l.delivered(Some(&tag(0, 99)), Via::New),
            DeliveryKind::Unexpected
        );
        assert_eq!(l.delivered(None, Via::New), DeliveryKind::Unexpected);
        let mut c = l.counts(4);
        assert_eq!(
            (
                c.lost,
                c.duplicated,
                c.unexpected,
                c.recovered,
                c.pending_at_end
            ),
            (3, 2, 3, 1, 4)
        );
        assert_eq!(c.verdict(), "3 lost, 3 unexpected");
        settle_lost(&l, &mut c, &[tag(0, 8), tag(0, 1)]);
        assert_eq!(
            c.lost, 2,
            "one of the three is still in the stream: undelivered, not lost"
        );
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
        l.delivered(Some(&tag(0, 0)), Via::New);
        l.delivered(Some(&tag(0, 3)), Via::New);
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

    #[test]
    fn ten_million_messages_fit_in_a_few_megabytes() {
        let l = Ledger::new(&[2_500_000; 4]);
        assert!(l.heap_bytes() < 8 * 1024 * 1024, "{}", l.heap_bytes());
    }
}
