//! The sets a ledger keeps for each message (one bit per set) and a word of 64 messages' sets:
//! a leaf that the book (which stores them) and the counts (which tally them) both read.

/// The sets of a book, by index into a chunk's bits and an exception's byte.
pub const ATTEMPTED: usize = 0;
pub const PRODUCED: usize = 1;
pub const INDETERMINATE: usize = 2;
pub const DELIVERED: usize = 3;
pub const RECOVERED: usize = 4;
pub const ACKED: usize = 5;
/// Delivered through XAUTOCLAIM at least once: only in a worker's ledger.
pub const CLAIMED: usize = 6;
pub const SETS: usize = 7;

/// One word of a producer's sets: 64 messages, bit `i` the message `base + i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Words {
    pub sets: [u64; SETS],
    /// The bits that are messages (the last word of a producer is partial).
    pub valid: u64,
}

impl Words {
    pub fn new(sets: [u64; SETS], valid: u64) -> Self {
        Words { sets, valid }
    }

    /// Messages attempted, produced, delivered and acked, and nothing else: nothing more to
    /// learn about them but a repeat.
    pub fn settled(&self) -> u64 {
        let s = &self.sets;
        s[ATTEMPTED]
            & s[PRODUCED]
            & s[DELIVERED]
            & s[ACKED]
            & !(s[INDETERMINATE] | s[RECOVERED] | s[CLAIMED])
    }

    /// Message `i`'s sets, bit `s` for set `s`.
    pub fn message(&self, i: u64) -> u8 {
        (0..SETS).fold(0, |m, s| m | (((self.sets[s] >> i) & 1) as u8) << s)
    }
}
