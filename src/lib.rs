//! sluice: a log pipeline processor for MQTT client fleets.
//!
//! A pipeline is a set of inputs (tailed files, stdin, Beats), an ordered chain of filters,
//! and a set of outputs, described in one TOML file ([`config`]). The runtime
//! ([`pipeline`]) moves [`event::Batch`]es through bounded channels so memory stays bounded
//! whatever the load, and acknowledges every batch back to its input only after every output
//! has settled it ([`event::AckToken`]), which is what lets inputs checkpoint without loss.

// Library code reports errors instead of panicking; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod condition;
pub mod config;
pub mod event;
pub mod filters;
pub mod inputs;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub mod queue;
pub mod readiness;
pub mod sync;
pub mod testing;
