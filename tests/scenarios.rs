//! The seed's experiments, each on a small, fast configuration of a real local cluster: what the
//! seed saw by reading logs must come out as numbers in the report.

mod support;

use std::sync::Arc;

use redis_cluster_stress::report::{html::scenario_page, ScenarioDocument};
use redis_cluster_stress::scenario::aof::{self, Mode};
use redis_cluster_stress::scenario::{crash, memory, ScenarioReport};
use redis_cluster_stress::{Aof, Fsync, Live, LocalClusterOptions, Workload};

fn small_cluster(maxmemory_policy: Option<&str>) -> LocalClusterOptions {
    LocalClusterOptions {
        masters: 3,
        replicas_per_master: 0,
        maxmemory_policy: maxmemory_policy.map(str::to_string),
        ..Default::default()
    }
}

/// The report must serialize to valid JSON with the contract's fields, fit its JSON Schema, and
/// render as a page.
fn json_and_page(r: &ScenarioReport) -> serde_json::Value {
    let v = support::schema::valid_scenario_json(r);
    assert!(!v.to_string().contains("NaN"));
    for field in [
        "scenario",
        "config",
        "verdict",
        "counts",
        "errors",
        "latency_us",
    ] {
        assert!(v.get(field).is_some(), "JSON lacks {field}");
    }
    let page = scenario_page(&ScenarioDocument::new(r));
    let verdict = v["verdict"].as_str().unwrap();
    assert!(page.contains("<svg") && page.contains(&format!("(verdict: {verdict})")));
    v
}

/// A field of the report's JSON (the scenario's own fields are flattened into it).
fn detail(r: &ScenarioReport, key: &str) -> serde_json::Value {
    let v = serde_json::to_value(r).unwrap();
    v.get(key)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The seed's run: 3 MB per master, allkeys-lru, producer and claimer, no consumer. The stream is
/// evicted with its consumer group, so the claimer gets NOGROUP partway (the seed's "AutoClaim
/// errors"); the producer keeps going to the end; what Redis acknowledged and then evicted is
/// counted lost; used_memory was sampled and never went far over the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pressure_allkeys_lru_evicts_the_stream_and_its_group() {
    let opts = memory::MemoryOptions {
        cluster: small_cluster(Some("allkeys-lru")),
        messages: 40_000,
        batch: 20,
        inflight: 2,
        autoclaim_idle_ms: 200,
        ..Default::default()
    };
    let r = memory::run(&opts, Arc::new(Live::default())).await.unwrap();
    assert_eq!(
        r.counts.attempted, 40_000,
        "the client never stopped: {r:#?}"
    );
    assert_eq!(detail(&r, "stream_evicted"), true);
    assert_eq!(detail(&r, "group_evicted"), true);
    assert!(
        r.errors.get("NOGROUP").copied().unwrap_or(0) > 0,
        "{:?}",
        r.errors
    );
    let first = detail(&r, "first_errors")["NOGROUP"].clone();
    let at = first["attempted"].as_u64().unwrap();
    assert!(at > 0 && at < 40_000, "first NOGROUP after {at} sends");
    assert!(
        r.counts.lost > 0,
        "evicted entries Redis had acknowledged are lost"
    );
    assert!(!r.verdict.is_ok());
    let max = detail(&r, "maxmemory_bytes").as_u64().unwrap();
    assert_eq!(max, 3 * 1024 * 1024);
    let peak = detail(&r, "peak_used_memory").as_u64().unwrap();
    assert!(
        peak > max / 2 && peak < max + max / 5,
        "peak {peak} vs maxmemory {max}"
    );
    let masters = detail(&r, "memory").as_array().unwrap().clone();
    assert_eq!(masters.len(), 3);
    assert!(masters
        .iter()
        .all(|m| m["samples"].as_array().unwrap().len() > 3));
    assert!(r.events.iter().any(|e| e.label == "first NOGROUP"));
    json_and_page(&r);
}

/// The same pressure with noeviction: XADD is refused with OOM once the limit is reached; the
/// report says after how many sends; nothing Redis acknowledged is lost and the group survives;
/// the client keeps trying until its bound on refusals, then stops by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pressure_noeviction_refuses_with_oom_and_loses_nothing() {
    let opts = memory::MemoryOptions {
        cluster: small_cluster(Some("noeviction")),
        messages: 200_000,
        batch: 20,
        inflight: 2,
        refused_for_ms: 1_500,
        ..Default::default()
    };
    let r = memory::run(&opts, Arc::new(Live::default())).await.unwrap();
    let oom = detail(&r, "first_errors")["OOM"].clone();
    let at = oom["attempted"].as_u64().unwrap();
    assert!(at > 1_000 && at < 200_000, "first OOM after {at} sends");
    assert!(r.counts.produce_failed > 0);
    assert!(
        r.counts.attempted < 200_000,
        "stopped by the bound on refusals"
    );
    assert_eq!(r.counts.lost, 0, "{r:#?}");
    assert!(r.verdict.is_ok());
    assert_eq!(detail(&r, "stream_evicted"), false);
    assert_eq!(detail(&r, "group_evicted"), false);
    assert!(detail(&r, "ended_by").as_str().unwrap().contains("refused"));
    json_and_page(&r);
}

/// The seed's third experiment with XAUTOCLAIM on: consumers die between read and XACK, the
/// claimer takes their entries over after 300 ms idle: recovered > 0, nothing lost, nothing left
/// pending, every message acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_crash_with_autoclaim_recovers_every_stranded_entry() {
    let cluster = support::cluster(3, 0).await;
    let opts = crash::CrashOptions {
        messages: 4_000,
        crash_probability: 0.1,
        autoclaim: true,
        autoclaim_idle_ms: 300,
        ..Default::default()
    };
    let r = crash::run(cluster.endpoint(), &opts, Arc::new(Live::default()))
        .await
        .unwrap();
    assert!(detail(&r, "consumer_crashes").as_u64().unwrap() > 0);
    assert!(r.counts.recovered > 0, "{r:#?}");
    assert_eq!(
        (r.counts.lost, r.counts.pending_at_end, r.counts.acked),
        (0, 0, 4_000)
    );
    assert!(r.verdict.is_ok());
    json_and_page(&r);
}

/// The same crashes with XAUTOCLAIM off: what the dead consumers read stays pending for good;
/// the report shows it in pending_at_end and a finding says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_crash_without_autoclaim_strands_entries_and_says_so() {
    let cluster = support::cluster(3, 0).await;
    let opts = crash::CrashOptions {
        messages: 3_000,
        crash_probability: 0.1,
        autoclaim: false,
        ..Default::default()
    };
    let r = crash::run(cluster.endpoint(), &opts, Arc::new(Live::default()))
        .await
        .unwrap();
    let c = &r.counts;
    assert!(c.pending_at_end > 0, "{r:#?}");
    assert_eq!(c.recovered, 0);
    assert_eq!(c.pending_at_end, c.produced - c.acked);
    assert_eq!(c.lost, 0, "stranded is not lost: Redis still holds them");
    assert!(
        r.verdict.is_ok(),
        "stranded is a finding beside the verdict"
    );
    let stranded = r
        .findings()
        .iter()
        .find(|f| f.contains("stranded"))
        .expect("a finding on the stranded entries");
    assert!(stranded.contains("XAUTOCLAIM off"), "{stranded}");
    assert_eq!(detail(&r, "stranded").as_u64(), Some(c.pending_at_end));
    json_and_page(&r);
}

/// The seed's fourth experiment, small: AOF off and AOF always, two runs each on fresh clusters.
/// Every run is reported; each mode has a mean and a standard deviation; the baseline's overhead
/// is 0; AOF files were really written with AOF on and not with it off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aof_compare_reports_runs_means_and_overhead_per_mode() {
    let opts = aof::AofOptions {
        cluster: small_cluster(None),
        modes: vec![Mode(Aof::Off), Mode(Aof::On(Fsync::Always))],
        repeat: 2,
        workload: Workload {
            messages: 3_000,
            ..Default::default()
        },
    };
    let r = aof::run(&opts, Arc::new(Live::default())).await.unwrap();
    assert!(r.verdict.is_ok(), "{r:#?}");
    let runs = detail(&r, "runs").as_array().unwrap().clone();
    assert_eq!(runs.len(), 4);
    for run in runs {
        let bytes = run["aof_bytes"].as_u64().unwrap();
        match run["mode"].as_str().unwrap() {
            "off" => assert_eq!(bytes, 0, "AOF off wrote an AOF"),
            _ => assert!(bytes > 3_000 * 64, "AOF always wrote only {bytes} bytes"),
        }
        assert!(run["elapsed_seconds"].as_f64().unwrap() > 0.0);
    }
    let modes = detail(&r, "modes").as_array().unwrap().clone();
    assert_eq!(modes.len(), 2);
    assert_eq!(modes[0]["mode"], "off");
    assert_eq!(modes[0]["overhead_pct"].as_f64(), Some(0.0));
    for m in &modes {
        assert_eq!(m["runs"], 2);
        assert!(m["mean_seconds"].as_f64().unwrap() > 0.0);
        assert!(m["stddev_seconds"].as_f64().unwrap() >= 0.0);
        assert!(m["ci95_seconds"].as_f64().unwrap() >= 0.0);
        // Latency merged by adding histograms: it holds every acked message of the mode's runs.
        assert_eq!(m["latency_us"]["count"], 2 * 3_000);
    }
    assert_eq!(
        modes[0]["within_noise"], false,
        "the baseline is not compared to itself"
    );
    let always = r
        .findings()
        .iter()
        .find(|f| f.starts_with("AOF always"))
        .unwrap();
    assert!(
        always.contains("% ±"),
        "each difference with its interval: {always}"
    );
    assert_eq!(
        r.latency_us.count,
        2 * 3_000,
        "the baseline mode's, not pooled"
    );
    assert_eq!(r.counts.acked, 4 * 3_000);
    json_and_page(&r);
    assert!(scenario_page(&ScenarioDocument::new(&r)).contains("per persistence mode"));
}

/// The command line end to end: `rcstress scenario consumer-crash` on its own embedded cluster
/// writes valid JSON and a self-contained HTML page, and prints its findings.
#[test]
fn scenario_command_writes_json_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("r.json"), dir.path().join("r.html"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcstress"))
        .args([
            "scenario",
            "consumer-crash",
            "--messages",
            "2000",
            "--masters",
            "3",
            "--replicas",
            "0",
            "--autoclaim-idle",
            "300",
            "--json",
        ])
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .env_remove("REDIS_CLUSTER_NODES")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recovered"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["scenario"], "consumer-crash");
    assert_eq!(v["command"], "scenario");
    assert_eq!(v["counts"]["lost"], 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("consumer-crash"));
    assert!(!page.contains("<script"));
}
