//! Output files (`--json`, `--html`, `--checkpoint`): checked for writability before the run,
//! written whole (temp file + rename) after it, so that a failed run never leaves a partial file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::html::{checkpoint_page, scenario_page, DetailPage};
use super::{Progress, RunCheckpoint, ScenarioDocument};
use crate::{Error, Result};

/// An output file, checked for writability before the run and written whole (temp file +
/// rename) after it, so that a failed run never leaves a partial file.
#[derive(Debug)]
struct OutputFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl OutputFile {
    fn prepare(path: &Path, flag: &str, ext: &str) -> Result<OutputFile> {
        if path.is_dir() {
            return Err(Error::Config(format!(
                "{flag} {} is a directory; give a file name",
                path.display()
            )));
        }
        let dir = crate::files::parent_dir(path);
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "cannot write {flag} {}: directory {} does not exist; create it or choose a writable path",
                path.display(),
                dir.display()
            )));
        }
        crate::files::remove_stale(&dir, ".rcstress-", &format!(".{ext}.tmp"));
        let tmp = crate::files::temp_beside(path, ext).map_err(|e| {
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

    /// Writes the page of a run that goes on to `path` now (temp file + rename), leaving any
    /// sink for the final page: a reader never sees a half-written page.
    pub fn checkpoint(path: &Path, doc: &RunCheckpoint, history: &[Progress]) -> Result<()> {
        OutputFile::prepare(path, "--html", "html")?.commit(&checkpoint_page(doc, history))
    }

    /// Writes the page of a scenario report.
    pub fn commit<D: DetailPage>(self, document: &ScenarioDocument<'_, D>) -> Result<()> {
        self.0.commit(&scenario_page(document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn json_sink_refuses_unwritable_paths_before_the_run_and_writes_whole_files() {
        let missing = JsonSink::prepare(Path::new("/nonexistent-dir/r.json")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("directory /nonexistent-dir does not exist"),
            "{missing}"
        );
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
