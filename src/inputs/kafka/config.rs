//! Settings of `type = "kafka"` (input), and their validation.
//!
//! Offsets are committed by sluice, never by librdkafka on its own: `enable.auto.offset.store`
//! is off, so librdkafka's periodic commit only ever sends what the input stored, and the
//! input stores a partition's offset only once every event before it is settled
//! (see `offsets.rs`). A new group starts at the `earliest` offset by default (Logstash's
//! default is `latest`): a group that first joins after data was written should read it, not
//! silently skip it.
//!
//! Read-ahead is bounded for a sidecar. librdkafka's defaults let one consumer hold hundreds
//! of MiB: a fetch takes up to 1 MiB *compressed* per partition (`max.partition.fetch.bytes`)
//! and 50 MiB in all, each record batch is decompressed whole (zstd-compressed JSON logs
//! shrink about 11 times, and librdkafka sizes the buffer by guessing upwards), and it keeps
//! fetching until 100,000 messages or 64 MiB wait (`queued.min.messages`,
//! `queued.max.messages.kbytes`). Reading the benchmark's topic (4 partitions, zstd) peaked
//! at 180 - 235 MiB, nearly all of it decompressed batches (heaptrack: 219 MiB live from
//! `rd_kafka_msgset_reader_decompress`); lowering the queue limits alone did not help, the
//! per-fetch size did. With 64 KiB per partition and 1 MiB per fetch (the least librdkafka
//! accepts beside its `message.max.bytes`), 10,000 messages or 4 MiB queued, it peaked at
//! 40 - 50 MiB, no slower (BENCHMARKS.md, "Kafka"); 128 KiB per partition held 9 - 14 MiB
//! more. `fetch.queue.backoff.ms` is how long a
//! partition whose queue is full waits before fetching again: librdkafka's 1 s stalled the
//! input once the smaller queue filled. All of them can be overridden (`librdkafka`), e.g. a
//! larger `max.partition.fetch.bytes` for a distant cluster with uncompressed topics.

use crate::config::{BuildContext, ConfigError};
use crate::kafka::{ClientSettings, Connection, KafkaSasl, KafkaTls};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

/// `type = "kafka"` (input).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInputConfig {
    /// `host:port` of one or more brokers, comma-separated.
    pub bootstrap_servers: Spanned<String>,
    /// Topics to subscribe to (a name starting with `^` is a regular expression).
    pub topics: Spanned<Vec<String>>,
    /// Consumer group: every sluice with the same group shares the partitions.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where a group without a committed offset starts: `earliest` (default) or `latest`.
    #[serde(default)]
    pub auto_offset_reset: OffsetReset,
    /// `json` (default): each message is one event, as the Kafka output writes it; `plain`:
    /// the message text goes into `message`.
    #[serde(default)]
    pub codec: Codec,
    /// Put topic, partition, offset, key, timestamp and group under `[@metadata][kafka]`.
    #[serde(default)]
    pub decorate_events: bool,
    /// librdkafka `client.id` (default `sluice`).
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub tls: Option<Spanned<KafkaTls>>,
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// Other librdkafka consumer settings (`"fetch.max.bytes" = "10485760"`), applied last.
    #[serde(default)]
    pub librdkafka: Option<Spanned<BTreeMap<String, String>>>,
}

fn default_group_id() -> String {
    "sluice".into()
}

/// `auto_offset_reset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    #[default]
    Earliest,
    Latest,
}

/// `codec`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    #[default]
    Json,
    Plain,
}

/// Validated settings of one Kafka input.
#[derive(Debug)]
pub struct Settings {
    pub client: ClientSettings,
    pub topics: Vec<String>,
    pub group_id: String,
    pub codec: Codec,
    pub decorate_events: bool,
}

impl Settings {
    pub fn validate(
        config: &KafkaInputConfig,
        context: &BuildContext,
    ) -> Result<Self, ConfigError> {
        let topics = config.topics.get_ref();
        if topics.is_empty() || topics.iter().any(|t| t.trim().is_empty()) {
            return Err(context.error_at(
                Some(config.topics.span()),
                "topics must name at least one topic, and no empty one",
            ));
        }
        if config.group_id.trim().is_empty() {
            return Err(context.error_at(None, "group_id must not be empty"));
        }
        let connection = Connection {
            bootstrap_servers: &config.bootstrap_servers,
            tls: config.tls.as_ref(),
            sasl: config.sasl.as_ref(),
            librdkafka: config.librdkafka.as_ref(),
        };
        let reset = match config.auto_offset_reset {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        };
        let base = [
            ("group.id", config.group_id.clone()),
            (
                "client.id",
                config.client_id.clone().unwrap_or_else(|| "sluice".into()),
            ),
            ("auto.offset.reset", reset.to_string()),
            // librdkafka commits what sluice stored, every second, and nothing else.
            ("enable.auto.commit", "true".to_string()),
            ("auto.commit.interval.ms", "1000".to_string()),
            ("enable.auto.offset.store", "false".to_string()),
            // A member joining or leaving moves only the partitions that change hands; the
            // others keep being read (no stop-the-world rebalance).
            (
                "partition.assignment.strategy",
                "cooperative-sticky".to_string(),
            ),
            // Lag and offsets for /metrics.
            ("statistics.interval.ms", "5000".to_string()),
            // What librdkafka reads ahead, bounded for a sidecar (module docs).
            ("queued.min.messages", "10000".to_string()),
            ("queued.max.messages.kbytes", "4096".to_string()),
            ("max.partition.fetch.bytes", "65536".to_string()),
            ("fetch.max.bytes", "1048576".to_string()),
            ("fetch.queue.backoff.ms", "5".to_string()),
        ];
        let client = connection.client_config(context, &base)?;
        Ok(Self {
            client,
            topics: topics.clone(),
            group_id: config.group_id.clone(),
            codec: config.codec,
            decorate_events: config.decorate_events,
        })
    }
}
