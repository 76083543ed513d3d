//! Kafka messages to events.
//!
//! With `codec = "json"` a message is one JSON object, which is what the Kafka output writes,
//! so an event goes through Kafka unchanged. Anything else (not JSON, not an object, not
//! UTF-8) still becomes an event, tagged `_jsonparsefailure` with the raw text in `message`,
//! as Logstash's json codec does: a bad message must neither stop the input nor hold its
//! partition back. `decorate_events` adds Logstash's `[@metadata][kafka]` fields.

use super::config::Codec;
use super::envelope::EXPECTED_FIELDS;
use super::lines::{Decoder, KnownOrigins, Shape};
use crate::event::{parse_object_slice, Event, LineBlock};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The tag of a message that is not a JSON object under `codec = "json"` (Logstash's).
pub const JSON_PARSE_FAILURE_TAG: &str = "_jsonparsefailure";

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
