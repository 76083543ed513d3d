//! sluice: a log pipeline processor for MQTT client fleets.
//!
//! A pipeline is a set of inputs (tailed files, stdin, Beats), an ordered chain of filters,
//! and a set of outputs, described in one TOML file ([`config`]). The runtime
//! ([`pipeline`]) moves [`event::Batch`]es through bounded queues so memory stays bounded
//! whatever the load, and acknowledges every batch back to its input only after every output
//! has settled it ([`event::AckToken`]), which is what lets inputs checkpoint without loss.
//!
//! # The data path
//!
//! ```text
//!  file lines ─┐                          ┌─ filter worker ─┐    ┌─▶ channel ─▶ output A
//!  Beats window┼─▶ queue (src/queue/) ─▶──┼─ filter worker ─┼─▶──┤
//!  stdin lines ┘   writer ▲   reader      └─ filter worker ─┘    └─▶ channel ─▶ output B
//!                         │                                          │
//!       receipt ◀─────────┴──── acknowledgement token ◀──── settled by every output
//! ```
//!
//! 1. An input reads a batch of raw records (a file's lines in one buffer, a decoded Beats
//!    window) and writes it to the queue through its [`queue::QueueWriter`]. Events stay
//!    *lazy* (a line and its file's constant parts, `src/event/line.rs`) until something reads a
//!    field. A full queue makes the writer wait: that is how a slow output slows the inputs.
//! 2. A filter worker takes the batch from its [`queue::QueueReader`], builds the events and
//!    runs each one through the whole chain ([`filters`], conditions from [`condition`], Rhai
//!    in [`filters::script`]), then freezes the batch behind an `Arc` and hands one
//!    [`event::Delivery`] to every output's bounded channel.
//! 3. An output ([`outputs`]) writes the events and settles its delivery: done (written,
//!    indexed, dead-lettered, deliberately dropped) or failed.
//!
//! # The two return paths
//!
//! * **Acknowledgements.** A batch carries one acknowledgement token. When the last output
//!   settles its delivery, the input receives one receipt ([`event::AckReceipt`]); a failed
//!   delivery fails the receipt. Receipts arrive out of order, so inputs keep an in-order
//!   watermark ([`inputs::watermark`]) and checkpoint a file offset, or acknowledge a Beats
//!   window, only up to the first batch not yet settled.
//! * **Events going home.** Once every output is done with a batch, its events travel back to
//!   the filter worker that built them and are freed there (`event::Home`, `src/event/batch.rs`): the allocator
//!   frees a block on the thread that allocated it without atomics.
//!
//! # Where things live, and how to add one
//!
//! | what | where | to add one |
//! |---|---|---|
//! | an input | `src/inputs/<type>/` | implement [`inputs::InputType`], one line in the `input_types!` table of `src/inputs/mod.rs` |
//! | a filter | `src/filters/<type>.rs` | implement [`filters::FilterType`], one line in `filter_types!` (`src/filters/mod.rs`) |
//! | an output | `src/outputs/<type>/` | implement [`outputs::OutputType`], one line in `output_types!` (`src/outputs/mod.rs`); retries, delivery parts and dead letters come from [`outputs::delivery`] |
//! | a queue kind | `src/queue/` | a variant of [`queue::QueueSettings`] and of the writer and reader; events are written with [`queue::codec`] |
//! | a configuration front end | `src/config/` | beside the TOML loader (`config/toml.rs`), producing the same [`config::PipelineConfig`] |
//!
//! A Kafka output, for example, is `src/outputs/kafka/` plus one line in `output_types!`; its
//! permanent failures go to [`outputs::delivery`]'s dead letters, and a Kafka input keeps one
//! [`inputs::watermark`] per partition.
//!
//! Dependencies point one way, down these layers (enforced by `tests/layers.rs`): `sync`;
//! `metrics`, `readiness`; `event`; `condition`; `config`; `queue`; `kafka` (the Kafka
//! connection settings both Kafka components share); `inputs`, `filters`, `outputs`;
//! `pipeline`; `api`, `testing`; the binary (`main`, `cli`, `logging`, `progress`).

// Library code reports errors instead of panicking; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod condition;
pub mod config;
pub mod event;
pub mod filters;
pub mod inputs;
pub mod kafka;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub mod queue;
pub mod readiness;
pub mod sync;
pub mod testing;
