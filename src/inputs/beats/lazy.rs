//! Beats events kept as their `J` payload until a field is needed.
//!
//! Building Filebeat's event as `serde_json` maps costs ~43,500 instructions per event
//! (JSON-inside-JSON string parsing, a SipHash per key, ~30 allocations freed later on another
//! thread), and a pipeline without filters never looks at a field. So a payload that one
//! pass (`scan.rs`) finds to be a canonical JSON object, and whose shaping is simple enough to
//! write down (below), stays a slice of the buffer it arrived in: the event is a reference
//! into its batch's [`JsonBlock`]. Its fields and metadata are built by the same code as any
//! other event's ([`super::events::build_json`]) the first time a filter, condition or
//! template reads one; `write_json` writes the payload minus `@metadata`, then what the
//! shaping appends, which is byte for byte the document the built fields serialise to (a
//! property test in `tests.rs` holds the two to that).
//!
//! What the raw form covers, with Logstash 8's defaults: a canonical `@timestamp` in UTC
//! with milliseconds (what Filebeat sends, kept as it is); `@metadata` of any kind
//! (removed from the fields; the metadata, with the client IP, is built from it on demand);
//! a string `message`, copied to `[event][original]` when the payload has no `event`, and
//! tagged with the codec tag when it has no `tags`; or neither `message` nor `line`
//! (tagged `beats_input_raw_event`). Everything else (a `line` to rename, a non-string
//! message, an `event` or `tags` to merge into, a missing or non-canonical `@timestamp`,
//! `add_hostname`, a `D` frame) is built at once, exactly as before.
//!
//! One `Arc` per batch holds the batch's buffers (usually one inflated window), the per-event
//! offsets, the client IP and the ingest time: creating and dropping an event touches only
//! that counter, which one thread at a time works on (see `event/line.rs`).

use super::config::EventShape;
use super::events::{build_json, Source, CODEC_TAG, RAW_EVENT_TAG};
use super::scan::{canonical_object, Kind, Scratch};
use crate::event::{parse_canonical_utc_millis, RawBlock, MESSAGE, TIMESTAMP};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::io::Write;
use std::ops::Range;

/// Decides, payload by payload, whether an event can stay raw.
#[derive(Debug)]
pub(super) struct Planner {
    shape: EventShape,
    /// Whether events may stay raw at all.
    enabled: bool,
    scratch: Scratch,
}

/// How a raw event is written, as offsets into its payload.
#[derive(Debug)]
pub(super) struct Plan {
    /// The payload minus its closing brace and minus `@metadata` (with one comma) is
    /// `[..cut.start]` followed by `[cut.end..]`.
    cut: Range<usize>,
    /// Whether any member is left after the cut.
    has_members: bool,
    /// The `message` value (a JSON string, quotes included) to copy to `[event][original]`.
    original: Option<Range<usize>>,
    /// The tag appended as `tags`.
    tag: Option<&'static str>,
    /// Whether the payload has a `message` member (a string, or `null`).
    has_message: bool,
    /// The text of `@timestamp`, without quotes, and its time.
    timestamp: Range<usize>,
    time: DateTime<Utc>,
}

impl Planner {
    /// A planner for events of `shape`; one that keeps nothing raw unless `enabled`.
    pub(super) fn new(shape: EventShape, enabled: bool) -> Self {
        Self {
            shape,
            enabled: enabled && !shape.add_hostname,
            scratch: Scratch::default(),
        }
    }

    /// How to keep `payload` raw, or `None` when it must be built at once.
    pub(super) fn plan(&mut self, payload: &[u8]) -> Option<Plan> {
        if !self.enabled {
            return None;
        }
        let root = canonical_object(payload, &mut self.scratch)?;
        let timestamp = root.timestamp.filter(|t| t.kind == Kind::String)?;
        let timestamp = timestamp.value_start + 1..timestamp.end - 1;
        let time =
            parse_canonical_utc_millis(std::str::from_utf8(&payload[timestamp.clone()]).ok()?)?;
        // What `take_line` does: a string message is the line; no message and no line is a
        // raw event; anything else is renamed or converted, which only the map does.
        let decoded = match root.message.map(|m| m.kind) {
            Some(Kind::String) => true,
            Some(Kind::Null) | None => {
                if root.line.is_some_and(|line| line.kind != Kind::Null) {
                    return None;
                }
                false
            }
            Some(_) => return None,
        };
        let original = match root.message {
            Some(message) if decoded && self.shape.event_original => {
                if root.event.is_some() {
                    return None;
                }
                Some(message.value_start..message.end)
            }
            _ => None,
        };
        let tag = match decoded {
            true => self.shape.codec_tag.then_some(CODEC_TAG),
            false => Some(RAW_EVENT_TAG),
        };
        if tag.is_some() && root.tags.is_some() {
            return None;
        }
        let body_end = payload.len() - 1;
        let (cut, has_members) = match root.metadata {
            None => (body_end..body_end, root.members > 0),
            Some(metadata) => {
                let has_members = root.members > 1;
                let cut = if metadata.start == 1 {
                    // The first member: it goes with the comma after it, if any.
                    1..(metadata.end + usize::from(has_members)).min(body_end)
                } else {
                    metadata.start - 1..metadata.end
                };
                (cut, has_members)
            }
        };
        Some(Plan {
            cut,
            has_members,
            original,
            tag,
            has_message: root.message.is_some(),
            timestamp,
            time,
        })
    }
}

impl Plan {
    /// The plan of the payload at `chunk[start..end]` of a batch.
    pub(super) fn locate(self, chunk: usize, start: usize, end: usize) -> Entry {
        Entry {
            chunk,
            payload: start..end,
            plan: self,
        }
    }
}

/// Where one raw event lies in its block, and its plan.
#[derive(Debug)]
pub(super) struct Entry {
    chunk: usize,
    payload: Range<usize>,
    plan: Plan,
}

/// The raw events of one batch, with what building them needs.
#[derive(Debug)]
pub(super) struct JsonBlock {
    chunks: Vec<Bytes>,
    entries: Vec<Entry>,
    source: Source,
    now: String,
}

impl JsonBlock {
    pub(super) fn new(
        chunks: Vec<Bytes>,
        entries: Vec<Entry>,
        source: Source,
        now: String,
    ) -> Self {
        Self {
            chunks,
            entries,
            source,
            now,
        }
    }

    fn payload(&self, index: usize) -> (&[u8], &Plan) {
        let entry = &self.entries[index];
        (
            &self.chunks[entry.chunk][entry.payload.clone()],
            &entry.plan,
        )
    }
}

impl RawBlock for JsonBlock {
    fn build(&self, index: usize) -> (Map<String, Value>, Map<String, Value>) {
        let (payload, _) = self.payload(index);
        build_json(payload, &self.source, &self.now).into_parts()
    }

    fn write_json(&self, index: usize, writer: &mut dyn Write) -> std::io::Result<()> {
        let (payload, plan) = self.payload(index);
        writer.write_all(&payload[..plan.cut.start])?;
        writer.write_all(&payload[plan.cut.end..payload.len() - 1])?;
        let mut comma = plan.has_members;
        if let Some(original) = &plan.original {
            if comma {
                writer.write_all(b",")?;
            }
            writer.write_all(br#""event":{"original":"#)?;
            writer.write_all(&payload[original.clone()])?;
            writer.write_all(b"}")?;
            comma = true;
        }
        if let Some(tag) = plan.tag {
            if comma {
                writer.write_all(b",")?;
            }
            // The tags are constants without anything to escape.
            writer.write_all(br#""tags":[""#)?;
            writer.write_all(tag.as_bytes())?;
            writer.write_all(br#""]"#)?;
        }
        writer.write_all(b"}")
    }

    fn timestamp(&self, index: usize) -> Option<DateTime<Utc>> {
        Some(self.entries[index].plan.time)
    }

    fn timestamp_text(&self, index: usize) -> Option<&str> {
        let (payload, plan) = self.payload(index);
        std::str::from_utf8(&payload[plan.timestamp.clone()]).ok()
    }

    fn has_field(&self, index: usize, name: &str) -> Option<bool> {
        match name {
            TIMESTAMP => Some(true),
            MESSAGE => Some(self.entries[index].plan.has_message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::{decode_batch, RawBatch};
    use super::super::events::build_json;
    use super::*;
    use crate::event::json::strategies::json_value_with_keys;
    use crate::event::Event;
    use proptest::prelude::*;
    use std::sync::Arc;

    const NOW: &str = "2030-01-01T00:00:00.000Z";

    fn source(shape: EventShape) -> Source {
        Source::new(Arc::from("10.1.2.3"), shape)
    }

    /// The events of one batch holding `payloads`, as a filter worker gets them.
    fn decoded(payloads: &[&[u8]], shape: EventShape) -> Vec<Event> {
        decoded_as(payloads, shape, true)
    }

    fn decoded_as(payloads: &[&[u8]], shape: EventShape, raw: bool) -> Vec<Event> {
        let mut batch = RawBatch::default();
        // One buffer, as an inflated window.
        let window = Bytes::from(payloads.concat());
        let mut at = 0;
        for payload in payloads {
            batch.push_json(&window, &window[at..at + payload.len()]);
            at += payload.len();
        }
        let mut out = Vec::new();
        decode_batch(batch, source(shape), NOW.to_string(), raw, &mut out);
        out
    }

    fn written(event: &Event) -> String {
        let mut out = Vec::new();
        event.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Everything a caller can see of `lazy` is what it sees of the event built at once.
    fn assert_same(lazy: &Event, payload: &[u8], shape: EventShape) -> Result<(), TestCaseError> {
        let eager = build_json(payload, &source(shape), NOW);
        let expected = written(&eager);
        prop_assert_eq!(written(lazy), expected.clone());
        prop_assert_eq!(lazy.timestamp(), eager.timestamp());
        prop_assert_eq!(lazy.timestamp_text(), eager.timestamp_text());
        for name in [TIMESTAMP, MESSAGE, "tags", "event", "@metadata"] {
            prop_assert_eq!(lazy.has_field(name), eager.has_field(name), "{}", name);
        }
        // Order included: serialised, not compared as maps.
        let fields = |e: &Event| serde_json::to_string(e.fields()).unwrap();
        let metadata = |e: &Event| serde_json::to_string(e.metadata()).unwrap();
        prop_assert_eq!(metadata(lazy), metadata(&eager));
        prop_assert_eq!(fields(lazy), fields(&eager));
        prop_assert_eq!(written(lazy), expected.clone(), "built, still written raw");
        let mut owned = lazy.clone();
        owned.fields_mut();
        prop_assert_eq!(written(&owned), expected);
        prop_assert_eq!(metadata(&owned), metadata(&eager));
        Ok(())
    }

    fn filebeat_payloads() -> Vec<&'static [u8]> {
        include_bytes!("../../../tests/fixtures/beats/filebeat-8.1.3-payloads.ndjson")
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .collect()
    }

    /// Captured from Filebeat 8.1.3 (see `capture_payloads.py` next to the fixture).
    #[test]
    fn what_filebeat_sends_stays_raw_and_writes_what_its_built_event_does() {
        let payloads = filebeat_payloads();
        let events = decoded(&payloads, EventShape::default());
        assert_eq!(events.len(), payloads.len());
        for (event, payload) in events.iter().zip(&payloads) {
            let text = String::from_utf8_lossy(payload);
            // Go writes U+2028 and U+FFFD as `\u` escapes, serde_json does not.
            let escaped = text.contains("\\u2028") || text.contains("\\ufffd");
            assert_eq!(event.is_unbuilt(), !escaped, "{text}");
            assert_same(event, payload, EventShape::default()).unwrap();
            assert!(!event.is_unbuilt() || escaped);
        }
        // A winston line inside `message`, with its quotes escaped, stayed raw.
        let winston = events
            .iter()
            .zip(&payloads)
            .find(|(_, p)| String::from_utf8_lossy(p).contains(r#"\"level\":\"error\""#))
            .expect("the winston error line");
        let fresh = decoded(&[winston.1], EventShape::default());
        assert!(fresh[0].is_unbuilt());
        let written = written(&fresh[0]);
        assert!(written.ends_with(r#","tags":["beats_input_codec_plain_applied"]}"#));
        assert!(fresh[0].is_unbuilt(), "writing builds nothing");
        assert_eq!(
            fresh[0].timestamp_text().map(str::len),
            Some(24),
            "answered from the payload"
        );
        assert!(fresh[0].is_unbuilt());
    }

    #[test]
    fn reading_the_metadata_builds_it_with_the_client_ip() {
        let payload = br#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"m","@metadata":{"beat":"filebeat"}}"#;
        let events = decoded(&[payload], EventShape::default());
        assert!(events[0].is_unbuilt());
        assert_eq!(
            Value::Object(events[0].metadata().clone()),
            serde_json::json!({"beat":"filebeat","input":{"beats":{"host":{"ip":"10.1.2.3"}}}})
        );
        let mut event = events[0].clone();
        event
            .metadata_mut()
            .insert("extra".into(), Value::Bool(true));
        assert!(!event.is_unbuilt());
        assert_eq!(
            written(&event),
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"m","event":{"original":"m"},"tags":["beats_input_codec_plain_applied"]}"#
        );
        assert_eq!(event.metadata().get("extra"), Some(&Value::Bool(true)));
    }

    #[test]
    fn what_the_raw_form_does_not_cover_is_built_at_once() {
        for payload in [
            r#"{"@timestamp":"2024-05-01T14:00:00.123+02:00","message":"m"}"#,
            r#"{"message":"m"}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","line":"m"}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":42}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"m","event":{}}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"m","tags":[]}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z", "message":"m"}"#,
            r#"{not json"#,
        ] {
            let events = decoded(&[payload.as_bytes()], EventShape::default());
            assert!(!events[0].is_unbuilt(), "{payload}");
            assert_same(&events[0], payload.as_bytes(), EventShape::default()).unwrap();
        }
        let hostname = EventShape {
            add_hostname: true,
            ..EventShape::default()
        };
        let payload = br#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"m"}"#;
        assert!(!decoded(&[payload], hostname)[0].is_unbuilt());
        assert!(decoded(&[payload], EventShape::default())[0].is_unbuilt());
        // A pipeline with filters reads every event: nothing is kept raw.
        let built = decoded_as(&[payload], EventShape::default(), false);
        assert!(!built[0].is_unbuilt());
        assert_same(&built[0], payload, EventShape::default()).unwrap();
    }

    #[test]
    fn raw_and_built_events_keep_their_frame_order() {
        let payloads: [&[u8]; 4] = [
            br#"{"@timestamp":"2024-05-01T12:00:00.001Z","message":"1"}"#,
            br#"{"message":"2"}"#,
            br#"{"@timestamp":"2024-05-01T12:00:00.003Z","message":"3"}"#,
            br#"{"message":"4"}"#,
        ];
        let events = decoded(&payloads, EventShape::default());
        let messages: Vec<_> = events
            .iter()
            .map(|e| {
                e.get_field(MESSAGE)
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(messages, ["1", "2", "3", "4"]);
    }

    /// What the queue codec reads back from `event`, checked to be the event built at once
    /// (fields and metadata in order, metadata with the client IP).
    fn through_the_queue_codec(
        event: &Event,
        payload: &[u8],
        shape: EventShape,
    ) -> Result<(), TestCaseError> {
        let mut bytes = Vec::new();
        crate::queue::codec::encode(event, &mut bytes)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded =
            crate::queue::codec::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let eager = build_json(payload, &source(shape), NOW);
        prop_assert_eq!(&decoded, &eager);
        let shown = |e: &Event| {
            (
                serde_json::to_string(e.fields()).unwrap(),
                serde_json::to_string(e.metadata()).unwrap(),
                written(e),
            )
        };
        prop_assert_eq!(shown(&decoded), shown(&eager));
        Ok(())
    }

    #[test]
    fn raw_filebeat_events_round_trip_through_the_queue_codec() {
        let payloads = filebeat_payloads();
        let events = decoded(&payloads, EventShape::default());
        assert!(events.iter().filter(|e| e.is_unbuilt()).count() > payloads.len() / 2);
        for (event, payload) in events.iter().zip(&payloads) {
            through_the_queue_codec(event, payload, EventShape::default()).unwrap();
        }
    }

    // --- Property: raw and built agree for any payload --------------------------------

    /// Values whose keys are short enough to repeat (duplicate keys) and to hit `@`.
    fn json_value() -> BoxedStrategy<Value> {
        json_value_with_keys("[a-z@]{0,3}|.{0,6}".boxed())
    }

    /// The members Logstash's shaping looks at, in every variant that matters; each is
    /// Filebeat's usual one three times in four, so that many payloads can stay raw.
    fn special_members() -> impl Strategy<Value = Vec<(String, Value)>> {
        let member = |key: &'static str, usual: Option<Value>, rare: Vec<Option<Value>>| {
            prop_oneof![3 => Just(usual), 1 => prop::sample::select(rare)]
                .prop_map(move |value| value.map(|v| (key.to_string(), v)))
        };
        use serde_json::json;
        (
            member(
                "@timestamp",
                Some(json!("2024-05-01T12:00:00.123Z")),
                vec![
                    None,
                    Some(json!("2024-05-01T14:00:00.123456+02:00")),
                    Some(json!("yesterday")),
                    Some(json!(5)),
                ],
            ),
            member(
                "@metadata",
                Some(json!({"beat":"filebeat","type":"_doc","version":"8.1.3"})),
                vec![
                    None,
                    Some(json!({"input":{"type":"x"}})),
                    Some(json!({})),
                    Some(json!("text")),
                ],
            ),
            member(
                "message",
                Some(json!(
                    r#"{"level":"info","message":"a \"quoted\" word","path":"/x"}"#
                )),
                vec![
                    Some(json!("hello")),
                    Some(json!("")),
                    Some(Value::Null),
                    Some(json!(42)),
                    Some(json!({"a":1})),
                    None,
                ],
            ),
            member("line", None, vec![Some(json!("l")), Some(Value::Null)]),
            member(
                "event",
                None,
                vec![Some(json!({"dataset":"x"})), Some(json!("login"))],
            ),
            member("tags", None, vec![Some(json!(["a"])), Some(json!("t"))]),
        )
            .prop_map(|(a, b, c, d, e, f)| [a, b, c, d, e, f].into_iter().flatten().collect())
    }

    /// How a payload is spelled: `serde_json`'s way, or another valid or invalid way.
    #[derive(Debug, Clone, Copy)]
    enum Spelling {
        Canonical,
        /// A space after every `:` and `,`.
        Spaced,
        /// `\/` for `/`, `\uXXXX` (upper case) for control and non-ASCII characters.
        Escaped,
        /// The first member again at the end.
        DuplicateKey,
        /// Integers written as floats, floats with an exponent.
        Numbers,
        /// Whitespace around the object.
        Padded,
        /// Cut short.
        Truncated,
        /// An invalid UTF-8 byte inside.
        InvalidByte,
    }

    fn write_string(out: &mut String, text: &str, spelling: Spelling) {
        if !matches!(spelling, Spelling::Escaped) {
            out.push_str(&serde_json::to_string(text).unwrap());
            return;
        }
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if (c as u32) < 0x20 || !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn write_value(out: &mut String, value: &Value, spelling: Spelling) {
        let sep = if matches!(spelling, Spelling::Spaced) {
            " "
        } else {
            ""
        };
        match value {
            Value::Object(map) => {
                out.push('{');
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        out.push_str(sep);
                    }
                    write_string(out, key, spelling);
                    out.push(':');
                    out.push_str(sep);
                    write_value(out, value, spelling);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        out.push_str(sep);
                    }
                    write_value(out, item, spelling);
                }
                out.push(']');
            }
            Value::String(text) => write_string(out, text, spelling),
            Value::Number(n) if matches!(spelling, Spelling::Numbers) => match n.as_f64() {
                Some(f) if n.is_f64() => out.push_str(&format!("{f:e}")),
                _ => out.push_str(&format!("{n}.0")),
            },
            other => out.push_str(&other.to_string()),
        }
    }

    /// The payload of `members` (duplicates allowed) in `spelling`.
    fn payload(members: &[(String, Value)], spelling: Spelling) -> Vec<u8> {
        let mut out = String::from("{");
        let mut all: Vec<&(String, Value)> = members.iter().collect();
        if matches!(spelling, Spelling::DuplicateKey) {
            if let Some(first) = members.first() {
                all.push(first);
            }
        }
        let sep = if matches!(spelling, Spelling::Spaced) {
            " "
        } else {
            ""
        };
        for (i, (key, value)) in all.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
                out.push_str(sep);
            }
            write_string(&mut out, key, spelling);
            out.push(':');
            out.push_str(sep);
            write_value(&mut out, value, spelling);
        }
        out.push('}');
        let mut bytes = out.into_bytes();
        match spelling {
            Spelling::Padded => {
                bytes.insert(0, b' ');
                bytes.push(b'\n');
            }
            Spelling::Truncated => {
                bytes.truncate(bytes.len() / 2);
            }
            Spelling::InvalidByte => {
                let at = bytes.len() / 2;
                bytes.insert(at, 0xff);
            }
            _ => {}
        }
        bytes
    }

    fn spelling() -> impl Strategy<Value = Spelling> {
        prop_oneof![
            4 => Just(Spelling::Canonical),
            1 => Just(Spelling::Spaced),
            1 => Just(Spelling::Escaped),
            1 => Just(Spelling::DuplicateKey),
            1 => Just(Spelling::Numbers),
            1 => Just(Spelling::Padded),
            1 => Just(Spelling::Truncated),
            1 => Just(Spelling::InvalidByte),
        ]
    }

    fn shape() -> impl Strategy<Value = EventShape> {
        let add_hostname = prop_oneof![7 => Just(false), 1 => Just(true)];
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            add_hostname,
        )
            .prop_map(
                |(ecs, source_metadata, event_original, codec_tag, add_hostname)| EventShape {
                    ecs,
                    source_metadata,
                    event_original: ecs && event_original,
                    codec_tag,
                    add_hostname,
                },
            )
    }

    fn members() -> impl Strategy<Value = Vec<(String, Value)>> {
        (
            special_members(),
            prop::collection::vec(("[a-z]{1,6}|.{0,6}", json_value()), 0..5),
        )
            .prop_flat_map(|(special, extra)| {
                let mut all = special;
                all.extend(extra);
                Just(all).prop_shuffle()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// A raw event shows exactly what the event built at once shows, and the queue codec
        /// reads it back as that event.
        #[test]
        fn raw_events_equal_built_events(
            members in members(),
            spelling in spelling(),
            shape in shape(),
        ) {
            let payload = payload(&members, spelling);
            let events = decoded(&[&payload], shape);
            prop_assert_eq!(events.len(), 1);
            // A copy, still raw if the event is: the checks below see it as it arrived.
            through_the_queue_codec(&events[0].clone(), &payload, shape)?;
            assert_same(&events[0], &payload, shape)?;
        }

        /// Several payloads in one block each find their own.
        #[test]
        fn a_block_of_raw_events_equals_its_built_events(
            batch in prop::collection::vec((members(), spelling()), 1..6),
        ) {
            let payloads: Vec<Vec<u8>> =
                batch.iter().map(|(members, spelling)| payload(members, *spelling)).collect();
            let slices: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let events = decoded(&slices, EventShape::default());
            prop_assert_eq!(events.len(), payloads.len());
            for (event, payload) in events.iter().zip(&payloads) {
                assert_same(event, payload, EventShape::default())?;
            }
        }
    }
}
