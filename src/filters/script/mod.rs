//! User filters written in Rhai. PLACEHOLDER: the public API below is the contract with the
//! filter chain (src/filters/mod.rs).

use crate::config::{BuildContext, ConfigError};
use crate::event::Event;
use serde::Deserialize;
use std::path::PathBuf;

/// `type = "script"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// A `.rhai` file.
    pub path: Option<PathBuf>,
    /// Inline script source.
    pub source: Option<String>,
}

/// What a script decided about the event it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// A compiled script, shared by every worker.
#[derive(Debug)]
pub struct ScriptFilter {
    _config: ScriptConfig,
}

impl ScriptFilter {
    /// Compiles the script; compile errors point at file, line and column.
    pub fn build(
        id: &str,
        config: &ScriptConfig,
        context: &BuildContext,
    ) -> Result<Self, ConfigError> {
        Err(context.error_at(
            None,
            format!("filter `{id}`: scripts are not supported yet"),
        ))
    }

    /// Per-worker state (engine scope).
    pub fn worker(&self) -> ScriptWorker {
        ScriptWorker {}
    }
}

/// One worker's instance of a script.
#[derive(Debug)]
pub struct ScriptWorker {}

impl ScriptWorker {
    /// Runs the script on `event`; extra events the script emits are pushed to `emitted`.
    pub fn apply(&mut self, _event: &mut Event, _emitted: &mut Vec<Event>) -> Verdict {
        Verdict::Keep
    }
}
