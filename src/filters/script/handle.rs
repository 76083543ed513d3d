//! The slot a script's `event` refers to: the event being processed and what the script
//! decided about it.
//!
//! It sits below both the script API (`api.rs`, which registers the Rhai functions that work
//! on it) and the value conversions (`convert.rs`, which turns an `event` stored in a field
//! back into JSON), so neither has to reach into the other.

use crate::event::{Event, TIMESTAMP};
use std::sync::{Arc, Mutex, MutexGuard};

/// The event as a script sees it: the event plus what the script decided about it.
#[derive(Debug, Clone, Default)]
pub struct ScriptEvent {
    pub(super) event: Event,
    pub(super) dropped: bool,
    emitted: Vec<Event>,
}

impl ScriptEvent {
    pub fn new(event: Event) -> Self {
        Self {
            event,
            dropped: false,
            emitted: Vec::new(),
        }
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event, whether the script dropped it, and the events it emitted.
    pub fn into_parts(self) -> (Event, bool, Vec<Event>) {
        (self.event, self.dropped, self.emitted)
    }

    /// Queues an extra event; it inherits this event's `@timestamp` unless it has one.
    pub(super) fn emit(&mut self, mut extra: Event) {
        if extra.get_field(TIMESTAMP).is_none() {
            if let Some(timestamp) = self.event.get_field(TIMESTAMP) {
                extra
                    .fields_mut()
                    .insert(TIMESTAMP.to_string(), timestamp.clone());
            }
        }
        self.emitted.push(extra);
    }
}

/// The script's reference to the event being processed (Rhai type name `Event`).
#[derive(Debug, Clone, Default)]
pub struct EventHandle {
    slot: Arc<Mutex<ScriptEvent>>,
}

impl EventHandle {
    /// The state behind the handle. Nothing panics while holding the lock, but a poisoned
    /// lock still holds a usable event, so it is not treated as fatal.
    pub fn lock(&self) -> MutexGuard<'_, ScriptEvent> {
        crate::sync::lock(&self.slot)
    }

    /// Puts `event` in the slot for the next run.
    pub fn load(&self, event: Event) {
        *self.lock() = ScriptEvent::new(event);
    }

    /// Takes the event and the script's decisions out of the slot.
    pub fn take(&self) -> ScriptEvent {
        std::mem::take(&mut *self.lock())
    }
}
