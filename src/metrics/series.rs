//! The series over time of a run: per interval and per shard, sends, acks, errors and latency.

use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::finite;

/// One interval of a run (its length is the series' resolution, see [`Series`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecondSample {
    /// Seconds since the run started (end of this interval; the run's end for the last one).
    pub t: f64,
    /// Messages attempted in this interval.
    pub sent: u64,
    /// Messages acked for the first time in this interval.
    pub acked: u64,
    pub errors: u64,
    /// Send→ack latency percentiles and maximum of the messages acked in this interval (µs).
    pub p50_us: u64,
    pub p99_us: u64,
    #[serde(default)]
    pub max_us: u64,
    /// The same per shard key (in the order of the run's `shard_keys`), so that one shard's
    /// stall shows even when the others carry on.
    #[serde(default)]
    pub shards: Vec<ShardSample>,
}

/// One shard key's part of an interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShardSample {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Intervals a series keeps at most: past that, neighbours are merged and the resolution halves.
const MAX_INTERVALS: usize = 240;
/// The finest resolution: 100 ms, so that a run of a fraction of a second still has a series.
const FIRST_WIDTH_MS: u64 = 100;

/// Counts and latencies of one interval, per shard.
#[derive(Clone)]
struct Bucket {
    sent: Vec<u64>,
    acked: Vec<u64>,
    errors: Vec<u64>,
    /// Errors not tied to a shard (e.g. the claimer's, which scans every shard).
    other_errors: u64,
    latency: Vec<Histogram<u32>>,
}

impl Bucket {
    fn new(shards: usize) -> Bucket {
        Bucket {
            sent: vec![0; shards],
            acked: vec![0; shards],
            errors: vec![0; shards],
            other_errors: 0,
            // Two significant digits, resized as values come: a few KB per shard and interval.
            latency: (0..shards)
                .map(|_| Histogram::new(2).expect("2 significant digits are valid"))
                .collect(),
        }
    }

    fn absorb(&mut self, other: &Bucket) {
        for s in 0..self.sent.len() {
            self.sent[s] += other.sent[s];
            self.acked[s] += other.acked[s];
            self.errors[s] += other.errors[s];
            let _ = self.latency[s].add(&other.latency[s]);
        }
        self.other_errors += other.other_errors;
    }
}

/// The series over time of a run: every attempt, first ack and error is booked in the interval
/// it happened in, so the intervals add up to the run's totals by construction. Starts at 100 ms
/// intervals and doubles them whenever there would be more than 240, so the resolution fits the
/// run: 100 ms for a run under 24 s, 1.6 s for a 5-minute run.
pub struct Series {
    start: Instant,
    shards: usize,
    inner: Mutex<(u64, Vec<Bucket>)>,
}

impl Series {
    pub fn new(start: Instant, shards: usize) -> Series {
        Series {
            start,
            shards: shards.max(1),
            inner: Mutex::new((FIRST_WIDTH_MS, Vec::new())),
        }
    }

    /// Runs `f` on the current interval (creating it, and coarsening if needed).
    fn with_now(&self, f: impl FnOnce(&mut Bucket)) {
        let ms = self.start.elapsed().as_millis() as u64;
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (width, buckets) = &mut *g;
        while ms / *width >= MAX_INTERVALS as u64 {
            *width *= 2;
            let merged: Vec<Bucket> = buckets
                .chunks(2)
                .map(|pair| {
                    let mut b = pair[0].clone();
                    if let Some(second) = pair.get(1) {
                        b.absorb(second);
                    }
                    b
                })
                .collect();
            *buckets = merged;
        }
        let i = (ms / *width) as usize;
        while buckets.len() <= i {
            buckets.push(Bucket::new(self.shards));
        }
        f(&mut buckets[i]);
    }

    /// `n` messages attempted on `shard` now.
    pub fn sent(&self, shard: usize, n: u64) {
        self.with_now(|b| {
            if let Some(x) = b.sent.get_mut(shard) {
                *x += n;
            }
        });
    }

    /// Messages of `shard` acked for the first time now, with their send→ack latencies (µs).
    pub fn acked(&self, shard: usize, latencies: &[u64]) {
        if latencies.is_empty() {
            return;
        }
        self.with_now(|b| {
            if let (Some(n), Some(h)) = (b.acked.get_mut(shard), b.latency.get_mut(shard)) {
                *n += latencies.len() as u64;
                for &l in latencies {
                    let _ = h.record(l.max(1));
                }
            }
        });
    }

    /// One error now, on `shard` if it concerned one.
    pub fn error(&self, shard: Option<usize>) {
        self.with_now(|b| match shard.and_then(|s| b.errors.get_mut(s)) {
            Some(x) => *x += 1,
            None => b.other_errors += 1,
        });
    }

    /// The series up to `end_s` seconds (the last interval ends there), for the report.
    pub fn samples(&self, end_s: f64) -> Vec<SecondSample> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (width, buckets) = &*g;
        let width_s = *width as f64 / 1000.0;
        let n = buckets.len();
        buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let end = (i + 1) as f64 * width_s;
                let t = if i + 1 == n {
                    end.min(end_s.max(i as f64 * width_s))
                } else {
                    end
                };
                let mut all: Histogram<u32> = Histogram::new(2).expect("valid");
                for h in &b.latency {
                    let _ = all.add(h);
                }
                let q = |h: &Histogram<u32>, q: f64| {
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(q)
                    }
                };
                SecondSample {
                    t: finite(t),
                    sent: b.sent.iter().sum(),
                    acked: b.acked.iter().sum(),
                    errors: b.errors.iter().sum::<u64>() + b.other_errors,
                    p50_us: q(&all, 0.5),
                    p99_us: q(&all, 0.99),
                    max_us: if all.is_empty() { 0 } else { all.max() },
                    shards: (0..self.shards)
                        .map(|s| ShardSample {
                            sent: b.sent[s],
                            acked: b.acked[s],
                            errors: b.errors[s],
                            p99_us: q(&b.latency[s], 0.99),
                            max_us: if b.latency[s].is_empty() {
                                0
                            } else {
                                b.latency[s].max()
                            },
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_intervals_add_up_and_coarsen_to_fit_the_run() {
        let start = Instant::now() - std::time::Duration::from_millis(250);
        let s = Series::new(start, 2);
        s.sent(0, 5);
        s.sent(1, 3);
        s.acked(1, &[100, 200, 30_000]);
        s.error(Some(0));
        s.error(None);
        let v = s.samples(0.27);
        assert_eq!(
            v.len(),
            3,
            "100 ms intervals, the last partial one included"
        );
        assert!((v[2].t - 0.27).abs() < 1e-9, "{v:?}");
        assert_eq!(v.iter().map(|x| x.sent).sum::<u64>(), 8);
        assert_eq!(v[2].acked, 3);
        assert_eq!(v[2].errors, 2);
        assert_eq!(v[2].shards[1].acked, 3);
        assert_eq!(v[2].shards[0].errors, 1);
        assert!(
            v[2].max_us >= 29_000 && v[2].shards[1].p99_us >= 29_000,
            "{v:?}"
        );
        assert_eq!(v[2].shards[0].p99_us, 0);
        // A run far past 240 intervals: neighbours merge, nothing is dropped.
        let long = Series::new(Instant::now() - std::time::Duration::from_secs(100), 1);
        long.sent(0, 7);
        let v = long.samples(100.0);
        assert!(
            v.len() <= MAX_INTERVALS && v.len() > MAX_INTERVALS / 2,
            "{}",
            v.len()
        );
        assert_eq!(v.iter().map(|x| x.sent).sum::<u64>(), 7);
    }
}
