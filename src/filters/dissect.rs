//! `type = "dissect"`: split text on literal delimiters into fields, as Logstash's dissect
//! filter does. No regular expressions: a pattern is the text's delimiters with `%{field}`
//! between them, so it is much cheaper than grok for lines with a fixed shape.
//!
//! Options (Logstash's names):
//! * `mapping = { message = "%{ts} %{+ts} %{level} %{msg}" }`: a pattern per field.
//! * `convert_datatype = { field = "int" | "float" }`: after a successful dissection.
//! * `append_separator` (`" "`): joins appended values.
//! * `tag_on_failure` (`["_dissectfailure"]`): added when a delimiter is not found or the
//!   source field is missing; the common options then do not run.
//!
//! Field modifiers, as Logstash documents them:
//! * `%{}` and `%{?name}`: match and skip.
//! * `%{+name}`: append to `name` (with `append_separator`); `%{+name/2}` sets the order.
//! * `%{?key}=%{&key}`: a field named by the value `?key` captured.
//! * `%{name->}`: the delimiter after the field may repeat (padding is skipped).
//! * `%{[nested][field]}`: field references as elsewhere.
//!
//! The last field takes the rest of the text; text before the first field must match.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::{Map, Value};

fn default_failure_tags() -> Vec<String> {
    vec!["_dissectfailure".to_string()]
}

fn default_separator() -> String {
    " ".to_string()
}

/// Settings of the dissect filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DissectConfig {
    #[serde(default)]
    pub mapping: Map<String, Value>,
    #[serde(default)]
    pub convert_datatype: Map<String, Value>,
    #[serde(default = "default_separator")]
    pub append_separator: String,
    #[serde(default = "default_failure_tags")]
    pub tag_on_failure: Vec<String>,
}

/// What a `%{...}` does with the text it matches.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    Skip,
    Set(FieldPath),
    /// Append, with the order given by `/n` (else the order of appearance).
    Append {
        name: String,
        order: usize,
    },
    /// `%{?key}`: remembered under its name for a `%{&key}`.
    Key(String),
    /// `%{&key}`: a field named by what `%{?key}` matched.
    Indirect(String),
}

#[derive(Debug)]
struct Field {
    action: Action,
    /// The literal text after this field; empty for the last field (takes the rest).
    delimiter: String,
    /// `->`: the delimiter may repeat.
    padded: bool,
}

/// One compiled pattern.
#[derive(Debug)]
struct Pattern {
    source: FieldPath,
    prefix: String,
    fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Integer,
    Float,
}

/// The compiled dissect filter.
#[derive(Debug)]
pub struct DissectFilter {
    patterns: Vec<Pattern>,
    convert: Vec<(FieldPath, Kind)>,
    separator: String,
    tag_on_failure: Vec<String>,
}

fn parse_field(spec: &str, appearance: usize) -> Result<(Action, bool), String> {
    let (spec, padded) = match spec.strip_suffix("->") {
        Some(rest) => (rest, true),
        None => (spec, false),
    };
    let path = |name: &str| FieldPath::parse(name).map_err(|e| e.to_string());
    let action = if spec.is_empty() {
        Action::Skip
    } else if let Some(name) = spec.strip_prefix('?') {
        if name.is_empty() {
            Action::Skip
        } else {
            Action::Key(name.to_string())
        }
    } else if let Some(name) = spec.strip_prefix('&') {
        Action::Indirect(name.to_string())
    } else if let Some(name) = spec.strip_prefix('+') {
        let (name, order) = match name.rsplit_once('/') {
            Some((name, order)) => (
                name,
                order
                    .parse::<usize>()
                    .map_err(|_| format!("`%{{+{name}/{order}}}`: the order must be a number"))?,
            ),
            None => (name, appearance),
        };
        path(name)?;
        Action::Append {
            name: name.to_string(),
            order,
        }
    } else {
        Action::Set(path(spec)?)
    };
    Ok((action, padded))
}

fn compile(source: &str, text: &str) -> Result<Pattern, String> {
    let mut rest = text;
    let prefix_end = rest
        .find("%{")
        .ok_or_else(|| format!("`mapping.{source}`: `{text}` has no `%{{field}}`"))?;
    let prefix = rest[..prefix_end].to_string();
    rest = &rest[prefix_end..];
    let mut fields = Vec::new();
    while let Some(after) = rest.strip_prefix("%{") {
        let close = after
            .find('}')
            .ok_or_else(|| format!("`mapping.{source}`: unclosed `%{{` in `{text}`"))?;
        let (action, padded) = parse_field(&after[..close], fields.len())
            .map_err(|e| format!("`mapping.{source}`: {e}"))?;
        let tail = &after[close + 1..];
        let next = tail.find("%{").unwrap_or(tail.len());
        let delimiter = tail[..next].to_string();
        if delimiter.is_empty() && next < tail.len() {
            return Err(format!(
                "`mapping.{source}`: two fields with no delimiter between them in `{text}`"
            ));
        }
        fields.push(Field {
            action,
            delimiter,
            padded,
        });
        rest = &tail[next..];
    }
    Ok(Pattern {
        source: FieldPath::parse(source).map_err(|e| format!("`mapping.{source}`: {e}"))?,
        prefix,
        fields,
    })
}

impl DissectFilter {
    pub fn new(config: &DissectConfig) -> Result<Self, String> {
        let patterns = config
            .mapping
            .iter()
            .map(|(source, text)| {
                let text = text
                    .as_str()
                    .ok_or_else(|| format!("`mapping.{source}` must be a string"))?;
                compile(source, text)
            })
            .collect::<Result<_, String>>()?;
        let convert = config
            .convert_datatype
            .iter()
            .map(|(field, kind)| {
                let kind = match kind.as_str() {
                    Some("int") => Kind::Integer,
                    Some("float") => Kind::Float,
                    _ => {
                        return Err(format!(
                            "`convert_datatype.{field}` must be \"int\" or \"float\""
                        ))
                    }
                };
                let path = FieldPath::parse(field)
                    .map_err(|e| format!("`convert_datatype.{field}`: {e}"))?;
                Ok((path, kind))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            patterns,
            convert,
            separator: config.append_separator.clone(),
            tag_on_failure: config.tag_on_failure.clone(),
        })
    }
}

/// Splits `text` by `pattern`: the text matched by each field, or `None` when a delimiter is
/// missing.
fn split<'t>(pattern: &Pattern, text: &'t str) -> Option<Vec<&'t str>> {
    let mut rest = text.strip_prefix(pattern.prefix.as_str())?;
    let mut values = Vec::with_capacity(pattern.fields.len());
    for field in &pattern.fields {
        if field.delimiter.is_empty() {
            values.push(rest);
            rest = "";
            continue;
        }
        let at = rest.find(field.delimiter.as_str())?;
        values.push(&rest[..at]);
        rest = &rest[at + field.delimiter.len()..];
        if field.padded {
            while let Some(more) = rest.strip_prefix(field.delimiter.as_str()) {
                rest = more;
            }
        }
    }
    Some(values)
}

impl DissectFilter {
    fn dissect(&self, pattern: &Pattern, text: &str, event: &mut Event) -> bool {
        let Some(values) = split(pattern, text) else {
            return false;
        };
        let mut keys: Vec<(&str, &str)> = Vec::new();
        let mut appends: Vec<(&str, usize, &str)> = Vec::new();
        for (field, value) in pattern.fields.iter().zip(&values) {
            match &field.action {
                Action::Skip | Action::Indirect(_) => {}
                Action::Set(path) => event.insert(path, Value::String(value.to_string())),
                Action::Append { name, order } => appends.push((name, *order, value)),
                Action::Key(name) => keys.push((name, value)),
            }
        }
        for (field, value) in pattern.fields.iter().zip(&values) {
            if let Action::Indirect(key) = &field.action {
                let name = keys.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
                if let Some(path) = name.and_then(|name| FieldPath::parse(name).ok()) {
                    event.insert(&path, Value::String(value.to_string()));
                }
            }
        }
        appends.sort_by_key(|(_, order, _)| *order);
        let mut names: Vec<&str> = appends.iter().map(|(name, _, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let Ok(path) = FieldPath::parse(name) else {
                continue;
            };
            let parts: Vec<&str> = appends
                .iter()
                .filter(|(n, _, _)| *n == name)
                .map(|(_, _, v)| *v)
                .collect();
            let joined = match event.get(&path) {
                Some(Value::String(existing)) => vec![existing.as_str()],
                _ => Vec::new(),
            }
            .into_iter()
            .chain(parts)
            .collect::<Vec<_>>()
            .join(&self.separator);
            event.insert(&path, Value::String(joined));
        }
        true
    }
}

/// Converts a dissected string; text that is not a number stays as it is.
fn convert(value: &mut Value, kind: Kind) {
    let Value::String(text) = value else {
        return;
    };
    let converted = match kind {
        Kind::Integer => text.trim().parse::<i64>().ok().map(Value::from),
        Kind::Float => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
    };
    if let Some(converted) = converted {
        *value = converted;
    }
}

impl FilterType for DissectFilter {
    type Config = DissectConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let mut failed = false;
        for pattern in &self.patterns {
            let text = match event.get(&pattern.source) {
                Some(Value::String(text)) => text.clone(),
                _ => {
                    failed = true;
                    continue;
                }
            };
            failed |= !self.dissect(pattern, &text, event);
        }
        if failed {
            for tag in &self.tag_on_failure {
                event.add_tag(tag);
            }
            return Outcome::Failed;
        }
        for (field, kind) in &self.convert {
            if let Some(value) = event.get_mut(field) {
                convert(value, *kind);
            }
        }
        Outcome::Keep
    }

    fn build(config: &DissectConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> (Value, Outcome) {
        let config: DissectConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        let outcome = DissectFilter::new(&config).unwrap().apply(&mut event);
        (event.to_value(), outcome)
    }

    #[test]
    fn logstash_documented_example_with_append_and_padding() {
        // From Logstash's dissect documentation.
        let line =
            "Apr 26 12:20:02 localhost systemd[1]: Starting system activity accounting tool...";
        let (event, outcome) = run(
            json!({"mapping": {"message": "%{ts} %{+ts} %{+ts} %{src} %{prog}[%{pid}]: %{msg}"}}),
            json!({"message": line}),
        );
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event,
            json!({"message": line, "ts": "Apr 26 12:20:02", "src": "localhost",
                   "prog": "systemd", "pid": "1", "msg": "Starting system activity accounting tool..."})
        );
    }

    #[test]
    fn right_padding_skips_repeated_delimiters() {
        let (event, _) = run(
            json!({"mapping": {"message": "%{a->} %{b}"}}),
            json!({"message": "x     y z"}),
        );
        assert_eq!(event["a"], json!("x"));
        assert_eq!(event["b"], json!("y z"));
        let (event, _) = run(
            json!({"mapping": {"message": "%{a} %{b}"}}),
            json!({"message": "x  y"}),
        );
        assert_eq!(event["b"], json!(" y"));
    }

    #[test]
    fn skip_ordered_append_and_indirect_fields() {
        let (event, _) = run(
            json!({"mapping": {"message": "[%{} %{?ignored}] %{+name/2} %{+name/1} %{?k}=%{&k}"},
                   "append_separator": "-"}),
            json!({"message": "[a b] second first user=alice"}),
        );
        assert_eq!(
            event,
            json!({"message": "[a b] second first user=alice", "name": "first-second", "user": "alice"})
        );
    }

    #[test]
    fn nested_fields_and_datatype_conversion() {
        let (event, _) = run(
            json!({"mapping": {"message": "%{[http][status]} %{[http][bytes]} %{took}"},
                   "convert_datatype": {"[http][status]": "int", "took": "float", "[http][bytes]": "int"}}),
            json!({"message": "200 x 0.5"}),
        );
        assert_eq!(event["http"], json!({"status": 200, "bytes": "x"}));
        assert_eq!(event["took"], json!(0.5));
    }

    #[test]
    fn missing_delimiter_or_field_fails_with_a_tag() {
        let (event, outcome) = run(
            json!({"mapping": {"message": "%{a}|%{b}"}}),
            json!({"message": "no pipe"}),
        );
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(
            event,
            json!({"message": "no pipe", "tags": ["_dissectfailure"]})
        );
        let (_, outcome) = run(json!({"mapping": {"message": "%{a}"}}), json!({"other": 1}));
        assert_eq!(outcome, Outcome::Failed);
        let (event, _) = run(
            json!({"mapping": {"message": "<%{a}>"}}),
            json!({"message": "x>"}),
        );
        assert_eq!(event["tags"], json!(["_dissectfailure"]));
    }

    #[test]
    fn bad_mappings_are_rejected_at_load() {
        for config in [
            json!({"mapping": {"message": "no fields"}}),
            json!({"mapping": {"message": "%{a}%{b}"}}),
            json!({"mapping": {"message": "%{a"}}),
            json!({"mapping": {"message": "%{+a/x}"}}),
            json!({"mapping": {"message": "%{a}"}, "convert_datatype": {"a": "long"}}),
        ] {
            let parsed: DissectConfig = serde_json::from_value(config.clone()).unwrap();
            assert!(DissectFilter::new(&parsed).is_err(), "{config}");
        }
    }
}
