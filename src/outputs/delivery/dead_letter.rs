//! The dead-letter file: events a peer refused for good, kept instead of retried forever.
//!
//! A refusal that will fail the same way on every resend (Elasticsearch's 400 mapping
//! conflict or 404 missing index, a Kafka record too large for the topic) would block the
//! pipeline for one bad event if retried, and lose data silently if dropped. Such events are
//! appended to an NDJSON file under the data directory, one line each, with everything
//! needed to fix and replay them: when, which output, the output's own account of where the
//! event was going and what the peer answered ([`LetterFields`]), the error, and the event:
//!
//! ```json
//! {"@timestamp":"...","output":"es","index":"mqtt-logs-2024.05.01","_id":"...","status":400,
//!  "error":{"type":"mapper_parsing_exception","reason":"..."},"event":{...the document...}}
//! ```
//!
//! (`index`, `_id` and `status` are the Elasticsearch output's fields; the rest is the same
//! for every output, so one replay tool reads them all.)
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
//!
//! Every output that writes letters counts them the same way ([`DeadLetterMetrics`]):
//! `dead_letters_total` and `dead_letters_dropped_total`, and in the component's totals a
//! kept letter is a failed event (handed over to the file, not to the peer), a dropped one a
//! dropped event, so `events_in` still adds up.

use crate::event::{format_timestamp, json};
use crate::metrics::{ComponentMetrics, Counter};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What an output adds to each of its dead letters, between `output` and `error`: where the
/// event was going and what the peer answered (Elasticsearch: `index`, `_id`, `status`).
pub trait LetterFields {
    /// Writes the fields in the order they should appear.
    fn write_fields(&self, fields: &mut FieldWriter<'_>);
}

/// Writes an output's fields into a letter, keeping it valid JSON.
#[derive(Debug)]
pub struct FieldWriter<'a> {
    buffer: &'a mut Vec<u8>,
}

impl FieldWriter<'_> {
    /// `"key":"value"`, escaped.
    pub fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        write_json_string(self.buffer, value);
    }

    /// `"key":number`.
    pub fn number(&mut self, key: &str, value: u64) {
        self.key(key);
        // Writing into a `Vec` cannot fail.
        let _ = write!(self.buffer, "{value}");
    }

    fn key(&mut self, key: &str) {
        self.buffer.push(b',');
        write_json_string(self.buffer, key);
        self.buffer.push(b':');
    }
}

/// One refused event.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a, F> {
    /// The output's own fields ([`LetterFields`]).
    pub fields: F,
    /// A short machine-readable kind of error (`mapper_parsing_exception`).
    pub error_type: &'a str,
    /// What the peer (or the output) said, for a person.
    pub reason: &'a str,
    /// The event as it was to be sent (JSON; anything else is kept as a string).
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

/// The dead-letter counters of one output.
#[derive(Debug, Clone)]
pub struct DeadLetterMetrics {
    component: Arc<ComponentMetrics>,
    kept: Counter,
    dropped: Counter,
}

impl DeadLetterMetrics {
    pub fn register(component: &Arc<ComponentMetrics>) -> Self {
        Self {
            component: component.clone(),
            kept: component.counter(
                "dead_letters_total",
                "Events written to the dead-letter file.",
            ),
            dropped: component.counter(
                "dead_letters_dropped_total",
                "Refused events dropped because the dead-letter file is at dead_letter_max_bytes.",
            ),
        }
    }

    /// Counts what a dead-letter write did: kept letters are failed events, dropped ones
    /// dropped events.
    pub fn count(&self, written: Written) {
        self.kept.add(written.kept as u64);
        ComponentMetrics::add(&self.component.events_failed, written.kept as u64);
        if written.dropped > 0 {
            self.dropped.add(written.dropped as u64);
            ComponentMetrics::add(&self.component.events_dropped, written.dropped as u64);
        }
    }
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
    pub fn write<F: LetterFields>(
        &self,
        letters: &[DeadLetter<'_, F>],
    ) -> std::io::Result<Written> {
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
            letter.fields.write_fields(&mut FieldWriter {
                buffer: &mut buffer,
            });
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

    /// Says once per write that letters were dropped because the file is full, if any were.
    pub fn report_dropped(&self, written: Written) {
        if written.dropped > 0 {
            tracing::error!(
                output = %self.output,
                path = %self.path.display(),
                dropped = written.dropped,
                "The dead-letter file is at dead_letter_max_bytes; refused events dropped (move or empty the file to make room)."
            );
        }
    }
}

/// A JSON string literal, quotes included.
fn write_json_string(buffer: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = json::write_str(buffer, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The fields a Kafka output might add, to test the file without any one output.
    #[derive(Debug, Clone)]
    struct Record<'a> {
        topic: &'a str,
        partition: Option<u64>,
    }

    impl LetterFields for Record<'_> {
        fn write_fields(&self, fields: &mut FieldWriter<'_>) {
            fields.text("topic", self.topic);
            if let Some(partition) = self.partition {
                fields.number("partition", partition);
            }
        }
    }

    impl LetterFields for () {
        fn write_fields(&self, _: &mut FieldWriter<'_>) {}
    }

    fn letter(source: &[u8]) -> DeadLetter<'_, Record<'static>> {
        DeadLetter {
            fields: Record {
                topic: "logs",
                partition: None,
            },
            error_type: "record_too_large",
            reason: "failed to send",
            source,
        }
    }

    fn written(kept: usize, dropped: usize) -> Written {
        Written { kept, dropped }
    }

    /// Every line of the file, each checked to be one JSON value.
    fn read_letters(path: &Path) -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn line_count(path: &Path) -> usize {
        read_letters(path).len()
    }

    #[test]
    fn letters_are_ndjson_with_the_outputs_fields_and_the_event_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead_letter/kafka.ndjson");
        let with_fields = DeadLetter {
            fields: Record {
                topic: "a \"quoted\" topic",
                partition: Some(3),
            },
            error_type: "record_too_large",
            reason: "the record is 2 MB",
            source: br#"{"message":"big"}"#,
        };
        let letters = DeadLetters::new(path.clone(), "kafka", 0);
        letters.write(&[with_fields]).unwrap();
        let without_fields = DeadLetter {
            fields: (),
            error_type: "unsendable",
            reason: "no topic",
            source: b"not json \xff",
        };
        letters.write(&[without_fields]).unwrap();
        let lines = read_letters(&path);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["output"], json!("kafka"));
        assert_eq!(lines[0]["topic"], json!("a \"quoted\" topic"));
        assert_eq!(lines[0]["partition"], json!(3));
        assert_eq!(
            lines[0]["error"],
            json!({"type": "record_too_large", "reason": "the record is 2 MB"})
        );
        assert_eq!(lines[0]["event"], json!({"message": "big"}));
        let keys: Vec<&str> = lines[1]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["@timestamp", "output", "error", "event"]);
        assert_eq!(lines[1]["event"], json!("not json \u{fffd}"));
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
        assert_eq!(letters.write(&batch).unwrap(), written(2, 1));
        assert_eq!(line_count(&path), 2);
        assert!(std::fs::metadata(&path).unwrap().len() <= one * 5 / 2);
        assert_eq!(letters.write(&batch[..1]).unwrap(), written(0, 1));
        assert_eq!(line_count(&path), 2, "nothing half-written");

        // An operator replays and moves the file away: room again.
        std::fs::rename(&path, dir.path().join("replayed.ndjson")).unwrap();
        assert_eq!(letters.write(&batch[..1]).unwrap(), written(1, 0));
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
        assert_eq!(restarted.write(&[letter(b"{}")]).unwrap(), written(0, 1));
        assert_eq!(line_count(&path), 1);
    }

    #[test]
    fn kept_letters_count_as_failed_events_and_dropped_ones_as_dropped() {
        let component = Arc::new(ComponentMetrics::default());
        let metrics = DeadLetterMetrics::register(&component);
        metrics.count(written(3, 0));
        metrics.count(written(1, 2));
        let extra = |name: &str| {
            component
                .extras()
                .iter()
                .find(|extra| extra.name == name)
                .map(|extra| match &extra.value {
                    crate::metrics::ExtraValue::Counter(counter) => counter.get(),
                    _ => u64::MAX,
                })
        };
        assert_eq!(extra("dead_letters_total"), Some(4));
        assert_eq!(extra("dead_letters_dropped_total"), Some(2));
        assert_eq!(ComponentMetrics::get(&component.events_failed), 4);
        assert_eq!(ComponentMetrics::get(&component.events_dropped), 2);
    }

    #[test]
    fn an_unwritable_path_is_an_error_and_the_next_write_tries_again() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be.
        std::fs::write(dir.path().join("blocked"), b"").unwrap();
        let path = dir.path().join("blocked/kafka.ndjson");
        let letters = DeadLetters::new(path.clone(), "kafka", 0);
        assert!(letters.write(&[letter(b"{}")]).is_err());
        std::fs::remove_file(dir.path().join("blocked")).unwrap();
        let written = letters.write(&[letter(b"{}")]).unwrap();
        assert_eq!(written.kept, 1);
        assert_eq!(line_count(&path), 1);
    }
}
