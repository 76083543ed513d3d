//! Unit tests of message decoding; consuming, rebalancing and committing against a real
//! broker are tested end to end in `tests/kafka.rs` (the offset bookkeeping's own tests are
//! in `offsets.rs`).

use super::config::Codec;
use super::events::{
    message_event, parse_line_envelope, Origin, OwnedOrigin, RawMessages, JSON_PARSE_FAILURE_TAG,
};
use serde_json::json;

const NOW: &str = "2030-01-02T03:04:05.000Z";

#[test]
fn a_json_object_is_the_event_as_the_output_wrote_it() {
    let payload =
        br#"{"@timestamp":"2024-05-01T10:00:00.000Z","message":"hi","details":{"topic":"a/b"}}"#;
    let event = message_event(payload, Codec::Json, None, NOW);
    assert_eq!(
        event.to_value(),
        json!({"@timestamp":"2024-05-01T10:00:00.000Z","message":"hi","details":{"topic":"a/b"}})
    );
    assert!(event.metadata().is_empty());
}

#[test]
fn anything_but_a_json_object_is_tagged_with_its_text_in_message() {
    for (payload, message) in [
        (&b"not json {"[..], "not json {"),
        (b"[1,2]", "[1,2]"),
        (b"42", "42"),
        (b"{\"a\":1} trailing", "{\"a\":1} trailing"),
        (b"\xff ok", "\u{fffd} ok"),
    ] {
        let event = message_event(payload, Codec::Json, None, NOW);
        assert_eq!(
            event.to_value(),
            json!({"message": message, "@timestamp": NOW, "tags": [JSON_PARSE_FAILURE_TAG]}),
            "{payload:?}"
        );
    }
}

#[test]
fn plain_puts_the_text_in_message_without_parsing() {
    let event = message_event(br#"{"a":1}"#, Codec::Plain, None, NOW);
    assert_eq!(
        event.to_value(),
        json!({"message": "{\"a\":1}", "@timestamp": NOW})
    );
}

#[test]
fn decorate_events_adds_logstash_kafka_metadata() {
    let origin = Origin {
        topic: "mqtt-logs",
        partition: 3,
        offset: 1234,
        key: Some(b"edge-1"),
        timestamp: Some(1_714_557_600_000),
        group_id: "ingest",
    };
    let event = message_event(br#"{"message":"m"}"#, Codec::Json, Some(&origin), NOW);
    assert_eq!(
        serde_json::Value::Object(event.metadata().clone()),
        json!({"kafka": {
            "topic": "mqtt-logs", "partition": 3, "offset": 1234, "key": "edge-1",
            "timestamp": 1_714_557_600_000_i64, "consumer_group": "ingest"
        }})
    );
    // Metadata is not part of the event's JSON.
    assert_eq!(event.to_value(), json!({"message": "m", "@timestamp": NOW}));
}

#[test]
fn raw_messages_become_the_same_events_in_order() {
    let payloads: [&[u8]; 3] = [br#"{"message":"one"}"#, b"two {", br#"{"message":"three"}"#];
    let mut raw = RawMessages::default();
    for (offset, payload) in payloads.iter().enumerate() {
        let origin = (offset == 1).then(|| OwnedOrigin {
            topic: "logs".into(),
            partition: 2,
            offset: offset as i64,
            key: None,
            timestamp: None,
            group_id: "ingest".into(),
        });
        raw.push(payload, origin);
    }
    assert_eq!(raw.len(), 3);
    let mut events = Vec::new();
    raw.decode(Codec::Json, NOW, &mut events);
    let values: Vec<_> = events.iter().map(|e| e.to_value()).collect();
    assert_eq!(
        values,
        [
            json!({"message": "one", "@timestamp": NOW}),
            json!({"message": "two {", "@timestamp": NOW, "tags": [JSON_PARSE_FAILURE_TAG]}),
            json!({"message": "three", "@timestamp": NOW}),
        ]
    );
    assert!(events[0].metadata().is_empty());
    assert_eq!(
        events[1].metadata()["kafka"],
        json!({"topic": "logs", "partition": 2, "offset": 1, "consumer_group": "ingest"})
    );
}

/// A payload shaped like a line event as sluice writes it: `@timestamp`, `message`, then
/// `rest` (`,"log":...}` or anything else), with `message` as `quoted` (a JSON string, or any
/// bytes to try the fast path's refusals).
fn envelope(timestamp: &str, quoted: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut payload = format!(r#"{{"@timestamp":"{timestamp}","message":"#).into_bytes();
    payload.extend_from_slice(quoted);
    payload.extend_from_slice(rest);
    payload
}

#[test]
fn a_shipped_line_takes_the_fast_path_and_parses_as_serde_json_does() {
    let line = std::fs::read_to_string("pipelines/sample/mqtt-client.log").unwrap();
    for line in line.lines().take(50) {
        let quoted = serde_json::to_vec(line).unwrap();
        let payload = envelope(
            "2026-12-03T10:00:00.000Z",
            &quoted,
            br#","log":{"file":{"path":"/var/log/a.log"},"offset":42},"host":{"name":"h"},"fields":{"service":"mqtt"}}"#,
        );
        let fast = parse_line_envelope(&payload).expect("the shipper's shape is recognised");
        let whole: serde_json::Map<_, _> = serde_json::from_slice(&payload).unwrap();
        assert_eq!(fast, whole);
        assert_eq!(
            fast.keys().collect::<Vec<_>>(),
            whole.keys().collect::<Vec<_>>()
        );
    }
}

mod envelope_properties {
    use super::*;
    use crate::event::json::strategies::{json_value, string};
    use proptest::prelude::*;

    /// Bytes for the message's JSON string: mostly escapes, some refused ones, raw control
    /// characters, invalid UTF-8, and strings that end early or never.
    fn quoted() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            string().prop_map(|s| serde_json::to_vec(&s).unwrap()),
            prop::collection::vec(
                prop_oneof![
                    Just(&b"\\\""[..]),
                    Just(&b"\\\\"[..]),
                    Just(&b"\\/"[..]),
                    Just(&b"\\n"[..]),
                    Just(&b"\\b"[..]),
                    Just(&b"\\u00e9"[..]),
                    Just(&b"\\ud83d\\ude00"[..]),
                    Just(&b"\\ud83d"[..]),
                    Just(&b"\\x"[..]),
                    Just(&b"\\"[..]),
                    Just(&b"\x01"[..]),
                    Just(&b"\xff"[..]),
                    Just(&b"\xc3\xa9"[..]),
                    Just(&b"\""[..]),
                    Just(&b"a{}"[..]),
                ],
                0..12
            )
            .prop_map(|parts| {
                let mut quoted = b"\"".to_vec();
                quoted.extend(parts.concat());
                quoted.push(b'"');
                quoted
            }),
        ]
    }

    /// What follows the message: members (a second `message` or `@timestamp` among them),
    /// or broken text.
    fn rest() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("message".to_string()),
                        Just("@timestamp".to_string()),
                        Just("log".to_string()),
                        string()
                    ],
                    json_value()
                ),
                0..4
            )
            .prop_map(|members| {
                let mut rest = Vec::new();
                for (key, value) in members {
                    rest.push(b',');
                    rest.extend(serde_json::to_vec(&key).unwrap());
                    rest.push(b':');
                    rest.extend(serde_json::to_vec(&value).unwrap());
                }
                rest.push(b'}');
                rest
            }),
            prop::collection::vec(any::<u8>(), 0..8),
            Just(b"} trailing".to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_serde_json_or_steps_aside(
            timestamp in prop_oneof![Just("2026-12-03T10:00:00.000Z".to_string()), string()],
            quoted in quoted(),
            rest in rest(),
        ) {
            let payload = envelope(&timestamp, &quoted, &rest);
            let whole = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&payload);
            if let Some(fast) = parse_line_envelope(&payload) {
                let whole = whole.expect("the fast path accepts only what serde_json accepts");
                prop_assert_eq!(
                    fast.iter().collect::<Vec<_>>(),
                    whole.iter().collect::<Vec<_>>()
                );
            }
        }

        #[test]
        fn what_sluice_writes_always_takes_the_fast_path(
            message in string(),
            rest in prop::collection::vec(("[a-z]{1,8}", json_value()), 0..4),
        ) {
            let mut fields = serde_json::Map::new();
            fields.insert("@timestamp".into(), json!("2026-12-03T10:00:00.000Z"));
            fields.insert("message".into(), json!(message));
            for (key, value) in rest {
                if key != "message" {
                    fields.insert(key, value);
                }
            }
            let payload = serde_json::to_vec(&fields).unwrap();
            let fast = parse_line_envelope(&payload).expect("fast");
            // Against the payload parsed whole (serde_json does not read every float back
            // bit for bit, whichever path).
            let whole: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&payload).unwrap();
            prop_assert_eq!(fast.iter().collect::<Vec<_>>(), whole.iter().collect::<Vec<_>>());
        }
    }
}
