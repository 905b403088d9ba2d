//! Reports: the JSON a script reads and the summary a person reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::workload::RunResult;
use crate::{Error, Result};

/// The JSON of `rcstress run` (field names are a public contract; see README).
#[derive(Serialize)]
pub struct RunReport<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    pub config: serde_json::Value,
    #[serde(flatten)]
    pub result: &'a RunResult,
}

/// A JSON output file, checked for writability before the run and written whole (temp file +
/// rename) after it, so that a failed run never leaves a partial file.
#[derive(Debug)]
pub struct JsonSink {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl JsonSink {
    /// Proves now that `path` can be written: creates a temp file beside it.
    pub fn prepare(path: &Path) -> Result<JsonSink> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            return Err(Error::Config(format!(
                "--json {} is a directory; give a file name",
                path.display()
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".rcstress-")
            .suffix(".json.tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                Error::Config(format!(
                    "cannot write --json {}: {e}; choose a writable path",
                    path.display()
                ))
            })?;
        Ok(JsonSink {
            path: path.to_path_buf(),
            tmp,
        })
    }

    /// Serializes `value` (pretty) and moves it into place.
    pub fn commit<T: Serialize>(mut self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::io("serialize JSON", std::io::Error::other(e)))?;
        let ctx = || format!("write {}", self.path.display());
        self.tmp
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(ctx(), e))?;
        self.tmp.write_all(b"\n").map_err(|e| Error::io(ctx(), e))?;
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e.error))?;
        Ok(())
    }
}

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

/// µs → "850 µs" / "1.25 ms" / "2.10 s".
pub fn human_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// The human summary of a run, several lines.
pub fn summary(title: &str, r: &RunResult) -> String {
    let c = &r.counts;
    let l = &r.latency_us;
    let errors = if r.errors.is_empty() {
        "none".to_string()
    } else {
        r.errors
            .iter()
            .map(|(k, v)| format!("{k} {}", thousands(*v)))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut s = format!(
        "{title}\n  elapsed     {:.3} s   throughput {} msg/s   (ended: {})\n  \
         counts      attempted {}  produced {}  delivered {}  acked {}\n              \
         lost {}  duplicated {}  recovered {}  unexpected {}  pending at end {}  failed {}  indeterminate {}\n  \
         latency     send→ack p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n  \
         errors      {errors}\n",
        r.elapsed_seconds,
        thousands(r.throughput_msgs_per_sec.round() as u64),
        r.ended_by,
        thousands(c.attempted),
        thousands(c.produced),
        thousands(c.delivered),
        thousands(c.acked),
        c.lost,
        c.duplicated,
        c.recovered,
        c.unexpected,
        c.pending_at_end,
        c.produce_failed,
        c.produce_indeterminate,
        human_us(l.p50),
        human_us(l.p90),
        human_us(l.p99),
        human_us(l.p999),
        human_us(l.max),
    );
    for d in &r.disagreements {
        s.push_str(&format!("  note        {d}\n"));
    }
    s.push_str(&format!("  verdict     {}\n", r.verdict));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(1250), "1.25 ms");
        assert_eq!(human_us(2_100_000), "2.10 s");
    }

    #[test]
    fn json_sink_refuses_unwritable_paths_before_the_run_and_writes_whole_files() {
        assert!(JsonSink::prepare(Path::new("/nonexistent-dir/r.json")).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(JsonSink::prepare(dir.path())
            .unwrap_err()
            .to_string()
            .contains("directory"));
        let path = dir.path().join("r.json");
        let sink = JsonSink::prepare(&path).unwrap();
        assert!(!path.exists(), "nothing at the final path until commit");
        sink.commit(&serde_json::json!({"a": 1})).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file was moved, not left"
        );
    }
}
