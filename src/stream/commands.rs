//! The commands of the cycle (XADD, XREADGROUP, XACK, XAUTOCLAIM, XGROUP CREATE) and how they
//! are sent to the master serving their key.

use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

use super::{EntryId, MessageTag};
use crate::cluster::ClusterConnection;
use crate::{Error, Result};

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
pub fn xack_cmd(key: &str, group: &str, ids: impl IntoIterator<Item = EntryId>) -> redis::Cmd {
    let ids = ids.into_iter();
    let n = ids.size_hint().0;
    // An id is at most 41 characters ("<u64>-<u64>"); room for most without growing.
    let mut cmd = redis::Cmd::with_capacity(n + 3, 8 + key.len() + group.len() + n * 24);
    cmd.arg("XACK").arg(key).arg(group);
    let mut buf = [0; EntryId::MAX_LEN];
    for id in ids {
        cmd.arg(id.write(&mut buf));
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
