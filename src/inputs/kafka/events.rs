//! Kafka messages to events.
//!
//! With `codec = "json"` a message is one JSON object, which is what the Kafka output writes,
//! so an event goes through Kafka unchanged. Anything else (not JSON, not an object, not
//! UTF-8) still becomes an event, tagged `_jsonparsefailure` with the raw text in `message`,
//! as Logstash's json codec does: a bad message must neither stop the input nor hold its
//! partition back. `decorate_events` adds Logstash's `[@metadata][kafka]` fields.

use super::config::Codec;
use crate::event::{parse_object_slice, Event};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The tag of a message that is not a JSON object under `codec = "json"` (Logstash's).
pub const JSON_PARSE_FAILURE_TAG: &str = "_jsonparsefailure";

/// Room reserved for the fields of a parsed message (the seed corpus has about ten).
const EXPECTED_FIELDS: usize = 16;

/// Where a message came from, for `[@metadata][kafka]`.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    /// Milliseconds since the epoch, when the message has a timestamp.
    pub timestamp: Option<i64>,
    pub group_id: &'a str,
}

/// The event of one message; `now` is the read time, the `@timestamp` of an event that
/// has none.
pub fn message_event(
    payload: &[u8],
    codec: Codec,
    origin: Option<&Origin<'_>>,
    now: &str,
) -> Event {
    let mut event = match codec {
        Codec::Json => match parse_line_envelope(payload)
            .map_or_else(|| parse_object_slice(payload, EXPECTED_FIELDS), Ok)
        {
            Ok(fields) => Event::from_fields(fields),
            Err(_) => {
                let mut event = text_event(payload);
                event.add_tag(JSON_PARSE_FAILURE_TAG);
                event
            }
        },
        Codec::Plain => text_event(payload),
    };
    event.ensure_timestamp(now);
    if let Some(origin) = origin {
        decorate(&mut event, origin);
    }
    event
}

/// How every event read as a line starts when sluice writes it (`event/line.rs`): the read
/// time, then the line's text as a JSON string.
const LINE_HEAD: &[u8] = br#"{"@timestamp":""#;
const MESSAGE_KEY: &[u8] = br#"","message":""#;

/// The fields of a payload shaped like a line event as sluice writes it (a shipper's file
/// input to the Kafka output, the two-tier layout), or `None` for anything else, which is
/// then parsed whole. Exactly what parsing it whole gives, only cheaper.
///
/// Why: such a payload is mostly its `message`, a log line that is itself JSON, so nearly
/// every byte of it is a `\"` escape, and `serde_json` handles each escape as a separate step
/// (about 26,000 instructions per seed-corpus message, two thirds of the Kafka input's cost).
/// Here the message string is unescaped in one pass and the rest of the object (`log`,
/// `host`, `fields`: a hundred-odd bytes) is parsed by `serde_json` without it. Anything the
/// pass is not sure of (an unknown escape, a raw control character, a surrogate escape,
/// invalid UTF-8, a second `message` key) answers `None`, so errors and duplicate-key rules
/// stay `serde_json`'s.
pub(super) fn parse_line_envelope(payload: &[u8]) -> Option<Map<String, Value>> {
    let rest = payload.strip_prefix(LINE_HEAD)?;
    let timestamp_end = memchr::memchr2(b'"', b'\\', rest)?;
    let after_message_key = rest[timestamp_end..].strip_prefix(MESSAGE_KEY)?;
    let (message, used) = unescape_json_string(after_message_key)?;
    // The object without its `message` member: `{"@timestamp":"<time>"` and what followed.
    let tail = &after_message_key[used..];
    let head_len = LINE_HEAD.len() + timestamp_end + 1;
    let mut without = Vec::with_capacity(head_len + tail.len());
    without.extend_from_slice(&payload[..head_len]);
    without.extend_from_slice(tail);
    let mut fields = parse_object_slice(&without, EXPECTED_FIELDS).ok()?;
    if fields.contains_key(crate::event::MESSAGE) {
        return None;
    }
    fields.shift_insert(1, crate::event::MESSAGE.into(), Value::String(message));
    Some(fields)
}

/// The text of the JSON string whose opening quote came just before `bytes`, and how many
/// bytes it took up to and including its closing quote; `None` for anything `serde_json`
/// might see differently (see [`parse_line_envelope`]).
fn unescape_json_string(bytes: &[u8]) -> Option<(String, usize)> {
    let mut text = Vec::with_capacity(bytes.len());
    let mut at = 0;
    loop {
        let run = bytes[at..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        text.extend_from_slice(&bytes[at..at + run]);
        at += run;
        match bytes[at] {
            b'"' => break,
            b'\\' => {
                let unescaped = match *bytes.get(at + 1)? {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        // What serde_json writes for other control characters; surrogates
                        // (pairs, and the errors of lone ones) are left to serde_json.
                        let hex = bytes.get(at + 2..at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        let hex = std::str::from_utf8(hex).ok()?;
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        let c = char::from_u32(code)?;
                        let mut utf8 = [0; 4];
                        text.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                        at += 6;
                        continue;
                    }
                    _ => return None,
                };
                text.push(unescaped);
                at += 2;
            }
            // A control character must be escaped: not valid JSON.
            _ => return None,
        }
    }
    let text = String::from_utf8(text).ok()?;
    Some((text, at + 1))
}

fn text_event(payload: &[u8]) -> Event {
    let mut fields = Map::new();
    fields.insert(
        "message".into(),
        Value::String(String::from_utf8_lossy(payload).into_owned()),
    );
    Event::from_fields(fields)
}

fn decorate(event: &mut Event, origin: &Origin<'_>) {
    let mut kafka = Map::new();
    kafka.insert("topic".into(), Value::from(origin.topic));
    kafka.insert("partition".into(), Value::from(origin.partition));
    kafka.insert("offset".into(), Value::from(origin.offset));
    if let Some(key) = origin.key {
        kafka.insert(
            "key".into(),
            Value::String(String::from_utf8_lossy(key).into_owned()),
        );
    }
    if let Some(timestamp) = origin.timestamp {
        kafka.insert("timestamp".into(), Value::from(timestamp));
    }
    kafka.insert("consumer_group".into(), Value::from(origin.group_id));
    event
        .metadata_mut()
        .insert("kafka".into(), Value::Object(kafka));
}

/// The messages of one batch as read: their payloads end to end, and where each came from
/// when events are decorated.
#[derive(Debug, Default)]
pub struct RawMessages {
    payloads: Vec<u8>,
    messages: Vec<RawMessage>,
}

#[derive(Debug)]
struct RawMessage {
    /// Where its payload ends in `payloads` (it starts where the previous one ends).
    end: usize,
    origin: Option<OwnedOrigin>,
}

/// An [`Origin`] that outlives the librdkafka message.
#[derive(Debug, Clone)]
pub struct OwnedOrigin {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Box<[u8]>>,
    pub timestamp: Option<i64>,
    pub group_id: Arc<str>,
}

impl RawMessages {
    /// Room for about as much as the last batch held.
    pub fn with_capacity(messages: usize, bytes: usize) -> Self {
        Self {
            payloads: Vec::with_capacity(bytes),
            messages: Vec::with_capacity(messages),
        }
    }

    pub fn push(&mut self, payload: &[u8], origin: Option<OwnedOrigin>) {
        self.payloads.extend_from_slice(payload);
        self.messages.push(RawMessage {
            end: self.payloads.len(),
            origin,
        });
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn bytes(&self) -> usize {
        self.payloads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The events of these messages, in order; `now` as in [`message_event`].
    pub fn decode(self, codec: Codec, now: &str, out: &mut Vec<Event>) {
        out.reserve(self.messages.len());
        let mut start = 0;
        for message in self.messages {
            let origin = message.origin.as_ref().map(|origin| Origin {
                topic: &origin.topic,
                partition: origin.partition,
                offset: origin.offset,
                key: origin.key.as_deref(),
                timestamp: origin.timestamp,
                group_id: &origin.group_id,
            });
            let payload = &self.payloads[start..message.end];
            out.push(message_event(payload, codec, origin.as_ref(), now));
            start = message.end;
        }
    }
}
