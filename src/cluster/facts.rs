//! What a report says about the cluster it measured: which server and version, and the file
//! system under each node's data (AOF on tmpfs/ramfs is flagged: its fsync costs nothing).

use serde::Serialize;

use super::server::from_info_server;
use super::{Endpoint, LocalCluster};
use crate::storage::{aof_in_memory_warning, DataDir};

/// The server a cluster runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ServerName {
    /// `redis` or `valkey`.
    pub name: String,
    pub version: String,
}

/// Facts about the measured cluster, for every report (JSON fields `server`, `data_dirs`,
/// `warnings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ClusterFacts {
    pub server: Option<ServerName>,
    /// Embedded clusters only: an external node's data dir may be on another machine.
    pub data_dirs: Vec<DataDir>,
    pub warnings: Vec<String>,
}

impl ClusterFacts {
    /// Facts of a cluster we started: exact binary, version and data dirs.
    pub fn of_local(cluster: &LocalCluster) -> ClusterFacts {
        let data_dirs = cluster.data_dirs();
        let aof_on = !matches!(cluster.options().aof, crate::Aof::Off);
        ClusterFacts {
            server: Some(ServerName {
                name: cluster.server().name.clone(),
                version: cluster.server().version.clone(),
            }),
            warnings: aof_in_memory_warning(&data_dirs, aof_on)
                .into_iter()
                .collect(),
            data_dirs,
        }
    }

    /// Facts of an external cluster: the server as its first reachable seed node names it in
    /// `INFO server` (nothing if none answers).
    pub async fn of_external(endpoint: &Endpoint) -> ClusterFacts {
        let mut facts = ClusterFacts::default();
        for (host, port) in &endpoint.nodes {
            let Ok(mut conn) = endpoint.node_connection(host, *port).await else {
                continue;
            };
            let info: redis::RedisResult<String> = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut conn)
                .await;
            if let Some((name, version)) = info.ok().as_deref().and_then(from_info_server) {
                facts.server = Some(ServerName { name, version });
                break;
            }
        }
        facts
    }

    /// `valkey 8.0.1, data on ext2/ext3/ext4` for summaries.
    pub fn describe(&self) -> String {
        let server = self
            .server
            .as_ref()
            .map(|s| format!("{} {}", s.name, s.version))
            .unwrap_or_else(|| "server unknown".into());
        let mut fs: Vec<&str> = self.data_dirs.iter().map(|d| d.fs.name.as_str()).collect();
        fs.sort_unstable();
        fs.dedup();
        if fs.is_empty() {
            server
        } else {
            format!("{server}, data on {}", fs.join("+"))
        }
    }
}
