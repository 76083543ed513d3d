//! Per-component metrics.
//!
//! Every component gets one [`ComponentMetrics`] from the [`Registry`] when the pipeline is
//! built. The six standard counters (events in/out/dropped/failed, errors, bytes) are plain
//! fields so the hot path bumps an atomic with no lookup (one relaxed add per batch, not per
//! event). Anything component-specific (bulk latency, Slack coalescing, Beats connections,
//! file lag) is registered once, at build time, as a named [`Counter`], [`Gauge`] or
//! [`Histogram`] with fixed labels; the component keeps the returned handle and updates it
//! lock-free afterwards. Nothing here allocates or locks per event.
//!
//! Exposition (the end-of-run summary, the Prometheus `/metrics` endpoint, `/_node/stats`)
//! only reads: [`Registry::snapshot`] and [`ComponentMetrics::extras`]. Each counter has one
//! meaning per kind of component and every exposition shows that same counter under its
//! name, so they cannot disagree (inputs count through [`crate::inputs::count_handed_over`]). Names are given
//! without the `sluice_` prefix and without a unit suffix convention being enforced; the
//! exposition adds the prefix and the `component_kind`, `component_id` and
//! `component_type` labels.

use crate::sync::lock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

// The pipeline's own two components. The pipeline registers them and the expositions (the
// summary, `/_node/stats`) look them up, so their ids live here, below both.

/// Component id of the filter chain's counters (`component_kind = "pipeline"`): events in
/// and out of the whole chain.
pub const FILTERS_ID: &str = "filters";
/// Component id of the fan-out's counters: `events_in` handed to the outputs, `events_out`
/// settled by every output (Logstash's `events.out`).
pub const OUTPUTS_ID: &str = "outputs";
/// Component id of the queue between the inputs and the filter workers
/// (`component_type` = `memory` or `disk`): its gauges (`queue_events`, `queue_bytes`...).
pub const QUEUE_ID: &str = "queue";

/// Counters of one component.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    /// Events received (outputs, filters); for an input, records read (lines, Beats events).
    pub events_in: AtomicU64,
    /// Events passed on (an input: handed to the pipeline; a filter) or delivered (outputs).
    pub events_out: AtomicU64,
    /// Events deliberately dropped (a `drop` filter, a script, an output's disposal policy,
    /// blank lines an input skipped).
    pub events_dropped: AtomicU64,
    /// Events that failed and were disposed of (dead letter, tagged failure).
    pub events_failed: AtomicU64,
    /// Errors that did not stop the component (unreadable file, script error, retry).
    pub errors: AtomicU64,
    /// Raw bytes read or written.
    pub bytes: AtomicU64,
    /// Component-specific metrics, registered at build time.
    extras: Mutex<Vec<Extra>>,
}

impl ComponentMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A monotonically increasing counter, e.g. `("bulk_requests_total", "...")`.
    /// Registering the same name and labels twice returns the same counter.
    pub fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        self.counter_with(name, help, &[])
    }

    /// A counter with extra labels, e.g. `("bulk_responses_total", "...", &[("status", "429")])`.
    pub fn counter_with(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Counter {
        let found = self.register(name, help, labels, || {
            ExtraValue::Counter(Counter(Arc::new(AtomicU64::new(0))))
        });
        match found {
            ExtraValue::Counter(counter) => counter,
            // A name registered with another type: hand out a detached counter rather than
            // panicking; the mistake shows up as a missing series, and tests catch it.
            _ => Counter(Arc::new(AtomicU64::new(0))),
        }
    }

    /// A value that goes up and down, e.g. open connections or bytes behind.
    pub fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        self.gauge_with(name, help, &[])
    }

    /// A gauge with extra labels (e.g. `("path", "/var/log/mqtt.log")`).
    pub fn gauge_with(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Gauge {
        let found = self.register(name, help, labels, || {
            ExtraValue::Gauge(Gauge(Arc::new(AtomicI64::new(0))))
        });
        match found {
            ExtraValue::Gauge(gauge) => gauge,
            _ => Gauge(Arc::new(AtomicI64::new(0))),
        }
    }

    /// A histogram with the given upper bounds (ascending; `+Inf` is implicit), e.g.
    /// request latency in seconds with [`LATENCY_SECONDS_BUCKETS`].
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
    ) -> Histogram {
        self.histogram_with(name, help, buckets, &[])
    }

    /// A histogram with extra labels.
    pub fn histogram_with(
        &self,
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
        labels: &[(&'static str, &str)],
    ) -> Histogram {
        let found = self.register(name, help, labels, || {
            ExtraValue::Histogram(Histogram::new(buckets))
        });
        match found {
            ExtraValue::Histogram(histogram) => histogram,
            _ => Histogram::new(buckets),
        }
    }

    /// Every component-specific metric registered so far.
    pub fn extras(&self) -> Vec<Extra> {
        lock(&self.extras).clone()
    }

    /// Unregisters a labelled series whose subject is gone (a forgotten file's lag), so
    /// label sets do not accumulate. Handles still held keep working but are no longer
    /// exposed. Called when the subject disappears, never per event.
    pub fn remove(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        lock(&self.extras).retain(|e| {
            e.name != name
                || e.labels.len() != labels.len()
                || e.labels
                    .iter()
                    .zip(labels)
                    .any(|((k1, v1), (k2, v2))| k1 != k2 || v1 != v2)
        });
    }

    fn register(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        make: impl FnOnce() -> ExtraValue,
    ) -> ExtraValue {
        let labels: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        let mut extras = lock(&self.extras);
        if let Some(extra) = extras.iter().find(|e| e.name == name && e.labels == labels) {
            return extra.value.clone();
        }
        let value = make();
        extras.push(Extra {
            name,
            help,
            labels,
            value: value.clone(),
        });
        value
    }
}

/// One component-specific metric.
#[derive(Debug, Clone)]
pub struct Extra {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: ExtraValue,
}

/// The handle of a component-specific metric.
#[derive(Debug, Clone)]
pub enum ExtraValue {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// A monotonically increasing count. Cloning shares the value.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down. Cloning shares the value.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Default buckets for request and delivery latencies, in seconds.
pub const LATENCY_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Default buckets for batch sizes, in events.
pub const BATCH_SIZE_BUCKETS: &[f64] =
    &[1.0, 8.0, 32.0, 128.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

/// A cumulative histogram with fixed buckets. Cloning shares the values.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    bounds: &'static [f64],
    /// One count per bound plus the `+Inf` bucket; not cumulative (summed on read).
    counts: Vec<AtomicU64>,
    /// Sum of observations, as f64 bits, updated with a CAS loop.
    sum_bits: AtomicU64,
}

/// What a histogram holds at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`; the last entry is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self(Arc::new(HistogramInner {
            bounds,
            counts,
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        self.observe_many(value, 1);
    }

    /// Records `n` observations of the same value (a batch's events sharing one latency).
    pub fn observe_many(&self, value: f64, n: u64) {
        if n == 0 {
            return;
        }
        let inner = &self.0;
        let index = inner
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(inner.bounds.len());
        if let Some(bucket) = inner.counts.get(index) {
            bucket.fetch_add(n, Ordering::Relaxed);
        }
        let add = value * n as f64;
        let _ = inner
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + add).to_bits())
            });
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let inner = &self.0;
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(inner.counts.len());
        for (i, count) in inner.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = inner.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            count: cumulative,
            sum: f64::from_bits(inner.sum_bits.load(Ordering::Relaxed)),
        }
    }
}

/// Identifies a component in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentKey {
    pub kind: &'static str,
    pub id: String,
    pub type_name: String,
}

/// All components' metrics.
#[derive(Debug, Default)]
pub struct Registry {
    components: Mutex<Vec<(ComponentKey, Arc<ComponentMetrics>)>>,
}

impl Registry {
    /// The metrics of one component (created on first use).
    pub fn component(
        &self,
        kind: &'static str,
        id: &str,
        type_name: &str,
    ) -> Arc<ComponentMetrics> {
        let key = ComponentKey {
            kind,
            id: id.to_string(),
            type_name: type_name.to_string(),
        };
        let mut components = lock(&self.components);
        if let Some((_, metrics)) = components.iter().find(|(k, _)| *k == key) {
            return metrics.clone();
        }
        let metrics = Arc::new(ComponentMetrics::default());
        components.push((key, metrics.clone()));
        metrics
    }

    /// A copy of every component's key and metrics handle.
    pub fn snapshot(&self) -> Vec<(ComponentKey, Arc<ComponentMetrics>)> {
        lock(&self.components).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_twice_shares_the_value() {
        let metrics = ComponentMetrics::default();
        let a = metrics.counter_with("responses_total", "h", &[("status", "200")]);
        let b = metrics.counter_with("responses_total", "h", &[("status", "200")]);
        let other = metrics.counter_with("responses_total", "h", &[("status", "429")]);
        a.add(2);
        b.inc();
        assert_eq!(a.get(), 3);
        assert_eq!(other.get(), 0);
        assert_eq!(metrics.extras().len(), 2);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        static BOUNDS: &[f64] = &[1.0, 10.0];
        let histogram = Histogram::new(BOUNDS);
        histogram.observe(0.5);
        histogram.observe_many(5.0, 2);
        histogram.observe(100.0);
        let snapshot = histogram.snapshot();
        assert_eq!(
            snapshot.buckets,
            vec![(1.0, 1), (10.0, 3), (f64::INFINITY, 4)]
        );
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum - 110.5).abs() < 1e-9);
    }

    #[test]
    fn gauge_goes_both_ways() {
        let metrics = ComponentMetrics::default();
        let gauge = metrics.gauge("connections", "h");
        gauge.add(3);
        gauge.add(-1);
        assert_eq!(metrics.gauge("connections", "h").get(), 2);
        gauge.set(7);
        assert_eq!(gauge.get(), 7);
    }

    #[test]
    fn a_removed_series_is_no_longer_listed() {
        let metrics = ComponentMetrics::default();
        metrics.gauge_with("lag", "h", &[("path", "a")]).set(1);
        metrics.gauge_with("lag", "h", &[("path", "b")]).set(2);
        metrics.remove("lag", &[("path", "a")]);
        let extras = metrics.extras();
        assert_eq!(extras.len(), 1);
        assert_eq!(extras[0].labels, vec![("path", "b".to_string())]);
    }

    #[test]
    fn a_name_reused_with_another_type_does_not_panic() {
        let metrics = ComponentMetrics::default();
        let counter = metrics.counter("thing", "h");
        let gauge = metrics.gauge("thing", "h");
        counter.inc();
        gauge.set(5);
        assert_eq!(counter.get(), 1);
        assert_eq!(metrics.extras().len(), 1);
    }
}
