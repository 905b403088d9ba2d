//! Where a message goes: its shard, fixed by the message, and the share of each producer lane.

/// The shard key producer `producer`'s message `seq` goes to: fixed by the message, as a real
/// application's message belongs to its key and cannot move because a master is slow. A rotation
/// by producer id spreads each producer's consecutive messages over every shard.
pub fn shard_of(producer: u32, seq: u64, shards: usize) -> usize {
    ((seq + u64::from(producer)) % shards.max(1) as u64) as usize
}

/// The messages of one producer that go to one shard: seqs `offset`, `offset + stride`, ...
/// below `count` (the `j`-th is `offset + j * stride`). With free routing: all of them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    offset: u64,
    stride: u64,
    /// How many messages this route has.
    pub(super) len: u64,
}

impl Route {
    pub(super) fn keyed(producer: u32, shard: usize, shards: usize, count: u64) -> Route {
        let stride = shards.max(1) as u64;
        let offset = (shard as u64 + stride - u64::from(producer) % stride) % stride;
        Route {
            offset,
            stride,
            len: count.saturating_sub(offset).div_ceil(stride),
        }
    }
    pub(super) fn all(count: u64) -> Route {
        Route {
            offset: 0,
            stride: 1,
            len: count,
        }
    }
    pub(super) fn seq(&self, j: u64) -> u64 {
        self.offset + j * self.stride
    }
    /// How many of the route's messages are due by `secs` at `rate` per second (the producer's
    /// message `seq` is due at `seq / rate`).
    pub(super) fn due_by(&self, secs: f64, rate: f64) -> u64 {
        let due_seqs = (secs * rate) as u64 + 1; // seqs 0..due_seqs are due
        due_seqs
            .saturating_sub(self.offset)
            .div_ceil(self.stride)
            .min(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_routes_cover_every_message_once_on_the_shard_it_belongs_to() {
        for (producer, shards, count) in [(0u32, 3usize, 10u64), (2, 3, 11), (1, 4, 3), (5, 1, 7)] {
            let mut seen = vec![0u32; count as usize];
            for shard in 0..shards {
                let r = Route::keyed(producer, shard, shards, count);
                for j in 0..r.len {
                    let seq = r.seq(j);
                    assert_eq!(shard_of(producer, seq, shards), shard);
                    seen[seq as usize] += 1;
                }
            }
            assert!(
                seen.iter().all(|&n| n == 1),
                "{producer} {shards} {count}: {seen:?}"
            );
        }
    }

    #[test]
    fn a_route_is_due_as_its_producers_schedule_says() {
        // 3 shards, producer 0, shard 1: seqs 1, 4, 7, ... at 10 msg/s, seq s due at s/10 s.
        let r = Route::keyed(0, 1, 3, 100);
        assert_eq!(
            r.due_by(0.0, 10.0),
            0,
            "seq 0 is due, but it is not this shard's"
        );
        assert_eq!(r.due_by(0.1, 10.0), 1);
        assert_eq!(r.due_by(0.39, 10.0), 1);
        assert_eq!(r.due_by(0.4, 10.0), 2);
        assert_eq!(r.due_by(1e6, 10.0), r.len);
        assert_eq!(Route::all(5).due_by(0.25, 10.0), 3);
    }
}
