//! The stream cycle's wire level: how a message is written (XADD), read (XREADGROUP), recovered
//! (XAUTOCLAIM) and acknowledged (XACK), and how the logical stream is sharded over masters.
//!
//! A message carries `m = "<producer>:<seq>:<sent_us>"` and a payload `d`: enough for the
//! checker to know exactly which message it is and for the latency to be measured end to end.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
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
    /// The longest `m` value: three decimal u64s and two colons.
    pub const MAX_LEN: usize = 3 * 20 + 2;

    /// The `m` field's value.
    pub fn encode(&self) -> String {
        String::from_utf8_lossy(self.write(&mut [0; Self::MAX_LEN])).into_owned()
    }

    /// Writes the `m` field's value into `buf` and returns it: no allocation, which counts when
    /// it is done for every message.
    pub fn write<'a>(&self, buf: &'a mut [u8; Self::MAX_LEN]) -> &'a [u8] {
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            buf[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        let mut num = itoa::Buffer::new();
        put(num.format(self.producer).as_bytes());
        put(b":");
        put(num.format(self.seq).as_bytes());
        put(b":");
        put(num.format(self.sent_us).as_bytes());
        &buf[..len]
    }

    /// Parses the `m` field; `None` for anything we did not write.
    pub fn decode(bytes: &[u8]) -> Option<MessageTag> {
        // Digits only, at most a u64 (`str::parse` would also take a leading `+`, which we never
        // write); one pass, as this runs for every message read.
        fn number<T: TryFrom<u64>>(part: &[u8]) -> Option<T> {
            if part.is_empty() {
                return None;
            }
            let mut n: u64 = 0;
            for &b in part {
                let digit = b.wrapping_sub(b'0');
                if digit > 9 {
                    return None;
                }
                n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
            }
            T::try_from(n).ok()
        }
        let mut parts = bytes.split(|&b| b == b':');
        let tag = MessageTag {
            producer: number(parts.next()?)?,
            seq: number(parts.next()?)?,
            sent_us: number(parts.next()?)?,
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

/// The items of an array reply, taken out of it (nothing for anything else).
fn into_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => Vec::new(),
    }
}

/// A bulk or simple string reply as text, taking its bytes over (no copy when they are UTF-8).
fn into_text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// Parses stream entries `[[id, [f, v, ...]], ...]` (XRANGE, and the inner part of XREADGROUP and
/// XAUTOCLAIM replies), taking the reply over: each id's bytes become its `String`, and nothing
/// else is copied. Entries without an id are skipped; entries whose fields are nil (deleted while
/// pending) come back with `tag: None`.
pub fn entries(v: Value) -> Vec<Delivery> {
    into_items(v)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = into_items(entry).into_iter();
            let id = into_text(parts.next()?)?;
            let fields = parts.next().map(into_items).unwrap_or_default();
            let tag = fields
                .chunks(2)
                .find(|kv| kv.len() == 2 && bulk(&kv[0]) == Some(b"m"))
                .and_then(|kv| bulk(&kv[1]))
                .and_then(MessageTag::decode);
            Some(Delivery { id, tag })
        })
        .collect()
}

/// [`entries`] of a reply the caller keeps.
pub fn parse_entries(v: &Value) -> Vec<Delivery> {
    entries(v.clone())
}

/// The deliveries of an XREADGROUP reply for one key, taking the reply over: nil (BLOCK timed
/// out) is no deliveries.
pub fn xreadgroup_entries(v: Value) -> Vec<Delivery> {
    match v {
        Value::Nil => Vec::new(),
        Value::Map(kvs) => kvs.into_iter().flat_map(|(_, e)| entries(e)).collect(),
        _ => into_items(v)
            .into_iter()
            .flat_map(|stream| {
                into_items(stream)
                    .into_iter()
                    .nth(1)
                    .map(entries)
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// [`xreadgroup_entries`] of a reply the caller keeps.
pub fn parse_xreadgroup(v: &Value) -> Vec<Delivery> {
    xreadgroup_entries(v.clone())
}

/// The parts of an XAUTOCLAIM reply (Redis 7: next start id, claimed entries, deleted ids).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoClaim {
    pub next: String,
    pub claimed: Vec<Delivery>,
    pub deleted: Vec<String>,
}

/// Parses XAUTOCLAIM's reply, taking it over; a 2-element reply (Redis 6.2) has no deleted ids.
pub fn xautoclaim_parts(v: Value) -> AutoClaim {
    let mut parts = into_items(v).into_iter();
    AutoClaim {
        next: parts
            .next()
            .and_then(into_text)
            .unwrap_or_else(|| "0-0".into()),
        claimed: parts.next().map(entries).unwrap_or_default(),
        deleted: parts
            .next()
            .map(|d| into_items(d).into_iter().filter_map(into_text).collect())
            .unwrap_or_default(),
    }
}

/// [`xautoclaim_parts`] of a reply the caller keeps.
pub fn parse_xautoclaim(v: &Value) -> AutoClaim {
    xautoclaim_parts(v.clone())
}

/// Bytes of data (bulk strings) in a reply: what a reply of stream entries weighs.
pub fn reply_bytes(v: &Value) -> usize {
    match v {
        Value::BulkString(b) => b.len(),
        Value::SimpleString(s) => s.len(),
        Value::Array(a) | Value::Set(a) => a.iter().map(reply_bytes).sum(),
        Value::Map(kvs) => kvs
            .iter()
            .map(|(k, v)| reply_bytes(k) + reply_bytes(v))
            .sum(),
        _ => 0,
    }
}

/// Where every command on `key` goes: the master serving its slot. Worked out once per key, so
/// that redis-rs does not look for the key in every command sent.
pub fn master_of(key: &str) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master))
}

/// An error reply as an error, anything else as the reply.
fn reply(v: Value) -> redis::RedisResult<Value> {
    match v {
        Value::ServerError(e) => Err(e.into()),
        v => Ok(v),
    }
}

/// Sends `cmd` to `route` and returns redis-rs's reply, an error reply as `Err`. Unlike
/// `Cmd::query_async` it takes the command over instead of copying it, and does not rebuild the
/// reply to look for errors nested in it (a stream reply has none): both cost per message.
pub async fn send(
    conn: &mut ClusterConnection,
    cmd: redis::Cmd,
    route: &SingleNodeRoutingInfo,
) -> redis::RedisResult<Value> {
    reply(
        conn.route_command(cmd, RoutingInfo::SingleNode(route.clone()))
            .await?,
    )
}

/// Sends `pipe` (all its commands for `route`) and returns one reply per command, in order, error
/// replies as `Err`; a failure of the whole pipeline (I/O, timeout) is the `Err` of the outer
/// result. Takes the pipeline over, as [`send`] does the command.
pub async fn send_pipeline(
    conn: &mut ClusterConnection,
    pipe: redis::Pipeline,
    route: &SingleNodeRoutingInfo,
) -> redis::RedisResult<Vec<redis::RedisResult<Value>>> {
    let n = pipe.len();
    let replies = conn.route_pipeline(pipe, 0, n, route.clone()).await?;
    Ok(replies.into_iter().map(reply).collect())
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
/// Built in one allocation for its data (this runs for every message).
pub fn xadd_capped_cmd(
    key: &str,
    tag: &MessageTag,
    payload: &[u8],
    maxlen: Option<u64>,
) -> redis::Cmd {
    let mut cmd =
        redis::Cmd::with_capacity(10, 48 + key.len() + payload.len() + MessageTag::MAX_LEN);
    cmd.arg("XADD").arg(key);
    if let Some(n) = maxlen {
        cmd.arg("MAXLEN").arg("~").arg(n);
    }
    cmd.arg("*")
        .arg("m")
        .arg(tag.write(&mut [0; MessageTag::MAX_LEN]))
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
    let ids = ids.into_iter();
    let n = ids.size_hint().0;
    // An id is at most 41 characters ("<u64>-<u64>"); room for most without growing.
    let mut cmd = redis::Cmd::with_capacity(n + 3, 8 + key.len() + group.len() + n * 24);
    cmd.arg("XACK").arg(key).arg(group);
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
        for bad in [
            "",
            "1:2",
            "1:2:3:4",
            "a:2:3",
            "-1:2:3",
            "+1:2:3",
            "1::3",
            "4294967296:1:1",
            "1:18446744073709551616:1",
        ] {
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
