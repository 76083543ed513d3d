//! Outputs: where events go.
//!
//! An output receives [`Delivery`]s (shared, read-only batches) from its own bounded channel,
//! so a slow output fills its channel and the filter workers, then the inputs, wait: that is
//! the backpressure path. It settles each delivery only when every event is durably handed
//! over (written and flushed, indexed, dead-lettered) or deliberately disposed of.

pub mod delivery;
pub mod elasticsearch;
pub mod file;
pub mod null;
pub mod slack;
pub mod stdout;

use crate::condition::Condition;
use crate::config::{settings, BuildContext, ComponentKind, ConfigError};
use crate::event::{Delivery, Event};
use crate::metrics::ComponentMetrics;
use crate::readiness::ReadinessHandle;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Every output type.
#[derive(Debug, Clone)]
pub enum OutputConfig {
    Stdout(stdout::StdoutConfig),
    File(file::FileOutputConfig),
    Null(null::NullConfig),
    Slack(Box<slack::SlackConfig>),
    Elasticsearch(elasticsearch::ElasticsearchConfig),
}

impl ComponentKind for OutputConfig {
    const KIND: &'static str = "output";
    const TYPES: &'static [&'static str] = &["stdout", "file", "null", "slack", "elasticsearch"];
    const CONDITIONAL: bool = true;

    fn from_type(type_name: &str, table: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        match type_name {
            "stdout" => settings(table).map(Self::Stdout),
            "file" => settings(table).map(Self::File),
            "null" => settings(table).map(Self::Null),
            "slack" => settings(table).map(|s| Self::Slack(Box::new(s))),
            "elasticsearch" => settings(table).map(Self::Elasticsearch),
            other => Err(serde::de::Error::custom(format!(
                "unknown output type `{other}`"
            ))),
        }
    }
}

/// What a running output is given.
#[derive(Debug, Clone)]
pub struct OutputContext {
    pub id: String,
    /// Only events matching this are the output's business; others are settled untouched.
    pub condition: Option<Condition>,
    /// Cancelled on a forced shutdown: stop retrying and let unsettled batches fail.
    pub abort: CancellationToken,
    pub metrics: Arc<ComponentMetrics>,
    /// Flip with `set_ready()` / `set_not_ready(reason)`: what `/ready` reports for this
    /// output (see [`crate::api`]). Starts not ready.
    pub readiness: ReadinessHandle,
}

impl OutputContext {
    /// Whether `event` is for this output.
    pub fn wants(&self, event: &Event) -> bool {
        self.condition.as_ref().is_none_or(|c| c.matches(event))
    }
}

/// What [`settle_all`] counts the wanted events as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Disposal {
    /// Handed over (the `null` output).
    Delivered,
    /// Deliberately dropped (an output disabled by an empty setting).
    Dropped,
}

/// Settles every delivery at once, counting the events this output wants as `disposal`.
/// Ready from the start: there is nothing to reach.
pub(crate) async fn settle_all(
    mut deliveries: mpsc::Receiver<Delivery>,
    context: &OutputContext,
    disposal: Disposal,
) {
    context.readiness.set_ready();
    let counter = match disposal {
        Disposal::Delivered => &context.metrics.events_out,
        Disposal::Dropped => &context.metrics.events_dropped,
    };
    while let Some(delivery) = deliveries.recv().await {
        let wanted = delivery
            .events()
            .iter()
            .filter(|e| context.wants(e))
            .count() as u64;
        ComponentMetrics::add(&context.metrics.events_in, wanted);
        ComponentMetrics::add(counter, wanted);
        delivery.settle();
    }
}

/// An output ready to run.
#[derive(Debug)]
pub enum Output {
    Stdout(stdout::StdoutOutput),
    File(file::FileOutput),
    Null(null::NullOutput),
    Slack(Box<slack::SlackOutput>),
    Elasticsearch(Box<elasticsearch::ElasticsearchOutput>),
}

/// Why an output stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Elasticsearch refused us for good at start-up (wrong URL, credentials, TLS).
    #[error("{0}")]
    Elasticsearch(String),
}

impl Output {
    pub fn build(config: &OutputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Ok(match config {
            OutputConfig::Stdout(settings) => {
                Self::Stdout(stdout::StdoutOutput::new(settings.clone()))
            }
            OutputConfig::File(settings) => Self::File(file::FileOutput::new(settings.clone())),
            OutputConfig::Null(settings) => Self::Null(null::NullOutput::new(settings.clone())),
            OutputConfig::Slack(settings) => Self::Slack(Box::new(
                slack::SlackOutput::new(settings.as_ref().clone())
                    .map_err(|e| context.error_at(None, format!("slack output: {e}")))?,
            )),
            OutputConfig::Elasticsearch(settings) => Self::Elasticsearch(Box::new(
                elasticsearch::ElasticsearchOutput::new(settings, context)?,
            )),
        })
    }

    /// Consumes deliveries until the channel closes.
    pub async fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        match self {
            Self::Stdout(output) => output.run(deliveries, context).await,
            Self::File(output) => output.run(deliveries, context).await,
            Self::Null(output) => output.run(deliveries, context).await,
            Self::Slack(output) => output.run(deliveries, context).await,
            Self::Elasticsearch(output) => output.run(deliveries, context).await,
        }
    }
}
