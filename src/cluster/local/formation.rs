//! Forming the cluster from Rust (MYID, ADDSLOTSRANGE, SET-CONFIG-EPOCH, MEET, REPLICATE) and the
//! bounded waits until every node agrees it is healthy.

use std::time::{Duration, Instant};

use super::LocalCluster;
use crate::cluster::process::OwnedChild;
use crate::cluster::short;
use crate::cluster::topology::{
    parse_cluster_nodes, parse_info_fields, replica_sync_problem, ClusterInfo,
};
use crate::cluster::NodeRole;
use crate::{Error, Result};

impl LocalCluster {
    async fn admin(&self, port: u16) -> Result<redis::aio::MultiplexedConnection> {
        self.endpoint
            .node_connection(&self.host_of_port(port), port)
            .await
    }

    async fn query<T: redis::FromRedisValue>(&self, port: u16, cmd: &redis::Cmd) -> Result<T> {
        let mut conn = self.admin(port).await?;
        cmd.query_async(&mut conn)
            .await
            .map_err(|e| Error::redis(format!("{} on port {port}", command_name(cmd)), e))
    }

    /// Assigns slots, introduces the nodes, attaches replicas, then waits for health.
    pub(super) async fn form(&self, deadline: Instant) -> Result<()> {
        let masters = self.options.masters;
        let ports: Vec<u16> = self.lock().iter().map(|n| n.port).collect();
        for (i, &port) in ports.iter().enumerate() {
            let id: String = self.query(port, redis::cmd("CLUSTER").arg("MYID")).await?;
            self.lock()[i].id = id;
        }
        for (i, &port) in ports.iter().enumerate().take(masters) {
            let (lo, hi) = slot_range(i, masters);
            let _: () = self
                .query(
                    port,
                    redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(lo).arg(hi),
                )
                .await?;
        }
        for (i, &port) in ports.iter().enumerate() {
            // Distinct epochs up front, as redis-cli does, so nodes need not resolve collisions.
            let _: redis::RedisResult<()> = {
                let mut conn = self.admin(port).await?;
                redis::cmd("CLUSTER")
                    .arg("SET-CONFIG-EPOCH")
                    .arg(i + 1)
                    .query_async(&mut conn)
                    .await
            };
        }
        for &port in ports.iter().skip(1) {
            let _: () = self
                .query(
                    port,
                    redis::cmd("CLUSTER")
                        .arg("MEET")
                        .arg(self.host_of_port(ports[0]))
                        .arg(ports[0]),
                )
                .await?;
        }
        // Every node must know every other before a replica can REPLICATE a master id.
        self.wait_until(
            deadline,
            "every node to know every other (CLUSTER MEET)",
            |nodes_text, _| {
                let entries = parse_cluster_nodes(nodes_text);
                entries.len() == ports.len()
                    && entries
                        .iter()
                        .all(|e| !e.has_flag("handshake") && !e.has_flag("noaddr"))
            },
        )
        .await?;
        let ids: Vec<String> = self.lock().iter().map(|n| n.id.clone()).collect();
        let roles: Vec<NodeRole> = self.lock().iter().map(|n| n.role).collect();
        for (i, role) in roles.iter().enumerate() {
            if let NodeRole::Replica(m) = role {
                let _: () = self
                    .query(
                        ports[i],
                        redis::cmd("CLUSTER").arg("REPLICATE").arg(&ids[*m]),
                    )
                    .await?;
            }
        }
        self.wait_healthy(deadline).await
    }

    /// Waits until every running node says `cluster_state:ok` with all slots, knows every node,
    /// has loaded its data, and every running replica has its link to its master up with no sync
    /// in progress: nothing is measured on a cluster whose replicas are still catching up.
    pub async fn wait_healthy(&self, deadline: Instant) -> Result<()> {
        let expected = self.lock().len();
        self.wait_until(
            deadline,
            "cluster_state:ok with 16384 slots on every node and every replica in sync",
            |nodes_text, info| {
                let ci = ClusterInfo::parse(&info.0);
                let entries = parse_cluster_nodes(nodes_text);
                // A replica counts once its link is up and no sync is in progress, any node once
                // it has loaded its data (`INFO`; the role in CLUSTER NODES can lag it).
                let replica_ok = replica_sync_problem(&parse_info_fields(&info.1)).is_none();
                // A replica that a peer still sees as a master without slots is not attached yet
                // in that peer's view (gossip lags REPLICATE); failed nodes are left out.
                let roles_settled = entries
                    .iter()
                    .all(|e| !e.is_master() || e.is_failing() || !e.slots.is_empty());
                ci.is_healthy() && entries.len() == expected && replica_ok && roles_settled
            },
        )
        .await
    }

    /// Polls CLUSTER NODES, CLUSTER INFO and INFO (default sections) on every running node until `ok`
    /// holds for all, or the deadline passes (the error names the first node that was not ready).
    async fn wait_until<F>(&self, deadline: Instant, what: &str, ok: F) -> Result<()>
    where
        F: Fn(&str, &(String, String)) -> bool,
    {
        loop {
            let ports: Vec<(usize, u16)> = {
                let mut nodes = self.lock();
                nodes
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, n)| {
                        n.process
                            .as_mut()
                            .is_some_and(OwnedChild::is_running)
                            .then_some((i, n.port))
                    })
                    .collect()
            };
            let mut not_ready = None;
            for (i, port) in ports {
                let state = async {
                    let mut conn = self.admin(port).await?;
                    let nodes: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("CLUSTER NODES", e))?;
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("CLUSTER INFO", e))?;
                    // The default sections: `replication` and `persistence` (`loading`).
                    let repl: String = redis::cmd("INFO")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| Error::redis("INFO", e))?;
                    Ok::<_, Error>((nodes, (info, repl)))
                }
                .await;
                let ready = matches!(&state, Ok((nodes, info)) if ok(nodes, info));
                if !ready {
                    not_ready = Some((i, port, state.err().map(|e| short(&e.to_string()))));
                    break;
                }
            }
            let Some((i, port, err)) = not_ready else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let why = err.map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(self.start_error(
                    i,
                    format!("timed out waiting for {what}: node on port {port} not ready{why}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The inclusive slot range of master `i` of `n`, spread as redis-cli does.
pub(crate) fn slot_range(i: usize, n: usize) -> (u16, u16) {
    let lo = (i * 16384 / n) as u16;
    let hi = ((i + 1) * 16384 / n - 1) as u16;
    (lo, hi)
}

fn command_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_cover_all_slots_without_overlap() {
        for n in 1..=7 {
            let ranges: Vec<_> = (0..n).map(|i| slot_range(i, n)).collect();
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[n - 1].1, 16383);
            for w in ranges.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }
}
