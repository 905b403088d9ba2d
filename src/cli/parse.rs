//! Value parsers of the command line: counts, seconds, rates, probabilities, each refusing
//! what cannot be used with a message that says what to write instead.

/// A probability in [0, 1].
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a probability; write e.g. 0.05"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// A count ≥ 1 and ≤ 10^9 (`10000`, `10_000`, `10k`, `1m`).
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "").to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n.to_string(), 1_000),
        None => match t.strip_suffix('m') {
            Some(n) => (n.to_string(), 1_000_000),
            None => (t.clone(), 1),
        },
    };
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    if num.strip_prefix('-').is_some_and(digits) {
        return Err(format!("{s} is negative; must be at least 1"));
    }
    let n: u64 = num.parse().map_err(|_| {
        if digits(&num) {
            format!("'{s}' is too large: at most 1,000,000,000")
        } else {
            format!("'{s}' is not a whole number of messages")
        }
    })?;
    let n = n
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    match n {
        0 => Err("must be at least 1".into()),
        n if n > 1_000_000_000 => Err(format!(
            "{n} is more than the 1,000,000,000 a run can track"
        )),
        n => Ok(n),
    }
}

fn parse_positive(s: &str, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of {what}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a positive number of {what}"))
    }
}

/// Seconds > 0, at most a week.
pub fn parse_secs(s: &str) -> Result<f64, String> {
    let v = parse_positive(s, "seconds")?;
    if v > 7.0 * 86400.0 {
        return Err("must be at most a week (604800 seconds)".into());
    }
    Ok(v)
}

/// Seconds, where 0 means "off".
pub fn parse_secs_or_zero(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        _ => parse_secs(s),
    }
}

/// A moment as Unix seconds (after 2001, so milliseconds and small numbers are caught).
pub fn parse_secs_since_epoch(s: &str) -> Result<f64, String> {
    let v = parse_positive(s, "seconds since 1970")?;
    if !(1e9..1e10).contains(&v) {
        return Err(format!(
            "{s} is not a Unix time in seconds (like $(date +%s), about 1.7e9)"
        ));
    }
    Ok(v)
}

/// Messages per second > 0.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    parse_positive(s, "messages per second")
}

/// A size as redis.conf writes it, split into its number (as written, lower case) and the
/// multiplier of its unit (`k` = 1000, `kb` = 1024, ... up to `gb`); `None` for another unit.
pub fn memory_units(s: &str) -> Option<(String, u64)> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match &t[digits.len()..] {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    Some((digits.to_string(), unit))
}

/// A memory size as redis.conf writes it (`50mb`, `2gb`, `500k`, `1048576`), from 1 byte to
/// 1 TB.
pub fn parse_memory_size(s: &str) -> Result<u64, String> {
    let not_a_size = || format!("'{s}' is not a size; write e.g. 50mb or 1gb");
    let (digits, unit) = memory_units(s).ok_or_else(not_a_size)?;
    let n: u64 = digits.parse().map_err(|_| not_a_size())?;
    match n.checked_mul(unit) {
        Some(b) if (1..=1u64 << 40).contains(&b) => Ok(b),
        _ => Err(format!("'{s}' must be between 1 byte and 1 TB")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_read_as_redis_conf_writes_them() {
        assert_eq!(parse_memory_size("50mb"), Ok(50 << 20));
        assert_eq!(parse_memory_size("50m"), Ok(50_000_000));
        assert_eq!(parse_memory_size(" 2GB "), Ok(2 << 30));
        assert_eq!(parse_memory_size("1024"), Ok(1024));
        for bad in [
            "",
            "mb",
            "-5mb",
            "5 mb",
            "5tb",
            "2000gb",
            "99999999999999999999",
            "50 parsecs",
            "0mb",
        ] {
            assert!(parse_memory_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn counts_accept_suffixes_and_reject_zero_negative_and_junk() {
        assert_eq!(parse_count("20000"), Ok(20_000));
        assert_eq!(parse_count("10_000"), Ok(10_000));
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("2M"), Ok(2_000_000));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(parse_count("-5").unwrap_err().contains("negative"));
        assert!(parse_count("ten")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(parse_count("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_count("5000m").unwrap_err().contains("more than"));
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// `--messages`: no input panics; what parses is within 1..=10^9.
            #[test]
            fn parse_count_never_panics(s in "\\PC*|-?[0-9_]{0,25}[kKmM]?") {
                if let Ok(n) = parse_count(&s) {
                    prop_assert!((1..=1_000_000_000).contains(&n));
                }
                let _ = parse_secs(&s);
                let _ = parse_rate(&s);
            }
        }
    }
}
