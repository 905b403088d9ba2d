//! Numbers as people read them: thousands separators, microseconds, bytes, compact axis labels.
//!
//! A leaf: it imports nothing of this crate, so the summaries, the HTML page and the scenarios'
//! findings all use it without importing one another.

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A mean of counts over repeats: an integer with separators when it is one ("2,020"), else one
/// decimal ("2,020.5"): a count never reads "2020.0".
pub fn mean_count(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "?".into();
    }
    let tenths = (v * 10.0).round() as u64;
    match tenths % 10 {
        0 => thousands(tenths / 10),
        d => format!("{}.{d}", thousands(tenths / 10)),
    }
}

/// µs → "850 µs" / "1.25 ms" / "2.10 s" (two decimals: summaries and findings).
pub fn human_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// `3145728` → `3.00 MiB`. Every byte count a person reads is in binary units labelled as such
/// (KiB, MiB), as Redis counts `maxmemory`: one unit system across summary, page and README.
pub fn human_bytes(b: u64) -> String {
    match b {
        0..=1023 => format!("{b} B"),
        1024..=1_048_575 => format!("{:.1} KiB", b as f64 / 1024.0),
        _ => format!("{:.2} MiB", b as f64 / 1_048_576.0),
    }
}

/// Mebibytes, one decimal: "11.8 MiB" (progress lines, RSS, the summaries).
pub fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

/// Axis label: 1234 → "1.2k", 2_500_000 → "2.5M".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// Axis label for bytes: "1.5 MiB" / "512 KiB".
pub fn bytes(v: f64) -> String {
    if v >= 1_048_576.0 {
        format!("{} MiB", trim(v / 1_048_576.0))
    } else if v >= 1024.0 {
        format!("{} KiB", trim(v / 1024.0))
    } else {
        format!("{} B", trim(v))
    }
}

/// Axis label for seconds: "1.5 s".
pub fn secs(v: f64) -> String {
    format!("{} s", trim(v))
}

/// Axis label for µs: "850 µs" / "1.2 ms" / "2 s".
pub fn micros(v: f64) -> String {
    if v >= 1e6 {
        format!("{} s", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{} ms", trim(v / 1e3))
    } else {
        format!("{} µs", trim(v))
    }
}

/// At most three significant digits, no trailing zeros: 12.50 → "12.5", 3.0 → "3".
pub fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(mean_count(2020.0), "2,020");
        assert_eq!(mean_count(2020.46), "2,020.5");
        assert_eq!(mean_count(0.04), "0");
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(1250), "1.25 ms");
        assert_eq!(human_us(2_100_000), "2.10 s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.00 MiB");
        // The checkpoint page's 10,152,664 bytes and the summary's figure agree.
        assert_eq!(human_bytes(10_152_664), "9.68 MiB");
        assert_eq!(mib(10_152_664), "9.7 MiB");
        assert_eq!(mib(2_000_000), "1.9 MiB");
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(compact(2_000_000.0), "2M");
        assert_eq!(bytes(3.0 * 1_048_576.0), "3 MiB");
        assert_eq!(micros(1250.0), "1.25 ms");
        assert_eq!(secs(12.5), "12.5 s");
    }
}
