//! Logstash-style string templates: `mqtt-logs-%{+YYYY.MM.dd}`, `MQTT Alert: %{message}`.
//!
//! Templates are compiled once at load. Field references accept every notation a
//! [`FieldPath`] does; `%{+PATTERN}` formats the event's `@timestamp` in UTC with a Joda-style
//! pattern (Logstash's syntax, so index names carry over unchanged). As in Logstash, a
//! reference that does not resolve stays in the output literally; [`Template::render`] also
//! reports that, so an output can refuse to write to an index named `mqtt-logs-%{+YYYY}`.
//!
//! ## Date parts rendered once per day, not once per event
//! Parsing `@timestamp` and formatting it cost ~2,300 instructions per event in the
//! Elasticsearch encoder (a sixth of its total), for a result that changes once a day in a
//! daily index name (~800 with the cache, most of it finding `@timestamp` in the event). A [`CachingTemplate`] (what an output that renders one template for every event
//! holds) keeps the last rendering of each date part, keyed on the prefix of `@timestamp`'s
//! text that the part depends on: `YYYY-MM-DD` for `%{+YYYY.MM.dd}`, up to the hour for `HH`,
//! and so on (derived from the format items; the whole text for anything less obvious). Only a
//! canonical `YYYY-MM-DDTHH:MM:SS.mmmZ` (what sluice stores) is served from the cache: there
//! the text's digits are the UTC fields themselves, so equal prefixes give equal renderings.
//! A rendering is cached only after `@timestamp` parsed, and a hit also checks the time digits
//! against the parser's ranges (hour ≤ 23, minute ≤ 59, second ≤ 60, a leap second), so a
//! timestamp the parser refuses stays unresolved exactly as without the cache. Everything
//! else (another offset, other precision, no `@timestamp`) takes the uncached path.

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
        /// How many bytes of a canonical `@timestamp` text the rendering depends on.
        key_len: usize,
    },
}

/// Length of a canonical `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp.
const CANONICAL_LEN: usize = 24;

/// Why a template could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `%{{` in template `{0}`")]
    Unclosed(String),
    #[error("invalid field reference in template `{template}`: {reason}")]
    Field { template: String, reason: String },
    #[error("unsupported date pattern letter `{letter}` in `%{{+{pattern}}}` (supported: yyyy YYYY yy MMMM MMM MM M dd d D HH H hh h a mm ss SSS Z ZZ EEEE EEE xxxx ww, text in '...')")]
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
                let items = joda_to_chrono(pattern)?;
                parts.push(Part::Date {
                    key_len: key_len(&items),
                    items,
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
        self.render_parts(event, out, &mut [])
    }

    /// [`Template::render_into`], with `dates[i]` remembering the last rendering of part `i`
    /// when it is a date (no caching for parts without a slot).
    fn render_parts(&self, event: &Event, out: &mut String, dates: &mut [DateSlot]) -> bool {
        let mut resolved = true;
        for (index, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { path, raw } => match event.get(path) {
                    Some(value) if !value.is_null() => write_value(value, out),
                    _ => {
                        resolved = false;
                        out.push_str(raw);
                    }
                },
                Part::Date {
                    items,
                    raw,
                    key_len,
                } => {
                    let cached = match (dates.get_mut(index), event.timestamp_text()) {
                        (Some(slot), Some(text)) if cacheable(text) => {
                            slot.render(event, &text[..*key_len], items)
                        }
                        _ => None,
                    };
                    if let Some(rendered) = cached {
                        out.push_str(rendered);
                        continue;
                    }
                    match event.timestamp() {
                        Some(time) => {
                            let _ = write!(out, "{}", time.format_with_items(items.iter()));
                        }
                        None => {
                            resolved = false;
                            out.push_str(raw);
                        }
                    }
                }
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
                Part::Date { items, raw, .. } => match event.timestamp() {
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

/// A template with a cache of its date parts' last renderings (see the module docs): for an
/// output that renders the same template for every event it writes.
#[derive(Debug, Clone)]
pub struct CachingTemplate {
    template: Template,
    /// One slot per part of `template` (used by its date parts only).
    dates: Vec<DateSlot>,
}

impl CachingTemplate {
    pub fn new(template: Template) -> Self {
        let dates = vec![DateSlot::default(); template.parts.len()];
        Self { template, dates }
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// Renders exactly as [`Template::render_into`] does.
    pub fn render_into(&mut self, event: &Event, out: &mut String) -> bool {
        self.template.render_parts(event, out, &mut self.dates)
    }
}

/// The last rendering of one date part.
#[derive(Debug, Clone, Default)]
struct DateSlot {
    /// The timestamp prefix it was rendered for (empty until the first rendering).
    key: String,
    rendered: String,
}

impl DateSlot {
    /// The rendering for a canonical timestamp whose first `key_len` bytes are `key`: the
    /// cached one, or a new one (cached) when `@timestamp` parses; `None` when it does not.
    fn render(&mut self, event: &Event, key: &str, items: &[Item<'static>]) -> Option<&str> {
        if self.key != key {
            let time = event.timestamp()?;
            self.rendered.clear();
            let _ = write!(self.rendered, "{}", time.format_with_items(items.iter()));
            self.key.clear();
            self.key.push_str(key);
        }
        Some(&self.rendered)
    }
}

/// True for text shaped `YYYY-MM-DDTHH:MM:SS.mmmZ` whose time digits are in the ranges the
/// RFC 3339 parser accepts. The date is not checked here: it is part of every cache key, and
/// a key is only stored after its timestamp parsed.
fn cacheable(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != CANONICAL_LEN {
        return false;
    }
    let shape = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'.',
        23 => *c == b'Z',
        _ => c.is_ascii_digit(),
    });
    let two = |at: usize| (b[at] - b'0') * 10 + (b[at + 1] - b'0');
    shape && two(11) <= 23 && two(14) <= 59 && two(17) <= 60
}

/// How many bytes of a canonical timestamp the rendering of `items` depends on: at least the
/// date (so a cache key always holds a date that parsed), up to the whole text for items that
/// are not plainly calendar fields.
fn key_len(items: &[Item<'static>]) -> usize {
    use chrono::format::{Fixed, Numeric};
    const DATE: usize = 10;
    const HOUR: usize = 13;
    const MINUTE: usize = 16;
    const SECOND: usize = 19;
    let needed = |item: &Item<'static>| match item {
        Item::Literal(_) | Item::OwnedLiteral(_) | Item::Space(_) | Item::OwnedSpace(_) => 0,
        Item::Numeric(numeric, _) => match numeric {
            Numeric::Year
            | Numeric::YearDiv100
            | Numeric::YearMod100
            | Numeric::IsoYear
            | Numeric::IsoYearDiv100
            | Numeric::IsoYearMod100
            | Numeric::Quarter
            | Numeric::Month
            | Numeric::Day
            | Numeric::WeekFromSun
            | Numeric::WeekFromMon
            | Numeric::IsoWeek
            | Numeric::NumDaysFromSun
            | Numeric::WeekdayFromMon
            | Numeric::Ordinal => DATE,
            Numeric::Hour | Numeric::Hour12 => HOUR,
            Numeric::Minute => MINUTE,
            Numeric::Second => SECOND,
            _ => CANONICAL_LEN,
        },
        Item::Fixed(
            Fixed::ShortMonthName
            | Fixed::LongMonthName
            | Fixed::ShortWeekdayName
            | Fixed::LongWeekdayName,
        ) => DATE,
        Item::Fixed(Fixed::LowerAmPm | Fixed::UpperAmPm) => HOUR,
        _ => CANONICAL_LEN,
    };
    items.iter().map(needed).fold(DATE, usize::max)
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

/// Translates a Joda-Time pattern (what Logstash users write) to chrono format items: for
/// `%{+...}` here and for parsing in the date filter.
pub fn joda_to_chrono(pattern: &str) -> Result<Vec<Item<'static>>, TemplateError> {
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
            ('a', _) => "%p",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('D', _) => "%j",
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
    use proptest::prelude::*;
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

    const DATE_TEMPLATES: [&str; 8] = [
        "mqtt-logs-%{+YYYY.MM.dd}",
        "%{+yyyy-MM-dd'T'HH}h",
        "%{+HH:mm}",
        "%{+mm:ss.SSS}",
        "%{+EEE MMM d, xxxx-'W'ww}",
        "%{+YYYY.MM.dd ZZ}",
        "%{[device]}-%{+yy.M.d}-%{+HH}",
        "static",
    ];

    /// Renders `timestamps` in order through one cache per template and checks every result
    /// against the uncached rendering.
    fn assert_cache_is_transparent(timestamps: &[Value]) {
        for source in DATE_TEMPLATES {
            let template = Template::parse(source).unwrap();
            let mut caching = CachingTemplate::new(template.clone());
            for timestamp in timestamps {
                let event = Event::from_value(json!({"@timestamp": timestamp, "device": "d1"}));
                let mut cached = String::new();
                let resolved = caching.render_into(&event, &mut cached);
                assert_eq!(
                    (cached, resolved),
                    template.render(&event),
                    "{source} for {timestamp}"
                );
            }
        }
    }

    #[test]
    fn cached_date_parts_render_exactly_as_uncached_ones() {
        assert_cache_is_transparent(&[
            json!("2024-05-01T12:00:00.000Z"),
            json!("2024-05-01T12:00:00.001Z"),
            json!("2024-05-01T13:59:59.999Z"),
            // Refused by the parser although the date was cached: stays unresolved.
            json!("2024-05-01T24:00:00.000Z"),
            json!("2024-05-01T12:60:00.000Z"),
            json!("2024-05-01T12:00:61.000Z"),
            // A leap second is accepted.
            json!("2024-05-01T23:59:60.500Z"),
            json!("2024-05-02T00:00:00.000Z"),
            // Not canonical: other offsets, precision, separators.
            json!("2024-05-02T08:30:00.000+09:00"),
            json!("2024-05-02T00:00:00Z"),
            json!("2024-05-02T00:00:00.123456Z"),
            json!("2024-05-02t00:00:00.000Z"),
            json!("2024-05-02 00:00:00.000Z"),
            // Invalid dates, never cached.
            json!("2024-02-30T00:00:00.000Z"),
            json!("2024-13-01T00:00:00.000Z"),
            json!("2024-05-0xT00:00:00.000Z"),
            // Not a string, absent.
            json!(1714564800),
            Value::Null,
            json!("2024-05-02T00:00:00.000Z"),
        ]);
        // And without @timestamp at all.
        let template = Template::parse("a-%{+YYYY}").unwrap();
        let mut caching = CachingTemplate::new(template);
        let mut out = String::new();
        assert!(!caching.render_into(&Event::new(), &mut out));
        assert_eq!(out, "a-%{+YYYY}");
    }

    #[test]
    fn cache_keys_are_the_prefix_the_pattern_depends_on() {
        let key = |pattern: &str| key_len(&joda_to_chrono(pattern).unwrap());
        assert_eq!(key("YYYY.MM.dd"), 10);
        assert_eq!(key("YYYY"), 10);
        assert_eq!(key("EEE ww"), 10);
        assert_eq!(key("YYYY.MM.dd-HH"), 13);
        assert_eq!(key("HH:mm"), 16);
        assert_eq!(key("ss"), 19);
        assert_eq!(key("SSS"), CANONICAL_LEN);
        assert_eq!(key("ZZ"), CANONICAL_LEN);

        let mut caching = CachingTemplate::new(Template::parse("x-%{+YYYY.MM.dd}").unwrap());
        let mut out = String::new();
        let event = Event::from_value(json!({"@timestamp": "2024-05-01T12:34:56.789Z"}));
        assert!(caching.render_into(&event, &mut out));
        assert_eq!(out, "x-2024.05.01");
        assert_eq!(caching.dates[1].key, "2024-05-01");
        assert_eq!(caching.dates[1].rendered, "2024.05.01");
    }

    fn timestamp_text() -> impl Strategy<Value = String> {
        prop_oneof![
            // Canonical shape, a few dates (so the cache hits), any time digits.
            (
                prop::sample::select(vec![
                    "2024-05-01",
                    "2024-02-29",
                    "2023-02-29",
                    "1999-12-31",
                    "2024-00-10",
                ]),
                0u8..100,
                0u8..100,
                0u8..100,
                0u16..1000,
            )
                .prop_map(|(date, h, m, s, ms)| {
                    format!("{date}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
                }),
            // Anything else.
            ".{0,30}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9]\
             (\\.[0-9]{1,6})?(Z|[+-]0[0-9]:[03]0)",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn the_cache_never_changes_a_rendering(texts in prop::collection::vec(timestamp_text(), 1..40)) {
            let timestamps: Vec<Value> = texts.into_iter().map(Value::String).collect();
            assert_cache_is_transparent(&timestamps);
        }
    }

    #[test]
    fn static_templates_are_recognised() {
        assert!(Template::parse("plain").unwrap().is_static());
        assert!(!Template::parse("a-%{b}").unwrap().is_static());
    }
}
