//! Delivering one `_bulk` request until every item in it is indexed or dead-lettered.
//!
//! The policy is Logstash's (protocols.md §3.2), which Kibana users already trust:
//!
//! | outcome | action |
//! |---|---|
//! | no answer (refused, reset, timeout), HTTP 429, 5xx, any other non-200 | resend the whole request after a backoff (another live node at once) |
//! | HTTP 413 (request too large) | split the request in halves; a single item gets dead-lettered |
//! | item 2xx | indexed |
//! | item 409 | already there (a resend with `create` and a deterministic id): success |
//! | item 400 / 404 | dead letter (mapping conflict, invalid index name, missing index) |
//! | item 429, 5xx, anything else | resend only those items after a backoff |
//!
//! The backoff ([`Backoff`]) starts at `retry_initial_interval` (2 s) and doubles up to
//! `retry_max_interval` (64 s), each wait drawn uniformly from its upper half so that many
//! senders do not retry in step, yet every wait is at least as long as the previous one.
//! Retries are unlimited unless `max_retries` is set; the pipeline meanwhile backs up
//! (bounded channels) instead of buffering. Every wait and every request in flight ends at
//! once when the run is aborted (a second Ctrl-C, or a drain outlasting
//! `pipeline.shutdown_timeout`); the batch is then left unsettled, so its input does not
//! checkpoint past it.

use super::client::{Client, RequestError};
use super::config::Settings;
use super::dead_letter::{report_letters, RefusedItem};
use super::encoder::ItemSpan;
use super::metrics::OutputMetrics;
use crate::outputs::delivery::{Backoff, DeadLetter, DeadLetters, DeliveryPart};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One `_bulk` request's worth of items and the deliveries they belong to.
#[derive(Debug)]
pub struct BulkBatch {
    pub body: Vec<u8>,
    pub items: Vec<ItemSpan>,
    pub parts: Vec<Arc<DeliveryPart>>,
}

/// Everything a request task needs; shared by all of them.
#[derive(Debug)]
pub struct Sender {
    pub client: Client,
    pub settings: Settings,
    pub metrics: OutputMetrics,
    pub dead_letters: DeadLetters,
    pub abort: CancellationToken,
    pub output: String,
    /// `/ready`: not ready while whole requests fail (no answer, 429, 5xx), ready again on
    /// the next answered request.
    pub readiness: crate::readiness::ReadinessHandle,
}

#[derive(Debug, Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<HashMap<String, ItemResult>>,
}

#[derive(Debug, Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    _index: Option<String>,
    #[serde(default)]
    _id: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

/// What one item's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Indexed,
    /// 409: the document is already there.
    Duplicate,
    DeadLetter,
    Retry,
}

/// The per-item policy.
pub fn classify(status: u16) -> ItemOutcome {
    match status {
        200..=299 => ItemOutcome::Indexed,
        409 => ItemOutcome::Duplicate,
        400 | 404 => ItemOutcome::DeadLetter,
        _ => ItemOutcome::Retry,
    }
}

/// True when `body` opens the way Elasticsearch and OpenSearch write a `_bulk` answer in which
/// every item succeeded: `{"took":N,"errors":false,` (or without `took`). Logstash reads no
/// further than `errors` either. Reading the items of such an answer (~100 bytes each, with
/// an `_index` and an `_id` string apiece) cost ~1,200 instructions per event, a third of the
/// output's work besides hashing ids. Any other opening, pretty-printed answers included, is
/// read item by item.
fn all_items_succeeded(body: &[u8]) -> bool {
    let Some(rest) = body.trim_ascii_start().strip_prefix(b"{") else {
        return false;
    };
    let rest = match rest.strip_prefix(b"\"took\":") {
        Some(took) => {
            let digits = took.iter().take_while(|b| b.is_ascii_digit()).count();
            match took[digits..].strip_prefix(b",") {
                Some(rest) if digits > 0 => rest,
                _ => return false,
            }
        }
        None => rest,
    };
    matches!(
        rest.strip_prefix(b"\"errors\":false"),
        Some([b',' | b'}', ..])
    )
}

fn error_parts(error: Option<&Value>) -> (String, String) {
    match error {
        Some(Value::Object(map)) => (
            map.get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            map.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        Some(Value::String(text)) => ("unknown".into(), text.clone()),
        _ => ("unknown".into(), String::new()),
    }
}

/// A dead letter before it is written (indices into the batch).
struct Refused {
    item: usize,
    index: Option<String>,
    id: Option<String>,
    status: u16,
    error_type: String,
    reason: String,
}

/// The result of one attempt.
enum Attempt {
    /// Items to resend, and why.
    Partial { retry: Vec<usize>, reason: String },
    /// The whole group again; `immediate` when another node can take it now.
    Whole { reason: String, immediate: bool },
    /// HTTP 413.
    TooLarge,
}

impl Sender {
    fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.settings.retry_initial,
            max: self.settings.retry_max,
        }
    }

    /// Sends `batch` until every item is indexed or dead-lettered, then settles its share of
    /// the deliveries. Returns the request buffer for reuse. On abort (or when the dead-letter
    /// file cannot be written) the deliveries are left unsettled: their batches fail.
    pub async fn deliver(self: Arc<Self>, batch: BulkBatch) -> Vec<u8> {
        let BulkBatch { body, items, parts } = batch;
        let body = Bytes::from(body);
        self.metrics.batch_events.observe(items.len() as f64);
        let mut groups: Vec<Vec<usize>> = vec![(0..items.len()).collect()];
        let mut round: u32 = 0;
        let mut complete = true;
        while let Some(group) = groups.pop() {
            let whole_batch = group.len() == items.len();
            let payload = if whole_batch {
                body.clone()
            } else {
                let mut subset = Vec::with_capacity(group.iter().map(|&i| items[i].len()).sum());
                for &i in &group {
                    subset.extend_from_slice(&body[items[i].range.clone()]);
                }
                Bytes::from(subset)
            };
            let attempt = tokio::select! {
                biased;
                () = self.abort.cancelled() => return Vec::new(),
                attempt = self.attempt(&body, &items, &group, payload) => attempt,
            };
            match &attempt {
                Ok(Attempt::Whole { reason, .. }) => self
                    .readiness
                    .set_not_ready(format!("bulk requests failing: {reason}")),
                Ok(_) => self.readiness.set_ready(),
                Err(()) => {}
            }
            let (retry, reason) = match attempt {
                Ok(Attempt::Partial { retry, reason }) => (retry, reason),
                Ok(Attempt::Whole { reason, immediate }) if immediate => {
                    self.metrics.retries.inc();
                    groups.push(group);
                    tracing::warn!(output = %self.output, error = %reason, "Bulk request failed; retrying on another node.");
                    continue;
                }
                Ok(Attempt::Whole { reason, .. }) => (group, reason),
                Ok(Attempt::TooLarge) if group.len() > 1 => {
                    let (first, second) = group.split_at(group.len() / 2);
                    groups.push(second.to_vec());
                    groups.push(first.to_vec());
                    continue;
                }
                Ok(Attempt::TooLarge) => {
                    let refused = vec![Refused {
                        item: group[0],
                        index: None,
                        id: None,
                        status: 413,
                        error_type: "request_too_large".into(),
                        reason: "the cluster refuses a request holding only this event (http.max_content_length)".into(),
                    }];
                    complete &= self.dead_letter(&body, &items, &refused);
                    continue;
                }
                Err(()) => {
                    complete = false;
                    continue;
                }
            };
            if retry.is_empty() {
                continue;
            }
            if self.settings.max_retries.is_some_and(|max| round >= max) {
                let refused: Vec<Refused> = retry
                    .iter()
                    .map(|&item| Refused {
                        item,
                        index: None,
                        id: None,
                        status: 0,
                        error_type: "retries_exhausted".into(),
                        reason: format!("gave up after {round} retries: {reason}"),
                    })
                    .collect();
                complete &= self.dead_letter(&body, &items, &refused);
                continue;
            }
            let delay = self.backoff().delay(round);
            round = round.saturating_add(1);
            self.metrics.retries.inc();
            tracing::warn!(
                output = %self.output,
                events = retry.len(),
                error = %reason,
                retry_in_ms = delay.as_millis() as u64,
                "Bulk request not fully indexed; retrying."
            );
            tokio::select! {
                biased;
                () = self.abort.cancelled() => return Vec::new(),
                () = tokio::time::sleep(delay) => {}
            }
            groups.push(retry);
        }
        if complete {
            for part in &parts {
                part.done();
            }
        }
        drop(parts);
        match body.try_into_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                buffer.into()
            }
            Err(_) => Vec::new(),
        }
    }

    /// One request. `Err(())` only when dead letters could not be written.
    async fn attempt(
        &self,
        body: &Bytes,
        items: &[ItemSpan],
        group: &[usize],
        payload: Bytes,
    ) -> Result<Attempt, ()> {
        let raw_len = payload.len();
        let level = self.settings.compression_level;
        let (payload, gzip) = if level > 0 {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw_len / 4 + 64),
                flate2::Compression::new(level),
            );
            match encoder.write_all(&payload).and_then(|()| encoder.finish()) {
                Ok(compressed) => (Bytes::from(compressed), true),
                Err(_) => (payload, false),
            }
        } else {
            (payload, false)
        };
        let sent = payload.len() as u64;
        self.metrics.requests.inc();
        let started = Instant::now();
        let result = self.client.bulk(payload, gzip).await;
        self.metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                self.metrics.response(None);
                crate::metrics::ComponentMetrics::add(&self.metrics.component.errors, 1);
                let immediate = matches!(error, RequestError::Unreachable { .. })
                    && self.client.host_count() > 1
                    && self.client.has_live_host();
                return Ok(Attempt::Whole {
                    reason: error.to_string(),
                    immediate,
                });
            }
        };
        self.metrics.response(Some(answer.status));
        crate::metrics::ComponentMetrics::add(&self.metrics.component.bytes, sent);
        match answer.status {
            200 => {}
            413 => return Ok(Attempt::TooLarge),
            status => {
                crate::metrics::ComponentMetrics::add(&self.metrics.component.errors, 1);
                let snippet = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                    .into_owned();
                return Ok(Attempt::Whole {
                    reason: format!("{} answered HTTP {status}: {snippet}", answer.host),
                    immediate: false,
                });
            }
        }
        if all_items_succeeded(&answer.body) {
            crate::metrics::ComponentMetrics::add(
                &self.metrics.component.events_out,
                group.len() as u64,
            );
            return Ok(Attempt::Partial {
                retry: Vec::new(),
                reason: String::new(),
            });
        }
        let response: BulkResponse = match serde_json::from_slice(&answer.body) {
            Ok(response) => response,
            Err(e) => {
                return Ok(Attempt::Whole {
                    reason: format!("{} sent an unreadable bulk answer: {e}", answer.host),
                    immediate: false,
                })
            }
        };
        if response.items.len() != group.len() {
            return Ok(Attempt::Whole {
                reason: format!(
                    "{} answered {} items for {} sent",
                    answer.host,
                    response.items.len(),
                    group.len()
                ),
                immediate: false,
            });
        }
        let mut retry = Vec::new();
        let mut refused = Vec::new();
        let mut indexed = 0u64;
        let mut reason = String::new();
        for (&item, result) in group.iter().zip(response.items) {
            let Some((_, result)) = result.into_iter().next() else {
                retry.push(item);
                continue;
            };
            match classify(result.status) {
                ItemOutcome::Indexed | ItemOutcome::Duplicate => indexed += 1,
                ItemOutcome::DeadLetter => {
                    let (error_type, text) = error_parts(result.error.as_ref());
                    refused.push(Refused {
                        item,
                        index: result._index,
                        id: result._id,
                        status: result.status,
                        error_type,
                        reason: text,
                    });
                }
                ItemOutcome::Retry => {
                    if reason.is_empty() {
                        let (error_type, text) = error_parts(result.error.as_ref());
                        reason = format!("item status {}: {error_type}: {text}", result.status);
                    }
                    retry.push(item);
                }
            }
        }
        crate::metrics::ComponentMetrics::add(&self.metrics.component.events_out, indexed);
        if !refused.is_empty() && !self.dead_letter(body, items, &refused) {
            return Err(());
        }
        Ok(Attempt::Partial { retry, reason })
    }

    /// Writes dead letters; false when they could not be written (the batch must fail).
    fn dead_letter(&self, body: &[u8], items: &[ItemSpan], refused: &[Refused]) -> bool {
        let actions: Vec<Option<Value>> = refused
            .iter()
            .map(|r| serde_json::from_slice(items[r.item].action(body)).ok())
            .collect();
        let from_action = |action: &Option<Value>, key: &str| -> Option<String> {
            let inner = action.as_ref()?.as_object()?.values().next()?;
            inner.get(key)?.as_str().map(str::to_string)
        };
        let names: Vec<(String, Option<String>)> = refused
            .iter()
            .zip(&actions)
            .map(|(r, action)| {
                (
                    r.index
                        .clone()
                        .or_else(|| from_action(action, "_index"))
                        .unwrap_or_default(),
                    r.id.clone().or_else(|| from_action(action, "_id")),
                )
            })
            .collect();
        let letters: Vec<DeadLetter<'_, RefusedItem<'_>>> = refused
            .iter()
            .zip(&names)
            .map(|(r, (index, id))| DeadLetter {
                fields: RefusedItem {
                    index,
                    id: id.as_deref(),
                    status: r.status,
                },
                error_type: &r.error_type,
                reason: &r.reason,
                source: items[r.item].source(body),
            })
            .collect();
        match self.dead_letters.write(&letters) {
            Ok(written) => {
                self.metrics.dead_letters.count(written);
                report_letters(
                    &self.output,
                    "Event refused",
                    &letters,
                    &self.dead_letters,
                    written,
                );
                true
            }
            Err(e) => {
                crate::metrics::ComponentMetrics::add(&self.metrics.component.errors, 1);
                tracing::error!(
                    output = %self.output,
                    path = %self.dead_letters.path().display(),
                    error = %e,
                    "Cannot write the dead-letter file; the batch is not acknowledged and will be read again."
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_answer_that_says_errors_false_skips_reading_the_items() {
        for answer in [
            r#"{"took":12,"errors":false,"items":[{"create":{"status":201}}]}"#,
            r#"{"errors":false,"items":[]}"#,
            "\n {\"took\":0,\"errors\":false}",
        ] {
            assert!(all_items_succeeded(answer.as_bytes()), "{answer}");
        }
        for answer in [
            r#"{"took":12,"errors":true,"items":[{"create":{"status":429}}]}"#,
            r#"{"took":,"errors":false,"items":[]}"#,
            r#"{"took":12,"errors":falsehood}"#,
            r#"{"items":[{"create":{"status":400}}],"errors":false}"#,
            "{\n  \"took\" : 3,\n  \"errors\" : false\n}",
            r#"["errors":false]"#,
            "",
        ] {
            assert!(!all_items_succeeded(answer.as_bytes()), "{answer}");
        }
    }

    proptest::proptest! {
        /// Whatever the items say, an answer written as nodes write it (`took`, `errors`,
        /// `items`, in that order) takes the shortcut exactly when no item failed.
        #[test]
        fn the_shortcut_never_hides_a_failed_item(
            statuses in proptest::collection::vec(
                proptest::sample::select(vec![200u16, 201, 400, 404, 409, 429, 500, 503]),
                0..20,
            ),
            took in 0u64..100_000,
        ) {
            let errors = statuses.iter().any(|status| !(200..300).contains(status));
            let items: Vec<Value> = statuses
                .iter()
                .map(|status| serde_json::json!({"create": {"_index": "i", "_id": "x", "status": status}}))
                .collect();
            let answer = serde_json::json!({"took": took, "errors": errors, "items": items});
            let body = serde_json::to_vec(&answer).unwrap();
            proptest::prop_assert_eq!(all_items_succeeded(&body), !errors);
        }
    }

    #[test]
    fn item_statuses_follow_the_logstash_policy() {
        assert_eq!(classify(201), ItemOutcome::Indexed);
        assert_eq!(classify(409), ItemOutcome::Duplicate);
        assert_eq!(classify(400), ItemOutcome::DeadLetter);
        assert_eq!(classify(404), ItemOutcome::DeadLetter);
        for status in [429, 500, 503, 403, 413] {
            assert_eq!(classify(status), ItemOutcome::Retry, "{status}");
        }
    }
}
