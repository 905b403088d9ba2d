//! RESP2 replies read straight from the bytes a node sent: one hand-written pass per reply into
//! redis-rs's [`Value`], with no parser state kept between reads. This is what the cycle spends
//! most of its client CPU on (about eight values per message), and redis-rs's general parser
//! costs over a thousand instructions per value.
//!
//! A reply that is not all there yet is not an error: [`decode`] says how many bytes it needs at
//! least, so that a large reply arriving in many reads is parsed once, not once per read.

use redis::Value;

/// What [`decode`] found at the start of the buffer.
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

enum Stop {
    Need(usize),
    Bad(&'static str),
}

/// Nesting deeper than this is refused, as redis-rs refuses it.
const MAX_DEPTH: usize = 100;

/// Reads the first reply in `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, Malformed> {
    let mut r = Reader { buf, pos: 0 };
    match r.value(0) {
        Ok(v) => Ok(Decoded::Reply(v, r.pos)),
        Err(Stop::Need(n)) => Ok(Decoded::Need(n)),
        Err(Stop::Bad(why)) => Err(Malformed(why)),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn value(&mut self, depth: usize) -> Result<Value, Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Bad("reply nested too deep"));
        }
        let start = self.pos;
        let kind = *self.buf.get(self.pos).ok_or(Stop::Need(self.pos + 1))?;
        self.pos += 1;
        let line = self.line()?;
        match kind {
            b'+' if line == b"OK" => Ok(Value::Okay),
            b'+' => Ok(Value::SimpleString(
                String::from_utf8_lossy(line).into_owned(),
            )),
            // Errors are rare and their kinds are redis-rs's to name (MOVED, ASK, TRYAGAIN, ...):
            // its own parser reads them.
            b'-' => redis::parse_redis_value(&self.buf[start..self.pos])
                .map_err(|_| Stop::Bad("unreadable error reply")),
            b':' => Ok(Value::Int(integer(line)?)),
            b'$' => match integer(line)? {
                -1 => Ok(Value::Nil),
                len if len < 0 => Err(Stop::Bad("negative bulk length")),
                len => self.bulk(len as usize),
            },
            b'*' => match integer(line)? {
                -1 => Ok(Value::Nil),
                n if n < 0 => Err(Stop::Bad("negative array length")),
                n => {
                    let n = n as usize;
                    // Each element takes at least 3 bytes: a length is not trusted for memory.
                    let mut items = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 3));
                    for _ in 0..n {
                        items.push(self.value(depth + 1)?);
                    }
                    Ok(Value::Array(items))
                }
            },
            _ => Err(Stop::Bad("unknown reply type (not RESP2)")),
        }
    }

    /// The rest of the line, without its CRLF; the position moves past the CRLF.
    fn line(&mut self) -> Result<&[u8], Stop> {
        let rest = &self.buf[self.pos..];
        let cr = rest
            .iter()
            .position(|&b| b == b'\r')
            .ok_or(Stop::Need(self.buf.len() + 2))?;
        match rest.get(cr + 1) {
            None => Err(Stop::Need(self.pos + cr + 2)),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(&rest[..cr])
            }
            Some(_) => Err(Stop::Bad("CR without LF")),
        }
    }

    fn bulk(&mut self, len: usize) -> Result<Value, Stop> {
        let end = self.pos + len;
        if self.buf.len() < end + 2 {
            return Err(Stop::Need(end + 2));
        }
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(Stop::Bad("bulk string longer than its length"));
        }
        let data = self.buf[self.pos..end].to_vec();
        self.pos = end + 2;
        Ok(Value::BulkString(data))
    }
}

/// A decimal i64 as RESP writes it (an optional minus, then digits).
fn integer(text: &[u8]) -> Result<i64, Stop> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(Stop::Bad("empty integer"));
    }
    let mut n: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(Stop::Bad("integer with a non-digit"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(digit)))
            .ok_or(Stop::Bad("integer out of range"))?;
    }
    Ok(if negative { -n } else { n })
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
            b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nm\r\n$5\r\n0:1:5\r\n$1\r\nd\r\n$2\r\nxx\r\n*2\r\n$3\r\n2-0\r\n*-1\r\n",
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

    /// A reply cut anywhere asks for more bytes, never for fewer than it has, and reads whole
    /// once they are there; what follows it is left for the next reply.
    #[test]
    fn a_cut_reply_asks_for_more() {
        let text = b"*2\r\n$5\r\nhello\r\n:7\r\n+NEXT\r\n";
        let first = text.len() - b"+NEXT\r\n".len();
        for cut in 0..first {
            match decode(&text[..cut]) {
                Ok(Decoded::Need(n)) => assert!(n > cut, "cut {cut}: need {n}"),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert_eq!(
            decode(text),
            Ok(Decoded::Reply(
                Value::Array(vec![Value::BulkString(b"hello".to_vec()), Value::Int(7)]),
                first
            ))
        );
        // A large bulk string says how long it is before it arrives.
        assert_eq!(decode(b"$1000\r\nab"), Ok(Decoded::Need(1009)));
    }

    #[test]
    fn refuses_what_is_not_resp2() {
        for text in [
            &b"?\r\n"[..],
            b":12a\r\n",
            b":\r\n",
            b"$-2\r\n",
            b"$2\r\nabc\r\n",
            b"+OK\rX",
            b":99999999999999999999\r\n",
        ] {
            assert!(decode(text).is_err(), "{}", String::from_utf8_lossy(text));
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert!(decode(deep.as_bytes()).is_err());
    }
}
