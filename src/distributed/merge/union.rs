//! The checker over the union of the workers' ledgers.

use crate::check::{
    for_each_produced_not_delivered, Counts, EventCounts, LedgerSnapshot, ShardScan, Words,
    ATTEMPTED, CLAIMED, DELIVERED, PRODUCED, RECOVERED, SETS,
};
use crate::workload::settle;
use crate::{Error, Result};

/// The union of the workers' ledgers: enough to list the messages produced and never delivered.
pub struct Union {
    produced: Vec<Vec<u64>>,
    delivered: Vec<Vec<u64>>,
}

impl Union {
    /// Calls `f(producer, seq)` for every message produced and never delivered by any worker.
    pub fn for_each_undelivered(&self, mut f: impl FnMut(u32, u64)) {
        for (p, (prod, del)) in self.produced.iter().zip(&self.delivered).enumerate() {
            let word = |w: usize| (prod[w], del.get(w).copied().unwrap_or(0));
            for_each_produced_not_delivered(p as u32, prod.len(), word, &mut f);
        }
    }

    /// Applies the final scans (as the one-process run does, see [`crate::workload::settle`]):
    /// a candidate still stored is only undelivered, one on an unreadable shard `unverifiable`,
    /// one checked absent `lost`.
    pub fn settle(&self, counts: &mut Counts, scans: &[ShardScan], free_routing: bool) {
        settle(counts, scans, free_routing, |f| {
            self.for_each_undelivered(f)
        });
    }
}

/// The checker over the union of the workers' ledgers (all sized for the same run).
///
/// Union of the bit sets, plus what only the union shows: a message that two workers both got as
/// a new delivery (XREADGROUP `>`) is duplicated; one a worker took over by XAUTOCLAIM after
/// another worker got it is recovered; one delivered that no worker sent is unexpected.
/// `pending_at_end` is left 0 (Redis's XPENDING fills it).
pub fn union_counts(ledgers: &[LedgerSnapshot]) -> Result<(Counts, Union)> {
    let mut union = LedgerUnion::default();
    for l in ledgers {
        union.add(l)?;
    }
    union.finish()
}

/// The union of workers' ledgers, built one ledger at a time so that a merge holds about one
/// ledger's worth of bits however many workers there are (see [`union_counts`]).
#[derive(Default)]
pub struct LedgerUnion {
    /// Messages per producer, set by the first ledger added.
    shape: Option<Vec<u64>>,
    books: Vec<UnionBook>,
    /// New (not claimed) deliveries, summed over the ledgers added.
    new_deliveries: u64,
    events: EventCounts,
}

/// One producer's accumulated sets.
#[derive(Default)]
struct UnionBook {
    /// The union of the ledgers' sets, by the indices of [`SETS`].
    sets: [Vec<u64>; SETS],
    /// Delivered by two workers or more.
    twice: Vec<u64>,
    /// Delivered as new by at least one worker.
    new: Vec<u64>,
}

impl LedgerUnion {
    /// Adds one worker's ledger; it must be sized for the same run as the others.
    pub fn add(&mut self, l: &LedgerSnapshot) -> Result<()> {
        let shape: Vec<u64> = l.producers.iter().map(|b| b.messages).collect();
        match &self.shape {
            None => {
                self.books = shape
                    .iter()
                    .map(|&n| {
                        let words = vec![0u64; n.div_ceil(64) as usize];
                        UnionBook {
                            sets: std::array::from_fn(|_| words.clone()),
                            twice: words.clone(),
                            new: words,
                        }
                    })
                    .collect();
                self.shape = Some(shape);
            }
            Some(s) if *s != shape => {
                return Err(Error::Config(
                    "the workers' ledgers are sized for different runs (did they get the same --messages and --producers?)".into(),
                ))
            }
            Some(_) => {}
        }
        for (u, b) in self.books.iter_mut().zip(&l.producers) {
            let theirs = b.sets();
            for w in 0..u.twice.len() {
                let get = |s: usize| theirs[s].get(w).copied().unwrap_or(0);
                let (d, c) = (get(DELIVERED), get(CLAIMED));
                u.twice[w] |= u.sets[DELIVERED][w] & d;
                for (s, set) in u.sets.iter_mut().enumerate() {
                    set[w] |= get(s);
                }
                let new = d & !c;
                self.new_deliveries += u64::from(new.count_ones());
                u.new[w] |= new;
            }
        }
        self.events.add(&l.events);
        Ok(())
    }

    /// The counts over every ledger added, and what [`Union::settle`] needs.
    pub fn finish(self) -> Result<(Counts, Union)> {
        if self.shape.is_none() {
            return Err(Error::Config("no worker ledgers to merge".into()));
        }
        let pop = |w: u64| u64::from(w.count_ones());
        let mut c = Counts::default();
        // Each message got as new by k workers adds k - 1 duplicates.
        let mut new_distinct = 0;
        let mut union = Union {
            produced: Vec::with_capacity(self.books.len()),
            delivered: Vec::with_capacity(self.books.len()),
        };
        for mut u in self.books {
            for w in 0..u.twice.len() {
                let mut words = Words::new(std::array::from_fn(|s| u.sets[s][w]), !0);
                let s = &mut words.sets;
                // A take-over across workers: recovered, and a redelivery no single ledger
                // counted.
                let across = s[CLAIMED] & u.twice[w];
                c.redelivered += pop(across & !s[RECOVERED]);
                s[RECOVERED] |= across;
                c.unexpected += pop(s[DELIVERED] & !s[ATTEMPTED]);
                c.add_words(&words);
                new_distinct += pop(u.new[w]);
            }
            union.produced.push(std::mem::take(&mut u.sets[PRODUCED]));
            union.delivered.push(std::mem::take(&mut u.sets[DELIVERED]));
        }
        // A message two workers both got as new: a duplicate delivery and a redelivery (across
        // workers the union cannot tell it from a duplicate write: it has no entry ids).
        c.duplicated += self.new_deliveries - new_distinct;
        c.redelivered += self.new_deliveries - new_distinct;
        c.close(&self.events);
        Ok((c, union))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::tag;
    use crate::check::{Ledger, Via};
    use crate::distributed::EncodedLedger;

    /// Two workers, producers 0 and 1, 100 messages each; each worker consumes the other's.
    fn two_workers() -> (Ledger, Ledger) {
        let (a, b) = (
            Ledger::for_worker(&[100, 100], 1, 0),
            Ledger::for_worker(&[100, 100], 1, 0),
        );
        for (own, other, p) in [(&a, &b, 0u32), (&b, &a, 1)] {
            for s in 0..100 {
                own.attempted(p, s);
                own.produced(p, s);
                other.delivered(Some(&tag(p, s)), Via::New, None);
                other.acked(&tag(p, s));
            }
        }
        (a, b)
    }

    #[test]
    fn messages_sent_by_one_worker_and_acked_by_another_are_neither_lost_nor_unexpected() {
        let (a, b) = two_workers();
        assert!(
            a.counts(0).lost > 0,
            "alone, a worker's ledger cannot judge"
        );
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!(
            (c.attempted, c.produced, c.delivered, c.acked),
            (200, 200, 200, 200)
        );
        assert_eq!((c.lost, c.duplicated, c.unexpected), (0, 0, 0));
        assert!(c.verdict().is_ok());
    }

    /// The duplicate only the union can see: worker b also got message (0, 5) as new, while
    /// worker a got it first. Each ledger alone is clean.
    #[test]
    fn a_duplicate_across_two_workers_ledgers_is_found() {
        let (a, b) = two_workers();
        a.delivered(Some(&tag(0, 5)), Via::New, None);
        assert_eq!(a.snapshot().events.duplicated, 0);
        assert_eq!(b.snapshot().events.duplicated, 0);
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!(
            (c.duplicated, c.lost, c.unexpected, c.recovered),
            (1, 0, 0, 0)
        );
        // A take-over by XAUTOCLAIM in the other worker is a recovery, not a duplicate.
        let (a, b) = two_workers();
        a.delivered(Some(&tag(0, 6)), Via::Claim, None);
        let (c, _) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!((c.duplicated, c.recovered), (0, 1));
    }

    /// Sends whose WAIT / WAITAOF fell short (`--durability`): the union counts them as one
    /// ledger of the whole run does (unconfirmed, not indeterminate, a missing one not lost),
    /// also after the round trip through a worker file's encoding.
    #[test]
    fn unconfirmed_sends_of_two_workers_add_up_as_in_one_ledger() {
        let (a, b, whole) = (
            Ledger::for_worker(&[10, 10], 1, 0),
            Ledger::for_worker(&[10, 10], 1, 0),
            Ledger::new(&[10, 10]),
        );
        for l in [&a, &whole] {
            l.attempted(0, 3);
            l.unconfirmed(0, 3);
            l.attempted(0, 4);
            l.indeterminate(0, 4);
        }
        for l in [&b, &whole] {
            l.attempted(1, 7);
            l.unconfirmed(1, 7);
        }
        let round_trip = |l: &Ledger| EncodedLedger::encode(&l.snapshot()).decode().unwrap();
        assert_eq!(round_trip(&a).events.unconfirmed, 1);
        let (c, _) = union_counts(&[round_trip(&a), round_trip(&b)]).unwrap();
        let one = whole.counts(0);
        assert_eq!((c.unconfirmed, c.produce_indeterminate), (2, 1));
        assert_eq!(
            (c.unconfirmed, c.produce_indeterminate),
            (one.unconfirmed, one.produce_indeterminate)
        );
        assert_eq!(c.lost, 0, "an unconfirmed send not delivered is not lost");
    }

    #[test]
    fn a_message_nobody_sent_is_unexpected_and_an_undelivered_one_lost() {
        let (a, b) = (
            Ledger::for_worker(&[10], 1, 0),
            Ledger::for_worker(&[10], 1, 0),
        );
        for s in 0..9 {
            a.attempted(0, s);
            a.produced(0, s);
        }
        for s in 0..8 {
            b.delivered(Some(&tag(0, s)), Via::New, None);
        }
        b.delivered(Some(&tag(0, 9)), Via::New, None); // never attempted by anyone
        let (mut c, union) = union_counts(&[a.snapshot(), b.snapshot()]).unwrap();
        assert_eq!((c.lost, c.unexpected), (1, 1));
        union.settle(&mut c, &[Some(vec![tag(0, 8)])], false);
        assert_eq!(
            (c.lost, c.unverifiable),
            (0, 0),
            "(0, 8) is still in the stream: undelivered, not lost"
        );
        union.settle(&mut c, &[Some(Vec::new())], false);
        assert_eq!((c.lost, c.unverifiable), (1, 0), "checked absent: lost");
        union.settle(&mut c, &[None], false);
        assert_eq!(
            (c.lost, c.unverifiable),
            (0, 1),
            "on a shard that could not be read: unverifiable, never lost"
        );
        let other = Ledger::for_worker(&[11], 1, 0);
        assert!(union_counts(&[a.snapshot(), other.snapshot()]).is_err());
    }
}
