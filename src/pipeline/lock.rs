//! One run per data directory.
//!
//! Two runs on one `data_dir` would tail the same files from the same checkpoints, ship every
//! line twice and overwrite each other's checkpoints. Like Filebeat (`filebeat.lock`) and
//! Logstash (`.lock` in `path.data`), a run (`sluice run`, with or without `--once`) holds an
//! exclusive advisory lock on `<data_dir>/sluice.lock` for its whole life, and a second run
//! is refused with the pid of the first; `validate` and `test` run no pipeline and take no
//! lock.
//!
//! The lock is flock(2) (`std::fs::File::try_lock`), tied to the open file, not to the
//! file's existence: the kernel releases it when the process ends, however it ends (`kill -9`
//! included), so a file left behind never blocks the next start. The file is therefore never
//! removed: removing it at exit would let a third run lock a new file of the same name while
//! a second one still holds the old one. The pid written into it is only for the message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The lock file's name inside `data_dir`.
pub const LOCK_FILE: &str = "sluice.lock";

/// Held for the life of a run; the lock goes with the process.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data directory {} is in use by another sluice run ({}); two runs on one data \
         directory would read the same files and ship every line twice (lock file {})",
        .dir.display(), holder(.pid), .lock_file.display()
    )]
    InUse {
        dir: PathBuf,
        lock_file: PathBuf,
        /// The other run's pid, when it has written it yet.
        pid: Option<u32>,
    },
    #[error("cannot create data directory {path}: {source}", path = .path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}", path = .path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn holder(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "its pid is not written yet".to_string(),
    }
}

impl DataDirLock {
    /// Creates `dir` if needed and takes its lock, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        std::fs::create_dir_all(dir).map_err(|source| LockError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let lock_error = |source| LockError::Lock {
            path: path.clone(),
            source,
        };
        // Not truncated on open: the file may hold the pid of the run that has it locked.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok());
                return Err(LockError::InUse {
                    dir: dir.to_path_buf(),
                    lock_file: path,
                    pid,
                });
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(lock_error)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let held = DataDirLock::acquire(&data).unwrap();
        let refused = DataDirLock::acquire(&data).unwrap_err();
        let message = refused.to_string();
        assert!(
            matches!(refused, LockError::InUse { pid: Some(pid), .. } if pid == std::process::id()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(held);
        // Released with its file, and the file left behind does not block.
        DataDirLock::acquire(&data).unwrap();
    }

    #[test]
    fn a_directory_that_cannot_be_created_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let error = DataDirLock::acquire(&blocker.join("sub")).unwrap_err();
        assert!(matches!(error, LockError::CreateDir { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("cannot create data directory"),
            "{error}"
        );
    }
}
