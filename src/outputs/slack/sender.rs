//! The sending task: takes alerts from the shared queue as the rate limit allows, posts them
//! and deals with Slack's answers (retries, 429 pauses, disabling a dead webhook), and on
//! close drains what is queued until `drain_timeout`.
//!
//! It is the only task that waits on Slack. The intake (see `mod.rs`) only locks the queue
//! for a moment to add alerts, so a slow, rate-limited or dead webhook never holds up the
//! pipeline.

use super::client::{Answer, TransientReason, Transport};
use super::coalesce::{Outgoing, Pending};
use super::config::WebhookUrl;
use super::limiter::TokenBucket;
use super::message::{Message, Renderer};
use crate::metrics::{ComponentMetrics, Counter, Gauge};
use crate::outputs::delivery::Backoff;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// Why a message failed, the `reason` label of `slack_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// 400 even as plain text: the webhook is disabled.
    BadRequest,
    /// 403: forbidden or wrong token; disabled.
    Forbidden,
    /// 404: webhook revoked, channel or team gone; disabled.
    NotFound,
    /// 410: channel archived; disabled.
    Gone,
    /// Another 3xx/4xx: this message failed.
    Rejected,
    /// Still 429 after `max_attempts`.
    RateLimited,
    /// Still 5xx after `max_attempts`.
    ServerError,
    /// Still unreachable after `max_attempts`.
    Network,
    /// Queued alerts left when `drain_timeout` ran out (or on a forced stop).
    DrainTimeout,
}

impl FailureReason {
    pub const ALL: [Self; 9] = [
        Self::BadRequest,
        Self::Forbidden,
        Self::NotFound,
        Self::Gone,
        Self::Rejected,
        Self::RateLimited,
        Self::ServerError,
        Self::Network,
        Self::DrainTimeout,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Gone => "gone",
            Self::Rejected => "rejected",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::DrainTimeout => "drain_timeout",
        }
    }

    fn for_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            410 => Self::Gone,
            _ => Self::Rejected,
        }
    }
}

/// The output's metrics, registered once when it starts.
#[derive(Debug, Clone)]
pub struct SlackMetrics {
    pub base: Arc<ComponentMetrics>,
    /// Messages Slack accepted (single alerts and summaries).
    pub sent: Counter,
    /// Alerts that reached Slack only as a count in a summary.
    pub coalesced: Counter,
    /// Alerts not sent because their `dedupe_key` was seen within the window.
    pub deduped: Counter,
    /// 429 answers.
    pub rate_limited: Counter,
    /// Alerts whose text was dropped because the queue was full (still counted in a summary).
    pub dropped: Counter,
    /// Alerts waiting to be sent.
    pub queue_length: Gauge,
    failures: Vec<(FailureReason, Counter)>,
}

impl SlackMetrics {
    pub fn register(base: &Arc<ComponentMetrics>) -> Self {
        Self {
            base: base.clone(),
            sent: base.counter("slack_sent_total", "Messages Slack accepted."),
            coalesced: base.counter(
                "slack_coalesced_total",
                "Alerts sent only as a count in a summary message.",
            ),
            deduped: base.counter(
                "slack_deduped_total",
                "Alerts suppressed as duplicates within dedupe_window.",
            ),
            rate_limited: base.counter("slack_rate_limited_total", "429 answers from Slack."),
            dropped: base.counter(
                "slack_dropped_total",
                "Alerts whose text was dropped because the queue was full (counted in a summary).",
            ),
            queue_length: base.gauge("slack_queue_length", "Alerts waiting to be sent."),
            failures: FailureReason::ALL
                .iter()
                .map(|reason| {
                    (
                        *reason,
                        base.counter_with(
                            "slack_failures_total",
                            "Messages that could not be delivered, by reason.",
                            &[("reason", reason.label())],
                        ),
                    )
                })
                .collect(),
        }
    }

    pub fn failure(&self, reason: FailureReason) -> Option<&Counter> {
        self.failures
            .iter()
            .find(|(r, _)| *r == reason)
            .map(|(_, c)| c)
    }

    fn fail(&self, reason: FailureReason, alerts: u64) {
        if let Some(counter) = self.failure(reason) {
            counter.inc();
        }
        self.base.events_failed.fetch_add(alerts, Ordering::Relaxed);
    }
}

/// The queue and flags the intake and the sender share.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// Cancelled when the intake has no more deliveries: drain and stop.
    pub closed: CancellationToken,
}

#[derive(Debug)]
pub struct State {
    pub pending: Pending,
    /// A permanent error disabled the webhook: alerts are counted as failed.
    pub disabled: bool,
    /// The queue is full (a warning was logged for this episode).
    pub overflowing: bool,
}

impl Shared {
    pub fn new(pending: Pending) -> Self {
        Self {
            state: Mutex::new(State {
                pending,
                disabled: false,
                overflowing: false,
            }),
            wake: Notify::new(),
            closed: CancellationToken::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// New alerts are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The wait after a 5xx or network error (`retry_initial_backoff`, `retry_max_backoff`).
    pub backoff: Backoff,
}

enum Fate {
    Done,
    Disabled,
    GaveUp,
}

pub struct Sender<T> {
    pub id: String,
    pub url: WebhookUrl,
    pub shared: Arc<Shared>,
    pub transport: Arc<T>,
    pub limiter: TokenBucket,
    pub renderer: Arc<Renderer>,
    pub retry: RetryPolicy,
    pub drain_timeout: Duration,
    pub abort: CancellationToken,
    pub metrics: SlackMetrics,
    /// Set once the intake closed: queued alerts must be sent before this.
    pub deadline: Option<Instant>,
}

impl<T: Transport> Sender<T> {
    pub async fn run(mut self) {
        loop {
            if !self.wait_for_work().await {
                self.give_up(0);
                return;
            }
            if !self.wait_until(self.limiter.ready_at()).await {
                self.give_up(0);
                return;
            }
            let Some(spare) = self.limiter.try_take(Instant::now()) else {
                continue;
            };
            let outgoing = {
                let mut state = self.shared.lock();
                let outgoing = state.pending.take(spare);
                if matches!(outgoing, Some(Outgoing::Summary(_))) {
                    state.overflowing = false;
                }
                self.metrics
                    .queue_length
                    .set(i64::try_from(state.pending.len()).unwrap_or(i64::MAX));
                outgoing
            };
            let Some(outgoing) = outgoing else {
                continue;
            };
            let alerts = outgoing.alerts();
            let message = match outgoing {
                Outgoing::One(alert) => alert.message,
                Outgoing::Summary(summary) => {
                    self.metrics.coalesced.add(summary.total);
                    tracing::debug!(output = %self.id, alerts = summary.total, "Coalescing alerts into one Slack message.");
                    self.renderer.summary(&summary)
                }
            };
            match self.deliver(&message, alerts).await {
                Fate::Done => {}
                Fate::GaveUp => {
                    self.give_up(alerts);
                    return;
                }
                Fate::Disabled => {
                    let mut state = self.shared.lock();
                    state.disabled = true;
                    let left = state.pending.clear();
                    self.metrics.queue_length.set(0);
                    self.metrics
                        .base
                        .events_failed
                        .fetch_add(left, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Posts one message until it is delivered or has definitely failed.
    async fn deliver(&mut self, message: &Message, alerts: u64) -> Fate {
        let mut body = message.payload();
        let mut has_blocks = message.blocks.is_some();
        let mut attempt = 0u32;
        // Only 5xx and network errors back off (a 429 waits for Retry-After instead).
        let mut backoff_round = 0u32;
        loop {
            attempt += 1;
            let Some(answer) = self.post(body.clone()).await else {
                return Fate::GaveUp;
            };
            let last = attempt >= self.retry.max_attempts;
            match answer {
                Answer::Posted => {
                    self.metrics.sent.inc();
                    self.metrics
                        .base
                        .events_out
                        .fetch_add(alerts, Ordering::Relaxed);
                    return Fate::Done;
                }
                Answer::RateLimited { retry_after } => {
                    self.metrics.rate_limited.inc();
                    self.limiter.pause_until(Instant::now() + retry_after);
                    if last {
                        tracing::error!(output = %self.id, webhook = %self.url, attempts = attempt, alerts, "Slack kept answering 429 (rate limited); giving up on this message.");
                        self.metrics.fail(FailureReason::RateLimited, alerts);
                        return Fate::Done;
                    }
                    tracing::warn!(output = %self.id, webhook = %self.url, retry_after_seconds = retry_after.as_secs(), "Slack rate limited the webhook (429); pausing it for Retry-After.");
                }
                Answer::BadPayload { error } if has_blocks => {
                    tracing::warn!(output = %self.id, webhook = %self.url, error = %error, "Slack refused the blocks (400); resending as plain text.");
                    body = message.text_only().payload();
                    has_blocks = false;
                }
                Answer::BadPayload { error } => {
                    return self.disable(400, &error, alerts);
                }
                Answer::Dead { status, error } => {
                    return self.disable(status, &error, alerts);
                }
                Answer::Rejected { status, error } => {
                    tracing::error!(output = %self.id, webhook = %self.url, status, error = %error, alerts, "Slack refused the message.");
                    self.metrics.fail(FailureReason::Rejected, alerts);
                    return Fate::Done;
                }
                Answer::Transient { reason, detail } => {
                    self.metrics.base.errors.fetch_add(1, Ordering::Relaxed);
                    let reason = match reason {
                        TransientReason::ServerError => FailureReason::ServerError,
                        TransientReason::Network => FailureReason::Network,
                    };
                    if last {
                        tracing::error!(output = %self.id, webhook = %self.url, error = %detail, attempts = attempt, alerts, "Slack unreachable; giving up on this message.");
                        self.metrics.fail(reason, alerts);
                        return Fate::Done;
                    }
                    let wait = self.retry.backoff.delay(backoff_round);
                    backoff_round = backoff_round.saturating_add(1);
                    tracing::warn!(output = %self.id, webhook = %self.url, error = %detail, attempt, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "Slack post failed; retrying.");
                    if !self.wait_until(Instant::now() + wait).await {
                        return Fate::GaveUp;
                    }
                }
            }
            // A resend is a message like any other for the rate limit.
            if !self.wait_until(self.limiter.ready_at()).await {
                return Fate::GaveUp;
            }
            let _ = self.limiter.try_take(Instant::now());
        }
    }

    fn disable(&self, status: u16, error: &str, alerts: u64) -> Fate {
        let reason = FailureReason::for_status(status);
        tracing::error!(
            output = %self.id,
            webhook = %self.url,
            status,
            error = %error,
            reason = reason.label(),
            "Slack refused the webhook permanently; it is disabled until restart and further alerts are counted as failed (events_failed)."
        );
        self.metrics.fail(reason, alerts);
        Fate::Disabled
    }

    /// Counts what can no longer be sent (drain time over, forced stop) and says so.
    fn give_up(&self, in_flight: u64) {
        let left = in_flight + self.shared.lock().pending.clear();
        self.metrics.queue_length.set(0);
        if left == 0 {
            return;
        }
        self.metrics.fail(FailureReason::DrainTimeout, left);
        tracing::warn!(
            output = %self.id,
            alerts = left,
            drain_timeout_ms = u64::try_from(self.drain_timeout.as_millis()).unwrap_or(u64::MAX),
            "Alerts not sent to Slack before stopping (drain_timeout over or forced stop); counted as failed."
        );
    }

    fn note_closed(&mut self) {
        if self.deadline.is_none() && self.shared.closed.is_cancelled() {
            self.deadline = Some(Instant::now() + self.drain_timeout);
        }
    }

    /// Waits for alerts; false when closed with nothing left (or aborted).
    async fn wait_for_work(&mut self) -> bool {
        let shared = self.shared.clone();
        let abort = self.abort.clone();
        loop {
            let notified = shared.wake.notified();
            if !shared.lock().pending.is_empty() {
                self.note_closed();
                return !abort.is_cancelled();
            }
            if shared.closed.is_cancelled() || abort.is_cancelled() {
                return false;
            }
            tokio::select! {
                _ = notified => {}
                _ = shared.closed.cancelled() => {}
                _ = abort.cancelled() => return false,
            }
        }
    }

    /// Sleeps until `until`; false when the drain deadline comes first (or on abort).
    async fn wait_until(&mut self, until: Instant) -> bool {
        let closed = self.shared.closed.clone();
        let abort = self.abort.clone();
        loop {
            self.note_closed();
            if self.deadline.is_some_and(|deadline| until > deadline) || abort.is_cancelled() {
                return false;
            }
            let open = self.deadline.is_none();
            tokio::select! {
                _ = sleep_until(until) => return true,
                _ = closed.cancelled(), if open => {}
                _ = abort.cancelled() => return false,
            }
        }
    }

    /// One post, cut short by the drain deadline or an abort.
    async fn post(&mut self, body: Vec<u8>) -> Option<Answer> {
        let closed = self.shared.closed.clone();
        let abort = self.abort.clone();
        let transport = self.transport.clone();
        let post = transport.post(body);
        tokio::pin!(post);
        loop {
            self.note_closed();
            let deadline = self.deadline;
            tokio::select! {
                answer = &mut post => return Some(answer),
                _ = closed.cancelled(), if deadline.is_none() => {}
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => return None,
                _ = abort.cancelled() => return None,
            }
        }
    }
}
