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

/// Appends dead letters to one file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    output: String,
    file: Mutex<Option<File>>,
}

impl DeadLetters {
    pub fn new(path: PathBuf, output: &str) -> Self {
        Self {
            path,
            output: output.to_string(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends every letter with one write; Ok once the OS has the bytes.
    pub fn write(&self, letters: &[DeadLetter<'_>]) -> std::io::Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        let now = format_timestamp(chrono::Utc::now());
        let mut buffer = Vec::with_capacity(letters.iter().map(|l| l.source.len() + 256).sum());
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
        }
        let mut slot = crate::sync::lock(&self.file);
        if slot.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            *slot = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let result = match slot.as_mut() {
            Some(file) => file.write_all(&buffer),
            None => Ok(()),
        };
        if result.is_err() {
            // Reopen next time (the directory may have been fixed).
            *slot = None;
        }
        result
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
        let letters = DeadLetters::new(path.clone(), "es");
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
}
