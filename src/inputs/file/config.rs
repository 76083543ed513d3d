//! Settings of `type = "file"`, and their validation.
//!
//! Defaults follow Filebeat where Filebeat has an equivalent (`scan_frequency` 10 s,
//! `close_inactive` 5 m, new files read from the beginning), because the fleets this replaces
//! were tuned against those. Values the tailer cannot work with (no paths, a broken glob, a
//! zero limit) are rejected when the pipeline is built, pointing at the offending value, rather
//! than discovered while running.

use crate::config::{BuildContext, ConfigError, Interval};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_spanned::Spanned;
use std::time::Duration;

const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_CLOSE_INACTIVE: Duration = Duration::from_secs(5 * 60);
const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;
const DEFAULT_MAX_OPEN_FILES: usize = 1024;

/// `type = "file"`: the settings, boxed so that the input enum stays small next to inputs
/// with no settings (the table is deserialized exactly as [`FileInputSettings`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct FileInputConfig(Box<FileInputSettings>);

impl FileInputConfig {
    pub fn settings(&self) -> &FileInputSettings {
        &self.0
    }
}

impl From<FileInputSettings> for FileInputConfig {
    fn from(settings: FileInputSettings) -> Self {
        Self(Box::new(settings))
    }
}

/// The keys of a `type = "file"` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputSettings {
    /// Glob patterns of the files to tail (`logs/*.log`). Relative patterns are resolved
    /// against the working directory, like `data_dir`.
    pub paths: Spanned<Vec<Spanned<String>>>,
    /// Where a file with no checkpoint starts when it is found by the first scan. Files that
    /// appear later are always read from their beginning: they are new files (a rotation), and
    /// starting at their end would lose what was written before the scan saw them.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often the globs are expanded again to find new, rotated and deleted files.
    /// Filesystem notifications trigger a scan earlier; this is the fallback.
    #[serde(default = "default_scan_interval")]
    pub scan_interval: Spanned<Interval>,
    /// Longest line kept; the rest of a longer line is skipped and the event is tagged
    /// [`super::TRUNCATED_TAG`].
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: Spanned<usize>,
    /// Most files held open at once; further files wait until a handle is released.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: Spanned<usize>,
    /// A handle with nothing read for this long is closed; the file is reopened by a later
    /// scan when it grows.
    #[serde(default = "default_close_inactive")]
    pub close_inactive: Spanned<Interval>,
    /// Added to every event under `fields` (Filebeat's `fields`).
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Added to every event's `tags`.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_scan_interval() -> Spanned<Interval> {
    Spanned::new(0..0, Interval(DEFAULT_SCAN_INTERVAL))
}

fn default_close_inactive() -> Spanned<Interval> {
    Spanned::new(0..0, Interval(DEFAULT_CLOSE_INACTIVE))
}

fn default_max_line_bytes() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_LINE_BYTES)
}

fn default_max_open_files() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_OPEN_FILES)
}

/// Where a never-seen file starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// From its first byte (Filebeat's default).
    #[default]
    Beginning,
    /// From its current end: only lines written from now on.
    End,
}

/// The settings after validation, in the form the tailer uses.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub patterns: Vec<String>,
    pub read_from: ReadFrom,
    pub scan_interval: Duration,
    pub max_line_bytes: usize,
    pub max_open_files: usize,
    pub close_inactive: Duration,
    pub fields: Map<String, Value>,
    pub tags: Vec<String>,
}

impl Settings {
    /// Checks everything that can be checked before running; every problem points at the
    /// value that causes it.
    pub fn validate(config: FileInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        let config = *config.0;
        let paths_span = config.paths.span();
        let paths = config.paths.into_inner();
        if paths.is_empty() {
            return Err(context.error_at(
                Some(paths_span),
                "`paths` is empty: list at least one file or glob, e.g. `paths = [\"logs/*.log\"]`",
            ));
        }
        let mut patterns = Vec::with_capacity(paths.len());
        for path in paths {
            let span = path.span();
            let pattern = path.into_inner();
            if pattern.trim().is_empty() {
                return Err(context.error_at(Some(span), "a path in `paths` is empty"));
            }
            if let Err(e) = glob::Pattern::new(&pattern) {
                return Err(context.source.error_in_string(
                    &span,
                    e.pos,
                    format!("invalid glob `{pattern}`: {}", e.msg),
                ));
            }
            patterns.push(pattern);
        }
        let positive = |value: &Spanned<usize>, name: &str| {
            if *value.get_ref() == 0 {
                Err(context.error_at(Some(value.span()), format!("`{name}` must be at least 1")))
            } else {
                Ok(*value.get_ref())
            }
        };
        let max_line_bytes = positive(&config.max_line_bytes, "max_line_bytes")?;
        let max_open_files = positive(&config.max_open_files, "max_open_files")?;
        let non_zero = |value: &Spanned<Interval>, name: &str| {
            if value.get_ref().0.is_zero() {
                Err(context.error_at(
                    Some(value.span()),
                    format!("`{name}` must be longer than zero"),
                ))
            } else {
                Ok(value.get_ref().0)
            }
        };
        Ok(Self {
            patterns,
            read_from: config.read_from,
            scan_interval: non_zero(&config.scan_interval, "scan_interval")?,
            max_line_bytes,
            max_open_files,
            close_inactive: non_zero(&config.close_inactive, "close_inactive")?,
            fields: config.fields,
            tags: config.tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_accept_units_and_bare_seconds() {
        assert_eq!(
            Interval::parse("250ms"),
            Ok(Interval(Duration::from_millis(250)))
        );
        assert_eq!(
            Interval::parse("10s"),
            Ok(Interval(Duration::from_secs(10)))
        );
        assert_eq!(
            Interval::parse("5m"),
            Ok(Interval(Duration::from_secs(300)))
        );
        assert_eq!(
            Interval::parse("2h"),
            Ok(Interval(Duration::from_secs(7200)))
        );
        assert_eq!(Interval::parse("3"), Ok(Interval(Duration::from_secs(3))));
        assert!(Interval::parse("5 parsecs").is_err());
        assert!(Interval::parse("s").is_err());
    }
}
