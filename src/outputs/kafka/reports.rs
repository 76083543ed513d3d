//! Delivery reports, counted per delivery instead of one future per message.
//!
//! librdkafka calls [`ReportContext::delivery`] on the producer's polling thread once for
//! every message. Each message of a delivery carries the same [`Reports`] as its opaque, so
//! a report costs an atomic decrement (and, for the rare failure, keeping the message to
//! resend or dead-letter it); the delivery's task is woken once, by the last report.

use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Sends every report to the [`Reports`] of its message, and tells the output when
/// librdkafka reported an error, which may be a fatal one.
#[derive(Default)]
pub struct ReportContext {
    /// Notified on every error librdkafka reports; the output then asks librdkafka whether
    /// it is fatal (the event itself carries the underlying code, not "fatal").
    pub errors: Notify,
}

impl ClientContext for ReportContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "librdkafka error.");
        self.errors.notify_one();
    }
}

impl ProducerContext for ReportContext {
    type DeliveryOpaque = Arc<Reports>;

    fn delivery(&self, result: &DeliveryResult<'_>, reports: Arc<Reports>) {
        if let Err((error, message)) = result {
            crate::sync::lock(&reports.failed).push((error.clone(), message.detach()));
        }
        reports.one_done();
    }
}

/// The outstanding reports of one round of messages (a delivery's, or its resends').
#[derive(Debug)]
pub struct Reports {
    /// Messages not yet reported, plus one while messages are still being sent.
    outstanding: AtomicUsize,
    failed: Mutex<Vec<(KafkaError, OwnedMessage)>>,
    done: Notify,
}

impl Reports {
    /// Reports for messages about to be sent; call [`Reports::sent_all`] once they are.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            outstanding: AtomicUsize::new(1),
            failed: Mutex::new(Vec::new()),
            done: Notify::new(),
        })
    }

    /// A message was handed to librdkafka with these reports as its opaque.
    pub fn sending(&self) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
    }

    /// librdkafka refused the message announced by [`Reports::sending`]: no report will come.
    pub fn not_sent(&self) {
        self.one_done();
    }

    /// Every message of the round is handed to librdkafka.
    pub fn sent_all(&self) {
        self.one_done();
    }

    fn one_done(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Stores a permit if the task is not waiting yet.
            self.done.notify_one();
        }
    }

    /// Waits until every message sent with these reports is reported (after `sent_all`).
    pub async fn finished(&self) {
        while self.outstanding.load(Ordering::Acquire) != 0 {
            self.done.notified().await;
        }
    }

    /// The messages whose report was a failure, with the error.
    pub fn take_failed(&self) -> Vec<(KafkaError, OwnedMessage)> {
        std::mem::take(&mut *crate::sync::lock(&self.failed))
    }
}

/// What resending needs of a failed message.
pub fn topic_key_payload(message: &OwnedMessage) -> (&str, Option<&[u8]>, &[u8]) {
    (
        message.topic(),
        message.key(),
        message.payload().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_round_finishes_only_once_sent_all_and_every_report_arrived() {
        let reports = Reports::new();
        reports.sending();
        reports.sending();
        reports.one_done();
        reports.one_done();
        // Both reports are in, but more messages could still be sent.
        assert_eq!(reports.outstanding.load(Ordering::Acquire), 1);
        reports.sent_all();
        tokio::time::timeout(std::time::Duration::from_secs(5), reports.finished())
            .await
            .expect("finished once the last report came");
        assert!(reports.take_failed().is_empty());
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_the_last_report() {
        let reports = Reports::new();
        reports.sending();
        reports.sent_all();
        let waiter = {
            let reports = reports.clone();
            tokio::spawn(async move { reports.finished().await })
        };
        reports.one_done();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
    }
}
