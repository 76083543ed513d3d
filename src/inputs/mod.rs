//! Inputs: where events come from.
//!
//! Each input type has a settings struct (`config.rs` in its folder) and a runtime that sends
//! [`Batch`]es into the pipeline and learns through [`crate::event::AckToken`]s when every
//! output is done with them. Inputs acknowledge upstream (checkpoints, Beats ACKs) only
//! through those receipts.
//!
//! Every input type is registered once, in the table of `input_types!` below: the settings
//! enum [`InputConfig`], the type names and their parsing, the runtime [`Input`] and its
//! dispatch all follow from it, so nothing else here names a type.
//!
//! To add an input: give it a folder (`inputs/kafka/`) whose runtime implements
//! [`InputType`] (its settings type, whether it ends under `--once`, how it is built and run),
//! then add one line to the table. Its failures need a variant in [`InputError`] only if they
//! are of a new kind.

pub mod beats;
pub mod codec;
pub mod file;
pub mod kafka;
pub mod socket;
pub mod stdin;
pub mod tcp;
pub mod udp;
pub mod watermark;

use crate::config::{BuildContext, ConfigError, PipelineSettings};
use crate::event::{Batch, Event, SourcePosition};
use crate::metrics::ComponentMetrics;
use crate::queue::QueueWriter;
use crate::readiness::ReadinessHandle;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Declares every input type from one table (below): each line is
/// `"type name" => Variant(settings type => runtime type)`, the runtime implementing
/// [`InputType`] for those settings. Runtimes are boxed: each is built once per input.
macro_rules! input_types {
    ($($name:literal => $variant:ident($config:ty => $runtime:ty),)+) => {
        impl Input {
            /// Whether the input ends by itself under `--once`.
            pub fn is_finite(&self) -> bool {
                match self {
                    $(Self::$variant(_) => <$runtime as InputType>::FINITE,)+
                }
            }

            /// Runs until the input is exhausted (`--once`) or `shutdown` is cancelled, then
            /// waits for its in-flight batches to be acknowledged.
            pub async fn run(self, context: InputContext) -> Result<(), InputError> {
                match self {
                    $(Self::$variant(input) => InputType::run(*input, context).await,)+
                }
            }
        }

        crate::config::component_types! {
            pub enum InputConfig: "input", conditional: false;
            pub enum Input of Box, built by InputType from BuildContext;
            $($name => $variant($config => $runtime),)+
        }
    };
}

input_types! {
    "beats" => Beats(beats::BeatsInputConfig => beats::BeatsInput),
    "file" => File(file::FileInputConfig => file::FileInput),
    "stdin" => Stdin(stdin::StdinInputConfig => stdin::StdinInput),
    "tcp" => Tcp(tcp::TcpInputConfig => tcp::TcpInput),
    "udp" => Udp(udp::UdpInputConfig => udp::UdpInput),
    "kafka" => Kafka(kafka::KafkaInputConfig => kafka::KafkaInput),
}

/// What an input type gives the pipeline: implemented by each input's runtime and named in
/// the `input_types!` table.
pub trait InputType: Sized {
    /// Its settings: the input's table in the pipeline file, less `type` and `id`.
    type Config;
    /// Whether it ends by itself under `--once` (a file does; a socket waits for clients).
    const FINITE: bool;

    /// Validates the settings; every problem points at its place in the pipeline file.
    fn build(config: &Self::Config, context: &BuildContext) -> Result<Self, ConfigError>;

    /// Runs until the input is exhausted (`--once`) or `context.shutdown` is cancelled, then
    /// waits for its in-flight batches to be acknowledged.
    fn run(
        self,
        context: InputContext,
    ) -> impl std::future::Future<Output = Result<(), InputError>> + Send;
}

/// Where an input sends its batches: the writer half of the pipeline's queue
/// ([`crate::queue`]), with its backpressure.
///
/// An input drops its sender once it has read all it will read; under `--once` that is how
/// the pipeline learns the inputs have reached their end ([`BatchSender::reporting_end`]).
#[derive(Debug, Clone)]
pub struct BatchSender {
    queue: QueueWriter,
    /// Logstash's options common to every input (`type`, `add_field`, `tags`), applied to
    /// each event before the pipeline takes it.
    decoration: Option<Decoration>,
    /// Shared by the senders of the inputs the pipeline waits on; dropped with the last.
    _end: Option<Arc<DropGuard>>,
}

/// What a [`BatchSender`] does to each event it sends (shown by `Debug` as its presence).
#[derive(Clone)]
struct Decoration(Arc<dyn Fn(&mut Event) + Send + Sync>);

impl std::fmt::Debug for Decoration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoration")
    }
}

/// The input's end closed: the pipeline is gone.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the pipeline is no longer accepting events")]
pub struct PipelineClosed;

impl BatchSender {
    pub fn new(queue: QueueWriter) -> Self {
        Self {
            queue,
            decoration: None,
            _end: None,
        }
    }

    /// The same sender, running `decorate` on every event it sends.
    pub fn decorating(self, decorate: Arc<dyn Fn(&mut Event) + Send + Sync>) -> Self {
        Self {
            decoration: Some(Decoration(decorate)),
            ..self
        }
    }

    /// A sender whose last clone going away releases its share of `end`: the guard's token
    /// is cancelled once every input holding a share has dropped its sender.
    pub fn reporting_end(queue: QueueWriter, end: Arc<DropGuard>) -> Self {
        Self {
            queue,
            decoration: None,
            _end: Some(end),
        }
    }

    /// Sends a batch, waiting while the pipeline is full.
    pub async fn send(&self, mut batch: Batch) -> Result<(), PipelineClosed> {
        if let Some(Decoration(decorate)) = &self.decoration {
            batch.decorate(decorate.clone());
        }
        self.queue.send(batch).await.map_err(|_| PipelineClosed)
    }

    /// Sends from a blocking thread (the file reader), waiting while the pipeline is full.
    pub fn send_blocking(&self, mut batch: Batch) -> Result<(), PipelineClosed> {
        if let Some(Decoration(decorate)) = &self.decoration {
            batch.decorate(decorate.clone());
        }
        self.queue.send_blocking(batch).map_err(|_| PipelineClosed)
    }

    /// Where the queue found input `source`'s batches ending at start, if the queue keeps
    /// positions (see [`QueueWriter::recovered_positions`]).
    pub fn recovered_positions(&self, source: &str) -> Option<Vec<SourcePosition>> {
        self.queue.recovered_positions(source)
    }
}

/// Counts what an input handed to the pipeline: `passed` events, read together with `skipped`
/// records that became no event (blank lines). Every input counts through here, so for each input
/// `events_in` (records read) = `events_out` (events handed on) + `events_dropped`, and every
/// exposition (`/metrics`, `/_node/stats`, the end-of-run totals) reads these same counters.
/// Called once per batch, after the pipeline took it.
pub fn count_handed_over(metrics: &ComponentMetrics, passed: u64, skipped: u64) {
    ComponentMetrics::add(&metrics.events_in, passed + skipped);
    ComponentMetrics::add(&metrics.events_out, passed);
    if skipped > 0 {
        ComponentMetrics::add(&metrics.events_dropped, skipped);
    }
}

/// What a running input is given.
#[derive(Debug, Clone)]
pub struct InputContext {
    pub id: String,
    pub output: BatchSender,
    /// Cancelled when the input must stop reading (shutdown, or `--once` finished).
    pub shutdown: CancellationToken,
    /// `--once`: read what exists now, then finish.
    pub once: bool,
    pub data_dir: PathBuf,
    pub settings: PipelineSettings,
    /// Whether the pipeline has filters. They read every event's fields, so an input that
    /// can keep events in a raw form until a field is read (Beats) builds them at once
    /// instead of first checking whether it could.
    pub filters: bool,
    pub metrics: Arc<ComponentMetrics>,
    /// Flip with `set_ready()` / `set_not_ready(reason)`: what `/ready` reports for this
    /// input (see [`crate::api`]). Starts not ready.
    pub readiness: ReadinessHandle,
}

#[cfg(test)]
impl InputContext {
    /// A context for an input under test: batches of `batch_size` go to `output`.
    pub fn for_tests(
        id: &str,
        output: BatchSender,
        shutdown: CancellationToken,
        batch_size: usize,
        metrics: Arc<ComponentMetrics>,
    ) -> Self {
        Self {
            id: id.into(),
            output,
            shutdown,
            once: false,
            data_dir: std::env::temp_dir(),
            settings: PipelineSettings {
                batch_size,
                ..PipelineSettings::default()
            },
            filters: false,
            metrics,
            readiness: ReadinessHandle::detached(),
        }
    }
}

/// The next batch an input under test hands to the pipeline, with its events built; panics
/// when none comes within `deadline`.
#[cfg(test)]
pub async fn next_batch(
    batches: &crate::queue::QueueReader,
    deadline: std::time::Duration,
) -> Batch {
    let mut batch = tokio::time::timeout(deadline, batches.recv())
        .await
        .expect("a batch within the deadline")
        .expect("the input is running");
    batch.materialize();
    batch
}

/// Polls `condition` every few milliseconds until it holds (`true`) or `deadline` passes.
#[cfg(test)]
pub async fn poll_until(deadline: std::time::Duration, condition: impl Fn() -> bool) -> bool {
    let end = tokio::time::Instant::now() + deadline;
    while !condition() {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    true
}

/// Why an input stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Beats(#[from] beats::BeatsInputError),
    #[error(transparent)]
    File(#[from] file::FileInputError),
    #[error("stdin: {0}")]
    Stdin(#[from] std::io::Error),
    #[error(transparent)]
    Closed(#[from] PipelineClosed),
    #[error(transparent)]
    Tcp(#[from] tcp::TcpInputError),
    #[error(transparent)]
    Udp(#[from] udp::UdpInputError),
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaInputError),
}
