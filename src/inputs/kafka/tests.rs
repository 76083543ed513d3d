//! Unit tests of message decoding; consuming, rebalancing and committing against a real
//! broker are tested end to end in `tests/kafka.rs` (the offset bookkeeping's own tests are
//! in `offsets.rs`).

use super::config::Codec;
use super::envelope::parse_line_envelope;
use super::events::{message_event, Origin, OwnedOrigin, RawMessages, JSON_PARSE_FAILURE_TAG};
use super::lines::KnownOrigins;
use crate::event::json::strategies::escape_dense_text;
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
    raw.decode(Codec::Json, NOW, &KnownOrigins::default(), &mut events);
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

#[test]
fn escape_dense_messages_with_runs_of_every_length_parse_as_serde_json_does() {
    // Escapes every few bytes (a line that holds JSON), plain runs of 0 to 19 bytes between
    // them starting at every offset of a word, escapes of both lengths (`\\`, `\n`: 2 bytes;
    // U+0001: 6) and two-byte UTF-8: the word-at-a-time unescape against serde_json.
    for first in 0..8 {
        for longest in 0..20 {
            let message = escape_dense_text(first, longest, &['\\', '\n', '\u{1}', 'é']);
            let payload = envelope(
                "2026-12-03T10:00:00.000Z",
                &serde_json::to_vec(&message).unwrap(),
                br#","fields":{"service":"mqtt"}}"#,
            );
            let fast = parse_line_envelope(&payload).expect("the shipper's shape is recognised");
            let whole: serde_json::Map<_, _> = serde_json::from_slice(&payload).unwrap();
            assert_eq!(fast, whole, "{message:?}");
        }
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
                0..24
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

/// Lines as a sluice shipper writes them (a file input's line events to the Kafka output):
/// the payloads, decoded as one batch, and each event as the whole parse makes it.
mod shipped_lines {
    use super::*;
    use crate::event::json::strategies::{json_value, string};
    use crate::event::{Event, LineBlock, LineOrigin};
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use std::sync::Arc;

    /// The shipper's origin of a file: `log.file`, then `host`, `input`, `fields`, tags.
    fn file_origin(path: &str, fields: Map<String, Value>, tags: &[&str]) -> Arc<LineOrigin> {
        let mut constant = vec![
            ("host".to_string(), json!({"name": "edge-1"})),
            ("input".to_string(), json!({"type": "file"})),
        ];
        if !fields.is_empty() {
            constant.push(("fields".to_string(), Value::Object(fields)));
        }
        Arc::new(LineOrigin::new(
            Some(json!({ "path": path })),
            constant,
            tags.iter().map(|t| json!(t)).collect(),
        ))
    }

    /// A line: its text, offset, whether it was cut, its origin and read time.
    type Line = (Vec<u8>, u64, bool, Arc<LineOrigin>, String);

    /// What the Kafka output writes for each line: the event's JSON.
    fn written(lines: &[Line]) -> Vec<Vec<u8>> {
        let mut block = LineBlock::default();
        for (text, offset, truncated, origin, now) in lines {
            block.push(text, *offset, *truncated, origin, now);
        }
        let mut events = Vec::new();
        block.into_events(&mut events);
        events
            .iter()
            .map(|event| {
                let mut payload = Vec::new();
                event.write_json(&mut payload).unwrap();
                payload
            })
            .collect()
    }

    fn decorated(offset: usize) -> OwnedOrigin {
        OwnedOrigin {
            topic: "logs".into(),
            partition: 1,
            offset: offset as i64,
            key: offset.is_multiple_of(2).then(|| Box::from(&b"k"[..])),
            timestamp: Some(1_700_000_000_000),
            group_id: "ingest".into(),
        }
    }

    /// Decodes `payloads` as batches of `batch` messages sharing `known`, and holds every
    /// event to the whole parse of its payload: the same fields in the same order, the same
    /// metadata, the same JSON written, the same time. Answers how many stayed lines.
    fn decode_as_parsed_whole(
        payloads: &[Vec<u8>],
        batch: usize,
        decorate: bool,
        known: &KnownOrigins,
    ) -> usize {
        decode_each_as_parsed_whole(payloads, batch, decorate, known)
            .into_iter()
            .filter(|line| *line)
            .count()
    }

    /// [`decode_as_parsed_whole`], answering for each payload whether it stayed a line.
    fn decode_each_as_parsed_whole(
        payloads: &[Vec<u8>],
        batch: usize,
        decorate: bool,
        known: &KnownOrigins,
    ) -> Vec<bool> {
        let mut lines = Vec::new();
        for (chunk_index, chunk) in payloads.chunks(batch.max(1)).enumerate() {
            let mut raw = RawMessages::default();
            for (index, payload) in chunk.iter().enumerate() {
                raw.push(
                    payload,
                    decorate.then(|| decorated(chunk_index * batch + index)),
                );
            }
            let mut events = Vec::new();
            raw.decode(Codec::Json, NOW, known, &mut events);
            assert_eq!(events.len(), chunk.len());
            for (index, (event, payload)) in events.iter().zip(chunk).enumerate() {
                lines.push(event.is_unbuilt());
                let origin = decorate.then(|| decorated(chunk_index * batch + index));
                let origin = origin.as_ref().map(OwnedOrigin::borrow);
                let whole = message_event(payload, Codec::Json, origin.as_ref(), NOW);
                assert_same_event(event, &whole, payload);
            }
        }
        lines
    }

    fn assert_same_event(event: &Event, whole: &Event, payload: &[u8]) {
        let context = String::from_utf8_lossy(payload);
        let json = |event: &Event| {
            let mut out = Vec::new();
            event.write_json(&mut out).unwrap();
            out
        };
        // Written from the raw form first, while nothing is built.
        assert_eq!(json(event), json(whole), "{context}");
        assert_eq!(event.timestamp(), whole.timestamp(), "{context}");
        assert_eq!(event.timestamp_text(), whole.timestamp_text(), "{context}");
        assert_eq!(
            event.fields().iter().collect::<Vec<_>>(),
            whole.fields().iter().collect::<Vec<_>>(),
            "{context}"
        );
        assert_eq!(event.metadata(), whole.metadata(), "{context}");
        let mut owned = event.clone();
        owned.fields_mut();
        assert_eq!(json(&owned), json(whole), "{context}");
    }

    #[test]
    fn the_sample_shipped_by_a_file_input_stays_lines_with_one_origin_learnt() {
        let sample = std::fs::read_to_string("pipelines/sample/mqtt-client.log").unwrap();
        let mut fields = Map::new();
        fields.insert("service".into(), json!("mqtt"));
        let origin = file_origin("/var/log/mqtt/client.log", fields, &[]);
        let lines: Vec<_> = sample
            .lines()
            .take(200)
            .enumerate()
            .map(|(i, line)| {
                let now = format!("2026-12-03T10:00:0{}.000Z", i / 50);
                (
                    line.as_bytes().to_vec(),
                    i as u64 * 300,
                    false,
                    origin.clone(),
                    now,
                )
            })
            .collect();
        let payloads = written(&lines);
        let known = KnownOrigins::default();
        assert_eq!(decode_as_parsed_whole(&payloads, 64, true, &known), 200);
        assert_eq!(known.len(), 1, "learnt once, then found by every batch");
        // A payload that is not one of those lines stays what it was.
        let mut other = payloads[0].clone();
        other.splice(other.len() - 1..other.len() - 1, *br#","extra":1.50"#);
        assert_eq!(decode_as_parsed_whole(&[other], 1, false, &known), 0);
    }

    #[test]
    fn near_misses_of_a_line_are_parsed_whole() {
        let head = br#"{"@timestamp":"2026-12-03T10:00:00.000Z","message":"a \"b\" \u00e9"#;
        let known = KnownOrigins::default();
        let mut payloads = Vec::new();
        for rest in [
            // The line itself, to learn its origin.
            &br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"}}"#[..],
            br#","log":{"file":{"path":"a"},"offset":007},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":-7},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":7.0},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":1e3},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":18446744073709551616},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"}} "#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"},"host":{"name":"h"}}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"},"message":"m"}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"},"@timestamp":"t"}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"},"tags":[]}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"tags":["x"],"host":{"name":"h"}}"#,
            br#","log":{"offset":7,"file":{"path":"a"}},"host":{"name":"h"}}"#,
            br#","host":{"name":"h"},"log":{"file":{"path":"a"},"offset":7}}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"},"n":1.50}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h\u0041"}}"#,
            br#","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"}"#,
            b"}",
            b"",
            b",}",
        ] {
            let mut payload = head.to_vec();
            payload.push(b'"');
            payload.extend_from_slice(rest);
            payloads.push(payload);
        }
        // Messages that do not unescape cleanly, or a time that is not plain text.
        payloads.push(br#"{"@timestamp":"t","message":"\ud83d\ude00","log":{"file":{"path":"a"},"offset":7},"host":{"name":"h"}}"#.to_vec());
        payloads.push(
            b"{\"@timestamp\":\"t\",\"message\":\"\xff\",\"host\":{\"name\":\"h\"}}".to_vec(),
        );
        payloads.push(
            b"{\"@timestamp\":\"t\",\"message\":\"\x01\",\"host\":{\"name\":\"h\"}}".to_vec(),
        );
        payloads.push(
            b"{\"@timestamp\":\"\x01\",\"message\":\"m\",\"host\":{\"name\":\"h\"}}".to_vec(),
        );
        payloads.push(
            b"{\"@timestamp\":\"\xff\",\"message\":\"m\",\"host\":{\"name\":\"h\"}}".to_vec(),
        );
        payloads.push(br#"{"@timestamp":"a\"b","message":"m","host":{"name":"h"}}"#.to_vec());
        payloads.push(br#"{"@timestamp":"t","message":"m"#.to_vec());
        payloads.push(br#"["@timestamp"]"#.to_vec());
        // Learnt from the first, matched by the others: every event as the whole parse.
        let lines = decode_as_parsed_whole(&payloads, payloads.len(), true, &known);
        assert_eq!(
            lines, 2,
            "the line and the one without a rest (its own origin)"
        );
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn a_huge_line_is_a_line_and_a_huge_rest_is_not_remembered() {
        let origin = file_origin("/var/log/big.log", Map::new(), &["a"]);
        let text = "{\"k\":\"\\\u{e9}\"}".repeat(200_000).into_bytes();
        let payloads = written(&[(text, 1, true, origin, "t".into())]);
        let known = KnownOrigins::default();
        assert_eq!(decode_as_parsed_whole(&payloads, 1, false, &known), 1);
        let mut fields = Map::new();
        fields.insert("blob".into(), json!("x".repeat(10_000)));
        let origin = file_origin("/var/log/big.log", fields, &[]);
        let payloads = written(&[(b"m".to_vec(), 1, false, origin, "t".into())]);
        let known = KnownOrigins::default();
        assert_eq!(decode_as_parsed_whole(&payloads, 1, false, &known), 0);
        assert_eq!(known.len(), 0);
    }

    /// Bytes of a line: JSON log lines with escapes, any text, invalid UTF-8, control
    /// characters.
    fn line_text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => string().prop_map(|s| serde_json::to_vec(&json!({"message": s, "level": "info"})).unwrap()),
            1 => string().prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    /// A change to a written payload: none, or bytes cut, replaced or inserted anywhere.
    fn mutation() -> impl Strategy<Value = Option<(prop::sample::Index, usize, Vec<u8>)>> {
        prop::option::weighted(
            0.3,
            (
                any::<prop::sample::Index>(),
                0usize..4,
                prop::collection::vec(
                    prop_oneof![
                        Just(b'"'),
                        Just(b'\\'),
                        Just(b','),
                        Just(b'}'),
                        Just(b'0'),
                        Just(b'9'),
                        Just(b'-'),
                        Just(0xff),
                        Just(0x01),
                    ],
                    0..3,
                ),
            ),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever a shipper wrote, and whatever became of it on the way, every message
        /// decodes to the event its whole parse gives (fields, key order, metadata, JSON).
        #[test]
        fn decoding_a_batch_equals_parsing_each_message_whole(
            messages in prop::collection::vec(
                (line_text(), any::<u64>(), any::<bool>(), 0usize..4, 0usize..2, mutation()),
                1..24,
            ),
            paths in prop::collection::vec(string(), 3),
            extra in prop::collection::vec((string(), json_value()), 0..3),
            tags in prop::collection::vec(string(), 0..2),
            batch in 1usize..8,
            decorate in any::<bool>(),
        ) {
            let extra: Map<String, Value> = extra.into_iter().collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let origins = [
                file_origin(&paths[0], extra.clone(), &tags),
                file_origin(&paths[1], Map::new(), &[]),
                file_origin(&paths[2], extra, &[]),
                // Standard input: no `log`.
                Arc::new(LineOrigin::new(None, vec![("host".into(), json!({"name": "h"}))], Vec::new())),
            ];
            let times = ["2026-12-03T10:00:00.000Z", "2026-12-03T10:00:00.001Z"];
            let lines: Vec<_> = messages
                .iter()
                .map(|(text, offset, truncated, origin, time, _)| {
                    (text.clone(), *offset, *truncated, origins[*origin].clone(), times[*time].to_string())
                })
                .collect();
            let mut payloads = written(&lines);
            for (payload, (.., mutation)) in payloads.iter_mut().zip(&messages) {
                if let Some((at, cut, insert)) = mutation {
                    let at = at.index(payload.len());
                    let end = (at + cut).min(payload.len());
                    payload.splice(at..end, insert.iter().copied());
                }
            }
            let known = KnownOrigins::default();
            decode_as_parsed_whole(&payloads, batch, decorate, &known);
            decode_as_parsed_whole(&payloads, batch, decorate, &known);
            // A third time, with every origin learnt (at most eight: four origins, whole or
            // truncated lines): what the shipper wrote stays a line, where no float in the
            // configured fields reads back differently.
            let lines = decode_each_as_parsed_whole(&payloads, batch, decorate, &known);
            for (line, (.., origin, _, mutation)) in lines.iter().zip(&messages) {
                if mutation.is_none() && [1, 3].contains(origin) {
                    prop_assert!(*line);
                }
            }
        }
    }
}
