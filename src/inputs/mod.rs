//! Inputs: where events come from.
//!
//! Each input type has a settings struct (`config.rs` in its folder) and a runtime that sends
//! [`Batch`]es into the pipeline and learns through [`crate::event::AckToken`]s when every
//! output is done with them. Inputs acknowledge upstream (checkpoints, Beats ACKs) only
//! through those receipts.

pub mod beats;
pub mod file;
pub mod stdin;
pub mod watermark;

use crate::config::{settings, BuildContext, ComponentKind, ConfigError, PipelineSettings};
use crate::event::Batch;
use crate::metrics::ComponentMetrics;
use crate::readiness::ReadinessHandle;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Every input type.
#[derive(Debug, Clone)]
pub enum InputConfig {
    Beats(beats::BeatsInputConfig),
    File(file::FileInputConfig),
    Stdin(stdin::StdinInputConfig),
}

impl ComponentKind for InputConfig {
    const KIND: &'static str = "input";
    const TYPES: &'static [&'static str] = &["beats", "file", "stdin"];
    const CONDITIONAL: bool = false;

    fn from_type(type_name: &str, table: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        match type_name {
            "beats" => settings(table).map(Self::Beats),
            "file" => settings(table).map(Self::File),
            "stdin" => settings(table).map(Self::Stdin),
            other => Err(serde::de::Error::custom(format!(
                "unknown input type `{other}`"
            ))),
        }
    }
}

/// Where an input sends its batches, with the pipeline's backpressure.
///
/// An input drops its sender once it has read all it will read; under `--once` that is how
/// the pipeline learns the inputs have reached their end ([`BatchSender::reporting_end`]).
#[derive(Debug, Clone)]
pub struct BatchSender {
    inner: async_channel::Sender<Batch>,
    /// Shared by the senders of the inputs the pipeline waits on; dropped with the last.
    _end: Option<Arc<DropGuard>>,
}

/// The input's end closed: the pipeline is gone.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the pipeline is no longer accepting events")]
pub struct PipelineClosed;

impl BatchSender {
    pub fn new(inner: async_channel::Sender<Batch>) -> Self {
        Self { inner, _end: None }
    }

    /// A sender whose last clone going away releases its share of `end`: the guard's token
    /// is cancelled once every input holding a share has dropped its sender.
    pub fn reporting_end(inner: async_channel::Sender<Batch>, end: Arc<DropGuard>) -> Self {
        Self {
            inner,
            _end: Some(end),
        }
    }

    /// Sends a batch, waiting while the pipeline is full.
    pub async fn send(&self, batch: Batch) -> Result<(), PipelineClosed> {
        self.inner.send(batch).await.map_err(|_| PipelineClosed)
    }

    /// Sends from a blocking thread (the file reader), waiting while the pipeline is full.
    pub fn send_blocking(&self, batch: Batch) -> Result<(), PipelineClosed> {
        self.inner.send_blocking(batch).map_err(|_| PipelineClosed)
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

/// An input ready to run.
#[derive(Debug)]
pub enum Input {
    Beats(beats::BeatsInput),
    File(file::FileInput),
    Stdin(stdin::StdinInput),
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
}

impl Input {
    /// Builds the input from its settings.
    pub fn build(config: &InputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Ok(match config {
            InputConfig::Beats(settings) => {
                Self::Beats(beats::BeatsInput::new(settings.clone(), context)?)
            }
            InputConfig::File(settings) => {
                Self::File(file::FileInput::new(settings.clone(), context)?)
            }
            InputConfig::Stdin(settings) => Self::Stdin(stdin::StdinInput::new(settings.clone())),
        })
    }

    /// Whether the input ends by itself under `--once`.
    pub fn is_finite(&self) -> bool {
        match self {
            Self::Beats(_) => false,
            Self::File(_) | Self::Stdin(_) => true,
        }
    }

    /// Runs until the input is exhausted (`--once`) or `shutdown` is cancelled, then waits for
    /// its in-flight batches to be acknowledged.
    pub async fn run(self, context: InputContext) -> Result<(), InputError> {
        match self {
            Self::Beats(input) => input.run(context).await.map_err(InputError::from),
            Self::File(input) => {
                // The reader thread logs inside the input's span, as the async inputs do.
                let span = tracing::Span::current();
                let handle = tokio::task::spawn_blocking(move || {
                    let _entered = span.enter();
                    input.run(context)
                });
                match handle.await {
                    Ok(result) => result.map_err(InputError::from),
                    Err(join) => Err(InputError::File(file::FileInputError::Panicked(
                        join.to_string(),
                    ))),
                }
            }
            Self::Stdin(input) => input.run(context).await,
        }
    }
}
