//! A worker of a distributed run (`rcstress worker`, one of N processes): its share of the run
//! (producers with disjoint global ids, consumers with disjoint names, its part of the rate, as
//! OpenMessaging Benchmark splits), the workload it runs for that share, and its result file in
//! the shared directory. Who the worker is and when the run starts come from the command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{encode_histogram, EncodedLedger, RunPlan, Share, WorkerFile, FORMAT};
use crate::workload::WorkerPart;
use crate::{Error, Result, RunResult, Workload};

/// How far ahead a common start may be; how late a worker may still join it is
/// [`MAX_LATE`], which the workload needs too.
pub const MAX_LEAD: Duration = Duration::from_secs(3600);
pub use crate::workload::MAX_LATE;

/// `total` split over `n` parts: part `i` gets `total / n`, the first `total % n` one more.
fn part(total: u64, n: usize, i: usize) -> u64 {
    total / n as u64 + u64::from((i as u64) < total % n as u64)
}

/// Worker `index`'s share of `plan`: its producers (global ids from `producer_offset`) with their
/// messages as the single-process run would give them, its consumers, and its part of the rate
/// (in proportion to its producers, so every producer sends at the run's per-producer rate).
pub fn share_of(plan: &RunPlan, index: usize, workers: usize) -> Result<Share> {
    if plan.producers < workers {
        return Err(Error::Config(format!(
            "--producers {} is fewer than the {workers} workers; every worker needs a producer",
            plan.producers
        )));
    }
    let offset = |total: usize| {
        (0..index)
            .map(|i| part(total as u64, workers, i))
            .sum::<u64>()
    };
    let producers = part(plan.producers as u64, workers, index) as usize;
    let producer_offset = offset(plan.producers) as usize;
    let all = Workload {
        messages: plan.messages,
        producers: plan.producers,
        ..Workload::default()
    }
    .per_producer();
    Ok(Share {
        producer_offset: producer_offset as u32,
        producers,
        consumer_offset: offset(plan.consumers) as usize,
        consumers: part(plan.consumers as u64, workers, index) as usize,
        messages: all[producer_offset..producer_offset + producers]
            .iter()
            .sum(),
        rate: plan
            .rate
            .map(|r| r * producers as f64 / plan.producers as f64),
    })
}

/// The result file of worker `index` of `workers` in `dir`.
pub fn file_name(dir: &Path, index: usize, workers: usize) -> PathBuf {
    dir.join(format!("worker-{index}-of-{workers}.json"))
}

/// One worker of a run, as the command resolved it: which one, the whole run, its share, and
/// the common start (µs since the epoch; the command sets it after [`WorkerSpec::new`]).
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    pub index: usize,
    pub workers: usize,
    pub plan: RunPlan,
    pub share: Share,
    pub start_at_us: u64,
}

impl WorkerSpec {
    /// Worker `index` of `workers` of the run `whole` describes, its start not yet set.
    pub fn new(whole: &Workload, index: usize, workers: usize) -> Result<Self> {
        let plan = RunPlan {
            messages: whole.messages,
            producers: whole.producers,
            consumers: whole.consumers,
            rate: whole.rate,
        };
        let share = share_of(&plan, index, workers)?;
        Ok(WorkerSpec {
            index,
            workers,
            plan,
            share,
            start_at_us: 0,
        })
    }

    /// What this worker runs: its share of `whole`, from the common start, waiting `quiet_ms`
    /// for the other workers' messages at the end.
    pub fn workload(&self, whole: &Workload, quiet_ms: u64) -> Workload {
        let (plan, share) = (&self.plan, &self.share);
        Workload {
            messages: share.messages,
            producers: share.producers,
            consumers: share.consumers,
            rate: share.rate,
            // Worker 0 gives the run a clean slate before the start; the others only create groups.
            reset: self.index == 0,
            quiet_ms,
            worker: Some(WorkerPart {
                producer_offset: share.producer_offset,
                consumer_offset: share.consumer_offset,
                run_per_producer: Workload {
                    messages: plan.messages,
                    producers: plan.producers,
                    ..Workload::default()
                }
                .per_producer(),
                run_consumers: plan.consumers,
                start_at_us: self.start_at_us,
            }),
            ..whole.clone()
        }
    }

    /// This worker's result file from what running `workload` gave; `cluster` describes the
    /// cluster for the report's configuration.
    pub fn file(
        &self,
        workload: &Workload,
        r: &RunResult,
        cluster: serde_json::Value,
    ) -> Result<WorkerFile> {
        let Some(raw) = r.raw.as_ref() else {
            return Err(Error::Config(
                "internal: a worker's run kept no histograms".into(),
            ));
        };
        Ok(WorkerFile {
            format: FORMAT.into(),
            index: self.index,
            workers: self.workers,
            run: self.plan.clone(),
            share: self.share.clone(),
            start_at_us: self.start_at_us,
            start_us: raw.start_us,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            stream: workload.stream.clone(),
            group: workload.group.clone(),
            shard_keys: r.shard_keys.clone(),
            elapsed_seconds: r.elapsed_seconds,
            ended_by: r.ended_by.clone(),
            counts: r.counts.clone(),
            errors: r.errors.clone(),
            first_errors: r.first_errors.clone(),
            series: r.series.clone(),
            consumer_crashes: r.consumer_crashes,
            client_peak_rss_bytes: r.client_peak_rss_bytes,
            latency_histogram: encode_histogram(&r.latency_histogram)?,
            delivery_histogram: encode_histogram(&raw.delivery)?,
            confirm_histogram: encode_histogram(&raw.confirm)?,
            ledger: EncodedLedger::encode(&raw.ledger),
            cost: r.cost.clone(),
            config: serde_json::json!({ "workload": workload, "cluster": cluster }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(messages: u64, producers: usize, consumers: usize, rate: Option<f64>) -> RunPlan {
        RunPlan {
            messages,
            producers,
            consumers,
            rate,
        }
    }

    #[test]
    fn shares_are_disjoint_and_add_up_to_the_run() {
        let p = plan(300_001, 7, 5, Some(70_000.0));
        let shares: Vec<Share> = (0..3).map(|i| share_of(&p, i, 3).unwrap()).collect();
        assert_eq!(shares.iter().map(|s| s.messages).sum::<u64>(), 300_001);
        assert_eq!(shares.iter().map(|s| s.producers).sum::<usize>(), 7);
        assert_eq!(shares.iter().map(|s| s.consumers).sum::<usize>(), 5);
        let rate: f64 = shares.iter().filter_map(|s| s.rate).sum();
        assert!((rate - 70_000.0).abs() < 1e-6, "{rate}");
        for w in shares.windows(2) {
            assert_eq!(
                w[0].producer_offset as usize + w[0].producers,
                w[1].producer_offset as usize
            );
            assert_eq!(w[0].consumer_offset + w[0].consumers, w[1].consumer_offset);
        }
        assert!(share_of(&plan(10, 2, 2, None), 0, 3)
            .unwrap_err()
            .to_string()
            .contains("fewer than the 3 workers"));
    }
}
