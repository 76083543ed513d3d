//! Kafka messages to events.
//!
//! With `codec = "json"` a message is one JSON object, which is what the Kafka output writes,
//! so an event goes through Kafka unchanged. Anything else (not JSON, not an object, not
//! UTF-8) still becomes an event, tagged `_jsonparsefailure` with the raw text in `message`,
//! as Logstash's json codec does: a bad message must neither stop the input nor hold its
//! partition back. `decorate_events` adds Logstash's `[@metadata][kafka]` fields.

use super::config::Codec;
use super::lines::{Decoder, KnownOrigins, Shape};
use crate::event::{parse_object_slice, Event, LineBlock};
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

/// The event of one message, parsed whole; `now` is the read time, the `@timestamp` of an
/// event that has none. (A batch's messages go through [`RawMessages::decode`], which takes
/// the shapes a shipper writes faster, to the same events.)
pub fn message_event(
    payload: &[u8],
    codec: Codec,
    origin: Option<&Origin<'_>>,
    now: &str,
) -> Event {
    let mut event = match codec {
        Codec::Json => match parse_object_slice(payload, EXPECTED_FIELDS) {
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

/// A payload shaped like a line event as sluice writes it, split: `{"@timestamp":"<time>"`,
/// the `message` string (unescaped into the caller's buffer) and what follows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Envelope<'a> {
    /// `{"@timestamp":"<time>"`.
    pub head: &'a [u8],
    /// The time, checked to be a JSON string's text without escapes.
    pub timestamp: &'a str,
    /// What follows the message's closing quote.
    pub tail: &'a [u8],
}

/// Splits a payload shaped like a line event as sluice writes it (a shipper's file input to
/// the Kafka output, the two-tier layout), its message's text into `message`; `None` for
/// anything else, or anything the split is not sure of (an unknown escape, a raw control
/// character, a surrogate escape, invalid UTF-8), which is then parsed whole by `serde_json`.
///
/// Why: such a payload is mostly its `message`, a log line that is itself JSON, so nearly
/// every byte of it is a `\"` escape, and `serde_json` handles each escape as a separate step
/// (about 26,000 instructions per seed-corpus message, two thirds of the Kafka input's cost).
/// Here the message string is unescaped in one pass; the rest of the object (`log`, `host`,
/// `fields`: a hundred-odd bytes) is matched against the lines seen before (`lines.rs`) or
/// parsed by `serde_json` without it ([`parse_envelope_rest`]).
pub(super) fn split_envelope<'a>(payload: &'a [u8], message: &mut Vec<u8>) -> Option<Envelope<'a>> {
    let rest = payload.strip_prefix(LINE_HEAD)?;
    let timestamp_end = memchr::memchr2(b'"', b'\\', rest)?;
    let timestamp = &rest[..timestamp_end];
    if timestamp.iter().any(|&b| b < 0x20) {
        return None;
    }
    let timestamp = std::str::from_utf8(timestamp).ok()?;
    let after_message_key = rest[timestamp_end..].strip_prefix(MESSAGE_KEY)?;
    let used = unescape_json_string(after_message_key, message)?;
    Some(Envelope {
        head: &payload[..LINE_HEAD.len() + timestamp_end + 1],
        timestamp,
        tail: &after_message_key[used..],
    })
}

/// The fields of a split payload, exactly what parsing it whole gives: the object without its
/// `message` member parsed by `serde_json`, then the message put back in second place. `None`
/// when the rest has a `message` of its own (duplicate-key rules stay `serde_json`'s) or does
/// not parse.
pub(super) fn parse_envelope_rest(
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Option<Map<String, Value>> {
    let mut without = Vec::with_capacity(envelope.head.len() + envelope.tail.len());
    without.extend_from_slice(envelope.head);
    without.extend_from_slice(envelope.tail);
    let mut fields = parse_object_slice(&without, EXPECTED_FIELDS).ok()?;
    if fields.contains_key(crate::event::MESSAGE) {
        return None;
    }
    // `unescape_json_string` checked that the text is UTF-8.
    let message = String::from_utf8(message.to_vec()).ok()?;
    fields.shift_insert(1, crate::event::MESSAGE.into(), Value::String(message));
    Some(fields)
}

/// The fields of a payload shaped like a line event, or `None` for anything else (see
/// [`split_envelope`]). Exactly what parsing it whole gives, only cheaper.
#[cfg(test)]
pub(super) fn parse_line_envelope(payload: &[u8]) -> Option<Map<String, Value>> {
    let mut message = Vec::new();
    let envelope = split_envelope(payload, &mut message)?;
    parse_envelope_rest(&envelope, &message)
}

/// Bytes that end a run of a JSON string's plain text: the closing quote, an escape, and the
/// control characters JSON forbids raw.
const STRING_SPECIAL: [bool; 256] = {
    let mut special = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        special[byte] = true;
        byte += 1;
    }
    special[b'"' as usize] = true;
    special[b'\\' as usize] = true;
    special
};

/// Where the run of plain string text that starts at `at` ends: the first special byte (see
/// [`STRING_SPECIAL`]), or the end. Eight bytes at a time while no special byte is among them
/// (a log line's runs between its `\"` escapes are a few to a few dozen bytes; byte by byte,
/// this scan was most of the unescape's cost).
fn end_of_plain_run(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Flags a byte that is zero, and maybe bytes after it (the borrow): the first flag is exact.
    let zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let special = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            // Below 0x20: the subtraction borrows into the high bit of a byte that had none.
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !STRING_SPECIAL[usize::from(bytes[at])] {
        at += 1;
    }
    at
}

/// Unescapes the JSON string whose opening quote came just before `bytes` into `text`
/// (cleared first, checked to be UTF-8), answering how many bytes it took up to and including
/// its closing quote; `None` for anything `serde_json` might see differently (see
/// [`split_envelope`]).
fn unescape_json_string(bytes: &[u8], text: &mut Vec<u8>) -> Option<usize> {
    text.clear();
    text.reserve(bytes.len());
    let mut at = 0;
    loop {
        let run_start = at;
        at = end_of_plain_run(bytes, at);
        text.extend_from_slice(&bytes[run_start..at]);
        match *bytes.get(at)? {
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
    std::str::from_utf8(text).ok()?;
    Some(at + 1)
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

    /// The events of these messages, in order, the same as [`message_event`] gives; `now` as
    /// there. Under `codec = "json"`, messages that are lines a shipper wrote stay lines
    /// (`lines.rs`), learning their origins into `known`.
    pub fn decode(self, codec: Codec, now: &str, known: &KnownOrigins, out: &mut Vec<Event>) {
        out.reserve(self.messages.len());
        let first = out.len();
        let mut lines = LineBlock::with_capacity(self.messages.len(), self.payloads.len());
        let mut decoder = Decoder::new(known);
        // The events that are not lines, with their place in the batch.
        let mut built = Vec::new();
        let mut start = 0;
        for (index, message) in self.messages.iter().enumerate() {
            let payload = &self.payloads[start..message.end];
            start = message.end;
            let shape = match codec {
                Codec::Json => decoder.shape(payload),
                Codec::Plain => Shape::Other,
            };
            let event = match shape {
                Shape::Line {
                    timestamp,
                    offset,
                    origin,
                } => {
                    lines.push(decoder.message(), offset, false, &origin, timestamp);
                    continue;
                }
                // An envelope's fields have their `@timestamp`.
                Shape::Fields(fields) => Event::from_fields(fields),
                Shape::Other => message_event(payload, codec, None, now),
            };
            built.push((index, event));
        }
        drop(decoder);
        lines.into_events(out);
        if !built.is_empty() {
            let mut lines = out.split_off(first).into_iter();
            let mut built = built.into_iter().peekable();
            for index in 0..self.messages.len() {
                let event = match built.next_if(|(at, _)| *at == index) {
                    Some((_, event)) => Some(event),
                    None => lines.next(),
                };
                out.extend(event);
            }
        }
        for (event, message) in out[first..].iter_mut().zip(&self.messages) {
            if let Some(origin) = &message.origin {
                decorate(event, &origin.borrow());
            }
        }
    }
}

impl OwnedOrigin {
    pub(super) fn borrow(&self) -> Origin<'_> {
        Origin {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            timestamp: self.timestamp,
            group_id: &self.group_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time scan stops where the byte-by-byte one does.
        #[test]
        fn a_plain_run_ends_at_the_first_special_byte(
            bytes in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), Just(0x1f), Just(0x20), Just(0x7f), Just(0x80)],
                0..40,
            ),
            start in 0usize..40,
        ) {
            let start = start.min(bytes.len());
            let naive = bytes[start..]
                .iter()
                .position(|&b| STRING_SPECIAL[usize::from(b)])
                .map_or(bytes.len(), |at| start + at);
            prop_assert_eq!(end_of_plain_run(&bytes, start), naive);
        }
    }
}
