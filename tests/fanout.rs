//! Fan-out against a real cluster: several consumer groups on one stream, each reading every
//! message and each checked on its own; one group held back leaves its messages never delivered
//! (in the stream, not lost) while the others complete; a bad `--groups` is one clear error.

mod support;
use support::cli;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use redis::Value;
use redis_cluster_stress::{run, Live, RunResult, Workload};

/// XINFO GROUPS of `key`: (name, pending) of each group, as Redis reports them.
async fn groups_of(cluster: &redis_cluster_stress::LocalCluster, key: &str) -> Vec<(String, i64)> {
    let mut conn = support::connection(cluster).await;
    let v: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let Value::Array(groups) = v else {
        panic!("XINFO GROUPS reply: {v:?}")
    };
    groups
        .into_iter()
        .map(|g| {
            let fields: Vec<(String, Value)> = redis::from_redis_value(g).unwrap();
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).unwrap().1.clone();
            (
                redis::from_redis_value(get("name")).unwrap(),
                redis::from_redis_value(get("pending")).unwrap(),
            )
        })
        .collect()
}

fn fanout(stream: &str, groups: usize) -> Workload {
    Workload {
        messages: 3_000,
        batch: 100,
        consumers: 2,
        groups,
        stream: stream.into(),
        quiet_ms: 1_500,
        deadline_ms: 60_000,
        ..Default::default()
    }
}

/// The counts of every group: the first (`counts`) and the others (`groups`).
fn every_group(r: &RunResult) -> Vec<&redis_cluster_stress::check::Counts> {
    std::iter::once(&r.counts)
        .chain(r.groups.iter().map(|g| &g.counts))
        .collect()
}

/// Three groups: each delivers and acks every produced message once, the run ends "all acked",
/// and Redis itself shows the three groups on every shard with nothing pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_groups_each_ack_every_message() {
    let cluster = support::cluster(3, 0).await;
    let r = run(
        cluster.endpoint(),
        &fanout("fan-3", 3),
        Arc::new(Live::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.verdict, "ok", "{:?}", r.notes);
    assert_eq!(r.ended_by, "all acked");
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.counts.produced, 3_000);
    for c in every_group(&r) {
        assert_eq!((c.delivered, c.acked), (3_000, 3_000), "{c:?}");
        assert_eq!(
            (c.never_delivered, c.lost, c.duplicated),
            (0, 0, 0),
            "{c:?}"
        );
    }
    let names: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, ["rcstress-group-2", "rcstress-group-3"]);
    assert!(r
        .groups
        .iter()
        .all(|g| g.ledger_bytes > 0 && g.verdict.is_ok()));
    for key in &r.shard_keys {
        let mut seen = groups_of(&cluster, key).await;
        seen.sort();
        let want = [
            ("rcstress-group".to_string(), 0),
            ("rcstress-group-2".to_string(), 0),
            ("rcstress-group-3".to_string(), 0),
        ];
        assert_eq!(seen, want, "{key}");
    }
}

/// The second of three groups held from the start: it gets nothing, and its messages are all in
/// the stream, so they count as never delivered (a finding for that group), not lost; the other
/// two groups complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_group_gets_nothing_while_the_others_complete() {
    let cluster = support::cluster(3, 0).await;
    let live = Arc::new(Live::default());
    live.pause_groups.store(1 << 1, Relaxed);
    let r = run(cluster.endpoint(), &fanout("fan-held", 3), live)
        .await
        .unwrap();
    assert_eq!(r.ended_by, "quiet");
    assert_eq!(r.verdict, "ok", "nothing lost: {:?}", r.notes);
    let (first, held, third) = (&r.counts, &r.groups[0].counts, &r.groups[1].counts);
    assert_eq!((first.acked, third.acked), (3_000, 3_000));
    assert_eq!((held.delivered, held.acked), (0, 0));
    assert_eq!((held.never_delivered, held.lost), (3_000, 0));
    support::assert_mentions(
        &r.notes,
        "group rcstress-group-2: 3000 produced message(s) not acked",
    );
}

/// `--trim acked` with a lagging group: the second group is held once the first has acked a
/// quarter of the run, so the stream is trimmed behind the first group for a while and then
/// must stop at the held group's position. Trimming did remove entries, and still every message
/// the held group never got is in the stream at the end (never delivered, none lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_waits_for_a_lagging_group() {
    let cluster = support::cluster(3, 0).await;
    let wl = Workload {
        messages: 8_000,
        rate: Some(2_000.0),
        trim: redis_cluster_stress::trim::Trim::Acked,
        ..fanout("fan-trim", 2)
    };
    let (live, handle) = support::spawn_run(&cluster, &wl);
    support::wait_for("a quarter acked", 30, || live.acked.load(Relaxed) >= 2_000).await;
    live.pause_groups.store(1 << 1, Relaxed);
    let r = handle.await.unwrap().unwrap();
    assert_eq!(r.verdict, "ok", "{:?} {:?}", r.notes, r.disagreements);
    assert_eq!(r.counts.acked, 8_000);
    let held = &r.groups[0].counts;
    assert!(
        held.delivered >= 1_000 && held.never_delivered >= 1_000,
        "the held group read part of the run: {held:?}"
    );
    assert_eq!(held.lost, 0, "{held:?}");
    assert!(
        r.trimmed_entries.unwrap_or(0) > 0,
        "{:?}",
        r.trimmed_entries
    );
}

/// `--groups` out of range or not a number: one line on stderr, exit 2, before any connection.
#[test]
fn a_bad_groups_value_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "65", "x"] {
        let out = cli::rcstress(dir.path(), &["run", "--groups", bad]);
        cli::assert_fails(&out, 2, &["--groups"]);
    }
}
