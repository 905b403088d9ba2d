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

#[cfg(test)]
mod tests {
    use super::*;

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
