//! The readiness registry behind `/ready`.
//!
//! Every input and output gets one [`ReadinessHandle`] when the pipeline is built (in its
//! `InputContext` / `OutputContext` as `context.readiness`). It starts *not ready*
//! ("starting"); the component flips it:
//!
//! ```ignore
//! context.readiness.set_ready();                          // listening / reachable
//! context.readiness.set_not_ready("connection refused");  // say why, in a few words
//! ```
//!
//! `/ready` answers 200 only when every registered handle is ready and the process is not
//! shutting down. Both calls are cheap (`set_ready` is one atomic swap when nothing changes;
//! `set_not_ready` takes a short lock to store the reason) but are meant for state changes
//! (start, a failed or recovered connection, a write error), not for every event.
//!
//! It sits beside [`crate::metrics`], below the components, for the same reason: the pipeline
//! builds it, every input and output writes to it and the monitoring API ([`crate::api`])
//! reads it, so no component depends on the API.

use crate::sync::lock;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a component reports until it calls [`ReadinessHandle::set_ready`].
const STARTING: &str = "starting";

/// Every component's readiness.
#[derive(Debug, Default)]
pub struct Readiness {
    entries: Mutex<Vec<Arc<Entry>>>,
    shutting_down: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    kind: &'static str,
    id: String,
    type_name: String,
    ready: AtomicBool,
    reason: Mutex<String>,
}

/// One component's switch. Cloning shares it.
#[derive(Debug, Clone)]
pub struct ReadinessHandle(Arc<Entry>);

/// One component in a [`ReadinessReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentReadiness {
    pub kind: &'static str,
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub ready: bool,
    /// Why it is not ready (empty when ready).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// What `/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub shutting_down: bool,
    pub components: Vec<ComponentReadiness>,
}

impl ReadinessReport {
    /// The components that are not ready.
    pub fn not_ready(&self) -> impl Iterator<Item = &ComponentReadiness> {
        self.components.iter().filter(|c| !c.ready)
    }
}

impl Readiness {
    /// Registers a component (at build time); it starts not ready.
    pub fn register(&self, kind: &'static str, id: &str, type_name: &str) -> ReadinessHandle {
        let entry = Arc::new(Entry::new(kind, id, type_name));
        lock(&self.entries).push(entry.clone());
        ReadinessHandle(entry)
    }

    /// From now on `/ready` answers 503 (stop sending traffic, we are draining).
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    pub fn report(&self) -> ReadinessReport {
        let components: Vec<ComponentReadiness> = lock(&self.entries)
            .iter()
            .map(|entry| {
                let ready = entry.ready.load(Ordering::Acquire);
                ComponentReadiness {
                    kind: entry.kind,
                    id: entry.id.clone(),
                    type_name: entry.type_name.clone(),
                    ready,
                    reason: if ready {
                        String::new()
                    } else {
                        lock(&entry.reason).clone()
                    },
                }
            })
            .collect();
        let shutting_down = self.shutting_down.load(Ordering::Relaxed);
        ReadinessReport {
            ready: !shutting_down && components.iter().all(|c| c.ready),
            shutting_down,
            components,
        }
    }
}

impl Entry {
    fn new(kind: &'static str, id: &str, type_name: &str) -> Self {
        Self {
            kind,
            id: id.to_string(),
            type_name: type_name.to_string(),
            ready: AtomicBool::new(false),
            reason: Mutex::new(STARTING.to_string()),
        }
    }
}

impl ReadinessHandle {
    /// A handle no registry reports (components run outside a pipeline, tests).
    pub fn detached() -> Self {
        Self(Arc::new(Entry::new("detached", "", "")))
    }

    /// The component can do its job (listening, connected, writable).
    pub fn set_ready(&self) {
        self.0.ready.store(true, Ordering::Release);
    }

    /// The component cannot do its job now; `reason` is shown by `/ready`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *lock(&self.0.reason) = reason.into();
        self.0.ready.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_component_is() {
        let readiness = Readiness::default();
        let input = readiness.register("input", "logs", "file");
        let output = readiness.register("output", "es", "elasticsearch");
        let report = readiness.report();
        assert!(!report.ready);
        assert_eq!(report.not_ready().count(), 2);
        assert_eq!(report.components[0].reason, "starting");

        input.set_ready();
        output.set_ready();
        assert!(readiness.report().ready);

        output.set_not_ready("connection refused");
        let report = readiness.report();
        assert!(!report.ready);
        let missing: Vec<_> = report.not_ready().collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(
            (missing[0].id.as_str(), missing[0].reason.as_str()),
            ("es", "connection refused")
        );

        output.set_ready();
        assert!(readiness.report().ready);
        assert!(readiness
            .report()
            .components
            .iter()
            .all(|c| c.reason.is_empty()));
    }

    #[test]
    fn shutting_down_is_not_ready() {
        let readiness = Readiness::default();
        readiness.register("input", "in", "stdin").set_ready();
        assert!(readiness.report().ready);
        readiness.set_shutting_down();
        let report = readiness.report();
        assert!(!report.ready && report.shutting_down);
    }

    #[test]
    fn an_empty_registry_is_ready_and_detached_handles_are_not_reported() {
        let readiness = Readiness::default();
        let detached = ReadinessHandle::detached();
        detached.set_not_ready("x");
        assert!(readiness.report().ready);
        assert!(!detached.is_ready());
    }
}
