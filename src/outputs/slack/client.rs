//! Posting to the webhook and reading Slack's answer (protocols.md §4.2).
//!
//! | answer | meaning | what the sender does |
//! |---|---|---|
//! | 2xx `ok` | posted | next message |
//! | 429 + `Retry-After` | rate limited | pause the webhook that long, then resend |
//! | 5xx, network error, timeout | Slack or the path to it is unwell | retry with backoff, bounded |
//! | 400 `invalid_payload`/`no_text`/`invalid_blocks`… | our payload is bad | resend once as plain text, then permanent |
//! | 403, 404, 410 | revoked, archived, forbidden: the configuration is dead | disable the webhook |
//! | other | unexpected | count this message as failed |
//!
//! The webhook URL is a secret: errors from the HTTP client are formatted without it
//! (`reqwest::Error::without_url`) and scrubbed once more before anyone sees them.

use super::config::WebhookUrl;
use std::future::Future;
use std::time::Duration;

/// Longest `Retry-After` honoured; a larger value (a broken proxy) is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Without a usable `Retry-After`, pause this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Slack's error bodies are short codes; never read more than this.
const MAX_BODY: usize = 1024;

/// Slack's answer to one post, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Posted,
    RateLimited {
        retry_after: Duration,
    },
    /// 400: the payload was refused.
    BadPayload {
        error: String,
    },
    /// 403/404/410: the webhook is dead until someone fixes the configuration.
    Dead {
        status: u16,
        error: String,
    },
    /// Any other 4xx/3xx: this message failed.
    Rejected {
        status: u16,
        error: String,
    },
    /// 5xx, network error, timeout: worth retrying.
    Transient {
        reason: TransientReason,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientReason {
    ServerError,
    Network,
}

/// Something that posts a JSON body to the webhook: HTTP in production, a script in the
/// sender's unit tests.
pub trait Transport: Send + Sync + 'static {
    fn post(&self, body: Vec<u8>) -> impl Future<Output = Answer> + Send;
}

/// The real thing: reqwest over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    url: WebhookUrl,
}

/// The HTTP client could not be built (TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

impl HttpTransport {
    pub fn new(url: WebhookUrl, timeout: Duration) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A webhook never redirects; following one would send the payload elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(describe(&e.without_url())))?;
        Ok(Self { client, url })
    }
}

impl Transport for HttpTransport {
    async fn post(&self, body: Vec<u8>) -> Answer {
        let Some(url) = self.url.expose() else {
            return Answer::Dead {
                status: 0,
                error: "no webhook_url configured".to_string(),
            };
        };
        let sent = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Answer::Transient {
                    reason: TransientReason::Network,
                    detail: self.url.scrub(&describe(&e.without_url())),
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if (200..300).contains(&status) => {
                    // The status is what counts; a broken body after 200 is still posted.
                    tracing::debug!(error = %self.url.scrub(&describe(&e.without_url())), "Slack answer body unreadable.");
                    break;
                }
                Err(e) => {
                    return Answer::Transient {
                        reason: TransientReason::Network,
                        detail: self.url.scrub(&describe(&e.without_url())),
                    }
                }
            }
        }
        body.truncate(MAX_BODY);
        let text = self.url.scrub(String::from_utf8_lossy(&body).trim());
        classify(status, retry_after, &text)
    }
}

/// Classifies a status, `Retry-After` (seconds) and body.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Answer {
    let error = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        body.chars().take(200).collect()
    };
    match status {
        200..=299 => Answer::Posted,
        429 => {
            let from_body = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_u64))
                .map(Duration::from_secs);
            let retry_after = retry_after
                .or(from_body)
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(MAX_RETRY_AFTER);
            Answer::RateLimited { retry_after }
        }
        400 => Answer::BadPayload { error },
        403 | 404 | 410 => Answer::Dead { status, error },
        408 | 500..=599 => Answer::Transient {
            reason: TransientReason::ServerError,
            detail: format!("HTTP {status}: {error}"),
        },
        _ => Answer::Rejected { status, error },
    }
}

/// An error and its causes on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
