//! `type = "mutate"`: the general-purpose field editor, with Logstash's option names and order.
//!
//! Why: pipelines beyond the seed (and every Logstash `.conf`) rename, retype, clean and tag
//! fields without a script. The operations run in Logstash's fixed order, whatever order the
//! file lists them in; the options common to every filter (`add_field`, `remove_field`,
//! `add_tag`, `remove_tag`) run after them, in the chain ([`super::common`]).
//!
//! 1. `coerce = { field = "default" }`: sets a field that exists but is `null`.
//! 2. `rename = { old = "new" }`: moves a field (no-op when `old` is missing). Names are
//!    templates.
//! 3. `update = { field = "template" }`: sets the field only when it exists.
//! 4. `replace = { field = "template" }`: sets the field, creating it if missing.
//! 5. `convert = { field = "integer" | "integer_eu" | "float" | "float_eu" | "string" |
//!    "boolean" }`: converts in place; arrays element by element. Integers from floats or
//!    `"3.7"` truncate toward zero; `_eu` reads `1.234,5`; booleans accept `true/false`,
//!    `t/f`, `yes/no`, `y/n`, `1/0` (any case). A value that cannot be converted is left
//!    unchanged (Logstash 8 does the same for invalid strings).
//! 6. `gsub = ["field", "regex", "replacement", ...]`: triples; every match replaced, in
//!    strings and arrays of strings. `\1` in the replacement is the first group, as in Ruby.
//!    The regex syntax is Rust's `regex` (no look-around or backreferences in the pattern).
//! 7. `uppercase`, 8. `capitalize` (first letter upper, the rest lower, as Ruby's),
//!    9. `lowercase`, 10. `strip` (whitespace at both ends): lists of fields; strings and
//!    arrays of strings.
//! 11. `split = { field = "," }`: a string into an array, as Ruby's `String#split` (trailing
//!     empty strings dropped; `" "` splits on runs of whitespace).
//! 12. `join = { field = "," }`: an array into a string.
//! 13. `merge = { dest = "added" }`: appends `added`'s value(s) to `dest` (both made arrays),
//!     or merges two objects; an object and a non-object are not merged.
//! 14. `copy = { source = "dest" }`: copies a field (deeply), replacing `dest`.
//!
//! Templates and field references are compiled at load; a template without `%{...}` is
//! never rendered per event.

use super::common::{render, template, Name};
use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath, Template};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Settings of the mutate filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutateConfig {
    pub coerce: Map<String, Value>,
    pub rename: Map<String, Value>,
    pub update: Map<String, Value>,
    pub replace: Map<String, Value>,
    pub convert: Map<String, Value>,
    pub gsub: Vec<String>,
    pub uppercase: Vec<FieldPath>,
    pub capitalize: Vec<FieldPath>,
    pub lowercase: Vec<FieldPath>,
    pub strip: Vec<FieldPath>,
    pub split: Map<String, Value>,
    pub join: Map<String, Value>,
    pub merge: Map<String, Value>,
    pub copy: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    Integer,
    IntegerEu,
    Float,
    FloatEu,
    Text,
    Boolean,
}

/// One `gsub` triple, compiled.
#[derive(Debug)]
struct Substitution {
    field: FieldPath,
    regex: regex::Regex,
    /// The replacement in the `regex` crate's syntax (`${1}` for Ruby's `\1`).
    replacement: String,
}

/// The compiled mutate filter.
#[derive(Debug)]
pub struct MutateFilter {
    coerce: Vec<(FieldPath, Template)>,
    rename: Vec<(Name, Name)>,
    update: Vec<(Name, Template)>,
    replace: Vec<(Name, Template)>,
    convert: Vec<(FieldPath, Conversion)>,
    gsub: Vec<Substitution>,
    uppercase: Vec<FieldPath>,
    capitalize: Vec<FieldPath>,
    lowercase: Vec<FieldPath>,
    strip: Vec<FieldPath>,
    split: Vec<(FieldPath, String)>,
    join: Vec<(FieldPath, String)>,
    merge: Vec<(FieldPath, Vec<FieldPath>)>,
    copy: Vec<(FieldPath, FieldPath)>,
}

fn path(text: &str) -> Result<FieldPath, String> {
    FieldPath::parse(text).map_err(|e| format!("`{text}`: {e}"))
}

fn string_value<'a>(option: &str, key: &str, value: &'a Value) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("`{option}.{key}` must be a string"))
}

/// Compiles every `key = "value"` pair of a table option.
fn pairs<K, V>(
    option: &str,
    table: &Map<String, Value>,
    key: impl Fn(&str) -> Result<K, String>,
    value: impl Fn(&str) -> Result<V, String>,
) -> Result<Vec<(K, V)>, String> {
    table
        .iter()
        .map(|(name, text)| {
            let compiled = value(string_value(option, name, text)?)
                .map_err(|e| format!("`{option}.{name}`: {e}"))?;
            Ok((key(name)?, compiled))
        })
        .collect()
}

fn conversion(text: &str) -> Result<Conversion, String> {
    Ok(match text {
        "integer" => Conversion::Integer,
        "integer_eu" => Conversion::IntegerEu,
        "float" => Conversion::Float,
        "float_eu" => Conversion::FloatEu,
        "string" => Conversion::Text,
        "boolean" => Conversion::Boolean,
        other => {
            return Err(format!(
                "unknown type `{other}`, expected `integer`, `integer_eu`, `float`, `float_eu`, `string` or `boolean`"
            ))
        }
    })
}

/// Ruby's `\1` / `\k<name>` backreferences into the `regex` crate's `${1}` / `${name}`; a
/// literal `$` is escaped.
fn ruby_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('k') => {
                    chars.next();
                    let name: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '<')
                        .take_while(|c| *c != '>')
                        .collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

impl MutateFilter {
    pub fn new(config: &MutateConfig) -> Result<Self, String> {
        if !config.gsub.len().is_multiple_of(3) {
            return Err(format!(
                "`gsub` takes triples [field, regex, replacement, ...], got {} strings",
                config.gsub.len()
            ));
        }
        let gsub = config
            .gsub
            .chunks(3)
            .map(|triple| {
                Ok(Substitution {
                    field: path(&triple[0])?,
                    regex: regex::Regex::new(&triple[1])
                        .map_err(|e| format!("`gsub` regex `{}`: {e}", triple[1]))?,
                    replacement: ruby_replacement(&triple[2]),
                })
            })
            .collect::<Result<_, String>>()?;
        let separators = |option: &str, table: &Map<String, Value>| {
            pairs(option, table, path, |text| Ok(text.to_string()))
        };
        let merge = config
            .merge
            .iter()
            .map(|(dest, added)| {
                let added = match added {
                    Value::Array(items) => items
                        .iter()
                        .map(|item| path(string_value("merge", dest, item)?))
                        .collect::<Result<_, String>>()?,
                    other => vec![path(string_value("merge", dest, other)?)?],
                };
                Ok((path(dest)?, added))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            coerce: pairs("coerce", &config.coerce, path, template)?,
            rename: pairs("rename", &config.rename, Name::compile, Name::compile)?,
            update: pairs("update", &config.update, Name::compile, template)?,
            replace: pairs("replace", &config.replace, Name::compile, template)?,
            convert: pairs("convert", &config.convert, path, conversion)?,
            gsub,
            uppercase: config.uppercase.clone(),
            capitalize: config.capitalize.clone(),
            lowercase: config.lowercase.clone(),
            strip: config.strip.clone(),
            split: separators("split", &config.split)?,
            join: separators("join", &config.join)?,
            merge,
            copy: pairs("copy", &config.copy, path, path)?,
        })
    }
}

impl FilterType for MutateFilter {
    type Config = MutateConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        for (field, default) in &self.coerce {
            if matches!(event.get(field), Some(Value::Null)) {
                let value = Value::String(render(default, event));
                event.insert(field, value);
            }
        }
        for (from, to) in &self.rename {
            let (Some(from), Some(to)) = (from.resolve(event), to.resolve(event)) else {
                continue;
            };
            if let Some(value) = event.remove(&from) {
                event.insert(&to, value);
            }
        }
        for (name, value) in &self.update {
            if let Some(field) = name.resolve(event).filter(|field| event.contains(field)) {
                let rendered = Value::String(render(value, event));
                event.insert(&field, rendered);
            }
        }
        for (name, value) in &self.replace {
            if let Some(field) = name.resolve(event) {
                let rendered = Value::String(render(value, event));
                event.insert(&field, rendered);
            }
        }
        for (field, conversion) in &self.convert {
            if let Some(value) = event.get_mut(field) {
                convert(value, *conversion);
            }
        }
        for substitution in &self.gsub {
            if let Some(value) = event.get_mut(&substitution.field) {
                change_text(value, &|text| match substitution
                    .regex
                    .replace_all(text, substitution.replacement.as_str())
                {
                    std::borrow::Cow::Borrowed(_) => None,
                    std::borrow::Cow::Owned(replaced) => Some(replaced),
                });
            }
        }
        let case_changes: [(&[FieldPath], TextChange); 4] = [
            (&self.uppercase, |text| Some(text.to_uppercase())),
            (&self.capitalize, capitalize),
            (&self.lowercase, |text| Some(text.to_lowercase())),
            (&self.strip, |text| {
                let trimmed = text.trim();
                (trimmed.len() != text.len()).then(|| trimmed.to_string())
            }),
        ];
        for (fields, change) in case_changes {
            for field in fields {
                if let Some(value) = event.get_mut(field) {
                    change_text(value, &change);
                }
            }
        }
        for (field, separator) in &self.split {
            if let Some(value) = event.get_mut(field) {
                if let Value::String(text) = value {
                    *value = Value::Array(ruby_split(text, separator));
                }
            }
        }
        for (field, separator) in &self.join {
            if let Some(value) = event.get_mut(field) {
                if let Value::Array(items) = value {
                    let joined = items
                        .iter()
                        .map(text_of)
                        .collect::<Vec<_>>()
                        .join(separator);
                    *value = Value::String(joined);
                }
            }
        }
        for (dest, added) in &self.merge {
            for added in added {
                merge(event, dest, added);
            }
        }
        for (source, dest) in &self.copy {
            if let Some(value) = event.get(source).cloned() {
                event.insert(dest, value);
            }
        }
        Outcome::Keep
    }

    fn build(config: &MutateConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

/// A change to a string; `None` when it leaves the string as it is.
type TextChange = fn(&str) -> Option<String>;

/// A value as Ruby's `to_s` would write it inside a joined string.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Ruby's `String#split(separator)`: trailing empty strings are dropped, and `" "` splits on
/// runs of whitespace, ignoring leading whitespace.
fn ruby_split(text: &str, separator: &str) -> Vec<Value> {
    let mut parts: Vec<Value> = if separator == " " {
        text.split_whitespace()
            .map(|part| Value::String(part.to_string()))
            .collect()
    } else if separator.is_empty() {
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(separator)
            .map(|part| Value::String(part.to_string()))
            .collect()
    };
    while matches!(parts.last(), Some(Value::String(last)) if last.is_empty()) {
        parts.pop();
    }
    parts
}

/// Ruby's `capitalize`: the first character upper case, the rest lower case.
fn capitalize(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let first = chars.next()?;
    Some(
        first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
    )
}

/// Ruby's `Array(value)`: `nil` is empty, an array itself, anything else one element.
fn as_array(value: Option<Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
    }
}

/// Logstash's `merge` of one added field into `dest`.
fn merge(event: &mut Event, dest: &FieldPath, added: &FieldPath) {
    let added_value = event.get(added).cloned();
    match (event.get_mut(dest), added_value) {
        (Some(Value::Object(target)), Some(Value::Object(source))) => target.extend(source),
        (Some(Value::Object(_)), _) | (_, Some(Value::Object(_))) => {
            tracing::debug!(dest = %dest.as_str(), added = %added.as_str(), "mutate: cannot merge an object with a non-object");
        }
        (existing, added_value) => {
            let mut items = as_array(existing.map(std::mem::take));
            items.extend(as_array(added_value));
            event.insert(dest, Value::Array(items));
        }
    }
}

/// Applies `change` to a string or to every string of an array; `None` from `change` means
/// unchanged (no allocation).
fn change_text(value: &mut Value, change: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(text) => {
            if let Some(changed) = change(text) {
                *text = changed;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| change_text(item, change)),
        _ => {}
    }
}

fn convert(value: &mut Value, conversion: Conversion) {
    if let Value::Array(items) = value {
        items.iter_mut().for_each(|item| convert(item, conversion));
        return;
    }
    if let (Conversion::IntegerEu | Conversion::FloatEu, Value::String(text)) =
        (conversion, &*value)
    {
        // `1.234,5`: dots group thousands, the comma is the decimal mark.
        let mut plain = Value::String(text.replace('.', "").replace(',', "."));
        let conversion = match conversion {
            Conversion::IntegerEu => Conversion::Integer,
            _ => Conversion::Float,
        };
        convert(&mut plain, conversion);
        if !plain.is_string() {
            *value = plain;
        }
        return;
    }
    let converted = match conversion {
        Conversion::Integer | Conversion::IntegerEu => to_integer(value).map(Value::from),
        Conversion::Float | Conversion::FloatEu => crate::condition::numeric(value)
            .or_else(|| value.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Conversion::Text => match &*value {
            Value::String(_) | Value::Null => None,
            Value::Number(number) => Some(Value::String(number.to_string())),
            Value::Bool(flag) => Some(Value::String(flag.to_string())),
            other => Some(Value::String(other.to_string())),
        },
        Conversion::Boolean => to_boolean(value).map(Value::Bool),
    };
    if let Some(converted) = converted {
        *value = converted;
    }
}

fn to_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().and_then(float_to_integer)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<i64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().and_then(float_to_integer))
        }
        Value::Bool(flag) => Some(i64::from(*flag)),
        _ => None,
    }
}

fn float_to_integer(number: f64) -> Option<i64> {
    let truncated = number.trunc();
    (truncated.is_finite() && truncated.abs() < 9.2e18).then_some(truncated as i64)
}

fn to_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => {
            let number = number.as_f64();
            if number == Some(1.0) {
                Some(true)
            } else if number == Some(0.0) {
                Some(false)
            } else {
                None
            }
        }
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> Value {
        let config: MutateConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        assert_eq!(
            MutateFilter::new(&config).unwrap().apply(&mut event),
            Outcome::Keep
        );
        event.to_value()
    }

    #[test]
    fn rename_update_and_replace() {
        assert_eq!(
            run(
                json!({"rename": {"a": "b.c", "%{k}": "renamed_%{k}", "missing": "m"},
                       "update": {"d": "now %{b.c}", "absent": "x"}, "replace": {"e": "new"}}),
                json!({"a": 1, "d": "old", "k": "x", "x": true})
            ),
            json!({"d": "now 1", "k": "x", "b": {"c": 1}, "renamed_x": true, "e": "new"})
        );
    }

    #[test]
    fn coerce_sets_only_null_fields_and_runs_first() {
        assert_eq!(
            run(
                json!({"coerce": {"n": "default", "set": "default", "missing": "d"},
                       "uppercase": ["n"]}),
                json!({"n": null, "set": "kept"})
            ),
            json!({"n": "DEFAULT", "set": "kept"})
        );
    }

    #[test]
    fn convert_each_type() {
        assert_eq!(
            run(
                json!({"convert": {"i": "integer", "f": "float", "s": "string", "b": "boolean",
                                   "list": "integer", "bad": "integer", "no": "boolean",
                                   "ie": "integer_eu", "fe": "float_eu"}}),
                json!({"i": "3.7", "f": "2.5", "s": 12, "b": "Yes", "list": ["1", 2.9], "bad": "x",
                       "no": "n", "ie": "1.234", "fe": "1.234,5"})
            ),
            json!({"i": 3, "f": 2.5, "s": "12", "b": true, "list": [1, 2], "bad": "x", "no": false,
                   "ie": 1234, "fe": 1234.5})
        );
    }

    #[test]
    fn gsub_replaces_every_match_with_ruby_backreferences() {
        assert_eq!(
            run(
                json!({"gsub": ["path", "/", "_", "list", "(\\d+)-(\\d+)", "\\2-\\1 $", "n", "x", "y"]}),
                json!({"path": "/a/b", "list": ["1-2", "none"], "n": 5})
            ),
            json!({"path": "_a_b", "list": ["2-1 $", "none"], "n": 5})
        );
    }

    #[test]
    fn case_changes_and_strip_run_in_logstash_order() {
        assert_eq!(
            run(
                json!({"lowercase": ["both", "b"], "uppercase": ["a", "both"],
                       "capitalize": ["c"], "strip": ["s"]}),
                json!({"a": "x", "b": ["Y", "Z"], "both": "Mixed", "c": "hELLO world",
                       "s": ["  pad ", "\tx\n"]})
            ),
            json!({"a": "X", "b": ["y", "z"], "both": "mixed", "c": "Hello world", "s": ["pad", "x"]})
        );
    }

    #[test]
    fn split_like_ruby_then_join() {
        assert_eq!(
            run(
                json!({"split": {"csv": ",", "words": " ", "joined": "|"}, "join": {"joined": "+"}}),
                json!({"csv": "a,,b,,", "words": "  one  two ", "joined": "x|y|1"})
            ),
            json!({"csv": ["a", "", "b"], "words": ["one", "two"], "joined": "x+y+1"})
        );
    }

    #[test]
    fn merge_arrays_strings_and_objects() {
        assert_eq!(
            run(
                json!({"merge": {"list": "one", "text": ["list", "one"], "obj": "other",
                                 "bad": "obj", "new": "one"}}),
                json!({"list": ["a"], "one": "b", "text": "t", "obj": {"x": 1},
                       "other": {"y": 2}, "bad": "s"})
            ),
            json!({"list": ["a", "b"], "one": "b", "text": ["t", "a", "b", "b"],
                   "obj": {"x": 1, "y": 2}, "other": {"y": 2}, "bad": "s", "new": ["b"]})
        );
    }

    #[test]
    fn copy_is_deep_and_last() {
        assert_eq!(
            run(
                json!({"copy": {"src": "[dst][inner]", "missing": "m"}, "replace": {"src": "r"}}),
                json!({"src": "s", "dst": {"other": 1}})
            ),
            json!({"src": "r", "dst": {"other": 1, "inner": "r"}})
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for config in [
            json!({"convert": {"a": "decimal"}}),
            json!({"rename": {"a": 1}}),
            json!({"replace": {"a..b": "x"}}),
            json!({"gsub": ["a", "b"]}),
            json!({"gsub": ["a", "(", "x"]}),
            json!({"merge": {"a": 1}}),
        ] {
            let config: MutateConfig = serde_json::from_value(config).unwrap();
            assert!(MutateFilter::new(&config).is_err(), "{config:?}");
        }
    }
}
