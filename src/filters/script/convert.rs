//! Conversions between event values (`serde_json::Value`) and Rhai values (`Dynamic`).
//!
//! Scripts see the event through the `Event` custom type (see `api.rs`), so only the fields a
//! script actually touches are converted, one value at a time. These two functions are that
//! per-field conversion; they are written by hand rather than going through
//! `rhai::serde::{to_dynamic, from_dynamic}` because the generic serde path allocates a
//! serializer state per value and this runs on every field access.

use super::handle::EventHandle;
use rhai::{Array, Dynamic, ImmutableString, Map, INT};
use serde_json::{Number, Value};

/// A JSON value as a Rhai value: objects become maps, integers that fit become `INT`, other
/// numbers `FLOAT`, `null` becomes `()`.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(flag) => Dynamic::from_bool(*flag),
        Value::Number(number) => number_to_dynamic(number),
        Value::String(text) => Dynamic::from(ImmutableString::from(text.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(key, value)| (key.as_str().into(), to_dynamic(value)))
                .collect(),
        ),
    }
}

fn number_to_dynamic(number: &Number) -> Dynamic {
    match number.as_i64() {
        Some(integer) => Dynamic::from_int(integer as INT),
        None => Dynamic::from_float(number.as_f64().unwrap_or(f64::NAN)),
    }
}

/// A Rhai value as a JSON value. Types JSON cannot hold are rendered as their display string
/// (a timestamp, a function pointer); non-finite floats become `null`, as `serde_json` would.
pub fn from_dynamic(value: Dynamic) -> Value {
    if value.is_unit() {
        return Value::Null;
    }
    if let Ok(flag) = value.as_bool() {
        return Value::Bool(flag);
    }
    if let Ok(integer) = value.as_int() {
        return Value::Number(Number::from(integer));
    }
    if let Ok(float) = value.as_float() {
        return Number::from_f64(float).map_or(Value::Null, Value::Number);
    }
    if value.is_string() {
        return match value.into_immutable_string() {
            Ok(text) => Value::String(text.into_owned()),
            Err(type_name) => Value::String(type_name.to_string()),
        };
    }
    if let Ok(character) = value.as_char() {
        return Value::String(character.to_string());
    }
    if value.is_array() {
        return match value.into_array() {
            Ok(items) => Value::Array(items.into_iter().map(from_dynamic).collect()),
            Err(type_name) => Value::String(type_name.to_string()),
        };
    }
    if value.is_map() {
        return match value.try_cast::<Map>() {
            Some(map) => Value::Object(map_to_object(map)),
            None => Value::Null,
        };
    }
    if value.is_blob() {
        return match value.into_blob() {
            Ok(bytes) => Value::Array(bytes.into_iter().map(Value::from).collect()),
            Err(type_name) => Value::String(type_name.to_string()),
        };
    }
    if value.is::<EventHandle>() {
        if let Some(handle) = value.try_cast::<EventHandle>() {
            return Value::Object(handle.lock().event().fields().clone());
        }
        return Value::Null;
    }
    Value::String(value.to_string())
}

/// A Rhai map as a JSON object (keys in the map's sorted order).
pub fn map_to_object(map: Map) -> serde_json::Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| (key.to_string(), from_dynamic(value)))
        .collect()
}

/// A JSON object as a Rhai map.
pub fn object_to_map(object: &serde_json::Map<String, Value>) -> Map {
    object
        .iter()
        .map(|(key, value)| (key.as_str().into(), to_dynamic(value)))
        .collect()
}

/// An array of strings as a Rhai array.
pub fn strings_to_array<'a>(items: impl IntoIterator<Item = &'a str>) -> Array {
    items
        .into_iter()
        .map(|item| Dynamic::from(ImmutableString::from(item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_every_json_type() {
        let value = json!({
            "n": null, "b": true, "i": -5, "f": 1.5, "s": "text",
            "a": [1, "two", [3]], "o": {"inner": {"deep": 1}}
        });
        assert_eq!(from_dynamic(to_dynamic(&value)), value);
    }

    #[test]
    fn large_unsigned_integers_become_floats() {
        let value = json!(u64::MAX);
        assert!(to_dynamic(&value).is_float());
    }

    #[test]
    fn non_finite_floats_become_null() {
        assert_eq!(from_dynamic(Dynamic::from_float(f64::NAN)), Value::Null);
    }

    #[test]
    fn chars_become_strings() {
        assert_eq!(from_dynamic(Dynamic::from('x')), json!("x"));
    }
}
