//! The dead-letter file: events the cluster refused for good, kept instead of retried forever.
//!
//! A 400 (mapping conflict, invalid index name) or 404 (index missing with auto-create off)
//! will fail the same way on every resend, so retrying would block the pipeline for one bad
//! event; dropping it would lose data silently. Such events are appended to an NDJSON file
//! under the data directory, one line each, with everything needed to fix and replay them:
//!
//! ```json
//! {"@timestamp":"...","output":"es","index":"mqtt-logs-2024.05.01","_id":"...","status":400,
//!  "error":{"type":"mapper_parsing_exception","reason":"..."},"event":{...the document...}}
//! ```
//!
//! The write is a plain append flushed to the operating system before the batch is
//! acknowledged (the event is "durably handed over" to the file). If the file cannot be
//! written the events are not acknowledged: the batch fails and the input reads it again.
//!
//! The file is bounded (`dead_letter_max_bytes`, 1 GiB by default, Logstash's
//! `dead_letter_queue.max_bytes`): a mapping conflict on every event must not fill the disk
//! the checkpoints and the host's own logs live on. Letters that do not fit any more are
//! dropped, counted and logged, as Logstash's default `drop_newer` policy does; the pipeline
//! goes on. Once an operator has moved or emptied the file (after replaying it), the next
//! letters find room again: at the limit the file is reopened by path and measured anew.

use super::encoder::write_json_string;
use crate::event::format_timestamp;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One refused event.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    pub index: &'a str,
    pub id: Option<&'a str>,
    pub status: u16,
    pub error_type: &'a str,
    pub reason: &'a str,
    /// The document as it was sent (JSON).
    pub source: &'a [u8],
}

/// What one [`DeadLetters::write`] did with its letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Letters appended to the file.
    pub kept: usize,
    /// Letters dropped because the file is at its size limit.
    pub dropped: usize,
}

/// The open file and how many bytes it holds.
#[derive(Debug)]
struct OpenFile {
    file: File,
    len: u64,
}

/// Appends dead letters to one file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    output: String,
    /// 0 = no limit.
    max_bytes: u64,
    file: Mutex<Option<OpenFile>>,
}

impl DeadLetters {
    /// `max_bytes` bounds the file (0: no limit).
    pub fn new(path: PathBuf, output: &str, max_bytes: u64) -> Self {
        Self {
            path,
            output: output.to_string(),
            max_bytes,
            file: Mutex::new(None),
        }
    }

    fn open(&self) -> std::io::Result<OpenFile> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let len = file.metadata()?.len();
        Ok(OpenFile { file, len })
    }

    /// Room left in the file; at the limit the file is reopened by path first, in case an
    /// operator moved or emptied it.
    fn room(&self, slot: &mut Option<OpenFile>, wanted: u64) -> std::io::Result<u64> {
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        if self.max_bytes == 0 {
            return Ok(u64::MAX);
        }
        let len = slot.as_ref().map_or(0, |open| open.len);
        if len.saturating_add(wanted) > self.max_bytes {
            *slot = Some(self.open()?);
        }
        let len = slot.as_ref().map_or(0, |open| open.len);
        Ok(self.max_bytes.saturating_sub(len))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends every letter that fits with one write; Ok once the OS has the bytes.
    pub fn write(&self, letters: &[DeadLetter<'_>]) -> std::io::Result<Written> {
        if letters.is_empty() {
            return Ok(Written::default());
        }
        let now = format_timestamp(chrono::Utc::now());
        let mut buffer = Vec::with_capacity(letters.iter().map(|l| l.source.len() + 256).sum());
        // Where each letter ends in `buffer`.
        let mut ends = Vec::with_capacity(letters.len());
        for letter in letters {
            buffer.extend_from_slice(br#"{"@timestamp":"#);
            write_json_string(&mut buffer, &now);
            buffer.extend_from_slice(br#","output":"#);
            write_json_string(&mut buffer, &self.output);
            buffer.extend_from_slice(br#","index":"#);
            write_json_string(&mut buffer, letter.index);
            if let Some(id) = letter.id {
                buffer.extend_from_slice(br#","_id":"#);
                write_json_string(&mut buffer, id);
            }
            buffer.extend_from_slice(format!(r#","status":{}"#, letter.status).as_bytes());
            buffer.extend_from_slice(br#","error":{"type":"#);
            write_json_string(&mut buffer, letter.error_type);
            buffer.extend_from_slice(br#","reason":"#);
            write_json_string(&mut buffer, letter.reason);
            buffer.extend_from_slice(br#"},"event":"#);
            if serde_json::from_slice::<serde::de::IgnoredAny>(letter.source).is_ok() {
                buffer.extend_from_slice(letter.source);
            } else {
                write_json_string(&mut buffer, &String::from_utf8_lossy(letter.source));
            }
            buffer.extend_from_slice(b"}\n");
            ends.push(buffer.len());
        }
        let mut slot = crate::sync::lock(&self.file);
        let room = match self.room(&mut slot, buffer.len() as u64) {
            Ok(room) => room,
            Err(e) => {
                *slot = None;
                return Err(e);
            }
        };
        // Whole letters only: the file stays NDJSON.
        let kept = ends.partition_point(|&end| end as u64 <= room);
        let bytes = if kept == 0 { 0 } else { ends[kept - 1] };
        let result = match slot.as_mut() {
            Some(open) if bytes > 0 => open.file.write_all(&buffer[..bytes]).map(|()| {
                open.len += bytes as u64;
            }),
            _ => Ok(()),
        };
        if let Err(e) = result {
            // Reopen next time (the directory may have been fixed).
            *slot = None;
            return Err(e);
        }
        Ok(Written {
            kept,
            dropped: letters.len() - kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn letters_are_ndjson_with_the_event_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead_letter/es.ndjson");
        let letters = DeadLetters::new(path.clone(), "es", 0);
        letters
            .write(&[DeadLetter {
                index: "mqtt-logs-2024.05.01",
                id: Some("abc"),
                status: 400,
                error_type: "mapper_parsing_exception",
                reason: "failed to parse field [durationMs] of type [long]",
                source: br#"{"durationMs":"slow"}"#,
            }])
            .unwrap();
        letters
            .write(&[DeadLetter {
                index: "x",
                id: None,
                status: 404,
                error_type: "index_not_found_exception",
                reason: "no such index",
                source: b"{}",
            }])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], json!({"durationMs": "slow"}));
        assert_eq!(lines[0]["status"], json!(400));
        assert_eq!(lines[0]["error"]["type"], json!("mapper_parsing_exception"));
        assert_eq!(lines[0]["_id"], json!("abc"));
        assert_eq!(lines[1]["output"], json!("es"));
        assert!(lines[1].get("_id").is_none());
    }

    /// The on-disk format the README documents and replay tooling reads, byte for byte
    /// (the time aside): a change of key order, spacing or escaping breaks those readers.
    #[test]
    fn a_letter_line_is_written_byte_for_byte_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("es.ndjson");
        let letters = DeadLetters::new(path.clone(), "es", 0);
        letters
            .write(&[
                DeadLetter {
                    index: "mqtt-logs-2024.05.01",
                    id: Some("a\"b"),
                    status: 400,
                    error_type: "mapper_parsing_exception",
                    reason: "failed to parse [x]\n",
                    source: br#"{"x":"slow"}"#,
                },
                DeadLetter {
                    index: "",
                    id: None,
                    status: 0,
                    error_type: "retries_exhausted",
                    reason: "gave up",
                    source: b"not json",
                },
            ])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 2);
        let mut without_time = Vec::new();
        for line in &lines {
            let time = serde_json::from_str::<Value>(line).unwrap()["@timestamp"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
                "{time}"
            );
            without_time.push(line.replacen(&time, "T", 1));
        }
        assert_eq!(
            without_time,
            [
                concat!(
                    r#"{"@timestamp":"T","output":"es","index":"mqtt-logs-2024.05.01","_id":"a\"b","#,
                    r#""status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse [x]\n"},"#,
                    r#""event":{"x":"slow"}}"#,
                    "\n"
                ),
                concat!(
                    r#"{"@timestamp":"T","output":"es","index":"","status":0,"#,
                    r#""error":{"type":"retries_exhausted","reason":"gave up"},"event":"not json"}"#,
                    "\n"
                ),
            ]
        );
    }

    fn letter(source: &[u8]) -> DeadLetter<'_> {
        DeadLetter {
            index: "mqtt-logs-2024.05.01",
            id: None,
            status: 400,
            error_type: "mapper_parsing_exception",
            reason: "failed to parse",
            source,
        }
    }

    fn line_count(path: &Path) -> usize {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
        text.lines().count()
    }

    #[test]
    fn a_full_file_drops_whole_letters_and_finds_room_once_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("es.ndjson");
        let source = format!(r#"{{"message":"{}"}}"#, "x".repeat(100));
        // Measure one letter, then allow two and a half.
        let probe = DeadLetters::new(dir.path().join("probe.ndjson"), "es", 0);
        probe.write(&[letter(source.as_bytes())]).unwrap();
        let one = std::fs::metadata(probe.path()).unwrap().len();
        let letters = DeadLetters::new(path.clone(), "es", one * 5 / 2);

        let batch = vec![letter(source.as_bytes()); 3];
        let written = letters.write(&batch).unwrap();
        assert_eq!(
            written,
            Written {
                kept: 2,
                dropped: 1
            }
        );
        assert_eq!(line_count(&path), 2);
        assert!(std::fs::metadata(&path).unwrap().len() <= one * 5 / 2);
        let written = letters.write(&batch[..1]).unwrap();
        assert_eq!(
            written,
            Written {
                kept: 0,
                dropped: 1
            }
        );
        assert_eq!(line_count(&path), 2, "nothing half-written");

        // An operator replays and moves the file away: room again.
        std::fs::rename(&path, dir.path().join("replayed.ndjson")).unwrap();
        let written = letters.write(&batch[..1]).unwrap();
        assert_eq!(
            written,
            Written {
                kept: 1,
                dropped: 0
            }
        );
        assert_eq!(line_count(&path), 1);
    }

    #[test]
    fn an_existing_file_counts_against_the_limit_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("es.ndjson");
        let first = DeadLetters::new(path.clone(), "es", 0);
        first.write(&[letter(b"{}")]).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let restarted = DeadLetters::new(path.clone(), "es", len + 10);
        let written = restarted.write(&[letter(b"{}")]).unwrap();
        assert_eq!(
            written,
            Written {
                kept: 0,
                dropped: 1
            }
        );
        assert_eq!(line_count(&path), 1);
    }
}
