//! Where the disk queue says a file's lines end: the file input's half of the positions the
//! queue keeps with each batch ([`SourcePosition`]).
//!
//! # Why
//!
//! With the disk queue a batch counts as taken once its record is durable, and then the
//! checkpoint moves (`checkpoint.rs`). The record and the checkpoint are two files written one
//! after the other: a `kill -9` between the queue's sync and the checkpoint's rename used to
//! leave the queue holding lines the checkpoint did not cover yet, and the next start read
//! them into the queue again (up to a few batches per kill, since one sync of the queue's
//! group commit acknowledges every batch written meanwhile). So every batch also carries, per
//! file it has lines of, the file's identity and the offset after its last line; the queue
//! writes that inside the batch's own record, so it is durable exactly when the lines are.
//! At start the queue hands back the newest such position per file, and a file resumes from
//! the later of its checkpoint and that position, each only if the file still starts with
//! the bytes its fingerprint was taken of (as checkpoint resume always did: inodes are
//! reused).
//!
//! # Encoding (opaque to the queue)
//!
//! ```text
//! stream   := device:u64le inode:u64le
//! position := offset:u64le fingerprint-length:u64le fingerprint-sha256-hex
//! ```

use super::identity::{FileKey, Fingerprint};
use super::StreamId;
use crate::event::SourcePosition;
use std::collections::HashMap;
use std::sync::Arc;

/// A file's position as the queue recovered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPosition {
    /// The offset after the last line the queue holds.
    pub offset: u64,
    /// The file's fingerprint when those lines were read.
    pub fingerprint: Fingerprint,
}

/// The stream bytes of file `key`.
pub fn stream_of(key: FileKey) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&key.device.to_le_bytes());
    bytes.extend_from_slice(&key.inode.to_le_bytes());
    bytes.into()
}

/// The position bytes of `offset` in the file of `fingerprint`.
pub fn position_of(offset: u64, fingerprint: &Fingerprint) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(16 + fingerprint.sha256.len());
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(&fingerprint.len.to_le_bytes());
    bytes.extend_from_slice(fingerprint.sha256.as_bytes());
    bytes.into()
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn key_of(stream: &[u8]) -> Option<FileKey> {
    (stream.len() == 16).then_some(FileKey {
        device: u64_at(stream, 0)?,
        inode: u64_at(stream, 8)?,
    })
}

fn queued_of(position: &[u8]) -> Option<QueuedPosition> {
    let sha256 = std::str::from_utf8(position.get(16..)?).ok()?;
    Some(QueuedPosition {
        offset: u64_at(position, 0)?,
        fingerprint: Fingerprint {
            len: u64_at(position, 8)?,
            sha256: sha256.to_string(),
        },
    })
}

/// The recovered positions by file; entries this input did not write (unreadable) are left
/// out, which only means those files resume from their checkpoints.
pub fn recovered(positions: Vec<SourcePosition>) -> HashMap<FileKey, QueuedPosition> {
    positions
        .into_iter()
        .filter_map(|p| Some((key_of(&p.stream)?, queued_of(&p.position)?)))
        .collect()
}

/// Which file each stream reads, to say where a batch ends (kept only when the queue keeps
/// positions).
#[derive(Debug)]
pub struct PositionBook {
    source: Arc<str>,
    files: HashMap<StreamId, FileKey>,
}

impl PositionBook {
    pub fn new(source: &str) -> Self {
        Self {
            source: Arc::from(source),
            files: HashMap::new(),
        }
    }

    pub fn open(&mut self, stream: StreamId, key: FileKey) {
        self.files.insert(stream, key);
    }

    pub fn close(&mut self, stream: StreamId) {
        self.files.remove(&stream);
    }

    /// The positions of a batch that ends at `ends`; `fingerprint` gives a file's current
    /// fingerprint if `stream` is still the stream it is read as (else it is left out: a
    /// truncated or replaced file starts a new stream).
    pub fn positions<'a>(
        &self,
        ends: &[(StreamId, u64)],
        fingerprint: impl Fn(FileKey, StreamId) -> Option<&'a Fingerprint>,
    ) -> Vec<SourcePosition> {
        ends.iter()
            .filter_map(|&(stream, end)| {
                let key = *self.files.get(&stream)?;
                Some(SourcePosition {
                    source: self.source.clone(),
                    stream: stream_of(key),
                    position: position_of(end, fingerprint(key, stream)?),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_back_as_written_and_foreign_bytes_are_left_out() {
        let key = FileKey {
            device: 2049,
            inode: 77,
        };
        let fingerprint = Fingerprint::of_bytes(b"first line\n");
        let mine = SourcePosition {
            source: Arc::from("app"),
            stream: stream_of(key),
            position: position_of(4096, &fingerprint),
        };
        let foreign = SourcePosition {
            stream: Box::from(&b"short"[..]),
            ..mine.clone()
        };
        let recovered = recovered(vec![mine, foreign]);
        assert_eq!(
            recovered,
            HashMap::from([(
                key,
                QueuedPosition {
                    offset: 4096,
                    fingerprint
                }
            )])
        );
    }

    #[test]
    fn a_batch_names_only_streams_still_read_as_their_file() {
        let key = FileKey {
            device: 1,
            inode: 2,
        };
        let fingerprint = Fingerprint::of_bytes(b"x\n");
        let mut book = PositionBook::new("app");
        book.open(5, key);
        book.open(6, key);
        book.close(6);
        let positions = book.positions(&[(5, 10), (6, 20), (7, 30)], |_, stream| {
            (stream == 5).then_some(&fingerprint)
        });
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].position, position_of(10, &fingerprint));
    }
}
