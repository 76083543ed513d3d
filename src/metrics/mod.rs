//! Per-component counters.
//!
//! Every component gets one [`ComponentMetrics`] from the [`Registry`] when the pipeline is
//! built and bumps plain atomics on its hot path (one relaxed add per batch, not per event).
//! Exposition (the end-of-run summary today, Prometheus later) reads the registry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters of one component.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    /// Events received (outputs, filters) or produced (inputs).
    pub events_in: AtomicU64,
    /// Events passed on or delivered.
    pub events_out: AtomicU64,
    /// Events deliberately dropped (a `drop` filter, a script, an output's disposal policy).
    pub events_dropped: AtomicU64,
    /// Events that failed and were disposed of (dead letter, tagged failure).
    pub events_failed: AtomicU64,
    /// Errors that did not stop the component (unreadable file, script error, retry).
    pub errors: AtomicU64,
    /// Raw bytes read or written.
    pub bytes: AtomicU64,
}

impl ComponentMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Identifies a component in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentKey {
    pub kind: &'static str,
    pub id: String,
    pub type_name: String,
}

/// All components' counters.
#[derive(Debug, Default)]
pub struct Registry {
    components: Mutex<Vec<(ComponentKey, Arc<ComponentMetrics>)>>,
}

impl Registry {
    /// The counters of one component (created on first use).
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
        let mut components = match self.components.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, metrics)) = components.iter().find(|(k, _)| *k == key) {
            return metrics.clone();
        }
        let metrics = Arc::new(ComponentMetrics::default());
        components.push((key, metrics.clone()));
        metrics
    }

    /// A copy of every component's key and counters.
    pub fn snapshot(&self) -> Vec<(ComponentKey, Arc<ComponentMetrics>)> {
        match self.components.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
