//! Stream replies parsed: the entries of XRANGE, XREADGROUP and XAUTOCLAIM replies as
//! [`Delivery`]s, and what a reply weighs.
//!
//! An XREADGROUP reply comes either as redis-rs's value tree or, over the tool's own connection
//! to a node (`cluster::link`), as its raw bytes in a bulk string (XREADGROUP never answers
//! with one): the entries are then read from the bytes in place, with no value per field.

use redis::Value;

use super::{EntryId, MessageTag};
use crate::resp::{Item, Reader, Stop};

/// One entry as read from a stream: its id and, if it is one of ours, its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: EntryId,
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

/// A bulk or simple string reply as an entry id.
fn entry_id(v: &Value) -> Option<EntryId> {
    bulk(v).and_then(EntryId::decode)
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
/// XAUTOCLAIM replies), taking the reply over. Entries without a valid id are skipped; entries
/// whose fields are nil (deleted while pending) come back with `tag: None`.
pub fn entries(v: Value) -> Vec<Delivery> {
    into_items(v)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = into_items(entry).into_iter();
            let id = entry_id(&parts.next()?)?;
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
        Value::BulkString(raw) => match raw_xreadgroup(&raw) {
            Ok(d) => d,
            // Not the shape XREADGROUP answers with: read it as values, as any other reply.
            Err(_) => redis::parse_redis_value(&raw)
                .map(xreadgroup_entries)
                .unwrap_or_default(),
        },
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

/// The deliveries in the raw bytes of an XREADGROUP reply: `[[key, [entry, ...]], ...]`, read
/// in place.
fn raw_xreadgroup(raw: &[u8]) -> Result<Vec<Delivery>, Stop> {
    let mut r = Reader::new(raw);
    let mut out = Vec::new();
    for _ in 0..array(&mut r)? {
        if array(&mut r)? != 2 {
            return Err(Stop::Malformed("stream is not [key, entries]"));
        }
        r.skip(0)?; // the key
        let n = array(&mut r)?;
        out.reserve(r.capacity_for(n));
        for _ in 0..n {
            out.extend(raw_entry(&mut r)?);
        }
    }
    Ok(out)
}

/// One entry, `[id, [f, v, ...] | nil]`: `None` if its id is not one; the tag is the value of
/// the field `m`.
fn raw_entry(r: &mut Reader) -> Result<Option<Delivery>, Stop> {
    if array(r)? != 2 {
        return Err(Stop::Malformed("entry is not [id, fields]"));
    }
    let id = match r.item()? {
        Item::Bulk(Some(id)) => EntryId::decode(id),
        _ => None,
    };
    let mut tag = None;
    match r.item()? {
        Item::Array(Some(fields)) => {
            for _ in 0..fields / 2 {
                let field = r.item()?;
                let value = r.item()?;
                if let (Item::Bulk(Some(b"m")), Item::Bulk(Some(v))) = (field, value) {
                    tag = tag.or_else(|| MessageTag::decode(v));
                }
            }
            if fields % 2 == 1 {
                r.skip(0)?;
            }
        }
        Item::Array(None) | Item::Bulk(None) => {} // deleted while pending
        _ => return Err(Stop::Malformed("entry fields are not an array")),
    }
    Ok(id.map(|id| Delivery { id, tag }))
}

/// The length of the array that must come next.
fn array(r: &mut Reader) -> Result<usize, Stop> {
    match r.item()? {
        Item::Array(Some(n)) => Ok(n),
        Item::Array(None) => Ok(0),
        _ => Err(Stop::Malformed("expected an array")),
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
    pub deleted: Vec<EntryId>,
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
            .map(|d| into_items(d).iter().filter_map(entry_id).collect())
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
        assert_eq!((got[1].id, got[1].tag), (EntryId(2, 0), None));
        assert_eq!(got[2].tag, None);
    }

    /// The same reply as raw bytes reads the same, whether it came as bytes or as values.
    #[test]
    fn raw_xreadgroup_replies_read_as_their_values_do() {
        let text = b"*1\r\n*2\r\n$1\r\ns\r\n*4\r\n\
            *2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nd\r\n$2\r\nxx\r\n$1\r\nm\r\n$5\r\n0:1:5\r\n\
            *2\r\n$3\r\n2-0\r\n*-1\r\n\
            *2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nm\r\n$4\r\njunk\r\n\
            *2\r\n$4\r\nnope\r\n*0\r\n";
        let as_values = xreadgroup_entries(redis::parse_redis_value(text).unwrap());
        let as_bytes = xreadgroup_entries(Value::BulkString(text.to_vec()));
        assert_eq!(as_bytes, as_values);
        assert_eq!(
            as_bytes,
            vec![
                Delivery {
                    id: EntryId(1, 0),
                    tag: MessageTag::decode(b"0:1:5")
                },
                Delivery {
                    id: EntryId(2, 0),
                    tag: None
                },
                Delivery {
                    id: EntryId(3, 0),
                    tag: None
                },
            ]
        );
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
        assert_eq!(ac.deleted, vec![EntryId(4, 0)]);
        let old = parse_xautoclaim(&Value::Array(vec![bs("7-0"), Value::Array(vec![])]));
        assert!(old.deleted.is_empty() && old.claimed.is_empty() && old.next == "7-0");
    }
}
