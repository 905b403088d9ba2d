//! The ledger's tests: pure logic, no Redis.

use super::{settle_lost, Counts, DeliveryKind, Entry, EntryId, Ledger, Verdict, Via};
use crate::stream::MessageTag;

pub(crate) fn tag(p: u32, s: u64) -> MessageTag {
    MessageTag {
        producer: p,
        seq: s,
        sent_us: 0,
    }
}

/// `t` as sent at `us` (the run started at 1,000 µs in these tests).
fn sent_at(t: MessageTag, us: u64) -> MessageTag {
    MessageTag { sent_us: us, ..t }
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
    let foreign = sent_at(tag(1, 2), 1_000);
    assert_eq!(
        l.delivered(Some(&foreign), Via::New, at(1)),
        DeliveryKind::First
    );
    assert!(
        l.acked(&foreign),
        "another worker's message: its ack is booked"
    );
    let old = sent_at(tag(1, 3), 999);
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
    let old = sent_at(tag(0, 0), 999);
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
    l.books[0].fold_behind(999 >> 7);
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
    l.books[0].fold_behind((n >> 7) as usize);
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
    // The first send of chunk h allocates it, then folds h - 2 and below: three at once.
    assert_eq!(book.peak_chunks(), 3);
    l.books[0].fold_behind(1000);
    assert_eq!(book.live_chunks(), 1, "all but the last chunk folded");
    assert_eq!(book.exceptions(), 0);
    let c = l.counts(0);
    assert_eq!((c.attempted, c.acked, c.lost, c.delivered), (n, n, 0, n));
}

mod concurrency;
