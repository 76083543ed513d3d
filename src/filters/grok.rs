//! `type = "grok"`: parse unstructured text (Apache, syslog, anything with a shape) into
//! fields with named patterns, as Logstash's grok filter does.
//!
//! Why: grok is what most Logstash pipelines beyond JSON logs are built on; its pattern set
//! (`COMBINEDAPACHELOG`, `SYSLOGLINE`, `IP`, `NUMBER`, `GREEDYDATA`, ...) is a language
//! users know by heart. The patterns are Logstash's own (logstash-patterns-core's legacy,
//! non-ECS set, as bundled by the `grok` crate) and run on PCRE2, which has the look-behind
//! and atomic groups they use (`BASE10NUM` alone needs both; Rust's `regex` cannot compile it).
//!
//! ## Engine: PCRE2 with its JIT
//! Measured on Apache combined lines with `%{COMBINEDAPACHELOG}` (the `grok` crate on each
//! engine, release builds, a loaded 2-core machine; `tests/bench/grok_engines.sh`, figures in
//! BENCHMARKS.md): PCRE2 2.3-3.1 µs a matching line and 7-10 µs a non-matching one;
//! Oniguruma (the engine family of Logstash's Joni) 3.9-8 µs and 35-90 µs; fancy-regex
//! 16-24 µs and ~300 µs; `regex` cannot compile the patterns. PCRE2 is 1.7-2.5x faster on
//! lines that match and 5-12x on lines that do not (where backtracking dominates), and builds
//! from its bundled C source with the C compiler alone (no system package). Syntax is the
//! same for the pattern set (Perl-compatible
//! `(?<name>...)`, `(?>...)`, `(?<!...)`).
//!
//! ## Options (Logstash's names and defaults)
//! * `match = { message = "%{COMBINEDAPACHELOG}" }` or `{ message = ["p1", "p2"] }`: patterns
//!   per field, tried in order. A field holding an array has each element matched.
//! * `break_on_match` (true): stop at the first pattern (and field) that matches.
//! * `overwrite = ["message"]`: captures that replace an existing field. Otherwise a capture
//!   into an existing string field makes it an array `[old, new]` (Logstash's rule), into an
//!   array appends, and into any other existing value is dropped.
//! * Captures: `%{PATTERN:field}`, `%{PATTERN:[nested][field]}`, typed `%{NUMBER:bytes:int}`
//!   / `:float` (Ruby's `to_i`/`to_f`: the leading number, 0 when there is none), and raw
//!   `(?<field>...)`. `named_captures_only` (true): with false, `%{PATTERN}` without a name
//!   is kept too, under the pattern's name.
//! * `keep_empty_captures` (false): keep captures that matched empty text (as `""`) or did not
//!   take part in the match (as `null`).
//! * `pattern_definitions = { NAME = "regex" }` and `patterns_dir = ["dir"]` (files matching
//!   `patterns_files_glob`, default `*`, with `NAME regex` lines; relative to the pipeline
//!   file's folder) add or override patterns.
//! * `target`: put captures under this field instead of at the root.
//! * `tag_on_failure` (`["_grokparsefailure"]`): added when no pattern matched, or the field is
//!   missing; the common options (`add_field`, ...) then do not run.
//! * `timeout_millis` (30000) and `tag_on_timeout` (`_groktimeout`) are accepted for
//!   compatibility, but no timer runs: runaway backtracking is cut by PCRE2's match limit
//!   instead (deterministic, no thread), and such a line counts as not matching
//!   (`tag_on_failure`).
//! * `ecs_compatibility` (`"disabled"`, `"v1"`, `"v8"`): which pattern set names the fields.
//!   `"disabled"` is the legacy set (`clientip`, `verb`, `request`, `response`, ...); `"v1"`
//!   and `"v8"` (the same patterns, as in Logstash) are logstash-patterns-core's ECS set
//!   (`[source][address]`, `[http][request][method]`, `[url][original]`,
//!   `[http][response][status_code]` as an integer, ...), bundled from `grok/ecs-v1/`
//!   (the base patterns, `httpd` and `linux-syslog`; other ECS files are not bundled, and
//!   their patterns are reported as unknown). Default here: `"disabled"`, so a native
//!   pipeline's field names do not change under it. A Logstash `.conf` is different: Logstash
//!   8 runs grok with `v8` unless told otherwise (`pipeline.ecs_compatibility`), so the
//!   `.conf` front end writes `ecs_compatibility = "v8"` for a grok without the option.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn yes() -> bool {
    true
}

fn default_failure_tags() -> Vec<String> {
    vec!["_grokparsefailure".to_string()]
}

fn default_timeout_tag() -> String {
    "_groktimeout".to_string()
}

fn default_timeout() -> u64 {
    30_000
}

fn default_files_glob() -> String {
    "*".to_string()
}

/// Settings of the grok filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokConfig {
    /// Field name to one pattern or an array of patterns.
    #[serde(rename = "match")]
    pub patterns: Map<String, Value>,
    #[serde(default = "yes")]
    pub break_on_match: bool,
    #[serde(default)]
    pub overwrite: Vec<String>,
    #[serde(default = "yes")]
    pub named_captures_only: bool,
    #[serde(default)]
    pub keep_empty_captures: bool,
    #[serde(default)]
    pub pattern_definitions: Map<String, Value>,
    #[serde(default)]
    pub patterns_dir: Vec<PathBuf>,
    #[serde(default = "default_files_glob")]
    pub patterns_files_glob: String,
    #[serde(default)]
    pub target: Option<FieldPath>,
    #[serde(default = "default_failure_tags")]
    pub tag_on_failure: Vec<String>,
    #[serde(default = "default_timeout_tag")]
    pub tag_on_timeout: String,
    #[serde(default = "default_timeout")]
    pub timeout_millis: u64,
    #[serde(default)]
    pub ecs_compatibility: EcsCompatibility,
}

/// Which of Logstash's pattern sets names the captured fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EcsCompatibility {
    /// The legacy names (`clientip`, `verb`, ...).
    #[default]
    Disabled,
    /// ECS names; `v8` uses the same patterns as `v1`, as Logstash does.
    V1,
    V8,
}

/// logstash-patterns-core's ECS pattern files, as `NAME regex` lines.
const ECS_PATTERNS: [&str; 3] = [
    include_str!("grok/ecs-v1/grok-patterns"),
    include_str!("grok/ecs-v1/httpd"),
    include_str!("grok/ecs-v1/linux-syslog"),
];

/// A capture's type suffix (`%{NUMBER:n:int}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Float,
}

/// One named capture of a compiled pattern and where its value goes.
#[derive(Debug)]
struct Capture {
    /// The name the `grok` crate gives the group (`field`, or `field[1]` for a repeat).
    group: String,
    field: FieldPath,
    kind: Kind,
    overwrite: bool,
}

#[derive(Debug)]
struct Compiled {
    pattern: grok::Pattern,
    captures: Vec<Capture>,
}

/// The patterns of one source field.
#[derive(Debug)]
struct FieldPatterns {
    source: FieldPath,
    patterns: Vec<Compiled>,
}

/// The compiled grok filter.
#[derive(Debug)]
pub struct GrokFilter {
    fields: Vec<FieldPatterns>,
    break_on_match: bool,
    keep_empty_captures: bool,
    tag_on_failure: Vec<String>,
}

/// Reads `NAME regex` lines (comments and blank lines skipped) from a patterns file.
fn read_pattern_file(path: &Path, grok: &mut grok::Grok) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read patterns file `{}`: {e}", path.display()))?;
    add_pattern_lines(&text, grok).map_err(|line| {
        format!(
            "patterns file `{}`: `{line}` is not `NAME pattern`",
            path.display()
        )
    })
}

/// Adds the `NAME regex` lines of a patterns file's text; the first line that is not one is
/// the error.
fn add_pattern_lines(text: &str, grok: &mut grok::Grok) -> Result<(), String> {
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(|c: char| c.is_whitespace()) {
            Some((name, pattern)) => grok.add_pattern(name, pattern.trim_start()),
            None => return Err(line.to_string()),
        }
    }
    Ok(())
}

/// The bundled pattern set `ecs` names.
fn bundled_patterns(ecs: EcsCompatibility) -> Result<grok::Grok, String> {
    match ecs {
        EcsCompatibility::Disabled => Ok(grok::Grok::with_default_patterns()),
        EcsCompatibility::V1 | EcsCompatibility::V8 => {
            let mut grok = grok::Grok::empty();
            for text in ECS_PATTERNS {
                add_pattern_lines(text, &mut grok).map_err(|line| {
                    format!("bundled ECS pattern `{line}` is not `NAME pattern`")
                })?;
            }
            Ok(grok)
        }
    }
}

fn load_patterns_dir(dir: &Path, files_glob: &str, grok: &mut grok::Grok) -> Result<(), String> {
    let pattern = dir.join(files_glob);
    let pattern = pattern.to_string_lossy();
    let mut files: Vec<PathBuf> = glob::glob(&pattern)
        .map_err(|e| format!("`patterns_files_glob` `{files_glob}`: {e}"))?
        .filter_map(Result::ok)
        .filter(|path| path.is_file())
        .collect();
    if files.is_empty() && !dir.is_dir() {
        return Err(format!(
            "`patterns_dir` `{}` is not a folder",
            dir.display()
        ));
    }
    files.sort();
    files
        .iter()
        .try_for_each(|file| read_pattern_file(file, grok))
}

/// The field a capture name goes to: `field[1]` (the crate's name for the second capture
/// into `field`) goes to `field`.
fn capture_field(group: &str, groups: &[&str]) -> String {
    if let Some(open) = group.rfind('[') {
        let (prefix, index) = (&group[..open], &group[open + 1..group.len() - 1]);
        if group.ends_with(']')
            && !index.is_empty()
            && index.bytes().all(|b| b.is_ascii_digit())
            && groups.contains(&prefix)
        {
            return prefix.to_string();
        }
    }
    group.to_string()
}

impl GrokFilter {
    pub fn new(config: &GrokConfig, companion: impl Fn(&Path) -> PathBuf) -> Result<Self, String> {
        if config.patterns.is_empty() {
            return Err("`match` needs at least one `field = \"pattern\"`".to_string());
        }
        let mut grok = bundled_patterns(config.ecs_compatibility)?;
        for dir in &config.patterns_dir {
            load_patterns_dir(&companion(dir), &config.patterns_files_glob, &mut grok)?;
        }
        for (name, pattern) in &config.pattern_definitions {
            let pattern = pattern
                .as_str()
                .ok_or_else(|| format!("`pattern_definitions.{name}` must be a string"))?;
            grok.add_pattern(name.as_str(), pattern);
        }
        let fields = config
            .patterns
            .iter()
            .map(|(field, patterns)| {
                let texts: Vec<&str> = match patterns {
                    Value::String(text) => vec![text.as_str()],
                    Value::Array(items) => items
                        .iter()
                        .map(|item| {
                            item.as_str()
                                .ok_or_else(|| format!("`match.{field}` must hold strings"))
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(format!(
                            "`match.{field}` must be a pattern or an array of patterns"
                        ))
                    }
                };
                let patterns = texts
                    .into_iter()
                    .map(|text| compile(&grok, text, config))
                    .collect::<Result<_, _>>()?;
                Ok(FieldPatterns {
                    source: FieldPath::parse(field).map_err(|e| format!("`match.{field}`: {e}"))?,
                    patterns,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            fields,
            break_on_match: config.break_on_match,
            keep_empty_captures: config.keep_empty_captures,
            tag_on_failure: config.tag_on_failure.clone(),
        })
    }

    /// Matches one text against the field's patterns, writing captures; true if one matched.
    fn match_text(&self, patterns: &[Compiled], text: &str, event: &mut Event) -> bool {
        let mut matched = false;
        for compiled in patterns {
            let Some(matches) = compiled.pattern.match_against(text) else {
                continue;
            };
            matched = true;
            for capture in &compiled.captures {
                let value = match matches.get(&capture.group) {
                    Some(text) if !text.is_empty() => typed(text, capture.kind),
                    Some(_) if self.keep_empty_captures => Value::String(String::new()),
                    None if self.keep_empty_captures => Value::Null,
                    _ => continue,
                };
                store(event, capture, value);
            }
            if self.break_on_match {
                break;
            }
        }
        matched
    }
}

fn compile(grok: &grok::Grok, text: &str, config: &GrokConfig) -> Result<Compiled, String> {
    let pattern = grok
        .compile(text, config.named_captures_only)
        .map_err(|e| format!("pattern `{text}`: {e}"))?;
    let groups: Vec<&str> = pattern.capture_names().collect();
    let captures = groups
        .iter()
        .map(|group| {
            let name = capture_field(group, &groups);
            let kind = match pattern.get_extract(group) {
                None | Some("") | Some("string") => Kind::Text,
                Some("int") => Kind::Integer,
                Some("float") => Kind::Float,
                Some(other) => {
                    return Err(format!(
                        "pattern `{text}`: capture `{name}` has type `{other}`, expected `int` or `float`"
                    ))
                }
            };
            let path = FieldPath::parse(&name)
                .map_err(|e| format!("pattern `{text}`: capture `{name}`: {e}"))?;
            let field = match &config.target {
                Some(target) => target.join(&path),
                None => path,
            };
            Ok(Capture {
                group: group.to_string(),
                field,
                kind,
                overwrite: config.overwrite.contains(&name),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Compiled { pattern, captures })
}

/// A captured text as its type: Ruby's `to_i`/`to_f` (the leading number, else 0).
fn typed(text: &str, kind: Kind) -> Value {
    match kind {
        Kind::Text => Value::String(text.to_string()),
        Kind::Integer => Value::from(ruby_to_i(text)),
        Kind::Float => {
            serde_json::Number::from_f64(ruby_to_f(text)).map_or(Value::Null, Value::Number)
        }
    }
}

/// The longest prefix of `text` (after leading whitespace) that `accept` takes, by bytes.
fn numeric_prefix(text: &str, float: bool) -> &str {
    let text = text.trim_start();
    let bytes = text.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if float && end < bytes.len() && bytes[end] == b'.' {
        let mut fraction = end + 1;
        while fraction < bytes.len() && bytes[fraction].is_ascii_digit() {
            fraction += 1;
        }
        if fraction > end + 1 {
            end = fraction;
        }
    }
    if end == digits_start {
        ""
    } else {
        &text[..end]
    }
}

fn ruby_to_i(text: &str) -> i64 {
    numeric_prefix(text, false).parse().unwrap_or(0)
}

fn ruby_to_f(text: &str) -> f64 {
    numeric_prefix(text, true).parse().unwrap_or(0.0)
}

/// Logstash's rule for a capture into a field: overwrite when asked or when missing, append
/// to an array, make a string an array, leave any other value alone.
fn store(event: &mut Event, capture: &Capture, value: Value) {
    if capture.overwrite {
        event.insert(&capture.field, value);
        return;
    }
    match event.get_mut(&capture.field) {
        None | Some(Value::Null) => event.insert(&capture.field, value),
        Some(Value::Array(items)) => items.push(value),
        Some(existing @ Value::String(_)) => {
            let previous = std::mem::take(existing);
            *existing = Value::Array(vec![previous, value]);
        }
        Some(_) => {}
    }
}

/// The text grok matches for a value: strings as they are, other scalars as written.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        other => Some(other.to_string()),
    }
}

impl FilterType for GrokFilter {
    type Config = GrokConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let mut matched = false;
        for field in &self.fields {
            // The text is copied out: captures are written into the event it is read from.
            let texts: Vec<String> = match event.get(&field.source) {
                Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
                Some(value) => as_text(value).into_iter().collect(),
                None => Vec::new(),
            };
            let mut field_matched = false;
            for text in &texts {
                field_matched |= self.match_text(&field.patterns, text, event);
            }
            matched |= field_matched;
            if field_matched && self.break_on_match {
                break;
            }
        }
        if matched {
            Outcome::Keep
        } else {
            for tag in &self.tag_on_failure {
                event.add_tag(tag);
            }
            Outcome::Failed
        }
    }

    fn build(config: &GrokConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config, |path| build.context.companion_file(path))
            .map_err(|message| build.invalid(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(config: Value) -> GrokFilter {
        let config: GrokConfig = serde_json::from_value(config).unwrap();
        GrokFilter::new(&config, Path::to_path_buf).unwrap()
    }

    fn run(config: Value, event: Value) -> (Value, Outcome) {
        let mut event = Event::from_value(event);
        let outcome = filter(config).apply(&mut event);
        (event.to_value(), outcome)
    }

    const APACHE: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36""#;

    #[test]
    fn combined_apache_log_gives_logstash_legacy_fields() {
        let (event, outcome) = run(
            json!({"match": {"message": "%{COMBINEDAPACHELOG}"}}),
            json!({"message": APACHE}),
        );
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event,
            json!({
                "message": APACHE,
                "clientip": "83.149.9.216", "ident": "-", "auth": "-",
                "timestamp": "17/May/2015:10:05:03 +0000", "verb": "GET",
                "request": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
                "httpversion": "1.1", "response": "200", "bytes": "203023",
                "referrer": "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\"",
                "agent": "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36\""
            })
        );
    }

    #[test]
    fn ecs_compatibility_names_the_fields_as_logstash_8() {
        for ecs in ["v1", "v8"] {
            let (event, outcome) = run(
                json!({"match": {"message": "%{COMBINEDAPACHELOG}"}, "ecs_compatibility": ecs}),
                json!({"message": APACHE}),
            );
            assert_eq!(outcome, Outcome::Keep);
            assert_eq!(
                event,
                json!({
                    "message": APACHE,
                    "source": {"address": "83.149.9.216"},
                    "timestamp": "17/May/2015:10:05:03 +0000",
                    "http": {
                        "request": {
                            "method": "GET",
                            "referrer": "http://semicomplete.com/presentations/logstash-monitorama-2013/"
                        },
                        "version": "1.1",
                        "response": {"status_code": 200, "body": {"bytes": 203023}}
                    },
                    "url": {"original": "/presentations/logstash-monitorama-2013/images/kibana-search.png"},
                    "user_agent": {"original": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36"}
                }),
                "{ecs}"
            );
        }
        let (event, _) = run(
            json!({"match": {"message": "%{HTTPD_ERRORLOG}"}, "overwrite": ["message"], "ecs_compatibility": "v8"}),
            json!({"message": "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied"}),
        );
        assert_eq!(event["source"]["address"], json!("127.0.0.1"));
        assert_eq!(event["log"]["level"], json!("error"));
        assert_eq!(event["message"], json!("client denied"));
        let line = "Mar 12 12:34:56 web-01 sshd[1234]: Accepted publickey for deploy";
        let (event, _) = run(
            json!({"match": {"message": "%{SYSLOGLINE}"}, "overwrite": ["message"], "ecs_compatibility": "v8"}),
            json!({"message": line}),
        );
        assert_eq!(
            event,
            json!({
                "message": "Accepted publickey for deploy",
                "timestamp": "Mar 12 12:34:56",
                "host": {"hostname": "web-01"},
                "process": {"name": "sshd", "pid": 1234}
            })
        );
    }

    #[test]
    fn syslog_line_without_overwrite_makes_message_an_array() {
        let line = "Mar 12 12:34:56 web-01 sshd[1234]: Accepted publickey for deploy";
        let (event, _) = run(
            json!({"match": {"message": "%{SYSLOGLINE}"}}),
            json!({"message": line}),
        );
        assert_eq!(event["logsource"], json!("web-01"));
        assert_eq!(event["program"], json!("sshd"));
        assert_eq!(event["pid"], json!("1234"));
        assert_eq!(event["timestamp"], json!("Mar 12 12:34:56"));
        assert_eq!(
            event["message"],
            json!([line, "Accepted publickey for deploy"])
        );
        let (event, _) = run(
            json!({"match": {"message": "%{SYSLOGLINE}"}, "overwrite": ["message"]}),
            json!({"message": line}),
        );
        assert_eq!(event["message"], json!("Accepted publickey for deploy"));
    }

    #[test]
    fn typed_and_nested_captures() {
        let (event, _) = run(
            json!({"match": {"message": "%{IP:[client][ip]} %{NUMBER:bytes:int} %{NUMBER:took:float} %{WORD:[a][b]}"}}),
            json!({"message": "10.0.0.1 1234 0.25 ok"}),
        );
        assert_eq!(event["client"], json!({"ip": "10.0.0.1"}));
        assert_eq!(event["bytes"], json!(1234));
        assert_eq!(event["took"], json!(0.25));
        assert_eq!(event["a"], json!({"b": "ok"}));
    }

    #[test]
    fn ruby_number_conversions_take_the_leading_number() {
        assert_eq!(ruby_to_i("12.9"), 12);
        assert_eq!(ruby_to_i("-7abc"), -7);
        assert_eq!(ruby_to_i("abc"), 0);
        assert_eq!(ruby_to_f("3.5e"), 3.5);
        assert_eq!(ruby_to_f("-"), 0.0);
    }

    #[test]
    fn failure_is_tagged_and_missing_field_fails() {
        let (event, outcome) = run(
            json!({"match": {"message": "%{IP:ip}"}}),
            json!({"message": "no address here"}),
        );
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(event["tags"], json!(["_grokparsefailure"]));
        let (event, outcome) = run(
            json!({"match": {"message": "%{IP:ip}"}, "tag_on_failure": ["bad", "worse"]}),
            json!({"other": 1}),
        );
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(event["tags"], json!(["bad", "worse"]));
    }

    #[test]
    fn break_on_match_stops_at_the_first_pattern() {
        let config = json!({"match": {"message": ["%{INT:first}", "%{WORD:second}"]}});
        let (event, _) = run(config, json!({"message": "42"}));
        assert_eq!(event, json!({"message": "42", "first": "42"}));
        let config =
            json!({"match": {"message": ["%{INT:n}", "%{NOTSPACE:n}"]}, "break_on_match": false});
        let (event, _) = run(config, json!({"message": "42"}));
        assert_eq!(event, json!({"message": "42", "n": ["42", "42"]}));
    }

    #[test]
    fn every_field_and_array_element_is_matched() {
        let config = json!({"match": {"a": "%{INT:n}", "b": "%{WORD:w}"}, "break_on_match": false});
        let (event, _) = run(config, json!({"a": ["1", "x", "3"], "b": "word"}));
        assert_eq!(event["n"], json!(["1", "3"]));
        assert_eq!(event["w"], json!("word"));
    }

    #[test]
    fn repeated_capture_names_collect_into_one_field() {
        let (event, _) = run(
            json!({"match": {"message": "%{WORD:w} %{WORD:w}"}}),
            json!({"message": "one two"}),
        );
        assert_eq!(event["w"], json!(["one", "two"]));
    }

    #[test]
    fn custom_patterns_raw_groups_target_and_empty_captures() {
        let config = json!({
            "match": {"message": "%{QUEUE:queue}: (?<rest>.*)(?<opt>x)?"},
            "pattern_definitions": {"QUEUE": "[0-9A-F]{10,11}"},
            "target": "parsed"
        });
        let (event, _) = run(config.clone(), json!({"message": "BEF25A72965: "}));
        assert_eq!(event["parsed"], json!({"queue": "BEF25A72965"}));
        let mut keep = config;
        keep["keep_empty_captures"] = json!(true);
        let (event, _) = run(keep, json!({"message": "BEF25A72965: "}));
        assert_eq!(
            event["parsed"],
            json!({"queue": "BEF25A72965", "rest": "", "opt": null})
        );
    }

    #[test]
    fn named_captures_only_false_keeps_pattern_names() {
        let (event, _) = run(
            json!({"match": {"message": "%{INT} %{WORD:w}"}, "named_captures_only": false}),
            json!({"message": "5 x"}),
        );
        assert_eq!(event["INT"], json!("5"));
        assert_eq!(event["w"], json!("x"));
    }

    #[test]
    fn patterns_dir_files_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("extra"),
            "# comment\n\nPOSTFIX_QUEUEID [0-9A-F]{10,11}\nMYNUM %{INT}\n",
        )
        .unwrap();
        let (event, _) = run(
            json!({"match": {"message": "%{POSTFIX_QUEUEID:q} %{MYNUM:n:int}"},
                   "patterns_dir": [dir.path()]}),
            json!({"message": "BEF25A72965 7"}),
        );
        assert_eq!(event["q"], json!("BEF25A72965"));
        assert_eq!(event["n"], json!(7));
    }

    #[test]
    fn bad_settings_are_rejected_at_load() {
        for config in [
            json!({"match": {}}),
            json!({"match": {"message": "%{NO_SUCH_PATTERN:x}"}}),
            json!({"match": {"message": "%{INT:x:decimal}"}}),
            json!({"match": {"message": "(unclosed"}}),
            json!({"match": {"message": 5}}),
            json!({"match": {"message": "%{INT:x}"}, "patterns_dir": ["/no/such/dir"]}),
            // Not in the bundled ECS files, and not taken from the legacy set either.
            json!({"match": {"message": "%{JAVASTACKTRACEPART:x}"}, "ecs_compatibility": "v8"}),
        ] {
            let parsed: GrokConfig = serde_json::from_value(config.clone()).unwrap();
            assert!(
                GrokFilter::new(&parsed, Path::to_path_buf).is_err(),
                "{config}"
            );
        }
    }
}
