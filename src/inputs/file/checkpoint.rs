//! The checkpoint file: how far every tailed file has been delivered, surviving restarts and
//! crashes.
//!
//! One JSON file per input, `data_dir/checkpoints/<input id>.json`, rewritten as a whole: it
//! holds one small entry per known file, so rewriting is cheap and there is no log to compact
//! (Filebeat's memlog registry is an append log because it tracks many inputs at once). The
//! write is atomic: a temporary file is written and `fsync`ed, renamed over the previous
//! checkpoint, and the directory is `fsync`ed so the rename itself is durable. A crash at any
//! moment therefore leaves either the old or the new checkpoint, never a torn one, which is why
//! an unreadable checkpoint is reported as an error instead of being silently replaced.
//!
//! Offsets in the file are only ever acknowledged offsets (see [`crate::inputs::watermark`]):
//! restarting from them re-reads at most what was in flight, and loses nothing.
//!
//! While tailing, checkpoints are written by a thread of their own ([`BackgroundWriter`]):
//! the reader hands over the newest entries whenever acknowledged progress moves and goes on
//! reading, and the thread writes the newest it has as soon as its previous write is done. So
//! the checkpoint trails acknowledgements by about one write (an fsync, milliseconds) and the
//! reader never waits for the disk. That gap is what a `kill -9` re-sends on top of what was
//! in flight: with the disk queue, where lines are acknowledged once they are durable in the
//! queue, a one-second timer instead re-sent a second of lines (up to ~1,900 per kill at
//! 2,000 lines/s in the chaos suite; ~200 with this writer).
//!
//! With the disk queue even that gap is closed: no write of this file can be made atomic with
//! the queue's record (two files, and the checkpoint may only move once the record is
//! durable), so the record carries the file's position itself and a start resumes from the
//! later of this checkpoint and the queue's position (`queued.rs`). The checkpoint remains
//! what the memory queue resumes from, and what the disk queue's position is checked against.

use super::identity::{FileKey, Fingerprint};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

const FORMAT_VERSION: u32 = 1;

/// What is remembered about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// The path the file was last seen under (informational: identity is device + inode).
    pub path: PathBuf,
    pub device: u64,
    pub inode: u64,
    /// Everything before this byte offset has been delivered; reading resumes here.
    pub offset: u64,
    /// Confirms the inode still holds the same file (inode numbers are reused).
    pub fingerprint: Fingerprint,
    /// When the entry was last written (RFC 3339), for people reading the file.
    pub updated: String,
}

impl FileCheckpoint {
    pub fn key(&self) -> FileKey {
        FileKey {
            device: self.device,
            inode: self.inode,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointDocument {
    version: u32,
    files: Vec<FileCheckpoint>,
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("checkpoint {path} is not valid (fix or delete it to re-read every file): {source}")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "checkpoint {path} has format version {found}, this sluice reads version {FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write checkpoint {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Where one input's checkpoint lives.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// The checkpoint of input `input_id` under `data_dir`.
    pub fn new(data_dir: &Path, input_id: &str) -> Self {
        Self {
            path: data_dir
                .join("checkpoints")
                .join(format!("{}.json", file_name_safe(input_id))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved entries; none when no checkpoint was written yet.
    pub fn load(&self) -> Result<Vec<FileCheckpoint>, CheckpointError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let document: CheckpointDocument =
            serde_json::from_slice(&text).map_err(|source| CheckpointError::Invalid {
                path: self.path.clone(),
                source,
            })?;
        if document.version != FORMAT_VERSION {
            return Err(CheckpointError::Version {
                path: self.path.clone(),
                found: document.version,
            });
        }
        Ok(document.files)
    }

    /// Replaces the checkpoint with `files`, atomically and durably.
    pub fn save(&self, files: Vec<FileCheckpoint>) -> Result<(), CheckpointError> {
        let document = CheckpointDocument {
            version: FORMAT_VERSION,
            files,
        };
        self.write_atomically(&document)
            .map_err(|source| CheckpointError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn write_atomically(&self, document: &CheckpointDocument) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut temporary_name = self.path.as_os_str().to_owned();
        temporary_name.push(".tmp");
        let temporary = PathBuf::from(temporary_name);
        let bytes = serde_json::to_vec_pretty(document).map_err(io::Error::other)?;
        let mut file = File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &self.path)?;
        File::open(dir)?.sync_all()
    }
}

/// Writes checkpoints on a thread of its own (see the module docs).
#[derive(Debug)]
pub struct BackgroundWriter {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<WriterState>,
    offered: Condvar,
}

#[derive(Debug, Default)]
struct WriterState {
    /// The newest entries not written yet (an older offer is replaced: only the newest counts).
    newest: Option<Vec<FileCheckpoint>>,
    stop: bool,
    /// The last write failed; its entries are gone, so the reader offers them again.
    failure: Option<CheckpointError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BackgroundWriter {
    /// Starts the writing thread for `store`.
    pub fn start(store: CheckpointStore) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || write_offers(&store, &writer))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over the newest entries; they are written after the write in progress, if any.
    pub fn offer(&self, files: Vec<FileCheckpoint>) {
        self.shared.lock().newest = Some(files);
        self.shared.offered.notify_one();
    }

    /// The failure of a write since the last call, if one failed.
    pub fn take_failure(&self) -> Option<CheckpointError> {
        self.shared.lock().failure.take()
    }

    /// Writes what was offered last, stops the thread, and says whether a write failed.
    pub fn finish(mut self) -> Result<(), CheckpointError> {
        self.shared.lock().stop = true;
        self.shared.offered.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.shared.lock().failure.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.offered.notify_one();
    }
}

/// The writing thread: writes the newest offer until told to stop (and then the last one).
fn write_offers(store: &CheckpointStore, shared: &Shared) {
    loop {
        let files = {
            let mut state = shared.lock();
            loop {
                if let Some(files) = state.newest.take() {
                    break files;
                }
                if state.stop {
                    return;
                }
                state = shared
                    .offered
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Err(failure) = store.save(files) {
            shared.lock().failure = Some(failure);
        }
    }
}

/// `id` with every character that is not safe in a file name replaced by `_`.
fn file_name_safe(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(inode: u64, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            path: PathBuf::from(format!("/var/log/app{inode}.log")),
            device: 2049,
            inode,
            offset,
            fingerprint: Fingerprint::of_bytes(b"first line\n"),
            updated: "2024-05-01T12:00:00.000Z".into(),
        }
    }

    #[test]
    fn the_background_writer_leaves_the_last_offer_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "app");
        let writer = BackgroundWriter::start(store.clone()).unwrap();
        for offset in 0..200 {
            writer.offer(vec![entry(1, offset), entry(2, 7)]);
        }
        writer.finish().unwrap();
        assert_eq!(store.load().unwrap(), vec![entry(1, 199), entry(2, 7)]);
    }

    #[test]
    fn the_background_writer_reports_a_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        // `checkpoints` is a file, so the directory cannot be created.
        std::fs::write(dir.path().join("checkpoints"), b"").unwrap();
        let writer = BackgroundWriter::start(CheckpointStore::new(dir.path(), "app")).unwrap();
        writer.offer(vec![entry(1, 10)]);
        assert!(matches!(
            writer.finish(),
            Err(CheckpointError::Write { .. })
        ));
    }

    #[test]
    fn entries_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "app_logs");
        assert_eq!(store.load().unwrap(), Vec::new(), "no checkpoint yet");
        let entries = vec![entry(1, 100), entry(2, 0)];
        store.save(entries.clone()).unwrap();
        assert_eq!(store.load().unwrap(), entries);
        assert_eq!(
            store.path(),
            dir.path().join("checkpoints").join("app_logs.json")
        );
    }

    #[test]
    fn saving_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "app");
        store.save(vec![entry(1, 10)]).unwrap();
        let inode_before =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(store.path()).unwrap());
        store.save(vec![entry(1, 20)]).unwrap();
        let inode_after =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(store.path()).unwrap());
        assert_ne!(
            inode_before, inode_after,
            "the new checkpoint is a new file renamed into place, not an in-place rewrite"
        );
        assert_eq!(store.load().unwrap(), vec![entry(1, 20)]);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["app.json".to_string()]);
    }

    #[test]
    fn a_leftover_temporary_from_a_crash_does_not_affect_loading() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "app");
        store.save(vec![entry(1, 10)]).unwrap();
        // A crash between writing the temporary and renaming it leaves a torn temporary.
        std::fs::write(
            dir.path().join("checkpoints/app.json.tmp"),
            b"{\"version\":1,\"fi",
        )
        .unwrap();
        assert_eq!(store.load().unwrap(), vec![entry(1, 10)]);
        store.save(vec![entry(1, 30)]).unwrap();
        assert_eq!(store.load().unwrap(), vec![entry(1, 30)]);
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "app");
        std::fs::create_dir_all(dir.path().join("checkpoints")).unwrap();
        std::fs::write(store.path(), b"not json").unwrap();
        assert!(matches!(store.load(), Err(CheckpointError::Invalid { .. })));
    }

    #[test]
    fn input_ids_become_safe_file_names() {
        assert_eq!(file_name_safe("app_logs-1"), "app_logs-1");
        assert_eq!(file_name_safe("../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_name_safe("a b/c"), "a_b_c");
        assert_eq!(file_name_safe(""), "_");
    }
}
