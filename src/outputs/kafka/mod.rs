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
//! Several deliveries are in flight at once, up to `max_in_flight_events` messages or
//! `max_in_flight_bytes` of them (a budget of messages rather than of batches: the pipeline's
//! batches are small, and a window of a few of them left the broker's round trips setting the
//! pace). Enqueueing happens in delivery order, so messages of one key keep their order.
//!
//! Delivery reports cost as little per message as librdkafka allows: every message of a
//! delivery carries the same [`Reports`] (an `Arc` clone), whose callback counts it down and
//! keeps only failures; the delivery's task wakes once, when the last report arrived. (One
//! future per message, each raced against the shutdown token, was about 5 % of a file ->
//! Kafka run's CPU samples, besides the token's lock traffic.)
//!
//! - `config.rs`: settings and their validation (the connection settings it shares with the
//!   Kafka input are in [`crate::kafka`]); `metrics.rs`: the output's counters; `reports.rs`:
//!   delivery reports counted per delivery.

pub mod config;
mod metrics;
mod reports;
#[cfg(test)]
mod tests;

pub use config::{KafkaOutputConfig, Settings};

use super::delivery::{Backoff, DeadLetter, DeadLetters, FieldWriter, LetterFields};
use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{CachingTemplate, Delivery, Event};
use config::InFlightLimit;
use metrics::OutputMetrics;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use reports::{topic_key_payload, ReportContext, Reports};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
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
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        let producer: ThreadedProducer<ReportContext> = self
            .settings
            .client
            .0
            .create_with_context(ReportContext::default())
            .map_err(|e| OutputError::Kafka(format!("cannot create the Kafka producer: {e}")))?;
        self.run_with(producer, deliveries, context).await
    }
}

impl KafkaOutput {
    /// Runs with `producer` until the deliveries end, a
    /// forced shutdown, or a fatal librdkafka error: that one fails the output (the pipeline
    /// then logs it, reports the output not ready and stops), with the deliveries in flight
    /// left unsettled, so their input reads them again after a restart.
    async fn run_with(
        self,
        producer: ThreadedProducer<ReportContext>,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        let fatal = CancellationToken::new();
        let shared = Arc::new(Shared {
            abort: context.abort.child_token(),
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
        let window = Window::new(self.settings.max_in_flight);
        let watcher = tokio::spawn(shared.clone().watch_fatal(fatal.clone()));
        let mut in_flight = JoinSet::new();
        loop {
            let mut delivery = tokio::select! {
                biased;
                () = fatal.cancelled() => break,
                delivery = deliveries.recv() => match delivery {
                    Some(delivery) => delivery,
                    None => break,
                },
            };
            // Settled deliveries' tasks are done with; their permits are back already.
            while in_flight.try_join_next().is_some() {}
            let events = window.take_events(delivery.events().len()).await;
            let Some(pending) = encoder.enqueue(&shared, &delivery, &context).await else {
                // Aborted (or failed) while librdkafka's queue was full: the delivery stays
                // unsettled.
                break;
            };
            // librdkafka holds copies of the messages (and resends from its reports): the
            // events can be freed while the broker's acknowledgements are awaited.
            delivery.release_events();
            let bytes = window.take_bytes(pending.bytes).await;
            in_flight.spawn(shared.clone().settle(delivery, pending, (events, bytes)));
        }
        while in_flight.join_next().await.is_some() {}
        watcher.abort();
        if fatal.is_cancelled() {
            let (code, reason) = shared
                .producer
                .client()
                .fatal_error()
                .unwrap_or((RDKafkaErrorCode::Fatal, String::new()));
            return Err(OutputError::Kafka(format!(
                "the Kafka producer hit a fatal error and sends nothing more ({code:?}: {reason}); the events in flight stay unacknowledged"
            )));
        }
        Ok(())
    }
}

/// The in-flight budget: permits for messages and KiB, held by each delivery's task until it
/// is settled (or abandoned: a dropped task gives them back too).
struct Window {
    events: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    limit_events: u32,
    limit_kib: u32,
}

impl Window {
    fn new(limit: InFlightLimit) -> Self {
        let limit_events = u32::try_from(limit.events).unwrap_or(u32::MAX).max(1);
        let limit_kib = u32::try_from(limit.bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            events: Arc::new(Semaphore::new(limit_events as usize)),
            kib: Arc::new(Semaphore::new(limit_kib as usize)),
            limit_events,
            limit_kib,
        }
    }

    /// Waits until `count` more messages fit (a delivery larger than the whole window waits
    /// for an empty one).
    async fn take_events(&self, count: usize) -> Option<OwnedSemaphorePermit> {
        let count = u32::try_from(count)
            .unwrap_or(u32::MAX)
            .min(self.limit_events);
        // The semaphores are never closed.
        self.events.clone().acquire_many_owned(count).await.ok()
    }

    /// Takes room for `bytes` just enqueued, waiting while earlier deliveries fill the window
    /// (so the next delivery waits until there is room again).
    async fn take_bytes(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.limit_kib);
        self.kib.clone().acquire_many_owned(kib).await.ok()
    }
}

/// The window permits a delivery holds while in flight.
type Permits = (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>);

/// What every task of the output shares.
struct Shared {
    producer: ThreadedProducer<ReportContext>,
    metrics: OutputMetrics,
    dead_letters: DeadLetters,
    backoff: Backoff,
    /// Cancelled by a forced shutdown or a fatal error: stop retrying, leave unsettled.
    abort: CancellationToken,
    id: String,
}

/// A delivery's messages handed to librdkafka, and those refused before they got there.
struct Pending {
    reports: Arc<Reports>,
    /// Events this output took from the delivery (handed to librdkafka or refused).
    count: u64,
    /// Bytes of their JSON and keys.
    bytes: u64,
    refused: Vec<Refusal>,
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
    ) -> Option<Pending> {
        let mut pending = Pending {
            reports: Reports::new(),
            count: 0,
            bytes: 0,
            refused: Vec::new(),
        };
        for event in crate::event::prefetch::walk(delivery.events()).filter(|e| context.wants(e)) {
            pending.count += 1;
            if let Some(refusal) = self.enqueue_event(shared, event, &mut pending).await? {
                pending.refused.push(refusal);
            }
        }
        pending.reports.sent_all();
        shared.metrics.component_in(pending.count);
        shared.metrics.bytes(pending.bytes);
        Some(pending)
    }

    /// Hands one event to librdkafka; `Some(refusal)` when it cannot be sent at all, `None`
    /// (outer) on a forced shutdown while librdkafka's queue was full.
    async fn enqueue_event(
        &mut self,
        shared: &Shared,
        event: &Event,
        pending: &mut Pending,
    ) -> Option<Option<Refusal>> {
        self.payload.clear();
        if let Err(e) = event.write_json(&mut self.payload) {
            return Some(Some(Refusal {
                topic: String::new(),
                error_type: "unencodable".into(),
                reason: e.to_string(),
                payload: Vec::new(),
            }));
        }
        self.topic_name.clear();
        let resolved = self.topic.render_into(event, &mut self.topic_name);
        if !resolved || self.topic_name.is_empty() {
            return Some(Some(Refusal {
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
        pending.bytes += (self.payload.len() + key.map_or(0, <[u8]>::len)) as u64;
        let message = Outgoing {
            topic: &self.topic_name,
            key,
            payload: &self.payload,
        };
        match shared.send(&message, &pending.reports).await? {
            Ok(()) => Some(None),
            Err((code, error)) => Some(Some(Refusal {
                topic: self.topic_name.clone(),
                error_type: error_type(code),
                reason: error.to_string(),
                payload: self.payload.clone(),
            })),
        }
    }
}

/// One message to hand to librdkafka.
struct Outgoing<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
}

impl Shared {
    /// Cancels `fatal` and stops every wait of the output once librdkafka reports a fatal
    /// error (after one, the producer sends nothing more: retrying would wait forever).
    async fn watch_fatal(self: Arc<Self>, fatal: CancellationToken) {
        loop {
            self.producer.context().errors.notified().await;
            if let Some((code, reason)) = self.producer.client().fatal_error() {
                tracing::error!(output = %self.id, ?code, reason, "The Kafka producer hit a fatal error.");
                fatal.cancel();
                self.abort.cancel();
                return;
            }
        }
    }

    /// Hands `message` to librdkafka with `reports` as its opaque, waiting while librdkafka's
    /// queue is full and retrying refusals that may pass; `Some(Err)` for a permanent refusal,
    /// `None` on a forced shutdown.
    async fn send(
        &self,
        message: &Outgoing<'_>,
        reports: &Arc<Reports>,
    ) -> Option<Result<(), (RDKafkaErrorCode, KafkaError)>> {
        let mut round = 0;
        loop {
            let mut record = BaseRecord::<[u8], [u8], Arc<Reports>>::with_opaque_to(
                message.topic,
                reports.clone(),
            )
            .payload(message.payload);
            if let Some(key) = message.key {
                record = record.key(key);
            }
            reports.sending();
            let error = match self.producer.send(record) {
                Ok(()) => return Some(Ok(())),
                Err((error, _)) => {
                    reports.not_sent();
                    error
                }
            };
            let wait = match error.rdkafka_error_code() {
                // librdkafka holds as many messages as it may: wait for reports to make room.
                Some(RDKafkaErrorCode::QueueFull) => QUEUE_FULL_WAIT,
                Some(code) if is_permanent(code) => return Some(Err((code, error))),
                _ => {
                    tracing::warn!(output = %self.id, %error, "Kafka refused to queue a message; retrying.");
                    round += 1;
                    self.backoff.delay(round - 1)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.abort.cancelled() => return None,
            }
        }
    }

    /// Waits for every message's report, resends what failed for now, dead-letters what failed
    /// for good, then settles the delivery (unless a forced shutdown came first). The window
    /// permits go back when this ends, settled or not.
    async fn settle(self: Arc<Self>, delivery: Delivery, pending: Pending, _permits: Permits) {
        let Pending {
            mut reports,
            count,
            mut refused,
            ..
        } = pending;
        let mut round = 0;
        loop {
            tokio::select! {
                () = reports.finished() => {}
                () = self.abort.cancelled() => return,
            }
            let mut again = Vec::new();
            for (error, message) in reports.take_failed() {
                match error.rdkafka_error_code().filter(|c| is_permanent(*c)) {
                    Some(code) => refused.push(refusal(&message, code, &error)),
                    None => again.push((error, message)),
                }
            }
            let Some((error, _)) = again.first() else {
                break;
            };
            self.metrics.retries.add(again.len() as u64);
            tracing::warn!(output = %self.id, messages = again.len(), %error, "Kafka did not take some messages; resending.");
            tokio::select! {
                () = tokio::time::sleep(self.backoff.delay(round)) => {}
                () = self.abort.cancelled() => return,
            }
            round = round.saturating_add(1);
            reports = Reports::new();
            for (_, message) in &again {
                let (topic, key, payload) = topic_key_payload(message);
                let outgoing = Outgoing {
                    topic,
                    key,
                    payload,
                };
                match self.send(&outgoing, &reports).await {
                    Some(Ok(())) => {}
                    Some(Err((code, error))) => refused.push(refusal(message, code, &error)),
                    None => return,
                }
            }
            reports.sent_all();
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
}

fn refusal(message: &OwnedMessage, code: RDKafkaErrorCode, error: &KafkaError) -> Refusal {
    let (topic, _, payload) = topic_key_payload(message);
    Refusal {
        topic: topic.to_string(),
        error_type: error_type(code),
        reason: error.to_string(),
        payload: payload.to_vec(),
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
