//! The cluster's side: every node's INFO (CPU, role, run id, replication state), read through
//! connections kept for the run, and waiting for the replicas to be in sync.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::cluster::topology::{parse_info_fields, replica_sync_problem};
use crate::cluster::Endpoint;
use crate::{Error, Result};

/// How long one node may take to answer INFO before it counts as unreadable.
const INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// What one node said in INFO at one moment.
#[derive(Clone, Debug)]
pub(super) struct NodeSample {
    pub(super) master: bool,
    pub(super) cpu_seconds: f64,
    pub(super) run_id: String,
    /// Why the node is not in sync, if it is not.
    pub(super) sync_problem: Option<String>,
}

impl NodeSample {
    pub(super) fn parse(text: &str) -> Option<NodeSample> {
        let f = parse_info_fields(text);
        let num = |k: &str| f.get(k).and_then(|v| v.trim().parse::<f64>().ok());
        Some(NodeSample {
            master: f.get("role").map(String::as_str) == Some("master"),
            cpu_seconds: num("used_cpu_user")? + num("used_cpu_sys")?,
            run_id: f.get("run_id").cloned().unwrap_or_default(),
            sync_problem: replica_sync_problem(&f),
        })
    }
}

/// A connection to every node the cluster lists (failing ones left out), kept for the run so
/// that the end snapshot costs one INFO per node and no connecting.
pub struct ServerProbe {
    nodes: Vec<(String, Option<MultiplexedConnection>)>,
}

impl ServerProbe {
    /// Connects to every node in `CLUSTER NODES` of a seed. Nodes that cannot be reached are kept
    /// as unreadable (the cost says so), never an error: cost is a measurement, not a gate.
    pub async fn connect(endpoint: &Endpoint) -> Result<ServerProbe> {
        let mut nodes = Vec::new();
        for entry in endpoint.topology().await? {
            if entry.is_failing() || entry.has_flag("noaddr") {
                continue;
            }
            let Some((host, port)) = entry.host_port() else {
                continue;
            };
            let conn = endpoint.node_connection(&host, port).await.ok();
            nodes.push((entry.addr.clone(), conn));
        }
        Ok(ServerProbe { nodes })
    }

    /// INFO of every node: address → sample, or `None` for a node that did not answer.
    pub(super) async fn sample(&mut self) -> BTreeMap<String, Option<NodeSample>> {
        let mut out = BTreeMap::new();
        for (addr, conn) in &mut self.nodes {
            let sample = match conn {
                Some(c) => {
                    let cmd = redis::cmd("INFO");
                    match tokio::time::timeout(INFO_TIMEOUT, cmd.query_async::<String>(c)).await {
                        Ok(Ok(text)) => NodeSample::parse(&text),
                        _ => None,
                    }
                }
                None => None,
            };
            out.insert(addr.clone(), sample);
        }
        out
    }

    /// Nodes not in sync right now, one sentence each (empty: every replica in sync).
    pub async fn unsynced(&mut self) -> Vec<String> {
        self.sample()
            .await
            .into_iter()
            .filter_map(|(addr, s)| match s {
                Some(s) => s.sync_problem.map(|p| format!("{addr}: {p}")),
                None => Some(format!("{addr}: did not answer INFO")),
            })
            .collect()
    }
}

/// Waits until every node of the cluster at `endpoint` answers INFO and every replica is in sync,
/// for callers that measure an external cluster (the bench); the error names what was not ready.
pub async fn wait_replicas_in_sync(endpoint: &Endpoint, wait: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut probe = ServerProbe::connect(endpoint).await?;
        let unsynced = probe.unsynced().await;
        if unsynced.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::ClusterUnavailable(format!(
                "replicas not in sync after {} s: {}; wait for the cluster to finish syncing",
                wait.as_secs(),
                unsynced.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
