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
//! Blank lines (empty or only whitespace) become no event, as in Filebeat, which skips empty
//! lines; they still count towards the batch's end offsets, so the checkpoint moves past
//! them, and the input counts them as dropped.
//!
//! The parts that are the same for every line of a file (its path, host, input, fields, tags)
//! are one [`LineOrigin`] per file, built once. Batches are sealed when they reach the
//! pipeline's `batch_size` or `batch_bytes`; each remembers, per stream, where its last line
//! ends, which is what the watermark ([`crate::inputs::watermark`]) commits when the batch
//! is delivered.
//!
//! The reader thread does not build events: a batch carries its lines as one
//! [`LineBlock`] (one copy of the lines into one buffer per batch) and is sent deferred
//! ([`crate::event::Batch::deferred`]); a filter worker turns the block into line events, which
//! build their fields only if something reads them (see `src/event/line.rs`). The reader's cost
//! per line is a `memchr` and a `memcpy`.

use super::lines::Line;
use super::StreamId;
use crate::event::{LineBlock, LineOrigin};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;

pub use crate::event::TRUNCATED_TAG;

/// The parts of every event that do not depend on the file or the line.
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

    /// What every line of the file at `path` has in common.
    pub fn origin(&self, path: &std::path::Path) -> Arc<LineOrigin> {
        let file = object("path", Value::String(path.to_string_lossy().into_owned()));
        let mut constant = vec![
            ("host".to_string(), self.host.clone()),
            ("input".to_string(), self.input.clone()),
        ];
        if let Some(extra) = &self.fields {
            constant.push(("fields".to_string(), extra.clone()));
        }
        Arc::new(LineOrigin::new(Some(file), constant, self.tags.clone()))
    }
}

fn object(key: &str, value: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

/// A batch ready to be sent.
#[derive(Debug, Default)]
pub struct SealedBatch {
    pub lines: LineBlock,
    /// Raw bytes of the lines (before JSON, without newlines), for `batch_bytes`.
    pub bytes: usize,
    /// Bytes of the files the lines took up (newlines and the skipped rest of cut lines
    /// included), for the `bytes` metric: it then adds up to the read positions.
    pub file_bytes: u64,
    /// Per stream, the offset just past the batch's last line of that stream (skipped blank
    /// lines included, so the checkpoint moves past them too).
    pub ends: Vec<(StreamId, u64)>,
    /// Blank lines read with this batch's lines and skipped (see [`Line::is_blank`]).
    pub skipped: u64,
}

/// Accumulates events into batches of bounded size.
#[derive(Debug)]
pub struct Batcher {
    max_events: usize,
    max_bytes: usize,
    /// When the open batch's first line was read: the `@timestamp` of all its lines.
    batch_now: String,
    open: SealedBatch,
    sealed: VecDeque<SealedBatch>,
}

impl Batcher {
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        let max_events = max_events.max(1);
        Self {
            max_events,
            max_bytes: max_bytes.max(1),
            batch_now: String::new(),
            open: SealedBatch::default(),
            sealed: VecDeque::new(),
        }
    }

    /// Adds a line of `stream` (from `origin`, read at `now`) that ends at `end`; a blank line
    /// becomes no event but still counts towards the batch's end of `stream`.
    pub fn push(
        &mut self,
        line: &Line<'_>,
        origin: &Arc<LineOrigin>,
        now: &str,
        stream: StreamId,
        end: u64,
    ) {
        let batch = &mut self.open;
        if line.is_blank() {
            batch.skipped += 1;
            batch.file_bytes += line.end.saturating_sub(line.offset);
            set_end(&mut batch.ends, stream, end);
            return;
        }
        if batch.lines.is_empty() {
            self.batch_now.clear();
            self.batch_now.push_str(now);
        }
        batch.lines.push(
            line.bytes,
            line.offset,
            line.truncated,
            origin,
            &self.batch_now,
        );
        batch.bytes += line.bytes.len();
        batch.file_bytes += line.end.saturating_sub(line.offset);
        set_end(&mut batch.ends, stream, end);
        if batch.lines.len() >= self.max_events || batch.bytes >= self.max_bytes {
            self.seal();
        }
    }

    /// Closes the batch being filled, if it holds anything (lines, or only skipped blank lines
    /// whose end must still be checkpointed).
    pub fn seal(&mut self) {
        if self.open.lines.is_empty() && self.open.ends.is_empty() {
            return;
        }
        // The next batch gets room for as much as this one held, an eighth more bytes (lines
        // differ in length), at most a full batch: consecutive batches are alike (full ones
        // while catching up, a few lines each while following a file).
        let lines = self.open.lines.len().min(self.max_events);
        let held = self.open.lines.byte_len();
        let bytes = (held + held / 8).min(self.max_bytes + held / lines.max(1));
        let next = SealedBatch {
            lines: LineBlock::with_capacity(lines, bytes),
            ..SealedBatch::default()
        };
        self.sealed
            .push_back(std::mem::replace(&mut self.open, next));
    }

    /// The next batch to send.
    pub fn take_sealed(&mut self) -> Option<SealedBatch> {
        self.sealed.pop_front()
    }

    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }
}

/// Records that the batch's lines of `stream` now end at `end`.
fn set_end(ends: &mut Vec<(StreamId, u64)>, stream: StreamId, end: u64) {
    match ends.iter_mut().rev().find(|(s, _)| *s == stream) {
        Some((_, last_end)) => *last_end = end,
        None => ends.push((stream, end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, TAGS};
    use serde_json::json;

    fn event(shape: &EventShape, line: &Line<'_>, path: &str, now: &str) -> Event {
        let mut block = LineBlock::default();
        let origin = shape.origin(std::path::Path::new(path));
        block.push(line.bytes, line.offset, line.truncated, &origin, now);
        let mut events = Vec::new();
        block.into_events(&mut events);
        events.remove(0)
    }

    #[test]
    fn events_have_the_filebeat_shape() {
        let mut extra = Map::new();
        extra.insert("service".into(), json!("mqtt"));
        let shape = EventShape::new("edge-1".into(), extra, &["edge".to_string()]);
        let line = Line {
            bytes: b"hello \xff",
            offset: 42,
            end: 50,
            truncated: false,
        };
        let event = event(
            &shape,
            &line,
            "/var/log/app.log",
            "2024-05-01T12:00:00.000Z",
        );
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
        let plain = Line {
            bytes: b"x",
            offset: 0,
            end: 2,
            truncated: false,
        };
        assert_eq!(event(&shape, &plain, "a.log", "t").get_field(TAGS), None);
        let cut = Line {
            truncated: true,
            ..plain
        };
        assert_eq!(
            event(&shape, &cut, "a.log", "t").get_field(TAGS),
            Some(&json!([TRUNCATED_TAG]))
        );
    }

    #[test]
    fn batches_are_sealed_at_the_event_and_byte_limits_with_their_stream_ends() {
        let shape = EventShape::new("h".into(), Map::new(), &[]);
        let file = shape.origin(std::path::Path::new("a.log"));
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
        let sealed = by_bytes.take_sealed().unwrap();
        assert_eq!((sealed.bytes, sealed.lines.byte_len()), (40, 40));

        // What the lines took up in the file: newlines and a cut line's skipped rest.
        let mut taken = Batcher::new(2, 1000);
        let with_newline = Line {
            bytes: b"abc",
            offset: 0,
            end: 4,
            truncated: false,
        };
        let cut = Line {
            bytes: b"0123",
            offset: 4,
            end: 104,
            truncated: true,
        };
        taken.push(&with_newline, &file, "t", 1, 4);
        taken.push(&cut, &file, "t", 1, 104);
        let sealed = taken.take_sealed().unwrap();
        assert_eq!((sealed.bytes, sealed.file_bytes), (7, 104));
    }

    #[test]
    fn blank_lines_become_no_event_but_move_the_batch_end() {
        let shape = EventShape::new("h".into(), Map::new(), &[]);
        let file = shape.origin(std::path::Path::new("a.log"));
        let line = |bytes: &'static [u8], offset: u64, end: u64| Line {
            bytes,
            offset,
            end,
            truncated: false,
        };
        let mut batcher = Batcher::new(10, 1000);
        batcher.push(&line(b"{}", 0, 3), &file, "t", 1, 3);
        batcher.push(&line(b"", 3, 4), &file, "t", 1, 4);
        batcher.push(&line(b" \t", 4, 8), &file, "t", 1, 8);
        batcher.seal();
        let sealed = batcher.take_sealed().unwrap();
        assert_eq!(sealed.lines.len(), 1);
        assert_eq!(sealed.skipped, 2);
        assert_eq!(
            sealed.ends,
            vec![(1, 8)],
            "the checkpoint may pass the blank lines"
        );
        assert_eq!(sealed.file_bytes, 8);

        // Only blank lines: a batch without lines, so their end is still committed.
        batcher.push(&line(b"\r", 8, 11), &file, "t", 1, 11);
        batcher.seal();
        let sealed = batcher.take_sealed().unwrap();
        assert_eq!((sealed.lines.len(), sealed.skipped), (0, 1));
        assert_eq!(sealed.ends, vec![(1, 11)]);
        batcher.seal();
        assert!(
            batcher.take_sealed().is_none(),
            "nothing read, nothing sealed"
        );
    }

    #[test]
    fn a_batch_becomes_its_events_in_line_order_each_with_its_file_and_the_first_read_time() {
        let shape = EventShape::new("h".into(), Map::new(), &[]);
        let first_file = shape.origin(std::path::Path::new("a.log"));
        let second_file = shape.origin(std::path::Path::new("b.log"));
        let lines = [
            (b"one", 0, false, &first_file),
            (b"two", 0, true, &second_file),
            (b"333", 4, false, &first_file),
        ];
        let mut batcher = Batcher::new(10, 1000);
        for (i, (bytes, offset, truncated, file)) in lines.into_iter().enumerate() {
            let line = Line {
                bytes,
                offset,
                end: offset + 4,
                truncated,
            };
            batcher.push(&line, file, &format!("t{i}"), 1, line.end);
        }
        batcher.seal();
        let mut events = Vec::new();
        batcher
            .take_sealed()
            .unwrap()
            .lines
            .into_events(&mut events);
        let summary: Vec<Value> = events
            .iter()
            .map(|e| {
                json!([
                    e.get_field("@timestamp"),
                    e.get_field("message"),
                    e.get_field("log"),
                    e.get_field(TAGS)
                ])
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                json!(["t0", "one", {"file": {"path": "a.log"}, "offset": 0}, null]),
                json!(["t0", "two", {"file": {"path": "b.log"}, "offset": 0}, [TRUNCATED_TAG]]),
                json!(["t0", "333", {"file": {"path": "a.log"}, "offset": 4}, null]),
            ]
        );
    }
}
