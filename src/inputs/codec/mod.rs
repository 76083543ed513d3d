//! Codecs: how the bytes a socket input receives become events (Logstash's `codec =>`).
//!
//! `codec = "json_lines"` names a codec with its defaults; a table sets its options:
//! `codec = { type = "multiline", pattern = "^\\s", what = "previous" }`.
//!
//! | codec | a stream (tcp, stdin) | a datagram (udp) |
//! |---|---|---|
//! | `line` | one event per line, `message` = the line | each line of the datagram |
//! | `plain` | as `line` (see below) | the whole datagram is the `message` |
//! | `json_lines` | one JSON object per line | each line of the datagram |
//! | `json` | as `json_lines` (see below) | the datagram is one JSON object, or an array of them |
//! | `multiline` | lines joined into one event, see [`multiline`] | lines across datagrams |
//!
//! Logstash's `plain` and `json` codecs decode whatever one read of the socket returned, so
//! over TCP an event is cut wherever the network split the stream; sluice decodes them line
//! by line on streams instead, which is what those pipelines meant. JSON that does not parse
//! (or is not an object) keeps its text as `message` and is tagged `_jsonparsefailure`, as in
//! Logstash. Lines longer than the input's `max_line_bytes` are cut and tagged
//! `_line_truncated` (and the rest of the line skipped), so one runaway client cannot make
//! the input buffer without bound. Blank lines are skipped (counted as dropped) except inside
//! a multiline codec, where they belong to the event.

pub mod multiline;

use super::file::lines::{Line, LineSplitter};
use crate::config::{BuildContext, ConfigError};
use crate::event::{parse_object_slice, Event, TRUNCATED_TAG};
use multiline::{Multiline, MultilineConfig};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use tokio::time::Instant;

/// The tag of text a JSON codec could not decode.
pub const JSON_PARSE_FAILURE_TAG: &str = "_jsonparsefailure";

/// `codec = "name"` or `codec = { type = "name", ... }`.
#[derive(Debug, Clone, PartialEq)]
pub enum CodecConfig {
    Line,
    Plain,
    Json,
    JsonLines,
    Multiline(Box<MultilineConfig>),
}

/// The table form: `type` picks the codec, the other keys are its options.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum CodecTable {
    Line {},
    Plain {},
    Json {},
    JsonLines {},
    Multiline(MultilineConfig),
}

impl<'de> Deserialize<'de> for CodecConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodecVisitor;
        impl<'de> Visitor<'de> for CodecVisitor {
            type Value = CodecConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a codec name (`line`, `plain`, `json`, `json_lines`) or a table `{ type = \"multiline\", ... }`",
                )
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<CodecConfig, E> {
                match name {
                    "line" => Ok(CodecConfig::Line),
                    "plain" => Ok(CodecConfig::Plain),
                    "json" => Ok(CodecConfig::Json),
                    "json_lines" => Ok(CodecConfig::JsonLines),
                    "multiline" => Err(E::custom(
                        "the multiline codec needs options: `codec = { type = \"multiline\", pattern = \"...\", what = \"previous\" }`",
                    )),
                    other => Err(E::unknown_variant(
                        other,
                        &["line", "plain", "json", "json_lines", "multiline"],
                    )),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CodecConfig, A::Error> {
                let table = CodecTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match table {
                    CodecTable::Line {} => CodecConfig::Line,
                    CodecTable::Plain {} => CodecConfig::Plain,
                    CodecTable::Json {} => CodecConfig::Json,
                    CodecTable::JsonLines {} => CodecConfig::JsonLines,
                    CodecTable::Multiline(settings) => CodecConfig::Multiline(Box::new(settings)),
                })
            }
        }
        deserializer.deserialize_any(CodecVisitor)
    }
}

impl CodecConfig {
    /// Checks what serde cannot (the multiline pattern compiles).
    pub fn validate(&self, input: &str, context: &BuildContext) -> Result<(), ConfigError> {
        if let Self::Multiline(settings) = self {
            settings
                .compile()
                .map_err(|e| context.error_at(None, format!("input `{input}`: codec: {e}")))?;
        }
        Ok(())
    }

    /// A fresh decoder (one per connection: a multiline event never mixes clients).
    pub fn decoder(&self, max_line_bytes: usize) -> Decoder {
        let multiline = match self {
            // `validate` compiled the pattern at build time.
            Self::Multiline(settings) => settings.compile().ok(),
            _ => None,
        };
        Decoder {
            codec: self.clone(),
            splitter: LineSplitter::new(max_line_bytes, 0),
            multiline,
        }
    }
}

/// Turns received bytes into events, keeping the partial line (and multiline event) between
/// reads.
#[derive(Debug)]
pub struct Decoder {
    codec: CodecConfig,
    splitter: LineSplitter,
    multiline: Option<Multiline>,
}

/// What one decoding step produced.
#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<Event>,
    /// Records that became no event (blank lines).
    pub skipped: u64,
    /// Lines cut at `max_line_bytes`.
    pub truncated: u64,
}

impl Decoder {
    /// Bytes of a stream.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Decoded) {
        let (codec, multiline) = (&self.codec, &mut self.multiline);
        self.splitter
            .feed(bytes, |line| decode_line(codec, multiline, line, out));
    }

    /// The stream ended: its last line without a newline, and a pending multiline event.
    pub fn finish(&mut self, out: &mut Decoded) {
        let (codec, multiline) = (&self.codec, &mut self.multiline);
        self.splitter
            .finish(|line| decode_line(codec, multiline, line, out));
        if let Some(multiline) = &mut self.multiline {
            multiline.flush(&mut out.events);
        }
    }

    /// One datagram: a whole message for `plain` and `json`, lines for the others.
    pub fn datagram(&mut self, bytes: &[u8], out: &mut Decoded) {
        match self.codec {
            CodecConfig::Plain => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    out.skipped += 1;
                } else {
                    out.events.push(message_event(bytes, false));
                }
            }
            CodecConfig::Json => json_events(bytes, out),
            _ => {
                let (codec, multiline) = (&self.codec, &mut self.multiline);
                self.splitter
                    .feed(bytes, |line| decode_line(codec, multiline, line, out));
                // A datagram's last line needs no newline; a multiline event goes on.
                self.splitter
                    .finish(|line| decode_line(codec, multiline, line, out));
            }
        }
    }

    /// When the pending multiline event is due to be flushed (`auto_flush_interval`).
    pub fn flush_deadline(&self) -> Option<Instant> {
        self.multiline.as_ref().and_then(Multiline::flush_deadline)
    }

    /// Flushes the pending multiline event if its `auto_flush_interval` has passed.
    pub fn flush_due(&mut self, now: Instant, out: &mut Decoded) {
        if let Some(multiline) = &mut self.multiline {
            if multiline.flush_deadline().is_some_and(|due| due <= now) {
                multiline.flush(&mut out.events);
            }
        }
    }
}

fn decode_line(
    codec: &CodecConfig,
    multiline: &mut Option<Multiline>,
    line: Line<'_>,
    out: &mut Decoded,
) {
    if line.truncated {
        out.truncated += 1;
    }
    if let Some(multiline) = multiline {
        multiline.push(
            &String::from_utf8_lossy(line.bytes),
            line.truncated,
            &mut out.events,
        );
        return;
    }
    if line.is_blank() {
        out.skipped += 1;
        return;
    }
    match codec {
        CodecConfig::Json | CodecConfig::JsonLines if !line.truncated => {
            json_events(line.bytes, out)
        }
        _ => out.events.push(message_event(line.bytes, line.truncated)),
    }
}

/// An event whose `message` is `bytes` (invalid UTF-8 replaced).
fn message_event(bytes: &[u8], truncated: bool) -> Event {
    let mut fields = Map::new();
    fields.insert(
        "message".into(),
        Value::String(String::from_utf8_lossy(bytes).into_owned()),
    );
    if truncated {
        fields.insert("tags".into(), Value::Array(vec![TRUNCATED_TAG.into()]));
    }
    Event::from_fields(fields)
}

/// A JSON object (or an array of objects) as events; anything else as a tagged message.
fn json_events(bytes: &[u8], out: &mut Decoded) {
    if let Ok(fields) = parse_object_slice(bytes, 16) {
        out.events.push(Event::from_fields(fields));
        return;
    }
    if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(bytes) {
        if items.iter().all(Value::is_object) {
            out.events
                .extend(items.into_iter().filter_map(|item| match item {
                    Value::Object(fields) => Some(Event::from_fields(fields)),
                    _ => None,
                }));
            return;
        }
    }
    let mut event = message_event(bytes, false);
    event.add_tag(JSON_PARSE_FAILURE_TAG);
    out.events.push(event);
}

#[cfg(test)]
mod tests;
