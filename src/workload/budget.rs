//! Bytes in flight: how many messages a pipeline and a read carry, sized from the payload, and
//! response timeouts that the run's own batches cannot reach (2 s, longer when the bytes queued
//! ahead of a request would take longer at the slowest rate assumed).
//!
//! `--batch` is an upper bound on messages; the byte budget is the other bound. With 64-byte
//! payloads the batch decides (1000 messages are about 200 KB); with 1 MB payloads the bytes do
//! (a pipeline of 1000 would be 1 GB, outlive any sensible timeout, and the timeouts it caused
//! would be reported as Redis's). What the client holds is bounded by
//! `PRODUCER_BYTES.max(lanes × MIN_PIPELINE_BYTES)` of pipelines plus `READ_BYTES` per reader
//! (consumers and the claimer), each held about twice (the commands and their encoding, the read
//! buffer and the parsed reply), plus at most one message over per lane and reader when a single
//! message is larger than its share.

use std::time::Duration;

use super::Workload;

/// What the XADD pipelines of all lanes together may carry at once.
pub const PRODUCER_BYTES: usize = 32 << 20;
/// A lane's pipeline is never cut below this by the byte budget, so that many lanes with small
/// messages still send whole batches (1000 messages of a 64-byte payload are about 200 KB).
pub const MIN_PIPELINE_BYTES: usize = 256 << 10;
/// What one XREADGROUP, XAUTOCLAIM or XRANGE reply may carry.
pub const READ_BYTES: usize = 8 << 20;
/// Bytes a message takes beyond its payload: entry id, tag, field names, RESP framing.
pub const MESSAGE_OVERHEAD: usize = 128;
/// The slowest rate at which a node is assumed to take in or hand out our bytes when a response
/// timeout is worked out: far below loopback, a disk under `appendfsync always` or a slow link, so
/// that a timeout means the node stalled, not that our own batch was long.
pub const SLOWEST_BYTES_PER_SEC: f64 = 10e6;

/// What a node may take to answer beyond moving our bytes; also the shortest response timeout
/// unless `--response-timeout` sets another.
const SLACK: Duration = Duration::from_secs(2);

/// How many messages each request carries, and the response timeouts that go with them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// XADDs per pipeline (at most `--batch`).
    pub pipeline: usize,
    /// XREADGROUP COUNT (at most `--batch`).
    pub read: usize,
    /// What one producer may have in flight, bytes (the worst that can queue ahead of a request
    /// on its connection).
    pub producer_bytes: usize,
}

impl Budget {
    /// The producers' response timeout floor when `--response-timeout` is not set.
    pub const DEFAULT_TIMEOUT: Duration = SLACK;

    /// The budget of `wl` over `shards` shard keys.
    pub fn new(wl: &Workload, shards: usize) -> Budget {
        let message = wl.payload_bytes + MESSAGE_OVERHEAD;
        let lanes_per_producer = wl.inflight.max(1) * shards.max(1);
        let lanes = lanes_per_producer * wl.producers.max(1);
        let lane_bytes = (PRODUCER_BYTES / lanes).max(MIN_PIPELINE_BYTES);
        let pipeline = wl.batch.min(lane_bytes / message).max(1);
        Budget {
            pipeline,
            read: Budget::count_for(wl.batch, message),
            producer_bytes: lanes_per_producer * pipeline * message,
        }
    }

    /// How many entries of `message` bytes one read may ask for: at most `max`, at least 1.
    pub fn count_for(max: usize, message: usize) -> usize {
        max.min(READ_BYTES / message.max(1)).max(1)
    }

    /// Time to move `bytes` at the slowest rate assumed.
    pub fn transfer(bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 / SLOWEST_BYTES_PER_SEC)
    }

    /// A producer connection's response timeout: 2 s, or longer if its own pipelines queued
    /// ahead of a request take longer at the slowest rate, plus the durability waits (a WAIT /
    /// WAITAOF blocks its connection for up to its timeout and the lanes of a shard queue behind
    /// each other there). The floor is `--response-timeout` when set. The 2 s default keeps what a stall looks like unchanged (a paused node
    /// is seen as timing out after 2 s); the byte term only lengthens it when batches are large.
    pub fn producer_timeout(&self, wl: &Workload) -> Duration {
        let floor = wl.response_timeout_ms.map_or(SLACK, Duration::from_millis);
        floor.max(Budget::transfer(self.producer_bytes))
            + wl.durability.timeout() * wl.inflight as u32
    }

    /// A reader's response timeout (consumers, claimer): BLOCK, then 2 s or one full reply at
    /// the slowest rate, whichever is longer.
    pub fn read_timeout(block_ms: u64) -> Duration {
        Duration::from_millis(block_ms) + SLACK.max(Budget::transfer(READ_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(payload_bytes: usize, batch: usize, producers: usize) -> Workload {
        Workload {
            payload_bytes,
            batch,
            producers,
            ..Workload::default()
        }
    }

    #[test]
    fn small_messages_keep_the_batch_and_large_ones_are_cut_by_bytes() {
        let small = Budget::new(&workload(64, 1000, 3), 3);
        assert_eq!((small.pipeline, small.read), (1000, 1000));
        // 300 producers × 3 shards × 2 in flight = 1800 lanes: still whole batches.
        assert_eq!(Budget::new(&workload(64, 1000, 300), 3).pipeline, 1000);
        let big = Budget::new(&workload(1_000_000, 1000, 3), 3);
        assert_eq!(
            big.pipeline, 1,
            "32 MB over 18 lanes is one 1 MB message each"
        );
        assert_eq!(big.read, 8);
        let mid = Budget::new(&workload(100_000, 1000, 3), 3);
        assert_eq!((mid.pipeline, mid.read), (18, 83));
        // A message larger than a lane's share still goes, alone.
        assert_eq!(Budget::new(&workload(100_000_000, 1000, 3), 3).pipeline, 1);
        assert_eq!(Budget::count_for(1000, 100_000_000), 1);
    }

    #[test]
    fn what_producers_hold_stays_within_the_budget() {
        for payload in [64, 1000, 100_000, 1_000_000] {
            let wl = workload(payload, 1000, 3);
            let b = Budget::new(&wl, 3);
            let all = b.producer_bytes * wl.producers;
            assert!(
                all <= PRODUCER_BYTES.max(18 * MIN_PIPELINE_BYTES) + 18 * (payload + 128),
                "{payload}: {all}"
            );
        }
    }

    #[test]
    fn timeouts_cover_the_bytes_queued_ahead_at_the_slowest_rate() {
        let wl = workload(1_000_000, 1000, 3);
        let b = Budget::new(&wl, 3);
        assert!(b.producer_timeout(&wl) >= Budget::transfer(b.producer_bytes));
        assert!(
            Budget::read_timeout(100) >= Duration::from_millis(100) + Budget::transfer(READ_BYTES)
        );
        // Far more bytes queued ahead than 2 s carry at the slowest rate: the timeout grows.
        let many = Budget {
            producer_bytes: 200 << 20,
            ..b
        };
        assert!(many.producer_timeout(&wl) > Duration::from_secs(20));
        // Small batches keep the 2 s by which a stall is judged.
        let small = workload(64, 1000, 3);
        assert_eq!(
            Budget::new(&small, 3).producer_timeout(&small),
            Duration::from_secs(2)
        );
        assert_eq!(Budget::read_timeout(100), Duration::from_millis(2100));
    }
}
