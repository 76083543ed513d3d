//! Conditions (`if = 'severity == "high" or alert_type == "security"'`).
//!
//! PLACEHOLDER: the real expression language arrives with the filter-chain work. The public
//! API below is the contract the rest of the crate uses.

use crate::event::Event;

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
}

/// Why a condition did not compile; `offset` is the byte offset in the condition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    pub offset: usize,
    pub message: String,
}

impl Condition {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        Err(ConditionError {
            offset: 0,
            message: format!("conditions are not supported yet: `{source}`"),
        })
    }

    /// Evaluates the condition against `event`.
    pub fn matches(&self, _event: &Event) -> bool {
        false
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}
