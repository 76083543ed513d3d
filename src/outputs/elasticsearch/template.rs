//! Optional index template installed at start-up (`template = "deploy/elasticsearch/..."`).
//!
//! Daily indices are created by the first document written to them, with whatever mapping
//! dynamic mapping guesses unless a template for the pattern exists first (a `durationMs`
//! first seen as `"12"` would become text forever). Installing the template before the first
//! `_bulk` closes that gap. It is a composable template (`PUT _index_template/<name>`, ES 7.8+
//! and every OpenSearch), read and checked as JSON at build time. By default an existing
//! template of that name is left alone (an operator may have tuned it), as Logstash does;
//! `template_overwrite = true` replaces it.

use super::client::Client;
use super::health::{from_request_error, HealthError};
use serde_json::Value;

/// What happened to the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    Created,
    Replaced,
    KeptExisting,
}

/// Installs `body` as `name` through the first node that answers.
pub async fn install(
    client: &Client,
    name: &str,
    body: &Value,
    overwrite: bool,
) -> Result<Installed, HealthError> {
    let path = format!("/_index_template/{name}");
    let mut last = HealthError::Transient("no hosts".into());
    for index in 0..client.host_count() {
        let existing = match client
            .request(index, reqwest::Method::GET, &path, None)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                last = from_request_error(e);
                continue;
            }
        };
        let exists = match existing.status {
            200 => true,
            404 => false,
            status => {
                last = classify(status, &existing.body, name, &existing.host);
                if matches!(last, HealthError::Fatal(_)) {
                    return Err(last);
                }
                continue;
            }
        };
        if exists && !overwrite {
            return Ok(Installed::KeptExisting);
        }
        match client
            .request(index, reqwest::Method::PUT, &path, Some(body))
            .await
        {
            Ok(answer) if answer.status == 200 => {
                return Ok(if exists {
                    Installed::Replaced
                } else {
                    Installed::Created
                })
            }
            Ok(answer) => {
                last = classify(answer.status, &answer.body, name, &answer.host);
                if matches!(last, HealthError::Fatal(_)) {
                    return Err(last);
                }
            }
            Err(e) => last = from_request_error(e),
        }
    }
    Err(last)
}

fn classify(status: u16, body: &[u8], name: &str, host: &str) -> HealthError {
    let reason = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("reason"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    let message = format!("installing index template `{name}` on {host}: HTTP {status}: {reason}");
    if status == 429 || status >= 500 {
        HealthError::Transient(message)
    } else {
        HealthError::Fatal(message)
    }
}
