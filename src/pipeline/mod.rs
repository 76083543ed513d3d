//! The runtime: inputs → filter workers → outputs, connected by bounded queues of batches.
//!
//! ```text
//!  input ─┐                        ┌─ worker ─┐   ┌─▶ [queue] ─▶ output A
//!  input ─┼─▶ [queue: N batches] ─▶┼─ worker ─┼─▶─┤
//!  input ─┘        (MPMC)          └─ worker ─┘   └─▶ [queue] ─▶ output B
//! ```
//!
//! The shared queue between inputs and workers is [`crate::queue`]: the pipeline opens it and
//! hands its writer half to the inputs and its reader half to the workers, and does not know
//! what it is made of. Every queue holds at most `pipeline.queue_batches` batches and every batch at most
//! `pipeline.batch_size` events (`pipeline.batch_bytes` of raw input), so the number of events
//! in memory is bounded no matter how slow an output is: when an output stops taking batches
//! its queue fills, workers wait on it, the shared queue fills, and inputs wait in `send` (the
//! file reader stops reading, the Beats input stops acknowledging). After the filter chain a
//! batch is frozen behind an `Arc` and shared by every output; its acknowledgement reaches the
//! input once all of them have settled it.
//!
//! With filters, workers are threads (tokio's blocking pool), not async tasks: a batch is
//! ~10 ms of CPU work that would otherwise stall the runtime threads serving sockets and
//! timers. Such a worker also frees the events of its batches once the outputs are done with
//! them (they come back over a channel, see `event::batch::Home`): mimalloc frees a block on
//! the thread that allocated it without atomics, which halved the cost of freeing
//! seed-pipeline events. Without filters workers only forward batches and stay async tasks.
//!
//! Backpressure has no time limit while running: an output that cannot deliver holds the
//! pipeline, and the inputs wait. Ending does: once shutdown starts (a signal, a failed
//! component) or, with `--once`, once every input has read to its end, the outputs get
//! `pipeline.shutdown_timeout` to deliver what is in flight. Then they are aborted and the run
//! ends with [`RunError::ShutdownTimedOut`], counting the events not delivered; the inputs
//! checkpoint only what was acknowledged, so those are read again on the next start.
//! Without the bound, `--once` against an unreachable Elasticsearch, or a drain after
//! SIGTERM, would wait for it forever.

use crate::config::{
    self, ApiSettings, BuildContext, Component, ConfigError, ConfigErrors, PipelineConfig,
};
use crate::event::{Batch, Delivery, DeliveryMetrics, Home};
use crate::filters::common::Common;
use crate::filters::{ChainWorker, FilterChain, FilterConfig};
use crate::inputs::{BatchSender, Input, InputConfig, InputContext, InputError};
use crate::metrics::{ComponentMetrics, Registry, FILTERS_ID, OUTPUTS_ID, QUEUE_ID};
use crate::outputs::{Output, OutputConfig, OutputContext, OutputError};
use crate::queue::{OpenQueue, QueueReader, QueueSettings};
use crate::readiness::{Readiness, ReadinessHandle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

mod lock;

pub use lock::{DataDirLock, LockError, LOCK_FILE};

/// A parsed pipeline file.
pub type Config = PipelineConfig<InputConfig, FilterConfig, OutputConfig>;

/// Reads and parses a pipeline file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    config::load(path)
}

/// Reads, parses and builds a pipeline file, reporting every problem at once: what parsed
/// is built even when other parts did not parse, so a build check (a URL's scheme, a
/// script's functions) is not hidden behind a typo elsewhere.
pub fn load_and_compile(path: &Path) -> Result<Pipeline, ConfigErrors> {
    load_and_compile_as(path, config::Format::Auto)
}

/// [`load_and_compile`] with the front end chosen by `format` (`--format`).
pub fn load_and_compile_as(path: &Path, format: config::Format) -> Result<Pipeline, ConfigErrors> {
    let partial = config::load_partial_as(path, format)?;
    let mut errors = partial.errors;
    match compile(partial.config) {
        Ok(pipeline) if errors.is_empty() => Ok(pipeline),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(ConfigErrors(mut build_errors)) => {
            errors.append(&mut build_errors);
            errors.sort_by_key(|e| (e.line, e.column));
            errors.dedup();
            Err(ConfigErrors(errors))
        }
    }
}

/// A pipeline with every component built and ready to run.
#[derive(Debug)]
pub struct Pipeline {
    inputs: Vec<BuiltInput>,
    chain: Arc<FilterChain>,
    outputs: Vec<(
        Component<()>,
        Output,
        Option<crate::condition::Condition>,
        ReadinessHandle,
    )>,
    settings: config::PipelineSettings,
    data_dir: PathBuf,
    metrics: Arc<Registry>,
    readiness: Arc<Readiness>,
    api: ApiSettings,
}

/// An input, its readiness, and its Logstash input options (`event_type`, `add_field`,
/// `add_tag`), run on each event it sends.
type BuiltInput = (Component<()>, Input, ReadinessHandle, Option<Arc<Common>>);

fn strip<T>(component: &Component<T>) -> Component<()> {
    Component {
        id: component.id.clone(),
        type_name: component.type_name.clone(),
        span: component.span.clone(),
        condition: component.condition.clone(),
        common: component.common.clone(),
        config: (),
    }
}

/// Builds every component, reporting every problem at once.
pub fn compile(config: Config) -> Result<Pipeline, ConfigErrors> {
    let metrics = Arc::new(Registry::default());
    let readiness = Arc::new(Readiness::default());
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: metrics.clone(),
    };
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut inputs = Vec::new();
    for component in &config.inputs {
        let decoration = Common::new(&component.common).map_err(|e| {
            context.error_at(
                Some(component.span.clone()),
                format!("input `{}`: {e}", component.id),
            )
        });
        match (Input::build(&component.config, &context), decoration) {
            (Ok(input), Ok(decoration)) => {
                let handle = readiness.register("input", &component.id, &component.type_name);
                inputs.push((strip(component), input, handle, decoration.map(Arc::from)));
            }
            (input, decoration) => {
                if let Err(e) = input {
                    errors.extend(e.0);
                }
                if let Err(e) = decoration {
                    errors.push(e);
                }
            }
        }
    }
    let chain = match FilterChain::build(&config.filters, &context) {
        Ok(chain) => Some(chain),
        Err(mut chain_errors) => {
            errors.append(&mut chain_errors);
            None
        }
    };
    let mut outputs = Vec::new();
    for component in &config.outputs {
        let condition = match context.compile_condition(component.condition.as_ref()) {
            Ok(condition) => condition,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match Output::build(&component.config, &context) {
            Ok(output) => {
                let handle = readiness.register("output", &component.id, &component.type_name);
                outputs.push((strip(component), output, condition, handle));
            }
            Err(e) => errors.extend(e.0),
        }
    }
    match chain {
        Some(chain) if errors.is_empty() => Ok(Pipeline {
            inputs,
            chain: Arc::new(chain),
            outputs,
            settings: config.settings,
            data_dir: config.data_dir,
            metrics,
            readiness,
            api: config.api,
        }),
        _ => {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(errors))
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Read what exists, deliver it, checkpoint, and finish.
    pub once: bool,
}

/// Why a run ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("input `{id}`: {source}")]
    Input { id: String, source: InputError },
    #[error("output `{id}`: {source}")]
    Output { id: String, source: OutputError },
    #[error("a pipeline task failed: {0}")]
    Task(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(crate::queue::OpenError),
    #[error(
        "outputs did not finish within shutdown_timeout ({timeout:?}): {undelivered} events \
         not delivered; checkpoints stop before them, so they are read again on the next start"
    )]
    ShutdownTimedOut {
        timeout: std::time::Duration,
        /// Events handed to the outputs that not every output settled.
        undelivered: u64,
    },
}

enum Finished {
    Input(String, Result<(), InputError>, bool, ReadinessHandle),
    Output(String, Result<(), OutputError>, ReadinessHandle),
    Worker,
}

/// What a filter worker does to each batch, whether it runs as a thread or as a task.
struct WorkerStage {
    senders: Vec<(mpsc::Sender<Delivery>, Arc<DeliveryMetrics>)>,
    worker: ChainWorker,
    metrics: Arc<ComponentMetrics>,
    fanout: Arc<ComponentMetrics>,
}

impl WorkerStage {
    /// Filters batches until the inputs are done. With `free_at_home`, the events of its
    /// batches come back here once the outputs are done with them and are freed by this
    /// worker (see `event::batch::Home`), also while it waits for input, so a lull does not
    /// hold the last burst.
    async fn run(mut self, batches: QueueReader, free_at_home: bool) -> Finished {
        let (home, mut bin) = Home::new();
        // Without a `Home` handed out, the bin is closed and never yields.
        let home = free_at_home.then_some(home);
        loop {
            let received = tokio::select! {
                biased;
                Some(events) = bin.returned() => {
                    crate::event::prefetch::free(events);
                    continue;
                }
                received = batches.recv() => received,
            };
            let Some(batch) = received else {
                return Finished::Worker;
            };
            let Some(shared) = self.filter(batch, home.as_ref()) else {
                continue;
            };
            // A send fails only when the output has died; the delivery is then dropped
            // unsettled, which fails the batch for its input.
            let Some(((last, last_metrics), others)) = self.senders.split_last() else {
                continue;
            };
            for (sender, measured) in others {
                let _ = sender
                    .send(Delivery::measured(shared.clone(), measured.clone()))
                    .await;
            }
            // The last output gets the worker's own handle, so that with one output the
            // delivery holds the only one (an output may then let go of the events early:
            // `Delivery::release_events`).
            let _ = last
                .send(Delivery::measured(shared, last_metrics.clone()))
                .await;
        }
    }

    /// Builds, filters and freezes `batch`; `None` when the filters dropped every event (it
    /// is then acknowledged as it drops). `home`: where its events go to be freed.
    fn filter(&mut self, mut batch: Batch, home: Option<&Home>) -> Option<Arc<Batch>> {
        batch.materialize();
        let before = batch.events.len() as u64;
        self.worker.process(&mut batch.events);
        stamp_missing_timestamps(&mut batch.events);
        let after = batch.events.len() as u64;
        self.metrics.events_in.fetch_add(before, Ordering::Relaxed);
        self.metrics.events_out.fetch_add(after, Ordering::Relaxed);
        if batch.events.is_empty() {
            return None;
        }
        self.fanout.events_in.fetch_add(after, Ordering::Relaxed);
        if let Some(home) = home {
            batch.free_at(home.clone());
        }
        batch.expect_deliveries(self.senders.len());
        Some(Arc::new(batch))
    }
}

/// The queue `[pipeline.queue]` asks for; the disk queue's path defaults to
/// `<data_dir>/queue`. With `--once` a disk queue is drained before the run ends.
fn queue_settings(
    settings: &config::PipelineSettings,
    data_dir: &Path,
    once: bool,
) -> QueueSettings {
    match &settings.queue {
        config::QueueConfig::Memory => QueueSettings::Memory {
            batches: settings.queue_batches.max(1),
        },
        config::QueueConfig::Disk(disk) => QueueSettings::Disk {
            dir: disk.path.clone().unwrap_or_else(|| data_dir.join("queue")),
            config: disk.clone(),
            drain: once,
        },
    }
}

/// The queue's `component_type` in metrics (`[pipeline.queue] type`).
fn queue_type_name(settings: &QueueSettings) -> &'static str {
    match settings {
        QueueSettings::Memory { .. } => "memory",
        QueueSettings::Disk { .. } => "disk",
    }
}

/// Every event leaves the filter chain with `@timestamp`: scripts may emit events without
/// one, or remove it; they get the time they passed through (ingest time, as Logstash does).
fn stamp_missing_timestamps(events: &mut [crate::event::Event]) {
    let mut now: Option<String> = None;
    for event in events.iter_mut() {
        if !event.has_field(crate::event::TIMESTAMP) {
            let now = now.get_or_insert_with(|| crate::event::format_timestamp(chrono::Utc::now()));
            event.ensure_timestamp(now);
        }
    }
}

impl Pipeline {
    pub fn metrics(&self) -> Arc<Registry> {
        self.metrics.clone()
    }

    /// Every input's and output's readiness (what `/ready` reports).
    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    pub fn settings(&self) -> &config::PipelineSettings {
        &self.settings
    }

    /// Whether an output of this type is configured (e.g. `stdout`, which shares the
    /// terminal with progress output).
    pub fn has_output_type(&self, type_name: &str) -> bool {
        self.outputs.iter().any(|(c, ..)| c.type_name == type_name)
    }

    /// The `[api]` table.
    pub fn api_settings(&self) -> &ApiSettings {
        &self.api
    }

    /// Locks the data directory for this process (creating it if needed): a second run on
    /// the same directory is refused. Hold the lock until the run is over.
    pub fn lock_data_dir(&self) -> Result<DataDirLock, LockError> {
        DataDirLock::acquire(&self.data_dir)
    }

    /// Runs until the inputs finish (`--once`) or `shutdown` is cancelled, then drains:
    /// inputs stop, in-flight batches are delivered, inputs write their checkpoints.
    /// `abort` makes outputs give up on retries (a second Ctrl-C); the pipeline cancels it
    /// itself when a drain outlasts `shutdown_timeout` (see the module docs).
    pub async fn run(
        self,
        options: RunOptions,
        shutdown: CancellationToken,
        abort: CancellationToken,
    ) -> Result<(), RunError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| RunError::DataDir {
            path: self.data_dir.clone(),
            source,
        })?;
        let capacity = self.settings.queue_batches.max(1);
        let queue_settings = queue_settings(&self.settings, &self.data_dir, options.once);
        let queue_metrics =
            self.metrics
                .component("pipeline", QUEUE_ID, queue_type_name(&queue_settings));
        let OpenQueue {
            writer: queue_writer,
            reader: queue_reader,
            finisher: queue_finisher,
        } = crate::queue::open(&queue_settings, queue_metrics).map_err(RunError::Queue)?;
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let readiness = self.readiness.clone();
        let draining = shutdown.clone();
        let shutdown_watch = tokio::spawn(async move {
            draining.cancelled().await;
            readiness.set_shutting_down();
        });
        // `--once`: every finite input holds a share of this guard in its sender and drops
        // it when it has read everything, so the last one starts the shutdown bound.
        let all_read = CancellationToken::new();
        let mut read_guard = options
            .once
            .then(|| Arc::new(all_read.clone().drop_guard()));
        let timed_out = Arc::new(AtomicBool::new(false));
        let fanout = self.metrics.component("pipeline", OUTPUTS_ID, "fanout");
        // With a disk queue, inputs reaching their end says nothing about how much the queue
        // still holds for the outputs (a backlog from earlier runs): the drain is bounded by
        // the outputs making no progress instead.
        let drain_clock = match queue_settings {
            QueueSettings::Memory { .. } => all_read,
            QueueSettings::Disk { .. } => CancellationToken::new(),
        };
        let bound = tokio::spawn(bound_the_drain(
            self.settings.shutdown_timeout.0,
            drain_clock,
            options.once.then(|| fanout.clone()),
            shutdown.clone(),
            abort.clone(),
            timed_out.clone(),
        ));

        let mut output_senders = Vec::new();
        for (component, output, condition, readiness) in self.outputs {
            let (tx, rx) = mpsc::channel::<Delivery>(capacity);
            let metrics = self
                .metrics
                .component("output", &component.id, &component.type_name);
            let measured = Arc::new(DeliveryMetrics::register(&metrics, fanout.clone()));
            output_senders.push((tx, measured));
            let context = OutputContext {
                id: component.id.clone(),
                condition,
                abort: abort.clone(),
                metrics,
                readiness: readiness.clone(),
            };
            let id = component.id.clone();
            // Log lines inside the output carry its id and type (`--log-format json`). The
            // span is at ERROR level so a `warn` filter keeps it.
            let span = tracing::error_span!(
                "output",
                component_id = %component.id,
                component_type = %component.type_name
            );
            tasks.spawn(
                async move { Finished::Output(id, output.run(rx, context).await, readiness) }
                    .instrument(span),
            );
        }

        let worker_metrics = self.metrics.component("pipeline", FILTERS_ID, "chain");
        // With filters, a worker is a thread of its own (the runtime's blocking pool): a batch
        // is ~10 ms of CPU work that would otherwise hold up the runtime threads serving
        // sockets and timers, and a thread that stays put can free its events itself. Without
        // filters a worker only forwards batches, and as an async task it hands them over
        // without waking threads (Beats → null was measurably slower with threads, see
        // BENCHMARKS.md).
        let worker_threads = !self.chain.is_empty();
        for _ in 0..self.settings.worker_count() {
            let batches = queue_reader.clone();
            let stage = WorkerStage {
                senders: output_senders.clone(),
                worker: self.chain.worker(),
                metrics: worker_metrics.clone(),
                fanout: fanout.clone(),
            };
            let span = tracing::error_span!(
                "pipeline",
                component_id = FILTERS_ID,
                component_type = "chain"
            );
            if worker_threads {
                tasks.spawn_blocking(move || {
                    let _span = span.enter();
                    tokio::runtime::Handle::current().block_on(stage.run(batches, true))
                });
            } else {
                tasks.spawn(stage.run(batches, false).instrument(span));
            }
        }
        drop(queue_reader);
        drop(output_senders);

        let mut finite_running = 0usize;
        let mut input_tokens = Vec::new();
        for (component, input, readiness, decoration) in self.inputs {
            let token = shutdown.child_token();
            let finite = options.once && input.is_finite();
            if finite {
                finite_running += 1;
            }
            input_tokens.push((token.clone(), finite));
            let output = match &read_guard {
                Some(guard) if finite => {
                    BatchSender::reporting_end(queue_writer.clone(), guard.clone())
                }
                _ => BatchSender::new(queue_writer.clone()),
            };
            let output = match decoration {
                Some(common) => output.decorating(Arc::new(move |event| common.apply(event))),
                None => output,
            };
            let context = InputContext {
                id: component.id.clone(),
                output,
                shutdown: token,
                once: options.once,
                data_dir: self.data_dir.clone(),
                settings: self.settings.clone(),
                filters: !self.chain.is_empty(),
                metrics: self
                    .metrics
                    .component("input", &component.id, &component.type_name),
                readiness: readiness.clone(),
            };
            let id = component.id.clone();
            let span = tracing::error_span!(
                "input",
                component_id = %component.id,
                component_type = %component.type_name
            );
            tasks.spawn(
                async move { Finished::Input(id, input.run(context).await, finite, readiness) }
                    .instrument(span),
            );
        }
        drop(queue_writer);
        read_guard.take();
        if options.once && finite_running == 0 {
            shutdown.cancel();
        }

        let mut first_error: Option<RunError> = None;
        while let Some(joined) = tasks.join_next().await {
            let finished = match joined {
                Ok(finished) => finished,
                Err(e) => {
                    first_error.get_or_insert(RunError::Task(e.to_string()));
                    shutdown.cancel();
                    continue;
                }
            };
            match finished {
                Finished::Input(id, result, finite, readiness) => {
                    if let Err(source) = result {
                        readiness.set_not_ready(format!("stopped: {source}"));
                        tracing::error!(input = %id, error = %source, "Input failed; shutting down.");
                        first_error.get_or_insert(RunError::Input { id, source });
                        shutdown.cancel();
                    }
                    if finite {
                        finite_running -= 1;
                        if finite_running == 0 {
                            // `--once`: the finite inputs are done; stop the endless ones too.
                            for (token, _) in &input_tokens {
                                token.cancel();
                            }
                        }
                    }
                }
                Finished::Output(id, result, readiness) => {
                    if let Err(source) = result {
                        readiness.set_not_ready(format!("stopped: {source}"));
                        tracing::error!(output = %id, error = %source, "Output failed; shutting down.");
                        first_error.get_or_insert(RunError::Output { id, source });
                        shutdown.cancel();
                    }
                }
                Finished::Worker => {}
            }
        }
        shutdown_watch.abort();
        bound.abort();
        // Every batch is gone by now; the disk queue notes the last settled ones.
        if tokio::time::timeout(std::time::Duration::from_secs(10), queue_finisher.finish())
            .await
            .is_err()
        {
            tracing::warn!(
                "The queue did not finish noting settled batches; some may be delivered again."
            );
        }
        match first_error {
            Some(error) => Err(error),
            None if timed_out.load(Ordering::Acquire) => Err(RunError::ShutdownTimedOut {
                timeout: self.settings.shutdown_timeout.0,
                undelivered: ComponentMetrics::get(&fanout.events_in)
                    .saturating_sub(ComponentMetrics::get(&fanout.events_out)),
            }),
            None => Ok(()),
        }
    }
}

/// Waits for `shutdown` or, with `--once`, for every input to have read everything
/// (`all_read`), then gives the outputs `timeout` to finish; after that stops everything and
/// makes the outputs give up (`abort`), recording it in `timed_out`.
///
/// With `--once` (`stall_watch` is the fan-out's counters) a run also gives up when the
/// outputs have settled nothing for `timeout` while events wait for them: a backlog larger
/// than the pipeline's queues keeps the inputs from ever reaching their end while an output
/// cannot deliver, so the end-of-input clock alone would never start.
async fn bound_the_drain(
    timeout: std::time::Duration,
    all_read: CancellationToken,
    stall_watch: Option<Arc<ComponentMetrics>>,
    shutdown: CancellationToken,
    abort: CancellationToken,
    timed_out: Arc<AtomicBool>,
) {
    let stalled = async {
        match stall_watch {
            Some(fanout) => outputs_stalled(&fanout, timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown.cancelled() => tokio::time::sleep(timeout).await,
        () = all_read.cancelled() => tokio::time::sleep(timeout).await,
        () = stalled => {}
    }
    timed_out.store(true, Ordering::Release);
    tracing::warn!(
        timeout_ms = timeout.as_millis() as u64,
        "Outputs did not finish within shutdown_timeout; giving up on what is undelivered (it is read again on the next start)."
    );
    shutdown.cancel();
    abort.cancel();
}

/// Returns once events have waited for the outputs for `timeout` without any of them being
/// settled. Checked a few times per `timeout`, so it fires at most a quarter late.
async fn outputs_stalled(fanout: &ComponentMetrics, timeout: std::time::Duration) {
    let tick = (timeout / 4).max(std::time::Duration::from_millis(10));
    let mut settled = ComponentMetrics::get(&fanout.events_out);
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let now_settled = ComponentMetrics::get(&fanout.events_out);
        let waiting = ComponentMetrics::get(&fanout.events_in) > now_settled;
        if now_settled != settled || !waiting {
            settled = now_settled;
            since = tokio::time::Instant::now();
        } else if since.elapsed() >= timeout {
            return;
        }
    }
}
