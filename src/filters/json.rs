//! `type = "json"`: parse a field holding JSON text (by default the raw line in `message`).
//!
//! Why: the MQTT clients log one winston JSON object per line, and everything downstream
//! (severity, topics, alerts) works on its fields. Behaviour follows Logstash's json filter:
//!
//! * `source` (default `message`) missing or not a string: no-op.
//! * Without `target`, the parsed value must be an object; each of its top-level keys is set
//!   at the event root, overwriting (no deep merge). With `target`, any JSON value is stored
//!   there.
//! * Invalid JSON: the event is kept unchanged and tagged `_jsonparsefailure`
//!   (`tag_on_failure`), or left untouched without a tag when `skip_on_invalid = true`.
//! * A parsed `@timestamp` becomes the event time, normalised to UTC with millisecond
//!   precision. An unparsable one is moved to `_@timestamp`, the event keeps its ingest time
//!   and gets `_timestampparsefailure`, as Logstash does.
//! * The parsed keys keep the line's order, `@timestamp` where the line has it, and the
//!   event's other fields (`log`, `host`, ...) follow them: what is written out reads like
//!   the line that was logged.
//!
//! Parsing into the root builds the top-level map with room for the ~25 fields an enriched
//! MQTT event ends up with: growing an insertion-ordered map rehashes it, and letting the
//! parser grow it from empty (then a later filter push it over the next power of two) cost
//! more than the parse of the nested values (`tests/bench/filter_chain.rs`, per stage).
//! `serde_json` is used for the parse: on these 300-400 byte lines it measured as fast as
//! `sonic-rs` into `serde_json` values (331k vs 312k lines/s on one core), so the extra
//! dependency bought nothing.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{is_canonical_utc_millis, parse_iso8601, Event, FieldPath, TIMESTAMP};
use chrono::FixedOffset;
use serde::Deserialize;
use serde_json::{Map, Value};

fn default_source() -> FieldPath {
    FieldPath::top_level(crate::event::MESSAGE)
}

fn default_failure_tags() -> Vec<String> {
    vec!["_jsonparsefailure".to_string()]
}

/// Settings of the json filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    /// The field holding JSON text.
    #[serde(default = "default_source")]
    pub source: FieldPath,
    /// Where to store the parsed value; the event root when absent.
    #[serde(default)]
    pub target: Option<FieldPath>,
    /// Tags added when the text is not valid JSON (or not an object without `target`).
    #[serde(default = "default_failure_tags")]
    pub tag_on_failure: Vec<String>,
    /// Leave invalid JSON alone, without tagging.
    #[serde(default)]
    pub skip_on_invalid: bool,
}

/// The tag Logstash gives an event whose parsed `@timestamp` was unusable.
pub const TIMESTAMP_FAILURE_TAG: &str = "_timestampparsefailure";
/// Where the unusable `@timestamp` is kept.
pub const TIMESTAMP_FAILURE_FIELD: &str = "_@timestamp";

/// The compiled json filter.
#[derive(Debug)]
pub struct JsonFilter {
    config: JsonConfig,
    /// `source` is the top-level `message` (the default).
    source_is_message: bool,
}

impl JsonFilter {
    pub fn new(config: &JsonConfig) -> Self {
        Self {
            config: config.clone(),
            source_is_message: config.source == default_source(),
        }
    }
}

impl JsonFilter {
    /// The text to parse when the source is `message` of a line event nothing has looked
    /// into yet.
    fn line_message<'a>(&self, event: &'a Event) -> Option<std::borrow::Cow<'a, str>> {
        if self.source_is_message {
            event.unbuilt_line_message()
        } else {
            None
        }
    }
}

impl FilterType for JsonFilter {
    type Config = JsonConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let parsed = match (&self.config.target, self.line_message(event)) {
            // A line event parsed from the line itself: its map is never built.
            (None, Some(text)) => parse_object(&text).map(|map| Some(Value::Object(map))),
            (target, _) => {
                let Some(Value::String(text)) = event.get(&self.config.source) else {
                    return Outcome::Skipped;
                };
                match target {
                    Some(_) => parse(text).map(Some),
                    None => parse_object(text).map(|map| Some(Value::Object(map))),
                }
            }
        };
        match (parsed, &self.config.target) {
            (Ok(Some(value)), Some(target)) => {
                event.insert(target, value);
                Outcome::Keep
            }
            (Ok(Some(Value::Object(map))), None) => {
                merge_into_root(event, map);
                Outcome::Keep
            }
            (Ok(_), None) | (Ok(None), _) | (Err(_), _) => {
                if self.config.skip_on_invalid {
                    return Outcome::Skipped;
                }
                for tag in &self.config.tag_on_failure {
                    event.add_tag(tag);
                }
                Outcome::Failed
            }
        }
    }

    fn build(config: &JsonConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self::new(config))
    }
}

/// Parses JSON text into a `serde_json` value.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Value>(text)
}

/// Room reserved in a parsed root map: a winston line has ~15 keys, the file input adds 5 and
/// the seed filters up to 8 more.
const ROOT_CAPACITY: usize = 32;

/// Parses JSON text that must be an object into a map with [`ROOT_CAPACITY`] room.
pub fn parse_object(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    crate::event::parse_object_str(text, ROOT_CAPACITY)
}

/// Sets every parsed key at the root, overwriting. The parsed map usually holds most of the
/// keys (a winston line has ~15, the event 3-4 before parsing), so it becomes the new root and
/// the event's other fields are moved into it ([`Event::merge_under`]): far fewer hash
/// insertions than inserting every parsed key into the old map. The parsed keys keep the
/// line's order, `@timestamp` included (it is normalised in place), and the event's other
/// fields follow them.
fn merge_into_root(event: &mut Event, parsed: Map<String, Value>) {
    // The line had `@timestamp`: it replaced the event's, or the event had none.
    if let Some(ingest_time) = event.merge_under(parsed) {
        settle_parsed_timestamp(event, ingest_time);
    }
}

/// Applies a parsed `@timestamp` the way Logstash's json filter does, where the line had it.
fn settle_parsed_timestamp(event: &mut Event, ingest_time: Option<Value>) {
    let fields = event.fields_mut();
    let Some(slot) = crate::event::find_small_mut(fields, TIMESTAMP) else {
        return;
    };
    let parsed = match slot {
        // Already in the normalised form (winston's `toISOString`): keep the string.
        Value::String(text) if is_canonical_utc_millis(text) => return,
        Value::String(text) => parse_iso8601(text, FixedOffset::east_opt(0)),
        _ => None,
    };
    match (parsed, ingest_time) {
        (Some(time), _) => *slot = Value::String(crate::event::format_timestamp(time)),
        (None, Some(ingest_time)) => {
            let unusable = std::mem::replace(slot, ingest_time);
            fields.insert(TIMESTAMP_FAILURE_FIELD.to_string(), unusable);
            event.add_tag(TIMESTAMP_FAILURE_TAG);
        }
        (None, None) => {
            if let Some(unusable) = fields.shift_remove(TIMESTAMP) {
                fields.insert(TIMESTAMP_FAILURE_FIELD.to_string(), unusable);
            }
            event.add_tag(TIMESTAMP_FAILURE_TAG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(config: Value) -> JsonFilter {
        let config: JsonConfig = serde_json::from_value(config).unwrap();
        JsonFilter::new(&config)
    }

    fn line(text: &str) -> Event {
        let mut event = Event::from_value(json!({"message": text}));
        event.set_timestamp("2030-01-01T00:00:00Z".parse().unwrap());
        event
    }

    #[test]
    fn object_keys_go_to_the_root_and_overwrite() {
        let mut event = line(r#"{"level":"info","message":"Connected","details":{"a":1}}"#);
        assert_eq!(filter(json!({})).apply(&mut event), Outcome::Keep);
        assert_eq!(event.get_field("level"), Some(&json!("info")));
        assert_eq!(event.get_field("message"), Some(&json!("Connected")));
        assert_eq!(event.get_field("details"), Some(&json!({"a": 1})));
    }

    #[test]
    fn invalid_json_is_kept_and_tagged() {
        let mut event = line("{not json");
        assert_eq!(filter(json!({})).apply(&mut event), Outcome::Failed);
        assert_eq!(event.get_field("message"), Some(&json!("{not json")));
        assert_eq!(event.get_field("tags"), Some(&json!(["_jsonparsefailure"])));
    }

    #[test]
    fn skip_on_invalid_leaves_the_event_alone() {
        let mut event = line("{not json");
        let before = event.clone();
        let filter = filter(json!({"skip_on_invalid": true}));
        assert_eq!(filter.apply(&mut event), Outcome::Skipped);
        assert_eq!(event, before);
    }

    #[test]
    fn scalars_need_a_target() {
        let mut event = line("[1,2]");
        assert_eq!(filter(json!({})).apply(&mut event), Outcome::Failed);
        let mut event = line("[1,2]");
        filter(json!({"target": "parsed.list"})).apply(&mut event);
        assert_eq!(
            event.get(&FieldPath::parse("parsed.list").unwrap()),
            Some(&json!([1, 2]))
        );
    }

    #[test]
    fn missing_source_is_a_no_op() {
        let mut event = Event::from_value(json!({"other": 1}));
        let before = event.clone();
        assert_eq!(filter(json!({})).apply(&mut event), Outcome::Skipped);
        assert_eq!(event, before);
    }

    #[test]
    fn parsed_timestamp_is_normalised_to_utc_millis() {
        let mut event = line(r#"{"@timestamp":"2024-05-01T08:30:00.123456+09:00"}"#);
        filter(json!({})).apply(&mut event);
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-04-30T23:30:00.123Z"))
        );
    }

    #[test]
    fn parsed_keys_keep_the_line_order_timestamp_included() {
        let keys = |event: &Event| -> Vec<String> { event.fields().keys().cloned().collect() };
        let run = |text: &str| {
            let mut event = line(text);
            event
                .fields_mut()
                .insert("host".into(), json!({"name": "h"}));
            filter(json!({})).apply(&mut event);
            event
        };
        let canonical = run(
            r#"{"@timestamp":"2024-05-01T12:00:00.000Z","level":"info","message":"m","z":1,"a":2}"#,
        );
        assert_eq!(
            keys(&canonical),
            ["@timestamp", "level", "message", "z", "a", "host"]
        );
        let normalised = run(r#"{"level":"info","@timestamp":"2024-05-01T21:00:00+09:00","a":2}"#);
        assert_eq!(
            keys(&normalised),
            ["level", "@timestamp", "a", "message", "host"]
        );
        assert_eq!(
            normalised.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T12:00:00.000Z"))
        );
        let unusable = run(r#"{"@timestamp":"yesterday","level":"info"}"#);
        assert_eq!(
            keys(&unusable),
            [
                "@timestamp",
                "level",
                "message",
                "host",
                "_@timestamp",
                "tags"
            ]
        );
        let without = run(r#"{"level":"info","a":2}"#);
        assert_eq!(
            keys(&without),
            ["level", "a", "message", "@timestamp", "host"],
            "the event's own time follows the parsed keys"
        );
    }

    #[test]
    fn unparsable_timestamp_keeps_ingest_time_and_is_tagged() {
        let mut event = line(r#"{"@timestamp":"yesterday"}"#);
        filter(json!({})).apply(&mut event);
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2030-01-01T00:00:00.000Z"))
        );
        assert_eq!(event.get_field("_@timestamp"), Some(&json!("yesterday")));
        assert!(event.has_tag(TIMESTAMP_FAILURE_TAG));
    }

    #[test]
    fn object_parsing_matches_serde_json_and_refuses_non_objects() {
        let text =
            r#"{"a":[1,2.5,-3,1e3,"x\u00e9\n"],"b":{"c":null,"d":true},"e":18446744073709551615}"#;
        assert_eq!(
            Value::Object(parse_object(text).unwrap()),
            serde_json::from_str::<Value>(text).unwrap()
        );
        for not_an_object in ["[1,2]", "\"text\"", "3", "{\"a\":1} trailing", "{\"a\":"] {
            assert!(parse_object(not_an_object).is_err(), "{not_an_object}");
        }
    }
}
