//! Replies as redis-rs values, read with [`crate::resp`]: one pass per reply, no parser state
//! kept between reads. This is where the client spent most of its CPU per message (about eight
//! values per message) while redis-rs's general parser read them, at over a thousand
//! instructions per value.

use redis::Value;

use crate::resp::{self, Item, Reader, Stop};

/// What [`decode`] or [`frame`] found at the start of the buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A whole reply and the bytes it took.
    Reply(Value, usize),
    /// The reply is not complete: it needs at least this many bytes from the buffer's start.
    Need(usize),
}

/// Why a reply cannot be read: the node sent something that is not RESP2.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Reads the first reply in `buf` as a value.
pub fn decode(buf: &[u8]) -> Result<Decoded, Malformed> {
    let mut r = Reader::new(buf);
    finish(value(&mut r, 0), &r)
}

/// Reads the first reply in `buf` for a request that takes stream entries as they came: a
/// non-empty array as its raw bytes in a bulk string (see `stream::reply`), anything else
/// (nil, an error) as [`decode`] reads it.
pub fn frame(buf: &[u8]) -> Result<Decoded, Malformed> {
    match Reader::new(buf).item() {
        Ok(Item::Array(Some(n))) if n > 0 => match resp::frame_len(buf) {
            Ok(len) => Ok(Decoded::Reply(Value::BulkString(buf[..len].to_vec()), len)),
            Err(stop) => finish(Err(stop), &Reader::new(buf)),
        },
        _ => decode(buf),
    }
}

fn finish(read: Result<Value, Stop>, r: &Reader) -> Result<Decoded, Malformed> {
    match read {
        Ok(v) => Ok(Decoded::Reply(v, r.position())),
        Err(Stop::Need(n)) => Ok(Decoded::Need(n)),
        Err(Stop::Malformed(why)) => Err(Malformed(why)),
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

    fn whole(text: &[u8]) -> Value {
        match decode(text) {
            Ok(Decoded::Reply(v, used)) => {
                assert_eq!(used, text.len(), "{:?}", String::from_utf8_lossy(text));
                v
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

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
                whole(text),
                redis::parse_redis_value(text).unwrap(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// A stream reply comes as its own bytes; nil, an empty array and errors come as values.
    #[test]
    fn frame_keeps_a_stream_reply_as_bytes() {
        let mut two = XREADGROUP.to_vec();
        two.extend_from_slice(b"+NEXT\r\n");
        assert_eq!(
            frame(&two),
            Ok(Decoded::Reply(
                Value::BulkString(XREADGROUP.to_vec()),
                XREADGROUP.len()
            ))
        );
        assert!(matches!(
            frame(&XREADGROUP[..XREADGROUP.len() - 1]),
            Ok(Decoded::Need(n)) if n == XREADGROUP.len()
        ));
        for text in [&b"*-1\r\n"[..], b"*0\r\n", b"-NOGROUP no\r\n"] {
            assert_eq!(frame(text), Ok(Decoded::Reply(whole(text), text.len())));
        }
    }
}
