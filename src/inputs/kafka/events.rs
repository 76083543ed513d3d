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
