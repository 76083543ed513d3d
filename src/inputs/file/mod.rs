//! Tails log files. PLACEHOLDER: the Filebeat-grade tailer arrives with its own work item;
//! the public API below is the contract with the runtime.

use super::InputContext;
use crate::config::{BuildContext, ConfigError};
use serde::Deserialize;

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    pub paths: Vec<String>,
}

/// Why the file input stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileInputError {
    #[error("file input thread panicked: {0}")]
    Panicked(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The file input.
#[derive(Debug)]
pub struct FileInput {
    _settings: FileInputConfig,
}

impl FileInput {
    pub fn new(settings: FileInputConfig, _context: &BuildContext) -> Result<Self, ConfigError> {
        Ok(Self {
            _settings: settings,
        })
    }

    /// Runs on a blocking thread.
    pub fn run(self, _context: InputContext) -> Result<(), FileInputError> {
        Ok(())
    }
}

/// This machine's name, as Filebeat reports it in `host.name`.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
