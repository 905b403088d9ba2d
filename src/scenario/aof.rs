//! aof-compare: the seed's fourth experiment. The same fixed-count cycle on AOF off and on (each
//! appendfsync policy), each repeated R times on a fresh cluster; per mode the runs, mean,
//! standard deviation and overhead against AOF off. (The seed: 12.77 s off vs 13.03 s on, +2.1%.)
//!
//! Runs are interleaved (off, everysec, always, no, off, ...) so that a machine that slows down
//! over time biases no single mode.

use std::str::FromStr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

use super::{interleaved, mean_stddev, merge_facts, with_child_live, ScenarioReport};
use crate::check::Verdict;
use crate::cluster::ClusterFacts;
use crate::metrics::{finite, new_histogram, Latency, SecondSample};
use crate::units::{human_us, thousands};
use crate::workload::{Live, Workload};
use crate::{Aof, Fsync, LocalClusterOptions, Result};

/// A persistence mode to compare: AOF off, or on with an appendfsync policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub Aof);

impl Mode {
    /// The four modes in their usual order.
    pub fn all() -> Vec<Mode> {
        vec![
            Mode(Aof::Off),
            Mode(Aof::On(Fsync::Everysec)),
            Mode(Aof::On(Fsync::Always)),
            Mode(Aof::On(Fsync::No)),
        ]
    }

    /// `off`, `everysec`, `always`, `no`.
    pub fn name(&self) -> String {
        match self.0 {
            Aof::Off => "off".into(),
            Aof::On(f) => f.to_string(),
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Mode(Aof::Off)),
            other => other
                .parse::<Fsync>()
                .map(|f| Mode(Aof::On(f)))
                .map_err(|_| format!("'{s}' is not an AOF mode; use off, everysec, always or no")),
        }
    }
}

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct AofOptions {
    /// The cluster; its `aof` is replaced by each mode.
    pub cluster: LocalClusterOptions,
    pub modes: Vec<Mode>,
    /// Runs per mode, each on a fresh cluster.
    pub repeat: usize,
    pub workload: Workload,
}

impl Default for AofOptions {
    fn default() -> Self {
        AofOptions {
            cluster: LocalClusterOptions::default(),
            modes: Mode::all(),
            repeat: 3,
            workload: Workload {
                messages: 100_000,
                ..Workload::default()
            },
        }
    }
}

/// One run of one mode.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ModeRun {
    pub mode: String,
    /// 1-based.
    pub run: usize,
    pub elapsed_seconds: f64,
    pub throughput_msgs_per_sec: f64,
    pub latency_us: Latency,
    pub verdict: Verdict,
    /// Bytes in the nodes' appendonlydir at the end (0 with AOF off): proof that AOF wrote.
    pub aof_bytes: u64,
}

/// One mode over its runs.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ModeSummary {
    pub mode: String,
    pub runs: usize,
    pub mean_seconds: f64,
    pub stddev_seconds: f64,
    pub min_seconds: f64,
    pub max_seconds: f64,
    pub mean_throughput_msgs_per_sec: f64,
    /// 95 % confidence interval of the mean elapsed (Student's t over the runs; 0 with one run).
    pub ci95_seconds: f64,
    /// Mean elapsed against the baseline mode's (AOF off if compared), in %.
    pub overhead_pct: f64,
    /// The difference's own 95 % interval in % of the baseline (± this around `overhead_pct`).
    pub overhead_ci95_pct: f64,
    /// True when this mode's interval overlaps the baseline's: the difference is within noise.
    /// False with fewer than two runs per mode, where the noise is unknown.
    pub within_noise: bool,
    pub mean_p99_us: f64,
    /// Send→ack latency over all of this mode's runs: their histograms added, never their
    /// percentiles.
    pub latency_us: Latency,
    /// The series of this mode's first run, for the chart.
    pub series: Vec<SecondSample>,
}

/// aof-compare's own fields in the report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct AofDetail {
    /// The mode the others are compared with (AOF off if compared).
    pub baseline: String,
    pub modes: Vec<ModeSummary>,
    pub runs: Vec<ModeRun>,
}

/// Runs every mode `repeat` times and compares.
pub async fn run(opts: &AofOptions, live: Arc<Live>) -> Result<ScenarioReport> {
    if opts.modes.is_empty() || opts.repeat == 0 {
        return Err(crate::Error::Config(
            "aof-compare needs at least one mode and --repeat of at least 1".into(),
        ));
    }
    opts.workload.validate()?;
    let (runs, facts) = run_all(opts, &live).await?;
    let baseline = opts
        .modes
        .iter()
        .find(|m| m.0 == Aof::Off)
        .unwrap_or(&opts.modes[0])
        .name();
    let modes = compare(opts, &runs, &baseline);
    let config = serde_json::json!({
        "modes": opts.modes.iter().map(Mode::name).collect::<Vec<_>>(),
        "repeat": opts.repeat,
        "baseline": baseline,
        "masters": opts.cluster.masters,
        "replicas_per_master": opts.cluster.replicas_per_master,
        "workload": &opts.workload,
        "headline": format!("the baseline mode ({baseline}): elapsed, throughput and latency are its own"),
        "data_dir": opts.cluster.data_dir.clone().unwrap_or_else(std::env::temp_dir),
    });
    // The common fields: counts, errors and the verdict over every run (every message was
    // checked). Throughput and latency are per mode only: pooling modes would blur what is
    // compared. The headline ones are the baseline mode's, and `config.headline` says so.
    let results: Vec<&crate::RunResult> = runs.iter().map(|(_, r)| r).collect();
    let mut report = ScenarioReport::combined("aof-compare", config, &results);
    // Pooled CPU over modes is not the comparison's.
    report.cost = None;
    if let Some(h) = modes.iter().find(|m| m.mode == baseline).or(modes.first()) {
        report.latency_us = h.latency_us.clone();
        report.elapsed_seconds = h.mean_seconds;
        report.throughput_msgs_per_sec = h.mean_throughput_msgs_per_sec;
    }
    for (m, _) in runs.iter().filter(|(m, _)| !m.verdict.is_ok()) {
        report = report.finding(format!("{} run {}: {}", m.mode, m.run, m.verdict));
    }
    for m in &modes {
        report = report.finding(mode_finding(m, &baseline, opts.workload.messages));
    }
    Ok(report.with_facts(&facts).with_detail(AofDetail {
        baseline,
        modes,
        runs: runs.into_iter().map(|(m, _)| m).collect(),
    }))
}

/// Every mode `repeat` times, interleaved, each on a fresh cluster; with the facts of them all.
async fn run_all(
    opts: &AofOptions,
    live: &Arc<Live>,
) -> Result<(Vec<(ModeRun, crate::RunResult)>, ClusterFacts)> {
    // Server, data dirs and the AOF-on-tmpfs warning, once for the whole comparison.
    let facts_seen = std::sync::Mutex::new(ClusterFacts::default());
    let runs = interleaved(
        "aof-compare",
        live,
        opts.repeat,
        &opts.modes,
        |mode| format!("AOF {}", mode.0),
        |round, mode| {
            let facts_seen = &facts_seen;
            async move {
                let cluster = super::start_cluster(
                    LocalClusterOptions {
                        aof: mode.0,
                        ..opts.cluster.clone()
                    },
                    live,
                )
                .await?;
                merge_facts(
                    &mut facts_seen.lock().unwrap_or_else(|e| e.into_inner()),
                    ClusterFacts::of_local(&cluster),
                );
                let r = with_child_live(live, |child| {
                    crate::workload::run(cluster.endpoint(), &opts.workload, child)
                })
                .await?;
                let aof_bytes = (0..cluster.ports().len())
                    .map(|i| dir_bytes(&cluster.node_dir(i).join("appendonlydir")))
                    .sum();
                drop(cluster);
                tracing::info!(
                    "aof-compare {} run {round}: {:.3} s",
                    mode.name(),
                    r.elapsed_seconds
                );
                let record = ModeRun {
                    mode: mode.name(),
                    run: round,
                    elapsed_seconds: r.elapsed_seconds,
                    throughput_msgs_per_sec: r.throughput_msgs_per_sec,
                    latency_us: r.latency_us.clone(),
                    verdict: r.counts.verdict(),
                    aof_bytes,
                };
                Ok((record, r))
            }
        },
    )
    .await?;
    Ok((
        runs,
        facts_seen.into_inner().unwrap_or_else(|e| e.into_inner()),
    ))
}

/// One mode over its runs (overheads still to be filled by [`compare`]).
fn summarize(name: &str, runs: &[(ModeRun, crate::RunResult)]) -> Option<ModeSummary> {
    let of: Vec<&(ModeRun, crate::RunResult)> =
        runs.iter().filter(|(m, _)| m.mode == name).collect();
    if of.is_empty() {
        return None;
    }
    let secs: Vec<f64> = of.iter().map(|(m, _)| m.elapsed_seconds).collect();
    let (mean, sd) = mean_stddev(&secs);
    let tput: Vec<f64> = of.iter().map(|(m, _)| m.throughput_msgs_per_sec).collect();
    let p99: Vec<f64> = of.iter().map(|(m, _)| m.latency_us.p99 as f64).collect();
    let mut merged = new_histogram();
    for (_, r) in &of {
        let _ = merged.add(&r.latency_histogram);
    }
    Some(ModeSummary {
        mode: name.to_string(),
        runs: of.len(),
        mean_seconds: mean,
        stddev_seconds: sd,
        ci95_seconds: finite(t95(of.len()) * sd / (of.len() as f64).sqrt()),
        overhead_ci95_pct: 0.0,
        within_noise: false,
        latency_us: Latency::from_histogram(&merged),
        min_seconds: finite(secs.iter().copied().fold(f64::INFINITY, f64::min)),
        max_seconds: secs.iter().copied().fold(0.0, f64::max),
        mean_throughput_msgs_per_sec: mean_stddev(&tput).0,
        overhead_pct: 0.0,
        mean_p99_us: mean_stddev(&p99).0,
        series: of
            .first()
            .map(|(_, r)| r.series.clone())
            .unwrap_or_default(),
    })
}

/// Every mode's summary, with its overhead against `baseline` and whether that is within noise.
fn compare(
    opts: &AofOptions,
    runs: &[(ModeRun, crate::RunResult)],
    baseline: &str,
) -> Vec<ModeSummary> {
    let mut modes: Vec<ModeSummary> = opts
        .modes
        .iter()
        .filter_map(|m| summarize(&m.name(), runs))
        .collect();
    let (base, base_ci, base_se2, base_runs) = modes
        .iter()
        .find(|m| m.mode == baseline)
        .map(|m| {
            (
                m.mean_seconds,
                m.ci95_seconds,
                m.stddev_seconds.powi(2) / m.runs as f64,
                m.runs,
            )
        })
        .unwrap_or((0.0, 0.0, 0.0, 0));
    for m in modes.iter_mut() {
        if base > 0.0 {
            m.overhead_pct = finite((m.mean_seconds - base) / base * 100.0);
            // Welch: the difference's standard error from both modes' spreads; t at the smaller
            // run count (conservative).
            let se = (m.stddev_seconds.powi(2) / m.runs as f64 + base_se2).sqrt();
            m.overhead_ci95_pct = finite(t95(m.runs.min(base_runs)) * se / base * 100.0);
        }
        m.within_noise = m.runs >= 2
            && (m.mean_seconds - base).abs() <= m.ci95_seconds + base_ci
            && m.mode != baseline;
    }
    modes
}

/// "AOF everysec: mean 1.234 s ± 0.010 s ... +2.1% ± 1.0% vs off".
fn mode_finding(m: &ModeSummary, baseline: &str, messages: u64) -> String {
    let sign = if m.overhead_pct >= 0.0 { "+" } else { "" };
    let vs = if m.mode == baseline {
        "baseline".to_string()
    } else if m.runs < 2 {
        format!(
            "{sign}{:.1}% vs {baseline} (one run: noise unknown)",
            m.overhead_pct
        )
    } else {
        let noise = if m.within_noise {
            ", within noise (the 95 % intervals overlap)"
        } else {
            ""
        };
        format!(
            "{sign}{:.1}% ± {:.1}% vs {baseline}{noise}",
            m.overhead_pct, m.overhead_ci95_pct
        )
    };
    format!(
        "AOF {}: mean {:.3} s ± {:.3} s (95 % interval) over {} run(s) of {} messages ({} msg/s, p99 {}), {vs}",
        m.mode,
        m.mean_seconds,
        m.ci95_seconds,
        m.runs,
        thousands(messages),
        thousands(m.mean_throughput_msgs_per_sec.round() as u64),
        human_us(m.latency_us.p99),
    )
}

/// Two-sided 95 % Student's t for the mean of `n` runs (n − 1 degrees of freedom); 0 for one run.
fn t95(n: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match n {
        0 | 1 => 0.0,
        n if n - 2 < T.len() => T[n - 2],
        _ => 2.0,
    }
}

/// Total size of the files under `dir` (0 if it does not exist).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_grows_as_runs_get_few() {
        assert_eq!(t95(1), 0.0);
        assert_eq!(t95(2), 12.706);
        assert_eq!(t95(3), 4.303);
        assert_eq!(t95(50), 2.0);
    }

    #[test]
    fn modes_parse_and_name_themselves() {
        for m in Mode::all() {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert_eq!("OFF".parse::<Mode>(), Ok(Mode(Aof::Off)));
        assert!("sometimes"
            .parse::<Mode>()
            .unwrap_err()
            .contains("off, everysec"));
    }
}
