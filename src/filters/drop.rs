//! `type = "drop"`: remove the event from the batch (use it with `if`).
//!
//! Why a filter of its own: dropping is the cheapest way to discard noise (debug lines,
//! health checks) before any output sees it. A dropped event still counts as handled: its
//! batch is acknowledged to the input like a delivered one.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::Event;
use serde::Deserialize;

/// `drop` has no settings besides the shared `id` and `if`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {}

/// The compiled `drop`: nothing to compile.
#[derive(Debug)]
pub struct DropFilter;

impl FilterType for DropFilter {
    type Config = DropConfig;

    fn build(_config: &DropConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self)
    }

    #[inline]
    fn apply(&self, _event: &mut Event) -> Outcome {
        Outcome::Drop
    }
}
