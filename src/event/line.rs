//! Events read as lines (file and stdin inputs), kept as raw bytes until a field is needed.
//!
//! A Filebeat-shaped `serde_json` map costs about 31 allocations per line (the root, `log`,
//! `log.file`, `host`, `input`, `fields`, every key and value), and a pipeline without filters
//! never looks at a field: it writes the event out or drops it. So a line event starts as a
//! reference into its batch's [`LineBlock`] (the bytes of all the batch's lines in one buffer,
//! their offsets, their read times) and the [`LineOrigin`] of its file (the constant parts: path,
//! host, input type, configured fields and tags, with their JSON already serialised).
//! [`super::Event`] builds the map the first time a field is read (cached, the event stays
//! shareable across outputs) or written (in place, the raw line is let go), and
//! [`super::Event::write_json`] writes the raw form straight into the writer: byte for byte the
//! document the map would serialise to (same keys in the same order, same escaping, same
//! numbers; a property test in this module holds the two paths to that).
//!
//! One `Arc` per batch, not a reference-counted slice per line plus an `Arc` per file: every
//! event touches only its own batch's counter, which one thread at a time works on. A counter
//! shared by batches that two filter workers handle at once (a file's origin) would bounce
//! between the cores for every event.
//!
//! Memory: a line event keeps its block alive, so a block lives as long as the longest-lived
//! event of its batch (an event materialised in place lets go of it). A block holds one
//! batch's raw lines, at most `batch_bytes` plus one line of `max_line_bytes`, which is the
//! per-batch bound the README states: nothing outlives its batch in flight.

use super::{parse_timestamp, Event, FieldPath, MESSAGE, TAGS, TIMESTAMP};
use chrono::{DateTime, Utc};
use serde_json::map::Entry;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// Tag added to an event whose line was longer than `max_line_bytes` and was cut.
pub const TRUNCATED_TAG: &str = "_line_truncated";

/// The key of the object holding `file` and `offset` for lines read from a file.
pub const LOG: &str = "log";
/// The keys inside [`LOG`].
pub const LOG_FILE: &str = "file";
pub const LOG_OFFSET: &str = "offset";

/// The fields of a line event whose map has not been built, in the map's order: what a
/// writer that walks them (the queue's codec) needs, so that encoding a line does not build
/// its ~31-allocation map on the input's thread only to throw it away.
#[derive(Debug)]
pub struct LineFields<'a> {
    /// `@timestamp`.
    pub timestamp: &'a str,
    /// `message` (invalid UTF-8 replaced, as in the map).
    pub message: Cow<'a, str>,
    /// `log.file` and `log.offset`, for a line read from a file.
    pub log: Option<(&'a Value, u64)>,
    /// The top-level fields after `log`, in order.
    pub constant: &'a [(String, Value)],
    /// `tags`, when the line has them: the configured ones, and whether [`TRUNCATED_TAG`]
    /// follows them.
    pub tags: Option<(&'a [Value], bool)>,
}

impl LineFields<'_> {
    /// How many top-level fields the map has.
    pub fn count(&self) -> usize {
        2 + usize::from(self.log.is_some()) + self.constant.len() + usize::from(self.tags.is_some())
    }
}

/// What every line from one source has in common, as values and as serialised JSON.
///
/// A line's event is `{"@timestamp", "message", "log": {"file", "offset"}, <constant...>,
/// "tags"}`, in that order; `log` only when the source is a file, `tags` only when there are
/// configured tags or the line was truncated.
#[derive(Debug)]
pub struct LineOrigin {
    /// `log` with `log.file` (the file's `{"path": ...}` object) and `log.offset` 0, cloned
    /// for each line (a clone copies the map's hashes, two inserts would compute them), or
    /// `None` for a source without a file.
    log: Option<Value>,
    /// Top-level fields every line carries after `log`, in order.
    constant: Vec<(String, Value)>,
    /// Configured tags.
    tags: Vec<Value>,
    /// `,"log":{"file":{...},"offset":` (empty without a file).
    log_json: Vec<u8>,
    /// Everything after the offset (or the message): `}` closing `log`, the constant fields,
    /// the tags and the closing `}`; for a whole line and for a truncated one.
    tail_json: [Vec<u8>; 2],
}

impl LineOrigin {
    /// `file` is the `log.file` value (lines then also carry `log.offset`); `constant` the
    /// top-level fields after it, distinct, whose keys must not be `@timestamp`, `message`, `log` or
    /// `tags`; `tags` the configured tags (a truncated line also gets [`TRUNCATED_TAG`]).
    pub fn new(file: Option<Value>, constant: Vec<(String, Value)>, tags: Vec<Value>) -> Self {
        debug_assert!(constant.iter().enumerate().all(|(i, (key, _))| {
            ![TIMESTAMP, MESSAGE, LOG, TAGS].contains(&key.as_str())
                && constant[..i].iter().all(|(earlier, _)| earlier != key)
        }));
        let mut log_json = Vec::new();
        if let Some(file) = &file {
            log_json.extend_from_slice(br#","log":{"file":"#);
            write_value(&mut log_json, file);
            log_json.extend_from_slice(br#","offset":"#);
        }
        let tail = |truncated: bool| {
            let mut json = Vec::new();
            if file.is_some() {
                json.push(b'}');
            }
            for (key, value) in &constant {
                json.push(b',');
                write_value(&mut json, &Value::String(key.clone()));
                json.push(b':');
                write_value(&mut json, value);
            }
            if let Some(tags) = tags_value(&tags, truncated) {
                json.extend_from_slice(br#","tags":"#);
                write_value(&mut json, &tags);
            }
            json.push(b'}');
            json
        };
        let tail_json = [tail(false), tail(true)];
        let log = file.map(|file| {
            let mut log = Map::with_capacity(2);
            log.insert(LOG_FILE.into(), file);
            log.insert(LOG_OFFSET.into(), Value::from(0u64));
            Value::Object(log)
        });
        Self {
            log,
            constant,
            tags,
            log_json,
            tail_json,
        }
    }

    /// The `log.offset` of a whole (not truncated) line of this origin whose document, after
    /// its `message` string, is exactly `rest`; `None` when `rest` is not such a line's.
    /// What the Kafka input uses to take a line a shipper wrote back as a line: when the
    /// bytes match, the line's map is what parsing the document gives.
    pub fn offset_of(&self, rest: &[u8]) -> Option<u64> {
        let tail = &self.tail_json[0];
        if self.log.is_none() {
            return (rest == tail.as_slice()).then_some(0);
        }
        let rest = rest.strip_prefix(self.log_json.as_slice())?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        // As `serde_json` writes a `u64`: no sign, no leading zero, nothing after.
        if digits == 0 || (digits > 1 && rest[0] == b'0') || &rest[digits..] != tail.as_slice() {
            return None;
        }
        std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
    }

    /// The fields of one line, as the map every filter works on.
    fn fields(
        &self,
        message: &[u8],
        offset: u64,
        truncated: bool,
        now: &str,
    ) -> Map<String, Value> {
        let mut fields = Map::with_capacity(8);
        let _ = self.fill(&mut fields, message, offset, truncated, now);
        fields
    }

    /// Adds the fields of one line that `fields` does not have yet, in the order a line's
    /// map has them; true when `fields` had `@timestamp`. Into an empty map that is the
    /// line's map; after the keys of a parsed line (the json filter) it is the merge Logstash
    /// does, where the parsed keys win, without building the line's map first (its `message`
    /// is the text just parsed).
    fn fill(
        &self,
        fields: &mut Map<String, Value>,
        message: &[u8],
        offset: u64,
        truncated: bool,
        now: &str,
    ) -> bool {
        let had_timestamp = !add_if_missing(fields, TIMESTAMP, || Value::String(now.to_owned()));
        add_if_missing(fields, MESSAGE, || {
            Value::String(text(message).into_owned())
        });
        if let Some(template) = &self.log {
            add_vacant(fields, LOG, || {
                let mut log = template.clone();
                if let Some(slot) = log
                    .as_object_mut()
                    .and_then(|log| super::find_small_mut(log, LOG_OFFSET))
                {
                    *slot = Value::from(offset);
                }
                log
            });
        }
        for (key, value) in &self.constant {
            add_vacant(fields, key, || value.clone());
        }
        if let Some(tags) = tags_value(&self.tags, truncated) {
            add_vacant(fields, TAGS, || tags);
        }
        had_timestamp
    }
}

/// [`add_vacant`] for a key the map usually has (a parsed line's `@timestamp` and
/// `message`, near its start): a scan of the first keys ([`super::find_small`]) answers
/// without hashing the key or copying it.
fn add_if_missing(
    fields: &mut Map<String, Value>,
    key: &str,
    value: impl FnOnce() -> Value,
) -> bool {
    super::find_small(fields, key).is_none() && add_vacant(fields, key, value)
}

/// `fields[key] = value()` unless `fields` has `key` (one hash either way); true when added.
fn add_vacant(fields: &mut Map<String, Value>, key: &str, value: impl FnOnce() -> Value) -> bool {
    match fields.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(value());
            true
        }
        Entry::Occupied(_) => false,
    }
}

/// The `tags` of a line: the configured ones, plus [`TRUNCATED_TAG`] for a cut line.
fn tags_value(tags: &[Value], truncated: bool) -> Option<Value> {
    if !truncated && tags.is_empty() {
        return None;
    }
    let mut all = tags.to_vec();
    if truncated {
        all.push(Value::String(TRUNCATED_TAG.into()));
    }
    Some(Value::Array(all))
}

/// A line as text, invalid UTF-8 replaced by U+FFFD. (`from_utf8_lossy` alone validates
/// several times slower than `from_utf8` on valid text, the common case.)
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn write_value(buffer: &mut Vec<u8>, value: &Value) {
    // Writing into a `Vec` cannot fail.
    let _ = super::json::write_value(buffer, value);
}

/// Where one line lies in its block.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    offset: u64,
    truncated: bool,
    /// Index into [`LineBlock::origins`].
    origin: usize,
    /// Index into [`LineBlock::stamps`].
    stamp: usize,
}

/// A read time shared by consecutive lines of a block.
#[derive(Debug)]
struct Stamp {
    /// `@timestamp`.
    now: String,
    /// `now` parsed, what [`Event::timestamp`] answers without building the fields.
    time: Option<DateTime<Utc>>,
    /// `{"@timestamp":"<now>","message":`, the start of the line's document.
    head_json: Vec<u8>,
}

impl Stamp {
    fn new(now: &str) -> Self {
        let mut head_json = br#"{"@timestamp":"#.to_vec();
        write_value(&mut head_json, &Value::String(now.to_owned()));
        head_json.extend_from_slice(br#","message":"#);
        Self {
            now: now.to_owned(),
            time: parse_timestamp(now),
            head_json,
        }
    }
}

/// The lines of one batch: their bytes in one buffer, where each lies, their origins and the
/// times they were read. Turned into events by [`LineBlock::into_events`].
#[derive(Debug, Default)]
pub struct LineBlock {
    bytes: Vec<u8>,
    lines: Vec<Span>,
    origins: Vec<Arc<LineOrigin>>,
    /// Read times (`@timestamp`), one per run of lines read at the same time.
    stamps: Vec<Stamp>,
}

impl LineBlock {
    /// An empty block with room for `lines` lines of `bytes` bytes in all: a block filled
    /// from empty grows its buffers by doubling, copying the lines read so far each time.
    pub fn with_capacity(lines: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            lines: Vec::with_capacity(lines),
            ..Self::default()
        }
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Raw bytes of the lines.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Adds a line (without its newline) that starts at `offset` of its source and was read
    /// at `now` (its `@timestamp`, an RFC 3339 text).
    pub fn push(
        &mut self,
        line: &[u8],
        offset: u64,
        truncated: bool,
        origin: &Arc<LineOrigin>,
        now: &str,
    ) {
        self.note_stamp(now);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(line);
        self.add_span(start..self.bytes.len(), offset, truncated, origin);
    }

    /// A block whose lines lie in `bytes` already (added with [`push_within`]): a decoder
    /// that holds a buffer of lines keeps it, instead of copying the lines out of it.
    ///
    /// [`push_within`]: Self::push_within
    pub fn adopting(bytes: Vec<u8>, lines: usize) -> Self {
        Self {
            bytes,
            lines: Vec::with_capacity(lines),
            ..Self::default()
        }
    }

    /// The block's buffer.
    pub fn buffer(&self) -> &[u8] {
        &self.bytes
    }

    /// Adds the line at `line` of the buffer, read at the text at `now` of the buffer (see
    /// [`push`](Self::push)); false, adding nothing, if either range is not in the buffer or
    /// `now` is not UTF-8.
    pub fn push_within(
        &mut self,
        line: std::ops::Range<usize>,
        offset: u64,
        truncated: bool,
        origin: &Arc<LineOrigin>,
        now: std::ops::Range<usize>,
    ) -> bool {
        if self.bytes.get(line.clone()).is_none() {
            return false;
        }
        let Some(Ok(now)) = self.bytes.get(now).map(std::str::from_utf8) else {
            return false;
        };
        if self.stamps.last().is_none_or(|stamp| stamp.now != now) {
            let stamp = Stamp::new(now);
            self.stamps.push(stamp);
        }
        self.add_span(line, offset, truncated, origin);
        true
    }

    /// A new stamp unless the last one is read at `now`.
    fn note_stamp(&mut self, now: &str) {
        if self.stamps.last().is_none_or(|stamp| stamp.now != now) {
            self.stamps.push(Stamp::new(now));
        }
    }

    /// The line at `line` of the buffer, with the last stamp.
    fn add_span(
        &mut self,
        line: std::ops::Range<usize>,
        offset: u64,
        truncated: bool,
        origin: &Arc<LineOrigin>,
    ) {
        let origin = match self.origins.iter().rposition(|o| Arc::ptr_eq(o, origin)) {
            Some(index) => index,
            None => {
                self.origins.push(origin.clone());
                self.origins.len() - 1
            }
        };
        self.lines.push(Span {
            start: line.start,
            end: line.end,
            offset,
            truncated,
            origin,
            stamp: self.stamps.len() - 1,
        });
    }

    /// Appends one event per line, in line order. The events share the block.
    pub fn into_events(self, events: &mut Vec<Event>) {
        let count = self.lines.len();
        let block = Arc::new(self);
        events.reserve(count);
        for index in 0..count {
            events.push(Event::from_line(LazyLine {
                block: block.clone(),
                index,
                fields: OnceLock::new(),
            }));
        }
    }
}

/// An event that is still a line of a block; its fields are built on first use.
#[derive(Clone)]
pub(super) struct LazyLine {
    block: Arc<LineBlock>,
    index: usize,
    /// The fields, once something read them through a shared reference.
    fields: OnceLock<Box<Map<String, Value>>>,
}

impl LazyLine {
    fn parts(&self) -> (&Span, &LineOrigin, &Stamp) {
        let span = &self.block.lines[self.index];
        (
            span,
            &self.block.origins[span.origin],
            &self.block.stamps[span.stamp],
        )
    }

    fn build(&self) -> Map<String, Value> {
        let (span, origin, stamp) = self.parts();
        origin.fields(
            &self.block.bytes[span.start..span.end],
            span.offset,
            span.truncated,
            &stamp.now,
        )
    }

    /// Whether nothing has built the fields yet.
    pub(super) fn is_unbuilt(&self) -> bool {
        self.fields.get().is_none()
    }

    /// The fields' parts, while nothing has built the map.
    pub(super) fn unbuilt_fields(&self) -> Option<LineFields<'_>> {
        if !self.is_unbuilt() {
            return None;
        }
        let (span, origin, stamp) = self.parts();
        let tags = (span.truncated || !origin.tags.is_empty())
            .then_some((origin.tags.as_slice(), span.truncated));
        Some(LineFields {
            timestamp: &stamp.now,
            message: text(&self.block.bytes[span.start..span.end]),
            log: origin
                .log
                .as_ref()
                .and_then(Value::as_object)
                .and_then(|log| super::find_small(log, LOG_FILE))
                .map(|file| (file, span.offset)),
            constant: &origin.constant,
            tags,
        })
    }

    /// The line's text, while nothing has built its fields.
    pub(super) fn unbuilt_text(&self) -> Option<Cow<'_, str>> {
        if !self.is_unbuilt() {
            return None;
        }
        let (span, ..) = self.parts();
        Some(text(&self.block.bytes[span.start..span.end]))
    }

    /// `parsed` (the line's text parsed as an object) followed by the line's fields it does
    /// not have; with the line's `@timestamp` when `parsed` had its own.
    pub(super) fn fill_under(&self, parsed: &mut Map<String, Value>) -> Option<Value> {
        let (span, origin, stamp) = self.parts();
        let bytes = &self.block.bytes[span.start..span.end];
        origin
            .fill(parsed, bytes, span.offset, span.truncated, &stamp.now)
            .then(|| Value::String(stamp.now.clone()))
    }

    /// The value at `path` (of the fields) when it lies in the origin's constant fields
    /// (`fields`, `host`, ...), or is known to be absent, without building the map: `None`
    /// when only the map can answer (`@timestamp`, `message`, `log`, `tags`).
    pub(super) fn constant_lookup(&self, path: &FieldPath) -> Option<Option<&Value>> {
        let first = path.segments().first()?;
        if [TIMESTAMP, MESSAGE, LOG, TAGS].contains(&first.as_str()) {
            return None;
        }
        let origin = &self.block.origins[self.parts().0.origin];
        Some(path.lookup_from(|first| {
            origin
                .constant
                .iter()
                .find(|(key, _)| key == first)
                .map(|(_, value)| value)
        }))
    }

    /// The fields, built on first use and kept.
    pub(super) fn fields(&self) -> &Map<String, Value> {
        self.fields.get_or_init(|| Box::new(self.build()))
    }

    /// The fields, to own (built unless something already did).
    pub(super) fn into_fields(mut self) -> Map<String, Value> {
        match self.fields.take() {
            Some(fields) => *fields,
            None => self.build(),
        }
    }

    /// `@timestamp`, parsed once per read.
    pub(super) fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.parts().2.time
    }

    /// `@timestamp` as text (the read time).
    pub(super) fn timestamp_text(&self) -> &str {
        &self.parts().2.now
    }

    /// Whether the top-level field `name` exists, without building the fields when the
    /// answer is known.
    pub(super) fn has_field(&self, name: &str) -> bool {
        name == TIMESTAMP || name == MESSAGE || self.fields().contains_key(name)
    }

    /// The event's JSON document, written from the raw line.
    pub(super) fn write_json(&self, writer: &mut Vec<u8>) -> std::io::Result<()> {
        let (span, origin, stamp) = self.parts();
        writer.write_all(&stamp.head_json)?;
        let message = text(&self.block.bytes[span.start..span.end]);
        super::json::write_str(writer, &message)?;
        if origin.log.is_some() {
            writer.write_all(&origin.log_json)?;
            serde_json::to_writer(&mut *writer, &span.offset)?;
        }
        writer.write_all(&origin.tail_json[usize::from(span.truncated)])
    }
}

impl std::fmt::Debug for LazyLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (span, ..) = self.parts();
        f.debug_struct("LazyLine")
            .field("offset", &span.offset)
            .field("bytes", &(span.end - span.start))
            .field("built", &self.fields.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::strategies::json_value;
    use proptest::prelude::*;
    use serde_json::json;

    fn file_origin(
        path: &str,
        host: &str,
        extra: Map<String, Value>,
        tags: &[&str],
    ) -> Arc<LineOrigin> {
        let mut constant = vec![
            ("host".to_string(), json!({ "name": host })),
            ("input".to_string(), json!({ "type": "file" })),
        ];
        if !extra.is_empty() {
            constant.push(("fields".to_string(), Value::Object(extra)));
        }
        Arc::new(LineOrigin::new(
            Some(json!({ "path": path })),
            constant,
            tags.iter().map(|t| json!(t)).collect(),
        ))
    }

    fn events(block: LineBlock) -> Vec<Event> {
        let mut events = Vec::new();
        block.into_events(&mut events);
        events
    }

    fn raw_json(event: &Event) -> String {
        let mut out = Vec::new();
        event.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn map_json(event: &Event) -> String {
        serde_json::to_string(event.fields()).unwrap()
    }

    #[test]
    fn a_line_event_has_the_filebeat_shape_and_writes_it_raw() {
        let mut extra = Map::new();
        extra.insert("service".into(), json!("mqtt"));
        let origin = file_origin("/var/log/app.log", "edge-1", extra, &["edge"]);
        let mut block = LineBlock::default();
        block.push(
            b"hello \xff",
            42,
            false,
            &origin,
            "2024-05-01T12:00:00.000Z",
        );
        let events = events(block);
        let expected = json!({
            "@timestamp": "2024-05-01T12:00:00.000Z",
            "message": "hello \u{fffd}",
            "log": {"file": {"path": "/var/log/app.log"}, "offset": 42},
            "host": {"name": "edge-1"},
            "input": {"type": "file"},
            "fields": {"service": "mqtt"},
            "tags": ["edge"],
        });
        assert_eq!(
            raw_json(&events[0]),
            serde_json::to_string(&expected).unwrap()
        );
        assert_eq!(events[0].to_value(), expected);
    }

    #[test]
    fn the_timestamp_is_answered_without_building_the_fields() {
        let origin = Arc::new(LineOrigin::new(None, Vec::new(), Vec::new()));
        let mut block = LineBlock::default();
        block.push(b"x", 0, false, &origin, "2024-05-01T12:00:00.123Z");
        block.push(b"y", 0, false, &origin, "2030-01-01T00:00:00.000Z");
        let events = events(block);
        let time = parse_timestamp("2030-01-01T00:00:00.000Z");
        assert!(time.is_some());
        assert_eq!(events[1].timestamp(), time, "each line's own read time");
        assert!(events[1].has_field(TIMESTAMP));
        assert_eq!(events[1].timestamp_text(), Some("2030-01-01T00:00:00.000Z"));
        assert!(events[1].is_unbuilt(), "nothing was built");
        assert_eq!(
            events[1].get_field(TIMESTAMP),
            Some(&json!("2030-01-01T00:00:00.000Z"))
        );
        assert_eq!(
            events[0].get_field(TIMESTAMP),
            Some(&json!("2024-05-01T12:00:00.123Z"))
        );
        assert_eq!(events[1].get_field(MESSAGE), Some(&json!("y")));
    }

    #[test]
    fn writing_a_field_builds_the_map_in_place_and_lets_go_of_the_block() {
        let origin = file_origin("a.log", "h", Map::new(), &[]);
        let mut block = LineBlock::default();
        block.push(b"one", 0, true, &origin, "t");
        let mut events = events(block);
        let event = &mut events[0];
        assert_eq!(event.get_field(TAGS), Some(&json!([TRUNCATED_TAG])));
        event.add_tag("more");
        assert!(event.lazy.is_none());
        assert_eq!(
            raw_json(event),
            r#"{"@timestamp":"t","message":"one","log":{"file":{"path":"a.log"},"offset":0},"host":{"name":"h"},"input":{"type":"file"},"tags":["_line_truncated","more"]}"#
        );
        let mut clone = event.clone();
        clone.remove_tag("more");
        assert!(event.has_tag("more") && !clone.has_tag("more"));
    }

    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Arbitrary bytes: invalid UTF-8, control characters, quotes, backslashes.
            prop::collection::vec(any::<u8>(), 0..200),
            // Valid text of every kind.
            ".{0,120}".prop_map(String::into_bytes),
            // JSON-looking log lines with escapes inside.
            "\\{\"level\":\"[a-z\"\\\\\t\u{7f}\u{e9}\u{1f600}]{0,40}\"\\}"
                .prop_map(String::into_bytes),
            // Long lines (a cut line is as long as `max_line_bytes`).
            (any::<u8>(), 4_000usize..70_000).prop_map(|(b, n)| vec![b; n]),
        ]
    }

    #[test]
    fn constant_fields_are_read_without_building_the_map() {
        let mut extra = Map::new();
        extra.insert("service".into(), json!("mqtt"));
        let origin = file_origin("/var/log/app.log", "edge-1", extra, &["edge"]);
        let mut block = LineBlock::default();
        block.push(b"{}", 7, false, &origin, "2024-05-01T12:00:00.000Z");
        let event = events(block).remove(0);
        let mut built = event.clone();
        built.fields_mut();
        for (path, answered_lazily) in [
            ("[fields][service]", true),
            ("[fields][other]", true),
            ("[host][name]", true),
            ("[input][type]", true),
            ("[nothing]", true),
            ("[nothing][below]", true),
            ("[log][offset]", false),
            ("[message]", false),
            ("[tags]", false),
        ] {
            let path = FieldPath::parse(path).unwrap();
            let mut unbuilt = event.clone();
            assert_eq!(unbuilt.get(&path), built.get(&path), "{path:?}");
            assert_eq!(unbuilt.is_unbuilt(), answered_lazily, "{path:?}");
            unbuilt.fields_mut();
            assert_eq!(unbuilt.get(&path), built.get(&path), "{path:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The raw path writes exactly the document the built map serialises to.
        #[test]
        fn raw_serialisation_equals_the_map_serialisation(
            lines in prop::collection::vec((line_bytes(), any::<u64>(), any::<bool>(), 0usize..3), 1..6),
            paths in prop::collection::vec(".{0,30}", 3),
            host in ".{0,20}",
            extra in prop::collection::vec((".{1,10}", json_value()), 0..4),
            tags in prop::collection::vec(".{0,10}", 0..3),
            times in prop::collection::vec(".{0,30}", 2),
        ) {
            let extra: Map<String, Value> = extra.into_iter().collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let origins: Vec<Arc<LineOrigin>> = paths
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    if i == 2 {
                        // A source without a file (stdin).
                        Arc::new(LineOrigin::new(
                            None,
                            vec![("host".into(), json!({ "name": host }))],
                            Vec::new(),
                        ))
                    } else {
                        file_origin(path, &host, extra.clone(), &tags)
                    }
                })
                .collect();
            let mut block = LineBlock::default();
            for (i, (bytes, offset, truncated, origin)) in lines.iter().enumerate() {
                block.push(bytes, *offset, *truncated, &origins[*origin], &times[i % 3 / 2]);
            }
            let events = events(block);
            prop_assert_eq!(events.len(), lines.len());
            for event in &events {
                let raw = raw_json(event);
                let built = map_json(event);
                prop_assert_eq!(&raw, &built);
                // And the same again once the fields are owned by the event.
                let mut owned = event.clone();
                owned.fields_mut();
                prop_assert!(owned.lazy.is_none());
                prop_assert_eq!(raw_json(&owned), built);
            }
        }

        /// The json filter's merge straight from an unbuilt line gives the fields, the key
        /// order and the replaced `@timestamp` of the merge into the built map.
        #[test]
        fn merge_under_an_unbuilt_line_equals_the_merge_into_its_map(
            parsed in prop::collection::vec(
                (prop_oneof![
                    Just(TIMESTAMP.to_string()),
                    Just(MESSAGE.to_string()),
                    Just(LOG.to_string()),
                    Just(TAGS.to_string()),
                    Just("host".to_string()),
                    Just("fields".to_string()),
                    "[a-z]{1,6}",
                ], json_value()),
                0..8,
            ),
            line in line_bytes(),
            offset in any::<u64>(),
            truncated in any::<bool>(),
            with_file in any::<bool>(),
            tags in prop::collection::vec(".{0,10}", 0..3),
        ) {
            let parsed: Map<String, Value> = parsed.into_iter().collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let mut extra = Map::new();
            extra.insert("service".into(), json!("mqtt"));
            let origin = if with_file {
                file_origin("/var/log/app.log", "edge-1", extra, &tags)
            } else {
                Arc::new(LineOrigin::new(None, vec![("host".into(), json!({"name": "h"}))], Vec::new()))
            };
            let mut block = LineBlock::default();
            block.push(&line, offset, truncated, &origin, "2024-05-01T12:00:00.000Z");
            let mut unbuilt = events(block).remove(0);
            let mut built = unbuilt.clone();
            let _ = built.fields();
            prop_assert!(unbuilt.unbuilt_line_message().is_some());
            prop_assert!(built.unbuilt_line_message().is_none());
            let from_line = unbuilt.merge_under(parsed.clone());
            let from_map = built.merge_under(parsed);
            prop_assert_eq!(from_line, from_map);
            let keys = |event: &Event| event.fields().keys().cloned().collect::<Vec<_>>();
            prop_assert_eq!(keys(&unbuilt), keys(&built));
            prop_assert_eq!(unbuilt.fields(), built.fields());
        }
    }
}
