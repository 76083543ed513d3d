//! The `multiline` codec: lines joined into one event (a stack trace under its log line).
//!
//! Logstash's semantics, option for option: a line *matches* when `pattern` finds it (or,
//! with `negate = true`, when it does not). With `what = "previous"` a matching line belongs
//! to the event before it, and a line that does not match starts a new event; with
//! `what = "next"` a matching line belongs to the event after it, and the first line that
//! does not match ends the event. The joined lines (with `\n`) are the `message`, tagged
//! `multiline` (`multiline_tag`) when more than one line was joined; `@timestamp` is the
//! time of the first line.
//!
//! The buffer is bounded, with Logstash's exact limits: once an event holds more than
//! `max_lines` lines or at least `max_bytes` bytes, it is flushed at the next line as it is,
//! tagged `multiline_codec_max_lines_reached` or `multiline_codec_max_bytes_reached`. The last event of a stream is flushed when the
//! stream ends, and, with `auto_flush_interval`, when no line came for that long (without
//! it, the last event of a connection that stays open waits for the next line, as in
//! Logstash).
//!
//! Logstash's `pattern` is a grok expression; sluice's is a regular expression (the `regex`
//! crate's syntax), so a pattern using `%{NAME}` is refused at load time.

use crate::config::Interval;
use crate::event::{format_timestamp, Event, TRUNCATED_TAG};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

const MAX_LINES_TAG: &str = "multiline_codec_max_lines_reached";
const MAX_BYTES_TAG: &str = "multiline_codec_max_bytes_reached";

/// Which event a matching line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    Previous,
    Next,
}

/// `codec = { type = "multiline", ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regular expression tested against each line.
    pub pattern: String,
    /// Which event a matching line belongs to.
    pub what: What,
    /// Whether lines that do *not* match are the ones that join.
    #[serde(default)]
    pub negate: bool,
    /// Most lines of one event (Logstash: 500).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Most bytes of one event (Logstash: 10 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Flush a pending event when no line came for this long.
    #[serde(default)]
    pub auto_flush_interval: Option<Interval>,
    /// The tag of joined events.
    #[serde(default = "default_multiline_tag")]
    pub multiline_tag: String,
}

fn default_max_lines() -> usize {
    500
}

fn default_max_bytes() -> usize {
    10 * 1024 * 1024
}

fn default_multiline_tag() -> String {
    "multiline".into()
}

impl MultilineConfig {
    /// The runtime state, or why the settings cannot work.
    pub fn compile(&self) -> Result<Multiline, String> {
        if self.pattern.contains("%{") {
            return Err(format!(
                "multiline `pattern = \"{}\"` uses a grok pattern (`%{{...}}`); sluice's multiline pattern is a regular expression: write the expression out",
                self.pattern
            ));
        }
        let regex = Regex::new(&self.pattern)
            .map_err(|e| format!("multiline `pattern` is not a valid regular expression: {e}"))?;
        if self.max_lines == 0 || self.max_bytes == 0 {
            return Err("multiline `max_lines` and `max_bytes` must be at least 1".into());
        }
        Ok(Multiline {
            regex,
            settings: self.clone(),
            lines: Vec::new(),
            bytes: 0,
            first_line_time: String::new(),
            truncated: false,
            last_line_at: None,
        })
    }
}

/// The lines of the event being built.
#[derive(Debug)]
pub struct Multiline {
    regex: Regex,
    settings: MultilineConfig,
    lines: Vec<String>,
    bytes: usize,
    first_line_time: String,
    truncated: bool,
    last_line_at: Option<Instant>,
}

impl Multiline {
    /// Adds a line; completed events go to `out`.
    pub fn push(&mut self, line: &str, truncated: bool, out: &mut Vec<Event>) {
        let matched = self.regex.is_match(line) != self.settings.negate;
        match self.settings.what {
            What::Previous => {
                if !matched || self.over_limits() {
                    self.flush(out);
                }
                self.buffer(line, truncated);
            }
            What::Next => {
                self.buffer(line, truncated);
                if !matched || self.over_limits() {
                    self.flush(out);
                }
            }
        }
    }

    fn buffer(&mut self, line: &str, truncated: bool) {
        if self.lines.is_empty() {
            self.first_line_time = format_timestamp(chrono::Utc::now());
        }
        self.bytes += line.len();
        self.lines.push(line.to_string());
        self.truncated |= truncated;
        self.last_line_at = Some(Instant::now());
    }

    fn over_lines(&self) -> bool {
        self.lines.len() > self.settings.max_lines
    }

    fn over_bytes(&self) -> bool {
        self.bytes >= self.settings.max_bytes
    }

    fn over_limits(&self) -> bool {
        self.over_lines() || self.over_bytes()
    }

    /// When the pending event is to be flushed by `auto_flush_interval`.
    pub fn flush_deadline(&self) -> Option<Instant> {
        let interval = self.settings.auto_flush_interval?;
        self.last_line_at.map(|at| at + interval.0)
    }

    /// The pending event, if any, goes to `out`.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        if self.lines.is_empty() {
            return;
        }
        let mut tags = Vec::new();
        if self.lines.len() > 1 && !self.settings.multiline_tag.is_empty() {
            tags.push(Value::String(self.settings.multiline_tag.clone()));
        }
        if self.over_bytes() {
            tags.push(MAX_BYTES_TAG.into());
        }
        if self.over_lines() {
            tags.push(MAX_LINES_TAG.into());
        }
        if self.truncated {
            tags.push(TRUNCATED_TAG.into());
        }
        let mut fields = Map::new();
        fields.insert(
            "@timestamp".into(),
            Value::String(std::mem::take(&mut self.first_line_time)),
        );
        fields.insert("message".into(), Value::String(self.lines.join("\n")));
        if !tags.is_empty() {
            fields.insert("tags".into(), Value::Array(tags));
        }
        out.push(Event::from_fields(fields));
        self.lines.clear();
        self.bytes = 0;
        self.truncated = false;
        self.last_line_at = None;
    }
}
