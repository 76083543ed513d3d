//! `type = "slack"` settings. The doc comments are the user documentation.

use crate::config::Interval;
use crate::event::Template;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

/// `type = "slack"`: alerts to a Slack incoming webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL (`https://hooks.slack.com/services/T…/B…/…`). It is a
    /// secret: it is never logged and is redacted in every error. An empty value (e.g.
    /// `"${SLACK_WEBHOOK_URL:-}"` with the variable unset) disables the output: a warning at
    /// start, and alerts are counted as dropped instead of sent.
    pub webhook_url: WebhookUrl,
    /// The message text (also the notification fallback when `layout = "blocks"`). Values
    /// from the event are escaped for Slack (`&`, `<`, `>`), so an event cannot ping
    /// `<!channel>`; the template's own text may use Slack markup.
    #[serde(default = "default_text")]
    pub text: Template,
    /// `"text"` (the seed's plain message) or `"blocks"` (Block Kit: the text, a field grid,
    /// the event time and a Kibana button).
    #[serde(default)]
    pub layout: Layout,
    /// The field grid of the blocks layout, in order (at most 10). A field whose template
    /// does not resolve is left out.
    #[serde(default = "default_fields")]
    pub fields: Vec<BlockField>,
    /// A link back to Kibana, shown as a button in the blocks layout. Values substituted
    /// into it are percent-encoded; a missing reference becomes empty.
    #[serde(default)]
    pub kibana_url: Option<Template>,
    /// Messages the webhook may send at once before the rate applies (token bucket size).
    #[serde(default = "default_burst")]
    pub burst: NonZeroU32,
    /// One message per this interval once the burst is spent (Slack allows about 1/s).
    #[serde(default = "default_rate_interval", deserialize_with = "positive")]
    pub rate_interval: Interval,
    /// Alerts beyond the rate are coalesced into one summary message counting them per
    /// kind; this template names the kind. A missing reference renders as `-`.
    #[serde(default = "default_group_by")]
    pub group_by: Template,
    /// Alert texts quoted as samples in a summary message.
    #[serde(default = "default_max_samples")]
    pub max_samples: usize,
    /// Alerts with the same key within `dedupe_window` are sent once. The default is the
    /// same log line (what a Filebeat resend repeats); drop `%{@timestamp}` to alert once
    /// per device and event per window. A missing reference renders as `-`.
    #[serde(default = "default_dedupe_key")]
    pub dedupe_key: Template,
    /// How long a key is remembered; `0` turns deduplication off.
    #[serde(default = "default_dedupe_window")]
    pub dedupe_window: Interval,
    /// Most keys remembered (memory bound); beyond it the oldest are forgotten early.
    #[serde(default = "default_dedupe_max_entries")]
    pub dedupe_max_entries: NonZeroUsize,
    /// Alerts waiting for the rate limit, kept whole. Beyond it an alert only adds to the
    /// counts of the next summary (counted in `slack_dropped_total`, logged once).
    #[serde(default = "default_queue_size")]
    pub queue_size: NonZeroUsize,
    /// Attempts per message on 5xx answers, network errors and 429s before it counts as
    /// failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: NonZeroU32,
    /// First wait after a 5xx or network error; doubles per attempt (with jitter).
    #[serde(default = "default_retry_initial_backoff")]
    pub retry_initial_backoff: Interval,
    /// Longest wait between attempts.
    #[serde(default = "default_retry_max_backoff")]
    pub retry_max_backoff: Interval,
    /// Timeout of one HTTP request.
    #[serde(default = "default_request_timeout", deserialize_with = "positive")]
    pub request_timeout: Interval,
    /// On shutdown and at the end of `--once`, how long queued alerts may still take to be
    /// sent (within the rate limit). What is left then is counted and logged.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: Interval,
}

/// How a single alert is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Just `text`.
    #[default]
    Text,
    /// Block Kit sections, with `text` as the notification fallback.
    Blocks,
}

/// One cell of the blocks layout's field grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockField {
    pub label: String,
    pub value: Template,
}

/// Compiles a built-in default. They all parse (a unit test checks); the literal fallback
/// only keeps this free of a panic path.
fn template(source: &str) -> Template {
    Template::parse(source).unwrap_or_else(|_| Template::literal(source))
}

fn default_text() -> Template {
    template("MQTT Alert: %{message}")
}

fn default_fields() -> Vec<BlockField> {
    [
        ("Severity", "%{severity}"),
        ("Alert type", "%{alert_type}"),
        ("Device", "%{topic_device}"),
        ("Topic", "%{[details][topic]}"),
        ("Event", "%{event}"),
        ("Host", "%{[host][name]}"),
    ]
    .into_iter()
    .map(|(label, value)| BlockField {
        label: label.to_string(),
        value: template(value),
    })
    .collect()
}

fn default_burst() -> NonZeroU32 {
    NonZeroU32::MIN.saturating_add(2)
}

fn default_rate_interval() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_group_by() -> Template {
    template("%{alert_type}/%{severity}")
}

fn default_max_samples() -> usize {
    3
}

fn default_dedupe_key() -> Template {
    template("%{@timestamp}|%{[host][name]}|%{topic_device}|%{event}|%{message}")
}

fn default_dedupe_window() -> Interval {
    Interval(Duration::from_secs(600))
}

fn default_dedupe_max_entries() -> NonZeroUsize {
    NonZeroUsize::MIN.saturating_add(9_999)
}

fn default_queue_size() -> NonZeroUsize {
    NonZeroUsize::MIN.saturating_add(99)
}

fn default_max_attempts() -> NonZeroU32 {
    NonZeroU32::MIN.saturating_add(4)
}

fn default_retry_initial_backoff() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_retry_max_backoff() -> Interval {
    Interval(Duration::from_secs(60))
}

fn default_request_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}

fn default_drain_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}

fn positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Interval, D::Error> {
    let interval = Interval::deserialize(deserializer)?;
    if interval.0.is_zero() {
        return Err(serde::de::Error::custom("must be longer than 0"));
    }
    Ok(interval)
}

/// The webhook URL: a secret. `Debug` and `Display` show only the scheme and host; the URL
/// itself is reachable only through [`WebhookUrl::expose`], for the HTTP client.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Option<reqwest::Url>);

impl WebhookUrl {
    /// Parses a configured value; empty means "not configured".
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self(None));
        }
        // Parse errors from `url` never quote the input, but say so explicitly anyway.
        let url = reqwest::Url::parse(text).map_err(|e| {
            format!(
                "`webhook_url` is not a valid URL ({e}); the value is not shown, it is a secret"
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(
                "`webhook_url` must be an http(s) URL with a host; the value is not shown, it is a secret"
                    .to_string(),
            );
        }
        Ok(Self(Some(url)))
    }

    /// The URL, for the HTTP client only.
    pub fn expose(&self) -> Option<&reqwest::Url> {
        self.0.as_ref()
    }

    /// Removes every occurrence of the URL (and of its path, the secret part) from `text`.
    pub fn scrub(&self, text: &str) -> String {
        let Some(url) = &self.0 else {
            return text.to_string();
        };
        let mut scrubbed = text.replace(url.as_str(), &self.to_string());
        let path = url.path();
        if path.len() > 1 {
            scrubbed = scrubbed.replace(path, "/[redacted]");
        }
        scrubbed
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("(not configured)"),
            Some(url) => {
                write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
                if let Some(port) = url.port() {
                    write!(f, ":{port}")?;
                }
                f.write_str("/[redacted]")
            }
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WebhookUrl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the webhook URL as a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WebhookUrl, E> {
                WebhookUrl::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}
