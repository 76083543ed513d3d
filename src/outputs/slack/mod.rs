//! `type = "slack"`: alerts to a Slack incoming webhook, without flooding the channel and
//! without ever holding up the pipeline.
//!
//! Why it is built this way:
//!
//! - **Slack never blocks indexing.** Alerts are a side output: the intake (this module's
//!   `run`) renders each wanted event into an alert, puts it into the output's own bounded
//!   queue and settles the delivery at once. A separate sender task (`sender.rs`) is the only
//!   one that waits on Slack. Delivery to Slack is therefore best effort by design: once
//!   queued, an alert is accounted for by the metrics (sent, coalesced, deduped, failed), not
//!   by the input's acknowledgement.
//! - **Rate limit, then coalesce, never drop silently.** Slack allows about one message per
//!   second per webhook, and may disable apps that keep sending past a 429. A token bucket
//!   (`limiter.rs`, `burst` then one per `rate_interval`) paces the sender; alerts arriving
//!   faster wait in the queue, and when the last token is used with several waiting, they go
//!   out as one summary message counting them by kind with a few samples (`coalesce.rs`).
//!   When the queue itself is full an alert keeps only its count (`slack_dropped_total`, a
//!   warning per episode), so memory stays bounded and every alert still shows up.
//! - **Duplicates are sent once** (`dedupe.rs`): a Filebeat resend repeats lines.
//! - **Slack's answers decide** (`client.rs`): 429 pauses the webhook for `Retry-After`, 5xx
//!   and network errors retry with bounded backoff, 400/403/404/410 disable the webhook until
//!   restart with one loud error. The pipeline goes on either way.
//! - **Drain on exit**: when the deliveries end (shutdown, end of `--once`) the sender keeps
//!   going, within the rate limit, for at most `drain_timeout`; what is left is counted and
//!   logged.
//! - **The webhook URL is a secret** (`config::WebhookUrl`): `Debug`/`Display` redact it, and
//!   HTTP errors are formatted without it.
//!
//! Metrics: `slack_sent_total`, `slack_coalesced_total`, `slack_deduped_total`,
//! `slack_rate_limited_total`, `slack_dropped_total`, `slack_queue_length`,
//! `slack_failures_total{reason}`; `events_in` counts wanted alerts, `events_out` alerts that
//! reached Slack (alone or in a summary), `events_failed` alerts that did not, and
//! `events_dropped` duplicates and alerts for an unconfigured webhook.

pub mod client;
pub mod coalesce;
pub mod config;
pub mod dedupe;
pub mod limiter;
pub mod message;
pub mod sender;
#[cfg(test)]
mod tests;

pub use config::{SlackConfig, WebhookUrl};

use super::delivery::Backoff;
use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::Delivery;
use client::{HttpTransport, Transport};
use coalesce::{Pending, Queued};
use dedupe::Deduper;
use limiter::TokenBucket;
use message::Renderer;
use sender::{RetryPolicy, Sender, Shared, SlackMetrics};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A Slack output ready to run.
#[derive(Debug)]
pub struct SlackOutput {
    config: SlackConfig,
    /// `None` when `webhook_url` is empty: the output is disabled.
    transport: Option<HttpTransport>,
}

impl OutputType for SlackOutput {
    type Config = SlackConfig;

    fn build(config: &SlackConfig, context: &BuildContext) -> Result<Self, ConfigErrors> {
        let transport = match config.webhook_url.expose() {
            Some(_) => Some(
                HttpTransport::new(config.webhook_url.clone(), config.request_timeout.0)
                    .map_err(|e| context.error_at(None, format!("slack output: {e}")))?,
            ),
            None => None,
        };
        let config = config.clone();
        Ok(Self { config, transport })
    }

    async fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        // Alerts are queued, never awaited by the pipeline, so the output is ready as soon
        // as it runs; a disabled or failing webhook shows in the `slack_*` metrics instead of
        // taking the whole process out of a load balancer.
        context.readiness.set_ready();
        match self.transport {
            Some(transport) => run_with(self.config, transport, deliveries, context).await,
            None => run_unconfigured(deliveries, context).await,
        }
    }
}

/// `webhook_url` is empty: say so once, then count alerts as dropped.
async fn run_unconfigured(
    deliveries: mpsc::Receiver<Delivery>,
    context: OutputContext,
) -> Result<(), OutputError> {
    tracing::warn!(output = %context.id, "Slack output has no webhook_url: it is disabled, alerts are counted as dropped (set the webhook URL to enable it).");
    super::settle_all(deliveries, &context, super::Disposal::Dropped).await;
    Ok(())
}

/// Runs the output over any transport (HTTP in production, a script in tests).
pub async fn run_with<T: Transport>(
    config: SlackConfig,
    transport: T,
    mut deliveries: mpsc::Receiver<Delivery>,
    context: OutputContext,
) -> Result<(), OutputError> {
    let metrics = SlackMetrics::register(&context.metrics);
    let renderer = Arc::new(Renderer::new(&config));
    let shared = Arc::new(Shared::new(Pending::new(
        config.queue_size.get(),
        config.max_samples,
    )));
    let sender = Sender {
        id: context.id.clone(),
        url: config.webhook_url.clone(),
        shared: shared.clone(),
        transport: Arc::new(transport),
        limiter: TokenBucket::new(config.burst.get(), config.rate_interval.0, Instant::now()),
        renderer: renderer.clone(),
        retry: RetryPolicy {
            max_attempts: config.max_attempts.get(),
            backoff: Backoff {
                initial: config.retry_initial_backoff.0,
                max: config.retry_max_backoff.0,
            },
        },
        drain_timeout: config.drain_timeout.0,
        abort: context.abort.clone(),
        metrics: metrics.clone(),
        deadline: None,
    };
    let sending = tokio::spawn(sender.run());
    let mut deduper = Deduper::new(config.dedupe_window.0, config.dedupe_max_entries.get());
    let mut key = String::new();
    let mut alerts = Vec::new();
    while let Some(delivery) = deliveries.recv().await {
        let now = Instant::now();
        let mut wanted = 0u64;
        let mut duplicates = 0u64;
        for event in delivery.events().iter().filter(|e| context.wants(e)) {
            wanted += 1;
            key.clear();
            config
                .dedupe_key
                .render_escaped(event, &mut key, Some("-"), |v, out| out.push_str(v));
            if deduper.first_sighting(&key, now) {
                alerts.push(renderer.alert(event));
            } else {
                duplicates += 1;
            }
        }
        metrics.base.events_in.fetch_add(wanted, Ordering::Relaxed);
        if duplicates > 0 {
            metrics.deduped.add(duplicates);
            metrics
                .base
                .events_dropped
                .fetch_add(duplicates, Ordering::Relaxed);
        }
        if !alerts.is_empty() {
            queue(&shared, &metrics, &context.id, &mut alerts);
        }
        delivery.settle();
    }
    shared.closed.cancel();
    if let Err(e) = sending.await {
        tracing::error!(output = %context.id, error = %e, "Slack sender task failed.");
    }
    Ok(())
}

/// Adds rendered alerts to the shared queue (or counts them as failed once the webhook is
/// disabled) and wakes the sender.
fn queue(shared: &Shared, metrics: &SlackMetrics, id: &str, alerts: &mut Vec<message::Alert>) {
    let mut counted_only = 0u64;
    let mut start_of_overflow = false;
    {
        let mut state = shared.lock();
        if state.disabled {
            metrics
                .base
                .events_failed
                .fetch_add(alerts.len() as u64, Ordering::Relaxed);
            alerts.clear();
            return;
        }
        for alert in alerts.drain(..) {
            if state.pending.push(alert) == Queued::CountedOnly {
                counted_only += 1;
            }
        }
        if counted_only > 0 && !state.overflowing {
            state.overflowing = true;
            start_of_overflow = true;
        }
        metrics
            .queue_length
            .set(i64::try_from(state.pending.len()).unwrap_or(i64::MAX));
    }
    if counted_only > 0 {
        metrics.dropped.add(counted_only);
    }
    if start_of_overflow {
        tracing::warn!(output = %id, "Slack alert queue full: further alerts are only counted in the next summary message (slack_dropped_total).");
    }
    shared.wake();
}
