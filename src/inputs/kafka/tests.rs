//! Unit tests of message decoding; consuming, rebalancing and committing against a real
//! broker are tested end to end in `tests/kafka.rs` (the offset bookkeeping's own tests are
//! in `offsets.rs`).

use super::config::Codec;
use super::events::{message_event, Origin, OwnedOrigin, RawMessages, JSON_PARSE_FAILURE_TAG};
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
