//! What a person at a terminal sees while a command works: a spinner while the cluster starts or
//! is waited for, a progress bar during a run, a one-line counter during a scenario. All of it
//! goes to stderr and is drawn only when stderr is a terminal (indicatif hides itself otherwise),
//! so stdout stays the summary and a failing command's stderr stays its one error line.
//!
//! Each display is a guard: dropping it stops its task and clears its line.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::report::{HtmlSink, JsonSink, Progress, RunCheckpoint};
use crate::{Endpoint, Live};

/// A spinner with a message ("starting embedded cluster (3 masters + 3 replicas)…") until dropped.
pub struct Activity(ProgressBar);

impl Activity {
    /// Shows `message` at once, with a spinner ticking beside it.
    pub fn start(message: impl Into<String>) -> Activity {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        Activity(bar)
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A task drawing on a bar, stopped and cleared when dropped.
pub struct Display {
    task: JoinHandle<()>,
    bar: ProgressBar,
}

impl Drop for Display {
    fn drop(&mut self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

/// Where a run rewrites its checkpoint (the JSON, the HTML page, or both), how often, and the
/// config it names.
pub struct Checkpoint {
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub every: Duration,
    pub config: serde_json::Value,
}

/// A run's progress bar: the acked count every 100 ms; rate, backlog and server memory every
/// second; with `checkpoint`, the JSON and/or HTML checkpoint rewritten at its interval.
pub fn run_bar(
    total: u64,
    live: Arc<Live>,
    endpoint: Endpoint,
    checkpoint: Option<Checkpoint>,
) -> Display {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} acked {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let task = tokio::spawn(run_loop(live, bar.clone(), endpoint, checkpoint));
    Display { task, bar }
}

/// Progress samples the HTML checkpoint charts: the most recent ones (4 minutes at one a second).
const HISTORY: usize = 240;

/// Runs until aborted by [`Display`]'s drop.
async fn run_loop(
    live: Arc<Live>,
    bar: ProgressBar,
    endpoint: Endpoint,
    checkpoint: Option<Checkpoint>,
) {
    let mut progress = Progress::default();
    let mut history: VecDeque<Progress> = VecDeque::with_capacity(HISTORY);
    let (mut last_line, mut last_checkpoint) = (Instant::now(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(live.acked.load(Relaxed));
        let since = last_line.elapsed().as_secs_f64();
        if since >= 1.0 {
            last_line = Instant::now();
            progress = sample(&live, &endpoint, &progress, since).await;
            bar.set_message(progress.line());
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(progress.clone());
        }
        if let Some(c) = &checkpoint {
            if last_checkpoint.elapsed() >= c.every {
                last_checkpoint = Instant::now();
                write_checkpoint(c, &progress, history.make_contiguous());
            }
        }
    }
}

/// Rewrites the checkpoint's files from `progress` and the samples so far; a failure is a warning
/// (the run goes on, and the final report is written as usual).
fn write_checkpoint(c: &Checkpoint, progress: &Progress, history: &[Progress]) {
    let doc = RunCheckpoint {
        tool: "rcstress",
        version: env!("CARGO_PKG_VERSION"),
        command: "run",
        status: "running",
        config: c.config.clone(),
        progress: progress.clone(),
    };
    if let Some(path) = &c.json {
        if let Err(e) = JsonSink::checkpoint(path, &doc) {
            tracing::warn!("checkpoint: {e}");
        }
    }
    if let Some(path) = &c.html {
        if let Err(e) = HtmlSink::checkpoint(path, &doc, history) {
            tracing::warn!("checkpoint: {e}");
        }
    }
}

/// The live counters now, with the acked rate since `last` (`since` seconds ago).
async fn sample(live: &Live, endpoint: &Endpoint, last: &Progress, since: f64) -> Progress {
    let acked = live.acked.load(Relaxed);
    let produced = live.produced.load(Relaxed);
    Progress {
        elapsed_seconds: live.secs(),
        attempted: live.attempted.load(Relaxed),
        produced,
        acked,
        backlog: produced.saturating_sub(acked),
        errors: live.errors.load(Relaxed),
        acked_per_sec: acked.saturating_sub(last.acked) as f64 / since,
        server_used_memory_bytes: crate::trim::masters_used_memory(endpoint)
            .await
            .map(|m| m.iter().map(|(_, b)| b).sum()),
        client_peak_rss_bytes: crate::workload::peak_rss_bytes(),
    }
}

/// "starting embedded cluster (3 masters + 3 replicas)…": the same words for every command.
pub fn starting_line(opts: &crate::cluster::LocalClusterOptions) -> String {
    format!(
        "starting embedded cluster ({} masters + {} replicas)…",
        opts.masters,
        opts.masters * opts.replicas_per_master
    )
}

/// The counters a scenario's progress line shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counters {
    /// Consumer crashes (consumer-crash only: every other scenario would always say 0).
    pub crashes: bool,
}

/// A scenario's progress line: what it does now (the phase), then the counters that apply.
pub fn scenario_text(live: &Live, counters: Counters) -> String {
    let mut parts = Vec::new();
    let phase = live.phase();
    if !phase.is_empty() {
        parts.push(phase);
    }
    if live.pause_consumers.load(Relaxed) {
        parts.push("consumers paused".into());
    }
    let mut line = format!(
        "sent {}  acked {}  errors {}",
        crate::units::thousands(live.attempted.load(Relaxed)),
        crate::units::thousands(live.acked.load(Relaxed)),
        crate::units::thousands(live.errors.load(Relaxed))
    );
    if counters.crashes {
        line.push_str(&format!(
            "  crashes {}",
            crate::units::thousands(live.crashes.load(Relaxed))
        ));
    }
    parts.push(line);
    parts.join(" · ")
}

/// A scenario's one-line progress ([`scenario_text`]) from the live counters.
pub fn scenario_line(live: Arc<Live>, counters: Counters) -> Display {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let shown = bar.clone();
    let task = tokio::spawn(async move {
        loop {
            shown.set_message(scenario_text(&live, counters));
            shown.tick();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Display { task, bar }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario's progress says what it does (the phase: a cluster starting, run k of n, a
    /// kill, consumers paused) and shows crashes only where consumers crash on purpose.
    #[test]
    fn scenario_progress_says_the_phase_and_only_counters_that_apply() {
        let live = Live::default();
        live.attempted.store(12345, Relaxed);
        let plain = Counters { crashes: false };
        assert_eq!(
            scenario_text(&live, plain),
            "sent 12,345  acked 0  errors 0"
        );
        live.set_phase(starting_line(
            &crate::cluster::LocalClusterOptions::default(),
        ));
        assert!(scenario_text(&live, plain)
            .starts_with("starting embedded cluster (3 masters + 3 replicas)… · sent"));
        live.set_phase("run 2 of 6: mode none, no fault");
        live.pause_consumers.store(true, Relaxed);
        let text = scenario_text(&live, Counters { crashes: true });
        assert!(
            text.starts_with("run 2 of 6: mode none, no fault · consumers paused · sent"),
            "{text}"
        );
        assert!(text.ends_with("crashes 0"));
    }
}
