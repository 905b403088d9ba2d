//! The ledger's cost per message, without Redis: a message booked as a run books it (attempted,
//! produced, delivered, acked), on a ledger that folds as it goes.
//!
//! Ids (stable, so `--save-baseline` / `--baseline` compare across commits):
//! - `ledger_booking/one-thread/N`: one thread books every message in order.
//! - `ledger_booking/two-threads/N`: one thread sends (attempted, produced) while another
//!   delivers and acks behind it, both in the producer's newest chunk, as a run's producer and
//!   consumer tasks do.
//!
//! Time is per message (`Throughput::Elements`); building the ledger is outside the timing.

/// The allocator the `rcstress` binary ships with, so that this measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use redis_cluster_stress::check::{Entry, EntryId, Ledger, Via};
use redis_cluster_stress::stream::MessageTag;

/// Messages per measured run: 16 chunks of 65,536, so folding happens during the run.
const MESSAGES: u64 = 1 << 20;

fn tag(seq: u64) -> MessageTag {
    MessageTag {
        producer: 0,
        seq,
        sent_us: 0,
    }
}

fn send(l: &Ledger, seq: u64) {
    l.attempted(0, seq);
    l.produced(0, seq);
}

fn receive(l: &Ledger, seq: u64) {
    let entry = Entry {
        shard: 0,
        id: EntryId(seq + 1, 0),
    };
    l.delivered(Some(&tag(seq)), Via::New, Some(entry));
    l.acked(&tag(seq));
}

fn one_thread(l: &Ledger) {
    for seq in 0..MESSAGES {
        send(l, seq);
        receive(l, seq);
    }
}

/// The receiver books only what the sender has published as sent (a delivery before the send
/// would be unexpected); it waits for the sender, which never waits, so both finish.
fn two_threads(l: &Ledger) {
    let sent = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..MESSAGES {
                send(l, seq);
                if seq % 64 == 63 || seq == MESSAGES - 1 {
                    sent.store(seq + 1, Ordering::Release);
                }
            }
        });
        let mut seq = 0;
        while seq < MESSAGES {
            let upto = sent.load(Ordering::Acquire);
            if upto == seq {
                std::hint::spin_loop();
            }
            for s in seq..upto {
                receive(l, s);
            }
            seq = upto;
        }
    });
}

/// How a case books `MESSAGES` messages.
type Booking = fn(&Ledger);

fn booking(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_booking");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(20);
    let cases: [(&str, Booking); 2] = [("one-thread", one_thread), ("two-threads", two_threads)];
    for (name, book) in cases {
        group.bench_with_input(BenchmarkId::new(name, MESSAGES), &MESSAGES, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let l = Ledger::for_run(&[MESSAGES], 1, 0);
                    let start = Instant::now();
                    book(&l);
                    total += start.elapsed();
                    assert_eq!(l.acked_count(), MESSAGES, "every message booked");
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, booking);
criterion_main!(benches);
