//! A partition around one master, watched from the client's side of it: the cut, what the cut
//! master and its replica say every 50 ms, the heal, and the old master's demotion. The
//! durability and failover scenarios both strike with it.
//!
//! What a reader needs from a partition is when the loss window opened and closed: the cut master
//! keeps acknowledging writes (its clients still reach it) until it notices it lost the majority
//! and answers CLUSTERDOWN, and everything it took after the cut is discarded when it learns,
//! after the heal, that its replica was promoted.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use schemars::JsonSchema;
use serde::Serialize;

use crate::cluster::partition::Shape;
use crate::cluster::topology::{parse_info_fields, ClusterInfo};
use crate::cluster::{LocalCluster, NodeRole};
use crate::metrics::finite;
use crate::Result;

/// How often the cut master and its replica are asked.
const POLL: Duration = Duration::from_millis(50);
/// Bound on one question to a node: the client side reaches both at once.
const QUERY: Duration = Duration::from_secs(1);

/// When a partition's loss window opened and closed, as the nodes said it (seconds after the cut
/// unless named otherwise; `None` where it did not happen within the watch).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CutTimeline {
    pub shape: Shape,
    /// The cut master, `host:port`.
    pub master: String,
    /// Its replica on the other side, `host:port` (none without replicas).
    pub replica: Option<String>,
    /// Seconds since the load started.
    pub cut_at_s: f64,
    pub healed_at_s: f64,
    pub node_timeout_ms: u64,
    /// The last poll at which the cut master had executed a new XADD (INFO commandstats): it
    /// acknowledged writes until about then.
    pub last_write_accepted_after_s: Option<f64>,
    /// The first poll at which it said `cluster_state:fail` (from then on it refuses with
    /// CLUSTERDOWN).
    pub refusing_after_s: Option<f64>,
    /// The first poll at which its replica said it is a master.
    pub replica_promoted_after_s: Option<f64>,
    /// Seconds from the heal until the old master said it is a replica.
    pub demoted_after_heal_s: Option<f64>,
    /// XADDs the cut master executed after the cut (its commandstats), refused ones not counted.
    pub writes_taken_after_cut: u64,
    /// Per shard key, the highest interval p99 of send → ack over the intervals from the cut to
    /// the heal (µs; intervals with no ack leave a shard out): the cut master's shards wait.
    #[serde(default)]
    pub shard_p99_during_cut_us: std::collections::BTreeMap<String, u64>,
}

impl CutTimeline {
    /// Fills `shard_p99_during_cut_us` from a run's series (its intervals end at `t`).
    pub fn add_shard_latency(&mut self, series: &[crate::metrics::SecondSample], keys: &[String]) {
        for s in series
            .iter()
            .filter(|s| s.t > self.cut_at_s && s.t <= self.healed_at_s + 1.0)
        {
            for (key, shard) in keys.iter().zip(&s.shards) {
                if shard.acked > 0 {
                    let e = self.shard_p99_during_cut_us.entry(key.clone()).or_insert(0);
                    *e = (*e).max(shard.p99_us);
                }
            }
        }
    }
}

impl CutTimeline {
    /// How long the cut master took writes, as a multiple of node-timeout (`None` if it never
    /// stopped within the watch).
    pub fn window_vs_node_timeout(&self) -> Option<f64> {
        let w = self.last_write_accepted_after_s?;
        (self.node_timeout_ms > 0).then(|| finite(w * 1000.0 / self.node_timeout_ms as f64))
    }
}

impl CutTimeline {
    /// The partition in one sentence: the window, the promotion, the demotion, and (for a run
    /// that counted them) the acknowledged writes lost against the bound.
    pub fn sentence(&self, lost: Option<u64>, bound: Option<&LossBound>) -> String {
        let at = |s: Option<f64>| s.map_or_else(|| "never".into(), |s| format!("{s:.2} s"));
        let mut out = format!(
            "{} around {} from {:.2} s to {:.2} s: the cut master took writes until {} after the cut",
            self.shape, self.master, self.cut_at_s, self.healed_at_s,
            at(self.last_write_accepted_after_s),
        );
        if let Some(w) = self.window_vs_node_timeout() {
            out.push_str(&format!(
                " ({w:.2}× node-timeout {} ms)",
                self.node_timeout_ms
            ));
        }
        out.push_str(&format!(
            ", refused from {}; its replica promoted at {}; a replica again {} after the heal",
            at(self.refusing_after_s),
            at(self.replica_promoted_after_s),
            at(self.demoted_after_heal_s)
        ));
        if let Some(lost) = lost {
            out.push_str(&format!(
                "; {} acknowledged writes lost",
                crate::units::thousands(lost)
            ));
        }
        if let Some(b) = bound {
            out.push_str(&format!(
                " (bound: {} at {} msg/s × node-timeout, {} × the detection window)",
                crate::units::thousands(b.spec_writes),
                crate::units::thousands(b.shard_rate.round() as u64),
                crate::units::thousands(b.detection_writes)
            ));
        }
        out
    }
}

/// The writes a cut master may acknowledge and lose: its shard's rate over the time Redis takes
/// to notice. The specification's statement is node-timeout; a node marks a peer failing only
/// once a ping to it has gone unanswered for node-timeout, and it sends that ping up to half a
/// node-timeout after the last answer, plus a cron tick (100 ms): so 1.5 × node-timeout + 0.1 s.
#[derive(Clone, Copy, Debug, Serialize, JsonSchema)]
pub struct LossBound {
    /// msg/s sent to the cut master's shards.
    pub shard_rate: f64,
    /// rate × node-timeout: the specification's window.
    pub spec_writes: u64,
    /// rate × (1.5 × node-timeout + 0.1 s): the window failure detection allows.
    pub detection_writes: u64,
}

impl LossBound {
    pub fn new(shard_rate: f64, node_timeout_ms: u64) -> LossBound {
        let nt = node_timeout_ms as f64 / 1000.0;
        LossBound {
            shard_rate: finite(shard_rate),
            spec_writes: (shard_rate * nt).ceil() as u64,
            detection_writes: (shard_rate * (1.5 * nt + 0.1)).ceil() as u64,
        }
    }
}

/// Admin connections to the cut master and its replica, each question bounded.
struct Probe {
    addr: (String, u16),
    conn: Option<MultiplexedConnection>,
}

impl Probe {
    async fn ask(&mut self, cluster: &LocalCluster, args: &[&str]) -> Option<redis::Value> {
        if self.conn.is_none() {
            let c = tokio::time::timeout(
                QUERY,
                cluster
                    .endpoint()
                    .node_connection(&self.addr.0, self.addr.1),
            )
            .await;
            self.conn = c.ok()?.ok();
        }
        let conn = self.conn.as_mut()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        match tokio::time::timeout(QUERY, cmd.query_async::<redis::Value>(conn)).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                self.conn = None;
                None
            }
        }
    }

    async fn text(&mut self, cluster: &LocalCluster, args: &[&str]) -> Option<String> {
        redis::from_redis_value(self.ask(cluster, args).await?).ok()
    }

    /// "master" or "slave", from ROLE.
    async fn role(&mut self, cluster: &LocalCluster) -> Option<String> {
        match self.ask(cluster, &["ROLE"]).await? {
            redis::Value::Array(parts) => redis::from_redis_value(parts.first()?.clone()).ok(),
            _ => None,
        }
    }

    /// XADD calls so far (INFO commandstats), and whether the node says `cluster_state:fail`.
    async fn writes_and_state(&mut self, cluster: &LocalCluster) -> (Option<u64>, Option<bool>) {
        let stats = self.text(cluster, &["INFO", "commandstats"]).await;
        let calls = stats.map(|t| {
            parse_info_fields(&t)
                .get("cmdstat_xadd")
                .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("calls=")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        });
        let state = self
            .text(cluster, &["CLUSTER", "INFO"])
            .await
            .map(|t| ClusterInfo::parse(&t).state == "fail");
        (calls, state)
    }
}

/// Cuts master `target` off in `shape` for `hold`, watching it and its replica, heals, and watches
/// the old master until it says it is a replica (bounded). `since_load` turns instants into the
/// load's seconds.
pub async fn partition_and_watch(
    cluster: &LocalCluster,
    shape: Shape,
    target: usize,
    hold: Duration,
    since_load: impl Fn(Instant) -> f64,
) -> Result<CutTimeline> {
    let ports = cluster.ports();
    let addr = |i: usize| (cluster.host_of_port(ports[i]), ports[i]);
    let replica = (0..ports.len()).find(|&i| cluster.initial_role(i) == NodeRole::Replica(target));
    let mut master = Probe {
        addr: addr(target),
        conn: None,
    };
    let mut rep = replica.map(|i| Probe {
        addr: addr(i),
        conn: None,
    });
    let node_timeout_ms = cluster.options().node_timeout_ms;
    let (calls_before, _) = master.writes_and_state(cluster).await;
    let cut = cluster.partition(shape, target)?;
    let began = Instant::now();
    let after = |i: Instant| finite(i.duration_since(began).as_secs_f64());
    let mut t = CutTimeline {
        shape,
        master: format!("{}:{}", master.addr.0, master.addr.1),
        replica: rep.as_ref().map(|r| format!("{}:{}", r.addr.0, r.addr.1)),
        cut_at_s: since_load(began),
        healed_at_s: 0.0,
        node_timeout_ms,
        last_write_accepted_after_s: None,
        refusing_after_s: None,
        replica_promoted_after_s: None,
        demoted_after_heal_s: None,
        writes_taken_after_cut: 0,
        shard_p99_during_cut_us: Default::default(),
    };
    let mut last_calls = calls_before;
    while began.elapsed() < hold {
        let now = Instant::now();
        let (calls, failing) = master.writes_and_state(cluster).await;
        if let (Some(c), Some(before)) = (calls, last_calls) {
            if c > before && t.refusing_after_s.is_none() {
                t.last_write_accepted_after_s = Some(after(now));
            }
        }
        if let (Some(c), Some(first)) = (calls, calls_before) {
            t.writes_taken_after_cut = c.saturating_sub(first);
        }
        last_calls = calls.or(last_calls);
        if failing == Some(true) && t.refusing_after_s.is_none() {
            t.refusing_after_s = Some(after(now));
        }
        if t.replica_promoted_after_s.is_none() {
            if let Some(r) = rep.as_mut() {
                if r.role(cluster).await.as_deref() == Some("master") {
                    t.replica_promoted_after_s = Some(after(Instant::now()));
                }
            }
        }
        tokio::time::sleep(POLL.saturating_sub(now.elapsed())).await;
    }
    cut.heal()?;
    let healed = Instant::now();
    t.healed_at_s = since_load(healed);
    // Demotion needs the old master to hear of the newer epoch: a gossip round or two.
    let bound = Duration::from_millis(4 * node_timeout_ms + 10_000);
    if t.replica_promoted_after_s.is_some() {
        while healed.elapsed() < bound {
            if master.role(cluster).await.as_deref() == Some("slave") {
                t.demoted_after_heal_s = Some(finite(healed.elapsed().as_secs_f64()));
                break;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_shards_rate_over_the_detection_window() {
        let b = LossBound::new(1000.0, 2000);
        assert_eq!(b.spec_writes, 2000);
        assert_eq!(b.detection_writes, 3100);
    }
}
