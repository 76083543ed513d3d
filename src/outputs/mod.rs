//! Outputs: where events go.
//!
//! An output receives [`Delivery`]s (shared, read-only batches) from its own bounded channel,
//! so a slow output fills its channel and the filter workers, then the inputs, wait: that is
//! the backpressure path. It settles each delivery only when every event is durably handed
//! over (written and flushed, indexed, dead-lettered) or deliberately disposed of.
//!
//! Every output type is registered once, in the table of `output_types!` below: the settings
//! enum [`OutputConfig`], the type names and their parsing, the runtime [`Output`] and its
//! dispatch all follow from it, so nothing else here names a type.
//!
//! To add an output: give it a module or folder (`outputs/kafka/`) whose runtime implements
//! [`OutputType`] (its settings type, how it is built and how it consumes deliveries), then
//! add one line to the table.

pub mod delivery;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod null;
pub mod slack;
pub mod stdout;

use crate::condition::Condition;
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{Delivery, Event};
use crate::metrics::ComponentMetrics;
use crate::readiness::ReadinessHandle;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Declares every output type from one table (below): each line is
/// `"type name" => Variant(settings type => runtime type)`, the runtime implementing
/// [`OutputType`] for those settings. Runtimes are boxed: each is built once per output.
macro_rules! output_types {
    ($($name:literal => $variant:ident($config:ty => $runtime:ty),)+) => {
        impl Output {
            /// Consumes deliveries until the channel closes.
            pub async fn run(
                self,
                deliveries: mpsc::Receiver<Delivery>,
                context: OutputContext,
            ) -> Result<(), OutputError> {
                match self {
                    $(Self::$variant(output) => OutputType::run(*output, deliveries, context).await,)+
                }
            }
        }

        crate::config::component_types! {
            pub enum OutputConfig: "output", conditional: true;
            pub enum Output of Box, built by OutputType from BuildContext;
            $($name => $variant($config => $runtime),)+
        }
    };
}

output_types! {
    "stdout" => Stdout(stdout::StdoutConfig => stdout::StdoutOutput),
    "file" => File(file::FileOutputConfig => file::FileOutput),
    "null" => Null(null::NullConfig => null::NullOutput),
    "slack" => Slack(slack::SlackConfig => slack::SlackOutput),
    "elasticsearch" => Elasticsearch(elasticsearch::ElasticsearchConfig => elasticsearch::ElasticsearchOutput),
    "http" => Http(http::HttpOutputConfig => http::HttpOutput),
    "kafka" => Kafka(kafka::KafkaOutputConfig => kafka::KafkaOutput),
}

/// What an output type gives the pipeline: implemented by each output's runtime and named in
/// the `output_types!` table.
pub trait OutputType: Sized {
    /// Its settings: the output's table in the pipeline file, less `type`, `id` and `if`.
    type Config;

    /// Validates the settings; every problem points at its place in the pipeline file.
    /// Several problems of one output are reported together (`validate` shows them all).
    fn build(config: &Self::Config, context: &BuildContext) -> Result<Self, ConfigErrors>;

    /// Consumes deliveries until the channel closes, settling each one (see the module docs).
    fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> impl std::future::Future<Output = Result<(), OutputError>> + Send;
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
    /// Deliberately dropped (an output disabled by an empty setting, a stdout nobody reads).
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

/// Runs an output's whole loop on one thread of the runtime's blocking pool, for outputs
/// whose work blocks (`write` to a file or a pipe) and is not worth an async form.
///
/// Why not `block_in_place` around each write: it makes tokio hand the runtime thread's other
/// work to a thread of the blocking pool at every batch, so a run gathers threads (13 for the
/// seed chain to a file, against 6 to `null`), and every thread that touches the heap gets
/// allocator pages of its own: ~3 MiB of peak RSS (BENCHMARKS.md, "Seed chain, 300k corpus,
/// idle machine").
/// One thread for the output's lifetime stays put, frees what it encodes itself and holds up
/// no socket or timer. `work` receives with `blocking_recv`.
pub(crate) async fn run_on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OutputError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        work()
    })
    .await
    .map_err(|join| OutputError::Panicked(join.to_string()))
}

/// Why an output stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Elasticsearch refused us for good at start-up (wrong URL, credentials, TLS).
    #[error("{0}")]
    Elasticsearch(String),
    /// The Kafka client could not be created (librdkafka refused its configuration).
    #[error("{0}")]
    Kafka(String),
    /// The output's own thread panicked (a bug); its deliveries stay unsettled.
    #[error("the output's thread panicked: {0}")]
    Panicked(String),
}
