//! The filter chain.
//!
//! PLACEHOLDER: the native filters, conditions and Rhai scripts arrive with the filter-chain
//! work. The public API below is the contract the pipeline runtime uses.

pub mod script;

use crate::config::{settings, BuildContext, Component, ComponentKind, ConfigError};
use crate::event::Event;
use std::sync::Arc;

/// Every filter type.
#[derive(Debug, Clone)]
pub enum FilterConfig {
    Script(script::ScriptConfig),
}

impl ComponentKind for FilterConfig {
    const KIND: &'static str = "filter";
    const TYPES: &'static [&'static str] = &["script"];
    const CONDITIONAL: bool = true;

    fn from_type(type_name: &str, _table: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        Err(serde::de::Error::custom(format!(
            "unknown filter type `{type_name}`"
        )))
    }
}

/// The compiled chain, shared by every worker.
#[derive(Debug, Default)]
pub struct FilterChain {}

impl FilterChain {
    /// Compiles the configured filters, reporting every problem.
    pub fn build(
        components: &[Component<FilterConfig>],
        _context: &BuildContext,
    ) -> Result<Self, Vec<ConfigError>> {
        let _ = components;
        Ok(Self {})
    }

    /// Per-worker state (script scopes); one per filter worker task.
    pub fn worker(self: &Arc<Self>) -> ChainWorker {
        ChainWorker {
            _chain: self.clone(),
        }
    }
}

/// One worker's view of the chain.
#[derive(Debug)]
pub struct ChainWorker {
    _chain: Arc<FilterChain>,
}

impl ChainWorker {
    /// Runs every filter over `events` in place; filters may drop or add events.
    pub fn process(&mut self, _events: &mut Vec<Event>) {}
}
