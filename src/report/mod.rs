//! Reports: the JSON a script reads, the summary a person reads, and the HTML page with charts.
//!
//! - [`chart`]: inline SVG charts (lines over time with marked moments, bars, log bars).
//! - [`html`]: the self-contained page; its template is `page.html`.

pub mod chart;
pub mod html;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cluster::ClusterFacts;
use crate::scenario::ScenarioReport;
use crate::workload::RunResult;
use crate::{Error, Result};

/// The JSON of `rcstress run` (field names are a public contract; see README).
#[derive(Serialize)]
pub struct RunReport<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    /// "complete", or "interrupted, partial report" after Ctrl-C / SIGTERM.
    pub status: &'static str,
    pub config: serde_json::Value,
    #[serde(flatten)]
    pub result: &'a RunResult,
    /// `server`, `data_dirs`, `warnings`.
    #[serde(flatten)]
    pub facts: &'a ClusterFacts,
}

/// The JSON of `rcstress run` while it goes on (`--checkpoint`): the live counters, rewritten
/// atomically, replaced by the [`RunReport`] at the end. A run killed hard keeps this.
#[derive(Serialize)]
pub struct RunCheckpoint {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    /// "running".
    pub status: &'static str,
    pub config: serde_json::Value,
    pub progress: Progress,
}

/// Where a long run stands (the progress line and the checkpoint).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub elapsed_seconds: f64,
    pub attempted: u64,
    pub produced: u64,
    pub acked: u64,
    /// Produced and not yet acked.
    pub backlog: u64,
    pub errors: u64,
    /// Acked per second over the last progress interval.
    pub acked_per_sec: f64,
    /// `used_memory` summed over the masters; `None` when a master could not be asked.
    pub server_used_memory_bytes: Option<u64>,
    /// Peak resident memory of the client so far.
    pub client_peak_rss_bytes: u64,
}

impl Progress {
    /// The one-line form the progress display shows.
    pub fn line(&self) -> String {
        let mem = self
            .server_used_memory_bytes
            .map_or("?".into(), |b| format!("{:.1} MB", b as f64 / 1e6));
        format!(
            "{:.0} msg/s acked, backlog {}, server used_memory {mem}, client {:.1} MB, {} errors",
            self.acked_per_sec,
            thousands(self.backlog),
            self.client_peak_rss_bytes as f64 / 1e6,
            self.errors
        )
    }
}

/// An output file, checked for writability before the run and written whole (temp file +
/// rename) after it, so that a failed run never leaves a partial file.
#[derive(Debug)]
struct OutputFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl OutputFile {
    fn prepare(path: &Path, flag: &str, ext: &str) -> Result<OutputFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            return Err(Error::Config(format!(
                "{flag} {} is a directory; give a file name",
                path.display()
            )));
        }
        remove_stale_temp_files(&dir, ext);
        // The pid in the name lets a later run remove the file if this one is SIGKILLed.
        // Nothing secret is in a report: the usual 0644 (0666 less the umask), not tempfile's 0600.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".rcstress-{}-", std::process::id()))
            .suffix(&format!(".{ext}.tmp"))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| {
                // tempfile's own text names its random temp path; the OS reason is what helps.
                let reason = e
                    .raw_os_error()
                    .map(|code| std::io::Error::from_raw_os_error(code).to_string())
                    .unwrap_or_else(|| e.kind().to_string());
                Error::Config(format!(
                    "cannot write {flag} {}: {reason}; choose a writable path",
                    path.display()
                ))
            })?;
        Ok(OutputFile {
            path: path.to_path_buf(),
            tmp,
        })
    }

    fn commit(mut self, text: &str) -> Result<()> {
        let ctx = || format!("write {}", self.path.display());
        self.tmp
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(ctx(), e))?;
        if !text.ends_with('\n') {
            self.tmp.write_all(b"\n").map_err(|e| Error::io(ctx(), e))?;
        }
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e.error))?;
        Ok(())
    }
}

/// A JSON output file (`--json`), checked for writability before the run and written whole
/// (temp file + rename) after it, so that a failed run never leaves a partial file.
#[derive(Debug)]
pub struct JsonSink(OutputFile);

impl JsonSink {
    /// Proves now that `path` can be written: creates a temp file beside it.
    pub fn prepare(path: &Path) -> Result<JsonSink> {
        JsonSink::prepare_for(path, "--json")
    }

    /// The same, for a file named by another flag (the flag is what errors name).
    pub fn prepare_for(path: &Path, flag: &str) -> Result<JsonSink> {
        OutputFile::prepare(path, flag, "json").map(JsonSink)
    }

    /// Writes `value` to `path` now (temp file + rename), leaving any sink for the final write:
    /// a reader never sees a half-written checkpoint.
    pub fn checkpoint<T: Serialize>(path: &Path, value: &T) -> Result<()> {
        JsonSink::prepare(path)?.commit(value)
    }

    /// Serializes `value` (pretty) and moves it into place. Non-finite floats become `null`
    /// (serde_json's rule), so the file is always valid JSON.
    pub fn commit<T: Serialize>(self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::io("serialize JSON", std::io::Error::other(e)))?;
        self.0.commit(&text)
    }
}

/// An HTML output file (`--html`), with the same guarantees as [`JsonSink`].
#[derive(Debug)]
pub struct HtmlSink(OutputFile);

impl HtmlSink {
    /// Proves now that `path` can be written.
    pub fn prepare(path: &Path) -> Result<HtmlSink> {
        OutputFile::prepare(path, "--html", "html").map(HtmlSink)
    }

    /// Writes the page of a scenario report.
    pub fn commit(self, document: &ScenarioDocument<'_>) -> Result<()> {
        let value = serde_json::to_value(document)
            .map_err(|e| Error::io("serialize report", std::io::Error::other(e)))?;
        self.0.commit(&html::scenario_page(&value))
    }
}

/// The JSON of `rcstress scenario NAME`: who wrote it, then the scenario's report.
#[derive(Serialize)]
pub struct ScenarioDocument<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    #[serde(flatten)]
    pub report: &'a ScenarioReport,
}

impl<'a> ScenarioDocument<'a> {
    pub fn new(report: &'a ScenarioReport) -> Self {
        ScenarioDocument {
            tool: "rcstress",
            version: env!("CARGO_PKG_VERSION"),
            command: "scenario",
            report,
        }
    }
}

/// The human summary of a scenario: its findings, the checker's counts and the verdict.
pub fn scenario_summary(r: &ScenarioReport) -> String {
    let c = &r.counts;
    let l = &r.latency_us;
    let mut s = format!("rcstress scenario {}\n", r.scenario);
    for f in r.findings() {
        s.push_str(&format!("  - {f}\n"));
    }
    let errors = if r.errors.is_empty() {
        "none".to_string()
    } else {
        r.errors
            .iter()
            .map(|(k, v)| format!("{k} {}", thousands(*v)))
            .collect::<Vec<_>>()
            .join("  ")
    };
    s.push_str(&format!(
        "  counts      attempted {}  produced {}  delivered {}  acked {}\n              \
         lost {}  duplicated {}  recovered {}  unexpected {}  pending at end {}  refused {}  indeterminate {}\n  \
         latency     {}\n  \
         errors      {errors}\n  \
         verdict     {}\n",
        thousands(c.attempted),
        thousands(c.produced),
        thousands(c.delivered),
        thousands(c.acked),
        thousands(c.lost),
        thousands(c.duplicated),
        thousands(c.recovered),
        thousands(c.unexpected),
        thousands(c.pending_at_end),
        thousands(c.produce_failed),
        thousands(c.produce_indeterminate),
        send_to_ack(l, &[("p50", l.p50), ("p99", l.p99), ("max", l.max)]),
        r.verdict
    ));
    if r.counts.unconfirmed > 0 {
        s.push_str(&format!(
            "  durability  unconfirmed {} (XADD ok, the WAIT/WAITAOF after it fell short)\n",
            thousands(r.counts.unconfirmed)
        ));
    }
    // aof-compare has no `cost` (its modes are not pooled); every other scenario has one.
    let cost = r.details.get("cost").cloned();
    if let Some(cost) = cost.and_then(|c| serde_json::from_value::<crate::cost::Cost>(c).ok()) {
        s.push_str(&format!("  cpu         {}\n", cost.line()));
    }
    if let Some(serde_json::Value::Array(w)) = r.details.get("warnings") {
        for w in w.iter().filter_map(|w| w.as_str()) {
            s.push_str(&format!("  WARNING     {w}\n"));
        }
    }
    s
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

/// The latency line's text: the given percentiles, or "n/a" when nothing was acked (a run with
/// no consumers, such as memory-pressure): 0 µs there would read as instant.
fn send_to_ack(l: &crate::metrics::Latency, quantiles: &[(&str, u64)]) -> String {
    if l.count == 0 {
        return "send→ack n/a (nothing acked)".into();
    }
    let parts: Vec<String> = quantiles
        .iter()
        .map(|(name, us)| format!("{name} {}", human_us(*us)))
        .collect();
    format!("send→ack {}", parts.join("  "))
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
         latency     {}\n  \
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
        send_to_ack(
            l,
            &[
                ("p50", l.p50),
                ("p90", l.p90),
                ("p99", l.p99),
                ("p99.9", l.p999),
                ("max", l.max),
            ]
        ),
    );
    s.push_str(&format!(
        "  memory      ledger {:.1} MB  client peak RSS {:.1} MB\n",
        r.ledger_bytes as f64 / 1e6,
        r.client_peak_rss_bytes as f64 / 1e6
    ));
    s.push_str(&format!("  cpu         {}\n", r.cost.line()));
    if let Some(w) = r.cost.sync_warning() {
        s.push_str(&format!("  warning     {w}\n"));
    }
    if let Some(t) = r.trimmed_entries {
        s.push_str(&format!(
            "  trim        {} entries trimmed, {} of them unread; XLEN at the end {}\n",
            thousands(t),
            thousands(c.trimmed_unread),
            r.redis_xlen.map_or("?".into(), thousands)
        ));
    }
    if c.unconfirmed > 0 {
        s.push_str(&format!(
            "  durability  unconfirmed {} (XADD ok, the WAIT/WAITAOF after it fell short)\n",
            thousands(c.unconfirmed)
        ));
    }
    for d in r.notes.iter().chain(&r.disagreements) {
        s.push_str(&format!("  note        {d}\n"));
    }
    s.push_str(&format!("  verdict     {}\n", r.verdict));
    s
}

/// The lines a summary adds about the cluster: server and data file system, then each warning.
pub fn facts_summary(facts: &ClusterFacts) -> String {
    let mut s = format!("  server      {}\n", facts.describe());
    for w in &facts.warnings {
        s.push_str(&format!("  WARNING     {w}\n"));
    }
    s
}

/// Removes `.rcstress-<pid>-*.<ext>.tmp` files in `dir` whose run no longer exists (a run that
/// was SIGKILLed between preparing and committing its report).
fn remove_stale_temp_files(dir: &Path, ext: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let suffix = format!(".{ext}.tmp");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".rcstress-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if rest.ends_with(&suffix)
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario's text summary shows its cost, as a run's does.
    #[test]
    fn scenario_summary_has_the_cpu_line() {
        let cost = crate::cost::Cost {
            messages: 1000,
            client_cpu_seconds: 0.003,
            client_cpu_us_per_msg: 3.0,
            replicas_in_sync: true,
            ..Default::default()
        };
        let r = ScenarioReport {
            scenario: "x".into(),
            config: serde_json::json!({}),
            verdict: "ok".into(),
            elapsed_seconds: 1.0,
            throughput_msgs_per_sec: 1.0,
            counts: Default::default(),
            latency_us: Default::default(),
            errors: Default::default(),
            series: Vec::new(),
            events: Vec::new(),
            details: serde_json::Map::new(),
        };
        assert!(!scenario_summary(&r).contains("  cpu "));
        assert!(
            scenario_summary(&r).contains("send→ack n/a (nothing acked)"),
            "no ack, no latency figure"
        );
        let text = scenario_summary(&r.detail("cost", &cost));
        let line = text.lines().find(|l| l.starts_with("  cpu")).expect(&text);
        assert!(line.contains(&cost.line()), "{text}");
    }

    /// A temp file left by a SIGKILLed run (its pid is gone) is removed by the next prepare; a
    /// live run's file and other files are not.
    #[test]
    fn stale_temp_files_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".rcstress-4999999-abc.json.tmp");
        let live = dir
            .path()
            .join(format!(".rcstress-{}-abc.json.tmp", std::process::id()));
        let other = dir.path().join("notes.json.tmp");
        for f in [&dead, &live, &other] {
            std::fs::write(f, "{").unwrap();
        }
        let _sink = JsonSink::prepare(&dir.path().join("r.json")).unwrap();
        assert!(!dead.exists() && live.exists() && other.exists());
    }

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
