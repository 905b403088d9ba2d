//! The ledger of every message and the delivery checker.
//!
//! In the spirit of Jepsen's total-queue check: a run is valid iff nothing Redis acknowledged
//! (XADD answered with an id) is lost and nothing unexpected was delivered ([`Verdict`]). The
//! ledger is compact (six bits per message, lock-free), so ten million messages cost a few MB.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

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

/// A stream entry id `ms-seq`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId(pub u64, pub u64);

impl EntryId {
    /// Parses `1700000000000-3`; `None` for anything else.
    pub fn parse(id: &str) -> Option<EntryId> {
        let (ms, seq) = id.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

/// Where a delivery came from: the shard key's index and the entry id, so that a second entry
/// carrying the same message can be told from the same entry delivered again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub shard: usize,
    pub id: EntryId,
}

/// Every message of a run, by producer id and sequence number.
pub struct Ledger {
    books: Vec<ProducerBook>,
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
        Ledger::with_books(per_producer, shards, since_us, false)
    }

    fn with_books(per_producer: &[u64], shards: usize, since_us: u64, worker: bool) -> Self {
        Ledger {
            books: per_producer
                .iter()
                .map(|&n| ProducerBook::new(n, worker))
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

    /// The ledger of one worker of a distributed run: sized for every producer of the whole run
    /// (`per_producer` by global producer id). A delivery of a message this worker did not send
    /// is booked as delivered instead of unexpected; `rcstress merge` judges it. `since_us` is
    /// the common start: no worker sends before it (by its own clock).
    pub fn for_worker(per_producer: &[u64], shards: usize, since_us: u64) -> Self {
        Ledger::with_books(per_producer, shards, since_us, true)
    }

    fn book(&self, tag: &MessageTag) -> Option<&ProducerBook> {
        self.books.get(tag.producer as usize)
    }

    /// The book of a message this run sent (attempted, and not claiming an earlier send time).
    /// A worker's ledger also takes any in-range message of another worker: only the union of
    /// the ledgers knows whether it was sent.
    fn ours(&self, tag: &MessageTag) -> Option<&ProducerBook> {
        self.book(tag).filter(|b| {
            let sent =
                b.attempted.get(tag.seq) || (self.defer_foreign && tag.seq < b.attempted.len);
            sent && tag.sent_us >= self.since_us
        })
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

    /// XADD answered with an id but the durability wait after it (WAIT / WAITAOF) fell short:
    /// in Redis, maybe not where it was asked to be. Booked like an indeterminate send (a later
    /// loss is not `lost`) and counted apart as `unconfirmed`.
    pub fn unconfirmed(&self, producer: u32, seq: u64) {
        if let Some(b) = self.books.get(producer as usize) {
            if b.indeterminate.set(seq) == Some(false) {
                self.unconfirmed.fetch_add(1, Relaxed);
            }
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
        if via == Via::Claim {
            book.claimed.set(tag.seq);
        }
        let seen = book.delivered.set(tag.seq) == Some(true);
        let kind = match (via, seen) {
            (_, false) => DeliveryKind::First,
            (Via::New, true) if new_entry => DeliveryKind::DuplicateWrite,
            (Via::Claim, true) if !book.acked.get(tag.seq) => DeliveryKind::Recovered,
            _ => DeliveryKind::Duplicate,
        };
        match kind {
            DeliveryKind::Recovered => {
                book.recovered.set(tag.seq);
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
            .is_some_and(|book| book.acked.set(tag.seq) == Some(false));
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
        c.unconfirmed = self.unconfirmed.load(Relaxed);
        c.produce_indeterminate = c.produce_indeterminate.saturating_sub(c.unconfirmed);
        c.produce_failed = self.produce_failed.load(Relaxed);
        c.duplicated = self.duplicated.load(Relaxed);
        c.duplicate_writes = self.duplicate_writes.load(Relaxed);
        c.redelivered = self.redelivered.load(Relaxed);
        c.unexpected = self.unexpected.load(Relaxed);
        c.never_delivered = c.produced - (c.delivered - c.indeterminate_delivered).min(c.produced);
        c
    }

    /// Calls `f(producer, seq)` for every message Redis acknowledged that was never delivered:
    /// the candidates for `lost`.
    pub fn for_each_undelivered(&self, mut f: impl FnMut(u32, u64)) {
        for (p, b) in self.books.iter().enumerate() {
            let word = |w: usize| {
                (
                    b.produced.words[w].load(Relaxed),
                    b.delivered.words[w].load(Relaxed),
                )
            };
            for_each_produced_not_delivered(p as u32, b.produced.words.len(), word, &mut f);
        }
    }

    /// Calls `f(producer, seq, delivered)` for every message Redis acknowledged.
    pub fn for_each_produced(&self, mut f: impl FnMut(u32, u64, bool)) {
        for (p, b) in self.books.iter().enumerate() {
            for w in 0..b.produced.words.len() {
                let delivered = b.delivered.words[w].load(Relaxed);
                for i in set_bits(b.produced.words[w].load(Relaxed)) {
                    f(p as u32, w as u64 * 64 + i, delivered & (1 << i) != 0);
                }
            }
        }
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
            duplicate_writes: self.duplicate_writes.load(Relaxed),
            redelivered: self.redelivered.load(Relaxed),
            unexpected: self.unexpected.load(Relaxed),
            produce_failed: self.produce_failed.load(Relaxed),
            unconfirmed: self.unconfirmed.load(Relaxed),
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
    /// Duplicate writes and redeliveries this ledger saw by itself (see [`Counts`]).
    pub duplicate_writes: u64,
    pub redelivered: u64,
    /// Deliveries this ledger could not place at all (no tag, producer or sequence out of range).
    pub unexpected: u64,
    pub produce_failed: u64,
    /// Sends whose WAIT / WAITAOF fell short (booked as indeterminate; see [`Ledger::unconfirmed`]).
    pub unconfirmed: u64,
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Sends tried.
    pub attempted: u64,
    /// XADD answered with an id.
    pub produced: u64,
    /// XADD answered with an error: not in Redis.
    pub produce_failed: u64,
    /// XADD timed out / connection dropped: maybe in Redis (and not later seen as produced).
    pub produce_indeterminate: u64,
    /// XADD answered with an id, but the durability wait after it (`--durability`) did not
    /// reach the asked numbers: neither produced (acknowledged) nor failed.
    #[serde(default)]
    pub unconfirmed: u64,
    /// Distinct messages delivered at least once.
    pub delivered: u64,
    /// Distinct messages acked by us (XACK succeeded).
    pub acked: u64,
    /// Acknowledged by Redis at XADD, never delivered, and checked absent from its stream at the
    /// end.
    pub lost: u64,
    /// Acknowledged by Redis, never delivered, on a shard that could not be read at the end:
    /// neither lost nor safe.
    pub unverifiable: u64,
    /// Acknowledged by Redis, never delivered, and removed by `--trim maxlen:N` before a consumer
    /// read it (Redis's own count of removed entries explains it): lost by configuration, a
    /// finding beside the verdict, not `lost`. Always 0 under other trim modes.
    #[serde(default)]
    pub trimmed_unread: u64,
    /// The same entry delivered again where it must not be (a second new delivery of it, or a
    /// claim of an already-acked message).
    pub duplicated: u64,
    /// Deliveries of a second entry carrying a message already delivered under another entry id:
    /// the message was written twice.
    pub duplicate_writes: u64,
    /// Deliveries of an entry delivered before (recoveries and duplicates): never in the latency
    /// histograms, which hold each message once.
    pub redelivered: u64,
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
    /// The verdict on these counts (the one rule: see [`Verdict`]).
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self)
    }
}

/// The one verdict rule, Jepsen's total-queue: a run is ok iff nothing Redis acknowledged was
/// lost and nothing unexpected was delivered. Everything else the checker finds (pending or
/// stranded entries, unverifiable messages, duplicates, messages not acked when the run ended)
/// is a finding beside it, never part of it. Displays as the JSON `verdict`: "ok" or a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Failed { lost: u64, unexpected: u64 },
}

impl Verdict {
    pub fn of(c: &Counts) -> Verdict {
        if c.lost == 0 && c.unexpected == 0 {
            Verdict::Ok
        } else {
            Verdict::Failed {
                lost: c.lost,
                unexpected: c.unexpected,
            }
        }
    }

    pub fn is_ok(&self) -> bool {
        *self == Verdict::Ok
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Ok => f.write_str("ok"),
            Verdict::Failed { lost, unexpected } => {
                let mut reasons = Vec::new();
                if lost > 0 {
                    reasons.push(format!("{lost} lost"));
                }
                if unexpected > 0 {
                    reasons.push(format!("{unexpected} unexpected"));
                }
                f.write_str(&reasons.join(", "))
            }
        }
    }
}

/// The JSON `verdict`: its text, "ok" or the reason.
impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for Verdict {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Verdict".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "\"ok\" iff nothing acknowledged was lost and nothing unexpected was delivered; else the reason, e.g. \"3 lost, 1 unexpected\""
        })
    }
}

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
fn set_bits(mut word: u64) -> impl Iterator<Item = u64> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let i = word.trailing_zeros() as u64;
            word &= word - 1;
            i
        })
    })
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

    #[test]
    fn ten_million_messages_fit_in_a_few_megabytes() {
        let l = Ledger::new(&[2_500_000; 4]);
        assert!(l.heap_bytes() < 8 * 1024 * 1024, "{}", l.heap_bytes());
    }
}
