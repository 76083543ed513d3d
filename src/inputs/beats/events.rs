//! Turning Beats payloads into events, the way Logstash's beats input does.
//!
//! Filebeat's event shape is kept as sent, so pipelines and dashboards written against
//! Logstash keep working: only `@metadata` (beat, type, version, pipeline…) moves out of the
//! fields into the event's metadata, where it is readable by conditions but never indexed,
//! and the client's IP is added there as `ip_address` (Logstash's `[@metadata][ip_address]`).
//!
//! This runs on the filter workers (the batch is deferred), not on the connection task, so
//! JSON parsing is spread over every core. A payload that is not a JSON object must not close
//! the connection: Filebeat would resend the same event forever. It becomes an event tagged
//! [`JSON_PARSE_FAILURE_TAG`] with the raw text in `message`, and its window is acknowledged.

use crate::event::{parse_timestamp, Event, MESSAGE, TIMESTAMP};
use bytes::Bytes;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Tag of an event whose `J` payload was not a JSON object.
pub const JSON_PARSE_FAILURE_TAG: &str = "_beats_json_parse_failure";
/// Tag of an event whose `@timestamp` could not be parsed (Logstash's name).
pub const TIMESTAMP_PARSE_FAILURE_TAG: &str = "_timestampparsefailure";
/// Where an unparsable `@timestamp` is kept (Logstash's name).
pub const ORIGINAL_TIMESTAMP_FIELD: &str = "_@timestamp";
/// Metadata key of the client's IP address.
pub const IP_ADDRESS_METADATA: &str = "ip_address";

/// One data frame's content, kept raw until a filter worker builds the event.
#[derive(Debug, Clone)]
pub enum RawEvent {
    /// A `J` frame's payload.
    Json(Bytes),
    /// A `D` frame's pairs (protocol v1).
    Pairs(Vec<(String, String)>),
}

impl RawEvent {
    /// Bytes this event holds, for batch sizing.
    pub fn size(&self) -> usize {
        match self {
            Self::Json(payload) => payload.len(),
            Self::Pairs(pairs) => pairs.iter().map(|(k, v)| k.len() + v.len()).sum(),
        }
    }
}

/// Builds the event of one data frame from `peer_ip`; `now` is the ingest time, used when
/// the event's own `@timestamp` is unusable.
pub fn build_event(raw: RawEvent, peer_ip: &Arc<str>, now: &str) -> Event {
    let mut event = match raw {
        RawEvent::Json(payload) => match serde_json::from_slice::<Map<String, Value>>(&payload) {
            Ok(fields) => Event::from_fields(fields),
            Err(_) => {
                let mut fields = Map::new();
                fields.insert(
                    MESSAGE.to_string(),
                    Value::String(String::from_utf8_lossy(&payload).into_owned()),
                );
                let mut event = Event::from_fields(fields);
                event.add_tag(JSON_PARSE_FAILURE_TAG);
                event
            }
        },
        RawEvent::Pairs(pairs) => {
            let mut fields: Map<String, Value> = pairs
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect();
            // logstash-forwarder sends the log line as `line`.
            if !fields.contains_key(MESSAGE) {
                if let Some(line) = fields.remove("line") {
                    fields.insert(MESSAGE.to_string(), line);
                }
            }
            Event::from_fields(fields)
        }
    };
    // `@metadata` is never indexed: a non-object one is dropped with it.
    if let Some(Value::Object(metadata)) = event.fields_mut().remove("@metadata") {
        event.metadata_mut().extend(metadata);
    }
    event.metadata_mut().insert(
        IP_ADDRESS_METADATA.to_string(),
        Value::String(peer_ip.to_string()),
    );
    normalise_timestamp(&mut event, now);
    event
}

/// Keeps a parsable `@timestamp` (in UTC, milliseconds); replaces an unparsable one with the
/// ingest time, keeping the original in `_@timestamp` and tagging the event.
fn normalise_timestamp(event: &mut Event, now: &str) {
    let Some(original) = event.get_field(TIMESTAMP) else {
        event.ensure_timestamp(now);
        return;
    };
    let parsed = original.as_str().and_then(parse_timestamp);
    match parsed {
        Some(time) => event.set_timestamp(time),
        None => {
            if let Some(original) = event.fields_mut().remove(TIMESTAMP) {
                event
                    .fields_mut()
                    .insert(ORIGINAL_TIMESTAMP_FIELD.to_string(), original);
            }
            event.ensure_timestamp(now);
            event.add_tag(TIMESTAMP_PARSE_FAILURE_TAG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2030-01-01T00:00:00.000Z";

    fn ip() -> Arc<str> {
        Arc::from("10.1.2.3")
    }

    fn json_event(text: &str) -> Event {
        build_event(RawEvent::Json(Bytes::from(text.to_string())), &ip(), NOW)
    }

    #[test]
    fn filebeat_events_keep_their_shape_and_metadata_moves_out() {
        let event = json_event(
            r#"{"@timestamp":"2024-05-01T14:00:00.123456+02:00","@metadata":{"beat":"filebeat","type":"_doc","version":"8.1.3"},"message":"hello","log":{"offset":12,"file":{"path":"/var/log/a.log"}}}"#,
        );
        assert_eq!(
            event.to_value(),
            json!({"@timestamp":"2024-05-01T12:00:00.123Z","message":"hello","log":{"offset":12,"file":{"path":"/var/log/a.log"}}})
        );
        assert_eq!(
            Value::Object(event.metadata().clone()),
            json!({"beat":"filebeat","type":"_doc","version":"8.1.3","ip_address":"10.1.2.3"})
        );
    }

    #[test]
    fn invalid_json_is_kept_raw_and_tagged() {
        for payload in ["{not json", "[1,2]", "\"text\""] {
            let event = json_event(payload);
            assert_eq!(event.get_field(MESSAGE), Some(&json!(payload)));
            assert!(event.has_tag(JSON_PARSE_FAILURE_TAG), "{payload}");
            assert_eq!(event.get_field(TIMESTAMP), Some(&json!(NOW)));
        }
    }

    #[test]
    fn an_unparsable_timestamp_is_kept_aside_and_tagged() {
        let event = json_event(r#"{"@timestamp":"yesterday","message":"m"}"#);
        assert_eq!(event.get_field(TIMESTAMP), Some(&json!(NOW)));
        assert_eq!(
            event.get_field(ORIGINAL_TIMESTAMP_FIELD),
            Some(&json!("yesterday"))
        );
        assert!(event.has_tag(TIMESTAMP_PARSE_FAILURE_TAG));
    }

    #[test]
    fn v1_pairs_become_fields_with_line_as_message() {
        let event = build_event(
            RawEvent::Pairs(vec![
                ("line".into(), "hello".into()),
                ("host".into(), "gw".into()),
            ]),
            &ip(),
            NOW,
        );
        assert_eq!(
            event.to_value(),
            json!({"message":"hello","host":"gw","@timestamp":NOW})
        );
    }
}
