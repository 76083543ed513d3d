//! The seam between inputs and the filter workers, and what crosses it as bytes.
//!
//! Today every batch goes from its input to the filter workers through a bounded in-memory
//! channel, and nothing needs an event as bytes except to write it out as JSON. The next
//! capabilities change that: a persistent disk queue keeps events across a restart, and a
//! Kafka input and output hand them to and take them from a broker. Both must turn an event
//! into bytes and back without losing anything it holds, which
//! [`Event::write_json`](crate::event::Event::write_json) does not promise (it leaves out
//! `@metadata`), and a JSON round trip costs more than it needs to.
//!
//! - [`codec`] writes one event (fields, `@metadata`, tags, `@timestamp`: everything an
//!   [`Event`](crate::event::Event) holds) into a compact, versioned binary form and reads it
//!   back equal. Framing (where one encoded event ends and the next begins) is left to whoever
//!   stores the bytes: a disk segment or a Kafka record has its own.
//!
//! This module depends on [`crate::event`] only, so that inputs, the pipeline and outputs can
//! all use it without an import loop.

pub mod codec;
