//! Reads events from Kafka topics as a member of a consumer group (librdkafka), so any
//! number of sluice instances share the partitions and take over from one that dies.
//!
//! At least once, as the Kafka output writes: a message's offset is stored for commit only
//! once every output settled its event, per partition as a contiguous watermark
//! (`offsets.rs`); librdkafka commits what was stored every second, and the input at once
//! when the stored offsets moved over [`COMMIT_STEP`] messages. On a rebalance the revoked
//! partitions' watermarks are committed synchronously before they are given up, and at
//! shutdown the input stops reading, waits for its batches to be acknowledged and commits.
//! A crash (kill -9) therefore re-reads at most the batches that were not yet acknowledged.
//!
//! Messages become events in `events.rs` (JSON objects as they are; anything else tagged
//! `_jsonparsefailure`; lines a sluice shipper wrote become line events again, `lines.rs`, split by
//! `envelope.rs`), and leave in batches of `batch_size` (or `batch_bytes` of payload) or
//! after [`LINGER`], whichever comes first; the reader only copies their bytes, a filter
//! worker parses them. While the pipeline is full the input stops polling: Kafka keeps the
//! data.
//!
//! The reader runs on a thread of its own, polling librdkafka directly (`BaseConsumer`):
//! librdkafka's rebalance callback runs inside that poll and may block (a synchronous commit,
//! a wait for the revoked partitions' batches to be acknowledged), and on a runtime worker
//! it would stall the very tasks that acknowledge them.
//!
//! - `config.rs`: settings; `offsets.rs`: watermarks and rebalances; `metrics.rs`: lag and
//!   offsets per partition from librdkafka's statistics.

mod config;
mod envelope;
mod events;
mod lines;
mod metrics;
mod offsets;
#[cfg(test)]
mod tests;

pub use config::{Codec, KafkaInputConfig, OffsetReset};
pub use events::JSON_PARSE_FAILURE_TAG;

use super::{InputContext, InputError, InputType, PipelineClosed};
use crate::config::{BuildContext, ConfigError};
use crate::event::{ack_channel, format_timestamp, AckReceipt, AckReceiver, Batch, BatchStatus};
use config::Settings;
use events::{OwnedOrigin, RawMessages};
use lines::KnownOrigins;
use metrics::InputMetrics;
use offsets::{Partitions, StreamId};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Statistics, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a partial batch waits for more messages.
const LINGER: Duration = Duration::from_millis(50);
/// How long a rebalance waits for the revoked partitions' batches to be acknowledged before
/// committing what is settled (the rest is read again by the partitions' next owner).
const REVOKE_DRAIN: Duration = Duration::from_secs(3);
/// How often acknowledgements are turned into stored offsets while reading.
const STORE_INTERVAL: Duration = Duration::from_millis(100);
/// Stored offsets that moved over this many messages are committed at once, besides
/// librdkafka's commit every second: at a few hundred thousand messages a second, a second is
/// a lot to read again after a crash or a broker restart.
const COMMIT_STEP: u64 = 20_000;

/// Why the Kafka input stopped.
#[derive(Debug, thiserror::Error)]
pub enum KafkaInputError {
    #[error("cannot create the Kafka consumer: {0}")]
    Create(rdkafka::error::KafkaError),
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        source: rdkafka::error::KafkaError,
    },
    #[error("the Kafka reader thread panicked: {0}")]
    Panicked(String),
}

/// The Kafka input.
#[derive(Debug)]
pub struct KafkaInput {
    settings: Settings,
}

impl InputType for KafkaInput {
    type Config = KafkaInputConfig;
    /// A topic has no end: producers may always write more.
    const FINITE: bool = false;

    fn build(config: &KafkaInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::validate(config, context)?,
        })
    }

    async fn run(self, context: InputContext) -> Result<(), InputError> {
        let (acks, receipts) = ack_channel();
        let shared = Arc::new(Shared {
            partitions: Mutex::new(Partitions::default()),
            receipts: Mutex::new(receipts),
            metrics: InputMetrics::register(context.metrics.clone()),
            id: context.id.clone(),
        });
        let consumer: Arc<BaseConsumer<GroupContext>> = self
            .settings
            .client
            .0
            .create_with_context(GroupContext(shared.clone()))
            .map(Arc::new)
            .map_err(KafkaInputError::Create)?;
        let topics: Vec<&str> = self.settings.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| KafkaInputError::Subscribe {
                topics: self.settings.topics.clone(),
                source,
            })?;
        context.readiness.set_ready();
        let batch_size = context.settings.batch_size.max(1);
        let mut reader = Reader {
            group_id: self.settings.group_id.as_str().into(),
            settings: self.settings,
            shared,
            consumer,
            batch_size,
            batch_bytes: context.settings.batch_bytes.max(1),
            topic_names: HashMap::new(),
            shutdown: context.shutdown,
            metrics: context.metrics,
            output: Some(context.output),
            acks,
            messages: RawMessages::with_capacity(batch_size, 0),
            known_origins: Arc::default(),
            ends: Vec::new(),
            skipped: 0,
            first_at: None,
            failing: false,
        };
        // librdkafka's calls block (a poll, a rebalance's synchronous commit and its wait for
        // the revoked partitions' acknowledgements), so the reader has a thread of its own
        // and never holds up the runtime's workers, which settle those very batches.
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            reader.read()?;
            reader.drain();
            Ok(())
        });
        match handle.await {
            Ok(result) => result,
            Err(join) => Err(KafkaInputError::Panicked(join.to_string()).into()),
        }
    }
}

/// What the reading task and librdkafka's rebalance callback share.
struct Shared {
    partitions: Mutex<Partitions>,
    receipts: Mutex<AckReceiver>,
    metrics: InputMetrics,
    id: String,
}

impl Shared {
    /// Applies every acknowledgement received so far; returns the positions to store.
    fn take_receipts(&self) -> TopicPartitionList {
        let mut partitions = crate::sync::lock(&self.partitions);
        let mut receipts = crate::sync::lock(&self.receipts);
        while let Ok(receipt) = receipts.try_recv() {
            if receipt.status == BatchStatus::Failed {
                tracing::warn!(input = %self.id, batch = receipt.batch_id, "A batch was not delivered; its partitions' offsets stay before it until a restart re-reads it.");
            }
            partitions.receive(receipt);
        }
        partitions.take_moved()
    }
}

/// librdkafka's callbacks: rebalances and statistics.
struct GroupContext(Arc<Shared>);

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        self.0.metrics.observe(&statistics);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        // Batches of these partitions still in the pipeline get a moment to be acknowledged,
        // so that their new owner does not read them again; then whatever is settled counts.
        let deadline = Instant::now() + REVOKE_DRAIN;
        let mut stored = self.0.take_receipts();
        while !crate::sync::lock(&self.0.partitions).settled(revoked) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            let more = self.0.take_receipts();
            for element in more.elements() {
                let _ = stored.add_partition_offset(
                    element.topic(),
                    element.partition(),
                    element.offset(),
                );
            }
        }
        if stored.count() > 0 {
            let _ = consumer.store_offsets(&stored);
        }
        let offsets = crate::sync::lock(&self.0.partitions).revoke(revoked);
        if offsets.count() == 0 {
            return;
        }
        match consumer.commit(&offsets, CommitMode::Sync) {
            Ok(()) => {
                self.0.metrics.rebalance_commits.inc();
                tracing::info!(input = %self.0.id, partitions = offsets.count(), "Committed the revoked partitions' offsets.");
            }
            Err(error) => {
                self.0.metrics.commit_failures.inc();
                tracing::warn!(input = %self.0.id, %error, "Cannot commit the revoked partitions' offsets; their new owner re-reads from the last commit.");
            }
        }
    }
}

/// The reading loop and the batch being filled, on a thread of its own.
struct Reader {
    settings: Settings,
    shared: Arc<Shared>,
    /// Shared with the loop that polls it, which borrows the reader mutably.
    consumer: Arc<BaseConsumer<GroupContext>>,
    batch_size: usize,
    batch_bytes: usize,
    /// Shared by the `[@metadata][kafka]` of every event (with `decorate_events`).
    group_id: Arc<str>,
    topic_names: HashMap<String, Arc<str>>,
    shutdown: tokio_util::sync::CancellationToken,
    metrics: Arc<crate::metrics::ComponentMetrics>,
    /// Dropped once reading stopped, so the pipeline knows this input sends no more.
    output: Option<super::BatchSender>,
    acks: crate::event::AckSender,
    /// The messages of the batch being filled.
    messages: RawMessages,
    /// The origins of the lines shippers wrote, learnt by the batches' decoders.
    known_origins: Arc<KnownOrigins>,
    /// The next offset of each partition the batch has messages of (a batch holds a few
    /// partitions: a short list beats a hash map).
    ends: Vec<(StreamId, i64)>,
    /// Messages that became no event (empty payloads).
    skipped: u64,
    first_at: Option<Instant>,
    /// Whether a consumer error was logged since the last message.
    failing: bool,
}

impl Reader {
    /// Reads until shutdown, sending full batches and storing offsets as they are settled.
    fn read(&mut self) -> Result<(), InputError> {
        let consumer = self.consumer.clone();
        let mut next_store = Instant::now() + STORE_INTERVAL;
        while !self.shutdown.is_cancelled() {
            let now = Instant::now();
            if now >= next_store {
                self.store();
                next_store = now + STORE_INTERVAL;
            }
            let linger = self.first_at.map(|at| at + LINGER);
            if linger.is_some_and(|at| now >= at) {
                self.flush()?;
                continue;
            }
            // Wakes for the next store, the batch's linger, or (within a store interval) a
            // shutdown.
            let wake = linger.map_or(next_store, |at| at.min(next_store));
            match consumer.poll(wake.saturating_duration_since(now)) {
                Some(Ok(message)) => {
                    self.failing = false;
                    self.push(&message);
                    if self.messages.len() >= self.batch_size
                        || self.messages.bytes() >= self.batch_bytes
                    {
                        self.flush()?;
                    }
                }
                Some(Err(error)) => self.report(&error),
                None => {}
            }
        }
        self.flush()?;
        Ok(())
    }

    /// Logs the first consumer error after a message, the rest at debug level (librdkafka
    /// reports a down cluster many times a second, and logs it itself too).
    fn report(&mut self, error: &rdkafka::error::KafkaError) {
        if self.failing {
            tracing::debug!(input = %self.shared.id, %error, "Kafka consumer error (again).");
        } else {
            tracing::warn!(input = %self.shared.id, %error, "Kafka consumer error; retrying until the cluster answers.");
            self.failing = true;
        }
    }

    /// Adds one message to the batch being filled.
    fn push(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let stream = crate::sync::lock(&self.shared.partitions).stream(topic, partition, offset);
        match self.ends.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, end)) => *end = offset + 1,
            None => self.ends.push((stream, offset + 1)),
        }
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
        let Some(payload) = message.payload().filter(|p| !p.is_empty()) else {
            self.skipped += 1;
            return;
        };
        let origin = self.settings.decorate_events.then(|| OwnedOrigin {
            topic: self.topic_name(topic),
            partition,
            offset,
            key: message.key().map(Box::from),
            timestamp: message.timestamp().to_millis(),
            group_id: self.group_id.clone(),
        });
        self.messages.push(payload, origin);
    }

    /// The shared name of `topic` (one allocation per topic, not per message).
    fn topic_name(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.topic_names.get(topic) {
            return name.clone();
        }
        let name: Arc<str> = topic.into();
        self.topic_names.insert(topic.to_string(), name.clone());
        name
    }

    /// Sends the batch being filled, if any, waiting while the pipeline is full.
    fn flush(&mut self) -> Result<(), InputError> {
        self.first_at = None;
        if self.ends.is_empty() {
            return Ok(());
        }
        let ends = std::mem::take(&mut self.ends);
        let next = RawMessages::with_capacity(self.messages.len(), self.messages.bytes());
        let messages = std::mem::replace(&mut self.messages, next);
        let skipped = std::mem::take(&mut self.skipped);
        let count = messages.len() as u64;
        let batch_id = crate::sync::lock(&self.shared.partitions).register(ends);
        if messages.is_empty() {
            // Nothing to deliver: the messages are done with.
            crate::sync::lock(&self.shared.partitions).receive(AckReceipt {
                batch_id,
                status: BatchStatus::Delivered,
            });
        } else {
            let Some(output) = &self.output else {
                return Err(PipelineClosed.into());
            };
            // The read time: the `@timestamp` of events that have none.
            let now = format_timestamp(chrono::Utc::now());
            let codec = self.settings.codec;
            let known = self.known_origins.clone();
            let batch = Batch::deferred(messages.len(), Some(self.acks.token(batch_id)), {
                move |out| messages.decode(codec, &now, &known, out)
            });
            output.send_blocking(batch)?;
        }
        super::count_handed_over(&self.metrics, count, skipped);
        Ok(())
    }

    /// Stores the offsets that settled batches moved (librdkafka commits them every second,
    /// or now when they moved far).
    fn store(&self) {
        let stored = self.shared.take_receipts();
        if stored.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.store_offsets(&stored) {
            // A partition revoked meanwhile: its new owner re-reads from the last commit.
            tracing::debug!(input = %self.shared.id, %error, "Cannot store offsets.");
        }
        if crate::sync::lock(&self.shared.partitions).commit_due(COMMIT_STEP) {
            // Asynchronous: a failure is logged by librdkafka and the periodic commit retries.
            if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Async) {
                tracing::debug!(input = %self.shared.id, %error, "Cannot commit offsets now.");
            }
        }
    }

    /// After reading stopped: waits until every batch is acknowledged (or the pipeline is
    /// gone), stores and commits the final offsets synchronously.
    fn drain(&mut self) {
        self.output = None;
        loop {
            self.store();
            let in_flight = crate::sync::lock(&self.shared.partitions).in_flight();
            if in_flight == 0 {
                break;
            }
            std::thread::sleep(STORE_INTERVAL);
        }
        let positions = crate::sync::lock(&self.shared.partitions).positions();
        if positions.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(&positions, CommitMode::Sync) {
            self.shared.metrics.commit_failures.inc();
            tracing::warn!(input = %self.shared.id, %error, "Cannot commit the final offsets; the next start re-reads from the last commit.");
        }
    }
}
