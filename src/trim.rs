//! Trimming the shard streams, so that a long run keeps server memory bounded: `acked` removes
//! what the group has delivered and acked (as an application trims behind its consumers),
//! `maxlen:N` caps each stream at XADD (as an application that bounds its stream, losing what
//! nobody read in time). The checker counts what trimming removed before delivery apart.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::Value;
use serde::Serialize;

use crate::check::{stored_messages, Counts, EntryId, Ledger, ShardScan};

/// How a run trims its streams (`--trim`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trim {
    /// Never: the stream holds every message of the run.
    #[default]
    None,
    /// Periodically XTRIM MINID below the oldest entry the group still needs (never a pending
    /// or undelivered one).
    Acked,
    /// XADD ... MAXLEN ~ N: the stream keeps about its newest N entries, read or not.
    MaxLen(u64),
}

impl Trim {
    /// How often the `acked` trimmer runs: often enough that the stream holds well under a
    /// second's worth of acked entries beyond the consumers' position.
    pub const ACKED_EVERY: Duration = Duration::from_millis(500);

    /// The cap XADD applies, if any.
    pub fn maxlen(&self) -> Option<u64> {
        match self {
            Trim::MaxLen(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromStr for Trim {
    type Err = String;
    fn from_str(s: &str) -> Result<Trim, String> {
        let bad = || format!("--trim '{s}' is not a trim mode; write none, acked or maxlen:N");
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Trim::None),
            "acked" => Ok(Trim::Acked),
            other => {
                let n = other.strip_prefix("maxlen:").ok_or_else(bad)?;
                match crate::cli::parse::parse_count(n) {
                    Ok(n) => Ok(Trim::MaxLen(n)),
                    Err(_) => Err(bad()),
                }
            }
        }
    }
}

impl fmt::Display for Trim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trim::None => f.write_str("none"),
            Trim::Acked => f.write_str("acked"),
            Trim::MaxLen(n) => write!(f, "maxlen:{n}"),
        }
    }
}

impl Serialize for Trim {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The lowest entry id `group` still needs on `key`: every entry below it was delivered and
/// acked. Reads the group's last-delivered-id first and the oldest pending id after it: an
/// entry at or below last-delivered that is not pending a moment later was acked (it cannot
/// become pending again), so the order makes the answer safe against reads in between.
/// `None` when the group has delivered nothing or either reply is unreadable.
pub async fn acked_floor<C: ConnectionLike>(
    conn: &mut C,
    key: &str,
    group: &str,
) -> Option<EntryId> {
    let groups = xinfo(conn, "GROUPS", key).await?;
    let delivered = group_last_delivered(&groups, group)?;
    let summary: Value = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .query_async(conn)
        .await
        .ok()?;
    let above_delivered = EntryId(delivered.0, delivered.1 + 1);
    Some(match oldest_pending(&summary)? {
        Some(p) => p.min(above_delivered),
        None => above_delivered,
    })
}

/// One round of `--trim acked` on `key`: XTRIM MINID ~ below what every one of `groups` still
/// needs (the lowest floor over them: a fan-out stream is trimmed behind its slowest group).
/// Nothing is trimmed while any group's floor is unknown, e.g. before it delivered anything.
/// Returns the entries Redis removed (0 when there was nothing to do).
pub async fn trim_acked<C: ConnectionLike>(conn: &mut C, key: &str, groups: &[String]) -> u64 {
    let mut lowest: Option<EntryId> = None;
    for group in groups {
        let Some(floor) = acked_floor(conn, key, group).await else {
            return 0;
        };
        lowest = Some(lowest.map_or(floor, |l| l.min(floor)));
    }
    let Some(floor) = lowest else {
        return 0;
    };
    // `~` lets Redis drop whole nodes only: cheaper, and it never goes below the floor.
    redis::cmd("XTRIM")
        .arg(key)
        .arg("MINID")
        .arg("~")
        .arg(format!("{}-{}", floor.0, floor.1))
        .query_async::<u64>(conn)
        .await
        .unwrap_or(0)
}

/// Entries removed from `key` so far (XINFO STREAM `entries-added` − `length`): what trimming
/// (or XDEL) took, as Redis counts it. `None` when the key cannot be read or the server is older
/// than 7.0.
pub async fn removed_entries<C: ConnectionLike>(conn: &mut C, key: &str) -> Option<u64> {
    let v = xinfo(conn, "STREAM", key).await?;
    let added = field(&v, "entries-added").and_then(as_u64)?;
    let length = field(&v, "length").and_then(as_u64)?;
    Some(added.saturating_sub(length))
}

/// Under `--trim maxlen:N`, moves the absent undelivered messages that trimming explains from
/// `lost` to `trimmed_unread`, shard by shard: Redis says how many entries it removed from the
/// shard (`removed[s]`); those not taken by our delivered-then-removed messages explain as many
/// absent undelivered ones. What is absent beyond that stays `lost`. Returns a sentence per
/// shard where Redis removed more than our absent messages (foreign or duplicate entries).
pub fn settle_trimmed(
    ledger: &Ledger,
    counts: &mut Counts,
    scans: &[ShardScan],
    removed: &[Option<u64>],
    shard_of: impl Fn(u32, u64) -> usize,
) -> Vec<String> {
    let stored = stored_messages(scans);
    // Per shard: (absent delivered, absent undelivered).
    let mut absent = vec![(0u64, 0u64); scans.len()];
    ledger.for_each_produced(|p, seq, delivered| {
        let s = shard_of(p, seq);
        if scans.get(s).is_some_and(|scan| scan.is_some()) && !stored.contains(&(p, seq)) {
            if delivered {
                absent[s].0 += 1;
            } else {
                absent[s].1 += 1;
            }
        }
    });
    let mut notes = Vec::new();
    for (s, &(gone_delivered, gone_unread)) in absent.iter().enumerate() {
        let Some(removed) = removed.get(s).copied().flatten() else {
            continue;
        };
        let explained = gone_unread.min(removed.saturating_sub(gone_delivered));
        counts.trimmed_unread += explained;
        counts.lost = counts.lost.saturating_sub(explained);
        let ours = gone_delivered + gone_unread;
        if removed > ours {
            notes.push(format!(
                "shard {s}: Redis removed {removed} entries, {ours} of them ours: {} were not messages this run acknowledged",
                removed - ours
            ));
        }
    }
    notes
}

/// `used_memory` of each master that serves slots, by `host:port`: the server side of
/// "bounded memory". `None` when one of them cannot be asked.
pub async fn masters_used_memory(ep: &crate::Endpoint) -> Option<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for n in ep.topology().await.ok()? {
        if !n.is_master() || n.slots.is_empty() {
            continue;
        }
        let (host, port) = n.host_port()?;
        let mut conn = ep.node_connection(&host, port).await.ok()?;
        let text: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .ok()?;
        let used = crate::cluster::topology::parse_info_fields(&text)
            .get("used_memory")?
            .parse::<u64>()
            .ok()?;
        out.push((format!("{host}:{port}"), used));
    }
    Some(out)
}

/// XINFO `what` (GROUPS, STREAM) of `key`; `None` when it fails.
async fn xinfo<C: ConnectionLike>(conn: &mut C, what: &str, key: &str) -> Option<Value> {
    redis::cmd("XINFO")
        .arg(what)
        .arg(key)
        .query_async(conn)
        .await
        .ok()
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let items = match v {
        Value::Array(items) => items,
        Value::Map(pairs) => {
            return pairs
                .iter()
                .find(|(k, _)| as_str(k).as_deref() == Some(name))
                .map(|(_, v)| v)
        }
        _ => return None,
    };
    items
        .chunks(2)
        .find(|kv| as_str(&kv[0]).as_deref() == Some(name))
        .and_then(|kv| kv.get(1))
}

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_str(other)?.parse().ok(),
    }
}

/// `last-delivered-id` of `group` in an XINFO GROUPS reply.
fn group_last_delivered(groups: &Value, group: &str) -> Option<EntryId> {
    let Value::Array(groups) = groups else {
        return None;
    };
    groups
        .iter()
        .find(|g| field(g, "name").and_then(as_str).as_deref() == Some(group))
        .and_then(|g| field(g, "last-delivered-id"))
        .and_then(as_str)
        .and_then(|id| EntryId::parse(&id))
}

/// The oldest pending id of an XPENDING summary: `Some(None)` when nothing is pending, `None`
/// for a reply that cannot be read.
fn oldest_pending(summary: &Value) -> Option<Option<EntryId>> {
    let Value::Array(parts) = summary else {
        return None;
    };
    match parts.first() {
        Some(Value::Int(0)) => Some(None),
        Some(Value::Int(_)) => Some(Some(EntryId::parse(&as_str(parts.get(1)?)?)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn modes_parse_and_print_back() {
        for (text, mode) in [
            ("none", Trim::None),
            ("acked", Trim::Acked),
            ("maxlen:1000", Trim::MaxLen(1000)),
            ("MAXLEN:10k", Trim::MaxLen(10_000)),
        ] {
            assert_eq!(text.parse::<Trim>(), Ok(mode));
        }
        assert_eq!(Trim::MaxLen(5).to_string(), "maxlen:5");
        for bad in [
            "",
            "maxlen",
            "maxlen:",
            "maxlen:0",
            "maxlen:-3",
            "minid",
            "all",
        ] {
            let e = bad.parse::<Trim>().unwrap_err();
            assert!(e.contains("none, acked or maxlen:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_floor_is_below_the_oldest_pending_and_above_the_last_delivered() {
        let groups = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("g"),
            bulk("last-delivered-id"),
            bulk("100-5"),
        ])]);
        assert_eq!(group_last_delivered(&groups, "g"), Some(EntryId(100, 5)));
        assert_eq!(group_last_delivered(&groups, "other"), None);
        let none = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert_eq!(oldest_pending(&none), Some(None));
        let some = Value::Array(vec![Value::Int(2), bulk("90-1"), bulk("99-0"), Value::Nil]);
        assert_eq!(oldest_pending(&some), Some(Some(EntryId(90, 1))));
        assert_eq!(oldest_pending(&Value::Nil), None);
    }
}
