//! Settings of `type = "kafka"` (output), and their validation.
//!
//! Defaults are the safe ones, not librdkafka's fastest: `acks = "all"` with the idempotent
//! producer (a resend after a lost answer is no duplicate, and nothing is acknowledged before
//! every in-sync replica has it) and no delivery timeout, so a message is never dropped
//! because the cluster was away for longer than some limit: it waits, and the pipeline with
//! it. Everything librdkafka can check without the network (every key and value, overrides
//! included) is checked here, so `sluice validate` reports it with a position.

use crate::config::{BuildContext, ByteSize, ConfigError, Interval};
use crate::event::Template;
use crate::kafka::{ClientSettings, Connection, KafkaSasl, KafkaTls};
use crate::outputs::elasticsearch::config::DeadLetterPath;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Messages in flight at once (handed to librdkafka, delivery report outstanding). The
/// window is what keeps the broker's round trips (`acks = all`, `linger.ms`) from setting the
/// pace: 4 batches of 64 (the first default) held file -> Kafka to 27k - 34k events/s, a sixth
/// of the file input. 4,096 messages or 4 MiB, whichever is reached first, kept up with the
/// file input; 10,000 went no faster and held 10 MiB more (BENCHMARKS.md, "Kafka"). At a
/// 10 ms round trip that is still 400,000 messages a second.
const DEFAULT_MAX_IN_FLIGHT_EVENTS: usize = 4_096;
const DEFAULT_MAX_IN_FLIGHT_BYTES: u64 = 4 << 20;
const DEFAULT_RETRY_INITIAL: Duration = Duration::from_millis(500);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);

/// `type = "kafka"` (output).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOutputConfig {
    /// `host:port` of one or more brokers, comma-separated.
    pub bootstrap_servers: Spanned<String>,
    /// Topic name template: `%{field}`, `%{+YYYY.MM.dd}` (an event whose topic keeps an
    /// unresolved `%{...}` is dead-lettered).
    pub topic: Template,
    /// Partition key template (`%{[host][name]}`); unset: messages spread over partitions.
    #[serde(default)]
    pub key: Option<Template>,
    #[serde(default)]
    pub compression: Compression,
    /// Only `"all"`: the idempotent producer requires it, and anything less can lose what a
    /// leader acknowledged before it failed.
    #[serde(default)]
    pub acks: Acks,
    #[serde(default)]
    pub tls: Option<Spanned<KafkaTls>>,
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// Other librdkafka producer settings (`"linger.ms" = "20"`), applied last.
    #[serde(default)]
    pub librdkafka: Option<Spanned<BTreeMap<String, String>>>,
    /// Most messages awaiting the broker's acknowledgement at once (default 4,096); a batch
    /// that would go past it waits for earlier ones to be acknowledged.
    #[serde(default = "default_max_in_flight_events")]
    pub max_in_flight_events: Spanned<usize>,
    /// Most bytes of messages (JSON and keys) awaiting acknowledgement at once (default
    /// `"4MiB"`), whichever of the two limits is reached first.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: Spanned<ByteSize>,
    /// First wait before resending a message the cluster failed to take; doubles each round.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_interval: Interval,
    /// Longest wait between resends.
    #[serde(default = "default_retry_max")]
    pub retry_max_interval: Interval,
    /// Dead-letter file (default `<data_dir>/dead_letter/<output id>.ndjson`).
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// Largest size of the dead-letter file in bytes (default 1 GiB, 0 = no limit).
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
}

/// `compression`: librdkafka's codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// `acks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    #[default]
    All,
}

fn default_max_in_flight_events() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_IN_FLIGHT_EVENTS)
}
fn default_max_in_flight_bytes() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(DEFAULT_MAX_IN_FLIGHT_BYTES))
}
/// A count for a librdkafka setting, which takes at most `i32::MAX`.
fn librdkafka_count(count: u64) -> String {
    count.clamp(1, i32::MAX as u64).to_string()
}
fn default_retry_initial() -> Interval {
    Interval(DEFAULT_RETRY_INITIAL)
}
fn default_retry_max() -> Interval {
    Interval(DEFAULT_RETRY_MAX)
}
fn default_dead_letter_max_bytes() -> u64 {
    1 << 30
}

/// How much may await the broker's acknowledgement at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightLimit {
    pub events: usize,
    pub bytes: u64,
}

/// Validated settings of one Kafka output.
#[derive(Debug)]
pub struct Settings {
    pub client: ClientSettings,
    pub topic: Template,
    pub key: Option<Template>,
    pub max_in_flight: InFlightLimit,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub dead_letter: DeadLetterPath,
    pub dead_letter_max_bytes: u64,
}

impl Settings {
    pub fn validate(
        config: &KafkaOutputConfig,
        context: &BuildContext,
    ) -> Result<Self, ConfigError> {
        let connection = Connection {
            bootstrap_servers: &config.bootstrap_servers,
            tls: config.tls.as_ref(),
            sasl: config.sasl.as_ref(),
            librdkafka: config.librdkafka.as_ref(),
        };
        let Acks::All = config.acks;
        let base = [
            ("enable.idempotence", "true".to_string()),
            ("acks", "all".to_string()),
            // 0 = no limit: a message is never failed (and so never lost) for taking long;
            // the idempotent producer retries it for as long as it takes.
            ("message.timeout.ms", "0".to_string()),
            ("compression.type", config.compression.name().to_string()),
            // Messages wait up to 5 ms for others of their partition: the broker's work is
            // per request, and a batch compresses better than lone messages.
            ("linger.ms", "5".to_string()),
            // The in-flight limit bounds what librdkafka holds; its own queue (100,000
            // messages, 1 GiB by default) is sized to it, so a resend storm cannot grow it.
            (
                "queue.buffering.max.messages",
                librdkafka_count((*config.max_in_flight_events.get_ref() as u64).saturating_mul(2)),
            ),
            (
                "queue.buffering.max.kbytes",
                librdkafka_count(
                    config
                        .max_in_flight_bytes
                        .get_ref()
                        .0
                        .div_ceil(1024)
                        .saturating_mul(2),
                ),
            ),
        ];
        let client = connection.client_config(context, &base)?;
        if *config.max_in_flight_events.get_ref() == 0 {
            return Err(context.error_at(
                Some(config.max_in_flight_events.span()),
                "max_in_flight_events must be at least 1",
            ));
        }
        if config.max_in_flight_bytes.get_ref().0 == 0 {
            return Err(context.error_at(
                Some(config.max_in_flight_bytes.span()),
                "max_in_flight_bytes must be at least 1",
            ));
        }
        let max_in_flight = InFlightLimit {
            events: *config.max_in_flight_events.get_ref(),
            bytes: config.max_in_flight_bytes.get_ref().0,
        };
        Ok(Self {
            client,
            topic: config.topic.clone(),
            key: config.key.clone(),
            max_in_flight,
            retry_initial: config.retry_initial_interval.0,
            retry_max: config.retry_max_interval.0,
            dead_letter: match &config.dead_letter_path {
                Some(path) => DeadLetterPath::Explicit(path.clone()),
                None => DeadLetterPath::UnderDataDir(context.data_dir.clone()),
            },
            dead_letter_max_bytes: config.dead_letter_max_bytes,
        })
    }
}
