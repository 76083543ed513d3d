//! `type = "mutate"`: the general-purpose field editor, with Logstash's option names.
//!
//! Why: pipelines beyond the seed need to rename, retype and tag fields without a script.
//! Options, applied in this order (Logstash's order for these operations, with the "common"
//! options `add_field`, `remove_field`, `add_tag`, `remove_tag` last, as in Logstash):
//!
//! 1. `rename = { old = "new" }`: moves a field (no-op when `old` is missing).
//! 2. `replace = { field = "template" }`: sets the field to the rendered template.
//! 3. `convert = { field = "integer" | "float" | "string" | "boolean" }`: converts in place;
//!    arrays element by element. Integers from floats or `"3.7"` truncate toward zero;
//!    booleans accept `true/false`, `t/f`, `yes/no`, `y/n`, `1/0` (any case). A value that
//!    cannot be converted is left unchanged (Logstash 8 does the same for invalid strings).
//! 4. `uppercase = [fields]`, then `lowercase = [fields]`: strings (and arrays of strings).
//! 5. `add_field = { "name%{x}" = "value %{y}" }`: key and value are templates. **When the
//!    field already exists the value is appended and the field becomes an array**, exactly as
//!    Logstash does; use `replace` to overwrite.
//! 6. `remove_field = ["template", ...]`, 7. `add_tag = [...]`, 8. `remove_tag = [...]`
//!    (all templates).
//!
//! Templates and field references are compiled at load; a template without `%{...}` is
//! never rendered per event.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath, Template};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Settings of the mutate filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutateConfig {
    pub rename: Map<String, Value>,
    pub replace: Map<String, Value>,
    pub convert: Map<String, Value>,
    pub uppercase: Vec<FieldPath>,
    pub lowercase: Vec<FieldPath>,
    pub add_field: Map<String, Value>,
    pub remove_field: Vec<Template>,
    pub add_tag: Vec<Template>,
    pub remove_tag: Vec<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    Integer,
    Float,
    Text,
    Boolean,
}

/// A field name that may be a template: compiled once when it is static.
#[derive(Debug)]
enum Name {
    Static(FieldPath),
    Dynamic(Template),
}

impl Name {
    fn compile(text: &str) -> Result<Self, String> {
        let template = Template::parse(text).map_err(|e| e.to_string())?;
        if template.is_static() {
            FieldPath::parse(text)
                .map(Self::Static)
                .map_err(|e| e.to_string())
        } else {
            Ok(Self::Dynamic(template))
        }
    }

    fn resolve(&self, event: &Event) -> Option<FieldPath> {
        match self {
            Self::Static(path) => Some(path.clone()),
            Self::Dynamic(template) => FieldPath::parse(&template.render(event).0).ok(),
        }
    }
}

/// The compiled mutate filter.
#[derive(Debug)]
pub struct MutateFilter {
    rename: Vec<(FieldPath, FieldPath)>,
    replace: Vec<(FieldPath, Template)>,
    convert: Vec<(FieldPath, Conversion)>,
    uppercase: Vec<FieldPath>,
    lowercase: Vec<FieldPath>,
    add_field: Vec<(Name, Template)>,
    remove_field: Vec<Name>,
    add_tag: Vec<Template>,
    remove_tag: Vec<Template>,
}

fn path(text: &str) -> Result<FieldPath, String> {
    FieldPath::parse(text).map_err(|e| e.to_string())
}

fn string_value<'a>(option: &str, key: &str, value: &'a Value) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("`{option}.{key}` must be a string"))
}

fn template(text: &str) -> Result<Template, String> {
    Template::parse(text).map_err(|e| e.to_string())
}

impl MutateFilter {
    pub fn new(config: &MutateConfig) -> Result<Self, String> {
        let rename = config
            .rename
            .iter()
            .map(|(from, to)| Ok((path(from)?, path(string_value("rename", from, to)?)?)))
            .collect::<Result<_, String>>()?;
        let replace = config
            .replace
            .iter()
            .map(|(field, value)| {
                Ok((
                    path(field)?,
                    template(string_value("replace", field, value)?)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let convert = config
            .convert
            .iter()
            .map(|(field, kind)| {
                let conversion = match string_value("convert", field, kind)? {
                    "integer" => Conversion::Integer,
                    "float" => Conversion::Float,
                    "string" => Conversion::Text,
                    "boolean" => Conversion::Boolean,
                    other => {
                        return Err(format!(
                            "`convert.{field}`: unknown type `{other}`, expected `integer`, `float`, `string` or `boolean`"
                        ))
                    }
                };
                Ok((path(field)?, conversion))
            })
            .collect::<Result<_, String>>()?;
        let add_field = config
            .add_field
            .iter()
            .map(|(name, value)| {
                Ok((
                    Name::compile(name)?,
                    template(string_value("add_field", name, value)?)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let remove_field = config
            .remove_field
            .iter()
            .map(|name| Name::compile(name.source()))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            rename,
            replace,
            convert,
            uppercase: config.uppercase.clone(),
            lowercase: config.lowercase.clone(),
            add_field,
            remove_field,
            add_tag: config.add_tag.clone(),
            remove_tag: config.remove_tag.clone(),
        })
    }
}

impl FilterType for MutateFilter {
    type Config = MutateConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        for (from, to) in &self.rename {
            if let Some(value) = event.remove(from) {
                event.insert(to, value);
            }
        }
        for (field, value) in &self.replace {
            let rendered = render(value, event);
            event.insert(field, Value::String(rendered));
        }
        for (field, conversion) in &self.convert {
            if let Some(value) = event.get_mut(field) {
                convert(value, *conversion);
            }
        }
        for field in &self.uppercase {
            if let Some(value) = event.get_mut(field) {
                change_case(value, str::to_uppercase);
            }
        }
        for field in &self.lowercase {
            if let Some(value) = event.get_mut(field) {
                change_case(value, str::to_lowercase);
            }
        }
        for (name, value) in &self.add_field {
            let Some(field) = name.resolve(event) else {
                continue;
            };
            let value = Value::String(render(value, event));
            match event.get_mut(&field) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let previous = std::mem::take(existing);
                    *existing = Value::Array(vec![previous, value]);
                }
                None => event.insert(&field, value),
            }
        }
        for name in &self.remove_field {
            if let Some(field) = name.resolve(event) {
                event.remove(&field);
            }
        }
        for tag in &self.add_tag {
            let tag = render(tag, event);
            event.add_tag(&tag);
        }
        for tag in &self.remove_tag {
            let tag = render(tag, event);
            event.remove_tag(&tag);
        }
        Outcome::Keep
    }

    fn build(config: &MutateConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

fn render(template: &Template, event: &Event) -> String {
    if template.is_static() {
        template.source().to_string()
    } else {
        template.render(event).0
    }
}

fn change_case(value: &mut Value, change: fn(&str) -> String) {
    match value {
        Value::String(text) => *text = change(text),
        Value::Array(items) => items.iter_mut().for_each(|item| change_case(item, change)),
        _ => {}
    }
}

fn convert(value: &mut Value, conversion: Conversion) {
    if let Value::Array(items) = value {
        items.iter_mut().for_each(|item| convert(item, conversion));
        return;
    }
    let converted = match conversion {
        Conversion::Integer => to_integer(value).map(Value::from),
        Conversion::Float => crate::condition::numeric(value)
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
        MutateFilter::new(&config).unwrap().apply(&mut event);
        event.to_value()
    }

    #[test]
    fn add_field_renders_key_and_value_and_appends_to_existing() {
        assert_eq!(
            run(
                json!({"add_field": {"seen_%{host}": "by %{[agent][name]}", "severity": "high"}}),
                json!({"host": "h1", "agent": {"name": "fb"}, "severity": "low"})
            ),
            json!({"host": "h1", "agent": {"name": "fb"}, "severity": ["low", "high"], "seen_h1": "by fb"})
        );
    }

    #[test]
    fn rename_replace_and_remove() {
        assert_eq!(
            run(
                json!({"rename": {"a": "b.c"}, "replace": {"d": "now %{b.c}"}, "remove_field": ["e", "[f][%{k}]"]}),
                json!({"a": 1, "d": "old", "e": 2, "k": "x", "f": {"x": 1, "y": 2}})
            ),
            json!({"d": "now 1", "k": "x", "f": {"y": 2}, "b": {"c": 1}})
        );
    }

    #[test]
    fn convert_each_type() {
        assert_eq!(
            run(
                json!({"convert": {"i": "integer", "f": "float", "s": "string", "b": "boolean",
                                   "list": "integer", "bad": "integer", "no": "boolean"}}),
                json!({"i": "3.7", "f": "2.5", "s": 12, "b": "Yes", "list": ["1", 2.9], "bad": "x", "no": "n"})
            ),
            json!({"i": 3, "f": 2.5, "s": "12", "b": true, "list": [1, 2], "bad": "x", "no": false})
        );
    }

    #[test]
    fn case_changes_run_uppercase_then_lowercase() {
        assert_eq!(
            run(
                json!({"uppercase": ["a", "both"], "lowercase": ["b", "both"]}),
                json!({"a": "x", "b": ["Y", "Z"], "both": "Mixed"})
            ),
            json!({"a": "X", "b": ["y", "z"], "both": "mixed"})
        );
    }

    #[test]
    fn tags_are_added_and_removed_after_fields() {
        assert_eq!(
            run(
                json!({"add_tag": ["t_%{level}", "keep"], "remove_tag": ["old"]}),
                json!({"level": "warn", "tags": ["old"]})
            ),
            json!({"level": "warn", "tags": ["t_warn", "keep"]})
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for config in [
            json!({"convert": {"a": "decimal"}}),
            json!({"rename": {"a": 1}}),
            json!({"add_field": {"a..b": "x"}}),
        ] {
            let config: MutateConfig = serde_json::from_value(config).unwrap();
            assert!(MutateFilter::new(&config).is_err());
        }
    }
}
