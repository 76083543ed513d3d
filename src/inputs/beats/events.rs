//! Turning Beats payloads into events, the way Logstash's beats input does.
//!
//! Filebeat's event shape is kept as sent, so pipelines and dashboards written against
//! Logstash keep working, with the same additions Logstash 8's beats input makes by default
//! (`ecs_compatibility = "v8"`, `enrich = ["source_metadata", "codec_metadata"]`):
//!
//! - `@metadata` (beat, type, version, pipeline…) moves out of the fields into the event's
//!   metadata, where conditions read it but outputs never write it. The other fields keep
//!   the order the Beat sent them in.
//! - An event with `@metadata` gets the client's IP in `[@metadata][input][beats][host][ip]`
//!   (`[@metadata][ip_address]` with ECS disabled).
//! - An event with a `message` (Filebeat) or `line` (logstash-forwarder, which becomes
//!   `message`) is what Logstash runs through its `plain` codec: the line is kept as a
//!   string, copied to `[event][original]` (ECS only; a Beat's own `event.original` wins) and
//!   the event is tagged `beats_input_codec_plain_applied`. An event with neither is tagged
//!   `beats_input_raw_event`.
//! - A legacy Beat's `[beat][hostname]` is copied to `host` only with `add_hostname`.
//!
//! This runs on the filter workers (the batch is deferred), not on the connection task, so
//! JSON parsing is spread over every core. Most payloads are not parsed there at all: what
//! Filebeat sends is normally in `serde_json`'s own canonical form, and such an event stays
//! its raw payload (`lazy.rs`), a slice of the inflated window, until a filter, condition or
//! template reads a field; an output then writes it from the payload. `decode.rs` decides
//! per payload with one pass over it (`scan.rs`); the others, and every event once
//! a field is read, are built here by [`build_json`], so both forms have one definition of
//! the shape. A payload that is not a JSON object must not close
//! the connection: Filebeat would resend the same event forever. It becomes an event tagged
//! [`JSON_PARSE_FAILURE_TAG`] with the raw text in `message` (and the client's IP in metadata,
//! so the sender can be found), and its window is acknowledged.

use super::config::EventShape;
use crate::event::{
    is_canonical_utc_millis, parse_object_slice, parse_timestamp, Event, MESSAGE, TIMESTAMP,
};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Tag of an event whose `J` payload was not a JSON object.
pub const JSON_PARSE_FAILURE_TAG: &str = "_beats_json_parse_failure";
/// Tag of an event whose `@timestamp` could not be parsed (Logstash's name).
pub const TIMESTAMP_PARSE_FAILURE_TAG: &str = "_timestampparsefailure";
/// Where an unparsable `@timestamp` is kept (Logstash's name).
pub const ORIGINAL_TIMESTAMP_FIELD: &str = "_@timestamp";
/// Metadata key of the client's IP address with ECS disabled.
pub const IP_ADDRESS_METADATA: &str = "ip_address";
/// Metadata path (under `@metadata`) of the client's IP address with ECS.
pub const ECS_HOST_METADATA: [&str; 3] = ["input", "beats", "host"];
/// Tag of an event with a `message` (or `line`), Logstash's `plain` codec tag.
pub const CODEC_TAG: &str = "beats_input_codec_plain_applied";
/// Tag of an event with neither `message` nor `line`.
pub const RAW_EVENT_TAG: &str = "beats_input_raw_event";

/// The legacy logstash-forwarder name of the log line.
const LINE: &str = "line";

/// Room in a parsed event's root map: a Filebeat event has ~10 keys, this input adds `event`
/// and `tags`, so filling it never rehashes.
const ROOT_CAPACITY: usize = 16;

/// Where the events of one connection come from, and how they are shaped: built once per
/// batch, so the per-event work is a lookup and a clone.
#[derive(Debug, Clone)]
pub struct Source {
    ip: Arc<str>,
    pub(super) shape: EventShape,
    /// `{"beats": {"host": {"ip": ip}}}`: the `[@metadata][input]` of an event that has none.
    ecs_input: Value,
}

impl Source {
    pub fn new(ip: Arc<str>, shape: EventShape) -> Self {
        let host = Value::Object(Map::from_iter([(
            "ip".to_string(),
            Value::String(ip.to_string()),
        )]));
        let beats = Value::Object(Map::from_iter([("host".to_string(), host)]));
        let ecs_input = Value::Object(Map::from_iter([("beats".to_string(), beats)]));
        Self {
            ip,
            shape,
            ecs_input,
        }
    }
}

/// Builds the event of one `J` payload from `source`; `now` is the ingest time, used when
/// the event's own `@timestamp` is unusable.
pub fn build_json(payload: &[u8], source: &Source, now: &str) -> Event {
    match parse_object_slice(payload, ROOT_CAPACITY) {
        Ok(fields) => shape(fields, source, now),
        Err(_) => unparsable(payload, source, now),
    }
}

/// Builds the event of one `D` frame's pairs from `source`.
pub fn build_pairs(pairs: Vec<(String, String)>, source: &Source, now: &str) -> Event {
    let fields = pairs
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    shape(fields, source, now)
}

/// Gives parsed fields the shape Logstash's beats input gives them.
fn shape(mut fields: Map<String, Value>, source: &Source, now: &str) -> Event {
    let shape = &source.shape;
    // `@metadata` is never indexed: a non-object one is dropped with it. The other fields
    // keep their order (what a raw event writes, `lazy.rs`).
    let mut metadata = match fields.shift_remove("@metadata") {
        Some(Value::Object(metadata)) => Some(metadata),
        _ => None,
    };
    let decoded = take_line(&mut fields, shape);
    if shape.add_hostname {
        copy_beat_hostname(&mut fields, &mut metadata, shape);
    }
    let has_metadata = metadata.is_some();
    let mut event = Event::from_parts(fields, metadata.unwrap_or_default());
    if shape.source_metadata && has_metadata {
        set_peer_ip(event.metadata_mut(), source);
    }
    if !decoded {
        event.add_tag(RAW_EVENT_TAG);
    } else if shape.codec_tag {
        event.add_tag(CODEC_TAG);
    }
    normalise_timestamp(&mut event, now);
    event
}

/// What Logstash's `plain` codec does with the line: `message` (or else `line`, renamed) as a
/// string, copied to `[event][original]` with ECS. Returns whether there was a line.
fn take_line(fields: &mut Map<String, Value>, shape: &EventShape) -> bool {
    let has = |fields: &Map<String, Value>, key| fields.get(key).is_some_and(|v| !v.is_null());
    if !has(fields, MESSAGE) {
        if !has(fields, LINE) {
            return false;
        }
        if let Some(line) = fields.remove(LINE) {
            fields.insert(MESSAGE.to_string(), line);
        }
    }
    let Some(message) = fields.get_mut(MESSAGE) else {
        return false;
    };
    if !message.is_string() {
        // Logstash's `to_s`; JSON text for objects and arrays.
        *message = Value::String(match message.take() {
            Value::String(text) => text,
            other => other.to_string(),
        });
    }
    if shape.event_original {
        let original = message.clone();
        match fields.get_mut("event") {
            // The Beat's own `event` is merged over the codec's: its `original` wins.
            Some(Value::Object(event)) => {
                event.entry("original").or_insert(original);
            }
            // A non-object `event` replaces the codec's.
            Some(_) => {}
            None => {
                let mut event = Map::with_capacity(1);
                event.insert("original".to_string(), original);
                fields.insert("event".to_string(), Value::Object(event));
            }
        }
    }
    true
}

/// Logstash's `add_hostname`: `[beat][hostname]` into `host` (ECS: into
/// `[@metadata][input][beats][host][name]`) unless that is already set.
fn copy_beat_hostname(
    fields: &mut Map<String, Value>,
    metadata: &mut Option<Map<String, Value>>,
    shape: &EventShape,
) {
    let Some(hostname) = fields
        .get("beat")
        .and_then(|beat| beat.get("hostname"))
        .filter(|h| !h.is_null())
        .cloned()
    else {
        return;
    };
    if shape.ecs {
        let metadata = metadata.get_or_insert_with(Map::new);
        set_nested(metadata, &ECS_HOST_METADATA, "name", hostname, false);
    } else if fields.get("host").is_none_or(Value::is_null) {
        fields.insert("host".to_string(), hostname);
    }
}

fn set_peer_ip(metadata: &mut Map<String, Value>, source: &Source) {
    if !source.shape.ecs {
        let ip = Value::String(source.ip.to_string());
        metadata.insert(IP_ADDRESS_METADATA.to_string(), ip);
    } else if metadata.contains_key(ECS_HOST_METADATA[0]) {
        let ip = Value::String(source.ip.to_string());
        set_nested(metadata, &ECS_HOST_METADATA, "ip", ip, true);
    } else {
        // The usual case: a clone copies the prepared maps without hashing their keys again.
        metadata.insert(ECS_HOST_METADATA[0].to_string(), source.ecs_input.clone());
    }
}

/// Sets `key` in the object at `path` under `map` (created, replacing any non-object on the
/// way, as needed); an existing `key` is kept unless `overwrite`.
fn set_nested(
    map: &mut Map<String, Value>,
    path: &[&str],
    key: &str,
    value: Value,
    overwrite: bool,
) {
    let mut current = map;
    for segment in path {
        let slot = current
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        current = match slot {
            Value::Object(inner) => inner,
            _ => return,
        };
    }
    if overwrite {
        current.insert(key.to_string(), value);
    } else {
        current.entry(key.to_string()).or_insert(value);
    }
}

/// The event of a payload that is not a JSON object: the raw text, tagged.
fn unparsable(payload: &[u8], source: &Source, now: &str) -> Event {
    let mut fields = Map::new();
    fields.insert(
        MESSAGE.to_string(),
        Value::String(String::from_utf8_lossy(payload).into_owned()),
    );
    let mut event = Event::from_fields(fields);
    event.add_tag(JSON_PARSE_FAILURE_TAG);
    set_peer_ip(event.metadata_mut(), source);
    event.ensure_timestamp(now);
    event
}

/// Keeps a parsable `@timestamp` (in UTC, milliseconds); replaces an unparsable one with the
/// ingest time, keeping the original in `_@timestamp` and tagging the event.
fn normalise_timestamp(event: &mut Event, now: &str) {
    let Some(original) = event.get_field(TIMESTAMP) else {
        event.ensure_timestamp(now);
        return;
    };
    if original.as_str().is_some_and(is_canonical_utc_millis) {
        // Already normalised (what Filebeat sends): keep the string as it is.
        return;
    }
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
    const FILEBEAT: &str = r#"{"@timestamp":"2024-05-01T14:00:00.123456+02:00","@metadata":{"beat":"filebeat","type":"_doc","version":"8.1.3"},"message":"hello","log":{"offset":12,"file":{"path":"/var/log/a.log"}}}"#;

    fn ip() -> Arc<str> {
        Arc::from("10.1.2.3")
    }

    fn shaped(text: &str, shape: EventShape) -> Event {
        build_json(text.as_bytes(), &Source::new(ip(), shape), NOW)
    }

    fn json_event(text: &str) -> Event {
        shaped(text, EventShape::default())
    }

    fn metadata(event: &Event) -> Value {
        Value::Object(event.metadata().clone())
    }

    #[test]
    fn filebeat_events_get_what_logstash_8_adds_by_default() {
        let event = json_event(FILEBEAT);
        assert_eq!(
            event.to_value(),
            json!({"@timestamp":"2024-05-01T12:00:00.123Z","message":"hello",
                   "log":{"offset":12,"file":{"path":"/var/log/a.log"}},
                   "event":{"original":"hello"},
                   "tags":["beats_input_codec_plain_applied"]})
        );
        assert_eq!(
            metadata(&event),
            json!({"beat":"filebeat","type":"_doc","version":"8.1.3",
                   "input":{"beats":{"host":{"ip":"10.1.2.3"}}}})
        );
    }

    #[test]
    fn ecs_disabled_gives_logstash_7_names_and_no_original() {
        let shape = EventShape {
            ecs: false,
            event_original: false,
            ..EventShape::default()
        };
        let event = shaped(FILEBEAT, shape);
        assert_eq!(event.get_field("event"), None);
        assert!(event.has_tag(CODEC_TAG));
        assert_eq!(
            metadata(&event),
            json!({"beat":"filebeat","type":"_doc","version":"8.1.3","ip_address":"10.1.2.3"})
        );
    }

    #[test]
    fn enrich_none_adds_nothing() {
        let shape = EventShape {
            source_metadata: false,
            event_original: false,
            codec_tag: false,
            ..EventShape::default()
        };
        let event = shaped(FILEBEAT, shape);
        assert_eq!(event.get_field("tags"), None);
        assert_eq!(event.get_field("event"), None);
        assert_eq!(
            metadata(&event),
            json!({"beat":"filebeat","type":"_doc","version":"8.1.3"})
        );
    }

    #[test]
    fn events_without_a_line_are_raw_and_without_metadata_get_no_ip() {
        let event = json_event(r#"{"metric":{"value":3}}"#);
        assert_eq!(event.get_field("tags"), Some(&json!([RAW_EVENT_TAG])));
        assert_eq!(event.get_field("event"), None);
        assert_eq!(metadata(&event), json!({}));
        // A null message is no message, as in Logstash.
        let event = json_event(r#"{"message":null,"@metadata":{}}"#);
        assert!(event.has_tag(RAW_EVENT_TAG));
        assert_eq!(
            metadata(&event),
            json!({"input":{"beats":{"host":{"ip":"10.1.2.3"}}}})
        );
    }

    #[test]
    fn the_ip_joins_an_input_object_the_beat_put_in_metadata() {
        let event = json_event(r#"{"message":"m","@metadata":{"input":{"type":"x"}}}"#);
        assert_eq!(
            metadata(&event),
            json!({"input":{"type":"x","beats":{"host":{"ip":"10.1.2.3"}}}})
        );
    }

    #[test]
    fn the_beats_own_event_fields_are_merged_over_the_codecs() {
        let event = json_event(r#"{"message":"m","event":{"dataset":"mqtt.log"}}"#);
        assert_eq!(
            event.get_field("event"),
            Some(&json!({"dataset":"mqtt.log","original":"m"}))
        );
        let event = json_event(r#"{"message":"m","event":{"original":"raw m"}}"#);
        assert_eq!(event.get_field("event"), Some(&json!({"original":"raw m"})));
        let event = json_event(r#"{"message":"m","event":"login"}"#);
        assert_eq!(event.get_field("event"), Some(&json!("login")));
    }

    #[test]
    fn a_non_string_message_becomes_its_text() {
        let event = json_event(r#"{"message":42}"#);
        assert_eq!(event.get_field(MESSAGE), Some(&json!("42")));
        assert_eq!(event.get_field("event"), Some(&json!({"original":"42"})));
        let event = json_event(r#"{"message":{"a":1}}"#);
        assert_eq!(event.get_field(MESSAGE), Some(&json!(r#"{"a":1}"#)));
    }

    #[test]
    fn add_hostname_copies_a_legacy_beat_hostname_unless_set() {
        let legacy = r#"{"message":"m","@metadata":{},"beat":{"hostname":"gw-7"}}"#;
        let ecs = EventShape {
            add_hostname: true,
            ..EventShape::default()
        };
        let event = shaped(legacy, ecs);
        assert_eq!(
            metadata(&event),
            json!({"input":{"beats":{"host":{"name":"gw-7","ip":"10.1.2.3"}}}})
        );
        let disabled = EventShape {
            ecs: false,
            event_original: false,
            add_hostname: true,
            ..EventShape::default()
        };
        assert_eq!(
            shaped(legacy, disabled).get_field("host"),
            Some(&json!("gw-7"))
        );
        let with_host = r#"{"message":"m","host":{"name":"h"},"beat":{"hostname":"gw-7"}}"#;
        assert_eq!(
            shaped(with_host, disabled).get_field("host"),
            Some(&json!({"name":"h"}))
        );
        assert_eq!(json_event(legacy).get_field("host"), None, "off by default");
    }

    #[test]
    fn invalid_json_is_kept_raw_and_tagged() {
        for payload in ["{not json", "[1,2]", "\"text\""] {
            let event = json_event(payload);
            assert_eq!(event.get_field(MESSAGE), Some(&json!(payload)));
            assert_eq!(
                event.get_field("tags"),
                Some(&json!([JSON_PARSE_FAILURE_TAG])),
                "{payload}"
            );
            assert_eq!(event.get_field(TIMESTAMP), Some(&json!(NOW)));
            assert_eq!(
                metadata(&event),
                json!({"input":{"beats":{"host":{"ip":"10.1.2.3"}}}})
            );
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
        let event = build_pairs(
            vec![
                ("line".into(), "hello".into()),
                ("host".into(), "gw".into()),
            ],
            &Source::new(ip(), EventShape::default()),
            NOW,
        );
        assert_eq!(
            event.to_value(),
            json!({"message":"hello","host":"gw","@timestamp":NOW,
                   "event":{"original":"hello"},"tags":[CODEC_TAG]})
        );
    }
}
