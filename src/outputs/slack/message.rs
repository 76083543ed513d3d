//! What is posted: one alert's message (text, optionally Block Kit blocks) and the summary
//! message that stands for alerts coalesced beyond the rate limit.
//!
//! Slack's limits are applied here rather than discovered as `400 invalid_blocks`: section
//! text at most 3,000 characters, at most 10 fields of 2,000, button URLs of 3,000. Event
//! values are escaped (`&`, `<`, `>`) so that event content cannot inject Slack markup such as
//! `<!channel>`; the operator's template text is used as written.

use super::config::{BlockField, Layout, SlackConfig};
use crate::event::{Event, Template};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Section text limit (longer gives `invalid_blocks`); also used for the plain text, far
/// below Slack's 40,000-character truncation, so an alert stays readable.
const TEXT_LIMIT: usize = 3000;
const FIELD_LIMIT: usize = 2000;
const MAX_FIELDS: usize = 10;
const URL_LIMIT: usize = 3000;
/// Groups listed in a summary; the rest are summed up in one line.
const SUMMARY_GROUPS_SHOWN: usize = 10;
/// A sample quoted in a summary is cut to this many characters.
const SAMPLE_LIMIT: usize = 300;

/// One message to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub blocks: Option<Vec<Value>>,
}

impl Message {
    /// The JSON body. `text` is always present (the notification fallback of blocks).
    pub fn payload(&self) -> Vec<u8> {
        let mut body = json!({
            "text": self.text,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let (Some(blocks), Some(object)) = (&self.blocks, body.as_object_mut()) {
            object.insert("blocks".to_string(), Value::Array(blocks.clone()));
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The same message without blocks (the fallback after a `400` on the blocks).
    pub fn text_only(&self) -> Self {
        Self {
            text: self.text.clone(),
            blocks: None,
        }
    }
}

/// One alert, rendered when it is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its kind (`group_by`), for summaries.
    pub group: String,
    pub message: Message,
}

/// What a summary message reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub total: u64,
    /// Alerts per kind, most frequent first.
    pub groups: Vec<(String, u64)>,
    /// Alerts of kinds beyond the tracked ones.
    pub other: u64,
    pub samples: Vec<String>,
}

/// Renders alerts and summaries as configured.
#[derive(Debug)]
pub struct Renderer {
    text: Template,
    layout: Layout,
    fields: Vec<BlockField>,
    kibana_url: Option<Template>,
    group_by: Template,
    /// `group_by` as the reader sees it (`alert_type/severity`).
    group_label: String,
}

impl Renderer {
    pub fn new(config: &SlackConfig) -> Self {
        Self {
            text: config.text.clone(),
            layout: config.layout,
            fields: config.fields.iter().take(MAX_FIELDS).cloned().collect(),
            kibana_url: config.kibana_url.clone(),
            group_by: config.group_by.clone(),
            group_label: config.group_by.source().replace("%{", "").replace('}', ""),
        }
    }

    /// The alert for `event`.
    pub fn alert(&self, event: &Event) -> Alert {
        let mut text = String::new();
        self.text.render_escaped(event, &mut text, None, escape);
        truncate(&mut text, TEXT_LIMIT);
        let blocks = match self.layout {
            Layout::Text => None,
            Layout::Blocks => Some(self.blocks(event, &text)),
        };
        let mut group = String::new();
        self.group_by
            .render_escaped(event, &mut group, Some("-"), |v, out| out.push_str(v));
        truncate(&mut group, 100);
        Alert {
            group,
            message: Message { text, blocks },
        }
    }

    fn blocks(&self, event: &Event, text: &str) -> Vec<Value> {
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": text},
        })];
        let mut fields = Vec::new();
        for field in &self.fields {
            let mut value = String::new();
            if field
                .value
                .render_escaped(event, &mut value, Some(""), escape)
                && !value.is_empty()
            {
                let mut cell = String::new();
                cell.push('*');
                escape(&field.label, &mut cell);
                cell.push_str("*\n");
                cell.push_str(&value);
                truncate(&mut cell, FIELD_LIMIT);
                fields.push(json!({"type": "mrkdwn", "text": cell}));
            }
        }
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        if let Some(time) = event
            .get_field(crate::event::TIMESTAMP)
            .and_then(Value::as_str)
        {
            let mut context = String::new();
            escape(time, &mut context);
            blocks.push(json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": context}],
            }));
        }
        if let Some(template) = &self.kibana_url {
            let mut url = String::new();
            template.render_escaped(event, &mut url, Some(""), percent_encode);
            let is_http = url.starts_with("http://") || url.starts_with("https://");
            if is_http && url.len() <= URL_LIMIT {
                blocks.push(json!({
                    "type": "actions",
                    "elements": [{
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Kibana"},
                        "url": url,
                    }],
                }));
            }
        }
        blocks
    }

    /// The message standing for `summary`'s alerts. Plain mrkdwn text: readable in every
    /// client and in notifications, whatever the layout.
    pub fn summary(&self, summary: &Summary) -> Message {
        let mut text = String::new();
        let _ = write!(
            text,
            "*{} alerts* arrived faster than the Slack rate limit allows; by {}:",
            summary.total,
            escaped(&self.group_label)
        );
        for (group, count) in summary.groups.iter().take(SUMMARY_GROUPS_SHOWN) {
            let _ = write!(text, "\n• {count} × {}", escaped(group));
        }
        let hidden: Vec<&(String, u64)> =
            summary.groups.iter().skip(SUMMARY_GROUPS_SHOWN).collect();
        let other = summary.other + hidden.iter().map(|(_, n)| n).sum::<u64>();
        if other > 0 {
            let _ = write!(text, "\n• {other} × other kinds");
        }
        if !summary.samples.is_empty() {
            text.push_str("\nSamples:");
            for sample in &summary.samples {
                // Samples are already escaped alert texts; quote each on one line.
                let mut line = sample.replace('\n', " ");
                truncate(&mut line, SAMPLE_LIMIT);
                let _ = write!(text, "\n> {line}");
            }
        }
        truncate(&mut text, TEXT_LIMIT);
        Message { text, blocks: None }
    }
}

/// Slack's three escapes for text that must not be read as markup.
pub fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape(value, &mut out);
    out
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Cuts `text` to at most `limit` characters, marking the cut with `…`.
fn truncate(text: &mut String, limit: usize) {
    if let Some((index, _)) = text.char_indices().nth(limit) {
        let keep = text
            .char_indices()
            .nth(limit.saturating_sub(1))
            .map_or(index, |(i, _)| i);
        text.truncate(keep);
        text.push('…');
    }
}
