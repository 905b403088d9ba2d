//! The cluster as the scenario sees and touches it: bounded admin queries to surviving nodes
//! (CLUSTER NODES / INFO / KEYSLOT / FAILOVER) and a paused node that is always resumed.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::cluster::{parse_cluster_nodes, ClusterInfo, LocalCluster, NodeEntry};
use crate::{Error, Result};

/// A paused node, resumed (SIGCONT) when dropped so no early return leaves it stopped.
pub(super) struct Paused<'a> {
    cluster: &'a LocalCluster,
    index: usize,
    resumed: bool,
}

impl<'a> Paused<'a> {
    pub(super) fn new(cluster: &'a LocalCluster, index: usize) -> Result<Self> {
        cluster.pause(index, true)?;
        Ok(Paused {
            cluster,
            index,
            resumed: false,
        })
    }
    pub(super) fn resume(mut self) -> Result<()> {
        self.resumed = true;
        self.cluster.pause(self.index, false)
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if !self.resumed {
            let _ = self.cluster.pause(self.index, false);
        }
    }
}

/// What one surviving node says about the cluster.
pub(super) struct View {
    pub(super) nodes: Vec<NodeEntry>,
    pub(super) info: ClusterInfo,
}

/// Admin connections to the nodes, each query bounded; a node that does not answer is skipped.
pub(super) struct Observer<'a> {
    cluster: &'a LocalCluster,
    conns: HashMap<u16, MultiplexedConnection>,
}

/// Bound on one admin query: a survivor answers in milliseconds, a paused node never.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

impl<'a> Observer<'a> {
    pub(super) fn new(cluster: &'a LocalCluster) -> Self {
        Observer {
            cluster,
            conns: HashMap::new(),
        }
    }

    async fn query(&mut self, port: u16, args: &[&str]) -> Option<String> {
        if !self.conns.contains_key(&port) {
            let conn = self
                .cluster
                .endpoint()
                .node_connection(&self.cluster.host_of_port(port), port)
                .await
                .ok()?;
            self.conns.insert(port, conn);
        }
        let conn = self.conns.get_mut(&port)?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        match tokio::time::timeout(QUERY_TIMEOUT, cmd.query_async::<String>(conn)).await {
            Ok(Ok(text)) => Some(text),
            _ => {
                self.conns.remove(&port);
                None
            }
        }
    }

    /// Ports of the running nodes, `exclude` left out.
    fn running(&self, exclude: Option<usize>) -> Vec<u16> {
        let ports = self.cluster.ports();
        (0..ports.len())
            .filter(|&i| Some(i) != exclude && self.cluster.is_running(i))
            .map(|i| ports[i])
            .collect()
    }

    /// CLUSTER NODES and CLUSTER INFO from the first running node (not `exclude`) that answers.
    pub(super) async fn look(&mut self, exclude: Option<usize>) -> Option<View> {
        for port in self.running(exclude) {
            let Some(nodes) = self.query(port, &["CLUSTER", "NODES"]).await else {
                continue;
            };
            let Some(info) = self.query(port, &["CLUSTER", "INFO"]).await else {
                continue;
            };
            return Some(View {
                nodes: parse_cluster_nodes(&nodes),
                info: ClusterInfo::parse(&info),
            });
        }
        None
    }

    /// True when every running node (not `exclude`) that answers says `cluster_state:fail`, and at
    /// least one answered.
    pub(super) async fn all_fail(&mut self, exclude: Option<usize>) -> bool {
        let mut answered = 0;
        for port in self.running(exclude) {
            if let Some(info) = self.query(port, &["CLUSTER", "INFO"]).await {
                answered += 1;
                if ClusterInfo::parse(&info).state != "fail" {
                    return false;
                }
            }
        }
        answered > 0
    }

    /// "ok" if any running node says the cluster serves all slots, "fail" if all that answer say
    /// fail, "unknown" if none answers.
    pub(super) async fn final_state(&mut self) -> String {
        let mut states = Vec::new();
        for port in self.running(None) {
            if let Some(info) = self.query(port, &["CLUSTER", "INFO"]).await {
                states.push(ClusterInfo::parse(&info));
            }
        }
        if states.iter().any(ClusterInfo::is_healthy) {
            "ok".into()
        } else if states.is_empty() {
            "unknown".into()
        } else {
            "fail".into()
        }
    }

    /// The master's port if node `port` says it is a replica with its link up and the cluster ok.
    pub(super) async fn replica_master(&mut self, port: u16) -> Option<u16> {
        let nodes = parse_cluster_nodes(&self.query(port, &["CLUSTER", "NODES"]).await?);
        let info = ClusterInfo::parse(&self.query(port, &["CLUSTER", "INFO"]).await?);
        let repl = self.query(port, &["INFO", "replication"]).await?;
        let me = nodes.iter().find(|n| n.is_myself())?;
        let master = nodes
            .iter()
            .find(|n| Some(&n.id) == me.master_id.as_ref())?;
        (info.is_healthy() && repl.contains("master_link_status:up"))
            .then(|| master.port())
            .flatten()
    }

    /// Sends `CLUSTER FAILOVER` to the replica on `port`.
    pub(super) async fn failover(&mut self, port: u16) -> Result<()> {
        match self.query(port, &["CLUSTER", "FAILOVER"]).await {
            Some(_) => Ok(()),
            None => Err(Error::ClusterUnavailable(format!(
                "CLUSTER FAILOVER on :{port} got no OK"
            ))),
        }
    }

    /// The slot of each key (CLUSTER KEYSLOT needs no slot owner: any running node answers).
    pub(super) async fn key_slots(&mut self, keys: &[String]) -> HashMap<String, u16> {
        let mut out = HashMap::new();
        for key in keys {
            for port in self.running(None) {
                let slot = self.query(port, &["CLUSTER", "KEYSLOT", key]).await;
                if let Some(slot) = slot.and_then(|s| s.parse().ok()) {
                    out.insert(key.clone(), slot);
                    break;
                }
            }
        }
        out
    }
}
