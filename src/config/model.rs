//! The component model every front end produces (the module docs of `config` say why it is
//! apart from the TOML loader).

use super::api::ApiSettings;
use super::error::{ConfigError, ConfigErrors};
use super::interval::Interval;
use super::queue::QueueConfig;
use super::source::Source;
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Deserialize;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use toml_edit::Value;

/// A condition as written, with where it was written.
#[derive(Debug, Clone)]
pub struct ConditionText {
    pub text: String,
    pub span: Range<usize>,
}

/// One configured component: its id, its shared keys, and its type's settings.
#[derive(Debug, Clone)]
pub struct Component<T> {
    /// The table name for inputs/outputs; `id` or `<type>#<n>` for filters.
    pub id: String,
    pub type_name: String,
    /// Span of the component's table in the interpolated text.
    pub span: Range<usize>,
    /// The `if` condition, for filters and outputs.
    pub condition: Option<ConditionText>,
    /// Logstash's options common to every filter, or to every input (empty for outputs).
    pub common: CommonOptions,
    pub config: T,
}

/// The options Logstash gives every filter, applied by the chain (`filters::common`) when the
/// filter succeeded: taken out of the filter's table by the front end, like `id` and `if`,
/// so that no filter's settings repeat them. Values are templates (`%{field}`), as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommonOptions {
    /// `{ "name" = "value" }` or `{ "name" = ["v1", "v2"] }`.
    pub add_field: serde_json::Map<String, serde_json::Value>,
    pub add_tag: Vec<String>,
    pub remove_field: Vec<String>,
    pub remove_tag: Vec<String>,
    /// Inputs only: Logstash's input `type`, set as field `type` on each event that has none.
    pub event_type: Option<String>,
}

impl CommonOptions {
    /// The keys these options take in a filter's table.
    pub const KEYS: [&'static str; 4] = ["add_field", "add_tag", "remove_field", "remove_tag"];
    /// The keys they take in an input's table (Logstash's input `type`, `add_field`, `tags`),
    /// applied to each event the input builds, before the filters.
    pub const INPUT_KEYS: [&'static str; 3] = ["event_type", "add_field", "add_tag"];

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A closed set of component types (inputs, filters or outputs), dispatched on `type`.
pub trait ComponentKind: Sized {
    /// "input", "filter" or "output", for messages.
    const KIND: &'static str;
    /// Every accepted `type`.
    const TYPES: &'static [&'static str];
    /// Whether `if` is accepted.
    const CONDITIONAL: bool;
    /// Deserializes the table (without `type`, `id`, `if`) as `type_name`'s settings.
    fn from_type(type_name: &str, table: Value) -> Result<Self, toml_edit::de::Error>;
}

/// Deserializes a component table into its type's settings struct.
pub fn settings<T: DeserializeOwned>(table: Value) -> Result<T, toml_edit::de::Error> {
    T::deserialize(table.into_deserializer())
}

pub(super) fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Runtime knobs of the pipeline itself (`[pipeline]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "PipelineTable")]
pub struct PipelineSettings {
    /// Most events an input puts in one batch; by default 64, or
    /// [`PipelineSettings::DISK_QUEUE_BATCH_SIZE`] with the disk queue.
    pub batch_size: usize,
    /// Most bytes of raw input in one batch.
    pub batch_bytes: usize,
    /// Filter workers; 0 means one per core.
    pub workers: usize,
    /// Batches each channel between stages holds before the sender waits.
    pub queue_batches: usize,
    /// How long the outputs get to deliver what is in flight once shutdown starts (or, with
    /// `--once`, once the inputs have read everything) before the run gives up on it and
    /// exits with an error; what was not delivered is read again on the next start.
    pub shutdown_timeout: Interval,
    /// `[pipeline.queue]`: memory (the default) or disk.
    pub queue: QueueConfig,
}

/// Sized for a sidecar: the events in flight are what a sidecar's memory follows (see the
/// README's "Memory bound"), and batches of 64 cost no more CPU per event than batches of
/// 1,024 (callgrind: 941 M vs 952 M instructions for 20,000 seed-chain lines) while keeping
/// the working set of a batch in the caches. Outputs that want bigger requests (Elasticsearch's
/// `max_events`) gather several batches themselves.
impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            batch_size: 64,
            batch_bytes: 128 * 1024,
            workers: 0,
            queue_batches: 2,
            shutdown_timeout: Interval(std::time::Duration::from_secs(30)),
            queue: QueueConfig::default(),
        }
    }
}

impl PipelineSettings {
    /// `batch_size` when `[pipeline.queue]` is the disk queue and `batch_size` is not set.
    ///
    /// Why: with the disk queue an input never waits for the filter workers (its batches are
    /// taken once durable), so the workers are busy together and each holds the most its
    /// batches in flight allow; at 64 events the disk queue's peak RSS was 1.2 - 2 MiB above
    /// the memory queue's on the seed chain, and settled 2 MiB above over millions of lines.
    /// At 32 it is at the memory queue's level (15.5 - 16.6 against 15.7 - 16.2 MiB over
    /// fourteen alternating rounds, at or below it in ten; 5.4 - 6.1 against 5.4 - 5.9 MiB
    /// anonymous over 1.2 million lines) at a median 58 - 62 % of its events/s
    /// (BENCHMARKS.md, "Smaller batches with the disk queue").
    pub const DISK_QUEUE_BATCH_SIZE: usize = 32;

    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.workers
        }
    }
}

/// `[pipeline]` as written: what is not set takes [`PipelineSettings::default`], but
/// `batch_size` depends on the queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineTable {
    batch_size: Option<usize>,
    batch_bytes: Option<usize>,
    workers: Option<usize>,
    queue_batches: Option<usize>,
    shutdown_timeout: Option<Interval>,
    #[serde(default)]
    queue: QueueConfig,
}

impl From<PipelineTable> for PipelineSettings {
    fn from(table: PipelineTable) -> Self {
        let defaults = Self::default();
        let batch_size = table.batch_size.unwrap_or(match table.queue {
            QueueConfig::Memory => defaults.batch_size,
            QueueConfig::Disk(_) => Self::DISK_QUEUE_BATCH_SIZE,
        });
        Self {
            batch_size,
            batch_bytes: table.batch_bytes.unwrap_or(defaults.batch_bytes),
            workers: table.workers.unwrap_or(defaults.workers),
            queue_batches: table.queue_batches.unwrap_or(defaults.queue_batches),
            shutdown_timeout: table.shutdown_timeout.unwrap_or(defaults.shutdown_timeout),
            queue: table.queue,
        }
    }
}

/// A loaded, validated pipeline description.
#[derive(Debug)]
pub struct PipelineConfig<I, F, O> {
    pub source: Arc<Source>,
    pub data_dir: PathBuf,
    pub settings: PipelineSettings,
    pub inputs: Vec<Component<I>>,
    pub filters: Vec<Component<F>>,
    pub outputs: Vec<Component<O>>,
    /// The monitoring API (`[api]`).
    pub api: ApiSettings,
}

/// A pipeline file as far as it parsed: every component that parsed, and the problems of
/// the others. `sluice validate` builds what parsed, so the checks that need a built
/// component (a URL's scheme, a script's functions) run in the same pass as the parsing.
#[derive(Debug)]
pub struct Partial<I, F, O> {
    pub config: PipelineConfig<I, F, O>,
    pub errors: Vec<ConfigError>,
}

impl<I, F, O> Partial<I, F, O> {
    /// The configuration if nothing was wrong.
    pub fn complete(self) -> Result<PipelineConfig<I, F, O>, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(self.config)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}
