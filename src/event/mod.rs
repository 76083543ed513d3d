//! The event: one JSON object plus `@metadata`, the unit every component works on.
//!
//! Events are deliberately plain `serde_json` maps: users think of log records as JSON, Logstash
//! and Vector expose them as JSON, and Elasticsearch indexes JSON. Everything that is not data
//! (which input produced the event and whether every output has finished with it) travels at
//! the batch level in [`Batch`], never per event, so the per-event cost stays one map.
//!
//! `@timestamp` lives in the field map as an RFC 3339 string in UTC with millisecond precision
//! (Logstash's rendering); [`Event::timestamp`] parses it when a template needs a date.
//!
//! Building those maps is most of what reading a log costs (~30 allocations and a SipHash
//! per key for a Filebeat-shaped event), and a pipeline without filters never reads a field.
//! So an event may start out *lazy*, in its input's raw form, and get its maps the first time
//! a field or the metadata is read (built once, cached: the event stays shareable across
//! outputs) or written (built in place, the raw form let go):
//!
//! - An event read as a line (file and stdin inputs) is a line of its batch's [`LineBlock`]
//!   (`line.rs`); it has no metadata.
//! - A Beats event whose payload is in `serde_json`'s canonical form is that payload, in its
//!   batch's [`RawBlock`] (`raw.rs`, implemented by the Beats input); its fields and its
//!   metadata (`@metadata` plus the client IP) are built together.
//!
//! An event nobody looks into is written straight from the raw form, byte for byte the JSON
//! its maps would give (each form holds that with a property test). The methods hide the
//! difference; only [`Event::timestamp`], [`Event::timestamp_text`], [`Event::has_field`]
//! for `@timestamp`/`message`, [`Event::ensure_timestamp`] and [`Event::write_json`] stay on
//! the cheap path, and for a line also [`Event::get`] of its input's constant fields (the
//! seed's `[fields][service] == "mqtt"`) and [`Event::merge_under`], with which the json
//! filter turns the parsed line into the event's map without building the line's map first
//! (a copy of the line and a hash per key saved on every event).

mod ack;
mod batch;
pub(crate) mod json;
mod line;
mod parse;
mod path;
pub mod prefetch;
mod raw;
mod template;
mod time;

pub use ack::{ack_channel, AckReceipt, AckReceiver, AckSender, AckToken, BatchStatus};
pub use batch::{Batch, Delivery, DeliveryMetrics, Home, HomeBin, SourcePosition};
pub use line::{LineBlock, LineFields, LineOrigin, LOG, LOG_FILE, LOG_OFFSET, TRUNCATED_TAG};
pub use parse::{parse_object_slice, parse_object_str};
pub use path::{FieldPath, PathError, Root};
pub use raw::RawBlock;
pub use template::{joda_to_chrono, CachingTemplate, Template, TemplateError};
pub use time::{format_timestamp, local_to_utc, parse_iso8601, parse_timestamp};
pub(crate) use time::{is_canonical_utc_millis, parse_canonical_utc_millis};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// The field every event carries: when it happened.
pub const TIMESTAMP: &str = "@timestamp";
/// The field holding the event's tags (an array of strings).
pub const TAGS: &str = "tags";
/// The field holding the raw line of a log record.
pub const MESSAGE: &str = "message";

/// A log event.
#[derive(Clone, Default)]
pub struct Event {
    /// The fields, unless the event is still `lazy` (then this map is empty and unused).
    fields: Map<String, Value>,
    /// The raw form whose fields have not been taken over into `fields` yet.
    lazy: Option<Lazy>,
    /// The metadata, unless the event is still a [`Lazy::Raw`] (a line has none).
    metadata: Map<String, Value>,
}

/// An event still in its input's form.
#[derive(Clone, Debug)]
enum Lazy {
    /// A line of a [`LineBlock`]: its fields are built on first use, it has no metadata.
    Line(line::LazyLine),
    /// An event of a [`RawBlock`]: its fields and metadata are built together on first use.
    Raw(raw::LazyRaw),
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields() && self.metadata() == other.metadata()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("fields", self.fields())
            .field("metadata", self.metadata())
            .finish()
    }
}

impl Event {
    /// An empty event (no `@timestamp` yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps an existing map of fields.
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        Self {
            fields,
            lazy: None,
            metadata: Map::new(),
        }
    }

    fn from_line(line: line::LazyLine) -> Self {
        Self {
            fields: Map::new(),
            lazy: Some(Lazy::Line(line)),
            metadata: Map::new(),
        }
    }

    /// Event `index` of `block`, kept raw until a field or the metadata is needed.
    pub fn from_raw(block: Arc<dyn RawBlock>, index: usize) -> Self {
        Self {
            fields: Map::new(),
            lazy: Some(Lazy::Raw(raw::LazyRaw::new(block, index))),
            metadata: Map::new(),
        }
    }

    /// Builds an event from any JSON value: objects become the fields, anything else is
    /// stored under `message`.
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(fields) => Self::from_fields(fields),
            other => {
                let mut fields = Map::new();
                fields.insert(MESSAGE.to_string(), other);
                Self::from_fields(fields)
            }
        }
    }

    pub fn fields(&self) -> &Map<String, Value> {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.fields(),
            Some(Lazy::Raw(raw)) => raw.fields(),
            None => &self.fields,
        }
    }

    /// A line event's fields in parts, while nothing has built its map (see
    /// [`LineFields`]); `None` for any other event.
    pub fn unbuilt_line_fields(&self) -> Option<LineFields<'_>> {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.unbuilt_fields(),
            _ => None,
        }
    }

    /// Takes the lazy form over into `fields` and `metadata` (built unless already built).
    fn materialise(&mut self) {
        match self.lazy.take() {
            Some(Lazy::Line(line)) => self.fields = line.into_fields(),
            Some(Lazy::Raw(raw)) => (self.fields, self.metadata) = raw.into_parts(),
            None => {}
        }
    }

    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        self.materialise();
        &mut self.fields
    }

    pub fn metadata(&self) -> &Map<String, Value> {
        match &self.lazy {
            Some(Lazy::Raw(raw)) => raw.metadata(),
            _ => &self.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        // A line has no metadata to build: it stays a line.
        if matches!(self.lazy, Some(Lazy::Raw(_))) {
            self.materialise();
        }
        &mut self.metadata
    }

    pub fn into_parts(mut self) -> (Map<String, Value>, Map<String, Value>) {
        self.materialise();
        (self.fields, self.metadata)
    }

    pub fn from_parts(fields: Map<String, Value>, metadata: Map<String, Value>) -> Self {
        Self {
            fields,
            lazy: None,
            metadata,
        }
    }

    /// Whether the event is still in its input's form with nothing built (tests of the
    /// lazy paths).
    #[cfg(test)]
    pub(crate) fn is_unbuilt(&self) -> bool {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.is_unbuilt(),
            Some(Lazy::Raw(raw)) => !raw.is_built(),
            None => false,
        }
    }

    fn root(&self, path: &FieldPath) -> &Map<String, Value> {
        match path.root() {
            Root::Fields => self.fields(),
            Root::Metadata => self.metadata(),
        }
    }

    fn root_mut(&mut self, path: &FieldPath) -> &mut Map<String, Value> {
        match path.root() {
            Root::Fields => self.fields_mut(),
            Root::Metadata => self.metadata_mut(),
        }
    }

    /// The value at `path`, if any. A line event answers for its input's constant fields
    /// (`[fields][service]`, the usual condition) without building its map.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        if let (Some(Lazy::Line(line)), Root::Fields) = (&self.lazy, path.root()) {
            if let Some(answer) = line.constant_lookup(path) {
                return answer;
            }
        }
        path.lookup(self.root(path))
    }

    pub fn get_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        path.lookup_mut(self.root_mut(path))
    }

    /// A top-level field by name.
    pub fn get_field(&self, name: &str) -> Option<&Value> {
        self.fields().get(name)
    }

    /// Whether the top-level field `name` exists (for a line event's `@timestamp` and
    /// `message`, without building its fields).
    pub fn has_field(&self, name: &str) -> bool {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.has_field(name),
            Some(Lazy::Raw(raw)) => raw.has_field(name),
            None => find_small(&self.fields, name).is_some(),
        }
    }

    /// Sets `path` to `value`, creating parent objects as needed.
    pub fn insert(&mut self, path: &FieldPath, value: Value) {
        path.insert(self.root_mut(path), value);
    }

    /// Removes and returns the value at `path`.
    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        path.delete(self.root_mut(path))
    }

    /// True when `path` resolves to a value (null included, as Logstash's `include?`).
    pub fn contains(&self, path: &FieldPath) -> bool {
        self.get(path).is_some()
    }

    /// Adds `tag` to `tags` unless it is already there (Logstash semantics: `tags` becomes an
    /// array; a scalar `tags` is kept as its first element).
    pub fn add_tag(&mut self, tag: &str) {
        let slot = self
            .fields_mut()
            .entry(TAGS.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            let previous = std::mem::take(slot);
            *slot = Value::Array(if previous.is_null() {
                Vec::new()
            } else {
                vec![previous]
            });
        }
        if let Value::Array(tags) = slot {
            if !tags.iter().any(|t| t.as_str() == Some(tag)) {
                tags.push(Value::String(tag.to_string()));
            }
        }
    }

    /// Removes `tag` from `tags`.
    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(tags)) = self.fields_mut().get_mut(TAGS) {
            tags.retain(|t| t.as_str() != Some(tag));
        }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        match self.fields().get(TAGS) {
            Some(Value::Array(tags)) => tags.iter().any(|t| t.as_str() == Some(tag)),
            Some(Value::String(single)) => single == tag,
            _ => false,
        }
    }

    /// The event time, parsed from `@timestamp`.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        match &self.lazy {
            Some(Lazy::Line(line)) => return line.timestamp(),
            Some(Lazy::Raw(raw)) => return raw.timestamp(),
            None => {}
        }
        match find_small(&self.fields, TIMESTAMP)? {
            Value::String(text) => parse_timestamp(text),
            _ => None,
        }
    }

    /// `@timestamp` as stored, when it is a string: for most events the canonical
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` text, so a caller can key a cache on it (or on a prefix of
    /// it) instead of parsing it for every event. A line event answers without building its
    /// fields.
    pub fn timestamp_text(&self) -> Option<&str> {
        match &self.lazy {
            Some(Lazy::Line(line)) => Some(line.timestamp_text()),
            Some(Lazy::Raw(raw)) => raw.timestamp_text(),
            None => find_small(&self.fields, TIMESTAMP)?.as_str(),
        }
    }

    /// Sets `@timestamp`, normalised to UTC with millisecond precision.
    pub fn set_timestamp(&mut self, time: DateTime<Utc>) {
        self.fields_mut()
            .insert(TIMESTAMP.to_string(), Value::String(format_timestamp(time)));
    }

    /// Gives the event `@timestamp = now` unless it already has one.
    pub fn ensure_timestamp(&mut self, now: &str) {
        if !self.has_field(TIMESTAMP) {
            self.fields_mut()
                .insert(TIMESTAMP.to_string(), Value::String(now.to_string()));
        }
    }

    /// The text of `message` while the event is a line nothing has looked into: the json
    /// filter parses it from the line itself instead of building the line's map first.
    pub fn unbuilt_line_message(&self) -> Option<Cow<'_, str>> {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.unbuilt_text(),
            _ => None,
        }
    }

    /// Makes `parsed` the fields, followed by the event's own fields that `parsed` does not
    /// have (the json filter's merge at the root: the parsed keys win and keep their order).
    /// Answers `None` when `parsed` has no `@timestamp`, else the event's own `@timestamp`
    /// that it replaced, if the event had one.
    pub fn merge_under(&mut self, mut parsed: Map<String, Value>) -> Option<Option<Value>> {
        use serde_json::map::Entry;
        if let Some(Lazy::Line(line)) = &self.lazy {
            if line.is_unbuilt() {
                let replaced = line.fill_under(&mut parsed);
                self.lazy = None;
                self.fields = parsed;
                return replaced.map(Some);
            }
        }
        let previous = std::mem::replace(self.fields_mut(), Map::new());
        let mut replaced = None;
        let mut had_timestamp = false;
        // One hash per key (`entry`) instead of a lookup plus an insert.
        for (key, value) in previous {
            let is_timestamp = key == TIMESTAMP;
            had_timestamp |= is_timestamp;
            match parsed.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(_) if is_timestamp => replaced = Some(value),
                Entry::Occupied(_) => {}
            }
        }
        self.fields = parsed;
        // The event had no `@timestamp` (every input gives one; other callers may not): the
        // parsed one, if any, is all there is.
        if replaced.is_some() || (!had_timestamp && self.fields.contains_key(TIMESTAMP)) {
            Some(replaced)
        } else {
            None
        }
    }

    /// Writes the event as one line of JSON (no newline), without `@metadata`.
    pub fn write_json(&self, writer: &mut Vec<u8>) -> std::io::Result<()> {
        match &self.lazy {
            Some(Lazy::Line(line)) => line.write_json(writer),
            Some(Lazy::Raw(raw)) => raw.write_json(writer),
            None => json::write_object(writer, &self.fields),
        }
    }

    /// The event as a JSON value (fields only).
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields().clone())
    }
}

/// `map.get(key)` for the few-entry objects events are made of: compares keys in order
/// instead of hashing `key` (SipHash) and probing the map's index table, a separate
/// allocation that is often not in cache when an output looks at an event. `@timestamp` is
/// usually the first key. Larger maps are looked up by hash.
pub fn find_small<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= LINEAR_UP_TO {
        map.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// [`find_small`] for writing: the field filters change in place (`@timestamp`, a nested
/// object on the way to an inserted field).
pub fn find_small_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if map.len() <= LINEAR_UP_TO {
        map.iter_mut()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v)
    } else {
        map.get_mut(key)
    }
}

/// Up to this many keys a map is searched in order rather than by hash: an event's root
/// (~25 keys once the seed filters ran) and its nested objects. SipHash of one key costs
/// ~185 instructions plus the probe; a scan compares lengths, and the first byte of the few
/// keys of the same length, before comparing the bytes.
const LINEAR_UP_TO: usize = 32;

#[inline]
fn same_key(stored: &str, key: &str) -> bool {
    stored.len() == key.len()
        && stored.as_bytes().first() == key.as_bytes().first()
        && stored == key
}

/// This machine's name, as Filebeat reports it in `host.name`: what the file and stdin inputs
/// put in their events and what the monitoring API reports as `host`.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        Event::from_value(value)
    }

    #[test]
    fn tags_are_deduplicated_and_scalars_promoted() {
        let mut e = event(json!({"tags": "old"}));
        e.add_tag("new");
        e.add_tag("new");
        assert_eq!(e.get_field("tags"), Some(&json!(["old", "new"])));
        assert!(e.has_tag("old"));
        e.remove_tag("old");
        assert!(!e.has_tag("old"));
    }

    #[test]
    fn metadata_is_not_written_out() {
        let mut e = event(json!({"message": "hi"}));
        e.insert(
            &FieldPath::parse("[@metadata][beat]").unwrap(),
            json!("filebeat"),
        );
        let mut out = Vec::new();
        e.write_json(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"message":"hi"}"#);
        assert_eq!(e.metadata().get("beat"), Some(&json!("filebeat")));
    }

    #[test]
    fn timestamps_are_normalised_to_utc_millis() {
        let mut e = event(json!({"@timestamp": "2024-05-01T08:30:00.123456+09:00"}));
        let time = e.timestamp().unwrap();
        e.set_timestamp(time);
        assert_eq!(
            e.get_field(TIMESTAMP),
            Some(&json!("2024-04-30T23:30:00.123Z"))
        );
    }

    #[test]
    fn ensure_timestamp_keeps_an_existing_one() {
        let mut e = event(json!({"@timestamp": "2020-01-01T00:00:00.000Z"}));
        e.ensure_timestamp("2030-01-01T00:00:00.000Z");
        assert_eq!(
            e.get_field(TIMESTAMP),
            Some(&json!("2020-01-01T00:00:00.000Z"))
        );
        assert_eq!(e.timestamp_text(), Some("2020-01-01T00:00:00.000Z"));
        let mut bare = Event::new();
        assert_eq!(bare.timestamp_text(), None);
        bare.ensure_timestamp("2030-01-01T00:00:00.000Z");
        assert_eq!(
            bare.get_field(TIMESTAMP),
            Some(&json!("2030-01-01T00:00:00.000Z"))
        );
    }

    #[test]
    fn find_small_answers_like_get_for_small_and_large_maps() {
        for size in [0, 1, 5, 32, 33, 100] {
            let mut map = Map::new();
            for i in 0..size {
                map.insert(format!("key{i}"), json!(i));
            }
            map.insert(TIMESTAMP.into(), json!("2020-01-01T00:00:00.000Z"));
            for key in ["key0", "key4", "key99", TIMESTAMP, "missing", "", "key"] {
                assert_eq!(find_small(&map, key), map.get(key), "{key} in {size}");
                let expected = map.get(key).cloned();
                assert_eq!(find_small_mut(&mut map, key).cloned(), expected, "{key}");
            }
            let e = Event::from_parts(map, Map::new());
            assert_eq!(e.timestamp_text(), Some("2020-01-01T00:00:00.000Z"));
            assert!(e.timestamp().is_some());
        }
    }

    #[test]
    fn non_objects_become_message() {
        assert_eq!(event(json!(5)).get_field("message"), Some(&json!(5)));
    }
}
