//! `rcstress worker`: one of N processes of a distributed run. It learns who it is from flags or
//! from what the engine sets (`{{.Task.Slot}}` on Swarm, `JOB_COMPLETION_INDEX` on Kubernetes),
//! takes its share of the run (producers with disjoint global ids, consumers with disjoint names,
//! its part of the rate, as OpenMessaging Benchmark splits), sets up, waits for the common start
//! time, runs, and writes one result file into the shared directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{encode_histogram, EncodedLedger, RunPlan, Share, WorkerFile, FORMAT};
use crate::cli::WorkerArgs;
use crate::commands::{graceful, ready_cluster, Outcome};
use crate::config::{resolve_run, ClusterSource, Env};
use crate::report::JsonSink;
use crate::shutdown::Shutdown;
use crate::stream::now_us;
use crate::workload::WorkerPart;
use crate::{run, Error, Live, Result, Workload};

/// How far ahead a common start may be, and how late a worker may still join it (also how much
/// earlier than this worker's start another worker's messages may be sent: `--start-in` gives
/// each worker its own start).
const MAX_LEAD: Duration = Duration::from_secs(3600);
pub const MAX_LATE: Duration = Duration::from_secs(60);

/// Which worker this is and how many there are: `(index, count)`, index from 0.
///
/// The index comes from `--index` (from 0), else `RCSTRESS_WORKER_INDEX` (from 0), else
/// `RCSTRESS_WORKER_SLOT` (from 1: what Swarm's `{{.Task.Slot}}` gives), else
/// `JOB_COMPLETION_INDEX` (from 0: a Kubernetes Indexed Job). The count from `--workers`, else
/// `RCSTRESS_WORKERS`.
pub fn identity(index: Option<usize>, workers: Option<usize>, env: &Env) -> Result<(usize, usize)> {
    let number = |key: &str| -> Result<Option<usize>> {
        env.get(key)
            .map(|v| {
                v.trim().parse::<usize>().map_err(|_| {
                    Error::Config(format!(
                        "{key}='{v}' is not a whole number (a worker index or count)"
                    ))
                })
            })
            .transpose()
    };
    let workers = match workers {
        Some(n) => n,
        None => number("RCSTRESS_WORKERS")?.ok_or_else(|| {
            Error::Config("how many workers? give --workers N or RCSTRESS_WORKERS".into())
        })?,
    };
    let index = match index {
        Some(i) => i,
        None => match (
            number("RCSTRESS_WORKER_INDEX")?,
            number("RCSTRESS_WORKER_SLOT")?,
            number("JOB_COMPLETION_INDEX")?,
        ) {
            (Some(i), _, _) => i,
            (None, Some(0), _) => {
                return Err(Error::Config(
                    "RCSTRESS_WORKER_SLOT counts from 1 (Swarm's {{.Task.Slot}}); got 0".into(),
                ))
            }
            (None, Some(slot), _) => slot - 1,
            (None, None, Some(i)) => i,
            (None, None, None) => {
                return Err(Error::Config(
                    "which worker is this? give --index I (from 0), RCSTRESS_WORKER_INDEX, RCSTRESS_WORKER_SLOT ({{.Task.Slot}}) or JOB_COMPLETION_INDEX".into(),
                ))
            }
        },
    };
    if workers == 0 || workers > 10_000 {
        return Err(Error::Config(format!(
            "{workers} workers: give between 1 and 10000"
        )));
    }
    if index >= workers {
        return Err(Error::Config(format!(
            "worker index {index} is not below the number of workers ({workers}); indexes count from 0"
        )));
    }
    Ok((index, workers))
}

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

/// The common start, µs since the epoch, from `--start-at` / `RCSTRESS_START_AT` (Unix seconds)
/// or `--start-in` (seconds from now).
fn start_at_us(args: &WorkerArgs, env: &Env) -> Result<u64> {
    let now = now_us();
    let at = match (args.start_at, args.start_in) {
        (Some(t), _) => (t * 1e6) as u64,
        (None, Some(s)) => now + (s * 1e6) as u64,
        (None, None) => match env.get("RCSTRESS_START_AT") {
            Some(v) => {
                let t: f64 = v.trim().parse().map_err(|_| {
                    Error::Config(format!(
                        "RCSTRESS_START_AT='{v}' is not a time in Unix seconds (e.g. $(($(date +%s) + 20)))"
                    ))
                })?;
                (t.max(0.0) * 1e6) as u64
            }
            None => {
                return Err(Error::Config(
                    "when do the workers start? give --start-at UNIX_SECONDS (or RCSTRESS_START_AT), the same for every worker, or --start-in SECONDS".into(),
                ))
            }
        },
    };
    if at > now + MAX_LEAD.as_micros() as u64 {
        return Err(Error::Config(format!(
            "the common start is {:.0} s away; at most {} s ahead (is it in milliseconds? give seconds)",
            (at - now) as f64 / 1e6,
            MAX_LEAD.as_secs()
        )));
    }
    if now > at + MAX_LATE.as_micros() as u64 {
        return Err(Error::Config(format!(
            "the common start was {:.0} s ago; a worker may join at most {} s late: start the run again with a new start time",
            (now - at) as f64 / 1e6,
            MAX_LATE.as_secs()
        )));
    }
    Ok(at)
}

/// The result file of worker `index` of `workers` in `dir`.
pub fn file_name(dir: &Path, index: usize, workers: usize) -> PathBuf {
    dir.join(format!("worker-{index}-of-{workers}.json"))
}

/// `rcstress worker`.
pub async fn command(args: &WorkerArgs, env: &Env, shutdown: &Shutdown) -> Result<Outcome> {
    if args.run.json.is_some() || args.run.strict {
        return Err(Error::Config(
            "a worker writes its result to --out DIR; --json and --strict belong to 'rcstress merge'".into(),
        ));
    }
    let (index, workers) = identity(args.index, args.workers, env)?;
    let out = match &args.out {
        Some(d) => d.clone(),
        None => env.get("RCSTRESS_OUT").map(PathBuf::from).ok_or_else(|| {
            Error::Config(
                "where do results go? give --out DIR (shared by every worker) or RCSTRESS_OUT"
                    .into(),
            )
        })?,
    };
    if !out.is_dir() {
        return Err(Error::Config(format!(
            "--out {} is not a directory; create it (every worker writes one file there)",
            out.display()
        )));
    }
    let settings = resolve_run(&args.run, env)?;
    if let ClusterSource::Embedded(_) = settings.cluster {
        return Err(Error::Config(
            "a worker joins the cluster every worker uses: give --nodes or REDIS_CLUSTER_NODES"
                .into(),
        ));
    }
    let whole = &settings.workload;
    let plan = RunPlan {
        messages: whole.messages,
        producers: whole.producers,
        consumers: whole.consumers,
        rate: whole.rate,
    };
    let share = share_of(&plan, index, workers)?;
    let start_at = start_at_us(args, env)?;
    let workload = Workload {
        messages: share.messages,
        producers: share.producers,
        consumers: share.consumers,
        rate: share.rate,
        // Worker 0 gives the run a clean slate before the start; the others only create groups.
        reset: index == 0,
        quiet_ms: (args.quiet * 1000.0) as u64,
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
            start_at_us: start_at,
        }),
        ..whole.clone()
    };
    let path = file_name(&out, index, workers);
    let sink = JsonSink::prepare_for(&path, "--out")?;
    let cluster = match ready_cluster(&settings.cluster, shutdown).await? {
        Ok(c) => c,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let live = Arc::new(Live::default());
    let (result, interrupted) = match graceful(
        run(&cluster.endpoint, &workload, live.clone()),
        &live,
        shutdown,
    )
    .await
    {
        Ok(done) => done,
        Err(sig) => return Ok(Outcome::Interrupted(sig)),
    };
    let r = match (result, interrupted) {
        // Stopped before the common start: nothing ran, nothing to write.
        (Err(_), Some(sig)) => return Ok(Outcome::Interrupted(sig)),
        (r, _) => r?,
    };
    let Some(raw) = r.raw.clone() else {
        return Err(Error::Config(
            "internal: a worker's run kept no histograms".into(),
        ));
    };
    let file = WorkerFile {
        format: FORMAT.into(),
        index,
        workers,
        run: plan,
        share,
        start_at_us: start_at,
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
        config: serde_json::json!({ "workload": workload, "cluster": settings.cluster.describe() }),
    };
    sink.commit(&file)?;
    println!(
        "rcstress worker {index} of {workers}: producers {}..{} sent {}, consumers acked {} (of any worker), started {:+.3} s from the common start, ended by {}; wrote {}",
        file.share.producer_offset,
        file.share.producer_offset as usize + file.share.producers,
        r.counts.attempted,
        r.counts.acked,
        (raw.start_us as f64 - start_at as f64) / 1e6,
        r.ended_by,
        path.display()
    );
    drop(cluster);
    Ok(match interrupted {
        Some(sig) => Outcome::Interrupted(sig),
        None => Outcome::Done,
    })
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

    #[test]
    fn the_index_comes_from_flags_swarm_or_kubernetes() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert_eq!(identity(Some(2), Some(3), &env(&[])).unwrap(), (2, 3));
        let swarm = env(&[("RCSTRESS_WORKER_SLOT", "3"), ("RCSTRESS_WORKERS", "3")]);
        assert_eq!(identity(None, None, &swarm).unwrap(), (2, 3));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), ("RCSTRESS_WORKERS", "20")]);
        assert_eq!(identity(None, None, &k8s).unwrap(), (0, 20));
        for (pairs, says) in [
            (vec![("RCSTRESS_WORKERS", "3")], "which worker"),
            (
                vec![("RCSTRESS_WORKER_SLOT", "0"), ("RCSTRESS_WORKERS", "3")],
                "counts from 1",
            ),
            (
                vec![("JOB_COMPLETION_INDEX", "3"), ("RCSTRESS_WORKERS", "3")],
                "not below",
            ),
            (
                vec![("JOB_COMPLETION_INDEX", "x"), ("RCSTRESS_WORKERS", "3")],
                "not a whole number",
            ),
            (vec![("JOB_COMPLETION_INDEX", "1")], "how many workers"),
        ] {
            let e = identity(None, None, &env(&pairs)).unwrap_err().to_string();
            assert!(e.contains(says), "{pairs:?}: {e}");
        }
    }
}
