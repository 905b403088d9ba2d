//! Long runs with bounded memory: `--trim acked` keeps the servers' memory flat, `--trim maxlen`
//! counts what it removed unread exactly, and a long run's JSON checkpoint and HTML page are
//! valid mid-run.

mod support;

use support::cli;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use redis_cluster_stress::trim::{masters_used_memory, Trim};
use redis_cluster_stress::Workload;
use support::wait_for;

/// 60 s at a steady 5,000 msg/s with `--trim acked`: the stream holds what the consumers have
/// not acked plus at most a trimming interval, so used_memory on the masters grows by no more
/// than a few seconds' worth of messages after the start. Untrimmed, the same run grows it by
/// 300,000 × ~114 bytes (the measure) ≈ 34 MB, far above the bound: the test can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trim_acked_keeps_server_memory_flat() {
    const RATE: f64 = 5_000.0;
    const SECS: f64 = 60.0;
    // Generous per-message cost (stream entry, radix tree, listpack) and a window of seconds.
    const BYTES_PER_MSG: f64 = 200.0;
    const WINDOW_SECS: f64 = 4.0;
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: (RATE * SECS) as u64,
        rate: Some(RATE),
        trim: Trim::Acked,
        ..Default::default()
    };
    let (live, load) = support::spawn_run(&cluster, &wl);
    wait_for("3 s of load", 30, || live.secs() >= 3.0).await;
    let total = |m: Vec<(String, u64)>| m.iter().map(|(_, b)| b).sum::<u64>();
    let before = total(
        masters_used_memory(cluster.endpoint())
            .await
            .expect("used_memory of every master"),
    );
    let mut after = before;
    // Sample while the run goes on; the highest reading counts.
    while !load.is_finished() {
        if let Some(m) = masters_used_memory(cluster.endpoint()).await {
            after = after.max(total(m));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = load.await.unwrap().unwrap();
    assert_eq!(r.verdict, "ok", "{r:#?}");
    assert_eq!(r.counts.acked, wl.messages);
    assert_eq!(r.counts.trimmed_unread, 0);
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    let trimmed = r.trimmed_entries.expect("XINFO STREAM on every shard");
    let xlen = r.redis_xlen.unwrap();
    assert_eq!(
        xlen + trimmed,
        wl.messages,
        "what is left plus what was trimmed is what was written"
    );
    let bound = (RATE * WINDOW_SECS * BYTES_PER_MSG) as u64;
    assert!(
        after.saturating_sub(before) <= bound,
        "used_memory grew {} bytes (from {before} to {after}), bound {bound}; xlen at end {xlen}",
        after - before
    );
}

/// 6,000 messages, no consumer, each stream capped at ~500 entries: every message trimmed away
/// is counted as `trimmed_unread`, not lost, and the count equals what Redis says it removed
/// and what XLEN no longer holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxlen_without_a_consumer_counts_exactly_what_it_trimmed_unread() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 6_000,
        consumers: 0,
        trim: Trim::MaxLen(500),
        ..Default::default()
    };
    let (live, load) = support::spawn_run(&cluster, &wl);
    let r = load.await.unwrap().unwrap();
    assert_eq!(live.produced.load(Relaxed), 6_000);
    let xlen = r.redis_xlen.unwrap();
    assert!(
        (1_500..6_000).contains(&xlen),
        "three streams of ~500: {xlen}"
    );
    assert_eq!(r.counts.lost, 0, "{r:#?}");
    assert_eq!(r.counts.trimmed_unread, 6_000 - xlen);
    assert_eq!(r.trimmed_entries, Some(6_000 - xlen));
    assert_eq!(r.verdict, "ok");
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    support::assert_mentions(&r.notes, "trimmed unread");
}

/// `rcstress run --duration SECS --rate 2000 --checkpoint 1 --replicas 0` with `files`, started in
/// `dir` and left running (the caller waits for it, bounded).
fn checkpointed_run(dir: &std::path::Path, secs: &str, files: &[&str]) -> std::process::Child {
    let mut args = vec![
        "run",
        "--duration",
        secs,
        "--rate",
        "2000",
        "--checkpoint",
        "1",
        "--replicas",
        "0",
    ];
    args.extend_from_slice(files);
    cli::command(dir, &args, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn rcstress")
}

/// A `--duration` run with `--checkpoint 1`: while it runs, the --json file is already there,
/// valid JSON saying "running" with live counters; at the end it is the full report.
#[test]
fn a_duration_run_writes_a_valid_checkpoint_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("soak.json");
    let mut child = checkpointed_run(dir.path(), "8", &["--json", json.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut mid = None;
    while Instant::now() < deadline && mid.is_none() {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(text) = std::fs::read_to_string(&json) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("checkpoint is not valid JSON ({e}): {text}"));
        if v["status"] == "running" && v["progress"]["acked"].as_u64() > Some(0) {
            mid = Some(v);
        }
    }
    let status = cli::wait_bounded(&mut child, Duration::from_secs(60));
    let mid = mid.expect("a checkpoint with acked messages during the run");
    assert_eq!(mid["config"]["workload"]["trim"], "acked");
    assert!(mid["progress"]["server_used_memory_bytes"].as_u64() > Some(0));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let end: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(end["status"], "complete");
    assert_eq!(end["verdict"], "ok");
    assert_eq!(end["counts"]["acked"], 16_000);
    assert_eq!(end["counts"]["trimmed_unread"], 0);
    // The final report carries the run's cost; the running checkpoint does not.
    assert_eq!(end["cost"]["messages"], 16_000, "{}", end["cost"]);
    assert!(mid.get("cost").is_none());
}

/// `--checkpoint 1 --html`: while the run goes on, the page is already there, whole (written
/// atomically) and saying it is running, with the progress so far charted; at the end the run's
/// final page has replaced it.
#[test]
fn a_checkpointed_run_rewrites_its_html_page_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("a.json"), dir.path().join("b.html"));
    let files = [
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    let mut child = checkpointed_run(dir.path(), "4", &files);
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut pages, mut charted) = (Vec::new(), None);
    while Instant::now() < deadline
        && charted.is_none()
        && child.try_wait().ok().flatten().is_none()
    {
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(page) = std::fs::read_to_string(&html) {
            if page.contains("running — partial") && page.contains("<svg") {
                charted = Some(page.clone());
            }
            pages.push(page);
        }
    }
    let status = cli::wait_bounded(&mut child, Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    for page in &pages {
        assert!(
            page.trim_end().ends_with("</html>"),
            "a partial page: {page}"
        );
    }
    let mid = charted.expect("a running page with the progress charted during the run");
    assert!(mid.contains("Rate and backlog so far") && mid.contains("acked msg/s"));
    let end = std::fs::read_to_string(&html).unwrap();
    assert!(end.trim_end().ends_with("</html>"));
    assert!(
        !end.contains("running — partial"),
        "the final page replaced it"
    );
    assert!(end.contains("(verdict: ok)"), "{end}");
}

/// The backlog experiment at 3,000 msg/s with consumers stopped for 3 s: the backlog peaks near
/// 3 s of messages, server memory rises with it, the consumers catch up while producers go on,
/// and every message is acked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_builds_while_consumers_stop_and_drains_when_they_resume() {
    use redis_cluster_stress::scenario::backlog::BacklogOptions;
    let cluster = support::cluster(3, 0).await;
    let opts = BacklogOptions {
        rate: 3_000.0,
        lead_ms: 1_000,
        pause_ms: 3_000,
        drain_budget_ms: 20_000,
        tail_ms: 500,
        ..Default::default()
    };
    let (report, v) = backlog_report(&cluster, &opts).await;
    let fig = &v["backlog"];
    let peak = fig["peak_messages"].as_u64().unwrap();
    // 3 s × 3,000 msg/s = 9,000 waiting at the resume, give or take a sample (250 ms).
    assert!((6_000..=12_000).contains(&peak), "peak {peak}: {fig}");
    let caught = fig["catch_up_seconds"].as_f64().expect("caught up");
    assert!(caught > 0.0, "{fig}");
    assert!(fig["drain_ratio"].as_f64().unwrap() > 1.0, "{fig}");
    let at_stop: u64 = fig["used_memory_at_stop"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_u64().unwrap())
        .sum();
    let at_peak: u64 = fig["used_memory_peak"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_u64().unwrap())
        .sum();
    assert!(at_peak > at_stop, "memory holds the backlog: {fig}");
    // The backlogged messages waited about as long as the consumers were away.
    assert!(fig["drain_max_us"].as_u64().unwrap() >= 2_000_000, "{fig}");
    assert!(report.verdict.is_ok());
    assert_eq!(report.counts.acked, report.counts.produced);
    assert_eq!(v["ended_by"], "all acked");
    // Like every single-run scenario report, it carries its run's cost.
    let cost = &v["cost"];
    assert_eq!(
        cost["messages"].as_u64(),
        Some(report.counts.acked),
        "{cost}"
    );
    assert!(cost["client_cpu_seconds"].as_f64().unwrap() > 0.0, "{cost}");
    assert_eq!(cost["masters_measured"], 3, "{cost}");
}

/// The backlog experiment with a memory level: the consumers stay stopped until a master's
/// used_memory has grown 1 MB above the highest master's before the run (about 9 s of 1,000
/// msg/s per master at ~115 bytes each), well before the 30 s bound, and then drain it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_consumers_resume_when_a_master_reaches_the_memory_level() {
    use redis_cluster_stress::scenario::backlog::BacklogOptions;
    let cluster = support::cluster(3, 0).await;
    let before = masters_used_memory(cluster.endpoint())
        .await
        .expect("used_memory of every master");
    let level = before.iter().map(|(_, b)| b).max().unwrap() + (1 << 20);
    let opts = BacklogOptions {
        rate: 3_000.0,
        lead_ms: 1_000,
        pause_ms: 30_000,
        pause_memory: Some(level),
        drain_budget_ms: 20_000,
        tail_ms: 500,
        ..Default::default()
    };
    let (report, v) = backlog_report(&cluster, &opts).await;
    let fig = &v["backlog"];
    assert_eq!(fig["resumed_by"], "memory", "{fig}");
    let paused = fig["resumed_at"].as_f64().unwrap() - fig["stopped_at"].as_f64().unwrap();
    assert!((1.0..25.0).contains(&paused), "paused {paused} s: {fig}");
    let highest = fig["used_memory_peak"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(highest >= level, "a master reached {level}: {fig}");
    // The backlog is what 3,000 msg/s built while paused, give or take a sample.
    let peak = fig["peak_messages"].as_u64().unwrap();
    assert!(
        peak as f64 >= 3_000.0 * (paused - 0.5),
        "peak {peak}: {fig}"
    );
    assert!(fig["catch_up_seconds"].as_f64().is_some(), "{fig}");
    assert!(report.verdict.is_ok(), "{}", report.verdict);
    assert_eq!(report.counts.acked, report.counts.produced);
}

/// The backlog scenario's report against `cluster`, and its JSON.
async fn backlog_report(
    cluster: &redis_cluster_stress::LocalCluster,
    opts: &redis_cluster_stress::scenario::backlog::BacklogOptions,
) -> (
    redis_cluster_stress::scenario::ScenarioReport,
    serde_json::Value,
) {
    let live = std::sync::Arc::new(redis_cluster_stress::Live::default());
    let report = redis_cluster_stress::scenario::backlog::run(cluster.endpoint(), opts, live)
        .await
        .unwrap();
    let v = support::schema::valid_scenario_json(&report);
    (report, v)
}

/// One consumer reading one message per call cannot keep up with 8,000 msg/s (it manages about
/// 6,000 on this VM): after the pause the backlog never drains, and the scenario ends by itself
/// when its drain budget is spent, saying so, with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_that_never_drains_ends_by_itself_with_a_finding() {
    use redis_cluster_stress::scenario::backlog::BacklogOptions;
    let cluster = support::cluster(3, 0).await;
    let opts = BacklogOptions {
        rate: 8_000.0,
        lead_ms: 1_000,
        pause_ms: 2_000,
        drain_budget_ms: 4_000,
        tail_ms: 500,
        workload: Workload {
            consumers: 1,
            batch: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let started = Instant::now();
    let (report, v) = backlog_report(&cluster, &opts).await;
    let fig = &v["backlog"];
    assert!(fig["catch_up_seconds"].is_null(), "{fig}");
    assert!(fig["drain_ratio"].as_f64().unwrap() < 1.0, "{fig}");
    let findings = report.findings();
    assert!(
        findings.iter().any(|f| f.contains("never caught up")),
        "{findings:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it stopped itself: {:?}",
        started.elapsed()
    );
    assert_eq!(report.counts.lost, 0, "what was not read is still stored");
    assert!(report.verdict.is_ok(), "{}", report.verdict);
}

/// The backlog scenario with a checkpoint every 500 ms: while the consumers are stopped, the
/// JSON file is already there, valid, "running", with the backlog samples so far.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_writes_a_valid_checkpoint_mid_run() {
    use redis_cluster_stress::scenario::backlog::BacklogOptions;
    let cluster = support::cluster(3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("backlog.json");
    let opts = BacklogOptions {
        rate: 2_000.0,
        lead_ms: 1_000,
        pause_ms: 3_000,
        drain_budget_ms: 20_000,
        tail_ms: 500,
        checkpoint: Some((json.clone(), Duration::from_millis(500))),
        ..Default::default()
    };
    let run = tokio::spawn({
        let (ep, opts) = (cluster.endpoint().clone(), opts.clone());
        async move {
            let live = std::sync::Arc::new(redis_cluster_stress::Live::default());
            redis_cluster_stress::scenario::backlog::run(&ep, &opts, live).await
        }
    });
    let mut mid = None;
    for _ in 0..200 {
        if run.is_finished() || mid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(text) = std::fs::read_to_string(&json) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("checkpoint is not valid JSON ({e}): {text}"));
        if v["backlog"]["stopped_at"].as_f64() > Some(0.0) {
            mid = Some(v);
        }
    }
    let report = run.await.unwrap().unwrap();
    let mid = mid.expect("a checkpoint written after the consumers stopped");
    assert_eq!(mid["status"], "running");
    assert_eq!(mid["command"], "scenario backlog");
    assert!(
        !mid["backlog_samples"].as_array().unwrap().is_empty(),
        "{mid}"
    );
    assert!(!mid["memory"].as_array().unwrap().is_empty(), "{mid}");
    assert!(report.verdict.is_ok(), "{}", report.verdict);
}
