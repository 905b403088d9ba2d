//! Files of ours: written with the mode they need, and swept when a run that was SIGKILLed left
//! them behind. A leaf: it imports nothing of the crate but the error type.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `path` (created or truncated) with `mode` when it is created: 0600 for a
/// node's config or a key, 0644 for what anyone may read.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(ctx(), e))?;
    f.write_all(bytes).map_err(|e| Error::io(ctx(), e))
}

/// The directory `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temp file beside `path`, to be renamed onto it: named `.rcstress-<pid>-….<ext>.tmp`, so
/// that [`remove_stale`] removes it if this run is SIGKILLed before the rename, with 0644 less
/// the umask (nothing in a report or checkpoint is secret; tempfile's default is 0600).
pub fn temp_beside(path: &Path, ext: &str) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(".rcstress-{}-", std::process::id()))
        .suffix(&format!(".{ext}.tmp"))
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(parent_dir(path))
}

/// Replaces `path` whole with `bytes` (a [`temp_beside`] it, then a rename), so a reader sees
/// the old file or the new one, never half of one: how checkpoints are rewritten while a long
/// run goes on.
pub fn replace(path: &Path, ext: &str, bytes: &[u8]) -> Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    let mut tmp = temp_beside(path, ext).map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

/// True while process `pid` exists and is not a zombie. A SIGKILLed run whose parent has not
/// reaped it yet is a zombie: dead, and what it left is stale.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain spaces.
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .map(str::trim_start)
                .and_then(|r| r.chars().next()),
            Some('Z') | Some('X')
        ),
        Err(_) => false,
    }
}

/// Removes the entries of `dir` named `{prefix}{pid}-...{suffix}` whose process `pid` no longer
/// runs (a run that was SIGKILLed cannot clean up after itself). A limit we accept: if the dead
/// run's pid was reused by a live process, its leftovers stay until that process is gone too.
pub fn remove_stale(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Some(path) = stale(&entry.path(), prefix, suffix) {
            let _ = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
        }
    }
}

/// `Some(path)` when `path`'s name says it belongs to a run that is gone.
fn stale(path: &Path, prefix: &str, suffix: &str) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(prefix)?;
    let pid: u32 = rest.split('-').next()?.parse().ok()?;
    (rest.ends_with(suffix) && pid != std::process::id() && !pid_alive(pid))
        .then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A dead pid's leftovers go, ours and other names stay, and a file keeps its mode.
    #[test]
    fn stale_leftovers_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // pid_max is at most 2^22: this pid cannot be running.
        let dead = 4_194_304 + 17;
        let me = std::process::id();
        write_file(
            &d.join(format!(".rcstress-{dead}-x.json.tmp")),
            b"{}",
            0o644,
        )
        .unwrap();
        write_file(&d.join(format!(".rcstress-{me}-x.json.tmp")), b"{}", 0o644).unwrap();
        write_file(&d.join("keep.json"), b"{}", 0o600).unwrap();
        std::fs::create_dir(d.join(format!("rcstress-{dead}-abc"))).unwrap();
        remove_stale(d, ".rcstress-", ".json.tmp");
        remove_stale(d, "rcstress-", "");
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![format!(".rcstress-{me}-x.json.tmp"), "keep.json".into()]
        );
        let mode = std::fs::metadata(d.join("keep.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(pid_alive(me) && !pid_alive(dead));
    }
}
