//! `rcstress worker`: one of N processes of a distributed run. It learns who it is from flags or
//! from what the engine sets (`{{.Task.Slot}}` on Swarm, `JOB_COMPLETION_INDEX` on Kubernetes),
//! takes its share of the run ([`crate::distributed::worker`]), sets up, waits for the common
//! start time, runs, and writes one result file into the shared directory.

use std::path::PathBuf;
use std::sync::Arc;

use super::{graceful, ready_cluster, Outcome};
use crate::cli::WorkerArgs;
use crate::config::{resolve_run, ClusterSource, Env};
use crate::distributed::worker::{file_name, WorkerSpec, MAX_LATE, MAX_LEAD};
use crate::report::JsonSink;
use crate::shutdown::Shutdown;
use crate::stream::now_us;
use crate::{run, Error, Live, Result};

/// Which worker this is and how many there are: `(index, count)`, index from 0.
///
/// The index comes from `--index` (from 0), else `RCSTRESS_WORKER_INDEX` (from 0), else
/// `RCSTRESS_WORKER_SLOT` (from 1: what Swarm's `{{.Task.Slot}}` gives), else
/// `JOB_COMPLETION_INDEX` (from 0: a Kubernetes Indexed Job). The count from `--workers`, else
/// `RCSTRESS_WORKERS`.
fn identity(index: Option<usize>, workers: Option<usize>, env: &Env) -> Result<(usize, usize)> {
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
    let mut spec = WorkerSpec::new(&settings.workload, index, workers)?;
    spec.start_at_us = start_at_us(args, env)?;
    let workload = spec.workload(&settings.workload, (args.quiet * 1000.0) as u64);
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
    let file = spec.file(&workload, &r, settings.cluster.describe())?;
    sink.commit(&file)?;
    println!(
        "rcstress worker {index} of {workers}: producers {}..{} sent {}, consumers acked {} (of any worker), started {:+.3} s from the common start, ended by {}; wrote {}",
        file.share.producer_offset,
        file.share.producer_offset as usize + file.share.producers,
        r.counts.attempted,
        r.counts.acked,
        (file.start_us as f64 - spec.start_at_us as f64) / 1e6,
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
