//! The message's tag: the `m` field every message carries, `"<producer>:<seq>:<sent_us>"`, and
//! the clock it is stamped with.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the clock messages carry (comparable across processes).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A stream entry id `ms-seq`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64, pub u64);

impl EntryId {
    /// The longest id: two decimal u64s and a dash.
    pub const MAX_LEN: usize = 2 * 20 + 1;

    /// Parses `1700000000000-3`; `None` for anything else.
    pub fn parse(id: &str) -> Option<EntryId> {
        EntryId::decode(id.as_bytes())
    }

    /// [`EntryId::parse`] of the bytes of a reply.
    pub fn decode(id: &[u8]) -> Option<EntryId> {
        let dash = id.iter().position(|&b| b == b'-')?;
        Some(EntryId(decimal(&id[..dash])?, decimal(&id[dash + 1..])?))
    }

    /// Writes `ms-seq` into `buf` and returns it: no allocation (an XACK carries one per message).
    pub fn write<'a>(&self, buf: &'a mut [u8; Self::MAX_LEN]) -> &'a [u8] {
        let mut num = itoa::Buffer::new();
        let ms = num.format(self.0).as_bytes();
        buf[..ms.len()].copy_from_slice(ms);
        buf[ms.len()] = b'-';
        let start = ms.len() + 1;
        let seq = num.format(self.1).as_bytes();
        buf[start..start + seq.len()].copy_from_slice(seq);
        &buf[..start + seq.len()]
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// A decimal u64: digits only (`str::parse` would also take a leading `+`, which Redis and we
/// never write); one pass, as this runs for every message read.
fn decimal(part: &[u8]) -> Option<u64> {
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
    Some(n)
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

    /// Parses the `m` field; `None` for anything we did not write. One pass over the bytes
    /// (digits and two colons, each number at most a u64), as this runs for every message read.
    pub fn decode(bytes: &[u8]) -> Option<MessageTag> {
        let mut numbers = [0u64; 3];
        let (mut k, mut digits) = (0, 0);
        for &b in bytes {
            if b == b':' {
                if digits == 0 || k == 2 {
                    return None;
                }
                k += 1;
                digits = 0;
                continue;
            }
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            numbers[k] = numbers[k].checked_mul(10)?.checked_add(u64::from(digit))?;
            digits += 1;
        }
        if k != 2 || digits == 0 {
            return None;
        }
        Some(MessageTag {
            producer: u32::try_from(numbers[0]).ok()?,
            seq: numbers[1],
            sent_us: numbers[2],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_order_and_print_as_redis_writes_them() {
        assert_eq!(EntryId::parse("17-3"), Some(EntryId(17, 3)));
        assert!(EntryId::parse("17-10") > EntryId::parse("17-9"));
        assert!(EntryId::parse("18-0") > EntryId::parse("17-99"));
        for bad in [
            "x",
            "17",
            "17-",
            "-3",
            "+1-2",
            "1-2-3",
            "18446744073709551616-0",
        ] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
        let id = EntryId(u64::MAX, u64::MAX);
        let text = id.to_string();
        assert_eq!(id.write(&mut [0; EntryId::MAX_LEN]), text.as_bytes());
        assert_eq!(EntryId::parse(&text), Some(id));
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
}
