//! Replies as redis-rs values, read with [`crate::resp`]: one pass per reply, no parser state
//! kept between reads. This is where the client spent most of its CPU per message (about eight
//! values per message) while redis-rs's general parser read them, at over a thousand
//! instructions per value.

use redis::Value;

use crate::resp::{self, Item, Reader, Stop};

/// A whole reply (as [`crate::resp::FrameScan`] delimits it) as a value. `Err`: not RESP2 (a
/// `Stop::Need` here means the reply is shorter than it says).
pub fn decode(frame: &[u8]) -> Result<Value, Stop> {
    value(&mut Reader::new(frame), 0)
}

/// The reply to a request that takes stream entries as they came (see `stream::reply`): a
/// non-empty array as its raw bytes in a bulk string, anything else (nil, an error) as
/// [`decode`] reads it.
pub fn decode_entries(frame: &[u8]) -> Result<Value, Stop> {
    match Reader::new(frame).item() {
        Ok(Item::Array(Some(n))) if n > 0 => Ok(Value::BulkString(frame.to_vec())),
        _ => decode(frame),
    }
}

fn value(r: &mut Reader, depth: usize) -> Result<Value, Stop> {
    if depth > resp::MAX_DEPTH {
        return Err(Stop::Malformed("reply nested too deep"));
    }
    Ok(match r.item()? {
        Item::Simple(b"OK") => Value::Okay,
        Item::Simple(s) => Value::SimpleString(String::from_utf8_lossy(s).into_owned()),
        // Errors are rare and their kinds are redis-rs's to name (MOVED, ASK, TRYAGAIN, ...):
        // its own parser reads them.
        Item::Error(line) => {
            redis::parse_redis_value(line).map_err(|_| Stop::Malformed("unreadable error reply"))?
        }
        Item::Int(n) => Value::Int(n),
        Item::Bulk(Some(b)) => Value::BulkString(b.to_vec()),
        Item::Bulk(None) | Item::Array(None) => Value::Nil,
        Item::Array(Some(n)) => {
            let mut items = Vec::with_capacity(r.capacity_for(n));
            for _ in 0..n {
                items.push(value(r, depth + 1)?);
            }
            Value::Array(items)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const XREADGROUP: &[u8] = b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nm\r\n$5\r\n0:1:5\r\n$1\r\nd\r\n$2\r\nxx\r\n*2\r\n$3\r\n2-0\r\n*-1\r\n";

    /// Every RESP2 reply reads as redis-rs's own parser reads it.
    #[test]
    fn reads_what_redis_rs_reads() {
        for text in [
            &b"+OK\r\n"[..],
            b"+PONG\r\n",
            b":0\r\n",
            b":-42\r\n",
            b":9223372036854775807\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"-ERR unknown command\r\n",
            b"-MOVED 3999 127.0.0.1:6381\r\n",
            b"-NOGROUP No such key 's' or consumer group 'g'\r\n",
            XREADGROUP,
            b"*3\r\n:1\r\n*1\r\n+OK\r\n$-1\r\n",
        ] {
            assert_eq!(
                decode(text),
                Ok(redis::parse_redis_value(text).unwrap()),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert!(
            decode(b"*2\r\n:1\r\n").is_err(),
            "a cut reply is malformed here"
        );
    }

    /// A stream reply comes as its own bytes; nil, an empty array and errors come as values.
    #[test]
    fn stream_replies_keep_their_bytes() {
        assert_eq!(
            decode_entries(XREADGROUP),
            Ok(Value::BulkString(XREADGROUP.to_vec()))
        );
        for text in [&b"*-1\r\n"[..], b"*0\r\n", b"-NOGROUP no\r\n"] {
            assert_eq!(decode_entries(text), decode(text));
        }
    }
}
