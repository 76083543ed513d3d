//! Batches: the unit that moves between stages.
//!
//! Moving batches instead of single events amortises channel operations, wake-ups and
//! acknowledgement bookkeeping over hundreds of events. After the filter chain a batch is
//! frozen behind an `Arc` and every output receives a [`Delivery`] of the same allocation:
//! fan-out never copies events.
//!
//! An input may also hand over a batch *deferred*: raw data plus a decoder that turns it into
//! events. The filter workers run the decoder, so building events (the allocation-heavy part
//! of reading logs) happens on every core in parallel instead of on the one thread that reads
//! files or sockets; inputs then only read, split and keep their acknowledgement books.
//!
//! A [`Delivery`] made by the pipeline carries the output's [`DeliveryMetrics`]: settling it
//! records the batch size and the end-to-end latency (event `@timestamp` to settle, sampled
//! on the batch's first and last events) and, for the last output to settle, counts the
//! batch as delivered. Every output gets these without code of its own, at the cost of two
//! timestamp reads (parses, except for line events, whose read time is kept parsed) and a few
//! atomic adds per batch.

use super::ack::AckToken;
use super::Event;
use crate::metrics::{ComponentMetrics, Histogram, BATCH_SIZE_BUCKETS, LATENCY_SECONDS_BUCKETS};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Turns a deferred batch's raw data into events, appending to the vector it is given.
pub type Decoder = Box<dyn FnOnce(&mut Vec<Event>) + Send + Sync>;

/// Events from one input, with the token that acknowledges them.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<Event>,
    token: Option<AckToken>,
    decoder: Option<Decoder>,
    /// Outputs that have not settled their delivery yet (set by the pipeline at fan-out).
    unsettled: AtomicUsize,
    /// Where the events go to be freed when the batch is done with ([`Batch::free_at`]).
    home: Option<Home>,
    /// Where the batch ends in its source, for a queue that keeps it with the batch
    /// ([`Batch::with_positions`]); empty for most inputs.
    positions: Vec<SourcePosition>,
}

/// How far a batch reaches into one stream of its input, as the input can resume from it.
///
/// The disk queue writes it into the batch's record, in the same write and sync, and hands
/// the newest per stream back at the next start (`crate::queue::QueueWriter::
/// recovered_positions`): an input whose own checkpoint is written after the queue took the
/// batch then does not read the batch again after a crash. Both byte strings are the input's
/// own (the file input: device and inode; offset and fingerprint); the queue only compares
/// `source` and `stream` and keeps the newest `position`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourcePosition {
    /// The input's id.
    pub source: Arc<str>,
    /// Which of the input's streams (a file).
    pub stream: Box<[u8]>,
    /// How far into it the batch reaches.
    pub position: Box<[u8]>,
}

/// A filter worker's bin for the events of batches it built: the worker frees them itself.
///
/// Why: an event is a few dozen heap blocks, allocated by the worker that built it. Freed by
/// the output task that settles it last, on another thread, every block takes mimalloc's
/// cross-thread path (an atomic push onto the owner's list, collected later by the owner):
/// profiled as the largest part of the Elasticsearch output's CPU (figures in BENCHMARKS.md).
/// Handed back, they are freed by their own thread.
///
/// The worker waits for its next batch and for events handed back at the same time
/// ([`HomeBin::returned`]), so they are freed promptly even while the inputs are quiet.
#[derive(Debug, Clone)]
pub struct Home {
    bin: tokio::sync::mpsc::UnboundedSender<Vec<Event>>,
}

/// The worker's end of a [`Home`].
#[derive(Debug)]
pub struct HomeBin {
    bin: tokio::sync::mpsc::UnboundedReceiver<Vec<Event>>,
}

impl Home {
    /// A home and the bin its worker empties.
    pub fn new() -> (Self, HomeBin) {
        let (bin, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Self { bin }, HomeBin { bin: receiver })
    }

    /// Hands `events` back to be freed by the worker.
    fn hand_back(&self, events: Vec<Event>) {
        // If the worker is gone, the events come back and are freed here after all.
        let _ = self.bin.send(events);
    }
}

impl HomeBin {
    /// The next events handed back; `None` once no [`Home`] is left.
    pub async fn returned(&mut self) -> Option<Vec<Event>> {
        self.bin.recv().await
    }

    /// The events handed back since the last call, if any (tests look at them).
    #[cfg(test)]
    pub fn try_returned(&mut self) -> Option<Vec<Event>> {
        self.bin.try_recv().ok()
    }

    /// Frees every event handed back so far.
    pub fn empty(&mut self) {
        while let Ok(events) = self.bin.try_recv() {
            super::prefetch::free(events);
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            if !self.events.is_empty() {
                home.hand_back(std::mem::take(&mut self.events));
            }
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .field("token", &self.token)
            .field("deferred", &self.decoder.is_some())
            .finish()
    }
}

impl Batch {
    /// A batch whose completion is reported through `token`.
    pub fn new(events: Vec<Event>, token: Option<AckToken>) -> Self {
        Self {
            events,
            token,
            decoder: None,
            unsettled: AtomicUsize::new(0),
            home: None,
            positions: Vec::new(),
        }
    }

    /// A batch whose events are built later, on a filter worker, by `decoder`; `capacity` is
    /// how many events it will produce.
    pub fn deferred(
        capacity: usize,
        token: Option<AckToken>,
        decoder: impl FnOnce(&mut Vec<Event>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            events: Vec::with_capacity(capacity),
            token,
            decoder: Some(Box::new(decoder)),
            unsettled: AtomicUsize::new(0),
            home: None,
            positions: Vec::new(),
        }
    }

    /// A batch nobody waits for (tests, `sluice test`).
    pub fn untracked(events: Vec<Event>) -> Self {
        Self::new(events, None)
    }

    /// Runs `decorate` on every event of the batch: now, or for a deferred batch right
    /// after its events are built (on the filter worker, keeping the deferral).
    pub fn decorate(&mut self, decorate: Arc<dyn Fn(&mut Event) + Send + Sync>) {
        match self.decoder.take() {
            Some(decoder) => {
                self.decoder = Some(Box::new(move |events: &mut Vec<Event>| {
                    decoder(events);
                    events.iter_mut().for_each(|event| decorate(event));
                }))
            }
            None => self.events.iter_mut().for_each(|event| decorate(event)),
        }
    }

    /// Builds the events of a deferred batch (no-op otherwise).
    pub fn materialize(&mut self) {
        if let Some(decoder) = self.decoder.take() {
            decoder(&mut self.events);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn token(&self) -> Option<&AckToken> {
        self.token.as_ref()
    }

    /// The same batch, saying where it ends in its input's streams (see [`SourcePosition`]).
    pub fn with_positions(mut self, positions: Vec<SourcePosition>) -> Self {
        self.positions = positions;
        self
    }

    pub fn positions(&self) -> &[SourcePosition] {
        &self.positions
    }

    /// Before freezing: when the batch is done with, its events are sent to `home` to be
    /// freed there (see [`Home`]).
    pub fn free_at(&mut self, home: Home) {
        self.home = Some(home);
    }

    /// Before freezing: how many outputs will receive a [`Delivery`] of this batch.
    pub fn expect_deliveries(&mut self, outputs: usize) {
        *self.unsettled.get_mut() = outputs;
    }
}

/// What settling a delivery records for one output (registered once per output).
#[derive(Debug)]
pub struct DeliveryMetrics {
    latency: Histogram,
    batch_events: Histogram,
    /// The pipeline's fan-out counters: `events_out` counts events every output settled.
    delivered: Arc<ComponentMetrics>,
}

impl DeliveryMetrics {
    /// Registers `end_to_end_latency_seconds` and `batch_events` on the output's metrics.
    pub fn register(output: &ComponentMetrics, delivered: Arc<ComponentMetrics>) -> Self {
        Self {
            latency: output.histogram(
                "end_to_end_latency_seconds",
                "Seconds from an event's @timestamp to this output settling it (sampled per batch, weighted by its events).",
                LATENCY_SECONDS_BUCKETS,
            ),
            batch_events: output.histogram(
                "batch_events",
                "Events in each batch handed to this output.",
                BATCH_SIZE_BUCKETS,
            ),
            delivered,
        }
    }

    fn observe(&self, batch: &Batch, summary: Option<&Summary>) {
        let summary = match summary {
            Some(summary) => summary.clone(),
            None => Summary::of(&batch.events),
        };
        let count = summary.count;
        self.batch_events.observe(count as f64);
        let now = chrono::Utc::now();
        let age = |time: Option<chrono::DateTime<chrono::Utc>>| {
            time.map(|time| (now - time).num_milliseconds().max(0) as f64 / 1000.0)
        };
        // Two samples stand for the batch: half its events each (one for a single event).
        let half = count / 2;
        match (age(summary.first), age(summary.last)) {
            (Some(a), Some(b)) if count > 1 => {
                self.latency.observe_many(a, count - half);
                self.latency.observe_many(b, half);
            }
            (Some(a), _) | (None, Some(a)) => self.latency.observe_many(a, count),
            (None, None) => {}
        }
        if batch.unsettled.fetch_sub(1, Ordering::AcqRel) == 1 {
            ComponentMetrics::add(&self.delivered.events_out, count);
        }
    }
}

/// What settling records of a batch's events: kept when an output lets go of the events
/// before it settles ([`Delivery::release_events`]).
#[derive(Debug, Clone)]
struct Summary {
    count: u64,
    first: Option<chrono::DateTime<chrono::Utc>>,
    last: Option<chrono::DateTime<chrono::Utc>>,
}

impl Summary {
    fn of(events: &[Event]) -> Self {
        let count = events.len() as u64;
        let first = events.first().and_then(Event::timestamp);
        // One event: one sample (its time is read once).
        let last = if count > 1 {
            events.last().and_then(Event::timestamp)
        } else {
            None
        };
        Self { count, first, last }
    }
}

/// One output's share of a frozen batch.
///
/// The output calls [`Delivery::settle`] once every event is delivered, dead-lettered or
/// deliberately dropped. Dropping an unsettled delivery fails the batch, so the input will
/// not checkpoint past it.
#[derive(Debug)]
pub struct Delivery {
    batch: Arc<Batch>,
    settled: bool,
    metrics: Option<Arc<DeliveryMetrics>>,
    /// Set once the events were let go of before settling.
    released: Option<Summary>,
}

impl Delivery {
    /// A delivery nothing measures (tests, tools).
    pub fn new(batch: Arc<Batch>) -> Self {
        Self {
            batch,
            settled: false,
            metrics: None,
            released: None,
        }
    }

    /// A delivery whose settling is recorded in `metrics` (what the pipeline makes).
    pub fn measured(batch: Arc<Batch>, metrics: Arc<DeliveryMetrics>) -> Self {
        Self {
            batch,
            settled: false,
            metrics: Some(metrics),
            released: None,
        }
    }

    /// The batch's events; empty once [`Delivery::release_events`] let go of them.
    pub fn events(&self) -> &[Event] {
        &self.batch.events
    }

    /// Another handle on the batch, to read its events after the delivery was handed to a
    /// shared holder (an output's `DeliveryPart`); while it lives,
    /// [`Delivery::release_events`] leaves the events where they are.
    pub fn batch(&self) -> Arc<Batch> {
        Arc::clone(&self.batch)
    }

    /// The output no longer reads the events (it copied what it sends, into a client's own
    /// buffers) but settles later, once its peer confirms: when no other output holds the
    /// batch, its events go home to be freed now rather than when the delivery is settled.
    /// Nothing else changes: the input is acknowledged at settling, and settling records the
    /// same metrics (from a summary kept here). With several outputs the events stay.
    ///
    /// Why: an output that waits for acknowledgements (Kafka's `acks = all`) keeps thousands
    /// of events in flight; holding their maps until then doubled the peak RSS of a seed
    /// chain into Kafka and left them cold in cache for the worker that frees them
    /// (BENCHMARKS.md, Kafka).
    pub fn release_events(&mut self) {
        let Some(batch) = Arc::get_mut(&mut self.batch) else {
            return;
        };
        if batch.events.is_empty() {
            return;
        }
        if self.metrics.is_some() {
            self.released = Some(Summary::of(&batch.events));
        }
        let events = std::mem::take(&mut batch.events);
        match &batch.home {
            Some(home) => home.hand_back(events),
            None => drop(events),
        }
    }

    /// This output is done with the batch.
    pub fn settle(mut self) {
        self.settled = true;
        if let Some(metrics) = &self.metrics {
            metrics.observe(&self.batch, self.released.as_ref());
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(token) = self.batch.token() {
                token.mark_failed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ack_channel, BatchStatus};

    /// `count` events, the first and the last stamped 20 seconds ago, the others unstamped.
    fn first_and_last_20_s_old(count: usize) -> Vec<Event> {
        let old = chrono::Utc::now() - chrono::TimeDelta::seconds(20);
        let mut events: Vec<Event> = (0..count).map(|_| Event::new()).collect();
        events[0].set_timestamp(old);
        events[count - 1].set_timestamp(old);
        events
    }

    /// The histogram `name` of `component`, as `/metrics` would show it.
    fn histogram(component: &ComponentMetrics, name: &str) -> crate::metrics::HistogramSnapshot {
        let extras = component.extras();
        match &extras.iter().find(|e| e.name == name).unwrap().value {
            crate::metrics::ExtraValue::Histogram(h) => h.snapshot(),
            _ => panic!("{name} is not a histogram"),
        }
    }

    #[test]
    fn a_batch_done_with_sends_its_events_home_and_still_acknowledges() {
        let (tx, mut rx) = ack_channel();
        let (home, mut bin) = Home::new();
        let mut batch = Batch::new(vec![Event::new(), Event::new()], Some(tx.token(7)));
        batch.free_at(home.clone());
        batch.expect_deliveries(2);
        let batch = Arc::new(batch);
        let (first, second) = (Delivery::new(batch.clone()), Delivery::new(batch));
        first.settle();
        assert!(
            bin.bin.try_recv().is_err(),
            "the second output still holds it"
        );
        second.settle();
        assert_eq!(bin.bin.try_recv().map(|events| events.len()), Ok(2));
        assert_eq!(rx.try_recv().map(|r| r.status), Ok(BatchStatus::Delivered));

        // A worker that is gone: the events are freed where the batch dropped.
        drop(bin);
        let mut batch = Batch::untracked(vec![Event::new()]);
        batch.free_at(home);
        drop(batch);
    }

    #[test]
    fn fan_out_acknowledges_once_after_every_output_settles() {
        let (tx, mut rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![Event::new()], Some(tx.token(3))));
        let first = Delivery::new(batch.clone());
        let second = Delivery::new(batch);
        first.settle();
        assert!(rx.try_recv().is_err(), "second output still holds it");
        second.settle();
        let receipt = rx.try_recv().unwrap();
        assert_eq!(
            (receipt.batch_id, receipt.status),
            (3, BatchStatus::Delivered)
        );
    }

    #[test]
    fn deferred_batches_build_their_events_when_materialized() {
        let mut batch = Batch::deferred(2, None, |events| {
            events.push(Event::new());
            events.push(Event::new());
        });
        assert!(batch.is_empty());
        batch.materialize();
        assert_eq!(batch.len(), 2);
        batch.materialize();
        assert_eq!(batch.len(), 2, "the decoder runs once");
    }

    #[test]
    fn decorating_a_deferred_batch_runs_after_its_decoder_and_a_built_one_at_once() {
        use crate::event::FieldPath;
        let mark = |event: &mut Event| {
            let seen = event.get(&FieldPath::parse("seen").unwrap()).is_some();
            let text = if seen { "after" } else { "before" };
            event.insert(&FieldPath::parse("decorated").unwrap(), text.into());
        };
        let mut deferred = Batch::deferred(1, None, |events| {
            events.push(Event::from_value(serde_json::json!({"seen": "yes"})));
        });
        deferred.decorate(Arc::new(mark));
        assert!(deferred.is_empty(), "still deferred");
        deferred.materialize();
        assert_eq!(
            deferred.events[0].to_value()["decorated"],
            serde_json::json!("after")
        );

        let mut built = Batch::untracked(vec![Event::new()]);
        built.decorate(Arc::new(mark));
        assert_eq!(
            built.events[0].to_value()["decorated"],
            serde_json::json!("before")
        );
    }

    #[test]
    fn settling_records_latency_size_and_delivery_once_every_output_settled() {
        let registry = crate::metrics::Registry::default();
        let fanout = registry.component("pipeline", "outputs", "fanout");
        let a = registry.component("output", "a", "null");
        let b = registry.component("output", "b", "null");
        let metrics_a = Arc::new(DeliveryMetrics::register(&a, fanout.clone()));
        let metrics_b = Arc::new(DeliveryMetrics::register(&b, fanout.clone()));
        let mut batch = Batch::untracked(first_and_last_20_s_old(3));
        batch.expect_deliveries(2);
        let batch = Arc::new(batch);
        Delivery::measured(batch.clone(), metrics_a).settle();
        assert_eq!(
            ComponentMetrics::get(&fanout.events_out),
            0,
            "b has not settled"
        );
        let unsettled = Delivery::measured(batch.clone(), metrics_b.clone());
        drop(unsettled);
        assert_eq!(
            ComponentMetrics::get(&fanout.events_out),
            0,
            "a drop is no settle"
        );
        Delivery::measured(batch, metrics_b).settle();
        assert_eq!(ComponentMetrics::get(&fanout.events_out), 3);

        let latency = histogram(&a, "end_to_end_latency_seconds");
        assert_eq!(latency.count, 3, "weighted by the batch's events");
        assert!(latency.sum >= 60.0 && latency.sum < 63.0, "{}", latency.sum);
        let le_10 = latency
            .buckets
            .iter()
            .find(|(le, _)| *le == 10.0)
            .unwrap()
            .1;
        let le_30 = latency
            .buckets
            .iter()
            .find(|(le, _)| *le == 30.0)
            .unwrap()
            .1;
        assert_eq!((le_10, le_30), (0, 3));
        let sizes = histogram(&a, "batch_events");
        assert_eq!((sizes.count, sizes.sum), (1, 3.0));
    }

    #[test]
    fn released_events_go_home_at_once_and_the_input_is_acknowledged_only_at_settling() {
        let (tx, mut rx) = ack_channel();
        let (home, mut bin) = Home::new();
        let mut batch = Batch::new(vec![Event::new(), Event::new()], Some(tx.token(5)));
        batch.free_at(home);
        batch.expect_deliveries(1);
        let mut delivery = Delivery::new(Arc::new(batch));
        delivery.release_events();
        assert_eq!(bin.bin.try_recv().map(|events| events.len()), Ok(2));
        assert!(delivery.events().is_empty());
        assert!(rx.try_recv().is_err(), "released is not settled");
        delivery.settle();
        assert_eq!(rx.try_recv().map(|r| r.status), Ok(BatchStatus::Delivered));

        // Released and then dropped unsettled: the batch still fails.
        let (tx, mut rx) = ack_channel();
        let mut delivery =
            Delivery::new(Arc::new(Batch::new(vec![Event::new()], Some(tx.token(6)))));
        delivery.release_events();
        drop(delivery);
        assert_eq!(rx.try_recv().map(|r| r.status), Ok(BatchStatus::Failed));
    }

    #[test]
    fn an_output_releasing_the_events_leaves_them_to_the_outputs_still_reading() {
        let (home, mut bin) = Home::new();
        let mut batch = Batch::untracked(vec![Event::new(), Event::new(), Event::new()]);
        batch.free_at(home);
        batch.expect_deliveries(2);
        let batch = Arc::new(batch);
        let (mut first, second) = (Delivery::new(batch.clone()), Delivery::new(batch));
        first.release_events();
        assert_eq!(
            second.events().len(),
            3,
            "the other output still reads them"
        );
        assert!(bin.bin.try_recv().is_err());
        first.settle();
        second.settle();
        assert_eq!(bin.bin.try_recv().map(|events| events.len()), Ok(3));
    }

    #[test]
    fn a_released_delivery_records_the_same_metrics_when_it_settles() {
        let registry = crate::metrics::Registry::default();
        let fanout = registry.component("pipeline", "outputs", "fanout");
        let output = registry.component("output", "kafka", "kafka");
        let metrics = Arc::new(DeliveryMetrics::register(&output, fanout.clone()));
        let mut batch = Batch::untracked(first_and_last_20_s_old(4));
        batch.expect_deliveries(1);
        let mut delivery = Delivery::measured(Arc::new(batch), metrics);
        delivery.release_events();
        assert_eq!(ComponentMetrics::get(&fanout.events_out), 0);
        delivery.settle();
        assert_eq!(ComponentMetrics::get(&fanout.events_out), 4);
        let latency = histogram(&output, "end_to_end_latency_seconds");
        assert_eq!(latency.count, 4, "weighted by the batch's events");
        assert!(latency.sum >= 80.0 && latency.sum < 84.0, "{}", latency.sum);
        let sizes = histogram(&output, "batch_events");
        assert_eq!((sizes.count, sizes.sum), (1, 4.0));
    }

    #[test]
    fn an_unsettled_delivery_fails_the_batch() {
        let (tx, mut rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![], Some(tx.token(1))));
        Delivery::new(batch.clone()).settle();
        drop(Delivery::new(batch));
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);
    }
}
