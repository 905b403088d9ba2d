//! Stream replies parsed: the entries of XRANGE, XREADGROUP and XAUTOCLAIM replies as
//! [`Delivery`]s, and what a reply weighs.

use redis::Value;

use super::MessageTag;

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
