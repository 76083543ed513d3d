//! What components are given while they are built from the model, whichever front end
//! produced it.

use super::error::ConfigError;
use super::model::{ConditionText, PipelineSettings};
use super::source::Source;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What components need while they are built from their settings.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub source: Arc<Source>,
    pub data_dir: PathBuf,
    pub settings: PipelineSettings,
    pub metrics: Arc<crate::metrics::Registry>,
}

impl BuildContext {
    /// An error at a span of the configuration file.
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        self.source.error_at(span, message)
    }

    /// Where a file that belongs to the configuration (an index template, a script, a
    /// script's `imports_from`, TLS material) is: a relative path starts at the pipeline
    /// file's folder. Paths of data sluice reads and writes while running (`data_dir`, file
    /// input `paths`, file output `path`, `dead_letter_path`) are not companions: they start
    /// at the working directory. The module docs say why.
    pub fn companion_file(&self, path: &Path) -> PathBuf {
        self.source.companion(path)
    }

    /// Compiles a component's `if`, pointing compile errors at the offending column.
    pub fn compile_condition(
        &self,
        condition: Option<&ConditionText>,
    ) -> Result<Option<crate::condition::Condition>, ConfigError> {
        let Some(condition) = condition else {
            return Ok(None);
        };
        crate::condition::Condition::compile(&condition.text)
            .map(Some)
            .map_err(|e| {
                self.source.error_in_string(
                    &condition.span,
                    e.offset,
                    format!("invalid condition: {}", e.message),
                )
            })
    }
}
