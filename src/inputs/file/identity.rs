//! Which file is which: device + inode, confirmed by a fingerprint of the file's first bytes.
//!
//! Paths cannot identify a log file: rotation renames `app.log` to `app1.log` and creates a
//! new `app.log`, so following the path would read the renamed file's tail twice, or miss it.
//! The (device, inode) pair follows the file through renames, which is what Filebeat uses. But
//! inode numbers are recycled: ext4 hands the inode of a file destroyed by winston's
//! rename-over straight to the next new `app.log` (seen in practice, see
//! `shared/reference/peers.md` D1), and a tailer trusting the inode alone would resume the new
//! file at the old file's offset and silently skip its beginning. So every known file also
//! carries a SHA-256 of its first [`FINGERPRINT_BYTES`] bytes (fewer for a shorter file, with
//! the length used): when the inode matches but those bytes do not, it is a different file
//! and is read from offset 0.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// How many leading bytes of a file are hashed into its fingerprint.
pub const FINGERPRINT_BYTES: u64 = 1024;

/// A file's (device, inode) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub device: u64,
    pub inode: u64,
}

impl FileKey {
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// SHA-256 of a file's first `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// How many bytes were hashed (at most [`FINGERPRINT_BYTES`]).
    pub len: u64,
    /// Lower-case hex SHA-256 of those bytes.
    pub sha256: String,
}

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut sha256 = String::with_capacity(64);
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(sha256, "{byte:02x}");
        }
        Self {
            len: bytes.len() as u64,
            sha256,
        }
    }

    /// The fingerprint of the file's current head (up to [`FINGERPRINT_BYTES`]).
    pub fn of_file(file: &File) -> io::Result<Self> {
        let head = read_head(file, FINGERPRINT_BYTES)?;
        Ok(Self::of_bytes(&head))
    }

    /// Whether `file` starts with the bytes this fingerprint was taken of. A file now shorter
    /// than that is not the same file (or was truncated): either way it starts over.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        let head = read_head(file, self.len)?;
        Ok(head.len() as u64 == self.len && Self::of_bytes(&head) == *self)
    }

    /// Whether a longer fingerprint could now be taken (the file was short when this one was).
    pub fn is_complete(&self) -> bool {
        self.len >= FINGERPRINT_BYTES
    }
}

/// Up to `len` bytes from the start of `file`, without moving its read position.
fn read_head(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; len.min(FINGERPRINT_BYTES) as usize];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> File {
        let path = dir.path().join(name);
        let mut file = File::create(&path).unwrap();
        file.write_all(content).unwrap();
        File::open(&path).unwrap()
    }

    #[test]
    fn short_files_are_fingerprinted_with_the_length_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_with(&dir, "short", b"hello\n");
        let fingerprint = Fingerprint::of_file(&file).unwrap();
        assert_eq!(fingerprint.len, 6);
        assert!(!fingerprint.is_complete());
        assert_eq!(fingerprint, Fingerprint::of_bytes(b"hello\n"));
    }

    #[test]
    fn long_files_are_fingerprinted_on_their_first_kibibyte_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = vec![b'a'; 1024];
        content.extend_from_slice(b"tail that differs\n");
        let file = file_with(&dir, "long", &content);
        let fingerprint = Fingerprint::of_file(&file).unwrap();
        assert_eq!(fingerprint.len, FINGERPRINT_BYTES);
        assert!(fingerprint.is_complete());
        assert_eq!(fingerprint, Fingerprint::of_bytes(&content[..1024]));
    }

    #[test]
    fn a_file_that_grew_still_matches_its_earlier_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing");
        std::fs::write(&path, b"first line\n").unwrap();
        let early = Fingerprint::of_file(&File::open(&path).unwrap()).unwrap();
        let mut append = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        append.write_all(b"second line\n").unwrap();
        assert!(early.matches(&File::open(&path).unwrap()).unwrap());
    }

    #[test]
    fn different_content_or_a_shorter_file_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let original = Fingerprint::of_bytes(b"original content\n");
        let other = file_with(&dir, "other", b"replacement text\n");
        assert!(!original.matches(&other).unwrap());
        let shorter = file_with(&dir, "shorter", b"original");
        assert!(
            !original.matches(&shorter).unwrap(),
            "a prefix of the old content is too short to be the old file"
        );
    }

    #[test]
    fn inode_reuse_is_told_apart_by_the_fingerprint() {
        // Destroy a file and create new ones until the filesystem hands out the same inode;
        // the key then says "same file" and only the fingerprint can say otherwise.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"old file line 1\nold file line 2\n").unwrap();
        let old = File::open(&path).unwrap();
        let old_key = FileKey::of(&old.metadata().unwrap());
        let old_fingerprint = Fingerprint::of_file(&old).unwrap();
        drop(old);
        std::fs::remove_file(&path).unwrap();
        let mut reused = None;
        for attempt in 0..200 {
            let candidate = dir.path().join(format!("new-{attempt}.log"));
            std::fs::write(&candidate, b"new file, different first line\n").unwrap();
            let file = File::open(&candidate).unwrap();
            if FileKey::of(&file.metadata().unwrap()) == old_key {
                reused = Some(file);
                break;
            }
        }
        match reused {
            Some(file) => assert!(!old_fingerprint.matches(&file).unwrap()),
            // Some filesystems never reuse promptly; the fingerprint logic is covered above.
            None => eprintln!("filesystem did not reuse the inode; fingerprint tests above apply"),
        }
    }
}
