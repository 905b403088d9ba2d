//! The stream cycle's wire level: how a message is written (XADD), read (XREADGROUP), recovered
//! (XAUTOCLAIM) and acknowledged (XACK), and how the logical stream is sharded over masters.
//!
//! A message carries `m = "<producer>:<seq>:<sent_us>"` and a payload `d`: enough for the
//! checker to know exactly which message it is and for the latency to be measured end to end.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::cluster_async::ClusterConnection;
use redis::Value;

use crate::cluster::{Endpoint, NodeEntry};
use crate::{Error, Result};

/// Microseconds since the Unix epoch: the clock messages carry (comparable across processes).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Who sent a message and when: the identity the checker counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageTag {
    pub producer: u32,
    pub seq: u64,
    /// Send time, µs since the epoch (scheduled time in open-loop mode).
    pub sent_us: u64,
}

impl MessageTag {
    /// The `m` field's value.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.producer, self.seq, self.sent_us)
    }

    /// Parses the `m` field; `None` for anything we did not write.
    pub fn decode(bytes: &[u8]) -> Option<MessageTag> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(':');
        let tag = MessageTag {
            producer: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent_us: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(tag)
    }
}

/// One entry as read from a stream: its id and, if it is one of ours, its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    /// `None`: not a message we wrote (foreign fields), or an entry deleted while pending.
    pub tag: Option<MessageTag>,
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

/// Parses stream entries `[[id, [f, v, ...]], ...]` (XRANGE, and the inner part of XREADGROUP and
/// XAUTOCLAIM replies). Entries without an id are skipped; entries whose fields are nil (deleted
/// while pending) come back with `tag: None`.
pub fn parse_entries(v: &Value) -> Vec<Delivery> {
    items(v)
        .iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = String::from_utf8_lossy(bulk(parts.first()?)?).into_owned();
            let fields = parts.get(1).map(items).unwrap_or(&[]);
            let tag = fields
                .chunks(2)
                .find(|kv| kv.len() == 2 && bulk(&kv[0]) == Some(b"m"))
                .and_then(|kv| bulk(&kv[1]))
                .and_then(MessageTag::decode);
            Some(Delivery { id, tag })
        })
        .collect()
}

/// Parses an XREADGROUP reply for one key: nil (BLOCK timed out) is no deliveries.
pub fn parse_xreadgroup(v: &Value) -> Vec<Delivery> {
    match v {
        Value::Nil => Vec::new(),
        Value::Map(kvs) => kvs
            .iter()
            .flat_map(|(_, entries)| parse_entries(entries))
            .collect(),
        _ => items(v)
            .iter()
            .flat_map(|stream| items(stream).get(1).map(parse_entries).unwrap_or_default())
            .collect(),
    }
}

/// The parts of an XAUTOCLAIM reply (Redis 7: next start id, claimed entries, deleted ids).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoClaim {
    pub next: String,
    pub claimed: Vec<Delivery>,
    pub deleted: Vec<String>,
}

/// Parses XAUTOCLAIM's reply; a 2-element reply (Redis 6.2) has no deleted ids.
pub fn parse_xautoclaim(v: &Value) -> AutoClaim {
    let parts = items(v);
    AutoClaim {
        next: parts
            .first()
            .and_then(bulk)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "0-0".into()),
        claimed: parts.get(1).map(parse_entries).unwrap_or_default(),
        deleted: parts
            .get(2)
            .map(|d| {
                items(d)
                    .iter()
                    .filter_map(bulk)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

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

/// XGROUP CREATE key group 0 MKSTREAM, treating BUSYGROUP as success.
pub async fn create_group(conn: &mut ClusterConnection, key: &str, group: &str) -> Result<()> {
    let r: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(Error::redis(format!("XGROUP CREATE {key} {group}"), e)),
    }
}

/// The XADD command for one message.
pub fn xadd_cmd(key: &str, tag: &MessageTag, payload: &[u8]) -> redis::Cmd {
    xadd_capped_cmd(key, tag, payload, None)
}

/// XADD with `MAXLEN ~ n` when `maxlen` is given: the stream keeps about its newest n entries.
pub fn xadd_capped_cmd(
    key: &str,
    tag: &MessageTag,
    payload: &[u8],
    maxlen: Option<u64>,
) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key);
    if let Some(n) = maxlen {
        cmd.arg("MAXLEN").arg("~").arg(n);
    }
    cmd.arg("*")
        .arg("m")
        .arg(tag.encode())
        .arg("d")
        .arg(payload);
    cmd
}

/// The XREADGROUP command for new entries (`>`) of one key.
pub fn xreadgroup_cmd(
    key: &str,
    group: &str,
    consumer: &str,
    count: usize,
    block_ms: Option<u64>,
) -> redis::Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(key).arg(">");
    cmd
}

/// XACK of many ids in one call.
pub fn xack_cmd<'a>(key: &str, group: &str, ids: impl IntoIterator<Item = &'a str>) -> redis::Cmd {
    let mut cmd = redis::cmd("XACK");
    cmd.arg(key).arg(group);
    for id in ids {
        cmd.arg(id);
    }
    cmd
}

/// XAUTOCLAIM of entries idle at least `min_idle_ms`, from `start`.
pub fn xautoclaim_cmd(
    key: &str,
    group: &str,
    consumer: &str,
    min_idle_ms: u64,
    start: &str,
    count: usize,
) -> redis::Cmd {
    let mut cmd = redis::cmd("XAUTOCLAIM");
    cmd.arg(key)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg(start)
        .arg("COUNT")
        .arg(count);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, m: &str) -> Value {
        Value::Array(vec![
            bs(id),
            Value::Array(vec![bs("m"), bs(m), bs("d"), bs("xx")]),
        ])
    }

    #[test]
    fn tag_round_trips_and_rejects_foreign_text() {
        let tag = MessageTag {
            producer: 3,
            seq: 99,
            sent_us: 1_700_000_000_000_000,
        };
        assert_eq!(MessageTag::decode(tag.encode().as_bytes()), Some(tag));
        for bad in ["", "1:2", "1:2:3:4", "a:2:3", "-1:2:3"] {
            assert_eq!(MessageTag::decode(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn parses_xreadgroup_replies_including_nil_and_deleted_entries() {
        assert!(parse_xreadgroup(&Value::Nil).is_empty());
        let reply = Value::Array(vec![Value::Array(vec![
            bs("s"),
            Value::Array(vec![
                entry("1-0", "0:1:5"),
                Value::Array(vec![bs("2-0"), Value::Nil]),
                entry("3-0", "junk"),
            ]),
        ])]);
        let got = parse_xreadgroup(&reply);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].tag,
            Some(MessageTag {
                producer: 0,
                seq: 1,
                sent_us: 5
            })
        );
        assert_eq!((got[1].id.as_str(), got[1].tag), ("2-0", None));
        assert_eq!(got[2].tag, None);
    }

    #[test]
    fn parses_redis7_xautoclaim_with_deleted_ids() {
        let reply = Value::Array(vec![
            bs("0-0"),
            Value::Array(vec![entry("5-0", "1:2:3")]),
            Value::Array(vec![bs("4-0")]),
        ]);
        let ac = parse_xautoclaim(&reply);
        assert_eq!(ac.next, "0-0");
        assert_eq!(ac.claimed.len(), 1);
        assert_eq!(ac.deleted, vec!["4-0".to_string()]);
        let old = parse_xautoclaim(&Value::Array(vec![bs("7-0"), Value::Array(vec![])]));
        assert!(old.deleted.is_empty() && old.claimed.is_empty() && old.next == "7-0");
    }
}
