//! What a worker hands to `rcstress merge`: a ledger's bits and counters at the end of a run.

use super::book::SETS;
use super::counts::EventCounts;
use super::Ledger;

/// A ledger's bits at the end of a run, by producer id: what a worker hands to `rcstress merge`.
/// Word `w` bit `b` of a set is the message with sequence number `64 w + b`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub producers: Vec<BookSnapshot>,
    /// The counters kept beside the bits.
    pub events: EventCounts,
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

impl Ledger {
    /// Every bit of the ledger, for a worker's result file (see [`LedgerSnapshot`]). A folded
    /// chunk is written out as its settled messages and its exceptions.
    pub fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            producers: self
                .books
                .iter()
                .map(|b| {
                    let words = b.len.div_ceil(64) as usize;
                    let mut sets: [Vec<u64>; SETS] = std::array::from_fn(|_| vec![0; words]);
                    if !b.has_claims() {
                        sets[SETS - 1].clear();
                    }
                    b.for_each_word(|base, w| {
                        for (set, word) in sets.iter_mut().zip(w.sets) {
                            if let Some(x) = set.get_mut((base / 64) as usize) {
                                *x = word;
                            }
                        }
                    });
                    BookSnapshot::from_sets(b.len, sets)
                })
                .collect(),
            events: self.events(),
        }
    }
}
