//! Events an input keeps in its own raw form (a Beats `J` payload) until a field is needed.
//!
//! The same idea as line events (`line.rs`), for inputs whose raw form is not a line: the
//! input hands over a [`RawBlock`] (one per batch, behind one `Arc`) that can write each of
//! its events as JSON straight from the raw bytes, answer `@timestamp`, and build the event's
//! `serde_json` fields and metadata when a filter, condition or template asks for them. The
//! block guarantees that both forms agree: [`RawBlock::write_json`] writes byte for byte what
//! the built fields serialise to. The input decides, event by event, which events it can keep
//! raw; anything it cannot represent exactly is built at once, as before.
//!
//! The trait keeps the event model free of input-specific shaping (Beats' Logstash-8
//! enrichments live with the Beats input).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// The raw events of one batch, as an input keeps them.
pub trait RawBlock: std::fmt::Debug + Send + Sync {
    /// Event `index`'s fields and metadata, as the input would have built them eagerly.
    fn build(&self, index: usize) -> (Map<String, Value>, Map<String, Value>);

    /// Writes event `index` as one line of JSON (no newline): exactly the bytes its built
    /// fields serialise to with `serde_json`.
    fn write_json(&self, index: usize, writer: &mut dyn Write) -> std::io::Result<()>;

    /// Event `index`'s `@timestamp`, parsed.
    fn timestamp(&self, index: usize) -> Option<DateTime<Utc>>;

    /// Event `index`'s `@timestamp` as stored, when it is a string.
    fn timestamp_text(&self, index: usize) -> Option<&str>;

    /// Whether event `index` has the top-level field `name`, when the block knows without
    /// building the fields (`None`: build them and look).
    fn has_field(&self, index: usize, name: &str) -> Option<bool>;
}

/// What the fields and metadata of a raw event are built into.
type Built = (Map<String, Value>, Map<String, Value>);

/// An event that is still raw in its block; its fields and metadata are built on first use.
#[derive(Clone)]
pub(super) struct LazyRaw {
    block: Arc<dyn RawBlock>,
    index: usize,
    /// Fields and metadata, once something read either through a shared reference.
    built: OnceLock<Box<Built>>,
}

impl LazyRaw {
    pub(super) fn new(block: Arc<dyn RawBlock>, index: usize) -> Self {
        Self {
            block,
            index,
            built: OnceLock::new(),
        }
    }

    fn built(&self) -> &Built {
        self.built
            .get_or_init(|| Box::new(self.block.build(self.index)))
    }

    pub(super) fn fields(&self) -> &Map<String, Value> {
        &self.built().0
    }

    pub(super) fn metadata(&self) -> &Map<String, Value> {
        &self.built().1
    }

    /// Fields and metadata, to own (built unless something already did).
    pub(super) fn into_parts(mut self) -> Built {
        match self.built.take() {
            Some(built) => *built,
            None => self.block.build(self.index),
        }
    }

    pub(super) fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.block.timestamp(self.index)
    }

    pub(super) fn timestamp_text(&self) -> Option<&str> {
        self.block.timestamp_text(self.index)
    }

    pub(super) fn has_field(&self, name: &str) -> bool {
        self.block
            .has_field(self.index, name)
            .unwrap_or_else(|| self.fields().contains_key(name))
    }

    /// Written from the raw form even when the fields were built: nothing can have changed
    /// them through a shared reference.
    pub(super) fn write_json(&self, writer: &mut Vec<u8>) -> std::io::Result<()> {
        self.block.write_json(self.index, writer)
    }

    #[cfg(test)]
    pub(super) fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

impl std::fmt::Debug for LazyRaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRaw")
            .field("index", &self.index)
            .field("built", &self.built.get().is_some())
            .finish()
    }
}
