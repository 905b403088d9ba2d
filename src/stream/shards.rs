//! The logical stream sharded over masters: K keys whose hash tags land on different masters.

use super::create_group;
use crate::cluster::{ClusterConnection, Endpoint, NodeEntry};
use crate::{Error, Result};

/// The logical stream: K shard keys whose hash tags land on (as far as possible) different masters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shards {
    pub keys: Vec<String>,
    pub group: String,
}

impl Shards {
    /// With one shard the key is the stream name itself (as the seed's); with more, each key is
    /// `<stream>:{<tag>}`, the tag chosen (by asking the cluster, CLUSTER KEYSLOT) so that shard i
    /// lands on master i mod M.
    pub async fn plan(
        endpoint: &Endpoint,
        stream: &str,
        group: &str,
        count: usize,
    ) -> Result<Shards> {
        if count <= 1 {
            return Ok(Shards {
                keys: vec![stream.to_string()],
                group: group.to_string(),
            });
        }
        let topo = endpoint.topology().await?;
        let mut masters: Vec<&NodeEntry> = topo
            .iter()
            .filter(|n| n.is_master() && !n.slots.is_empty())
            .collect();
        masters.sort_by_key(|n| n.slots.first().map(|s| s.0));
        if masters.is_empty() {
            return Err(Error::ClusterUnavailable(
                "the cluster has no master serving slots".into(),
            ));
        }
        let (host, port) = endpoint.nodes[0].clone();
        let mut conn = endpoint.node_connection(&host, port).await?;
        let mut keys = Vec::with_capacity(count);
        let mut candidate = 0u32;
        for shard in 0..count {
            let target = masters[shard % masters.len()];
            let key = loop {
                candidate += 1;
                if candidate > 100_000 {
                    return Err(Error::ClusterUnavailable(
                        "could not find hash tags for every master".into(),
                    ));
                }
                let key = format!("{stream}:{{{candidate}}}");
                let slot: u16 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| Error::redis("CLUSTER KEYSLOT", e))?;
                if target.serves_slot(slot) {
                    break key;
                }
            };
            keys.push(key);
        }
        Ok(Shards {
            keys,
            group: group.to_string(),
        })
    }

    /// Creates the consumer group on every shard (MKSTREAM), reading from the start ("0") so that
    /// entries written before the group existed are not skipped. BUSYGROUP (already there) is fine.
    pub async fn create_groups(&self, conn: &mut ClusterConnection) -> Result<()> {
        for key in &self.keys {
            create_group(conn, key, &self.group).await?;
        }
        Ok(())
    }

    /// Deletes every shard key (entries and consumer group) and creates the groups again: a
    /// clean slate between benchmark iterations.
    pub async fn reset(&self, conn: &mut ClusterConnection) -> Result<()> {
        for key in &self.keys {
            let _: i64 = redis::cmd("DEL")
                .arg(key)
                .query_async(conn)
                .await
                .map_err(|e| Error::redis(format!("DEL {key}"), e))?;
        }
        self.create_groups(conn).await
    }
}
