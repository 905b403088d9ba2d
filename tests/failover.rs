//! The seed's second experiment, "removing the master node during continuous delivery", as tests:
//! masters are killed while producers and consumers run, and the client rides through.
//!
//! Its own test binary: these clusters are slow (node-timeout, elections) and should not slow the
//! rest. Node-timeout is 1 s here so that the whole file takes well under two minutes.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_cluster_stress::scenario::failover::{self, FailoverOptions, Fault};
use redis_cluster_stress::scenario::ScenarioReport;
use redis_cluster_stress::{Live, Workload};
use serde_json::Value;

const NODE_TIMEOUT_MS: u64 = 1_000;

/// 3 masters + 3 replicas, 1 s node-timeout, an open-loop load of 1,000 msg/s.
fn options(fault: Fault, kills: Option<usize>) -> FailoverOptions {
    let base = FailoverOptions::default();
    FailoverOptions {
        masters: 3,
        replicas_per_master: 1,
        node_timeout_ms: NODE_TIMEOUT_MS,
        kills,
        fault,
        settle_ms: 1_500,
        workload: Workload {
            rate: Some(1_000.0),
            messages: 200_000,
            deadline_ms: 100_000,
            quiet_ms: 2_000,
            ..base.workload
        },
        ..base
    }
}

/// Runs the scenario with a bound on the whole of it; pids of our nodes must all be gone after.
async fn run(opts: FailoverOptions, bound: Duration) -> (ScenarioReport, Value, f64) {
    let began = Instant::now();
    let report = tokio::time::timeout(bound, failover::run(&opts, Arc::new(Live::default())))
        .await
        .unwrap_or_else(|_| panic!("the failover scenario hung past {bound:?}"))
        .unwrap_or_else(|e| panic!("failover scenario failed: {e}"));
    let json = support::schema::valid_scenario_json(&report);
    eprintln!("{}", serde_json::to_string_pretty(&json["kills"]).unwrap());
    eprintln!(
        "verdict: {} | counts: {} | errors: {} | events: {}",
        report.verdict, json["counts"], json["errors"], json["events"]
    );
    (report, json, began.elapsed().as_secs_f64())
}

/// The checker's books balance: every attempt is produced, failed or indeterminate; every
/// produced message was delivered, is lost, or is still stored undelivered.
fn assert_accounting(r: &ScenarioReport) {
    let c = &r.counts;
    assert!(c.attempted > 0 && c.produced > 0 && c.acked > 0, "{c:?}");
    assert_eq!(
        c.attempted,
        c.produced + c.produce_failed + c.produce_indeterminate,
        "{c:?}"
    );
    assert!(
        c.delivered - c.indeterminate_delivered <= c.produced,
        "{c:?}"
    );
    assert!(c.lost + c.unverifiable <= c.never_delivered, "{c:?}");
    assert!(c.acked <= c.delivered, "{c:?}");
    assert_eq!(c.unexpected, 0, "{c:?}");
}

/// Seed step 5: kill one master (:7000) under load. A replica (:7004) is promoted after about
/// node-timeout; operations on its shard fail for a bounded window and the client rides through it
/// instead of dying; the run completes with full counts (writes lost to asynchronous replication,
/// if any, are counted, not assumed away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_master_promotes_its_replica_and_the_client_rides_through() {
    let (r, json, secs) = run(options(Fault::Kill, Some(1)), Duration::from_secs(90)).await;
    let kills = json["kills"].as_array().unwrap();
    assert_eq!(kills.len(), 1);
    let k = &kills[0];
    assert_eq!(k["outcome"], "promoted", "{k}");
    assert_ne!(k["promoted"], k["node"]);
    let promoted_after = k["promoted_after_s"].as_f64().unwrap();
    let nt = NODE_TIMEOUT_MS as f64 / 1000.0;
    assert!(
        promoted_after >= nt && promoted_after < 6.0 * nt + 10.0,
        "{k}"
    );
    let window = k["shard_window_s"].as_f64().unwrap();
    assert!(window > 0.0 && window < promoted_after + 10.0, "{k}");
    let errors: u64 = k["errors"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(errors > 0, "the client saw the failover as errors: {k}");
    // Its shard's messages wait for the promotion (≥ node-timeout): the window shows as latency.
    assert!(
        k["shard_p99_us"].as_u64().unwrap() >= NODE_TIMEOUT_MS * 1_000 / 2,
        "{k}"
    );
    assert!(
        k["shard_max_us"].as_u64().unwrap() >= k["shard_p99_us"].as_u64().unwrap(),
        "{k}"
    );
    assert_eq!(json["final_cluster_state"], "ok");
    assert_accounting(&r);
    let c = &r.counts;
    assert_eq!(
        c.acked + c.lost + c.pending_at_end,
        c.produced,
        "after the drain every produced message is acked, lost, or pending: {c:?}"
    );
    let labels: Vec<&str> = r.events.iter().map(|e| e.label.as_str()).collect();
    assert!(
        labels.iter().any(|l| l.starts_with("kill master :")),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.starts_with("promoted :")),
        "{labels:?}"
    );
    eprintln!("test took {secs:.1} s");
}

/// Seed steps 5–8: kill :7000, :7001, :7002 (each time a replica takes over), then :7003, the
/// promoted replica that has no replica of its own. This time the cluster stays down; the scenario
/// sees `cluster_state:fail` on every survivor, stops the load by itself and says so, where the
/// seed's client died and could not reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_masters_until_one_has_no_replica_leaves_the_cluster_down_and_the_run_stops() {
    let opts = options(Fault::Kill, None);
    let (r, json, secs) = run(opts, Duration::from_secs(100)).await;
    let kills = json["kills"].as_array().unwrap();
    let outcomes: Vec<&str> = kills
        .iter()
        .map(|k| k["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["promoted", "promoted", "promoted", "cluster down"],
        "the seed's sequence: three failovers, then a master with no replica"
    );
    let promoted: Vec<&Value> = kills[..3].iter().map(|k| &k["promoted"]).collect();
    assert_eq!(
        kills[3]["node"], *promoted[0],
        "the fourth kill hits a promoted replica, as :7003 in the seed"
    );
    assert!(kills[3]["promoted"].is_null());
    assert_eq!(json["final_cluster_state"], "fail");
    let outcome = r
        .outcome
        .as_ref()
        .expect("the failover scenario says its outcome");
    assert!(
        !outcome.ok
            && outcome
                .text
                .starts_with("down at the end (final cluster_state fail)"),
        "{}",
        outcome.text
    );
    assert_eq!(
        r.verdict,
        r.counts.verdict(),
        "the verdict is the checker's, whatever the cluster's state"
    );
    assert_eq!(json["ended_by"], "stopped");
    for k in &kills[..3] {
        assert!(k["shard_window_s"].as_f64().unwrap() > 0.0, "{k}");
    }
    assert!(r.errors.contains_key("CLUSTERDOWN"), "{:?}", r.errors);
    assert_accounting(&r);
    // Bounded: 4 kills × (detection + election) + settling + the down bound, nowhere near the
    // workload's own 100 s deadline.
    assert!(secs < 60.0, "took {secs:.1} s");
    eprintln!("test took {secs:.1} s");
}

/// The control: CLUSTER FAILOVER on each master's replica in turn. The replica catches up before
/// it takes over, so nothing Redis acknowledged may be lost, and every message is acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failover_of_every_master_loses_nothing() {
    let (r, json, secs) = run(
        options(Fault::ManualFailover, None),
        Duration::from_secs(90),
    )
    .await;
    let kills = json["kills"].as_array().unwrap();
    assert_eq!(kills.len(), 3, "one per original master");
    for k in kills {
        assert_eq!(k["outcome"], "promoted", "{k}");
        assert!(
            k["marked_fail_after_s"].is_null(),
            "no node was ever FAIL: {k}"
        );
    }
    assert_eq!(json["final_cluster_state"], "ok");
    assert_accounting(&r);
    let c = &r.counts;
    assert_eq!((c.lost, c.duplicated), (0, 0), "{c:?}");
    assert_eq!(c.acked, c.produced, "{c:?}");
    assert!(r.verdict.is_ok());
    eprintln!("test took {secs:.1} s");
}

/// `--restart`: the killed master comes back once its replica has taken over, and rejoins as a
/// replica of the node that replaced it (its old slots stay with the new master).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_rejoins_as_a_replica_of_its_successor() {
    let opts = FailoverOptions {
        restart: true,
        ..options(Fault::Kill, Some(1))
    };
    let (r, json, _) = run(opts, Duration::from_secs(90)).await;
    let k = &json["kills"][0];
    assert_eq!(k["outcome"], "promoted", "{k}");
    let rejoin = &k["restarted"];
    assert!(rejoin["rejoined_after_s"].as_f64().is_some(), "{k}");
    assert_eq!(
        rejoin["role"],
        format!("replica of {}", k["promoted"].as_str().unwrap()),
        "{k}"
    );
    assert_eq!(json["final_cluster_state"], "ok");
    assert_accounting(&r);
}

/// SIGSTOP shorter than node-timeout: nobody marks the master failing, no replica is promoted;
/// its clients only wait (the pause shows as latency), and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_shorter_than_node_timeout_is_a_stall_not_a_failover() {
    let pause_ms = NODE_TIMEOUT_MS / 2;
    let (r, json, _) = run(
        options(Fault::Pause { ms: pause_ms }, Some(1)),
        Duration::from_secs(60),
    )
    .await;
    let k = &json["kills"][0];
    assert_eq!(k["outcome"], "no failover", "{k}");
    assert!(
        k["promoted"].is_null() && k["marked_fail_after_s"].is_null(),
        "{k}"
    );
    // A batch scheduled early in the pause waits for all but a few ms of it.
    assert!(
        r.latency_us.max >= pause_ms * 1_000 * 4 / 5,
        "the stall shows in the latency: {:?}",
        r.latency_us
    );
    assert!(
        k["shard_max_us"].as_u64().unwrap() >= pause_ms * 1_000 * 4 / 5,
        "the stopped master's shard shows it: {k}"
    );
    assert_accounting(&r);
    assert_eq!((r.counts.lost, r.counts.acked), (0, r.counts.produced));
}
