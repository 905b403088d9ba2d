//! The memory-pressure sampler: INFO memory of every master and the state of every stream key,
//! read through the run and once more at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::{KeyWatch, MasterMemory, MemorySample};
use crate::cluster::topology::parse_info_fields;
use crate::cluster::ClusterConnection;
use crate::metrics::finite;
use crate::stream::Shards;
use crate::workload::Live;
use crate::Endpoint;

#[derive(Default)]
pub(super) struct Watched {
    pub masters: Vec<MasterMemory>,
    pub keys: Vec<KeyWatch>,
}

/// Reads INFO memory/stats of every master and the state of every key each `every`, from the
/// load's start until `done` (or `bound`, whichever first). Readings that fail are skipped: a
/// sampler must never stop the experiment.
pub(super) async fn sample(
    ep: &Endpoint,
    shards: &Shards,
    live: &Live,
    done: &AtomicBool,
    every: Duration,
    bound: Duration,
) -> Watched {
    let until = Instant::now() + bound;
    let (masters, mut conns) = connect_masters(ep).await;
    let mut w = Watched {
        masters,
        keys: watches(shards),
    };
    let mut cluster = ep.cluster_connection(Duration::from_secs(2)).await.ok();
    // Wait (bounded) for the load to start: samples are timed from its start.
    while live.started.get().is_none() && !done.load(Relaxed) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        let t = finite(live.secs());
        sample_memory(&mut conns, &mut w.masters, t).await;
        if let Some(c) = cluster.as_mut() {
            watch_keys(c, &mut w.keys, &shards.group, t).await;
        }
        if done.load(Relaxed) || Instant::now() >= until {
            return w;
        }
        tokio::time::sleep(every).await;
    }
}

/// One watch per shard key, nothing seen yet.
fn watches(shards: &Shards) -> Vec<KeyWatch> {
    shards
        .keys
        .iter()
        .map(|k| KeyWatch {
            key: k.clone(),
            ..Default::default()
        })
        .collect()
}

/// A connection to every master serving slots (the ones that answer), and its memory record
/// with its `maxmemory`; the two lists are in the same order.
async fn connect_masters(ep: &Endpoint) -> (Vec<MasterMemory>, Vec<MultiplexedConnection>) {
    let (mut masters, mut conns) = (Vec::new(), Vec::new());
    let Ok(topo) = ep.topology().await else {
        return (masters, conns);
    };
    for n in topo.iter().filter(|n| n.is_master() && !n.slots.is_empty()) {
        let Some(port) = n.port() else { continue };
        let host = n
            .addr
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or("127.0.0.1");
        if let Ok(c) = ep.node_connection(host, port).await {
            let maxmemory = config_bytes(&mut c.clone(), "maxmemory").await;
            masters.push(MasterMemory {
                node: format!("{host}:{port}"),
                maxmemory,
                samples: Vec::new(),
            });
            conns.push(c);
        }
    }
    (masters, conns)
}

/// One INFO memory/stats sample at `t` of every master that answers.
async fn sample_memory(conns: &mut [MultiplexedConnection], masters: &mut [MasterMemory], t: f64) {
    for (conn, master) in conns.iter_mut().zip(masters.iter_mut()) {
        let text: redis::RedisResult<String> = redis::cmd("INFO")
            .arg("memory")
            .arg("stats")
            .query_async(conn)
            .await;
        if let Ok(text) = text {
            let f = parse_info_fields(&text);
            let num = |k: &str| f.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            master.samples.push(MemorySample {
                t,
                used_memory: num("used_memory"),
                evicted_keys: num("evicted_keys"),
            });
        }
    }
}

/// Notes, at `t`, the first time each key (or its group) is seen missing.
async fn watch_keys(c: &mut ClusterConnection, keys: &mut [KeyWatch], group: &str, t: f64) {
    for k in keys.iter_mut() {
        if let Some((exists, has_group, _)) = key_state(c, &k.key, group).await {
            if !exists && k.first_missing_at.is_none() {
                k.first_missing_at = Some(t);
            }
            if !has_group && k.group_first_missing_at.is_none() {
                k.group_first_missing_at = Some(t);
            }
        }
    }
}

/// (exists, has our group, XLEN) of one key; `None` if Redis did not answer.
async fn key_state(c: &mut ClusterConnection, key: &str, group: &str) -> Option<(bool, bool, u64)> {
    let exists: bool = redis::cmd("EXISTS").arg(key).query_async(c).await.ok()?;
    if !exists {
        return Some((false, false, 0));
    }
    let groups: redis::RedisResult<Vec<BTreeMap<String, redis::Value>>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query_async(c)
        .await;
    let has_group = groups.ok()?.iter().any(
        |g| matches!(g.get("name"), Some(redis::Value::BulkString(b)) if b == group.as_bytes()),
    );
    let len: u64 = redis::cmd("XLEN").arg(key).query_async(c).await.ok()?;
    Some((true, has_group, len))
}

pub(super) async fn final_key_state(
    ep: &Endpoint,
    shards: &Shards,
    mut keys: Vec<KeyWatch>,
) -> Vec<KeyWatch> {
    if keys.is_empty() {
        keys = watches(shards);
    }
    if let Ok(mut c) = ep.cluster_connection(Duration::from_secs(2)).await {
        for k in keys.iter_mut() {
            if let Some((exists, group, len)) = key_state(&mut c, &k.key, &shards.group).await {
                k.exists_at_end = exists;
                k.group_at_end = group;
                k.xlen_at_end = len;
            }
        }
    }
    keys
}

/// `CONFIG GET name` as bytes (0 if unknown).
async fn config_bytes(conn: &mut MultiplexedConnection, name: &str) -> u64 {
    let v: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await;
    v.ok()
        .and_then(|kv| kv.get(1).and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}
