//! Building events from lines, and grouping them into batches.
//!
//! Events have the shape Filebeat sends, so pipelines written against Filebeat + Logstash
//! (`[log][file][path]`, `[fields][service]`) work unchanged:
//!
//! ```json
//! {"@timestamp": "...", "message": "...", "log": {"file": {"path": "..."}, "offset": 0},
//!  "host": {"name": "..."}, "input": {"type": "file"}, "fields": {...}, "tags": [...]}
//! ```
//!
//! The parts that are the same for every line (host, input, fields, the file's path) are built
//! once and cloned per event. Batches are sealed when they reach the pipeline's `batch_size`
//! or `batch_bytes`; each remembers, per stream, where its last line ends, which is what the
//! acknowledgement tracker commits when the batch is delivered.
//!
//! The reader thread does not build events itself: a batch carries its lines as raw bytes
//! (one copy into one buffer per batch) and is sent deferred ([`crate::event::Batch::deferred`]),
//! so the ~30 allocations each event costs are paid on the filter workers, in parallel. The
//! reader's cost per line is then a `memchr` and a `memcpy`.

use super::acks::StreamId;
use super::lines::Line;
use crate::event::{Event, MESSAGE, TAGS, TIMESTAMP};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;

/// Tag added to an event whose line was longer than `max_line_bytes` and was cut.
pub const TRUNCATED_TAG: &str = "_line_truncated";

/// The parts of every event that do not depend on the line.
#[derive(Debug)]
pub struct EventShape {
    host: Value,
    input: Value,
    fields: Option<Value>,
    tags: Vec<Value>,
}

impl EventShape {
    pub fn new(host_name: String, fields: Map<String, Value>, tags: &[String]) -> Self {
        Self {
            host: object("name", Value::String(host_name)),
            input: object("type", Value::String("file".into())),
            fields: (!fields.is_empty()).then_some(Value::Object(fields)),
            tags: tags.iter().map(|t| Value::String(t.clone())).collect(),
        }
    }

    /// The `log.file` object of a file.
    pub fn file_value(path: &std::path::Path) -> Arc<Value> {
        Arc::new(object(
            "path",
            Value::String(path.to_string_lossy().into_owned()),
        ))
    }

    /// The event for one line. `file` is [`EventShape::file_value`], `now` the ingest time.
    pub fn event(&self, line: &Line<'_>, file: &Value, now: &str) -> Event {
        let mut fields = Map::with_capacity(8);
        fields.insert(TIMESTAMP.into(), Value::String(now.to_owned()));
        fields.insert(
            MESSAGE.into(),
            Value::String(match std::str::from_utf8(line.bytes) {
                Ok(valid) => valid.to_owned(),
                Err(_) => String::from_utf8_lossy(line.bytes).into_owned(),
            }),
        );
        let mut log = Map::with_capacity(2);
        log.insert("file".into(), file.clone());
        log.insert("offset".into(), Value::from(line.offset));
        fields.insert("log".into(), Value::Object(log));
        fields.insert("host".into(), self.host.clone());
        fields.insert("input".into(), self.input.clone());
        if let Some(extra) = &self.fields {
            fields.insert("fields".into(), extra.clone());
        }
        if line.truncated || !self.tags.is_empty() {
            let mut tags = self.tags.clone();
            if line.truncated {
                tags.push(Value::String(TRUNCATED_TAG.into()));
            }
            fields.insert(TAGS.into(), Value::Array(tags));
        }
        Event::from_fields(fields)
    }
}

fn object(key: &str, value: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

/// One line of a batch, by position in the batch's byte buffer.
#[derive(Debug, Clone, Copy)]
struct RawLine {
    start: usize,
    end: usize,
    offset: u64,
    truncated: bool,
    /// Index into [`RawLines::files`].
    file: usize,
}

/// The lines of a batch, copied out of the read buffer, waiting to become events.
#[derive(Debug, Default)]
pub struct RawLines {
    bytes: Vec<u8>,
    lines: Vec<RawLine>,
    files: Vec<Arc<Value>>,
    /// Ingest time of the batch's lines (when its first line was read).
    now: String,
}

impl RawLines {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn push(&mut self, line: &Line<'_>, file: &Arc<Value>, now: &str) {
        if self.lines.is_empty() {
            self.now.clear();
            self.now.push_str(now);
        }
        let file = match self.files.iter().rposition(|f| Arc::ptr_eq(f, file)) {
            Some(index) => index,
            None => {
                self.files.push(file.clone());
                self.files.len() - 1
            }
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(line.bytes);
        self.lines.push(RawLine {
            start,
            end: self.bytes.len(),
            offset: line.offset,
            truncated: line.truncated,
            file,
        });
    }

    /// Builds the events, in line order.
    pub fn decode(&self, shape: &EventShape, events: &mut Vec<Event>) {
        events.reserve(self.lines.len());
        for raw in &self.lines {
            let line = Line {
                bytes: &self.bytes[raw.start..raw.end],
                offset: raw.offset,
                end: raw.offset + (raw.end - raw.start) as u64,
                truncated: raw.truncated,
            };
            events.push(shape.event(&line, &self.files[raw.file], &self.now));
        }
    }
}

/// A batch ready to be sent.
#[derive(Debug, Default)]
pub struct SealedBatch {
    pub lines: RawLines,
    /// Raw bytes of the lines (before JSON), for `batch_bytes` and the `bytes` metric.
    pub bytes: usize,
    /// Per stream, the offset just past the batch's last line of that stream.
    pub ends: Vec<(StreamId, u64)>,
}

/// Accumulates events into batches of bounded size.
#[derive(Debug)]
pub struct Batcher {
    max_events: usize,
    max_bytes: usize,
    open: SealedBatch,
    sealed: VecDeque<SealedBatch>,
}

impl Batcher {
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        let max_events = max_events.max(1);
        Self {
            max_events,
            max_bytes: max_bytes.max(1),
            open: SealedBatch::default(),
            sealed: VecDeque::new(),
        }
    }

    /// Adds a line of `stream` (the file `file`, read at `now`) that ends at `end`.
    pub fn push(
        &mut self,
        line: &Line<'_>,
        file: &Arc<Value>,
        now: &str,
        stream: StreamId,
        end: u64,
    ) {
        let batch = &mut self.open;
        batch.lines.push(line, file, now);
        batch.bytes += line.bytes.len();
        match batch.ends.iter_mut().rev().find(|(s, _)| *s == stream) {
            Some((_, last_end)) => *last_end = end,
            None => batch.ends.push((stream, end)),
        }
        if batch.lines.len() >= self.max_events || batch.bytes >= self.max_bytes {
            self.seal();
        }
    }

    /// Closes the batch being filled, if it holds anything.
    pub fn seal(&mut self) {
        if self.open.lines.is_empty() {
            return;
        }
        self.sealed.push_back(std::mem::take(&mut self.open));
    }

    /// The next batch to send.
    pub fn take_sealed(&mut self) -> Option<SealedBatch> {
        self.sealed.pop_front()
    }

    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_have_the_filebeat_shape() {
        let mut extra = Map::new();
        extra.insert("service".into(), json!("mqtt"));
        let shape = EventShape::new("edge-1".into(), extra, &["edge".to_string()]);
        let file = EventShape::file_value(std::path::Path::new("/var/log/app.log"));
        let line = Line {
            bytes: b"hello \xff",
            offset: 42,
            end: 50,
            truncated: false,
        };
        let event = shape.event(&line, &file, "2024-05-01T12:00:00.000Z");
        assert_eq!(
            event.to_value(),
            json!({
                "@timestamp": "2024-05-01T12:00:00.000Z",
                "message": "hello \u{fffd}",
                "log": {"file": {"path": "/var/log/app.log"}, "offset": 42},
                "host": {"name": "edge-1"},
                "input": {"type": "file"},
                "fields": {"service": "mqtt"},
                "tags": ["edge"],
            })
        );
    }

    #[test]
    fn truncated_lines_are_tagged() {
        let shape = EventShape::new("h".into(), Map::new(), &[]);
        let file = EventShape::file_value(std::path::Path::new("a.log"));
        let plain = Line {
            bytes: b"x",
            offset: 0,
            end: 2,
            truncated: false,
        };
        assert_eq!(shape.event(&plain, &file, "t").get_field(TAGS), None);
        let cut = Line {
            truncated: true,
            ..plain
        };
        assert_eq!(
            shape.event(&cut, &file, "t").get_field(TAGS),
            Some(&json!([TRUNCATED_TAG]))
        );
    }

    #[test]
    fn batches_are_sealed_at_the_event_and_byte_limits_with_their_stream_ends() {
        let file = EventShape::file_value(std::path::Path::new("a.log"));
        let line = |bytes: &'static [u8]| Line {
            bytes,
            offset: 0,
            end: 0,
            truncated: false,
        };
        let mut batcher = Batcher::new(3, 1000);
        for (i, stream) in [1, 1, 2, 1].into_iter().enumerate() {
            batcher.push(
                &line(b"0123456789"),
                &file,
                "t",
                stream,
                (i as u64 + 1) * 10,
            );
        }
        let first = batcher.take_sealed().unwrap();
        assert_eq!(first.lines.len(), 3);
        assert_eq!(first.ends, vec![(1, 20), (2, 30)]);
        assert!(batcher.take_sealed().is_none(), "the fourth event waits");
        batcher.seal();
        assert_eq!(batcher.take_sealed().unwrap().ends, vec![(1, 40)]);

        let twenty = b"01234567890123456789";
        let mut by_bytes = Batcher::new(100, 25);
        by_bytes.push(&line(twenty), &file, "t", 1, 21);
        assert!(!by_bytes.has_sealed());
        by_bytes.push(&line(twenty), &file, "t", 1, 42);
        assert_eq!(by_bytes.take_sealed().unwrap().bytes, 40);
    }

    #[test]
    fn raw_lines_decode_into_the_same_events_as_direct_building() {
        let shape = EventShape::new("h".into(), Map::new(), &[]);
        let first_file = EventShape::file_value(std::path::Path::new("a.log"));
        let second_file = EventShape::file_value(std::path::Path::new("b.log"));
        let lines = [
            (
                Line {
                    bytes: b"one",
                    offset: 0,
                    end: 4,
                    truncated: false,
                },
                &first_file,
            ),
            (
                Line {
                    bytes: b"two",
                    offset: 0,
                    end: 4,
                    truncated: true,
                },
                &second_file,
            ),
            (
                Line {
                    bytes: b"three",
                    offset: 4,
                    end: 10,
                    truncated: false,
                },
                &first_file,
            ),
        ];
        let mut batcher = Batcher::new(10, 1000);
        for (line, file) in &lines {
            batcher.push(line, file, "t", 1, line.end);
        }
        batcher.seal();
        let sealed = batcher.take_sealed().unwrap();
        let mut decoded = Vec::new();
        sealed.lines.decode(&shape, &mut decoded);
        let direct: Vec<Event> = lines
            .iter()
            .map(|(line, file)| shape.event(line, file, "t"))
            .collect();
        assert_eq!(decoded, direct);
    }
}
