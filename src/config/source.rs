//! The text of a pipeline file, kept to turn byte spans into positions.
//!
//! A front end parses the text after `${VAR}` interpolation, so its parser reports spans of
//! that text; [`Source`] maps them back to the line and column the user wrote, and finds the
//! companion files named in the file from the file's own folder.

use super::error::ConfigError;
use super::interpolate::Interpolated;
use super::origins::{line_column, remap, Origins};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The text of a configuration file, kept to turn byte spans into positions.
#[derive(Debug)]
pub struct Source {
    pub(super) path: PathBuf,
    pub(super) original: String,
    pub(super) interpolated: Interpolated,
    /// For a document translated from Logstash `.conf` files: where each line came from,
    /// so that problems are reported in the files the user wrote.
    pub(super) origins: Option<Arc<Origins>>,
}

impl Source {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the file's companion files (templates, scripts, TLS material) are
    /// found in when their paths are relative: the pipeline file's own folder.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// `path` as written in the file, relative ones taken from [`Source::dir`].
    pub fn companion(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir().join(path)
        }
    }

    fn position(&self, original_offset: usize) -> (usize, usize) {
        line_column(&self.original, original_offset)
    }

    pub(super) fn error_at_original(
        &self,
        offset: usize,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(offset);
        let error = ConfigError {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
        };
        match &self.origins {
            Some(origins) => remap(origins, error),
            None => error,
        }
    }

    /// An error at a span of the interpolated text (what `toml_edit` reports).
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let offset = span.map_or(0, |s| self.interpolated.original_offset(s.start));
        self.error_at_original(offset, message)
    }

    /// An error `inner` bytes into a string value whose span (quotes included) is `span`.
    pub fn error_in_string(
        &self,
        span: &Range<usize>,
        inner: usize,
        message: impl Into<String>,
    ) -> ConfigError {
        let text = &self.interpolated.text;
        let quote_len = match text.get(span.start..span.start + 3) {
            // TOML drops a newline right after the opening triple quote from the value.
            Some("\"\"\"") | Some("'''") => {
                let after = text.get(span.start + 3..).unwrap_or_default();
                if after.starts_with("\r\n") {
                    5
                } else if after.starts_with('\n') {
                    4
                } else {
                    3
                }
            }
            _ => 1,
        };
        let start = self.interpolated.original_offset(span.start) + quote_len + inner;
        self.error_at_original(start, message)
    }
}
