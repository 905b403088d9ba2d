//! The folding book under concurrency: threads set bits of random messages across chunk
//! borders while another folds chunks at random moments; every answer and the end state must
//! equal a plain per-message reference that never folds.
//!
//! Real threads, not a loom model: the book has no handshake of its own to model. Every access
//! and every fold is one critical section of a std `Mutex`, and the one fact beyond the lock
//! (a folded chunk is never live again) is in the code, not in an interleaving. What can go
//! wrong is the code letting go of a lock between a read and the write that depends on it: a fold
//! broken that way failed this test in each of three runs, within a second.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::check::book::{Book, ACKED, ATTEMPTED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED};

/// 128 messages per chunk (at most 2 exceptions each), 12 chunks: a round touches every border.
const SHIFT: u32 = 7;
const MESSAGES: u64 = 12 << SHIFT;
const SETS: usize = 6;
const WORKERS: usize = 3;

/// One bit to set: (message, set).
type Update = (u64, usize);

/// What a round will do: each message's sets (the reference) and the updates that set them,
/// in the order the workers take them.
struct Plan {
    reference: Vec<u8>,
    updates: Vec<Update>,
}

/// Most messages settle (attempted, produced, delivered, acked); a few miss a set or gain an
/// indeterminate or recovered one (the exceptions of a fold). Updates go roughly in sequence
/// order, as a run's do, so chunks settle and fold while later ones are busy; a few come late
/// (a late ack or claim of a message whose chunk may be folded), and some repeat (a second
/// delivery or ack, whose answer must be "already set").
fn plan(rng: &mut StdRng) -> Plan {
    let settled = [ATTEMPTED, PRODUCED, DELIVERED, ACKED];
    let mut reference = vec![0u8; MESSAGES as usize];
    let mut keyed = Vec::new();
    for seq in 0..MESSAGES {
        let mut sets: u8 = settled.iter().map(|s| 1 << s).sum();
        if rng.random_bool(0.004) {
            sets &= !(1 << settled[rng.random_range(0..4)]);
        }
        if rng.random_bool(0.004) {
            sets |= 1 << [INDETERMINATE, RECOVERED][rng.random_range(0..2)];
        }
        reference[seq as usize] = sets;
        for set in (0..SETS).filter(|s| sets & 1 << s != 0) {
            let times = if rng.random_bool(0.1) { 2 } else { 1 };
            for _ in 0..times {
                let delay = if rng.random_bool(0.003) {
                    rng.random_range(0..MESSAGES)
                } else {
                    rng.random_range(0..64)
                };
                keyed.push((seq + delay, (seq, set)));
            }
        }
    }
    keyed.sort_unstable_by_key(|&(key, _)| key);
    Plan {
        reference,
        updates: keyed.into_iter().map(|(_, u)| u).collect(),
    }
}

/// What a round saw: chunks folded while the workers were still setting bits.
struct Round {
    folds_during_work: u64,
}

/// One round: `WORKERS` threads deal the updates between them (neighbours in the plan on
/// different threads), each checking that a bit it set reads back set and counting first
/// sets; a folder thread folds at random heads with random pauses until they are done.
fn round(book: &Book, plan: &Plan, seed: u64) -> Round {
    let firsts: Vec<AtomicU8> = (0..MESSAGES as usize * SETS)
        .map(|_| AtomicU8::new(0))
        .collect();
    let done = AtomicBool::new(false);
    let folds = AtomicU64::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let firsts = &firsts;
                s.spawn(move || {
                    for &(seq, set) in plan.updates.iter().skip(w).step_by(WORKERS) {
                        let was = book.set(set, seq).expect("in range");
                        if !was {
                            firsts[seq as usize * SETS + set].fetch_add(1, Relaxed);
                        }
                        assert!(book.get(set, seq), "seed {seed}: set {set} of {seq} lost");
                    }
                })
            })
            .collect();
        s.spawn(|| {
            let mut rng = StdRng::seed_from_u64(seed ^ 0xf01d);
            let chunks = (MESSAGES >> SHIFT) as usize;
            // Bounded: the workers finish on their own; this only runs while they do.
            while !done.load(Relaxed) {
                let before = book.live_chunks();
                book.fold_behind(rng.random_range(0..=chunks + 1));
                folds.fetch_add(before.saturating_sub(book.live_chunks()), Relaxed);
                for _ in 0..rng.random_range(0..200) {
                    std::hint::spin_loop();
                }
                if rng.random_bool(0.3) {
                    std::thread::yield_now();
                }
            }
        });
        // The folder stops even when a worker failed, so a failure ends the test, never hangs it.
        let joined: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        done.store(true, Relaxed);
        for j in joined {
            if let Err(panic) = j {
                std::panic::resume_unwind(panic);
            }
        }
    });
    for seq in 0..MESSAGES {
        for set in 0..SETS {
            let planned = plan.reference[seq as usize] & 1 << set != 0;
            assert_eq!(
                firsts[seq as usize * SETS + set].load(Relaxed),
                u8::from(planned),
                "seed {seed}: set {set} of {seq} answered 'first' that many times"
            );
        }
    }
    Round {
        folds_during_work: folds.load(Relaxed),
    }
}

/// Every message's sets as the book tells them, word by word.
fn book_messages(book: &Book) -> Vec<u8> {
    let mut out = vec![0u8; MESSAGES as usize];
    book.for_each_word(|base, w| {
        for i in 0..64 {
            if let Some(m) = out.get_mut((base + i) as usize) {
                *m = w.message(i);
            }
        }
    });
    out
}

/// A bit set while its chunk is being folded is neither lost (it reads back set, and is in the
/// end state) nor counted twice (exactly one "first" per planned bit), over many rounds of
/// random interleavings; and chunks did fold while bits were being set, or the test proved
/// nothing.
#[test]
fn concurrent_updates_and_folds_count_every_bit_once() {
    let started = Instant::now();
    let (mut rounds, mut folds) = (0, 0);
    while rounds < 300 && started.elapsed() < Duration::from_secs(3) {
        let seed = 26_000 + rounds;
        let plan = plan(&mut StdRng::seed_from_u64(seed));
        let book = Book::new(MESSAGES, false, true, SHIFT);
        folds += round(&book, &plan, seed).folds_during_work;
        book.fold_behind((MESSAGES >> SHIFT) as usize + 1);
        let got = book_messages(&book);
        for (seq, (&got, &want)) in got.iter().zip(&plan.reference).enumerate() {
            assert_eq!(
                got, want,
                "seed {seed}: message {seq}'s sets (bit s = set s)"
            );
            for set in 0..SETS {
                let bit = want & 1 << set != 0;
                assert_eq!(
                    book.get(set, seq as u64),
                    bit,
                    "seed {seed}: {set} of {seq}"
                );
            }
        }
        assert!(
            book.live_chunks() < 12,
            "seed {seed}: nothing folded at the end"
        );
        rounds += 1;
    }
    assert!(rounds >= 10, "only {rounds} rounds in the time bound");
    assert!(
        folds >= rounds,
        "{folds} chunks folded while bits were being set in {rounds} rounds"
    );
}
