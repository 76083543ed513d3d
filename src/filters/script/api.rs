//! What a script can do: the `Event` type bound to `event`, and the helper functions.
//!
//! The event is handed to the script as a custom type wrapping the [`Event`] itself, not as a
//! Rhai map. A map would have to be built from all ~15 fields of an MQTT record before every
//! run and turned back into JSON after it, even when the script reads one field; with the
//! custom type only the fields the script touches are converted (`tests/bench/script.rs` measures
//! both; see the module docs of `script` for the numbers). Property syntax still works
//! (`event.payloadSize`, `event.details.topic = "x"`) because Rhai falls back to the string
//! indexer registered here when a type has no getter of that name.
//!
//! Everything the script does to the event (drop, extra events) is recorded next to the event
//! rather than in engine state, so the one engine can be shared by every worker without locks.
//! The script holds an [`EventHandle`], a reference to a slot the worker owns: whatever the
//! script does with the variable (copy it, reassign it, fail half-way), the worker still finds
//! the event in its slot afterwards, without cloning it up front. Copies of `event` in a script
//! therefore refer to the same event, as in Logstash's ruby filter.

use super::convert::{from_dynamic, map_to_object, object_to_map, strings_to_array, to_dynamic};
use super::handle::{EventHandle, ScriptEvent};
use crate::event::{format_timestamp, parse_timestamp, Event, FieldPath, Template};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position, INT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

/// The key under which `@metadata` is reachable from scripts (`event["@metadata"]`).
pub const METADATA: &str = "@metadata";

type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// What the script API does with the slot's event, in Rhai's values.
impl ScriptEvent {
    fn get_property(&self, name: &str) -> Dynamic {
        if name == METADATA {
            return Dynamic::from_map(object_to_map(self.event.metadata()));
        }
        self.event.get_field(name).map_or(Dynamic::UNIT, to_dynamic)
    }

    fn set_property(&mut self, name: &str, value: Value) -> ScriptResult<()> {
        if name == METADATA {
            let Value::Object(metadata) = value else {
                return Err(runtime_error("`@metadata` can only be set to a map"));
            };
            *self.event.metadata_mut() = metadata;
            return Ok(());
        }
        self.event.fields_mut().insert(name.to_string(), value);
        Ok(())
    }

    fn get_path(&self, path: &FieldPath) -> Dynamic {
        if path.segments().is_empty() {
            return self.get_property(METADATA);
        }
        self.event.get(path).map_or(Dynamic::UNIT, to_dynamic)
    }

    fn set_path(&mut self, path: &FieldPath, value: Value) -> ScriptResult<()> {
        if path.segments().is_empty() {
            return self.set_property(METADATA, value);
        }
        self.event.insert(path, value);
        Ok(())
    }

    fn remove_path(&mut self, path: &FieldPath) -> Dynamic {
        self.event
            .remove(path)
            .map_or(Dynamic::UNIT, |value| to_dynamic(&value))
    }

    fn timestamp_millis(&self) -> Dynamic {
        self.event.timestamp().map_or(Dynamic::UNIT, |time| {
            Dynamic::from_int(time.timestamp_millis())
        })
    }

    fn to_map(&self) -> Map {
        let mut map = object_to_map(self.event.fields());
        map.insert(METADATA.into(), self.get_property(METADATA));
        map
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self.event.fields()).unwrap_or_default()
    }
}

pub(super) fn runtime_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

fn parse_path(reference: &str) -> ScriptResult<FieldPath> {
    FieldPath::parse(reference).map_err(|e| runtime_error(e.to_string()))
}

/// Milliseconds since the epoch as a UTC time.
fn millis_to_time(millis: INT) -> ScriptResult<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| runtime_error(format!("{millis} ms is out of the range of dates")))
}

/// `parse_time(text, format)`: the format is a chrono/strftime pattern; text without an
/// offset is taken as UTC.
fn parse_time_with(text: &str, format: &str) -> Dynamic {
    let parsed = DateTime::parse_from_str(text, format)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, format).map(|naive| naive.and_utc()));
    parsed.map_or(Dynamic::UNIT, |time| {
        Dynamic::from_int(time.timestamp_millis())
    })
}

fn format_time_with(millis: INT, format: &str) -> ScriptResult<String> {
    let time = millis_to_time(millis)?;
    let mut out = String::new();
    // `write!` reports a bad pattern as an error where `to_string` would panic.
    write!(out, "{}", time.format(format))
        .map_err(|_| runtime_error(format!("invalid time format `{format}`")))?;
    Ok(out)
}

/// MQTT topic filter matching: `+` matches one level, a trailing `#` any number of levels
/// (including none).
pub fn topic_matches(topic: &str, filter: &str) -> bool {
    let mut levels = topic.split('/');
    let mut patterns = filter.split('/').peekable();
    while let Some(pattern) = patterns.next() {
        if pattern == "#" && patterns.peek().is_none() {
            return true;
        }
        match levels.next() {
            Some(level) if pattern == "+" || pattern == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// Registers the `Event` type and every helper on `engine`.
///
/// Every method converts its arguments before locking the event: an argument may be `event`
/// itself (`event.emit(event)`), and the slot's lock is not re-entrant.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<EventHandle>("Event");

    engine.register_indexer_get(|handle: &mut EventHandle, name: &str| {
        handle.lock().get_property(name)
    });
    engine.register_indexer_set(
        |handle: &mut EventHandle, name: &str, value: Dynamic| -> ScriptResult<()> {
            let value = from_dynamic(value);
            handle.lock().set_property(name, value)
        },
    );

    engine.register_fn("get", |handle: &mut EventHandle, reference: &str| {
        let path = parse_path(reference)?;
        Ok::<_, Box<EvalAltResult>>(handle.lock().get_path(&path))
    });
    engine.register_fn(
        "set",
        |handle: &mut EventHandle, reference: &str, value: Dynamic| -> ScriptResult<()> {
            let path = parse_path(reference)?;
            let value = from_dynamic(value);
            handle.lock().set_path(&path, value)
        },
    );
    engine.register_fn("remove", |handle: &mut EventHandle, reference: &str| {
        let path = parse_path(reference)?;
        Ok::<_, Box<EvalAltResult>>(handle.lock().remove_path(&path))
    });
    engine.register_fn("contains", |handle: &mut EventHandle, reference: &str| {
        let path = parse_path(reference)?;
        Ok::<_, Box<EvalAltResult>>(handle.lock().event.contains(&path))
    });

    engine.register_fn("tag", |handle: &mut EventHandle, tag: &str| {
        handle.lock().event.add_tag(tag)
    });
    engine.register_fn("untag", |handle: &mut EventHandle, tag: &str| {
        handle.lock().event.remove_tag(tag)
    });
    engine.register_fn("has_tag", |handle: &mut EventHandle, tag: &str| {
        handle.lock().event.has_tag(tag)
    });

    engine.register_fn("drop", |handle: &mut EventHandle| {
        handle.lock().dropped = true
    });
    engine.register_fn("cancel", |handle: &mut EventHandle| {
        handle.lock().dropped = true
    });
    engine.register_fn(
        "emit",
        |handle: &mut EventHandle, value: Dynamic| -> ScriptResult<()> {
            let extra = event_from_dynamic(value)?;
            handle.lock().emit(extra);
            Ok(())
        },
    );

    engine.register_fn("timestamp", |handle: &mut EventHandle| {
        handle.lock().timestamp_millis()
    });
    engine.register_fn(
        "set_timestamp",
        |handle: &mut EventHandle, millis: INT| -> ScriptResult<()> {
            let time = millis_to_time(millis)?;
            handle.lock().event.set_timestamp(time);
            Ok(())
        },
    );
    engine.register_fn(
        "set_timestamp",
        |handle: &mut EventHandle, text: &str| -> ScriptResult<()> {
            let time = parse_timestamp(text)
                .ok_or_else(|| runtime_error(format!("`{text}` is not an RFC 3339 timestamp")))?;
            handle.lock().event.set_timestamp(time);
            Ok(())
        },
    );
    engine.register_fn("to_map", |handle: &mut EventHandle| handle.lock().to_map());
    engine.register_fn("keys", |handle: &mut EventHandle| -> Array {
        strings_to_array(handle.lock().event.fields().keys().map(String::as_str))
    });
    engine.register_fn(
        "sprintf",
        |handle: &mut EventHandle, template: &str| -> ScriptResult<String> {
            let template = Template::parse(template).map_err(|e| runtime_error(e.to_string()))?;
            Ok(template.render(&handle.lock().event).0)
        },
    );
    engine.register_fn("to_string", |handle: &mut EventHandle| {
        handle.lock().to_json()
    });
    engine.register_fn("to_debug", |handle: &mut EventHandle| {
        handle.lock().to_json()
    });

    engine.register_fn("now", || Utc::now().timestamp_millis());
    engine.register_fn("parse_time", |text: &str| {
        parse_timestamp(text).map_or(Dynamic::UNIT, |time| {
            Dynamic::from_int(time.timestamp_millis())
        })
    });
    engine.register_fn("parse_time", parse_time_with);
    engine.register_fn("format_time", |millis: INT| {
        millis_to_time(millis).map(format_timestamp)
    });
    engine.register_fn("format_time", format_time_with);

    engine.register_fn("topic_levels", |topic: &str| -> Array {
        strings_to_array(topic.split('/'))
    });
    engine.register_fn("topic_level", |topic: &str, index: INT| -> Dynamic {
        usize::try_from(index)
            .ok()
            .and_then(|index| topic.split('/').nth(index))
            .map_or(Dynamic::UNIT, |level| {
                Dynamic::from(ImmutableString::from(level))
            })
    });
    engine.register_fn("topic_matches", |topic: &str, filter: &str| {
        topic_matches(topic, filter)
    });
}

/// Every identifier that follows a `.` in `source`: the property names a script may use.
pub fn property_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = source;
    while let Some(dot) = rest.find('.') {
        rest = rest[dot + 1..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            names.insert(name.to_string());
        }
        rest = &rest[end..];
    }
    names
}

/// Registers a getter and a setter of `Event` for each name (`@metadata` is not an
/// identifier, so it always goes through the indexer).
pub fn register_properties(engine: &mut Engine, names: &BTreeSet<String>) {
    for name in names {
        let key: Arc<str> = name.as_str().into();
        engine.register_get(name, move |handle: &mut EventHandle| {
            handle.lock().get_property(&key)
        });
        let key: Arc<str> = name.as_str().into();
        engine.register_set(
            name,
            move |handle: &mut EventHandle, value: Dynamic| -> ScriptResult<()> {
                let value = from_dynamic(value);
                handle.lock().set_property(&key, value)
            },
        );
    }
}

/// The argument of `emit`: a map (with an optional `@metadata` map) or an `Event`.
fn event_from_dynamic(value: Dynamic) -> ScriptResult<Event> {
    if value.is::<EventHandle>() {
        if let Some(handle) = value.try_cast::<EventHandle>() {
            return Ok(handle.lock().event.clone());
        }
        return Err(runtime_error("emit: the event is not readable"));
    }
    let Some(mut map) = value.try_cast::<Map>() else {
        return Err(runtime_error("emit takes a map (`#{ message: \"...\" }`)"));
    };
    let metadata = match map.remove(METADATA).map(|m| m.try_cast::<Map>()) {
        Some(Some(metadata)) => map_to_object(metadata),
        Some(None) => return Err(runtime_error("`@metadata` must be a map")),
        None => serde_json::Map::new(),
    };
    Ok(Event::from_parts(map_to_object(map), metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_are_the_identifiers_after_dots() {
        let names = property_names("event.payloadSize = event . details.topic_1 + 1.5; x.2");
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names, ["details", "payloadSize", "topic_1"]);
    }

    #[test]
    fn topic_filters_follow_mqtt_wildcards() {
        assert!(topic_matches("fleet/dev-1/temp", "fleet/+/temp"));
        assert!(topic_matches("fleet/dev-1/temp", "fleet/#"));
        assert!(topic_matches("fleet", "fleet/#"));
        assert!(!topic_matches("fleet/dev-1/temp", "fleet/+"));
        assert!(!topic_matches("fleet/dev-1", "fleet/+/temp"));
        assert!(!topic_matches("other/dev-1/temp", "fleet/+/temp"));
    }

    #[test]
    fn bad_time_formats_are_errors_not_panics() {
        assert!(format_time_with(0, "%Q").is_err());
        assert_eq!(
            format_time_with(0, "%Y.%m.%d").ok(),
            Some("1970.01.01".into())
        );
    }

    #[test]
    fn parse_time_with_accepts_naive_times_as_utc() {
        let parsed = parse_time_with("2024-05-01 12:00:00", "%Y-%m-%d %H:%M:%S");
        assert_eq!(parsed.as_int().ok(), Some(1_714_564_800_000));
        assert!(parse_time_with("nonsense", "%Y").is_unit());
    }
}
