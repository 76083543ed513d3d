//! Writes each event to a Kafka topic as its JSON (the bytes the file output writes), through
//! librdkafka's idempotent producer.
//!
//! The point is that Kafka holds what the input checkpoints: a delivery is settled only when
//! the broker has acknowledged every one of its messages (librdkafka's delivery reports, with
//! `acks = all`). Vector's Kafka sink lost events when librdkafka's `message.timeout.ms`
//! expired during an outage; here that timeout is off, so an unreachable cluster makes messages
//! wait in librdkafka's bounded queue, then the pipeline waits behind them (backpressure).
//! What a delivery report still fails is sorted by [`is_permanent`]:
//!
//! - permanent (too large, unknown topic, not authorised, invalid record): the same message
//!   would fail again, so it goes to the shared dead-letter file with the broker's reason
//!   and the batch goes on;
//! - anything else: the message is resent after a backoff until it is taken, or until a forced
//!   shutdown, which leaves the delivery unsettled (the input reads it again).
//!
//! Several deliveries are in flight at once (`max_in_flight_batches`): enqueueing happens in
//! delivery order, so messages of one key keep their order; the reports are awaited by one
//! task per delivery.
//!
//! - `config.rs`: settings and their validation (the connection settings it shares with the
//!   Kafka input are in [`crate::kafka`]); `metrics.rs`: the output's counters.

pub mod config;
mod metrics;
#[cfg(test)]
mod tests;

pub use config::{KafkaOutputConfig, Settings};

use super::delivery::{Backoff, DeadLetter, DeadLetters, FieldWriter, LetterFields};
use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{CachingTemplate, Delivery, Event};
use metrics::OutputMetrics;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long to wait before enqueueing again when librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(10);

/// A validated Kafka output, ready to run.
#[derive(Debug)]
pub struct KafkaOutput {
    settings: Settings,
}

impl OutputType for KafkaOutput {
    type Config = KafkaOutputConfig;

    fn build(config: &KafkaOutputConfig, context: &BuildContext) -> Result<Self, ConfigErrors> {
        Ok(Self {
            settings: Settings::validate(config, context)?,
        })
    }

    async fn run(
        self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        let producer: FutureProducer =
            self.settings.client.0.create().map_err(|e| {
                OutputError::Kafka(format!("cannot create the Kafka producer: {e}"))
            })?;
        let shared = Arc::new(Shared {
            producer,
            metrics: OutputMetrics::register(context.metrics.clone()),
            dead_letters: DeadLetters::new(
                self.settings.dead_letter.resolve(&context.id),
                &context.id,
                self.settings.dead_letter_max_bytes,
            ),
            backoff: Backoff {
                initial: self.settings.retry_initial,
                max: self.settings.retry_max,
            },
            abort: context.abort.clone(),
            id: context.id.clone(),
        });
        context.readiness.set_ready();
        let mut encoder = Encoder {
            topic: CachingTemplate::new(self.settings.topic.clone()),
            key: self.settings.key.clone().map(CachingTemplate::new),
            payload: Vec::new(),
            topic_name: String::new(),
            key_text: String::new(),
        };
        let mut in_flight = JoinSet::new();
        while let Some(delivery) = deliveries.recv().await {
            while in_flight.len() >= self.settings.max_in_flight {
                in_flight.join_next().await;
            }
            let Some(sent) = encoder.enqueue(&shared, &delivery, &context).await else {
                // Aborted while librdkafka's queue was full: the delivery stays unsettled.
                break;
            };
            in_flight.spawn(shared.clone().settle(delivery, sent));
        }
        while in_flight.join_next().await.is_some() {}
        Ok(())
    }
}

/// What every task of the output shares.
struct Shared {
    producer: FutureProducer,
    metrics: OutputMetrics,
    dead_letters: DeadLetters,
    backoff: Backoff,
    abort: CancellationToken,
    id: String,
}

/// One message handed to librdkafka, or refused before it got there.
enum Sent {
    Queued(DeliveryFuture),
    Refused(Refusal),
}

/// A message the cluster (or the output) refused for good.
struct Refusal {
    topic: String,
    error_type: String,
    reason: String,
    payload: Vec<u8>,
}

impl LetterFields for &Refusal {
    fn write_fields(&self, fields: &mut FieldWriter<'_>) {
        fields.text("topic", &self.topic);
    }
}

/// Turns events into records; keeps its buffers between deliveries.
struct Encoder {
    topic: CachingTemplate,
    key: Option<CachingTemplate>,
    payload: Vec<u8>,
    topic_name: String,
    key_text: String,
}

impl Encoder {
    /// Enqueues every event of `delivery` this output wants, in order; `None` when a forced
    /// shutdown came while waiting for room in librdkafka's queue.
    async fn enqueue(
        &mut self,
        shared: &Shared,
        delivery: &Delivery,
        context: &OutputContext,
    ) -> Option<Vec<Sent>> {
        let mut sent = Vec::with_capacity(delivery.events().len());
        for event in delivery.events().iter().filter(|e| context.wants(e)) {
            sent.push(self.enqueue_event(shared, event).await?);
        }
        shared.metrics.component_in(sent.len() as u64);
        Some(sent)
    }

    async fn enqueue_event(&mut self, shared: &Shared, event: &Event) -> Option<Sent> {
        self.payload.clear();
        if let Err(e) = event.write_json(&mut self.payload) {
            return Some(Sent::Refused(Refusal {
                topic: String::new(),
                error_type: "unencodable".into(),
                reason: e.to_string(),
                payload: Vec::new(),
            }));
        }
        self.topic_name.clear();
        let resolved = self.topic.render_into(event, &mut self.topic_name);
        if !resolved || self.topic_name.is_empty() {
            return Some(Sent::Refused(Refusal {
                topic: self.topic_name.clone(),
                error_type: "unresolved_topic".into(),
                reason: format!(
                    "the topic template left {:?}: a field it names is missing",
                    self.topic_name
                ),
                payload: self.payload.clone(),
            }));
        }
        // A key naming a field the event lacks: no key (spread over partitions) rather than
        // every such event in the partition of the literal template text.
        let key = match &mut self.key {
            Some(template) => {
                self.key_text.clear();
                template
                    .render_into(event, &mut self.key_text)
                    .then_some(self.key_text.as_bytes())
            }
            None => None,
        };
        shared.metrics.bytes(self.payload.len() as u64);
        let mut round = 0;
        loop {
            let mut record =
                FutureRecord::<[u8], [u8]>::to(&self.topic_name).payload(&self.payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            let error = match shared.producer.send_result(record) {
                Ok(future) => return Some(Sent::Queued(future)),
                Err((error, _)) => error,
            };
            let wait = match error.rdkafka_error_code() {
                // librdkafka holds as many messages as it may: wait for reports to make room.
                Some(RDKafkaErrorCode::QueueFull) => QUEUE_FULL_WAIT,
                Some(code) if is_permanent(code) => {
                    return Some(Sent::Refused(Refusal {
                        topic: self.topic_name.clone(),
                        error_type: error_type(code),
                        reason: error.to_string(),
                        payload: self.payload.clone(),
                    }))
                }
                _ => {
                    tracing::warn!(output = %shared.id, %error, "Kafka refused to queue a message; retrying.");
                    round += 1;
                    shared.backoff.delay(round - 1)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.abort.cancelled() => return None,
            }
        }
    }
}

impl Shared {
    /// Waits for every message's report, resends what failed for now, dead-letters what failed
    /// for good, then settles the delivery (unless a forced shutdown came first).
    async fn settle(self: Arc<Self>, delivery: Delivery, sent: Vec<Sent>) {
        let count = sent.len() as u64;
        let mut refused = Vec::new();
        for message in sent {
            match message {
                Sent::Refused(refusal) => refused.push(refusal),
                Sent::Queued(future) => match self.await_report(future).await {
                    Report::Delivered => {}
                    Report::Refused(refusal) => refused.push(refusal),
                    Report::Abandoned => return,
                },
            }
        }
        let delivered = count - refused.len() as u64;
        if !refused.is_empty() {
            let letters: Vec<_> = refused
                .iter()
                .map(|refusal| DeadLetter {
                    fields: refusal,
                    error_type: &refusal.error_type,
                    reason: &refusal.reason,
                    source: &refusal.payload,
                })
                .collect();
            for refusal in &refused {
                tracing::error!(output = %self.id, topic = %refusal.topic, error = %refusal.reason, "Kafka refused an event for good; it goes to the dead-letter file.");
            }
            match self.dead_letters.write(&letters) {
                Ok(written) => {
                    self.metrics.dead_letters.count(written);
                    self.dead_letters.report_dropped(written);
                }
                Err(e) => {
                    tracing::error!(output = %self.id, path = %self.dead_letters.path().display(), error = %e, "Cannot write the dead-letter file; the batch is not acknowledged.");
                    return;
                }
            }
        }
        self.metrics.delivered(delivered);
        delivery.settle();
    }

    /// The final outcome of one message: delivered, refused for good, or abandoned on a
    /// forced shutdown. Failures that may pass are resent with backoff.
    async fn await_report(&self, mut future: DeliveryFuture) -> Report {
        let mut round = 0;
        loop {
            let outcome = tokio::select! {
                outcome = future => outcome,
                () = self.abort.cancelled() => return Report::Abandoned,
            };
            let (error, message) = match outcome {
                Ok(Ok(_)) => return Report::Delivered,
                Ok(Err((error, message))) => (error, message),
                // The producer went away: nothing more will be reported.
                Err(_) => return Report::Abandoned,
            };
            if let Some(code) = error.rdkafka_error_code().filter(|c| is_permanent(*c)) {
                return Report::Refused(refusal(&message, code, &error));
            }
            self.metrics.retries.inc();
            tracing::warn!(output = %self.id, topic = message.topic(), %error, "Kafka did not take a message; resending.");
            tokio::select! {
                () = tokio::time::sleep(self.backoff.delay(round)) => {}
                () = self.abort.cancelled() => return Report::Abandoned,
            }
            round = round.saturating_add(1);
            future = match self.resend(&message).await {
                Some(future) => future,
                None => return Report::Abandoned,
            };
        }
    }

    /// Enqueues `message` again, waiting while librdkafka's queue is full.
    async fn resend(&self, message: &OwnedMessage) -> Option<DeliveryFuture> {
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(message.topic())
                .payload(message.payload().unwrap_or_default());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match self.producer.send_result(record) {
                Ok(future) => return Some(future),
                Err((error, _)) => {
                    tracing::debug!(output = %self.id, %error, "Cannot queue a resend yet.");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(QUEUE_FULL_WAIT) => {}
                () = self.abort.cancelled() => return None,
            }
        }
    }
}

enum Report {
    Delivered,
    Refused(Refusal),
    Abandoned,
}

fn refusal(message: &OwnedMessage, code: RDKafkaErrorCode, error: &KafkaError) -> Refusal {
    Refusal {
        topic: message.topic().to_string(),
        error_type: error_type(code),
        reason: error.to_string(),
        payload: message.payload().unwrap_or_default().to_vec(),
    }
}

/// Errors that sending the same message again cannot cure.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::PolicyViolation
    )
}

/// The dead letter's `error.type`: librdkafka's name of the code, in snake case.
fn error_type(code: RDKafkaErrorCode) -> String {
    let name = format!("{code:?}");
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}
