//! Where the lines of a generated TOML document came from: the Logstash front end writes
//! a document, and [`Source`](super::Source) reports problems found in it at the `.conf`
//! FILE:LINE:COL each line came from. Below both `source` and `logstash`, which use it.

use super::error::ConfigError;
use std::path::PathBuf;

/// A byte offset in one of the parsed files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub file: usize,
    pub offset: usize,
}

/// A problem found while translating, at a `.conf` position.
#[derive(Debug, Clone)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
}

/// The `.conf` files a TOML document came from, and the origin of each of its lines.
#[derive(Debug)]
pub struct Origins {
    pub(super) files: Vec<(PathBuf, String)>,
    pub(super) lines: Vec<Option<Pos>>,
}

impl Origins {
    /// The `.conf` file, line and column of a 1-based line of the generated TOML; lines
    /// without an origin (comments, blank lines) map to the start of the first file.
    pub fn locate(&self, toml_line: usize) -> (PathBuf, usize, usize) {
        let pos = toml_line
            .checked_sub(1)
            .and_then(|i| self.lines.get(i).copied().flatten());
        match pos {
            Some(pos) => self.position(pos),
            None => match self.files.first() {
                Some((path, _)) => (path.clone(), 1, 1),
                None => (PathBuf::new(), 0, 0),
            },
        }
    }

    fn position(&self, pos: Pos) -> (PathBuf, usize, usize) {
        match self.files.get(pos.file) {
            Some((path, text)) => {
                let (line, column) = line_column(text, pos.offset);
                (path.clone(), line, column)
            }
            None => (PathBuf::new(), 0, 0),
        }
    }

    pub(super) fn error(&self, problem: &Problem) -> ConfigError {
        let (file, line, column) = self.position(problem.pos);
        ConfigError {
            file,
            line,
            column,
            message: problem.message.clone(),
        }
    }
}

/// The error a [`Source`] with origins reports.
pub(super) fn remap(origins: &Origins, error: ConfigError) -> ConfigError {
    if error.line == 0 {
        return error;
    }
    let (file, line, column) = origins.locate(error.line);
    ConfigError {
        file,
        line,
        column,
        message: error.message,
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}
