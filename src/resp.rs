//! RESP2, the bytes a node answers with, read in place: one item at a time (a scalar, or an
//! array's header), without allocating. A leaf: imports nothing of ours.
//!
//! Two readers are built on it: the connection to each node turns replies into redis-rs values
//! (`cluster::link`), and the consumer reads stream entries straight from an XREADGROUP reply's
//! bytes (`stream::reply`). A reply not all there yet is not an error: the reader says how many
//! bytes it needs at least, so a large reply arriving in many reads is parsed once, not once per
//! read.

/// One item of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// `+text`.
    Simple(&'a [u8]),
    /// `-CODE detail`: the whole line, from the `-` to the CRLF included.
    Error(&'a [u8]),
    /// `:n`.
    Int(i64),
    /// `$n` and its bytes; `None` for the nil bulk string (`$-1`).
    Bulk(Option<&'a [u8]>),
    /// `*n`: an array of `n` items, which follow; `None` for the nil array (`*-1`).
    Array(Option<usize>),
}

/// Why an item cannot be read yet, or at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Not all there: the buffer must hold at least this many bytes (from its start).
    Need(usize),
    /// Not RESP2.
    Malformed(&'static str),
}

/// Nesting deeper than this is refused (as redis-rs refuses it).
pub const MAX_DEPTH: usize = 100;

/// Reads items from the start of a buffer.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next item; on `Err` the position is unspecified.
    pub fn item(&mut self) -> Result<Item<'a>, Stop> {
        let start = self.pos;
        let kind = *self.buf.get(start).ok_or(Stop::Need(start + 1))?;
        self.pos += 1;
        match kind {
            b'+' => Ok(Item::Simple(self.line()?)),
            b'-' => {
                self.line()?;
                Ok(Item::Error(&self.buf[start..self.pos]))
            }
            b':' => Ok(Item::Int(self.number()?)),
            b'$' => match self.number()? {
                -1 => Ok(Item::Bulk(None)),
                len if len < 0 => Err(Stop::Malformed("negative bulk length")),
                len => self.bulk(len as usize).map(|b| Item::Bulk(Some(b))),
            },
            b'*' => match self.number()? {
                -1 => Ok(Item::Array(None)),
                n if n < 0 => Err(Stop::Malformed("negative array length")),
                n => Ok(Item::Array(Some(n as usize))),
            },
            _ => Err(Stop::Malformed("unknown reply type (not RESP2)")),
        }
    }

    /// Reads past one whole value (an array with everything in it).
    pub fn skip(&mut self, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Malformed("reply nested too deep"));
        }
        if let Item::Array(Some(n)) = self.item()? {
            for _ in 0..n {
                self.skip(depth + 1)?;
            }
        }
        Ok(())
    }

    /// How many of an array's `n` items to reserve room for: a length the peer sent is not
    /// trusted for memory, and each item takes at least 3 bytes of what is left.
    pub fn capacity_for(&self, n: usize) -> usize {
        n.min((self.buf.len() - self.pos) / 3)
    }

    /// The rest of the line as a decimal i64 (an optional minus, then digits), read in the same
    /// pass that looks for its CRLF: every item but a simple string or an error starts with one.
    fn number(&mut self) -> Result<i64, Stop> {
        let buf = self.buf;
        let mut i = self.pos;
        let negative = buf.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let first = i;
        let mut n: i64 = 0;
        loop {
            let Some(&b) = buf.get(i) else {
                return Err(Stop::Need(i + 2));
            };
            if b == b'\r' {
                break;
            }
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err(Stop::Malformed("integer with a non-digit"));
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(digit)))
                .ok_or(Stop::Malformed("integer out of range"))?;
            i += 1;
        }
        if i == first {
            return Err(Stop::Malformed("empty integer"));
        }
        match buf.get(i + 1) {
            None => Err(Stop::Need(i + 2)),
            Some(b'\n') => {
                self.pos = i + 2;
                Ok(if negative { -n } else { n })
            }
            Some(_) => Err(Stop::Malformed("CR without LF")),
        }
    }

    /// The rest of the line, without its CRLF; the position moves past the CRLF.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
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
            Some(_) => Err(Stop::Malformed("CR without LF")),
        }
    }

    fn bulk(&mut self, len: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos + len;
        if self.buf.len() < end + 2 {
            return Err(Stop::Need(end + 2));
        }
        if self.buf[end] != b'\r' || self.buf[end + 1] != b'\n' {
            return Err(Stop::Malformed("bulk string longer than its length"));
        }
        let data = &self.buf[self.pos..end];
        self.pos = end + 2;
        Ok(data)
    }
}

/// Where the first reply in a buffer ends, found across reads: each call resumes where the last
/// one stopped, so a large reply arriving in many reads is walked once, not once per read.
/// Nothing is allocated per item (only a counter per level of nesting).
#[derive(Debug, Default)]
pub struct FrameScan {
    /// Bytes of the reply walked so far.
    pos: usize,
    /// Items still to come in each array opened and not finished, innermost last.
    open: Vec<usize>,
}

impl FrameScan {
    /// `Some(len)`: `buf` starts with a whole reply of `len` bytes (and the scan starts over for
    /// the next one); `None`: more bytes are needed. `buf` must start where it started on the
    /// previous calls and hold at least what it held then.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, Stop> {
        loop {
            let mut r = Reader { buf, pos: self.pos };
            let item = match r.item() {
                Ok(item) => item,
                Err(Stop::Need(_)) => return Ok(None),
                Err(bad) => {
                    *self = FrameScan::default();
                    return Err(bad);
                }
            };
            self.pos = r.pos;
            if let Some(left) = self.open.last_mut() {
                *left -= 1;
            }
            if let Item::Array(Some(n)) = item {
                if n > 0 {
                    if self.open.len() >= MAX_DEPTH {
                        *self = FrameScan::default();
                        return Err(Stop::Malformed("reply nested too deep"));
                    }
                    self.open.push(n);
                }
            }
            while self.open.last() == Some(&0) {
                self.open.pop();
            }
            if self.open.is_empty() {
                let len = self.pos;
                self.pos = 0;
                return Ok(Some(len));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of the first whole reply in `buf`, `Err(Need)` if it is not all there.
    fn frame_len(buf: &[u8]) -> Result<usize, Stop> {
        match FrameScan::default().scan(buf)? {
            Some(len) => Ok(len),
            None => Err(Stop::Need(buf.len() + 1)),
        }
    }

    #[test]
    fn reads_items_in_place() {
        let text = b"*3\r\n+OK\r\n$2\r\nab\r\n:-7\r\n-ERR no\r\n$-1\r\n*-1\r\n";
        let mut r = Reader::new(text);
        assert_eq!(r.item(), Ok(Item::Array(Some(3))));
        assert_eq!(r.item(), Ok(Item::Simple(b"OK")));
        assert_eq!(r.item(), Ok(Item::Bulk(Some(b"ab"))));
        assert_eq!(r.item(), Ok(Item::Int(-7)));
        assert_eq!(r.item(), Ok(Item::Error(b"-ERR no\r\n")));
        assert_eq!(r.item(), Ok(Item::Bulk(None)));
        assert_eq!(r.item(), Ok(Item::Array(None)));
        assert_eq!(r.position(), text.len());
        assert_eq!(r.item(), Err(Stop::Need(text.len() + 1)));
    }

    /// A reply cut anywhere is not whole; whole, its length is exact and what follows is not
    /// part of it; fed a byte at a time, one scan finds the same ends, reply after reply.
    #[test]
    fn frame_scan_finds_where_replies_end() {
        let text = b"*2\r\n$5\r\nhello\r\n*1\r\n*0\r\n:7\r\n*-1\r\n+NEXT\r\n";
        // *2 [$5 hello, *1 [*0]] | :7 | *-1 | +NEXT
        let ends = [23, 27, 32, text.len()];
        for cut in 0..ends[0] {
            assert!(
                matches!(frame_len(&text[..cut]), Err(Stop::Need(n)) if n > cut),
                "{cut}"
            );
        }
        assert_eq!(frame_len(text), Ok(ends[0]));
        let mut scan = FrameScan::default();
        let (mut start, mut found) = (0, Vec::new());
        for end in 1..=text.len() {
            if let Some(len) = scan.scan(&text[start..end]).unwrap() {
                start += len;
                found.push(start);
            }
        }
        assert_eq!(found, ends);
        assert_eq!(frame_len(b":1\r\n"), Ok(4));
    }

    #[test]
    fn refuses_what_is_not_resp2() {
        for text in [
            &b"?\r\n"[..],
            b":12a\r\n",
            b":\r\n",
            b"$-2\r\n",
            b"*-3\r\n",
            b"$2\r\nabc\r\n",
            b"+OK\rX",
            b":99999999999999999999\r\n",
        ] {
            assert!(
                matches!(frame_len(text), Err(Stop::Malformed(_))),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert!(matches!(
            frame_len(deep.as_bytes()),
            Err(Stop::Malformed(_))
        ));
    }
}
