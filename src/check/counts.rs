//! The checker's counts and the one verdict rule, and the tally that turns a producer's bit sets
//! into counts (one definition for a run's ledger and for the union of workers' ledgers).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::words::{Words, ACKED, ATTEMPTED, DELIVERED, INDETERMINATE, PRODUCED, RECOVERED};

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

/// Reads as its JSON text, so `verdict == "ok"` says what the JSON says.
impl PartialEq<&str> for Verdict {
    // The text is built to be compared: tests and callers hold the JSON's words, not the enum.
    #[allow(clippy::cmp_owned)]
    fn eq(&self, other: &&str) -> bool {
        self.to_string() == *other
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

/// The counters a ledger keeps beside its bits (events it cannot read back from them), as a
/// worker's result file carries them and a merge adds them up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Duplicates this ledger saw by itself (a second delivery within one worker).
    pub duplicated: u64,
    /// Duplicate writes and redeliveries this ledger saw by itself (see [`Counts`]).
    #[serde(default)]
    pub duplicate_writes: u64,
    #[serde(default)]
    pub redelivered: u64,
    /// Deliveries this ledger could not place at all (no tag, producer or sequence out of range).
    pub unexpected: u64,
    pub produce_failed: u64,
    /// Sends whose WAIT / WAITAOF fell short (booked as indeterminate; see
    /// [`super::Ledger::unconfirmed`]); absent in files of older workers.
    #[serde(default)]
    pub unconfirmed: u64,
}

impl EventCounts {
    /// Adds another ledger's counters (producer ids are disjoint across workers: each send's
    /// outcome is in one ledger).
    pub fn add(&mut self, o: &EventCounts) {
        self.duplicated += o.duplicated;
        self.duplicate_writes += o.duplicate_writes;
        self.redelivered += o.redelivered;
        self.unexpected += o.unexpected;
        self.produce_failed += o.produce_failed;
        self.unconfirmed += o.unconfirmed;
    }
}

impl Counts {
    /// Adds one word of a producer's sets to the counts read from bits.
    pub fn add_words(&mut self, w: &Words) {
        let pop = |x: u64| u64::from(x.count_ones());
        let s = &w.sets;
        let (att, prod, ind, del) = (s[ATTEMPTED], s[PRODUCED], s[INDETERMINATE], s[DELIVERED]);
        self.attempted += pop(att);
        self.produced += pop(prod);
        self.produce_indeterminate += pop(ind & !prod);
        self.delivered += pop(del);
        self.recovered += pop(s[RECOVERED]);
        self.acked += pop(s[ACKED]);
        self.lost += pop(prod & !del);
        self.indeterminate_delivered += pop(ind & !prod & del);
    }

    /// Adds the counters kept beside the bits and derives what follows from both. Unconfirmed
    /// sends are booked as indeterminate but counted apart.
    pub fn close(&mut self, e: &EventCounts) {
        self.duplicated += e.duplicated;
        self.duplicate_writes += e.duplicate_writes;
        self.redelivered += e.redelivered;
        self.unexpected += e.unexpected;
        self.produce_failed += e.produce_failed;
        self.unconfirmed = e.unconfirmed;
        self.produce_indeterminate = self.produce_indeterminate.saturating_sub(e.unconfirmed);
        self.never_delivered =
            self.produced - (self.delivered - self.indeterminate_delivered).min(self.produced);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
