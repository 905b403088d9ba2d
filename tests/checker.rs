//! The delivery checker, proven against a real cluster: entries removed or added behind the
//! workload's back must show up as exactly that many lost or unexpected, and the ledger's view
//! must be cross-checked against what Redis itself says (XLEN, XPENDING).

mod support;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use redis::Value;
use redis_cluster_stress::stream::Shards;
use redis_cluster_stress::workload::ClaimerOptions;
use redis_cluster_stress::{run, Live, Workload};
use support::wait_for;

/// 2,000 messages are produced with no consumer; the test then XDELs 7 known entries behind the
/// workload's back. Nothing was delivered, everything else is still stored: the checker must
/// call exactly those 7 lost, and the cross-check must see XLEN short by 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_entries_deleted_behind_its_back_are_exactly_seven_lost() {
    const K: usize = 7;
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 2_000,
        consumers: 0,
        // A claimer keeps the run going until it is quiet (no consumer: "producers done" would
        // end it at once); its idle threshold is never reached.
        claimer: Some(ClaimerOptions {
            min_idle_ms: 3_600_000,
            interval_ms: 100,
        }),
        quiet_ms: 4_000,
        ..Default::default()
    };
    let shards = Shards::plan(cluster.endpoint(), &wl.stream, &wl.group, 3)
        .await
        .unwrap();
    let (live, load) = support::spawn_run(&cluster, &wl);
    wait_for("all 2,000 produced", 30, || {
        live.produced.load(Relaxed) == 2_000
    })
    .await;
    assert!(!load.is_finished(), "the run must still be going");
    let mut conn = support::connection(&cluster).await;
    let entries: Value = redis::cmd("XRANGE")
        .arg(&shards.keys[1])
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(K)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ids: Vec<String> = redis_cluster_stress::stream::parse_entries(&entries)
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(ids.len(), K);
    let deleted: usize = redis::cmd("XDEL")
        .arg(&shards.keys[1])
        .arg(&ids)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted, K);
    assert!(
        !load.is_finished(),
        "the deletes must land before the run ends"
    );

    let r = load.await.unwrap().unwrap();
    assert_eq!(
        r.shard_keys, shards.keys,
        "the test deleted from the run's own keys"
    );
    assert_eq!(r.counts.produced, 2_000);
    assert_eq!(r.counts.delivered, 0);
    assert_eq!(r.counts.lost, K as u64, "{r:#?}");
    assert_eq!(r.counts.unexpected, 0);
    assert_eq!(r.verdict.to_string(), format!("{K} lost"));
    assert_eq!(r.redis_xlen, Some(2_000 - K as u64));
    support::assert_mentions(&r.disagreements, &format!("XLEN says {}", 2_000 - K));
}

/// While 3,000 messages flow at 1,500/s, the test writes one entry of its own into a shard. The
/// consumers read it with the rest: the checker reports exactly 1 unexpected and nothing lost,
/// and the cross-check sees one entry more in XLEN than the ledger sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_foreign_entry_is_exactly_one_unexpected() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 3_000,
        rate: Some(1_500.0),
        batch: 20,
        ..Default::default()
    };
    let shards = Shards::plan(cluster.endpoint(), &wl.stream, &wl.group, 3)
        .await
        .unwrap();
    let (live, load) = support::spawn_run(&cluster, &wl);
    wait_for("the first 300 produced", 30, || {
        live.produced.load(Relaxed) >= 300
    })
    .await;
    let mut conn = support::connection(&cluster).await;
    let _: String = redis::cmd("XADD")
        .arg(&shards.keys[0])
        .arg("*")
        .arg("note")
        .arg("not from this run")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        live.produced.load(Relaxed) < 3_000,
        "the foreign entry must be written while the run produces"
    );

    let r = load.await.unwrap().unwrap();
    let c = &r.counts;
    assert_eq!(c.unexpected, 1, "{r:#?}");
    assert_eq!(
        (c.produced, c.acked, c.lost, c.duplicated),
        (3_000, 3_000, 0, 0)
    );
    assert_eq!(r.verdict, "1 unexpected");
    assert_eq!(c.pending_at_end, 0, "the foreign entry was acked too");
    assert_eq!(r.redis_xlen, Some(3_001));
    assert!(
        r.disagreements
            .iter()
            .any(|d| d.contains("1 entries written by someone else")),
        "{:?}",
        r.disagreements
    );
}

/// Control: an undisturbed run agrees with Redis on every count (no disagreement at all), so the
/// two tests above see the deletion and the foreign write, not noise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisturbed_run_agrees_with_redis() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 2_000,
        ..Default::default()
    };
    let r = run(cluster.endpoint(), &wl, Arc::new(Live::default()))
        .await
        .unwrap();
    assert_eq!(r.verdict, "ok");
    assert_eq!(r.redis_xlen, Some(2_000));
    assert_eq!(r.counts.pending_at_end, 0);
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
}
