//! The options Logstash gives every filter: `add_field`, `remove_field`, `add_tag`,
//! `remove_tag` (and `id`, which the front end keeps on the component).
//!
//! Why here, once: in Logstash they belong to the filter base class, so every plugin has
//! them and a `.conf` file uses them on `grok`, `date`, `json`... alike. They run after the
//! filter, **only when it succeeded** (Logstash's `filter_matched`): a grok that matched
//! nothing, a date that parsed nothing, a json filter whose source is missing leave the event
//! without them ([`Outcome::Failed`](super::Outcome::Failed) and
//! [`Outcome::Skipped`](super::Outcome::Skipped)). Order and semantics are Logstash's:
//!
//! 1. `add_field = { "name%{x}" = "value %{y}" }` (a value may be an array of templates, or
//!    a number or boolean, kept as its text like Logstash):
//!    names and values are templates. **When the field already exists the value is appended
//!    and the field becomes an array**, exactly as Logstash does.
//! 2. `remove_field = ["template", ...]`, 3. `add_tag = [...]`, 4. `remove_tag = [...]`.
//!
//! A filter without them costs the chain one branch per event: the stage holds `None`.
//!
//! Inputs take Logstash's input options through the same code (`add_field`, `tags` as
//! `add_tag`, and `type` as `event_type`, set only on events that have no `type`, as
//! Logstash's input `decorate` does): the pipeline runs them on each event an input sends.

use crate::config::CommonOptions;
use crate::event::{Event, FieldPath, Template};
use serde_json::Value;

/// A field name that may be a template: compiled once when it is static.
#[derive(Debug, Clone)]
pub enum Name {
    Static(FieldPath),
    Dynamic(Template),
}

impl Name {
    pub fn compile(text: &str) -> Result<Self, String> {
        let template = Template::parse(text).map_err(|e| e.to_string())?;
        if template.is_static() {
            FieldPath::parse(text)
                .map(Self::Static)
                .map_err(|e| format!("`{text}`: {e}"))
        } else {
            Ok(Self::Dynamic(template))
        }
    }

    /// The path for this event; `None` when the rendered name is not a valid path.
    pub fn resolve(&self, event: &Event) -> Option<FieldPath> {
        match self {
            Self::Static(path) => Some(path.clone()),
            Self::Dynamic(template) => FieldPath::parse(&template.render(event).0).ok(),
        }
    }
}

/// Renders a template, without the per-event work when it has no references.
pub fn render(template: &Template, event: &Event) -> String {
    if template.is_static() {
        template.source().to_string()
    } else {
        template.render(event).0
    }
}

/// Compiles a template, the error as text.
pub fn template(text: &str) -> Result<Template, String> {
    Template::parse(text).map_err(|e| e.to_string())
}

/// The compiled common options of one filter.
#[derive(Debug)]
pub struct Common {
    /// Inputs' `type` (Logstash's input `type`): set on events without a `type` field.
    event_type: Option<(FieldPath, Value)>,
    add_field: Vec<(Name, Vec<Template>)>,
    remove_field: Vec<Name>,
    add_tag: Vec<Template>,
    remove_tag: Vec<Template>,
}

impl Common {
    /// Compiles the options; `None` when there are none (the chain then skips them).
    pub fn new(options: &CommonOptions) -> Result<Option<Box<Self>>, String> {
        if options.is_empty() {
            return Ok(None);
        }
        let add_field = options
            .add_field
            .iter()
            .map(|(name, value)| {
                let values = match value {
                    Value::String(text) => vec![template(text)?],
                    // `latency => -1`: Logstash keeps the text, `"-1"`.
                    Value::Number(_) | Value::Bool(_) => {
                        vec![Template::literal(&value.to_string())]
                    }
                    Value::Array(items) => items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => template(text),
                            _ => Err(format!("`add_field.{name}` must hold strings")),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(format!(
                            "`add_field.{name}` must be a string or an array of strings"
                        ))
                    }
                };
                Ok((Name::compile(name)?, values))
            })
            .collect::<Result<_, String>>()?;
        let templates = |texts: &[String]| {
            texts
                .iter()
                .map(|text| template(text))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Some(Box::new(Self {
            event_type: match &options.event_type {
                Some(event_type) => Some((
                    FieldPath::parse("type").map_err(|e| e.to_string())?,
                    Value::String(event_type.clone()),
                )),
                None => None,
            },
            add_field,
            remove_field: options
                .remove_field
                .iter()
                .map(|name| Name::compile(name))
                .collect::<Result<_, _>>()?,
            add_tag: templates(&options.add_tag)?,
            remove_tag: templates(&options.remove_tag)?,
        })))
    }

    /// Applies the options to an event the filter succeeded on.
    pub fn apply(&self, event: &mut Event) {
        if let Some((field, event_type)) = &self.event_type {
            if event.get(field).is_none() {
                event.insert(field, event_type.clone());
            }
        }
        for (name, values) in &self.add_field {
            let Some(field) = name.resolve(event) else {
                continue;
            };
            for value in values {
                let value = Value::String(render(value, event));
                add_value(event, &field, value);
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
    }
}

/// Logstash's `add_field`: sets a missing field, appends to an existing one (an array then).
pub fn add_value(event: &mut Event, field: &FieldPath, value: Value) {
    match event.get_mut(field) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let previous = std::mem::take(existing);
            *existing = Value::Array(vec![previous, value]);
        }
        None => event.insert(field, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(options: Value, event: Value) -> Value {
        let options: CommonOptions = serde_json::from_value(options).unwrap();
        let mut event = Event::from_value(event);
        Common::new(&options).unwrap().unwrap().apply(&mut event);
        event.to_value()
    }

    #[test]
    fn input_options_set_type_only_where_missing_then_add_fields_and_tags() {
        let options = json!({"event_type": "syslog", "add_field": {"copy": "%{message}"},
                             "add_tag": ["in"]});
        assert_eq!(
            run(options.clone(), json!({"message": "m"})),
            json!({"message": "m", "type": "syslog", "copy": "m", "tags": ["in"]})
        );
        assert_eq!(
            run(
                options,
                json!({"message": "m", "type": "own", "tags": ["t"]})
            ),
            json!({"message": "m", "type": "own", "copy": "m", "tags": ["t", "in"]})
        );
    }

    #[test]
    fn no_options_compile_to_nothing() {
        assert!(Common::new(&CommonOptions::default()).unwrap().is_none());
    }

    #[test]
    fn add_field_renders_key_and_value_and_appends_to_existing() {
        assert_eq!(
            run(
                json!({"add_field": {"seen_%{host}": "by %{[agent][name]}", "severity": "high",
                                     "many": ["a", "b%{host}"], "latency": -1}}),
                json!({"host": "h1", "agent": {"name": "fb"}, "severity": "low"})
            ),
            json!({"host": "h1", "agent": {"name": "fb"}, "severity": ["low", "high"],
                   "seen_h1": "by fb", "many": ["a", "bh1"], "latency": "-1"})
        );
    }

    #[test]
    fn remove_field_then_tags_in_logstash_order() {
        assert_eq!(
            run(
                json!({"add_field": {"tmp": "x"}, "remove_field": ["tmp", "[f][%{k}]"],
                       "add_tag": ["t_%{level}", "keep", "old"], "remove_tag": ["old"]}),
                json!({"level": "warn", "k": "x", "f": {"x": 1, "y": 2}, "tags": ["old"]})
            ),
            json!({"level": "warn", "k": "x", "f": {"y": 2}, "tags": ["t_warn", "keep"]})
        );
    }

    #[test]
    fn invalid_options_are_rejected() {
        for options in [
            json!({"add_field": {"a..b": "x"}}),
            json!({"add_field": {"a": {"b": 1}}}),
            json!({"add_tag": ["%{unclosed"]}),
        ] {
            let options: CommonOptions = serde_json::from_value(options).unwrap();
            assert!(Common::new(&options).is_err());
        }
    }
}
