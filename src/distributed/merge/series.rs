//! The workers' series on one wall clock.

use std::collections::BTreeMap;

use crate::metrics::{finite, SecondSample, ShardSample};

/// The workers' series on one wall clock. A worker's series has its own resolution (100 ms,
/// doubled as the run grows): each sample covers from the previous sample's end to its own `t`.
/// The merged series takes the coarsest width of any worker (all are 100 ms times a power of
/// two, so each finer interval fits in one coarser one), counted from the earliest worker start,
/// and puts each sample where its interval's middle falls. Counts add up, per shard too; an
/// interval's max is the workers' max, and its p50 / p99 the highest of the workers' (an upper
/// bound of the merged percentile: the workers' per-interval histograms are not kept).
pub fn align_series(workers: &[(u64, &[SecondSample])]) -> Vec<SecondSample> {
    let zero = workers.iter().map(|(s, _)| *s).min().unwrap_or(0);
    /// Each sample with the start of its interval (the previous sample's end).
    fn intervals(series: &[SecondSample]) -> impl Iterator<Item = (f64, &SecondSample)> {
        let starts = std::iter::once(0.0).chain(series.iter().map(|s| s.t));
        starts.zip(series.iter())
    }
    let width = workers
        .iter()
        .flat_map(|(_, series)| intervals(series))
        .map(|(from, s)| s.t - from)
        .fold(0.0f64, f64::max);
    if width <= 0.0 {
        return Vec::new();
    }
    let mut end = 0.0f64;
    let mut out: BTreeMap<u64, SecondSample> = BTreeMap::new();
    for (start_us, series) in workers {
        let offset = (start_us - zero) as f64 / 1e6;
        for (from, s) in intervals(series) {
            end = end.max(offset + s.t);
            let i = ((offset + (from + s.t) / 2.0) / width).floor().max(0.0) as u64;
            let m = out.entry(i).or_insert_with(|| SecondSample {
                t: (i + 1) as f64 * width,
                ..SecondSample::default()
            });
            m.sent += s.sent;
            m.acked += s.acked;
            m.errors += s.errors;
            m.p50_us = m.p50_us.max(s.p50_us);
            m.p99_us = m.p99_us.max(s.p99_us);
            m.max_us = m.max_us.max(s.max_us);
            if m.shards.len() < s.shards.len() {
                m.shards.resize(s.shards.len(), ShardSample::default());
            }
            for (ms, ss) in m.shards.iter_mut().zip(&s.shards) {
                ms.sent += ss.sent;
                ms.acked += ss.acked;
                ms.errors += ss.errors;
                ms.p99_us = ms.p99_us.max(ss.p99_us);
                ms.max_us = ms.max_us.max(ss.max_us);
            }
        }
    }
    let mut merged: Vec<SecondSample> = out.into_values().collect();
    // The last interval ends with the run, as a one-process series does.
    if let Some(last) = merged.last_mut() {
        last.t = finite(last.t.min(end).max(last.t - width));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_align_on_the_wall_clock_and_add_up() {
        // A sample ending at `t` with `shard0` + `shard1` messages sent and acked.
        let s = |t: f64, shard0: u64, shard1: u64, p99: u64| SecondSample {
            t,
            sent: shard0 + shard1,
            acked: shard0 + shard1,
            errors: 0,
            p50_us: p99 / 2,
            p99_us: p99,
            max_us: p99 * 2,
            shards: [shard0, shard1]
                .map(|n| ShardSample {
                    sent: n,
                    acked: n,
                    errors: 0,
                    p99_us: p99,
                    max_us: p99 * 2,
                })
                .to_vec(),
        };
        // Worker a: 400 ms intervals, its run ended at 1.1 s (a shorter last interval).
        let a = vec![s(0.4, 6, 4, 100), s(0.8, 10, 10, 300), s(1.1, 5, 0, 50)];
        // Worker b started 50 ms later, at 200 ms intervals: two of its intervals fit in one of
        // a's, by where their middles fall on the common clock.
        let b = vec![
            s(0.2, 1, 0, 200),
            s(0.4, 2, 0, 100),
            s(0.6, 3, 0, 100),
            s(0.8, 4, 0, 100),
            s(0.9, 5, 0, 400),
        ];
        let m = align_series(&[(1_000_000, &a), (1_050_000, &b)]);
        let got: Vec<(f64, u64, u64, u64, u64)> = m
            .iter()
            .map(|x| {
                let t = (x.t * 1e3).round() / 1e3;
                (t, x.sent, x.shards[0].sent, x.p99_us, x.max_us)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0.4, 13, 9, 200, 400),
                (0.8, 27, 17, 300, 600),
                (1.1, 10, 10, 400, 800)
            ]
        );
        assert_eq!(m.iter().map(|x| x.acked).sum::<u64>(), 35 + 15);
        assert_eq!(m.iter().map(|x| x.shards[1].sent).sum::<u64>(), 14);
    }
}
