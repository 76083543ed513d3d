//! `type = "http"`: each event (or each batch) as JSON to an HTTP endpoint, Logstash's http
//! output with sluice's delivery guarantees.
//!
//! - **Settled only when handed over.** A delivery is settled once every wanted event got a
//!   2xx answer or was written to the dead-letter file; until then the batch holds the
//!   pipeline (backpressure) and the input does not acknowledge it.
//! - **Retries** ([`super::delivery::Backoff`]): connection errors, timeouts and the
//!   `retryable_codes` (429 and 5xx by default) are retried with exponential backoff and
//!   jitter, without end unless `max_retries` is set (as Logstash's `retry_failed`).
//! - **Final refusals are kept, not dropped**: another answer (a 400, a 404), or running out
//!   of `max_retries`, writes the events to the dead-letter file
//!   ([`super::delivery::DeadLetters`]) with the status, where Logstash logs and drops them.
//! - **Forced shutdown** (`abort`) stops retrying; the unsettled delivery fails and the input
//!   reads it again after a restart.
//!
//! The body is the event as JSON (without `@metadata`), or the `mapping` rendered for it;
//! `url` and `headers` values may be templates. With `format = "json_batch"` the events of a
//! batch go as one JSON array per rendered URL (headers from the first event of the group).
//! Requests of one output go one at a time, in order.

mod config;
#[cfg(test)]
mod tests;

pub use config::{Format, HttpMethod, HttpOutputConfig};

use super::delivery::{
    Backoff, DeadLetter, DeadLetterMetrics, DeadLetters, FieldWriter, LetterFields,
};
use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{Delivery, Event, Template};
use crate::metrics::Counter;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Most bytes of an error answer kept for the log and the dead letter.
const MAX_ERROR_BODY: usize = 1024;

/// A `mapping` with its strings parsed as templates.
#[derive(Debug, Clone)]
enum Mapping {
    Text(Template),
    Object(Vec<(String, Mapping)>),
    Array(Vec<Mapping>),
    Literal(Value),
}

impl Mapping {
    fn parse(value: &Value) -> Result<Self, String> {
        Ok(match value {
            Value::String(text) => {
                Self::Text(Template::parse(text).map_err(|e| format!("`{text}`: {e}"))?)
            }
            Value::Object(map) => Self::Object(
                map.iter()
                    .map(|(key, value)| Ok((key.clone(), Self::parse(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(items) => {
                Self::Array(items.iter().map(Self::parse).collect::<Result<_, _>>()?)
            }
            other => Self::Literal(other.clone()),
        })
    }

    fn render(&self, event: &Event) -> Value {
        match self {
            Self::Text(template) => Value::String(template.render(event).0),
            Self::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.clone(), value.render(event)))
                    .collect::<Map<String, Value>>(),
            ),
            Self::Array(items) => Value::Array(items.iter().map(|i| i.render(event)).collect()),
            Self::Literal(value) => value.clone(),
        }
    }
}

/// An http output ready to run.
#[derive(Debug)]
pub struct HttpOutput {
    settings: HttpOutputConfig,
    url: Template,
    headers: Vec<(HeaderName, Template)>,
    mapping: Option<Mapping>,
    client: reqwest::Client,
    /// The dead-letter file, or with `dead_letter_default` the folder of the default one
    /// (named after the output's id, known when it runs).
    dead_letter_path: PathBuf,
    dead_letter_default: bool,
}

impl OutputType for HttpOutput {
    type Config = HttpOutputConfig;

    fn build(settings: &HttpOutputConfig, context: &BuildContext) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut problem = |message: String| {
            errors.push(context.error_at(None, format!("http output: {message}")))
        };
        let url = Template::parse(&settings.url).unwrap_or_else(|e| {
            problem(format!("`url`: {e}"));
            Template::literal("")
        });
        if url.is_static() {
            if let Err(e) = reqwest::Url::parse(&settings.url) {
                problem(format!("`url` is not a URL: {e}"));
            }
        }
        let mut headers = Vec::new();
        for (name, value) in &settings.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                Template::parse(value),
            ) {
                (Ok(name), Ok(value)) => headers.push((name, value)),
                (Err(e), _) => problem(format!("header name `{name}`: {e}")),
                (_, Err(e)) => problem(format!("header `{name}`: {e}")),
            }
        }
        if HeaderValue::from_str(&settings.content_type).is_err() {
            problem(format!(
                "`content_type` `{}` is not a valid header value",
                settings.content_type
            ));
        }
        let mapping = match settings
            .mapping
            .as_ref()
            .map(|m| Mapping::parse(&Value::Object(m.clone())))
        {
            Some(Ok(mapping)) => Some(mapping),
            Some(Err(e)) => {
                problem(format!("`mapping` {e}"));
                None
            }
            None => None,
        };
        if settings
            .retryable_codes
            .iter()
            .any(|code| !(100..600).contains(code))
        {
            problem("`retryable_codes` must be HTTP status codes".into());
        }
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout.0)
            .build()
            .map_err(|e| context.error_at(None, format!("http output: {e}")))?;
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let (dead_letter_path, dead_letter_default) = match &settings.dead_letter_path {
            Some(path) => (path.clone(), false),
            None => (context.data_dir.join("dead_letter"), true),
        };
        Ok(Self {
            settings: settings.clone(),
            url,
            headers,
            mapping,
            client,
            dead_letter_path,
            dead_letter_default,
        })
    }

    async fn run(
        self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        let path = if self.dead_letter_default {
            self.dead_letter_path.join(format!("{}.ndjson", context.id))
        } else {
            self.dead_letter_path.clone()
        };
        let dead_letters = DeadLetters::new(path, &context.id, self.settings.dead_letter_max_bytes);
        let sender = Sender {
            retries: context.metrics.counter(
                "http_retries_total",
                "HTTP requests sent again after a failure.",
            ),
            dead_letter_metrics: DeadLetterMetrics::register(&context.metrics),
            dead_letters,
            output: self,
            context,
        };
        sender.context.readiness.set_ready();
        while let Some(delivery) = deliveries.recv().await {
            if sender.deliver(&delivery).await {
                delivery.settle();
            }
            // Otherwise dropping the delivery fails the batch: the input reads it again.
        }
        Ok(())
    }
}

/// One request: where, and the events' bodies.
struct Request<'a> {
    url: String,
    headers: Vec<(HeaderName, String)>,
    bodies: Vec<Vec<u8>>,
    /// The events, for nothing but counting.
    events: Vec<&'a Event>,
}

/// What became of one request.
enum Outcome {
    Sent,
    /// A final answer (or retries exhausted): the events go to the dead-letter file.
    Refused {
        status: Option<u16>,
        reason: String,
    },
    /// Forced shutdown while retrying.
    Aborted,
}

struct Sender {
    output: HttpOutput,
    context: OutputContext,
    dead_letters: DeadLetters,
    dead_letter_metrics: DeadLetterMetrics,
    retries: Counter,
}

/// A dead letter's own fields: the answer's status, when there was one.
struct HttpLetter(Option<u16>);

impl LetterFields for HttpLetter {
    fn write_fields(&self, fields: &mut FieldWriter<'_>) {
        if let Some(status) = self.0 {
            fields.number("status", u64::from(status));
        }
    }
}

impl Sender {
    /// Sends the wanted events of a delivery; whether it can be settled.
    async fn deliver(&self, delivery: &Delivery) -> bool {
        let wanted: Vec<&Event> = delivery
            .events()
            .iter()
            .filter(|e| self.context.wants(e))
            .collect();
        let metrics = &self.context.metrics;
        metrics
            .events_in
            .fetch_add(wanted.len() as u64, Ordering::Relaxed);
        for request in self.requests(&wanted) {
            let count = request.events.len() as u64;
            match self.send(&request).await {
                Outcome::Sent => {
                    metrics.events_out.fetch_add(count, Ordering::Relaxed);
                }
                Outcome::Aborted => return false,
                Outcome::Refused { status, reason } => {
                    tracing::error!(output = %self.context.id, status, %reason, events = count, path = %self.dead_letters.path().display(), "HTTP endpoint refused events; they were written to the dead-letter file.");
                    let letters: Vec<DeadLetter<'_, HttpLetter>> = request
                        .bodies
                        .iter()
                        .map(|body| DeadLetter {
                            fields: HttpLetter(status),
                            error_type: if status.is_some() {
                                "http_status"
                            } else {
                                "retries_exhausted"
                            },
                            reason: &reason,
                            source: body,
                        })
                        .collect();
                    match self.dead_letters.write(&letters) {
                        Ok(written) => {
                            self.dead_letter_metrics.count(written);
                            self.dead_letters.report_dropped(written);
                        }
                        Err(error) => {
                            tracing::error!(output = %self.context.id, %error, "Cannot write the dead-letter file: the batch fails and will be read again.");
                            metrics.errors.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    fn body(&self, event: &Event) -> Vec<u8> {
        let value = match &self.output.mapping {
            Some(mapping) => mapping.render(event),
            None => Value::Object(event.fields().clone()),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    fn requests<'a>(&self, events: &[&'a Event]) -> Vec<Request<'a>> {
        let mut requests: Vec<Request<'a>> = Vec::new();
        for event in events {
            let url = self.output.url.render(event).0;
            if self.output.settings.format == Format::JsonBatch {
                if let Some(request) = requests.iter_mut().find(|r| r.url == url) {
                    request.bodies.push(self.body(event));
                    request.events.push(event);
                    continue;
                }
            }
            requests.push(Request {
                url,
                headers: self
                    .output
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), value.render(event).0))
                    .collect(),
                bodies: vec![self.body(event)],
                events: vec![event],
            });
        }
        requests
    }

    fn payload(&self, request: &Request<'_>) -> Vec<u8> {
        match self.output.settings.format {
            Format::Json => request.bodies.first().cloned().unwrap_or_default(),
            Format::JsonBatch => {
                let mut payload = Vec::with_capacity(
                    request.bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2,
                );
                payload.push(b'[');
                for (i, body) in request.bodies.iter().enumerate() {
                    if i > 0 {
                        payload.push(b',');
                    }
                    payload.extend_from_slice(body);
                }
                payload.push(b']');
                payload
            }
        }
    }

    /// Sends one request, retrying what is worth retrying.
    async fn send(&self, request: &Request<'_>) -> Outcome {
        let settings = &self.output.settings;
        let backoff = Backoff {
            initial: settings.retry_initial_backoff.0,
            max: settings.retry_max_backoff.0,
        };
        let payload = self.payload(request);
        let method = match settings.http_method {
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
        };
        let mut round = 0u32;
        loop {
            let mut builder = self
                .output
                .client
                .request(method.clone(), &request.url)
                .header(reqwest::header::CONTENT_TYPE, &settings.content_type)
                .body(payload.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let failure = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if response.status().is_success() {
                        return Outcome::Sent;
                    }
                    let body = response.bytes().await.unwrap_or_default();
                    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)])
                        .into_owned();
                    let reason = format!("HTTP {status}: {text}");
                    if !settings.retryable_codes.contains(&status) {
                        return Outcome::Refused {
                            status: Some(status),
                            reason,
                        };
                    }
                    reason
                }
                Err(error) => error.without_url().to_string(),
            };
            self.context.metrics.errors.fetch_add(1, Ordering::Relaxed);
            if settings.max_retries.is_some_and(|max| round >= max) {
                return Outcome::Refused {
                    status: None,
                    reason: format!("gave up after {round} retries: {failure}"),
                };
            }
            let delay = backoff.delay(round);
            tracing::warn!(output = %self.context.id, %failure, retry_in = ?delay, "HTTP request failed; retrying.");
            tokio::select! {
                _ = self.context.abort.cancelled() => return Outcome::Aborted,
                _ = tokio::time::sleep(delay) => {}
            }
            self.retries.inc();
            round += 1;
        }
    }
}
