//! Settings of `type = "kafka"` (output), and their validation.
//!
//! Defaults are the safe ones, not librdkafka's fastest: `acks = "all"` with the idempotent
//! producer (a resend after a lost answer is no duplicate, and nothing is acknowledged before
//! every in-sync replica has it) and no delivery timeout, so a message is never dropped
//! because the cluster was away for longer than some limit: it waits, and the pipeline with
//! it. Everything librdkafka can check without the network (every key and value, overrides
//! included) is checked here, so `sluice validate` reports it with a position.

use crate::config::{BuildContext, ConfigError, Interval};
use crate::event::Template;
use crate::kafka::{ClientSettings, Connection, KafkaSasl, KafkaTls};
use crate::outputs::elasticsearch::config::DeadLetterPath;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Batches whose messages are in flight at once (their delivery reports outstanding).
const DEFAULT_MAX_IN_FLIGHT: usize = 4;
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
    /// Batches in flight at once (default 4): more overlap broker round trips.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_batches: Spanned<usize>,
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

fn default_max_in_flight() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_IN_FLIGHT)
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

/// Validated settings of one Kafka output.
#[derive(Debug)]
pub struct Settings {
    pub client: ClientSettings,
    pub topic: Template,
    pub key: Option<Template>,
    pub max_in_flight: usize,
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
            ("linger.ms", "5".to_string()),
        ];
        let client = connection.client_config(context, &base)?;
        let max_in_flight = *config.max_in_flight_batches.get_ref();
        if max_in_flight == 0 {
            return Err(context.error_at(
                Some(config.max_in_flight_batches.span()),
                "max_in_flight_batches must be at least 1",
            ));
        }
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
