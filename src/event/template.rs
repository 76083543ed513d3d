//! Logstash-style string templates: `mqtt-logs-%{+YYYY.MM.dd}`, `MQTT Alert: %{message}`.
//!
//! Templates are compiled once at load. Field references accept every notation a
//! [`FieldPath`] does; `%{+PATTERN}` formats the event's `@timestamp` in UTC with a Joda-style
//! pattern (Logstash's syntax, so index names carry over unchanged). As in Logstash, a
//! reference that does not resolve stays in the output literally; [`Template::render`] also
//! reports that, so an output can refuse to write to an index named `mqtt-logs-%{+YYYY}`.

use super::{Event, FieldPath};
use chrono::format::{Item, StrftimeItems};
use serde_json::Value;
use std::fmt::Write as _;

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Field {
        path: FieldPath,
        raw: String,
    },
    Date {
        items: Vec<Item<'static>>,
        raw: String,
    },
}

/// Why a template could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `%{{` in template `{0}`")]
    Unclosed(String),
    #[error("invalid field reference in template `{template}`: {reason}")]
    Field { template: String, reason: String },
    #[error("unsupported date pattern letter `{letter}` in `%{{+{pattern}}}` (supported: yyyy YYYY yy MM M dd d HH H mm ss SSS Z ZZ EEE MMM xxxx ww, text in '...')")]
    DatePattern { pattern: String, letter: char },
}

impl Template {
    /// Compiles `source`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(start) = rest.find("%{") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(source.to_string()))?;
            let reference = &after[..end];
            let raw = format!("%{{{reference}}}");
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            if let Some(pattern) = reference.strip_prefix('+') {
                parts.push(Part::Date {
                    items: joda_to_chrono(pattern)?,
                    raw,
                });
            } else {
                let path = FieldPath::parse(reference).map_err(|e| TemplateError::Field {
                    template: source.to_string(),
                    reason: e.to_string(),
                })?;
                parts.push(Part::Field { path, raw });
            }
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_string(),
            parts,
        })
    }

    /// A template without references: renders to `text` as is.
    pub fn literal(text: &str) -> Self {
        Self {
            source: text.to_string(),
            parts: vec![Part::Literal(text.to_string())],
        }
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has no references (renders to itself).
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Renders into `out` (appending); returns false when a reference did not resolve (it is
    /// then kept literally, as Logstash does).
    pub fn render_into(&self, event: &Event, out: &mut String) -> bool {
        let mut resolved = true;
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { path, raw } => match event.get(path) {
                    Some(value) if !value.is_null() => write_value(value, out),
                    _ => {
                        resolved = false;
                        out.push_str(raw);
                    }
                },
                Part::Date { items, raw } => match event.timestamp() {
                    Some(time) => {
                        let _ = write!(out, "{}", time.format_with_items(items.iter()));
                    }
                    None => {
                        resolved = false;
                        out.push_str(raw);
                    }
                },
            }
        }
        resolved
    }

    /// Renders into `out` like [`Template::render_into`], but passes every substituted value
    /// (field or date) through `escape`, and writes `missing` for a reference that does not
    /// resolve (`None` keeps it literally). For destinations with their own syntax: Slack
    /// markup must not be injected by event content, URLs need percent-encoded values.
    pub fn render_escaped(
        &self,
        event: &Event,
        out: &mut String,
        missing: Option<&str>,
        escape: impl Fn(&str, &mut String),
    ) -> bool {
        let mut resolved = true;
        let mut value = String::new();
        for part in &self.parts {
            value.clear();
            let raw = match part {
                Part::Literal(text) => {
                    out.push_str(text);
                    continue;
                }
                Part::Field { path, raw } => match event.get(path) {
                    Some(found) if !found.is_null() => {
                        write_value(found, &mut value);
                        None
                    }
                    _ => Some(raw),
                },
                Part::Date { items, raw } => match event.timestamp() {
                    Some(time) => {
                        let _ = write!(value, "{}", time.format_with_items(items.iter()));
                        None
                    }
                    None => Some(raw),
                },
            };
            match raw {
                None => escape(&value, out),
                Some(raw) => {
                    resolved = false;
                    out.push_str(missing.unwrap_or(raw));
                }
            }
        }
        resolved
    }

    /// Renders to a new string; the flag says whether every reference resolved.
    pub fn render(&self, event: &Event) -> (String, bool) {
        let mut out = String::with_capacity(self.source.len() + 16);
        let resolved = self.render_into(event, &mut out);
        (out, resolved)
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Scalars render as themselves, arrays of scalars comma-joined (Logstash), objects as JSON.
fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Bool(flag) => {
            let _ = write!(out, "{flag}");
        }
        Value::Null => {}
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Translates a Joda-Time pattern (what Logstash users write) to chrono format items.
fn joda_to_chrono(pattern: &str) -> Result<Vec<Item<'static>>, TemplateError> {
    let mut strftime = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' is a literal quote.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                push_literal(&mut strftime, chars[j]);
                j += 1;
            }
            if j == i + 1 {
                strftime.push('\'');
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut strftime, c);
            i += 1;
            continue;
        }
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let spec = match (c, run) {
            ('y' | 'Y', 2) => "%y",
            ('y' | 'Y', _) => "%Y",
            ('x', _) => "%G",
            ('w', 1) => "%-V",
            ('w', _) => "%V",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1) => "%1f",
            ('S', 2) => "%2f",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            _ => {
                return Err(TemplateError::DatePattern {
                    pattern: pattern.to_string(),
                    letter: c,
                })
            }
        };
        strftime.push_str(spec);
        i += run;
    }
    let items: Vec<Item<'static>> = StrftimeItems::new(&strftime)
        .map(|item| match item {
            Item::Literal(s) => Item::OwnedLiteral(s.into()),
            Item::Space(s) => Item::OwnedSpace(s.into()),
            other => other.to_owned(),
        })
        .collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(TemplateError::DatePattern {
            pattern: pattern.to_string(),
            letter: '%',
        });
    }
    Ok(items)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, event: Value) -> (String, bool) {
        Template::parse(template)
            .unwrap()
            .render(&Event::from_value(event))
    }

    #[test]
    fn daily_index_uses_the_event_time_in_utc() {
        let event = json!({"@timestamp": "2024-05-01T23:30:00.000Z"});
        assert_eq!(
            render("mqtt-logs-%{+YYYY.MM.dd}", event),
            ("mqtt-logs-2024.05.01".to_string(), true)
        );
    }

    #[test]
    fn field_references_in_every_notation() {
        let event = json!({"message": "boom", "details": {"topic": "a/b"}, "n": 3});
        assert_eq!(
            render(
                "%{message} %{[details][topic]} %{details.topic} %{n}",
                event
            )
            .0,
            "boom a/b a/b 3"
        );
    }

    #[test]
    fn unresolved_references_stay_literal() {
        assert_eq!(
            render("MQTT Alert: %{message} %{+YYYY}", json!({})),
            ("MQTT Alert: %{message} %{+YYYY}".to_string(), false)
        );
    }

    #[test]
    fn arrays_join_with_commas() {
        assert_eq!(render("%{tags}", json!({"tags": ["a", "b"]})).0, "a,b");
    }

    #[test]
    fn joda_patterns_with_quotes_and_time() {
        let event = json!({"@timestamp": "2024-01-02T03:04:05.678Z"});
        assert_eq!(
            render("%{+yyyy-MM-dd'T'HH:mm:ss.SSS}", event).0,
            "2024-01-02T03:04:05.678"
        );
    }

    #[test]
    fn bad_templates_are_errors() {
        assert!(matches!(
            Template::parse("x-%{message"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("%{+YYYY.QQ}"),
            Err(TemplateError::DatePattern { letter: 'Q', .. })
        ));
        assert!(Template::parse("%{+YYYY}").unwrap().render(&Event::new()).0 == "%{+YYYY}");
    }

    #[test]
    fn escaped_rendering_escapes_values_only_and_replaces_missing_references() {
        let template = Template::parse("<%{a}> %{b} %{+YYYY}").unwrap();
        let event = Event::from_value(json!({"a": "x&y"}));
        let mut out = String::new();
        let resolved = template.render_escaped(&event, &mut out, Some("-"), |v, out| {
            out.push_str(&v.replace('&', "&amp;"))
        });
        assert_eq!((out.as_str(), resolved), ("<x&amp;y> - -", false));
        let mut literal = String::new();
        template.render_escaped(&event, &mut literal, None, |v, out| out.push_str(v));
        assert_eq!(literal, "<x&y> %{b} %{+YYYY}");
    }

    #[test]
    fn static_templates_are_recognised() {
        assert!(Template::parse("plain").unwrap().is_static());
        assert!(!Template::parse("a-%{b}").unwrap().is_static());
    }
}
