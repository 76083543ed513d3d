//! `type = "elasticsearch"`: indexes events with `_bulk` into Elasticsearch 7/8 or OpenSearch
//! 1/2, as Logstash's `elasticsearch` output does, without losing or duplicating documents.
//!
//! ```text
//!  deliveries ─(in turn)─▶ lane 1..encoders: encoder ─▶ [request buffer] ──(max_events │
//!                           │  index template, id       max_bytes │ flush_interval)──▶
//!                           └─ unresolvable → dead letter
//!      request tasks (≤ concurrency over all lanes, each: gzip, POST /_bulk, retry.rs, settle)
//! ```
//!
//! * **Batches across deliveries.** The pipeline hands over batches of at most
//!   `pipeline.batch_size` events; requests are closed by `max_events` (2,000), `max_bytes`
//!   (10 MiB) or `flush_interval` (1 s), so a request may hold several deliveries. A delivery
//!   that would not fit beside the request's events starts a new request, so one no larger
//!   than `max_events` is never split by the count (a crash re-sends only what was in flight;
//!   `max_bytes` can still split one, as can a delivery larger than `max_events`). Each
//!   delivery is wrapped in a [`DeliveryPart`] counting the requests that hold some of its
//!   events; it is settled (acknowledged to its input) only
//!   after the last of them indexed or dead-lettered all of them. A request that is aborted
//!   leaves its deliveries unsettled: the input never checkpoints past them. Once a
//!   delivery is encoded its events are let go of (`DeliveryPart::release_events`): the
//!   requests hold the bytes and retry from them, and holding ~4,000 parsed events until
//!   `_bulk` answered more than doubled the seed chain's peak RSS (BENCHMARKS.md).
//! * **Reading a batch.** The events were built by a filter worker on another core, so nearly
//!   every block of them misses the cache; the lane reads them through
//!   [`crate::event::prefetch::walk`], which asks for the next events' blocks while the
//!   current one is written (about a third less CPU on the output's threads, BENCHMARKS.md).
//!   An answer saying `"errors":false` settles its request without reading the items.
//! * **Parallel encoding.** Writing events as `_bulk` items is the CPU-heavy part (see
//!   BENCHMARKS.md for the cost per event), so one task doing it caps the output at a few
//!   hundred thousand events/s however many filter workers feed it. With `encoders = n`, n
//!   lanes take deliveries in turn, each with its own encoder and its own request being
//!   filled; a delivery is encoded whole by one lane. The default is one lane: on the 2-core machine
//!   the output already keeps both cores busy with one, and two were no faster.
//! * **Bounded.** At most `concurrency` requests are in flight over all lanes, plus one being
//!   filled per lane; when they are all busy (the cluster is slow or down) the lanes stop
//!   taking deliveries, the output's channel fills and the pipeline backs up to the inputs.
//!   Memory stays at about `(concurrency + encoders) × max_bytes` however long the cluster is
//!   away.
//! * **Start-up** ([`health`]): `GET /` on every node learns the flavour and version and
//!   fails on what retrying cannot fix (not a cluster, 401/403, TLS); an unreachable cluster is
//!   waited for (nothing is taken meanwhile). Then the optional index template ([`template`]).
//! * **Retries** ([`retry`]): whole requests on no answer / 429 / 5xx, single items on item
//!   429 / 5xx, 409 on `create` is success, 400 / 404 go to the dead-letter file.
//! * **Shared plumbing** ([`crate::outputs::delivery`]): the delivery parts, the backoff
//!   with jitter and the dead-letter file are the same for every output that sends to a
//!   peer; what is this output's own is the `_bulk` policy above and the fields it adds to a
//!   dead letter ([`dead_letter`]).
//!
//! ## Why reqwest and not the `elasticsearch` crate
//! Checked against the source of elasticsearch 9.1.0-alpha.1 (the newest on crates.io, an
//! alpha pre-release): it does *not* pin an old reqwest (it uses reqwest 0.12, as we do), but
//! its request path copies every body once more (`Body::write` into a `BytesMut`), gzips with
//! a fixed level 6 (`Compression::default()`, not configurable; Logstash's default and ours is
//! 1, about 3× cheaper), turns on native-tls (OpenSSL) by default, and offers no per-item retry
//! or dead-host handling, which are the parts this output is about. Its typed `BulkOperation`s
//! would also serialise every event through another serde layer. The `_bulk` body is simple
//! NDJSON that [`encoder`] writes straight from the event into the request buffer, and only
//! three endpoints are used (`GET /`, `PUT _index_template`, `POST _bulk`), so a small reqwest
//! client (rustls, like the rest of sluice) is less code to trust than the generated one.

mod client;
pub mod config;
mod dead_letter;
pub mod encoder;
pub mod health;
mod metrics;
pub mod retry;
mod template;
#[cfg(test)]
mod tests;

pub use config::{ElasticsearchConfig, Settings};

use super::delivery::{Backoff, DeadLetter, DeadLetters, DeliveryPart};
use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::Delivery;
use client::Client;
use dead_letter::{report_letters, RefusedItem};
use encoder::{Encoder, IdPolicy, ItemSpan};
use health::{ClusterInfo, HealthError};
use metrics::OutputMetrics;
use retry::{BulkBatch, Sender};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A validated output, ready to run.
#[derive(Debug)]
pub struct ElasticsearchOutput {
    settings: Settings,
    client: Client,
}

impl OutputType for ElasticsearchOutput {
    type Config = ElasticsearchConfig;

    fn build(config: &ElasticsearchConfig, context: &BuildContext) -> Result<Self, ConfigErrors> {
        let settings = Settings::validate(config, context)?;
        let client = Client::new(&settings)
            .map_err(|e| context.error_at(Some(config.0.hosts.span()), e.to_string()))?;
        Ok(Self { settings, client })
    }

    async fn run(
        self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        if self.settings.hosts.is_empty() {
            return run_disabled(deliveries, context).await;
        }
        let metrics = OutputMetrics::register(context.metrics.clone());
        let dead_letters = DeadLetters::new(
            self.settings.dead_letter.resolve(&context.id),
            &context.id,
            self.settings.dead_letter_max_bytes,
        );
        let sender = Arc::new(Sender {
            client: self.client,
            settings: self.settings,
            metrics,
            dead_letters,
            abort: context.abort.clone(),
            output: context.id.clone(),
            readiness: context.readiness.clone(),
        });
        let Some(info) = start(&sender).await? else {
            return Ok(()); // aborted while waiting: nothing was taken
        };
        context.readiness.set_ready();
        tracing::info!(
            output = %context.id,
            cluster = %info.cluster_name,
            "Connected to {info}."
        );
        let settings = &sender.settings;
        let ids = match (&settings.document_id, settings.deterministic_ids) {
            (Some(template), _) => IdPolicy::Template(template.clone()),
            (None, true) => IdPolicy::Derived,
            (None, false) => IdPolicy::Auto,
        };
        // Encoding is the CPU-heavy part: `encoders` lanes, each its own task with its own
        // request being filled, take deliveries in turn; a semaphore keeps the requests in
        // flight across all lanes at `concurrency`.
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let mut lanes = JoinSet::new();
        let mut lane_senders = Vec::with_capacity(settings.encoders);
        for _ in 0..settings.encoders {
            let (lane_sender, lane_deliveries) = mpsc::channel::<Delivery>(1);
            lane_senders.push(lane_sender);
            let batcher = Batcher {
                encoder: Encoder::new(
                    settings.index.clone(),
                    settings.action,
                    ids.clone(),
                    settings.data_stream,
                ),
                current: empty_batch(Vec::new()),
                spare: Vec::new(),
                deadline: None,
                inflight: JoinSet::new(),
                slots: slots.clone(),
                sender: sender.clone(),
            };
            lanes.spawn(batcher.run(lane_deliveries, context.clone()));
        }
        let mut next = 0;
        loop {
            tokio::select! {
                biased;
                () = context.abort.cancelled() => return Ok(()),
                received = deliveries.recv() => match received {
                    Some(delivery) => {
                        // A busy lane makes this wait: backpressure, as with one lane. A lane
                        // ends early only when aborted or when it panicked (re-raised below).
                        if lane_senders[next].send(delivery).await.is_err() {
                            break;
                        }
                        next = (next + 1) % lane_senders.len();
                    }
                    None => break,
                },
            }
        }
        // The pipeline is draining (`--once` or shutdown): each lane sends the rest and waits.
        drop(lane_senders);
        while let Some(joined) = lanes.join_next().await {
            if let Err(failed) = joined {
                if failed.is_panic() {
                    // As when the output encoded on its own task: the pipeline reports it.
                    std::panic::resume_unwind(failed.into_panic());
                }
            }
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn empty_batch(body: Vec<u8>) -> BulkBatch {
    BulkBatch {
        body,
        items: Vec::new(),
        parts: Vec::new(),
    }
}

/// One encoding lane: fills requests and hands them to request tasks.
struct Batcher {
    encoder: Encoder,
    current: BulkBatch,
    /// Buffers of finished requests, for reuse.
    spare: Vec<Vec<u8>>,
    /// When the current request must go even if not full.
    deadline: Option<Instant>,
    /// This lane's request tasks.
    inflight: JoinSet<Vec<u8>>,
    /// Permits for requests in flight, shared by all lanes (`concurrency`).
    slots: Arc<Semaphore>,
    sender: Arc<Sender>,
}

impl Batcher {
    /// Takes deliveries until the channel closes, then sends what it holds and waits for it.
    async fn run(mut self, mut deliveries: mpsc::Receiver<Delivery>, context: OutputContext) {
        loop {
            let deadline = self.deadline;
            tokio::select! {
                biased;
                () = context.abort.cancelled() => return,
                Some(joined) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    self.finished(joined);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.dispatch().await;
                }
                received = deliveries.recv() => match received {
                    Some(delivery) => self.take(delivery, &context).await,
                    None => break,
                },
            }
        }
        self.dispatch().await;
        while let Some(joined) = self.inflight.join_next().await {
            self.finished(joined);
        }
    }

    /// Encodes the delivery's events into requests, sending each request that fills up.
    async fn take(&mut self, delivery: Delivery, context: &OutputContext) {
        // The events are read through a handle of their own, so that once they are encoded
        // the delivery can let go of them while its requests wait for `_bulk`'s answers
        // (retries resend the encoded bytes).
        let batch = delivery.batch();
        let part = DeliveryPart::new(delivery);
        let sender = self.sender.clone();
        let settings = &sender.settings;
        let (max_events, max_bytes) = (settings.max_events, settings.max_bytes);
        let mut taken = 0u64;
        let mut refused: Vec<(ItemSpan, encoder::Rejection)> = Vec::new();
        let mut refused_buffer = Vec::new();
        let events = &batch.events[..];
        // A delivery that does not fit beside what the request holds starts the next one, so
        // that (while a delivery is no bigger than `max_events`) one request holds it whole: a
        // crash then re-sends at most the requests in flight, not also the head of a delivery
        // an earlier request already indexed.
        if !self.current.items.is_empty() && self.current.items.len() + events.len() > max_events {
            self.dispatch().await;
        }
        for event in crate::event::prefetch::walk(events).filter(|e| context.wants(e)) {
            taken += 1;
            let before = self.current.body.len();
            match self.encoder.encode(event, &mut self.current.body) {
                Ok(span) => {
                    if !self.current.items.is_empty() && self.current.body.len() > max_bytes {
                        // Too big to join: move the item into the next request.
                        let mut moved = self.current.body.split_off(before);
                        self.dispatch().await;
                        let span = shift(span, before, self.current.body.len());
                        self.current.body.append(&mut moved);
                        self.add(span, &part);
                    } else {
                        self.add(span, &part);
                    }
                    if self.current.items.len() >= max_events
                        || self.current.body.len() >= max_bytes
                    {
                        self.dispatch().await;
                    }
                }
                Err(rejection) => {
                    let start = refused_buffer.len();
                    let _ = event.write_json(&mut refused_buffer);
                    let end = refused_buffer.len();
                    refused.push((
                        ItemSpan {
                            range: start..end + 1,
                            source_start: start,
                        },
                        rejection,
                    ));
                    refused_buffer.push(b'\n');
                }
            }
        }
        crate::metrics::ComponentMetrics::add(&context.metrics.events_in, taken);
        if !refused.is_empty() {
            let letters: Vec<DeadLetter<'_, RefusedItem<'_>>> = refused
                .iter()
                .map(|(span, rejection)| DeadLetter {
                    fields: RefusedItem {
                        index: &rejection.index,
                        id: None,
                        status: 400,
                    },
                    error_type: rejection.error_type,
                    reason: &rejection.reason,
                    source: span.source(&refused_buffer),
                })
                .collect();
            match self.sender.dead_letters.write(&letters) {
                Ok(written) => {
                    self.sender.metrics.dead_letters.count(written);
                    report_letters(
                        &context.id,
                        "Event not sendable",
                        &letters,
                        &self.sender.dead_letters,
                        written,
                    );
                }
                Err(e) => {
                    crate::metrics::ComponentMetrics::add(&context.metrics.errors, 1);
                    tracing::error!(output = %context.id, error = %e, "Cannot write the dead-letter file; the batch is not acknowledged and will be read again.");
                    part.fail();
                }
            }
        }
        // Every event is encoded (or refused into its own buffer): free them now rather than
        // when the requests holding their bytes are answered.
        drop(batch);
        part.release_events();
        if !self.current.items.is_empty() && self.deadline.is_none() {
            self.deadline = Some(Instant::now() + settings.flush_interval);
        }
        // `part` drops here: settled now if no request holds any of its events.
    }

    fn add(&mut self, span: ItemSpan, part: &Arc<DeliveryPart>) {
        self.current.items.push(span);
        if !self
            .current
            .parts
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, part))
        {
            part.hold();
            self.current.parts.push(part.clone());
        }
    }

    /// Sends the current request (waiting for a free slot) and starts a new one.
    async fn dispatch(&mut self) {
        self.deadline = None;
        if self.current.items.is_empty() {
            return;
        }
        // Wait for a free slot, taking back this lane's finished buffers meanwhile.
        let permit = loop {
            tokio::select! {
                permit = self.slots.clone().acquire_owned() => break permit.ok(),
                Some(joined) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    self.finished(joined);
                }
            }
        };
        let body = self.spare.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.current, empty_batch(body));
        let sender = self.sender.clone();
        self.inflight.spawn(async move {
            let buffer = sender.deliver(batch).await;
            drop(permit);
            buffer
        });
    }

    fn finished(&mut self, joined: Result<Vec<u8>, tokio::task::JoinError>) {
        match joined {
            Ok(buffer) => {
                // Keep a few buffers, and none that a huge request left oversized.
                if self.spare.len() < 2 && buffer.capacity() <= 2 * self.sender.settings.max_bytes {
                    self.spare.push(buffer);
                }
            }
            Err(e) => {
                tracing::error!(output = %self.sender.output, error = %e, "A bulk request task failed; its batches will be read again.");
            }
        }
    }
}

/// `span` re-based from offset `from` to offset `to`.
fn shift(span: ItemSpan, from: usize, to: usize) -> ItemSpan {
    ItemSpan {
        range: span.range.start - from + to..span.range.end - from + to,
        source_start: span.source_start - from + to,
    }
}

/// `hosts` are all empty (the pipeline's `ELASTICSEARCH_URL` is unset): say so once, then
/// settle every delivery and count its events as deliberately dropped.
async fn run_disabled(
    deliveries: mpsc::Receiver<Delivery>,
    context: OutputContext,
) -> Result<(), OutputError> {
    tracing::warn!(output = %context.id, "Elasticsearch output has no hosts (empty `hosts`, e.g. ELASTICSEARCH_URL unset): it is disabled and its events are counted as dropped.");
    super::settle_all(deliveries, &context, super::Disposal::Dropped).await;
    Ok(())
}

/// Start-up: health check on every node, then the template. Waits while the cluster is
/// unreachable; `Ok(None)` when aborted meanwhile.
async fn start(sender: &Sender) -> Result<Option<ClusterInfo>, OutputError> {
    let backoff = Backoff {
        initial: sender.settings.retry_initial,
        max: sender.settings.retry_max,
    };
    let mut round = 0u32;
    loop {
        let result = async {
            let info = check_nodes(sender).await?;
            if let Some((name, body)) = &sender.settings.template {
                let installed = template::install(
                    &sender.client,
                    name,
                    body,
                    sender.settings.template_overwrite,
                )
                .await?;
                tracing::info!(output = %sender.output, template = %name, outcome = ?installed, "Index template checked.");
            }
            Ok::<_, HealthError>(info)
        };
        let result = tokio::select! {
            biased;
            () = sender.abort.cancelled() => return Ok(None),
            result = result => result,
        };
        match result {
            Ok(info) => return Ok(Some(info)),
            Err(HealthError::Fatal(message)) => {
                return Err(OutputError::Elasticsearch(message));
            }
            Err(HealthError::Transient(message)) => {
                let delay = backoff.delay(round);
                round = round.saturating_add(1);
                crate::metrics::ComponentMetrics::add(&sender.metrics.component.errors, 1);
                sender
                    .readiness
                    .set_not_ready(format!("Elasticsearch not reachable: {message}"));
                tracing::warn!(
                    output = %sender.output,
                    error = %message,
                    retry_in_ms = delay.as_millis() as u64,
                    "Elasticsearch is not reachable; waiting (the pipeline holds its events meanwhile)."
                );
                tokio::select! {
                    biased;
                    () = sender.abort.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// `GET /` on every node: any fatal answer fails, any good one passes.
async fn check_nodes(sender: &Sender) -> Result<ClusterInfo, HealthError> {
    let mut found: Option<ClusterInfo> = None;
    let mut transient: Option<HealthError> = None;
    for index in 0..sender.client.host_count() {
        let answer = sender
            .client
            .request(index, reqwest::Method::GET, "/", None)
            .await;
        let checked = answer
            .map_err(health::from_request_error)
            .and_then(|answer| health::check(&answer));
        match checked {
            Ok(info) => {
                if found.is_none() {
                    found = Some(info);
                }
            }
            Err(fatal @ HealthError::Fatal(_)) => return Err(fatal),
            Err(HealthError::Transient(message)) => {
                if sender.client.host_count() > 1 {
                    tracing::warn!(output = %sender.output, error = %message, "A node is not reachable; using the others.");
                }
                transient = Some(HealthError::Transient(message));
            }
        }
    }
    match (found, transient) {
        (Some(info), _) => Ok(info),
        (None, Some(error)) => Err(error),
        (None, None) => Err(HealthError::Fatal("no hosts configured".into())),
    }
}
