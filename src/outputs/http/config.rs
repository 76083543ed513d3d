//! Settings of `type = "http"`, named as Logstash's http output names them.

use crate::config::Interval;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The request method (Logstash's `http_method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
    Patch,
}

/// What a request carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One request per event, its body the event (or its `mapping`) as a JSON object.
    #[default]
    Json,
    /// One request per batch (and per rendered `url`), its body a JSON array of the events.
    JsonBatch,
}

/// `type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOutputConfig {
    /// Where to send; may use `%{field}` templates (per event; for `json_batch` events are
    /// grouped by the rendered URL).
    pub url: String,
    #[serde(default)]
    pub http_method: HttpMethod,
    #[serde(default)]
    pub format: Format,
    /// The body to send instead of the whole event: a table whose string values are
    /// templates (`text = "MQTT Alert: %{message}"`); nested tables and arrays are kept.
    #[serde(default)]
    pub mapping: Option<Map<String, Value>>,
    /// Extra request headers; values may use templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `Content-Type` (Logstash: `application/json` for the JSON formats).
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// Longest one request may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Interval,
    /// Answers worth retrying (Logstash's `retryable_codes`); connection errors and
    /// timeouts are always retried. Other non-2xx answers are final: the events go to the
    /// dead-letter file.
    #[serde(default = "default_retryable_codes")]
    pub retryable_codes: Vec<u16>,
    /// Retries of one request before its events are dead-lettered; unset: retry until it
    /// works (Logstash's `retry_failed => true`), holding the pipeline back meanwhile.
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default = "default_retry_initial_backoff")]
    pub retry_initial_backoff: Interval,
    #[serde(default = "default_retry_max_backoff")]
    pub retry_max_backoff: Interval,
    /// Dead-letter file (default `<data_dir>/dead_letter/<output id>.ndjson`).
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// Largest dead-letter file; further letters are dropped and counted.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
}

fn default_content_type() -> String {
    "application/json".into()
}

fn default_request_timeout() -> Interval {
    Interval(Duration::from_secs(60))
}

fn default_retryable_codes() -> Vec<u16> {
    vec![429, 500, 502, 503, 504]
}

fn default_retry_initial_backoff() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_retry_max_backoff() -> Interval {
    Interval(Duration::from_secs(60))
}

fn default_dead_letter_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
