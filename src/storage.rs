//! What kind of file system a node's data lives on. AOF on a memory file system (tmpfs, ramfs)
//! measures nothing: every fsync is free, so AOF on vs off compares two in-memory runs.

use std::path::Path;

use serde::Serialize;

/// A file system type, from `statfs(2)`'s magic number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FsType {
    /// `tmpfs`, `ext2/ext3/ext4`, `xfs`, ... or `0x…` for a magic we do not name.
    pub name: String,
    /// True for file systems held in memory: fsync there costs nothing.
    pub in_memory: bool,
}

/// Names the magic numbers of `statfs(2)` (linux/magic.h) that matter here.
pub fn name_of_magic(magic: i64) -> FsType {
    let (name, in_memory) = match magic {
        0x0102_1994 => ("tmpfs", true),
        0x8584_58f6 => ("ramfs", true),
        0xef53 => ("ext2/ext3/ext4", false),
        0x5846_5342 => ("xfs", false),
        0x9123_683e => ("btrfs", false),
        0x794c_7630 => ("overlayfs", false),
        0x2fc1_2fc1 => ("zfs", false),
        0xf2f5_2010 => ("f2fs", false),
        0x6969 => ("nfs", false),
        0x6573_5546 => ("fuse", false),
        0x0102_1997 => ("9p", false),
        _ => {
            return FsType {
                name: format!("{magic:#x}"),
                in_memory: false,
            }
        }
    };
    FsType {
        name: name.into(),
        in_memory,
    }
}

/// The file system type of `path` (`None` when statfs fails, e.g. the path is gone).
pub fn fs_type(path: &Path) -> Option<FsType> {
    let st = nix::sys::statfs::statfs(path).ok()?;
    Some(name_of_magic(st.filesystem_type().0 as i64))
}

/// One node's data dir and its file system, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DataDir {
    pub port: u16,
    pub dir: String,
    pub fs: FsType,
}

/// The warning every report carries when AOF is on and some node's data dir is in memory.
pub fn aof_in_memory_warning(dirs: &[DataDir], aof_on: bool) -> Option<String> {
    if !aof_on {
        return None;
    }
    let memory: Vec<&DataDir> = dirs.iter().filter(|d| d.fs.in_memory).collect();
    let first = memory.first()?;
    Some(format!(
        "AOF is on but {} of {} node data dirs are on {} ({}): fsync costs nothing there, so \
         AOF figures measure nothing; put the data on a disk with --data-dir DIR (or RCSTRESS_DATA_DIR)",
        memory.len(),
        dirs.len(),
        first.fs.name,
        first.dir
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_name_memory_and_disk_file_systems() {
        assert_eq!(name_of_magic(0x01021994).name, "tmpfs");
        assert!(name_of_magic(0x01021994).in_memory);
        assert!(name_of_magic(0x858458f6).in_memory);
        assert!(!name_of_magic(0xef53).in_memory);
        assert_eq!(name_of_magic(0x1234).name, "0x1234");
    }

    #[test]
    fn the_warning_appears_only_with_aof_on_a_memory_fs() {
        let dir = |fs: i64| DataDir {
            port: 1,
            dir: "/tmp/x".into(),
            fs: name_of_magic(fs),
        };
        let tmp = [dir(0x01021994), dir(0x01021994)];
        let disk = [dir(0xef53)];
        assert!(aof_in_memory_warning(&tmp, true)
            .unwrap()
            .contains("2 of 2"));
        assert!(aof_in_memory_warning(&tmp, false).is_none());
        assert!(aof_in_memory_warning(&disk, true).is_none());
    }

    #[test]
    fn statfs_of_a_real_dir_gives_a_type() {
        let d = tempfile::tempdir().unwrap();
        assert!(fs_type(d.path()).is_some());
        assert!(fs_type(Path::new("/nonexistent/dir")).is_none());
    }
}
